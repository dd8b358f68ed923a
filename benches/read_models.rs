//! The SQL read models against the SQLite service a Rust user would write instead: the KPI
//! report over a large history of closed incidents, the queue and one record's timeline, and
//! the KEDB's full-text search; every figure, ratio and target in one run, engine and service
//! interleaved round by round.
//!
//! ```text
//! cargo bench --bench read_models                          # the full run (docs/PERFORMANCE.md)
//! OPSLEDGER_BENCH_QUICK=1 cargo bench --bench read_models  # a smoke run
//! ```
//!
//! Datasets (built once per run, in a temporary directory, timings reported):
//! - **closed incidents**: `OPSLEDGER_BENCH_INCIDENTS` (default 1,000,000; quick 20,000)
//!   incidents, each opened, assigned and acknowledged, resolved and closed, spread over a
//!   year; written straight into the engine's SQLite store in appends of 15 (as
//!   `benches/backends.rs` does), then the engine opens once and its read models catch up
//!   from the log (the projection's rate is printed). The service gets the same incidents as
//!   rows of its `incidents` table (id, number, status, priority, group, assignee, opened,
//!   acknowledged, resolved, closed; indexed for the queue and by resolution time) and its
//!   `events` table (one row per event, indexed by stream and version).
//! - **known errors**: `OPSLEDGER_BENCH_KNOWN_ERRORS` (default 100,000; quick 5,000) problems
//!   taken to a published known error through the engine's commands, with titles, symptoms,
//!   root causes and workarounds drawn from a vocabulary of 400 words.
//!
//! Before the first round both databases are read through once, so both start in the
//! operating system's page cache.
//!
//! Measurements (`OPSLEDGER_BENCH_ROUNDS`, default 5; quick 2):
//! - KPI report: `query.kpis` grouped by priority over the whole year and over the last 30
//!   days, against the service's one SQL aggregate per figure (MTTA and MTTR by priority);
//! - queue: the first page (50) of open or resolved incidents of one group, most urgent first,
//!   p50/p99 over 500 queries per round, against the service's indexed `SELECT ... LIMIT 50`;
//! - timeline: one record's trail, p50/p99 over 500 records per round, against the service's
//!   `SELECT ... FROM events WHERE stream = ? ORDER BY version`;
//! - KEDB: 1,000 searches of one or two words (a third with a CI filter) per round, p50/p99,
//!   overall and per kind of search.
//!
//! `OPSLEDGER_BENCH_SECTIONS` (default `kpi,queue,timeline,kedb`) runs only the sections it
//! names, for example `OPSLEDGER_BENCH_SECTIONS=timeline` to measure the timeline alone (the
//! dataset is still built whole; the figures and targets of the sections left out are not
//! printed).
//!
//! Targets: KPI report over 1M closed incidents <= 50 ms; queue p99 <= 1.0x the service's;
//! timeline p50 <= 1.0x; KEDB search over 100k known errors p99 <= 5 ms. The bench prints
//! verdicts; it asserts nothing.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as Span, Utc};
use opsledger::core::incident::{CloseCode, IncidentEvent, ResolutionSource};
use opsledger::core::kpi::{GroupBy, KpiQuery};
use opsledger::core::problem::ProblemCommand;
use opsledger::core::window::TimeWindow;
use opsledger::core::{Actor, ActorId, Impact, IncidentId, ProblemId, Role, Urgency};
use opsledger::store::{
    AppendRequest, EventStore, ExpectedVersion, NewEvent, StoreConfig, StreamId,
};
use opsledger::{
    CommandEnvelope, Durability, Engine, EngineConfig, KedbQuery, QueueFilter, RecordRef, Uuid,
};
use opsledger_store_sqlite::{DATABASE_FILE, SqliteOptions, SqliteStorage, SqliteStore};
use rusqlite::{Connection, params};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn quick() -> bool {
    std::env::var("OPSLEDGER_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// Whether `OPSLEDGER_BENCH_SECTIONS` (default: all) names `section`.
fn runs(section: &str) -> bool {
    std::env::var("OPSLEDGER_BENCH_SECTIONS")
        .map_or(true, |v| v.split(',').any(|s| s.trim() == section))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

fn percentile_us(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e6
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn year_start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .expect("instant")
        .with_timezone(&Utc)
}

fn incident_id(n: u64) -> IncidentId {
    IncidentId(Uuid::from_u64_pair(0x0190_0000_0000_7000, n))
}

/// Groups `g0` to `g48`: incident `n` is in `g(4n mod 50)`, always an even one.
const GROUPS: u64 = 50;

/// When incident `n` is opened, acknowledged, resolved and closed (spread over the year).
fn times(n: u64, total: u64) -> [DateTime<Utc>; 4] {
    let year_secs: i64 = 364 * 86_400;
    let opened = year_start() + Span::seconds((n as i64 * year_secs) / total.max(1) as i64);
    let ack = opened + Span::minutes(5 + (n % 40) as i64);
    let resolved = ack + Span::minutes(30 + (n % 600) as i64);
    let closed = resolved + Span::hours(24);
    [opened, ack, resolved, closed]
}

fn lifecycle_events(n: u64, total: u64, by: &ActorId) -> Vec<IncidentEvent> {
    let matrix = opsledger::core::PriorityMatrix::default();
    let [opened, ack, resolved, closed] = times(n, total);
    let mut events = common::bulk_incident(n * 4, incident_id(n), opened, by, &matrix);
    // bulk_incident(4k) opens, assigns and acknowledges; the times move on from there.
    for e in events.iter_mut().skip(1) {
        match e {
            IncidentEvent::Assigned { at, .. } | IncidentEvent::Acknowledged { at, .. } => {
                *at = ack
            }
            _ => {}
        }
    }
    events.retain(|e| !matches!(e, IncidentEvent::Resolved { .. }));
    events.push(IncidentEvent::Resolved {
        id: incident_id(n),
        code: CloseCode::SolvedPermanently,
        notes: "fixed".into(),
        source: ResolutionSource::Direct,
        at: resolved,
        by: by.clone(),
    });
    events.push(IncidentEvent::Closed {
        id: incident_id(n),
        at: closed,
        by: by.clone(),
    });
    events
}

/// Writes the closed incidents into the engine's store, then opens the engine once.
fn build_engine(dir: &Path, total: u64) -> (Engine, f64, f64) {
    let started = Instant::now();
    {
        let store = SqliteStore::open(
            dir.join(DATABASE_FILE),
            StoreConfig::default().with_durability(Durability::Buffered),
        )
        .expect("store");
        let by: ActorId = "loader".into();
        let numbers = StreamId::new("numbers-incident").expect("stream");
        let new_event = |event_type: &str, at: DateTime<Utc>, payload: Vec<u8>| NewEvent {
            event_id: Uuid::now_v7(),
            event_type: event_type.to_owned(),
            schema_version: 1,
            occurred_at: at,
            actor: "loader".into(),
            correlation_id: None,
            causation_id: None,
            payload,
        };
        let mut n = 0;
        while n < total {
            let end = (n + 15).min(total);
            let mut numbering = Vec::new();
            let mut requests = Vec::new();
            for k in n..end {
                let id = incident_id(k);
                let opened = times(k, total)[0];
                numbering.push(new_event(
                    "number.allocated",
                    opened,
                    format!("{{\"kind\":\"incident\",\"id\":\"{}\"}}", id.0).into_bytes(),
                ));
                let events = lifecycle_events(k, total, &by)
                    .into_iter()
                    .map(|e| {
                        new_event(
                            opsledger::core::DomainEvent::event_type(&e),
                            e.at(),
                            serde_json::to_vec(&e).expect("json"),
                        )
                    })
                    .collect();
                requests.push(AppendRequest::new(
                    StreamId::new(format!("incident-{}", id.0)).expect("stream"),
                    ExpectedVersion::NoStream,
                    events,
                ));
            }
            let mut all = vec![AppendRequest::new(
                numbers.clone(),
                ExpectedVersion::Any,
                numbering,
            )];
            all.append(&mut requests);
            store.append_multi(all).expect("append");
            n = end;
        }
        store.close().expect("close");
    }
    let write = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let engine = open_engine(dir);
    (engine, write, started.elapsed().as_secs_f64())
}

/// Reads every file under `dir` (both databases and their write-ahead logs) once, so that both
/// are in the operating system's page cache; returns the bytes read and the seconds it took.
fn warm_os_cache(dir: &Path) -> (u64, f64) {
    fn walk(dir: &Path, total: &mut u64) {
        for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, total);
            } else if let Ok(mut file) = std::fs::File::open(&path) {
                *total += std::io::copy(&mut file, &mut std::io::sink()).unwrap_or(0);
            }
        }
    }
    let started = Instant::now();
    let mut total = 0;
    walk(dir, &mut total);
    (total, started.elapsed().as_secs_f64())
}

