//! The database handle shared by the log and the spaces: one writer connection behind a
//! reentrant lock (units of work), a pool of reader connections, the visible head, and the
//! group-commit syncer.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use opsledger_store::subscription::Notifier;
use opsledger_store::{Durability, StoreConfig, StoreError};
use parking_lot::{Condvar, Mutex, ReentrantMutex, ReentrantMutexGuard};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionState};

use crate::SqliteOptions;

/// The format marker this crate writes into `opsledger_meta` and accepts.
pub(crate) const FORMAT: &str = "opsledger-sqlite-1";

/// How long opening waits for a writer's lock that is being released (see `take_lock`).
const LOCK_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Stream numbers kept in memory (about 100 bytes each).
const STREAM_NUMBER_CACHE: usize = 16_384;

/// The tables of the log.
const LOG_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS streams(
    stream INTEGER PRIMARY KEY,
    name   TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS events(
    position INTEGER PRIMARY KEY,
    stream   INTEGER NOT NULL,
    version  INTEGER NOT NULL,
    event_id BLOB NOT NULL,
    record   BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_stream ON events(stream, version);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_id ON events(event_id);
";

/// What a database file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The log and the derived spaces (the default backend).
    LogAndSpaces,
    /// The derived spaces only (beside another backend's log).
    SpacesOnly,
}

/// A token per thread, to recognise the thread that owns the open unit of work.
pub(crate) fn thread_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    TOKEN.with(|t| *t)
}

thread_local! {
    /// The reader connection the calling thread holds for a read snapshot
    /// ([`Db::read_snapshot`]), with the address of the database it reads.
    static PINNED: RefCell<Option<(usize, Connection)>> = const { RefCell::new(None) };
}

/// The writer connection and what the writer knows.
pub(crate) struct Writer {
    pub(crate) conn: Connection,
    /// Open units of work on the owning thread (0: none).
    pub(crate) depth: u32,
    /// An inner unit was rolled back: the whole unit is.
    pub(crate) aborted: bool,
    /// Last position written, committed or not.
    pub(crate) head: u64,
    /// Last position committed.
    pub(crate) committed: u64,
    /// A read snapshot is open on this connection ([`Db::read_snapshot`]): only reads, by the
    /// thread holding the lock.
    pub(crate) snapshot: bool,
    /// The latest `recorded_at` written (never goes backwards).
    pub(crate) last_recorded: Option<DateTime<Utc>>,
    /// `last_recorded` when the open unit began (restored by a rollback).
    pub(crate) unit_recorded: Option<DateTime<Utc>>,
    /// The open transaction created a stream: a stream number it looks up may be one of its
    /// own, uncommitted (see [`Db::stream_number_for_append`]).
    pub(crate) created_stream: bool,
}

impl Writer {
    /// Starts a transaction when none is open (`BEGIN IMMEDIATE`: takes SQLite's write lock
    /// now, so the transaction cannot fail later for want of it).
    pub(crate) fn begin(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(sql_error)?;
        self.unit_recorded = self.last_recorded;
        self.created_stream = false;
        Ok(())
    }

    /// Commits the open transaction; on failure rolls it back.
    pub(crate) fn commit(&mut self) -> Result<(), StoreError> {
        match self.conn.execute_batch("COMMIT") {
            Ok(()) => {
                self.committed = self.head;
                self.created_stream = false;
                Ok(())
            }
            Err(e) => {
                self.rollback();
                Err(sql_error(e))
            }
        }
    }

    /// Discards the open transaction and what the writer learnt in it.
    pub(crate) fn rollback(&mut self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        self.head = self.committed;
        self.last_recorded = self.unit_recorded;
        self.created_stream = false;
    }
}

