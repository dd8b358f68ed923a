"""The whole story through the ABI: an incident, the problem behind it, its known error, the
change that fixes it, the incident resolved by the fix; KPIs, as-of reads, the event log; on a
data directory closed and reopened midway."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from opsledger import Engine, OpsledgerError

DESK = {"id": "sam.desk", "roles": ["agent"]}
EVE = {"id": "eve.network", "roles": ["agent"]}
PAT = {"id": "pat.problems", "roles": ["problem_manager"]}
CHRIS = {"id": "chris.changes", "roles": ["change_manager"]}
CORA = {"id": "cora.cab", "roles": ["cab_member"]}
CAROL = {"id": "carol", "roles": ["requester"]}


def status(engine: Engine, id: str) -> str:
    return engine.record(id)["view"]["status"]["status"]


def test_incident_problem_change_story(tmp_path: Path) -> None:
    data = tmp_path / "data"
    started = datetime.now(timezone.utc)
    with Engine.open(data, durability="per_commit") as engine:
        opened = engine.open_incident(
            "VPN drops every 10 minutes",
            caller="carol",
            impact="medium",
            urgency="high",
            service="remote-access",
            cis=["vpn-gw-02"],
            actor=DESK,
        )
        assert opened["number"] == "INC0000001"
        assert opened["events"][0]["event_type"] == "incident.opened"
        assert status(engine, "INC0000001") == "new"
        engine.assign_incident("INC0000001", group="network", assignee="eve.network", actor=EVE)

        problem = engine.create_problem(
            "VPN gateway drops sessions on DPD timeout",
            impact="medium",
            urgency="medium",
            service="remote-access",
            cis=["vpn-gw-02"],
            actor=PAT,
        )
        assert problem["number"] == "PRB0000001"
        engine.call("incident.link_problem", id="INC0000001", problem="PRB0000001", actor=EVE)
        engine.call(
            "incident.put_on_hold",
            id="INC0000001",
            reason={"kind": "awaiting_problem", "problem": "PRB0000001"},
            actor=EVE,
        )
        assert status(engine, "INC0000001") == "on_hold"
        # A batch moves the problem through analysis to a known error.
        steps = [
            ("problem.assign", {"group": "network", "assignee": "pat.problems"}),
            ("problem.assess", {}),
            ("problem.start_analysis", {}),
            ("problem.record_root_cause", {"cause": "DPD timeout of 10 min on firmware 7.1"}),
            (
                "problem.mark_known_error",
                {
                    "symptom": "VPN session drops every 10 minutes",
                    "root_cause": "DPD timeout on firmware 7.1",
                    "workaround": "Reconnect; use vpn-gw-01",
                    "affected_cis": ["vpn-gw-02"],
                },
            ),
            ("problem.start_fix", {"fix_notes": "Upgrade firmware to 7.2"}),
        ]
        results = engine.batch(
            [(m, {**p, "id": "PRB0000001", "actor": PAT}) for m, p in steps], raise_errors=True
        )
        assert [r["number"] for r in results] == ["PRB0000001"] * len(steps)
        assert len(engine.call("query.kedb", text="vpn")["items"]) == 1
        midway = datetime.now(timezone.utc)
        record_midway = engine.record("INC0000001")

    # Reopen the data directory: everything is there.
    with Engine.open(data) as engine:
        assert status(engine, "INC0000001") == "on_hold"
        assert status(engine, "PRB0000001") == "fix_in_progress"

        change = engine.request_change(
            "Upgrade vpn-gw-02 firmware to 7.2",
            change_type="normal",
            risk="moderate",
            cis=["vpn-gw-02"],
            implementation_plan="Drain, upgrade, undrain",
            backout_plan="Boot the previous image",
            assignee="eve.network",
            actor=CHRIS,
        )
        assert change["number"] == "CHG0000001"
        now = datetime.now(timezone.utc)
        window = {
            "start": (now - timedelta(minutes=5)).isoformat(),
            "end": (now + timedelta(hours=2)).isoformat(),
        }
        for method, params in [
            ("change.link_fixes_problem", {"problem": "PRB0000001"}),
            ("change.plan", {"window": window}),
            ("change.submit", {}),
            ("change.request_authorization", {}),
        ]:
            engine.call(method, id="CHG0000001", actor=CHRIS, **params)
        # Separation of duties: the requester may not approve their own change.
        with pytest.raises(OpsledgerError) as refused:
            engine.approve_change("CHG0000001", actor={"id": "chris.changes", "roles": ["cab_member"]})
        assert refused.value.code in range(-32099, -32000 + 1)
        assert refused.value.domain_code is not None
        engine.approve_change("CHG0000001", comment="Go", actor=CORA)
        engine.call("change.start_implementation", id="CHG0000001", actor=EVE)
        engine.call("change.complete_implementation", id="CHG0000001", actor=EVE)
        closed = engine.call(
            "change.close",
            id="CHG0000001",
            code={"kind": "successful"},
            notes="No drops in 30 minutes",
            actor=CHRIS,
        )
        # The fix resolves the problem, and the problem the incident waiting for it.
        assert closed["follow_ups"]
        assert status(engine, "PRB0000001") == "resolved"
        assert status(engine, "INC0000001") == "resolved"
        assert status(engine, "CHG0000001") == "closed"

        engine.close_incident("INC0000001", actor=CAROL)
        assert status(engine, "INC0000001") == "closed"

        kpis = engine.kpis(started - timedelta(hours=1), datetime.now(timezone.utc) + timedelta(hours=1))
        assert isinstance(kpis, dict) and kpis
        assert isinstance(engine.sla("INC0000001"), list)
        queue = engine.queue("incident", open_only=True)
        assert queue["items"] == []
        assert [i["number"] for i in engine.queue("incident")["items"]] == ["INC0000001"]
        timeline = engine.timeline("INC0000001")
        types = [e["event_type"] for e in timeline]
        assert types[0] == "incident.opened" and "incident.resolved" in types
        assert types[-1] == "incident.closed"

        # As of midway: the answer given then, across the restart.
        assert engine.record("INC0000001", as_of=midway) == record_midway
        with pytest.raises(OpsledgerError) as missing:
            engine.record("CHG0000001", as_of=midway)
        assert missing.value.domain_code == "not_found"

        # The whole log, through the iterator, in order and without gaps.
        positions = [e["position"] for e in engine.events(page_size=7)]
        assert positions == list(range(1, len(positions) + 1))
        assert len(positions) == engine.call("query.stats")["head"]


def test_domain_errors_carry_code_message_and_data(engine: Engine) -> None:
    with pytest.raises(OpsledgerError) as info:
        engine.resolve_incident("INC0000042", code="solved_permanently", notes="x")
    assert info.value.domain_code == "not_found"
    assert info.value.message
    engine.open_incident("Printer on fire", caller="bob")
    with pytest.raises(OpsledgerError) as info:
        engine.close_incident("INC0000001")  # not resolved yet
    assert info.value.data["domain_code"]
    # Invalid params: -32602 with the field's path.
    with pytest.raises(OpsledgerError) as info:
        engine.call("incident.open", title="x", caller="bob", impact="enormous", urgency="low")
    assert info.value.code == -32602
    assert info.value.data["path"] == "impact"
    # No actor anywhere: the engine refuses (-32098).
    with Engine.in_memory() as anonymous:
        with pytest.raises(OpsledgerError) as info:
            anonymous.open_incident("x", caller="bob")
        assert info.value.code == -32098


def test_idempotency_keys_make_retries_safe(engine: Engine) -> None:
    first = engine.open_incident("Disk full", caller="bob", idempotency_key="k-1")
    again = engine.open_incident("Disk full", caller="bob", idempotency_key="k-1")
    assert again["was_duplicate"] is True
    assert again["record"] == first["record"]
    assert len(engine.queue("incident")["items"]) == 1
