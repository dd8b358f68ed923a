//! Outbound webhooks: subscriptions, matching, signed deliveries, retries with backoff, dead
//! letters and redelivery, attempts interrupted mid-request, and the HTTP transport against a
//! receiver on loopback (2xx, 5xx, down for a while, slow).

use crate::support::*;
use chrono::Duration;
use hmac::{Hmac, Mac};
use opsledger::core::webhook::delivery::{AttemptResult, DeliveryStatus, RetryPolicy};
use opsledger::core::webhook::{WebhookChanges, WebhookFilter, WebhookSettings};
use opsledger::core::{Impact, Priority, Urgency};
use opsledger::webhooks::{
    CreateWebhook, DeliveryQuery, HttpTransport, WebhookRequest, WebhookTransport,
    WebhookWorkerConfig,
};
use opsledger::{Clock, Engine, ManualClock};
use parking_lot::Mutex;
use serde_json::Value;
use sha2::Sha256;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration as StdDuration;

const SECRET: &str = "0123456789abcdef-secret";

/// A transport that records requests and answers from a script (then 200).
#[derive(Default)]
struct Scripted {
    answers: Mutex<VecDeque<AttemptResult>>,
    seen: Mutex<Vec<WebhookRequest>>,
}

impl Scripted {
    fn with(answers: impl IntoIterator<Item = AttemptResult>) -> Self {
        Self {
            answers: Mutex::new(answers.into_iter().collect()),
            seen: Mutex::default(),
        }
    }
}

impl WebhookTransport for Scripted {
    fn send(&self, request: &WebhookRequest) -> AttemptResult {
        self.seen.lock().push(request.clone());
        self.answers
            .lock()
            .pop_front()
            .unwrap_or(AttemptResult::Delivered { status: 200 })
    }
}

fn unavailable() -> AttemptResult {
    AttemptResult::Failed {
        status: Some(503),
        error: "the receiver answered 503".into(),
        permanent: false,
    }
}

fn worker(max_attempts: u32) -> WebhookWorkerConfig {
    WebhookWorkerConfig {
        retry: RetryPolicy {
            max_attempts,
            first_delay: Duration::seconds(10),
            max_delay: Duration::seconds(60),
            lease: Duration::seconds(30),
        },
        worker_id: "test-worker".into(),
        link_base: Some("https://itsm.example/records".into()),
        ..WebhookWorkerConfig::default()
    }
}

fn settings(url: &str, filter: WebhookFilter) -> WebhookSettings {
    WebhookSettings {
        url: url.into(),
        description: "on-call channel".into(),
        filter,
        template: None,
        enabled: true,
    }
}

fn subscribe(engine: &Engine, url: &str, filter: WebhookFilter) -> opsledger::core::WebhookId {
    engine
        .create_webhook(
            &manager(),
            CreateWebhook {
                id: None,
                settings: settings(url, filter),
                secret: Some(SECRET.into()),
            },
        )
        .expect("create webhook")
        .webhook
        .id
}

