//! Several `opsledger serve` replicas on one PostgreSQL database (`--store`): a write on one is
//! read on the other at once, commands go to either, and the log they share stays dense. Runs
//! on the server named by `OPSLEDGER_PG_URL`, in a schema of its own.

use crate::common::*;
use opsledger_store_postgres::testing::{TestSchema, test_url};
use serde_json::{Value, json};

fn events(server: &Server) -> Vec<Value> {
    let page = server.rpc(
        "events.read",
        json!({"after": 0, "max": 1000}),
        Some(ALICE_TOKEN),
    );
    page.get("events")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_else(|| panic!("events.read answered {page}"))
}

#[test]
fn two_replicas_serve_the_walk_through_interchangeably() {
    let Some(url) = test_url() else { return };
    let schema = TestSchema::new(&url, "replicas");
    let separator = if url.contains('?') { '&' } else { '?' };
    let store = format!("{url}{separator}schema={}", schema.name);
    let dir = tempfile::tempdir().unwrap();
    let tokens = write_tokens(dir.path());
    let policy = write(dir.path(), "policy.toml", &p1_policy("4h", 1));
    let args = [
        "--token-file",
        tokens.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ];
    let a = Server::start_store(&store, &args);
    // The second replica finds the policy in force: it publishes nothing.
    let b = Server::start_store(&store, &args);

    let opened = a.rpc(
        "incident.open",
        json!({"title": "Checkout fails with HTTP 500", "caller": "bob", "impact": "high",
               "urgency": "high", "assignee": "alice"}),
        Some(ALICE_TOKEN),
    );
    assert_eq!(opened["number"], "INC0000001", "{opened}");
    // Read on the other replica at once: the read models committed with the events.
    let record = b.rpc(
        "query.record",
        json!({"id": "INC0000001"}),
        Some(ALICE_TOKEN),
    );
    assert_eq!(record["number"], "INC0000001", "{record}");
    let clocks = b.rpc("query.sla", json!({"id": "INC0000001"}), Some(ALICE_TOKEN));
    assert!(
        clocks.as_array().is_some_and(|c| !c.is_empty()),
        "the P1 clock is attached: {clocks}"
    );
    b.rpc(
        "incident.resolve",
        json!({"id": "INC0000001", "code": "solved_workaround", "notes": "Rolled back the release"}),
        Some(ALICE_TOKEN),
    );
    // The first replica decides on the second one's write (its cache is not the truth).
    a.rpc(
        "incident.reopen",
        json!({"id": "INC0000001", "reason": "still failing"}),
        Some(ALICE_TOKEN),
    );
    let second = b.rpc(
        "incident.open",
        json!({"title": "Search is slow", "caller": "bob", "impact": "low", "urgency": "low"}),
        Some(ALICE_TOKEN),
    );
    assert_eq!(
        second["number"], "INC0000002",
        "numbers are allocated across replicas"
    );

    let (on_a, on_b) = (events(&a), events(&b));
    assert_eq!(on_a, on_b, "both replicas read one log");
    let positions: Vec<u64> = on_a.iter().filter_map(|e| e["position"].as_u64()).collect();
    assert_eq!(positions, (1..=positions.len() as u64).collect::<Vec<_>>());
    let types: Vec<&str> = on_a
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert_eq!(
        types.iter().filter(|t| **t == "policy.published").count(),
        1,
        "one policy version for both replicas: {types:?}"
    );
    for wanted in ["incident.opened", "incident.resolved", "incident.reopened"] {
        assert!(types.contains(&wanted), "{wanted} in {types:?}");
    }
    let (status, _) = a.stop();
    assert!(status.success());
    let (status, _) = b.stop();
    assert!(status.success());
}