/// The database shared by a store, its spaces and its units.
pub(crate) struct Db {
    pub(crate) path: PathBuf,
    pub(crate) writer: ReentrantMutex<RefCell<Writer>>,
    /// The thread that owns the open unit of work (0: none). Its reads go to the writer
    /// connection, so it reads its own uncommitted writes.
    pub(crate) owner: AtomicU64,
    readers: Mutex<Vec<Connection>>,
    pub(crate) notifier: Arc<Notifier>,
    pub(crate) config: StoreConfig,
    pub(crate) options: SqliteOptions,
    pub(crate) read_only: bool,
    /// A database in memory (one connection: reads wait for the writer).
    pub(crate) memory: bool,
    pub(crate) closed: AtomicBool,
    poisoned: Mutex<Option<String>>,
    /// Committed stream ids and their numbers (never change once committed), so that reads
    /// and appends skip the `streams` lookup. Bounded: cleared when full.
    stream_numbers: Mutex<HashMap<Arc<str>, u64>>,
    sync: Option<GroupSync>,
    /// Acknowledged commits that stored events, and syncs run for them (see `io_stats`).
    commits: AtomicU64,
    syncs: AtomicU64,
    /// The lock file held while the database is open for writing.
    _lock: Option<File>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("path", &self.path)
            .field("visible", &self.notifier.visible())
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

/// Maps SQLite's errors onto the store's, naming what to do where there is something to do.
pub(crate) fn sql_error(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        match f.code {
            ErrorCode::DiskFull => {
                return StoreError::Io(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    format!("the disk is full ({e}); free space and retry: nothing was written"),
                ));
            }
            ErrorCode::DatabaseCorrupt => {
                return StoreError::Corrupt {
                    position: None,
                    reason: format!(
                        "SQLite reports a damaged database ({e}); run `opsledger verify`, restore \
                         a backup, or rebuild the read models"
                    ),
                };
            }
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return StoreError::Backend(format!(
                    "the database is locked by another connection ({e})"
                ));
            }
            _ => {}
        }
    }
    StoreError::Backend(e.to_string())
}

fn path_error(path: &Path, e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        match f.code {
            ErrorCode::NotADatabase => {
                return StoreError::Incompatible {
                    path: path.to_path_buf(),
                    reason: "not an SQLite database (a directory of another kind, or a damaged \
                             file); restore a backup or point at the right directory"
                        .into(),
                };
            }
            ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly => {
                return StoreError::Incompatible {
                    path: path.to_path_buf(),
                    reason: format!(
                        "cannot open the database ({e}); check the path and permissions"
                    ),
                };
            }
            _ => {}
        }
    }
    match sql_error(e) {
        StoreError::Backend(reason) => StoreError::Backend(format!("{}: {reason}", path.display())),
        other => other,
    }
}

/// Applies the per-connection settings.
fn configure(conn: &Connection, options: &SqliteOptions) -> rusqlite::Result<()> {
    conn.busy_timeout(options.busy_timeout)?;
    conn.pragma_update(None, "cache_size", -options.cache_kib)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "mmap_size", options.mmap_mib.saturating_mul(1 << 20))?;
    conn.pragma_update(None, "wal_autocheckpoint", options.wal_autocheckpoint_pages)?;
    // The query planner stability guarantee: a statement keeps the plan it was prepared with.
    // Without it, the bundled SQLite (built with STAT4) re-prepares a cached statement
    // whenever a new value is bound to a `LIMIT ?` or to some `= ?` terms, which was a sixth
    // of the engine's CPU per command; the store's queries have one sensible plan each.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.set_prepared_statement_cache_capacity(128);
    crate::rank::register(conn)
}

