//! opsledger-store-postgres: the shared store. The event log, the read models, checkpoints,
//! snapshots, numbering and idempotency records live in **one PostgreSQL schema**, several
//! `opsledger serve` replicas use it at once, and the engine writes a command's events and
//! everything derived from them in **one PostgreSQL transaction**, so every replica reads its
//! own writes and the others' as soon as they commit.
//!
//! [`PgStore`] implements `opsledger_store::EventStore` and passes the contract suite;
//! [`PgStorage`] is the backend as the engine sees it (`opsledger_store::Storage`).
//!
//! # Layout
//!
//! Everything lives in one schema ([`PgOptions::schema`], default `opsledger`), created at the
//! first open with its tables:
//!
//! | table | columns | holds |
//! |---|---|---|
//! | `events` | `position` (primary key), `stream`, `version`, `event_id` (unique), `record`; `UNIQUE (stream, version)` | every event; `record` is the `opsledger_store::codec` record with its CRC-32 |
//! | `streams` | `stream` (primary key), `name` (unique) | stream ids, interned to a number |
//! | `head` | one row: `position`, `recorded_at_nanos` | the last position and `recorded_at` of the log |
//! | `kv_views`, `kv_meta`, `kv_snapshots` | `key BYTEA` (primary key), `value BYTEA` | the derived spaces |
//! | `opsledger_meta` | `key`, `value` | the format marker (`opsledger-postgres-1`); another format is refused with [`StoreError::Incompatible`] |
//!
//! The read models' SQL tables (`Storage::tables`) are created in the same schema by the engine.
//!
//! # Positions
//!
//! An append locks the `head` row (`SELECT … FOR UPDATE`) before it reads anything, checks
//! expected versions and event ids against what is committed, inserts its events at the next
//! positions, moves the head and sends `NOTIFY` in the same transaction. The head row's lock
//! serialises appends across every process until their commit, so positions are dense and
//! their order is commit order: a reader that sees position `n + 1` sees `n`, with no gap
//! detection and no high-water mark. A unit of work holds that lock from its first append to
//! its commit, with the read-model writes inside.
//!
//! # Subscriptions
//!
//! A listener connection per process runs `LISTEN` on the schema's channel and wakes local
//! subscriptions on each notification; it also reads the head every
//! [`PgOptions::poll_interval`], so a notification lost with a connection delays a wake-up by
//! at most that long. Subscriptions read by position from their cursor and never skip.
//!
//! # Leases
//!
//! `Storage::lease` takes a PostgreSQL session advisory lock (`pg_try_advisory_lock`, the
//! key derived from the schema and the lease's name) on a connection of its own and keeps it
//! while that session lives: the engine's scheduler ticks only on the replica holding the
//! `scheduler` lease. Each check confirms that the session still answers; a replica whose
//! session was lost has lost the lease and asks for it again on a new connection, like every
//! other replica; the server frees the lock when the session ends, so a replica whose process
//! died is replaced at the others' next check.
//!
//! `Storage::exclusive` waits for and holds a session advisory lock on another connection of
//! its own until the caller drops it: the engine's decisions against the change calendar run
//! one at a time across replicas (one such section at a time within a process).
//!
//! # Durability
//!
//! PostgreSQL makes commits durable in its write-ahead log. `PerCommit` and `GroupCommit`
//! run with `synchronous_commit = on` (the server groups concurrent commits into one WAL
//! flush by itself: `commit_delay`, `commit_siblings`): an acknowledged append survives a
//! crash of the server and a power loss. `Buffered` runs with `synchronous_commit = off`: a
//! server crash or power loss may lose the last commits (up to three times
//! `wal_writer_delay`), never part of one; `flush` makes everything acknowledged durable.
//!
//! # TLS
//!
//! The connection string asks for it as libpq's does: `sslmode=verify-full&sslrootcert=FILE`
//! (encrypted; the server's certificate verified against the PEM authority in `FILE` and the
//! host connected to) or `sslmode=require` (encrypted, the certificate not checked). Without
//! `sslmode`, or with `disable` or `prefer`, connections are in clear; other modes and
//! inconsistent settings are [`StoreError::InvalidConfig`]. rustls (aws-lc-rs) through
//! tokio-postgres-rustls.
//!
//! # Prepared statements
//!
//! Every connection keeps the statements it prepared (up to 256, least recently used first
//! out), so a statement it ran before costs one round trip and no planning. Statements belong
//! to the server session: a replaced connection starts with none. A schema change through
//! `SqlTables::execute_batch` (or a `CREATE`, `ALTER` or `DROP` statement) makes every
//! connection of the process drop its statements; a statement the server refuses as stale
//! (a schema change by another process altered its result, or the session lost it) drops its
//! connection's statements and runs again once, or, inside a unit of work, whose transaction
//! the refusal aborted, fails it as [`StoreError::Transient`] for the engine to retry.
//!
//! # Faults
//!
//! Errors are typed: a connection lost while a commit was in flight is
//! [`StoreError::OutcomeUnknown`] (retry with the same event ids, or the command with the same
//! idempotency key, to settle it); a server that cannot be reached is
//! [`StoreError::Unavailable`] (nothing was written); a serialization failure or deadlock is
//! retried inside a write of its own and otherwise [`StoreError::Transient`]; a conflict is
//! [`StoreError::WrongExpectedVersion`] as on every backend. A lost connection is replaced at
//! the next use; the writer's, lost while idle, is found when a transaction begins and is
//! replaced there, so that write goes through.
//!
//! [`StoreError::Incompatible`]: opsledger_store::StoreError::Incompatible
//! [`StoreError::InvalidConfig`]: opsledger_store::StoreError::InvalidConfig
//! [`StoreError::OutcomeUnknown`]: opsledger_store::StoreError::OutcomeUnknown
//! [`StoreError::Unavailable`]: opsledger_store::StoreError::Unavailable
//! [`StoreError::Transient`]: opsledger_store::StoreError::Transient
//! [`StoreError::WrongExpectedVersion`]: opsledger_store::StoreError::WrongExpectedVersion

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
mod conn;
mod db;
mod kv;
mod lease;
mod storage;
mod store;
mod tables;
pub mod testing;
mod tls;
mod verify;

