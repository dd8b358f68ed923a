//! The default backend as the engine sees it: the log and the derived spaces in one file,
//! and units of work that commit them together.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use opsledger_store::{
    EventStore, Kv, Space, SqlTables, Storage, StoreConfig, StoreError, Unit, UnitOfWork,
};
use parking_lot::ReentrantMutexGuard;

use crate::db::{Db, Role, Writer, thread_token};
use crate::{SqliteKv, SqliteOptions, SqliteStore, SqliteTables};

/// The name of the database file inside a data directory.
pub const DATABASE_FILE: &str = "opsledger.db";

/// The name the database file had in data directories made before it was `opsledger.db`;
/// such a directory keeps its file, and is opened under that name.
pub const LEGACY_DATABASE_FILE: &str = "opsledger.sqlite3";

/// The database file of data directory `dir`: `opsledger.db`, or the file of an older
/// directory (`opsledger.sqlite3`) when that is the one there.
pub fn database_path(dir: impl AsRef<Path>) -> std::path::PathBuf {
    let dir = dir.as_ref();
    let legacy = dir.join(LEGACY_DATABASE_FILE);
    let current = dir.join(DATABASE_FILE);
    if legacy.exists() && !current.exists() {
        legacy
    } else {
        current
    }
}

/// The log and the derived spaces in one SQLite database (see the crate documentation).
#[derive(Debug)]
pub struct SqliteStorage {
    store: SqliteStore,
    spaces: [Arc<SqliteKv>; 3],
    tables: Arc<SqliteTables>,
}

impl SqliteStorage {
    /// Opens (creating if needed) the backend in data directory `dir` (`<dir>/opsledger.db`,
    /// see [`database_path`]).
    pub fn open(
        dir: impl AsRef<Path>,
        config: StoreConfig,
        options: SqliteOptions,
    ) -> Result<Self, StoreError> {
        Self::open_file(database_path(dir), config, options)
    }

    /// Opens (creating if needed) the backend in the database file `path`.
    pub fn open_file(
        path: impl AsRef<Path>,
        config: StoreConfig,
        options: SqliteOptions,
    ) -> Result<Self, StoreError> {
        let db = Db::open(path.as_ref(), config, options, Role::LogAndSpaces, false)?;
        Ok(Self::from_db(db))
    }

    /// Opens an existing data directory read-only, beside a process that may be writing to
    /// it: reads (which follow the writer's commits), `verify` and `backup` work; appends and
    /// space writes are refused.
    pub fn open_read_only(dir: impl AsRef<Path>, config: StoreConfig) -> Result<Self, StoreError> {
        let db = Db::open(
            &database_path(dir),
            config,
            SqliteOptions::default(),
            Role::LogAndSpaces,
            true,
        )?;
        Ok(Self::from_db(db))
    }

    fn from_db(db: Arc<Db>) -> Self {
        let space = |s| Arc::new(SqliteKv::new(db.clone(), s));
        Self {
            spaces: [
                space(Space::Views),
                space(Space::Meta),
                space(Space::Snapshots),
            ],
            tables: Arc::new(SqliteTables::new(db.clone())),
            store: SqliteStore { db },
        }
    }

    /// The log.
    pub fn store(&self) -> &SqliteStore {
        &self.store
    }

    /// Whether `dir` holds a database of this backend.
    pub fn exists_in(dir: impl AsRef<Path>) -> bool {
        database_path(dir).exists()
    }
}

/// The derived spaces alone, in a database file of their own: what another backend's log
/// (sled's) keeps beside it.
#[derive(Debug, Clone)]
pub struct SqliteSpaces {
    db: Arc<Db>,
    spaces: [Arc<SqliteKv>; 3],
    tables: Arc<SqliteTables>,
}

impl SqliteSpaces {
    /// Opens (creating if needed) the spaces in the database file `path`.
    pub fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, StoreError> {
        let config = StoreConfig::default().with_durability(opsledger_store::Durability::Buffered);
        let db = Db::open(path.as_ref(), config, options, Role::SpacesOnly, false)?;
        Ok(Self::from_db(db))
    }

    /// The spaces and tables in memory (for a log that keeps nothing on disk, and for views
    /// replayed as of an instant): nothing survives the process.
    pub fn in_memory() -> Result<Self, StoreError> {
        Ok(Self::from_db(Db::open_memory(SqliteOptions {
            cache_kib: 64,
            ..SqliteOptions::default()
        })?))
    }

