"""The ITIL story both transports walk: recurring incidents -> a problem and its known error ->
the fixing change, approved by the CAB and closed -> the problem resolved, the waiting
incidents resolved by the engine -> the KPIs.

`ok(who, method, params)` performs one call as `who` (a name in conftest.TOKENS) and returns
the result; the transport decides how `who` is conveyed (a bearer token, or the params' actor).
"""

import datetime

ROLES = {
    "alice": ["agent"],
    "pat": ["problem_manager"],
    "chris": ["change_manager"],
    "cora": ["cab_member"],
}


def iso(t):
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def kpi_window():
    return {"query": {"window": {"start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"}}}


def walk(ok):
    """Runs the story; returns what the checks need."""
    incidents = []
    for n in range(3):
        opened = ok(
            "alice",
            "incident.open",
            {
                "title": f"Invoice PDF export hangs (customer {100 + n})",
                "caller": f"customer-{100 + n}",
                "impact": "low",
                "urgency": "medium",
                "service": "billing",
                "cis": ["pdf-render-01"],
                "group": "billing-support",
                "assignee": "alice",
            },
        )
        incidents.append(opened["number"])
    assert incidents == ["INC0000001", "INC0000002", "INC0000003"]

    problem = ok(
        "pat",
        "problem.create",
        {
            "title": "PDF renderer hangs on invoices with more than 500 lines",
            "impact": "medium",
            "urgency": "medium",
            "service": "billing",
            "cis": ["pdf-render-01"],
        },
    )["number"]
    assert problem == "PRB0000001"
    for inc in incidents:
        ok("alice", "incident.put_on_hold", {"id": inc, "reason": {"kind": "awaiting_problem", "problem": problem}})
        ok("pat", "problem.link_incident", {"id": problem, "incident": inc})
    for method, params in [
        ("problem.assign", {"group": "billing-dev", "assignee": "pat"}),
        ("problem.assess", {}),
        ("problem.start_analysis", {}),
        ("problem.record_root_cause", {"cause": "The renderer buffers the whole table in a 64 MiB heap"}),
        (
            "problem.mark_known_error",
            {
                "symptom": "Invoice PDF export hangs for large invoices",
                "root_cause": "PDF renderer heap too small for tables over 500 lines",
                "workaround": "Export as CSV, or split the invoice",
                "affected_cis": ["pdf-render-01"],
            },
        ),
        ("problem.start_fix", {"fix_notes": "Stream table rows; raise the heap to 512 MiB"}),
    ]:
        ok("pat", method, {"id": problem, **params})

    now = datetime.datetime.now(datetime.timezone.utc)
    window = {"start": iso(now - datetime.timedelta(minutes=5)), "end": iso(now + datetime.timedelta(hours=2))}
    change = ok(
        "chris",
        "change.request",
        {
            "title": "Deploy renderer 2.4 (streaming tables)",
            "change_type": {"kind": "normal"},
            "risk": "low",
            "cis": ["pdf-render-01"],
            "implementation_plan": "Blue/green deploy",
            "backout_plan": "Switch back to blue",
            "test_plan": "Export the three failing invoices",
        },
    )["number"]
    assert change == "CHG0000001"
    ok("chris", "change.link_fixes_problem", {"id": change, "problem": problem})
    ok("chris", "change.plan", {"id": change, "window": window})
    ok("chris", "change.submit", {"id": change})
    ok("chris", "change.request_authorization", {"id": change})
    approved = ok("cora", "change.approve", {"id": change, "comment": "Low risk, tested"})
    assert "change.scheduled" in [e["event_type"] for e in approved["events"]]
    ok("chris", "change.start_implementation", {"id": change})
    ok("chris", "change.complete_implementation", {"id": change})
    closed = ok(
        "chris",
        "change.close",
        {"id": change, "code": {"kind": "successful"}, "notes": "All three invoices export in under 2 s"},
    )
    follow_up_types = [e["event_type"] for f in closed["follow_ups"] for e in f.get("events", [])]
    assert "problem.resolved" in follow_up_types, closed["follow_ups"]
    return {"incidents": incidents, "problem": problem, "change": change}


def check_outcome(ok, story):
    """What the engine says after the story."""
    status = lambda number: ok("alice", "query.record", {"id": number})["view"]["status"]["status"]
    assert status(story["problem"]) == "resolved"
    for inc in story["incidents"]:
        assert status(inc) == "resolved", inc
    assert status(story["change"]) == "closed"
    hits = ok("alice", "query.kedb", {"text": "pdf hangs"})["items"]
    assert len(hits) == 1 and hits[0]["known_error"]["workaround"] == "Export as CSV, or split the invoice"
    kpis = ok("alice", "query.kpis", kpi_window())
    group = kpis["groups"][0]
    assert group["mttr"]["count"] == 3, group["mttr"]
    assert group["backlog"]["size"] == 0
    assert group["change_success"]["rate"]["numerator"] == 1
    assert group["change_success"]["rate"]["denominator"] == 1
    assert group["emergency_changes"]["numerator"] == 0
    return kpis
