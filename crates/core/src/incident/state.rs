//! The incident record, its status and the value types it holds.

use crate::ids::{ActorId, ChangeId, CiId, GroupId, IncidentId, ProblemId, ServiceId};
use crate::policy::PolicyVersion;
use crate::priority::{Impact, Priority, Urgency};
use crate::transition::Named;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Why an incident waits (ServiceNow hold reasons 1, 3, 4, 5, and the parent's hold). SLA
/// policies pause on some of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HoldReason {
    /// Waiting for the caller to answer; a caller update resumes the incident.
    AwaitingCaller,
    /// Waiting for a problem's fix; resolving that problem may resolve this incident.
    AwaitingProblem {
        /// The problem waited for.
        problem: ProblemId,
    },
    /// Waiting for a supplier.
    AwaitingVendor,
    /// Waiting for a change to be implemented.
    AwaitingChange {
        /// The change waited for.
        change: ChangeId,
    },
    /// Held because its parent incident went on hold (the `parent_hold` process, per the
    /// policy's `incident.child_sync.on_hold`); the parent's resumption resumes it. Only the
    /// incident's linked parent may be named.
    AwaitingParent {
        /// The parent incident waited for.
        parent: IncidentId,
    },
}

impl std::fmt::Display for HoldReason {
    /// `awaiting caller`, `awaiting problem`, `awaiting vendor`, `awaiting change`,
    /// `awaiting parent` (the record
    /// waited for is named by whoever has its human number).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HoldReason::AwaitingCaller => "awaiting caller",
            HoldReason::AwaitingProblem { .. } => "awaiting problem",
            HoldReason::AwaitingVendor => "awaiting vendor",
            HoldReason::AwaitingChange { .. } => "awaiting change",
            HoldReason::AwaitingParent { .. } => "awaiting parent",
        })
    }
}

/// How an incident was resolved, modelled on ServiceNow's close codes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
// Changes have close codes too: unique schema names for combined documents (OpenRPC).
#[schemars(rename = "IncidentCloseCode")]
pub enum CloseCode {
    /// Solved (Permanently): the cause was removed.
    SolvedPermanently,
    /// Solved (Work Around): service restored, cause still present.
    SolvedWorkaround,
    /// Solved Remotely (Permanently).
    SolvedRemotelyPermanently,
    /// Solved Remotely (Work Around).
    SolvedRemotelyWorkaround,
    /// Not Solved (Not Reproducible).
    NotSolvedNotReproducible,
    /// Not Solved (Too Costly).
    NotSolvedTooCostly,
    /// Closed/Resolved by Caller.
    ResolvedByCaller,
}

impl CloseCode {
    /// Every close code, in declaration order.
    pub const ALL: [CloseCode; 7] = [
        CloseCode::SolvedPermanently,
        CloseCode::SolvedWorkaround,
        CloseCode::SolvedRemotelyPermanently,
        CloseCode::SolvedRemotelyWorkaround,
        CloseCode::NotSolvedNotReproducible,
        CloseCode::NotSolvedTooCostly,
        CloseCode::ResolvedByCaller,
    ];

    /// Whether the service was restored (every code but the two "not solved" ones).
    pub const fn is_solved(self) -> bool {
        match self {
            CloseCode::SolvedPermanently
            | CloseCode::SolvedWorkaround
            | CloseCode::SolvedRemotelyPermanently
            | CloseCode::SolvedRemotelyWorkaround
            | CloseCode::ResolvedByCaller => true,
            CloseCode::NotSolvedNotReproducible | CloseCode::NotSolvedTooCostly => false,
        }
    }
}

/// Why an incident was canceled instead of resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CancelReason {
    /// The same interruption is already recorded; the link is kept for reporting.
    Duplicate {
        /// The incident this one duplicates.
        of: IncidentId,
    },
    /// Not an interruption of service (a request, a question, a false alarm).
    NotAnIncident,
    /// Anything else, in words.
    Other {
        /// Why.
        text: String,
    },
}

