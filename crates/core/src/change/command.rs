//! What callers ask of a change.

use super::conflict::{CiRelation, ScheduledChange};
use super::state::{ChangeType, CloseCode, Risk};
use crate::ids::{ActorId, ChangeId, CiId, IncidentId, ProblemId};
use crate::transition::Named;
use crate::window::TimeWindow;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A command on a change. Commands that can book the change into its window (`plan`,
/// `submit` of a standard change, the `approve` that reaches the quorum) carry the change
/// calendar and the CI graph from the engine's read model, since `decide` sees only its own
/// record; `accept_conflicts` (a reason) overrides blocking conflicts and, whenever it is set
/// (used or not), needs [`Permission::ChangeSchedule`](crate::Permission::ChangeSchedule).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum ChangeCommand {
    /// Raise a change request (creates it in New; the actor becomes its requester).
    Request {
        /// The new change's id (UUID v7 chosen by the caller).
        id: ChangeId,
        /// Short description (required).
        title: String,
        /// Long description.
        #[serde(default)]
        description: String,
        /// Standard (naming a catalogue template), normal or emergency.
        change_type: ChangeType,
        /// Initial risk estimate.
        risk: Risk,
        /// Affected configuration items.
        #[serde(default)]
        cis: BTreeSet<CiId>,
        /// How it will be implemented.
        #[serde(default)]
        implementation_plan: String,
        /// How it will be undone.
        #[serde(default)]
        backout_plan: String,
        /// How it will be verified.
        #[serde(default)]
        test_plan: String,
        /// Who will implement it.
        #[serde(default)]
        assignee: Option<ActorId>,
    },
    /// Edit the request (New or Assess; the type only in New).
    Update {
        /// The change.
        id: ChangeId,
        /// New title.
        #[serde(default)]
        title: Option<String>,
        /// New description.
        #[serde(default)]
        description: Option<String>,
        /// New type (only in New).
        #[serde(default)]
        change_type: Option<ChangeType>,
        /// New risk.
        #[serde(default)]
        risk: Option<Risk>,
        /// New set of affected CIs.
        #[serde(default)]
        cis: Option<BTreeSet<CiId>>,
        /// New implementation plan.
        #[serde(default)]
        implementation_plan: Option<String>,
        /// New backout plan.
        #[serde(default)]
        backout_plan: Option<String>,
        /// New test plan.
        #[serde(default)]
        test_plan: Option<String>,
    },
    /// Plan the implementation window (and optionally the assignee), checking conflicts.
    Plan {
        /// The change.
        id: ChangeId,
        /// The window; must start before it ends and end after now.
        window: TimeWindow,
        /// New assignee; `None` keeps the current one.
        #[serde(default)]
        assignee: Option<ActorId>,
        /// The change calendar (other changes' approved windows).
        #[serde(default)]
        calendar: Vec<ScheduledChange>,
        /// Parent/child edges around the affected CIs.
        #[serde(default)]
        ci_relations: Vec<CiRelation>,
        /// Reason for accepting blocking conflicts, if any are to be accepted.
        #[serde(default)]
        accept_conflicts: Option<String>,
    },
    /// Submit the request: a normal change goes to Assess, an emergency change to Authorize,
    /// a standard change straight to Scheduled (which checks conflicts).
    Submit {
        /// The change.
        id: ChangeId,
        /// The change calendar (used when a standard change is scheduled).
        #[serde(default)]
        calendar: Vec<ScheduledChange>,
        /// Parent/child edges around the affected CIs.
        #[serde(default)]
        ci_relations: Vec<CiRelation>,
        /// Reason for accepting blocking conflicts.
        #[serde(default)]
        accept_conflicts: Option<String>,
    },
    /// Finish assessment and ask the CAB to authorise (Assess -> Authorize).
    RequestAuthorization {
        /// The change.
        id: ChangeId,
    },
    /// Approve in Authorize; the approval that reaches the quorum schedules the change
    /// (checking conflicts).
    Approve {
        /// The change.
        id: ChangeId,
        /// Optional remark.
        #[serde(default)]
        comment: Option<String>,
        /// The change calendar (used when this approval reaches the quorum).
        #[serde(default)]
        calendar: Vec<ScheduledChange>,
        /// Parent/child edges around the affected CIs.
        #[serde(default)]
        ci_relations: Vec<CiRelation>,
        /// Reason for accepting blocking conflicts.
        #[serde(default)]
        accept_conflicts: Option<String>,
    },
    /// Reject in Authorize: the change returns to New and a new approval round starts.
    Reject {
        /// The change.
        id: ChangeId,
        /// Why (required).
        reason: String,
    },
    /// Start implementing (Scheduled -> Implement); now must lie inside the approved window.
    StartImplementation {
        /// The change.
        id: ChangeId,
    },
    /// Implementation done (Implement -> Review).
    CompleteImplementation {
        /// The change.
        id: ChangeId,
    },
    /// Close after review with the outcome (Review -> Closed).
    Close {
        /// The change.
        id: ChangeId,
        /// The outcome; `unsuccessful` carries the backout record.
        code: CloseCode,
        /// Review notes (required).
        notes: String,
    },
    /// Cancel (from any state but Review, Closed and Canceled).
    Cancel {
        /// The change.
        id: ChangeId,
        /// Why (required).
        reason: String,
    },
    /// Back to New from Assess, Authorize or Scheduled: pending approvals are canceled and a
    /// new approval round starts.
    RevertToNew {
        /// The change.
        id: ChangeId,
        /// Why (required).
        reason: String,
    },
    /// Record that this change fixes a problem (idempotent).
    LinkFixesProblem {
        /// The change.
        id: ChangeId,
        /// The problem it fixes.
        problem: ProblemId,
    },
    /// Record that this change caused an incident (idempotent; needs implementation to
    /// have started).
    RecordCausedIncident {
        /// The change.
        id: ChangeId,
        /// The incident it caused.
        incident: IncidentId,
    },
    /// Add a work note.
    AddWorkNote {
        /// The change.
        id: ChangeId,
        /// The note (required).
        note: String,
    },
}

