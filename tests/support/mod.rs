//! Shared fixtures of the end-to-end tests: a manual clock, deterministic ids, a cast of
//! actors, record ids and command builders.

#![allow(dead_code)]

pub mod watchdog;

use chrono::{DateTime, Duration, TimeZone, Utc};
use opsledger::core::change::{ChangeCommand, ChangeType, CloseCode as ChangeCloseCode, Risk};
use opsledger::core::incident::{CloseCode, HoldReason, IncidentCommand};
use opsledger::core::problem::ProblemCommand;
use opsledger::core::window::TimeWindow;
use opsledger::core::{Actor, ChangeId, Impact, IncidentId, ProblemId, Role, Urgency};
use opsledger::{
    AlertReport, Command, CommandEnvelope, Durability, Engine, EngineConfig, EngineError,
    ManualClock, Outcome, SequentialIds, Uuid,
};
use std::path::Path;
use std::sync::Arc;

/// Monday 2026-01-05 09:00 UTC.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
        .single()
        .expect("valid")
}

/// `t0` plus `minutes`.
pub fn t(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(t0()))
}

/// A deterministic configuration: manual clock, sequential ids, small cache and frequent
/// snapshots (so that tests exercise them), `Buffered` durability (closing flushes).
pub fn config(clock: &Arc<ManualClock>, seed: u64) -> EngineConfig {
    EngineConfig::default()
        .with_clock(clock.clone())
        .with_ids(Arc::new(SequentialIds::new(seed)))
        .with_durability(Durability::Buffered)
        .with_snapshot_every(4)
        .with_cache_records(8)
}

pub fn memory_engine() -> (Engine, Arc<ManualClock>) {
    let clock = clock();
    let engine = Engine::in_memory(config(&clock, 1)).expect("in-memory engine");
    (engine, clock)
}

/// The backend the on-disk cases run on: `sqlite` (`tests/engine.rs`), `sled`
/// (`tests/engine_on_sled.rs`) or `postgres` (`tests/engine_on_postgres.rs`).
pub fn test_backend() -> &'static str {
    crate::BACKEND
}

/// The server and schema that stand for the data directory `dir` on the `postgres` backend
/// (the schema's name is a function of the path, so a child process opening the same
/// directory gets the same schema); `None` without a server outside CI (the cases then run on
/// SQLite, after a loud message).
pub fn postgres_location(dir: &Path) -> Option<(String, String)> {
    use std::hash::{Hash, Hasher};
    let url = opsledger_store_postgres::testing::test_url()?;
    // SipHash with fixed keys: the same name in every process of this build.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut hasher);
    Some((url, format!("engine_{:016x}", hasher.finish())))
}

/// Opens an engine on `dir` with `config`, on the backend under test ([`test_backend`]).
pub fn open_on_disk(dir: &Path, config: EngineConfig) -> opsledger::Result<Engine> {
    use opsledger::store::{Storage, StoreError};
    let dir = dir.to_path_buf();
    let open = move |store_config| -> Result<Box<dyn Storage>, StoreError> {
        if test_backend() == "postgres"
            && let Some((url, schema)) = postgres_location(&dir)
        {
            return Ok(Box::new(opsledger_store_postgres::PgStorage::open(
                &url,
                store_config,
                opsledger_store_postgres::PgOptions::in_schema(schema),
            )?));
        }
        Ok(match test_backend() {
            "sled" => Box::new(opsledger_store_sled::SledStorage::open(
                &dir,
                store_config,
                opsledger_store_sled::SledOptions::default(),
            )?),
            _ => Box::new(opsledger_store_sqlite::SqliteStorage::open(
                &dir,
                store_config,
                opsledger_store_sqlite::SqliteOptions::default(),
            )?),
        })
    };
    Engine::builder().storage(open).config(config).open()
}

/// The SQLite database that holds the read models of the closed data directory `dir` (the
/// log's own for the SQLite backend, the one beside the log for sled).
pub fn read_models_database(dir: &Path) -> std::path::PathBuf {
    match opsledger::directory_kind(dir).expect("a data directory") {
        opsledger::DirectoryKind::Sled => dir.join(opsledger_store_sled::SPACES_FILE),
        _ => opsledger_store_sqlite::database_path(dir),
    }
}

/// The tables of the derived spaces (read models, engine bookkeeping, snapshots).
pub const SPACE_TABLES: [&str; 3] = ["kv_views", "kv_meta", "kv_snapshots"];

