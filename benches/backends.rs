//! Storage backends against the SQLite service a Rust user would write instead: one command,
//! every figure, ratio and target in one run.
//!
//! ```text
//! cargo bench --bench backends                          # the full run (~11 min; docs/PERFORMANCE.md)
//! OPSLEDGER_BENCH_QUICK=1 cargo bench --bench backends  # a smoke run (~20 s)
//! OPSLEDGER_BENCH_SECTIONS=2 OPSLEDGER_BENCH_CONTENDERS=sqlite,service \
//!   OPSLEDGER_BENCH_LOG_EVENTS=1000000,10000000 cargo bench --bench backends  # the 10M point (~10 min)
//! ```
//!
//! Contenders:
//! - **engine on SQLite**: `Engine` on `SqliteStorage` (the default backend);
//! - **engine on sled**: `Engine` on `SledStorage` (sled log, read models in SQLite beside it);
//! - **service**: the SQLite service written in this file, what an embedder would write
//!   instead of the engine: an `events` table (position INTEGER PRIMARY KEY, stream, version,
//!   event_id, type, JSON payload, occurred/recorded times, actor; UNIQUE(stream, version),
//!   UNIQUE(event_id)) and an `incidents` state table (id, number, title, status, priority,
//!   group, assignee, service, version, times) indexed for the queue filters (status +
//!   priority, group, assignee), WAL mode, prepared statements cached, and one `BEGIN
//!   IMMEDIATE` transaction per command that reads the incident's state row, checks the
//!   transition, inserts the event and updates (or inserts) the state row.
//!
//! The workload is the incident lifecycle of `benches/engine.rs`: open (with a group), assign
//! to a person, add a work note, resolve, close. Durability is matched as follows:
//!
//! | phase | engine | service |
//! |---|---|---|
//! | 1 thread, non-durable | `Durability::Buffered` | `synchronous=NORMAL` |
//! | 1 thread, durable | `Durability::PerCommit` | `synchronous=FULL` |
//! | 4 threads, durable | `Durability::GroupCommit` | `synchronous=FULL`, a connection per thread, `busy_timeout` |
//!
//! Sections (`OPSLEDGER_BENCH_SECTIONS`, default `123`):
//! 1. **Throughput** in interleaved rounds: round k runs every contender once per phase, in
//!    an order rotated by k, each in a fresh directory. Per run: commands/s, p50/p99 command
//!    latency, CPU per command (`getrusage` user + sys of the whole process, background threads
//!    included, over the commands), and the directory's allocated size after a clean close.
//!    Ratios engine/service are computed within each round; the tables show their median and
//!    min–max. Disk is scaled per million events *of the engine's count for the same work*
//!    (both sides divided by the same number, so the ratio is the ratio of bytes for the same
//!    commands: the engine records 7 events per lifecycle, the service 5). After the rounds,
//!    the engine on its memory backend (the log in memory, the read models in an in-memory
//!    SQLite) runs the 1-thread lifecycles once per round: what a command costs without the
//!    disk.
//! 2. **Cold open** of a large log in a fresh child process (this binary re-invoked): time to
//!    an open engine (service: connection, pragmas, schema statements, head) and resident
//!    memory (VmRSS) after it, at each log length. The logs are bulk loaded, not built through
//!    commands: the events the engine would record for a mix of incidents (all opened with a
//!    number, a quarter assigned and acknowledged, a tenth of those resolved) are written
//!    straight into the store in appends of 15 incidents (and their numbering stream), then
//!    the engine opens once (its read models catch up from the log) and closes; the service
//!    gets the same incidents as rows. Build times are reported separately. Each length grows
//!    the previous log; one uncounted open follows each build.
//! 3. **Hang watchdog**: write-heavy runs (several threads, `GroupCommit`, a fresh directory,
//!    each run a child process) per engine backend, alternating backends. A run whose command
//!    count does not move for the stall time is a hang: the stacks of its threads are taken
//!    (`gdb -p PID -batch -ex 'thread apply all bt'`, else `/proc/PID/task/*/{wchan,stack}`;
//!    the watchdog of `tests/support/watchdog.rs`), written to a file and summarised, and the
//!    child is killed.
//!
//! Environment (all optional; `_` allowed in numbers):
//! - `OPSLEDGER_BENCH_QUICK=1`: small sizes everywhere (a smoke run);
//! - `OPSLEDGER_BENCH_ROUNDS` (default 5; quick 2);
//! - `OPSLEDGER_BENCH_LIFECYCLES` (default 2,000; quick 200): lifecycles per run, 1 thread
//!   non-durable;
//! - `OPSLEDGER_BENCH_DURABLE_LIFECYCLES` (default 300; quick 40): 1 thread durable;
//! - `OPSLEDGER_BENCH_GROUP_LIFECYCLES` (default 100; quick 15): per thread, 4 threads durable;
//! - `OPSLEDGER_BENCH_LOG_EVENTS` (default `1000000,3000000`; quick `20000,60000`): the large
//!   logs' lengths in engine events, ascending (10M is opt-in: `1000000,10000000`);
//! - `OPSLEDGER_BENCH_OPENS` (default 3): cold opens per contender and length (median shown);
//! - `OPSLEDGER_BENCH_HANG_RUNS` (default 100; quick 5): write-heavy runs per backend;
//! - `OPSLEDGER_BENCH_HANG_THREADS` (default 8), `OPSLEDGER_BENCH_HANG_LIFECYCLES` (per thread,
//!   default 50; quick 20), `OPSLEDGER_BENCH_HANG_STALL_SECS` (default 30);
//! - `OPSLEDGER_BENCH_HANG_DIR` (default `<temp>/opsledger-bench-hangs`): where the stacks of
//!   hung runs are written;
//! - `OPSLEDGER_BENCH_SECTIONS` (default `123`);
//! - `OPSLEDGER_BENCH_CONTENDERS` (default `sqlite,sled,service`): sections 1 and 2 run only
//!   these (to profile one, or to add a 10M-event point without sled's ~20 minutes of bulk
//!   loading; ratios against a contender left out show `–`);
//! - `OPSLEDGER_BENCH_DIR`: where to build (default: a temporary directory, removed after).
//!
//! Targets (engine/service unless absolute): commands/s >= 1.0x (1 thread, both durabilities)
//! and >= 2.0x (4 threads durable); CPU per command <= 1.5x; disk per million events <= 1.5x;
//! cold open <= 20 ms and RSS after open <= 64 MiB at every length, flat (the longest log's
//! figure <= 1.5x the shortest's); no hang. The bench prints verdicts; it asserts nothing.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use opsledger::core::incident::{CloseCode, IncidentCommand, IncidentEvent};
use opsledger::core::{Actor, Impact, IncidentId, Role, Urgency};
use opsledger::store::{
    AppendRequest, EventStore, ExpectedVersion, NewEvent, StoreConfig, StreamId,
};
use opsledger::{CommandEnvelope, Durability, Engine, EngineConfig, QueueFilter, Uuid};
use opsledger_store_sled::{LOG_DIR, SledOptions, SledStorage, SledStore};
use opsledger_store_sqlite::{DATABASE_FILE, SqliteOptions, SqliteStorage, SqliteStore};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

/// The hang watchdog the end-to-end tests use (progress lines, stacks, kill).
#[allow(dead_code)]
#[path = "../tests/support/watchdog.rs"]
mod watchdog;
use watchdog::{Progress, Watched};

// ---- helpers --------------------------------------------------------------------------------

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn quick() -> bool {
    std::env::var("OPSLEDGER_BENCH_QUICK").is_ok_and(|v| v != "0")
}

/// A number for people: thousands separators, fewer decimals as it grows.
fn num(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let decimals = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{:.*}", decimals, v.abs());
    let (int, frac) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(i, f)| (i, Some(f)));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if v < 0.0 { "-" } else { "" };
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

