//! Connections to the database: one writer connection per process behind a reentrant lock
//! (units of work, the owner thread's reads), a small pool of reader connections, the
//! listener that turns `NOTIFY` into wake-ups of subscriptions, the schema check and the
//! mapping of the driver's errors to typed store errors.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use opsledger_store::subscription::Notifier;
use opsledger_store::{Durability, IoStats, StoreConfig, StoreError};
use parking_lot::{Mutex, ReentrantMutex, ReentrantMutexGuard};
use postgres::Client;
use postgres::error::SqlState;

use crate::PgOptions;
use crate::conn::{Conn, is_stale};

/// The format of the tables this crate writes; a database with another one is refused.
pub(crate) const FORMAT: &str = "opsledger-postgres-1";

/// Attempts of a write outside a unit of work that the database aborted to keep concurrent
/// writers consistent (serialization failure, deadlock).
const TRANSIENT_ATTEMPTS: u32 = 5;

/// A token naming the calling thread (never reused, unlike thread ids of some platforms).
pub(crate) fn thread_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    TOKEN.with(|t| *t)
}

/// Why a write failed: the store's own rule, or the database.
pub(crate) enum Failure {
    /// A rule of the store (conflict, bad input): the transaction is intact.
    Store(StoreError),
    /// The database or the connection: the transaction is lost.
    Pg(postgres::Error),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl From<postgres::Error> for Failure {
    fn from(e: postgres::Error) -> Self {
        Failure::Pg(e)
    }
}

impl Failure {
    fn into_store(self) -> StoreError {
        match self {
            Failure::Store(e) => e,
            Failure::Pg(e) => pg_error(&e),
        }
    }
}

/// Whether the database aborted the transaction only to keep concurrent writers consistent,
/// or refused a cached statement that went stale (the cache is dropped by then): running
/// the transaction again succeeds.
fn is_transient(e: &postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    ) || is_stale(e)
}

/// The typed store error of a driver error (outside a commit).
pub(crate) fn pg_error(e: &postgres::Error) -> StoreError {
    if is_transient(e) {
        return StoreError::Transient(e.to_string());
    }
    if let Some(code) = e.code() {
        if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            return StoreError::Backend(format!(
                "PostgreSQL refused: {e} (grant the role the privileges docs/OPERATIONS.md lists)"
            ));
        }
        if code.code().starts_with("08") || code.code().starts_with("57P") {
            return StoreError::Unavailable(e.to_string());
        }
        return StoreError::Backend(format!("PostgreSQL: {}", describe(e)));
    }
    if e.is_closed() || e.as_db_error().is_none() {
        return StoreError::Unavailable(describe(e));
    }
    StoreError::Backend(format!("PostgreSQL: {}", describe(e)))
}

/// The driver's message with the server's detail, for people.
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        },
        None => {
            use std::error::Error;
            match e.source() {
                Some(source) => format!("{e}: {source}"),
                None => e.to_string(),
            }
        }
    }
}

/// The typed store error of a failed `COMMIT`: a server's answer means nothing was stored;
/// a lost connection means the outcome is unknown.
fn commit_error(e: &postgres::Error) -> StoreError {
    let connection_gone = e.code().is_some_and(|c| {
        let class = c.code();
        class.starts_with("08") || class.starts_with("57P")
    });
    if e.as_db_error().is_some() && !connection_gone {
        pg_error(e)
    } else {
        StoreError::OutcomeUnknown(describe(e))
    }
}

/// The writer connection and what the writer knows.
pub(crate) struct Writer {
    /// The connection (None after it was lost: the next write connects again).
    client: Option<Conn>,
    /// Open units of work on the owning thread (0: none).
    pub(crate) depth: u32,
    /// An inner unit was rolled back: the outermost one must roll back too.
    pub(crate) aborted: bool,
    /// A statement of the open transaction failed: it can only roll back.
    failed: Option<StoreError>,
    /// The head after this transaction's appends (published once it commits).
    pub(crate) appended_to: Option<u64>,
}

