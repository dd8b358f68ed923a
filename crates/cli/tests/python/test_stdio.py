"""`opsledger serve --stdio` through subprocess pipes: a trusted local parent names the actor."""

import jsonrpcclient
from jsonrpcclient import Error, Ok

import story
from conftest import StdioServer, actor


def as_actor(server):
    """`ok(who, method, params)` over stdio: the params carry the actor."""

    def ok(who, method, params=None):
        params = dict(params or {})
        if method.split(".")[0] in ("incident", "problem", "change", "alert"):
            params["actor"] = actor(who, *story.ROLES.get(who, ["agent"]))
        return server.ok(method, params)

    return ok


def test_story_incident_problem_change_kpis(stdio_server):
    ok = as_actor(stdio_server)
    result = story.walk(ok)
    story.check_outcome(ok, result)


def test_batches_and_notifications(stdio_server):
    ok = as_actor(stdio_server)
    ok("alice", "incident.open", {"title": "Mail slow", "caller": "bob", "impact": "low", "urgency": "low"})
    stdio_server.send(
        [
            jsonrpcclient.request("query.record", params={"id": "INC0000001"}, id=1),
            jsonrpcclient.notification("query.stats"),
            jsonrpcclient.request("query.record", params={"id": "INC0000404"}, id=2),
        ]
    )
    replies = {r.id: r for r in jsonrpcclient.parse(stdio_server.recv())}
    assert set(replies) == {1, 2}
    assert isinstance(replies[1], Ok) and replies[1].result["view"]["title"] == "Mail slow"
    assert isinstance(replies[2], Error) and replies[2].data["domain_code"] == "not_found", replies[2]
    # A notification, even a failing one, is never answered.
    stdio_server.send(jsonrpcclient.notification("no.such_method"))
    stdio_server.send([jsonrpcclient.notification("query.stats")])
    assert stdio_server.nothing_pending()
    assert isinstance(stdio_server.call("query.stats"), Ok)


def test_errors_and_end_of_input(tmp_path):
    server = StdioServer(tmp_path / "data", extra=["--max-body", "4096"])
    # No actor: a command needs one (-32098); a query does not.
    missing = server.call("incident.open", {"title": "x", "caller": "bob", "impact": "low", "urgency": "low"})
    assert isinstance(missing, Error) and missing.code == -32098, missing
    # The system role is the engine's own.
    system = server.call(
        "incident.open",
        {"title": "x", "caller": "bob", "impact": "low", "urgency": "low", "actor": actor("eve", "system")},
    )
    assert isinstance(system, Error) and system.data["domain_code"] == "forbidden", system
    server.send("{not json")
    assert jsonrpcclient.parse(server.recv()).code == -32700
    server.send('"just a string"')
    assert jsonrpcclient.parse(server.recv()).code == -32600
    server.send('{"jsonrpc": "2.0", "method": "query.stats", "params": {"pad": "' + "x" * 10000 + '"}, "id": 1}')
    assert jsonrpcclient.parse(server.recv()).code == -32099
    server.send("")  # blank lines are skipped
    assert isinstance(server.call("query.stats"), Ok)
    page = server.ok("events.read", {"max": 10})
    # A new log holds the policy's first version; the refused calls wrote nothing after it.
    assert page["head"] == 1, page
    assert [e["event_type"] for e in page["events"]] == ["policy.published"], "refused calls wrote nothing"
    assert server.close() == 0
