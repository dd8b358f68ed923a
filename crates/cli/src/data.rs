//! The data directory: what is in it, opening the engine or the bare log on it.

use crate::error::{CliError, CliResult, data_error};
use opsledger::store::{EventStore, Position, Storage, StoreConfig, StoreError, StoredEvent};
use opsledger::{DirectoryKind, Durability, Engine, EngineConfig, EngineError};
use std::path::{Path, PathBuf};

/// Where a command finds its data: a data directory (`--data`), or a schema of a PostgreSQL
/// database (`--store URL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A data directory.
    Directory(PathBuf),
    /// A PostgreSQL URL (with `schema=NAME` when not the default schema).
    Database(String),
}

impl Location {
    /// `store` when given, else the data directory `data`.
    pub fn new(data: &Path, store: Option<&str>) -> Self {
        match store {
            Some(url) => Location::Database(url.to_owned()),
            None => Location::Directory(data.to_owned()),
        }
    }

    /// The database URL and its schema; a usage error (exit 2) when `--store` is no
    /// PostgreSQL URL or names an invalid schema.
    fn database(url: &str) -> CliResult<(String, String)> {
        if !opsledger::is_database_url(url) {
            return Err(CliError::usage(format!(
                "--store takes a postgres:// URL, not {}; a data directory goes in --data",
                redact(url)
            )));
        }
        let (base, options) = opsledger_store_postgres::split_location(url)
            .map_err(|e| CliError::usage(format!("--store: {e}")))?;
        Ok((base, options.schema))
    }

    /// The location as the store opens it.
    pub fn text(&self) -> CliResult<String> {
        match self {
            Location::Database(url) => Ok(url.clone()),
            Location::Directory(dir) => dir
                .to_str()
                .map(str::to_owned)
                .ok_or_else(|| CliError::usage(format!("{} is not valid UTF-8", dir.display()))),
        }
    }
}

/// For people: the directory, or the URL without its password (and the schema).
impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Directory(dir) => write!(f, "{}", dir.display()),
            Location::Database(url) => match opsledger_store_postgres::split_location(url) {
                Ok((base, options)) => write!(f, "{} (schema {})", redact(&base), options.schema),
                Err(_) => f.write_str(&redact(url)),
            },
        }
    }
}

/// A URL for people: without its password.
pub fn redact(url: &str) -> String {
    match url.split_once("://").and_then(|(scheme, rest)| {
        let (auth, host) = rest.split_once('@')?;
        Some(format!(
            "{scheme}://{}@{host}",
            auth.split(':').next().unwrap_or_default()
        ))
    }) {
        Some(redacted) => redacted,
        None => url.to_owned(),
    }
}

/// Fails unless `location` holds opsledger data: a data directory with a log, or a database
/// schema with one (commands that only read never create one, nor its tables in an empty
/// schema). A database that cannot be
/// reached is a data error (exit 3).
pub fn require(location: &Location) -> CliResult {
    match location {
        Location::Directory(dir) => require_log(dir),
        Location::Database(url) => {
            let (base, schema) = Location::database(url)?;
            let holds = opsledger_store_postgres::admin::holds_log(&base, &schema)
                .map_err(|e| data_error(&format!("cannot reach {}", redact(&base)), &e))?;
            if holds {
                return Ok(());
            }
            Err(CliError::data(format!(
                "{location} holds no opsledger data (no event log in schema {schema}); create \
                 one with `opsledger serve --store URL` or `opsledger migrate --to URL`"
            )))
        }
    }
}

/// [`open_log`] at a location: the bare storage, without the engine (a database is opened
/// beside the servers using it).
pub fn open_log_at(location: &Location, config: StoreConfig) -> CliResult<Box<dyn Storage>> {
    match location {
        Location::Directory(dir) => open_log(dir, config),
        Location::Database(url) => {
            require(location)?;
            opsledger::open_storage_at(url, config, true)
                .map_err(|e| data_error(&format!("cannot open the log of {location}"), &e))
        }
    }
}

/// [`open_engine`] (without creating anything) at a location.
pub fn open_engine_at(location: &Location) -> CliResult<Engine> {
    match location {
        Location::Directory(dir) => open_engine(dir, false),
        Location::Database(url) => {
            require(location)?;
            Engine::open_location(url, engine_config())
                .map_err(|e| data_error(&format!("cannot open {location}"), &e))
        }
    }
}

