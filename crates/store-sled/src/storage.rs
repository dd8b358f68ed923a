//! The sled backend as the engine sees it: the log in `<dir>/log` (sled), the derived spaces in
//! `<dir>/views.sqlite3` (SQLite).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use opsledger_store::{EventStore, Kv, Space, Storage, StoreConfig, StoreError, Unit};
use opsledger_store_sqlite::{SqliteOptions, SqliteSpaces};

use crate::{SledOptions, SledStore};

/// The log's directory inside a data directory.
pub const LOG_DIR: &str = "log";
/// The derived spaces' database inside a data directory.
pub const SPACES_FILE: &str = "views.sqlite3";

/// The sled log with its derived spaces beside it in SQLite.
///
/// There is no transaction across the two databases: each append and each space write commits
/// on its own ([`Storage::begin_unit`] hands out immediate units), and the engine's checkpoint
/// in the spaces says how far they reflect the log (caught up at open).
#[derive(Debug)]
pub struct SledStorage {
    store: SledStore,
    spaces: SqliteSpaces,
    dir: PathBuf,
}

impl SledStorage {
    /// Opens (creating if needed) the backend in data directory `dir`.
    pub fn open(
        dir: impl AsRef<Path>,
        config: StoreConfig,
        options: SledOptions,
    ) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        let store = SledStore::open_with(dir.join(LOG_DIR), config, options)?;
        let spaces = open_spaces(&dir.join(SPACES_FILE))?;
        Ok(Self { store, spaces, dir })
    }

    /// Whether `dir` holds a sled log (a data directory created by this backend).
    pub fn exists_in(dir: impl AsRef<Path>) -> bool {
        dir.as_ref().join(LOG_DIR).join("db").exists()
    }

    /// The log.
    pub fn store(&self) -> &SledStore {
        &self.store
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Opens the derived spaces. They hold nothing the log does not: a file damaged beyond
/// reading is set aside (renamed `views.sqlite3.damaged-<seconds since 1970>`, kept for
/// inspection) and replaced by an empty one, which the engine rebuilds from the log, so a
/// damaged cache never bricks the directory.
fn open_spaces(path: &Path) -> Result<SqliteSpaces, StoreError> {
    match SqliteSpaces::open(path, SqliteOptions::default()) {
        Err(StoreError::Incompatible { .. } | StoreError::Corrupt { .. }) => {
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            for suffix in ["", "-wal", "-shm"] {
                let mut from = path.as_os_str().to_owned();
                from.push(suffix);
                let from = PathBuf::from(from);
                if from.exists() {
                    let mut to = path.as_os_str().to_owned();
                    to.push(format!(".damaged-{stamp}{suffix}"));
                    std::fs::rename(&from, PathBuf::from(to))?;
                }
            }
            SqliteSpaces::open(path, SqliteOptions::default())
        }
        other => other,
    }
}

impl Storage for SledStorage {
    fn kind(&self) -> &'static str {
        "sled"
    }

    fn log(&self) -> &dyn EventStore {
        &self.store
    }

    fn space(&self, space: Space) -> Arc<dyn Kv> {
        self.spaces.space(space)
    }

    /// The log's appends and durability syncs (sled counts them; the read models' database
    /// beside it is written in `Buffered` mode and syncs only at a flush or close).
    fn io_stats(&self) -> opsledger_store::IoStats {
        let stats = self.store.stats();
        opsledger_store::IoStats {
            commits: stats.appends,
            syncs: stats.syncs,
        }
    }

    fn tables(&self) -> Option<Arc<dyn opsledger_store::SqlTables>> {
        Some(self.spaces.tables())
    }

    fn begin_unit(&self) -> Result<Unit<'_>, StoreError> {
        Ok(Unit::immediate())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.store.flush()?;
        self.spaces.flush()
    }

    fn close(self: Box<Self>, _events_projected: u64) -> Result<(), StoreError> {
        let Self { store, spaces, .. } = *self;
        spaces.close()?;
        // `SledStore::close` refreshes sled's page-table snapshot after a busy run.
        store.close()
    }
}
