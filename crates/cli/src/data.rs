//! The data directory: what is in it, opening the engine or the bare log on it.

use crate::error::{CliError, CliResult, data_error};
use opsledger::store::{Storage, StoreConfig, StoreError};
use opsledger::{DirectoryKind, Durability, Engine, EngineConfig, EngineError};
use std::path::Path;

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
        "holds no opsledger data (neither opsledger.sqlite3 nor log/ inside)"
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
