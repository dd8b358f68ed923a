//! The HTTP transport against a real server on an ephemeral loopback port.

use crate::common::{check_reply, dispatcher, parse};
use opsledger_rpc::testing::{SPEC_EXAMPLES, check_response};
use opsledger_rpc::transport::{
    EventSource, HttpConfig, HttpError, HttpServer, MemoryEventSource, ReadinessProbe, TokenStore,
};
use opsledger_rpc::{Identity, codes};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

pub(crate) const ALICE_TOKEN: &str = "alice-token-0123456789abcdef";
pub(crate) const BOB_TOKEN: &str = "bob-token-0123456789abcdefgh";

pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.done)
            .await
            .expect("server stops")
            .unwrap()
            .unwrap();
    }
}

pub(crate) fn loopback_config() -> HttpConfig {
    HttpConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        shutdown_grace: Duration::from_secs(2),
        ..HttpConfig::default()
    }
}

pub(crate) fn tokens() -> TokenStore {
    let mut t = TokenStore::new();
    t.insert(ALICE_TOKEN, Identity::new("alice", ["agent"]))
        .unwrap();
    t.insert(BOB_TOKEN, Identity::new("bob", ["cab_member"]))
        .unwrap();
    t
}

pub(crate) async fn start(config: HttpConfig, events: Option<Arc<dyn EventSource>>) -> Running {
    start_with(config, events, None).await
}