impl Writer {
    /// The connection, connecting again if it was lost.
    pub(crate) fn client(&mut self, db: &Db) -> Result<&mut Conn, StoreError> {
        if self.client.as_ref().is_none_or(Conn::is_closed) {
            self.client = Some(db.open_conn(true)?);
        }
        let conn = self
            .client
            .as_mut()
            .ok_or_else(|| StoreError::Unavailable("no connection".into()))?;
        conn.sync_generation(db.generation());
        Ok(conn)
    }

    /// Opens the transaction of a unit of work.
    pub(crate) fn begin(&mut self, db: &Db) -> Result<(), StoreError> {
        self.failed = None;
        self.appended_to = None;
        self.send_begin(db).map(|_| ())
    }

    /// Sends `BEGIN`; answers the connection the transaction is open on. A connection the
    /// server ended while it was idle (a restart, `pg_terminate_backend`, an idle timeout) is
    /// only found out here: nothing of a transaction was sent on it, so it is replaced once and
    /// `BEGIN` sent again.
    fn send_begin(&mut self, db: &Db) -> Result<&mut Conn, StoreError> {
        let lost = match self.client(db)?.batch_execute("BEGIN") {
            Ok(()) => false,
            Err(e) => match pg_error(&e) {
                StoreError::Unavailable(_) => true,
                error => return Err(error),
            },
        };
        if lost {
            self.client = None;
            self.client(db)?
                .batch_execute("BEGIN")
                .map_err(|e| pg_error(&e))?;
        }
        self.client(db)
    }

    /// Commits the open transaction; answers the head it appended up to, if it appended.
    pub(crate) fn commit(&mut self) -> Result<Option<u64>, StoreError> {
        let appended = self.appended_to.take();
        if let Some(e) = self.failed.take() {
            self.rollback();
            return Err(e);
        }
        let Some(client) = self.client.as_mut() else {
            return Err(StoreError::Unavailable("the connection was lost".into()));
        };
        match client.batch_execute("COMMIT") {
            Ok(()) => Ok(appended),
            Err(e) => {
                let error = commit_error(&e);
                if client.is_closed() {
                    self.client = None;
                }
                Err(error)
            }
        }
    }

    /// Rolls the open transaction back (a lost connection has rolled it back already).
    pub(crate) fn rollback(&mut self) {
        self.appended_to = None;
        self.failed = None;
        if let Some(client) = self.client.as_mut()
            && client.batch_execute("ROLLBACK").is_err()
        {
            self.client = None;
        }
    }
}

/// The database as one process sees it.
pub(crate) struct Db {
    pub(crate) config: StoreConfig,
    pub(crate) options: PgOptions,
    pg: postgres::Config,
    /// TLS as the connection string's `sslmode` asks.
    tls: crate::tls::Tls,
    /// Where people see the database named (the connection string without its password).
    pub(crate) name: String,
    writer: ReentrantMutex<RefCell<Writer>>,
    /// The thread holding an open unit of work (0: none).
    pub(crate) owner: AtomicU64,
    readers: Mutex<Vec<Conn>>,
    /// Bumped by every schema change made through this process: connections drop their
    /// prepared statements before their next use after it.
    generation: AtomicU64,
    pub(crate) notifier: Arc<Notifier>,
    closed: AtomicBool,
    stop: Arc<AtomicBool>,
    listener: Mutex<Option<JoinHandle<()>>>,
    commits: AtomicU64,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("database", &self.name)
            .field("schema", &self.options.schema)
            .finish_non_exhaustive()
    }
}

