"""Replays the OWASP CRS regression corpus and Palisade's benign shopper corpus against several WAF endpoints and
prints detection (attacks blocked) per CRS rule family and false positives (benign requests blocked) per endpoint.

Usage: waf_compare.py CORPUS_DIR BENIGN_TXT name=http://127.0.0.1:PORT [name=url ...]
A request counts as blocked when the answer is 403. Each request comes from its own loopback address
(127.1.x.y), so no per-address defence (bans, limits) colours the result."""
import http.client
import itertools
import json
import os
import sys
import urllib.parse

import yaml

addresses = (f"127.1.{a}.{b}" for a, b in itertools.cycle(itertools.product(range(1, 250), range(1, 250))))


def cases(corpus):
    for folder in sorted(os.listdir(corpus)):
        if not folder.startswith("REQUEST-9") or any(n in folder for n in ("949", "999", "980")):
            continue
        family = folder[len("REQUEST-"):]
        for name in sorted(os.listdir(os.path.join(corpus, folder))):
            if not name.endswith(".yaml"):
                continue
            with open(os.path.join(corpus, folder, name)) as f:
                doc = yaml.safe_load(f) or {}
            for test in doc.get("tests") or []:
                for stage in test.get("stages") or []:
                    stage = stage.get("stage", stage)
                    inp, out = stage.get("input"), stage.get("output")
                    if not inp or not out or "encoded_request" in inp:
                        continue
                    log = out.get("log") or {}
                    if log.get("expect_ids"):
                        attack = True
                    elif log.get("no_expect_ids"):
                        attack = False
                    else:
                        continue
                    data = inp.get("data")
                    if isinstance(data, list):
                        data = "\r\n".join(str(x) for x in data)
                    headers = {str(k): str(v) for k, v in (inp.get("headers") or {}).items()}
                    if data and not any(k.lower() == "content-type" for k in headers):
                        headers["Content-Type"] = "application/x-www-form-urlencoded"
                    yield family, attack, str(inp.get("method", "GET")), str(inp.get("uri", "/")), headers, data


def benign(path):
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(" ", 3)
            headers = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0", "Accept": "text/html"}
            data = None
            if len(parts) == 4:
                # As in the shield's corpus test: `;+` is `; ` in a content type, `\r\n` a line break in a body.
                headers["Content-Type"] = parts[2].replace(";+", "; ")
                data = parts[3].replace("\\r\\n", "\r\n")
            yield "benign-shoppers", False, parts[0], parts[1], headers, data


def send(url, method, uri, headers, data):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10, source_address=(next(addresses), 0))
    try:
        body = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
        hdrs = dict(headers)
        hdrs.setdefault("Host", "localhost")
        conn.putrequest(method, uri if uri.startswith("/") else "/" + uri, skip_host=True, skip_accept_encoding=True)
        for k, v in hdrs.items():
            conn.putheader(k, v)
        if body is not None and not any(k.lower() == "content-length" for k in hdrs):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        return conn.getresponse().status
    except Exception:
        return None  # the client library refused to send it, or the server dropped it
    finally:
        conn.close()


def main():
    corpus, benign_txt, targets = sys.argv[1], sys.argv[2], [t.split("=", 1) for t in sys.argv[3:]]
    all_cases = list(cases(corpus)) + list(benign(benign_txt))
    summary_path = os.environ.get("WAF_COMPARE_SUMMARY")
    stats = {}  # (target, family) -> [attacks, caught, benign, fp]
    challenged = {}  # target -> [attacks, benign] answered with a challenge (Palisade's 503 page) instead
    for family, attack, method, uri, headers, data in all_cases:
        for name, url in targets:
            status = send(url, method, uri, headers, data)
            if status is None:
                continue
            s = stats.setdefault((name, family), [0, 0, 0, 0])
            blocked = status == 403
            if status == 503:
                challenged.setdefault(name, [0, 0])[0 if attack else 1] += 1
            if attack:
                s[0] += 1
                s[1] += blocked
            else:
                s[2] += 1
                s[3] += blocked
    names = [n for n, _ in targets]
    families = sorted({f for _, f in stats})
    pct = lambda a, b: 100.0 * a / b if b else float("nan")
    print(f"{len(all_cases)} requests per endpoint; detection = attacks blocked, FP = benign requests blocked")
    print(f"{'family':40}" + "".join(f"{n + ' det':>14}{n + ' FP':>13}" for n in names))
    totals = {n: [0, 0, 0, 0] for n in names}
    for fam in families:
        row = f"{fam:40}"
        for n in names:
            a, c, b, f = stats.get((n, fam), [0, 0, 0, 0])
            row += f"{pct(c, a):13.1f}%{pct(f, b):12.1f}%"
            for i, v in enumerate((a, c, b, f)):
                totals[n][i] += v
        print(row)
    row = f"{'all':40}"
    for n in names:
        a, c, b, f = totals[n]
        row += f"{pct(c, a):13.1f}%{pct(f, b):12.1f}%"
    print(row)
    for n in names:
        ca, cb = challenged.get(n, [0, 0])
        if ca or cb:
            a, _, b, _ = totals[n]
            print(f"  {n}: challenged instead of blocked or passed (not counted above): "
                  f"{pct(ca, a):.1f}% of attacks, {pct(cb, b):.1f}% of benign requests")
    if summary_path:
        with open(summary_path, "w") as out:
            json.dump({n: {"detection": pct(totals[n][1], totals[n][0]), "fp": pct(totals[n][3], totals[n][2])}
                       for n in names}, out)


if __name__ == "__main__":
    main()
