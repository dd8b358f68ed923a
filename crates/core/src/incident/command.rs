//! What callers (people, timers, process managers) ask of an incident.

use super::alert_route::ServiceCorrelation;
use super::state::{CancelReason, CloseCode, HoldReason};
use crate::ids::{ActorId, ChangeId, CiId, GroupId, IncidentId, ProblemId, ServiceId};
use crate::priority::{Impact, Urgency};
use crate::transition::Named;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The alert an incident is opened from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AlertSource {
    /// Key that identifies repeats of the same alert.
    pub dedup_key: String,
    /// Monitoring system that sent it.
    pub source: String,
    /// When the alert fired (defaults to the decision time); may not lie in the future.
    #[serde(default)]
    pub seen_at: Option<DateTime<Utc>>,
}

/// A command on one incident. Every command names the incident it targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum IncidentCommand {
    /// Log a new incident. Naming an assignee starts work at once (New -> InProgress).
    Open {
        /// New id, chosen by the caller (UUID v7).
        id: IncidentId,
        /// Short summary.
        title: String,
        /// Longer description (may be empty).
        #[serde(default)]
        description: String,
        /// The affected person; only an actor who may work incidents may open for someone else.
        caller: ActorId,
        /// Impact.
        impact: Impact,
        /// Urgency.
        urgency: Urgency,
        /// Affected business service.
        #[serde(default)]
        service: Option<ServiceId>,
        /// Affected configuration items (no repeats).
        #[serde(default)]
        cis: Vec<CiId>,
        /// Initial assignment group.
        #[serde(default)]
        group: Option<GroupId>,
        /// Initial assignee.
        #[serde(default)]
        assignee: Option<ActorId>,
        /// The alert this incident is opened from, if any.
        #[serde(default)]
        alert: Option<AlertSource>,
    },
    /// Acknowledge (first response): New -> InProgress.
    Acknowledge {
        /// Target.
        id: IncidentId,
    },
    /// Set the assignment (both fields replace the current ones; at least one must be given).
    /// Assigning a person to a New incident starts work.
    Assign {
        /// Target.
        id: IncidentId,
        /// New assignment group.
        #[serde(default)]
        group: Option<GroupId>,
        /// New assignee.
        #[serde(default)]
        assignee: Option<ActorId>,
    },
    /// Put on hold, or change the hold reason while on hold.
    PutOnHold {
        /// Target.
        id: IncidentId,
        /// What the incident waits for.
        reason: HoldReason,
    },
    /// Resume work after a hold.
    Resume {
        /// Target.
        id: IncidentId,
    },
    /// Resolve with a close code and notes.
    Resolve {
        /// Target.
        id: IncidentId,
        /// Close code.
        code: CloseCode,
        /// Close notes (required).
        notes: String,
    },
    /// Reject the resolution: Resolved -> InProgress (New if it was never acknowledged).
    Reopen {
        /// Target.
        id: IncidentId,
        /// Why the resolution is rejected.
        reason: String,
    },
    /// Confirm the resolution: Resolved -> Closed.
    Close {
        /// Target.
        id: IncidentId,
    },
    /// Close after the auto-close delay (sent by the engine's timer, as [`Role::System`]):
    /// `policy.incident.auto_close_after_days` days after the resolution, calendar or business
    /// days as [`Policy::auto_close_due`] says. Never for a proposed or accepted major incident.
    ///
    /// [`Policy::auto_close_due`]: crate::Policy::auto_close_due
    ///
    /// [`Role::System`]: crate::Role::System
    AutoClose {
        /// Target.
        id: IncidentId,
    },
    /// Cancel an incident that needs no resolution.
    Cancel {
        /// Target.
        id: IncidentId,
        /// Why.
        reason: CancelReason,
    },
    /// Change impact and urgency; priority follows from the policy's matrix.
    Reprioritize {
        /// Target.
        id: IncidentId,
        /// New impact.
        impact: Impact,
        /// New urgency.
        urgency: Urgency,
        /// Why.
        reason: String,
    },
    /// Hand over to another group, one support tier up.
    EscalateFunctional {
        /// Target.
        id: IncidentId,
        /// The receiving group.
        to_group: GroupId,
        /// Why.
        reason: String,
    },
    /// Raise to management, one level up.
    EscalateHierarchical {
        /// Target.
        id: IncidentId,
        /// The manager escalated to.
        to: ActorId,
        /// Why.
        reason: String,
    },
    /// Propose as a major incident.
    ProposeMajor {
        /// Target.
        id: IncidentId,
        /// Business impact that justifies it.
        reason: String,
    },
    /// Accept the major-incident proposal.
    AcceptMajor {
        /// Target.
        id: IncidentId,
    },
    /// Reject the major-incident proposal.
    RejectMajor {
        /// Target.
        id: IncidentId,
        /// Why.
        reason: String,
    },
    /// Publish (or republish) the post-incident review of an accepted major incident.
    PublishReview {
        /// Target.
        id: IncidentId,
        /// What happened and its business impact.
        summary: String,
        /// Findings (may be empty).
        #[serde(default)]
        findings: String,
        /// Follow-up actions.
        #[serde(default)]
        action_items: Vec<String>,
    },
    /// Record this incident's parent (sent to the child).
    LinkParent {
        /// Target (the child).
        id: IncidentId,
        /// The parent.
        parent: IncidentId,
    },
    /// Record a child (sent to the parent).
    LinkChild {
        /// Target (the parent).
        id: IncidentId,
        /// The child.
        child: IncidentId,
    },
    /// Record an incident canceled as a duplicate of this one.
    LinkDuplicate {
        /// Target (the original).
        id: IncidentId,
        /// The duplicate.
        duplicate: IncidentId,
    },
    /// The parent was resolved: resolve this child with the parent's code and notes.
    ResolveFromParent {
        /// Target (the child).
        id: IncidentId,
        /// The parent; must be this incident's parent.
        parent: IncidentId,
        /// The parent's close code.
        code: CloseCode,
        /// The parent's close notes, copied.
        notes: String,
    },
    /// The parent was reopened: reopen this resolved child (to New if it was never
    /// acknowledged, as when its parent resolved it from New).
    ReopenFromParent {
        /// Target (the child).
        id: IncidentId,
        /// The parent; must be this incident's parent.
        parent: IncidentId,
    },
    /// The problem this incident awaits (on hold, `AwaitingProblem { problem }`) was fixed:
    /// resolve permanently. The engine may send it to every incident the problem links; only
    /// those on hold awaiting this very problem accept it.
    ResolveFromProblem {
        /// Target.
        id: IncidentId,
        /// The fixed problem.
        problem: ProblemId,
        /// Resolution notes (the fix).
        notes: String,
    },
    /// Another firing of the alert this incident was opened from.
    CorrelateAlert {
        /// Target.
        id: IncidentId,
        /// Must equal the incident's dedup key (unless `via` is given).
        dedup_key: String,
        /// When it fired; may not lie in the future.
        seen_at: DateTime<Utc>,
        /// Set by the engine's alert routing only (a caller's is refused): the alert joins
        /// through the incident's service, which the outage of the alert's CI affects.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(skip)]
        via: Option<ServiceCorrelation>,
    },
    /// Record when the impact started (backdated fact).
    RecordImpactStart {
        /// Target.
        id: IncidentId,
        /// When; not in the future, not after the detection time.
        started_at: DateTime<Utc>,
    },
    /// Record when the interruption was detected (backdated fact).
    RecordDetection {
        /// Target.
        id: IncidentId,
        /// When; not in the future, not before the impact start.
        detected_at: DateTime<Utc>,
    },
    /// Link a problem.
    LinkProblem {
        /// Target.
        id: IncidentId,
        /// The problem.
        problem: ProblemId,
    },
    /// Record a change as the cause of this incident. The incident cannot see the change, so
    /// any change id is accepted here; the engine mirrors the link on the change with
    /// `RecordCausedIncident`, which is the authority (it refuses a change whose implementation
    /// never started) and which the engine decides first.
    LinkCausingChange {
        /// Target.
        id: IncidentId,
        /// The change.
        change: ChangeId,
    },
    /// Add an internal work note (workers only; a caller never sees it).
    AddWorkNote {
        /// Target.
        id: IncidentId,
        /// The note.
        text: String,
    },
    /// Add a comment the caller sees. The caller (or a requester) comments on their own
    /// incident; workers on any. The caller's comment on an incident on hold awaiting the
    /// caller resumes it when `policy.incident.resume_on_caller_comment` is on.
    AddComment {
        /// Target.
        id: IncidentId,
        /// The comment.
        text: String,
    },
}

