"""The policy as history, from Python: an engine opened with a policy (a dict or a file), versions
published, validated and read back, refused documents with every issue, and a manual clock
walked past SLA targets."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List

import pytest

from opsledger import AbiError, Engine, InvalidPolicy, OpsledgerError, PolicyIssue, Status

AGENT = {"id": "alice", "roles": ["agent"]}
ADMIN = {"id": "root", "roles": ["admin"]}

#: A Monday morning.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def rfc3339(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


POLICIES = Path(__file__).resolve().parent / "policies"
#: A complete document: P1 response within 15 minutes, P1 resolution within 4 hours, 24x7.
P1_JSON = POLICIES / "p1.json"
#: A complete TOML document: P1 response within 15 minutes, 24x7 (no resolution clock).
P1_RESPONSE_TOML = POLICIES / "p1-response.toml"


def p1_policy() -> Dict[str, Any]:
    """The document of ``p1.json``, to change in a test. (The default policy has no SLA
    definition.)"""
    return json.loads(P1_JSON.read_text())


def p1_policy_v2() -> Dict[str, Any]:
    """The P1 resolution target cut to 2 hours: version 2 of the definition; version 1 stays in
    the document, as published versions never change."""
    policy = p1_policy()
    v2 = dict(policy["sla"]["definitions"][1], version=2, name="P1 resolution: 2h", target="2h")
    policy["sla"]["definitions"].append(v2)
    return policy


def invalid_policy() -> Dict[str, Any]:
    """Three problems the document reader reports together."""
    policy = p1_policy()
    policy["sla"]["definitions"][0]["calendar"] = {"id": "office-hours"}
    policy["sla"]["definitions"][1]["thresholds"] = [50, 150]
    policy["incident"] = {"auto_close_calendar": {"id": "nowhere"}}
    return policy


INVALID_PATHS = {
    "sla.definitions[0].calendar",
    "sla.definitions[1].thresholds[1]",
    "incident.auto_close_calendar",
}


def open_p1(engine: Engine) -> str:
    return engine.open_incident("Checkout down", caller="bob", impact="high", urgency="high", actor=AGENT)[
        "number"
    ]


def clocks(engine: Engine, number: str) -> Dict[str, Any]:
    """A record's SLA clocks (``query.sla``, through the generic call) by definition id."""
    return {c["definition"]["id"]: c for c in engine.call("query.sla", id=number)}


def policy_versions(engine: Engine) -> int:
    return sum(1 for e in engine.events() if e["event_type"] == "policy.published")


def snapshot(directory: Path) -> Dict[str, bytes]:
    if not directory.exists():
        return {}
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


# -- opening with a policy and a clock -----------------------------------------------------------


def test_an_engine_opened_with_a_policy_gives_p1_incidents_sla_clocks() -> None:
    with Engine.in_memory(policy=p1_policy()) as engine:
        number = open_p1(engine)
        assert sorted(clocks(engine, number)) == ["p1-resolution", "p1-response"]
        assert policy_versions(engine) == 1

    for source, expected in [(P1_RESPONSE_TOML, ["p1-response"]), (str(P1_JSON), ["p1-resolution", "p1-response"])]:
        with Engine.in_memory(policy=source) as engine:
            assert sorted(clocks(engine, open_p1(engine))) == expected, source

    # Without a policy, the default one has no SLA definition.
    with Engine.in_memory() as engine:
        assert clocks(engine, open_p1(engine)) == {}


