//! The data directory: what is in it, opening the engine or the bare log on it.

use crate::error::{CliError, CliResult, data_error};
use opsledger::store::{SledStore, StoreConfig};
use opsledger::{Durability, Engine, EngineConfig};
use std::path::{Path, PathBuf};

/// The event log's directory inside a data directory (the engine's layout).
pub fn log_dir(data: &Path) -> PathBuf {
    data.join("log")
}

/// Whether `data` holds an event log.
pub fn has_log(data: &Path) -> bool {
    log_dir(data).is_dir()
}

/// Fails unless `data` holds an event log (commands that only read never create one).
pub fn require_log(data: &Path) -> CliResult {
    if has_log(data) {
        return Ok(());
    }
    let why = if data.exists() {
        "holds no opsledger data (no log/ inside)"
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

/// Opens the bare event log of `data` (which must hold one), without the engine: nothing is
/// projected and no process manager runs.
pub fn open_log(data: &Path, config: StoreConfig) -> CliResult<SledStore> {
    require_log(data)?;
    SledStore::open(log_dir(data), config)
        .map_err(|e| data_error(&format!("cannot open the log of {}", data.display()), &e))
}
