//! The caller's channel over JSON-RPC: `incident.add_comment`, a caller's reply resuming an
//! incident awaiting them, and an identity whose roles are only `caller`/`requester` reading
//! only its own incidents, without work notes, in process (the `actor` param) and over HTTP
//! (the bearer token), refused views across records and the event stream.

use crate::common::*;
use opsledger_rpc::api::{self, EngineEvents};
use opsledger_rpc::transport::{EventSource, HttpConfig, HttpServer, TokenStore};
use opsledger_rpc::{Identity, Limits};
use serde_json::{Value, json};
use std::sync::Arc;

const CAROL: &str = "carol-is-the-caller-0123456789";
const DAVE: &str = "dave-is-another-caller-01234567";
const DESK: &str = "sam-works-the-desk-012345678901";

fn caller(id: &str) -> Value {
    actor(id, &["caller"])
}

/// INC0000001 and INC0000002 of carol (the first with a work note and a comment, on hold
/// awaiting her), INC0000003 of dave.
fn desk_rig() -> Rig {
    let rig = Rig::memory();
    rig.ok("incident.open", by(&desk(), open_params("VPN drops")));
    rig.ok("incident.open", by(&desk(), open_params("Printer jams")));
    let mut daves = open_params("Mail bounces");
    daves["caller"] = json!("dave");
    rig.ok("incident.open", by(&desk(), daves));
    rig.ok(
        "incident.acknowledge",
        by(&desk(), json!({"id": "INC0000001"})),
    );
    rig.ok(
        "incident.add_work_note",
        by(
            &desk(),
            json!({"id": "INC0000001", "text": "gateway logs show TLS errors"}),
        ),
    );
    rig.ok(
        "incident.add_comment",
        by(
            &desk(),
            json!({"id": "INC0000001", "text": "Which client version do you run?"}),
        ),
    );
    rig.ok(
        "incident.put_on_hold",
        by(
            &desk(),
            json!({"id": "INC0000001", "reason": {"kind": "awaiting_caller"}}),
        ),
    );
    rig
}

