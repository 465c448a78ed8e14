#!/usr/bin/env python3
"""Login under attack: legitimate users' success rate and p99 latency, without and with an attacker hammering
the login endpoint with wrong passwords from many loopback source addresses. Standard library only.

Usage: login_load.py BASE_URL USERS_FILE SECONDS
USERS_FILE: one "email password" per line (the legitimate users).
"""
import http.client
import json
import random
import sys
import threading
import time

HOST, PORT = sys.argv[1].replace("http://", "").split(":")
PORT = int(PORT)
USERS = [line.split(" ", 1) for line in open(sys.argv[2]).read().splitlines() if line.strip()]
SECONDS = float(sys.argv[3])
ATTACK_THREADS = 8


def post(conn, path, body, cookie=None):
    headers = {"content-type": "application/json"}
    if cookie:
        headers["cookie"] = cookie
    conn.request("POST", path, json.dumps(body), headers)
    r = conn.getresponse()
    r.read()
    return r.status, r.getheader("set-cookie") or ""


def connect(source_ip):
    return http.client.HTTPConnection(HOST, PORT, timeout=30, source_address=(source_ip, 0))


def legit_user(idx, email, password, stop, results):
    """A person signing in every ~250 ms from their own address and browser (device cookie kept)."""
    ip = f"127.0.0.{10 + idx}"
    device = None
    while not stop.is_set():
        conn = connect(ip)
        t0 = time.perf_counter()
        try:
            status, cookies = post(conn, "/api/v1/auth/login", {"email": email, "password": password}, device)
        except Exception:
            status, cookies = 0, ""
        dt = time.perf_counter() - t0
        conn.close()
        for part in cookies.split(","):
            part = part.strip()
            if part.startswith("palisade_device="):
                device = part.split(";")[0]
        results.append((status == 200, dt))
        time.sleep(0.25)


def attacker(n, emails, stop, counter):
    """Wrong passwords as fast as possible, rotating over many source addresses and target accounts."""
    i = 0
    while not stop.is_set():
        ip = f"127.{1 + n}.{(i // 250) % 250}.{1 + i % 250}"
        i += 1
        target = random.choice(emails + [f"nobody{random.randint(0, 10**6)}@example.com"])
        try:
            conn = connect(ip)
            post(conn, "/api/v1/auth/login", {"email": target, "password": f"guess-{random.random()}"})
            conn.close()
            counter[n] += 1
        except Exception:
            pass


def phase(with_attack):
    stop = threading.Event()
    results = []
    counter = [0] * ATTACK_THREADS
    threads = [threading.Thread(target=legit_user, args=(i, e, p, stop, results)) for i, (e, p) in enumerate(USERS)]
    if with_attack:
        emails = [e for e, _ in USERS]
        threads += [threading.Thread(target=attacker, args=(n, emails, stop, counter)) for n in range(ATTACK_THREADS)]
    for t in threads:
        t.start()
    time.sleep(SECONDS)
    stop.set()
    for t in threads:
        t.join()
    lat = sorted(dt for _, dt in results)
    ok = sum(1 for s, _ in results if s)
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")
    return {"requests": len(results), "success": ok / max(1, len(results)), "p50_ms": p(0.50), "p99_ms": p(0.99),
            "attack_requests": sum(counter)}


base = phase(False)
attack = phase(True)
print(f"legitimate users: {len(USERS)}, each signing in every 250 ms; {SECONDS:.0f} s per phase")
print(f"{'phase':<10} {'logins':>7} {'success':>8} {'p50 ms':>8} {'p99 ms':>8} {'attack req':>11}")
for name, r in (("baseline", base), ("attack", attack)):
    print(f"{name:<10} {r['requests']:>7} {r['success']*100:>7.1f}% {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['attack_requests']:>11}")
ratio = attack["p99_ms"] / base["p99_ms"] if base["p99_ms"] else float("nan")
print(f"\np99 ratio (attack / baseline): {ratio:.2f}x   goal: <= 2.00x   attack rate: {attack['attack_requests']/SECONDS:.0f} req/s")
print("RESULT:", "PASS" if ratio <= 2.0 and attack["success"] >= 0.99 else "FAIL")
