#!/usr/bin/env bash
# Login under attack (issue: identity). Starts a release build of Palisade with demo data, then measures the demo
# staff's sign-in success rate and p99 latency without and with an attacker flooding /api/v1/auth/login with wrong
# passwords from many loopback addresses, in the same run. Prints the ratio against the baseline.
# Usage: bench/login.sh [SECONDS_PER_PHASE]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
cargo build --release -q -p palisade
bin=target/release/palisade
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" demo --data-dir "$dir" >/dev/null
PALISADE_LOG=warn "$bin" serve --data-dir "$dir" --listen "127.0.0.1:$port" --no-jobs 2>"$dir/server.log" &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
users="$dir/users.txt"
for e in meilin@lioncitytea.example arjun@lioncitytea.example siti@lioncitytea.example \
         daniel@kampongcycles.example priya@kampongcycles.example hafiz@kampongcycles.example \
         grace@kampongcycles.example aisha@marinabooks.example ben@marinabooks.example; do
  echo "$e harbour lantern 2026" >> "$users"
done
echo "Palisade $("$bin" --version) on 127.0.0.1:$port, $(nproc) cores"
python3 bench/login_load.py "http://127.0.0.1:$port" "$users" "$secs"
