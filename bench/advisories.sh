#!/usr/bin/env bash
# Advisory matching (issue #19, item 4). Generates a seeded synthetic set — 25,000 OSV advisories, 10,000 stores ×
# 30 installed extensions from a catalog of 3,000 — and prints the full rematch time, the time to validate, store
# and match one new advisory, and the peak RSS, each with PASS/FAIL against the goals (< 1 s, < 10 ms, < 256 MiB).
# Usage: bench/advisories.sh [STORES] [ADVISORIES] [EXTENSIONS]   (defaults 10000 25000 3000)
# Single-threaded: on a shared machine the times are an upper bound (the load average and the full rematch's CPU
# time are printed beside them; one new advisory is judged on p99 of 200). Exit status 1 when a goal is missed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p palisade-advisories --example advisories_bench
exec target/release/examples/advisories_bench "$@"