/// [`open_engine_for_reading`] at a location: a database is read as it is, beside the servers
/// using it (its read models are written with the events, in one transaction).
pub fn open_engine_for_reading_at(
    location: &Location,
) -> CliResult<(Engine, Option<tempfile::TempDir>)> {
    match location {
        Location::Directory(dir) => open_engine_for_reading(dir),
        Location::Database(_) => Ok((open_engine_at(location)?, None)),
    }
}

/// Whether `data` holds an event log (of either backend).
pub fn has_log(data: &Path) -> bool {
    matches!(
        opsledger::directory_kind(data),
        Ok(DirectoryKind::Sqlite | DirectoryKind::Sled)
    )
}

/// Fails unless `data` holds an event log (commands that only read never create one).
pub fn require_log(data: &Path) -> CliResult {
    if has_log(data) {
        return Ok(());
    }
    let why = if data.exists() {
        "holds no opsledger data (neither opsledger.db nor log/ inside)"
    } else {
        "does not exist"
    };
    Err(CliError::data(format!(
        "the data directory {} {why}; create one with `opsledger serve --data {0}` or \
         `opsledger import --data {0} FILE`",
        data.display()
    )))
}

/// Whether `path` is missing or an empty directory. A file is neither.
pub fn is_missing_or_empty_dir(path: &Path) -> CliResult<bool> {
    match std::fs::read_dir(path) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) if path.is_file() => Err(CliError::usage(format!(
            "{} is a file, not a directory ({e})",
            path.display()
        ))),
        Err(e) => Err(CliError::data(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// The engine configuration the binary runs with (the library's defaults: per-commit
/// durability, the default policy, the system clock).
pub fn engine_config() -> EngineConfig {
    EngineConfig::default()
}

/// Opens the engine on `data`. With `create`, a missing directory is created; without, the
/// directory must already hold a log.
pub fn open_engine(data: &Path, create: bool) -> CliResult<Engine> {
    if !create {
        require_log(data)?;
    }
    Engine::open(data, engine_config())
        .map_err(|e| data_error(&format!("cannot open {}", data.display()), &e))
}

/// [`open_engine`] with another configuration (`serve`: a policy to put in force, a manual
/// clock). The engine's error is returned as it is, for the caller to explain.
pub fn open_engine_with(data: &Path, config: EngineConfig) -> Result<Engine, EngineError> {
    Engine::open(data, config)
}

/// The store configuration the engine uses for its log, with another durability mode and
/// clock (the engine has no upcasters; its payload limit is the store's ceiling).
pub fn store_config(durability: Durability) -> StoreConfig {
    let engine = engine_config();
    StoreConfig::default()
        .with_durability(durability)
        .with_limits(engine.store_limits)
}

/// Opens the bare storage of `data` (which must hold a log) read-only, without the engine:
/// nothing is projected and no process manager runs. An SQLite directory may be in use by a
/// server meanwhile.
pub fn open_log(data: &Path, config: StoreConfig) -> CliResult<Box<dyn Storage>> {
    require_log(data)?;
    opsledger::open_storage(data, config, true)
        .map_err(|e| data_error(&format!("cannot open the log of {}", data.display()), &e))
}

/// An engine for reading `data`: the directory itself, or, when a server holds it, a
/// consistent copy taken with the online backup (log and read models of one instant) in a
/// temporary directory that lives as long as the returned guard. Says so on stderr.
pub fn open_engine_for_reading(data: &Path) -> CliResult<(Engine, Option<tempfile::TempDir>)> {
    require_log(data)?;
    match Engine::open(data, engine_config()) {
        Ok(engine) => Ok((engine, None)),
        Err(EngineError::Store(StoreError::Locked { .. })) => {
            let copy = tempfile::tempdir()
                .map_err(|e| CliError::data(format!("cannot create a temporary directory: {e}")))?;
            let target = copy.path().join("copy");
            let storage = open_log(data, store_config(Durability::Buffered))?;
            storage
                .backup(&target)
                .map_err(|e| data_error(&format!("cannot copy {}", data.display()), &e))?;
            let _ = storage.close(0);
            crate::output::emit_err(&format!(
                "{} is in use by another process: reading a consistent copy taken now",
                data.display()
            ));
            let engine = Engine::open(&target, engine_config())
                .map_err(|e| data_error("cannot open the copy", &e))?;
            Ok((engine, Some(copy)))
        }
        Err(e) => Err(data_error(&format!("cannot open {}", data.display()), &e)),
    }
}

/// A directory to be created whole, through `<dir>.partial`: what `migrate` and `backup` write.
#[derive(Debug, Clone)]
pub struct NewDirectory {
    /// The directory as it will be named (trailing separators and `.` components dropped).
    pub path: std::path::PathBuf,
    /// Where it is written until complete: `<path>.partial`, beside it.
    pub partial: std::path::PathBuf,
}

impl NewDirectory {
    /// Checks that `path` may be created: it is missing or an empty directory (with
    /// `empty_allowed`), and no `<path>.partial` is in the way (an interrupted run's leftover
    /// is never removed silently: it could be someone's directory). Refusals are data errors
    /// (exit 3) that say nothing was written.
    pub fn check(path: &Path, what: &str, empty_allowed: bool) -> CliResult<Self> {
        let path: std::path::PathBuf = path.components().collect();
        let Some(name) = path.file_name() else {
            return Err(CliError::usage(format!(
                "{} names no directory to create",
                path.display()
            )));
        };
        let mut partial_name = name.to_owned();
        partial_name.push(".partial");
        let partial = path.with_file_name(partial_name);
        let free = if empty_allowed {
            is_missing_or_empty_dir(&path)?
        } else {
            !path.exists()
        };
        if !free {
            let needs = if empty_allowed {
                "a new or empty directory"
            } else {
                "a new directory"
            };
            return Err(CliError::data(format!(
                "refusing to {what} into {}: it exists and is not empty ({what} writes only into \
                 {needs}; nothing was written)",
                path.display()
            )));
        }
        if partial.exists() {
            return Err(CliError::data(format!(
                "refusing to {what} into {}: {} exists, perhaps left over from an interrupted \
                 run; remove it first (nothing was written)",
                path.display(),
                partial.display()
            )));
        }
        Ok(NewDirectory { path, partial })
    }

    /// Refuses a new directory inside `source`: it would land in the data directory it is
    /// copied from (exit 2).
    pub fn refuse_inside(&self, source: &Path) -> CliResult {
        let Ok(source) = source.canonicalize() else {
            return Ok(());
        };
        let existing = self
            .path
            .ancestors()
            .skip(1)
            .map(|a| {
                if a.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    a
                }
            })
            .find_map(|a| a.canonicalize().ok());
        if existing.is_some_and(|a| a.starts_with(&source)) {
            return Err(CliError::usage(format!(
                "{} is inside {}; give a directory outside the one copied",
                self.path.display(),
                source.display()
            )));
        }
        Ok(())
    }

    /// Renames the complete `partial` to `path` (replacing an empty directory) and makes the
    /// rename durable.
    pub fn commit(&self) -> CliResult {
        if self.path.is_dir() {
            std::fs::remove_dir(&self.path).map_err(|e| {
                CliError::data(format!("cannot replace {}: {e}", self.path.display()))
            })?;
        }
        std::fs::rename(&self.partial, &self.path).map_err(|e| {
            CliError::data(format!(
                "cannot rename {} to {}: {e}",
                self.partial.display(),
                self.path.display()
            ))
        })?;
        let parent = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::File::open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| CliError::data(format!("cannot sync {}: {e}", parent.display())))
    }

    /// Removes what was written of `partial` (after a failure).
    pub fn discard(&self) {
        let _ = std::fs::remove_dir_all(&self.partial);
    }
}

