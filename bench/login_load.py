#!/usr/bin/env python3
"""Login under attack: legitimate sign-ins' success rate and p99 latency, without and with an attacker hammering
the login endpoint with wrong passwords from many loopback source addresses. Standard library only.

Legitimate traffic, each person from their own address:
  - returning users (USERS_FILE): people who signed in on this browser before, so they send the device cookie
    Palisade gave them (taken in a warm-up sign-in before the measurement); one sign-in every ~2 s each;
  - first-time sign-ins (FIRST_TIME_FILE): a person on a browser and network Palisade has never seen (no device
    cookie, a fresh address every time), one every ~250 ms in all.
The attacker knows the returning users' addresses (staff emails are easy to guess) and floods them and random
addresses with wrong passwords, rotating over thousands of source addresses.

Usage: login_load.py BASE_URL USERS_FILE FIRST_TIME_FILE SECONDS
Both files: one "email password" per line.
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
FIRST_TIME = [line.split(" ", 1) for line in open(sys.argv[3]).read().splitlines() if line.strip()]
SECONDS = float(sys.argv[4])
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


def device_cookie(cookies):
    for part in cookies.split(","):
        part = part.strip()
        if part.startswith("palisade_device="):
            return part.split(";")[0]
    return None


def sign_in(ip, email, password, device):
    conn = connect(ip)
    t0 = time.perf_counter()
    try:
        status, cookies = post(conn, "/api/v1/auth/login", {"email": email, "password": password}, device)
    except Exception:
        status, cookies = 0, ""
    dt = time.perf_counter() - t0
    conn.close()
    return status, cookies, dt


def returning_user(idx, email, password, device, stop, results):
    """A person signing in every ~2 s from their own address and browser (device cookie kept)."""
    ip = f"127.0.0.{10 + idx}"
    while not stop.is_set():
        status, cookies, dt = sign_in(ip, email, password, device)
        device = device_cookie(cookies) or device
        results.append((status == 200, dt, "returning"))
        stop.wait(2.0)


def first_timers(stop, results, counter):
    """People signing in on a new browser from a new network: no device cookie, a fresh address each time."""
    i = 0
    while not stop.is_set():
        email, password = FIRST_TIME[i % len(FIRST_TIME)]
        n = counter[0]
        counter[0] += 1
        ip = f"127.200.{(n // 250) % 250}.{1 + n % 250}"
        status, _, dt = sign_in(ip, email, password, None)
        results.append((status == 200, dt, "first-time"))
        i += 1
        stop.wait(0.25)


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


def warm_up():
    """Each returning user signs in once on their browser, which gives it the device cookie."""
    devices = []
    for idx, (email, password) in enumerate(USERS):
        status, cookies, _ = sign_in(f"127.0.0.{10 + idx}", email, password, None)
        if status != 200:
            sys.exit(f"warm-up sign-in of {email} answered {status}")
        devices.append(device_cookie(cookies))
    return devices


def phase(with_attack, devices, first_counter):
    stop = threading.Event()
    results = []
    counter = [0] * ATTACK_THREADS
    threads = [threading.Thread(target=returning_user, args=(i, e, p, devices[i], stop, results))
               for i, (e, p) in enumerate(USERS)]
    threads.append(threading.Thread(target=first_timers, args=(stop, results, first_counter)))
    if with_attack:
        emails = [e for e, _ in USERS]
        threads += [threading.Thread(target=attacker, args=(n, emails, stop, counter)) for n in range(ATTACK_THREADS)]
    for t in threads:
        t.start()
    time.sleep(SECONDS)
    stop.set()
    for t in threads:
        t.join()
    out = {"attack_requests": sum(counter)}
    for kind in ("returning", "first-time", None):
        rows = [(ok, dt) for ok, dt, k in results if kind is None or k == kind]
        lat = sorted(dt for _, dt in rows)
        ok = sum(1 for s, _ in rows if s)
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")
        out[kind or "all"] = {"requests": len(rows), "success": ok / max(1, len(rows)), "p50_ms": p(0.50),
                              "p99_ms": p(0.99)}
    return out


devices = warm_up()
first_counter = [0]
base = phase(False, devices, first_counter)
attack = phase(True, devices, first_counter)
print(f"returning users: {len(USERS)} (device cookie, own address, every ~2 s); first-time sign-ins: one every "
      f"~250 ms over {len(FIRST_TIME)} accounts, each from a new address without a cookie; {SECONDS:.0f} s per phase")
print(f"{'phase':<10} {'who':<11} {'logins':>7} {'success':>8} {'p50 ms':>8} {'p99 ms':>8} {'attack req':>11}")
for name, r in (("baseline", base), ("attack", attack)):
    for kind in ("returning", "first-time", "all"):
        x = r[kind]
        print(f"{name:<10} {kind:<11} {x['requests']:>7} {x['success']*100:>7.1f}% {x['p50_ms']:>8.1f} "
              f"{x['p99_ms']:>8.1f} {r['attack_requests'] if kind == 'all' else '':>11}")
ratio = attack["all"]["p99_ms"] / base["all"]["p99_ms"] if base["all"]["p99_ms"] else float("nan")
goals = [
    ("baseline: >= 99% of legitimate sign-ins succeed", base["all"]["success"] * 100, 99.0, ">="),
    ("attack: >= 99% of legitimate sign-ins succeed", attack["all"]["success"] * 100, 99.0, ">="),
    ("attack: p99 <= 2x baseline p99", ratio, 2.0, "<="),
]
print(f"\nattack rate: {attack['attack_requests'] / SECONDS:.0f} req/s")
failed = 0
for name, got, want, op in goals:
    ok = got >= want if op == ">=" else got <= want
    failed += not ok
    print(f"  {'PASS' if ok else 'FAIL'}  {name:50} {got:8.2f} (goal {op} {want})")
print("RESULT:", "PASS" if failed == 0 else "FAIL")