impl Db {
    /// Opens (creating if needed, unless `read_only`) the database file at `path`.
    pub(crate) fn open(
        path: &Path,
        config: StoreConfig,
        options: SqliteOptions,
        role: Role,
        read_only: bool,
    ) -> Result<Arc<Self>, StoreError> {
        config.validate()?;
        options.validate()?;
        let lock = if read_only {
            if !path.exists() {
                return Err(StoreError::Incompatible {
                    path: path.to_path_buf(),
                    reason: "no such database".into(),
                });
            }
            None
        } else {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            Some(take_lock(path)?)
        };
        let flags = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let conn = Connection::open_with_flags(path, flags).map_err(|e| path_error(path, e))?;
        configure(&conn, &options).map_err(|e| path_error(path, e))?;
        if !read_only {
            init_schema(&conn, path, &config, role)?;
        } else {
            check_format(&conn, path)?;
        }
        let head: u64 = if role == Role::LogAndSpaces {
            conn.query_row("SELECT coalesce(max(position), 0) FROM events", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(|e| path_error(path, e))? as u64
        } else {
            0
        };
        let last_recorded = if role == Role::LogAndSpaces && head > 0 {
            let record: Vec<u8> = conn
                .query_row(
                    "SELECT record FROM events WHERE position = ?1",
                    [head as i64],
                    |r| r.get(0),
                )
                .map_err(|e| path_error(path, e))?;
            let decoded = opsledger_store::codec::decode_record(&record).map_err(|reason| {
                StoreError::Corrupt {
                    position: Some(opsledger_store::Position(head)),
                    reason,
                }
            })?;
            Some(decoded.recorded_at)
        } else {
            None
        };
        let sync = (!read_only && config.durability == Durability::GroupCommit)
            .then(|| GroupSync::new(path));
        Ok(Arc::new(Self {
            path: path.to_path_buf(),
            writer: ReentrantMutex::new(RefCell::new(Writer {
                conn,
                depth: 0,
                aborted: false,
                snapshot: false,
                head,
                committed: head,
                last_recorded,
                unit_recorded: last_recorded,
                created_stream: false,
            })),
            owner: AtomicU64::new(0),
            readers: Mutex::new(Vec::new()),
            notifier: Arc::new(Notifier::new(head)),
            config,
            options,
            read_only,
            memory: false,
            closed: AtomicBool::new(false),
            poisoned: Mutex::new(None),
            stream_numbers: Mutex::new(HashMap::new()),
            sync,
            commits: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            _lock: lock,
        }))
    }

    /// A database of derived spaces and tables in memory: nothing survives the process.
    pub(crate) fn open_memory(options: SqliteOptions) -> Result<Arc<Self>, StoreError> {
        options.validate()?;
        let path = PathBuf::from(":memory:");
        let config = StoreConfig::default().with_durability(Durability::Buffered);
        let conn = Connection::open_in_memory().map_err(|e| path_error(&path, e))?;
        configure(&conn, &options).map_err(|e| path_error(&path, e))?;
        init_schema(&conn, &path, &config, Role::SpacesOnly)?;
        Ok(Arc::new(Self {
            path,
            writer: ReentrantMutex::new(RefCell::new(Writer {
                conn,
                depth: 0,
                aborted: false,
                snapshot: false,
                head: 0,
                committed: 0,
                last_recorded: None,
                unit_recorded: None,
                created_stream: false,
            })),
            owner: AtomicU64::new(0),
            readers: Mutex::new(Vec::new()),
            notifier: Arc::new(Notifier::new(0)),
            config,
            options,
            read_only: false,
            memory: true,
            commits: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            poisoned: Mutex::new(None),
            stream_numbers: Mutex::new(HashMap::new()),
            sync: None,
            _lock: None,
        }))
    }

    /// The highest position readers may see. A read-only database has no appends of its own
    /// to publish: it follows the writer (another connection, often another process) by
    /// reading the committed head from the file first.
    pub(crate) fn visible(&self) -> u64 {
        if self.read_only {
            let committed = self.read(|conn| {
                conn.prepare_cached("SELECT coalesce(max(position), 0) FROM events")?
                    .query_row([], |r| r.get::<_, i64>(0))
            });
            // A failure here shows again, typed, in the read that follows.
            if let Ok(head) = committed {
                self.notifier.publish(head as u64);
            }
        }
        self.notifier.visible()
    }

    /// The number of stream `name`, if it exists (as far as `conn` sees).
    pub(crate) fn stream_number(
        &self,
        conn: &Connection,
        name: &str,
    ) -> rusqlite::Result<Option<u64>> {
        self.stream_number_with(conn, name, |number| {
            self.remember_stream(conn, name, number)
        })
    }

    /// The number of stream `name` for an append on the writer, in its transaction. A number
    /// found there is committed unless the transaction created a stream itself (streams are
    /// numbered in creation order and never deleted): then it is kept for the reads and
    /// appends to come, which the read outside a transaction ([`Self::stream_number`]) would
    /// not do for a record whose tail it found empty.
    pub(crate) fn stream_number_for_append(
        &self,
        writer: &Writer,
        name: &str,
    ) -> rusqlite::Result<Option<u64>> {
        self.stream_number_with(&writer.conn, name, |number| {
            if !writer.created_stream {
                self.keep_stream(name, number);
            }
            Ok(())
        })
    }

    /// The number of stream `name` from the cache, else read on `conn` and handed to `found`.
    fn stream_number_with(
        &self,
        conn: &Connection,
        name: &str,
        found: impl FnOnce(u64) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<Option<u64>> {
        if let Some(&number) = self.stream_numbers.lock().get(name) {
            return Ok(Some(number));
        }
        let number = conn
            .prepare_cached("SELECT stream FROM streams WHERE name = ?1")?
            .query_row([name], |r| r.get::<_, i64>(0))
            .optional()?
            .map(|s| s as u64);
        if let Some(number) = number {
            found(number)?;
        }
        Ok(number)
    }

    /// The number of stream `name`, if it is known without a read.
    pub(crate) fn known_stream_number(&self, name: &str) -> Option<u64> {
        self.stream_numbers.lock().get(name).copied()
    }

    /// Keeps the number of stream `name`, found by `conn`, for the reads and appends to come.
    pub(crate) fn remember_stream(
        &self,
        conn: &Connection,
        name: &str,
        number: u64,
    ) -> rusqlite::Result<()> {
        // Only what is committed: a stream created by an open write transaction may be rolled
        // back and its number given to another stream (a read snapshot sees committed streams).
        if conn.transaction_state(None::<&str>)? != TransactionState::Write {
            self.keep_stream(name, number);
        }
        Ok(())
    }

    fn keep_stream(&self, name: &str, number: u64) {
        let mut cache = self.stream_numbers.lock();
        if cache.len() >= STREAM_NUMBER_CACHE {
            cache.clear();
        }
        cache.insert(Arc::from(name), number);
    }

    /// Whether the calling thread owns the open unit of work.
    pub(crate) fn in_unit(&self) -> bool {
        self.owner.load(Ordering::Acquire) == thread_token()
    }

    /// The writer, locked (reentrantly) for the calling thread.
    pub(crate) fn lock_writer(&self) -> ReentrantMutexGuard<'_, RefCell<Writer>> {
        self.writer.lock()
    }

    /// Refuses a write by a thread in a read snapshot: on the writer, the snapshot's
    /// transaction is not the writer's to commit; on a reader, the reads after the write would
    /// not see it.
    pub(crate) fn check_not_reading(&self, writer: &Writer) -> Result<(), StoreError> {
        let key = self.key();
        if writer.snapshot
            || PINNED.with(|slot| slot.borrow().as_ref().is_some_and(|(db, _)| *db == key))
        {
            return Err(StoreError::Unsupported(
                "a write inside a read snapshot".into(),
            ));
        }
        Ok(())
    }

    /// Refuses writes on a read-only, closed or poisoned database.
    pub(crate) fn check_writable(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::Unsupported(format!(
                "writing to {}, opened read-only",
                self.path.display()
            )));
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        if let Some(reason) = self.poisoned.lock().clone() {
            return Err(StoreError::Poisoned(reason));
        }
        Ok(())
    }

