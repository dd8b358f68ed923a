//! The `policy` and `clock` keys of the open configuration: a policy document (an object, or a
//! `.toml`/`.json` file) put in force at open, refused with every issue and nothing written
//! when it has problems; a manual clock that stamps events and times SLA clocks.

use crate::support::*;
use opsledger::Policy;
use opsledger::core::policy::document;
use opsledger_ffi::OpsledgerStatus;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A Monday morning.
const T0: &str = "2026-03-02T09:00:00Z";

fn agent() -> Value {
    json!({"id": "alice", "roles": ["agent"]})
}

fn admin() -> Value {
    json!({"id": "root", "roles": ["admin"]})
}

fn always_calendar(time_zone: &str) -> Value {
    let day = json!([{"start": "00:00", "end": "24:00"}]);
    let week: serde_json::Map<String, Value> = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]
    .into_iter()
    .map(|d| (d.to_owned(), day.clone()))
    .collect();
    json!({"id": "24x7", "version": 1, "time_zone": time_zone, "weekly": week})
}

fn p1_definition(id: &str, metric: &str, target: &str) -> Value {
    json!({
        "id": id,
        "version": 1,
        "name": format!("P1 {metric}: {target}"),
        "applies_to": {"kind": "incident", "priorities": ["critical"]},
        "metric": metric,
        "target": target,
        "calendar": {"id": "24x7"},
        "thresholds": [50, 75, 90],
    })
}

/// A complete document: the default policy (which has no SLA definition at all) with a P1
/// response clock of 15 minutes and a P1 resolution clock of 4 hours on a 24x7 calendar.
fn p1_policy() -> Value {
    let mut policy = serde_json::to_value(Policy::default()).unwrap();
    // The engine numbers the versions it publishes: a document leaves it out.
    policy.as_object_mut().unwrap().remove("version");
    policy["sla"] = json!({
        "calendars": [always_calendar("UTC")],
        "definitions": [
            p1_definition("p1-response", "response", "15m"),
            p1_definition("p1-resolution", "resolution", "4h"),
        ],
    });
    policy
}

/// [`p1_policy`] without the resolution clock, in TOML.
fn p1_response_toml() -> String {
    let mut policy = p1_policy();
    policy["sla"]["definitions"].as_array_mut().unwrap().pop();
    let text = document::to_toml(&document::from_value(policy).unwrap());
    assert!(text.contains("[[sla.definitions]]"), "{text}");
    text
}

/// Opens a P1 incident (high impact, high urgency) as the agent; its number.
fn open_p1(h: &Handle) -> String {
    let opened = h
        .call(
            "incident.open",
            json!({"title": "Checkout down", "caller": "bob", "impact": "high",
                   "urgency": "high", "actor": agent()}),
        )
        .unwrap();
    opened["number"].as_str().unwrap().to_owned()
}

/// A record's SLA clocks by definition id.
fn clocks(h: &Handle, number: &str) -> BTreeMap<String, Value> {
    let clocks = h.call("query.sla", json!({"id": number})).unwrap();
    clocks
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["definition"]["id"].as_str().unwrap().to_owned(),
                c.clone(),
            )
        })
        .collect()
}

/// The definition ids of a record's SLA clocks, sorted.
fn clock_ids(h: &Handle, number: &str) -> Vec<String> {
    clocks(h, number).into_keys().collect()
}

/// Every event of the log.
fn events(h: &Handle) -> Vec<Value> {
    let page = h
        .call("events.read", json!({"after": 0, "max": 1000}))
        .unwrap();
    page["events"].as_array().unwrap().clone()
}

fn policy_versions(h: &Handle) -> usize {
    events(h)
        .iter()
        .filter(|e| e["event_type"] == "policy.published")
        .count()
}

/// Every file under `dir` with its bytes (empty when `dir` does not exist).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

fn refused(config: &Value) -> String {
    let (st, message) = open_raw(config.to_string().as_bytes())
        .err()
        .expect("the configuration is refused");
    assert_eq!(st, OpsledgerStatus::InvalidConfig, "{message}");
    message
}

#[test]
fn a_policy_object_is_in_force_for_new_incidents() {
    let h = open(json!({"in_memory": true, "policy": p1_policy()}));
    let number = open_p1(&h);
    assert_eq!(clock_ids(&h, &number), ["p1-resolution", "p1-response"]);
    assert_eq!(policy_versions(&h), 1);

    // Without the key, the default policy has no SLA definition: no clock.
    let plain = in_memory();
    let number = open_p1(&plain);
    assert!(clock_ids(&plain, &number).is_empty());
}

