"""The people around an incident, through the shipped server: incidents never stay on hold for
a problem that will not fix them, and what the server says to people names records by number.
"""

import re

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def open_assigned(server, title):
    return server.ok(
        "alice",
        "incident.open",
        {
            "title": title,
            "caller": "customer-7",
            "impact": "medium",
            "urgency": "medium",
            "group": "billing-support",
            "assignee": "alice",
        },
    )["number"]


def new_problem(server, title):
    return server.ok("pat", "problem.create", {"title": title, "impact": "medium", "urgency": "medium"})["number"]


def await_problem(server, incident, problem):
    server.ok("alice", "incident.put_on_hold", {"id": incident, "reason": {"kind": "awaiting_problem", "problem": problem}})


def detail(server, number):
    return server.ok("alice", "query.record", {"id": number})["view"]


def whats(server, number):
    return [e["what"] for e in server.ok("alice", "query.timeline", {"id": number})["entries"]]


def test_a_duplicate_problem_hands_its_waiting_incidents_to_the_original(http_server):
    first = open_assigned(http_server, "Invoice export hangs")
    second = open_assigned(http_server, "Invoice export hangs again")
    duplicate = new_problem(http_server, "PDF export hangs")
    original = new_problem(http_server, "Renderer heap too small")
    for incident in (first, second):
        await_problem(http_server, incident, duplicate)

    http_server.ok("pat", "problem.mark_duplicate", {"id": duplicate, "of": original})

    for incident in (first, second):
        view = detail(http_server, incident)
        assert view["status"]["status"] == "on_hold", view
        assert f"awaiting problem {original}" in whats(http_server, incident)[-1], whats(http_server, incident)
    # The original's fix resolves them.
    for method, params in [
        ("problem.assign", {"group": "billing-dev", "assignee": "pat"}),
        ("problem.assess", {}),
        ("problem.start_analysis", {}),
        ("problem.record_root_cause", {"cause": "The renderer buffers whole tables"}),
        ("problem.start_fix", {"fix_notes": "Raise the heap"}),
        ("problem.resolve_fixed", {"notes": "Heap raised to 512 MiB"}),
    ]:
        http_server.ok("pat", method, {"id": original, **params})
    for incident in (first, second):
        assert detail(http_server, incident)["status"]["status"] == "resolved"
        assert any(f"by the fix of problem {original}" in w for w in whats(http_server, incident))


def test_a_canceled_problem_returns_its_waiting_incidents_to_work_with_a_note(http_server):
    incident = open_assigned(http_server, "Checkout slow")
    problem = new_problem(http_server, "Connection pool exhaustion")
    await_problem(http_server, incident, problem)

    http_server.ok("pat", "problem.cancel", {"id": problem, "reason": "Not a problem: a load test"})

    assert detail(http_server, incident)["status"]["status"] == "in_progress"
    entries = http_server.ok("alice", "query.timeline", {"id": incident})["entries"]
    notes = [e["why"] for e in entries if e["event_type"] == "incident.work_note_added"]
    assert notes and problem in notes[-1] and "Not a problem: a load test" in notes[-1], notes
    assert entries[-1]["what"] == "resumed", entries[-1]


def test_refusals_and_timelines_name_records_by_number(http_server):
    incident = open_assigned(http_server, "Checkout slow")
    problem = new_problem(http_server, "Connection pool exhaustion")
    http_server.ok("alice", "incident.link_problem", {"id": incident, "problem": problem})
    refused = http_server.call("alice", "incident.link_problem", {"id": incident, "problem": problem})
    assert problem in refused.message, refused
    again = http_server.call(
        "alice",
        "incident.open",
        {
            "id": detail(http_server, incident)["record"]["id"],
            "title": "Checkout slow",
            "caller": "customer-7",
            "impact": "medium",
            "urgency": "medium",
        },
    )
    assert incident in again.message, again
    for message in (refused.message, again.message):
        assert not UUID.search(message) and "Some(" not in message and "::" not in message, message
    for what in whats(http_server, incident) + whats(http_server, problem):
        assert not UUID.search(what) and "Some(" not in what and "{ " not in what, what