/// Deletes everything derived from the log in the closed data directory `dir` (read models,
/// checkpoints, snapshots): what an operator deleting a damaged cache does.
pub fn delete_read_models(dir: &Path) {
    if test_backend() == "postgres"
        && let Some((url, schema)) = postgres_location(dir)
    {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        for table in SPACE_TABLES {
            client
                .batch_execute(&format!("DELETE FROM \"{schema}\".{table}"))
                .expect("delete");
        }
        return;
    }
    let db = rusqlite::Connection::open(read_models_database(dir)).expect("open");
    for table in SPACE_TABLES {
        db.execute(&format!("DELETE FROM {table}"), [])
            .expect("delete");
    }
}

/// Replaces the derived spaces of the closed data directory `to` with those of `from`.
pub fn copy_read_models(from: &Path, to: &Path) {
    if test_backend() == "postgres"
        && let (Some((url, source)), Some((_, target))) =
            (postgres_location(from), postgres_location(to))
    {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        for table in SPACE_TABLES {
            client
                .batch_execute(&format!(
                    "DELETE FROM \"{target}\".{table}; \
                     INSERT INTO \"{target}\".{table} SELECT * FROM \"{source}\".{table};"
                ))
                .expect("copy");
        }
        return;
    }
    let db = rusqlite::Connection::open(read_models_database(to)).expect("open");
    db.execute(
        "ATTACH DATABASE ?1 AS source",
        [read_models_database(from).to_str().expect("utf-8 path")],
    )
    .expect("attach");
    for table in SPACE_TABLES {
        db.execute_batch(&format!(
            "DELETE FROM main.{table}; INSERT INTO main.{table} SELECT * FROM source.{table};"
        ))
        .expect("copy");
    }
    db.execute("DETACH DATABASE source", []).expect("detach");
}

/// A value passed to, or read from, [`sql_rows`] and [`sql_execute`].
#[derive(Debug, Clone, PartialEq)]
pub enum SqlCell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl SqlCell {
    /// The integer in this cell (panics on another kind: a test's expectation).
    pub fn int(&self) -> i64 {
        match self {
            SqlCell::Int(i) => *i,
            other => panic!("expected an integer, found {other:?}"),
        }
    }

    /// The text in this cell.
    pub fn text(&self) -> &str {
        match self {
            SqlCell::Text(s) => s,
            other => panic!("expected text, found {other:?}"),
        }
    }

    /// The bytes in this cell.
    pub fn bytes(&self) -> &[u8] {
        match self {
            SqlCell::Bytes(b) => b,
            other => panic!("expected bytes, found {other:?}"),
        }
    }
}

/// Where the read models of the data directory `dir` live on the backend under test: its
/// PostgreSQL schema, or the SQLite file (the log's own, or sled's beside it).
enum SqlPlace {
    Postgres { url: String, schema: String },
    Sqlite(std::path::PathBuf),
}

fn sql_place(dir: &Path) -> SqlPlace {
    if test_backend() == "postgres"
        && let Some((url, schema)) = postgres_location(dir)
    {
        return SqlPlace::Postgres { url, schema };
    }
    SqlPlace::Sqlite(read_models_database(dir))
}

/// Whether [`sql_rows`] reaches the read models of `dir` on PostgreSQL (the `postgres` backend
/// with a server), rather than a SQLite file: which dialect a query written for a reporting
/// tool must be in.
pub fn read_models_on_postgres(dir: &Path) -> bool {
    matches!(sql_place(dir), SqlPlace::Postgres { .. })
}

/// A connection to the schema of `dir` on the test server, its search path set to it.
fn postgres_client(url: &str, schema: &str) -> postgres::Client {
    let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    client
        .batch_execute(&format!("SET search_path TO \"{schema}\""))
        .expect("search path");
    client
}

/// `?N` placeholders as PostgreSQL's `$N`.
fn numbered(sql: &str) -> String {
    sql.replace('?', "$")
}

fn postgres_args(args: &[SqlCell]) -> Vec<Box<dyn postgres::types::ToSql + Sync>> {
    args.iter()
        .map(|a| -> Box<dyn postgres::types::ToSql + Sync> {
            match a {
                SqlCell::Null => Box::new(Option::<i64>::None),
                SqlCell::Int(i) => Box::new(*i),
                SqlCell::Real(f) => Box::new(*f),
                SqlCell::Text(s) => Box::new(s.clone()),
                SqlCell::Bytes(b) => Box::new(b.clone()),
            }
        })
        .collect()
}

