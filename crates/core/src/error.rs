//! Domain errors: typed, with a stable machine-readable code and a human message.

use crate::authz::Permission;
use crate::change::Conflict;
use crate::ids::{ActorId, RecordKind};
use crate::incident::MajorStatusKind;
use crate::window::TimeWindow;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;

/// Why a command was refused. A refused command produced no event.
///
/// [`DomainError::code`] is stable across releases and is what adapters put on the wire; the
/// `Display` text is for people and may improve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, JsonSchema)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum DomainError {
    /// The command targets a record that does not exist.
    #[error("{kind} {id} does not exist")]
    NotFound {
        /// Kind of record.
        kind: RecordKind,
        /// Its id.
        id: String,
    },
    /// A creating command targets a record that already exists.
    #[error("{kind} {} already exists", name.as_deref().unwrap_or(id))]
    AlreadyExists {
        /// Kind of record.
        kind: RecordKind,
        /// Its id.
        id: String,
        /// How people name it (its human number), when the engine knows it.
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// The command names another record than the state it was decided against.
    #[error("command for {kind} {command_id} was decided against {kind} {state_id}")]
    WrongRecord {
        /// Kind of record.
        kind: RecordKind,
        /// Id in the command.
        command_id: String,
        /// Id of the loaded state.
        state_id: String,
    },
    /// The command is not allowed in the record's current state.
    #[error("{kind} in state {state} does not accept {command}")]
    InvalidTransition {
        /// Kind of record.
        kind: RecordKind,
        /// Current state name.
        state: String,
        /// Command name.
        command: String,
    },
    /// The actor lacks a permission.
    #[error("{actor} lacks permission {permission}")]
    Forbidden {
        /// Who tried.
        actor: ActorId,
        /// The missing permission.
        permission: Permission,
    },
    /// A field failed validation.
    #[error("invalid {field}: {reason}")]
    Validation {
        /// Field name, as in the command's schema.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A size or count limit would be exceeded.
    #[error("{what} exceeds the limit of {limit}")]
    LimitExceeded {
        /// What grew too large.
        what: String,
        /// The limit in force.
        limit: usize,
    },
    /// The requester of a change tried to approve it.
    #[error("{actor} requested this change and may not approve it (separation of duties)")]
    SeparationOfDuties {
        /// The requester.
        actor: ActorId,
    },
    /// The actor is not an eligible approver under the approval policy.
    #[error("{actor} is not an eligible approver: {reason}")]
    NotAnApprover {
        /// Who tried.
        actor: ActorId,
        /// Why not (missing role, not on the board).
        reason: String,
    },
    /// The approver already decided on this change in this approval round.
    #[error("{actor} has already decided on this change")]
    AlreadyDecided {
        /// Who tried again.
        actor: ActorId,
    },
    /// Implementation was attempted outside the approved window.
    #[error("implementation at {} is outside the approved window {window}", now.format("%Y-%m-%d %H:%M:%S UTC"))]
    OutsideApprovedWindow {
        /// When it was attempted.
        now: DateTime<Utc>,
        /// The approved window.
        window: TimeWindow,
    },
    /// Scheduling (or starting implementation) found blocking conflicts that were not accepted.
    #[error("the schedule has {total} blocking conflict(s)")]
    ScheduleConflict {
        /// The blocking conflicts found, in order, at most
        /// [`MAX_REPORTED_CONFLICTS`](crate::change::MAX_REPORTED_CONFLICTS) of them.
        conflicts: Vec<Conflict>,
        /// How many blocking conflicts there are in all (at least `conflicts.len()`).
        total: usize,
    },
    /// A major incident cannot close before its post-incident review is published.
    #[error("a major incident cannot close before its post-incident review is published")]
    ReviewRequired,
    /// The auto-close timer tried to close a proposed or accepted major incident: a person
    /// closes it (after the post-incident review, once accepted).
    #[error(
        "a major incident ({}) is never auto-closed: a person closes it",
        crate::transition::Named::name(*major)
    )]
    MajorIncidentNoAutoClose {
        /// The overlay's state: `proposed` or `accepted`.
        major: MajorStatusKind,
    },
    /// A caller tried to reject (reopen) a resolution after the policy's window
    /// (`policy.incident.caller_reject_days` calendar days after the resolution) had ended.
    #[error(
        "the caller may reject a resolution only within {days} day(s) of it: resolved at {}, the window ended at {}",
        resolved_at.format("%Y-%m-%d %H:%M:%S UTC"),
        window_ended_at.format("%Y-%m-%d %H:%M:%S UTC")
    )]
    RejectWindowClosed {
        /// The window, in calendar days after the resolution.
        days: u32,
        /// When the incident was resolved.
        resolved_at: DateTime<Utc>,
        /// When the window ended.
        window_ended_at: DateTime<Utc>,
    },
    /// A webhook URL the engine will not call: not http(s), or naming a link-local, cloud
    /// metadata or unspecified address.
    #[error("webhook URL {url:?} refused: {reason}")]
    UnsafeWebhookUrl {
        /// The URL as given.
        url: String,
        /// Why it is refused.
        reason: String,
    },
    /// A service-model reference names an item (service or CI) that is not in the model.
    #[error("{path}: {item} is not in the service model")]
    UnknownReference {
        /// Where the reference is (the field, `commands[3].to`, a file's line).
        path: String,
        /// The item named.
        item: String,
    },
    /// A service-model reference names a retired item.
    #[error("{path}: {item} is retired")]
    RetiredReference {
        /// Where the reference is.
        path: String,
        /// The item named.
        item: String,
    },
    /// A relation from an item to itself.
    #[error("{path}: {item} cannot relate to itself")]
    SelfRelation {
        /// Where the relation is.
        path: String,
        /// The item named on both ends.
        item: String,
    },
    /// A service-model command not allowed in the item's lifecycle state.
    #[error("{item} ({state}) does not accept {command}")]
    ItemTransition {
        /// The item.
        item: String,
        /// Its state.
        state: String,
        /// The command.
        command: String,
    },
    /// A webhook filter names an event type the engine never records.
    #[error("unknown event type {name:?} (see the event schemas for the names)")]
    UnknownEventType {
        /// The name as given.
        name: String,
    },
}

