//! The JSON configuration `opsledger_engine_open` accepts, and the engine it opens.
//!
//! ```json
//! {"data_dir": "/var/lib/opsledger", "durability": "group_commit"}
//! {"in_memory": true}
//! {"data_dir": "data", "policy": "policies/policy.toml", "clock": {"manual": "2026-03-02T09:00:00Z"}}
//! ```
//!
//! Keys (unknown keys are refused at every depth, so a misspelt option is an error, not a
//! default):
//! - `data_dir` (string): open or create the engine in this directory, as `Engine::open`
//!   does (SQLite for a new directory, the backend found in an existing one);
//! - `in_memory` (bool): an engine whose log lives in memory (`Engine::in_memory`). Exactly one
//!   of `data_dir` and `in_memory: true` is required;
//! - `durability` (`"buffered"`, `"per_commit"` (the default), `"group_commit"`): the
//!   `EngineConfig::durability` modes, named as in the store; only with `data_dir`;
//! - `cache_records`, `snapshot_every`, `max_attempts` (positive integers): the
//!   `EngineConfig` fields of the same names;
//! - `actor` (`{"id": "...", "roles": ["..."]}`): the default acting identity of calls whose
//!   params name no actor (the context's default identity, as on stdio). An empty id, an
//!   unknown role or the engine's own `system` role is refused at open;
//! - `policy`: the policy to put in force (`EngineConfig::with_policy`): a policy document as a
//!   JSON object, or the path of a `.toml` or `.json` document (a relative path is relative to
//!   the process's working directory). It is read with the core's document reader before
//!   anything is opened: a document with problems is refused with every problem, each as
//!   `path: message` on a line of its own, and nothing is created or written. A new log
//!   records it as version 1; an existing log gets it as its next version when it differs
//!   from the current one, and keeps its current version when it does not. Without `policy`
//!   an existing log keeps its policy and a new one starts with the default policy;
//! - `clock`: the engine's clock, which stamps every event and decides when SLA clocks run
//!   out. `"system"` (the default) is the wall clock; `"manual"` is a clock that stands still
//!   at the instant the engine opened until `admin.set_clock` moves it, and
//!   `{"manual": "2026-03-02T09:00:00Z"}` one that starts at the given RFC 3339 instant. A
//!   manual clock lets a caller walk through SLA thresholds, breaches and auto-closes without
//!   waiting for them (tests, demonstrations);
//! - `webhooks`: runs the webhook delivery worker with the HTTP transport while the handle is
//!   open (docs/WEBHOOKS.md): `true` for the defaults, or `{"poll_ms", "timeout_ms",
//!   "max_attempts", "first_delay_ms", "max_delay_ms", "link_base"}` (each optional; defaults
//!   1000, 10000, 8, 30000, 3600000, none). Without it subscriptions are recorded and their
//!   deliveries queued, and sent once a worker runs (here or in `opsledger serve`);
//! - `spec_fixtures` (bool): registers the JSON-RPC specification's example methods
//!   (`subtract`, `sum`, ...) next to the engine's. Only in builds with the `spec-fixtures`
//!   feature (tests and CI); elsewhere `true` is refused.

use opsledger::core::policy::PolicyIssue;
use opsledger::core::policy::document::{self, PolicyFormat};
use opsledger::core::webhook::delivery::RetryPolicy;
use opsledger::store::Durability;
use opsledger::webhooks::WebhookWorkerConfig;
use opsledger::{Clock, Engine, EngineConfig, EngineError, ManualClock, Policy, Role, SystemClock};
use opsledger_rpc::Identity;
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

/// The configuration as written: `policy` and `clock` are read further by [`OpenConfig::parse`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    data_dir: Option<String>,
    #[serde(default)]
    in_memory: bool,
    durability: Option<DurabilityName>,
    cache_records: Option<usize>,
    snapshot_every: Option<u64>,
    max_attempts: Option<u32>,
    actor: Option<ActorConfig>,
    policy: Option<Value>,
    clock: Option<Value>,
    webhooks: Option<Value>,
    #[serde(default)]
    spec_fixtures: bool,
}

/// `webhooks` as an object.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhooksConfig {
    poll_ms: Option<u64>,
    timeout_ms: Option<u64>,
    max_attempts: Option<u32>,
    first_delay_ms: Option<u64>,
    max_delay_ms: Option<u64>,
    link_base: Option<String>,
}

