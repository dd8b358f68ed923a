//! Webhooks through the binary: `serve` runs the delivery worker; killed with SIGKILL while
//! the receiver holds a request, restarted on the same data, it carries on with the same
//! delivery: one attempt sequence, one delivery id, the interrupted attempt counted.

use crate::common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

const MIA_TOKEN: &str = "mia-token-0123456789abcdef";

fn tokens(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("tokens.json");
    std::fs::write(
        &path,
        json!({MIA_TOKEN: {"actor": "mia", "roles": ["manager", "agent"]}}).to_string(),
    )
    .expect("tokens");
    path
}

/// One request as received: its headers (lower-case names).
type Headers = Vec<(String, String)>;

fn read_request(stream: &TcpStream) -> Option<Headers> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 || line == "\r\n" {
            break;
        }
        if let Some((n, v)) = line.trim_end().split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let len: usize = header(&headers, "content-length").parse().unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(headers)
}

fn header(headers: &Headers, name: &str) -> String {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// A receiver that never answers the first request (it holds it) and answers 200 to the
/// others; every request's headers go to the channel.
fn holding_receiver(listener: TcpListener, seen: mpsc::Sender<Headers>) {
    std::thread::spawn(move || {
        let mut first = true;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let Some(headers) = read_request(&stream) else {
                continue;
            };
            let _ = seen.send(headers);
            if first {
                first = false;
                // Held: the connection stays open until the server dies.
                std::thread::spawn(move || {
                    let mut sink = [0u8; 64];
                    let _ = stream.read(&mut sink);
                });
                continue;
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
}

#[test]
fn kill_9_mid_delivery_then_restart_keeps_one_attempt_sequence() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let tokens = tokens(dir.path());
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    holding_receiver(listener, tx);
    let args = [
        "--token-file",
        tokens.to_str().expect("utf-8"),
        "--webhook-poll-ms",
        "50",
        "--webhook-timeout-ms",
        "3000",
        "--webhook-first-delay-ms",
        "100",
    ];
    let server = Server::start(&data, &args);
    let created = server.rpc(
        "webhook.create",
        json!({"url": format!("http://127.0.0.1:{port}/hook"),
               "filter": {"event_types": ["incident.opened"]}}),
        Some(MIA_TOKEN),
    );
    let secret = created["secret"].as_str().expect("secret").to_owned();
    let listed = server.rpc("webhook.list", json!({}), Some(MIA_TOKEN));
    assert!(!listed.to_string().contains(&secret), "{listed}");
    server.rpc(
        "incident.open",
        json!({"title": "Checkout down", "caller": "bob", "impact": "high", "urgency": "high"}),
        Some(MIA_TOKEN),
    );
    // The worker sends attempt 1; the receiver holds it; the server dies mid-request.
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("attempt 1 arrives");
    assert_eq!(header(&first, "opsledger-attempt"), "1");
    let _log = server.kill9();

    // Restarted on the same data: once the attempt's lease (4 s) ran out, attempt 2 follows,
    // the same delivery.
    let server = Server::start(&data, &args);
    let second = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("attempt 2 arrives");
    let delivery = header(&first, "opsledger-delivery");
    assert!(!delivery.is_empty());
    assert_eq!(header(&second, "opsledger-delivery"), delivery);
    assert_eq!(header(&second, "opsledger-attempt"), "2");
    assert_eq!(header(&second, "opsledger-sequence"), "1");
    assert_eq!(header(&second, "opsledger-event"), "incident.opened");
    // Nothing else comes: one sequence per event.
    assert!(rx.recv_timeout(Duration::from_millis(700)).is_err());
    let deliveries = server.rpc("webhook.deliveries", json!({}), Some(MIA_TOKEN));
    let all = deliveries.as_array().expect("array");
    assert_eq!(all.len(), 1, "{deliveries}");
    assert_eq!(all[0]["id"], Value::String(delivery));
    assert_eq!(all[0]["status"], "succeeded");
    assert_eq!(all[0]["total_attempts"], 2);
    // The secret is in the log but no event shows it.
    let events = server.rpc(
        "events.read",
        json!({"after": 0, "max": 1000}),
        Some(MIA_TOKEN),
    );
    assert!(!events.to_string().contains(&secret));
    assert!(events.to_string().contains("[redacted]"));
    let (status, _) = server.stop();
    assert!(status.success());
}

#[test]
fn bad_webhooks_over_http_are_typed_errors() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let tokens = tokens(dir.path());
    let server = Server::start(&data, &["--token-file", tokens.to_str().expect("utf-8")]);
    let head = |s: &Server| s.rpc("query.stats", json!({}), Some(MIA_TOKEN))["head"].clone();
    let before = head(&server);
    for (params, code) in [
        (json!({"url": "file:///etc/passwd"}), "unsafe_webhook_url"),
        (
            json!({"url": "http://169.254.169.254/latest/meta-data"}),
            "unsafe_webhook_url",
        ),
        (
            json!({"url": "https://x.example/", "filter": {"event_types": ["nope.nope"]}}),
            "unknown_event_type",
        ),
        (
            json!({"url": "https://x.example/", "template": "x".repeat(5000)}),
            "limit_exceeded",
        ),
    ] {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "webhook.create", "params": params});
        let (_, text) = server.post(body.to_string(), Some(MIA_TOKEN));
        let reply: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(reply["error"]["data"]["domain_code"], code, "{reply}");
    }
    assert_eq!(head(&server), before, "nothing written");
    server.stop();
}
