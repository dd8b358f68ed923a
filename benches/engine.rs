//! Engine benchmark: one command, numbers and ratios in one run.
//!
//! ```text
//! cargo bench --bench engine                                   # the full run (docs/PERFORMANCE.md)
//! OPSLEDGER_BENCH_QUICK=1 cargo bench --bench engine           # a quick run (~1 min)
//! ```
//!
//! Environment (all optional):
//! - `OPSLEDGER_BENCH_QUICK=1`: small sizes everywhere;
//! - `OPSLEDGER_BENCH_LIFECYCLES` (default 4000): incident lifecycles in `Buffered` mode
//!   (`PerCommit` and `GroupCommit` run a tenth of it, at least 100);
//! - `OPSLEDGER_BENCH_RECORDS` (default 1000000): incidents in the large log;
//! - `OPSLEDGER_BENCH_DIR`: where to build (default: a temporary directory, removed after);
//! - `OPSLEDGER_BENCH_SECTIONS` (default `123`): which sections to run;
//! - `OPSLEDGER_BENCH_MODES` (default all): durability modes of section 1, e.g. `Buffered`;
//! - `OPSLEDGER_BENCH_BULK=1`: section 2 writes its incidents straight into the store (the
//!   events the engine would record) instead of executing commands, so that a log of 10M
//!   events is built in minutes; the engine projects them at the first open after each step
//!   (its "build rate" column is then the bulk write's, in command equivalents per second);
//! - `OPSLEDGER_BENCH_OPENS` (default 2): cold opens per step of section 2 (the first one
//!   after the build, then the steady-state ones; all but the last are printed as lines).
//!
//! Everything runs on the default backend, SQLite (`Engine::open` picks it for a new
//! directory; the raw store rows and bulk writes use `SqliteStore` on the same file). The
//! engine on each backend against a hand-written SQLite service is `benches/backends.rs`.
//!
//! What it measures:
//! 1. End-to-end commands/s of an incident lifecycle (open, assign, work note, resolve, close:
//!    5 commands, 7 events in 5 appends) through `Engine::execute`, in each durability mode,
//!    against the store's raw append rate for the same events in the same appends (payloads
//!    pre-encoded): the ratio is the engine's overhead (decide, JSON, read-back, read models,
//!    process managers).
//! 2. A large log built through the engine: cold open time, resident memory and events
//!    replayed at open, in a fresh process, at several log lengths (flat when read models
//!    and snapshots are current).
//! 3. Latency of filtered queue queries over all those records.

mod common;

use chrono::{DateTime, Utc};
use opsledger::core::incident::{CloseCode, IncidentCommand, IncidentEvent};
use opsledger::core::{Actor, Impact, IncidentId, Priority, Role, Urgency};
use opsledger::store::{
    AppendRequest, EventStore, ExpectedVersion, NewEvent, StoreConfig, StreamId, Version,
};
use opsledger::{
    CommandEnvelope, Durability, Engine, EngineConfig, QueueFilter, RecordStatus, Uuid,
};
use opsledger_store_sqlite::{DATABASE_FILE, SqliteStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
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

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn config(durability: Durability) -> EngineConfig {
    EngineConfig::default().with_durability(durability)
}

fn id(n: u64, salt: u64) -> IncidentId {
    IncidentId(Uuid::from_u128((u128::from(salt) << 64) | u128::from(n)))
}

// ---- 1. lifecycle throughput --------------------------------------------------------------

fn lifecycle(engine: &Engine, actor: &Actor, id: IncidentId) {
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
        engine
            .execute(CommandEnvelope::new(actor.clone(), c))
            .expect("command");
    }
}