fn hex_hmac(secret: &str, message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(message);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Recomputes the signature the way docs/WEBHOOKS.md tells receivers to.
fn assert_signed(request: &WebhookRequest) {
    let ts = request.header("Opsledger-Timestamp").expect("timestamp");
    let mut message = format!("{ts}.").into_bytes();
    message.extend_from_slice(&request.body);
    assert_eq!(
        request.header("Opsledger-Signature"),
        Some(format!("v1={}", hex_hmac(SECRET, &message)).as_str())
    );
}

/// The one delivery of a test that queued one.
fn only_delivery(engine: &Engine) -> opsledger::core::webhook::delivery::Delivery {
    let all = engine
        .webhook_deliveries(&manager(), DeliveryQuery::default())
        .expect("deliveries");
    assert_eq!(all.len(), 1, "{all:?}");
    all[0].clone()
}

fn body(request: &WebhookRequest) -> Value {
    serde_json::from_slice(&request.body).expect("JSON body")
}

#[test]
fn a_matching_event_is_delivered_once_signed_with_number_words_actor_and_links() {
    let (engine, _clock) = memory_engine();
    let hook = subscribe(
        &engine,
        "https://hooks.example.com/oncall",
        WebhookFilter {
            event_types: ["incident.opened".to_owned(), "incident.resolved".to_owned()].into(),
            ..WebhookFilter::default()
        },
    );
    exec(&engine, &agent(), open_incident(inc(1), "Checkout down"));
    exec(&engine, &agent(), note(inc(1), "looking"));
    let transport = Scripted::default();
    let report = engine
        .deliver_webhooks(&transport, &worker(3))
        .expect("pass");
    assert_eq!((report.queued, report.succeeded), (1, 1), "{report:?}");
    // Passes after it find nothing new: one delivery per (webhook, event).
    let again = engine
        .deliver_webhooks(&transport, &worker(3))
        .expect("pass");
    assert_eq!((again.queued, again.attempted), (0, 0));
    let seen = transport.seen.lock().clone();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.url, "https://hooks.example.com/oncall");
    assert_eq!(request.header("Opsledger-Event"), Some("incident.opened"));
    assert_eq!(request.header("Opsledger-Attempt"), Some("1"));
    assert_signed(request);
    let b = body(request);
    assert_eq!(b["record"]["number"], "INC0000001");
    assert_eq!(
        b["record"]["url"],
        "https://itsm.example/records/INC0000001"
    );
    assert_eq!(b["actor"], agent().id.as_str());
    assert_eq!(b["webhook"], hook.0.to_string());
    assert!(
        b["summary"]
            .as_str()
            .expect("summary")
            .starts_with("INC0000001: opened"),
        "{b}"
    );
    assert_eq!(
        request.header("Opsledger-Delivery"),
        Some(b["delivery"].as_str().expect("delivery"))
    );
    let listed = engine
        .webhook_deliveries(&manager(), DeliveryQuery::default())
        .expect("deliveries");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, DeliveryStatus::Succeeded);
    assert_eq!(listed[0].id.to_string(), b["delivery"]);
}

#[test]
fn filters_select_by_priority_group_and_service() {
    let (engine, _clock) = memory_engine();
    subscribe(
        &engine,
        "http://127.0.0.1:9/p1",
        WebhookFilter {
            priorities: [Priority::Critical].into(),
            groups: ["dba".into()].into(),
            services: ["payments".into()].into(),
            ..WebhookFilter::default()
        },
    );
    exec(&engine, &agent(), open_incident(inc(1), "Slow page"));
    exec(
        &engine,
        &agent(),
        open_incident_full(
            inc(2),
            "Payments down",
            Impact::High,
            Urgency::High,
            "dba",
            "payments",
            "db-01",
        ),
    );
    let transport = Scripted::default();
    engine
        .deliver_webhooks(&transport, &worker(3))
        .expect("pass");
    let seen = transport.seen.lock().clone();
    assert!(!seen.is_empty());
    for r in &seen {
        assert_eq!(body(r)["record"]["number"], "INC0000002", "{}", body(r));
    }
}

#[test]
fn server_errors_retry_with_backoff_then_succeed() {
    let (engine, clock) = memory_engine();
    subscribe(&engine, "http://127.0.0.1:9/", WebhookFilter::default());
    exec(&engine, &agent(), open_incident(inc(1), "Checkout down"));
    let transport = Scripted::with([unavailable(), unavailable()]);
    let config = worker(5);
    let r = engine.deliver_webhooks(&transport, &config).expect("pass");
    assert_eq!((r.attempted, r.failed), (1, 1));
    assert_eq!(r.next_due, Some(clock.now() + Duration::seconds(10)));
    // Not due yet: nothing is sent.
    clock.set(clock.now() + Duration::seconds(9));
    assert_eq!(
        engine
            .deliver_webhooks(&transport, &config)
            .expect("pass")
            .attempted,
        0
    );
    clock.set(clock.now() + Duration::seconds(1));
    let r = engine.deliver_webhooks(&transport, &config).expect("pass");
    assert_eq!((r.attempted, r.failed), (1, 1));
    // The second wait is twice the first.
    assert_eq!(r.next_due, Some(clock.now() + Duration::seconds(20)));
    clock.set(clock.now() + Duration::seconds(20));
    let r = engine.deliver_webhooks(&transport, &config).expect("pass");
    assert_eq!((r.attempted, r.succeeded), (1, 1));
    let seen = transport.seen.lock().clone();
    let ids: Vec<_> = seen
        .iter()
        .map(|r| r.header("Opsledger-Delivery"))
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one delivery id: {ids:?}"
    );
    let attempts: Vec<_> = seen.iter().map(|r| r.header("Opsledger-Attempt")).collect();
    assert_eq!(attempts, [Some("1"), Some("2"), Some("3")]);
    // The body is the same for every attempt; only the timestamp and signature move.
    assert_eq!(seen[0].body, seen[2].body);
}