fn ratio(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}x")
    } else {
        "–".into()
    }
}

fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        })
}

fn percentile_us(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

/// User + system CPU time of the whole process (every thread), in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: `getrusage` only writes into the zero-initialised struct we pass it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return f64::NAN;
        }
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Bytes allocated on disk under `path` (what `du` counts), `-wal` and `-shm` files included.
fn allocated_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_dir() {
        std::fs::read_dir(path)
            .map(|entries| entries.flatten().map(|e| allocated_bytes(&e.path())).sum())
            .unwrap_or(0)
    } else {
        meta.blocks() * 512
    }
}

fn fresh(dir: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("create dir");
    dir.to_path_buf()
}

fn id(n: u64, salt: u64) -> IncidentId {
    IncidentId(Uuid::from_u128((u128::from(salt) << 64) | u128::from(n)))
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

// ---- contenders -----------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Sled,
}

impl Backend {
    fn key(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Sled => "sled",
        }
    }

    fn from_key(key: &str) -> Self {
        match key {
            "sled" => Backend::Sled,
            _ => Backend::Sqlite,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contender {
    Engine(Backend),
    Service,
}

const CONTENDERS: [Contender; 3] = [
    Contender::Engine(Backend::Sqlite),
    Contender::Engine(Backend::Sled),
    Contender::Service,
];

impl Contender {
    fn key(self) -> &'static str {
        match self {
            Contender::Engine(b) => b.key(),
            Contender::Service => "service",
        }
    }

    fn from_key(key: &str) -> Self {
        match key {
            "service" => Contender::Service,
            other => Contender::Engine(Backend::from_key(other)),
        }
    }

    fn index(self) -> usize {
        match self {
            Contender::Engine(Backend::Sqlite) => 0,
            Contender::Engine(Backend::Sled) => 1,
            Contender::Service => 2,
        }
    }
}

fn open_engine(backend: Backend, dir: &Path, durability: Durability) -> Engine {
    let config = EngineConfig::default().with_durability(durability);
    let dir = dir.to_path_buf();
    let builder = match backend {
        Backend::Sqlite => Engine::builder().storage(move |store_config| {
            Ok(Box::new(SqliteStorage::open(
                &dir,
                store_config,
                SqliteOptions::default(),
            )?))
        }),
        Backend::Sled => Engine::builder().storage(move |store_config| {
            Ok(Box::new(SledStorage::open(
                &dir,
                store_config,
                SledOptions::default(),
            )?))
        }),
    };
    builder.config(config).open().expect("open engine")
}

// ---- the lifecycle through the engine -------------------------------------------------------

/// open, assign, work note, resolve, close (as in `benches/engine.rs`), timing each command.
fn engine_lifecycle(engine: &Engine, actor: &Actor, id: IncidentId, latencies: &mut Vec<Duration>) {
    let cmds = [
        IncidentCommand::Open {
            id,
            title: "Checkout returns HTTP 500".into(),
            description: "Customers cannot pay".into(),
            caller: "carol".into(),
            impact: Impact::Medium,
            urgency: Urgency::High,
            service: Some("webshop".into()),
            cis: vec!["web-01".into()],
            group: Some("web".into()),
            assignee: None,
            alert: None,
        },
        IncidentCommand::Assign {
            id,
            group: Some("web".into()),
            assignee: Some("alice".into()),
        },
        IncidentCommand::AddWorkNote {
            id,
            text: "Rolling back release 42".into(),
        },
        IncidentCommand::Resolve {
            id,
            code: CloseCode::SolvedWorkaround,
            notes: "Rolled back".into(),
        },
        IncidentCommand::Close { id },
    ];
    for c in cmds {
        let started = Instant::now();
        engine
            .execute(CommandEnvelope::new(actor.clone(), c))
            .expect("command");
        latencies.push(started.elapsed());
    }
}

// ---- the hand-written service ---------------------------------------------------------------

const SERVICE_FILE: &str = "service.sqlite3";

const SERVICE_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS events(
    position    INTEGER PRIMARY KEY,
    stream      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    event_id    BLOB NOT NULL,
    type        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    UNIQUE(stream, version),
    UNIQUE(event_id)
);
CREATE TABLE IF NOT EXISTS incidents(
    id          TEXT PRIMARY KEY,
    number      INTEGER NOT NULL UNIQUE,
    title       TEXT NOT NULL,
    status      TEXT NOT NULL,
    priority    INTEGER NOT NULL,
    "group"     TEXT,
    assignee    TEXT,
    service     TEXT,
    version     INTEGER NOT NULL,
    opened_at   INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    resolved_at INTEGER,
    closed_at   INTEGER
);
CREATE INDEX IF NOT EXISTS incidents_by_status ON incidents(status, priority);
CREATE INDEX IF NOT EXISTS incidents_by_group ON incidents("group", status, priority);
CREATE INDEX IF NOT EXISTS incidents_by_assignee ON incidents(assignee, status, priority);
"#;

/// The service's commands: the same five as the engine's lifecycle.
enum ServiceCommand<'a> {
    Open {
        id: &'a str,
        title: &'a str,
        description: &'a str,
        caller: &'a str,
        impact: u8,
        urgency: u8,
        service: Option<&'a str>,
        cis: &'a [&'a str],
        group: Option<&'a str>,
    },
    Assign {
        id: &'a str,
        group: Option<&'a str>,
        assignee: Option<&'a str>,
    },
    AddWorkNote {
        id: &'a str,
        text: &'a str,
    },
    Resolve {
        id: &'a str,
        code: &'a str,
        notes: &'a str,
    },
    Close {
        id: &'a str,
    },
}

/// The service's event payloads (the type goes in its own column).
#[derive(Serialize)]
#[serde(untagged)]
enum ServiceEvent<'a> {
    Opened {
        title: &'a str,
        description: &'a str,
        caller: &'a str,
        impact: u8,
        urgency: u8,
        priority: u8,
        service: Option<&'a str>,
        cis: &'a [&'a str],
        group: Option<&'a str>,
    },
    Assigned {
        group: Option<&'a str>,
        assignee: Option<&'a str>,
        previous_group: Option<String>,
        previous_assignee: Option<String>,
    },
    WorkNoteAdded {
        text: &'a str,
    },
    Resolved {
        code: &'a str,
        notes: &'a str,
    },
    Closed {},
}

#[derive(Debug)]
enum ServiceError {
    Sql(rusqlite::Error),
    Refused(&'static str),
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceError::Sql(e) => write!(f, "SQLite: {e}"),
            ServiceError::Refused(why) => write!(f, "refused: {why}"),
        }
    }
}

impl From<rusqlite::Error> for ServiceError {
    fn from(e: rusqlite::Error) -> Self {
        ServiceError::Sql(e)
    }
}

/// 1 (critical) ..= 5 (planning), from impact and urgency 1 (high) ..= 3 (low).
fn priority(impact: u8, urgency: u8) -> u8 {
    (impact + urgency - 1).min(5)
}

struct Service {
    conn: Connection,
}