    fn from_db(db: Arc<Db>) -> Self {
        let space = |s| Arc::new(SqliteKv::new(db.clone(), s));
        Self {
            spaces: [
                space(Space::Views),
                space(Space::Meta),
                space(Space::Snapshots),
            ],
            tables: Arc::new(SqliteTables::new(db.clone())),
            db,
        }
    }

    /// The SQL tables of this database.
    pub fn tables(&self) -> Arc<dyn SqlTables> {
        self.tables.clone()
    }

    /// One space.
    pub fn space(&self, space: Space) -> Arc<dyn Kv> {
        self.spaces[index(space)].clone()
    }

    /// Makes every write durable now.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()
    }

    /// Checkpoints and closes the database.
    pub fn close(&self) -> Result<(), StoreError> {
        self.db.close()
    }

    /// The database file.
    pub fn path(&self) -> PathBuf {
        self.db.path.clone()
    }
}

fn index(space: Space) -> usize {
    match space {
        Space::Views => 0,
        Space::Meta => 1,
        Space::Snapshots => 2,
    }
}

/// A unit of work: the writer locked for this thread, a transaction open on it.
struct SqliteUnit<'a> {
    db: &'a Db,
    guard: ReentrantMutexGuard<'a, std::cell::RefCell<Writer>>,
}

impl SqliteUnit<'_> {
    /// Leaves one level of nesting; `Some(writer state)` when this was the outermost.
    fn leave(&self) -> bool {
        let mut writer = self.guard.borrow_mut();
        writer.depth -= 1;
        writer.depth == 0
    }
}

impl UnitOfWork for SqliteUnit<'_> {
    fn commit(self: Box<Self>, rolled_back: &mut dyn FnMut()) -> Result<(), StoreError> {
        if !self.leave() {
            return if self.guard.borrow().aborted {
                rolled_back();
                Err(StoreError::RolledBack)
            } else {
                Ok(())
            };
        }
        let db = self.db;
        let committed = {
            let mut writer = self.guard.borrow_mut();
            db.owner.store(0, Ordering::Release);
            if std::mem::take(&mut writer.aborted) {
                writer.rollback();
                rolled_back();
                return Err(StoreError::RolledBack);
            }
            let before = writer.committed;
            if let Err(e) = writer.commit() {
                rolled_back();
                return Err(e);
            }
            (writer.committed, writer.committed > before)
        };
        drop(self.guard);
        // Committed: from here on a failure (of the group sync) poisons the store, but what
        // the unit wrote stays written.
        db.acknowledge(committed.0, committed.1)
    }

    fn rollback(self: Box<Self>) {
        let outermost = self.leave();
        let mut writer = self.guard.borrow_mut();
        if outermost {
            self.db.owner.store(0, Ordering::Release);
            writer.aborted = false;
            writer.rollback();
        } else {
            writer.aborted = true;
        }
    }
}

impl Storage for SqliteStorage {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn io_stats(&self) -> opsledger_store::IoStats {
        self.store.db.io_stats()
    }

    fn log(&self) -> &dyn EventStore {
        &self.store
    }

    fn space(&self, space: Space) -> Arc<dyn Kv> {
        self.spaces[index(space)].clone()
    }

    fn tables(&self) -> Option<Arc<dyn SqlTables>> {
        Some(self.tables.clone())
    }

    fn begin_unit(&self) -> Result<Unit<'_>, StoreError> {
        let db = &*self.store.db;
        db.check_writable()?;
        let guard = db.lock_writer();
        {
            let mut writer = guard.borrow_mut();
            db.check_not_reading(&writer)?;
            if writer.depth == 0 {
                writer.begin()?;
                writer.aborted = false;
                db.owner.store(thread_token(), Ordering::Release);
            }
            writer.depth += 1;
        }
        Ok(Unit::new(Box::new(SqliteUnit { db, guard })))
    }

    fn transactional_units(&self) -> bool {
        true
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.store.db.flush()
    }

    fn close(self: Box<Self>, _events_projected: u64) -> Result<(), StoreError> {
        self.store.db.close()
    }

    fn backup(&self, to: &Path) -> Result<(), StoreError> {
        crate::backup::backup(&self.store.db, to)
    }

    fn read_snapshot(
        &self,
        reads: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.store.db.read_snapshot(reads)
    }
}
