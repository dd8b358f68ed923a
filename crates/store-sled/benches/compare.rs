//! Comparison harness: the sled event log (`SledStore`) against raw sled, an SQLite WAL table,
//! and the disk's own append+fsync, on the same generated ~300-byte events, in one run. Prints
//! every figure, every ratio and the target it is held to. (The engine on each backend against
//! a hand-written SQLite service is `benches/backends.rs` of the facade.)
//!
//! ```text
//! cargo bench -p opsledger-store-sled --bench compare
//! ```
//!
//! Sizes (environment variables; defaults in brackets): OPSLEDGER_BENCH_WRITES [50000]
//! single-writer non-durable appends, OPSLEDGER_BENCH_SYNC_WRITES [2000] per-commit appends,
//! OPSLEDGER_BENCH_GROUP_WRITES [1000] appends per writer with 8 writers,
//! OPSLEDGER_BENCH_LOG_EVENTS [1000000] events in the replay/load/open/size log,
//! OPSLEDGER_BENCH_LOADS [2000] stream loads, OPSLEDGER_BENCH_DIR [system temp dir].
//! `OPSLEDGER_BENCH_QUICK=1` shrinks everything for a smoke run.
//!
//! The replay / stream-load / open / RSS figures run in fresh child processes (this binary
//! re-invoked), so that the resident-memory figure is the peak of a process that only opens
//! the log and reads it.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use opsledger_store::{
    Durability, EventStore, ExpectedVersion, NewEvent, Position, StoreConfig, StoredEvent,
    StreamId, Version,
};
use opsledger_store_sled::{SledOptions, SledStore};
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Workload

/// The event stream both sides store: streams of 20 events, 1,000 open at a time, interleaved
/// (like ITSM records that live for a while), UUIDv7-style ids, ~300-byte JSON envelopes.
struct Workload {
    rng: u64,
    active: Vec<(StreamId, u64)>,
    next_stream: u64,
    n: u64,
}

struct Generated {
    stream: StreamId,
    version: u64,
    event: NewEvent,
    /// The JSON envelope an SQLite user would store in `payload` (all metadata + data).
    envelope: Vec<u8>,
}

const STREAM_LEN: u64 = 20;
const ACTIVE_STREAMS: usize = 1_000;

impl Workload {
    fn new(seed: u64) -> Self {
        Self {
            rng: seed | 1,
            active: Vec::new(),
            next_stream: 0,
            n: 0,
        }
    }