def test_an_invalid_policy_at_open_raises_with_every_issue_and_writes_nothing(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    with pytest.raises(AbiError) as refused:
        Engine.open(fresh, policy=invalid_policy())
    assert refused.value.status == Status.INVALID_CONFIG
    assert {i.path for i in refused.value.issues} == INVALID_PATHS
    assert all(isinstance(i, PolicyIssue) and i.message for i in refused.value.issues)
    assert not fresh.exists()

    # An existing data directory is left exactly as it was.
    data = tmp_path / "data"
    with Engine.open(data, policy=p1_policy()) as engine:
        number = open_p1(engine)
        events_before = len(list(engine.events()))
    before = snapshot(data)
    bad_file = tmp_path / "bad.toml"
    bad_file.write_text("[sla\nid = 1\n")
    with pytest.raises(AbiError) as refused:
        Engine.open(data, policy=bad_file)
    assert refused.value.status == Status.INVALID_CONFIG
    [issue] = refused.value.issues
    assert issue.path == ""
    assert issue.message.startswith("not TOML"), issue
    assert "bad.toml" in refused.value.message
    assert snapshot(data) == before

    with Engine.open(data) as engine:
        assert len(list(engine.events())) == events_before
        assert sorted(clocks(engine, number)) == ["p1-resolution", "p1-response"]

    # Other configuration errors carry no issues.
    with pytest.raises(AbiError) as refused:
        Engine.in_memory(clock="sundial")
    assert refused.value.status == Status.INVALID_CONFIG
    assert refused.value.issues == []


def test_bad_policy_and_clock_arguments_are_refused_before_the_library() -> None:
    with pytest.raises(TypeError):
        Engine.in_memory(policy=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Engine.in_memory(clock=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone-aware"):
        Engine.in_memory(clock=datetime(2026, 3, 2, 9, 0))
    with pytest.raises(AbiError) as refused:
        Engine.in_memory(policy="policy.yaml")
    assert "neither a .toml nor a .json file" in refused.value.message


def test_a_manual_clock_stamps_events_and_stands_still() -> None:
    with Engine.in_memory(policy=p1_policy(), clock=T0) as engine:
        number = open_p1(engine)
        assert {e["recorded_at"] for e in engine.events()} == {rfc3339(T0)}
        response = clocks(engine, number)["p1-response"]
        assert response["started_at"] == rfc3339(T0)
        assert response["due_at"] == rfc3339(T0 + timedelta(minutes=15))
        assert response["percent"] == 0
        assert response["breached"] is None
        assert engine.tick(actor=ADMIN)["breaches_recorded"] == 0


def test_a_data_directory_reopened_later_keeps_its_policy_and_records_the_breach(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Engine.open(data, policy=p1_policy(), clock=T0) as engine:
        number = open_p1(engine)
    with Engine.open(data, clock=T0 + timedelta(minutes=20)) as engine:
        assert policy_versions(engine) == 1
        tick = engine.tick(actor=ADMIN)
        assert tick["breaches_recorded"] == 1
        assert tick["thresholds_recorded"] == 3
        assert clocks(engine, number)["p1-response"]["breached"] == rfc3339(T0 + timedelta(minutes=15))
        assert clocks(engine, number)["p1-resolution"]["breached"] is None
        assert sorted(clocks(engine, open_p1(engine))) == ["p1-resolution", "p1-response"]


# -- publishing, validating, reading versions (policy.* and admin.set_clock) --------------------


def definition_versions(engine: Engine, number: str) -> Dict[str, int]:
    return {id: c["definition"]["version"] for id, c in clocks(engine, number).items()}


def test_published_policy_applies_to_new_incidents_and_old_ones_keep_their_pins(tmp_path: Path) -> None:
    one_hour = T0 + timedelta(hours=1)
    with Engine.in_memory(policy=p1_policy(), clock=T0, actor=AGENT) as engine:
        old = open_p1(engine)
        engine.set_clock(one_hour, actor=ADMIN)
        published = engine.publish_policy(p1_policy_v2(), reason="CHG0000042: P1 in 2 hours", actor=ADMIN)
        assert published["version"] == 2
        assert published["changed"] is True
        new = open_p1(engine)

        # The old incident keeps the versions it pinned; the new one gets the new version.
        assert definition_versions(engine, old) == {"p1-resolution": 1, "p1-response": 1}
        assert definition_versions(engine, new) == {"p1-resolution": 2, "p1-response": 1}
        assert clocks(engine, old)["p1-resolution"]["due_at"] == rfc3339(T0 + timedelta(hours=4))
        assert clocks(engine, new)["p1-resolution"]["due_at"] == rfc3339(one_hour + timedelta(hours=2))

        current = engine.policy()
        assert current["version"] == 2
        assert current["reason"] == "CHG0000042: P1 in 2 hours"
        assert current["published_by"] == "root"
        assert instant(current["published_at"]) == one_hour
        assert len(current["document"]["sla"]["definitions"]) == 3
        assert len(engine.policy(1)["document"]["sla"]["definitions"]) == 2
        assert engine.policy(as_of=T0 + timedelta(minutes=30))["version"] == 1
        assert engine.policy(as_of=one_hour)["version"] == 2
        history = engine.policy_history()
        assert [h["version"] for h in history] == [1, 2]
        assert history[1]["position"] == published["position"]

        # The same document again writes nothing.
        events_before = len(list(engine.events()))
        again = engine.publish_policy(p1_policy_v2(), actor=ADMIN)
        assert (again["version"], again["changed"]) == (2, False)
        assert len(list(engine.events())) == events_before

        # A file (the notation its extension names) and TOML text publish as well.
        v3 = p1_policy_v2()
        v3["incident"] = {"auto_close_after_days": 3}
        path = tmp_path / "v3.json"
        path.write_text(json.dumps(v3))
        assert engine.publish_policy(path, expected_version=2, actor=ADMIN)["version"] == 3
        assert engine.publish_policy(P1_RESPONSE_TOML.read_text(), actor=ADMIN)["version"] == 4
        assert sorted(clocks(engine, open_p1(engine))) == ["p1-response"]
        # Published versions never change: other content under p1-response v1 is refused.
        changed = P1_RESPONSE_TOML.read_text().replace("thresholds = [50, 75, 90]", "thresholds = [80]")
        with pytest.raises(InvalidPolicy) as refused:
            engine.publish_policy(changed, actor=ADMIN)
        assert [i.path for i in refused.value.issues] == ["sla.definitions[0]"]
        assert engine.policy()["version"] == 4


def test_an_invalid_document_raises_invalid_policy_with_every_issue_and_writes_nothing() -> None:
    with Engine.in_memory(policy=p1_policy(), actor=AGENT) as engine:
        open_p1(engine)
        events_before = len(list(engine.events()))
        with pytest.raises(InvalidPolicy) as refused:
            engine.publish_policy(invalid_policy(), reason="broken", actor=ADMIN)
        assert isinstance(refused.value, OpsledgerError)
        assert refused.value.domain_code == "invalid_policy"
        assert {i.path for i in refused.value.issues} == INVALID_PATHS
        assert len(list(engine.events())) == events_before
        assert [h["version"] for h in engine.policy_history()] == [1]

        checked = engine.validate_policy(invalid_policy())
        assert checked["valid"] is False
        assert {i["path"] for i in checked["issues"]} == INVALID_PATHS
        assert engine.validate_policy(P1_RESPONSE_TOML) == {"valid": True, "issues": []}
        assert engine.diff_policy(p1_policy_v2())["from_version"] == 1

        # Text that is not TOML: one issue for the document as a whole.
        with pytest.raises(InvalidPolicy) as refused:
            engine.publish_policy("[sla\n", actor=ADMIN)
        assert [i.path for i in refused.value.issues] == [""]

        # Not every refusal is an invalid document.
        with pytest.raises(OpsledgerError) as forbidden:
            engine.publish_policy(p1_policy_v2(), actor=AGENT)
        assert not isinstance(forbidden.value, InvalidPolicy)
        assert forbidden.value.domain_code == "forbidden"
        with pytest.raises(OpsledgerError) as conflict:
            engine.publish_policy(p1_policy_v2(), expected_version=7, actor=ADMIN)
        assert conflict.value.domain_code == "conflict"
        assert len(list(engine.events())) == events_before


def test_set_clock_and_tick_record_a_breach() -> None:
    with Engine.in_memory(policy=p1_policy(), clock=T0, actor=AGENT) as engine:
        number = open_p1(engine)
        moved = engine.set_clock(T0 + timedelta(minutes=20), actor=ADMIN)
        assert instant(moved["now"]) == T0 + timedelta(minutes=20)
        tick = engine.tick(actor=ADMIN)
        assert instant(tick["now"]) == T0 + timedelta(minutes=20)
        assert tick["breaches_recorded"] == 1
        assert tick["thresholds_recorded"] == 3
        response = clocks(engine, number)["p1-response"]
        assert response["breached"] == rfc3339(T0 + timedelta(minutes=15))
        breaches = [e for e in engine.events() if e["event_type"] == "sla.breached"]
        assert len(breaches) == 1
        assert engine.tick(actor=ADMIN)["breaches_recorded"] == 0
        # A string instant works too; an agent may not move the clock.
        engine.set_clock(rfc3339(T0 + timedelta(hours=5)), actor=ADMIN)
        assert engine.tick(actor=ADMIN)["breaches_recorded"] == 1
        with pytest.raises(OpsledgerError) as forbidden:
            engine.set_clock(T0 + timedelta(hours=6), actor=AGENT)
        assert forbidden.value.domain_code == "forbidden"
        # The clock only moves forward.
        with pytest.raises(OpsledgerError):
            engine.set_clock(T0 + timedelta(hours=1), actor=ADMIN)
        assert instant(engine.tick(actor=ADMIN)["now"]) == T0 + timedelta(hours=5)

    # An engine on the system clock has no clock to set.
    with Engine.in_memory() as engine:
        with pytest.raises(OpsledgerError) as refused:
            engine.set_clock(T0, actor=ADMIN)
        assert refused.value.domain_code == "not_supported"


def test_a_restart_keeps_the_published_policy(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Engine.open(data, policy=p1_policy(), actor=AGENT) as engine:
        engine.publish_policy(p1_policy_v2(), reason="faster P1", actor=ADMIN)
    with Engine.open(data, actor=AGENT) as engine:
        assert engine.policy()["version"] == 2
        assert [h["reason"] for h in engine.policy_history()][1] == "faster P1"
        assert definition_versions(engine, open_p1(engine))["p1-resolution"] == 2
    # Opening with the version 1 document again makes it the next version, not a rewrite.
    with Engine.open(data, policy=p1_policy(), actor=AGENT) as engine:
        history: List[Dict[str, Any]] = engine.policy_history()
        assert [h["version"] for h in history] == [1, 2, 3]
        definitions = engine.policy()["document"]["sla"]["definitions"]
        assert [(d["id"], d["version"]) for d in definitions] == [("p1-response", 1), ("p1-resolution", 1)]
        assert definition_versions(engine, open_p1(engine))["p1-resolution"] == 1
