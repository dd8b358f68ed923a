//! What happened to a problem. Events are facts: never rewritten, only followed by new ones.

use crate::decider::DomainEvent;
use crate::ids::{ActorId, ChangeId, CiId, GroupId, IncidentId, ProblemId, ServiceId};
use crate::policy::PolicyVersion;
use crate::priority::{Impact, Priority, Urgency};
use crate::problem::state::{FixOutcome, KnownError, ResolutionCode};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// An event of the problem lifecycle. Every variant names the problem, when and by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum ProblemEvent {
    /// A problem was logged (status New).
    #[serde(rename = "problem.created")]
    Created {
        /// The problem.
        id: ProblemId,
        /// Short description.
        title: String,
        /// Longer description.
        description: String,
        /// Impact.
        impact: Impact,
        /// Urgency.
        urgency: Urgency,
        /// Priority from the matrix in force, recorded so replay never depends on a later policy.
        priority: Priority,
        /// Affected service.
        service: Option<ServiceId>,
        /// Configuration items involved.
        cis: BTreeSet<CiId>,
        /// The policy version in force (pinned by the record). `0` in events recorded before
        /// versions were pinned.
        #[serde(default)]
        policy_version: PolicyVersion,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// Assignment group and coordinator set.
    #[serde(rename = "problem.assigned")]
    Assigned {
        /// The problem.
        id: ProblemId,
        /// Assignment group.
        group: GroupId,
        /// Coordinator.
        assignee: Option<ActorId>,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// Impact and urgency changed.
    #[serde(rename = "problem.reprioritized")]
    Reprioritized {
        /// The problem.
        id: ProblemId,
        /// New impact.
        impact: Impact,
        /// New urgency.
        urgency: Urgency,
        /// New priority from the matrix in force.
        priority: Priority,
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// New -> Assess.
    #[serde(rename = "problem.assessed")]
    Assessed {
        /// The problem.
        id: ProblemId,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// Assess -> Root cause analysis.
    #[serde(rename = "problem.analysis_started")]
    AnalysisStarted {
        /// The problem.
        id: ProblemId,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// The root cause was recorded or refined.
    #[serde(rename = "problem.root_cause_recorded")]
    RootCauseRecorded {
        /// The problem.
        id: ProblemId,
        /// The cause (full text, replacing any earlier one).
        cause: String,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// A revision of the known error was published to the KEDB. Self-contained, so that a KEDB
    /// read model needs no other event to show the entry.
    #[serde(rename = "problem.known_error_published")]
    KnownErrorPublished {
        /// The problem.
        id: ProblemId,
        /// The problem's title at publication.
        title: String,
        /// The problem's service at publication.
        service: Option<ServiceId>,
        /// The problem's priority at publication.
        priority: Priority,
        /// The full known error (revision 1 for the first publication).
        known_error: KnownError,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// Root cause analysis -> Fix in Progress.
    #[serde(rename = "problem.fix_started")]
    FixStarted {
        /// The problem.
        id: ProblemId,
        /// The fix to be applied.
        fix_notes: String,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// -> Resolved, with `FixApplied` or `RiskAccepted`. Carries the linked incidents, so that
    /// the engine can resolve the incidents awaiting this problem when the code is `FixApplied`.
    #[serde(rename = "problem.resolved")]
    Resolved {
        /// The problem.
        id: ProblemId,
        /// `FixApplied` or `RiskAccepted`.
        code: ResolutionCode,
        /// Resolution notes or the reason the risk is accepted.
        notes: String,
        /// Incidents linked when it was resolved.
        linked_incidents: BTreeSet<IncidentId>,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// -> Closed with `Duplicate { of }`. Carries the links, so that the engine can move them to
    /// the original (ServiceNow's `problem.duplicate.records_to_move`).
    #[serde(rename = "problem.marked_duplicate")]
    MarkedDuplicate {
        /// The problem.
        id: ProblemId,
        /// The original.
        of: ProblemId,
        /// Incidents linked to the duplicate.
        linked_incidents: BTreeSet<IncidentId>,
        /// Fixing changes linked to the duplicate.
        fixing_changes: BTreeMap<ChangeId, FixOutcome>,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// -> Closed with `Canceled`.
    #[serde(rename = "problem.canceled")]
    Canceled {
        /// The problem.
        id: ProblemId,
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// Resolved -> Closed with the same code.
    #[serde(rename = "problem.closed")]
    Closed {
        /// The problem.
        id: ProblemId,
        /// The resolution code it was resolved with.
        code: ResolutionCode,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// Resolved or Closed -> Root cause analysis.
    #[serde(rename = "problem.reanalyzed")]
    Reanalyzed {
        /// The problem.
        id: ProblemId,
        /// Why.
        reason: String,
        /// The code it had before re-analysis.
        previous_code: ResolutionCode,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// An incident was linked.
    #[serde(rename = "problem.incident_linked")]
    IncidentLinked {
        /// The problem.
        id: ProblemId,
        /// The incident.
        incident: IncidentId,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// An incident was unlinked.
    #[serde(rename = "problem.incident_unlinked")]
    IncidentUnlinked {
        /// The problem.
        id: ProblemId,
        /// The incident.
        incident: IncidentId,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// A change was linked as (part of) the fix; its outcome is pending.
    #[serde(rename = "problem.fixing_change_linked")]
    FixingChangeLinked {
        /// The problem.
        id: ProblemId,
        /// The change.
        change: ChangeId,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// A linked fixing change closed, or was canceled.
    #[serde(rename = "problem.fix_change_outcome_recorded")]
    FixChangeOutcomeRecorded {
        /// The problem.
        id: ProblemId,
        /// The change.
        change: ChangeId,
        /// `Successful`, `Unsuccessful` or `Canceled`.
        outcome: FixOutcome,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
    /// A work note was added.
    #[serde(rename = "problem.work_note_added")]
    WorkNoteAdded {
        /// The problem.
        id: ProblemId,
        /// The note.
        text: String,
        /// When.
        at: DateTime<Utc>,
        /// Who.
        by: ActorId,
    },
}

impl ProblemEvent {
    /// The problem the event belongs to.
    pub const fn id(&self) -> ProblemId {
        match self {
            ProblemEvent::Created { id, .. }
            | ProblemEvent::Assigned { id, .. }
            | ProblemEvent::Reprioritized { id, .. }
            | ProblemEvent::Assessed { id, .. }
            | ProblemEvent::AnalysisStarted { id, .. }
            | ProblemEvent::RootCauseRecorded { id, .. }
            | ProblemEvent::KnownErrorPublished { id, .. }
            | ProblemEvent::FixStarted { id, .. }
            | ProblemEvent::Resolved { id, .. }
            | ProblemEvent::MarkedDuplicate { id, .. }
            | ProblemEvent::Canceled { id, .. }
            | ProblemEvent::Closed { id, .. }
            | ProblemEvent::Reanalyzed { id, .. }
            | ProblemEvent::IncidentLinked { id, .. }
            | ProblemEvent::IncidentUnlinked { id, .. }
            | ProblemEvent::FixingChangeLinked { id, .. }
            | ProblemEvent::FixChangeOutcomeRecorded { id, .. }
            | ProblemEvent::WorkNoteAdded { id, .. } => *id,
        }
    }

    /// When it was recorded.
    pub const fn at(&self) -> DateTime<Utc> {
        match self {
            ProblemEvent::Created { at, .. }
            | ProblemEvent::Assigned { at, .. }
            | ProblemEvent::Reprioritized { at, .. }
            | ProblemEvent::Assessed { at, .. }
            | ProblemEvent::AnalysisStarted { at, .. }
            | ProblemEvent::RootCauseRecorded { at, .. }
            | ProblemEvent::KnownErrorPublished { at, .. }
            | ProblemEvent::FixStarted { at, .. }
            | ProblemEvent::Resolved { at, .. }
            | ProblemEvent::MarkedDuplicate { at, .. }
            | ProblemEvent::Canceled { at, .. }
            | ProblemEvent::Closed { at, .. }
            | ProblemEvent::Reanalyzed { at, .. }
            | ProblemEvent::IncidentLinked { at, .. }
            | ProblemEvent::IncidentUnlinked { at, .. }
            | ProblemEvent::FixingChangeLinked { at, .. }
            | ProblemEvent::FixChangeOutcomeRecorded { at, .. }
            | ProblemEvent::WorkNoteAdded { at, .. } => *at,
        }
    }

    /// Who caused it.
    pub const fn by(&self) -> &ActorId {
        match self {
            ProblemEvent::Created { by, .. }
            | ProblemEvent::Assigned { by, .. }
            | ProblemEvent::Reprioritized { by, .. }
            | ProblemEvent::Assessed { by, .. }
            | ProblemEvent::AnalysisStarted { by, .. }
            | ProblemEvent::RootCauseRecorded { by, .. }
            | ProblemEvent::KnownErrorPublished { by, .. }
            | ProblemEvent::FixStarted { by, .. }
            | ProblemEvent::Resolved { by, .. }
            | ProblemEvent::MarkedDuplicate { by, .. }
            | ProblemEvent::Canceled { by, .. }
            | ProblemEvent::Closed { by, .. }
            | ProblemEvent::Reanalyzed { by, .. }
            | ProblemEvent::IncidentLinked { by, .. }
            | ProblemEvent::IncidentUnlinked { by, .. }
            | ProblemEvent::FixingChangeLinked { by, .. }
            | ProblemEvent::FixChangeOutcomeRecorded { by, .. }
            | ProblemEvent::WorkNoteAdded { by, .. } => by,
        }
    }
}

impl DomainEvent for ProblemEvent {
    fn event_type(&self) -> &'static str {
        match self {
            ProblemEvent::Created { .. } => "problem.created",
            ProblemEvent::Assigned { .. } => "problem.assigned",
            ProblemEvent::Reprioritized { .. } => "problem.reprioritized",
            ProblemEvent::Assessed { .. } => "problem.assessed",
            ProblemEvent::AnalysisStarted { .. } => "problem.analysis_started",
            ProblemEvent::RootCauseRecorded { .. } => "problem.root_cause_recorded",
            ProblemEvent::KnownErrorPublished { .. } => "problem.known_error_published",
            ProblemEvent::FixStarted { .. } => "problem.fix_started",
            ProblemEvent::Resolved { .. } => "problem.resolved",
            ProblemEvent::MarkedDuplicate { .. } => "problem.marked_duplicate",
            ProblemEvent::Canceled { .. } => "problem.canceled",
            ProblemEvent::Closed { .. } => "problem.closed",
            ProblemEvent::Reanalyzed { .. } => "problem.reanalyzed",
            ProblemEvent::IncidentLinked { .. } => "problem.incident_linked",
            ProblemEvent::IncidentUnlinked { .. } => "problem.incident_unlinked",
            ProblemEvent::FixingChangeLinked { .. } => "problem.fixing_change_linked",
            ProblemEvent::FixChangeOutcomeRecorded { .. } => "problem.fix_change_outcome_recorded",
            ProblemEvent::WorkNoteAdded { .. } => "problem.work_note_added",
        }
    }

    fn schema_version(&self) -> u16 {
        1
    }
}
