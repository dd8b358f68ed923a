//! opsledger-store-sqlite: the default embedded store. The event log, the read models,
//! checkpoints, snapshots, numbering and idempotency records live in **one SQLite database
//! file** (rusqlite with its bundled SQLite, so nothing needs installing), and the engine
//! writes a command's events and everything derived from them in **one transaction**.
//!
//! [`SqliteStore`] implements `opsledger_store::EventStore` and passes the contract suite;
//! [`SqliteStorage`] is the backend as the engine sees it (`opsledger_store::Storage`);
//! [`SqliteSpaces`] holds only the derived spaces, for a log kept elsewhere (sled's).
//!
//! # Layout
//!
//! A data directory holds `opsledger.db` (plus SQLite's `-wal` and `-shm` files while it is
//! open, and `opsledger.db.lock`, the writer's advisory lock).
//!
//! | table | columns | holds |
//! |---|---|---|
//! | `events` | `position` (primary key), `stream`, `version`, `event_id`, `record` | every event; `record` is the `opsledger_store::codec` record with its CRC-32 |
//! | `streams` | `stream` (primary key), `name` (unique) | stream ids, interned to a number |
//! | `kv_views`, `kv_meta`, `kv_snapshots` | `key`, `value` (`WITHOUT ROWID`) | the derived spaces: read models and their checkpoint, engine bookkeeping, snapshots |
//! | `opsledger_meta` | `key`, `value` | the format marker (`opsledger-sqlite-1`) |
//!
//! Unique indexes on `events(stream, version)` and `events(event_id)` enforce dense versions
//! per stream and idempotency by event id at the database level, besides the append planner.
//!
//! # Units of work
//!
//! One writer connection sits behind a reentrant lock. [`Storage::begin_unit`] takes it for the
//! calling thread and opens a transaction (`BEGIN IMMEDIATE`); every append and every space
//! write by that thread joins the transaction, and that thread's reads go to the writer
//! connection, so it reads its own uncommitted writes (the projector folds the events it has
//! just appended). Other threads read committed data through the writer connection when no
//! one holds it (its page cache survives its own commits) and otherwise through a pool of
//! read-only connections (SQLite's write-ahead log lets them read while the writer writes);
//! they never see a unit's writes before it commits. A unit rolled back leaves nothing: no event, no read-model row.
//! Appends outside a unit are transactions of their own.
//!
//! Positions are allocated under the writer lock from the writer's head, so they are dense and
//! in commit order; a failed append rolls back to a savepoint and gives its positions back.
//!
//! # Durability
//!
//! The database runs in WAL mode. A commit writes its pages to the `-wal` file; `synchronous`
//! decides when that file is synced.
//!
//! | mode | settings | acknowledged when | a process crash keeps | a power loss keeps |
//! |---|---|---|---|---|
//! | `Buffered` | `synchronous=NORMAL` | the transaction committed (written to the OS) | every acknowledged append | what the last sync of the `-wal` covered: checkpoints (every [`SqliteOptions::wal_autocheckpoint_pages`], default 10,000 pages), `flush()`, a clean close |
//! | `PerCommit` | `synchronous=FULL` | the commit's `fsync` of the `-wal` returned | every acknowledged append | every acknowledged append |
//! | `GroupCommit` | `synchronous=NORMAL` + a shared `fdatasync` of the `-wal` | an `fdatasync` that started after the commit returned; concurrent committers share one | every acknowledged append | every acknowledged append |
//!
//! "Keeps" assumes a device that honours cache flushes. A crash always leaves a prefix of the
//! commit order: SQLite recovers whole transactions, never part of one. If the group
//! `fdatasync` fails the store poisons itself (the kernel may have dropped the dirty pages)
//! and refuses writes until it is reopened. Readers and subscriptions see an append once it is
//! acknowledged; in `GroupCommit` a derived row written in the same transaction can be read a
//! moment before its events are acknowledged (it is lost with them or kept with them).
//!
//! # Resources
//!
//! Each connection keeps a page cache of [`SqliteOptions::cache_kib`] (default 8 MiB); readers
//! are pooled up to [`SqliteOptions::max_readers`]; the `-wal` file grows to about
//! [`SqliteOptions::wal_autocheckpoint_pages`] pages (40 MiB by default) between checkpoints
//! and is emptied by a clean close. Each connection reads up to the first
//! [`SqliteOptions::mmap_mib`] of the file (2 GiB by default on 64-bit targets) through a
//! memory map instead of `pread`. Stream numbers of up to 16,384 committed streams are kept
//! in memory. Opening reads the head and the last record, so open time and memory do not grow
//! with the log.
//!
//! # Bad input and faults
//!
//! A file that is not an opsledger database, a newer format, a database held by another
//! writer, a full disk and a damaged page are typed errors naming the file and what to do
//! ([`StoreError::Incompatible`], [`StoreError::Locked`], [`StoreError::Io`],
//! [`StoreError::Corrupt`]). `verify` runs SQLite's `quick_check` and then checks every record.
//! A read stops before a damaged or missing record (a subscription delivers everything before
//! it); a read that starts there is the error naming its position.
//!
//! [`Storage::begin_unit`]: opsledger_store::Storage::begin_unit
//! [`StoreError::Incompatible`]: opsledger_store::StoreError::Incompatible
//! [`StoreError::Locked`]: opsledger_store::StoreError::Locked
//! [`StoreError::Io`]: opsledger_store::StoreError::Io
//! [`StoreError::Corrupt`]: opsledger_store::StoreError::Corrupt

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod backup;
mod db;
mod kv;
pub mod rank;
mod storage;
mod store;
mod tables;
mod verify;

