//! The change record, its status and the value types it holds.

use super::conflict::{CiRelation, Conflict, ScheduleCandidate, ScheduledChange};
use crate::ids::{ActorId, ChangeId, CiId, IncidentId, ProblemId};
use crate::policy::{ApprovalRule, Policy, PolicyVersion};
use crate::transition::Named;
use crate::window::TimeWindow;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The type of a change, which selects its path through the lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeType {
    /// Pre-authorised, low-risk, repeatable: New -> Scheduled, no approvals.
    Standard {
        /// Id of a template in the policy's standard-change catalogue.
        template: String,
    },
    /// Assessed and authorised by the CAB: New -> Assess -> Authorize -> Scheduled.
    Normal,
    /// Urgent: New -> Authorize (emergency CAB) -> Scheduled.
    Emergency,
}

impl ChangeType {
    /// The approval rule in force for this type, or `None` for a standard change
    /// (pre-authorised by its template).
    pub fn approval_rule<'p>(&self, policy: &'p Policy) -> Option<&'p ApprovalRule> {
        match self {
            ChangeType::Standard { .. } => None,
            ChangeType::Normal => Some(&policy.approvals.normal),
            ChangeType::Emergency => Some(&policy.approvals.emergency),
        }
    }
}

/// Risk of a change, as assessed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Routine, well understood.
    Low,
    /// Some chance of service impact.
    Moderate,
    /// Likely or severe service impact if it goes wrong.
    High,
}

/// What happened to the backout plan of a change that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BackoutRecord {
    /// Whether the backout plan was executed.
    pub performed: bool,
    /// What was done (or why backout was not performed). Required.
    pub notes: String,
}

/// How a change ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
// Incidents have close codes too: unique schema names for combined documents (OpenRPC).
#[schemars(rename = "ChangeCloseCode")]
pub enum CloseCode {
    /// Implemented as planned.
    Successful,
    /// Implemented, with issues worth recording.
    SuccessfulWithIssues,
    /// Not implemented as intended; the backout record says what was done about it.
    Unsuccessful {
        /// Whether backout was performed, and notes.
        backout: BackoutRecord,
    },
}

/// Where a change is in its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ChangeStatus {
    /// Being drafted and planned by the requester.
    New,
    /// Technical and risk assessment (normal changes only).
    Assess,
    /// Waiting for the CAB (or the emergency CAB) to decide.
    Authorize,
    /// Authorised (or pre-authorised) and booked into its approved window.
    Scheduled,
    /// Being implemented.
    Implement,
    /// Implemented; post-implementation review.
    Review,
    /// Done, with its outcome.
    Closed {
        /// The outcome.
        code: CloseCode,
    },
    /// Abandoned before review.
    Canceled {
        /// Why.
        reason: String,
    },
}

impl ChangeStatus {
    /// The fieldless kind of this status.
    pub fn kind(&self) -> ChangeStatusKind {
        match self {
            ChangeStatus::New => ChangeStatusKind::New,
            ChangeStatus::Assess => ChangeStatusKind::Assess,
            ChangeStatus::Authorize => ChangeStatusKind::Authorize,
            ChangeStatus::Scheduled => ChangeStatusKind::Scheduled,
            ChangeStatus::Implement => ChangeStatusKind::Implement,
            ChangeStatus::Review => ChangeStatusKind::Review,
            ChangeStatus::Closed { .. } => ChangeStatusKind::Closed,
            ChangeStatus::Canceled { .. } => ChangeStatusKind::Canceled,
        }
    }
}

/// The statuses of a change, without their data.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatusKind {
    /// See [`ChangeStatus::New`].
    New,
    /// See [`ChangeStatus::Assess`].
    Assess,
    /// See [`ChangeStatus::Authorize`].
    Authorize,
    /// See [`ChangeStatus::Scheduled`].
    Scheduled,
    /// See [`ChangeStatus::Implement`].
    Implement,
    /// See [`ChangeStatus::Review`].
    Review,
    /// See [`ChangeStatus::Closed`].
    Closed,
    /// See [`ChangeStatus::Canceled`].
    Canceled,
}

