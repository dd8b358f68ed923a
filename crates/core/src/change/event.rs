//! What happened to a change. Every event carries `at` (when it was decided) and `by` (who).

use super::conflict::Conflict;
use super::state::{ChangeType, CloseCode, ConflictAcceptance, Risk};
use crate::decider::DomainEvent;
use crate::ids::{ActorId, ChangeId, CiId, IncidentId, ProblemId};
use crate::policy::PolicyVersion;
use crate::window::TimeWindow;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// An event of a change's stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum ChangeEvent {
    /// A change was raised (in New); `by` is its requester.
    #[serde(rename = "change.requested")]
    Requested {
        /// The change.
        id: ChangeId,
        /// Short description.
        title: String,
        /// Long description.
        description: String,
        /// Its type.
        change_type: ChangeType,
        /// Initial risk.
        risk: Risk,
        /// Affected CIs.
        cis: BTreeSet<CiId>,
        /// Implementation plan.
        implementation_plan: String,
        /// Backout plan.
        backout_plan: String,
        /// Test plan.
        test_plan: String,
        /// Who will implement it.
        assignee: Option<ActorId>,
        /// The policy version in force (pinned by the record). `0` in events recorded before
        /// versions were pinned.
        #[serde(default)]
        policy_version: PolicyVersion,
        /// When.
        at: DateTime<Utc>,
        /// The requester.
        by: ActorId,
    },
    /// Fields of the request were edited; absent fields are unchanged.
    #[serde(rename = "change.updated")]
    Updated {
        /// The change.
        id: ChangeId,
        /// New title.
        title: Option<String>,
        /// New description.
        description: Option<String>,
        /// New type.
        change_type: Option<ChangeType>,
        /// New risk.
        risk: Option<Risk>,
        /// New affected CIs.
        cis: Option<BTreeSet<CiId>>,
        /// New implementation plan.
        implementation_plan: Option<String>,
        /// New backout plan.
        backout_plan: Option<String>,
        /// New test plan.
        test_plan: Option<String>,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// The implementation window was planned; earlier accepted conflicts no longer apply.
    #[serde(rename = "change.planned")]
    Planned {
        /// The change.
        id: ChangeId,
        /// The planned window.
        window: TimeWindow,
        /// New assignee, if the plan named one.
        assignee: Option<ActorId>,
        /// Non-blocking conflicts found (at most `MAX_REPORTED_CONFLICTS`).
        warnings: Vec<Conflict>,
        /// Non-blocking conflicts found beyond those listed in `warnings`.
        #[serde(default)]
        warnings_omitted: usize,
        /// Blocking conflicts accepted, with the reason.
        accepted: Option<ConflictAcceptance>,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// The request was submitted: a normal change enters Assess, an emergency change
    /// Authorize; a standard change stays in New until the `change.scheduled` event that
    /// accompanies this one.
    #[serde(rename = "change.submitted")]
    Submitted {
        /// The change.
        id: ChangeId,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// Assessment finished; the change waits for the CAB (Assess -> Authorize).
    #[serde(rename = "change.authorization_requested")]
    AuthorizationRequested {
        /// The change.
        id: ChangeId,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// An approver (`by`) approved in the given round.
    #[serde(rename = "change.approved")]
    Approved {
        /// The change.
        id: ChangeId,
        /// The approval round.
        round: u32,
        /// Optional remark.
        comment: Option<String>,
        /// When.
        at: DateTime<Utc>,
        /// The approver.
        by: ActorId,
    },
    /// The round reached its quorum: the change is authorised.
    #[serde(rename = "change.authorized")]
    Authorized {
        /// The change.
        id: ChangeId,
        /// The approval round.
        round: u32,
        /// Every approver counted, in id order.
        approvers: Vec<ActorId>,
        /// When.
        at: DateTime<Utc>,
        /// Whose approval reached the quorum.
        by: ActorId,
    },
    /// The change was booked into its approved window (-> Scheduled).
    #[serde(rename = "change.scheduled")]
    Scheduled {
        /// The change.
        id: ChangeId,
        /// The approved window.
        window: TimeWindow,
        /// Non-blocking conflicts found (at most `MAX_REPORTED_CONFLICTS`).
        warnings: Vec<Conflict>,
        /// Non-blocking conflicts found beyond those listed in `warnings`.
        #[serde(default)]
        warnings_omitted: usize,
        /// Blocking conflicts newly accepted, with the reason.
        accepted: Option<ConflictAcceptance>,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// An approver (`by`) rejected: the change returns to New and a new round starts.
    #[serde(rename = "change.rejected")]
    Rejected {
        /// The change.
        id: ChangeId,
        /// The round that ended.
        round: u32,
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
        /// The approver.
        by: ActorId,
    },
    /// The change went back to New; the round's decisions were canceled and a new round starts.
    #[serde(rename = "change.reverted_to_new")]
    RevertedToNew {
        /// The change.
        id: ChangeId,
        /// The round that ended.
        round: u32,
        /// Approvers whose decisions were canceled, in id order.
        canceled_approvals: Vec<ActorId>,
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// Implementation started inside the approved window (-> Implement).
    #[serde(rename = "change.implementation_started")]
    ImplementationStarted {
        /// The change.
        id: ChangeId,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// Implementation completed (-> Review).
    #[serde(rename = "change.implemented")]
    Implemented {
        /// The change.
        id: ChangeId,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// The change was closed with its outcome (-> Closed). Carries the change's links, so
    /// that process managers (fixing-change outcomes, change failure rate) need no state.
    #[serde(rename = "change.closed")]
    Closed {
        /// The change.
        id: ChangeId,
        /// The outcome.
        code: CloseCode,
        /// Review notes.
        notes: String,
        /// Problems the change fixes (linked when it closed).
        #[serde(default)]
        fixes_problems: BTreeSet<ProblemId>,
        /// Incidents the change caused (recorded when it closed).
        #[serde(default)]
        caused_incidents: BTreeSet<IncidentId>,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// The change was canceled (-> Canceled). Carries the change's links, so that process
    /// managers (a canceled fixing change no longer holds its problems up) need no state.
    #[serde(rename = "change.canceled")]
    Canceled {
        /// The change.
        id: ChangeId,
        /// Why.
        reason: String,
        /// Problems the change was linked as fixing.
        #[serde(default)]
        fixes_problems: BTreeSet<ProblemId>,
        /// Incidents the change caused (recorded when it was canceled).
        #[serde(default)]
        caused_incidents: BTreeSet<IncidentId>,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// The change was recorded as fixing a problem.
    #[serde(rename = "change.problem_linked")]
    ProblemLinked {
        /// The change.
        id: ChangeId,
        /// The problem.
        problem: ProblemId,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// The change was recorded as the cause of an incident.
    #[serde(rename = "change.caused_incident_recorded")]
    CausedIncidentRecorded {
        /// The change.
        id: ChangeId,
        /// The incident.
        incident: IncidentId,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// A work note was added.
    #[serde(rename = "change.work_note_added")]
    WorkNoteAdded {
        /// The change.
        id: ChangeId,
        /// The note.
        note: String,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
}

impl ChangeEvent {
    /// The change the event belongs to.
    pub fn id(&self) -> ChangeId {
        match self {
            ChangeEvent::Requested { id, .. }
            | ChangeEvent::Updated { id, .. }
            | ChangeEvent::Planned { id, .. }
            | ChangeEvent::Submitted { id, .. }
            | ChangeEvent::AuthorizationRequested { id, .. }
            | ChangeEvent::Approved { id, .. }
            | ChangeEvent::Authorized { id, .. }
            | ChangeEvent::Scheduled { id, .. }
            | ChangeEvent::Rejected { id, .. }
            | ChangeEvent::RevertedToNew { id, .. }
            | ChangeEvent::ImplementationStarted { id, .. }
            | ChangeEvent::Implemented { id, .. }
            | ChangeEvent::Closed { id, .. }
            | ChangeEvent::Canceled { id, .. }
            | ChangeEvent::ProblemLinked { id, .. }
            | ChangeEvent::CausedIncidentRecorded { id, .. }
            | ChangeEvent::WorkNoteAdded { id, .. } => *id,
        }
    }

    /// When the event was decided.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            ChangeEvent::Requested { at, .. }
            | ChangeEvent::Updated { at, .. }
            | ChangeEvent::Planned { at, .. }
            | ChangeEvent::Submitted { at, .. }
            | ChangeEvent::AuthorizationRequested { at, .. }
            | ChangeEvent::Approved { at, .. }
            | ChangeEvent::Authorized { at, .. }
            | ChangeEvent::Scheduled { at, .. }
            | ChangeEvent::Rejected { at, .. }
            | ChangeEvent::RevertedToNew { at, .. }
            | ChangeEvent::ImplementationStarted { at, .. }
            | ChangeEvent::Implemented { at, .. }
            | ChangeEvent::Closed { at, .. }
            | ChangeEvent::Canceled { at, .. }
            | ChangeEvent::ProblemLinked { at, .. }
            | ChangeEvent::CausedIncidentRecorded { at, .. }
            | ChangeEvent::WorkNoteAdded { at, .. } => *at,
        }
    }

    /// Who caused the event.
    pub fn by(&self) -> &ActorId {
        match self {
            ChangeEvent::Requested { by, .. }
            | ChangeEvent::Updated { by, .. }
            | ChangeEvent::Planned { by, .. }
            | ChangeEvent::Submitted { by, .. }
            | ChangeEvent::AuthorizationRequested { by, .. }
            | ChangeEvent::Approved { by, .. }
            | ChangeEvent::Authorized { by, .. }
            | ChangeEvent::Scheduled { by, .. }
            | ChangeEvent::Rejected { by, .. }
            | ChangeEvent::RevertedToNew { by, .. }
            | ChangeEvent::ImplementationStarted { by, .. }
            | ChangeEvent::Implemented { by, .. }
            | ChangeEvent::Closed { by, .. }
            | ChangeEvent::Canceled { by, .. }
            | ChangeEvent::ProblemLinked { by, .. }
            | ChangeEvent::CausedIncidentRecorded { by, .. }
            | ChangeEvent::WorkNoteAdded { by, .. } => by,
        }
    }
}

impl DomainEvent for ChangeEvent {
    fn event_type(&self) -> &'static str {
        match self {
            ChangeEvent::Requested { .. } => "change.requested",
            ChangeEvent::Updated { .. } => "change.updated",
            ChangeEvent::Planned { .. } => "change.planned",
            ChangeEvent::Submitted { .. } => "change.submitted",
            ChangeEvent::AuthorizationRequested { .. } => "change.authorization_requested",
            ChangeEvent::Approved { .. } => "change.approved",
            ChangeEvent::Authorized { .. } => "change.authorized",
            ChangeEvent::Scheduled { .. } => "change.scheduled",
            ChangeEvent::Rejected { .. } => "change.rejected",
            ChangeEvent::RevertedToNew { .. } => "change.reverted_to_new",
            ChangeEvent::ImplementationStarted { .. } => "change.implementation_started",
            ChangeEvent::Implemented { .. } => "change.implemented",
            ChangeEvent::Closed { .. } => "change.closed",
            ChangeEvent::Canceled { .. } => "change.canceled",
            ChangeEvent::ProblemLinked { .. } => "change.problem_linked",
            ChangeEvent::CausedIncidentRecorded { .. } => "change.caused_incident_recorded",
            ChangeEvent::WorkNoteAdded { .. } => "change.work_note_added",
        }
    }

    fn schema_version(&self) -> u16 {
        1
    }
}