/// Where a resolution came from: worked on this incident, or propagated by a process manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ResolutionSource {
    /// Resolved by working this incident.
    Direct,
    /// Resolved because its parent was resolved (notes copied from the parent).
    Parent {
        /// The parent incident.
        parent: IncidentId,
    },
    /// Resolved because the problem it awaited (on hold, `AwaitingProblem`) was fixed.
    Problem {
        /// The problem.
        problem: ProblemId,
    },
}

/// The current resolution: set on resolve, kept when closed, cleared on reopen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Resolution {
    /// Close code.
    pub code: CloseCode,
    /// Close notes (never blank).
    pub notes: String,
    /// Where it came from.
    pub source: ResolutionSource,
    /// Who resolved.
    pub by: ActorId,
}

/// Where an incident is in its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum IncidentStatus {
    /// Logged; nobody personally owns it yet (it may sit in a group's queue).
    New,
    /// Somebody works on it.
    InProgress,
    /// Work waits for something outside the resolver's control.
    OnHold {
        /// What it waits for.
        reason: HoldReason,
    },
    /// Service restored (or declared not solvable); awaiting confirmation or auto-close.
    Resolved {
        /// Close code.
        code: CloseCode,
        /// Close notes.
        notes: String,
    },
    /// Confirmed resolved. Final.
    Closed,
    /// Withdrawn without resolution. Final.
    Canceled {
        /// Why.
        reason: CancelReason,
    },
}

/// [`IncidentStatus`] without its data: the rows and columns of the transition table.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatusKind {
    /// [`IncidentStatus::New`].
    New,
    /// [`IncidentStatus::InProgress`].
    InProgress,
    /// [`IncidentStatus::OnHold`].
    OnHold,
    /// [`IncidentStatus::Resolved`].
    Resolved,
    /// [`IncidentStatus::Closed`].
    Closed,
    /// [`IncidentStatus::Canceled`].
    Canceled,
}

impl Named for IncidentStatusKind {
    const ALL: &'static [Self] = &[
        IncidentStatusKind::New,
        IncidentStatusKind::InProgress,
        IncidentStatusKind::OnHold,
        IncidentStatusKind::Resolved,
        IncidentStatusKind::Closed,
        IncidentStatusKind::Canceled,
    ];

    fn name(self) -> &'static str {
        match self {
            IncidentStatusKind::New => "new",
            IncidentStatusKind::InProgress => "in_progress",
            IncidentStatusKind::OnHold => "on_hold",
            IncidentStatusKind::Resolved => "resolved",
            IncidentStatusKind::Closed => "closed",
            IncidentStatusKind::Canceled => "canceled",
        }
    }
}

impl IncidentStatus {
    /// The status without its data.
    pub fn kind(&self) -> IncidentStatusKind {
        match self {
            IncidentStatus::New => IncidentStatusKind::New,
            IncidentStatus::InProgress => IncidentStatusKind::InProgress,
            IncidentStatus::OnHold { .. } => IncidentStatusKind::OnHold,
            IncidentStatus::Resolved { .. } => IncidentStatusKind::Resolved,
            IncidentStatus::Closed => IncidentStatusKind::Closed,
            IncidentStatus::Canceled { .. } => IncidentStatusKind::Canceled,
        }
    }

    /// Whether the incident still needs work (New, InProgress or OnHold): what alert
    /// correlation and backlog queries call "open".
    pub fn is_open(&self) -> bool {
        match self.kind() {
            IncidentStatusKind::New
            | IncidentStatusKind::InProgress
            | IncidentStatusKind::OnHold => true,
            IncidentStatusKind::Resolved
            | IncidentStatusKind::Closed
            | IncidentStatusKind::Canceled => false,
        }
    }

