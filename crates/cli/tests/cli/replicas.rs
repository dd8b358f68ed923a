//! Several `opsledger serve` replicas on one PostgreSQL database (`--store`): a write on one is
//! read on the other at once, commands go to either, and the log they share stays dense. Runs
//! on the server named by `OPSLEDGER_PG_URL`, in a schema of its own.

use crate::common::*;
use opsledger_store_postgres::testing::{TestSchema, test_url};
use serde_json::{Value, json};

fn events(server: &Server) -> Vec<Value> {
    let page = server.rpc(
        "events.read",
        json!({"after": 0, "max": 1000}),
        Some(ALICE_TOKEN),
    );
    page.get("events")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_else(|| panic!("events.read answered {page}"))
}

#[test]
fn two_replicas_serve_the_walk_through_interchangeably() {
    let Some(url) = test_url() else { return };
    let _server = postgres_shared();
    let schema = TestSchema::new(&url, "replicas");
    let separator = if url.contains('?') { '&' } else { '?' };
    let store = format!("{url}{separator}schema={}", schema.name);
    let dir = tempfile::tempdir().unwrap();
    let tokens = write_tokens(dir.path());
    let policy = write(dir.path(), "policy.toml", &p1_policy("4h", 1));
    let args = [
        "--token-file",
        tokens.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ];
    let a = Server::start_store(&store, &args);
    // The second replica finds the policy in force: it publishes nothing.
    let b = Server::start_store(&store, &args);

    let opened = a.rpc(
        "incident.open",
        json!({"title": "Checkout fails with HTTP 500", "caller": "bob", "impact": "high",
               "urgency": "high", "assignee": "alice"}),
        Some(ALICE_TOKEN),
    );
    assert_eq!(opened["number"], "INC0000001", "{opened}");
    // Read on the other replica at once: the read models committed with the events.
    let record = b.rpc(
        "query.record",
        json!({"id": "INC0000001"}),
        Some(ALICE_TOKEN),
    );
    assert_eq!(record["number"], "INC0000001", "{record}");
    let clocks = b.rpc("query.sla", json!({"id": "INC0000001"}), Some(ALICE_TOKEN));
    assert!(
        clocks.as_array().is_some_and(|c| !c.is_empty()),
        "the P1 clock is attached: {clocks}"
    );
    b.rpc(
        "incident.resolve",
        json!({"id": "INC0000001", "code": "solved_workaround", "notes": "Rolled back the release"}),
        Some(ALICE_TOKEN),
    );
    // The first replica decides on the second one's write (its cache is not the truth).
    a.rpc(
        "incident.reopen",
        json!({"id": "INC0000001", "reason": "still failing"}),
        Some(ALICE_TOKEN),
    );
    let second = b.rpc(
        "incident.open",
        json!({"title": "Search is slow", "caller": "bob", "impact": "low", "urgency": "low"}),
        Some(ALICE_TOKEN),
    );
    assert_eq!(
        second["number"], "INC0000002",
        "numbers are allocated across replicas"
    );

    let (on_a, on_b) = (events(&a), events(&b));
    assert_eq!(on_a, on_b, "both replicas read one log");
    let positions: Vec<u64> = on_a.iter().filter_map(|e| e["position"].as_u64()).collect();
    assert_eq!(positions, (1..=positions.len() as u64).collect::<Vec<_>>());
    let types: Vec<&str> = on_a
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert_eq!(
        types.iter().filter(|t| **t == "policy.published").count(),
        1,
        "one policy version for both replicas: {types:?}"
    );
    for wanted in ["incident.opened", "incident.resolved", "incident.reopened"] {
        assert!(types.contains(&wanted), "{wanted} in {types:?}");
    }
    let (status, _) = a.stop();
    assert!(status.success());
    let (status, _) = b.stop();
    assert!(status.success());
}

/// One JSON-RPC call to `base`; the result, or why there is none (the server is gone, or it
/// answered an error).
fn try_call(base: &str, method: &str, params: &Value) -> Result<Value, String> {
    let body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
    let response = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?
        .post(format!("{base}/rpc"))
        .bearer_auth(ALICE_TOKEN)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .map_err(|e| e.to_string())?;
    let text = response.text().map_err(|e| e.to_string())?;
    let reply: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    match reply.get("result") {
        Some(result) => Ok(result.clone()),
        None => Err(reply.to_string()),
    }
}

/// How many commands the soak's writers send in all (`OPSLEDGER_SOAK_COMMANDS`, default 75:
/// a CI-sized run of a few seconds; a longer soak is this variable set higher, e.g. 3000).
/// Replicas keep being killed while the writers run, so a longer soak kills more of them.
fn soak_commands() -> usize {
    match std::env::var("OPSLEDGER_SOAK_COMMANDS") {
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(n) if n >= 3 => n,
            _ => {
                panic!("OPSLEDGER_SOAK_COMMANDS must be a whole number of at least 3, not {text:?}")
            }
        },
        Err(_) => 75,
    }
}