#[test]
fn the_last_failure_dead_letters_and_a_redelivery_starts_a_new_sequence() {
    let (engine, clock) = memory_engine();
    subscribe(&engine, "http://127.0.0.1:9/", WebhookFilter::default());
    exec(&engine, &agent(), open_incident(inc(1), "Checkout down"));
    let transport = Scripted::with([unavailable(), unavailable()]);
    let config = worker(2);
    engine.deliver_webhooks(&transport, &config).expect("pass");
    let pending = only_delivery(&engine);
    // Redelivery while a sequence runs is refused, writing nothing.
    let head = engine.head().expect("head");
    let e = engine
        .redeliver(&manager(), pending.id)
        .expect_err("running");
    assert_eq!(e.code(), "validation");
    assert_eq!(engine.head().expect("head"), head);
    clock.set(clock.now() + Duration::seconds(10));
    let r = engine.deliver_webhooks(&transport, &config).expect("pass");
    assert_eq!((r.failed, r.dead_lettered), (1, 1));
    assert_eq!(r.next_due, None);
    let dead = engine
        .webhook_deliveries(
            &manager(),
            DeliveryQuery {
                status: Some(opsledger::webhooks::DeliveryStatusKind::DeadLettered),
                ..DeliveryQuery::default()
            },
        )
        .expect("list");
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("2 attempts")
    );
    // Nothing more happens by itself, however long we wait.
    clock.set(clock.now() + Duration::hours(5));
    assert_eq!(
        engine
            .deliver_webhooks(&transport, &config)
            .expect("pass")
            .attempted,
        0
    );
    // Agents may not redeliver; managers may.
    assert_eq!(
        engine
            .redeliver(&agent(), pending.id)
            .expect_err("agent")
            .code(),
        "forbidden"
    );
    let again = engine.redeliver(&manager(), pending.id).expect("redeliver");
    assert_eq!((again.sequence, again.attempts), (2, 0));
    let r = engine.deliver_webhooks(&transport, &config).expect("pass");
    assert_eq!(r.succeeded, 1);
    let seen = transport.seen.lock().clone();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].header("Opsledger-Sequence"), Some("2"));
    assert_eq!(seen[2].header("Opsledger-Attempt"), Some("1"));
    assert_eq!(
        seen[2].header("Opsledger-Delivery"),
        seen[0].header("Opsledger-Delivery")
    );
}

/// A transport that dies mid-request, as a process killed while the receiver holds it.
struct Dies;

impl WebhookTransport for Dies {
    fn send(&self, _: &WebhookRequest) -> AttemptResult {
        panic!("killed mid-delivery")
    }
}

