#!/usr/bin/env python3
"""A relay from opsledger webhooks to a Slack-style incoming webhook.

opsledger POSTs here (a loopback address: the engine's bundled transport speaks plain HTTP);
the relay verifies the signature, drops duplicate deliveries, and forwards the body, which the
subscription's template already shaped as {"text": ...}, to the incoming-webhook URL over
HTTPS. Standard library only.

    OPSLEDGER_WEBHOOK_SECRET=whsec_... \
    SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T000/B000/XXXX \
    python3 examples/webhooks/slack_relay.py --port 8787

Then create the subscription (examples/webhooks/slack-subscription.json) with a secret, or
put the secret webhook.create returned in OPSLEDGER_WEBHOOK_SECRET.
"""

import argparse
import collections
import hashlib
import hmac
import http.server
import os
import time
import urllib.request

SEEN = collections.OrderedDict()  # delivery id + sequence -> None, the most recent 10000


def verify(secret: bytes, timestamp: str, signature: str, body: bytes, tolerance: int = 300) -> bool:
    """The snippet of docs/WEBHOOKS.md."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(time.time() - sent) > tolerance:
        return False
    expected = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(
        hmac.compare_digest(expected, part.strip()[3:])
        for part in signature.split(",")
        if part.strip().startswith("v1=")
    )


class Relay(http.server.BaseHTTPRequestHandler):
    secret = b""
    target = ""

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if not verify(
            self.secret,
            self.headers.get("Opsledger-Timestamp", ""),
            self.headers.get("Opsledger-Signature", ""),
            body,
        ):
            self.send_response(401)
            self.end_headers()
            return
        key = (self.headers.get("Opsledger-Delivery"), self.headers.get("Opsledger-Sequence"))
        if key not in SEEN:
            request = urllib.request.Request(
                self.target, data=body, headers={"Content-Type": "application/json"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    answer.read()
            except Exception as error:  # the engine retries: answer 502
                self.log_message("forwarding failed: %s", error)
                self.send_response(502)
                self.end_headers()
                return
            SEEN[key] = None
            if len(SEEN) > 10_000:
                SEEN.popitem(last=False)
        self.send_response(204)
        self.end_headers()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8787)
    args = parser.parse_args()
    Relay.secret = os.environ["OPSLEDGER_WEBHOOK_SECRET"].encode()
    Relay.target = os.environ["SLACK_WEBHOOK_URL"]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Relay)
    print(f"relaying http://127.0.0.1:{args.port}/ to {Relay.target.split('/services/')[0]}/...")
    server.serve_forever()


if __name__ == "__main__":
    main()
