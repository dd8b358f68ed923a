"""The service-impact scenario from Python, through the C ABI and the typed methods: a web
shop's service model, a runbook approved by someone other than its author, an incident on the
database with the affected services and the suggested runbook, a change whose conflict comes
from the model, and bad input refused without writing anything."""

from __future__ import annotations

import pytest

from opsledger import Engine, OpsledgerError

CMDB = {"id": "cmdb", "roles": ["manager"]}
DESK = {"id": "sam.desk", "roles": ["agent"]}
PAT = {"id": "pat.problems", "roles": ["problem_manager"]}
CHRIS = {"id": "chris.changes", "roles": ["change_manager"]}
CORA = {"id": "cora.cab", "roles": ["cab_member"]}


def register(kind, ident, name, criticality):
    return [
        {"command": f"register_{kind}", kind: ident,
         "attributes": {"name": name, "criticality": criticality, "owner_group": "web-ops"}},
        {"command": "activate", "item": {kind: ident}},
    ]


def relate(from_, kind, to):
    return {"command": "relate", "from": from_, "kind": kind, "to": to}


def load_shop(engine: Engine) -> None:
    commands = []
    commands += register("service", "webshop", "Web shop", "critical")
    commands += register("service", "payments", "Payments", "high")
    for ci, name in [("lb-01", "Load balancer"), ("app-01", "App server 1"),
                     ("app-02", "App server 2"), ("db-01", "Shop database"),
                     ("psp", "Payment provider")]:
        commands += register("ci", ci, name, "medium")
    commands += [
        relate({"service": "webshop"}, "depends_on", {"ci": "lb-01"}),
        relate({"ci": "lb-01"}, "connects_to", {"ci": "app-01"}),
        relate({"ci": "lb-01"}, "connects_to", {"ci": "app-02"}),
        relate({"ci": "app-01"}, "depends_on", {"ci": "db-01"}),
        relate({"ci": "app-02"}, "depends_on", {"ci": "db-01"}),
        relate({"service": "payments"}, "depends_on", {"ci": "psp"}),
        relate({"service": "payments"}, "depends_on", {"ci": "db-01"}),
    ]
    assert engine.ci_batch(commands=commands, actor=CMDB)["events"] == len(commands)


def test_the_web_shop_scenario_from_python():
    with Engine.in_memory() as engine:
        load_shop(engine)
        runbook = engine.article_draft(
            kind="runbook",
            title="Fail over the shop database",
            body="Promote the replica of db-01, then repoint the connection pool.",
            links={"cis": ["db-01"]},
            actor=DESK,
        )
        engine.article_submit(id=runbook["id"], actor=DESK)
        with pytest.raises(OpsledgerError) as refused:
            engine.article_approve(id=runbook["id"], actor={"id": "sam.desk", "roles": ["manager"]})
        assert refused.value.domain_code == "separation_of_duties"
        engine.article_approve(id=runbook["id"], actor=PAT)

        opened = engine.call(
            "incident.open", title="Shop database unreachable", caller="carol", impact="high",
            urgency="high", service="webshop", cis=["db-01"], group="dba", actor=DESK,
        )
        assert opened["suggested_runbooks"][0]["title"] == "Fail over the shop database"
        impact = engine.query_impact(ci="db-01")
        assert [s["service"] for s in impact["services"]] == ["webshop", "payments"]
        assert impact["services"][0]["open_incidents"][0]["number"] == opened["number"]
        assert [step["item"] for step in impact["services"][0]["path"]] == [
            {"service": "webshop"}, {"ci": "lb-01"}, {"ci": "app-01"}, {"ci": "db-01"},
        ]
        recorded = engine.query_incident_impact(incident=opened["number"])
        assert [s["service"] for s in recorded["services"]] == ["webshop", "payments"]
        suggested = engine.query_suggest(record=opened["number"])
        assert suggested[0]["article"] == runbook["id"]

        # A change on app-01 is booked; the database change clashes through the model.
        engine.call("change.request", title="Deploy shop 2.4", change_type={"kind": "normal"},
                    risk="moderate", cis=["app-01"], implementation_plan="Rolling",
                    backout_plan="Previous release", actor=CHRIS)
        window = {"start": "2030-01-07T22:00:00Z", "end": "2030-01-07T23:00:00Z"}
        engine.call("change.plan", id="CHG0000001", window=window, actor=CHRIS)
        engine.call("change.submit", id="CHG0000001", actor=CHRIS)
        engine.call("change.request_authorization", id="CHG0000001", actor=CHRIS)
        engine.call("change.approve", id="CHG0000001", comment="Go", actor=CORA)
        engine.call("change.request", title="Patch the database", change_type={"kind": "normal"},
                    risk="moderate", cis=["db-01"], implementation_plan="Patch",
                    backout_plan="Restore", actor=CHRIS)
        with pytest.raises(OpsledgerError) as refused:
            engine.call("change.plan", id="CHG0000002", window=window, actor=CHRIS)
        assert refused.value.domain_code == "schedule_conflict"
        assert "app-01" in str(refused.value.data)


def test_bad_service_model_input_writes_nothing():
    with Engine.in_memory() as engine:
        load_shop(engine)
        head = engine.call("query.stats")["head"]
        with pytest.raises(OpsledgerError) as refused:
            engine.ci_relate(from_={"ci": "psp"}, kind="connects_to", to={"ci": "ghost"},
                             actor=CMDB)
        assert refused.value.domain_code == "unknown_reference"
        assert refused.value.data["details"]["path"] == "to"
        with pytest.raises(OpsledgerError) as refused:
            engine.ci_relate(from_={"ci": "psp"}, kind="connects_to", to={"ci": "psp"},
                             actor=CMDB)
        assert refused.value.domain_code == "self_relation"
        with pytest.raises(OpsledgerError) as refused:
            engine.article_draft(kind="article", title="Orphan", body="x", links={}, actor=DESK)
        assert refused.value.domain_code == "validation"
        assert engine.call("query.stats")["head"] == head