/// [`IncidentCommand`] without its data: the columns of the transition table.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum IncidentCommandKind {
    /// [`IncidentCommand::Open`].
    Open,
    /// [`IncidentCommand::Acknowledge`].
    Acknowledge,
    /// [`IncidentCommand::Assign`].
    Assign,
    /// [`IncidentCommand::PutOnHold`].
    PutOnHold,
    /// [`IncidentCommand::Resume`].
    Resume,
    /// [`IncidentCommand::Resolve`].
    Resolve,
    /// [`IncidentCommand::Reopen`].
    Reopen,
    /// [`IncidentCommand::Close`].
    Close,
    /// [`IncidentCommand::AutoClose`].
    AutoClose,
    /// [`IncidentCommand::Cancel`].
    Cancel,
    /// [`IncidentCommand::Reprioritize`].
    Reprioritize,
    /// [`IncidentCommand::EscalateFunctional`].
    EscalateFunctional,
    /// [`IncidentCommand::EscalateHierarchical`].
    EscalateHierarchical,
    /// [`IncidentCommand::ProposeMajor`].
    ProposeMajor,
    /// [`IncidentCommand::AcceptMajor`].
    AcceptMajor,
    /// [`IncidentCommand::RejectMajor`].
    RejectMajor,
    /// [`IncidentCommand::PublishReview`].
    PublishReview,
    /// [`IncidentCommand::LinkParent`].
    LinkParent,
    /// [`IncidentCommand::LinkChild`].
    LinkChild,
    /// [`IncidentCommand::LinkDuplicate`].
    LinkDuplicate,
    /// [`IncidentCommand::ResolveFromParent`].
    ResolveFromParent,
    /// [`IncidentCommand::ReopenFromParent`].
    ReopenFromParent,
    /// [`IncidentCommand::ResolveFromProblem`].
    ResolveFromProblem,
    /// [`IncidentCommand::CorrelateAlert`].
    CorrelateAlert,
    /// [`IncidentCommand::RecordImpactStart`].
    RecordImpactStart,
    /// [`IncidentCommand::RecordDetection`].
    RecordDetection,
    /// [`IncidentCommand::LinkProblem`].
    LinkProblem,
    /// [`IncidentCommand::LinkCausingChange`].
    LinkCausingChange,
    /// [`IncidentCommand::AddWorkNote`].
    AddWorkNote,
    /// [`IncidentCommand::AddComment`].
    AddComment,
}