impl ChangeStatusKind {
    /// ServiceNow's numeric state value, for integrations that speak it.
    pub const fn servicenow_code(self) -> i8 {
        match self {
            ChangeStatusKind::New => -5,
            ChangeStatusKind::Assess => -4,
            ChangeStatusKind::Authorize => -3,
            ChangeStatusKind::Scheduled => -2,
            ChangeStatusKind::Implement => -1,
            ChangeStatusKind::Review => 0,
            ChangeStatusKind::Closed => 3,
            ChangeStatusKind::Canceled => 4,
        }
    }

    /// Whether the change is over (closed or canceled).
    pub const fn is_terminal(self) -> bool {
        match self {
            ChangeStatusKind::Closed | ChangeStatusKind::Canceled => true,
            ChangeStatusKind::New
            | ChangeStatusKind::Assess
            | ChangeStatusKind::Authorize
            | ChangeStatusKind::Scheduled
            | ChangeStatusKind::Implement
            | ChangeStatusKind::Review => false,
        }
    }
}

impl Named for ChangeStatusKind {
    const ALL: &'static [Self] = &[
        ChangeStatusKind::New,
        ChangeStatusKind::Assess,
        ChangeStatusKind::Authorize,
        ChangeStatusKind::Scheduled,
        ChangeStatusKind::Implement,
        ChangeStatusKind::Review,
        ChangeStatusKind::Closed,
        ChangeStatusKind::Canceled,
    ];

    fn name(self) -> &'static str {
        match self {
            ChangeStatusKind::New => "new",
            ChangeStatusKind::Assess => "assess",
            ChangeStatusKind::Authorize => "authorize",
            ChangeStatusKind::Scheduled => "scheduled",
            ChangeStatusKind::Implement => "implement",
            ChangeStatusKind::Review => "review",
            ChangeStatusKind::Closed => "closed",
            ChangeStatusKind::Canceled => "canceled",
        }
    }
}

/// An approver's decision in one approval round.
///
/// A rejection is a veto that ends the round at once (the change returns to New with an empty
/// approval set), so a current round holds only `Approved` entries today; `Rejected` keeps the
/// record's shape stable for non-veto rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ApprovalDecision {
    /// Approved.
    Approved {
        /// Optional remark.
        comment: Option<String>,
    },
    /// Rejected (which ends the round: the change returns to New).
    Rejected {
        /// Why.
        reason: String,
    },
}

/// One approver's decision and when it was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Approval {
    /// The decision.
    pub decision: ApprovalDecision,
    /// When.
    pub at: DateTime<Utc>,
}

/// Blocking conflicts someone with the schedule permission accepted, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConflictAcceptance {
    /// The blocking conflicts accepted.
    pub conflicts: Vec<Conflict>,
    /// Why they are acceptable.
    pub reason: String,
    /// Who accepted them.
    pub by: ActorId,
    /// When.
    pub at: DateTime<Utc>,
}

/// A work note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ChangeWorkNote")]
pub struct WorkNote {
    /// The text.
    pub note: String,
    /// Who wrote it.
    pub by: ActorId,
    /// When.
    pub at: DateTime<Utc>,
}

