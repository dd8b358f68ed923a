//! The JSON configuration `opsledger_engine_open` accepts, and the engine it opens.
//!
//! ```json
//! {"data_dir": "/var/lib/opsledger", "durability": "group_commit"}
//! {"in_memory": true}
//! ```
//!
//! Keys (unknown keys are refused, so a misspelt option is an error, not a default):
//! - `data_dir` (string): open or create the engine in this directory (sled), as
//!   `Engine::open` does;
//! - `in_memory` (bool): an engine whose log lives in memory (`Engine::in_memory`). Exactly one
//!   of `data_dir` and `in_memory: true` is required;
//! - `durability` (`"buffered"`, `"per_commit"` (the default), `"group_commit"`): the
//!   `EngineConfig::durability` modes, named as in the store; only with `data_dir`;
//! - `cache_records`, `snapshot_every`, `max_attempts` (positive integers): the
//!   `EngineConfig` fields of the same names;
//! - `actor` (`{"id": "...", "roles": ["..."]}`): the default acting identity of calls whose
//!   params name no actor (the context's default identity, as on stdio);
//! - `spec_fixtures` (bool): registers the JSON-RPC specification's example methods
//!   (`subtract`, `sum`, ...) next to the engine's. Only in builds with the `spec-fixtures`
//!   feature (tests and CI); elsewhere `true` is refused.

use opsledger::store::Durability;
use opsledger::{Engine, EngineConfig, EngineError};
use opsledger_rpc::Identity;
use serde::Deserialize;

/// The parsed configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OpenConfig {
    data_dir: Option<String>,
    #[serde(default)]
    in_memory: bool,
    durability: Option<DurabilityName>,
    cache_records: Option<usize>,
    snapshot_every: Option<u64>,
    max_attempts: Option<u32>,
    actor: Option<ActorConfig>,
    #[serde(default)]
    spec_fixtures: bool,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum DurabilityName {
    Buffered,
    PerCommit,
    GroupCommit,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActorConfig {
    id: String,
    #[serde(default)]
    roles: Vec<String>,
}

/// Why a configuration was refused or an engine did not open.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// The JSON is not a valid configuration, or the engine refused the values.
    Config(String),
    /// The engine could not open (I/O, a directory in use, a damaged log).
    Open(String),
}

impl OpenConfig {
    /// Parses a configuration document.
    pub(crate) fn parse(text: &str) -> Result<OpenConfig, OpenError> {
        if text.trim().is_empty() {
            return Err(OpenError::Config(
                "empty configuration: give {\"data_dir\": \"...\"} or {\"in_memory\": true}".into(),
            ));
        }
        let config: OpenConfig = serde_json::from_str(text)
            .map_err(|e| OpenError::Config(format!("configuration: {e}")))?;
        match (&config.data_dir, config.in_memory) {
            (Some(_), true) => {
                return Err(OpenError::Config(
                    "`data_dir` and `in_memory: true` exclude each other".into(),
                ));
            }
            (None, false) => {
                return Err(OpenError::Config(
                    "one of `data_dir` or `in_memory: true` is required".into(),
                ));
            }
            (Some(dir), false) if dir.is_empty() => {
                return Err(OpenError::Config("`data_dir` is empty".into()));
            }
            _ => {}
        }
        if config.in_memory && config.durability.is_some() {
            return Err(OpenError::Config(
                "`durability` applies to a `data_dir` engine only".into(),
            ));
        }
        if config.spec_fixtures && !cfg!(feature = "spec-fixtures") {
            return Err(OpenError::Config(
                "`spec_fixtures` needs a build with the `spec-fixtures` feature".into(),
            ));
        }
        Ok(config)
    }

    /// The default acting identity, if the configuration names one.
    pub(crate) fn identity(&self) -> Option<Identity> {
        self.actor
            .as_ref()
            .map(|a| Identity::new(a.id.clone(), a.roles.iter().cloned()))
    }

    /// Whether the specification's example methods are to be registered.
    pub(crate) fn spec_fixtures(&self) -> bool {
        self.spec_fixtures
    }

    /// Opens the engine the configuration describes.
    pub(crate) fn open(&self) -> Result<Engine, OpenError> {
        let mut config = EngineConfig::default();
        if let Some(d) = self.durability {
            config.durability = match d {
                DurabilityName::Buffered => Durability::Buffered,
                DurabilityName::PerCommit => Durability::PerCommit,
                DurabilityName::GroupCommit => Durability::GroupCommit,
            };
        }
        if let Some(n) = self.cache_records {
            config.cache_records = n;
        }
        if let Some(n) = self.snapshot_every {
            config.snapshot_every = n;
        }
        if let Some(n) = self.max_attempts {
            config.max_attempts = n;
        }
        let opened = match &self.data_dir {
            Some(dir) => Engine::open(dir, config),
            None => Engine::in_memory(config),
        };
        opened.map_err(|e| match e {
            EngineError::InvalidConfig(what) => OpenError::Config(what),
            other => OpenError::Open(other.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> String {
        match OpenConfig::parse(text) {
            Err(OpenError::Config(m)) => m,
            other => panic!("{text} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn unknown_keys_and_contradictions_are_refused() {
        assert!(refused(r#"{"in_memory": true, "datadir": "x"}"#).contains("unknown field"));
        assert!(refused(r#"{"data_dir": "x", "in_memory": true}"#).contains("exclude"));
        assert!(refused(r#"{}"#).contains("required"));
        assert!(refused("").contains("empty"));
        assert!(refused(r#"{"in_memory": true, "durability": "buffered"}"#).contains("only"));
        assert!(refused(r#"{"data_dir": "x", "durability": "fast"}"#).contains("unknown variant"));
        assert!(refused(r#"{"data_dir": ""}"#).contains("empty"));
        assert!(refused("[]").contains("configuration"));
    }

    #[test]
    fn durability_names_are_the_stores() {
        for name in ["buffered", "per_commit", "group_commit"] {
            let text = format!(r#"{{"data_dir": "x", "durability": "{name}"}}"#);
            assert!(OpenConfig::parse(&text).is_ok(), "{name}");
        }
    }

    #[test]
    fn engine_limits_are_checked_by_the_engine() {
        let config = OpenConfig::parse(r#"{"in_memory": true, "snapshot_every": 0}"#).unwrap();
        assert!(matches!(config.open(), Err(OpenError::Config(_))));
    }
}