impl Named for IncidentCommandKind {
    const ALL: &'static [Self] = &[
        IncidentCommandKind::Open,
        IncidentCommandKind::Acknowledge,
        IncidentCommandKind::Assign,
        IncidentCommandKind::PutOnHold,
        IncidentCommandKind::Resume,
        IncidentCommandKind::Resolve,
        IncidentCommandKind::Reopen,
        IncidentCommandKind::Close,
        IncidentCommandKind::AutoClose,
        IncidentCommandKind::Cancel,
        IncidentCommandKind::Reprioritize,
        IncidentCommandKind::EscalateFunctional,
        IncidentCommandKind::EscalateHierarchical,
        IncidentCommandKind::ProposeMajor,
        IncidentCommandKind::AcceptMajor,
        IncidentCommandKind::RejectMajor,
        IncidentCommandKind::PublishReview,
        IncidentCommandKind::LinkParent,
        IncidentCommandKind::LinkChild,
        IncidentCommandKind::LinkDuplicate,
        IncidentCommandKind::ResolveFromParent,
        IncidentCommandKind::ReopenFromParent,
        IncidentCommandKind::ResolveFromProblem,
        IncidentCommandKind::CorrelateAlert,
        IncidentCommandKind::RecordImpactStart,
        IncidentCommandKind::RecordDetection,
        IncidentCommandKind::LinkProblem,
        IncidentCommandKind::LinkCausingChange,
        IncidentCommandKind::AddWorkNote,
        IncidentCommandKind::AddComment,
    ];

    fn name(self) -> &'static str {
        match self {
            IncidentCommandKind::Open => "open",
            IncidentCommandKind::Acknowledge => "acknowledge",
            IncidentCommandKind::Assign => "assign",
            IncidentCommandKind::PutOnHold => "put_on_hold",
            IncidentCommandKind::Resume => "resume",
            IncidentCommandKind::Resolve => "resolve",
            IncidentCommandKind::Reopen => "reopen",
            IncidentCommandKind::Close => "close",
            IncidentCommandKind::AutoClose => "auto_close",
            IncidentCommandKind::Cancel => "cancel",
            IncidentCommandKind::Reprioritize => "reprioritize",
            IncidentCommandKind::EscalateFunctional => "escalate_functional",
            IncidentCommandKind::EscalateHierarchical => "escalate_hierarchical",
            IncidentCommandKind::ProposeMajor => "propose_major",
            IncidentCommandKind::AcceptMajor => "accept_major",
            IncidentCommandKind::RejectMajor => "reject_major",
            IncidentCommandKind::PublishReview => "publish_review",
            IncidentCommandKind::LinkParent => "link_parent",
            IncidentCommandKind::LinkChild => "link_child",
            IncidentCommandKind::LinkDuplicate => "link_duplicate",
            IncidentCommandKind::ResolveFromParent => "resolve_from_parent",
            IncidentCommandKind::ReopenFromParent => "reopen_from_parent",
            IncidentCommandKind::ResolveFromProblem => "resolve_from_problem",
            IncidentCommandKind::CorrelateAlert => "correlate_alert",
            IncidentCommandKind::RecordImpactStart => "record_impact_start",
            IncidentCommandKind::RecordDetection => "record_detection",
            IncidentCommandKind::LinkProblem => "link_problem",
            IncidentCommandKind::LinkCausingChange => "link_causing_change",
            IncidentCommandKind::AddWorkNote => "add_work_note",
            IncidentCommandKind::AddComment => "add_comment",
        }
    }
}