impl ChangeCommand {
    /// The change the command targets (or creates).
    pub fn id(&self) -> ChangeId {
        match self {
            ChangeCommand::Request { id, .. }
            | ChangeCommand::Update { id, .. }
            | ChangeCommand::Plan { id, .. }
            | ChangeCommand::Submit { id, .. }
            | ChangeCommand::RequestAuthorization { id }
            | ChangeCommand::Approve { id, .. }
            | ChangeCommand::Reject { id, .. }
            | ChangeCommand::StartImplementation { id }
            | ChangeCommand::CompleteImplementation { id }
            | ChangeCommand::Close { id, .. }
            | ChangeCommand::Cancel { id, .. }
            | ChangeCommand::RevertToNew { id, .. }
            | ChangeCommand::LinkFixesProblem { id, .. }
            | ChangeCommand::RecordCausedIncident { id, .. }
            | ChangeCommand::AddWorkNote { id, .. } => *id,
        }
    }

    /// The fieldless kind of this command.
    pub fn kind(&self) -> ChangeCommandKind {
        match self {
            ChangeCommand::Request { .. } => ChangeCommandKind::Request,
            ChangeCommand::Update { .. } => ChangeCommandKind::Update,
            ChangeCommand::Plan { .. } => ChangeCommandKind::Plan,
            ChangeCommand::Submit { .. } => ChangeCommandKind::Submit,
            ChangeCommand::RequestAuthorization { .. } => ChangeCommandKind::RequestAuthorization,
            ChangeCommand::Approve { .. } => ChangeCommandKind::Approve,
            ChangeCommand::Reject { .. } => ChangeCommandKind::Reject,
            ChangeCommand::StartImplementation { .. } => ChangeCommandKind::StartImplementation,
            ChangeCommand::CompleteImplementation { .. } => {
                ChangeCommandKind::CompleteImplementation
            }
            ChangeCommand::Close { .. } => ChangeCommandKind::Close,
            ChangeCommand::Cancel { .. } => ChangeCommandKind::Cancel,
            ChangeCommand::RevertToNew { .. } => ChangeCommandKind::RevertToNew,
            ChangeCommand::LinkFixesProblem { .. } => ChangeCommandKind::LinkFixesProblem,
            ChangeCommand::RecordCausedIncident { .. } => ChangeCommandKind::RecordCausedIncident,
            ChangeCommand::AddWorkNote { .. } => ChangeCommandKind::AddWorkNote,
        }
    }
}

/// The commands of a change, without their data.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ChangeCommandKind {
    /// See [`ChangeCommand::Request`].
    Request,
    /// See [`ChangeCommand::Update`].
    Update,
    /// See [`ChangeCommand::Plan`].
    Plan,
    /// See [`ChangeCommand::Submit`].
    Submit,
    /// See [`ChangeCommand::RequestAuthorization`].
    RequestAuthorization,
    /// See [`ChangeCommand::Approve`].
    Approve,
    /// See [`ChangeCommand::Reject`].
    Reject,
    /// See [`ChangeCommand::StartImplementation`].
    StartImplementation,
    /// See [`ChangeCommand::CompleteImplementation`].
    CompleteImplementation,
    /// See [`ChangeCommand::Close`].
    Close,
    /// See [`ChangeCommand::Cancel`].
    Cancel,
    /// See [`ChangeCommand::RevertToNew`].
    RevertToNew,
    /// See [`ChangeCommand::LinkFixesProblem`].
    LinkFixesProblem,
    /// See [`ChangeCommand::RecordCausedIncident`].
    RecordCausedIncident,
    /// See [`ChangeCommand::AddWorkNote`].
    AddWorkNote,
}

impl Named for ChangeCommandKind {
    const ALL: &'static [Self] = &[
        ChangeCommandKind::Request,
        ChangeCommandKind::Update,
        ChangeCommandKind::Plan,
        ChangeCommandKind::Submit,
        ChangeCommandKind::RequestAuthorization,
        ChangeCommandKind::Approve,
        ChangeCommandKind::Reject,
        ChangeCommandKind::StartImplementation,
        ChangeCommandKind::CompleteImplementation,
        ChangeCommandKind::Close,
        ChangeCommandKind::Cancel,
        ChangeCommandKind::RevertToNew,
        ChangeCommandKind::LinkFixesProblem,
        ChangeCommandKind::RecordCausedIncident,
        ChangeCommandKind::AddWorkNote,
    ];

    fn name(self) -> &'static str {
        match self {
            ChangeCommandKind::Request => "request",
            ChangeCommandKind::Update => "update",
            ChangeCommandKind::Plan => "plan",
            ChangeCommandKind::Submit => "submit",
            ChangeCommandKind::RequestAuthorization => "request_authorization",
            ChangeCommandKind::Approve => "approve",
            ChangeCommandKind::Reject => "reject",
            ChangeCommandKind::StartImplementation => "start_implementation",
            ChangeCommandKind::CompleteImplementation => "complete_implementation",
            ChangeCommandKind::Close => "close",
            ChangeCommandKind::Cancel => "cancel",
            ChangeCommandKind::RevertToNew => "revert_to_new",
            ChangeCommandKind::LinkFixesProblem => "link_fixes_problem",
            ChangeCommandKind::RecordCausedIncident => "record_caused_incident",
            ChangeCommandKind::AddWorkNote => "add_work_note",
        }
    }
}