impl Service {
    fn open(path: &Path, synchronous: &str) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", synchronous)?;
        conn.execute_batch(SERVICE_SCHEMA)?;
        Ok(Self { conn })
    }

    fn head(&self) -> rusqlite::Result<u64> {
        self.conn
            .query_row("SELECT coalesce(max(position), 0) FROM events", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|v| v as u64)
    }

    fn execute(&mut self, actor: &str, command: &ServiceCommand<'_>) -> Result<u64, ServiceError> {
        let now = now_micros();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id = match command {
            ServiceCommand::Open { id, .. }
            | ServiceCommand::Assign { id, .. }
            | ServiceCommand::AddWorkNote { id, .. }
            | ServiceCommand::Resolve { id, .. }
            | ServiceCommand::Close { id } => *id,
        };
        let row: Option<(String, i64, Option<String>, Option<String>)> = tx
            .prepare_cached(
                r#"SELECT status, version, "group", assignee FROM incidents WHERE id = ?1"#,
            )?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?;
        let version = row.as_ref().map_or(0, |r| r.1) + 1;
        let (event_type, event) = match (command, row) {
            (
                ServiceCommand::Open {
                    title,
                    description,
                    caller,
                    impact,
                    urgency,
                    service,
                    cis,
                    group,
                    ..
                },
                None,
            ) => {
                let priority = priority(*impact, *urgency);
                let number: i64 = tx
                    .prepare_cached("SELECT coalesce(max(number), 0) + 1 FROM incidents")?
                    .query_row([], |r| r.get(0))?;
                tx.prepare_cached(
                    r#"INSERT INTO incidents(id, number, title, status, priority, "group",
                       assignee, service, version, opened_at, updated_at)
                       VALUES (?1, ?2, ?3, 'new', ?4, ?5, NULL, ?6, 1, ?7, ?7)"#,
                )?
                .execute(params![id, number, title, priority, group, service, now])?;
                (
                    "incident.opened",
                    ServiceEvent::Opened {
                        title,
                        description,
                        caller,
                        impact: *impact,
                        urgency: *urgency,
                        priority,
                        service: *service,
                        cis,
                        group: *group,
                    },
                )
            }
            (ServiceCommand::Open { .. }, Some(_)) => {
                return Err(ServiceError::Refused("the incident exists"));
            }
            (_, None) => return Err(ServiceError::Refused("no such incident")),
            (
                ServiceCommand::Assign {
                    group, assignee, ..
                },
                Some((status, _, previous_group, previous_assignee)),
            ) => {
                if !matches!(status.as_str(), "new" | "in_progress" | "on_hold") {
                    return Err(ServiceError::Refused("cannot assign in this state"));
                }
                let status = if assignee.is_some() && status == "new" {
                    "in_progress"
                } else {
                    status.as_str()
                };
                tx.prepare_cached(
                    r#"UPDATE incidents SET "group" = ?2, assignee = ?3, status = ?4,
                       version = ?5, updated_at = ?6 WHERE id = ?1"#,
                )?
                .execute(params![id, group, assignee, status, version, now])?;
                (
                    "incident.assigned",
                    ServiceEvent::Assigned {
                        group: *group,
                        assignee: *assignee,
                        previous_group,
                        previous_assignee,
                    },
                )
            }
            (ServiceCommand::AddWorkNote { text, .. }, Some((status, ..))) => {
                if matches!(status.as_str(), "closed" | "canceled") {
                    return Err(ServiceError::Refused("the incident is closed"));
                }
                tx.prepare_cached(
                    "UPDATE incidents SET version = ?2, updated_at = ?3 WHERE id = ?1",
                )?
                .execute(params![id, version, now])?;
                (
                    "incident.work_note_added",
                    ServiceEvent::WorkNoteAdded { text },
                )
            }
            (ServiceCommand::Resolve { code, notes, .. }, Some((status, ..))) => {
                if !matches!(status.as_str(), "in_progress" | "on_hold") {
                    return Err(ServiceError::Refused("cannot resolve in this state"));
                }
                tx.prepare_cached(
                    "UPDATE incidents SET status = 'resolved', version = ?2, updated_at = ?3, \
                     resolved_at = ?3 WHERE id = ?1",
                )?
                .execute(params![id, version, now])?;
                ("incident.resolved", ServiceEvent::Resolved { code, notes })
            }
            (ServiceCommand::Close { .. }, Some((status, ..))) => {
                if status != "resolved" {
                    return Err(ServiceError::Refused("only a resolved incident closes"));
                }
                tx.prepare_cached(
                    "UPDATE incidents SET status = 'closed', version = ?2, updated_at = ?3, \
                     closed_at = ?3 WHERE id = ?1",
                )?
                .execute(params![id, version, now])?;
                ("incident.closed", ServiceEvent::Closed {})
            }
        };
        let payload = serde_json::to_string(&event).expect("json");
        tx.prepare_cached(
            "INSERT INTO events(stream, version, event_id, type, payload, occurred_at, \
             recorded_at, actor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
        )?
        .execute(params![
            format!("incident-{id}"),
            version,
            Uuid::now_v7().as_bytes().as_slice(),
            event_type,
            payload,
            now,
            actor
        ])?;
        tx.commit()?;
        Ok(version as u64)
    }
}

fn service_lifecycle(service: &mut Service, id: IncidentId, latencies: &mut Vec<Duration>) {
    let id = id.0.to_string();
    let id = id.as_str();
    let cmds = [
        ServiceCommand::Open {
            id,
            title: "Checkout returns HTTP 500",
            description: "Customers cannot pay",
            caller: "carol",
            impact: 2,
            urgency: 1,
            service: Some("webshop"),
            cis: &["web-01"],
            group: Some("web"),
        },
        ServiceCommand::Assign {
            id,
            group: Some("web"),
            assignee: Some("alice"),
        },
        ServiceCommand::AddWorkNote {
            id,
            text: "Rolling back release 42",
        },
        ServiceCommand::Resolve {
            id,
            code: "solved_workaround",
            notes: "Rolled back",
        },
        ServiceCommand::Close { id },
    ];
    for c in &cmds {
        let started = Instant::now();
        if let Err(e) = service.execute("alice", c) {
            panic!("service command: {e}");
        }
        latencies.push(started.elapsed());
    }
}

// ---- section 1: throughput ------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// 1 thread, Buffered vs NORMAL.
    Fast,
    /// 1 thread, PerCommit vs FULL.
    Durable,
    /// 4 threads, GroupCommit vs FULL.
    Group,
}

const PHASES: [Phase; 3] = [Phase::Fast, Phase::Durable, Phase::Group];

impl Phase {
    fn title(self) -> &'static str {
        match self {
            Phase::Fast => "1 thread, non-durable (Buffered / NORMAL)",
            Phase::Durable => "1 thread, durable (PerCommit / FULL)",
            Phase::Group => "4 threads, durable (GroupCommit / FULL x4)",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Phase::Fast => "1t non-durable",
            Phase::Durable => "1t durable",
            Phase::Group => "4t durable",
        }
    }

    fn threads(self) -> u64 {
        match self {
            Phase::Fast | Phase::Durable => 1,
            Phase::Group => 4,
        }
    }

    fn durability(self) -> Durability {
        match self {
            Phase::Fast => Durability::Buffered,
            Phase::Durable => Durability::PerCommit,
            Phase::Group => Durability::GroupCommit,
        }
    }

    fn synchronous(self) -> &'static str {
        match self {
            Phase::Fast => "NORMAL",
            Phase::Durable | Phase::Group => "FULL",
        }
    }

    fn target(self) -> f64 {
        match self {
            Phase::Fast | Phase::Durable => 1.0,
            Phase::Group => 2.0,
        }
    }
}

struct Run {
    commands: u64,
    secs: f64,
    /// Sorted.
    latencies: Vec<Duration>,
    cpu_secs: f64,
    events: u64,
    disk_bytes: u64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.commands as f64 / self.secs
    }

    fn cpu_us_per_command(&self) -> f64 {
        self.cpu_secs * 1e6 / self.commands as f64
    }
}

fn run_engine(backend: Backend, dir: &Path, phase: Phase, lifecycles_per_thread: u64) -> Run {
    let engine = open_engine(backend, dir, phase.durability());
    run_lifecycles(engine, dir, phase.threads(), lifecycles_per_thread)
}