#[test]
fn a_policy_file_is_read_in_the_notation_its_extension_names() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("policy.toml");
    std::fs::write(&toml, p1_response_toml()).unwrap();
    let json_file = dir.path().join("policy.json");
    std::fs::write(&json_file, p1_policy().to_string()).unwrap();

    let h = open(json!({"in_memory": true, "policy": toml}));
    let number = open_p1(&h);
    assert_eq!(clock_ids(&h, &number), ["p1-response"]);

    let h = open(json!({"in_memory": true, "policy": json_file}));
    let number = open_p1(&h);
    assert_eq!(clock_ids(&h, &number), ["p1-resolution", "p1-response"]);

    // A relative path is relative to the working directory.
    let cwd = std::env::current_dir().unwrap();
    let up = "../".repeat(cwd.components().count() - 1);
    let relative = format!("{up}{}", toml.strip_prefix("/").unwrap().display());
    assert!(Path::new(&relative).is_relative());
    let h = open(json!({"in_memory": true, "policy": relative}));
    let number = open_p1(&h);
    assert_eq!(clock_ids(&h, &number), ["p1-response"]);

    // No TOML document starts with `{`: JSON text in a .toml file is read as the JSON it is.
    let misnamed = dir.path().join("json-inside.toml");
    std::fs::write(&misnamed, p1_policy().to_string()).unwrap();
    let h = open(json!({"in_memory": true, "policy": misnamed}));
    let number = open_p1(&h);
    assert_eq!(clock_ids(&h, &number), ["p1-resolution", "p1-response"]);
    // TOML that does not parse is refused with where.
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[incident\nauto_close_after_days = 3\n").unwrap();
    let message = refused(&json!({"in_memory": true, "policy": broken}));
    assert!(message.contains("\n  (document): not TOML"), "{message}");
    assert!(message.contains("line 1"), "{message}");
}

#[test]
fn a_policy_that_cannot_be_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let message = refused(&json!({"in_memory": true, "policy": missing}));
    assert!(message.contains("cannot read"), "{message}");
    assert!(message.contains("missing.toml"), "{message}");

    let yaml = dir.path().join("policy.yaml");
    std::fs::write(&yaml, "sla: {}").unwrap();
    let message = refused(&json!({"in_memory": true, "policy": yaml}));
    assert!(
        message.contains("neither a .toml nor a .json file"),
        "{message}"
    );

    for wrong in [json!(7), json!(["sla"]), json!(true)] {
        let message = refused(&json!({"in_memory": true, "policy": wrong}));
        assert!(
            message.contains("`policy` is a policy document"),
            "{message}"
        );
    }
}

/// A document with three problems the document reader reports together.
fn invalid_policy() -> Value {
    let mut policy = p1_policy();
    policy["sla"]["definitions"][0]["calendar"] = json!({"id": "office-hours"});
    policy["sla"]["definitions"][1]["thresholds"] = json!([50, 150]);
    policy["incident"] = json!({"auto_close_calendar": {"id": "nowhere"}});
    policy
}

#[test]
fn an_invalid_policy_is_refused_with_every_issue_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("fresh");
    let message = refused(&json!({"data_dir": fresh, "policy": invalid_policy()}));
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 4, "{message}");
    assert!(lines[0].contains("3 issues"), "{message}");
    for path in [
        "sla.definitions[0].calendar",
        "sla.definitions[1].thresholds",
        "incident.auto_close_calendar",
    ] {
        assert!(
            lines[1..]
                .iter()
                .any(|l| l.starts_with(&format!("  {path}"))),
            "{path} missing from {message}"
        );
    }
    assert!(!fresh.exists(), "nothing is created for a refused policy");

    // An existing data directory is left exactly as it was.
    let data = dir.path().join("data");
    let h = open(json!({"data_dir": data, "policy": p1_policy()}));
    let number = open_p1(&h);
    let before_events = events(&h).len();
    assert_eq!(h.close(), OpsledgerStatus::Ok);
    let before = snapshot(&data);
    assert!(!before.is_empty());
    refused(&json!({"data_dir": data, "policy": invalid_policy()}));
    let file = dir.path().join("invalid.json");
    std::fs::write(&file, invalid_policy().to_string()).unwrap();
    let message = refused(&json!({"data_dir": data, "policy": file}));
    assert!(message.contains("invalid.json"), "{message}");
    assert_eq!(snapshot(&data), before, "the data directory is unchanged");

    let h = open(json!({"data_dir": data}));
    assert_eq!(events(&h).len(), before_events);
    assert_eq!(policy_versions(&h), 1);
    assert_eq!(clock_ids(&h, &number), ["p1-resolution", "p1-response"]);
}

#[test]
fn unknown_keys_are_refused_at_every_depth() {
    let mut policy = p1_policy();
    policy["sla"]["definitions"][1]["colour"] = json!("red");
    let message = refused(&json!({"in_memory": true, "policy": policy}));
    assert!(
        message.contains("\n  sla.definitions[1].colour: "),
        "{message}"
    );
    assert!(message.contains("unknown field `colour`"), "{message}");

    let mut policy = p1_policy();
    policy["sla"]["calendars"][0]["weekly"]["caturday"] = json!([]);
    let message = refused(&json!({"in_memory": true, "policy": policy}));
    assert!(
        message.contains("sla.calendars[0].weekly.caturday"),
        "{message}"
    );

    let message = refused(&json!({"in_memory": true, "policy": {"incident": {"auto_close": 3}}}));
    assert!(message.contains("incident.auto_close: "), "{message}");

    let message = refused(&json!({"in_memory": true, "actor": {"id": "a", "rolez": []}}));
    assert!(message.contains("unknown field `rolez`"), "{message}");

    let message = refused(&json!({"in_memory": true, "clock": {"manual": T0, "rate": 60}}));
    assert!(message.contains("unknown field `clock.rate`"), "{message}");
}