/// The lifecycle's appends as the engine makes them, with pre-encoded payloads.
fn raw_appends(n: u64, salt: u64) -> Vec<Vec<AppendRequest>> {
    let at: DateTime<Utc> = DateTime::from(std::time::SystemTime::now());
    let inc = id(n, salt);
    let by: opsledger::core::ActorId = "alice".into();
    let ev = |e: IncidentEvent| NewEvent {
        event_id: Uuid::now_v7(),
        event_type: opsledger::core::DomainEvent::event_type(&e).to_owned(),
        schema_version: 1,
        occurred_at: at,
        actor: "alice".into(),
        correlation_id: Some(Uuid::now_v7()),
        causation_id: None,
        payload: serde_json::to_vec(&e).expect("json"),
    };
    let stream = StreamId::new(format!("incident-{}", inc.0)).expect("stream");
    let numbers = StreamId::new(format!("numbers-bench-{salt}")).expect("stream");
    let numbering = NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "number.allocated".into(),
        schema_version: 1,
        occurred_at: at,
        actor: "alice".into(),
        correlation_id: None,
        causation_id: None,
        payload: format!("{{\"kind\":\"incident\",\"id\":\"{}\"}}", inc.0).into_bytes(),
    };
    let opened = ev(IncidentEvent::Opened {
        policy_version: Default::default(),
        id: inc,
        title: "Checkout returns HTTP 500".into(),
        description: "Customers cannot pay".into(),
        caller: "carol".into(),
        impact: Impact::Medium,
        urgency: Urgency::High,
        priority: Priority::High,
        service: Some("webshop".into()),
        cis: vec!["web-01".into()],
        group: Some("web".into()),
        assignee: None,
        alert: None,
        at,
        by: by.clone(),
    });
    let req = |expected: u64, events: Vec<NewEvent>| {
        AppendRequest::new(
            stream.clone(),
            if expected == 0 {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Exact(Version(expected))
            },
            events,
        )
    };
    vec![
        vec![
            AppendRequest::new(numbers, ExpectedVersion::Any, vec![numbering]),
            req(0, vec![opened]),
        ],
        vec![req(
            1,
            vec![
                ev(IncidentEvent::Assigned {
                    id: inc,
                    group: Some("web".into()),
                    assignee: Some("alice".into()),
                    previous_group: Some("web".into()),
                    previous_assignee: None,
                    at,
                    by: by.clone(),
                }),
                ev(IncidentEvent::Acknowledged {
                    id: inc,
                    at,
                    by: by.clone(),
                }),
            ],
        )],
        vec![req(
            3,
            vec![ev(IncidentEvent::WorkNoteAdded {
                id: inc,
                text: "Rolling back release 42".into(),
                at,
                by: by.clone(),
            })],
        )],
        vec![req(
            4,
            vec![ev(IncidentEvent::Resolved {
                id: inc,
                code: CloseCode::SolvedWorkaround,
                notes: "Rolled back".into(),
                source: opsledger::core::incident::ResolutionSource::Direct,
                at,
                by: by.clone(),
            })],
        )],
        vec![req(5, vec![ev(IncidentEvent::Closed { id: inc, at, by })])],
    ]
}

struct Rate {
    commands_per_s: f64,
    events_per_s: f64,
}

