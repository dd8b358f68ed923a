//! Parent/child sync and duplicates through the API: a parent's hold holds its child, its
//! resumption resumes it, a published `incident.child_sync` turns that off, and
//! `incident.link_duplicate` cancels the duplicate with the link and its SLA clocks.

use crate::common::*;
use serde_json::{Value, json};

/// The incident's status with its data (hold and cancel reasons), from its state.
fn status(rig: &Rig, id: &str) -> Value {
    let record = rig.ok("query.record", json!({"id": id}));
    let status = record["state"]["status"].clone();
    assert!(status.is_object(), "{record}");
    status
}

fn processes(result: &Value) -> Vec<(String, String, String)> {
    result["follow_ups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["process"].as_str().unwrap().to_owned(),
                f["number"].as_str().unwrap_or("").to_owned(),
                f["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// INC0000001 (parent) and INC0000002 (child), both in progress.
fn family(rig: &Rig) -> String {
    let parent = rig.ok(
        "incident.open",
        by(&desk(), open_params("VPN gateway down")),
    );
    rig.ok("incident.open", by(&desk(), open_params("cannot connect")));
    for n in ["INC0000001", "INC0000002"] {
        rig.ok(
            "incident.assign",
            by(
                &eve(),
                json!({"id": n, "group": "network", "assignee": "eve.network"}),
            ),
        );
    }
    rig.ok(
        "incident.link_parent",
        by(&eve(), json!({"id": "INC0000002", "parent": "INC0000001"})),
    );
    parent["record"]["id"].as_str().unwrap().to_owned()
}

#[test]
fn a_parent_on_hold_holds_its_child_and_its_resumption_resumes_it() {
    let rig = Rig::memory();
    let parent_id = family(&rig);
    let held = rig.ok(
        "incident.put_on_hold",
        by(
            &eve(),
            json!({"id": "INC0000001", "reason": {"kind": "awaiting_vendor"}}),
        ),
    );
    assert!(
        processes(&held).contains(&(
            "parent_hold".to_owned(),
            "INC0000002".to_owned(),
            "applied".to_owned()
        )),
        "{held}"
    );
    assert_eq!(
        status(&rig, "INC0000002"),
        json!({"status": "on_hold", "reason": {"kind": "awaiting_parent", "parent": parent_id}})
    );
    let resumed = rig.ok("incident.resume", by(&eve(), json!({"id": "INC0000001"})));
    assert!(
        processes(&resumed).contains(&(
            "parent_resume".to_owned(),
            "INC0000002".to_owned(),
            "applied".to_owned()
        )),
        "{resumed}"
    );
    assert_eq!(status(&rig, "INC0000002"), json!({"status": "in_progress"}));

    // A hold awaiting an incident that is not the parent is refused, nothing written.
    rig.ok("incident.open", by(&desk(), open_params("a stranger")));
    let head = rig.head();
    let refused = rig.err(
        "incident.put_on_hold",
        by(
            &eve(),
            json!({"id": "INC0000002", "reason": {"kind": "awaiting_parent", "parent": "INC0000003"}}),
        ),
    );
    assert_eq!(domain_code(&refused), "validation", "{refused}");
    assert_eq!(rig.head(), head);
}

#[test]
fn a_published_child_sync_ignore_leaves_children_as_they_are() {
    let rig = Rig::memory();
    family(&rig);
    let document = "[incident.child_sync]\non_hold = \"ignore\"\n";
    let published = rig.ok(
        "policy.publish",
        json!({"document": document, "actor": root()}),
    );
    assert_eq!(published["changed"], true, "{published}");
    let policy = rig.ok("policy.get", json!({}));
    let text = policy.to_string();
    assert!(text.contains("\"on_hold\":\"ignore\""), "{text}");
    rig.ok(
        "incident.put_on_hold",
        by(
            &eve(),
            json!({"id": "INC0000001", "reason": {"kind": "awaiting_vendor"}}),
        ),
    );
    assert_eq!(status(&rig, "INC0000002"), json!({"status": "in_progress"}));
    // A misspelt key is refused with its path, and nothing is published.
    let head = rig.head();
    let refused = rig.err(
        "policy.publish",
        json!({"document": "[incident.child_sync]\non_hold = \"sometimes\"\n", "actor": root()}),
    );
    assert!(
        refused.to_string().contains("incident.child_sync.on_hold"),
        "{refused}"
    );
    assert_eq!(rig.head(), head);
}

#[test]
fn link_duplicate_cancels_the_duplicate_and_its_sla_clocks() {
    let rig = Rig::memory();
    let original = rig.ok("incident.open", by(&desk(), open_params("mail down")));
    rig.ok(
        "incident.open",
        by(&desk(), open_params("cannot send mail")),
    );
    let running = rig.ok("query.sla", json!({"id": "INC0000002"}));
    assert!(
        running
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["state"]["state"] == "running"),
        "{running}"
    );
    rig.advance(10);
    let linked = rig.ok(
        "incident.link_duplicate",
        by(
            &eve(),
            json!({"id": "INC0000001", "duplicate": "INC0000002"}),
        ),
    );
    assert!(
        processes(&linked).contains(&(
            "duplicate_cancel".to_owned(),
            "INC0000002".to_owned(),
            "applied".to_owned()
        )),
        "{linked}"
    );
    assert_eq!(
        status(&rig, "INC0000002"),
        json!({"status": "canceled", "reason": {"kind": "duplicate", "of": original["record"]["id"]}})
    );
    let clocks = rig.ok("query.sla", json!({"id": "INC0000002"}));
    assert_eq!(clocks.as_array().unwrap().len(), 2, "{clocks}");
    for clock in clocks.as_array().unwrap() {
        assert_eq!(clock["state"]["state"], "canceled", "{clock}");
    }
    // The original is untouched and still open.
    assert_eq!(status(&rig, "INC0000001"), json!({"status": "new"}));
}
