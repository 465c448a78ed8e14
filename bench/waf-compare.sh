#!/usr/bin/env bash
# Palisade's shield beside the reference open-source WAF, in one run (issue: shield):
#   (a) detection and false positives on the OWASP CRS regression corpus and Palisade's benign shopper corpus, for
#       Palisade at paranoia 1 and 2 and for nginx + ModSecurity v3 + OWASP CRS 3.3 at paranoia 1 and 2;
#   (b) throughput and p99 (wrk) of Palisade with the shield on vs off, and of nginx serving a static page with
#       ModSecurity on vs off.
# Needs Debian's nginx, libnginx-mod-http-modsecurity, modsecurity-crs and wrk (installed if missing), and the CRS
# corpus at ../shared/corpora/crs-regression (or PALISADE_CRS_CORPUS).
# Usage: bench/waf-compare.sh [SECONDS_PER_THROUGHPUT_RUN]   (default 8)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-8}"
corpus="${PALISADE_CRS_CORPUS:-$PWD/../shared/corpora/crs-regression}"
[ -d "$corpus" ] || { echo "CRS corpus not found at $corpus (set PALISADE_CRS_CORPUS)" >&2; exit 2; }
if ! command -v nginx >/dev/null || [ ! -f /usr/lib/nginx/modules/ngx_http_modsecurity_module.so ] || [ ! -d /usr/share/modsecurity-crs ] || ! command -v wrk >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx libnginx-mod-http-modsecurity modsecurity-crs wrk >/dev/null
fi
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --quiet pyyaml
cargo build --release -q -p palisade
bin=$PWD/target/release/palisade
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
p_off=$(port); p_pl1=$(port); p_pl2=$(port); pal1=$(port); pal2=$(port); pal_off=$(port); pal_tp=$(port)

# nginx: the same static page without ModSecurity, and with ModSecurity + CRS at paranoia 1 and 2 (blocking).
mkdir -p "$work/www" "$work/tmp" "$work/logs"
python3 -c 'print("<!doctype html><title>shop</title>" + "<p>Lorem ipsum dolor sit amet. " * 150)' > "$work/www/index.html"
# nginx's workers run as www-data: they must be able to read the page (mktemp -d is private to its owner).
chmod 755 "$work" "$work/www"
chmod 644 "$work/www/index.html"
for pl in 1 2; do
  cat > "$work/modsec-pl$pl.conf" <<CONF
