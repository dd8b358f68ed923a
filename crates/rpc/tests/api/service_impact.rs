//! The service-impact scenario over JSON-RPC: a web shop loaded with `ci.batch`, an incident on
//! its database (the affected services recorded at opening), `query.impact` with paths and
//! open incidents, `query.dependencies`, a change whose conflict comes from the model, and the
//! refusals that write nothing.

use crate::common::*;
use chrono::Duration;
use serde_json::{Value, json};

fn cmdb() -> Value {
    actor("cmdb", &["manager"])
}

fn register(kind: &str, id: &str, name: &str, criticality: &str) -> [Value; 2] {
    let item = json!({ kind: id });
    [
        json!({"command": format!("register_{kind}"), kind: id,
               "attributes": {"name": name, "criticality": criticality, "owner_group": "web-ops"}}),
        json!({"command": "activate", "item": item}),
    ]
}

fn relate(from: Value, kind: &str, to: Value) -> Value {
    json!({"command": "relate", "from": from, "kind": kind, "to": to})
}

fn load_shop(rig: &Rig) {
    let mut commands = Vec::new();
    commands.extend(register("service", "webshop", "Web shop", "critical"));
    commands.extend(register("service", "payments", "Payments", "high"));
    for (ci, name) in [
        ("lb-01", "Load balancer"),
        ("app-01", "App server 1"),
        ("app-02", "App server 2"),
        ("db-01", "Shop database"),
        ("psp", "Payment provider"),
    ] {
        commands.extend(register("ci", ci, name, "medium"));
    }
    let ci = |id: &str| json!({ "ci": id });
    commands.extend([
        relate(json!({"service": "webshop"}), "depends_on", ci("lb-01")),
        relate(ci("lb-01"), "connects_to", ci("app-01")),
        relate(ci("lb-01"), "connects_to", ci("app-02")),
        relate(ci("app-01"), "depends_on", ci("db-01")),
        relate(ci("app-02"), "depends_on", ci("db-01")),
        relate(json!({"service": "payments"}), "depends_on", ci("psp")),
        relate(json!({"service": "payments"}), "depends_on", ci("db-01")),
    ]);
    let n = commands.len();
    let done = rig.ok("ci.batch", by(&cmdb(), json!({ "commands": commands })));
    assert_eq!(done["events"], n);
}