    /// Whether no command is accepted any more (Closed or Canceled).
    pub fn is_final(&self) -> bool {
        match self.kind() {
            IncidentStatusKind::Closed | IncidentStatusKind::Canceled => true,
            IncidentStatusKind::New
            | IncidentStatusKind::InProgress
            | IncidentStatusKind::OnHold
            | IncidentStatusKind::Resolved => false,
        }
    }
}

/// The major-incident overlay's own state (ServiceNow `major_incident_state`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum MajorStatus {
    /// Never proposed (the "none" of the overlay).
    #[default]
    NotMajor,
    /// Proposed as a major incident; awaiting a manager's decision.
    Proposed {
        /// Why it was proposed (business impact).
        reason: String,
    },
    /// Accepted: runs the major-incident process and needs a published review before closing.
    Accepted,
    /// Rejected; may be proposed again if the impact grows.
    Rejected {
        /// Why it was rejected.
        reason: String,
    },
}

/// [`MajorStatus`] without its data: the rows of the major-incident table.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MajorStatusKind {
    /// [`MajorStatus::NotMajor`].
    NotMajor,
    /// [`MajorStatus::Proposed`].
    Proposed,
    /// [`MajorStatus::Accepted`].
    Accepted,
    /// [`MajorStatus::Rejected`].
    Rejected,
}

impl Named for MajorStatusKind {
    const ALL: &'static [Self] = &[
        MajorStatusKind::NotMajor,
        MajorStatusKind::Proposed,
        MajorStatusKind::Accepted,
        MajorStatusKind::Rejected,
    ];

    fn name(self) -> &'static str {
        match self {
            MajorStatusKind::NotMajor => "not_major",
            MajorStatusKind::Proposed => "proposed",
            MajorStatusKind::Accepted => "accepted",
            MajorStatusKind::Rejected => "rejected",
        }
    }
}

impl MajorStatus {
    /// The status without its data.
    pub fn kind(&self) -> MajorStatusKind {
        match self {
            MajorStatus::NotMajor => MajorStatusKind::NotMajor,
            MajorStatus::Proposed { .. } => MajorStatusKind::Proposed,
            MajorStatus::Accepted => MajorStatusKind::Accepted,
            MajorStatus::Rejected { .. } => MajorStatusKind::Rejected,
        }
    }
}

/// A published post-incident review. Publishing again records a new revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PublishedReview {
    /// What happened and its business impact.
    pub summary: String,
    /// Findings (root cause as understood, what went well or badly); may be empty.
    pub findings: String,
    /// Follow-up actions (become problems, changes or tasks elsewhere).
    pub action_items: Vec<String>,
    /// 1 for the first publication, +1 per republication.
    pub revision: u32,
    /// When this revision was published.
    pub published_at: DateTime<Utc>,
    /// Who published it.
    pub published_by: ActorId,
}

/// The major-incident overlay of an incident.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct MajorOverlay {
    /// Proposed / accepted / rejected.
    pub status: MajorStatus,
    /// The latest published review, if any.
    pub review: Option<PublishedReview>,
    /// Set to the instant of a reopen that happened after the latest review revision, and
    /// cleared by the next publication: while set, the published review describes an earlier
    /// resolution and does not let an accepted major incident close.
    #[serde(default)]
    pub review_required_since: Option<DateTime<Utc>>,
}

impl MajorOverlay {
    /// Whether the incident is an accepted major incident.
    pub fn is_accepted(&self) -> bool {
        self.status.kind() == MajorStatusKind::Accepted
    }

    /// Whether a review revision was published after the latest reopen, as closing an accepted
    /// major incident requires.
    pub fn review_is_current(&self) -> bool {
        self.review.is_some() && self.review_required_since.is_none()
    }

    /// Whether the auto-close timer must leave the incident alone: a proposed major incident
    /// awaits a manager's decision, an accepted one is closed by a person after its review.
    pub fn blocks_auto_close(&self) -> bool {
        match self.status.kind() {
            MajorStatusKind::Proposed | MajorStatusKind::Accepted => true,
            MajorStatusKind::NotMajor | MajorStatusKind::Rejected => false,
        }
    }
}

