"""`opsledger serve` over HTTP, driven by jsonrpcclient (requests and responses) and requests."""

import json

import jsonrpcclient
import requests
from jsonrpcclient import Error, Ok

import story
from conftest import TIMEOUT, TOKENS


def test_story_incident_problem_change_kpis(http_server):
    story_result = story.walk(http_server.ok)
    story.check_outcome(http_server.ok, story_result)
    # Who acted comes from the tokens: the timeline names them.
    timeline = http_server.ok("alice", "query.timeline", {"id": "CHG0000001"})
    entries = timeline["entries"] if isinstance(timeline, dict) else timeline
    actors = {e["actor"] for e in entries}
    assert {"chris", "cora"} <= actors, actors


def test_event_stream_replays_the_log(http_server):
    opened = http_server.ok(
        "alice",
        "incident.open",
        {"title": "VPN down", "caller": "bob", "impact": "medium", "urgency": "high", "assignee": "alice"},
    )
    http_server.ok("alice", "incident.resolve", {"id": opened["number"], "code": "solved_workaround", "notes": "Restarted"})
    head = http_server.ok("alice", "events.read", {"after": 0, "max": 1000})["head"]
    response = requests.get(
        http_server.base + "/events",
        params={"from": 1},
        headers={"Authorization": f"Bearer {TOKENS['alice'][0]}"},
        stream=True,
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    seen, position = [], None
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("id:"):
            position = int(line[3:].strip())
        elif line.startswith("data:"):
            seen.append((position, json.loads(line[5:].strip())))
            if position == head:
                break
    response.close()
    assert [p for p, _ in seen] == list(range(1, head + 1))
    types = [e["event_type"] for _, e in seen]
    assert "incident.opened" in types and "incident.resolved" in types


def test_batches(http_server):
    http_server.ok("alice", "incident.open", {"title": "Mail slow", "caller": "bob", "impact": "low", "urgency": "low"})
    batch = [
        jsonrpcclient.request("query.record", params={"id": "INC0000001"}, id="a"),
        jsonrpcclient.notification("query.stats"),
        jsonrpcclient.request("no.such_method", id="b"),
        jsonrpcclient.request("query.record", params={"id": "INC0000001", "bogus": 1}, id="c"),
        jsonrpcclient.request("events.read", params={"max": 1}, id="d"),
    ]
    response = http_server.post(batch, "alice")
    assert response.status_code == 200
    replies = {r.id: r for r in jsonrpcclient.parse(response.json())}
    assert set(replies) == {"a", "b", "c", "d"}, "no reply to the notification"
    assert isinstance(replies["a"], Ok) and replies["a"].result["number"] == "INC0000001"
    assert isinstance(replies["b"], Error) and replies["b"].code == -32601
    assert isinstance(replies["c"], Error) and replies["c"].code == -32602
    assert isinstance(replies["d"], Ok) and len(replies["d"].result["events"]) == 1
    # Notifications only: nothing to send back.
    only = http_server.post([jsonrpcclient.notification("query.stats")] * 2, "alice")
    assert only.status_code == 204 and only.text == ""
    # An empty batch is one Invalid Request.
    empty = jsonrpcclient.parse(http_server.post([], "alice").json())
    assert isinstance(empty, Error) and empty.code == -32600


def test_errors(http_server):
    # A domain refusal: closing an incident that is not resolved.
    http_server.ok("alice", "incident.open", {"title": "Printer", "caller": "bob", "impact": "low", "urgency": "low"})
    refused = http_server.call("alice", "incident.close", {"id": "INC0000001"})
    assert isinstance(refused, Error), refused
    assert -32089 <= refused.code <= -32000, refused
    assert refused.data["domain_code"] == "invalid_transition", refused.data
    # Permissions are the engine's rule; the roles come from the token (cora is on the CAB).
    forbidden = http_server.call("cora", "incident.open", {"title": "x", "caller": "bob", "impact": "low", "urgency": "low"})
    assert isinstance(forbidden, Error) and forbidden.data["domain_code"] == "forbidden", forbidden
    # Invalid params name the field.
    bad = http_server.call("alice", "incident.open", {"title": "x", "caller": "bob", "impact": "enormous", "urgency": "low"})
    assert isinstance(bad, Error) and bad.code == -32602 and "impact" in bad.data["path"], bad
    # Over HTTP the token decides: an actor in the params is refused.
    claim = http_server.call(
        "alice",
        "incident.open",
        {"title": "x", "caller": "bob", "impact": "low", "urgency": "low", "actor": {"id": "max", "roles": ["admin"]}},
    )
    assert isinstance(claim, Error) and claim.code == -32097, claim
    # Unknown method, parse error, invalid request.
    assert http_server.call("alice", "incident.teleport").code == -32601
    garbage = jsonrpcclient.parse(http_server.post('{"jsonrpc": "2.0", "method": ', "alice", raw=True).json())
    assert isinstance(garbage, Error) and garbage.code == -32700 and garbage.id is None
    invalid = jsonrpcclient.parse(http_server.post({"jsonrpc": "1.0", "method": "query.stats", "id": 5}, "alice").json())
    assert isinstance(invalid, Error) and invalid.code == -32600
    # Transport-level refusals.
    assert http_server.post(jsonrpcclient.request("query.stats")).status_code == 401
    wrong = requests.post(
        http_server.rpc_url,
        json=jsonrpcclient.request("query.stats"),
        headers={"Authorization": "Bearer not-a-real-token-at-all"},
        timeout=TIMEOUT,
    )
    assert wrong.status_code == 401 and "invalid_token" in wrong.headers["www-authenticate"]
    # The same keep-alive session goes on after a 413: the server closes that connection and
    # says so, so the next request opens a new one.
    huge = http_server.post('{"pad": "' + "x" * (2 * 1024 * 1024) + '"}', "alice", raw=True)
    assert huge.status_code == 413 and huge.headers["connection"] == "close"
    # Nothing of the above was written: the policy's first version (a new log starts with
    # it), then one incident, its two or three events.
    events = http_server.ok("alice", "events.read", {"max": 1000})["events"]
    assert [e["event_type"] for e in events if e["stream"] == "policy"] == ["policy.published"]
    assert events[0]["stream"] == "policy"
    assert {e["stream"].split("-")[0] for e in events[1:]} <= {"numbers", "incident", "sla"}
    assert sum(1 for e in events if e["event_type"] == "incident.opened") == 1


def test_probes_answer_a_load_balancer_without_a_token(http_server):
    health = requests.get(http_server.base + "/healthz", timeout=TIMEOUT)
    assert (health.status_code, health.text) == (200, "ok\n")
    ready = requests.get(http_server.base + "/readyz", timeout=TIMEOUT)
    assert (ready.status_code, ready.text) == (200, "ready\n")
    # The probes are the only thing open without a token.
    assert requests.get(http_server.base + "/events", timeout=TIMEOUT).status_code == 401
