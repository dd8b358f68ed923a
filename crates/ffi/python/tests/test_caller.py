"""The caller's channel through the ABI: comments beside internal work notes, a caller's reply
resuming an incident awaiting them, and a caller reading only their own incidents."""

from __future__ import annotations

import pytest

from opsledger import Engine, OpsledgerError

DESK = {"id": "sam.desk", "roles": ["agent"]}
CAROL = {"id": "carol", "roles": ["caller"]}
DAVE = {"id": "dave", "roles": ["caller"]}


def desk(engine: Engine) -> None:
    engine.open_incident("VPN drops", caller="carol", impact="medium", urgency="high", actor=DESK)
    engine.open_incident("Mail bounces", caller="dave", impact="low", urgency="low", actor=DESK)
    engine.call("incident.acknowledge", id="INC0000001", actor=DESK)
    engine.add_incident_note("INC0000001", "gateway logs show TLS errors", actor=DESK)
    engine.add_incident_comment("INC0000001", "Which client version do you run?", actor=DESK)
    engine.call(
        "incident.put_on_hold", id="INC0000001", reason={"kind": "awaiting_caller"}, actor=DESK
    )


def test_the_callers_reply_resumes_the_incident(engine: Engine) -> None:
    desk(engine)
    done = engine.add_incident_comment("INC0000001", "Version 4.2", actor=CAROL)
    assert [e["event_type"] for e in done["events"]] == [
        "incident.comment_added",
        "incident.resumed",
    ]
    assert engine.record("INC0000001")["view"]["status"]["status"] == "in_progress"


def test_a_strangers_comment_is_forbidden_and_writes_nothing(engine: Engine) -> None:
    desk(engine)
    before = list(engine.events())
    with pytest.raises(OpsledgerError) as refused:
        engine.add_incident_comment("INC0000001", "me too", actor=DAVE)
    assert refused.value.domain_code == "forbidden"
    assert list(engine.events()) == before


def test_a_caller_reads_only_their_own_incident_without_work_notes(engine: Engine) -> None:
    desk(engine)
    everything = engine.timeline("INC0000001", actor=DESK)
    marks = {(e["event_type"], e["visibility"]) for e in everything}
    assert ("incident.work_note_added", "internal") in marks
    assert ("incident.comment_added", "public") in marks
    own = engine.timeline("INC0000001", actor=CAROL)
    assert all(e["visibility"] == "public" for e in own)
    assert len(own) == len(everything) - 1
    assert [v["detail"]["caller"] for v in engine.queue("incident", actor=CAROL)["items"]] == ["carol"]
    with pytest.raises(OpsledgerError) as refused:
        engine.record("INC0000002", actor=CAROL)
    assert refused.value.domain_code == "forbidden"
    with pytest.raises(OpsledgerError) as refused:
        engine.queue("problem", actor=CAROL)
    assert refused.value.domain_code == "forbidden"
