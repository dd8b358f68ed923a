//! Building and opening an engine: which backend, in which directory, with which options.

use std::path::{Path, PathBuf};

use opsledger_store::{Storage, StoreConfig, StoreError};
use opsledger_store_postgres::PgStorage;
use opsledger_store_sled::{SledOptions, SledStorage};
use opsledger_store_sqlite::{SqliteOptions, SqliteStorage};

use super::{Engine, store_config};
use crate::config::EngineConfig;
use crate::error::{EngineError, Result};

/// Opens a backend with the store configuration the engine derives from its own (durability,
/// clock, limits).
type OpenStorage = Box<dyn FnOnce(StoreConfig) -> Result<Box<dyn Storage>, StoreError>>;

enum Source {
    /// A data directory with the default backend (or the one found there).
    Directory(PathBuf),
    /// A backend chosen by the embedder.
    Storage(OpenStorage),
}

/// Builds an [`Engine`] from parts (see [`Engine::builder`]).
#[derive(Default)]
pub struct EngineBuilder {
    config: Option<EngineConfig>,
    source: Option<Source>,
}

impl std::fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.source {
            Some(Source::Directory(dir)) => format!("directory {}", dir.display()),
            Some(Source::Storage(_)) => "a backend".into(),
            None => "none".into(),
        };
        f.debug_struct("EngineBuilder")
            .field("source", &source)
            .finish_non_exhaustive()
    }
}

/// Which backend a data directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectoryKind {
    /// No data yet: a new directory gets the default backend, SQLite.
    Empty,
    /// `opsledger.db`: the SQLite backend.
    Sqlite,
    /// `log/`: the sled backend.
    Sled,
}

impl std::fmt::Display for DirectoryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DirectoryKind::Empty => "empty",
            DirectoryKind::Sqlite => "sqlite",
            DirectoryKind::Sled => "sled",
        })
    }
}

/// Tells which backend the data directory `dir` holds; a path that is not a directory, or a
/// directory holding both kinds, is an error naming it.
pub fn directory_kind(dir: &Path) -> Result<DirectoryKind> {
    if dir.exists() && !dir.is_dir() {
        return Err(incompatible(dir, "not a directory; give a data directory"));
    }
    let sqlite = opsledger_store_sqlite::database_path(dir).exists();
    let sled = SledStorage::exists_in(dir);
    match (sqlite, sled) {
        (true, true) => Err(incompatible(
            dir,
            "holds both an SQLite database and a sled log; keep the one you use",
        )),
        (true, false) => Ok(DirectoryKind::Sqlite),
        (false, true) => Ok(DirectoryKind::Sled),
        (false, false) => Ok(DirectoryKind::Empty),
    }
}

fn incompatible(path: &Path, reason: &str) -> EngineError {
    EngineError::Store(StoreError::Incompatible {
        path: path.to_path_buf(),
        reason: reason.into(),
    })
}

/// Whether `location` names a shared database (`postgres://…`, `postgresql://…`) rather than a
/// data directory.
pub fn is_database_url(location: &str) -> bool {
    opsledger_store_postgres::is_postgres_url(location)
}

/// Opens the PostgreSQL backend at `url` (a `schema=NAME` query parameter picks the schema;
/// default `opsledger`), creating its tables when missing.
pub(crate) fn open_postgres(url: &str, config: StoreConfig) -> Result<Box<dyn Storage>> {
    let (url, options) = opsledger_store_postgres::split_location(url)?;
    Ok(Box::new(PgStorage::open(&url, config, options)?))
}

/// Opens the bare storage at `location`, a data directory or a database URL (see
/// [`open_storage`]; a database is always opened for reading and writing, beside any
/// replica).
pub fn open_storage_at(
    location: &str,
    config: StoreConfig,
    read_only: bool,
) -> Result<Box<dyn Storage>> {
    if is_database_url(location) {
        return open_postgres(location, config);
    }
    open_storage(Path::new(location), config, read_only)
}

/// Creates a store at `location`, which must hold no data yet: a data directory (as
/// [`create_storage`], with `kind`), or a database URL whose schema holds no event (`kind`
/// does not apply).
pub fn create_storage_at(
    location: &str,
    config: StoreConfig,
    kind: DirectoryKind,
) -> Result<Box<dyn Storage>> {
    if !is_database_url(location) {
        return create_storage(Path::new(location), config, kind);
    }
    let storage = open_postgres(location, config)?;
    if storage.log().head()?.0 > 0 {
        let _ = storage.close(0);
        return Err(EngineError::Store(StoreError::Incompatible {
            path: PathBuf::from(redact(location)),
            reason: "holds opsledger data already".into(),
        }));
    }
    Ok(storage)
}