use std::time::Duration;

use opsledger_store::StoreError;

pub use kv::PgKv;
pub use storage::PgStorage;
pub use store::PgStore;
pub use tables::{PgTables, placeholders};

/// PostgreSQL resources and placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// The schema holding the tables (created at the first open when missing): several
    /// independent opsledger logs can share a database under different schemas. 1 to 48
    /// characters `a-z`, `0-9`, `_`. Default `opsledger`.
    pub schema: String,
    /// Reader connections kept open for reuse, besides the writer and the listener (so a
    /// process holds at most `readers + 2` connections while idle, more only while more
    /// threads read at once). Default 4.
    pub readers: usize,
    /// How often the listener reads the head besides waiting for notifications. Default 1 s.
    pub poll_interval: Duration,
    /// How long connecting may take, unless the connection string sets `connect_timeout`.
    /// Default 10 s.
    pub connect_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            schema: "opsledger".into(),
            readers: 4,
            poll_interval: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl PgOptions {
    /// The default options in another schema.
    pub fn in_schema(schema: impl Into<String>) -> Self {
        Self {
            schema: schema.into(),
            ..Self::default()
        }
    }

    /// Checks that the options are consistent.
    pub fn validate(&self) -> Result<(), StoreError> {
        db::check_schema_name(&self.schema)?;
        if self.poll_interval < Duration::from_millis(10) {
            return Err(StoreError::InvalidConfig(
                "postgres.poll_interval must be >= 10 ms".into(),
            ));
        }
        Ok(())
    }
}

/// Whether `location` names a PostgreSQL database (`postgres://…` or `postgresql://…`).
pub fn is_postgres_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// Splits a store location into the connection string and the options: a `schema=NAME`
/// query parameter (not one of PostgreSQL's own) chooses the schema, e.g.
/// `postgres://opsledger@db.example/ops?schema=tenant_a`; every other parameter is the
/// driver's.
pub fn split_location(location: &str) -> Result<(String, PgOptions), StoreError> {
    let mut options = PgOptions::default();
    let Some((base, query)) = location.split_once('?') else {
        return Ok((location.to_owned(), options));
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("schema", value)) => options.schema = value.to_owned(),
            _ => kept.push(pair),
        }
    }
    options.validate()?;
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, options))
}
