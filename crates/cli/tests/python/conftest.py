"""Fixtures of the black-box suite: the real `opsledger serve` binary, driven over HTTP with
jsonrpcclient + requests and over stdio through subprocess pipes.

The binary comes from $OPSLEDGER_BIN (default: target/debug/opsledger of this repository).
"""

import json
import os
import pathlib
import queue
import signal
import subprocess
import threading
import uuid

import jsonrpcclient
import pytest
import requests

REPO = pathlib.Path(__file__).resolve().parents[4]
BIN = os.environ.get("OPSLEDGER_BIN") or str(REPO / "target" / "debug" / "opsledger")
LISTENING = "opsledger listening on http://"
TIMEOUT = 30

# Who may do what over HTTP: the bearer token decides the actor.
TOKENS = {
    "alice": ("alice-token-0123456789abcdef", ["agent"]),
    "pat": ("pat-token-0123456789abcdefgh", ["problem_manager"]),
    "chris": ("chris-token-0123456789abcdef", ["change_manager"]),
    "cora": ("cora-token-0123456789abcdefg", ["cab_member"]),
    "max": ("max-token-0123456789abcdefgh", ["manager"]),
}


def new_id():
    """A new record id (UUID v4 is fine: ids are caller-chosen)."""
    return str(uuid.uuid4())


def _first_line(stream, timeout):
    """The first line of a pipe, or None after `timeout` seconds."""
    q = queue.Queue()

    def pump():
        q.put(stream.readline())
        for _ in stream:  # keep draining so the server never blocks on a full pipe
            pass

    threading.Thread(target=pump, daemon=True).start()
    try:
        return q.get(timeout=timeout)
    except queue.Empty:
        return None


class HttpServer:
    """`opsledger serve` on an ephemeral loopback port, with bearer tokens."""

    def __init__(self, data_dir, log_path, token_file=None, extra=()):
        args = [BIN, "serve", "--data", str(data_dir), "--listen", "127.0.0.1:0", "--no-scheduler"]
        if token_file:
            args += ["--token-file", str(token_file)]
        args += list(extra)
        self.log_path = log_path
        self.log = open(log_path, "w")
        env = dict(os.environ, RUST_LOG="warn")
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL, text=True, env=env
        )
        line = _first_line(self.proc.stdout, TIMEOUT)
        if not line or not line.startswith(LISTENING):
            self.proc.kill()
            raise RuntimeError(f"serve did not start: {line!r}\n{pathlib.Path(log_path).read_text()}")
        self.base = "http://" + line[len(LISTENING):].strip()
        self.rpc_url = self.base + "/rpc"
        self.session = requests.Session()

    def post(self, body, who=None, raw=False):
        """POSTs a request dict (or list, or raw text) to /rpc; returns the `requests` response."""
        headers = {"Content-Type": "application/json"}
        if who:
            headers["Authorization"] = f"Bearer {TOKENS[who][0]}"
        data = body if raw else json.dumps(body)
        return self.session.post(self.rpc_url, data=data, headers=headers, timeout=TIMEOUT)

    def call(self, who, method, params=None):
        """One request built by jsonrpcclient; the parsed response (Ok or Error)."""
        response = self.post(jsonrpcclient.request(method, params=params), who)
        assert response.status_code == 200, response.text
        return jsonrpcclient.parse(response.json())

    def ok(self, who, method, params=None):
        """A call that must succeed; its result."""
        parsed = self.call(who, method, params)
        assert isinstance(parsed, jsonrpcclient.Ok), f"{method}: {parsed}"
        return parsed.result

    def stop(self):
        """SIGTERM, as an operator would; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class StdioServer:
    """`opsledger serve --stdio` on pipes: one JSON message per line each way."""

    def __init__(self, data_dir, extra=()):
        env = dict(os.environ, RUST_LOG="warn")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--stdio", "--no-scheduler", "--data", str(data_dir), *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            env=env,
        )
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def send(self, message):
        """Writes a message (a dict/list, encoded here, or a raw string) as one line."""
        text = message if isinstance(message, str) else json.dumps(message)
        assert "\n" not in text
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def recv(self, timeout=TIMEOUT):
        line = self.lines.get(timeout=timeout)
        assert line is not None, "serve --stdio closed its output"
        return json.loads(line)

    def nothing_pending(self, timeout=0.3):
        """True when no reply line arrives within `timeout` seconds."""
        try:
            self.lines.get(timeout=timeout)
            return False
        except queue.Empty:
            return True

    def call(self, method, params=None):
        self.send(jsonrpcclient.request(method, params=params))
        return jsonrpcclient.parse(self.recv())

    def ok(self, method, params=None):
        parsed = self.call(method, params)
        assert isinstance(parsed, jsonrpcclient.Ok), f"{method}: {parsed}"
        return parsed.result

    def close(self):
        """End of input: the server answers what it has and exits 0."""
        self.proc.stdin.close()
        return self.proc.wait(timeout=TIMEOUT)


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({tok: {"actor": who, "roles": roles} for who, (tok, roles) in TOKENS.items()}))
    return path


@pytest.fixture
def http_server(tmp_path, token_file):
    server = HttpServer(tmp_path / "data", tmp_path / "serve.log", token_file)
    yield server
    assert server.stop() == 0, pathlib.Path(server.log_path).read_text()


@pytest.fixture
def stdio_server(tmp_path):
    server = StdioServer(tmp_path / "data")
    yield server
    if server.proc.poll() is None:
        assert server.close() == 0


def actor(name, *roles):
    """The `actor` param a trusted stdio caller sends."""
    return {"id": name, "roles": list(roles)}