Include /etc/nginx/modsecurity.conf
SecRuleEngine On
SecAuditEngine Off
SecResponseBodyAccess Off
Include /etc/modsecurity/crs/crs-setup.conf
SecAction "id:900000,phase:1,nolog,pass,t:none,setvar:tx.paranoia_level=$pl"
Include /usr/share/modsecurity-crs/rules/*.conf
CONF
done
server_block() { # port, modsecurity on|off, rules file
  local extra=""
  [ "$2" = on ] && extra="modsecurity on; modsecurity_rules_file $3;"
  echo "server { listen 127.0.0.1:$1 reuseport; $extra root $work/www; location / { try_files \$uri /index.html; } }"
}
cat > "$work/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_http_modsecurity_module.so;
worker_processes auto;
pid $work/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/tmp;
  proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp; uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  $(server_block "$p_off" off)
  $(server_block "$p_pl1" on "$work/modsec-pl1.conf")
  $(server_block "$p_pl2" on "$work/modsec-pl2.conf")
}
CONF
nginx -c "$work/nginx.conf" -p "$work"

# Palisade: an empty installation (no demo needed for the corpus), shield at paranoia 1 and 2, and off.
start() { # port, extra flags…
  local p=$1; shift
  PALISADE_LOG=error "$bin" serve --data-dir "$work/pal-$p" --listen "127.0.0.1:$p" --no-jobs --no-rate-limits --auto-attack-mode-rps 0 --auto-attack-mode-store-rps 0 "$@" 2>"$work/logs/pal-$p.log" &
  pids+=($!)
}
start "$pal1"
start "$pal2" --shield-paranoia 2
start "$pal_off" --shield-mode off
# Throughput is measured on a node the corpus replay did not touch: right after thousands of blocked requests a
# node is still writing their events, which is the cost of an attack, not of inspecting shoppers.
start "$pal_tp"
for p in "$pal1" "$pal2" "$pal_off" "$pal_tp" "$p_off" "$p_pl1" "$p_pl2"; do
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$p/" && break; sleep 0.1; done
done

echo "== (a) detection and false positives ($(date -u +%F), CRS corpus: $(cat "$corpus/SOURCE-COMMIT" 2>/dev/null | head -c 12))"
WAF_COMPARE_SUMMARY="$work/detection.json" python3 bench/waf_compare.py "$corpus" crates/palisade-shield/tests/benign.txt \
  "palisade-pl1=http://127.0.0.1:$pal1" "palisade-pl2=http://127.0.0.1:$pal2" \
  "crs-pl1=http://127.0.0.1:$p_pl1" "crs-pl2=http://127.0.0.1:$p_pl2"

echo
echo "== (b) throughput: wrk -t2 -c32 ${secs}s (Palisade: mean of on, off, off, on), same machine, same run"
measure() {
  local out rps p99
  out=$(wrk -t2 -c32 -d"${secs}s" --latency "$1" 2>&1)
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' <<<"$out")
  echo "$rps $p99"
}
# Means of two runs each in the order on, off, off, on (ABBA), after a short warm-up of both: whichever node is
# measured first must not win or lose by its place in the queue (one after the other, the first run of the pair
# came out up to 20 % apart either way).
mean() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.1f %.3f\n", (x[1] + y[1]) / 2, (x[2] + y[2]) / 2 }'; }
page="/search?q=men%27s+shoes&page=1"
wrk -t2 -c32 -d2s "http://127.0.0.1:$pal_tp$page" >/dev/null 2>&1
wrk -t2 -c32 -d2s "http://127.0.0.1:$pal_off$page" >/dev/null 2>&1
on1=$(measure "http://127.0.0.1:$pal_tp$page")
off1=$(measure "http://127.0.0.1:$pal_off$page")
off2=$(measure "http://127.0.0.1:$pal_off$page")
on2=$(measure "http://127.0.0.1:$pal_tp$page")
pal_on=$(mean "$on1" "$on2")
pal_off_r=$(mean "$off1" "$off2")
ngx_off=$(measure "http://127.0.0.1:$p_off/index.html?q=men%27s+shoes")
ngx_on=$(measure "http://127.0.0.1:$p_pl1/index.html?q=men%27s+shoes")
python3 - "$pal_on" "$pal_off_r" "$ngx_on" "$ngx_off" "$work/detection.json" <<'PY'
import json, sys
po, pf, no, nf = (tuple(map(float, a.split())) for a in sys.argv[1:5])
d = json.load(open(sys.argv[5]))
print(f"  {'':44} {'req/s':>10} {'p99 ms':>9}")
print(f"  {'Palisade search page, shield off':44} {pf[0]:10.0f} {pf[1]:9.2f}")
print(f"  {'Palisade search page, shield on (PL1)':44} {po[0]:10.0f} {po[1]:9.2f}")
print(f"  {'nginx static page, ModSecurity off':44} {nf[0]:10.0f} {nf[1]:9.2f}")
print(f"  {'nginx static page, ModSecurity + CRS (PL1)':44} {no[0]:10.0f} {no[1]:9.2f}")
print(f"  shield overhead on Palisade: {100 * (pf[0] - po[0]) / pf[0]:+.1f}% of throughput (goal ≤ 10%)")
print(f"  ModSecurity overhead on nginx: {100 * (nf[0] - no[0]) / nf[0]:+.1f}% of throughput")
print()
print("== goals")
overhead = 100 * (pf[0] - po[0]) / pf[0]
goals = [
    ("detection: Palisade PL2 >= CRS PL2", d["palisade-pl2"]["detection"], d["crs-pl2"]["detection"], ">="),
    ("detection: Palisade PL1 >= CRS PL1", d["palisade-pl1"]["detection"], d["crs-pl1"]["detection"], ">="),
    ("false positives: Palisade PL1 <= CRS PL1", d["palisade-pl1"]["fp"], d["crs-pl1"]["fp"], "<="),
    ("false positives: Palisade PL2 <= CRS PL1", d["palisade-pl2"]["fp"], d["crs-pl1"]["fp"], "<="),
    ("shield overhead <= 10% of throughput", overhead, 10.0, "<="),
]
for name, got, want, op in goals:
    ok = got >= want if op == ">=" else got <= want
    print(f"  {'PASS' if ok else 'FAIL'}  {name:44} {got:6.1f} vs {want:.1f}")
print("  (per-request inspection p99 < 50 µs: bench/shield.sh)")
PY
