//! The engine's error type: every failure is a typed value with a stable code.

use opsledger_core::DomainError;
use opsledger_core::policy::PolicyIssue;
use opsledger_store::StoreError;

/// Why the engine refused or failed a command or a query.
///
/// [`EngineError::code`] is stable across releases and is what adapters put on the wire (the
/// JSON-RPC layer maps codes to error numbers); `Display` texts are for people.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The domain refused the command (validation, transition, permission...). Nothing was
    /// written.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The event store failed (I/O, corruption, limits). The outcome of a write that failed
    /// this way may be unknown: retry with the same idempotency key.
    #[error("event store: {0}")]
    Store(StoreError),
    /// A record, number or event that a query or command names does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, for example `INC0000042`.
        what: String,
    },
    /// The idempotency key was already used for a different command (or by another actor).
    #[error("idempotency key {key:?} was already used for a different command")]
    IdempotencyKeyReused {
        /// The key.
        key: String,
    },
    /// The caller pinned an expected version and the record is at another one.
    #[error("conflict on {record}: expected version {expected}, actual {actual}")]
    Conflict {
        /// The record (its stream name).
        record: String,
        /// The version the caller expected.
        expected: u64,
        /// The record's version when the command was checked.
        actual: u64,
    },
    /// An unpinned command kept conflicting with concurrent writers; nothing was written.
    #[error("gave up after {attempts} conflicting attempts on {record}")]
    RetriesExhausted {
        /// The record.
        record: String,
        /// Attempts made (the configured bound).
        attempts: u32,
    },
    /// Malformed input the domain does not see (an idempotency key, a cursor, a number).
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The offending field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A configured engine or store limit would be exceeded. Nothing was written.
    #[error("{what} exceeds the limit of {limit}")]
    LimitExceeded {
        /// What grew too large.
        what: String,
        /// The limit in force.
        limit: u64,
    },
    /// A stored event could not be decoded into a domain event.
    #[error("cannot decode the event at position {position}: {reason}")]
    Decode {
        /// Where the event is stored.
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// The read models or snapshots (caches under `<dir>/views`) failed. They can be deleted
    /// and are rebuilt from the log.
    #[error("read models: {0}")]
    Views(String),
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A policy document was refused: every problem, each with the path of the value at
    /// fault. Nothing was published.
    #[error("invalid policy: {}", issues_text(issues))]
    InvalidPolicy {
        /// The problems, in document order.
        issues: Vec<PolicyIssue>,
    },
    /// A reader who reads only the incidents they are the caller of
    /// ([`Actor::reads_own_records_only`](opsledger_core::Actor::reads_own_records_only))
    /// asked for something else: another record, or a view across records. Code `forbidden`.
    #[error("{actor} reads only the incidents they are the caller of, not {what}")]
    ReadForbidden {
        /// Who asked.
        actor: opsledger_core::ActorId,
        /// What they asked for, in words (a record's number, "the KPIs").
        what: String,
    },
}

fn issues_text(issues: &[PolicyIssue]) -> String {
    let shown: Vec<String> = issues.iter().take(3).map(ToString::to_string).collect();
    match issues.len() {
        0..=3 => shown.join("; "),
        n => format!("{}; and {} more", shown.join("; "), n - 3),
    }
}

impl EngineError {
    /// Stable machine-readable code. Domain errors keep their own code (for example
    /// `invalid_transition`, `forbidden`); the others are `store`, `not_found`,
    /// `idempotency_key_reused`, `conflict`, `retries_exhausted`, `invalid_input`,
    /// `limit_exceeded`, `decode`, `views`, `invalid_config` and `invalid_policy`.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::Domain(e) => e.code(),
            EngineError::Store(_) => "store",
            EngineError::NotFound { .. } => "not_found",
            EngineError::IdempotencyKeyReused { .. } => "idempotency_key_reused",
            EngineError::Conflict { .. } => "conflict",
            EngineError::RetriesExhausted { .. } => "retries_exhausted",
            EngineError::InvalidInput { .. } => "invalid_input",
            EngineError::LimitExceeded { .. } => "limit_exceeded",
            EngineError::Decode { .. } => "decode",
            EngineError::Views(_) => "views",
            EngineError::InvalidConfig(_) => "invalid_config",
            EngineError::InvalidPolicy { .. } => "invalid_policy",
            EngineError::ReadForbidden { .. } => "forbidden",
        }
    }

    /// The broad class of the error: `domain` (the command was refused by a rule), `client`
    /// (bad input, conflict, unknown record), or `server` (store, read models, decoding).
    pub fn category(&self) -> &'static str {
        match self {
            EngineError::Domain(_) | EngineError::ReadForbidden { .. } => "domain",
            EngineError::NotFound { .. }
            | EngineError::IdempotencyKeyReused { .. }
            | EngineError::Conflict { .. }
            | EngineError::RetriesExhausted { .. }
            | EngineError::InvalidInput { .. }
            | EngineError::LimitExceeded { .. }
            | EngineError::InvalidConfig(_)
            | EngineError::InvalidPolicy { .. } => "client",
            EngineError::Store(_) | EngineError::Decode { .. } | EngineError::Views(_) => "server",
        }
    }

    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> Self {
        EngineError::InvalidInput {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn views(e: impl std::fmt::Display) -> Self {
        EngineError::Views(e.to_string())
    }
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::LimitExceeded { limit, max, .. } => EngineError::LimitExceeded {
                what: limit.to_string(),
                limit: max,
            },
            other => EngineError::Store(other),
        }
    }
}

/// Shorthand for results of engine calls.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