/// The total size of the files under `dir`, in bytes.
pub fn size_on_disk(dir: &Path) -> CliResult<u64> {
    fn walk(dir: &Path) -> std::io::Result<u64> {
        let mut total = 0;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            total += if meta.is_dir() {
                walk(&entry.path())?
            } else {
                meta.len()
            };
        }
        Ok(total)
    }
    walk(dir).map_err(|e| CliError::data(format!("cannot measure {}: {e}", dir.display())))
}

/// Events read per page when a whole log is read.
pub const PAGE: usize = 1_000;

/// The events of `log` (named `which` in messages, e.g. "the log") from position `from`: at most
/// a page, none past `head`, checked to be dense from `from`. A log that ends before `head` or
/// skips a position is a data error pointing at `opsledger verify`.
pub fn read_page(
    log: &dyn EventStore,
    from: u64,
    head: u64,
    which: &str,
) -> CliResult<Vec<StoredEvent>> {
    let mut page = log
        .read_all(Position(from), PAGE)
        .map_err(|e| data_error(&format!("cannot read {which} at position {from}"), &e))?;
    page.retain(|e| e.position.0 <= head);
    if page.is_empty() {
        return Err(CliError::data(format!(
            "{which} ended at position {} before its head {head}: run `opsledger verify`",
            from - 1
        )));
    }
    for (expected, event) in (from..).zip(&page) {
        if event.position.0 != expected {
            return Err(CliError::data(format!(
                "{which} skips from position {} to {}: run `opsledger verify`",
                expected - 1,
                event.position
            )));
        }
    }
    Ok(page)
}
