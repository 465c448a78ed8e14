#!/usr/bin/env bash
# Login under attack (issues: identity, #17). Starts a release build of Palisade with demo data, then measures
# legitimate sign-ins without and with an attacker flooding /api/v1/auth/login with wrong passwords from many
# loopback addresses, in the same run: returning users (the demo staff, each from their own address with the device
# cookie of an earlier sign-in) and first-time sign-ins (the demo buyers, each time from a new address without a
# cookie). Prints success rates, p99 and the ratio against the baseline, with PASS/FAIL per goal.
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
first="$dir/first-time.txt"
for e in wei.ling@buyer.example rahul@buyer.example nurul@buyer.example james@buyer.example mei@buyer.example \
         farah@buyer.example; do
  echo "$e harbour lantern 2026" >> "$first"
done
echo "Palisade $("$bin" --version) on 127.0.0.1:$port, $(nproc) cores"
python3 bench/login_load.py "http://127.0.0.1:$port" "$users" "$first" "$secs"
