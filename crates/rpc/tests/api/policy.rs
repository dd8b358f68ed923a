//! The policy over JSON-RPC: `policy.get`, `policy.history`, `policy.validate`, `policy.diff`,
//! `policy.publish`, and `admin.set_clock` on an engine running on a manual clock.

use crate::common::*;
use chrono::Duration;
use serde_json::{Value, json};
use std::sync::Barrier;

/// A 24x7 calendar and a P1 resolution SLA of `target` (definition version `version`), as
/// TOML: the rest of the policy is the default.
fn p1_document(target: &str, version: u32) -> String {
    let days = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let weekly: String = days
        .iter()
        .map(|d| format!("{d} = [{{ start = \"00:00\", end = \"24:00\" }}]\n"))
        .collect();
    format!(
        r#"
[[sla.calendars]]
id = "24x7"
version = 1
time_zone = "UTC"

[sla.calendars.weekly]
{weekly}
[[sla.definitions]]
id = "p1-resolution"
version = {version}
name = "P1 resolution: {target}"
applies_to = {{ kind = "incident", priorities = ["critical"] }}
metric = "resolution"
target = "{target}"
calendar = {{ id = "24x7" }}
thresholds = [50, 75]
"#
    )
}

/// Params of an `incident.open` that the default matrix makes P1 (critical).
/// A rig with a manual clock and the P1 policy (4 hours) published as version 2.
fn p1_rig() -> Rig {
    let rig = Rig::manual(None);
    rig.ok(
        "policy.publish",
        json!({"document": p1_document("4h", 1), "actor": root()}),
    );
    rig
}

fn p1_params(title: &str) -> Value {
    json!({"title": title, "caller": "carol", "impact": "high", "urgency": "high"})
}

fn history(rig: &Rig) -> Value {
    rig.ok("policy.history", json!({}))
}