#[test]
fn the_web_shop_scenario_over_json_rpc() {
    let rig = Rig::memory();
    load_shop(&rig);
    let runbook = rig.ok(
        "article.draft",
        by(
            &desk(),
            json!({"kind": "runbook", "title": "Fail over the shop database",
                   "body": "Promote the replica of db-01, then repoint the connection pool.",
                   "links": {"cis": ["db-01"], "categories": ["database"]}}),
        ),
    );
    let id = runbook["id"].clone();
    rig.ok("article.submit", by(&desk(), json!({"id": id})));
    let err = rig.err("article.approve", by(&desk(), json!({"id": id})));
    assert_eq!(domain_code(&err), "forbidden", "{err}");
    let published = rig.ok("article.approve", by(&pat(), json!({"id": id})));
    assert_eq!(published["status"], "published");
    assert_eq!(published["approved_by"], "pat.problems");
    let opened = rig.ok(
        "incident.open",
        by(
            &desk(),
            json!({"title": "Shop database unreachable", "caller": "carol", "impact": "high",
                   "urgency": "high", "service": "webshop", "cis": ["db-01"], "group": "dba"}),
        ),
    );
    assert_eq!(opened["number"], "INC0000001");
    assert_eq!(
        opened["suggested_runbooks"][0]["title"],
        "Fail over the shop database"
    );
    let suggested = rig.ok("query.suggest", json!({"record": "INC0000001"}));
    assert_eq!(suggested[0]["article"], id);
    rig.ok(
        "article.record_use",
        by(
            &desk(),
            json!({"id": id, "incident": "INC0000001", "resolved": true}),
        ),
    );
    let effectiveness = rig.ok("query.runbook_effectiveness", json!({}));
    assert_eq!(effectiveness[0]["resolution_rate"], 1.0);
    // The KPI report's runbook section: suggested at opening, applied, resolved after.
    let day =
        json!({"start": rig.now() - Duration::hours(1), "end": rig.now() + Duration::hours(1)});
    let kpis = rig.ok("query.kpis", json!({"query": {"window": day}}));
    assert_eq!(kpis["runbooks"][0]["article"], id);
    assert_eq!(kpis["runbooks"][0]["title"], "Fail over the shop database");
    assert_eq!(kpis["runbooks"][0]["suggested"], 1);
    assert_eq!(kpis["runbooks"][0]["applied"], 1);
    assert_eq!(kpis["runbooks"][0]["resolved"], 1);
    assert_eq!(kpis["runbooks"][0]["resolution_rate"], 1.0);
    let err = rig.err(
        "article.draft",
        by(
            &desk(),
            json!({"kind": "article", "title": "Orphan", "body": "x", "links": {}}),
        ),
    );
    assert_eq!(domain_code(&err), "validation", "{err}");
    let recorded = rig.ok("query.incident_impact", json!({"incident": "INC0000001"}));
    let names: Vec<&str> = recorded["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["webshop", "payments"]);

    let proposed = rig.ok(
        "incident.propose_major",
        by(
            &desk(),
            json!({"id": "INC0000001", "reason": "Checkout down for everyone"}),
        ),
    );
    let radius: Vec<&str> = proposed["blast_radius"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(radius, ["webshop", "payments"]);
    let impact = rig.ok("query.impact", json!({"ci": "db-01"}));
    assert_eq!(impact["items_reached"], 6);
    let shop = &impact["services"][0];
    assert_eq!(shop["service"], "webshop");
    assert_eq!(shop["criticality"], "critical");
    assert_eq!(
        shop["path"],
        json!([
            {"item": {"service": "webshop"}, "relation": "depends_on"},
            {"item": {"ci": "lb-01"}, "relation": "connects_to"},
            {"item": {"ci": "app-01"}, "relation": "depends_on"},
            {"item": {"ci": "db-01"}}
        ])
    );
    assert_eq!(shop["open_incidents"][0]["number"], "INC0000001");

    let deps = rig.ok(
        "query.dependencies",
        json!({"service": "webshop", "depth": 3}),
    );
    let items: Vec<&Value> = deps
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["item"])
        .collect();
    assert_eq!(
        items,
        [
            &json!({"ci": "lb-01"}),
            &json!({"ci": "app-01"}),
            &json!({"ci": "app-02"}),
            &json!({"ci": "db-01"})
        ]
    );

    // A change on app-01 is scheduled; a change on the database it depends on clashes.
    let start = rig.now();
    let window = json!({"start": start + Duration::hours(2), "end": start + Duration::hours(3)});
    rig.ok(
        "change.request",
        by(
            &chris(),
            json!({"title": "Deploy shop 2.4 on app-01", "change_type": {"kind": "normal"},
                   "risk": "moderate", "cis": ["app-01"], "implementation_plan": "Rolling deploy",
                   "backout_plan": "Previous release"}),
        ),
    );
    for (method, params) in [
        ("change.plan", json!({"window": window})),
        ("change.submit", json!({})),
        ("change.request_authorization", json!({})),
    ] {
        let mut p = by(&chris(), params);
        p["id"] = json!("CHG0000001");
        rig.ok(method, p);
    }
    rig.ok(
        "change.approve",
        by(&cora(), json!({"id": "CHG0000001", "comment": "Go"})),
    );
    rig.ok(
        "change.request",
        by(
            &chris(),
            json!({"title": "Patch the shop database", "change_type": {"kind": "normal"},
                   "risk": "moderate", "cis": ["db-01"], "implementation_plan": "Patch",
                   "backout_plan": "Restore"}),
        ),
    );
    let err = rig.err(
        "change.plan",
        by(&chris(), json!({"id": "CHG0000002", "window": window})),
    );
    assert_eq!(domain_code(&err), "schedule_conflict", "{err}");
    assert!(err.to_string().contains("app-01"), "{err}");
}

#[test]
fn bad_service_model_input_is_a_typed_error_that_writes_nothing() {
    let rig = Rig::memory();
    load_shop(&rig);
    let head = rig.head();
    let err = rig.err(
        "ci.batch",
        by(
            &cmdb(),
            json!({"commands": [
                relate(json!({"ci": "psp"}), "connects_to", json!({"ci": "lb-01"})),
                relate(json!({"ci": "psp"}), "connects_to", json!({"ci": "ghost"})),
            ]}),
        ),
    );
    assert_eq!(domain_code(&err), "unknown_reference", "{err}");
    assert_eq!(err["data"]["details"]["path"], "commands[1].to", "{err}");
    let err = rig.err(
        "ci.relate",
        by(
            &cmdb(),
            json!({"from": {"ci": "psp"}, "kind": "connects_to", "to": {"ci": "psp"}}),
        ),
    );
    assert_eq!(domain_code(&err), "self_relation", "{err}");
    let err = rig.err(
        "ci.relate",
        by(
            &cmdb(),
            json!({"from": {"ci": "psp"}, "kind": "hosts", "to": {"ci": "db-01"}}),
        ),
    );
    assert_eq!(code(&err), -32602, "{err}");
    assert!(err.to_string().contains("kind"), "{err}");
    rig.ok("ci.retire", by(&cmdb(), json!({"ci": "app-02"})));
    let head_after_retire = rig.head();
    let err = rig.err(
        "ci.relate",
        by(
            &cmdb(),
            json!({"from": {"ci": "psp"}, "kind": "connects_to", "to": {"ci": "app-02"}}),
        ),
    );
    assert_eq!(domain_code(&err), "retired_reference", "{err}");
    assert_eq!(err["data"]["details"]["path"], "to", "{err}");
    let err = rig.err("ci.retire", by(&desk(), json!({"ci": "psp"})));
    assert_eq!(domain_code(&err), "forbidden", "{err}");
    assert!(head_after_retire > head);
    assert_eq!(rig.head(), head_after_retire);
    let err = rig.err("query.impact", json!({"ci": "ghost"}));
    assert_eq!(domain_code(&err), "not_found", "{err}");
    let err = rig.err("query.impact", json!({}));
    assert_eq!(code(&err), -32602, "{err}");
    // Reads answer the model as written.
    let lb = rig.ok("ci.get", json!({"ci": "lb-01"}));
    assert_eq!(lb["status"], "operational");
    assert_eq!(lb["needed_by"].as_array().unwrap().len(), 1);
    assert_eq!(
        rig.ok("service.list", json!({})).as_array().unwrap().len(),
        2
    );
}

fn alert(key: &str, ci: &str) -> Value {
    by(
        &desk(),
        json!({"dedup_key": key, "source": "zabbix", "title": format!("{key} firing"),
               "impact": "medium", "urgency": "medium", "cis": [ci], "group": "web-ops"}),
    )
}

#[test]
fn an_alert_joins_the_open_incident_of_an_affected_service_over_json_rpc() {
    let rig = Rig::manual(None);
    load_shop(&rig);
    rig.ok(
        "incident.open",
        by(
            &desk(),
            json!({"title": "Checkout failing", "caller": "carol", "impact": "high",
                   "urgency": "high", "service": "webshop", "cis": ["lb-01"], "group": "web-ops"}),
        ),
    );
    // Off by default: the alert opens its own incident.
    let own = rig.ok("alert.report", alert("db-01-disk", "db-01"));
    assert_eq!(own["number"], "INC0000002");
    rig.ok(
        "incident.cancel",
        by(
            &desk(),
            json!({"id": "INC0000002", "reason": {"kind": "not_an_incident"}}),
        ),
    );
    // On: the same alert joins the web shop's incident, through the service and path.
    rig.ok(
        "policy.publish",
        json!({"document": "[incident]\ncorrelate_alerts_by_service = true\n", "actor": root()}),
    );
    let joined = rig.ok("alert.report", alert("db-01-disk", "db-01"));
    assert_eq!(joined["number"], "INC0000001");
    assert_eq!(
        joined["events"][0]["event_type"],
        "incident.alert_correlated"
    );
    let via = &joined["events"][0]["payload"]["via"];
    assert_eq!(via["ci"], "db-01");
    assert_eq!(via["source"], "zabbix");
    assert_eq!(via["service"]["service"], "webshop");
    assert_eq!(
        via["service"]["path"],
        json!([
            {"item": {"service": "webshop"}, "relation": "depends_on"},
            {"item": {"ci": "lb-01"}, "relation": "connects_to"},
            {"item": {"ci": "app-01"}, "relation": "depends_on"},
            {"item": {"ci": "db-01"}}
        ])
    );
    let timeline = rig.ok("query.timeline", json!({"id": "INC0000001"}));
    let entries = timeline["entries"]
        .as_array()
        .unwrap_or_else(|| timeline.as_array().expect("timeline entries"));
    let what = entries.last().unwrap()["what"].as_str().unwrap();
    assert!(
        what.contains("joined through the service: CI db-01 affects Web shop (critical criticality) via webshop depends on lb-01 connects to app-01 depends on db-01"),
        "{what}"
    );
    // A caller cannot claim the route itself.
    let err = rig.err(
        "incident.correlate_alert",
        by(
            &desk(),
            json!({"id": "INC0000001", "dedup_key": "x", "seen_at": rig.now(), "via": via}),
        ),
    );
    assert!(err.to_string().contains("via"), "{err}");
}

#[test]
fn impact_as_of_an_instant_and_a_reactivated_ci_over_json_rpc() {
    let rig = Rig::manual(None);
    load_shop(&rig);
    rig.advance(1);
    let before = rig.now();
    let then = rig.ok("query.impact", json!({"ci": "db-01"}));
    rig.advance(1);
    rig.ok("ci.retire", by(&cmdb(), json!({"ci": "db-01"})));
    let err = rig.err("query.impact", json!({"ci": "db-01"}));
    assert_eq!(domain_code(&err), "not_found", "{err}");
    // As of before the retirement: what was answered then.
    assert_eq!(
        rig.ok("query.impact", json!({"ci": "db-01", "as_of": before})),
        then
    );
    // Reactivation needs a reason, and an item that is retired.
    let err = rig.err(
        "ci.reactivate",
        by(&cmdb(), json!({"ci": "app-01", "reason": "still here"})),
    );
    assert_eq!(domain_code(&err), "item_transition", "{err}");
    let err = rig.err("ci.reactivate", by(&cmdb(), json!({"ci": "db-01"})));
    assert!(err.to_string().contains("reason"), "{err}");
    rig.advance(1);
    let back = rig.ok(
        "ci.reactivate",
        by(
            &cmdb(),
            json!({"ci": "db-01", "reason": "Restored from backup"}),
        ),
    );
    assert_eq!(back["status"], "operational", "{back}");
    let now = rig.ok("query.impact", json!({"ci": "db-01"}));
    assert_eq!(now["services"], json!([]));
}
