//! The record view: a compact, denormalised summary of one record's current state (status,
//! routing, links, known error, schedule), derived from the core's state by a pure function.
//! Every row written from it (see [`tables`](super::tables)) is in turn a pure function of the
//! view, so the read models as a whole are a function of the set of current states: rebuilding
//! them from the log gives exactly what incremental updates gave.

use crate::numbers::HumanNumber;
use crate::record::{RecordRef, RecordState, RecordStatus};
use chrono::{DateTime, Utc};
use opsledger_core::change::{ChangeStatusKind, ChangeType, Conflict, Risk, ScheduledChange};
use opsledger_core::incident::{
    AlertInfo, CancelReason, HoldReason, IncidentStatus, MajorStatusKind,
};
use opsledger_core::problem::{FixOutcome, KnownError, ProblemStatusKind, ResolutionCode};
use opsledger_core::window::TimeWindow;
use opsledger_core::{
    ActorId, ChangeId, CiId, GroupId, IncidentId, Priority, ProblemId, ServiceId,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What queues, lookups and process managers read about a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RecordView {
    /// The record.
    pub record: RecordRef,
    /// Its human number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<HumanNumber>,
    /// Its stream version (events so far).
    pub version: u64,
    /// Log position of its latest event.
    pub position: u64,
    /// Title.
    pub title: String,
    /// Status.
    pub status: RecordStatus,
    /// Whether it still needs work.
    pub open: bool,
    /// Priority (incidents and problems).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// Assignment group (incidents and problems).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupId>,
    /// Assignee (incidents and problems: the assignee; changes: the implementer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<ActorId>,
    /// Affected service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceId>,
    /// Affected configuration items.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cis: Vec<CiId>,
    /// When it was opened (decision time of the creating command).
    pub opened_at: DateTime<Utc>,
    /// When its latest event was recorded.
    pub updated_at: DateTime<Utc>,
    /// Kind-specific details and links.
    pub detail: ViewDetail,
}

impl RecordView {
    /// The incident's caller (`None` for problems and changes).
    pub fn caller(&self) -> Option<&ActorId> {
        match &self.detail {
            ViewDetail::Incident(i) => Some(&i.caller),
            ViewDetail::Problem(_) | ViewDetail::Change(_) => None,
        }
    }
}

/// Kind-specific part of a [`RecordView`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ViewDetail {
    /// An incident.
    Incident(IncidentDetail),
    /// A problem.
    Problem(ProblemDetail),
    /// A change.
    Change(ChangeDetail),
}

/// Incident details and links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct IncidentDetail {
    /// Who is affected.
    pub caller: ActorId,
    /// Why it is on hold, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<HoldReason>,
    /// Major-incident overlay status.
    pub major: MajorStatusKind,
    /// Revision of the published post-incident review, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_revision: Option<u32>,
    /// Alert correlation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<AlertInfo>,
    /// Parent incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<IncidentId>,
    /// Child incidents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<IncidentId>,
    /// Incidents canceled as duplicates of this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub duplicates: Vec<IncidentId>,
    /// The incident this one was canceled as a duplicate of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<IncidentId>,
    /// Linked problems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<ProblemId>,
    /// Changes recorded as its cause.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caused_by_changes: Vec<ChangeId>,
    /// Reassignments so far.
    pub reassignment_count: u32,
    /// Reopens so far.
    pub reopen_count: u32,
}

/// Problem details, known error and links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProblemDetail {
    /// The published known error, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_error: Option<KnownError>,
    /// Resolution code once resolved or closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<ResolutionCode>,
    /// Linked incidents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incidents: Vec<IncidentId>,
    /// Fixing changes with their outcome.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fixing_changes: BTreeMap<ChangeId, FixOutcome>,
}

/// Change details, schedule and links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChangeDetail {
    /// Standard, normal or emergency.
    pub change_type: ChangeType,
    /// Risk.
    pub risk: Risk,
    /// Who requested it.
    pub requester: ActorId,
    /// The planned window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_window: Option<TimeWindow>,
    /// The approved window (current approval round).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_window: Option<TimeWindow>,
    /// Its entry in the change calendar when scheduled or being implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booked: Option<ScheduledChange>,
    /// Who approved in the current round.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<ActorId>,
    /// Blocking conflicts accepted (with a reason, by someone allowed to schedule) for the
    /// current plan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted_conflicts: Vec<Conflict>,
    /// Problems it fixes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fixes_problems: Vec<ProblemId>,
    /// Incidents it caused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caused_incidents: Vec<IncidentId>,
}

