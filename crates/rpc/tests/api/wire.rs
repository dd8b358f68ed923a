//! The wire's consistency rules (API version 0.2.0, docs/CHANGELOG.md): human numbers are
//! strings in every result, a value outside a fixed set is refused with every allowed value
//! listed, unknown and duplicate keys are refused at any depth with their path, a reporting
//! window must end after it starts, and an unknown method suggests the nearest one. Every
//! refused call writes nothing.

use crate::common::*;
use chrono::Duration;
use opsledger_rpc::CallContext;
use opsledger_rpc::api::API_VERSION;
use serde_json::{Value, json};

/// INC0000001 (in progress, held awaiting PRB0000001), PRB0000001 with a known error, and
/// CHG0000001 planned for tomorrow.
fn given_records(rig: &Rig) {
    rig.ok("incident.open", by(&desk(), open_params("VPN drops")));
    rig.ok(
        "incident.assign",
        by(
            &desk(),
            json!({"id": "INC0000001", "assignee": "eve.network"}),
        ),
    );
    rig.ok(
        "problem.create",
        by(
            &pat(),
            json!({"title": "VPN gateway leaks memory", "impact": "medium", "urgency": "medium"}),
        ),
    );
    rig.ok(
        "problem.link_incident",
        by(
            &pat(),
            json!({"id": "PRB0000001", "incident": "INC0000001"}),
        ),
    );
    rig.ok(
        "incident.put_on_hold",
        by(
            &eve(),
            json!({"id": "INC0000001", "reason": {"kind": "awaiting_problem", "problem": "PRB0000001"}}),
        ),
    );
    rig.ok(
        "change.request",
        by(
            &chris(),
            json!({"title": "Patch the gateway", "change_type": {"kind": "normal"}, "risk": "low",
                   "cis": ["vpn-gw-02"], "implementation_plan": "Patch", "backout_plan": "Roll back"}),
        ),
    );
    let start = start();
    rig.ok(
        "change.plan",
        by(
            &chris(),
            json!({"id": "CHG0000001", "window": {"start": start + Duration::hours(24), "end": start + Duration::hours(25)}}),
        ),
    );
}

