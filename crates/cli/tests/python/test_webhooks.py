"""Webhooks from the real server to a Slack-style incoming webhook, through the example relay
(examples/webhooks/slack_relay.py) verifying signatures with the snippet of docs/WEBHOOKS.md."""

import http.server
import importlib.util
import json
import queue
import threading
import time

from conftest import REPO, HttpServer, TOKENS

SECRET = "relay-secret-0123456789"


def docs_snippet():
    """The Python verification snippet of docs/WEBHOOKS.md, executed: its `verify`."""
    text = (REPO / "docs" / "WEBHOOKS.md").read_text()
    start = text.index("# --- verify-snippet-start ---")
    end = text.index("# --- verify-snippet-end ---")
    namespace = {}
    exec(compile(text[start:end], "docs/WEBHOOKS.md", "exec"), namespace)  # noqa: S102
    return namespace["verify"]


def load_relay():
    spec = importlib.util.spec_from_file_location("slack_relay", REPO / "examples" / "webhooks" / "slack_relay.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def serve(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_docs_snippet_verifies_and_refuses():
    import hashlib
    import hmac
    import time

    verify = docs_snippet()
    body = b'{"event_type":"incident.opened"}'
    ts = str(int(time.time()))
    good = "v1=" + hmac.new(SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert verify(SECRET.encode(), ts, good, body)
    assert verify(SECRET.encode(), ts, "v1=00, " + good, body)
    assert not verify(SECRET.encode(), ts, good, body + b" ")
    assert not verify(b"another-secret-000", ts, good, body)
    old = str(int(time.time()) - 3600)
    stale = "v1=" + hmac.new(SECRET.encode(), old.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert not verify(SECRET.encode(), old, stale, body)


def test_slack_style_incoming_webhook_through_the_relay(tmp_path, token_file):
    received = queue.Queue()

    class IncomingWebhook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.put(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    slack = serve(IncomingWebhook)
    relay_module = load_relay()
    relay_module.verify = docs_snippet()  # the relay checks with the documented snippet
    relay_module.Relay.secret = SECRET.encode()
    relay_module.Relay.target = f"http://127.0.0.1:{slack.server_port}/services/T0/B0/x"
    relay_module.Relay.log_message = lambda *args: None
    relay = serve(relay_module.Relay)

    server = HttpServer(tmp_path / "data", tmp_path / "serve.log", token_file, extra=["--webhook-poll-ms", "50"])
    try:
        request = json.loads((REPO / "examples" / "webhooks" / "slack-subscription.json").read_text())
        params = dict(request["params"], url=f"http://127.0.0.1:{relay.server_port}/opsledger", secret=SECRET)
        created = server.ok("max", "webhook.create", params)
        assert created["secret"] == SECRET
        assert all("secret" not in w for w in server.ok("max", "webhook.list", {}))
        # An agent may not manage webhooks.
        refused = server.call("alice", "webhook.list", {})
        assert refused.data["domain_code"] == "forbidden"
        # A low-priority incident is filtered out; a critical one goes through.
        server.ok("alice", "incident.open", {"title": "Printer jam", "caller": "bob", "impact": "low", "urgency": "low"})
        server.ok("alice", "incident.open", {"title": "Checkout down", "caller": "bob", "impact": "high", "urgency": "high"})
        message = received.get(timeout=30)
        assert message["text"].startswith(":rotating_light: *INC0000002* Checkout down\nopened"), message
        assert message["unfurl_links"] is False
        # The relay forwards before it answers: the outcome is recorded a moment later.
        deadline = time.monotonic() + 30
        deliveries = server.ok("max", "webhook.deliveries", {})
        while deliveries[0]["status"] != "succeeded" and time.monotonic() < deadline:
            time.sleep(0.05)
            deliveries = server.ok("max", "webhook.deliveries", {})
        assert [d["status"] for d in deliveries] == ["succeeded"]
        assert received.empty()
    finally:
        assert server.stop() == 0
        relay.shutdown()
        slack.shutdown()
