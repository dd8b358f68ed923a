//! What callers send ([`CommandEnvelope`] around a [`Command`]) and what they get back
//! ([`Outcome`]).

use crate::numbers::HumanNumber;
use crate::record::RecordRef;
use chrono::{DateTime, Utc};
use opsledger_core::change::ChangeCommand;
use opsledger_core::incident::IncidentCommand;
use opsledger_core::problem::ProblemCommand;
use opsledger_core::{
    Actor, ActorId, CiId, GroupId, Impact, IncidentId, RecordKind, ServiceId, Urgency,
};
use opsledger_store::StoredEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A command on one record, or an alert for the engine to route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Command {
    /// An incident command.
    Incident(IncidentCommand),
    /// A problem command.
    Problem(ProblemCommand),
    /// A change command. For `plan`, `submit` and `approve` the engine fills the `calendar`
    /// field from its change-calendar read model (whatever the caller put there is replaced):
    /// callers never assemble the calendar, and cannot hide a conflict from the check.
    Change(ChangeCommand),
    /// An alert from monitoring: the engine correlates it with the open incident holding its
    /// dedup key (`CorrelateAlert`), or opens a new incident from it (`Open` with the alert).
    Alert(AlertReport),
}

impl Command {
    /// The record the command targets, when it names one (an alert names none until routed).
    pub fn target(&self) -> Option<RecordRef> {
        match self {
            Command::Incident(c) => Some(RecordRef::incident(c.id())),
            Command::Problem(c) => Some(RecordRef::problem(c.id())),
            Command::Change(c) => Some(RecordRef::change(c.id())),
            Command::Alert(_) => None,
        }
    }

    /// Stable snake_case name of the command (`incident.resolve`, `alert`, ...).
    pub fn name(&self) -> String {
        use opsledger_core::Named;
        match self {
            Command::Incident(c) => format!("incident.{}", c.kind().name()),
            Command::Problem(c) => format!("problem.{}", c.kind().name()),
            Command::Change(c) => format!("change.{}", c.kind().name()),
            Command::Alert(_) => "alert".to_owned(),
        }
    }

    /// Whether the command creates its record.
    pub(crate) fn creates(&self) -> bool {
        use opsledger_core::change::ChangeCommandKind;
        use opsledger_core::problem::ProblemCommandKind;
        match self {
            Command::Incident(c) => c.kind().is_create(),
            Command::Problem(c) => c.kind() == ProblemCommandKind::Create,
            Command::Change(c) => c.kind() == ChangeCommandKind::Request,
            Command::Alert(_) => false,
        }
    }

    /// The record kind the command works on.
    pub fn record_kind(&self) -> RecordKind {
        match self {
            Command::Incident(_) | Command::Alert(_) => RecordKind::Incident,
            Command::Problem(_) => RecordKind::Problem,
            Command::Change(_) => RecordKind::Change,
        }
    }
}

impl From<IncidentCommand> for Command {
    fn from(c: IncidentCommand) -> Self {
        Command::Incident(c)
    }
}

impl From<ProblemCommand> for Command {
    fn from(c: ProblemCommand) -> Self {
        Command::Problem(c)
    }
}

impl From<ChangeCommand> for Command {
    fn from(c: ChangeCommand) -> Self {
        Command::Change(c)
    }
}

impl From<AlertReport> for Command {
    fn from(c: AlertReport) -> Self {
        Command::Alert(c)
    }
}

/// An alert as monitoring reports it. Repeats share a `dedup_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AlertReport {
    /// Identifies repeats of the same alert.
    pub dedup_key: String,
    /// The monitoring system.
    pub source: String,
    /// When it fired (default: now).
    #[serde(default)]
    pub seen_at: Option<DateTime<Utc>>,
    /// Title of the incident opened from the first occurrence.
    pub title: String,
    /// Description of that incident.
    #[serde(default)]
    pub description: String,
    /// Impact of that incident.
    pub impact: Impact,
    /// Urgency of that incident.
    pub urgency: Urgency,
    /// Affected service.
    #[serde(default)]
    pub service: Option<ServiceId>,
    /// Affected CIs.
    #[serde(default)]
    pub cis: Vec<CiId>,
    /// Group the new incident is routed to.
    #[serde(default)]
    pub group: Option<GroupId>,
    /// Caller of the new incident (default: the reporting actor).
    #[serde(default)]
    pub caller: Option<ActorId>,
    /// Id of the new incident if one is opened (default: a new id from the engine's
    /// [`IdGenerator`](crate::IdGenerator)).
    #[serde(default)]
    pub incident_id: Option<IncidentId>,
}

