"""Parent/child sync and duplicates through the shipped server, under the shipped example policy:
a parent on hold holds its child, its resumption resumes it, its close leaves the child resolved;
`incident.link_duplicate` cancels the duplicate with the link, and its SLA clocks with it."""

import pytest

from conftest import REPO, HttpServer

EXAMPLE_POLICY = REPO / "examples" / "policy" / "policy.toml"


@pytest.fixture
def example_server(tmp_path, token_file):
    server = HttpServer(tmp_path / "data", tmp_path / "serve.log", token_file, extra=("--policy", str(EXAMPLE_POLICY)))
    yield server
    assert server.stop() == 0


def status(server, number):
    return server.ok("alice", "query.record", {"id": number})["state"]["status"]


def open_incident(server, title, assignee=None):
    # Medium impact, high urgency: P2 under the example matrix, clocks on the 24x7 calendar.
    params = {"title": title, "caller": "bob", "impact": "medium", "urgency": "high"}
    if assignee:
        params["assignee"] = assignee
    return server.ok("alice", "incident.open", params)


def follow_ups(result, process):
    return [f for f in result["follow_ups"] if f["process"] == process]


def test_children_follow_their_parent_but_never_close_with_it(example_server):
    server = example_server
    parent = open_incident(server, "VPN gateway down", "alice")
    open_incident(server, "cannot connect from home", "alice")
    server.ok("alice", "incident.link_parent", {"id": "INC0000002", "parent": "INC0000001"})

    held = server.ok("alice", "incident.put_on_hold", {"id": "INC0000001", "reason": {"kind": "awaiting_vendor"}})
    assert [(f["number"], f["outcome"]) for f in follow_ups(held, "parent_hold")] == [("INC0000002", "applied")], held
    assert status(server, "INC0000002") == {
        "status": "on_hold",
        "reason": {"kind": "awaiting_parent", "parent": parent["record"]["id"]},
    }

    server.ok("alice", "incident.resume", {"id": "INC0000001"})
    assert status(server, "INC0000002") == {"status": "in_progress"}

    server.ok("alice", "incident.resolve", {"id": "INC0000001", "code": "solved_workaround", "notes": "Failed over"})
    assert status(server, "INC0000002")["status"] == "resolved"
    closed = server.ok("alice", "incident.close", {"id": "INC0000001"})
    assert closed["follow_ups"] == [], closed
    assert status(server, "INC0000001") == {"status": "closed"}
    assert status(server, "INC0000002")["status"] == "resolved"


def test_link_duplicate_cancels_the_duplicate_and_stops_its_clocks(example_server):
    server = example_server
    original = open_incident(server, "mail down")
    duplicate = open_incident(server, "cannot send mail")
    clocks = server.ok("alice", "query.sla", {"id": "INC0000002"})
    assert clocks and all(c["state"]["state"] == "running" for c in clocks), clocks

    linked = server.ok("alice", "incident.link_duplicate", {"id": "INC0000001", "duplicate": "INC0000002"})
    assert [(f["number"], f["outcome"]) for f in follow_ups(linked, "duplicate_cancel")] == [("INC0000002", "applied")], linked
    assert status(server, "INC0000002") == {
        "status": "canceled",
        "reason": {"kind": "duplicate", "of": original["record"]["id"]},
    }
    clocks = server.ok("alice", "query.sla", {"id": "INC0000002"})
    assert clocks and all(c["state"]["state"] == "canceled" for c in clocks), clocks
    # The original keeps the link, once, and stays open (nobody has picked it up yet).
    record = server.ok("alice", "query.record", {"id": "INC0000001"})
    assert record["state"]["status"]["status"] == "new"
    assert record["state"]["duplicates"] == [duplicate["record"]["id"]], record