    fn rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn uuid7(&mut self, ms: u64) -> Uuid {
        let r = self.rand();
        let hi = (ms << 16) | 0x7000 | (r & 0x0fff);
        let lo = (self.rand() & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
        Uuid::from_u64_pair(hi, lo)
    }

    fn next(&mut self) -> Generated {
        while self.active.len() < ACTIVE_STREAMS {
            let ms = 1_767_225_600_000 + self.next_stream;
            let id = self.uuid7(ms);
            self.active
                .push((StreamId::new(format!("incident-{id}")).unwrap(), 0));
            self.next_stream += 1;
        }
        let slot = (self.rand() % self.active.len() as u64) as usize;
        let (stream, version) = {
            let entry = &mut self.active[slot];
            entry.1 += 1;
            (entry.0.clone(), entry.1)
        };
        if version == STREAM_LEN {
            self.active.swap_remove(slot);
        }
        self.n += 1;
        let ms = 1_767_225_600_000 + self.n;
        let occurred_at = DateTime::from_timestamp_millis(ms as i64).unwrap();
        let types = [
            "incident.opened",
            "incident.assigned",
            "incident.commented",
            "incident.prioritised",
            "incident.resolved",
        ];
        let event_type = types[(version as usize - 1).min(types.len() - 1)].to_string();
        let payload = format!(
            r#"{{"group":"ops-{}","assignee":"user:u{}","priority":{}}}"#,
            self.rand() % 40,
            self.rand() % 5000,
            1 + self.rand() % 4,
        )
        .into_bytes();
        let event = NewEvent {
            event_id: self.uuid7(ms),
            event_type,
            schema_version: 1,
            occurred_at,
            actor: format!("user:u{}", self.rand() % 5000),
            correlation_id: Some(self.uuid7(ms)),
            causation_id: None,
            payload,
        };
        let envelope = serde_json::to_vec(&Envelope {
            event_id: event.event_id,
            event_type: &event.event_type,
            schema_version: 1,
            occurred_at,
            recorded_at: occurred_at,
            actor: &event.actor,
            correlation_id: event.correlation_id,
            causation_id: None,
            data: RawValue::from_string(String::from_utf8(event.payload.clone()).unwrap())
                .unwrap()
                .as_ref(),
        })
        .unwrap();
        Generated {
            stream,
            version,
            event,
            envelope,
        }
    }
}

/// What an SQLite user stores per row (and decodes on replay).
#[derive(Serialize, Deserialize)]
struct Envelope<'a> {
    event_id: Uuid,
    event_type: &'a str,
    schema_version: u16,
    occurred_at: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
    actor: &'a str,
    correlation_id: Option<Uuid>,
    causation_id: Option<Uuid>,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// Decodes an SQLite row into the same public event type the store returns.
fn decode_row(position: i64, stream: &str, version: i64, payload: &[u8]) -> StoredEvent {
    let e: Envelope<'_> = serde_json::from_slice(payload).unwrap();
    StoredEvent {
        position: Position(position as u64),
        stream: StreamId::new(stream).unwrap(),
        version: Version(version as u64),
        event_id: e.event_id,
        event_type: e.event_type.to_string(),
        schema_version: e.schema_version,
        occurred_at: e.occurred_at,
        recorded_at: e.recorded_at,
        actor: e.actor.to_string(),
        correlation_id: e.correlation_id,
        causation_id: e.causation_id,
        payload: e.data.get().as_bytes().to_vec(),
        checksum: 0,
    }
}

// ---------------------------------------------------------------------------------------------
// Measurement helpers

struct Run {
    events: u64,
    elapsed: Duration,
    latencies_ns: Vec<u64>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
    fn pct(&self, p: f64) -> f64 {
        let mut l = self.latencies_ns.clone();
        l.sort_unstable();
        if l.is_empty() {
            return f64::NAN;
        }
        l[((l.len() - 1) as f64 * p).round() as usize] as f64 / 1_000.0
    }
}

fn env(name: &str, default: u64) -> u64 {
    let quick = std::env::var_os("OPSLEDGER_BENCH_QUICK").is_some();
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick {
            (default / 20).max(100)
        } else {
            default
        })
}

fn fresh_dir(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn allocated_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).unwrap();
    if meta.is_dir() {
        std::fs::read_dir(path)
            .unwrap()
            .map(|e| allocated_bytes(&e.unwrap().path()))
            .sum()
    } else {
        meta.blocks() * 512
    }
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn store_config(durability: Durability) -> StoreConfig {
    StoreConfig::default().with_durability(durability)
}

fn sled_options() -> SledOptions {
    let mut options = SledOptions::default();
    if let Some(mib) = std::env::var("OPSLEDGER_BENCH_CACHE_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        options.cache_capacity_bytes = mib << 20;
    }
    options
}

fn generate(n: u64, seed: u64) -> Vec<Generated> {
    let mut w = Workload::new(seed);
    (0..n).map(|_| w.next()).collect()
}

// ---------------------------------------------------------------------------------------------
// Writers

fn opsledger_single(dir: &Path, events: &[Generated], durability: Durability) -> Run {
    let store = SledStore::open_with(dir, store_config(durability), sled_options()).unwrap();
    let mut latencies_ns = Vec::with_capacity(events.len());
    let start = Instant::now();
    for g in events {
        let t = Instant::now();
        store
            .append(
                &g.stream,
                ExpectedVersion::Exact(Version(g.version - 1)),
                vec![g.event.clone()],
            )
            .unwrap();
        latencies_ns.push(t.elapsed().as_nanos() as u64);
    }
    // Honest throughput: the derived indexes are part of the work.
    store.wait_for_indexes().unwrap();
    let elapsed = start.elapsed();
    store.close().unwrap();
    Run {
        events: events.len() as u64,
        elapsed,
        latencies_ns,
    }
}