#[test]
fn an_attempt_cut_off_mid_request_is_retried_after_its_lease_with_the_same_id() {
    let dir = tempfile::tempdir().expect("dir");
    let clock = clock();
    let engine = disk_engine(dir.path(), &clock, 1);
    subscribe(&engine, "http://127.0.0.1:9/", WebhookFilter::default());
    exec(&engine, &agent(), open_incident(inc(1), "Checkout down"));
    let config = worker(5);
    let died = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        engine.deliver_webhooks(&Dies, &config)
    }));
    assert!(died.is_err());
    drop(engine);
    // Restarted: the attempt is someone's until its lease runs out...
    let engine = disk_engine(dir.path(), &clock, 2);
    let transport = Scripted::default();
    let r = engine.deliver_webhooks(&transport, &config).expect("pass");
    assert_eq!(r.attempted, 0, "{r:?}");
    assert_eq!(r.next_due, Some(clock.now() + Duration::seconds(30)));
    // ...then it counts as failed and attempt 2 follows, under the same delivery id.
    clock.set(clock.now() + Duration::seconds(30));
    let r = engine.deliver_webhooks(&transport, &config).expect("pass");
    assert_eq!((r.queued, r.attempted, r.succeeded), (0, 1, 1), "{r:?}");
    let seen = transport.seen.lock().clone();
    assert_eq!(seen[0].header("Opsledger-Attempt"), Some("2"));
    let d = only_delivery(&engine);
    assert_eq!(
        seen[0].header("Opsledger-Delivery"),
        Some(d.id.to_string().as_str())
    );
    assert_eq!((d.sequence, d.total_attempts), (1, 2));
    assert_eq!(d.status, DeliveryStatus::Succeeded);
}

#[test]
fn sla_warnings_and_breaches_are_notifiable() {
    use opsledger::core::sla::{
        CalendarRef, SlaDefinition, SlaKey, SlaMetric, SlaPolicy, SlaScope,
    };
    use opsledger::core::{BusinessCalendar, Policy, RecordKind};
    let clock = clock();
    let policy = Policy {
        sla: SlaPolicy::new(
            vec![
                SlaDefinition::new(
                    SlaKey::new("response", 1),
                    "Response",
                    SlaScope::all(RecordKind::Incident),
                    SlaMetric::Response,
                    Duration::minutes(30),
                    CalendarRef::exact("24x7", 1),
                )
                .with_thresholds([50]),
            ],
            vec![BusinessCalendar::always()],
        ),
        ..Policy::default()
    };
    let engine = Engine::in_memory(config(&clock, 1).with_policy(policy)).expect("engine");
    subscribe(
        &engine,
        "http://127.0.0.1:9/",
        WebhookFilter {
            event_types: [
                "sla.threshold_crossed".to_owned(),
                "sla.breached".to_owned(),
            ]
            .into(),
            ..WebhookFilter::default()
        },
    );
    exec(&engine, &agent(), open_incident(inc(1), "Checkout down"));
    clock.set(t(31));
    engine.tick(clock.now()).expect("tick");
    let transport = Scripted::default();
    engine
        .deliver_webhooks(&transport, &worker(3))
        .expect("pass");
    let seen = transport.seen.lock().clone();
    let kinds: Vec<_> = seen
        .iter()
        .map(|r| r.header("Opsledger-Event").map(str::to_owned))
        .collect();
    assert_eq!(
        kinds,
        [
            Some("sla.threshold_crossed".to_owned()),
            Some("sla.breached".to_owned())
        ]
    );
    let breach = body(&seen[1]);
    assert_eq!(breach["record"]["number"], "INC0000001");
    assert!(
        breach["what"]
            .as_str()
            .expect("what")
            .starts_with("SLA breached"),
        "{breach}"
    );
}

#[test]
fn bad_subscriptions_are_typed_errors_and_write_nothing() {
    let (engine, _clock) = memory_engine();
    let head = engine.head().expect("head");
    let code = |url: &str, filter: WebhookFilter, template: Option<String>| {
        engine
            .create_webhook(
                &manager(),
                CreateWebhook {
                    id: None,
                    settings: WebhookSettings {
                        template,
                        ..settings(url, filter)
                    },
                    secret: None,
                },
            )
            .expect_err(url)
            .code()
    };
    assert_eq!(
        code("ftp://files.example/", WebhookFilter::default(), None),
        "unsafe_webhook_url"
    );
    assert_eq!(
        code(
            "http://169.254.169.254/latest",
            WebhookFilter::default(),
            None
        ),
        "unsafe_webhook_url"
    );
    assert_eq!(
        code("http://[fe80::1]/", WebhookFilter::default(), None),
        "unsafe_webhook_url"
    );
    assert_eq!(
        code(
            "http://metadata.google.internal/computeMetadata/v1/",
            WebhookFilter::default(),
            None
        ),
        "unsafe_webhook_url"
    );
    let unknown = WebhookFilter {
        event_types: ["incident.teleported".to_owned()].into(),
        ..WebhookFilter::default()
    };
    assert_eq!(
        code("https://ok.example/", unknown, None),
        "unknown_event_type"
    );
    assert_eq!(
        code(
            "https://ok.example/",
            WebhookFilter::default(),
            Some("x".repeat(5000))
        ),
        "limit_exceeded"
    );
    // An agent lacks webhook_manage.
    let e = engine
        .create_webhook(
            &agent(),
            CreateWebhook {
                id: None,
                settings: settings("https://ok.example/", WebhookFilter::default()),
                secret: None,
            },
        )
        .expect_err("agent");
    assert_eq!(e.code(), "forbidden");
    assert_eq!(engine.head().expect("head"), head, "nothing written");
    assert!(engine.webhooks(&manager()).expect("list").is_empty());
}

