//! `evolve`: folds one event into the state. Total: an event that does not apply (another
//! incident's, an out-of-order status change) leaves the state as it is.

use super::event::IncidentEvent;
use super::state::{
    AlertInfo, Escalation, Incident, IncidentStatus, IncidentStatusKind, MajorOverlay, MajorStatus,
    MajorStatusKind, PublishedReview, Resolution,
};
use std::collections::BTreeSet;

pub(crate) fn evolve(state: Option<Incident>, event: &IncidentEvent) -> Option<Incident> {
    match state {
        None => opened(event),
        Some(incident) if incident.id != event.id() => Some(incident),
        Some(incident) => Some(apply(incident, event)),
    }
}

fn opened(event: &IncidentEvent) -> Option<Incident> {
    match event {
        IncidentEvent::Opened {
            id,
            title,
            description,
            caller,
            impact,
            urgency,
            priority,
            service,
            cis,
            group,
            assignee,
            alert,
            policy_version,
            at,
            ..
        } => Some(Incident {
            id: *id,
            title: title.clone(),
            description: description.clone(),
            caller: caller.clone(),
            status: IncidentStatus::New,
            impact: *impact,
            urgency: *urgency,
            priority: *priority,
            service: service.clone(),
            cis: cis.clone(),
            group: group.clone(),
            assignee: assignee.clone(),
            reassignment_count: 0,
            reopen_count: 0,
            escalation: Escalation::default(),
            major: MajorOverlay::default(),
            parent: None,
            children: BTreeSet::new(),
            duplicates: BTreeSet::new(),
            alert: alert.as_ref().map(|a| AlertInfo {
                dedup_key: a.dedup_key.clone(),
                source: a.source.clone(),
                alert_count: 1,
                first_seen: a.seen_at,
                last_seen: a.seen_at,
            }),
            problems: BTreeSet::new(),
            caused_by_changes: BTreeSet::new(),
            impact_started_at: None,
            detected_at: None,
            opened_at: *at,
            policy_version: *policy_version,
            acknowledged_at: None,
            resolved_at: None,
            closed_at: None,
            canceled_at: None,
            resolution: None,
            work_note_count: 0,
            comment_count: 0,
            updated_at: *at,
        }),
        IncidentEvent::Acknowledged { .. }
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
        | IncidentEvent::WorkNoteAdded { .. }
        | IncidentEvent::CommentAdded { .. } => None,
    }
}

/// Whether the status is one of `kinds`.
fn in_status(incident: &Incident, kinds: &[IncidentStatusKind]) -> bool {
    kinds.contains(&incident.status.kind())
}

const OPEN: &[IncidentStatusKind] = &[
    IncidentStatusKind::New,
    IncidentStatusKind::InProgress,
    IncidentStatusKind::OnHold,
];

