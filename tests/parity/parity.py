"""The parity scenario (scenario.json) run through the C ABI (the `opsledger` Python package)
and through JSON-RPC over HTTP (`opsledger serve --clock manual`), and the one normalisation
that makes the three runs comparable (the Rust run is crates/rpc/tests/rpc/parity.rs).

A run's dump: the outcome of every step (a result, or a refusal's domain code), the whole event
log (`events.read`) and the KPI report (`query.kpis`). Normalised: ids (UUIDs, wherever they
appear, also inside stream names) are numbered in order of first appearance, and the recorded
times of what an engine records when it opens, before the scenario moves its manual clock to
the scenario's start (the initial policy version: `recorded_at`, `occurred_at` and every value
equal to them), are replaced by a marker. Everything else (positions, versions, event types,
actors, payloads, every instant from the start on, SLA outcomes, the KPIs) must be equal.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parents[1]
SCENARIO = HERE / "scenario.json"

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
RECORDED = "<recorded_at>"

Call = Callable[[str, str, Dict[str, Any], bool], Dict[str, Any]]
"""(actor name, method, params, whether the params name the actor) -> the JSON-RPC response
object. Over HTTP the actor's bearer token always decides; in process, the `actor` param does
(the reads `events.read` and `query.kpis` take none)."""


def load_scenario(path: Path = SCENARIO) -> Dict[str, Any]:
    """The scenario, with every ``{"$file": path}`` (relative to the repository) replaced by
    the file's text."""
    scenario = json.loads(path.read_text(encoding="utf-8"))

    def substitute(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"$file"}:
                return (REPOSITORY / value["$file"]).read_text(encoding="utf-8")
            return {k: substitute(v) for k, v in value.items()}
        if isinstance(value, list):
            return [substitute(v) for v in value]
        return value

    scenario["steps"] = substitute(scenario["steps"])
    return scenario


def run(scenario: Dict[str, Any], call: Call) -> Dict[str, Any]:
    """Runs the scenario through ``call``; the raw dump. A step with ``"error"`` must be refused
    with that domain code; every other step must succeed."""
    first = call("admin", "admin.set_clock", {"now": scenario["start"]}, True)
    assert "result" in first, first
    outcomes: List[Any] = []
    for number, step in enumerate(scenario["steps"], 1):
        response = call(step["as"], step["method"], step["params"], True)
        where = f"step {number} ({step['method']} as {step['as']})"
        if "error" in step:
            assert "error" in response, f"{where}: expected {step['error']}, got {response}"
            code = (response["error"].get("data") or {}).get("domain_code")
            assert code == step["error"], f"{where}: {response['error']}"
            outcomes.append({"error": code})
        else:
            assert "result" in response, f"{where}: {response.get('error')}"
            outcomes.append({"result": response["result"]})
    events: List[Any] = []
    after = 0
    while True:
        page = call("admin", "events.read", {"after": after, "max": 500}, False)["result"]
        events.extend(page["events"])
        if not page["events"]:
            break
        after = page["next"]
    kpis = call("admin", "query.kpis", {"query": scenario["kpis"]}, False)["result"]
    return {"steps": outcomes, "events": events, "kpis": kpis}


def normalise(dump: Dict[str, Any], start: str) -> Dict[str, Any]:
    """The dump modulo ids and the recorded times before ``start`` (see the module's docs)."""
    ids: Dict[str, str] = {}

    def rename(match: "re.Match[str]") -> str:
        return ids.setdefault(match.group(0), f"<id{len(ids) + 1}>")

    def walk(value: Any, recorded: Optional[str]) -> Any:
        if isinstance(value, dict):
            return {k: walk(value[k], recorded) for k in sorted(value)}
        if isinstance(value, list):
            return [walk(v, recorded) for v in value]
        if isinstance(value, str):
            if recorded is not None and value == recorded:
                return RECORDED
            return UUID.sub(rename, value)
        return value

    events = []
    for event in dump["events"]:
        recorded = event.get("recorded_at")
        # RFC 3339 instants in UTC ("...Z") compare as text, to the second.
        before_start = isinstance(recorded, str) and recorded[:19] < start[:19]
        events.append(walk(event, recorded if before_start else None))
    return {
        "events": events,
        "steps": walk(dump["steps"], None),
        "kpis": walk(dump["kpis"], None),
    }


# -- the C ABI ----------------------------------------------------------------------------------


def run_c_abi(scenario: Dict[str, Any]) -> Dict[str, Any]:
    """Through the `opsledger` package (ctypes over the C ABI), in memory, manual clock."""
    from opsledger import Engine

    actors = scenario["actors"]
    with Engine.in_memory(clock="manual") as engine:

        def call(who: str, method: str, params: Dict[str, Any], act: bool) -> Dict[str, Any]:
            named = {**params, "actor": actors[who]} if act else params
            message = {"jsonrpc": "2.0", "id": 1, "method": method, "params": named}
            raw = engine.raw(json.dumps(message))
            assert raw is not None
            response: Dict[str, Any] = json.loads(raw)
            return response

        return run(scenario, call)


# -- JSON-RPC over HTTP -------------------------------------------------------------------------

LISTENING = "opsledger listening on http://"


def token(name: str) -> str:
    return f"{name}-parity-token-0123456789abcdef"


def run_http(scenario: Dict[str, Any], binary: str, workdir: Path) -> Dict[str, Any]:
    """Against `opsledger serve --clock manual` on a loopback port; each actor is a bearer
    token of the token file."""
    tokens = {token(name): {"actor": a["id"], "roles": a["roles"]} for name, a in scenario["actors"].items()}
    token_file = workdir / "tokens.json"
    token_file.write_text(json.dumps(tokens))
    token_file.chmod(0o600)
    log = open(workdir / "serve.log", "w")
    process = subprocess.Popen(
        [binary, "serve", "--data", str(workdir / "data"), "--listen", "127.0.0.1:0", "--clock", "manual",
         "--no-scheduler", "--token-file", str(token_file)],
        stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True,
        env=dict(os.environ, RUST_LOG="warn"),
    )
    try:
        line = _first_line(process)
        if not line.startswith(LISTENING):
            raise RuntimeError(f"serve did not start: {line!r}\n{(workdir / 'serve.log').read_text()}")
        url = "http://" + line[len(LISTENING):].strip() + "/rpc"

        def call(who: str, method: str, params: Dict[str, Any], act: bool) -> Dict[str, Any]:
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
            request = urllib.request.Request(url, data=body, method="POST", headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {token(who)}"})
            with urllib.request.urlopen(request, timeout=30) as reply:
                response: Dict[str, Any] = json.loads(reply.read())
                return response

        return run(scenario, call)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _first_line(process: "subprocess.Popen[str]") -> str:
    lines: "queue.Queue[str]" = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        lines.put(process.stdout.readline())
        for _ in process.stdout:  # keep draining: the server never blocks on a full pipe
            pass

    threading.Thread(target=pump, daemon=True).start()
    try:
        return lines.get(timeout=30)
    except queue.Empty:
        return ""


def first_difference(a: Any, b: Any, path: str = "") -> Optional[Tuple[str, Any, Any]]:
    """Where two normalised dumps first differ (for a readable failure)."""
    if type(a) is not type(b):
        return path, a, b
    if isinstance(a, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key}", a.get(key, "<absent>"), b.get(key, "<absent>")
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        if len(a) != len(b):
            return f"{path} (length)", len(a), len(b)
        return None
    return None if a == b else (path, a, b)
