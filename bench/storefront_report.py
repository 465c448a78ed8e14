#!/usr/bin/env python3
"""Prints bench/storefront.sh's figures as fractions of the bare baseline and checks issue #17's goals.

Input: lines "bare RPS P99 NON2XX", "modsec RPS P99 NON2XX" and "BACKEND ROUTE RPS P99 NON2XX".
"""
import sys

rows = {}
bares = []
for line in open(sys.argv[1]):
    parts = line.split()
    if not parts:
        continue
    if parts[0] == "bare":
        bares.append(tuple(float(x) for x in parts[1:4]))
    elif parts[0] in ("modsec", "modsec_shipped"):
        rows[(None, parts[0])] = tuple(float(x) for x in parts[1:4])
    else:
        rows[(parts[0], parts[1])] = tuple(float(x) for x in parts[2:5])

# The higher of the measurements (start and end of the run): drift makes goals harder, never easier.
best = max(bares, key=lambda b: b[0])
bare = best[0]
modsec = rows.get((None, "modsec"))
runs = ", ".join(f"{b[0]:,.0f}" for b in bares)
print(f"\nbare baseline (axum, page bytes from memory): {bare:,.0f} req/s, p99 {best[1]:.2f} ms (runs: {runs})")
if modsec:
    print(f"nginx + ModSecurity + CRS PL1 (same bytes):   {modsec[0]:,.0f} req/s, p99 {modsec[1]:.2f} ms")
shipped = rows.get((None, "modsec_shipped"))
if shipped:
    print(f"  for reference, Debian's recommended ModSecurity configuration (response bodies inspected, audit log): "
          f"{shipped[0]:,.0f} req/s, p99 {shipped[1]:.2f} ms")
labels = {
    "healthz": "/healthz (full stack)",
    "product": "product page",
    "search": "search page",
    "checkout": "checkout (order paid)",
    "product_limits": "product, rate limits on",
    "search_limits": "search, rate limits on",
    "product_off": "product, firewall off",
    "search_off": "search, firewall off",
}
goals = []
for backend in ("SQLite", "PostgreSQL"):
    if (backend, "healthz") not in rows:
        continue
    print(f"\n{backend}   (non-2xx on checkout = orders refused)")
    print(f"  {'route':26} {'req/s':>10} {'p99 ms':>8} {'non-2xx':>8} {'of bare':>8}")
    for key, label in labels.items():
        if (backend, key) in rows:
            rps, p99, errs = rows[(backend, key)]
            print(f"  {label:26} {rps:10.0f} {p99:8.2f} {errs:8.0f} {100 * rps / bare:7.1f}%")
    get = lambda k: rows[(backend, k)]
    for page in ("product", "search"):
        on, off = get(page)[0], get(page + "_off")[0]
        lim, _, refused = get(page + "_limits")
        # A store's pages are also capped all together (per_store, 500 req/s by default): past it, refusals are the
        # limit doing its job, and the throughput is no measure of its cost.
        cost = (f"rate limits' cost: {100 * (on - lim) / on:+.1f}%" if refused == 0
                else f"rate limits: {refused:.0f} refused by the store's own cap, cost not measurable this way")
        print(f"  firewall cost on the {page} page: {100 * (off - on) / off:+.1f}% of throughput; {cost}")
    goals.append((f"{backend}: /healthz >= 60% of bare", 100 * get("healthz")[0] / bare, 60, ">="))
    if backend == "SQLite":
        for page in ("product", "search"):
            goals.append((f"{backend}: {page} page >= 30% of bare", 100 * get(page)[0] / bare, 30, ">="))
            goals.append((f"{backend}: {page} page p99 <= 5 ms", get(page)[1], 5, "<="))
            if modsec:
                goals.append((f"{backend}: {page} page >= 20x nginx+ModSecurity", get(page)[0] / modsec[0], 20, ">="))
        goals.append((f"{backend}: checkout >= 2% of bare", 100 * get("checkout")[0] / bare, 2, ">="))
    else:
        goals.append((f"{backend}: checkout >= 1% of bare", 100 * get("checkout")[0] / bare, 1, ">="))
    goals.append((f"{backend}: every checkout placed an order", get("checkout")[2], 0, "<="))

print("\ngoals")
failed = 0
for name, got, want, op in goals:
    ok = got >= want if op == ">=" else got <= want
    failed += not ok
    print(f"  {'PASS' if ok else 'FAIL'}  {name:44} {got:8.2f} (goal {op} {want})")
if not modsec:
    print("  (not checked: >= 20x nginx + ModSecurity — its packages are not installed)")
print("RESULT:", "PASS" if failed == 0 else f"FAIL ({failed} goal(s) missed)")