fn apply(mut inc: Incident, event: &IncidentEvent) -> Incident {
    use IncidentStatusKind as K;
    let applied = match event {
        // A second "opened" for an existing record is not a fact about it.
        IncidentEvent::Opened { .. } => false,
        IncidentEvent::Acknowledged { at, .. } => {
            if in_status(&inc, &[K::New]) {
                inc.status = IncidentStatus::InProgress;
                inc.acknowledged_at.get_or_insert(*at);
                true
            } else {
                false
            }
        }
        IncidentEvent::Assigned {
            group, assignee, ..
        } => {
            inc.group = group.clone();
            inc.assignee = assignee.clone();
            true
        }
        IncidentEvent::Reassigned {
            group, assignee, ..
        } => {
            inc.group = group.clone();
            inc.assignee = assignee.clone();
            inc.reassignment_count = inc.reassignment_count.saturating_add(1);
            true
        }
        IncidentEvent::PutOnHold { reason, .. } => {
            if in_status(&inc, &[K::InProgress, K::OnHold]) {
                inc.status = IncidentStatus::OnHold {
                    reason: reason.clone(),
                };
                true
            } else {
                false
            }
        }
        IncidentEvent::Resumed { .. } => {
            if in_status(&inc, &[K::OnHold]) {
                inc.status = IncidentStatus::InProgress;
                true
            } else {
                false
            }
        }
        IncidentEvent::Resolved {
            code,
            notes,
            source,
            at,
            by,
            ..
        } => {
            if in_status(&inc, OPEN) {
                inc.status = IncidentStatus::Resolved {
                    code: *code,
                    notes: notes.clone(),
                };
                inc.resolution = Some(Resolution {
                    code: *code,
                    notes: notes.clone(),
                    source: source.clone(),
                    by: by.clone(),
                });
                inc.resolved_at = Some(*at);
                true
            } else {
                false
            }
        }
        IncidentEvent::Reopened { at, .. } => {
            if in_status(&inc, &[K::Resolved]) {
                // The rejected resolution stays in the log; the record shows the live one only.
                // Nobody owned a child its parent resolved from New: it goes back to the queue.
                inc.status = if inc.acknowledged_at.is_some() {
                    IncidentStatus::InProgress
                } else {
                    IncidentStatus::New
                };
                if inc.major.review.is_some() {
                    inc.major.review_required_since = Some(*at);
                }
                inc.resolution = None;
                inc.resolved_at = None;
                inc.reopen_count = inc.reopen_count.saturating_add(1);
                true
            } else {
                false
            }
        }
        IncidentEvent::Closed { at, .. } | IncidentEvent::AutoClosed { at, .. } => {
            if in_status(&inc, &[K::Resolved]) {
                inc.status = IncidentStatus::Closed;
                inc.closed_at = Some(*at);
                true
            } else {
                false
            }
        }
        IncidentEvent::Canceled { reason, at, .. } => {
            if in_status(&inc, OPEN) {
                inc.status = IncidentStatus::Canceled {
                    reason: reason.clone(),
                };
                inc.canceled_at = Some(*at);
                true
            } else {
                false
            }
        }
        IncidentEvent::Reprioritized {
            impact,
            urgency,
            priority,
            ..
        } => {
            inc.impact = *impact;
            inc.urgency = *urgency;
            inc.priority = *priority;
            true
        }
        IncidentEvent::EscalatedFunctionally { to_group, tier, .. } => {
            inc.group = Some(to_group.clone());
            inc.assignee = None;
            inc.escalation.functional_tier = *tier;
            inc.reassignment_count = inc.reassignment_count.saturating_add(1);
            true
        }
        IncidentEvent::EscalatedHierarchically { to, level, .. } => {
            inc.escalation.hierarchical_level = *level;
            inc.escalation.hierarchical_to = Some(to.clone());
            true
        }
        IncidentEvent::MajorProposed { reason, .. } => {
            let from = inc.major.status.kind();
            if from == MajorStatusKind::NotMajor || from == MajorStatusKind::Rejected {
                inc.major.status = MajorStatus::Proposed {
                    reason: reason.clone(),
                };
                true
            } else {
                false
            }
        }
        IncidentEvent::MajorAccepted { .. } => {
            if inc.major.status.kind() == MajorStatusKind::Proposed {
                inc.major.status = MajorStatus::Accepted;
                true
            } else {
                false
            }
        }
        IncidentEvent::MajorRejected { reason, .. } => {
            if inc.major.status.kind() == MajorStatusKind::Proposed {
                inc.major.status = MajorStatus::Rejected {
                    reason: reason.clone(),
                };
                true
            } else {
                false
            }
        }
        IncidentEvent::ReviewPublished {
            summary,
            findings,
            action_items,
            revision,
            at,
            by,
            ..
        } => {
            inc.major.review = Some(PublishedReview {
                summary: summary.clone(),
                findings: findings.clone(),
                action_items: action_items.clone(),
                revision: *revision,
                published_at: *at,
                published_by: by.clone(),
            });
            inc.major.review_required_since = None;
            true
        }
        IncidentEvent::ParentLinked { parent, .. } => {
            inc.parent = Some(*parent);
            true
        }
        IncidentEvent::ChildLinked { child, .. } => inc.children.insert(*child),
        IncidentEvent::DuplicateLinked { duplicate, .. } => inc.duplicates.insert(*duplicate),
        // An alert that joined through the service is recorded; the counters stay those of the
        // incident's own alert.
        IncidentEvent::AlertCorrelated { via: Some(_), .. } => in_status(&inc, OPEN),
        IncidentEvent::AlertCorrelated {
            seen_at, via: None, ..
        } => match inc.alert.as_mut() {
            None => false,
            Some(alert) => {
                alert.alert_count = alert.alert_count.saturating_add(1);
                // Repeats may arrive out of order: keep the envelope, not the latest arrival.
                alert.first_seen = alert.first_seen.min(*seen_at);
                alert.last_seen = alert.last_seen.max(*seen_at);
                true
            }
        },
        IncidentEvent::ImpactStartRecorded { occurred_at, .. } => {
            inc.impact_started_at = Some(*occurred_at);
            true
        }
        IncidentEvent::DetectionRecorded { occurred_at, .. } => {
            inc.detected_at = Some(*occurred_at);
            true
        }
        IncidentEvent::ProblemLinked { problem, .. } => inc.problems.insert(*problem),
        IncidentEvent::CausingChangeLinked { change, .. } => inc.caused_by_changes.insert(*change),
        IncidentEvent::WorkNoteAdded { .. } => {
            inc.work_note_count = inc.work_note_count.saturating_add(1);
            true
        }
        IncidentEvent::CommentAdded { .. } => {
            inc.comment_count = inc.comment_count.saturating_add(1);
            true
        }
    };
    if applied {
        inc.updated_at = event.at();
    }
    inc
}