fn raw_sled(dir: &Path, events: &[Generated]) -> Run {
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(64 << 20)
        .open()
        .unwrap();
    let tree = db.open_tree("raw").unwrap();
    let start = Instant::now();
    for (i, g) in events.iter().enumerate() {
        tree.insert((i as u64 + 1).to_be_bytes(), g.envelope.as_slice())
            .unwrap();
    }
    let elapsed = start.elapsed();
    db.flush().unwrap();
    Run {
        events: events.len() as u64,
        elapsed,
        latencies_ns: Vec::new(),
    }
}

fn sqlite_open(path: &Path, synchronous: &str) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(30)).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", synchronous)
        .unwrap();
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS events(position INTEGER PRIMARY KEY, stream TEXT, version INTEGER, payload BLOB, UNIQUE(stream, version));",
    )
    .unwrap();
    conn
}

/// One event per transaction; the version comes from the caller (the cheapest correct use of
/// the UNIQUE constraint for optimistic concurrency, favourable to SQLite).
fn sqlite_single(path: &Path, events: &[Generated], synchronous: &str) -> Run {
    let conn = sqlite_open(path, synchronous);
    let mut stmt = conn
        .prepare("INSERT INTO events(stream, version, payload) VALUES (?1, ?2, ?3)")
        .unwrap();
    let mut latencies_ns = Vec::with_capacity(events.len());
    let start = Instant::now();
    for g in events {
        let t = Instant::now();
        stmt.execute(params![g.stream.as_str(), g.version as i64, g.envelope])
            .unwrap();
        latencies_ns.push(t.elapsed().as_nanos() as u64);
    }
    let elapsed = start.elapsed();
    Run {
        events: events.len() as u64,
        elapsed,
        latencies_ns,
    }
}

fn raw_append_fsync(path: &Path, events: &[Generated], data_only: bool) -> Run {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let mut latencies_ns = Vec::with_capacity(events.len());
    let start = Instant::now();
    for g in events {
        let t = Instant::now();
        f.write_all(&g.envelope).unwrap();
        if data_only {
            f.sync_data().unwrap();
        } else {
            f.sync_all().unwrap();
        }
        latencies_ns.push(t.elapsed().as_nanos() as u64);
    }
    Run {
        events: events.len() as u64,
        elapsed: start.elapsed(),
        latencies_ns,
    }
}

const WRITERS: usize = 8;

/// One writer's share: (stream, version, event, SQLite envelope).
type Share = Vec<(StreamId, u64, NewEvent, Vec<u8>)>;

fn split_by_writer(events: &[Generated]) -> Vec<Share> {
    // Each writer owns its streams (disjoint), preserving per-stream order.
    let mut out: Vec<Vec<_>> = (0..WRITERS).map(|_| Vec::new()).collect();
    for g in events {
        let w = (g.stream.as_str().bytes().map(u64::from).sum::<u64>() % WRITERS as u64) as usize;
        out[w].push((
            g.stream.clone(),
            g.version,
            g.event.clone(),
            g.envelope.clone(),
        ));
    }
    out
}

