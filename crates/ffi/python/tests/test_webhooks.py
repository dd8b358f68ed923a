"""Webhooks through the C ABI: subscriptions managed from Python, and the worker the
configuration starts delivering to a receiver on loopback, signed as docs/WEBHOOKS.md says."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import queue
import threading

import pytest

from opsledger import Engine, OpsledgerError

MIA = {"id": "mia", "roles": ["manager"]}
ANN = {"id": "ann", "roles": ["agent"]}
SECRET = "python-secret-0123456789"


def receiver(answers):
    """A loopback receiver answering from `answers` (then 200); (server, queue of requests)."""
    got: "queue.Queue[tuple[dict, bytes]]" = queue.Queue()
    script = list(answers)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.put(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(script.pop(0) if script else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, got


def test_bad_webhooks_are_refused_and_write_nothing():
    with Engine.in_memory() as engine:
        head = engine.call("query.stats")["head"]
        for params, code in [
            ({"url": "ftp://x.example/"}, "unsafe_webhook_url"),
            ({"url": "http://169.254.169.254/"}, "unsafe_webhook_url"),
            ({"url": "http://metadata.google.internal/"}, "unsafe_webhook_url"),
            ({"url": "https://x.example/", "filter": {"event_types": ["incident.nope"]}}, "unknown_event_type"),
            ({"url": "https://x.example/", "template": "x" * 5000}, "limit_exceeded"),
        ]:
            with pytest.raises(OpsledgerError) as refused:
                engine.create_webhook(actor=MIA, **params)
            assert refused.value.domain_code == code
        with pytest.raises(OpsledgerError) as refused:
            engine.create_webhook("https://x.example/", actor=ANN)
        assert refused.value.domain_code == "forbidden"
        assert engine.call("query.stats")["head"] == head


def test_worker_delivers_signed_retries_5xx_and_lists_deliveries():
    server, got = receiver([503])
    config = {"poll_ms": 20, "first_delay_ms": 50, "timeout_ms": 2000}
    with Engine.in_memory(webhooks=config) as engine:
        created = engine.create_webhook(
            f"http://127.0.0.1:{server.server_port}/hook",
            filter={"event_types": ["incident.opened"]},
            secret=SECRET,
            actor=MIA,
        )
        assert created["secret"] == SECRET
        assert "secret" not in json.dumps(engine.webhooks(actor=MIA))
        engine.open_incident("Checkout down", caller="bob", impact="high", urgency="high", actor=ANN)
        first_headers, first_body = got.get(timeout=20)
        second_headers, second_body = got.get(timeout=20)
        assert first_headers["opsledger-delivery"] == second_headers["opsledger-delivery"]
        assert (first_headers["opsledger-attempt"], second_headers["opsledger-attempt"]) == ("1", "2")
        assert first_body == second_body
        ts = second_headers["opsledger-timestamp"]
        expected = hmac.new(SECRET.encode(), ts.encode() + b"." + second_body, hashlib.sha256).hexdigest()
        assert second_headers["opsledger-signature"] == "v1=" + expected
        payload = json.loads(second_body)
        assert payload["record"]["number"] == "INC0000001"
        assert payload["event_type"] == "incident.opened"
        deliveries = engine.webhook_deliveries(actor=MIA)
        for _ in range(100):
            if deliveries and deliveries[0]["status"] == "succeeded":
                break
            threading.Event().wait(0.05)
            deliveries = engine.webhook_deliveries(actor=MIA)
        assert [(d["status"], d["total_attempts"], d["last_status"]) for d in deliveries] == [("succeeded", 2, 200)]
        again = engine.redeliver(deliveries[0]["id"], actor=MIA)
        assert again["sequence"] == 2
        third_headers, _ = got.get(timeout=20)
        assert third_headers["opsledger-sequence"] == "2"
    server.shutdown()