/// The SLA of the soak: every P1 incident is to be resolved within `SOAK_SLA`, around the
/// clock, so that each one breaches during the soak (or soon after) and the replicas' shared
/// scheduler records the breaches while replicas are killed and the lease moves.
const SOAK_SLA: &str = "2s";

/// The scheduler of the soak's replicas ticks every second.
const SOAK_TICK: &str = "1";

#[test]
fn three_replicas_killed_in_turn_keep_every_acknowledged_command_once() {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    let Some(url) = test_url() else { return };
    // It restarts PostgreSQL: no other test of this harness uses the server meanwhile.
    let _server = postgres_alone();
    let schema = TestSchema::new(&url, "soak");
    let separator = if url.contains('?') { '&' } else { '?' };
    let store = format!("{url}{separator}schema={}", schema.name);
    let dir = tempfile::tempdir().unwrap();
    let tokens = write_tokens(dir.path());
    let policy = write(dir.path(), "policy.toml", &p1_policy(SOAK_SLA, 1));
    // Every replica runs the SLA scheduler: the lease decides which one ticks.
    let args: Vec<String> = [
        "--token-file",
        tokens.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        "--scheduler",
        "--tick-interval",
        SOAK_TICK,
    ]
    .map(str::to_owned)
    .to_vec();
    let start = {
        let store = store.clone();
        let args = args.clone();
        move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Server::start_store(&store, &args)
        }
    };
    let first = start();
    let servers: Arc<Mutex<Vec<Server>>> = Arc::new(Mutex::new(vec![first, start(), start()]));
    let bases = |servers: &Mutex<Vec<Server>>| -> Vec<String> {
        servers.lock().unwrap().iter().map(Server::base).collect()
    };

    const WRITERS: usize = 3;
    let total = soak_commands();
    let writers_done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let servers = servers.clone();
            // The commands are dealt out: writer w sends those numbered w, w + 3, ...
            let commands = (w..total).step_by(WRITERS).count();
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for i in 0..commands {
                    let key = format!("soak-{w}-{i}");
                    let params = json!({
                        "title": format!("Incident {w}-{i}"), "caller": "bob",
                        "impact": "high", "urgency": "high", "idempotency_key": key,
                    });
                    let started = Instant::now();
                    let mut attempt = 0usize;
                    // Retried with the same key, on whichever replica answers, until one
                    // acknowledges it: a retry of a stored command replays its outcome.
                    let outcome = loop {
                        let targets = bases(&servers);
                        let base = &targets[(w + i + attempt) % targets.len()];
                        match try_call(base, "incident.open", &params) {
                            Ok(result) => break result,
                            Err(why) => {
                                assert!(
                                    started.elapsed() < Duration::from_secs(120),
                                    "{key} never acknowledged: {why}"
                                );
                                attempt += 1;
                                std::thread::sleep(Duration::from_millis(20));
                            }
                        }
                    };
                    let number = outcome["number"].as_str().unwrap_or_default().to_owned();
                    acknowledged.push((key, number));
                }
                acknowledged
            })
        })
        .collect();

    // Meanwhile, kill -9 a replica now and then and start it again; halfway through, restart
    // PostgreSQL itself (when the environment says how: .ci/postgres.sh does).
    let restart = std::env::var("OPSLEDGER_PG_RESTART").ok();
    if restart.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI sets OPSLEDGER_PG_RESTART (.ci/postgres.sh)"
        );
        eprintln!("OPSLEDGER_PG_RESTART is unset: the soak does not restart PostgreSQL");
    }
    let killer = {
        let servers = servers.clone();
        let writers_done = writers_done.clone();
        let store = store.clone();
        std::thread::spawn(move || {
            // Watches the log for the first breach (through the restart: errors are "not yet").
            let watcher =
                opsledger::open_storage_at(&store, opsledger::store::StoreConfig::default(), true)
                    .unwrap();
            let mut seen = 0u64;
            let mut first_breach: Option<usize> = None;
            let started = Instant::now();
            let mut round = 0usize;
            // At least six rounds, on until the writers are done, and on for three rounds after
            // the first breach was recorded: every slot is killed once while breaches fall due,
            // so the replica that held the lease then is killed, and another takes it over.
            while round < 6
                || !writers_done.load(Ordering::Acquire)
                || first_breach.is_none_or(|first| round < first + 3)
            {
                assert!(
                    started.elapsed() < Duration::from_secs(180),
                    "no breach recorded after {round} rounds"
                );
                std::thread::sleep(Duration::from_millis(300));
                if round == 3
                    && let Some(command) = &restart
                {
                    let status = std::process::Command::new("sh")
                        .arg("-c")
                        .arg(command)
                        .status()
                        .expect("run the restart command");
                    assert!(status.success(), "PostgreSQL restarted: {command}");
                }
                if first_breach.is_none()
                    && let Ok(head) = watcher.log().head()
                    && let Ok(new) =
                        opsledger::store::log_events(watcher.log(), seen + 1, head.0, 1_000)
                            .collect::<Result<Vec<_>, _>>()
                {
                    seen = head.0;
                    if new.iter().any(|e| e.event_type == "sla.breached") {
                        first_breach = Some(round);
                    }
                }
                let victim = round % 3;
                // Started before the old one dies: the writers always have a target. The
                // victim may hold the scheduler's lease: another replica takes it over.
                let replacement = start();
                let old = std::mem::replace(&mut servers.lock().unwrap()[victim], replacement);
                old.kill9();
                round += 1;
            }
            let _ = watcher.close(0);
            (round, first_breach)
        })
    };
    let mut acknowledged = Vec::new();
    for w in writers {
        acknowledged.extend(w.join().unwrap());
    }
    writers_done.store(true, Ordering::Release);
    let (killed, first_breach) = killer.join().unwrap();
    assert_eq!(acknowledged.len(), total);
    eprintln!(
        "soak: {total} commands acknowledged, {killed} replicas killed, the first breach seen \
         before kill {}",
        first_breach.map_or(0, |r| r + 1)
    );

    // Each incident's 2-second clock breaches; the replica holding the lease records it. Wait
    // (boundedly) until every incident's breach is in the log.
    let storage =
        opsledger::open_storage_at(&store, opsledger::store::StoreConfig::default(), true).unwrap();
    let read_log = |storage: &dyn opsledger::store::Storage| {
        let head = storage.log().head().unwrap().0;
        let events: Vec<_> = opsledger::store::log_events(storage.log(), 1, head, 1_000)
            .collect::<Result<_, _>>()
            .unwrap();
        (head, events)
    };
    // (record, clock) -> how many `sla.breached` events name it.
    let breaches = |events: &[opsledger::store::StoredEvent]| {
        let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
        for event in events.iter().filter(|e| e.event_type == "sla.breached") {
            let payload: Value = serde_json::from_slice(&event.payload).unwrap();
            *counts
                .entry((
                    payload["record"].to_string(),
                    payload["instance"].to_string(),
                ))
                .or_default() += 1;
        }
        counts
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, events) = read_log(&*storage);
        let breached = breaches(&events);
        let records: std::collections::BTreeSet<&String> =
            breached.keys().map(|(r, _)| r).collect();
        if records.len() >= total {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after 60 s, {} of {total} incidents have a recorded breach",
            records.len()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    storage.close(0).unwrap();

    // The replicas still running agree on the log, then stop.
    let servers = Arc::try_unwrap(servers)
        .unwrap_or_else(|_| panic!("the writers are done"))
        .into_inner()
        .unwrap();
    let mut heads = Vec::new();
    for server in &servers {
        let page = server.rpc(
            "events.read",
            json!({"after": 0, "max": 1}),
            Some(ALICE_TOKEN),
        );
        assert_eq!(page["events"][0]["position"], 1, "{page}");
        heads.push(page["head"].clone());
    }
    for server in servers {
        let (status, _) = server.stop();
        assert!(status.success());
    }

    // Every acknowledged command is in the log exactly once, under the number it was given.
    let storage =
        opsledger::open_storage_at(&store, opsledger::store::StoreConfig::default(), true).unwrap();
    let (head, events) = read_log(&*storage);
    let positions: Vec<u64> = events.iter().map(|e| e.position.0).collect();
    assert_eq!(
        positions,
        (1..=head).collect::<Vec<_>>(),
        "positions are dense"
    );
    let opened = events
        .iter()
        .filter(|e| e.event_type == "incident.opened")
        .count();
    assert_eq!(opened, total, "each command stored once");
    let mut numbers: Vec<&str> = acknowledged.iter().map(|(_, n)| n.as_str()).collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), total, "one number per command");
    // Each SLA breach recorded once: one `sla.breached` per record and clock, for every
    // incident, whichever replica held the lease when it fell due.
    let breached = breaches(&events);
    let twice: Vec<_> = breached.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "breaches recorded more than once: {twice:?}"
    );
    let records: std::collections::BTreeSet<&String> = breached.keys().map(|(r, _)| r).collect();
    assert_eq!(records.len(), total, "one breached clock per incident");
    assert_eq!(breached.len(), total, "one clock per incident");
    let report = storage.log().verify().unwrap();
    assert!(report.is_clean(), "{:?}", report.faults);
    storage.close(0).unwrap();
    // The replicas that ran to the end read that whole log (nothing was written after the
    // last breach).
    for seen in heads {
        assert_eq!(seen, head, "a replica's head");
    }
}
