//! The README's walk-through, through the binary: `serve --policy` over HTTP with
//! `call --url` and `GET /events`, and the same story with `call --data`.

use crate::common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};

const KPI_WINDOW: &str =
    r#"{"query": {"window": {"start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"}}}"#;

fn open_params() -> Value {
    json!({
        "title": "Checkout fails with HTTP 500",
        "caller": "bob",
        "impact": "high",
        "urgency": "high",
        "service": "payments",
        "group": "web-oncall"
    })
}

/// Reads `GET /events?from=1` until the event at `head` arrived; returns (position, event).
fn read_events(server: &Server, token: &str, head: u64) -> Vec<(u64, Value)> {
    let response = client()
        .get(server.url("/events?from=1"))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut events = Vec::new();
    let mut id = None;
    for line in BufReader::new(response).lines() {
        let line = line.unwrap();
        if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().parse::<u64>().unwrap());
        } else if let Some(data) = line.strip_prefix("data:") {
            let position = id.take().expect("id before data");
            events.push((position, serde_json::from_str(data.trim()).unwrap()));
            if position == head {
                break;
            }
        }
    }
    events
}

#[test]
fn the_readme_story_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = write_tokens(dir.path());
    // The README serves the example policy.
    let policy =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy/policy.toml");
    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--token-file",
            tokens.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
        ],
    );
    let url = server.base();
    let at = ["--url", url.as_str(), "--token", ALICE_TOKEN];

    let opened = call_ok(&at, "incident.open", open_params());
    assert_eq!(opened["number"], "INC0000001");
    // The policy served puts live SLA clocks on the P1 incident.
    let sla = call_ok(&at, "query.sla", json!({"id": "INC0000001"}));
    let resolution = sla
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["metric"] == "resolution")
        .unwrap_or_else(|| panic!("no resolution clock: {sla}"));
    assert_eq!(
        resolution["definition"],
        json!({"id": "p1-resolution", "version": 2})
    );
    assert_eq!(resolution["state"]["state"], "running", "{sla}");
    assert_eq!(resolution["target"], json!([4 * 3600, 0]), "{sla}");
    call_ok(
        &at,
        "incident.assign",
        json!({"id": "INC0000001", "group": "web-oncall", "assignee": "alice"}),
    );
    let resolved = call_ok(
        &at,
        "incident.resolve",
        json!({"id": "INC0000001", "code": "solved_workaround", "notes": "Rolled back the release"}),
    );
    assert_eq!(resolved["events"][0]["event_type"], "incident.resolved");
    assert_eq!(
        resolved["events"][0]["actor"], "alice",
        "the token decides who acts"
    );

    // The token is also read from the environment.
    let o = std::process::Command::new(BIN)
        .args([
            "call",
            "--url",
            &url,
            "query.record",
            r#"{"id": "INC0000001"}"#,
        ])
        .env("OPSLEDGER_TOKEN", ALICE_TOKEN)
        .output()
        .unwrap();
    assert_exit(&o, 0);
    let record: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(record["state"]["status"]["status"], "resolved", "{record}");

    // An actor named in the params is refused over HTTP (-32097), and a domain refusal is a
    // JSON-RPC error: exit 1, the error object on stderr.
    let mut args = vec!["call"];
    args.extend_from_slice(&at);
    let mut claim = open_params();
    claim["actor"] = json!({"id": "mallory", "roles": ["admin"]});
    let claim = claim.to_string();
    let o = run(&[&args[..], &["incident.open", claim.as_str()]].concat());
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("-32097"), "{}", stderr(&o));
    let o = run(&[&args[..], &["incident.close", r#"{"id": "INC0000042"}"#]].concat());
    assert_exit(&o, 1);
    let error: Value = serde_json::from_str(&stderr(&o)).unwrap();
    assert_eq!(error["data"]["domain_code"], "not_found", "{error}");

    // The event stream, from the beginning.
    let stats = call_ok(&at, "events.read", json!({"after": 0, "max": 1000}));
    let head = stats["head"].as_u64().unwrap();
    let events = read_events(&server, ALICE_TOKEN, head);
    let positions: Vec<u64> = events.iter().map(|(p, _)| *p).collect();
    assert_eq!(positions, (1..=head).collect::<Vec<_>>());
    let types: Vec<&str> = events
        .iter()
        .filter_map(|(_, e)| e["event_type"].as_str())
        .collect();
    for t in ["incident.opened", "incident.assigned", "incident.resolved"] {
        assert!(types.contains(&t), "{t} not in {types:?}");
    }

    // KPIs: one incident resolved, MTTR over one sample.
    let kpis = call_ok(&at, "query.kpis", serde_json::from_str(KPI_WINDOW).unwrap());
    assert_eq!(kpis["groups"][0]["mttr"]["count"], 1, "{kpis}");
    assert_eq!(kpis["groups"][0]["backlog"]["size"], 0, "{kpis}");

    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}\n{log}");
    assert!(
        log.contains(&format!("policy v1 published from {}", policy.display())),
        "{log}"
    );
    // Closed cleanly: the offline tools can read what the server wrote.
    let exported = ok(&[
        "export",
        "--data",
        dir.path().join("data").to_str().unwrap(),
    ]);
    assert_eq!(exported.lines().count() as u64, head);
    assert!(
        ok(&[
            "verify",
            "--data",
            dir.path().join("data").to_str().unwrap()
        ])
        .contains("verify: OK")
    );
}

#[test]
fn the_readme_story_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let at = ["--data", d, "--actor", "alice", "--role", "agent"];
    let opened = call_ok(&at, "incident.open", open_params());
    assert_eq!(opened["number"], "INC0000001");
    call_ok(
        &at,
        "incident.assign",
        json!({"id": "INC0000001", "group": "web-oncall", "assignee": "alice"}),
    );
    call_ok(
        &at,
        "incident.resolve",
        json!({"id": "INC0000001", "code": "solved_workaround", "notes": "Rolled back the release"}),
    );
    // An actor in the params wins over --actor.
    let mut by_bob = open_params();
    by_bob["actor"] = json!({"id": "bob", "roles": ["agent"]});
    let second = call_ok(&at, "incident.open", by_bob);
    assert_eq!(second["events"][0]["actor"], "bob");
    // Without an actor a command is refused (-32098), and nothing is written.
    let before = call_ok(&["--data", d], "events.read", json!({"max": 1000}))["head"].clone();
    let o = run(&[
        "call",
        "--data",
        d,
        "incident.open",
        &open_params().to_string(),
    ]);
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("-32098"), "{}", stderr(&o));
    let page = call_ok(&["--data", d], "events.read", json!({"max": 1000}));
    assert_eq!(page["head"], before);

    let kpis = call_ok(
        &["--data", d],
        "query.kpis",
        serde_json::from_str(KPI_WINDOW).unwrap(),
    );
    assert_eq!(kpis["groups"][0]["mttr"]["count"], 1, "{kpis}");
    assert_eq!(kpis["groups"][0]["backlog"]["size"], 1, "{kpis}");
    let table = ok(&["kpi", "--data", d]);
    assert!(table.contains("MTTR (resolve)"), "{table}");
    // rpc.discover lists the engine's methods.
    let doc = call_ok(&["--data", d], "rpc.discover", json!({}));
    let names: Vec<&str> = doc["methods"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    for m in [
        "incident.open",
        "change.approve",
        "query.kpis",
        "events.read",
        "admin.tick",
    ] {
        assert!(names.contains(&m), "{m}");
    }
}

