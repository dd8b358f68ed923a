//! What JSON-RPC costs on top of the engine, in one run with ratios:
//!
//! (a) per call, in process, on an in-memory engine: `query.record` against the same reads
//!     made directly on the engine, and `incident.add_work_note` against `Engine::execute`;
//! (b) over HTTP on loopback: N concurrent clients (default 8) each sending requests one after
//!     another: requests per second, p50 and p99 latency, for the same read and write.
//!
//! Run: `cargo bench -p opsledger-rpc --bench api` (about 40 s). In-process figures are the best
//! of 7 alternating rounds; the 1-minute load average is printed at the start and the end. Environment: `BENCH_CLIENTS`
//! (default 8), `BENCH_SECS` (seconds per HTTP phase, default 4), `BENCH_CALLS` (in-process
//! calls per round, default 4000).

use opsledger::core::incident::IncidentCommand;
use opsledger::core::{Actor, Impact, IncidentId, Role, Urgency};
use opsledger::{CommandEnvelope, Engine, EngineConfig, HumanNumber};
use opsledger_rpc::api::{self, EngineEvents};
use opsledger_rpc::transport::{EventSource, HttpConfig, HttpServer, TokenStore};
use opsledger_rpc::{Identity, Limits};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const INCIDENTS: usize = 200;
const TOKEN: &str = "bench-token-0123456789abcdefgh";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn agent() -> Actor {
    Actor::new("bench", [Role::Agent])
}

/// An in-memory engine with `INCIDENTS` open incidents.
fn engine() -> (Arc<Engine>, Vec<IncidentId>) {
    let engine = Arc::new(Engine::in_memory(EngineConfig::default()).expect("engine"));
    let ids: Vec<IncidentId> = (0..INCIDENTS)
        .map(|i| {
            let id = IncidentId(engine.new_id());
            engine
                .execute(CommandEnvelope::new(
                    agent(),
                    IncidentCommand::Open {
                        id,
                        title: format!("Benchmark incident {i}"),
                        description: String::new(),
                        caller: "caller".into(),
                        impact: Impact::Medium,
                        urgency: Urgency::Medium,
                        service: Some("bench".into()),
                        cis: vec![],
                        group: Some("bench".into()),
                        assignee: Some("bench".into()),
                        alert: None,
                    },
                ))
                .expect("open");
            id
        })
        .collect();
    (engine, ids)
}

/// The best round: on a shared machine other work only ever adds time, so the minimum is the
/// least disturbed estimate of the cost itself.
fn best(v: Vec<f64>) -> f64 {
    v.into_iter().fold(f64::INFINITY, f64::min)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// Microseconds per call of `f` over `n` calls.
fn per_call(n: usize, mut f: impl FnMut(usize)) -> f64 {
    let started = Instant::now();
    for i in 0..n {
        f(i);
    }
    started.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn in_process(calls: usize) {
    let (engine, ids) = engine();
    let built = Instant::now();
    let rpc = api::dispatcher(engine.clone(), Limits::default());
    println!(
        "api::dispatcher built in {:.1} ms ({} methods, their params schemas compiled)",
        built.elapsed().as_secs_f64() * 1e3,
        rpc.registry().len()
    );
    let numbers: Vec<String> = (1..=INCIDENTS)
        .map(|n| HumanNumber::new(opsledger::RecordKind::Incident, n as u64).to_string())
        .collect();
    let read_requests: Vec<String> = numbers
        .iter()
        .map(|n| {
            json!({"jsonrpc": "2.0", "id": 1, "method": "query.record", "params": {"id": n}})
                .to_string()
        })
        .collect();

    let direct_read = |i: usize| {
        let view = engine.view(None).unwrap();
        let number: HumanNumber = numbers[i % INCIDENTS].parse().unwrap();
        let record = view.lookup(&number).unwrap().unwrap();
        let _ = view.number_of(record).unwrap();
        let state = view.state(record).unwrap();
        let record_view = view.record(record).unwrap();
        std::hint::black_box((state, record_view));
    };
    // The same direct reads, plus serialising what they found to JSON (what the method sends).
    let direct_read_json = |i: usize| {
        let view = engine.view(None).unwrap();
        let number: HumanNumber = numbers[i % INCIDENTS].parse().unwrap();
        let record = view.lookup(&number).unwrap().unwrap();
        let n = view.number_of(record).unwrap();
        let state = view.state(record).unwrap();
        let record_view = view.record(record).unwrap();
        let text =
            serde_json::to_string(&(record, n.map(|n| n.to_string()), record_view, state)).unwrap();
        std::hint::black_box(text);
    };
    let rpc_read = |i: usize| {
        let reply = rpc.handle(&read_requests[i % INCIDENTS]).unwrap();
        debug_assert!(reply.contains("\"result\""));
        std::hint::black_box(reply);
    };
    let direct_write = |i: usize| {
        let outcome = engine
            .execute(CommandEnvelope::new(
                agent(),
                IncidentCommand::AddWorkNote {
                    id: ids[i % INCIDENTS],
                    text: "checked the logs".into(),
                },
            ))
            .unwrap();
        std::hint::black_box(outcome);
    };
    let direct_write_json = |i: usize| {
        let outcome = engine
            .execute(CommandEnvelope::new(
                agent(),
                IncidentCommand::AddWorkNote {
                    id: ids[i % INCIDENTS],
                    text: "checked the logs".into(),
                },
            ))
            .unwrap();
        let text = serde_json::to_string(&api::results::CommandResult::from(&outcome)).unwrap();
        std::hint::black_box(text);
    };
    let rpc_write = |i: usize| {
        let request = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"incident.add_work_note","params":{{"id":"{}","text":"checked the logs","actor":{{"id":"bench","roles":["agent"]}}}}}}"#,
            ids[i % INCIDENTS].0
        );
        let reply = rpc.handle(&request).unwrap();
        assert!(reply.contains("\"result\""), "{reply}");
        std::hint::black_box(reply);
    };

    // Warm up, then alternate rounds so that drift hits both sides alike.
    per_call(500, direct_read);
    per_call(500, rpc_read);
    per_call(200, direct_write);
    per_call(200, rpc_write);
    let (mut dr, mut drj, mut rr, mut dw, mut dwj, mut rw) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..7 {
        dr.push(per_call(calls, direct_read));
        drj.push(per_call(calls, direct_read_json));
        rr.push(per_call(calls, rpc_read));
        dw.push(per_call(calls / 4, direct_write));
        dwj.push(per_call(calls / 4, direct_write_json));
        rw.push(per_call(calls / 4, rpc_write));
    }
    let (dr, drj, rr) = (best(dr), best(drj), best(rr));
    let (dw, dwj, rw) = (best(dw), best(dwj), best(rw));
    println!("(a) in process, in-memory engine, best of 7 alternating rounds:");
    println!(
        "    {:<31} {:>9} {:>11} {:>9} {:>10} {:>7}",
        "", "direct", "direct+JSON", "JSON-RPC", "overhead", "ratio"
    );
    for (name, d, dj, r) in [
        ("read  query.record (by number)", dr, drj, rr),
        ("write incident.add_work_note", dw, dwj, rw),
    ] {
        println!(
            "    {:<31} {:>7.2}us {:>9.2}us {:>7.2}us {:>8.2}us {:>6.2}x",
            name,
            d,
            dj,
            r,
            r - d,
            r / d
        );
    }
    println!(
        "    of the overhead, serialising the result: read {:.0}%, write {:.0}%",
        100.0 * (drj - dr) / (rr - dr),
        100.0 * (dwj - dw) / (rw - dw)
    );
}