fn opsledger_group(dir: &Path, events: &[Generated]) -> Run {
    let store = Arc::new(
        SledStore::open_with(dir, store_config(Durability::GroupCommit), sled_options()).unwrap(),
    );
    let parts = split_by_writer(events);
    let start = Instant::now();
    let latencies: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .iter()
            .map(|part| {
                let store = store.clone();
                s.spawn(move || {
                    let mut l = Vec::with_capacity(part.len());
                    for (stream, version, event, _) in part {
                        let t = Instant::now();
                        store
                            .append(
                                stream,
                                ExpectedVersion::Exact(Version(version - 1)),
                                vec![event.clone()],
                            )
                            .unwrap();
                        l.push(t.elapsed().as_nanos() as u64);
                    }
                    l
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    store.wait_for_indexes().unwrap();
    let elapsed = start.elapsed();
    let stats = store.stats();
    eprintln!(
        "group commit: {} appends in {} fdatasyncs ({:.1} per sync; {:.0} µs per sync, {:.0} µs sled flush per sync)",
        stats.appends,
        stats.syncs,
        stats.appends as f64 / stats.syncs.max(1) as f64,
        stats.sync_time.as_secs_f64() * 1e6 / stats.syncs.max(1) as f64,
        stats.flush_time.as_secs_f64() * 1e6 / stats.syncs.max(1) as f64
    );
    Run {
        events: events.len() as u64,
        elapsed,
        latencies_ns: latencies.concat(),
    }
}

fn sqlite_group(path: &Path, events: &[Generated]) -> Run {
    drop(sqlite_open(path, "FULL"));
    let parts = split_by_writer(events);
    let start = Instant::now();
    let latencies: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .iter()
            .map(|part| {
                s.spawn(move || {
                    let conn = sqlite_open(path, "FULL");
                    let mut stmt = conn
                        .prepare("INSERT INTO events(stream, version, payload) VALUES (?1, ?2, ?3)")
                        .unwrap();
                    let mut l = Vec::with_capacity(part.len());
                    for (stream, version, _, envelope) in part {
                        let t = Instant::now();
                        stmt.execute(params![stream.as_str(), *version as i64, envelope])
                            .unwrap();
                        l.push(t.elapsed().as_nanos() as u64);
                    }
                    l
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    Run {
        events: events.len() as u64,
        elapsed: start.elapsed(),
        latencies_ns: latencies.concat(),
    }
}

// ---------------------------------------------------------------------------------------------
// The 1M-event log: build, then measure in child processes

fn build_logs(root: &Path, n: u64) -> (PathBuf, PathBuf, Vec<StreamId>, f64, f64) {
    let ours = fresh_dir(root, "log-opsledger");
    let sqlite_dir = fresh_dir(root, "log-sqlite");
    let sqlite = sqlite_dir.join("events.db");
    let mut w = Workload::new(42);
    let store =
        SledStore::open_with(&ours, store_config(Durability::Buffered), sled_options()).unwrap();
    let conn = sqlite_open(&sqlite, "NORMAL");
    let mut full_streams = Vec::new();
    let (mut ours_secs, mut sqlite_secs) = (0.0, 0.0);
    let mut done = 0;
    while done < n {
        let chunk: Vec<Generated> = (0..10_000.min(n - done)).map(|_| w.next()).collect();
        let t = Instant::now();
        for g in &chunk {
            store
                .append(
                    &g.stream,
                    ExpectedVersion::Exact(Version(g.version - 1)),
                    vec![g.event.clone()],
                )
                .unwrap();
        }
        ours_secs += t.elapsed().as_secs_f64();
        let t = Instant::now();
        conn.execute_batch("BEGIN").unwrap();
        {
            let mut stmt = conn
                .prepare_cached("INSERT INTO events(stream, version, payload) VALUES (?1, ?2, ?3)")
                .unwrap();
            for g in &chunk {
                stmt.execute(params![g.stream.as_str(), g.version as i64, g.envelope])
                    .unwrap();
            }
        }
        conn.execute_batch("COMMIT").unwrap();
        sqlite_secs += t.elapsed().as_secs_f64();
        full_streams.extend(
            chunk
                .iter()
                .filter(|g| g.version == STREAM_LEN)
                .map(|g| g.stream.clone()),
        );
        done += chunk.len() as u64;
    }
    let t = Instant::now();
    store.wait_for_indexes().unwrap();
    store.close().unwrap();
    ours_secs += t.elapsed().as_secs_f64();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    drop(conn);
    (
        ours,
        sqlite,
        full_streams,
        n as f64 / ours_secs,
        n as f64 / sqlite_secs,
    )
}

#[derive(Debug, Default, Clone, Copy)]
struct ChildReport {
    open_ms: f64,
    loads_per_s: f64,
    load_p50_us: f64,
    load_p99_us: f64,
    replay_events: u64,
    replay_per_s: f64,
    peak_rss_mib: f64,
}

fn parse_report(out: &str) -> ChildReport {
    let mut r = ChildReport::default();
    for kv in out.split_whitespace() {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        let v: f64 = v.parse().unwrap_or(f64::NAN);
        match k {
            "open_ms" => r.open_ms = v,
            "loads_per_s" => r.loads_per_s = v,
            "load_p50_us" => r.load_p50_us = v,
            "load_p99_us" => r.load_p99_us = v,
            "replay_events" => r.replay_events = v as u64,
            "replay_per_s" => r.replay_per_s = v,
            "peak_rss_mib" => r.peak_rss_mib = v,
            _ => {}
        }
    }
    r
}

fn run_child(kind: &str, path: &Path, streams_file: &Path) -> ChildReport {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "child",
            kind,
            path.to_str().unwrap(),
            streams_file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child {kind} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_report(&String::from_utf8_lossy(&out.stdout))
}

fn child(kind: &str, path: &Path, streams_file: &Path) {
    let streams: Vec<String> = std::fs::read_to_string(streams_file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let mut report = ChildReport::default();
    let mut latencies = Vec::with_capacity(streams.len());
    match kind {
        "opsledger" => {
            let t = Instant::now();
            let store =
                SledStore::open_with(path, store_config(Durability::Buffered), sled_options())
                    .unwrap();
            report.open_ms = t.elapsed().as_secs_f64() * 1e3;
            let t = Instant::now();
            for s in &streams {
                let l = Instant::now();
                let events = store
                    .read_stream(&StreamId::new(s).unwrap(), Version::FIRST, 100)
                    .unwrap();
                assert_eq!(events.len() as u64, STREAM_LEN);
                latencies.push(l.elapsed().as_nanos() as u64);
            }
            report.loads_per_s = streams.len() as f64 / t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut from = Position::BEGINNING;
            let mut n = 0u64;
            let page_size = env("OPSLEDGER_BENCH_PAGE", 1_000) as usize;
            loop {
                let page = store.read_all(from, page_size).unwrap();
                let Some(last) = page.last() else { break };
                from = last.position.next();
                n += page.len() as u64;
            }
            report.replay_per_s = n as f64 / t.elapsed().as_secs_f64();
            report.replay_events = n;
            drop(store);
        }
        "sqlite" => {
            let t = Instant::now();
            let conn = Connection::open(path).unwrap();
            conn.pragma_update(None, "journal_mode", "WAL").unwrap();
            let _: i64 = conn
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .unwrap();
            report.open_ms = t.elapsed().as_secs_f64() * 1e3;
            let mut stmt = conn
                .prepare("SELECT position, stream, version, payload FROM events WHERE stream = ?1 ORDER BY version")
                .unwrap();
            let t = Instant::now();
            for s in &streams {
                let l = Instant::now();
                let events: Vec<StoredEvent> = stmt
                    .query_map([s], |r| {
                        let payload: Vec<u8> = r.get(3)?;
                        Ok(decode_row(
                            r.get(0)?,
                            &r.get::<_, String>(1)?,
                            r.get(2)?,
                            &payload,
                        ))
                    })
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                assert_eq!(events.len() as u64, STREAM_LEN);
                latencies.push(l.elapsed().as_nanos() as u64);
            }
            report.loads_per_s = streams.len() as f64 / t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut stmt = conn
                .prepare("SELECT position, stream, version, payload FROM events ORDER BY position")
                .unwrap();
            let mut rows = stmt.query([]).unwrap();
            let mut n = 0u64;
            while let Some(r) = rows.next().unwrap() {
                let stream: &str = r.get_ref(1).unwrap().as_str().unwrap();
                let payload: &[u8] = r.get_ref(3).unwrap().as_blob().unwrap();
                let e = decode_row(r.get(0).unwrap(), stream, r.get(2).unwrap(), payload);
                std::hint::black_box(e);
                n += 1;
            }
            report.replay_per_s = n as f64 / t.elapsed().as_secs_f64();
            report.replay_events = n;
        }
        "sled-scan" => {
            // Diagnosis: the ceiling sled itself sets, iterating the same records undecoded.
            let t = Instant::now();
            let db = sled::Config::new()
                .path(path)
                .cache_capacity(48 << 20)
                .segment_size(8 << 20)
                .open()
                .unwrap();
            let tree = db.open_tree("opsledger-log").unwrap();
            report.open_ms = t.elapsed().as_secs_f64() * 1e3;
            let t = Instant::now();
            let mut n = 0u64;
            let mut bytes = 0usize;
            for kv in tree.range(b"E".as_slice()..b"F".as_slice()) {
                bytes += kv.unwrap().1.len();
                n += 1;
            }
            std::hint::black_box(bytes);
            report.replay_per_s = n as f64 / t.elapsed().as_secs_f64();
            report.replay_events = n;
        }
        other => panic!("unknown child {other}"),
    }
    let run = Run {
        events: 0,
        elapsed: Duration::ZERO,
        latencies_ns: latencies,
    };
    report.load_p50_us = run.pct(0.5);
    report.load_p99_us = run.pct(0.99);
    report.peak_rss_mib = peak_rss_kib() as f64 / 1024.0;
    println!(
        "open_ms={} loads_per_s={} load_p50_us={} load_p99_us={} replay_events={} replay_per_s={} peak_rss_mib={}",
        report.open_ms,
        report.loads_per_s,
        report.load_p50_us,
        report.load_p99_us,
        report.replay_events,
        report.replay_per_s,
        report.peak_rss_mib
    );
}

// ---------------------------------------------------------------------------------------------
// Report

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        return "n/a".into();
    }
    if v >= 100.0 {
        let s = format!("{:.0}", v);
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else {
        format!("{v:.2}")
    }
}

/// One comparison row: medians over rounds of both figures and of the per-round ratio.
fn row(name: &str, ours: Vec<f64>, peer: Vec<f64>, peer_name: &str) -> f64 {
    let ratios: Vec<f64> = ours.iter().zip(&peer).map(|(a, b)| a / b).collect();
    let ratio = median(ratios.clone());
    let spread = if ratios.len() > 1 {
        let lo = ratios.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = ratios.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        format!(" ({lo:.2}–{hi:.2})")
    } else {
        String::new()
    };
    println!(
        "| {name} | {} | {} ({peer_name}) | {ratio:.2}x{spread} |",
        fmt(median(ours)),
        fmt(median(peer))
    );
    ratio
}

fn target(name: &str, value: f64, cmp: &str, bound: f64) {
    let met = if cmp == ">=" {
        value >= bound
    } else {
        value <= bound
    };
    println!(
        "| **target** {name} | {value:.2} | {cmp} {bound} | **{}** |",
        if met { "met" } else { "MISSED" }
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.first().map(String::as_str) == Some("child") {
        child(&args[1], Path::new(&args[2]), Path::new(&args[3]));
        return;
    }
    let root = std::env::var("OPSLEDGER_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            std::env::temp_dir().join(format!("opsledger-bench-{}", std::process::id()))
        });
    std::fs::create_dir_all(&root).unwrap();
    let writes = env("OPSLEDGER_BENCH_WRITES", 50_000);
    let sync_writes = env("OPSLEDGER_BENCH_SYNC_WRITES", 2_000);
    let group_writes = env("OPSLEDGER_BENCH_GROUP_WRITES", 1_000) * WRITERS as u64;
    let log_events = env("OPSLEDGER_BENCH_LOG_EVENTS", 1_000_000);
    let loads = env("OPSLEDGER_BENCH_LOADS", 2_000);
    let rounds = std::env::var("OPSLEDGER_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3usize);
    println!(
        "# opsledger-store comparison ({} cores, {rounds} rounds, medians; data in {})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        root.display()
    );
    let sample = generate(1_000, 7);
    let avg = sample.iter().map(|g| g.envelope.len()).sum::<usize>() as f64 / sample.len() as f64;
    let payload =
        sample.iter().map(|g| g.event.payload.len()).sum::<usize>() as f64 / sample.len() as f64;
    println!(
        "events: JSON envelope {avg:.0} bytes on average (data payload {payload:.0} bytes + metadata)"
    );
    println!();
    println!("| figure | opsledger-store | peer | ratio (min–max over rounds) |");
    println!("|---|---:|---:|---:|");

    // Write phases, interleaved per round so that machine noise hits both sides alike.
    let mut w: std::collections::HashMap<&str, Vec<Run>> = Default::default();
    for round in 0..rounds {
        let seed = round as u64 * 10;
        let events = generate(writes, seed + 1);
        w.entry("buffered").or_default().push(opsledger_single(
            &fresh_dir(&root, "w-buffered"),
            &events,
            Durability::Buffered,
        ));
        w.entry("normal").or_default().push(sqlite_single(
            &fresh_dir(&root, "w-normal").join("e.db"),
            &events,
            "NORMAL",
        ));
        w.entry("raw")
            .or_default()
            .push(raw_sled(&fresh_dir(&root, "w-raw-sled"), &events));
        let events = generate(sync_writes, seed + 2);
        w.entry("per_commit").or_default().push(opsledger_single(
            &fresh_dir(&root, "w-percommit"),
            &events,
            Durability::PerCommit,
        ));
        w.entry("full").or_default().push(sqlite_single(
            &fresh_dir(&root, "w-full").join("e.db"),
            &events,
            "FULL",
        ));
        w.entry("disk").or_default().push(raw_append_fsync(
            &fresh_dir(&root, "w-disk").join("append.log"),
            &events,
            false,
        ));
        w.entry("disk_data").or_default().push(raw_append_fsync(
            &fresh_dir(&root, "w-disk").join("append.log"),
            &events,
            true,
        ));
        let events = generate(group_writes, seed + 3);
        w.entry("group")
            .or_default()
            .push(opsledger_group(&fresh_dir(&root, "w-group"), &events));
        w.entry("full8").or_default().push(sqlite_group(
            &fresh_dir(&root, "w-full8").join("e.db"),
            &events,
        ));
    }
    let rate = |k: &str| w[k].iter().map(Run::rate).collect::<Vec<_>>();
    let pct = |k: &str, p: f64| w[k].iter().map(|r| r.pct(p)).collect::<Vec<_>>();

    let r = row(
        "1 writer, 1 event/append: Buffered vs SQLite NORMAL, events/s",
        rate("buffered"),
        rate("normal"),
        "SQLite NORMAL",
    );
    row(
        "  p50 latency, µs",
        pct("buffered", 0.5),
        pct("normal", 0.5),
        "SQLite NORMAL",
    );
    row(
        "  p99 latency, µs",
        pct("buffered", 0.99),
        pct("normal", 0.99),
        "SQLite NORMAL",
    );
    row(
        "  Buffered vs raw sled inserts of the same bytes, events/s",
        rate("buffered"),
        rate("raw"),
        "raw sled, no index",
    );
    target("Buffered / SQLite NORMAL", r, ">=", 2.0);
    let r = row(
        "1 writer, 1 event/append: PerCommit vs SQLite FULL, events/s",
        rate("per_commit"),
        rate("full"),
        "SQLite FULL",
    );
    row(
        "  p50 latency, µs",
        pct("per_commit", 0.5),
        pct("full", 0.5),
        "SQLite FULL",
    );
    row(
        "  p99 latency, µs",
        pct("per_commit", 0.99),
        pct("full", 0.99),
        "SQLite FULL",
    );
    row(
        "  PerCommit vs raw append+fsync, events/s",
        rate("per_commit"),
        rate("disk"),
        "append+fsync",
    );
    let p = row(
        "  PerCommit p50 vs raw append+fsync p50, µs",
        pct("per_commit", 0.5),
        pct("disk", 0.5),
        "append+fsync",
    );
    row(
        "  raw append+fdatasync vs append+fsync, p50 µs",
        pct("disk_data", 0.5),
        pct("disk", 0.5),
        "append+fsync",
    );
    target("PerCommit / SQLite FULL", r, ">=", 1.0);
    target("PerCommit p50 / append+fsync p50", p, "<=", 1.5);
    let r = row(
        "8 writers, 1 event/append: GroupCommit vs SQLite FULL x8, events/s",
        rate("group"),
        rate("full8"),
        "SQLite FULL x8",
    );
    row(
        "  p50 latency, µs",
        pct("group", 0.5),
        pct("full8", 0.5),
        "SQLite FULL x8",
    );
    let p99 = pct("group", 0.99);
    row(
        "  p99 latency, µs",
        p99.clone(),
        pct("full8", 0.99),
        "SQLite FULL x8",
    );
    target("GroupCommit x8 / SQLite FULL x8", r, ">=", 3.0);
    target("GroupCommit x8 p99, ms", median(p99) / 1e3, "<=", 10.0);

    // The big log.
    let (ours_dir, sqlite_path, streams, build_ours, build_sqlite) = build_logs(&root, log_events);
    row(
        &format!(
            "build the {log_events}-event log (ours 1 event/append Buffered; SQLite 10k events/tx NORMAL), events/s"
        ),
        vec![build_ours],
        vec![build_sqlite],
        "SQLite",
    );
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let picks: Vec<String> = (0..loads)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            streams[(rng % streams.len() as u64) as usize].to_string()
        })
        .collect();
    let streams_file = root.join("streams.txt");
    std::fs::write(&streams_file, picks.join("\n")).unwrap();
    let ours_size = allocated_bytes(&ours_dir) as f64 / (1 << 20) as f64;
    let sqlite_size = allocated_bytes(sqlite_path.parent().unwrap()) as f64 / (1 << 20) as f64;
    let first = run_child("opsledger", &ours_dir, &streams_file);
    let (mut ours, mut lite) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        ours.push(run_child("opsledger", &ours_dir, &streams_file));
        lite.push(run_child("sqlite", &sqlite_path, &streams_file));
    }
    let f = |v: &Vec<ChildReport>, g: fn(&ChildReport) -> f64| v.iter().map(g).collect::<Vec<_>>();
    let scan = run_child("sled-scan", &ours_dir, &streams_file);
    let replay = row(
        &format!("replay all {log_events} events, decode each (fresh process), events/s"),
        f(&ours, |r| r.replay_per_s),
        f(&lite, |r| r.replay_per_s),
        "SQLite + serde_json",
    );
    row(
        "  (ceiling) raw sled scan of the same records, no decode, events/s",
        vec![scan.replay_per_s],
        vec![median(f(&lite, |r| r.replay_per_s))],
        "SQLite + serde_json",
    );
    row(
        "  replay in the first process after the build, events/s",
        vec![first.replay_per_s],
        vec![median(f(&lite, |r| r.replay_per_s))],
        "SQLite + serde_json",
    );
    let load = row(
        &format!("load one 20-event stream from the {log_events}-event log, loads/s"),
        f(&ours, |r| r.loads_per_s),
        f(&lite, |r| r.loads_per_s),
        "SQLite indexed query + serde_json",
    );
    row(
        "  load p50, µs",
        f(&ours, |r| r.load_p50_us),
        f(&lite, |r| r.load_p50_us),
        "SQLite",
    );
    row(
        "  load p99, µs",
        f(&ours, |r| r.load_p99_us),
        f(&lite, |r| r.load_p99_us),
        "SQLite",
    );
    row(
        "open, first after the build, ms",
        vec![first.open_ms],
        vec![median(f(&lite, |r| r.open_ms))],
        "SQLite",
    );
    let open = median(f(&ours, |r| r.open_ms));
    row(
        "open, later, ms",
        f(&ours, |r| r.open_ms),
        f(&lite, |r| r.open_ms),
        "SQLite",
    );
    let rss = f(&ours, |r| r.peak_rss_mib)
        .into_iter()
        .chain([first.peak_rss_mib])
        .fold(0.0, f64::max);
    row(
        "peak resident memory: open + loads + replay, MiB (worst)",
        vec![rss],
        vec![median(f(&lite, |r| r.peak_rss_mib))],
        "SQLite",
    );
    let disk = row(
        "disk, MiB allocated",
        vec![ours_size],
        vec![sqlite_size],
        "SQLite after checkpoint",
    );
    target("replay / SQLite + serde_json", replay, ">=", 1.5);
    target("stream load / SQLite", load, ">=", 2.0);
    target("open, ms (first after build)", first.open_ms, "<=", 1000.0);
    target("open, ms (later)", open, "<=", 1000.0);
    target("resident memory, MiB", rss, "<=", 256.0);
    target("disk / SQLite", disk, "<=", 2.0);
    println!();
    println!(
        "(replay read {} events on both sides; {} stream loads)",
        first.replay_events, loads
    );
    if std::env::var_os("OPSLEDGER_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&root);
    }
}
