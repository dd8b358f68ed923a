//! `opsledger serve` replicas on one PostgreSQL database against one server on an SQLite data
//! directory: commands/s and command latency (p50, p99) under the same load, in one run.
//!
//! ```text
//! source .ci/postgres.sh && start_postgres        # exports OPSLEDGER_PG_URL
//! CARGO_PROFILE_BENCH_LTO=false CARGO_PROFILE_BENCH_CODEGEN_UNITS=16 \
//!   cargo bench -p opsledger-cli --bench replicas
//! stop_postgres
//! ```
//!
//! Contenders: **SQLite** (one `serve --data DIR`, per-commit durability: each command synced
//! before it is acknowledged) and **PostgreSQL with 1, 2 and 3 replicas** (`serve --store URL`
//! on one database, `synchronous_commit` on: each command's transaction flushed to the WAL
//! before it is acknowledged; the run prints the server's setting). Every server runs without
//! its scheduler and webhook worker, logging warnings only.
//!
//! Load: 8 clients (threads, one keep-alive HTTP connection per server each) run incident
//! lifecycles, open (low impact and urgency), assign, resolve: each a JSON-RPC call to
//! `POST /rpc`, sent to the replicas in turn (the command after an open goes to another
//! replica, which decides on state it did not write). A command is counted and timed from
//! request to response; after a warm-up, the clients run for a fixed time.
//!
//! Rounds are interleaved: round k runs every contender once, in an order rotated by k, each on
//! a fresh directory or schema; the report gives per contender the median over rounds of
//! commands/s, p50 and p99, and the median of the per-round ratios to SQLite.
//!
//! Environment: `OPSLEDGER_PG_URL` (the server; without it the bench prints why it did not run
//! and exits), `OPSLEDGER_BENCH_ROUNDS` (default 3), `OPSLEDGER_BENCH_SECS` (measured seconds
//! per run, default 10), `OPSLEDGER_BENCH_WARMUP_SECS` (default 2), `OPSLEDGER_BENCH_CLIENTS`
//! (default 8).

#[path = "../tests/cli/common.rs"]
mod common;

use common::{ALICE_TOKEN, Server, write_tokens};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One contender: SQLite, or PostgreSQL with this many replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contender {
    Sqlite,
    Postgres(usize),
}

impl std::fmt::Display for Contender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Contender::Sqlite => f.write_str("SQLite, 1 server"),
            Contender::Postgres(1) => f.write_str("PostgreSQL, 1 replica"),
            Contender::Postgres(n) => write!(f, "PostgreSQL, {n} replicas"),
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone, Copy)]
struct Run {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    failed: u64,
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .replace('_', "")
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not {text:?}")),
        Err(_) => default,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter or `--list` from `cargo test --benches` means
    // "do not run".
    if std::env::args().any(|a| a == "--list") || !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let Ok(url) = std::env::var("OPSLEDGER_PG_URL") else {
        eprintln!(
            "\n*** SKIPPED: OPSLEDGER_PG_URL is not set, so the replicas benchmark did not run. \
             Start a server (source .ci/postgres.sh && start_postgres) and run it again. ***\n"
        );
        return;
    };
    let rounds = env_number("OPSLEDGER_BENCH_ROUNDS", 3).max(1) as usize;
    let secs = env_number("OPSLEDGER_BENCH_SECS", 10).max(1);
    let warmup = env_number("OPSLEDGER_BENCH_WARMUP_SECS", 2);
    let clients = env_number("OPSLEDGER_BENCH_CLIENTS", 8).max(1) as usize;
    let setting = {
        let mut client = postgres::Client::connect(&url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to OPSLEDGER_PG_URL: {e}"));
        let get = |client: &mut postgres::Client, name: &str| -> String {
            client
                .query_one(&format!("SHOW {name}"), &[])
                .map(|row| row.get(0))
                .unwrap_or_else(|e| panic!("SHOW {name}: {e}"))
        };
        let version = get(&mut client, "server_version");
        let sync = get(&mut client, "synchronous_commit");
        let fsync = get(&mut client, "fsync");
        assert_eq!(sync, "on", "the benchmark measures synchronous_commit = on");
        format!("PostgreSQL {version}, synchronous_commit = {sync}, fsync = {fsync}")
    };
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "replicas benchmark: {clients} clients, {rounds} round(s) of {secs} s per contender \
         (after {warmup} s of warm-up), {cores} core(s); {setting}"
    );

    let contenders = [
        Contender::Sqlite,
        Contender::Postgres(1),
        Contender::Postgres(2),
        Contender::Postgres(3),
    ];
    let mut results: Vec<Vec<Run>> = vec![Vec::new(); contenders.len()];
    for round in 0..rounds {
        for k in 0..contenders.len() {
            let index = (k + round) % contenders.len();
            let contender = contenders[index];
            let run = run_one(
                &url,
                contender,
                clients,
                Duration::from_secs(warmup),
                Duration::from_secs(secs),
            );
            println!(
                "round {}  {contender:<26} {:>8.0} commands/s  p50 {:>6.2} ms  p99 {:>7.2} ms{}",
                round + 1,
                run.per_second,
                run.p50_ms,
                run.p99_ms,
                if run.failed > 0 {
                    format!("  ({} failed calls)", run.failed)
                } else {
                    String::new()
                }
            );
            results[index].push(run);
        }
    }