#[test]
fn a_call_that_cannot_succeed_creates_no_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("never");
    let d = data.to_str().unwrap();
    let o = run(&["call", "--data", d, "incident.explode"]);
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("-32601"), "{}", stderr(&o));
    let doc = call_ok(&["--data", d], "rpc.discover", json!({}));
    assert_eq!(doc["info"]["title"], "opsledger");
    assert!(!data.exists());
}

#[test]
fn serve_over_stdio_runs_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = StdioServer::start(&data, &[]);
    let mut open = open_params();
    open["actor"] = json!({"id": "alice", "roles": ["agent"]});
    let reply: Value = serde_json::from_str(&server.call(
        &json!({"jsonrpc": "2.0", "method": "incident.open", "params": open, "id": 1}).to_string(),
    ))
    .unwrap();
    assert_eq!(reply["result"]["number"], "INC0000001", "{reply}");
    assert!(server.finish().success());
    // The engine was flushed and closed at end of input.
    let v = ok(&["verify", "--data", data.to_str().unwrap()]);
    assert!(v.contains("verify: OK"), "{v}");
}

#[test]
fn sigterm_on_stdio_flushes_and_closes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = StdioServer::start(&data, &[]);
    let mut open = open_params();
    open["actor"] = json!({"id": "alice", "roles": ["agent"]});
    let reply = server.call(
        &json!({"jsonrpc": "2.0", "method": "incident.open", "params": open, "id": 1}).to_string(),
    );
    assert!(reply.contains("INC0000001"), "{reply}");
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    let exported = ok(&["export", "--data", data.to_str().unwrap()]);
    assert!(exported.contains("incident.opened"), "{exported}");
}

#[test]
fn the_binary_speaks_wire_version_0_2() {
    let o = run(&["--version"]);
    assert_exit(&o, 0);
    let api = format!("(JSON-RPC API {})", opsledger_rpc::api::API_VERSION);
    assert!(stdout(&o).contains(&api), "{}", stdout(&o));

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let at = ["--data", d, "--actor", "alice", "--role", "agent"];
    call_ok(&at, "incident.open", open_params());
    // Numbers are strings in queue items too, and go back in as they came out.
    let queue = call_ok(&at, "query.queue", json!({"kind": "incident"}));
    let number = queue["items"][0]["number"].clone();
    assert_eq!(number, json!("INC0000001"), "{queue}");
    call_ok(&at, "query.record", json!({"id": number}));
    // A misspelt method: the nearest name.
    let o = run(&[&["call"][..], &at, &["incident.opne", "{}"]].concat());
    assert_exit(&o, 1);
    let error: Value = serde_json::from_str(&stderr(&o)).unwrap();
    assert_eq!(error["data"]["did_you_mean"], "incident.open", "{error}");
    // A nested unknown key and a duplicate key: refused at their path, nothing written.
    let before = call_ok(&["--data", d], "query.stats", json!({}))["head"].clone();
    for (params, path) in [
        (
            r#"{"query": {"window": {"start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"}, "grup_by": "priority"}}"#,
            "query.grup_by",
        ),
        (
            r#"{"query": {"window": {"start": "2026-01-01T00:00:00Z", "start": "2026-01-02T00:00:00Z", "end": "2026-02-01T00:00:00Z"}}}"#,
            "query.window.start",
        ),
    ] {
        let o = run(&["call", "--data", d, "query.kpis", params]);
        assert_exit(&o, 1);
        let error: Value = serde_json::from_str(&stderr(&o)).unwrap();
        assert_eq!(error["data"]["path"], path, "{error}");
    }
    assert_eq!(
        call_ok(&["--data", d], "query.stats", json!({}))["head"],
        before
    );
}