/// The schema's tables (created when missing, in the options' schema).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS opsledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS head (
    id BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    position BIGINT NOT NULL,
    recorded_at_nanos BIGINT NOT NULL
);
INSERT INTO head (id, position, recorded_at_nanos) VALUES (TRUE, 0, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS streams (
    stream BIGINT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS events (
    position BIGINT PRIMARY KEY,
    stream BIGINT NOT NULL REFERENCES streams (stream),
    version BIGINT NOT NULL,
    event_id BYTEA NOT NULL UNIQUE,
    record BYTEA NOT NULL,
    UNIQUE (stream, version)
);
CREATE TABLE IF NOT EXISTS kv_views (key BYTEA PRIMARY KEY, value BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS kv_meta (key BYTEA PRIMARY KEY, value BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS kv_snapshots (key BYTEA PRIMARY KEY, value BYTEA NOT NULL);
";

/// The advisory lock key that serialises creating the schema across replicas.
const SCHEMA_LOCK: i64 = 0x6f70_736c_6564_6701;

/// Checks a schema name: plain lower-case identifiers only, so that it can be quoted into DDL
/// and channel names without any escaping question.
pub(crate) fn check_schema_name(schema: &str) -> Result<(), StoreError> {
    let mut chars = schema.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !first_ok
        || schema.len() > 48
        || !schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(StoreError::InvalidConfig(format!(
            "PostgreSQL schema name {schema:?}: use 1 to 48 characters a-z, 0-9 and _, not starting with a digit"
        )));
    }
    Ok(())
}

/// The connection string without its password.
fn redact(url: &str) -> String {
    // postgres://user:password@host/db -> postgres://user@host/db
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((auth, host)) = rest.split_once('@')
    {
        let user = auth.split(':').next().unwrap_or_default();
        return format!("{scheme}://{user}@{host}");
    }
    url.split_whitespace()
        .filter(|part| !part.starts_with("password="))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Db {
    /// Connects, creates the schema if needed and checks its format.
    pub(crate) fn open(
        url: &str,
        config: StoreConfig,
        options: PgOptions,
    ) -> Result<Arc<Self>, StoreError> {
        config.validate()?;
        options.validate()?;
        let (driver_url, tls) = crate::tls::split_tls(url)?;
        let mut pg: postgres::Config = driver_url.parse().map_err(|e: postgres::Error| {
            StoreError::InvalidConfig(format!("PostgreSQL connection string: {e}"))
        })?;
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(options.connect_timeout);
        }
        // A machine that vanished is noticed by its sessions' keepalives (and its leases freed).
        if pg.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
            pg.keepalives_idle(Duration::from_secs(10));
        }
        if pg.get_application_name().is_none() {
            pg.application_name("opsledger");
        }
        let db = Arc::new(Self {
            config,
            name: redact(url),
            pg,
            tls,
            writer: ReentrantMutex::new(RefCell::new(Writer {
                client: None,
                depth: 0,
                aborted: false,
                failed: None,
                appended_to: None,
            })),
            owner: AtomicU64::new(0),
            readers: Mutex::new(Vec::new()),
            generation: AtomicU64::new(0),
            notifier: Arc::new(Notifier::new(0)),
            closed: AtomicBool::new(false),
            stop: Arc::new(AtomicBool::new(false)),
            listener: Mutex::new(None),
            commits: AtomicU64::new(0),
            options,
        });
        let head = db.prepare_schema()?;
        db.notifier.publish(head);
        db.start_listener()?;
        Ok(db)
    }

    /// The schema, quoted for DDL (validated at open).
    pub(crate) fn quoted_schema(&self) -> String {
        format!("\"{}\"", self.options.schema)
    }

    /// The `LISTEN`/`NOTIFY` channel of this schema's log.
    pub(crate) fn channel(&self) -> String {
        format!("opsledger_{}", self.options.schema)
    }

    /// Opens a connection with the schema on its search path; `writer`: with the durability
    /// mode's `synchronous_commit`.
    pub(crate) fn connect(&self, writer: bool) -> Result<Client, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let mut client = crate::tls::connect(&self.pg, &self.tls)
            .map_err(|e| StoreError::Unavailable(format!("{}: {}", self.name, describe(&e))))?;
        let synchronous = match self.config.durability {
            Durability::Buffered => "off",
            Durability::PerCommit | Durability::GroupCommit => "on",
        };
        let mut setup = format!(
            "SET search_path TO {}; SET TIME ZONE 'UTC';",
            self.quoted_schema()
        );
        if writer {
            setup.push_str(&format!(" SET synchronous_commit TO {synchronous};"));
        }
        client.batch_execute(&setup).map_err(|e| pg_error(&e))?;
        Ok(client)
    }

    /// Opens a connection with an empty statement cache (see [`Db::connect`]).
    pub(crate) fn open_conn(&self, writer: bool) -> Result<Conn, StoreError> {
        Ok(Conn::new(self.connect(writer)?, self.generation()))
    }

    /// The schema generation (see [`Db::schema_changed`]).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Records a schema change made through this process: every connection drops its
    /// prepared statements before its next use (`conn`, the one that made it, at once).
    pub(crate) fn schema_changed(&self, conn: &mut Conn) {
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        conn.sync_generation(generation);
    }

    /// Creates the schema and tables when missing (one replica at a time), checks the format;
    /// answers the head.
    fn prepare_schema(&self) -> Result<u64, StoreError> {
        let guard = self.writer.lock();
        let mut writer = guard.borrow_mut();
        let mut client = self.connect(true)?;
        let mut tx = client.transaction().map_err(|e| pg_error(&e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
            .map_err(|e| pg_error(&e))?;
        let schema_exists = tx
            .query_opt(
                "SELECT 1 FROM pg_namespace WHERE nspname = $1",
                &[&self.options.schema],
            )
            .map_err(|e| pg_error(&e))?
            .is_some();
        if !schema_exists {
            tx.batch_execute(&format!("CREATE SCHEMA {}", self.quoted_schema()))
                .map_err(|e| pg_error(&e))?;
        }
        let tables_exist: bool = tx
            .query_one("SELECT to_regclass('opsledger_meta') IS NOT NULL", &[])
            .map_err(|e| pg_error(&e))?
            .get(0);
        let format: Option<String> = if tables_exist {
            tx.query_opt("SELECT value FROM opsledger_meta WHERE key = 'format'", &[])
                .map_err(|e| pg_error(&e))?
                .map(|r| r.get(0))
        } else {
            None
        };
        match format.as_deref() {
            Some(FORMAT) => {}
            Some(other) => {
                return Err(StoreError::Incompatible {
                    path: self.location(),
                    reason: format!(
                        "holds opsledger tables of format {other:?}, this version reads {FORMAT:?}; \
                         use the opsledger version that wrote them, or migrate"
                    ),
                });
            }
            None => {
                tx.batch_execute(SCHEMA).map_err(|e| pg_error(&e))?;
                tx.execute(
                    "INSERT INTO opsledger_meta (key, value) VALUES ('format', $1)",
                    &[&FORMAT],
                )
                .map_err(|e| pg_error(&e))?;
            }
        }
        let head: i64 = tx
            .query_one("SELECT position FROM head", &[])
            .map_err(|e| pg_error(&e))?
            .get(0);
        tx.commit().map_err(|e| pg_error(&e))?;
        writer.client = Some(Conn::new(client, self.generation()));
        Ok(u64::try_from(head).unwrap_or_default())
    }

    /// The database and schema as a path-like name for errors.
    pub(crate) fn location(&self) -> std::path::PathBuf {
        std::path::PathBuf::from(format!("{} (schema {})", self.name, self.options.schema))
    }

    /// Starts the thread that listens for commits of other processes (and polls the head
    /// as a fallback) and publishes them to the notifier.
    fn start_listener(self: &Arc<Self>) -> Result<(), StoreError> {
        let weak: Weak<Db> = Arc::downgrade(self);
        let stop = self.stop.clone();
        let poll = self.options.poll_interval;
        let handle = std::thread::Builder::new()
            .name("opsledger-pg-listen".into())
            .spawn(move || listen(weak, stop, poll))?;
        *self.listener.lock() = Some(handle);
        Ok(())
    }

    /// Whether the calling thread holds the open unit of work.
    pub(crate) fn in_unit(&self) -> bool {
        self.owner.load(Ordering::Acquire) == thread_token()
    }

    /// The writer, locked (reentrantly) for the calling thread.
    pub(crate) fn lock_writer(&self) -> ReentrantMutexGuard<'_, RefCell<Writer>> {
        self.writer.lock()
    }

    /// Refuses writes on a closed database.
    pub(crate) fn check_writable(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        Ok(())
    }

    /// Runs a write on the writer connection: inside the calling thread's unit of work if it
    /// has one, else in a transaction of its own (retried when the database aborted it to keep
    /// concurrent writers consistent). `f` answers its result and, if it appended, the head
    /// after it.
    pub(crate) fn write<T>(
        &self,
        mut f: impl FnMut(&mut Conn) -> Result<(T, Option<u64>), Failure>,
    ) -> Result<T, StoreError> {
        self.check_writable()?;
        let guard = self.writer.lock();
        let mut writer = guard.borrow_mut();
        if writer.depth > 0 {
            if let Some(e) = &writer.failed {
                return Err(StoreError::Backend(format!(
                    "an earlier statement of this unit of work failed ({e}); it can only roll back"
                )));
            }
            let client = writer.client(self)?;
            return match f(client) {
                Ok((value, appended)) => {
                    if appended.is_some() {
                        writer.appended_to = appended;
                    }
                    Ok(value)
                }
                Err(Failure::Store(e)) => Err(e),
                Err(Failure::Pg(e)) => {
                    let error = pg_error(&e);
                    writer.failed = Some(pg_error(&e));
                    Err(error)
                }
            };
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let client = writer.send_begin(self)?;
            let result = f(client);
            let outcome = match result {
                Ok((value, appended)) => match client.batch_execute("COMMIT") {
                    Ok(()) => Ok((value, appended)),
                    Err(e) if is_transient(&e) => Err(Failure::Pg(e)),
                    Err(e) => {
                        let error = commit_error(&e);
                        if client.is_closed() {
                            writer.client = None;
                        }
                        return Err(error);
                    }
                },
                Err(e) => {
                    if client.batch_execute("ROLLBACK").is_err() {
                        writer.client = None;
                    }
                    Err(e)
                }
            };
            match outcome {
                Ok((value, appended)) => {
                    if let Some(head) = appended {
                        self.acknowledge(head);
                    }
                    return Ok(value);
                }
                Err(Failure::Pg(e)) if is_transient(&e) && attempt < TRANSIENT_ATTEMPTS => {
                    std::thread::sleep(Duration::from_millis(2 << attempt));
                }
                Err(e) => return Err(e.into_store()),
            }
        }
    }

    /// Counts a commit that stored events and wakes this process's subscriptions.
    pub(crate) fn acknowledge(&self, head: u64) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.notifier.publish(head);
    }

    /// Runs a read: on the writer connection for the thread holding the open unit of work (it
    /// reads its own writes), else on a pooled reader connection (committed data).
    pub(crate) fn read<T>(
        &self,
        mut f: impl FnMut(&mut Conn) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        if self.in_unit() {
            let guard = self.writer.lock();
            let mut writer = guard.borrow_mut();
            let client = writer.client(self)?;
            return match f(client) {
                Ok(v) => Ok(v),
                Err(Failure::Store(e)) => Err(e),
                Err(Failure::Pg(e)) => {
                    let error = pg_error(&e);
                    writer.failed = Some(pg_error(&e));
                    Err(error)
                }
            };
        }
        let popped = self.readers.lock().pop();
        let mut client = match popped {
            Some(c) if !c.is_closed() => c,
            _ => self.open_conn(false)?,
        };
        client.sync_generation(self.generation());
        let result = match f(&mut client) {
            // The cache went stale and was dropped: once more, preparing afresh.
            Err(Failure::Pg(e)) if is_stale(&e) => f(&mut client),
            other => other,
        };
        if !client.is_closed() {
            let mut pool = self.readers.lock();
            if pool.len() < self.options.readers {
                pool.push(client);
            }
        }
        result.map_err(Failure::into_store)
    }

    /// The committed head, read from the database.
    pub(crate) fn committed_head(&self) -> Result<u64, StoreError> {
        self.read(|client| {
            let head: i64 = client.query_one("SELECT position FROM head", &[])?.get(0);
            Ok(u64::try_from(head).unwrap_or_default())
        })
    }

    /// Makes every acknowledged commit durable: in `Buffered` mode (`synchronous_commit`
    /// off) a synchronous commit of the head row flushes the server's write-ahead log up to
    /// it, which covers every earlier commit; the other modes are durable at each commit.
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        if self.config.durability != Durability::Buffered || self.in_unit() {
            return Ok(());
        }
        self.write(|client| {
            client.batch_execute(
                "SET LOCAL synchronous_commit TO on; UPDATE head SET position = position",
            )?;
            Ok(((), None))
        })
    }

    /// Commits since open (PostgreSQL syncs its own write-ahead log; none are counted here).
    pub(crate) fn io_stats(&self) -> IoStats {
        IoStats {
            commits: self.commits.load(Ordering::Relaxed),
            syncs: 0,
        }
    }

    /// Closes every connection and stops the listener; later calls answer
    /// [`StoreError::Closed`].
    pub(crate) fn close(&self) -> Result<(), StoreError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.stop.store(true, Ordering::Release);
        self.notifier.close();
        if let Some(handle) = self.listener.lock().take()
            && handle.thread().id() != std::thread::current().id()
        {
            let _ = handle.join();
        }
        self.readers.lock().clear();
        if let Some(guard) = self.writer.try_lock() {
            guard.borrow_mut().client = None;
        }
        Ok(())
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.notifier.close();
    }
}