pub(crate) async fn start_with(
    config: HttpConfig,
    events: Option<Arc<dyn EventSource>>,
    readiness: Option<ReadinessProbe>,
) -> Running {
    let server = HttpServer::bind(Arc::new(dispatcher()), events, config)
        .await
        .unwrap();
    if let Some(probe) = readiness {
        server.set_readiness(probe);
    }
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback() && addr.port() != 0);
    let (tx, rx) = oneshot::channel::<()>();
    let done = tokio::spawn(server.serve(async {
        let _ = rx.await;
    }));
    Running {
        addr,
        stop: Some(tx),
        done,
    }
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub(crate) async fn post(
    url: &str,
    body: impl Into<String>,
    token: Option<&str>,
) -> reqwest::Response {
    let mut request = client()
        .post(url)
        .header("content-type", "application/json")
        .body(body.into());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn post_rpc_answers_200_with_a_body_and_204_without() {
    let server = start(loopback_config(), None).await;
    let url = server.url("/rpc");

    let response = post(
        &url,
        r#"{"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":1}"#,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"jsonrpc":"2.0","result":19,"id":1}"#
    );

    let response = post(
        &url,
        r#"{"jsonrpc":"2.0","method":"update","params":[1]}"#,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.text().await.unwrap(), "");

    // JSON-RPC errors are 200 with the error in the body.
    let response = post(&url, "{oops", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        parse(&response.text().await.unwrap())["error"]["code"],
        codes::PARSE_ERROR
    );

    // charset and the json-rpc media type are fine.
    let response = client()
        .post(&url)
        .header("content-type", "application/json-rpc; charset=utf-8")
        .body(r#"{"jsonrpc":"2.0","method":"get_data","id":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn the_specification_examples_over_http() {
    let server = start(loopback_config(), None).await;
    let url = server.url("/rpc");
    for example in SPEC_EXAMPLES {
        let response = post(&url, example.request, None).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        match example.response {
            None => {
                assert_eq!(status, StatusCode::NO_CONTENT, "{}", example.title);
                assert!(body.is_empty());
            }
            Some(_) => {
                assert_eq!(status, StatusCode::OK, "{}", example.title);
                check_reply(&body).unwrap();
                check_response(example.response, Some(&body))
                    .unwrap_or_else(|e| panic!("{}: {e}", example.title));
            }
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn transport_errors_are_http_statuses() {
    let config = HttpConfig {
        max_body_bytes: 1024,
        ..loopback_config()
    };
    let server = start(config, None).await;
    let url = server.url("/rpc");

    let big = format!(
        r#"{{"jsonrpc":"2.0","method":"echo","params":["{}"],"id":1}}"#,
        "x".repeat(2048)
    );
    assert_eq!(
        post(&url, big, None).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );

    let wrong_type = client()
        .post(&url)
        .header("content-type", "text/plain")
        .body(r#"{"jsonrpc":"2.0","method":"get_data","id":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let no_type = client()
        .post(&url)
        .body(r#"{"jsonrpc":"2.0","method":"get_data","id":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(no_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let get = client().get(&url).send().await.unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    let elsewhere = client().get(server.url("/nope")).send().await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
    let no_stream = client().get(server.url("/events")).send().await.unwrap();
    assert_eq!(no_stream.status(), StatusCode::NOT_FOUND);

    // Still serving.
    let ok = post(
        &url,
        r#"{"jsonrpc":"2.0","method":"get_data","id":1}"#,
        None,
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn bearer_tokens_decide_the_actor() {
    let config = HttpConfig {
        tokens: tokens(),
        ..loopback_config()
    };
    let server = start(config, None).await;
    let url = server.url("/rpc");
    let whoami = r#"{"jsonrpc":"2.0","method":"whoami","id":1}"#;

    let missing = post(&url, whoami, None).await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        missing.headers()["www-authenticate"],
        "Bearer realm=\"opsledger\""
    );

    let wrong = post(&url, whoami, Some("not-a-real-token-at-all-xx")).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.headers()["www-authenticate"],
        "Bearer realm=\"opsledger\", error=\"invalid_token\""
    );
    // A prefix of a real token is no better.
    let prefix = post(&url, whoami, Some(&ALICE_TOKEN[..20])).await;
    assert_eq!(prefix.status(), StatusCode::UNAUTHORIZED);
    // Another scheme is no token.
    let basic = client()
        .post(&url)
        .header("content-type", "application/json")
        .header("authorization", format!("Basic {ALICE_TOKEN}"))
        .body(whoami)
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);

    for (token, actor) in [(ALICE_TOKEN, "alice"), (BOB_TOKEN, "bob")] {
        let ok = post(&url, whoami, Some(token)).await;
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(parse(&ok.text().await.unwrap())["result"]["actor"], actor);
    }

    // Params cannot name another actor over HTTP.
    let claim = r#"{"jsonrpc":"2.0","method":"whoami","params":{"actor":{"actor":"bob","roles":["cab"]}},"id":1}"#;
    let refused = post(&url, claim, Some(ALICE_TOKEN)).await;
    assert_eq!(refused.status(), StatusCode::OK);
    let v = parse(&refused.text().await.unwrap());
    assert_eq!(v["error"]["code"], codes::ACTOR_NOT_ALLOWED);
    server.stop().await;
}

#[tokio::test]
async fn probes_answer_without_a_token_and_say_nothing_about_the_data() {
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = ready.clone();
    let probe: ReadinessProbe = Arc::new(move || {
        if flag.load(std::sync::atomic::Ordering::SeqCst) {
            Ok(())
        } else {
            Err("the read models are 5000 events behind the log".to_owned())
        }
    });
    let config = HttpConfig {
        tokens: tokens(),
        ..loopback_config()
    };
    let server = start_with(config, None, Some(probe)).await;
    let get = |path: &'static str| {
        let url = server.url(path);
        async move { client().get(url).send().await.unwrap() }
    };
    let health = get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.text().await.unwrap(), "ok\n");
    let readiness = get("/readyz").await;
    assert_eq!(readiness.status(), StatusCode::OK);
    assert_eq!(readiness.text().await.unwrap(), "ready\n");
    ready.store(false, std::sync::atomic::Ordering::SeqCst);
    let readiness = get("/readyz").await;
    assert_eq!(readiness.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        readiness.text().await.unwrap(),
        "not ready: the read models are 5000 events behind the log\n"
    );
    // Everything else still needs the token.
    let rpc = post(
        &server.url("/rpc"),
        r#"{"jsonrpc":"2.0","method":"whoami","id":1}"#,
        None,
    )
    .await;
    assert_eq!(rpc.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get("/events").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get("/healthz/x").await.status(), StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn without_tokens_http_callers_are_anonymous() {
    let server = start(loopback_config(), None).await;
    let claim = r#"{"jsonrpc":"2.0","method":"whoami","params":{"actor":{"actor":"root"}},"id":1}"#;
    let v = parse(
        &post(&server.url("/rpc"), claim, None)
            .await
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(v["error"]["code"], codes::ACTOR_NOT_ALLOWED);
    let plain = r#"{"jsonrpc":"2.0","method":"whoami","id":1}"#;
    let v = parse(
        &post(&server.url("/rpc"), plain, None)
            .await
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(v["error"]["code"], codes::UNAUTHENTICATED);
    server.stop().await;
}

#[tokio::test]
async fn a_non_loopback_address_is_refused_without_tokens() {
    for listen in ["0.0.0.0:0", "[::]:0", "192.0.2.1:7700"] {
        let config = HttpConfig {
            listen: listen.parse().unwrap(),
            ..HttpConfig::default()
        };
        let refused = HttpServer::bind(Arc::new(dispatcher()), None, config).await;
        assert!(
            matches!(refused, Err(HttpError::NonLoopbackWithoutTokens(_))),
            "{listen}: {refused:?}"
        );
    }
    assert_eq!(
        HttpConfig::default().listen,
        "127.0.0.1:7700".parse().unwrap()
    );
}

#[tokio::test]
async fn batches_and_panics_over_http() {
    let server = start(loopback_config(), None).await;
    let url = server.url("/rpc");
    let response = post(
        &url,
        r#"[{"jsonrpc":"2.0","method":"panic","id":1},{"jsonrpc":"2.0","method":"subtract","params":[2,1],"id":2},{"jsonrpc":"2.0","method":"update","params":[1]}]"#,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let v = parse(&response.text().await.unwrap());
    assert_eq!(v[0]["error"]["code"], codes::INTERNAL_ERROR);
    assert_eq!(v[1]["result"], 1);
    assert_eq!(v.as_array().unwrap().len(), 2);
    let all_notifications = post(
        &url,
        r#"[{"jsonrpc":"2.0","method":"update","params":[1]},{"jsonrpc":"2.0","method":"panic"}]"#,
        None,
    )
    .await;
    assert_eq!(all_notifications.status(), StatusCode::NO_CONTENT);
    server.stop().await;
}

#[tokio::test]
async fn concurrent_requests_beyond_the_limit_wait_and_all_succeed() {
    let config = HttpConfig {
        max_concurrent_requests: 2,
        ..loopback_config()
    };
    let server = start(config, None).await;
    let url = server.url("/rpc");
    let mut tasks = Vec::new();
    for i in 0..24 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let body =
                format!(r#"{{"jsonrpc":"2.0","method":"subtract","params":[{i},1],"id":{i}}}"#);
            let response = post(&url, body, None).await;
            assert_eq!(response.status(), StatusCode::OK);
            let v = parse(&response.text().await.unwrap());
            assert_eq!(v, json!({"jsonrpc": "2.0", "result": i - 1, "id": i}));
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    server.stop().await;
}

#[tokio::test]
async fn a_slow_call_times_out_with_408() {
    let config = HttpConfig {
        request_timeout: Duration::from_millis(200),
        ..loopback_config()
    };
    let server = start(config, None).await;
    let response = post(
        &server.url("/rpc"),
        r#"{"jsonrpc":"2.0","method":"sleep","params":{"millis":1500},"id":1}"#,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let config = HttpConfig {
        header_read_timeout: Duration::from_millis(300),
        ..loopback_config()
    };
    let server = start(config, None).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"POST /rpc HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server closed the connection");
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    // And it still serves others.
    let ok = post(
        &server.url("/rpc"),
        r#"{"jsonrpc":"2.0","method":"get_data","id":1}"#,
        None,
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
    server.stop().await;
}

/// Reads server-sent events until `n` have arrived: `(id, data)` pairs.
async fn read_events(response: &mut reqwest::Response, n: usize) -> Vec<(u64, Value)> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while events.len() < n {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("events arrive in time")
            .unwrap()
            .expect("stream still open");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut id = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line
                    .strip_prefix("id: ")
                    .or_else(|| line.strip_prefix("id:"))
                {
                    id = Some(v.trim().parse::<u64>().unwrap());
                } else if let Some(v) = line
                    .strip_prefix("data: ")
                    .or_else(|| line.strip_prefix("data:"))
                {
                    data.push_str(v);
                }
            }
            if let Some(id) = id {
                events.push((id, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    events
}

fn memory_source(n: u64) -> Arc<MemoryEventSource> {
    let source = Arc::new(MemoryEventSource::new());
    for i in 1..=n {
        source.push(json!({"n": i}));
    }
    source
}

#[tokio::test]
async fn server_sent_events_from_a_position_then_live_in_order() {
    let source = memory_source(3);
    let config = HttpConfig {
        event_poll_timeout: Duration::from_millis(100),
        ..loopback_config()
    };
    let server = start(config, Some(source.clone() as Arc<dyn EventSource>)).await;

    let mut stream = client()
        .get(server.url("/events?from=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    assert_eq!(
        read_events(&mut stream, 2).await,
        vec![(2, json!({"n": 2})), (3, json!({"n": 3}))]
    );
    let pusher = {
        let source = source.clone();
        tokio::task::spawn_blocking(move || {
            for i in 4..=40 {
                source.push(json!({"n": i}));
                if i % 10 == 0 {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        })
    };
    let live = read_events(&mut stream, 37).await;
    pusher.await.unwrap();
    let ids: Vec<u64> = live.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, (4..=40).collect::<Vec<_>>());
    assert!(live.iter().all(|(id, data)| data["n"] == *id));

    // Without `from`: only what is stored after subscribing.
    let mut tail = client().get(server.url("/events")).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    source.push(json!({"n": 41}));
    assert_eq!(
        read_events(&mut tail, 1).await,
        vec![(41, json!({"n": 41}))]
    );

    // Last-Event-ID resumes after it, over `from`.
    let mut resumed = client()
        .get(server.url("/events?from=1"))
        .header("last-event-id", "39")
        .send()
        .await
        .unwrap();
    assert_eq!(
        read_events(&mut resumed, 2).await,
        vec![(40, json!({"n": 40})), (41, json!({"n": 41}))]
    );

    // A malformed `from` is a 400.
    let bad = client()
        .get(server.url("/events?from=abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    drop((stream, tail, resumed));
    server.stop().await;
}

#[tokio::test]
async fn event_streams_need_the_token_and_are_limited_in_number() {
    let source = memory_source(1);
    let config = HttpConfig {
        tokens: tokens(),
        max_event_subscribers: 1,
        event_poll_timeout: Duration::from_millis(100),
        ..loopback_config()
    };
    let server = start(config, Some(source as Arc<dyn EventSource>)).await;
    let url = server.url("/events?from=1");

    let anonymous = client().get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let mut first = client()
        .get(&url)
        .bearer_auth(ALICE_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(read_events(&mut first, 1).await, vec![(1, json!({"n": 1}))]);

    let second = client()
        .get(&url)
        .bearer_auth(BOB_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(second.headers()["retry-after"], "5");

    // Once the first subscriber leaves, a new one is admitted.
    drop(first);
    let mut admitted = false;
    for _ in 0..50 {
        let again = client()
            .get(&url)
            .bearer_auth(BOB_TOKEN)
            .send()
            .await
            .unwrap();
        if again.status() == StatusCode::OK {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(admitted, "the subscriber slot was released");
    server.stop().await;
}

#[tokio::test]
async fn shutdown_ends_open_event_streams() {
    let source = memory_source(1);
    let config = HttpConfig {
        event_poll_timeout: Duration::from_millis(100),
        ..loopback_config()
    };
    let server = start(config, Some(source as Arc<dyn EventSource>)).await;
    let mut stream = client()
        .get(server.url("/events?from=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(read_events(&mut stream, 1).await.len(), 1);
    let started = std::time::Instant::now();
    server.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the stream ended");
}