struct Phase {
    requests: usize,
    seconds: f64,
    p50_us: f64,
    p99_us: f64,
}

async fn http_phase(
    url: &str,
    clients: usize,
    secs: u64,
    body: Arc<dyn Fn(usize) -> String + Send + Sync>,
) -> Phase {
    let counter = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let url = url.to_owned();
        let counter = counter.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                let reply = http
                    .post(&url)
                    .bearer_auth(TOKEN)
                    .header("content-type", "application/json")
                    .body(body(i))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                latencies.push(t.elapsed().as_secs_f64() * 1e6);
                assert!(reply.contains("\"result\""), "{reply}");
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let seconds = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| all[((all.len() as f64 - 1.0) * p).round() as usize];
    Phase {
        requests: all.len(),
        seconds,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
    }
}

fn over_http(clients: usize, secs: u64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (engine, ids) = engine();
        let mut tokens = TokenStore::new();
        tokens
            .insert(TOKEN, Identity::new("bench", ["agent"]))
            .unwrap();
        let config = HttpConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tokens,
            ..HttpConfig::default()
        };
        let dispatcher = Arc::new(api::dispatcher(engine.clone(), Limits::default()));
        let events: Arc<dyn EventSource> = Arc::new(EngineEvents::new(engine.clone()));
        let server = HttpServer::bind(dispatcher, Some(events), config)
            .await
            .unwrap();
        let url = format!("http://{}/rpc", server.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(async {
            let _ = stopped.await;
        }));

        let read: Arc<dyn Fn(usize) -> String + Send + Sync> = Arc::new(|i| {
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"query.record","params":{{"id":"INC{:07}"}}}}"#,
                i % INCIDENTS + 1
            )
        });
        let write: Arc<dyn Fn(usize) -> String + Send + Sync> = Arc::new(move |i| {
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"incident.add_work_note","params":{{"id":"{}","text":"checked the logs"}}}}"#,
                ids[i % INCIDENTS].0
            )
        });
        // Warm up connections and caches.
        http_phase(&url, clients, 1, read.clone()).await;
        let r = http_phase(&url, clients, secs, read).await;
        let w = http_phase(&url, clients, secs, write).await;
        println!("(b) HTTP on loopback, {clients} concurrent clients, {secs} s per phase:");
        println!("    {:<34} {:>10} {:>10} {:>10}", "", "req/s", "p50", "p99");
        for (name, p) in [("read  query.record", &r), ("write incident.add_work_note", &w)] {
            println!(
                "    {:<34} {:>10.0} {:>8.0}us {:>8.0}us   ({} requests)",
                name,
                p.requests as f64 / p.seconds,
                p.p50_us,
                p.p99_us,
                p.requests
            );
        }
        println!(
            "    ratios: read/write throughput {:.2}x; p99/p50 read {:.2}x, write {:.2}x",
            (r.requests as f64 / r.seconds) / (w.requests as f64 / w.seconds),
            r.p99_us / r.p50_us,
            w.p99_us / w.p50_us
        );
        let _ = stop.send(());
        serving.await.unwrap().unwrap();
    });
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this once, quickly.
    let quick = !std::env::args().any(|a| a == "--bench");
    let calls = if quick {
        200
    } else {
        env("BENCH_CALLS", 4_000)
    };
    let clients = env("BENCH_CLIENTS", 8);
    let secs = if quick {
        1
    } else {
        env("BENCH_SECS", 4) as u64
    };
    println!(
        "opsledger-rpc api benchmark ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("load average at start: {}", load_average());
    in_process(calls);
    over_http(clients, secs);
    println!("load average at end: {}", load_average());
}