impl RecordView {
    /// Derives the view of `state`.
    pub(crate) fn derive(
        state: &RecordState,
        number: Option<HumanNumber>,
        version: u64,
        position: u64,
        updated_at: DateTime<Utc>,
    ) -> Self {
        let record = state.record();
        let status = state.status();
        match state {
            RecordState::Incident(i) => RecordView {
                record,
                number,
                version,
                position,
                title: i.title.clone(),
                status,
                open: status.is_open(),
                priority: Some(i.priority),
                group: i.group.clone(),
                assignee: i.assignee.clone(),
                service: i.service.clone(),
                cis: i.cis.clone(),
                opened_at: i.opened_at,
                updated_at,
                detail: ViewDetail::Incident(IncidentDetail {
                    caller: i.caller.clone(),
                    hold: match &i.status {
                        IncidentStatus::OnHold { reason } => Some(reason.clone()),
                        IncidentStatus::New
                        | IncidentStatus::InProgress
                        | IncidentStatus::Resolved { .. }
                        | IncidentStatus::Closed
                        | IncidentStatus::Canceled { .. } => None,
                    },
                    major: i.major.status.kind(),
                    review_revision: i.major.review.as_ref().map(|r| r.revision),
                    alert: i.alert.clone(),
                    parent: i.parent,
                    children: i.children.iter().copied().collect(),
                    duplicates: i.duplicates.iter().copied().collect(),
                    duplicate_of: match &i.status {
                        IncidentStatus::Canceled {
                            reason: CancelReason::Duplicate { of },
                        } => Some(*of),
                        IncidentStatus::Canceled { .. }
                        | IncidentStatus::New
                        | IncidentStatus::InProgress
                        | IncidentStatus::OnHold { .. }
                        | IncidentStatus::Resolved { .. }
                        | IncidentStatus::Closed => None,
                    },
                    problems: i.problems.iter().copied().collect(),
                    caused_by_changes: i.caused_by_changes.iter().copied().collect(),
                    reassignment_count: i.reassignment_count,
                    reopen_count: i.reopen_count,
                }),
            },
            RecordState::Problem(p) => RecordView {
                record,
                number,
                version,
                position,
                title: p.title.clone(),
                status,
                open: status.is_open(),
                priority: Some(p.priority),
                group: p.group.clone(),
                assignee: p.assignee.clone(),
                service: p.service.clone(),
                cis: p.cis.iter().cloned().collect(),
                opened_at: p.opened_at,
                updated_at,
                detail: ViewDetail::Problem(ProblemDetail {
                    known_error: p.known_error.clone(),
                    resolution: p.status.code().cloned(),
                    incidents: p.incidents.iter().copied().collect(),
                    fixing_changes: p.fixing_changes.clone(),
                }),
            },
            RecordState::Change(c) => RecordView {
                record,
                number,
                version,
                position,
                title: c.title.clone(),
                status,
                open: status.is_open(),
                priority: None,
                group: None,
                assignee: c.assignee.clone(),
                service: None,
                cis: c.cis.iter().cloned().collect(),
                opened_at: c.requested_at,
                updated_at,
                detail: ViewDetail::Change(ChangeDetail {
                    change_type: c.change_type.clone(),
                    risk: c.risk,
                    requester: c.requester.clone(),
                    planned_window: c.planned_window,
                    approved_window: c.approved_window,
                    booked: c.schedule_entry(),
                    approvers: c.approvers(),
                    accepted_conflicts: c
                        .accepted_conflicts
                        .iter()
                        .flat_map(|a| a.conflicts.iter().cloned())
                        .collect(),
                    fixes_problems: c.fixes_problems.iter().copied().collect(),
                    caused_incidents: c.caused_incidents.iter().copied().collect(),
                }),
            },
        }
    }

    /// The incident details, if this is an incident.
    pub fn incident(&self) -> Option<&IncidentDetail> {
        match &self.detail {
            ViewDetail::Incident(d) => Some(d),
            ViewDetail::Problem(_) | ViewDetail::Change(_) => None,
        }
    }

    /// The problem details, if this is a problem.
    pub fn problem(&self) -> Option<&ProblemDetail> {
        match &self.detail {
            ViewDetail::Problem(d) => Some(d),
            ViewDetail::Incident(_) | ViewDetail::Change(_) => None,
        }
    }

    /// The change details, if this is a change.
    pub fn change(&self) -> Option<&ChangeDetail> {
        match &self.detail {
            ViewDetail::Change(d) => Some(d),
            ViewDetail::Incident(_) | ViewDetail::Problem(_) => None,
        }
    }

    /// Where the change sits in the calendar: its approved window when booked, else its
    /// planned window while it is still being prepared or authorised.
    pub(crate) fn calendar_window(&self) -> Option<TimeWindow> {
        let d = self.change()?;
        if let Some(b) = &d.booked {
            return Some(b.window);
        }
        match self.status {
            RecordStatus::Change(
                ChangeStatusKind::New | ChangeStatusKind::Assess | ChangeStatusKind::Authorize,
            ) => d.planned_window,
            RecordStatus::Change(
                ChangeStatusKind::Scheduled
                | ChangeStatusKind::Implement
                | ChangeStatusKind::Review
                | ChangeStatusKind::Closed
                | ChangeStatusKind::Canceled,
            )
            | RecordStatus::Incident(_)
            | RecordStatus::Problem(_) => None,
        }
    }

    /// Whether the problem is resolved or closed (for KEDB filters).
    pub(crate) fn problem_status(&self) -> Option<ProblemStatusKind> {
        match self.status {
            RecordStatus::Problem(s) => Some(s),
            RecordStatus::Incident(_) | RecordStatus::Change(_) => None,
        }
    }
}