fn entry_types(page: &Value) -> Vec<String> {
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_callers_comment_resumes_and_a_strangers_is_refused_with_nothing_written() {
    let rig = desk_rig();
    let head = rig.head();
    let e = rig.err(
        "incident.add_comment",
        by(
            &caller("dave"),
            json!({"id": "INC0000001", "text": "me too"}),
        ),
    );
    assert_eq!(domain_code(&e), "forbidden", "{e}");
    // The same refusal as for a record that does not exist: nothing about carol's incident.
    let missing = rig.err(
        "incident.add_comment",
        by(
            &caller("dave"),
            json!({"id": "INC0000099", "text": "me too"}),
        ),
    );
    assert_eq!(e["message"], missing["message"], "{e} / {missing}");
    assert_eq!(e["data"], missing["data"]);
    assert_eq!(rig.head(), head, "nothing written");
    let e = rig.err(
        "incident.add_comment",
        by(&caller("carol"), json!({"id": "INC0000001", "text": ""})),
    );
    assert_eq!(domain_code(&e), "validation", "{e}");
    assert_eq!(rig.head(), head, "nothing written");

    let done = rig.ok(
        "incident.add_comment",
        by(
            &caller("carol"),
            json!({"id": "INC0000001", "text": "Version 4.2, screenshot attached"}),
        ),
    );
    let types: Vec<&str> = done["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["incident.comment_added", "incident.resumed"]);
    let record = rig.ok("query.record", json!({"id": "INC0000001"}));
    assert_eq!(record["view"]["status"]["status"], "in_progress");
}

#[test]
fn a_caller_reads_only_their_own_incidents_without_work_notes() {
    let rig = desk_rig();
    // Everyone else sees every entry, each marked.
    let all = rig.ok("query.timeline", json!({"id": "INC0000001"}));
    let visibility: Vec<(&str, &str)> = all["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event_type"].as_str().unwrap(),
                e["visibility"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(visibility.contains(&("incident.work_note_added", "internal")));
    assert!(visibility.contains(&("incident.comment_added", "public")));

    let own = rig.ok(
        "query.timeline",
        by(&caller("carol"), json!({"id": "INC0000001"})),
    );
    let types = entry_types(&own);
    assert!(
        types.contains(&"incident.comment_added".to_owned()),
        "{types:?}"
    );
    assert!(
        !types.contains(&"incident.work_note_added".to_owned()),
        "{types:?}"
    );
    assert_eq!(types.len() + 1, entry_types(&all).len());

    let record = rig.ok(
        "query.record",
        by(&caller("carol"), json!({"id": "INC0000001"})),
    );
    assert_eq!(record["number"], "INC0000001");
    for (method, id) in [
        ("query.record", "INC0000003"),
        ("query.timeline", "INC0000003"),
        ("query.record", "INC0000099"),
    ] {
        let e = rig.err(method, by(&caller("carol"), json!({"id": id})));
        assert_eq!(domain_code(&e), "forbidden", "{method} {id}: {e}");
        assert_eq!(e["data"]["details"]["actor"], "carol");
    }

    let queue = rig.ok(
        "query.queue",
        by(&caller("carol"), json!({"kind": "incident"})),
    );
    let callers: Vec<&str> = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["detail"]["caller"].as_str().unwrap())
        .collect();
    assert_eq!(callers, ["carol", "carol"], "{queue}");
    let e = rig.err(
        "query.queue",
        by(&caller("carol"), json!({"kind": "change"})),
    );
    assert_eq!(domain_code(&e), "forbidden", "{e}");
    // A requester is an end user too.
    let e = rig.err(
        "query.queue",
        by(&carol(), json!({"kind": "incident", "caller": "dave"})),
    );
    assert_eq!(domain_code(&e), "forbidden", "{e}");
    // Workers filter by caller.
    let daves = rig.ok(
        "query.queue",
        by(&desk(), json!({"kind": "incident", "caller": "dave"})),
    );
    assert_eq!(daves["items"].as_array().unwrap().len(), 1);
}

#[test]
fn caller_is_a_role_name_an_actor_may_claim_and_system_is_still_refused() {
    let rig = desk_rig();
    let e = rig.err(
        "incident.add_comment",
        by(
            &actor("carol", &["callerr"]),
            json!({"id": "INC0000001", "text": "hi"}),
        ),
    );
    assert_eq!(code(&e), -32602, "{e}");
    rig.ok(
        "incident.add_comment",
        by(&caller("carol"), json!({"id": "INC0000002", "text": "hi"})),
    );
}

struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_token_gets_scoped_views_and_is_refused_views_across_records() {
    let rig = desk_rig();
    let engine = rig.engine.clone();
    let mut tokens = TokenStore::new();
    tokens
        .insert(CAROL, Identity::new("carol", ["caller"]))
        .unwrap();
    tokens
        .insert(DAVE, Identity::new("dave", ["caller"]))
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

    let own = client
        .call(CAROL, "query.timeline", json!({"id": "INC0000001"}))
        .await
        .unwrap();
    assert!(!entry_types(&own).contains(&"incident.work_note_added".to_owned()));
    let all = client
        .call(DESK, "query.timeline", json!({"id": "INC0000001"}))
        .await
        .unwrap();
    assert!(entry_types(&all).contains(&"incident.work_note_added".to_owned()));
    let e = client
        .call(DAVE, "query.record", json!({"id": "INC0000001"}))
        .await
        .unwrap_err();
    assert_eq!(domain_code(&e), "forbidden", "{e}");
    // The token decides: naming another actor in the params is refused.
    let e = client
        .call(
            DAVE,
            "query.record",
            json!({"id": "INC0000001", "actor": {"id": "carol", "roles": ["caller"]}}),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&e), -32097, "{e}");
    for (method, params) in [
        (
            "query.kpis",
            json!({"query": {"window": {"start": start(), "end": start()}}}),
        ),
        ("query.stats", json!({})),
        ("query.open_alerts", json!({})),
        ("events.read", json!({})),
        ("query.sla", json!({"id": "INC0000003"})),
    ] {
        let e = client.call(CAROL, method, params).await.unwrap_err();
        assert_eq!(domain_code(&e), "forbidden", "{method}: {e}");
    }
    client
        .call(CAROL, "query.sla", json!({"id": "INC0000001"}))
        .await
        .unwrap();
    client.call(DESK, "events.read", json!({})).await.unwrap();
    // Dave's reply on carol's incident is refused; carol's own is written.
    let head = engine.head().unwrap();
    let e = client
        .call(
            DAVE,
            "incident.add_comment",
            json!({"id": "INC0000001", "text": "me too"}),
        )
        .await
        .unwrap_err();
    assert_eq!(domain_code(&e), "forbidden", "{e}");
    assert_eq!(engine.head().unwrap(), head);
    let done = client
        .call(
            CAROL,
            "incident.add_comment",
            json!({"id": "INC0000001", "text": "Version 4.2"}),
        )
        .await
        .unwrap();
    assert_eq!(done["events"][1]["event_type"], "incident.resumed");

    // The event stream shows every record: refused to a caller, open to a worker.
    let refused = client
        .http
        .get(format!("{url}/events?from=1"))
        .bearer_auth(CAROL)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let open = client
        .http
        .get(format!("{url}/events?from=1"))
        .bearer_auth(DESK)
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), 200);
    drop(open);

    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
}
