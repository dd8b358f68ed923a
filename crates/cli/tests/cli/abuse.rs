//! Hostile or broken input against the real server: clear errors, no crash, nothing written.

use crate::common::*;
use serde_json::{Value, json};

fn error_code(body: &str) -> i64 {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("no error: {body}"))
}

/// Every event as exported (the server must be stopped first).
fn exported(data: &std::path::Path) -> String {
    ok(&["export", "--data", data.to_str().unwrap()])
}

/// The event types of an export, in log order.
fn event_types(exported: &str) -> Vec<String> {
    exported
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["event_type"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn hostile_requests_are_answered_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    call_ok(
        &["--data", d, "--actor", "alice", "--role", "agent"],
        "incident.open",
        json!({"title": "Disk full", "caller": "bob", "impact": "low", "urgency": "low"}),
    );
    let before = exported(&data);
    assert_eq!(
        event_types(&before),
        ["policy.published", "number.allocated", "incident.opened"],
        "{before}"
    );
    let logged = before.lines().count() as u64;
    let server = Server::start(&data, &["--max-body", "65536"]);
    let head = || {
        let (status, body) = server.post(
            r#"{"jsonrpc":"2.0","method":"events.read","params":{"max":1000},"id":9}"#,
            None,
        );
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()["result"]["head"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(head(), logged);
    let discover = || server.post(r#"{"jsonrpc":"2.0","method":"rpc.discover","id":0}"#, None);
    assert_eq!(discover().0, 200);

    // Invalid JSON.
    let (status, body) = server.post(
        r#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar"#,
        None,
    );
    assert_eq!((status, error_code(&body)), (200, -32700), "{body}");
    // Not a request.
    let (status, body) = server.post(r#"{"jsonrpc": "2.0", "method": 1}"#, None);
    assert_eq!((status, error_code(&body)), (200, -32600), "{body}");
    // Unknown method.
    let (status, body) = server.post(
        r#"{"jsonrpc":"2.0","method":"incident.explode","id":1}"#,
        None,
    );
    assert_eq!((status, error_code(&body)), (200, -32601), "{body}");
    // Deep nesting: refused before parsing.
    let deep = format!(
        r#"{{"jsonrpc":"2.0","method":"query.stats","params":{{"x":{}{}}},"id":1}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let (status, body) = server.post(deep, None);
    assert_eq!((status, error_code(&body)), (200, -32099), "{body}");
    // A body over --max-body: 413 from the transport.
    let huge = format!(
        r#"{{"jsonrpc":"2.0","method":"query.stats","params":{{"pad":"{}"}},"id":1}}"#,
        "x".repeat(200_000)
    );
    let (status, _) = server.post(huge.clone(), None);
    assert_eq!(status, 413);
    // One keep-alive client: after a 413 (the rest of the body unread) the server closes the
    // connection and says so, and the client's next request goes through on a new one.
    let keep_alive = client();
    for _ in 0..3 {
        let resp = keep_alive
            .post(server.url("/rpc"))
            .header("content-type", "application/json")
            .body(huge.clone())
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 413);
        assert_eq!(resp.headers()["connection"], "close");
        let resp = keep_alive
            .post(server.url("/rpc"))
            .header("content-type", "application/json")
            .body(r#"{"jsonrpc":"2.0","method":"rpc.discover","id":0}"#)
            .send()
            .expect("the request after a 413 goes through");
        assert_eq!(resp.status().as_u16(), 200);
    }
    // A batch over the batch limit.
    let batch: Vec<Value> = (0..500)
        .map(|i| json!({"jsonrpc":"2.0","method":"rpc.discover","id":i}))
        .collect();
    let (status, body) = server.post(Value::Array(batch).to_string(), None);
    assert_eq!((status, error_code(&body)), (200, -32099), "{body}");
    // Invalid UTF-8.
    let resp = client()
        .post(server.url("/rpc"))
        .header("content-type", "application/json")
        .body(vec![b'{', 0xff, 0xfe, b'}'])
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(error_code(&resp.text().unwrap()), -32700);
    // Wrong content type, wrong HTTP method, unknown path.
    let resp = client()
        .post(server.url("/rpc"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);
    assert_eq!(
        client()
            .get(server.url("/rpc"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        405
    );
    assert_eq!(
        client()
            .get(server.url("/nope"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    // A truncated request (the client goes away mid-body).
    {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(&server.addr).unwrap();
        let _ = s.write_all(
            b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"jsonrpc\"",
        );
    }

    // Engine methods: params that do not fit, no identity (anonymous HTTP), an unknown record.
    let (_, body) = server.post(
        r#"{"jsonrpc":"2.0","method":"incident.open","params":{"title":7},"id":1}"#,
        None,
    );
    assert_eq!(error_code(&body), -32602, "{body}");
    let open = json!({"jsonrpc":"2.0","method":"incident.open","id":1,
        "params": {"title": "x", "caller": "bob", "impact": "low", "urgency": "low"}});
    let (_, body) = server.post(open.to_string(), None);
    assert_eq!(error_code(&body), -32098, "{body}");
    let mut claimed = open.clone();
    claimed["params"]["actor"] = json!({"id": "alice", "roles": ["agent"]});
    let (_, body) = server.post(claimed.to_string(), None);
    assert_eq!(error_code(&body), -32097, "{body}");
    let (_, body) = server.post(
        r#"{"jsonrpc":"2.0","method":"query.record","params":{"id":"INC0000099"},"id":1}"#,
        None,
    );
    assert!(body.contains("error"), "{body}");

    // Still serving, and nothing was written.
    assert_eq!(discover().0, 200);
    assert_eq!(head(), logged);
    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}\n{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(exported(&data), before, "nothing may have been written");
}

#[test]
fn bearer_tokens_are_required_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = write_tokens(dir.path());
    let server = Server::start(
        &dir.path().join("data"),
        &["--token-file", tokens.to_str().unwrap()],
    );
    let discover = r#"{"jsonrpc":"2.0","method":"rpc.discover","id":0}"#;
    let (status, _) = server.post(discover, None);
    assert_eq!(status, 401);
    let (status, _) = server.post(discover, Some("wrong-token-0123456789abcdef"));
    assert_eq!(status, 401);
    let (status, _) = server.post(discover, Some(ALICE_TOKEN));
    assert_eq!(status, 200);
    // GET /events too.
    let resp = client().get(server.url("/events")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    // The client reports a 401 as a transport failure (exit 4) with a hint.
    let base = server.base();
    let o = run(&["call", "--url", &base, "rpc.discover"]);
    assert_exit(&o, 4);
    assert!(stderr(&o).contains("401"), "{}", stderr(&o));
    let o = run(&[
        "call",
        "--url",
        &base,
        "--token",
        ALICE_TOKEN,
        "rpc.discover",
    ]);
    assert_exit(&o, 0);
    assert!(server.stop().0.success());
}

#[test]
fn a_public_address_without_tokens_is_refused_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let o = run(&[
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            listen,
        ]);
        assert_exit(&o, 2);
        assert!(stderr(&o).contains("refusing to listen"), "{}", stderr(&o));
        assert!(stderr(&o).contains("--token-file"), "{}", stderr(&o));
    }
    assert!(!data.exists(), "the data directory must not be created");
    // A bad token file is refused before anything is opened.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"short": {"actor": "x"}}"#).unwrap();
    let o = run(&[
        "serve",
        "--data",
        data.to_str().unwrap(),
        "--token-file",
        bad.to_str().unwrap(),
    ]);
    assert_exit(&o, 2);
    assert!(!data.exists());
    // So is a token granting a role the engine does not know, or the engine's own role: at
    // start, naming the token by its place and never by its value.
    for (roles, says) in [
        (r#"["agent", "service_desk"]"#, "service_desk"),
        (r#"["system"]"#, "system role"),
    ] {
        std::fs::write(
            &bad,
            format!(r#"{{"0123456789abcdef-token": {{"actor": "x", "roles": {roles}}}}}"#),
        )
        .unwrap();
        let o = run(&[
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--token-file",
            bad.to_str().unwrap(),
        ]);
        assert_exit(&o, 2);
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
        assert!(stderr(&o).contains("token #1"), "{}", stderr(&o));
        assert!(
            !stderr(&o).contains("0123456789abcdef-token"),
            "{}",
            stderr(&o)
        );
        assert!(!data.exists());
    }
}

#[test]
fn stdio_survives_garbage_and_over_long_lines() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = StdioServer::start(&data, &["--max-body", "1024"]);
    assert_eq!(error_code(&server.call("this is not json")), -32700);
    assert_eq!(error_code(&server.call(&"x".repeat(10_000))), -32099);
    assert_eq!(
        error_code(&server.call(&format!("{}{}", "[".repeat(200), "]".repeat(200)))),
        -32099
    );
    assert_eq!(
        error_code(&server.call(r#"{"jsonrpc":"2.0","method":"nope","id":1}"#)),
        -32601
    );
    let reply = server.call(r#"{"jsonrpc":"2.0","method":"rpc.discover","id":2}"#);
    assert!(reply.contains("\"openrpc\""), "{reply}");
    assert!(server.finish().success());
    // A new log holds the policy's first version, and nothing else was written.
    assert_eq!(event_types(&exported(&data)), ["policy.published"]);
}

#[test]
fn bad_command_lines_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("d");
    let d = d.to_str().unwrap();
    for args in [
        vec!["serve", "--data", d, "--max-body", "0"],
        vec!["serve", "--data", d, "--listen", "not-an-address"],
        vec!["serve", "--data", d, "--stdio", "--listen", "127.0.0.1:1"],
        vec!["call", "--data", d, "incident.open", "{not json"],
        vec!["call", "--data", d, "incident.open", "42"],
        vec![
            "call",
            "--url",
            "http://127.0.0.1:9",
            "--actor",
            "alice",
            "x",
        ],
        vec!["call", "--data", d, "--actor", "alice", "x", "[1]"],
        vec!["kpi", "--data", d, "--from", "yesterday"],
        vec!["diagram", "nothing"],
        vec!["frobnicate"],
    ] {
        let o = run(&args);
        assert_exit(&o, 2);
        assert!(!stderr(&o).is_empty(), "{args:?}: no explanation");
    }
    assert!(!dir.path().join("d").exists(), "nothing may be created");
}

#[test]
fn an_unreachable_server_is_a_transport_error() {
    let o = run(&["call", "--url", "http://127.0.0.1:9", "rpc.discover"]);
    assert_exit(&o, 4);
    assert!(stderr(&o).contains("cannot reach"), "{}", stderr(&o));
    // Said in an operator's words, with the URL, not the client library's.
    assert!(
        stderr(&o).contains("http://127.0.0.1:9/rpc: connection refused"),
        "{}",
        stderr(&o)
    );
    assert!(
        !stderr(&o).contains("error sending request"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_address_in_use_is_a_clear_error_and_leaves_no_directory() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let data = dir.path().join("data");
    let o = run(&[
        "serve",
        "--data",
        data.to_str().unwrap(),
        "--listen",
        &addr,
        "--no-scheduler",
    ]);
    assert_exit(&o, 4);
    assert!(stderr(&o).contains("cannot listen on"), "{}", stderr(&o));
    assert!(!data.exists());
}