fn open_engine(dir: &Path) -> Engine {
    let dir = dir.to_path_buf();
    Engine::builder()
        .storage(move |config| {
            Ok(Box::new(SqliteStorage::open(
                &dir,
                config,
                SqliteOptions::default(),
            )?))
        })
        .config(EngineConfig::default().with_durability(Durability::Buffered))
        .open()
        .expect("open engine")
}

// ---- the service ------------------------------------------------------------------------------

fn build_service(path: &Path, total: u64) -> (Connection, f64) {
    let started = Instant::now();
    let mut db = Connection::open(path).expect("open");
    db.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE incidents(id TEXT PRIMARY KEY, number TEXT, status TEXT, priority INTEGER,
             grp TEXT, assignee TEXT, opened_us INTEGER, acknowledged_us INTEGER,
             resolved_us INTEGER, closed_us INTEGER, title TEXT);
         CREATE INDEX incidents_queue ON incidents(grp, status, priority, opened_us);
         CREATE INDEX incidents_resolved ON incidents(resolved_us);
         CREATE TABLE events(position INTEGER PRIMARY KEY, stream TEXT, version INTEGER,
             type TEXT, payload TEXT, recorded_us INTEGER, actor TEXT);
         CREATE UNIQUE INDEX events_stream ON events(stream, version);",
    )
    .expect("schema");
    let by: ActorId = "loader".into();
    let tx = db.transaction().expect("tx");
    {
        let mut incident = tx
            .prepare(
                "INSERT INTO incidents VALUES (?1, ?2, 'closed', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .expect("prepare");
        let mut event = tx
            .prepare(
                "INSERT INTO events(stream, version, type, payload, recorded_us, actor)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'loader')",
            )
            .expect("prepare");
        for n in 0..total {
            let [o, a, r, c] = times(n, total);
            let id = incident_id(n).0.to_string();
            incident
                .execute(params![
                    id,
                    format!("INC{:07}", n + 1),
                    (n % 5) as i64 + 1,
                    format!("g{}", (n * 4) % GROUPS),
                    format!("agent{}", (n * 4) % 200),
                    o.timestamp_micros(),
                    a.timestamp_micros(),
                    r.timestamp_micros(),
                    c.timestamp_micros(),
                    format!("Incident {n}"),
                ])
                .expect("insert");
            for (v, e) in lifecycle_events(n, total, &by).iter().enumerate() {
                event
                    .execute(params![
                        format!("incident-{id}"),
                        v as i64 + 1,
                        opsledger::core::DomainEvent::event_type(e),
                        serde_json::to_string(e).expect("json"),
                        e.at().timestamp_micros(),
                    ])
                    .expect("insert");
            }
        }
    }
    tx.commit().expect("commit");
    (db, started.elapsed().as_secs_f64())
}

