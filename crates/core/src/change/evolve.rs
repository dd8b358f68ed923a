//! `evolve`: folds one event into the record. Total: never fails, never panics; events that do
//! not apply (another record's, a second `change.requested`, anything before the request, an
//! approval for another round) leave the state as it is.

use super::event::ChangeEvent;
use super::state::{
    Approval, ApprovalDecision, Change, ChangeStatus, ChangeType, ConflictAcceptance, WorkNote,
};
use std::collections::BTreeMap;

pub(super) fn evolve(state: Option<Change>, event: &ChangeEvent) -> Option<Change> {
    match state {
        None => created(event),
        Some(change) if change.id != event.id() => Some(change),
        Some(change) => Some(apply(change, event)),
    }
}

fn created(event: &ChangeEvent) -> Option<Change> {
    match event {
        ChangeEvent::Requested {
            id,
            title,
            description,
            change_type,
            risk,
            cis,
            implementation_plan,
            backout_plan,
            test_plan,
            assignee,
            policy_version,
            at,
            by,
        } => Some(Change {
            id: *id,
            title: title.clone(),
            description: description.clone(),
            change_type: change_type.clone(),
            status: ChangeStatus::New,
            requester: by.clone(),
            assignee: assignee.clone(),
            cis: cis.clone(),
            risk: *risk,
            implementation_plan: implementation_plan.clone(),
            backout_plan: backout_plan.clone(),
            test_plan: test_plan.clone(),
            planned_window: None,
            approved_window: None,
            approvals: BTreeMap::new(),
            approval_round: 1,
            fixes_problems: Default::default(),
            caused_incidents: Default::default(),
            accepted_conflicts: Vec::new(),
            schedule_warnings: Vec::new(),
            schedule_warnings_omitted: 0,
            work_notes: Vec::new(),
            requested_at: *at,
            policy_version: *policy_version,
            submitted_at: None,
            authorized_at: None,
            scheduled_at: None,
            implement_started_at: None,
            implemented_at: None,
            closed_at: None,
            canceled_at: None,
        }),
        ChangeEvent::Updated { .. }
        | ChangeEvent::Planned { .. }
        | ChangeEvent::Submitted { .. }
        | ChangeEvent::AuthorizationRequested { .. }
        | ChangeEvent::Approved { .. }
        | ChangeEvent::Authorized { .. }
        | ChangeEvent::Scheduled { .. }
        | ChangeEvent::Rejected { .. }
        | ChangeEvent::RevertedToNew { .. }
        | ChangeEvent::ImplementationStarted { .. }
        | ChangeEvent::Implemented { .. }
        | ChangeEvent::Closed { .. }
        | ChangeEvent::Canceled { .. }
        | ChangeEvent::ProblemLinked { .. }
        | ChangeEvent::CausedIncidentRecorded { .. }
        | ChangeEvent::WorkNoteAdded { .. } => None,
    }
}

/// Back to New with a fresh approval round: the round's decisions and its authorisation are
/// void, the planned window (and conflicts accepted for it) stays.
fn new_round(c: &mut Change) {
    c.status = ChangeStatus::New;
    c.approvals.clear();
    c.approval_round = c.approval_round.saturating_add(1);
    c.approved_window = None;
    c.authorized_at = None;
    c.scheduled_at = None;
}

fn apply(mut c: Change, event: &ChangeEvent) -> Change {
    match event {
        ChangeEvent::Requested { .. } => {}
        ChangeEvent::Updated {
            title,
            description,
            change_type,
            risk,
            cis,
            implementation_plan,
            backout_plan,
            test_plan,
            ..
        } => {
            if let Some(v) = title {
                c.title = v.clone();
            }
            if let Some(v) = description {
                c.description = v.clone();
            }
            if let Some(v) = change_type {
                c.change_type = v.clone();
            }
            if let Some(v) = risk {
                c.risk = *v;
            }
            if let Some(v) = cis {
                c.cis = v.clone();
            }
            if let Some(v) = implementation_plan {
                c.implementation_plan = v.clone();
            }
            if let Some(v) = backout_plan {
                c.backout_plan = v.clone();
            }
            if let Some(v) = test_plan {
                c.test_plan = v.clone();
            }
        }
        ChangeEvent::Planned {
            window,
            assignee,
            warnings,
            warnings_omitted,
            accepted,
            ..
        } => {
            c.planned_window = Some(*window);
            if let Some(a) = assignee {
                c.assignee = Some(a.clone());
            }
            c.schedule_warnings = warnings.clone();
            c.schedule_warnings_omitted = *warnings_omitted;
            c.accepted_conflicts = accepted
                .iter()
                .cloned()
                .collect::<Vec<ConflictAcceptance>>();
        }
        ChangeEvent::Submitted { at, .. } => {
            c.submitted_at.get_or_insert(*at);
            match c.change_type {
                ChangeType::Normal => c.status = ChangeStatus::Assess,
                ChangeType::Emergency => c.status = ChangeStatus::Authorize,
                // Moved by the `change.scheduled` event decided together with this one.
                ChangeType::Standard { .. } => {}
            }
        }
        ChangeEvent::AuthorizationRequested { .. } => c.status = ChangeStatus::Authorize,
        ChangeEvent::Approved {
            round,
            comment,
            at,
            by,
            ..
        } => {
            if *round == c.approval_round {
                c.approvals.insert(
                    by.clone(),
                    Approval {
                        decision: ApprovalDecision::Approved {
                            comment: comment.clone(),
                        },
                        at: *at,
                    },
                );
            }
        }
        ChangeEvent::Authorized { round, at, .. } => {
            if *round == c.approval_round {
                c.authorized_at = Some(*at);
            }
        }
        ChangeEvent::Scheduled {
            window,
            warnings,
            warnings_omitted,
            accepted,
            at,
            ..
        } => {
            c.status = ChangeStatus::Scheduled;
            c.approved_window = Some(*window);
            c.scheduled_at = Some(*at);
            c.schedule_warnings = warnings.clone();
            c.schedule_warnings_omitted = *warnings_omitted;
            c.accepted_conflicts.extend(accepted.iter().cloned());
        }
        ChangeEvent::Rejected { .. } | ChangeEvent::RevertedToNew { .. } => new_round(&mut c),
        ChangeEvent::ImplementationStarted { at, .. } => {
            c.status = ChangeStatus::Implement;
            c.implement_started_at = Some(*at);
        }
        ChangeEvent::Implemented { at, .. } => {
            c.status = ChangeStatus::Review;
            c.implemented_at = Some(*at);
        }
        ChangeEvent::Closed { code, at, .. } => {
            c.status = ChangeStatus::Closed { code: code.clone() };
            c.closed_at = Some(*at);
        }
        ChangeEvent::Canceled { reason, at, .. } => {
            c.status = ChangeStatus::Canceled {
                reason: reason.clone(),
            };
            c.canceled_at = Some(*at);
        }
        ChangeEvent::ProblemLinked { problem, .. } => {
            c.fixes_problems.insert(*problem);
        }
        ChangeEvent::CausedIncidentRecorded { incident, .. } => {
            c.caused_incidents.insert(*incident);
        }
        ChangeEvent::WorkNoteAdded { note, at, by, .. } => c.work_notes.push(WorkNote {
            note: note.clone(),
            by: by.clone(),
            at: *at,
        }),
    }
    c
}