use std::time::Duration;

use opsledger_store::StoreError;

pub use kv::SqliteKv;
pub use storage::{
    DATABASE_FILE, LEGACY_DATABASE_FILE, SqliteSpaces, SqliteStorage, database_path,
};
pub use store::SqliteStore;
pub use tables::SqliteTables;

/// SQLite resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Page cache per connection, in KiB. Default 8,192 (8 MiB).
    pub cache_kib: i64,
    /// Read-only connections kept open for reuse. Default 4.
    pub max_readers: usize,
    /// How long a connection waits for a lock held by another process (a backup, a reporting
    /// tool) before failing. Default 5 s.
    pub busy_timeout: Duration,
    /// Pages the write-ahead log may hold before a commit copies them into the database file
    /// (SQLite's `wal_autocheckpoint`). Default 10,000 (40 MiB at 4 KiB pages): a page that
    /// many commits touch (an index's upper levels, the checkpoint row) is copied, and in
    /// `Buffered` mode synced, once per checkpoint instead of once per 1,000 pages (SQLite's
    /// default). A clean close empties the write-ahead log.
    pub wal_autocheckpoint_pages: i64,
    /// How much of the database file each connection reads through a memory map, in MiB
    /// (SQLite's `mmap_size`; 0 reads every page with `pread`). Default 2,048 on 64-bit
    /// targets (SQLite caps it at 2 GiB less 64 KiB), 0 elsewhere. A page that is not in the
    /// connection's page cache is then read in place from the operating system's cache,
    /// without a system call and a copy per page: on a log larger than the page cache (a
    /// record's trail, a KEDB entry, a queue page read at random) those reads were a fifth of
    /// a timeline's time. Writes still go through `pwrite`; pages in the write-ahead log are
    /// still read from it. The mapping costs address space, not memory of its own: the pages
    /// read are the operating system's cache of the file, counted in the process's resident
    /// (file-backed, shared) memory once touched. Past the mapped size, pages are read with
    /// `pread` as before. The one thing it changes in faults: a disk that fails to read a
    /// mapped page stops the process with `SIGBUS` (SQLite's documented trade-off) instead of
    /// returning [`StoreError::Io`]; set 0 where that matters more than read latency.
    pub mmap_mib: i64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            cache_kib: 8 * 1024,
            max_readers: 4,
            busy_timeout: Duration::from_secs(5),
            wal_autocheckpoint_pages: 10_000,
            mmap_mib: if cfg!(target_pointer_width = "64") {
                2_048
            } else {
                0
            },
        }
    }
}

impl SqliteOptions {
    /// Checks that the options are consistent.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.wal_autocheckpoint_pages < 100 {
            return Err(StoreError::InvalidConfig(
                "sqlite.wal_autocheckpoint_pages must be >= 100".into(),
            ));
        }
        if self.mmap_mib < 0 {
            return Err(StoreError::InvalidConfig(
                "sqlite.mmap_mib must be >= 0".into(),
            ));
        }
        if self.cache_kib < 64 {
            return Err(StoreError::InvalidConfig(
                "sqlite.cache_kib must be >= 64".into(),
            ));
        }
        Ok(())
    }
}