fn engine_rate(dir: &Path, durability: Durability, lifecycles: u64, threads: u64) -> Rate {
    let engine = Engine::open(dir, config(durability)).expect("open");
    let actor = Actor::new("alice", [Role::Agent]);
    let head0 = engine.head().expect("head");
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let engine = engine.clone();
            let actor = actor.clone();
            s.spawn(move || {
                for n in (t..lifecycles).step_by(threads as usize) {
                    lifecycle(&engine, &actor, id(n, 1 + t));
                }
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    let events = engine.head().expect("head") - head0;
    engine.close().expect("close");
    Rate {
        commands_per_s: (lifecycles * 5) as f64 / secs,
        events_per_s: events as f64 / secs,
    }
}

fn store_rate(dir: &Path, durability: Durability, lifecycles: u64, threads: u64) -> Rate {
    let store = Arc::new(
        SqliteStore::open(
            dir.join(DATABASE_FILE),
            StoreConfig::default().with_durability(durability),
        )
        .expect("open"),
    );
    let batches: Vec<Vec<Vec<AppendRequest>>> = (0..threads)
        .map(|t| {
            (t..lifecycles)
                .step_by(threads as usize)
                .flat_map(|n| raw_appends(n, 100 + t))
                .collect()
        })
        .collect();
    let events: usize = batches
        .iter()
        .flatten()
        .map(|a| a.iter().map(|r| r.events.len()).sum::<usize>())
        .sum();
    let started = Instant::now();
    std::thread::scope(|s| {
        for appends in batches {
            let store = store.clone();
            s.spawn(move || {
                for requests in appends {
                    store.append_multi(requests).expect("append");
                }
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    drop(store);
    Rate {
        commands_per_s: (lifecycles * 5) as f64 / secs,
        events_per_s: events as f64 / secs,
    }
}

// ---- 2. large log: cold open in a fresh process ----------------------------------------

struct OpenSample {
    open_ms: f64,
    log_ms: f64,
    views_ms: f64,
    rss_mib: f64,
    replayed: u64,
    first_query_ms: f64,
    close_ms: f64,
}

fn child_open(dir: &str) {
    // Diagnostics: open the store alone, without the engine.
    if std::env::var("OPSLEDGER_BENCH_CHILD_PART").as_deref() == Ok("log") {
        let started = Instant::now();
        let store = SqliteStore::open(Path::new(dir).join(DATABASE_FILE), StoreConfig::default())
            .expect("open");
        println!(
            "PART log open_ms={:.1} rss_kib={}",
            started.elapsed().as_secs_f64() * 1e3,
            rss_kib()
        );
        drop(store);
        return;
    }
    let base = rss_kib();
    let started = Instant::now();
    let engine = Engine::open(dir, config(Durability::Buffered)).expect("open");
    let open = started.elapsed();
    let stats = engine.stats().expect("stats");
    let q = Instant::now();
    let page = engine
        .view(None)
        .and_then(|v| v.queue(&QueueFilter::incidents().open().group("g17").limit(50)))
        .expect("query");
    let first_query = q.elapsed();
    let rss = rss_kib();
    // A clean close, as a service stopping does (it empties SQLite's write-ahead log).
    let c = Instant::now();
    engine.close().expect("close");
    let close = c.elapsed();
    println!(
        "CHILD open_ms={:.1} log_ms={:.1} views_ms={:.1} recover_ms={:.1} rss_kib={} base_kib={} replayed={} head={} first_query_ms={:.2} items={} close_ms={:.1}",
        open.as_secs_f64() * 1e3,
        stats.open.log_open.as_secs_f64() * 1e3,
        stats.open.views_open.as_secs_f64() * 1e3,
        stats.open.recover.as_secs_f64() * 1e3,
        rss,
        base,
        stats.open.views_events_applied + stats.open.process_events_checked,
        stats.head,
        first_query.as_secs_f64() * 1e3,
        page.items.len(),
        close.as_secs_f64() * 1e3
    );
}

fn cold_open(dir: &Path) -> OpenSample {
    let exe = std::env::current_exe().expect("exe");
    let out = std::process::Command::new(exe)
        .env("OPSLEDGER_BENCH_CHILD_OPEN", dir)
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
        log_ms: field("log_ms"),
        views_ms: field("views_ms"),
        rss_mib: field("rss_kib") / 1024.0,
        replayed: field("replayed") as u64,
        first_query_ms: field("first_query_ms"),
        close_ms: field("close_ms"),
    }
}

/// Adds incidents `from..to` to the large log: varied priority, group (50), service (20),
/// CI (1000); a quarter taken by a person (in progress), a tenth of those resolved.
fn grow(engine: &Engine, from: u64, to: u64) {
    let impacts = [Impact::High, Impact::Medium, Impact::Low];
    let urgencies = [Urgency::High, Urgency::Medium, Urgency::Low];
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let engine = engine.clone();
            s.spawn(move || {
                let actor = Actor::new("loader", [Role::Agent]);
                let run = |c: IncidentCommand| {
                    engine
                        .execute(CommandEnvelope::new(actor.clone(), c))
                        .expect("command")
                };
                for n in (from + t..to).step_by(2) {
                    let inc = id(n, 7);
                    run(IncidentCommand::Open {
                        id: inc,
                        title: format!("Incident {n}"),
                        description: String::new(),
                        caller: "carol".into(),
                        impact: impacts[(n % 3) as usize],
                        urgency: urgencies[(n / 3 % 3) as usize],
                        service: Some(format!("s{}", n % 20).as_str().into()),
                        cis: vec![format!("ci{}", n % 1000).as_str().into()],
                        group: Some(format!("g{}", n % 50).as_str().into()),
                        assignee: None,
                        alert: None,
                    });
                    if n % 4 == 0 {
                        run(IncidentCommand::Assign {
                            id: inc,
                            group: Some(format!("g{}", n % 50).as_str().into()),
                            assignee: Some(format!("agent{}", n % 200).as_str().into()),
                        });
                        if n % 40 == 0 {
                            run(IncidentCommand::Resolve {
                                id: inc,
                                code: CloseCode::SolvedPermanently,
                                notes: "fixed".into(),
                            });
                        }
                    }
                }
            });
        }
    });
}

/// Writes incidents `from..to` straight into the log of `dir` (the engine closed): the same
/// distribution as [`grow`] and the events the engine records for it, one atomic append of 16
/// incident streams at a time. The engine's next open projects them (the "first open after
/// the build"). Returns the number of events written.
fn grow_bulk(dir: &Path, from: u64, to: u64) -> u64 {
    let matrix = opsledger::core::PriorityMatrix::default();
    let store = SqliteStore::open(
        dir.join(DATABASE_FILE),
        StoreConfig::default().with_durability(Durability::Buffered),
    )
    .expect("store");
    let by: opsledger::core::ActorId = "loader".into();
    let at: DateTime<Utc> = DateTime::from(std::time::SystemTime::now());
    let mut written = 0u64;
    let mut batch = Vec::with_capacity(16);
    for n in from..to {
        let inc = id(n, 7);
        let ev = |e: IncidentEvent| NewEvent {
            event_id: Uuid::now_v7(),
            event_type: opsledger::core::DomainEvent::event_type(&e).to_owned(),
            schema_version: 1,
            occurred_at: at,
            actor: "loader".into(),
            correlation_id: None,
            causation_id: None,
            payload: serde_json::to_vec(&e).expect("json"),
        };
        let events: Vec<NewEvent> = common::bulk_incident(n, inc, at, &by, &matrix)
            .into_iter()
            .map(ev)
            .collect();
        written += events.len() as u64;
        let stream = StreamId::new(format!("incident-{}", inc.0)).expect("stream");
        batch.push(AppendRequest::new(
            stream,
            ExpectedVersion::NoStream,
            events,
        ));
        if batch.len() == 16 || n + 1 == to {
            store
                .append_multi(std::mem::take(&mut batch))
                .expect("append");
        }
    }
    // A clean close, as after any clean shutdown.
    store.close().expect("close");
    written
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn main() {
    if let Ok(dir) = std::env::var("OPSLEDGER_BENCH_CHILD_OPEN") {
        child_open(&dir);
        return;
    }
    let quick = std::env::var("OPSLEDGER_BENCH_QUICK").is_ok();
    let lifecycles = env_usize(
        "OPSLEDGER_BENCH_LIFECYCLES",
        if quick { 500 } else { 4_000 },
    ) as u64;
    let records = env_usize(
        "OPSLEDGER_BENCH_RECORDS",
        if quick { 20_000 } else { 1_000_000 },
    ) as u64;
    let temp;
    let root: PathBuf = match std::env::var("OPSLEDGER_BENCH_DIR") {
        Ok(d) => PathBuf::from(d),
        Err(_) => {
            temp = tempfile::tempdir().expect("tempdir");
            temp.path().to_path_buf()
        }
    };
    println!(
        "# opsledger engine benchmark ({} build)",
        if cfg!(debug_assertions) {
            "DEBUG"
        } else {
            "release"
        }
    );
    println!(
        "lifecycles (Buffered): {lifecycles}; large log: {records} incidents; dir: {}\n",
        root.display()
    );

    let sections = std::env::var("OPSLEDGER_BENCH_SECTIONS").unwrap_or_else(|_| "123".into());
    if sections.contains('1') {
        println!(
            "## 1. Incident lifecycle (5 commands, 8 events, 5 appends) — engine vs raw store"
        );
        println!(
            "| mode | threads | engine cmd/s | engine events/s | store cmd-equivalents/s | store events/s | store/engine |"
        );
        println!("|---|---|---|---|---|---|---|");
        for (mode, threads, n) in [
            (Durability::Buffered, 1, lifecycles),
            (Durability::PerCommit, 1, (lifecycles / 10).max(100)),
            (Durability::GroupCommit, 4, (lifecycles / 10).max(100)),
        ] {
            let name = format!("{mode:?}");
            let modes = std::env::var("OPSLEDGER_BENCH_MODES").unwrap_or_default();
            if !modes.is_empty() && !modes.contains(&name) {
                continue;
            }
            let e = engine_rate(&root.join(format!("engine-{name}")), mode, n, threads);
            let s = store_rate(&root.join(format!("store-{name}")), mode, n, threads);
            println!(
                "| {name} | {threads} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2}x |",
                e.commands_per_s,
                e.events_per_s,
                s.commands_per_s,
                s.events_per_s,
                s.events_per_s / e.events_per_s
            );
            let _ = std::fs::remove_dir_all(root.join(format!("engine-{name}")));
            let _ = std::fs::remove_dir_all(root.join(format!("store-{name}")));
        }
    }
    if !sections.contains('2') {
        return;
    }

    println!("\n## 2. Large log: cold open in a fresh process (read models and snapshots current)");
    println!(
        "| incidents | events | log+views on disk | build rate (cmd/s) | first open after the build (its close) | open (log + views + engine) | RSS after open | events replayed at open | first filtered query |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let large = root.join("large");
    let mut built = 0u64;
    let steps: Vec<u64> = [records / 10, records / 2, records]
        .into_iter()
        .filter(|&s| s > 0)
        .collect();
    let mut samples = Vec::new();
    let bulk = std::env::var("OPSLEDGER_BENCH_BULK").is_ok();
    for target in steps {
        let commands = (target - built) + (target - built) / 4 + (target - built) / 40;
        let (head, secs) = if bulk {
            let started = Instant::now();
            grow_bulk(&large, built, target);
            let secs = started.elapsed().as_secs_f64();
            let store =
                SqliteStore::open(large.join(DATABASE_FILE), StoreConfig::default()).expect("log");
            let head = store.head().expect("head").0;
            store.close().expect("close");
            (head, secs)
        } else {
            let engine = Engine::open(&large, config(Durability::Buffered)).expect("open");
            let started = Instant::now();
            grow(&engine, built, target);
            let secs = started.elapsed().as_secs_f64();
            let head = engine.head().expect("head");
            engine.close().expect("close");
            (head, secs)
        };
        built = target;
        // The first open after a build projects what was written (in bulk mode: everything);
        // the next one is the cold open of a log whose read models and snapshots are current.
        let first = cold_open(&large);
        // Diagnostics: more opens in a row show how much each open varies
        // (`OPSLEDGER_BENCH_OPENS`, default 2: the first and one more).
        let mut sample = cold_open(&large);
        for n in 3..=env_usize("OPSLEDGER_BENCH_OPENS", 2) {
            println!(
                "open {}: {:.0} ms (log {:.0} + views {:.0}), RSS {:.0} MiB",
                n - 1,
                sample.open_ms,
                sample.log_ms,
                sample.views_ms,
                sample.rss_mib
            );
            sample = cold_open(&large);
        }
        println!(
            "| {target} | {head} | {:.0} MiB | {:.0} | {:.0} ms ({:.0} ms) | {:.0} ms ({:.0} + {:.0} + {:.0}) | {:.0} MiB | {} | {:.1} ms |",
            dir_size(&large) as f64 / 1_048_576.0,
            commands as f64 / secs,
            first.open_ms,
            first.close_ms,
            sample.open_ms,
            sample.log_ms,
            sample.views_ms,
            sample.open_ms - sample.log_ms - sample.views_ms,
            sample.rss_mib,
            sample.replayed,
            sample.first_query_ms
        );
        samples.push((head, sample));
    }
    if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
        println!(
            "\nlog {:.1}x longer -> open time {:.2}x, RSS {:.2}x",
            last.0 as f64 / first.0 as f64,
            last.1.open_ms / first.1.open_ms,
            last.1.rss_mib / first.1.rss_mib
        );
    }

    println!("\n## 3. Filtered queue queries over {built} incidents (warm, 200 runs each)");
    println!("| filter | items | p50 | p99 |");
    println!("|---|---|---|---|");
    let engine = Engine::open(&large, config(Durability::Buffered)).expect("open");
    let filters: Vec<(&str, QueueFilter)> = vec![
        (
            "open, group g17, first page of 50",
            QueueFilter::incidents().open().group("g17").limit(50),
        ),
        (
            "in progress, assignee agent8, P2",
            QueueFilter::incidents()
                .status(RecordStatus::Incident(
                    opsledger::core::incident::IncidentStatusKind::InProgress,
                ))
                .assignee("agent8")
                .priority(Priority::High)
                .limit(50),
        ),
        (
            "open, CI ci421",
            QueueFilter::incidents().open().ci("ci421").limit(50),
        ),
        (
            "service s3, P1, older than 0 s",
            QueueFilter::incidents()
                .service("s3")
                .priority(Priority::Critical)
                .min_age(chrono::Duration::zero())
                .limit(50),
        ),
        (
            "all open, first page of 100",
            QueueFilter::incidents().open().limit(100),
        ),
    ];
    for (name, filter) in filters {
        let mut times = Vec::with_capacity(200);
        let mut items = 0;
        for _ in 0..200 {
            let started = Instant::now();
            let page = engine
                .view(None)
                .and_then(|v| v.queue(&filter))
                .expect("query");
            times.push(started.elapsed());
            items = page.items.len();
        }
        times.sort();
        println!(
            "| {name} | {items} | {:.2} ms | {:.2} ms |",
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    }
    // Paging through one group's whole queue with cursors.
    let started = Instant::now();
    let mut cursor = None;
    let mut total = 0;
    loop {
        let page = engine
            .view(None)
            .and_then(|v| {
                v.queue(
                    &QueueFilter::incidents()
                        .group("g17")
                        .limit(500)
                        .after(cursor.clone()),
                )
            })
            .expect("query");
        total += page.items.len();
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    println!(
        "\npaged through group g17 ({total} incidents, pages of 500) in {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    engine.close().expect("close");
}