fn sqlite_args(args: &[SqlCell]) -> Vec<rusqlite::types::Value> {
    use rusqlite::types::Value;
    args.iter()
        .map(|a| match a {
            SqlCell::Null => Value::Null,
            SqlCell::Int(i) => Value::Integer(*i),
            SqlCell::Real(f) => Value::Real(*f),
            SqlCell::Text(s) => Value::Text(s.clone()),
            SqlCell::Bytes(b) => Value::Blob(b.clone()),
        })
        .collect()
}

/// Runs a query on the read models of the data directory `dir` on the backend under test (its
/// SQLite file, or its PostgreSQL schema), open or closed: SQL that both dialects accept, with
/// `?N` placeholders. Integers come back as `Int` (PostgreSQL's `int2/4/8`, SQLite's
/// integers), text as `Text`, blobs and `bytea` as `Bytes`.
pub fn sql_rows(dir: &Path, sql: &str, args: &[SqlCell]) -> Vec<Vec<SqlCell>> {
    match sql_place(dir) {
        SqlPlace::Postgres { url, schema } => {
            use postgres::types::Type;
            let mut client = postgres_client(&url, &schema);
            let boxed = postgres_args(args);
            let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                boxed.iter().map(|b| b.as_ref()).collect();
            let rows = client.query(&numbered(sql), &refs).expect("query");
            rows.iter()
                .map(|row| {
                    (0..row.len())
                        .map(|i| {
                            let ty = row.columns()[i].type_().clone();
                            let cell = match ty {
                                Type::INT8 => row.get::<_, Option<i64>>(i).map(SqlCell::Int),
                                Type::INT4 => {
                                    row.get::<_, Option<i32>>(i).map(|v| SqlCell::Int(v.into()))
                                }
                                Type::INT2 => {
                                    row.get::<_, Option<i16>>(i).map(|v| SqlCell::Int(v.into()))
                                }
                                Type::FLOAT8 => row.get::<_, Option<f64>>(i).map(SqlCell::Real),
                                Type::BYTEA => row.get::<_, Option<Vec<u8>>>(i).map(SqlCell::Bytes),
                                _ => row.get::<_, Option<String>>(i).map(SqlCell::Text),
                            };
                            cell.unwrap_or(SqlCell::Null)
                        })
                        .collect()
                })
                .collect()
        }
        SqlPlace::Sqlite(file) => {
            use rusqlite::types::Value;
            let db = rusqlite::Connection::open_with_flags(
                file,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .expect("open");
            let mut statement = db.prepare(sql).expect("prepare");
            let columns = statement.column_count();
            statement
                .query_map(rusqlite::params_from_iter(sqlite_args(args)), |row| {
                    (0..columns)
                        .map(|i| {
                            Ok(match row.get::<_, Value>(i)? {
                                Value::Null => SqlCell::Null,
                                Value::Integer(v) => SqlCell::Int(v),
                                Value::Real(v) => SqlCell::Real(v),
                                Value::Text(v) => SqlCell::Text(v),
                                Value::Blob(v) => SqlCell::Bytes(v),
                            })
                        })
                        .collect()
                })
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows")
        }
    }
}

/// Runs a statement on the read models of the closed data directory `dir` on the backend under
/// test (see [`sql_rows`]); the number of rows it changed.
pub fn sql_execute(dir: &Path, sql: &str, args: &[SqlCell]) -> u64 {
    match sql_place(dir) {
        SqlPlace::Postgres { url, schema } => {
            let mut client = postgres_client(&url, &schema);
            let boxed = postgres_args(args);
            let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                boxed.iter().map(|b| b.as_ref()).collect();
            client.execute(&numbered(sql), &refs).expect("execute")
        }
        SqlPlace::Sqlite(file) => {
            let db = rusqlite::Connection::open(file).expect("open");
            db.execute(sql, rusqlite::params_from_iter(sqlite_args(args)))
                .expect("execute") as u64
        }
    }
}

/// An engine on disk, on the backend under test ([`test_backend`]).
pub fn disk_engine(dir: &Path, clock: &Arc<ManualClock>, seed: u64) -> Engine {
    open_on_disk(dir, config(clock, seed)).expect("open engine")
}

// ---- the cast ----------------------------------------------------------------------------

pub fn agent() -> Actor {
    Actor::new("alice", [Role::Agent])
}
pub fn agent2() -> Actor {
    Actor::new("bob", [Role::Agent])
}
pub fn manager() -> Actor {
    Actor::new("maria", [Role::Manager])
}
pub fn problem_manager() -> Actor {
    Actor::new("pat", [Role::ProblemManager])
}
pub fn change_manager() -> Actor {
    Actor::new("chris", [Role::ChangeManager])
}
pub fn cab(name: &str) -> Actor {
    Actor::new(name, [Role::CabMember])
}
pub fn requester() -> Actor {
    Actor::new("rita", [Role::Requester])
}
pub fn monitor() -> Actor {
    Actor::new("prometheus", [Role::Agent])
}

// ---- ids -----------------------------------------------------------------------------------

pub fn inc(n: u32) -> IncidentId {
    IncidentId(Uuid::from_u128(
        0x0195_0000_0000_7000_8000_0001_0000_0000 + u128::from(n),
    ))
}
pub fn prb(n: u32) -> ProblemId {
    ProblemId(Uuid::from_u128(
        0x0195_0000_0000_7000_8000_0002_0000_0000 + u128::from(n),
    ))
}
pub fn chg(n: u32) -> ChangeId {
    ChangeId(Uuid::from_u128(
        0x0195_0000_0000_7000_8000_0003_0000_0000 + u128::from(n),
    ))
}

// ---- execution -----------------------------------------------------------------------------

#[track_caller]
pub fn exec(engine: &Engine, actor: &Actor, command: impl Into<Command>) -> Outcome {
    let command = command.into();
    let name = command.name();
    match engine.execute(CommandEnvelope::new(actor.clone(), command)) {
        Ok(o) => o,
        Err(e) => panic!("{name} by {} failed: {e} ({})", actor.id, e.code()),
    }
}

pub fn try_exec(
    engine: &Engine,
    actor: &Actor,
    command: impl Into<Command>,
) -> Result<Outcome, EngineError> {
    engine.execute(CommandEnvelope::new(actor.clone(), command.into()))
}

// ---- command builders -----------------------------------------------------------------------

pub fn open_incident(id: IncidentId, title: &str) -> IncidentCommand {
    IncidentCommand::Open {
        id,
        title: title.into(),
        description: String::new(),
        caller: "carol".into(),
        impact: Impact::Medium,
        urgency: Urgency::Medium,
        service: Some("webshop".into()),
        cis: vec!["web-01".into()],
        group: Some("service-desk".into()),
        assignee: None,
        alert: None,
    }
}

pub fn open_incident_full(
    id: IncidentId,
    title: &str,
    impact: Impact,
    urgency: Urgency,
    group: &str,
    service: &str,
    ci: &str,
) -> IncidentCommand {
    IncidentCommand::Open {
        id,
        title: title.into(),
        description: String::new(),
        caller: "carol".into(),
        impact,
        urgency,
        service: Some(service.into()),
        cis: vec![ci.into()],
        group: Some(group.into()),
        assignee: None,
        alert: None,
    }
}

pub fn assign(id: IncidentId, group: &str, assignee: &str) -> IncidentCommand {
    IncidentCommand::Assign {
        id,
        group: Some(group.into()),
        assignee: Some(assignee.into()),
    }
}

pub fn resolve(id: IncidentId, notes: &str) -> IncidentCommand {
    IncidentCommand::Resolve {
        id,
        code: CloseCode::SolvedWorkaround,
        notes: notes.into(),
    }
}

pub fn close(id: IncidentId) -> IncidentCommand {
    IncidentCommand::Close { id }
}

pub fn note(id: IncidentId, text: &str) -> IncidentCommand {
    IncidentCommand::AddWorkNote {
        id,
        text: text.into(),
    }
}

pub fn await_problem(id: IncidentId, problem: ProblemId) -> IncidentCommand {
    IncidentCommand::PutOnHold {
        id,
        reason: HoldReason::AwaitingProblem { problem },
    }
}

pub fn alert(key: &str, id: Option<IncidentId>) -> AlertReport {
    AlertReport {
        dedup_key: key.into(),
        source: "prometheus".into(),
        seen_at: None,
        title: format!("Alert {key} firing"),
        description: String::new(),
        impact: Impact::High,
        urgency: Urgency::High,
        service: Some("payments".into()),
        cis: vec!["pay-api".into()],
        group: Some("payments-oncall".into()),
        caller: None,
        incident_id: id,
    }
}

pub fn create_problem(id: ProblemId, title: &str) -> ProblemCommand {
    ProblemCommand::Create {
        id,
        title: title.into(),
        description: String::new(),
        impact: Impact::Medium,
        urgency: Urgency::Medium,
        service: Some("webshop".into()),
        cis: ["db-orders-01".into()].into_iter().collect(),
    }
}

/// Takes a new problem through assessment and analysis to a known error and a fix in
/// progress (as the problem manager).
pub fn problem_to_fix(engine: &Engine, id: ProblemId) {
    let pm = problem_manager();
    exec(
        engine,
        &pm,
        ProblemCommand::Assign {
            id,
            group: "problem-mgmt".into(),
            assignee: Some("pat".into()),
        },
    );
    exec(engine, &pm, ProblemCommand::Assess { id });
    exec(engine, &pm, ProblemCommand::StartAnalysis { id });
    exec(
        engine,
        &pm,
        ProblemCommand::RecordRootCause {
            id,
            cause: "Connection pool exhausted under batch load".into(),
        },
    );
    exec(
        engine,
        &pm,
        ProblemCommand::MarkKnownError {
            id,
            symptom: "Checkout times out during nightly batch".into(),
            root_cause: "Connection pool too small".into(),
            workaround: Some("Restart the batch after 06:00".into()),
            affected_cis: ["db-orders-01".into()].into_iter().collect(),
        },
    );
    exec(
        engine,
        &pm,
        ProblemCommand::StartFix {
            id,
            fix_notes: "Raise the pool size via change".into(),
        },
    );
}

pub fn request_change(id: ChangeId, title: &str, ci: &str) -> ChangeCommand {
    ChangeCommand::Request {
        id,
        title: title.into(),
        description: String::new(),
        change_type: ChangeType::Normal,
        risk: Risk::Moderate,
        cis: [ci.into()].into_iter().collect(),
        implementation_plan: "Apply the new configuration".into(),
        backout_plan: "Restore the previous configuration".into(),
        test_plan: String::new(),
        assignee: Some("ivan".into()),
    }
}

pub fn plan(id: ChangeId, window: TimeWindow) -> ChangeCommand {
    ChangeCommand::Plan {
        id,
        window,
        assignee: None,
        calendar: Vec::new(),
        ci_relations: Vec::new(),
        accept_conflicts: None,
    }
}

pub fn approve(id: ChangeId) -> ChangeCommand {
    ChangeCommand::Approve {
        id,
        comment: Some("ok".into()),
        calendar: Vec::new(),
        ci_relations: Vec::new(),
        accept_conflicts: None,
    }
}

pub fn window(from_min: i64, to_min: i64) -> TimeWindow {
    TimeWindow::new(t(from_min), t(to_min))
}

/// Requests, plans, submits, sends to the CAB and approves a normal change (booked into
/// `win`), as the change manager (requester) and a CAB member.
pub fn change_to_scheduled(engine: &Engine, id: ChangeId, ci: &str, win: TimeWindow) {
    let chm = change_manager();
    exec(engine, &chm, request_change(id, "Raise DB pool size", ci));
    exec(engine, &chm, plan(id, win));
    exec(
        engine,
        &chm,
        ChangeCommand::Submit {
            id,
            calendar: Vec::new(),
            ci_relations: Vec::new(),
            accept_conflicts: None,
        },
    );
    exec(engine, &chm, ChangeCommand::RequestAuthorization { id });
    exec(engine, &cab("cora"), approve(id));
}

/// Implements and closes a scheduled change (the clock must be inside its window).
pub fn change_implement_and_close(engine: &Engine, id: ChangeId, successful: bool) {
    let chm = change_manager();
    exec(engine, &chm, ChangeCommand::StartImplementation { id });
    exec(engine, &chm, ChangeCommand::CompleteImplementation { id });
    exec(
        engine,
        &chm,
        ChangeCommand::Close {
            id,
            code: if successful {
                ChangeCloseCode::Successful
            } else {
                ChangeCloseCode::Unsuccessful {
                    backout: opsledger::core::change::BackoutRecord {
                        performed: true,
                        notes: "rolled back".into(),
                    },
                }
            },
            notes: "Reviewed".into(),
        },
    );
}

/// The manual clock's reading, as an extension for tests.
pub trait ClockExt {
    fn now_at(&self) -> DateTime<Utc>;
}

impl ClockExt for Arc<ManualClock> {
    fn now_at(&self) -> DateTime<Utc> {
        opsledger::Clock::now(&**self)
    }
}