    println!();
    println!(
        "{:<26} {:>12} {:>10} {:>10} {:>14} {:>22}",
        "contender", "commands/s", "p50 ms", "p99 ms", "x SQLite", "x SQLite (min-max)"
    );
    for (contender, runs) in contenders.iter().zip(&results) {
        // Ratios within each round (the same machine state), then their median.
        let ratios: Vec<f64> = runs
            .iter()
            .zip(&results[0])
            .map(|(run, sqlite)| run.per_second / sqlite.per_second)
            .collect();
        let per_second = median(runs.iter().map(|r| r.per_second).collect());
        let p50 = median(runs.iter().map(|r| r.p50_ms).collect());
        let p99 = median(runs.iter().map(|r| r.p99_ms).collect());
        let (low, high) = ratios
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), r| (l.min(*r), h.max(*r)));
        println!(
            "{:<26} {per_second:>12.0} {p50:>10.2} {p99:>10.2} {:>14.2} {:>22}",
            contender.to_string(),
            median(ratios.clone()),
            format!("{low:.2}-{high:.2}")
        );
    }
    let failed: u64 = results.iter().flatten().map(|r| r.failed).sum();
    assert_eq!(failed, 0, "calls failed during the benchmark");
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        f64::midpoint(values[n / 2 - 1], values[n / 2])
    }
}

/// The value at quantile `q` of sorted `values`, in milliseconds.
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[at].as_secs_f64() * 1000.0
}

/// Starts the contender's servers, runs the load, stops them.
fn run_one(
    url: &str,
    contender: Contender,
    clients: usize,
    warmup: Duration,
    measured: Duration,
) -> Run {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let tokens = write_tokens(dir.path());
    let extra = [
        "--token-file",
        tokens.to_str().expect("a UTF-8 path"),
        "--no-webhooks",
    ];
    let schema;
    let servers: Vec<Server> = match contender {
        Contender::Sqlite => vec![Server::start_logging(
            &dir.path().join("data"),
            &extra,
            "warn",
        )],
        Contender::Postgres(replicas) => {
            schema = opsledger_store_postgres::testing::TestSchema::new(url, "bench");
            let separator = if url.contains('?') { '&' } else { '?' };
            let store = format!("{url}{separator}schema={}", schema.name);
            (0..replicas)
                .map(|_| Server::start_store_logging(&store, &extra, "warn"))
                .collect()
        }
    };
    let bases: Arc<Vec<String>> = Arc::new(servers.iter().map(|s| s.url("/rpc")).collect());
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let bases = bases.clone();
            let measuring = measuring.clone();
            let stop = stop.clone();
            std::thread::spawn(move || client_loop(c, &bases, &measuring, &stop))
        })
        .collect();
    std::thread::sleep(warmup);
    measuring.store(true, Ordering::Release);
    let started = Instant::now();
    std::thread::sleep(measured);
    measuring.store(false, Ordering::Release);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Release);
    let mut latencies = Vec::new();
    let mut failed = 0;
    for thread in threads {
        let (mine, errors) = thread.join().expect("a client thread");
        latencies.extend(mine);
        failed += errors;
    }
    for server in servers {
        let (status, log) = server.stop();
        assert!(status.success(), "{contender} server: {status}\n{log}");
    }
    latencies.sort_unstable();
    Run {
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: quantile_ms(&latencies, 0.50),
        p99_ms: quantile_ms(&latencies, 0.99),
        failed,
    }
}

/// One client: lifecycles (open, assign, resolve) until told to stop, each command sent to
/// the next server in turn. Returns the latencies of the commands completed while measuring,
/// and how many calls failed.
fn client_loop(
    client: usize,
    bases: &[String],
    measuring: &AtomicBool,
    stop: &AtomicBool,
) -> (Vec<Duration>, u64) {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(1)
        .build()
        .expect("an HTTP client");
    let mut latencies = Vec::new();
    let mut failed = 0u64;
    let mut turn = client;
    let mut call = |method: &str, params: Value| -> Option<Value> {
        let base = &bases[turn % bases.len()];
        turn += 1;
        let body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
        let started = Instant::now();
        let reply = http
            .post(base)
            .bearer_auth(ALICE_TOKEN)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .and_then(|r| r.text());
        let took = started.elapsed();
        let result = reply
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .and_then(|reply| reply.get("result").cloned());
        match result {
            Some(result) => {
                if measuring.load(Ordering::Acquire) {
                    latencies.push(took);
                }
                Some(result)
            }
            None => {
                failed += 1;
                None
            }
        }
    };
    let mut n = 0u64;
    while !stop.load(Ordering::Acquire) {
        n += 1;
        let Some(opened) = call(
            "incident.open",
            json!({"title": format!("Client {client} incident {n}"), "caller": "bob",
                   "impact": "low", "urgency": "low"}),
        ) else {
            continue;
        };
        let Some(number) = opened["number"].as_str().map(str::to_owned) else {
            continue;
        };
        if call(
            "incident.assign",
            json!({"id": number, "group": "web-oncall", "assignee": "alice"}),
        )
        .is_none()
        {
            continue;
        }
        call(
            "incident.resolve",
            json!({"id": number, "code": "solved_workaround", "notes": "Rolled back"}),
        );
    }
    (latencies, failed)
}