/// The lifecycles through the engine on its memory backend (the log in memory, the read models
/// in an in-memory SQLite), one thread: what a command costs without the disk.
fn run_memory_engine(dir: &Path, lifecycles: u64) -> Run {
    let config = EngineConfig::default().with_durability(Durability::Buffered);
    let engine = Engine::in_memory(config).expect("open engine");
    run_lifecycles(engine, dir, 1, lifecycles)
}

fn run_lifecycles(engine: Engine, dir: &Path, threads: u64, lifecycles_per_thread: u64) -> Run {
    let actor = Actor::new("alice", [Role::Agent]);
    let cpu0 = cpu_seconds();
    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let engine = engine.clone();
                let actor = actor.clone();
                s.spawn(move || {
                    let mut lat = Vec::with_capacity(lifecycles_per_thread as usize * 5);
                    for n in 0..lifecycles_per_thread {
                        engine_lifecycle(&engine, &actor, id(n, 1 + t), &mut lat);
                    }
                    lat
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    let secs = started.elapsed().as_secs_f64();
    let cpu_secs = cpu_seconds() - cpu0;
    let events = engine.head().expect("head");
    engine.close().expect("close");
    latencies.sort();
    Run {
        commands: latencies.len() as u64,
        secs,
        latencies,
        cpu_secs,
        events,
        disk_bytes: allocated_bytes(dir),
    }
}

fn run_service(dir: &Path, phase: Phase, lifecycles_per_thread: u64) -> Run {
    let path = dir.join(SERVICE_FILE);
    // Creates the schema before the threads connect.
    let first = Service::open(&path, phase.synchronous()).expect("open service");
    let threads = phase.threads();
    let cpu0 = cpu_seconds();
    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let path = &path;
                s.spawn(move || {
                    let mut service = Service::open(path, phase.synchronous()).expect("connect");
                    let mut lat = Vec::with_capacity(lifecycles_per_thread as usize * 5);
                    for n in 0..lifecycles_per_thread {
                        service_lifecycle(&mut service, id(n, 1 + t), &mut lat);
                    }
                    lat
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    let secs = started.elapsed().as_secs_f64();
    let cpu_secs = cpu_seconds() - cpu0;
    let events = first.head().expect("head");
    // A clean close: the last connection to close checkpoints the WAL and removes it.
    first.conn.close().map_err(|(_, e)| e).expect("close");
    latencies.sort();
    Run {
        commands: latencies.len() as u64,
        secs,
        latencies,
        cpu_secs,
        events,
        disk_bytes: allocated_bytes(dir),
    }
}

/// Per contender, per round.
#[derive(Default)]
struct Series {
    rate: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    cpu: Vec<f64>,
    /// Bytes per lifecycle.
    disk_per_lifecycle: Vec<f64>,
    events_per_lifecycle: Vec<f64>,
}

struct Verdict {
    what: String,
    value: String,
    target: String,
    met: bool,
}

fn verdict(
    what: impl Into<String>,
    value: String,
    target: impl Into<String>,
    met: bool,
) -> Verdict {
    Verdict {
        what: what.into(),
        value,
        target: target.into(),
        met,
    }
}

fn section_throughput(root: &Path, verdicts: &mut Vec<Verdict>) {
    let rounds = env_u64("OPSLEDGER_BENCH_ROUNDS", if quick() { 2 } else { 5 });
    let sizes = [
        env_u64(
            "OPSLEDGER_BENCH_LIFECYCLES",
            if quick() { 200 } else { 2_000 },
        ),
        env_u64(
            "OPSLEDGER_BENCH_DURABLE_LIFECYCLES",
            if quick() { 40 } else { 300 },
        ),
        env_u64(
            "OPSLEDGER_BENCH_GROUP_LIFECYCLES",
            if quick() { 15 } else { 100 },
        ),
    ];
    println!("## 1. Throughput, latency, CPU and disk ({rounds} interleaved rounds)\n");
    println!(
        "Lifecycles per run: {} (1 thread non-durable), {} (1 thread durable), {} per thread \
         (4 threads durable); 5 commands each.\n",
        num(sizes[0] as f64),
        num(sizes[1] as f64),
        num(sizes[2] as f64)
    );
    // series[phase][contender]
    let mut series: Vec<Vec<Series>> = PHASES
        .iter()
        .map(|_| (0..3).map(|_| Series::default()).collect())
        .collect();
    let contenders = selected();
    for round in 0..rounds as usize {
        for (p, phase) in PHASES.iter().enumerate() {
            for k in 0..3 {
                let contender = CONTENDERS[(round + k) % 3];
                if !contenders.contains(&contender) {
                    continue;
                }
                let dir = fresh(&root.join(format!("run-{}", contender.key())));
                let per_thread = sizes[p];
                let run = match contender {
                    Contender::Engine(b) => run_engine(b, &dir, *phase, per_thread),
                    Contender::Service => run_service(&dir, *phase, per_thread),
                };
                let lifecycles = (per_thread * phase.threads()) as f64;
                let s = &mut series[p][contender.index()];
                s.rate.push(run.rate());
                s.p50.push(percentile_us(&run.latencies, 0.5));
                s.p99.push(percentile_us(&run.latencies, 0.99));
                s.cpu.push(run.cpu_us_per_command());
                s.disk_per_lifecycle
                    .push(run.disk_bytes as f64 / lifecycles);
                s.events_per_lifecycle.push(run.events as f64 / lifecycles);
                println!(
                    "round {} | {:<14} | {:<7} | {:>9} cmd/s | p50 {:>7} µs | p99 {:>8} µs | CPU {:>6} µs/cmd | {:>7} KiB on disk | {} events",
                    round + 1,
                    phase.short(),
                    contender.key(),
                    num(run.rate()),
                    num(percentile_us(&run.latencies, 0.5)),
                    num(percentile_us(&run.latencies, 0.99)),
                    num(run.cpu_us_per_command()),
                    num(run.disk_bytes as f64 / 1024.0),
                    num(run.events as f64),
                );
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
    // The floor: the same 1-thread lifecycles with nothing on disk, once per round after the
    // rounds.
    let mut memory = Series::default();
    for _ in 0..rounds {
        let dir = fresh(&root.join("run-memory"));
        let run = run_memory_engine(&dir, sizes[0]);
        memory.rate.push(run.rate());
        memory.cpu.push(run.cpu_us_per_command());
        let _ = std::fs::remove_dir_all(&dir);
    }
    // The engine's events per lifecycle (the same for both backends): the disk scale.
    let engine_events = median(&series[0][0].events_per_lifecycle);
    println!();
    println!(
        "| figure | engine on SQLite | engine on sled | service | SQLite/service (min–max) | sled/service (min–max) | target |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|");
    let row = |name: &str,
               pick: &dyn Fn(&Series) -> &Vec<f64>,
               p: usize,
               scale: f64,
               target: &str|
     -> [f64; 2] {
        let service = pick(&series[p][2]);
        let mut medians = [0.0; 2];
        let mut cells = Vec::new();
        for (i, m) in medians.iter_mut().enumerate() {
            let ours = pick(&series[p][i]);
            let ratios: Vec<f64> = ours.iter().zip(service).map(|(a, b)| a / b).collect();
            let (lo, hi) = min_max(&ratios);
            *m = median(&ratios);
            cells.push(if ratios.is_empty() {
                "not run".to_owned()
            } else {
                format!("{} ({:.2}–{:.2})", ratio(*m), lo, hi)
            });
        }
        println!(
            "| {name} | {} | {} | {} | {} | {} | {target} |",
            num(median(pick(&series[p][0])) * scale),
            num(median(pick(&series[p][1])) * scale),
            num(median(pick(&series[p][2])) * scale),
            cells[0],
            cells[1]
        );
        medians
    };
    for (p, phase) in PHASES.iter().enumerate() {
        let target = phase.target();
        let r = row(
            &format!("**{}**: commands/s", phase.title()),
            &|s| &s.rate,
            p,
            1.0,
            &format!(">= {target:.1}x"),
        );
        for (i, backend) in ["SQLite", "sled"].iter().enumerate() {
            verdicts.push(verdict(
                format!(
                    "commands/s, {}, engine on {backend} / service",
                    phase.short()
                ),
                ratio(r[i]),
                format!(">= {target:.1}x"),
                r[i] >= target,
            ));
        }
        row("  p50 command latency, µs", &|s| &s.p50, p, 1.0, "");
        row("  p99 command latency, µs", &|s| &s.p99, p, 1.0, "");
        let cpu = row("  CPU per command, µs", &|s| &s.cpu, p, 1.0, "<= 1.5x");
        for (i, backend) in ["SQLite", "sled"].iter().enumerate() {
            verdicts.push(verdict(
                format!(
                    "CPU per command, {}, engine on {backend} / service",
                    phase.short()
                ),
                ratio(cpu[i]),
                "<= 1.5x",
                cpu[i] <= 1.5,
            ));
        }
    }
    let disk = row(
        "disk per million events (after a clean close, 1t non-durable runs), MiB",
        &|s| &s.disk_per_lifecycle,
        0,
        1e6 / engine_events / 1_048_576.0,
        "<= 1.5x",
    );
    for (i, backend) in ["SQLite", "sled"].iter().enumerate() {
        verdicts.push(verdict(
            format!("disk per million events, engine on {backend} / service"),
            ratio(disk[i]),
            "<= 1.5x",
            disk[i] <= 1.5,
        ));
    }
    row(
        "  bytes per lifecycle (5 commands)",
        &|s| &s.disk_per_lifecycle,
        0,
        1.0,
        "",
    );
    row(
        "  events per lifecycle",
        &|s| &s.events_per_lifecycle,
        0,
        1.0,
        "",
    );
    println!(
        "\n(disk: both sides scaled by the engine's {} events per lifecycle, so the ratio is that of bytes for the same commands)\n",
        num(engine_events)
    );
    let service_cpu = &series[0][Contender::Service.index()].cpu;
    let floor_ratio = if service_cpu.is_empty() {
        "the service did not run".to_owned()
    } else {
        format!(
            "{} the service's CPU",
            ratio(median(&memory.cpu) / median(service_cpu))
        )
    };
    println!(
        "The engine on its memory backend (the log in memory, the read models in an in-memory \
         SQLite), 1 thread: {} commands/s, CPU {} µs per command ({floor_ratio}): what a \
         command costs without the disk.\n",
        num(median(&memory.rate)),
        num(median(&memory.cpu)),
    );
}

// ---- section 2: cold open of large logs -----------------------------------------------------

/// Incidents `from..to` of the large log, as the engine records them (numbering included).
fn bulk_engine_appends(from: u64, to: u64, at: DateTime<Utc>) -> Vec<Vec<AppendRequest>> {
    let matrix = opsledger::core::PriorityMatrix::default();
    let by: opsledger::core::ActorId = "loader".into();
    let numbers = StreamId::new("numbers-incident").expect("stream");
    let mut out = Vec::new();
    let mut batch: Vec<AppendRequest> = Vec::with_capacity(17);
    let mut numbering: Vec<NewEvent> = Vec::with_capacity(16);
    let meta = |event_type: &str, payload: Vec<u8>| NewEvent {
        event_id: Uuid::now_v7(),
        event_type: event_type.to_owned(),
        schema_version: 1,
        occurred_at: at,
        actor: "loader".into(),
        correlation_id: None,
        causation_id: None,
        payload,
    };
    let ev = |e: IncidentEvent| {
        meta(
            opsledger::core::DomainEvent::event_type(&e),
            serde_json::to_vec(&e).expect("json"),
        )
    };
    for n in from..to {
        let inc = id(n, 7);
        numbering.push(meta(
            "number.allocated",
            format!("{{\"kind\":\"incident\",\"id\":\"{}\"}}", inc.0).into_bytes(),
        ));
        let events: Vec<NewEvent> = common::bulk_incident(n, inc, at, &by, &matrix)
            .into_iter()
            .map(ev)
            .collect();
        let stream = StreamId::new(format!("incident-{}", inc.0)).expect("stream");
        batch.push(AppendRequest::new(
            stream,
            ExpectedVersion::NoStream,
            events,
        ));
        // 15 incidents and their numbering: the store's limit of 16 streams per append.
        if batch.len() == 15 || n + 1 == to {
            let mut requests = vec![AppendRequest::new(
                numbers.clone(),
                ExpectedVersion::Any,
                std::mem::take(&mut numbering),
            )];
            requests.append(&mut batch);
            out.push(requests);
        }
    }
    out
}

/// Events the engine records for incident `n` of the large log.
fn engine_events_of(n: u64) -> u64 {
    2 + if n.is_multiple_of(4) { 2 } else { 0 } + u64::from(n.is_multiple_of(40))
}

struct Build {
    write_secs: f64,
    project_secs: f64,
    events: u64,
}

/// Grows the engine's large log in `dir` from `from` to `to` incidents: bulk write into the
/// store, then one engine open (the read models catch up) and a clean close.
fn grow_engine_log(backend: Backend, dir: &Path, from: u64, to: u64) -> Build {
    let config = StoreConfig::default().with_durability(Durability::Buffered);
    let started = Instant::now();
    let at: DateTime<Utc> = DateTime::from(std::time::SystemTime::now());
    const CHUNK: u64 = 16 * 1024;
    let append_all = |store: &dyn EventStore| {
        let mut n = from;
        while n < to {
            let end = (n + CHUNK).min(to);
            for requests in bulk_engine_appends(n, end, at) {
                store.append_multi(requests).expect("append");
            }
            n = end;
        }
    };
    match backend {
        Backend::Sqlite => {
            let store = SqliteStore::open(dir.join(DATABASE_FILE), config).expect("store");
            append_all(&store);
            store.close().expect("close");
        }
        Backend::Sled => {
            let store = SledStore::open_with(dir.join(LOG_DIR), config, SledOptions::default())
                .expect("store");
            append_all(&store);
            store.close().expect("close");
        }
    }
    let write_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let engine = open_engine(backend, dir, Durability::Buffered);
    let events = engine.head().expect("head");
    engine.close().expect("close");
    Build {
        write_secs,
        project_secs: started.elapsed().as_secs_f64(),
        events,
    }
}

/// Grows the service's large log: the same incidents as rows of its two tables.
fn grow_service_log(dir: &Path, from: u64, to: u64) -> Build {
    let started = Instant::now();
    let mut service = Service::open(&dir.join(SERVICE_FILE), "NORMAL").expect("open");
    let now = now_micros();
    let impacts = [1u8, 2, 3];
    let mut n = from;
    while n < to {
        let end = (n + 10_000).min(to);
        let tx = service.conn.transaction().expect("tx");
        {
            let mut event = tx
                .prepare_cached(
                    "INSERT INTO events(stream, version, event_id, type, payload, occurred_at, \
                     recorded_at, actor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 'loader')",
                )
                .expect("prepare");
            let mut incident = tx
                .prepare_cached(
                    r#"INSERT INTO incidents(id, number, title, status, priority, "group",
                       assignee, service, version, opened_at, updated_at, resolved_at)
                       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11)"#,
                )
                .expect("prepare");
            for k in n..end {
                let inc = id(k, 7).0.to_string();
                let stream = format!("incident-{inc}");
                let group = format!("g{}", k % 50);
                let service_name = format!("s{}", k % 20);
                let (impact, urgency) = (impacts[(k % 3) as usize], impacts[(k / 3 % 3) as usize]);
                let prio = priority(impact, urgency);
                let title = format!("Incident {k}");
                let ci = format!("ci{}", k % 1000);
                let cis = [ci.as_str()];
                let mut version = 1;
                let opened = ServiceEvent::Opened {
                    title: &title,
                    description: "",
                    caller: "carol",
                    impact,
                    urgency,
                    priority: prio,
                    service: Some(&service_name),
                    cis: &cis,
                    group: Some(&group),
                };
                let mut put = |v: i64, t: &str, e: &ServiceEvent<'_>| {
                    event
                        .execute(params![
                            stream,
                            v,
                            Uuid::now_v7().as_bytes().as_slice(),
                            t,
                            serde_json::to_string(e).expect("json"),
                            now
                        ])
                        .expect("insert event");
                };
                put(1, "incident.opened", &opened);
                let mut status = "new";
                let mut assignee = None;
                let mut resolved_at = None;
                if k % 4 == 0 {
                    let agent = format!("agent{}", k % 200);
                    version += 1;
                    put(
                        version,
                        "incident.assigned",
                        &ServiceEvent::Assigned {
                            group: Some(&group),
                            assignee: Some(&agent),
                            previous_group: Some(group.clone()),
                            previous_assignee: None,
                        },
                    );
                    status = "in_progress";
                    assignee = Some(agent);
                    if k % 40 == 0 {
                        version += 1;
                        put(
                            version,
                            "incident.resolved",
                            &ServiceEvent::Resolved {
                                code: "solved_permanently",
                                notes: "fixed",
                            },
                        );
                        status = "resolved";
                        resolved_at = Some(now);
                    }
                }
                incident
                    .execute(params![
                        inc,
                        k as i64 + 1,
                        title,
                        status,
                        prio,
                        group,
                        assignee,
                        service_name,
                        version,
                        now,
                        resolved_at
                    ])
                    .expect("insert incident");
            }
        }
        tx.commit().expect("commit");
        n = end;
    }
    let events = service.head().expect("head");
    service.conn.close().map_err(|(_, e)| e).expect("close");
    Build {
        write_secs: started.elapsed().as_secs_f64(),
        project_secs: 0.0,
        events,
    }
}

struct OpenSample {
    open_ms: f64,
    rss_mib: f64,
    base_mib: f64,
    first_query_ms: f64,
    replayed: f64,
}

fn child_open(contender: Contender, dir: &Path) {
    let base = rss_kib();
    let started = Instant::now();
    match contender {
        Contender::Engine(backend) => {
            let engine = open_engine(backend, dir, Durability::Buffered);
            let open = started.elapsed();
            let rss = rss_kib();
            let stats = engine.stats().expect("stats");
            let q = Instant::now();
            let page = engine
                .view(None)
                .and_then(|v| v.queue(&QueueFilter::incidents().open().group("g17").limit(50)))
                .expect("query");
            let first_query = q.elapsed();
            println!(
                "CHILD open_ms={:.3} rss_kib={rss} base_kib={base} replayed={} first_query_ms={:.3} items={}",
                open.as_secs_f64() * 1e3,
                stats.open.views_events_applied + stats.open.process_events_checked,
                first_query.as_secs_f64() * 1e3,
                page.items.len(),
            );
            engine.close().expect("close");
        }
        Contender::Service => {
            let service = Service::open(&dir.join(SERVICE_FILE), "NORMAL").expect("open");
            let head = service.head().expect("head");
            let open = started.elapsed();
            let rss = rss_kib();
            let q = Instant::now();
            let items: Vec<String> = service
                .conn
                .prepare_cached(
                    r#"SELECT id FROM incidents WHERE "group" = ?1 AND status IN ('new', 'in_progress', 'on_hold')
                       ORDER BY status, priority LIMIT 50"#,
                )
                .and_then(|mut s| {
                    s.query_map(["g17"], |r| r.get(0))?
                        .collect::<rusqlite::Result<Vec<String>>>()
                })
                .expect("query");
            let first_query = q.elapsed();
            println!(
                "CHILD open_ms={:.3} rss_kib={rss} base_kib={base} replayed=0 first_query_ms={:.3} items={} head={head}",
                open.as_secs_f64() * 1e3,
                first_query.as_secs_f64() * 1e3,
                items.len(),
            );
            service.conn.close().map_err(|(_, e)| e).expect("close");
        }
    }
}

fn cold_open(contender: Contender, dir: &Path) -> OpenSample {
    let exe = std::env::current_exe().expect("exe");
    let out = Command::new(exe)
        .env("OPSLEDGER_BENCH_CHILD", "open")
        .env("OPSLEDGER_BENCH_CHILD_CONTENDER", contender.key())
        .env("OPSLEDGER_BENCH_CHILD_DIR", dir)
        .output()
        .expect("child");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("CHILD"))
        .unwrap_or_else(|| panic!("child failed: {}", String::from_utf8_lossy(&out.stderr)));
    let field = |name: &str| -> f64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    OpenSample {
        open_ms: field("open_ms"),
        rss_mib: field("rss_kib") / 1024.0,
        base_mib: field("base_kib") / 1024.0,
        first_query_ms: field("first_query_ms"),
        replayed: field("replayed"),
    }
}

/// The contenders a section runs: all, or those named in `OPSLEDGER_BENCH_CONTENDERS`.
fn selected() -> Vec<Contender> {
    let only = std::env::var("OPSLEDGER_BENCH_CONTENDERS").unwrap_or_default();
    CONTENDERS
        .into_iter()
        .filter(|c| only.is_empty() || only.split(',').any(|k| k.trim() == c.key()))
        .collect()
}

struct LengthRow {
    incidents: u64,
    events: u64,
    samples: [Option<OpenSample>; 3],
    disk_mib: [f64; 3],
}

fn section_cold_open(root: &Path, verdicts: &mut Vec<Verdict>) {
    let default = if quick() {
        "20000,60000"
    } else {
        "1000000,3000000"
    };
    let lengths: Vec<u64> = std::env::var("OPSLEDGER_BENCH_LOG_EVENTS")
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|s| s.trim().replace('_', "").parse().ok())
        .collect();
    let opens = env_u64("OPSLEDGER_BENCH_OPENS", 3).max(1) as usize;
    let contenders = selected();
    println!("## 2. Cold open of a large log, in a fresh process\n");
    println!(
        "Log lengths (engine events): {}; {opens} cold opens per contender and length, interleaved (median shown).\n",
        lengths
            .iter()
            .map(|l| num(*l as f64))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let dirs: Vec<PathBuf> = CONTENDERS
        .iter()
        .map(|c| root.join(format!("large-{}", c.key())))
        .collect();
    for c in &contenders {
        fresh(&dirs[c.index()]);
    }
    let mut incidents = 0u64;
    let mut events = 0u64;
    let mut table: Vec<LengthRow> = Vec::new();
    let mut builds = Vec::new();
    for &length in &lengths {
        let from = incidents;
        while events < length {
            events += engine_events_of(incidents);
            incidents += 1;
        }
        if incidents == from {
            continue;
        }
        for &c in &contenders {
            let dir = &dirs[c.index()];
            let build = match c {
                Contender::Engine(b) => grow_engine_log(b, dir, from, incidents),
                Contender::Service => grow_service_log(dir, from, incidents),
            };
            println!(
                "built {} incidents ({} more) for {}: bulk write {} s{}; log now {} events, {} MiB on disk",
                num(incidents as f64),
                num((incidents - from) as f64),
                c.key(),
                num(build.write_secs),
                match c {
                    Contender::Engine(_) => format!(
                        ", engine open projecting them + close {} s",
                        num(build.project_secs)
                    ),
                    Contender::Service => String::new(),
                },
                num(build.events as f64),
                num(allocated_bytes(dir) as f64 / 1_048_576.0),
            );
            builds.push((incidents - from, c, build));
        }
        // One open after the build, not counted: anything the build left to settle.
        for &c in &contenders {
            let _ = cold_open(c, &dirs[c.index()]);
        }
        let mut samples: [Vec<OpenSample>; 3] = [Vec::new(), Vec::new(), Vec::new()];
        for k in 0..opens {
            for j in 0..contenders.len() {
                let c = contenders[(k + j) % contenders.len()];
                samples[c.index()].push(cold_open(c, &dirs[c.index()]));
            }
        }
        let pick = |v: &[OpenSample]| {
            (!v.is_empty()).then(|| OpenSample {
                open_ms: median(&v.iter().map(|s| s.open_ms).collect::<Vec<_>>()),
                rss_mib: median(&v.iter().map(|s| s.rss_mib).collect::<Vec<_>>()),
                base_mib: median(&v.iter().map(|s| s.base_mib).collect::<Vec<_>>()),
                first_query_ms: median(&v.iter().map(|s| s.first_query_ms).collect::<Vec<_>>()),
                replayed: median(&v.iter().map(|s| s.replayed).collect::<Vec<_>>()),
            })
        };
        let disk = |i: usize| allocated_bytes(&dirs[i]) as f64 / 1_048_576.0;
        table.push(LengthRow {
            incidents,
            events,
            samples: [pick(&samples[0]), pick(&samples[1]), pick(&samples[2])],
            disk_mib: [disk(0), disk(1), disk(2)],
        });
    }
    println!();
    println!(
        "| incidents | engine events | contender | open, ms | RSS after open, MiB | (RSS before open) | events replayed at open | first queue query, ms | disk, MiB |"
    );
    println!("|---:|---:|---|---:|---:|---:|---:|---:|---:|");
    for row in &table {
        for &c in &contenders {
            let Some(s) = &row.samples[c.index()] else {
                continue;
            };
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                num(row.incidents as f64),
                num(row.events as f64),
                c.key(),
                num(s.open_ms),
                num(s.rss_mib),
                num(s.base_mib),
                num(s.replayed),
                num(s.first_query_ms),
                num(row.disk_mib[c.index()])
            );
        }
    }
    println!(
        "\nBuild times (bulk write; engine: then one open that projects and a clean close):\n"
    );
    println!(
        "| incidents added | contender | bulk write, s | projecting open + close, s | incidents/s overall |"
    );
    println!("|---:|---|---:|---:|---:|");
    for (added, c, b) in &builds {
        println!(
            "| {} | {} | {} | {} | {} |",
            num(*added as f64),
            c.key(),
            num(b.write_secs),
            num(b.project_secs),
            num(*added as f64 / (b.write_secs + b.project_secs))
        );
    }
    println!();
    for &c in &contenders {
        let series: Vec<(u64, &OpenSample)> = table
            .iter()
            .filter_map(|r| r.samples[c.index()].as_ref().map(|s| (r.events, s)))
            .collect();
        let (Some(&(n0, a)), Some(&(n1, b))) = (series.first(), series.last()) else {
            continue;
        };
        let (t, m) = (b.open_ms / a.open_ms, b.rss_mib / a.rss_mib);
        if series.len() > 1 {
            println!(
                "{}: log {:.1}x longer -> open time {t:.2}x, RSS {m:.2}x",
                c.key(),
                n1 as f64 / n0 as f64
            );
        }
        let Contender::Engine(backend) = c else {
            continue;
        };
        let name = match backend {
            Backend::Sqlite => "SQLite",
            Backend::Sled => "sled",
        };
        for (n, s) in &series {
            verdicts.push(verdict(
                format!("cold open at {} events, engine on {name}", num(*n as f64)),
                format!("{} ms", num(s.open_ms)),
                "<= 20 ms",
                s.open_ms <= 20.0,
            ));
            verdicts.push(verdict(
                format!(
                    "RSS after open at {} events, engine on {name}",
                    num(*n as f64)
                ),
                format!("{} MiB", num(s.rss_mib)),
                "<= 64 MiB",
                s.rss_mib <= 64.0,
            ));
        }
        if series.len() > 1 {
            verdicts.push(verdict(
                format!(
                    "open flat from {} to {} events, engine on {name}",
                    num(n0 as f64),
                    num(n1 as f64)
                ),
                format!("time {t:.2}x, RSS {m:.2}x"),
                "<= 1.5x each",
                t <= 1.5 && m <= 1.5,
            ));
        }
    }
    println!();
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

// ---- section 3: hang watchdog ---------------------------------------------------------------

/// A write-heavy run in this (child) process: prints its command count every 200 ms, then
/// `DONE` after a clean close.
fn child_hang_run(backend: Backend, dir: &Path) {
    let threads = env_u64("OPSLEDGER_BENCH_HANG_THREADS", 8);
    let lifecycles = env_u64(
        "OPSLEDGER_BENCH_HANG_LIFECYCLES",
        if quick() { 20 } else { 50 },
    );
    let count = Arc::new(AtomicU64::new(0));
    let reporter = {
        let count = count.clone();
        // A line only when the count moved: the watchdog takes any line for progress.
        std::thread::spawn(move || {
            let mut printed = None;
            loop {
                let now = count.load(Ordering::Relaxed);
                if printed != Some(now) {
                    println!("PROGRESS {now}");
                    let _ = std::io::stdout().flush();
                    printed = Some(now);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let engine = open_engine(backend, dir, Durability::GroupCommit);
    let actor = Actor::new("alice", [Role::Agent]);
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let engine = engine.clone();
            let actor = actor.clone();
            let count = count.clone();
            s.spawn(move || {
                let mut lat = Vec::new();
                for n in 0..lifecycles {
                    engine_lifecycle(&engine, &actor, id(n, 1 + t), &mut lat);
                    count.fetch_add(5, Ordering::Relaxed);
                }
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    engine.close().expect("close");
    println!("DONE {} {secs:.3}", count.load(Ordering::Relaxed));
    let _ = std::io::stdout().flush();
    drop(reporter);
    std::process::exit(0);
}

enum HangOutcome {
    Done { commands: u64, secs: f64 },
    Hang { file: PathBuf, summary: String },
    Failed(String),
}

/// One line per thread: its name and its first frames in sled, SQLite, opsledger or locking
/// code (else its top frame), symbol hashes stripped.
fn summarise_stacks(text: &str) -> String {
    let mut out = String::new();
    let mut thread: Option<(String, Vec<String>, Option<String>)> = None;
    let flush = |out: &mut String, thread: &mut Option<(String, Vec<String>, Option<String>)>| {
        if let Some((name, frames, top)) = thread.take() {
            let shown = if frames.is_empty() {
                top.unwrap_or_default()
            } else {
                frames.join(" <- ")
            };
            out.push_str(&format!("    {name}: {shown}\n"));
        }
    };
    for line in text.lines() {
        if line.starts_with("Thread ") {
            flush(&mut out, &mut thread);
            let name = line
                .split('"')
                .nth(1)
                .map_or_else(|| line.chars().take(40).collect(), str::to_owned);
            thread = Some((name, Vec::new(), None));
        } else if line.starts_with('#')
            && let Some((_, frames, top)) = thread.as_mut()
        {
            let function = line.split(" in ").nth(1).unwrap_or(line);
            let function = function.split(" (").next().unwrap_or("").trim();
            // Rust symbols end in `::h` and 16 hex digits.
            let function = match function.rsplit_once("::h") {
                Some((head, hash))
                    if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) =>
                {
                    head
                }
                _ => function,
            };
            let short: String = function.chars().take(100).collect();
            if top.is_none() {
                *top = Some(short.clone());
            }
            let interesting = [
                "sled::",
                "opsledger",
                "sqlite3",
                "parking_lot",
                "fsync",
                "fdatasync",
            ]
            .iter()
            .any(|k| function.contains(k));
            if interesting && frames.len() < 4 {
                frames.push(short);
            }
        }
    }
    flush(&mut out, &mut thread);
    out
}

fn hang_run(
    backend: Backend,
    dir: &Path,
    run: u64,
    stall: Duration,
    hang_dir: &Path,
) -> HangOutcome {
    let exe = std::env::current_exe().expect("exe");
    let stderr_path = hang_dir.join(format!("stderr-{}.txt", backend.key()));
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let mut watched = Watched::spawn(
        Command::new(exe)
            .env("OPSLEDGER_BENCH_CHILD", "hang")
            .env("OPSLEDGER_BENCH_CHILD_CONTENDER", backend.key())
            .env("OPSLEDGER_BENCH_CHILD_DIR", dir)
            .stdin(Stdio::null())
            .stderr(stderr),
        stall,
    )
    .expect("spawn");
    let mut last = 0u64;
    loop {
        match watched.next(Duration::from_secs(1)) {
            Ok(Progress::Line(line)) => {
                if let Some(rest) = line.strip_prefix("DONE ") {
                    let mut parts = rest.split_whitespace();
                    let commands = parts.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                    let secs = parts
                        .next()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(f64::NAN);
                    watched.kill();
                    return HangOutcome::Done { commands, secs };
                }
                if let Some(n) = line.strip_prefix("PROGRESS ").and_then(|v| v.parse().ok()) {
                    last = n;
                }
            }
            Ok(Progress::Quiet) => {}
            Ok(Progress::Exited) => {
                watched.kill();
                let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                return HangOutcome::Failed(format!(
                    "exited after {last} commands without finishing: {}",
                    err.lines().rev().take(6).collect::<Vec<_>>().join(" | ")
                ));
            }
            Err(stalled) => {
                let text = stalled.to_string();
                let file = hang_dir.join(format!("{}-run{run}.txt", backend.key()));
                let _ = std::fs::write(&file, format!("{} run {run}\n{text}", backend.key()));
                return HangOutcome::Hang {
                    file,
                    summary: format!(
                        "no command completed for {} s after {last} commands; threads:\n{}",
                        stall.as_secs(),
                        summarise_stacks(&text)
                    ),
                };
            }
        }
    }
}

fn section_hangs(root: &Path, verdicts: &mut Vec<Verdict>) {
    let runs = env_u64("OPSLEDGER_BENCH_HANG_RUNS", if quick() { 5 } else { 100 });
    let stall = Duration::from_secs(env_u64("OPSLEDGER_BENCH_HANG_STALL_SECS", 30));
    let threads = env_u64("OPSLEDGER_BENCH_HANG_THREADS", 8);
    let lifecycles = env_u64(
        "OPSLEDGER_BENCH_HANG_LIFECYCLES",
        if quick() { 20 } else { 50 },
    );
    let hang_dir = std::env::var("OPSLEDGER_BENCH_HANG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join("opsledger-bench-hangs"));
    std::fs::create_dir_all(&hang_dir).expect("hang dir");
    println!("## 3. Write-heavy runs with a hang watchdog\n");
    println!(
        "{runs} runs per backend, alternating; each a child process: {threads} threads x {lifecycles} lifecycles ({} commands), GroupCommit, fresh directory; a hang = no command completed for {} s (stacks in {}).\n",
        num((threads * lifecycles * 5) as f64),
        stall.as_secs(),
        hang_dir.display()
    );
    let backends = [Backend::Sqlite, Backend::Sled];
    let mut hangs = [0u64; 2];
    let mut failures = [0u64; 2];
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let started = Instant::now();
    for run in 1..=runs {
        for (i, backend) in backends.iter().enumerate() {
            let dir = fresh(&root.join(format!("hang-{}", backend.key())));
            match hang_run(*backend, &dir, run, stall, &hang_dir) {
                HangOutcome::Done { commands, secs } => rates[i].push(commands as f64 / secs),
                HangOutcome::Hang { file, summary } => {
                    hangs[i] += 1;
                    println!(
                        "HANG: {} run {run}: {summary}    full stacks: {}",
                        backend.key(),
                        file.display()
                    );
                }
                HangOutcome::Failed(reason) => {
                    failures[i] += 1;
                    println!("FAILED: {} run {run}: {reason}", backend.key());
                }
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
        if run % 10 == 0 || run == runs {
            println!(
                "after {run} runs ({} s): hangs SQLite {}, sled {}; failures SQLite {}, sled {}",
                num(started.elapsed().as_secs_f64()),
                hangs[0],
                hangs[1],
                failures[0],
                failures[1]
            );
        }
    }
    println!();
    println!("| backend | runs | hangs | other failures | completed runs: median commands/s |");
    println!("|---|---:|---:|---:|---:|");
    for (i, name) in ["SQLite", "sled"].iter().enumerate() {
        println!(
            "| engine on {name} | {runs} | {} | {} | {} |",
            hangs[i],
            failures[i],
            num(median(&rates[i]))
        );
        verdicts.push(verdict(
            format!("hangs in write-heavy runs, engine on {name}"),
            format!("{} of {runs}", hangs[i]),
            "0",
            hangs[i] == 0 && failures[i] == 0,
        ));
    }
    println!();
}

// ---- main -----------------------------------------------------------------------------------

fn main() {
    if let Ok(kind) = std::env::var("OPSLEDGER_BENCH_CHILD") {
        let contender = Contender::from_key(
            &std::env::var("OPSLEDGER_BENCH_CHILD_CONTENDER").unwrap_or_default(),
        );
        let dir = PathBuf::from(std::env::var("OPSLEDGER_BENCH_CHILD_DIR").expect("child dir"));
        match (kind.as_str(), contender) {
            ("open", c) => child_open(c, &dir),
            ("hang", Contender::Engine(b)) => child_hang_run(b, &dir),
            (other, c) => panic!("unknown child {other} for {c:?}"),
        }
        return;
    }
    let temp;
    let root: PathBuf = match std::env::var("OPSLEDGER_BENCH_DIR") {
        Ok(d) => PathBuf::from(d),
        Err(_) => {
            temp = tempfile::tempdir().expect("tempdir");
            temp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&root).expect("bench dir");
    let sections = std::env::var("OPSLEDGER_BENCH_SECTIONS").unwrap_or_else(|_| "123".into());
    println!(
        "# opsledger storage backends against a hand-written SQLite service ({} build{})\n",
        if cfg!(debug_assertions) {
            "DEBUG"
        } else {
            "release"
        },
        if quick() { ", quick run" } else { "" }
    );
    println!(
        "dir: {}; {} cores; load average at start: {}\n",
        root.display(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let started = Instant::now();
    let mut verdicts = Vec::new();
    if sections.contains('1') {
        section_throughput(&root, &mut verdicts);
    }
    if sections.contains('2') {
        section_cold_open(&root, &mut verdicts);
    }
    if sections.contains('3') {
        section_hangs(&root, &mut verdicts);
    }
    println!("## Targets\n");
    println!("| target | value | bound | verdict |");
    println!("|---|---:|---|---|");
    for v in &verdicts {
        println!(
            "| {} | {} | {} | {} |",
            v.what,
            v.value,
            v.target,
            if v.value == "–" {
                "not run"
            } else if v.met {
                "met"
            } else {
                "**MISSED**"
            }
        );
    }
    println!(
        "\ntotal {} s; load average at the end: {}",
        num(started.elapsed().as_secs_f64()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}