impl IncidentCommandKind {
    /// Whether the command creates the record.
    pub const fn is_create(self) -> bool {
        match self {
            IncidentCommandKind::Open => true,
            IncidentCommandKind::Acknowledge
            | IncidentCommandKind::Assign
            | IncidentCommandKind::PutOnHold
            | IncidentCommandKind::Resume
            | IncidentCommandKind::Resolve
            | IncidentCommandKind::Reopen
            | IncidentCommandKind::Close
            | IncidentCommandKind::AutoClose
            | IncidentCommandKind::Cancel
            | IncidentCommandKind::Reprioritize
            | IncidentCommandKind::EscalateFunctional
            | IncidentCommandKind::EscalateHierarchical
            | IncidentCommandKind::ProposeMajor
            | IncidentCommandKind::AcceptMajor
            | IncidentCommandKind::RejectMajor
            | IncidentCommandKind::PublishReview
            | IncidentCommandKind::LinkParent
            | IncidentCommandKind::LinkChild
            | IncidentCommandKind::LinkDuplicate
            | IncidentCommandKind::ResolveFromParent
            | IncidentCommandKind::ReopenFromParent
            | IncidentCommandKind::ResolveFromProblem
            | IncidentCommandKind::CorrelateAlert
            | IncidentCommandKind::RecordImpactStart
            | IncidentCommandKind::RecordDetection
            | IncidentCommandKind::LinkProblem
            | IncidentCommandKind::LinkCausingChange
            | IncidentCommandKind::AddWorkNote
            | IncidentCommandKind::AddComment => false,
        }
    }

