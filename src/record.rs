//! Records as the engine sees them: references, streams, states and decoded events.
//!
//! Every record lives in its own stream, named `<kind>-<uuid>` (`incident-0190f2a4-...`). The
//! payload of each stored event is the JSON of the core's event type (its `type` field is the
//! event type name), so the log reads without the engine.

use crate::error::{EngineError, Result};
use chrono::{DateTime, Utc};
use opsledger_core::change::{Change, ChangeDecider, ChangeEvent, ChangeStatusKind};
use opsledger_core::incident::{
    Incident, IncidentDecider, IncidentEvent, IncidentStatusKind, Visibility,
};
use opsledger_core::problem::{Problem, ProblemDecider, ProblemEvent, ProblemStatusKind};
use opsledger_core::{ChangeId, Decider, DomainEvent, IncidentId, Named, ProblemId, RecordKind};
use opsledger_store::{NewEvent, StoredEvent, StreamId};
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// Names one record: its kind and id.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub struct RecordRef {
    /// Incident, problem or change.
    pub kind: RecordKind,
    /// The record's id.
    pub id: Uuid,
}

/// Every record kind, in a fixed order.
pub const KINDS: [RecordKind; 3] = [
    RecordKind::Incident,
    RecordKind::Problem,
    RecordKind::Change,
];

pub(crate) fn kind_code(kind: RecordKind) -> u8 {
    match kind {
        RecordKind::Incident => 1,
        RecordKind::Problem => 2,
        RecordKind::Change => 3,
    }
}

impl RecordRef {
    /// A reference to a record of `kind`.
    pub fn new(kind: RecordKind, id: Uuid) -> Self {
        Self { kind, id }
    }

    /// An incident.
    pub fn incident(id: IncidentId) -> Self {
        Self::new(RecordKind::Incident, id.0)
    }

    /// A problem.
    pub fn problem(id: ProblemId) -> Self {
        Self::new(RecordKind::Problem, id.0)
    }

    /// A change.
    pub fn change(id: ChangeId) -> Self {
        Self::new(RecordKind::Change, id.0)
    }

    /// The name of the record's stream, `<kind>-<uuid>`.
    pub fn stream_name(&self) -> String {
        format!("{}-{}", self.kind.as_str(), self.id)
    }

    /// The record's stream.
    pub fn stream(&self) -> StreamId {
        // Always valid: a fixed ASCII prefix and a hyphenated UUID, 45 bytes at most.
        StreamId::new(self.stream_name()).unwrap_or_else(|_| unreachable_stream())
    }

    /// The record a stream holds, if it is a record stream.
    pub fn from_stream(stream: &str) -> Option<Self> {
        let (prefix, rest) = stream.split_once('-')?;
        let kind = match prefix {
            "incident" => RecordKind::Incident,
            "problem" => RecordKind::Problem,
            "change" => RecordKind::Change,
            _ => return None,
        };
        let id = Uuid::parse_str(rest).ok()?;
        Some(Self::new(kind, id))
    }
}

#[cold]
fn unreachable_stream() -> StreamId {
    // A record stream name is always valid; fall back to a fixed valid name rather than panic.
    StreamId::new("invalid-record-stream").unwrap_or_else(|_| unreachable_stream())
}

impl fmt::Display for RecordRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.id)
    }
}

/// The current (or past) state of one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(
    clippy::large_enum_variant,
    reason = "states are returned by value once per query; boxing would burden every match"
)]
pub enum RecordState {
    /// An incident.
    Incident(Incident),
    /// A problem.
    Problem(Problem),
    /// A change.
    Change(Change),
}

impl RecordState {
    /// The record this state belongs to.
    pub fn record(&self) -> RecordRef {
        match self {
            RecordState::Incident(i) => RecordRef::incident(i.id),
            RecordState::Problem(p) => RecordRef::problem(p.id),
            RecordState::Change(c) => RecordRef::change(c.id),
        }
    }

    /// The status, kind-tagged.
    pub fn status(&self) -> RecordStatus {
        match self {
            RecordState::Incident(i) => RecordStatus::Incident(i.status.kind()),
            RecordState::Problem(p) => RecordStatus::Problem(p.status.kind()),
            RecordState::Change(c) => RecordStatus::Change(c.status.kind()),
        }
    }

    /// The incident, if this is one.
    pub fn as_incident(&self) -> Option<&Incident> {
        match self {
            RecordState::Incident(i) => Some(i),
            RecordState::Problem(_) | RecordState::Change(_) => None,
        }
    }

    /// The problem, if this is one.
    pub fn as_problem(&self) -> Option<&Problem> {
        match self {
            RecordState::Problem(p) => Some(p),
            RecordState::Incident(_) | RecordState::Change(_) => None,
        }
    }