/// A change request, as folded from its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    /// Its id.
    pub id: ChangeId,
    /// Short description.
    pub title: String,
    /// Long description.
    pub description: String,
    /// Standard, normal or emergency.
    pub change_type: ChangeType,
    /// Where it is.
    pub status: ChangeStatus,
    /// Who raised it; never counts as an approver.
    pub requester: ActorId,
    /// Who implements it.
    pub assignee: Option<ActorId>,
    /// The configuration items it affects.
    pub cis: BTreeSet<CiId>,
    /// Assessed risk.
    pub risk: Risk,
    /// How it will be implemented.
    pub implementation_plan: String,
    /// How it will be undone if it fails.
    pub backout_plan: String,
    /// How success will be verified.
    pub test_plan: String,
    /// The window the requester planned.
    pub planned_window: Option<TimeWindow>,
    /// The window it was scheduled (authorised) for; implementation may start only inside it.
    /// Cleared when the change returns to New.
    pub approved_window: Option<TimeWindow>,
    /// Decisions of the current approval round, by approver.
    pub approvals: BTreeMap<ActorId, Approval>,
    /// The current approval round, from 1; each rejection or revert to New starts a new one.
    pub approval_round: u32,
    /// Problems this change fixes.
    pub fixes_problems: BTreeSet<ProblemId>,
    /// Incidents this change caused (change failure rate).
    pub caused_incidents: BTreeSet<IncidentId>,
    /// Blocking conflicts accepted for the current planned window.
    pub accepted_conflicts: Vec<ConflictAcceptance>,
    /// Non-blocking conflicts found by the latest schedule check (at most
    /// [`MAX_REPORTED_CONFLICTS`](super::MAX_REPORTED_CONFLICTS)).
    pub schedule_warnings: Vec<Conflict>,
    /// Non-blocking conflicts the latest schedule check found beyond those listed.
    #[serde(default)]
    pub schedule_warnings_omitted: usize,
    /// Work notes, oldest first.
    pub work_notes: Vec<WorkNote>,
    /// When it was raised.
    pub requested_at: DateTime<Utc>,
    /// The policy version in force when it was raised (pinned).
    #[serde(default)]
    pub policy_version: PolicyVersion,
    /// When it was first submitted (lead time starts here).
    pub submitted_at: Option<DateTime<Utc>>,
    /// When the current round reached its quorum (none for standard changes).
    pub authorized_at: Option<DateTime<Utc>>,
    /// When it entered Scheduled for its current approved window.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// When implementation started.
    pub implement_started_at: Option<DateTime<Utc>>,
    /// When implementation completed.
    pub implemented_at: Option<DateTime<Utc>>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// When it was canceled.
    pub canceled_at: Option<DateTime<Utc>>,
}

impl Change {
    /// Actors whose approval counts in the current round, in id order.
    pub fn approvers(&self) -> Vec<ActorId> {
        self.approvals
            .iter()
            .filter(|(_, a)| match a.decision {
                ApprovalDecision::Approved { .. } => true,
                ApprovalDecision::Rejected { .. } => false,
            })
            .map(|(who, _)| who.clone())
            .collect()
    }

    /// How many approvals the change needs under `policy`, or `None` for a standard change.
    pub fn required_approvals(&self, policy: &Policy) -> Option<u32> {
        self.change_type
            .approval_rule(policy)
            .map(|rule| rule.required_approvals(&self.requester))
    }

    /// Whether the current round has the approvals the change type needs under `policy`
    /// (always true for a standard change).
    pub fn quorum_reached(&self, policy: &Policy) -> bool {
        match self.required_approvals(policy) {
            None => true,
            Some(required) => u32::try_from(self.approvers().len()).unwrap_or(u32::MAX) >= required,
        }
    }

    /// This change's entry in the change calendar, while it holds an approved window
    /// (Scheduled or Implement).
    pub fn schedule_entry(&self) -> Option<ScheduledChange> {
        let booked = match self.status.kind() {
            ChangeStatusKind::Scheduled | ChangeStatusKind::Implement => true,
            ChangeStatusKind::New
            | ChangeStatusKind::Assess
            | ChangeStatusKind::Authorize
            | ChangeStatusKind::Review
            | ChangeStatusKind::Closed
            | ChangeStatusKind::Canceled => false,
        };
        let window = self.approved_window.filter(|_| booked)?;
        Some(ScheduledChange {
            id: self.id,
            window,
            cis: self.cis.clone(),
            assignee: self.assignee.clone(),
        })
    }

    /// The candidate to check for conflicts if this change were booked into `window`.
    pub fn schedule_candidate(
        &self,
        window: TimeWindow,
        assignee: Option<ActorId>,
        ci_relations: Vec<CiRelation>,
    ) -> ScheduleCandidate {
        ScheduleCandidate {
            id: self.id,
            window,
            cis: self.cis.clone(),
            assignee,
            ci_relations,
        }
    }

    /// Whether `conflict` was accepted for the current planned window.
    pub fn is_accepted(&self, conflict: &Conflict) -> bool {
        self.accepted_conflicts
            .iter()
            .any(|a| a.conflicts.contains(conflict))
    }
}
