#!/usr/bin/env bash
# Storefront throughput (issue: commerce). Starts a release build of Palisade with the demo marketplace, on SQLite
# and then on PostgreSQL, and measures with wrk, in the same run: a bare route of the same server (/healthz, the
# baseline: same middleware, no database), a product page, a search page, and checkout (POST /api/v1/stores/…/orders
# with a fresh Idempotency-Key per request, card 4242…, so every request places and pays a real order).
# Prints requests/s and p99 per route and the ratio to the baseline (the figure to compare across machines).
# Usage: bench/storefront.sh [SECONDS_PER_ROUTE] [CONNECTIONS]   (defaults 10, 32). Needs wrk (apt install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
conns="${2:-32}"
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 2; }
cargo build --release -q -p palisade
bin=$PWD/target/release/palisade
work=$(mktemp -d)
pid=""
pgdb=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  [ -n "$pgdb" ] && psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"

# One wrk run: prints "req/s p99_ms".
measure() {
  local out
  out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "$@" 2>&1)
  local rps p99
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' <<<"$out")
  local errs
  errs=$(awk '/Non-2xx or 3xx responses/ {print $5}' <<<"$out")
  echo "$rps ${p99:-nan} ${errs:-0}"
}

run_backend() {
  local name=$1 url=$2
  local dir="$work/$name"
  mkdir -p "$dir"
  local dbflag=()
  [ -n "$url" ] && dbflag=(--database-url "$url")
  "$bin" demo --data-dir "$dir" "${dbflag[@]}" >/dev/null
  # Rate limits and automatic attack mode off: wrk is one client address at thousands of requests a second and
  # would (correctly) be limited and challenged; the firewall stays on.
  PALISADE_LOG=warn "$bin" serve --data-dir "$dir" "${dbflag[@]}" --listen "127.0.0.1:$port" --no-jobs --no-rate-limits --auto-attack-mode-rps 0 --auto-attack-mode-store-rps 0 2>"$dir/server.log" &
  pid=$!
  for _ in $(seq 1 100); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.1; done
  # A product with plenty of stock for the checkout phase, created through the merchant API.
  curl -sf -c "$dir/jar" -H 'content-type: application/json' \
    -d '{"email":"meilin@lioncitytea.example","password":"harbour lantern 2026"}' "$base/api/v1/auth/login" >/dev/null
  local variant
  variant=$(curl -sf -b "$dir/jar" -H 'content-type: application/json' -H "origin: $base" \
    -d '{"slug":"bench-tea","title":"Bench Tea","description":"For the benchmark.","status":"published","variants":[{"sku":"BENCH-1","price_minor":1000,"stock":100000000}]}' \
    "$base/api/v1/admin/stores/lion-city-tea/products" | python3 -c 'import json,sys; print(json.load(sys.stdin)["variants"][0]["id"])')
  cat >"$dir/checkout.lua" <<LUA
local n = 0
local prefix = ""
function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  prefix = tostring(math.random(1, 1000000000))
end
function request()
  n = n + 1
  local body = '{"email":"bench@buyer.example","address":{"name":"Bench","line1":"1 Road","city":"Singapore","postcode":"018956","country":"Singapore"},"lines":[{"variant_id":"$variant","quantity":1}],"card":{"number":"4242424242424242","expiry":"12/30","cvc":"123"}}'
  return wrk.format("POST", "/api/v1/stores/lion-city-tea/orders", {["Content-Type"] = "application/json", ["Idempotency-Key"] = "bench-" .. prefix .. "-" .. n}, body)
end
LUA
  local hello product search checkout
  hello=$(measure "$base/healthz")
  product=$(measure "$base/s/lion-city-tea/p/classic-sencha")
  search=$(measure "$base/search?q=oolong")
  checkout=$(measure -s "$dir/checkout.lua" "$base/api/v1/stores/lion-city-tea/orders")
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  # The same pages with the web application firewall off, for its overhead.
  PALISADE_LOG=warn "$bin" serve --data-dir "$dir" "${dbflag[@]}" --listen "127.0.0.1:$port" --no-jobs --no-rate-limits --auto-attack-mode-rps 0 --auto-attack-mode-store-rps 0 --shield-mode off 2>>"$dir/server.log" &
  pid=$!
  for _ in $(seq 1 100); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.1; done
  local product_off search_off
  product_off=$(measure "$base/s/lion-city-tea/p/classic-sencha")
  search_off=$(measure "$base/search?q=oolong")
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  python3 - "$name" "$hello" "$product" "$search" "$checkout" "$product_off" "$search_off" <<'PY'
import sys
name = sys.argv[1]
print(f"\n{name} (non-2xx on checkout = orders refused; 0 means every request placed and paid an order)")
rows = [("hello (/healthz)", sys.argv[2]), ("product page", sys.argv[3]), ("search page", sys.argv[4]), ("checkout (POST order)", sys.argv[5])]
base = float(rows[0][1].split()[0])
print(f"  {'route':24} {'req/s':>10} {'p99 ms':>9} {'non-2xx':>8} {'vs hello':>9}")
for label, vals in rows:
    rps, p99, errs = vals.split()
    print(f"  {label:24} {float(rps):10.0f} {float(p99):9.2f} {errs:>8} {float(rps)/base:8.2f}x")
for label, on, off in [("product page", sys.argv[3], sys.argv[6]), ("search page", sys.argv[4], sys.argv[7])]:
    on_r, off_r = float(on.split()[0]), float(off.split()[0])
    print(f"  firewall overhead on {label}: {off_r:.0f} req/s off → {on_r:.0f} on = {100 * (off_r - on_r) / off_r:+.1f}% (goal ≤ 10%)")
PY
}

echo "Palisade $("$bin" --version) — wrk -t2 -c$conns, ${secs}s per route, $(nproc) cores"
run_backend "SQLite" ""
if pg_isready -h 127.0.0.1 -p 5432 -q; then
  pgdb="palisade_bench_$$"
  psql -h 127.0.0.1 -U postgres -q -c "CREATE DATABASE $pgdb"
  run_backend "PostgreSQL" "postgres://postgres@127.0.0.1:5432/$pgdb"
else
  echo "PostgreSQL is not running on 127.0.0.1:5432: skipped"
fi