    /// The change, if this is one.
    pub fn as_change(&self) -> Option<&Change> {
        match self {
            RecordState::Change(c) => Some(c),
            RecordState::Incident(_) | RecordState::Problem(_) => None,
        }
    }
}

/// A record's status with its kind: what queues filter on.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(tag = "kind", content = "status", rename_all = "snake_case")]
pub enum RecordStatus {
    /// An incident's status.
    Incident(IncidentStatusKind),
    /// A problem's status.
    Problem(ProblemStatusKind),
    /// A change's status.
    Change(ChangeStatusKind),
}

impl RecordStatus {
    /// The kind of record this status belongs to.
    pub fn kind(self) -> RecordKind {
        match self {
            RecordStatus::Incident(_) => RecordKind::Incident,
            RecordStatus::Problem(_) => RecordKind::Problem,
            RecordStatus::Change(_) => RecordKind::Change,
        }
    }

    /// Stable snake_case name of the status (`in_progress`, `root_cause_analysis`, ...).
    pub fn name(self) -> &'static str {
        match self {
            RecordStatus::Incident(s) => s.name(),
            RecordStatus::Problem(s) => s.name(),
            RecordStatus::Change(s) => s.name(),
        }
    }

    /// Whether a record in this status still needs work (what "open" means in queues).
    pub fn is_open(self) -> bool {
        match self {
            RecordStatus::Incident(s) => match s {
                IncidentStatusKind::New
                | IncidentStatusKind::InProgress
                | IncidentStatusKind::OnHold => true,
                IncidentStatusKind::Resolved
                | IncidentStatusKind::Closed
                | IncidentStatusKind::Canceled => false,
            },
            RecordStatus::Problem(s) => s.is_open(),
            RecordStatus::Change(s) => !s.is_terminal(),
        }
    }

    /// Every status of `kind`, in lifecycle order.
    pub fn all_of(kind: RecordKind) -> Vec<RecordStatus> {
        match kind {
            RecordKind::Incident => IncidentStatusKind::ALL
                .iter()
                .map(|s| RecordStatus::Incident(*s))
                .collect(),
            RecordKind::Problem => ProblemStatusKind::ALL
                .iter()
                .map(|s| RecordStatus::Problem(*s))
                .collect(),
            RecordKind::Change => ChangeStatusKind::ALL
                .iter()
                .map(|s| RecordStatus::Change(*s))
                .collect(),
        }
    }

    /// The status of `kind` named `name`, if any.
    pub fn parse(kind: RecordKind, name: &str) -> Option<RecordStatus> {
        Self::all_of(kind).into_iter().find(|s| s.name() == name)
    }

    /// Index of the status in its kind's lifecycle order (used in index keys).
    pub(crate) fn code(self) -> u8 {
        let idx = match self {
            RecordStatus::Incident(s) => IncidentStatusKind::ALL.iter().position(|x| *x == s),
            RecordStatus::Problem(s) => ProblemStatusKind::ALL.iter().position(|x| *x == s),
            RecordStatus::Change(s) => ChangeStatusKind::ALL.iter().position(|x| *x == s),
        };
        u8::try_from(idx.unwrap_or(0)).unwrap_or(u8::MAX)
    }
}

impl fmt::Display for RecordStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The folded state of one stream, possibly "not created yet". Its JSON Schema fingerprints
/// the snapshot format (`cache::snapshot_schema`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", content = "state", rename_all = "snake_case")]
#[allow(
    clippy::large_enum_variant,
    reason = "held behind an Arc in the cache; cloned once per decision"
)]
pub(crate) enum AnyState {
    Incident(Option<Incident>),
    Problem(Option<Problem>),
    Change(Option<Change>),
}

impl AnyState {
    pub(crate) fn empty(kind: RecordKind) -> Self {
        match kind {
            RecordKind::Incident => AnyState::Incident(None),
            RecordKind::Problem => AnyState::Problem(None),
            RecordKind::Change => AnyState::Change(None),
        }
    }

    pub(crate) fn to_record(&self) -> Option<RecordState> {
        match self {
            AnyState::Incident(s) => s.clone().map(RecordState::Incident),
            AnyState::Problem(s) => s.clone().map(RecordState::Problem),
            AnyState::Change(s) => s.clone().map(RecordState::Change),
        }
    }

    /// Folds one decoded event; events of another kind leave the state unchanged (evolve is
    /// total, and so is this).
    pub(crate) fn evolve(self, event: &RecordEvent) -> Self {
        match (self, event) {
            (AnyState::Incident(s), RecordEvent::Incident(e)) => {
                AnyState::Incident(IncidentDecider::evolve(s, e))
            }
            (AnyState::Problem(s), RecordEvent::Problem(e)) => {
                AnyState::Problem(ProblemDecider::evolve(s, e))
            }
            (AnyState::Change(s), RecordEvent::Change(e)) => {
                AnyState::Change(ChangeDecider::evolve(s, e))
            }
            (state, _) => state,
        }
    }
}