    /// Runs `f` on a connection that sees what the calling thread may see: the writer's (with
    /// its uncommitted writes) for the thread owning the open unit, else a pooled reader.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        if self.in_unit() || self.memory {
            let guard = self.writer.lock();
            let writer = guard.borrow();
            return f(&writer.conn).map_err(sql_error);
        }
        // The reader this thread holds for a read snapshot (a snapshot on the writer needs no
        // slot: the thread holds the writer's lock, which the `try_lock` below takes again).
        let key = self.key();
        let pinned = PINNED.with(|slot| match slot.borrow().as_ref() {
            Some((db, conn)) if *db == key => Ok(f(conn)),
            Some(_) | None => Err(f),
        });
        let f = match pinned {
            Ok(result) => return result.map_err(sql_error),
            Err(f) => f,
        };
        // The writer connection when no one is using it: its page cache stays valid across
        // its own commits, while a reader's is emptied by every commit since its last read
        // (each read then re-reads its pages from the OS). Never waits for the writer.
        if !self.read_only
            && let Some(guard) = self.writer.try_lock()
            && let Ok(writer) = guard.try_borrow()
            && writer.depth == 0
        {
            return f(&writer.conn).map_err(sql_error);
        }
        let conn = match self.readers.lock().pop() {
            Some(c) => c,
            None => self.open_reader()?,
        };
        let result = f(&conn).map_err(sql_error);
        let mut pool = self.readers.lock();
        if pool.len() < self.options.max_readers {
            pool.push(conn);
        }
        result
    }

    /// This database's identity in [`PINNED`].
    fn key(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Runs `reads` with every read the calling thread makes of this database in one read
    /// transaction on one connection (see `Storage::read_snapshot`): the writer's when no one
    /// is using it (as [`Db::read`] prefers), else a pooled reader held by the thread for the
    /// duration. Inside the thread's unit of work, in a snapshot already, or in memory, the
    /// reads run as they would outside (they already share one connection and transaction).
    pub(crate) fn read_snapshot<T>(
        &self,
        reads: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let key = self.key();
        if self.in_unit()
            || self.memory
            || PINNED.with(|slot| slot.borrow().as_ref().is_some_and(|(db, _)| *db == key))
        {
            return reads();
        }
        if !self.read_only
            && let Some(guard) = self.writer.try_lock()
        {
            let began = match guard.try_borrow_mut() {
                // This thread's snapshot, open on the writer already.
                Ok(writer) if writer.snapshot => Some(false),
                Ok(mut writer) if writer.depth == 0 => {
                    begin_read(&writer.conn)?;
                    writer.snapshot = true;
                    Some(true)
                }
                Ok(_) | Err(_) => None,
            };
            match began {
                Some(true) => {
                    let _end = WriterSnapshot(&guard);
                    return reads();
                }
                Some(false) => return reads(),
                None => {}
            }
        }
        let conn = match self.readers.lock().pop() {
            Some(c) => c,
            None => self.open_reader()?,
        };
        begin_read(&conn)?;
        PINNED.with(|slot| *slot.borrow_mut() = Some((key, conn)));
        let _end = ReaderSnapshot(self);
        reads()
    }

    fn open_reader(&self) -> Result<Connection, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)
            .map_err(|e| path_error(&self.path, e))?;
        configure(&conn, &self.options).map_err(|e| path_error(&self.path, e))?;
        Ok(conn)
    }

    /// Runs `f` in a transaction of its own, or inside the calling thread's open unit. With
    /// `events`, a transaction of its own is acknowledged as the durability mode asks before
    /// this returns; derived writes (`events == false`) need no wait of their own: they are
    /// as durable as the events they derive from.
    pub(crate) fn write<T>(
        &self,
        events: bool,
        f: impl FnOnce(&mut Writer) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.check_writable()?;
        let guard = self.writer.lock();
        let mut writer = guard.borrow_mut();
        self.check_not_reading(&writer)?;
        if writer.depth > 0 {
            return f(&mut writer);
        }
        writer.begin()?;
        let value = match f(&mut writer) {
            Ok(v) => v,
            Err(e) => {
                writer.rollback();
                return Err(e);
            }
        };
        writer.commit()?;
        let committed = writer.committed;
        drop(writer);
        drop(guard);
        if events {
            self.acknowledge(committed, true)?;
        }
        Ok(value)
    }

    /// Makes a commit up to `committed` durable as the mode asks, then visible.
    /// `appended`: the commit stored events (counted in [`Db::io_stats`]).
    pub(crate) fn acknowledge(&self, committed: u64, appended: bool) -> Result<(), StoreError> {
        if let Some(sync) = &self.sync
            && let Err(e) = sync.wait_durable(self.sync_ticket())
        {
            let reason = format!("fdatasync of the write-ahead log failed: {e}");
            *self.poisoned.lock() = Some(reason.clone());
            return Err(StoreError::Poisoned(reason));
        }
        if appended {
            self.commits.fetch_add(1, Ordering::Relaxed);
        }
        if self.config.durability == Durability::PerCommit {
            // synchronous=FULL: SQLite synced the write-ahead log inside this commit.
            self.syncs.fetch_add(1, Ordering::Relaxed);
        }
        self.notifier.publish(committed);
        Ok(())
    }

    /// Commits acknowledged and syncs run since open. SQLite's own syncs at checkpoints (what
    /// makes `Buffered` writes durable) are not counted.
    pub(crate) fn io_stats(&self) -> opsledger_store::IoStats {
        let group_syncs = self
            .sync
            .as_ref()
            .map_or(0, |s| s.syncs.load(Ordering::Relaxed));
        opsledger_store::IoStats {
            commits: self.commits.load(Ordering::Relaxed),
            syncs: self.syncs.load(Ordering::Relaxed) + group_syncs,
        }
    }

    fn sync_ticket(&self) -> u64 {
        self.sync.as_ref().map_or(0, GroupSync::ticket)
    }

    /// Makes every committed write durable now (an fsync of the write-ahead log).
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        if self.read_only || self.memory || self.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        let wal = wal_path(&self.path);
        if wal.exists() {
            File::open(&wal)?.sync_data()?;
            self.syncs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Checkpoints the write-ahead log into the database file and closes every connection.
    pub(crate) fn close(&self) -> Result<(), StoreError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.readers.lock().clear();
        self.notifier.close();
        if !self.read_only && !self.memory {
            let guard = self.writer.lock();
            let writer = guard.borrow();
            writer
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(sql_error)?;
        }
        Ok(())
    }
}