impl DomainError {
    /// Stable machine-readable code, for example `invalid_transition`.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::NotFound { .. } => "not_found",
            DomainError::AlreadyExists { .. } => "already_exists",
            DomainError::WrongRecord { .. } => "wrong_record",
            DomainError::InvalidTransition { .. } => "invalid_transition",
            DomainError::Forbidden { .. } => "forbidden",
            DomainError::Validation { .. } => "validation",
            DomainError::LimitExceeded { .. } => "limit_exceeded",
            DomainError::SeparationOfDuties { .. } => "separation_of_duties",
            DomainError::NotAnApprover { .. } => "not_an_approver",
            DomainError::AlreadyDecided { .. } => "already_decided",
            DomainError::OutsideApprovedWindow { .. } => "outside_approved_window",
            DomainError::ScheduleConflict { .. } => "schedule_conflict",
            DomainError::ReviewRequired => "review_required",
            DomainError::MajorIncidentNoAutoClose { .. } => "major_incident_no_auto_close",
            DomainError::RejectWindowClosed { .. } => "reject_window_closed",
            DomainError::UnsafeWebhookUrl { .. } => "unsafe_webhook_url",
            DomainError::UnknownEventType { .. } => "unknown_event_type",
            DomainError::UnknownReference { .. } => "unknown_reference",
            DomainError::RetiredReference { .. } => "retired_reference",
            DomainError::SelfRelation { .. } => "self_relation",
            DomainError::ItemTransition { .. } => "item_transition",
        }
    }

    /// Shorthand for a [`DomainError::Validation`].
    pub fn validation(field: impl Into<String>, reason: impl Into<String>) -> Self {
        DomainError::Validation {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