// ---- measurements -----------------------------------------------------------------------------

fn time_ms(f: impl FnOnce()) -> f64 {
    let started = Instant::now();
    f();
    started.elapsed().as_secs_f64() * 1e3
}

fn kpi_engine(engine: &Engine, window: TimeWindow) -> f64 {
    time_ms(|| {
        let report = engine
            .view(None)
            .expect("view")
            .kpis(&KpiQuery::new(window).group_by(GroupBy::Priority))
            .expect("kpis");
        assert!(!report.groups.is_empty());
    })
}

fn kpi_service(db: &Connection, window: TimeWindow) -> f64 {
    time_ms(|| {
        let mut s = db
            .prepare_cached(
                "SELECT priority, count(*), sum(acknowledged_us - opened_us) / 1000,
                        sum(resolved_us - opened_us) / 1000
                 FROM incidents WHERE resolved_us >= ?1 AND resolved_us < ?2 GROUP BY priority",
            )
            .expect("prepare");
        let rows: Vec<(i64, i64)> = s
            .query_map(
                params![
                    window.start.timestamp_micros(),
                    window.end.timestamp_micros()
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert!(!rows.is_empty());
    })
}

fn queue_engine(engine: &Engine, samples: u64, round: u64) -> Vec<Duration> {
    let view = engine.view(None).expect("view");
    let mut out = Vec::new();
    for i in 0..samples {
        let filter = QueueFilter::incidents()
            .group(format!("g{}", ((i * 7 + round) * 2) % GROUPS).as_str())
            .limit(50);
        let started = Instant::now();
        let page = view.queue(&filter).expect("queue");
        out.push(started.elapsed());
        assert!(!page.items.is_empty());
    }
    out.sort();
    out
}

fn queue_service(db: &Connection, samples: u64, round: u64) -> Vec<Duration> {
    let mut out = Vec::new();
    for i in 0..samples {
        let started = Instant::now();
        let mut s = db
            .prepare_cached(
                "SELECT id, number, status, priority, grp, assignee, opened_us, title
                 FROM incidents WHERE grp = ?1 ORDER BY priority, opened_us LIMIT 50",
            )
            .expect("prepare");
        let n = s
            .query_map(
                params![format!("g{}", ((i * 7 + round) * 2) % GROUPS)],
                |r| r.get::<_, String>(0),
            )
            .expect("query")
            .count();
        out.push(started.elapsed());
        assert!(n > 0);
    }
    out.sort();
    out
}

fn timeline_engine(engine: &Engine, total: u64, samples: u64, round: u64) -> Vec<Duration> {
    let view = engine.view(None).expect("view");
    let mut out = Vec::new();
    for i in 0..samples {
        let n = (i * 7919 + round * 104_729) % total;
        let started = Instant::now();
        let trail = view
            .timeline(RecordRef::incident(incident_id(n)))
            .expect("timeline");
        out.push(started.elapsed());
        assert!(!trail.is_empty());
    }
    out.sort();
    out
}

fn timeline_service(db: &Connection, total: u64, samples: u64, round: u64) -> Vec<Duration> {
    let mut out = Vec::new();
    for i in 0..samples {
        let n = (i * 7919 + round * 104_729) % total;
        let started = Instant::now();
        let mut s = db
            .prepare_cached(
                "SELECT version, type, payload, recorded_us, actor FROM events
                 WHERE stream = ?1 ORDER BY version",
            )
            .expect("prepare");
        let rows: Vec<(i64, String, String)> = s
            .query_map(params![format!("incident-{}", incident_id(n).0)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        // What a service does with a trail: decode each event.
        let decoded: Vec<IncidentEvent> = rows
            .iter()
            .map(|(_, _, p)| serde_json::from_str(p).expect("json"))
            .collect();
        out.push(started.elapsed());
        assert!(!decoded.is_empty());
    }
    out.sort();
    out
}

// ---- known errors -------------------------------------------------------------------------------

const WORDS: usize = 400;

fn word(i: usize) -> String {
    const SYLLABLES: [&str; 20] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "de", "po", "ga", "fe", "zu", "ri", "ba",
        "che", "ton", "mar", "lin", "dor",
    ];
    let i = i % WORDS;
    format!(
        "{}{}{}",
        SYLLABLES[i % 20],
        SYLLABLES[(i / 20) % 20],
        SYLLABLES[(i * 7) % 20]
    )
}

fn sentence(seed: u64, len: usize) -> String {
    (0..len)
        .map(|k| word(((seed.wrapping_mul(2_654_435_761) >> 7) as usize + k * 37) % WORDS))
        .collect::<Vec<_>>()
        .join(" ")
}

fn build_known_errors(engine: &Engine, count: u64) -> f64 {
    let pm = Actor::new("pat", [Role::ProblemManager]);
    let started = Instant::now();
    for n in 0..count {
        let id = ProblemId(Uuid::from_u64_pair(0x0190_0000_0000_7001, n));
        let run = |command: ProblemCommand| {
            engine
                .execute(CommandEnvelope::new(pm.clone(), command))
                .expect("command");
        };
        run(ProblemCommand::Create {
            id,
            title: sentence(n, 4),
            description: String::new(),
            impact: Impact::Medium,
            urgency: Urgency::Medium,
            service: Some(format!("s{}", n % 20).as_str().into()),
            cis: [format!("ci{}", n % 1000).as_str().into()]
                .into_iter()
                .collect(),
        });
        run(ProblemCommand::Assign {
            id,
            group: "problem-mgmt".into(),
            assignee: Some("pat".into()),
        });
        run(ProblemCommand::Assess { id });
        run(ProblemCommand::StartAnalysis { id });
        run(ProblemCommand::RecordRootCause {
            id,
            cause: sentence(n + 1, 8),
        });
        run(ProblemCommand::MarkKnownError {
            id,
            symptom: sentence(n + 2, 12),
            root_cause: sentence(n + 3, 10),
            workaround: Some(sentence(n + 4, 8)),
            affected_cis: [format!("ci{}", (n + 1) % 1000).as_str().into()]
                .into_iter()
                .collect(),
        });
    }
    started.elapsed().as_secs_f64()
}

/// The kinds of KEDB searches the bench makes, for the per-kind figures.
const KEDB_KINDS: [&str; 4] = [
    "one word",
    "one word, CI filter",
    "two words",
    "two words, CI filter",
];

/// `samples` KEDB searches: every duration, sorted, and the durations of each kind
/// ([`KEDB_KINDS`]), sorted.
fn kedb_searches(engine: &Engine, samples: u64, round: u64) -> (Vec<Duration>, [Vec<Duration>; 4]) {
    let view = engine.view(None).expect("view");
    let mut out = Vec::new();
    let mut kinds: [Vec<Duration>; 4] = Default::default();
    for i in 0..samples {
        let k = (i * 31 + round * 17) as usize;
        let text = if i % 2 == 0 {
            word(k)
        } else {
            format!("{} {}", word(k), word(k * 3 + 1))
        };
        let mut query = KedbQuery::text(text);
        if i % 3 == 0 {
            query.ci = Some(format!("ci{}", k % 1000).as_str().into());
        }
        query.limit = Some(20);
        let started = Instant::now();
        let page = view.known_errors(&query).expect("search");
        let took = started.elapsed();
        out.push(took);
        kinds[usize::from(i % 2 == 1) * 2 + usize::from(i % 3 == 0)].push(took);
        std::hint::black_box(page);
    }
    out.sort();
    kinds.iter_mut().for_each(|k| k.sort());
    (out, kinds)
}

// ---- main -----------------------------------------------------------------------------------------

fn verdict(name: &str, ok: bool, figure: String) {
    println!(
        "{:<58} {:<6} {figure}",
        name,
        if ok { "met" } else { "MISSED" }
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let quick = quick();
    let total = env_u64(
        "OPSLEDGER_BENCH_INCIDENTS",
        if quick { 20_000 } else { 1_000_000 },
    );
    let known = env_u64(
        "OPSLEDGER_BENCH_KNOWN_ERRORS",
        if quick { 5_000 } else { 100_000 },
    );
    let rounds = env_u64("OPSLEDGER_BENCH_ROUNDS", if quick { 2 } else { 5 });
    let samples = if quick { 100 } else { 500 };
    let root = tempfile::tempdir().expect("temp dir");

    println!("# read models: engine on SQLite vs the SQLite service");
    println!();
    let engine_dir = root.path().join("engine");
    std::fs::create_dir_all(&engine_dir).expect("dir");
    let (engine, write, project) = build_engine(&engine_dir, total);
    let events = engine.head().expect("head");
    println!(
        "dataset: {} closed incidents, {} events; written in {write:.1} s, projected at open in {project:.1} s ({} events/s)",
        thousands(total),
        thousands(events),
        thousands((events as f64 / project.max(1e-9)) as u64),
    );
    let (service, service_build) = build_service(&root.path().join("service.sqlite3"), total);
    println!("service: the same incidents as rows in {service_build:.1} s");
    // Both databases start in the operating system's cache, as a serving process's would be.
    // At 1M the engine's file is several times the service's, and which pages the machine's
    // other load evicted would otherwise decide the random reads (timeline, queue pages).
    let (bytes, took) = warm_os_cache(root.path());
    println!(
        "read both databases through once: {} MiB in {took:.1} s",
        thousands(bytes >> 20)
    );

    let year = TimeWindow::new(year_start(), year_start() + Span::days(366));
    let last_month_end = times(total - 1, total)[3] + Span::days(1);
    let month = TimeWindow::new(last_month_end - Span::days(30), last_month_end);

    let mut kpi_year = (Vec::new(), Vec::new());
    let mut kpi_month = (Vec::new(), Vec::new());
    let mut queue = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut timeline = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        // Rotate who goes first.
        let engine_first = round % 2 == 0;
        for turn in 0..2 {
            if (turn == 0) == engine_first {
                if runs("kpi") {
                    kpi_year.0.push(kpi_engine(&engine, year));
                    kpi_month.0.push(kpi_engine(&engine, month));
                }
                if runs("queue") {
                    let q = queue_engine(&engine, samples, round);
                    queue.0.push(percentile_us(&q, 50.0));
                    queue.1.push(percentile_us(&q, 99.0));
                }
                if runs("timeline") {
                    let t = timeline_engine(&engine, total, samples, round);
                    timeline.0.push(percentile_us(&t, 50.0));
                    timeline.1.push(percentile_us(&t, 99.0));
                }
            } else {
                if runs("kpi") {
                    kpi_year.1.push(kpi_service(&service, year));
                    kpi_month.1.push(kpi_service(&service, month));
                }
                if runs("queue") {
                    let q = queue_service(&service, samples, round);
                    queue.2.push(percentile_us(&q, 50.0));
                    queue.3.push(percentile_us(&q, 99.0));
                }
                if runs("timeline") {
                    let t = timeline_service(&service, total, samples, round);
                    timeline.2.push(percentile_us(&t, 50.0));
                    timeline.3.push(percentile_us(&t, 99.0));
                }
            }
        }
    }
    let ratio = |a: &[f64], b: &[f64]| median(a.iter().zip(b).map(|(x, y)| x / y).collect());
    println!();
    println!("| figure (median of {rounds} rounds) | engine | service | engine/service |");
    println!("|---|---|---|---|");
    let row = |name: &str, unit: &str, e: &[f64], s: &[f64]| {
        if e.is_empty() {
            return;
        }
        println!(
            "| {name} | {:.1} {unit} | {:.1} {unit} | {:.2}x |",
            median(e.to_vec()),
            median(s.to_vec()),
            ratio(e, s)
        );
    };
    row("KPI report, whole year", "ms", &kpi_year.0, &kpi_year.1);
    row("KPI report, last 30 days", "ms", &kpi_month.0, &kpi_month.1);
    row("queue p50", "µs", &queue.0, &queue.2);
    row("queue p99", "µs", &queue.1, &queue.3);
    row("timeline p50", "µs", &timeline.0, &timeline.2);
    row("timeline p99", "µs", &timeline.1, &timeline.3);

    let mut kedb = (Vec::new(), Vec::new());
    if runs("kedb") {
        println!();
        let ke_build = build_known_errors(&engine, known);
        println!(
            "known errors: {} published through commands in {ke_build:.1} s",
            thousands(known)
        );
        let mut by_kind: [(Vec<f64>, Vec<f64>); 4] = Default::default();
        for round in 0..rounds {
            let (s, kinds) = kedb_searches(&engine, samples * 2, round);
            kedb.0.push(percentile_us(&s, 50.0));
            kedb.1.push(percentile_us(&s, 99.0));
            for (figures, times) in by_kind.iter_mut().zip(&kinds) {
                figures.0.push(percentile_us(times, 50.0));
                figures.1.push(percentile_us(times, 99.0));
            }
        }
        println!(
            "| KEDB search over {} known errors | p50 {:.0} µs | p99 {:.0} µs |",
            thousands(known),
            median(kedb.0.clone()),
            median(kedb.1.clone())
        );
        for (kind, figures) in KEDB_KINDS.iter().zip(&by_kind) {
            println!(
                "|   {kind} | p50 {:.0} µs | p99 {:.0} µs |",
                median(figures.0.clone()),
                median(figures.1.clone())
            );
        }
    }

    println!();
    println!("targets:");
    if runs("kpi") {
        let year_ms = median(kpi_year.0.clone());
        verdict(
            &format!(
                "KPI report over {} closed incidents <= 50 ms",
                thousands(total)
            ),
            year_ms <= 50.0,
            format!("{year_ms:.1} ms"),
        );
    }
    if runs("queue") {
        let q = ratio(&queue.1, &queue.3);
        verdict(
            "queue p99 <= 1.0x the service's",
            q <= 1.0,
            format!("{q:.2}x"),
        );
    }
    if runs("timeline") {
        let t = ratio(&timeline.0, &timeline.2);
        verdict(
            "timeline p50 <= 1.0x the service's",
            t <= 1.0,
            format!("{t:.2}x"),
        );
    }
    if runs("kedb") {
        let k = median(kedb.1) / 1e3;
        verdict(
            &format!(
                "KEDB search over {} known errors p99 <= 5 ms",
                thousands(known)
            ),
            k <= 5.0,
            format!("{k:.2} ms"),
        );
    }
    engine.close().expect("close");
}
