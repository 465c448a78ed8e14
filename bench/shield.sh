#!/usr/bin/env bash
# Shield inspection latency (issue: shield). Runs every request of the benign corpus through the WAF engine many
# times in a release build and prints p50/p99/max per request, beside the baseline of only splitting the request
# into fields (measured in the same run). Goal: p99 under 50 µs for typical storefront requests.
# Usage: bench/shield.sh [ROUNDS]   (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release -q -p palisade-shield --example inspect_latency -- "${1:-300}"
echo
echo "criterion, per request kind (mean per inspection):"
cargo bench -q -p palisade-shield --bench inspect -- --warm-up-time 1 --measurement-time 3 2>&1 | grep -E "time:|^(fields|inspect)"