/// The parsed configuration.
#[derive(Debug)]
pub(crate) struct OpenConfig {
    data_dir: Option<String>,
    durability: Option<DurabilityName>,
    cache_records: Option<usize>,
    snapshot_every: Option<u64>,
    max_attempts: Option<u32>,
    actor: Option<ActorConfig>,
    /// The policy document read from `policy`, and where it came from (for messages).
    policy: Option<(Policy, String)>,
    /// The manual clock of `clock: "manual"`; `None`: the system clock.
    manual_clock: Option<Arc<ManualClock>>,
    /// The webhook worker to run, if asked for.
    webhooks: Option<WebhookWorkerConfig>,
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

/// Refuses a default identity no call could act under: an empty id, a role the engine does not
/// know, or the engine's own `system` role. Checked at open, so the mistake is named once
/// instead of on every call that falls back to it.
fn check_actor(actor: &ActorConfig) -> Result<(), String> {
    if actor.id.trim().is_empty() {
        return Err("configuration: actor.id: the actor id must not be empty".into());
    }
    for (i, name) in actor.roles.iter().enumerate() {
        match Role::ALL.iter().find(|r| r.as_str() == name) {
            Some(Role::System) => {
                return Err(format!(
                    "configuration: actor.roles[{i}]: the system role is the engine's own: \
                     no caller may act under it"
                ));
            }
            Some(_) => {}
            None => {
                let allowed: Vec<String> = Role::ALL
                    .iter()
                    .filter(|r| **r != Role::System)
                    .map(|r| format!("`{r}`"))
                    .collect();
                return Err(format!(
                    "configuration: actor.roles[{i}]: unknown role {name:?}, expected one of {}",
                    allowed.join(", ")
                ));
            }
        }
    }
    Ok(())
}

fn webhook_config(value: Value) -> Result<WebhookWorkerConfig, String> {
    let written: WebhooksConfig = match value {
        Value::Bool(true) => WebhooksConfig::default(),
        other => {
            serde_json::from_value(other).map_err(|e| format!("configuration: webhooks: {e}"))?
        }
    };
    let ms = |v: u64| chrono::Duration::milliseconds(i64::try_from(v).unwrap_or(i64::MAX / 2));
    let defaults = WebhookWorkerConfig::default();
    let timeout = written.timeout_ms.unwrap_or(10_000);
    let first = written.first_delay_ms.unwrap_or(30_000);
    if timeout == 0 || written.poll_ms == Some(0) || written.max_attempts == Some(0) {
        return Err(
            "configuration: webhooks: poll_ms, timeout_ms and max_attempts must be at least 1"
                .into(),
        );
    }
    Ok(WebhookWorkerConfig {
        retry: RetryPolicy {
            max_attempts: written.max_attempts.unwrap_or(defaults.retry.max_attempts),
            first_delay: ms(first),
            max_delay: ms(written.max_delay_ms.unwrap_or(3_600_000).max(first)),
            lease: ms(timeout) + chrono::Duration::seconds(1),
        },
        poll_interval: written
            .poll_ms
            .map_or(defaults.poll_interval, std::time::Duration::from_millis),
        link_base: written.link_base,
        ..defaults
    })
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
    /// Parses a configuration document, reading the policy document it names.
    pub(crate) fn parse(text: &str) -> Result<OpenConfig, OpenError> {
        if text.trim().is_empty() {
            return Err(OpenError::Config(
                "empty configuration: give {\"data_dir\": \"...\"} or {\"in_memory\": true}".into(),
            ));
        }
        let written: Written = serde_json::from_str(text)
            .map_err(|e| OpenError::Config(format!("configuration: {e}")))?;
        match (&written.data_dir, written.in_memory) {
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
        if written.in_memory && written.durability.is_some() {
            return Err(OpenError::Config(
                "`durability` applies to a `data_dir` engine only".into(),
            ));
        }
        if written.spec_fixtures && !cfg!(feature = "spec-fixtures") {
            return Err(OpenError::Config(
                "`spec_fixtures` needs a build with the `spec-fixtures` feature".into(),
            ));
        }
        let manual_clock = match written.clock {
            None => None,
            Some(clock) => manual_clock(clock).map_err(OpenError::Config)?,
        };
        let policy = match written.policy {
            None => None,
            Some(policy) => Some(read_policy(policy)?),
        };
        if let Some(actor) = &written.actor {
            check_actor(actor).map_err(OpenError::Config)?;
        }
        let webhooks = match written.webhooks {
            None | Some(Value::Bool(false)) => None,
            Some(value) => Some(webhook_config(value).map_err(OpenError::Config)?),
        };
        Ok(OpenConfig {
            webhooks,
            data_dir: written.data_dir,
            durability: written.durability,
            cache_records: written.cache_records,
            snapshot_every: written.snapshot_every,
            max_attempts: written.max_attempts,
            actor: written.actor,
            policy,
            manual_clock,
            spec_fixtures: written.spec_fixtures,
        })
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

    /// The webhook worker's configuration, when one is to run.
    pub(crate) fn webhooks(&self) -> Option<&WebhookWorkerConfig> {
        self.webhooks.as_ref()
    }

    /// The engine's clock when the configuration asks for a manual one.
    pub(crate) fn manual_clock(&self) -> Option<&Arc<ManualClock>> {
        self.manual_clock.as_ref()
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
        if let Some(clock) = &self.manual_clock {
            config = config.with_clock(Arc::clone(clock) as Arc<dyn Clock>);
        }
        if let Some((policy, _)) = &self.policy {
            config = config.with_policy(policy.clone());
        }
        let opened = match &self.data_dir {
            Some(dir) => Engine::open(dir, config),
            None => Engine::in_memory(config),
        };
        opened.map_err(|e| match e {
            EngineError::InvalidConfig(what) => OpenError::Config(what),
            // Checked against the log's history (an SLA definition or calendar version
            // published before with other content): refused before anything was published.
            EngineError::InvalidPolicy { issues } => {
                let source = self.policy.as_ref().map_or("the log", |(_, s)| s.as_str());
                OpenError::Config(refused_policy(source, &issues))
            }
            other => OpenError::Open(other.to_string()),
        })
    }
}

/// Reads `clock`: `"system"`, `"manual"` or `{"manual": "<RFC 3339 instant>"}`.
fn manual_clock(clock: Value) -> Result<Option<Arc<ManualClock>>, String> {
    const EXPECTED: &str =
        "`clock` is \"system\", \"manual\" or {\"manual\": \"<RFC 3339 instant>\"}";
    match clock {
        Value::String(name) if name == "system" => Ok(None),
        Value::String(name) if name == "manual" => {
            Ok(Some(Arc::new(ManualClock::new(SystemClock.now()))))
        }
        Value::Object(mut fields) => {
            let start = fields
                .remove("manual")
                .ok_or_else(|| format!("{EXPECTED}; got an object without `manual`"))?;
            if let Some(key) = fields.keys().next() {
                return Err(format!("unknown field `clock.{key}`: {EXPECTED}"));
            }
            let text = match &start {
                Value::String(text) => text.clone(),
                other => {
                    return Err(format!(
                        "`clock.manual` is an RFC 3339 instant, not {other}"
                    ));
                }
            };
            let start = serde_json::from_value(start).map_err(|e| {
                format!("`clock.manual` is not an RFC 3339 instant ({text:?}): {e}")
            })?;
            Ok(Some(Arc::new(ManualClock::new(start))))
        }
        other => Err(format!("{EXPECTED}; got {other}")),
    }
}

/// Reads `policy`: a document object, or the path of a `.toml` or `.json` document. Returns
/// the policy and where it came from.
fn read_policy(policy: Value) -> Result<(Policy, String), OpenError> {
    let (read, source) = match policy {
        Value::Object(_) => (
            document::from_value(policy),
            "the document given".to_owned(),
        ),
        Value::String(path) => {
            let format = PolicyFormat::from_path(Path::new(&path)).ok_or_else(|| {
                OpenError::Config(format!(
                    "`policy`: {path:?} is neither a .toml nor a .json file"
                ))
            })?;
            let text = std::fs::read_to_string(&path)
                .map_err(|e| OpenError::Config(format!("`policy`: cannot read {path:?}: {e}")))?;
            (document::parse(&text, format), format!("{path:?}"))
        }
        other => {
            return Err(OpenError::Config(format!(
                "`policy` is a policy document (an object) or the path of a .toml or .json \
                 file; got {other}"
            )));
        }
    };
    match read {
        Ok(policy) => Ok((policy, source)),
        Err(issues) => Err(OpenError::Config(refused_policy(&source, &issues))),
    }
}

/// The message of a refused policy: a first line, then one line per issue, `  path: message`
/// (the document itself, at the empty path, is written `(document)`), in document order.
fn refused_policy(source: &str, issues: &[PolicyIssue]) -> String {
    let mut message = format!(
        "`policy` ({source}) is not a valid policy: {} issue{}",
        issues.len(),
        if issues.len() == 1 { "" } else { "s" }
    );
    for issue in issues {
        let path = if issue.path.is_empty() {
            "(document)"
        } else {
            issue.path.as_str()
        };
        // One line per issue: a message never continues on the next line.
        let text = issue.message.replace(['\r', '\n'], " ");
        message.push_str(&format!("\n  {path}: {text}"));
    }
    message
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

    #[test]
    fn clocks_are_system_or_manual() {
        let parse =
            |clock: &str| OpenConfig::parse(&format!(r#"{{"in_memory": true, "clock": {clock}}}"#));
        assert!(parse(r#""system""#).unwrap().manual_clock().is_none());
        assert!(parse(r#""manual""#).unwrap().manual_clock().is_some());
        let started = parse(r#"{"manual": "2026-03-02T10:00:00+01:00"}"#).unwrap();
        let clock = started.manual_clock().unwrap();
        assert_eq!(clock.now().to_rfc3339(), "2026-03-02T09:00:00+00:00");

        let refused = |clock: &str| match parse(clock) {
            Err(OpenError::Config(m)) => m,
            other => panic!("{clock} should be refused, got {other:?}"),
        };
        assert!(refused(r#""sundial""#).contains(r#""system", "manual""#));
        assert!(refused("1").contains("`clock`"));
        assert!(refused(r#"{"manual": "yesterday"}"#).contains("RFC 3339"));
        assert!(refused(r#"{"manual": 5}"#).contains("`clock.manual`"));
        assert!(refused(r#"{"start": "2026-03-02T09:00:00Z"}"#).contains("without `manual`"));
        let extra = refused(r#"{"manual": "2026-03-02T09:00:00Z", "speed": 2}"#);
        assert!(extra.contains("unknown field `clock.speed`"), "{extra}");
    }

    #[test]
    fn a_refused_policy_lists_every_issue_on_its_own_line() {
        let issues = [
            PolicyIssue::new("", "not TOML: expected `=`\nat line 1"),
            PolicyIssue::new("sla.definitions[0].target", "must be positive"),
        ];
        let message = refused_policy("\"p.toml\"", &issues);
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(
            lines,
            [
                "`policy` (\"p.toml\") is not a valid policy: 2 issues",
                "  (document): not TOML: expected `=` at line 1",
                "  sla.definitions[0].target: must be positive",
            ]
        );
    }

    #[test]
    fn a_policy_is_an_object_or_a_document_path() {
        assert!(refused(r#"{"in_memory": true, "policy": 1}"#).contains("the path of a .toml"));
        assert!(refused(r#"{"in_memory": true, "policy": "p.yaml"}"#).contains("neither"));
        assert!(
            refused(r#"{"in_memory": true, "policy": "/no/such/p.toml"}"#).contains("cannot read")
        );
        // A complete document (the default policy's), with one setting changed or misspelt.
        let mut document = serde_json::to_value(Policy::default()).unwrap();
        document["incident"] = serde_json::json!({"auto_close_after_dayz": 3});
        let config = serde_json::json!({"in_memory": true, "policy": document});
        let m = refused(&config.to_string());
        assert!(m.contains("\n  incident.auto_close_after_dayz: "), "{m}");
        document["incident"] = serde_json::json!({"auto_close_after_days": 3});
        let config = serde_json::json!({"in_memory": true, "policy": document});
        let engine = OpenConfig::parse(&config.to_string())
            .unwrap()
            .open()
            .unwrap();
        assert_eq!(engine.policy().incident.auto_close_after_days, 3);
    }
}