    /// The column of the major-incident table this command belongs to, if any.
    pub const fn major(self) -> Option<MajorCommandKind> {
        match self {
            IncidentCommandKind::ProposeMajor => Some(MajorCommandKind::ProposeMajor),
            IncidentCommandKind::AcceptMajor => Some(MajorCommandKind::AcceptMajor),
            IncidentCommandKind::RejectMajor => Some(MajorCommandKind::RejectMajor),
            IncidentCommandKind::PublishReview => Some(MajorCommandKind::PublishReview),
            IncidentCommandKind::Open
            | IncidentCommandKind::Acknowledge
            | IncidentCommandKind::Assign
            | IncidentCommandKind::PutOnHold
            | IncidentCommandKind::Resume
            | IncidentCommandKind::Resolve
            | IncidentCommandKind::Reopen
            | IncidentCommandKind::Close
            | IncidentCommandKind::AutoClose
            | IncidentCommandKind::Cancel
            | IncidentCommandKind::Reprioritize
            | IncidentCommandKind::EscalateFunctional
            | IncidentCommandKind::EscalateHierarchical
            | IncidentCommandKind::LinkParent
            | IncidentCommandKind::LinkChild
            | IncidentCommandKind::LinkDuplicate
            | IncidentCommandKind::ResolveFromParent
            | IncidentCommandKind::ReopenFromParent
            | IncidentCommandKind::ResolveFromProblem
            | IncidentCommandKind::CorrelateAlert
            | IncidentCommandKind::RecordImpactStart
            | IncidentCommandKind::RecordDetection
            | IncidentCommandKind::LinkProblem
            | IncidentCommandKind::LinkCausingChange
            | IncidentCommandKind::AddWorkNote
            | IncidentCommandKind::AddComment => None,
        }
    }
}

/// The commands of the major-incident overlay: the columns of `Incident::major_transitions()`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MajorCommandKind {
    /// [`IncidentCommand::ProposeMajor`].
    ProposeMajor,
    /// [`IncidentCommand::AcceptMajor`].
    AcceptMajor,
    /// [`IncidentCommand::RejectMajor`].
    RejectMajor,
    /// [`IncidentCommand::PublishReview`].
    PublishReview,
}

impl Named for MajorCommandKind {
    const ALL: &'static [Self] = &[
        MajorCommandKind::ProposeMajor,
        MajorCommandKind::AcceptMajor,
        MajorCommandKind::RejectMajor,
        MajorCommandKind::PublishReview,
    ];

    fn name(self) -> &'static str {
        match self {
            MajorCommandKind::ProposeMajor => "propose_major",
            MajorCommandKind::AcceptMajor => "accept_major",
            MajorCommandKind::RejectMajor => "reject_major",
            MajorCommandKind::PublishReview => "publish_review",
        }
    }
}