/// The issues of an `invalid_policy` error, as `path: message` lines.
fn issue_paths(error: &Value) -> Vec<String> {
    assert_eq!(domain_code(error), "invalid_policy", "{error}");
    assert_eq!(code(error), -32024, "{error}");
    error["data"]["details"]["issues"]
        .as_array()
        .unwrap_or_else(|| panic!("no issues in {error}"))
        .iter()
        .map(|i| i["path"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn publishing_a_policy_with_an_sla_puts_clocks_on_new_incidents_only() {
    let rig = Rig::manual(None);
    rig.ok("incident.open", by(&desk(), p1_params("Before the policy")));
    assert_eq!(rig.ok("query.sla", json!({"id": "INC0000001"})), json!([]));

    let published = rig.ok(
        "policy.publish",
        json!({"document": p1_document("4h", 1), "reason": "CHG0000042", "actor": root()}),
    );
    assert_eq!(published["version"], 2, "{published}");
    assert_eq!(published["changed"], true);
    assert_eq!(published["position"], rig.head());

    rig.ok("incident.open", by(&desk(), p1_params("After the policy")));
    let sla = rig.ok("query.sla", json!({"id": "INC0000002"}));
    let clocks = sla.as_array().unwrap();
    assert_eq!(clocks.len(), 1, "{sla}");
    assert_eq!(
        clocks[0]["definition"],
        json!({"id": "p1-resolution", "version": 1})
    );
    assert_eq!(clocks[0]["metric"], "resolution");
    let due = (start() + Duration::hours(4)).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    assert_eq!(clocks[0]["due_at"], due, "{sla}");
    // Publishing moves nothing by itself: the incident opened before keeps no clock.
    assert_eq!(rig.ok("query.sla", json!({"id": "INC0000001"})), json!([]));

    let versions = history(&rig);
    assert_eq!(versions.as_array().unwrap().len(), 2, "{versions}");
    assert_eq!(versions[1]["version"], 2);
    assert_eq!(versions[1]["reason"], "CHG0000042");
    assert_eq!(versions[1]["published_by"], "root");
    assert_eq!(versions[1]["position"], published["position"]);
    assert!(versions[1].get("document").is_none(), "{versions}");
}

#[test]
fn the_same_document_again_writes_nothing() {
    let rig = Rig::manual(None);
    let document = p1_document("4h", 1);
    rig.ok(
        "policy.publish",
        json!({"document": document, "actor": root()}),
    );
    let head = rig.head();
    // The same document, as TOML text again and as the object `policy.get` returns.
    let again = rig.ok(
        "policy.publish",
        json!({"document": document, "actor": root()}),
    );
    assert_eq!(
        again,
        json!({"version": 2, "changed": false, "position": null})
    );
    let current = rig.ok("policy.get", json!({}));
    let as_object = rig.ok(
        "policy.publish",
        json!({"document": current["document"], "expected_version": 2, "actor": root()}),
    );
    assert_eq!(as_object["changed"], false, "{as_object}");
    assert_eq!(rig.head(), head);
    assert_eq!(history(&rig).as_array().unwrap().len(), 2);
}

#[test]
fn an_invalid_document_is_refused_with_every_problem_and_nothing_is_written() {
    let rig = Rig::manual(None);
    let head = rig.head();
    let before = history(&rig);
    let refuse = |document: Value| -> Vec<String> {
        let e = rig.err(
            "policy.publish",
            json!({"document": document, "actor": root()}),
        );
        assert_eq!(rig.head(), head, "nothing may be written: {e}");
        assert_eq!(history(&rig), before);
        issue_paths(&e)
    };

    // Several problems at once, each at its path.
    let two_problems = p1_document("0s", 1).replace(r#"id = "24x7" }"#, r#"id = "nowhere" }"#);
    let paths = refuse(json!(two_problems));
    assert!(paths.len() >= 2, "{paths:?}");
    assert!(
        paths.iter().all(|p| p.starts_with("sla.definitions[0]")),
        "{paths:?}"
    );
    // An unknown key deep inside, in TOML and as a JSON object.
    let typo = p1_document("4h", 1).replace("thresholds =", "threshold =");
    assert_eq!(refuse(json!(typo)), ["sla.definitions[0].threshold"]);
    let object = json!({"sla": {"calendars": [], "definitions": [], "archive": []}});
    assert_eq!(refuse(object), ["sla.archive"]);
    // An unknown IANA zone.
    let zone = p1_document("4h", 1).replace(r#""UTC""#, r#""Europe/Atlantis""#);
    let e = rig.err("policy.publish", json!({"document": zone, "actor": root()}));
    assert_eq!(issue_paths(&e), ["sla.calendars[0].time_zone"]);
    assert!(
        e["data"]["details"]["issues"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Europe/Atlantis"),
        "{e}"
    );
    // Text that is not TOML: the document itself, with a line.
    let e = rig.err(
        "policy.publish",
        json!({"document": "[incident\nauto_close_after_days = 3", "actor": root()}),
    );
    assert_eq!(issue_paths(&e), [""]);
    assert!(e["message"].as_str().unwrap().contains("line 1"), "{e}");
    // A document that is neither an object nor text is a params error.
    let e = rig.err("policy.publish", json!({"document": 42, "actor": root()}));
    assert_eq!((code(&e), &e["data"]["path"]), (-32602, &json!("document")));
    assert_eq!(rig.head(), head);
}

#[test]
fn a_changed_sla_definition_needs_a_new_version() {
    let rig = p1_rig();
    let head = rig.head();
    // The same (id, version) with another target: refused by the history check, in validate,
    // diff and publish alike.
    let changed = json!({"document": p1_document("2h", 1)});
    let verdict = rig.ok("policy.validate", changed.clone());
    assert_eq!(verdict["valid"], false, "{verdict}");
    assert_eq!(verdict["issues"][0]["path"], "sla.definitions[0]");
    assert!(
        verdict["issues"][0]["message"]
            .as_str()
            .unwrap()
            .contains("published before"),
        "{verdict}"
    );
    assert_eq!(
        issue_paths(&rig.err("policy.diff", changed.clone())),
        ["sla.definitions[0]"]
    );
    let mut publish = changed;
    publish["actor"] = root();
    assert_eq!(
        issue_paths(&rig.err("policy.publish", publish)),
        ["sla.definitions[0]"]
    );
    assert_eq!(rig.head(), head);
}

#[test]
fn validate_and_diff_write_nothing_and_diff_names_moved_targets() {
    let rig = p1_rig();
    rig.ok("incident.open", by(&desk(), p1_params("Checkout down")));
    let head = rig.head();
    let versions = history(&rig);

    let good = rig.ok(
        "policy.validate",
        json!({"document": p1_document("2h", 2), "format": "toml"}),
    );
    assert_eq!(good, json!({"valid": true, "issues": []}));
    let bad = rig.ok(
        "policy.validate",
        json!({"document": {"incident": {"auto_close_after_dayz": 3}}}),
    );
    assert_eq!(bad["valid"], false);
    assert_eq!(bad["issues"][0]["path"], "incident.auto_close_after_dayz");
    // A JSON text is sniffed as JSON.
    let sniffed = rig.ok(
        "policy.validate",
        json!({"document": r#"{"incident": {"auto_close_after_days": 3}}"#}),
    );
    assert_eq!(sniffed["valid"], true, "{sniffed}");
    // An object is JSON: `toml` contradicts it.
    let e = rig.err("policy.validate", json!({"document": {}, "format": "toml"}));
    assert_eq!((code(&e), &e["data"]["path"]), (-32602, &json!("format")));

    let diff = rig.ok("policy.diff", json!({"document": p1_document("2h", 2)}));
    assert_eq!(diff["from_version"], 2, "{diff}");
    let paths: Vec<&str> = diff["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"sla.definitions[p1-resolution v1]"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"sla.definitions[p1-resolution v2]"),
        "{paths:?}"
    );
    let moved = diff["moved_targets"].as_array().unwrap();
    assert_eq!(moved.len(), 1, "{diff}");
    assert_eq!(moved[0]["number"], "INC0000001");
    assert_eq!(moved[0]["metric"], "resolution");
    assert_eq!(moved[0]["current"]["target"], "4h");
    assert_eq!(moved[0]["proposed"]["target"], "2h");
    assert_eq!(moved[0]["proposed"]["definition"]["version"], 2);
    assert_eq!(diff["records_truncated"], false);

    assert_eq!(rig.head(), head, "validate and diff write nothing");
    assert_eq!(history(&rig), versions);
}

#[test]
fn policy_get_reads_a_version_now_by_number_and_as_of_an_instant() {
    let rig = Rig::manual(None);
    let before = rig.now();
    rig.advance(60);
    rig.ok(
        "policy.publish",
        json!({"document": p1_document("4h", 1), "reason": "SLA for P1", "actor": root()}),
    );
    rig.advance(60);

    let now = rig.ok("policy.get", json!({}));
    assert_eq!(now["version"], 2);
    assert_eq!(now["reason"], "SLA for P1");
    assert_eq!(now["published_by"], "root");
    assert_eq!(
        now["document"]["sla"]["definitions"][0]["id"],
        "p1-resolution"
    );
    let then = rig.ok("policy.get", json!({"as_of": before}));
    assert_eq!(then["version"], 1, "{then}");
    assert_eq!(then["position"], 1);
    assert_eq!(then["document"]["sla"]["definitions"], json!([]));
    assert_eq!(
        rig.ok("policy.get", json!({"as_of": rig.now()}))["version"],
        2
    );
    assert_eq!(rig.ok("policy.get", json!({"version": 1})), then);

    let e = rig.err("policy.get", json!({"version": 9}));
    assert_eq!((code(&e), domain_code(&e)), (-32001, "not_found"));
    assert!(e["message"].as_str().unwrap().contains("v9"), "{e}");
    let e = rig.err("policy.get", json!({"version": 1, "as_of": before}));
    assert_eq!(code(&e), -32602);
}

#[test]
fn two_publishers_from_the_same_version_one_wins_one_conflicts() {
    let rig = Rig::manual(None);
    let barrier = Barrier::new(2);
    let outcomes: Vec<Result<Value, Value>> = std::thread::scope(|scope| {
        let handles: Vec<_> = ["4h", "6h"]
            .into_iter()
            .map(|target| {
                let (rig, barrier) = (&rig, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    rig.call(
                        "policy.publish",
                        json!({"document": p1_document(target, 1), "expected_version": 1,
                               "actor": root()}),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<&Value> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    let lost: Vec<&Value> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert_eq!((won.len(), lost.len()), (1, 1), "{outcomes:?}");
    assert_eq!(won[0]["version"], 2);
    assert_eq!(domain_code(lost[0]), "conflict");
    assert_eq!(
        lost[0]["data"]["details"],
        json!({"record": "policy", "expected": 1, "actual": 2})
    );
    assert_eq!(history(&rig).as_array().unwrap().len(), 2);
}

#[test]
fn two_publishers_cannot_both_give_one_sla_version_their_own_content() {
    // Neither pins a version: each document is checked against the history under the
    // publishing lock, so the second sees the first's definition and is refused.
    for _ in 0..20 {
        let rig = Rig::manual(None);
        let barrier = Barrier::new(2);
        let outcomes: Vec<Result<Value, Value>> = std::thread::scope(|scope| {
            let handles: Vec<_> = ["4h", "6h"]
                .into_iter()
                .map(|target| {
                    let (rig, barrier) = (&rig, &barrier);
                    scope.spawn(move || {
                        barrier.wait();
                        rig.call(
                            "policy.publish",
                            json!({"document": p1_document(target, 1), "actor": root()}),
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let lost: Vec<&Value> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
        assert_eq!(lost.len(), 1, "{outcomes:?}");
        assert_eq!(issue_paths(lost[0]), ["sla.definitions[0]"]);
        assert_eq!(history(&rig).as_array().unwrap().len(), 2);
    }
}

#[test]
fn only_a_policy_publisher_may_publish() {
    let rig = Rig::manual(None);
    let head = rig.head();
    // Refused before the document is read: even an invalid one says `forbidden`.
    for document in [json!(p1_document("4h", 1)), json!("not = [toml")] {
        let e = rig.err(
            "policy.publish",
            json!({"document": document, "actor": desk()}),
        );
        assert_eq!((code(&e), domain_code(&e)), (-32005, "forbidden"), "{e}");
        assert_eq!(e["data"]["details"]["permission"], "policy_publish");
    }
    let e = rig.err("policy.publish", json!({"document": p1_document("4h", 1)}));
    assert_eq!(code(&e), -32098, "no actor: {e}");
    assert_eq!(rig.head(), head);
}

#[test]
fn a_manual_clock_moved_past_the_target_makes_the_tick_record_the_breach() {
    let rig = p1_rig();
    rig.ok("incident.open", by(&desk(), p1_params("Checkout down")));
    let sla = rig.ok("query.sla", json!({"id": "INC0000001"}));
    assert_eq!(sla[0]["breached"], Value::Null, "{sla}");

    let later = start() + Duration::hours(5);
    let set = rig.ok("admin.set_clock", json!({"now": later, "actor": root()}));
    assert_eq!(set, json!({"now": later}));
    assert_eq!(rig.now(), later);
    // The tick runs at the engine clock's now: the thresholds and the breach are recorded.
    let tick = rig.ok("admin.tick", json!({"actor": root()}));
    assert_eq!(tick["now"], json!(later), "{tick}");
    assert_eq!(tick["breaches_recorded"], 1, "{tick}");
    assert_eq!(tick["thresholds_recorded"], 2, "{tick}");
    let sla = rig.ok("query.sla", json!({"id": "INC0000001"}));
    let breached_at =
        (start() + Duration::hours(4)).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    assert_eq!(sla[0]["breached"], breached_at, "{sla}");
    let events = rig.ok("events.read", json!({"after": 0, "max": 100}));
    let breach = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "sla.breached")
        .unwrap_or_else(|| panic!("no breach recorded: {events}"));
    assert_eq!(breach["recorded_at"], json!(later), "{breach}");
}

#[test]
fn the_clock_only_moves_forward_and_only_for_the_permitted() {
    let rig = Rig::manual(None);
    rig.advance(60);
    let now = rig.now();
    let head = rig.head();
    let e = rig.err(
        "admin.set_clock",
        json!({"now": now - Duration::seconds(1), "actor": root()}),
    );
    assert_eq!(
        (code(&e), domain_code(&e)),
        (-32023, "invalid_input"),
        "{e}"
    );
    assert_eq!(e["data"]["details"]["field"], "now");
    assert_eq!(rig.now(), now, "the clock did not move");
    let e = rig.err(
        "admin.set_clock",
        json!({"now": now + Duration::hours(1), "actor": desk()}),
    );
    assert_eq!(domain_code(&e), "forbidden", "{e}");
    assert_eq!(e["data"]["details"]["permission"], "engine_clock");
    assert_eq!(rig.now(), now);
    // The same instant is no move at all, and allowed.
    assert_eq!(
        rig.ok("admin.set_clock", json!({"now": now, "actor": root()})),
        json!({"now": now})
    );
    assert_eq!(rig.head(), head);
}

#[test]
fn without_a_manual_clock_set_clock_is_not_supported() {
    // The engine runs on a manual clock, but the dispatcher was not given it.
    let rig = Rig::memory();
    let now = rig.now();
    let e = rig.err(
        "admin.set_clock",
        json!({"now": now + Duration::hours(1), "actor": root()}),
    );
    assert_eq!(
        (code(&e), domain_code(&e)),
        (-32031, "not_supported"),
        "{e}"
    );
    assert_eq!(rig.now(), now);
    // A manual clock that is not the engine's is not taken either.
    let foreign = std::sync::Arc::new(opsledger::ManualClock::new(now));
    let registry =
        opsledger_rpc::api::registry_with_clock(rig.engine.clone(), Some(foreign.clone()));
    let rpc = opsledger_rpc::Dispatcher::new(registry);
    let e = call_with(
        &rpc,
        &opsledger_rpc::CallContext::in_process(),
        "admin.set_clock",
        json!({"now": now + Duration::hours(1), "actor": root()}),
    )
    .unwrap_err();
    assert_eq!(domain_code(&e), "not_supported", "{e}");
    assert_eq!(opsledger::Clock::now(&*foreign), now);
}