#[test]
fn a_manual_clock_stamps_events_and_times_sla_clocks() {
    let h = open(json!({"in_memory": true, "policy": p1_policy(), "clock": {"manual": T0}}));
    let number = open_p1(&h);
    for event in events(&h) {
        assert_eq!(event["recorded_at"], T0, "{event}");
    }
    let clocks = clocks(&h, &number);
    let response = &clocks["p1-response"];
    assert_eq!(response["started_at"], T0);
    assert_eq!(response["due_at"], "2026-03-02T09:15:00Z");
    assert_eq!(response["breached"], Value::Null);
    assert_eq!(response["percent"], 0, "the clock stands still: {response}");

    // A tick at the manual clock's instant finds nothing due.
    let tick = h.call("admin.tick", json!({"actor": admin()})).unwrap();
    assert_eq!(tick["now"], T0);
    assert_eq!(tick["breaches_recorded"], 0);

    // "manual" without an instant starts at the time of opening; "system" is the default.
    for clock in [json!("manual"), json!("system")] {
        let h = open(json!({"in_memory": true, "clock": clock}));
        open_p1(&h);
    }
    for (clock, needle) in [
        (json!("sundial"), "`clock` is \"system\", \"manual\""),
        (json!({"manual": "next tuesday"}), "RFC 3339"),
        (json!({"manual": 1_772_442_000}), "`clock.manual`"),
        (json!({}), "without `manual`"),
    ] {
        let message = refused(&json!({"in_memory": true, "clock": clock}));
        assert!(message.contains(needle), "{message} lacks {needle}");
    }
}

#[test]
fn a_reopened_engine_keeps_its_policy_and_records_the_breach_its_later_clock_shows() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let h = open(json!({"data_dir": data, "policy": p1_policy(), "clock": {"manual": T0}}));
    let number = open_p1(&h);
    assert_eq!(h.close(), OpsledgerStatus::Ok);

    // Twenty minutes later, without the policy key: the log's policy stays in force.
    let later = "2026-03-02T09:20:00Z";
    let h = open(json!({"data_dir": data, "clock": {"manual": later}}));
    assert_eq!(policy_versions(&h), 1);
    let tick = h.call("admin.tick", json!({"actor": admin()})).unwrap();
    assert_eq!(tick["breaches_recorded"], 1, "{tick}");
    assert_eq!(tick["thresholds_recorded"], 3, "{tick}");
    let clocks = clocks(&h, &number);
    assert_eq!(clocks["p1-response"]["breached"], "2026-03-02T09:15:00Z");
    assert_eq!(clocks["p1-resolution"]["breached"], Value::Null);
    // Exactly once: a second tick records nothing.
    let again = h.call("admin.tick", json!({"actor": admin()})).unwrap();
    assert_eq!(again["breaches_recorded"], 0);
    let fresh = open_p1(&h);
    assert_eq!(clock_ids(&h, &fresh), ["p1-resolution", "p1-response"]);
    assert_eq!(h.close(), OpsledgerStatus::Ok);
}

#[test]
fn a_changed_policy_at_reopen_is_the_next_version_and_a_conflicting_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let h = open(json!({"data_dir": data, "policy": p1_policy()}));
    assert_eq!(h.close(), OpsledgerStatus::Ok);

    // The same document again publishes nothing.
    let h = open(json!({"data_dir": data, "policy": p1_policy()}));
    assert_eq!(policy_versions(&h), 1);
    assert_eq!(h.close(), OpsledgerStatus::Ok);

    let mut changed = p1_policy();
    changed["incident"] = json!({"auto_close_after_days": 3});
    let h = open(json!({"data_dir": data, "policy": changed}));
    assert_eq!(policy_versions(&h), 2);
    assert_eq!(h.close(), OpsledgerStatus::Ok);

    // Calendar 24x7 version 1 may have pinned clocks: other content under the same version is
    // refused against the log's history, and nothing is published.
    let mut conflicting = p1_policy();
    conflicting["sla"]["calendars"][0] = always_calendar("Europe/Berlin");
    let message = refused(&json!({"data_dir": data, "policy": conflicting}));
    assert!(message.contains("1 issue\n"), "{message}");
    assert!(message.contains("\n  sla.calendars[0]: "), "{message}");
    let h = open(json!({"data_dir": data}));
    assert_eq!(policy_versions(&h), 2);
}
