//! The engine over HTTP, end to end: `transport::HttpServer` with bearer tokens on
//! 127.0.0.1:0, `POST /rpc` through the API, `GET /events` fed by `EngineEvents`. Separation
//! of duties holds end to end, and a client can neither act as someone else nor claim a role
//! its token lacks.

use crate::common::*;
use chrono::Duration;
use opsledger_rpc::api::{self, EngineEvents};
use opsledger_rpc::transport::{EventSource, HttpConfig, HttpServer, TokenStore};
use opsledger_rpc::{Identity, Limits};
use serde_json::{Value, json};
use std::sync::Arc;

const RITA: &str = "rita-requests-changes-0123456789";
const CORA: &str = "cora-sits-on-the-cab-0123456789";
const DESK: &str = "sam-works-the-desk-012345678901";

struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
    /// Calls `method` with `token`: the result, or the error object.
    async fn call(&self, token: &str, method: &str, params: Value) -> Result<Value, Value> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let reply = self
            .http
            .post(format!("{}/rpc", self.url))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        let mut v: Value = serde_json::from_str(&reply.text().await.unwrap()).unwrap();
        match v.get("error") {
            Some(e) => Err(e.clone()),
            None => Ok(v["result"].take()),
        }
    }
}

/// Reads `n` server-sent events: `(id, data)`.
async fn read_events(response: &mut reqwest::Response, n: usize) -> Vec<(u64, Value)> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while events.len() < n {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("events arrive in time")
            .unwrap()
            .expect("stream open");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut id = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().parse::<u64>().unwrap());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if let Some(id) = id {
                events.push((id, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separation_of_duties_and_identity_hold_over_http_and_events_stream() {
    let rig = Rig::memory();
    let engine = rig.engine.clone();
    let mut tokens = TokenStore::new();
    tokens
        .insert(RITA, Identity::new("rita", ["change_manager"]))
        .unwrap();
    tokens
        .insert(CORA, Identity::new("cora", ["cab_member"]))
        .unwrap();
    tokens
        .insert(DESK, Identity::new("sam", ["agent"]))
        .unwrap();
    let config = HttpConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tokens,
        event_poll_timeout: std::time::Duration::from_millis(100),
        shutdown_grace: std::time::Duration::from_secs(2),
        ..HttpConfig::default()
    };
    let dispatcher = Arc::new(api::dispatcher(engine.clone(), Limits::default()));
    let events: Arc<dyn EventSource> = Arc::new(EngineEvents::new(engine.clone()));
    let server = HttpServer::bind(dispatcher, Some(events), config)
        .await
        .unwrap();
    let url = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .unwrap(),
        url: url.clone(),
    };

    // Rita (the token's identity) requests and prepares a change.
    let requested = client
        .call(
            RITA,
            "change.request",
            json!({"title": "Rotate TLS certificates", "change_type": {"kind": "normal"},
                   "risk": "low", "cis": ["lb-1"], "implementation_plan": "Swap", "backout_plan": "Swap back"}),
        )
        .await
        .unwrap();
    assert_eq!(requested["number"], "CHG0000001");
    assert_eq!(requested["events"][0]["actor"], "rita");
    let window =
        json!({"start": start() + Duration::hours(30), "end": start() + Duration::hours(31)});
    for (method, params) in [
        ("change.plan", json!({"id": "CHG0000001", "window": window})),
        ("change.submit", json!({"id": "CHG0000001"})),
        ("change.request_authorization", json!({"id": "CHG0000001"})),
    ] {
        client.call(RITA, method, params).await.unwrap();
    }
    let head = engine.head().unwrap();

    // The requester cannot approve her own change, although her role may approve.
    let e = client
        .call(RITA, "change.approve", json!({"id": "CHG0000001"}))
        .await
        .unwrap_err();
    assert_eq!(code(&e), -32008, "{e}");
    assert_eq!(domain_code(&e), "separation_of_duties");
    // Nor act as the approver by naming her in the params.
    let e = client
        .call(
            RITA,
            "change.approve",
            json!({"id": "CHG0000001", "actor": {"id": "cora", "roles": ["cab_member"]}}),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&e), -32097, "{e}");
    // A client cannot claim a role its token lacks.
    let e = client
        .call(
            DESK,
            "change.approve",
            json!({"id": "CHG0000001", "actor": {"id": "sam", "roles": ["cab_member"]}}),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&e), -32097, "{e}");
    let e = client
        .call(DESK, "change.approve", json!({"id": "CHG0000001"}))
        .await
        .unwrap_err();
    assert_eq!(code(&e), -32005, "{e}");
    assert_eq!(domain_code(&e), "forbidden");
    // Nor call the admin methods.
    let e = client
        .call(DESK, "admin.verify", json!({}))
        .await
        .unwrap_err();
    assert_eq!(domain_code(&e), "forbidden");
    assert_eq!(engine.head().unwrap(), head, "refused calls write nothing");

    // The CAB member approves.
    let approved = client
        .call(
            CORA,
            "change.approve",
            json!({"id": "CHG0000001", "comment": "ok"}),
        )
        .await
        .unwrap();
    assert_eq!(approved["events"][0]["actor"], "cora");

    // Reads need a token too (the server has tokens), and work with any.
    let record = client
        .call(DESK, "query.record", json!({"id": "CHG0000001"}))
        .await
        .unwrap();
    assert_eq!(record["view"]["status"]["status"], "scheduled");
    let unauthenticated = client
        .http
        .post(format!("{url}/rpc"))
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"query.stats"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);

    // GET /events: the whole log from position 1, then live.
    let head = engine.head().unwrap();
    let mut stream = client
        .http
        .get(format!("{url}/events?from=1"))
        .bearer_auth(DESK)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let stored = read_events(&mut stream, head as usize).await;
    assert_eq!(
        stored.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        (1..=head).collect::<Vec<_>>()
    );
    for (id, data) in &stored {
        assert_eq!(data["position"], *id);
    }
    let via_rpc = client
        .call(DESK, "events.read", json!({"after": 0, "max": 1000}))
        .await
        .unwrap();
    let via_sse: Vec<Value> = stored.iter().map(|(_, d)| d.clone()).collect();
    assert_eq!(via_rpc["events"], json!(via_sse));
    client
        .call(DESK, "incident.open", open_params("Seen live"))
        .await
        .unwrap();
    let written = (engine.head().unwrap() - head) as usize;
    let live = read_events(&mut stream, written).await;
    assert_eq!(live[0].0, head + 1);
    let opened = live
        .iter()
        .find(|(_, e)| e["event_type"] == "incident.opened")
        .expect("the opening event streams live");
    assert_eq!(opened.1["actor"], "sam");
    drop(stream);

    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}