#[test]
fn secrets_are_given_once_and_never_listed() {
    let (engine, _clock) = memory_engine();
    let created = engine
        .create_webhook(
            &manager(),
            CreateWebhook {
                id: None,
                settings: settings("https://ok.example/", WebhookFilter::default()),
                secret: None,
            },
        )
        .expect("create");
    assert!(created.secret.len() >= 32, "{}", created.secret);
    let listed = serde_json::to_string(&engine.webhooks(&manager()).expect("list")).expect("json");
    assert!(!listed.contains(&created.secret));
    assert!(listed.contains("https://ok.example/"));
    // Updating, disabling and deleting.
    let id = created.webhook.id;
    let updated = engine
        .update_webhook(
            &manager(),
            id,
            WebhookChanges {
                enabled: Some(false),
                url: Some("http://127.0.0.1:8080/x".into()),
                ..WebhookChanges::default()
            },
        )
        .expect("update");
    assert!(!updated.enabled);
    assert_eq!(updated.url, "http://127.0.0.1:8080/x");
    let e = engine
        .update_webhook(
            &manager(),
            id,
            WebhookChanges {
                url: Some("gopher://x/".into()),
                ..WebhookChanges::default()
            },
        )
        .expect_err("bad url");
    assert_eq!(e.code(), "unsafe_webhook_url");
    engine.delete_webhook(&manager(), id).expect("delete");
    assert!(engine.webhooks(&manager()).expect("list").is_empty());
    assert_eq!(
        engine
            .delete_webhook(&manager(), id)
            .expect_err("gone")
            .code(),
        "validation"
    );
}

// ---- the HTTP transport against a receiver on loopback ----------------------------------------

/// How the receiver answers one request.
#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    Stall(StdDuration),
}

struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A one-thread HTTP/1.1 receiver: answers each request from `script` (then 200).
fn receiver(listener: TcpListener, script: Vec<Answer>) -> Arc<Mutex<Vec<Received>>> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let out = got.clone();
    std::thread::spawn(move || {
        let mut script = script.into_iter();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut headers = Vec::new();
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                continue;
            }
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((n, v)) = line.trim_end().split_once(':') {
                    headers.push((n.trim().to_owned(), v.trim().to_owned()));
                }
            }
            let len = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            got.lock().push(Received { headers, body });
            let status = match script.next().unwrap_or(Answer::Status(200)) {
                Answer::Status(s) => s,
                Answer::Stall(d) => {
                    std::thread::sleep(d);
                    200
                }
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    out
}

fn http() -> HttpTransport {
    HttpTransport::new(StdDuration::from_secs(2), StdDuration::from_millis(500)).expect("client")
}

fn loopback_engine(port: u16) -> (Engine, Arc<ManualClock>) {
    let (engine, clock) = memory_engine();
    subscribe(
        &engine,
        &format!("http://127.0.0.1:{port}/hook"),
        WebhookFilter::default(),
    );
    exec(&engine, &agent(), open_incident(inc(1), "Checkout down"));
    (engine, clock)
}