impl IncidentCommand {
    /// The command without its data.
    pub fn kind(&self) -> IncidentCommandKind {
        match self {
            IncidentCommand::Open { .. } => IncidentCommandKind::Open,
            IncidentCommand::Acknowledge { .. } => IncidentCommandKind::Acknowledge,
            IncidentCommand::Assign { .. } => IncidentCommandKind::Assign,
            IncidentCommand::PutOnHold { .. } => IncidentCommandKind::PutOnHold,
            IncidentCommand::Resume { .. } => IncidentCommandKind::Resume,
            IncidentCommand::Resolve { .. } => IncidentCommandKind::Resolve,
            IncidentCommand::Reopen { .. } => IncidentCommandKind::Reopen,
            IncidentCommand::Close { .. } => IncidentCommandKind::Close,
            IncidentCommand::AutoClose { .. } => IncidentCommandKind::AutoClose,
            IncidentCommand::Cancel { .. } => IncidentCommandKind::Cancel,
            IncidentCommand::Reprioritize { .. } => IncidentCommandKind::Reprioritize,
            IncidentCommand::EscalateFunctional { .. } => IncidentCommandKind::EscalateFunctional,
            IncidentCommand::EscalateHierarchical { .. } => {
                IncidentCommandKind::EscalateHierarchical
            }
            IncidentCommand::ProposeMajor { .. } => IncidentCommandKind::ProposeMajor,
            IncidentCommand::AcceptMajor { .. } => IncidentCommandKind::AcceptMajor,
            IncidentCommand::RejectMajor { .. } => IncidentCommandKind::RejectMajor,
            IncidentCommand::PublishReview { .. } => IncidentCommandKind::PublishReview,
            IncidentCommand::LinkParent { .. } => IncidentCommandKind::LinkParent,
            IncidentCommand::LinkChild { .. } => IncidentCommandKind::LinkChild,
            IncidentCommand::LinkDuplicate { .. } => IncidentCommandKind::LinkDuplicate,
            IncidentCommand::ResolveFromParent { .. } => IncidentCommandKind::ResolveFromParent,
            IncidentCommand::ReopenFromParent { .. } => IncidentCommandKind::ReopenFromParent,
            IncidentCommand::ResolveFromProblem { .. } => IncidentCommandKind::ResolveFromProblem,
            IncidentCommand::CorrelateAlert { .. } => IncidentCommandKind::CorrelateAlert,
            IncidentCommand::RecordImpactStart { .. } => IncidentCommandKind::RecordImpactStart,
            IncidentCommand::RecordDetection { .. } => IncidentCommandKind::RecordDetection,
            IncidentCommand::LinkProblem { .. } => IncidentCommandKind::LinkProblem,
            IncidentCommand::LinkCausingChange { .. } => IncidentCommandKind::LinkCausingChange,
            IncidentCommand::AddWorkNote { .. } => IncidentCommandKind::AddWorkNote,
            IncidentCommand::AddComment { .. } => IncidentCommandKind::AddComment,
        }
    }

    /// The incident the command targets (the new id for [`IncidentCommand::Open`]).
    pub fn id(&self) -> IncidentId {
        match self {
            IncidentCommand::Open { id, .. }
            | IncidentCommand::Acknowledge { id }
            | IncidentCommand::Assign { id, .. }
            | IncidentCommand::PutOnHold { id, .. }
            | IncidentCommand::Resume { id }
            | IncidentCommand::Resolve { id, .. }
            | IncidentCommand::Reopen { id, .. }
            | IncidentCommand::Close { id }
            | IncidentCommand::AutoClose { id }
            | IncidentCommand::Cancel { id, .. }
            | IncidentCommand::Reprioritize { id, .. }
            | IncidentCommand::EscalateFunctional { id, .. }
            | IncidentCommand::EscalateHierarchical { id, .. }
            | IncidentCommand::ProposeMajor { id, .. }
            | IncidentCommand::AcceptMajor { id }
            | IncidentCommand::RejectMajor { id, .. }
            | IncidentCommand::PublishReview { id, .. }
            | IncidentCommand::LinkParent { id, .. }
            | IncidentCommand::LinkChild { id, .. }
            | IncidentCommand::LinkDuplicate { id, .. }
            | IncidentCommand::ResolveFromParent { id, .. }
            | IncidentCommand::ReopenFromParent { id, .. }
            | IncidentCommand::ResolveFromProblem { id, .. }
            | IncidentCommand::CorrelateAlert { id, .. }
            | IncidentCommand::RecordImpactStart { id, .. }
            | IncidentCommand::RecordDetection { id, .. }
            | IncidentCommand::LinkProblem { id, .. }
            | IncidentCommand::LinkCausingChange { id, .. }
            | IncidentCommand::AddWorkNote { id, .. }
            | IncidentCommand::AddComment { id, .. } => *id,
        }
    }
}