/// Opens a read snapshot's transaction (deferred: the first read takes its snapshot). Cached
/// statements: `execute_batch` would parse the text on every snapshot.
fn begin_read(conn: &Connection) -> Result<(), StoreError> {
    conn.prepare_cached("BEGIN")
        .and_then(|mut begin| begin.execute([]))
        .map(|_| ())
        .map_err(sql_error)
}

/// Ends a read snapshot's transaction.
fn end_read(conn: &Connection) -> Result<(), StoreError> {
    conn.prepare_cached("COMMIT")
        .and_then(|mut commit| commit.execute([]))
        .map(|_| ())
        .map_err(sql_error)
}

/// Ends a read snapshot on the writer (also when the reads panic): the read transaction is
/// committed (it wrote nothing) and the writer is free for writes again.
struct WriterSnapshot<'a>(&'a ReentrantMutexGuard<'a, RefCell<Writer>>);

impl Drop for WriterSnapshot<'_> {
    fn drop(&mut self) {
        let mut writer = self.0.borrow_mut();
        writer.snapshot = false;
        if !writer.conn.is_autocommit() {
            let _ = end_read(&writer.conn);
        }
    }
}

/// Ends a read snapshot on a pooled reader (also when the reads panic): the thread lets go of
/// the reader, its read transaction ends, and it goes back to the pool.
struct ReaderSnapshot<'a>(&'a Db);