/// A location for people: a database URL without its password.
fn redact(location: &str) -> String {
    match location.split_once("://").and_then(|(scheme, rest)| {
        let (auth, host) = rest.split_once('@')?;
        Some(format!(
            "{scheme}://{}@{host}",
            auth.split(':').next().unwrap_or_default()
        ))
    }) {
        Some(redacted) => redacted,
        None => location.to_owned(),
    }
}

/// Opens the backend found in `dir` (SQLite for an empty one).
pub(crate) fn open_directory(dir: &Path, config: StoreConfig) -> Result<Box<dyn Storage>> {
    let storage: Box<dyn Storage> = match directory_kind(dir)? {
        DirectoryKind::Sled => Box::new(SledStorage::open(dir, config, SledOptions::default())?),
        DirectoryKind::Sqlite | DirectoryKind::Empty => {
            std::fs::create_dir_all(dir).map_err(|e| EngineError::Store(StoreError::Io(e)))?;
            Box::new(SqliteStorage::open(dir, config, SqliteOptions::default())?)
        }
    };
    Ok(storage)
}

/// Opens the bare storage of the data directory `dir` (which must hold data), without an
/// engine: nothing is projected and no process manager runs (verify, export, backup, tools).
/// With `read_only`, an SQLite directory is opened beside a process that may be serving it;
/// sled cannot share a directory, so a sled directory is opened for writing either way.
pub fn open_storage(dir: &Path, config: StoreConfig, read_only: bool) -> Result<Box<dyn Storage>> {
    let storage: Box<dyn Storage> = match directory_kind(dir)? {
        DirectoryKind::Sled => Box::new(SledStorage::open(dir, config, SledOptions::default())?),
        DirectoryKind::Sqlite if read_only => Box::new(SqliteStorage::open_read_only(dir, config)?),
        DirectoryKind::Sqlite => {
            Box::new(SqliteStorage::open(dir, config, SqliteOptions::default())?)
        }
        DirectoryKind::Empty => return Err(incompatible(dir, "holds no opsledger data")),
    };
    Ok(storage)
}

/// Creates a backend in `dir`, which must not hold data yet: `kind` `Sled` for the sled
/// backend, anything else for the default, SQLite (import, migrate).
pub fn create_storage(
    dir: &Path,
    config: StoreConfig,
    kind: DirectoryKind,
) -> Result<Box<dyn Storage>> {
    if directory_kind(dir)? != DirectoryKind::Empty {
        return Err(incompatible(dir, "holds opsledger data already"));
    }
    std::fs::create_dir_all(dir).map_err(|e| EngineError::Store(StoreError::Io(e)))?;
    Ok(match kind {
        DirectoryKind::Sled => Box::new(SledStorage::open(dir, config, SledOptions::default())?),
        DirectoryKind::Sqlite | DirectoryKind::Empty => {
            Box::new(SqliteStorage::open(dir, config, SqliteOptions::default())?)
        }
    })
}

impl EngineBuilder {
    /// The engine's configuration (default: `EngineConfig::default()`).
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// A data directory: the default backend (SQLite) for a new one, the backend found in an
    /// existing one.
    pub fn directory(mut self, dir: impl AsRef<Path>) -> Self {
        self.source = Some(Source::Directory(dir.as_ref().to_path_buf()));
        self
    }

    /// A store location: a PostgreSQL URL (`postgres://user@host/db`, optionally
    /// `?schema=NAME`) opens the shared backend, anything else is a data directory (see
    /// [`EngineBuilder::directory`]).
    pub fn location(self, location: &str) -> Self {
        if is_database_url(location) {
            let url = location.to_owned();
            self.storage(move |config| {
                open_postgres(&url, config).map_err(|e| match e {
                    EngineError::Store(s) => s,
                    other => StoreError::Backend(other.to_string()),
                })
            })
        } else {
            self.directory(location)
        }
    }

    /// A backend of the embedder's choice, opened with the store configuration the engine
    /// derives from its own (durability, clock, limits), e.g.
    /// `|config| Ok(Box::new(SqliteStorage::open(dir, config, options)?))`.
    pub fn storage(
        mut self,
        open: impl FnOnce(StoreConfig) -> Result<Box<dyn Storage>, StoreError> + 'static,
    ) -> Self {
        self.source = Some(Source::Storage(Box::new(open)));
        self
    }

    /// Opens the engine: the backend, then the read models' catch-up and the process managers'
    /// re-run from their checkpoints.
    pub fn open(self) -> Result<Engine> {
        let config = self.config.unwrap_or_default();
        config.validate()?;
        let started = std::time::Instant::now();
        let (storage, path) = match self.source {
            Some(Source::Directory(dir)) => {
                (open_directory(&dir, store_config(&config))?, Some(dir))
            }
            Some(Source::Storage(open)) => (open(store_config(&config))?, None),
            None => {
                return Err(EngineError::InvalidConfig(
                    "the engine needs a data directory or a storage backend".into(),
                ));
            }
        };
        Engine::assemble(storage, config, path, started.elapsed())
    }
}