/// A stored event decoded into the core's event type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum RecordEvent {
    /// An incident event.
    Incident(IncidentEvent),
    /// A problem event.
    Problem(ProblemEvent),
    /// A change event.
    Change(ChangeEvent),
}

impl RecordEvent {
    /// Who may read the event: work notes (of every kind of record) are
    /// [`Visibility::Internal`], everything else is [`Visibility::Public`].
    pub fn visibility(&self) -> Visibility {
        match self {
            RecordEvent::Incident(e) => e.visibility(),
            RecordEvent::Problem(ProblemEvent::WorkNoteAdded { .. })
            | RecordEvent::Change(ChangeEvent::WorkNoteAdded { .. }) => Visibility::Internal,
            RecordEvent::Problem(_) | RecordEvent::Change(_) => Visibility::Public,
        }
    }

    /// The record the event belongs to.
    pub fn record(&self) -> RecordRef {
        match self {
            RecordEvent::Incident(e) => RecordRef::incident(e.id()),
            RecordEvent::Problem(e) => RecordRef::problem(e.id()),
            RecordEvent::Change(e) => RecordRef::change(e.id()),
        }
    }

    /// The stable event type name, for example `incident.resolved`.
    pub fn event_type(&self) -> &'static str {
        match self {
            RecordEvent::Incident(e) => e.event_type(),
            RecordEvent::Problem(e) => e.event_type(),
            RecordEvent::Change(e) => e.event_type(),
        }
    }

    /// The payload's schema version.
    pub fn schema_version(&self) -> u16 {
        match self {
            RecordEvent::Incident(e) => e.schema_version(),
            RecordEvent::Problem(e) => e.schema_version(),
            RecordEvent::Change(e) => e.schema_version(),
        }
    }

    /// When the decision was taken (the event's `at`).
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            RecordEvent::Incident(e) => e.at(),
            RecordEvent::Problem(e) => e.at(),
            RecordEvent::Change(e) => e.at(),
        }
    }

    /// When the fact happened in the world (backdated facts differ from `at`).
    pub fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            RecordEvent::Incident(e) => e.occurred_at(),
            RecordEvent::Problem(e) => e.at(),
            RecordEvent::Change(e) => e.at(),
        }
    }

    /// Encodes the event for the store.
    pub(crate) fn to_new_event(
        &self,
        event_id: Uuid,
        actor: &str,
        correlation_id: Option<Uuid>,
        causation_id: Option<Uuid>,
    ) -> Result<NewEvent> {
        let payload = match self {
            RecordEvent::Incident(e) => serde_json::to_vec(e),
            RecordEvent::Problem(e) => serde_json::to_vec(e),
            RecordEvent::Change(e) => serde_json::to_vec(e),
        }
        .map_err(|e| EngineError::invalid("event", e.to_string()))?;
        Ok(NewEvent {
            event_id,
            event_type: self.event_type().to_owned(),
            schema_version: self.schema_version(),
            occurred_at: self.occurred_at(),
            actor: actor.to_owned(),
            correlation_id,
            causation_id,
            payload,
        })
    }
}

/// Decodes a stored event of a record stream; `Ok(None)` for the engine's own streams
/// (numbering, idempotency).
pub fn decode_event(event: &StoredEvent) -> Result<Option<RecordEvent>> {
    let Some(record) = RecordRef::from_stream(event.stream.as_str()) else {
        return Ok(None);
    };
    decode_as(record.kind, event).map(Some)
}

pub(crate) fn decode_as(kind: RecordKind, event: &StoredEvent) -> Result<RecordEvent> {
    let fail = |e: serde_json::Error| EngineError::Decode {
        position: event.position.0,
        reason: e.to_string(),
    };
    Ok(match kind {
        RecordKind::Incident => {
            RecordEvent::Incident(serde_json::from_slice(&event.payload).map_err(fail)?)
        }
        RecordKind::Problem => {
            RecordEvent::Problem(serde_json::from_slice(&event.payload).map_err(fail)?)
        }
        RecordKind::Change => {
            RecordEvent::Change(serde_json::from_slice(&event.payload).map_err(fail)?)
        }
    })
}

/// Folds stored events of one record stream into `state`.
pub(crate) fn fold_stored<'a>(
    kind: RecordKind,
    mut state: AnyState,
    events: impl IntoIterator<Item = &'a StoredEvent>,
) -> Result<AnyState> {
    for e in events {
        let decoded = decode_as(kind, e)?;
        state = state.evolve(&decoded);
    }
    Ok(state)
}
