//! What happened to an incident. Events are facts: never rewritten, corrected by new events.

use super::alert_route::ServiceCorrelation;
use super::state::{CancelReason, CloseCode, HoldReason, ResolutionSource};
use crate::decider::DomainEvent;
use crate::ids::{ActorId, ChangeId, CiId, GroupId, IncidentId, ProblemId, ServiceId};
use crate::policy::PolicyVersion;
use crate::priority::{Impact, Priority, Urgency};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The alert an incident was opened from, with its firing time settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AlertOrigin {
    /// Key that identifies repeats of the same alert.
    pub dedup_key: String,
    /// Monitoring system that sent it.
    pub source: String,
    /// When it fired.
    pub seen_at: DateTime<Utc>,
}

/// Why a resolved incident went back to work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReopenSource {
    /// The caller or an agent rejected the resolution.
    Direct {
        /// Why.
        reason: String,
    },
    /// The parent incident was reopened.
    Parent {
        /// The parent.
        parent: IncidentId,
    },
}

/// An incident event. Every variant carries the incident id, when it was recorded (`at`) and by
/// whom (`by`); backdated facts also carry `occurred_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum IncidentEvent {
    /// The incident was logged.
    #[serde(rename = "incident.opened")]
    Opened {
        /// Incident.
        id: IncidentId,
        /// Short summary.
        title: String,
        /// Description.
        description: String,
        /// The affected person.
        caller: ActorId,
        /// Impact.
        impact: Impact,
        /// Urgency.
        urgency: Urgency,
        /// Priority from the matrix in force.
        priority: Priority,
        /// Affected service.
        service: Option<ServiceId>,
        /// Affected CIs.
        cis: Vec<CiId>,
        /// Initial group.
        group: Option<GroupId>,
        /// Initial assignee.
        assignee: Option<ActorId>,
        /// The alert it was opened from.
        alert: Option<AlertOrigin>,
        /// The policy version in force (pinned by the record). `0` in events recorded before
        /// versions were pinned.
        #[serde(default)]
        policy_version: PolicyVersion,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// First response: work started (New -> InProgress). Also recorded when a person is
    /// assigned to a New incident, because that is when ServiceNow-style desks start the clock.
    #[serde(rename = "incident.acknowledged")]
    Acknowledged {
        /// Incident.
        id: IncidentId,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// An empty group or assignee was filled in (not a reassignment).
    #[serde(rename = "incident.assigned")]
    Assigned {
        /// Incident.
        id: IncidentId,
        /// Group now.
        group: Option<GroupId>,
        /// Assignee now.
        assignee: Option<ActorId>,
        /// Group before.
        previous_group: Option<GroupId>,
        /// Assignee before.
        previous_assignee: Option<ActorId>,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// An already set group or assignee changed (counts towards the reassignment counter).
    #[serde(rename = "incident.reassigned")]
    Reassigned {
        /// Incident.
        id: IncidentId,
        /// Group now.
        group: Option<GroupId>,
        /// Assignee now.
        assignee: Option<ActorId>,
        /// Group before.
        previous_group: Option<GroupId>,
        /// Assignee before.
        previous_assignee: Option<ActorId>,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// Put on hold, or the hold reason changed.
    #[serde(rename = "incident.put_on_hold")]
    PutOnHold {
        /// Incident.
        id: IncidentId,
        /// What it waits for.
        reason: HoldReason,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// Work resumed after a hold.
    #[serde(rename = "incident.resumed")]
    Resumed {
        /// Incident.
        id: IncidentId,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// Resolved (directly, from the parent or from a problem).
    #[serde(rename = "incident.resolved")]
    Resolved {
        /// Incident.
        id: IncidentId,
        /// Close code.
        code: CloseCode,
        /// Close notes.
        notes: String,
        /// Where the resolution came from.
        source: ResolutionSource,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// The resolution was rejected: back to work (InProgress), or back to New when nobody
    /// ever acknowledged the incident (a child resolved from New by its parent).
    #[serde(rename = "incident.reopened")]
    Reopened {
        /// Incident.
        id: IncidentId,
        /// Why.
        source: ReopenSource,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// The resolution was confirmed.
    #[serde(rename = "incident.closed")]
    Closed {
        /// Incident.
        id: IncidentId,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// Closed by the auto-close timer.
    #[serde(rename = "incident.auto_closed")]
    AutoClosed {
        /// Incident.
        id: IncidentId,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// Canceled.
    #[serde(rename = "incident.canceled")]
    Canceled {
        /// Incident.
        id: IncidentId,
        /// Why.
        reason: CancelReason,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// Impact and/or urgency changed, and with them possibly the priority.
    #[serde(rename = "incident.reprioritized")]
    Reprioritized {
        /// Incident.
        id: IncidentId,
        /// Impact before.
        previous_impact: Impact,
        /// Urgency before.
        previous_urgency: Urgency,
        /// Priority before.
        previous_priority: Priority,
        /// Impact now.
        impact: Impact,
        /// Urgency now.
        urgency: Urgency,
        /// Priority now.
        priority: Priority,
        /// Why.
        reason: String,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// Handed over to another group one tier up; the assignee is cleared.
    #[serde(rename = "incident.escalated_functionally")]
    EscalatedFunctionally {
        /// Incident.
        id: IncidentId,
        /// Group before.
        from_group: Option<GroupId>,
        /// Group now.
        to_group: GroupId,
        /// Support tier now.
        tier: u8,
        /// Why.
        reason: String,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// Raised to management.
    #[serde(rename = "incident.escalated_hierarchically")]
    EscalatedHierarchically {
        /// Incident.
        id: IncidentId,
        /// Manager escalated to.
        to: ActorId,
        /// Escalation level now.
        level: u8,
        /// Why.
        reason: String,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// Proposed as a major incident.
    #[serde(rename = "incident.major_proposed")]
    MajorProposed {
        /// Incident.
        id: IncidentId,
        /// Why.
        reason: String,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// Accepted as a major incident.
    #[serde(rename = "incident.major_accepted")]
    MajorAccepted {
        /// Incident.
        id: IncidentId,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// The major-incident proposal was rejected.
    #[serde(rename = "incident.major_rejected")]
    MajorRejected {
        /// Incident.
        id: IncidentId,
        /// Why.
        reason: String,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// A revision of the post-incident review was published.
    #[serde(rename = "incident.review_published")]
    ReviewPublished {
        /// Incident.
        id: IncidentId,
        /// Summary.
        summary: String,
        /// Findings.
        findings: String,
        /// Follow-up actions.
        action_items: Vec<String>,
        /// 1 for the first publication.
        revision: u32,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// This incident became a child of `parent`.
    #[serde(rename = "incident.parent_linked")]
    ParentLinked {
        /// Incident (the child).
        id: IncidentId,
        /// The parent.
        parent: IncidentId,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// `child` became a child of this incident.
    #[serde(rename = "incident.child_linked")]
    ChildLinked {
        /// Incident (the parent).
        id: IncidentId,
        /// The child.
        child: IncidentId,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// `duplicate` was recorded as a duplicate of this incident.
    #[serde(rename = "incident.duplicate_linked")]
    DuplicateLinked {
        /// Incident (the original).
        id: IncidentId,
        /// The duplicate.
        duplicate: IncidentId,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// The alert fired again and joined this incident, or (with `via`) an alert on a CI
    /// joined it through the incident's service.
    #[serde(rename = "incident.alert_correlated")]
    AlertCorrelated {
        /// Incident.
        id: IncidentId,
        /// The alert's dedup key.
        dedup_key: String,
        /// When it fired.
        seen_at: DateTime<Utc>,
        /// When the alert joined through the incident's service rather than its dedup key:
        /// the alert's CI, the service its outage affects and the path between them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        via: Option<ServiceCorrelation>,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// When the impact started (backdated).
    #[serde(rename = "incident.impact_start_recorded")]
    ImpactStartRecorded {
        /// Incident.
        id: IncidentId,
        /// When the impact started.
        occurred_at: DateTime<Utc>,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// When the interruption was detected (backdated).
    #[serde(rename = "incident.detection_recorded")]
    DetectionRecorded {
        /// Incident.
        id: IncidentId,
        /// When it was detected.
        occurred_at: DateTime<Utc>,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// A problem was linked.
    #[serde(rename = "incident.problem_linked")]
    ProblemLinked {
        /// Incident.
        id: IncidentId,
        /// The problem.
        problem: ProblemId,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// A change was recorded as the cause.
    #[serde(rename = "incident.causing_change_linked")]
    CausingChangeLinked {
        /// Incident.
        id: IncidentId,
        /// The change.
        change: ChangeId,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// An internal work note was added ([`Visibility::Internal`]).
    #[serde(rename = "incident.work_note_added")]
    WorkNoteAdded {
        /// Incident.
        id: IncidentId,
        /// The note.
        text: String,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// A comment the caller sees was added ([`Visibility::Public`]).
    #[serde(rename = "incident.comment_added")]
    CommentAdded {
        /// Incident.
        id: IncidentId,
        /// The comment.
        text: String,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
}

/// Who may read an event: everyone who may read the record, or its workers only. The event's
/// type carries it (a work note is internal, a comment public), so it is stored with the event
/// and never changes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// The caller sees it too.
    Public,
    /// Only those who work the record see it (work notes).
    Internal,
}

impl Visibility {
    /// Stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Internal => "internal",
        }
    }
}

impl std::fmt::Display for Visibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl IncidentEvent {
    /// The incident the event belongs to.
    pub fn id(&self) -> IncidentId {
        self.header().0
    }

    /// When the event was recorded.
    pub fn at(&self) -> DateTime<Utc> {
        self.header().1
    }

    /// Who caused it.
    pub fn by(&self) -> &ActorId {
        self.header().2
    }

    /// When the fact happened: `occurred_at` for backdated facts, else the recorded time.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            IncidentEvent::ImpactStartRecorded { occurred_at, .. }
            | IncidentEvent::DetectionRecorded { occurred_at, .. } => *occurred_at,
            IncidentEvent::Opened { at, .. }
            | IncidentEvent::Acknowledged { at, .. }
            | IncidentEvent::Assigned { at, .. }
            | IncidentEvent::Reassigned { at, .. }
            | IncidentEvent::PutOnHold { at, .. }
            | IncidentEvent::Resumed { at, .. }
            | IncidentEvent::Resolved { at, .. }
            | IncidentEvent::Reopened { at, .. }
            | IncidentEvent::Closed { at, .. }
            | IncidentEvent::AutoClosed { at, .. }
            | IncidentEvent::Canceled { at, .. }
            | IncidentEvent::Reprioritized { at, .. }
            | IncidentEvent::EscalatedFunctionally { at, .. }
            | IncidentEvent::EscalatedHierarchically { at, .. }
            | IncidentEvent::MajorProposed { at, .. }
            | IncidentEvent::MajorAccepted { at, .. }
            | IncidentEvent::MajorRejected { at, .. }
            | IncidentEvent::ReviewPublished { at, .. }
            | IncidentEvent::ParentLinked { at, .. }
            | IncidentEvent::ChildLinked { at, .. }
            | IncidentEvent::DuplicateLinked { at, .. }
            | IncidentEvent::AlertCorrelated { at, .. }
            | IncidentEvent::ProblemLinked { at, .. }
            | IncidentEvent::CausingChangeLinked { at, .. }
            | IncidentEvent::WorkNoteAdded { at, .. }
            | IncidentEvent::CommentAdded { at, .. } => *at,
        }
    }

    /// Who may read the event: work notes are [`Visibility::Internal`], everything else
    /// (comments included) is [`Visibility::Public`].
    pub fn visibility(&self) -> Visibility {
        match self {
            IncidentEvent::WorkNoteAdded { .. } => Visibility::Internal,
            IncidentEvent::Opened { .. }
            | IncidentEvent::Acknowledged { .. }
            | IncidentEvent::Assigned { .. }
            | IncidentEvent::Reassigned { .. }
            | IncidentEvent::PutOnHold { .. }
            | IncidentEvent::Resumed { .. }
            | IncidentEvent::Resolved { .. }
            | IncidentEvent::Reopened { .. }
            | IncidentEvent::Closed { .. }
            | IncidentEvent::AutoClosed { .. }
            | IncidentEvent::Canceled { .. }
            | IncidentEvent::Reprioritized { .. }
            | IncidentEvent::EscalatedFunctionally { .. }
            | IncidentEvent::EscalatedHierarchically { .. }
            | IncidentEvent::MajorProposed { .. }
            | IncidentEvent::MajorAccepted { .. }
            | IncidentEvent::MajorRejected { .. }
            | IncidentEvent::ReviewPublished { .. }
            | IncidentEvent::ParentLinked { .. }
            | IncidentEvent::ChildLinked { .. }
            | IncidentEvent::DuplicateLinked { .. }
            | IncidentEvent::AlertCorrelated { .. }
            | IncidentEvent::ImpactStartRecorded { .. }
            | IncidentEvent::DetectionRecorded { .. }
            | IncidentEvent::ProblemLinked { .. }
            | IncidentEvent::CausingChangeLinked { .. }
            | IncidentEvent::CommentAdded { .. } => Visibility::Public,
        }
    }

    fn header(&self) -> (IncidentId, DateTime<Utc>, &ActorId) {
        match self {
            IncidentEvent::Opened { id, at, by, .. }
            | IncidentEvent::Acknowledged { id, at, by }
            | IncidentEvent::Assigned { id, at, by, .. }
            | IncidentEvent::Reassigned { id, at, by, .. }
            | IncidentEvent::PutOnHold { id, at, by, .. }
            | IncidentEvent::Resumed { id, at, by }
            | IncidentEvent::Resolved { id, at, by, .. }
            | IncidentEvent::Reopened { id, at, by, .. }
            | IncidentEvent::Closed { id, at, by }
            | IncidentEvent::AutoClosed { id, at, by }
            | IncidentEvent::Canceled { id, at, by, .. }
            | IncidentEvent::Reprioritized { id, at, by, .. }
            | IncidentEvent::EscalatedFunctionally { id, at, by, .. }
            | IncidentEvent::EscalatedHierarchically { id, at, by, .. }
            | IncidentEvent::MajorProposed { id, at, by, .. }
            | IncidentEvent::MajorAccepted { id, at, by }
            | IncidentEvent::MajorRejected { id, at, by, .. }
            | IncidentEvent::ReviewPublished { id, at, by, .. }
            | IncidentEvent::ParentLinked { id, at, by, .. }
            | IncidentEvent::ChildLinked { id, at, by, .. }
            | IncidentEvent::DuplicateLinked { id, at, by, .. }
            | IncidentEvent::AlertCorrelated { id, at, by, .. }
            | IncidentEvent::ImpactStartRecorded { id, at, by, .. }
            | IncidentEvent::DetectionRecorded { id, at, by, .. }
            | IncidentEvent::ProblemLinked { id, at, by, .. }
            | IncidentEvent::CausingChangeLinked { id, at, by, .. }
            | IncidentEvent::WorkNoteAdded { id, at, by, .. }
            | IncidentEvent::CommentAdded { id, at, by, .. } => (*id, *at, by),
        }
    }
}

impl DomainEvent for IncidentEvent {
    fn event_type(&self) -> &'static str {
        // Must match the serde renames above; a test compares them.
        match self {
            IncidentEvent::Opened { .. } => "incident.opened",
            IncidentEvent::Acknowledged { .. } => "incident.acknowledged",
            IncidentEvent::Assigned { .. } => "incident.assigned",
            IncidentEvent::Reassigned { .. } => "incident.reassigned",
            IncidentEvent::PutOnHold { .. } => "incident.put_on_hold",
            IncidentEvent::Resumed { .. } => "incident.resumed",
            IncidentEvent::Resolved { .. } => "incident.resolved",
            IncidentEvent::Reopened { .. } => "incident.reopened",
            IncidentEvent::Closed { .. } => "incident.closed",
            IncidentEvent::AutoClosed { .. } => "incident.auto_closed",
            IncidentEvent::Canceled { .. } => "incident.canceled",
            IncidentEvent::Reprioritized { .. } => "incident.reprioritized",
            IncidentEvent::EscalatedFunctionally { .. } => "incident.escalated_functionally",
            IncidentEvent::EscalatedHierarchically { .. } => "incident.escalated_hierarchically",
            IncidentEvent::MajorProposed { .. } => "incident.major_proposed",
            IncidentEvent::MajorAccepted { .. } => "incident.major_accepted",
            IncidentEvent::MajorRejected { .. } => "incident.major_rejected",
            IncidentEvent::ReviewPublished { .. } => "incident.review_published",
            IncidentEvent::ParentLinked { .. } => "incident.parent_linked",
            IncidentEvent::ChildLinked { .. } => "incident.child_linked",
            IncidentEvent::DuplicateLinked { .. } => "incident.duplicate_linked",
            IncidentEvent::AlertCorrelated { .. } => "incident.alert_correlated",
            IncidentEvent::ImpactStartRecorded { .. } => "incident.impact_start_recorded",
            IncidentEvent::DetectionRecorded { .. } => "incident.detection_recorded",
            IncidentEvent::ProblemLinked { .. } => "incident.problem_linked",
            IncidentEvent::CausingChangeLinked { .. } => "incident.causing_change_linked",
            IncidentEvent::WorkNoteAdded { .. } => "incident.work_note_added",
            IncidentEvent::CommentAdded { .. } => "incident.comment_added",
        }
    }

    fn schema_version(&self) -> u16 {
        1
    }
}
