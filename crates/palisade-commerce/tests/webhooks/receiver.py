"""A webhook receiver written only from palisade-commerce's README, section "Webhooks".

It does not import or read anything from Palisade: if the platform's signing drifts from its documentation,
the test that runs this script fails.

  receiver.py serve             secrets as JSON {subscription id: secret} on stdin; prints the port, then one
                                JSON line per request: {"delivery", "topic", "verdict"}
  receiver.py verify NOW        a JSON {"secret", "header", "body_hex"} on stdin; prints the verdict
"""
import hashlib
import hmac
import http.server
import json
import sys
import time

TOLERANCE = 300


def verdict(secret, header, body, now):
    timestamp = None
    signatures = []
    for part in header.split(","):
        if "=" not in part:
            return "malformed"
        key, value = part.strip().split("=", 1)
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return "malformed"
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        return "malformed"
    if abs(now - timestamp) > TOLERANCE:
        return "outside window"
    signed = str(timestamp).encode() + b"." + body
    expected = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    if any(hmac.compare_digest(expected, s) for s in signatures):
        return "ok"
    return "bad signature"


def serve():
    secrets = json.loads(sys.stdin.readline())
    seen = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            subscription = self.headers.get("Palisade-Subscription", "")
            delivery = self.headers.get("Palisade-Delivery", "")
            now = int(time.time())
            secret = secrets.get(subscription)
            result = "unknown subscription" if secret is None else verdict(
                secret, self.headers.get("Palisade-Signature", ""), body, now)
            if result == "ok":
                for old in [d for d, t in seen.items() if now - t > TOLERANCE]:
                    del seen[old]
                if delivery in seen:
                    result = "duplicate"
                seen[delivery] = now
            topic = json.loads(body).get("topic") if result in ("ok", "duplicate") else None
            if topic != self.headers.get("Palisade-Topic") and result == "ok":
                result = "topic mismatch"
            print(json.dumps({"delivery": delivery, "topic": topic, "verdict": result}), flush=True)
            self.send_response(204 if result in ("ok", "duplicate") else 401)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve()
    else:
        case = json.loads(sys.stdin.read())
        print(verdict(case["secret"], case["header"], bytes.fromhex(case["body_hex"]), int(sys.argv[2])))