/// A command with who sends it and how it is to be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandEnvelope {
    /// Who acts (supplied by the adapter from its authentication, never by the payload).
    pub actor: Actor,
    /// What to do.
    pub command: Command,
    /// Makes retries safe: the first outcome for this key is replayed for the same command,
    /// and the key is refused for any other one, across restarts. A refused command consumes
    /// no key.
    pub idempotency_key: Option<String>,
    /// Pins the record's version (0 = "must not exist yet"): a mismatch is
    /// [`EngineError::Conflict`](crate::EngineError::Conflict) instead of a retry against fresh
    /// state.
    pub expected_version: Option<u64>,
    /// Groups the events of one request or workflow; generated when absent. Follow-ups inherit
    /// it.
    pub correlation_id: Option<Uuid>,
}

impl CommandEnvelope {
    /// `command` sent by `actor`, unpinned, without idempotency key.
    pub fn new(actor: Actor, command: impl Into<Command>) -> Self {
        Self {
            actor,
            command: command.into(),
            idempotency_key: None,
            expected_version: None,
            correlation_id: None,
        }
    }

    /// With an idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// With a pinned expected version.
    pub fn expected_version(mut self, version: u64) -> Self {
        self.expected_version = Some(version);
        self
    }

    /// With a correlation id.
    pub fn correlation_id(mut self, id: Uuid) -> Self {
        self.correlation_id = Some(id);
        self
    }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The record the command acted on (for an alert: the incident it opened or joined).
    pub record: RecordRef,
    /// The record's human number.
    pub number: Option<HumanNumber>,
    /// The record's version after the command.
    pub version: u64,
    /// The record's events the command appended, as stored (positions, recorded time).
    /// Empty when the command changed nothing (an idempotent link repeated).
    pub events: Vec<StoredEvent>,
    /// Follow-up commands run by process managers because of these events, cascades
    /// included, in the order they ran.
    pub follow_ups: Vec<FollowUp>,
    /// True when this is the replay of an earlier outcome for the same idempotency key:
    /// nothing was written by this call.
    pub replayed: bool,
    /// True when the follow-ups were cut at the configured limits.
    pub follow_ups_truncated: bool,
}

impl Outcome {
    /// The last position this command wrote (its record events or its follow-ups).
    pub fn last_position(&self) -> Option<u64> {
        let own = self.events.last().map(|e| e.position.0);
        let follow = self.follow_ups.iter().filter_map(|f| match &f.result {
            FollowUpResult::Applied { events } => events.last().map(|e| e.position.0),
            FollowUpResult::Skipped { .. } => None,
        });
        own.into_iter().chain(follow).max()
    }
}

/// One command a process manager ran in reaction to an event.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowUp {
    /// The process manager, for example `parent_resolution`.
    pub process: String,
    /// The event that caused it (its id is the follow-up events' causation id).
    pub cause: Uuid,
    /// The record it acted on.
    pub record: RecordRef,
    /// That record's human number.
    pub number: Option<HumanNumber>,
    /// What happened.
    pub result: FollowUpResult,
}

/// Whether a follow-up applied.
#[derive(Debug, Clone, PartialEq)]
pub enum FollowUpResult {
    /// It appended these events.
    Applied {
        /// The events, as stored.
        events: Vec<StoredEvent>,
    },
    /// It did not apply: the target refused (for example, the child was already closed) or
    /// could not be reached. The causing command stands.
    Skipped {
        /// The error's stable code.
        code: String,
        /// The error's message.
        message: String,
    },
}
