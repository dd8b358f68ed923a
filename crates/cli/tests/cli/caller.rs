//! The caller's channel through the binary: `incident.add_comment` with `--actor/--role
//! caller` on a data directory, and a tokens file granting the `caller` role to an end user
//! who then reads only their own incidents over HTTP.

use crate::common::*;
use serde_json::{Value, json};

const CAROL_CALLER_TOKEN: &str = "carol-the-caller-token-0123456789";
const SAM_AGENT_TOKEN: &str = "sam-the-agent-token-012345678901";

fn open(data: &str, title: &str, caller: &str) -> Value {
    call_ok(
        &["--data", data, "--actor", "sam", "--role", "agent"],
        "incident.open",
        json!({"title": title, "caller": caller, "impact": "low", "urgency": "low"}),
    )
}

#[test]
fn a_caller_comments_from_the_command_line_and_a_stranger_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = s(&data);
    open(data, "VPN drops", "carol");
    let done = call_ok(
        &["--data", data, "--actor", "carol", "--role", "caller"],
        "incident.add_comment",
        json!({"id": "INC0000001", "text": "It drops every 10 minutes"}),
    );
    assert_eq!(done["events"][0]["event_type"], "incident.comment_added");
    let params = json!({"id": "INC0000001", "text": "me too"}).to_string();
    let refused = run(&[
        "call",
        "--data",
        data,
        "--actor",
        "dave",
        "--role",
        "caller",
        "incident.add_comment",
        &params,
    ]);
    assert_exit(&refused, 1);
    assert!(
        stderr(&refused).contains("forbidden"),
        "{}",
        stderr(&refused)
    );
    let timeline = call_ok(
        &["--data", data],
        "query.timeline",
        json!({"id": "INC0000001"}),
    );
    let last = timeline["entries"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["event_type"], "incident.comment_added");
    assert_eq!(last["visibility"], "public");
}

#[test]
fn a_tokens_file_grants_the_caller_role_and_scopes_its_reads() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let tokens = dir.path().join("tokens.json");
    std::fs::write(
        &tokens,
        json!({
            CAROL_CALLER_TOKEN: {"actor": "carol", "roles": ["caller"]},
            SAM_AGENT_TOKEN: {"actor": "sam", "roles": ["agent"]},
        })
        .to_string(),
    )
    .unwrap();
    let server = Server::start(&data, &["--token-file", s(&tokens)]);
    let open = |title: &str, caller: &str| {
        server.rpc(
            "incident.open",
            json!({"title": title, "caller": caller, "impact": "low", "urgency": "low"}),
            Some(SAM_AGENT_TOKEN),
        )
    };
    open("VPN drops", "carol");
    open("Mail bounces", "dave");
    server.rpc(
        "incident.add_work_note",
        json!({"id": "INC0000001", "text": "internal: gateway logs"}),
        Some(SAM_AGENT_TOKEN),
    );
    server.rpc(
        "incident.add_comment",
        json!({"id": "INC0000001", "text": "Thanks, we are on it"}),
        Some(SAM_AGENT_TOKEN),
    );
    let own = server.rpc(
        "query.timeline",
        json!({"id": "INC0000001"}),
        Some(CAROL_CALLER_TOKEN),
    );
    let types: Vec<&str> = own["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["incident.opened", "incident.comment_added"]);
    let queue = server.rpc(
        "query.queue",
        json!({"kind": "incident"}),
        Some(CAROL_CALLER_TOKEN),
    );
    assert_eq!(queue["items"].as_array().unwrap().len(), 1, "{queue}");
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "query.record",
                      "params": {"id": "INC0000002"}});
    let (status, text) = server.post(body.to_string(), Some(CAROL_CALLER_TOKEN));
    assert_eq!(status, 200);
    let reply: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        reply["error"]["data"]["domain_code"], "forbidden",
        "{reply}"
    );
    let (status, _) = server.stop();
    assert!(status.success());
}
