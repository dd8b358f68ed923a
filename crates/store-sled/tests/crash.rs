//! Crash test: a child process (this test binary, re-invoked) appends from several threads and
//! is killed with SIGKILL at a random moment, over and over. After each kill the parent reopens
//! the store and checks that every acknowledged append is there (PerCommit and GroupCommit),
//! that the log is a prefix of what was attempted with no torn batch, and that `verify()` is
//! clean. `OPSLEDGER_CRASH_CYCLES` (default 50) sets the number of kills,
//! `OPSLEDGER_CRASH_SEED` the random seed.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use opsledger_store::{
    Durability, EventStore, ExpectedVersion, NewEvent, Position, StoreConfig, Version,
};
use opsledger_store_sled::SledStore;

const CHILD_ENV: &str = "OPSLEDGER_CRASH_CHILD";
/// Appends per child thread before it idles (keeps the log, and the test time, bounded).
const MAX_APPENDS_PER_THREAD: u64 = 400;

/// Event `seq` (1-based) of writer thread `t`.
fn attempt(t: u64, seq: u64) -> NewEvent {
    let mut e = ev(0);
    e.event_id = uuid::Uuid::from_u128((u128::from(t + 1) << 64) | u128::from(seq));
    e.payload = format!(
        "{{\"t\":{t},\"seq\":{seq},\"pad\":\"{}\"}}",
        "x".repeat((seq % 50) as usize)
    )
    .into_bytes();
    e
}

/// Appends cover `seq..seq + batch_len(seq)`: batch boundaries are a pure function of `seq`,
/// so a torn batch is detectable after a crash.
fn batch_len(seq: u64) -> u64 {
    match seq % 7 {
        0 => 3,
        3 => 2,
        _ => 1,
    }
}

fn boundaries() -> impl Iterator<Item = u64> {
    std::iter::successors(Some(1u64), |&s| Some(s + batch_len(s)))
}

fn mode(name: &str) -> Durability {
    match name {
        "per-commit" => Durability::PerCommit,
        "group-commit" => Durability::GroupCommit,
        _ => Durability::Buffered,
    }
}

fn threads(durability: Durability) -> u64 {
    match durability {
        Durability::GroupCommit => 4,
        _ => 2,
    }
}

/// The child: runs only when re-invoked by the parent.
#[test]
fn crash_child_process() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let durability = mode(&std::env::var("OPSLEDGER_CRASH_MODE").unwrap());
    let store = SledStore::open(&dir, StoreConfig::default().with_durability(durability)).unwrap();
    println!("ready");
    std::thread::scope(|s| {
        for t in 0..threads(durability) {
            let store = &store;
            s.spawn(move || {
                let name = stream(&format!("w{t}"));
                let mut next = store.stream_version(&name).unwrap().0 + 1;
                let limit = next + MAX_APPENDS_PER_THREAD;
                while next < limit {
                    let n = batch_len(next);
                    let events = (next..next + n).map(|k| attempt(t, k)).collect();
                    store
                        .append(&name, ExpectedVersion::Exact(Version(next - 1)), events)
                        .unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {t} {}", next + n - 1).unwrap();
                    out.flush().unwrap();
                    next += n;
                }
            });
        }
    });
    std::thread::sleep(Duration::from_secs(60));
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn killed_appenders_lose_nothing_acknowledged() {
    let cycles: u64 = std::env::var("OPSLEDGER_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let seed: u64 = std::env::var("OPSLEDGER_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_cafe);
    eprintln!("crash test: {cycles} cycles, seed {seed}");
    let mut rng = Rng(seed | 1);
    let exe = std::env::current_exe().unwrap();
    let mut dir = tempfile::tempdir().unwrap();
    let mut acked_total = 0u64;
    let mut events_total = 0u64;
    let mut killed_before_ready = 0u64;
    // Acknowledged high-water mark per (durable mode) thread, carried across cycles of one dir.
    let mut acked: HashMap<u64, u64> = HashMap::new();
    let started = Instant::now();
    for cycle in 0..cycles {
        if cycle % 10 == 0 {
            dir = tempfile::tempdir().unwrap();
            acked.clear();
        }
        let mode_name = ["per-commit", "group-commit", "buffered"][(cycle % 3) as usize];
        let durability = mode(mode_name);
        let mut child = Command::new(&exe)
            .args([
                "crash_child_process",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .env("OPSLEDGER_CRASH_MODE", mode_name)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let reader = {
            let lines = lines.clone();
            let stdout = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push(line);
                }
            })
        };
        // One kill in eight lands while the child starts or recovers the store.
        let delay = match rng.next() % 8 {
            0 => Duration::from_millis(rng.next() % 40),
            _ => Duration::from_millis(40 + rng.next() % 400),
        };
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        reader.join().unwrap();
        let lines = lines.lock().unwrap().clone();
        if !lines.iter().any(|l| l.ends_with("ready")) {
            killed_before_ready += 1;
        }
        if durability != Durability::Buffered {
            for line in lines.iter().filter_map(|l| l.strip_prefix("ack ")) {
                let mut parts = line.split(' ').map(|x| x.parse::<u64>().unwrap());
                let (t, seq) = (parts.next().unwrap(), parts.next().unwrap());
                let hw = acked.entry(t).or_insert(0);
                *hw = (*hw).max(seq);
                acked_total += 1;
            }
        }

        let store = SledStore::open(
            dir.path(),
            StoreConfig::default().with_durability(Durability::Buffered),
        )
        .unwrap_or_else(|e| panic!("cycle {cycle} ({mode_name}): reopen failed: {e}"));
        let report = store.verify().unwrap();
        assert!(
            report.is_clean(),
            "cycle {cycle} ({mode_name}): {:?}",
            report.faults
        );
        let mut per_thread: HashMap<u64, u64> = HashMap::new();
        let mut from = Position::BEGINNING;
        loop {
            let page = store.read_all(from, 1_000).unwrap();
            let Some(last) = page.last() else { break };
            from = last.position.next();
            for e in page {
                let raw = e.event_id.as_u128();
                let (t, seq) = ((raw >> 64) as u64 - 1, raw as u64);
                let count = per_thread.entry(t).or_insert(0);
                *count += 1;
                assert_eq!(seq, *count, "cycle {cycle}: thread {t} skipped an attempt");
                assert_eq!(
                    e.payload,
                    attempt(t, seq).payload,
                    "cycle {cycle}: wrong payload"
                );
                assert_eq!(e.stream, stream(&format!("w{t}")));
                assert_eq!(e.version, Version(seq));
            }
        }
        for (&t, &count) in &per_thread {
            assert!(
                boundaries()
                    .take_while(|&b| b <= count + 1)
                    .any(|b| b == count + 1),
                "cycle {cycle}: torn batch in thread {t} at {count}"
            );
            events_total += count;
        }
        for (&t, &hw) in &acked {
            let present = per_thread.get(&t).copied().unwrap_or(0);
            assert!(
                present >= hw,
                "cycle {cycle} ({mode_name}): thread {t} acknowledged {hw} but only {present} survived"
            );
        }
        store.close().unwrap();
    }
    eprintln!(
        "crash test: {cycles} kills ({killed_before_ready} before the child was ready), {acked_total} acknowledged appends checked, {events_total} events re-read, {:?}",
        started.elapsed()
    );
}