/// Functional (to another group or tier) and hierarchical (to management) escalation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Escalation {
    /// Support tier: 1 (first line) + one per functional escalation.
    pub functional_tier: u8,
    /// 0 when never escalated hierarchically, + one per hierarchical escalation.
    pub hierarchical_level: u8,
    /// Who the latest hierarchical escalation went to.
    pub hierarchical_to: Option<ActorId>,
}

impl Default for Escalation {
    fn default() -> Self {
        Self {
            functional_tier: 1,
            hierarchical_level: 0,
            hierarchical_to: None,
        }
    }
}

/// Alert correlation data of an incident opened from an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AlertInfo {
    /// Key that identifies repeats of the same alert (PagerDuty `dedup_key`).
    pub dedup_key: String,
    /// Monitoring system that sent it.
    pub source: String,
    /// 1 for the opening alert + one per correlated repeat.
    pub alert_count: u64,
    /// Earliest firing seen.
    pub first_seen: DateTime<Utc>,
    /// Latest firing seen.
    pub last_seen: DateTime<Utc>,
}

/// An incident: the folded state of its event stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Incident {
    /// Identity.
    pub id: IncidentId,
    /// Short summary.
    pub title: String,
    /// Longer description (may be empty).
    pub description: String,
    /// Who is affected and reported it (the requester).
    pub caller: ActorId,
    /// Lifecycle status.
    pub status: IncidentStatus,
    /// Impact.
    pub impact: Impact,
    /// Urgency.
    pub urgency: Urgency,
    /// Priority, from the policy's matrix at the time impact or urgency was last set.
    pub priority: Priority,
    /// Affected business service.
    pub service: Option<ServiceId>,
    /// Affected configuration items.
    pub cis: Vec<CiId>,
    /// Assignment group.
    pub group: Option<GroupId>,
    /// Assignee.
    pub assignee: Option<ActorId>,
    /// Changes of an already set group or assignee, functional escalations included.
    pub reassignment_count: u32,
    /// Reopens (Resolved -> InProgress, or New when never acknowledged), directly or from the
    /// parent.
    pub reopen_count: u32,
    /// Functional and hierarchical escalation.
    pub escalation: Escalation,
    /// Major-incident overlay.
    pub major: MajorOverlay,
    /// The parent incident, when this one is a child.
    pub parent: Option<IncidentId>,
    /// Child incidents.
    pub children: BTreeSet<IncidentId>,
    /// Incidents canceled as duplicates of this one.
    pub duplicates: BTreeSet<IncidentId>,
    /// Alert correlation, for incidents opened from an alert.
    pub alert: Option<AlertInfo>,
    /// Linked problems.
    pub problems: BTreeSet<ProblemId>,
    /// Changes recorded as having caused this incident.
    pub caused_by_changes: BTreeSet<ChangeId>,
    /// When the impact started (backdated fact).
    pub impact_started_at: Option<DateTime<Utc>>,
    /// When the interruption was detected (backdated fact).
    pub detected_at: Option<DateTime<Utc>>,
    /// When it was logged.
    pub opened_at: DateTime<Utc>,
    /// The policy version in force when it was logged (pinned; see [`PolicyVersion`]).
    #[serde(default)]
    pub policy_version: PolicyVersion,
    /// First acknowledgement (or first assignment to a person). Never overwritten.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When the current resolution was recorded; cleared on reopen.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// When it was canceled.
    pub canceled_at: Option<DateTime<Utc>>,
    /// The current resolution; kept once closed, cleared on reopen.
    pub resolution: Option<Resolution>,
    /// Number of work notes (the texts live in the event log).
    pub work_note_count: u32,
    /// Number of comments the caller sees (the texts live in the event log).
    #[serde(default)]
    pub comment_count: u32,
    /// Instant of the latest applied event.
    pub updated_at: DateTime<Utc>,
}