/// Every object in `value` shaped like the old number encoding, with its path.
fn number_objects(value: &Value, path: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
            keys.sort_unstable();
            if keys == ["kind", "value"] {
                found.push(format!("{path}: {value}"));
            }
            for (k, v) in map {
                number_objects(v, &format!("{path}.{k}"), found);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                number_objects(v, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

#[test]
fn human_numbers_are_strings_in_every_result_and_are_accepted_back() {
    let rig = Rig::memory();
    given_records(&rig);
    let start = start();
    let results = [
        rig.ok("query.queue", json!({"kind": "incident"})),
        rig.ok("query.queue", json!({"kind": "problem"})),
        rig.ok("query.queue", json!({"kind": "change"})),
        rig.ok("query.record", json!({"id": "INC0000001"})),
        rig.ok("query.record", json!({"id": "CHG0000001"})),
        rig.ok("query.timeline", json!({"id": "INC0000001"})),
        rig.ok("query.incidents_awaiting", json!({"problem": "PRB0000001"})),
        rig.ok(
            "query.calendar",
            json!({"window": {"start": start, "end": start + Duration::days(3)}}),
        ),
        rig.ok("events.read", json!({})),
    ];
    let mut found = Vec::new();
    for (i, result) in results.iter().enumerate() {
        number_objects(result, &format!("result{i}"), &mut found);
    }
    assert!(found.is_empty(), "numbers as objects: {found:#?}");

    let queue = &results[0];
    assert_eq!(queue["items"][0]["number"], json!("INC0000001"), "{queue}");
    assert_eq!(results[1]["items"][0]["number"], json!("PRB0000001"));
    assert_eq!(results[3]["view"]["number"], json!("INC0000001"));
    assert_eq!(
        results[7]["items"][0]["number"],
        json!("CHG0000001"),
        "{}",
        results[7]
    );

    // What a result says is what a call takes back.
    let number = queue["items"][0]["number"].as_str().unwrap();
    let record = rig.ok("query.record", json!({"id": number}));
    assert_eq!(record["record"]["kind"], json!("incident"));
    rig.ok(
        "incident.add_work_note",
        by(&eve(), json!({"id": number, "text": "still waiting"})),
    );

    // The schema says so too.
    let doc = rig.rpc.openrpc_document();
    let schema = &doc["components"]["schemas"]["HumanNumber"];
    assert_eq!(schema["type"], json!("string"), "{schema}");
    assert!(schema.get("properties").is_none(), "{schema}");
}

/// A refused call: -32602 at `path`, its reason, nothing written.
fn refused_at(rig: &Rig, method: &str, params: Value, path: &str) -> String {
    let head = rig.head();
    let e = rig.err(method, params);
    assert_eq!(e["code"], -32602, "{method}: {e}");
    assert_eq!(e["data"]["path"], json!(path), "{method}: {e}");
    assert_eq!(rig.head(), head, "{method} wrote after refusing");
    e["data"]["reason"].as_str().unwrap().to_owned()
}

fn lists_all(reason: &str, values: &[&str]) {
    for v in values {
        assert!(
            reason.contains(&format!("\"{v}\"")) || reason.contains(&format!("`{v}`")),
            "{v} missing from: {reason}"
        );
    }
}

#[test]
fn a_value_outside_a_fixed_set_is_refused_with_every_allowed_value() {
    let rig = Rig::memory();
    given_records(&rig);
    let mut params = by(&desk(), open_params("Typo"));
    params["impact"] = json!("hgih");
    let reason = refused_at(&rig, "incident.open", params, "impact");
    assert!(reason.starts_with("\"hgih\" is not one of"), "{reason}");
    lists_all(&reason, &["high", "medium", "low"]);

    // A tagged union's tag, nested: every kind of hold reason.
    let reason = refused_at(
        &rig,
        "incident.put_on_hold",
        by(
            &eve(),
            json!({"id": "INC0000001", "reason": {"kind": "awaiting_godot"}}),
        ),
        "reason.kind",
    );
    lists_all(
        &reason,
        &[
            "awaiting_caller",
            "awaiting_problem",
            "awaiting_vendor",
            "awaiting_change",
            "awaiting_parent",
        ],
    );

    // A query's enum, decoded by serde.
    let reason = refused_at(&rig, "query.queue", json!({"kind": "incidnet"}), "kind");
    lists_all(&reason, &["incident", "problem", "change"]);

    // A role name: every role a caller may hold, not the engine's own.
    let reason = refused_at(
        &rig,
        "incident.open",
        by(&actor("sam", &["agnet"]), open_params("Role")),
        "actor.roles[0]",
    );
    lists_all(
        &reason,
        &[
            "requester",
            "caller",
            "agent",
            "manager",
            "problem_manager",
            "change_manager",
            "cab_member",
            "admin",
        ],
    );
    assert!(!reason.contains("system"), "{reason}");
}

#[test]
fn unknown_keys_are_refused_at_any_depth() {
    let rig = Rig::memory();
    given_records(&rig);
    let start = start();
    let window = json!({"start": start, "end": start + Duration::days(1)});
    // A query's nested struct: a misspelt grouping must not be dropped.
    let reason = refused_at(
        &rig,
        "query.kpis",
        json!({"query": {"window": window, "grup_by": "priority"}}),
        "query.grup_by",
    );
    assert!(reason.contains("unknown field `grup_by`"), "{reason}");
    assert!(reason.contains("`group_by`"), "lists the fields: {reason}");
    // A command's tagged union: a field of another variant.
    refused_at(
        &rig,
        "incident.put_on_hold",
        by(
            &eve(),
            json!({"id": "INC0000001", "reason": {"kind": "awaiting_vendor", "problem": "PRB0000001"}}),
        ),
        "reason.problem",
    );
    // In an array's element, and in the acting actor.
    refused_at(
        &rig,
        "query.queue",
        json!({"kind": "incident", "statuses": [{"kind": "incident", "status": "new", "extra": 1}]}),
        "statuses[0].extra",
    );
    refused_at(
        &rig,
        "incident.add_work_note",
        json!({"id": "INC0000001", "text": "x", "actor": {"id": "eve", "roles": ["agent"], "team": "net"}}),
        "actor.team",
    );
    // Top level, as before.
    refused_at(
        &rig,
        "query.record",
        json!({"id": "INC0000001", "verison": 1}),
        "verison",
    );
    // An object where a value of another type goes is a type error at the field, not keys.
    let mut params = by(&desk(), open_params("Typed"));
    params["impact"] = json!({"level": "high"});
    refused_at(&rig, "incident.open", params, "impact");
    // The same params without the stray keys pass.
    rig.ok(
        "query.kpis",
        json!({"query": {"window": window, "group_by": "priority"}}),
    );
}

/// The raw request text, answered as an error object.
fn raw_error(rig: &Rig, method: &str, params: &str) -> Value {
    let head = rig.head();
    let request = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#);
    let reply = rig
        .rpc
        .handle_with(&CallContext::in_process(), &request)
        .unwrap();
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(rig.head(), head, "{method} wrote after refusing");
    reply["error"].clone()
}

#[test]
fn duplicate_keys_are_refused_at_any_depth_with_their_path() {
    let rig = Rig::memory();
    given_records(&rig);
    let actor = r#""actor":{"id":"sam.desk","roles":["agent"]}"#;
    let e = raw_error(
        &rig,
        "incident.open",
        &format!(
            r#"{{"title":"first","caller":"bob","impact":"low","urgency":"low","title":"second",{actor}}}"#
        ),
    );
    assert_eq!(e["code"], -32602, "{e}");
    assert_eq!(e["data"]["path"], json!("title"), "{e}");
    assert!(
        e["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("duplicate field `title`"),
        "{e}"
    );
    let e = raw_error(
        &rig,
        "change.plan",
        &format!(
            r#"{{"id":"CHG0000001","window":{{"start":"2026-05-06T00:00:00Z","end":"2026-05-06T01:00:00Z","start":"2026-05-07T00:00:00Z"}},{actor}}}"#
        ),
    );
    assert_eq!(e["data"]["path"], json!("window.start"), "{e}");
    let e = raw_error(
        &rig,
        "query.queue",
        r#"{"kind":"incident","statuses":[{"kind":"incident","status":"new","status":"resolved"}]}"#,
    );
    assert_eq!(e["data"]["path"], json!("statuses[0].status"), "{e}");
    // By position, too.
    let e = raw_error(
        &rig,
        "query.stats",
        r#"{"as_of":"2026-05-06T00:00:00Z","as_of":null}"#,
    );
    assert_eq!(e["data"]["path"], json!("as_of"), "{e}");
}

#[test]
fn a_reporting_window_must_end_after_it_starts() {
    let rig = Rig::memory();
    given_records(&rig);
    let start = start();
    for (method, params, field) in [
        (
            "query.kpis",
            json!({"query": {"window": {"start": start + Duration::days(1), "end": start}}}),
            "query.window",
        ),
        (
            "query.kpis",
            json!({"query": {"window": {"start": start, "end": start}}}),
            "query.window",
        ),
        (
            "query.sla_what_if",
            json!({"window": {"start": start + Duration::days(1), "end": start},
                   "proposed": {"definitions": [], "calendars": []}}),
            "window",
        ),
    ] {
        let head = rig.head();
        let e = rig.err(method, params);
        assert_eq!(e["data"]["domain_code"], json!("invalid_input"), "{e}");
        assert_eq!(e["data"]["details"]["field"], json!(field), "{e}");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("must end after it starts"),
            "{e}"
        );
        assert_eq!(rig.head(), head);
    }
}

#[test]
fn an_unknown_method_suggests_the_nearest_one() {
    let rig = Rig::memory();
    for (called, nearest) in [
        ("incident.opne", "incident.open"),
        ("Incident.Open", "incident.open"),
        ("query.kpi", "query.kpis"),
        ("chnage.approve", "change.approve"),
        ("rpc.dicsover", "rpc.discover"),
    ] {
        let e = rig.err(called, json!({}));
        assert_eq!(e["code"], -32601, "{e}");
        assert_eq!(e["message"], json!("Method not found"));
        assert_eq!(e["data"]["did_you_mean"], json!(nearest), "{called}: {e}");
        assert_eq!(e["data"]["method"], json!(called));
    }
    // Nothing close: no guess.
    let e = rig.err("teleport", json!({}));
    assert_eq!(e["code"], -32601);
    assert!(e.get("data").is_none(), "{e}");
}

#[test]
fn the_wire_version_is_published_and_in_the_changelog() {
    let rig = Rig::memory();
    let doc = rig.rpc.openrpc_document();
    assert_eq!(doc["info"]["version"], json!(API_VERSION));
    let changelog = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/CHANGELOG.md"),
    )
    .unwrap();
    assert!(
        changelog.contains(&format!("## JSON-RPC API {API_VERSION}")),
        "docs/CHANGELOG.md has no entry for {API_VERSION}"
    );
}

#[test]
fn reading_after_the_last_possible_position_is_an_empty_page() {
    // Found by the API fuzzer: `after` = u64::MAX overflowed inside the subscription.
    let rig = Rig::memory();
    given_records(&rig);
    for (method, params) in [
        ("events.read", json!({"after": u64::MAX})),
        (
            "events.subscribe",
            json!({"after": u64::MAX, "timeout_ms": 5}),
        ),
    ] {
        let page = rig.ok(method, params);
        assert_eq!(page["events"], json!([]), "{method}: {page}");
        assert_eq!(page["next"], json!(u64::MAX), "{method}: {page}");
    }
}