#[test]
fn loopback_receiver_gets_a_signed_request_it_can_verify() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let got = receiver(listener, vec![]);
    let (engine, _clock) = loopback_engine(port);
    let r = engine.deliver_webhooks(&http(), &worker(3)).expect("pass");
    assert_eq!(r.succeeded, 1, "{r:?}");
    let got = got.lock();
    let request = &got[0];
    let header = |n: &str| {
        request
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
            .expect(n)
    };
    let mut message = format!("{}.", header("opsledger-timestamp")).into_bytes();
    message.extend_from_slice(&request.body);
    assert_eq!(
        header("opsledger-signature"),
        format!("v1={}", hex_hmac(SECRET, &message))
    );
    assert!(opsledger::webhooks::verify(
        SECRET.as_bytes(),
        &header("opsledger-timestamp"),
        &header("opsledger-signature"),
        &request.body,
        header("opsledger-timestamp").parse().expect("ts"),
    ));
    let b: Value = serde_json::from_slice(&request.body).expect("json");
    assert_eq!(b["record"]["number"], "INC0000001");
}

#[test]
fn an_https_receiver_is_spoken_to_in_tls_never_in_clear() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, first_byte) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut first = [0u8; 1];
            if std::io::Read::read_exact(&mut stream, &mut first).is_ok() {
                let _ = tx.send(first[0]);
            }
        }
    });
    let request = WebhookRequest {
        delivery: opsledger::core::DeliveryId(opsledger::Uuid::from_u128(7)),
        url: format!("https://127.0.0.1:{port}/hook"),
        headers: vec![("opsledger-signature".into(), "v1=00".into())],
        body: b"{}".to_vec(),
    };
    let result = http().send(&request);
    // 0x16: a TLS handshake record (the ClientHello), not `POST /hook`.
    assert_eq!(
        first_byte.recv_timeout(StdDuration::from_secs(5)),
        Ok(0x16),
        "the receiver got no TLS handshake ({result:?})"
    );
    assert!(
        matches!(result, AttemptResult::Failed { .. }),
        "a receiver that does not finish the handshake fails the attempt: {result:?}"
    );
}

#[test]
fn loopback_5xx_then_success() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let got = receiver(listener, vec![Answer::Status(500), Answer::Status(502)]);
    let (engine, clock) = loopback_engine(port);
    let config = worker(5);
    let r = engine.deliver_webhooks(&http(), &config).expect("pass");
    assert_eq!(r.failed, 1);
    clock.set(clock.now() + Duration::seconds(10));
    assert_eq!(
        engine
            .deliver_webhooks(&http(), &config)
            .expect("pass")
            .failed,
        1
    );
    clock.set(clock.now() + Duration::seconds(20));
    assert_eq!(
        engine
            .deliver_webhooks(&http(), &config)
            .expect("pass")
            .succeeded,
        1
    );
    let d = only_delivery(&engine);
    assert_eq!((d.total_attempts, d.last_status), (3, Some(200)));
    assert_eq!(got.lock().len(), 3);
}

#[test]
fn loopback_receiver_down_for_a_while_then_up() {
    // A port nobody listens on (bound, then released).
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let (engine, clock) = loopback_engine(port);
    let config = worker(5);
    let r = engine.deliver_webhooks(&http(), &config).expect("pass");
    assert_eq!(r.failed, 1);
    let d = only_delivery(&engine);
    assert!(
        d.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("connect"),
        "{d:?}"
    );
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("rebind");
    let got = receiver(listener, vec![]);
    clock.set(clock.now() + Duration::seconds(10));
    assert_eq!(
        engine
            .deliver_webhooks(&http(), &config)
            .expect("pass")
            .succeeded,
        1
    );
    assert_eq!(got.lock().len(), 1);
}

#[test]
fn loopback_slow_receiver_times_out_without_holding_the_worker() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let _got = receiver(listener, vec![Answer::Stall(StdDuration::from_secs(3))]);
    let (engine, _clock) = loopback_engine(port);
    let started = std::time::Instant::now();
    let r = engine.deliver_webhooks(&http(), &worker(5)).expect("pass");
    assert!(
        started.elapsed() < StdDuration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.failed, 1);
    let d = only_delivery(&engine);
    assert!(
        d.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("timed out"),
        "{d:?}"
    );
    assert!(matches!(d.status, DeliveryStatus::RetryScheduled { .. }));
}