/// The listener thread: `LISTEN` on the log's channel, publish every notified head; poll the
/// head every `poll` as well (a notification lost with a connection, or a server that drops
/// them, delays a wake-up by at most that long, never loses an event: readers read by
/// position).
fn listen(db: Weak<Db>, stop: Arc<AtomicBool>, poll: Duration) {
    let mut client: Option<Client> = None;
    while !stop.load(Ordering::Acquire) {
        let Some(strong) = db.upgrade() else { return };
        if client.as_ref().is_none_or(Client::is_closed) {
            client = strong.connect(false).ok().and_then(|mut c| {
                c.batch_execute(&format!("LISTEN \"{}\"", strong.channel()))
                    .ok()
                    .map(|()| c)
            });
        }
        let notifier = strong.notifier.clone();
        drop(strong);
        let Some(c) = client.as_mut() else {
            std::thread::sleep(poll);
            continue;
        };
        {
            use postgres::fallible_iterator::FallibleIterator;
            let started = std::time::Instant::now();
            let mut notifications = c.notifications();
            let mut iter = notifications.timeout_iter(poll);
            while let Ok(Some(n)) = iter.next() {
                if let Ok(p) = n.payload().parse::<u64>() {
                    notifier.publish(p);
                }
                if stop.load(Ordering::Acquire) || started.elapsed() >= poll {
                    break;
                }
            }
        }
        // The poll fallback.
        match c.query_one("SELECT position FROM head", &[]) {
            Ok(row) => {
                let head: i64 = row.get(0);
                notifier.publish(u64::try_from(head).unwrap_or_default());
            }
            Err(_) => client = None,
        }
    }
}