impl Drop for ReaderSnapshot<'_> {
    fn drop(&mut self) {
        let Some((_, conn)) = PINNED.with(|slot| slot.borrow_mut().take()) else {
            return;
        };
        if !conn.is_autocommit() && end_read(&conn).is_err() {
            return;
        }
        let mut pool = self.0.readers.lock();
        if pool.len() < self.0.options.max_readers {
            pool.push(conn);
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.notifier.close();
    }
}

pub(crate) fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Takes the lock file `<database>.lock` for writing (an advisory lock the OS releases when
/// the process dies, so a crash never leaves a stale lock behind).
fn take_lock(path: &Path) -> Result<File, StoreError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)?;
    // A lock released a moment ago may still be held for a few milliseconds: a child process
    // forked by this process between the open and its `exec` shares the lock's open file (the
    // descriptor is close-on-exec, so the share ends at the `exec`). A short, bounded wait
    // tells that apart from another writer, which holds the lock for as long as it runs.
    let deadline = std::time::Instant::now() + LOCK_GRACE;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    path: path.to_path_buf(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(StoreError::Io(e)),
        }
    }
}

fn init_schema(
    conn: &Connection,
    path: &Path,
    config: &StoreConfig,
    role: Role,
) -> Result<(), StoreError> {
    let err = |e| path_error(path, e);
    // Before anything is written: a database of another program is refused as it is found.
    check_format(conn, path)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(err)?;
    let synchronous = match config.durability {
        Durability::PerCommit => "FULL",
        Durability::GroupCommit | Durability::Buffered => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", synchronous)
        .map_err(err)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS opsledger_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    )
    .map_err(err)?;
    conn.execute(
        "INSERT OR IGNORE INTO opsledger_meta(key, value) VALUES ('format', ?1)",
        [FORMAT],
    )
    .map_err(err)?;
    if role == Role::LogAndSpaces {
        conn.execute_batch(LOG_SCHEMA).map_err(err)?;
    }
    for space in opsledger_store::Space::ALL {
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {}(key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
            crate::kv::table(space)
        ))
        .map_err(err)?;
    }
    Ok(())
}

/// Refuses a database of another format (a newer opsledger, or not ours).
fn check_format(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let has_meta: bool = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'opsledger_meta'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(|e| path_error(path, e))?
        > 0;
    if !has_meta {
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| path_error(path, e))?;
        return if tables == 0 {
            Ok(())
        } else {
            Err(StoreError::Incompatible {
                path: path.to_path_buf(),
                reason: "an SQLite database that opsledger did not create; point at an opsledger \
                         data directory"
                    .into(),
            })
        };
    }
    let format: Option<String> = conn
        .query_row(
            "SELECT value FROM opsledger_meta WHERE key = 'format'",
            [],
            |r| r.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(path_error(path, e)),
        })?;
    match format {
        None => Ok(()),
        Some(f) if f == FORMAT => Ok(()),
        Some(f) => Err(StoreError::Incompatible {
            path: path.to_path_buf(),
            reason: format!(
                "written in format {f:?}, this build reads {FORMAT:?}; open it with the opsledger \
                 release that wrote it, or migrate it with that release"
            ),
        }),
    }
}

/// Group commit: after its transaction commits (written to the write-ahead log, not yet
/// synced), an appender waits for an `fdatasync` of the log that started after its commit.
/// One appender at a time runs the sync; the others that committed before it started share
/// it, and those that commit while it runs share the next one.
struct GroupSync {
    wal: PathBuf,
    file: Mutex<Option<File>>,
    state: Mutex<SyncState>,
    cond: Condvar,
    /// Commits so far (a commit's ticket is the count after it).
    commits: AtomicU64,
    /// `fdatasync` calls that succeeded.
    syncs: AtomicU64,
}

#[derive(Default)]
struct SyncState {
    /// Every commit with a ticket up to here is durable.
    synced: u64,
    running: bool,
}

impl GroupSync {
    fn new(db: &Path) -> Self {
        Self {
            wal: wal_path(db),
            file: Mutex::new(None),
            state: Mutex::new(SyncState::default()),
            cond: Condvar::new(),
            commits: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
        }
    }

    /// A ticket for a commit that just happened.
    fn ticket(&self) -> u64 {
        self.commits.fetch_add(1, Ordering::AcqRel) + 1
    }

    fn wait_durable(&self, ticket: u64) -> std::io::Result<()> {
        let mut state = self.state.lock();
        loop {
            if state.synced >= ticket {
                return Ok(());
            }
            if !state.running {
                state.running = true;
                // Everything committed before this point is covered by the sync below.
                let target = self.commits.load(Ordering::Acquire);
                drop(state);
                let result = self.sync();
                state = self.state.lock();
                state.running = false;
                if result.is_ok() {
                    state.synced = state.synced.max(target);
                }
                self.cond.notify_all();
                result?;
            } else {
                self.cond.wait(&mut state);
            }
        }
    }

    fn sync(&self) -> std::io::Result<()> {
        let mut file = self.file.lock();
        if file.is_none() {
            *file = Some(File::open(&self.wal)?);
        }
        file.as_ref().map_or(Ok(()), File::sync_data)?;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
