//! Schedule-conflict detection: a pure function over a candidate change, the scheduled changes,
//! maintenance and blackout windows, CIs (with their parents and children) and assignees.
//!
//! The ten reasons of ServiceNow's conflict checker map onto [`Conflict`] as follows: "CI /
//! parent CI / child CI already scheduled" is [`Conflict::CiAlreadyScheduled`] with
//! [`CiLink::Affected`] / [`CiLink::Parent`] / [`CiLink::Child`]; the three "not in maintenance
//! window" and the three "in blackout" reasons are [`Conflict::OutsideMaintenanceWindow`] and
//! [`Conflict::InsideBlackout`] with the same three links; "assigned to is already scheduled" is
//! [`Conflict::AssigneeDoubleBooked`]. The CI graph is not part of the core: the caller (the
//! engine, from its CMDB view) passes the parent/child edges it knows as [`CiRelation`]s; with
//! none, only the affected CIs themselves are checked.

use crate::ids::{ActorId, ChangeId, CiId};
use crate::policy::Policy;
use crate::window::{NamedWindow, TimeWindow};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// How the CI where a clash was found relates to one of the candidate's affected CIs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CiLink {
    /// The CI is one the change itself affects.
    Affected,
    /// The CI is a parent of an affected CI (for example the cluster hosting it).
    Parent,
    /// The CI is a child of an affected CI (for example a database running on it).
    Child,
}

/// One parent -> child edge of the caller's CI graph. Only edges touching one of the
/// candidate's affected CIs matter; one level is followed (no transitive closure), as in
/// ServiceNow.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct CiRelation {
    /// The parent (hosting, containing) CI.
    pub parent: CiId,
    /// The child (hosted, contained) CI.
    pub child: CiId,
}

/// One reason a planned change clashes with the calendar.
///
/// The derived order (variant, then fields) is the order [`detect_conflicts`] returns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Conflict {
    /// Another scheduled change touches the same CI (or a parent or child of an affected CI)
    /// in an overlapping window. Blocking.
    CiAlreadyScheduled {
        /// The CI both changes touch.
        ci: CiId,
        /// The candidate's affected CI that `ci` relates to (equal to `ci` for `affected`).
        affected: CiId,
        /// How `ci` relates to `affected`.
        link: CiLink,
        /// The other change.
        other: ChangeId,
        /// Its window.
        other_window: TimeWindow,
    },
    /// Maintenance windows exist for this CI, and the change's window is not inside them.
    /// Not blocking: recorded as a warning.
    OutsideMaintenanceWindow {
        /// The CI whose maintenance windows the change misses.
        ci: CiId,
        /// The candidate's affected CI that `ci` relates to.
        affected: CiId,
        /// How `ci` relates to `affected`.
        link: CiLink,
    },
    /// The change's window overlaps a blackout window covering this CI. Blocking.
    InsideBlackout {
        /// The CI the blackout covers.
        ci: CiId,
        /// The candidate's affected CI that `ci` relates to.
        affected: CiId,
        /// How `ci` relates to `affected`.
        link: CiLink,
        /// The blackout window's name.
        blackout: String,
    },
    /// The assignee is already booked on another change in an overlapping window.
    /// Not blocking: recorded as a warning.
    AssigneeDoubleBooked {
        /// The assignee.
        assignee: ActorId,
        /// The other change.
        other: ChangeId,
        /// Its window.
        other_window: TimeWindow,
    },
}

impl Conflict {
    /// Whether the conflict refuses the schedule unless explicitly accepted: a CI clash with
    /// another change and a blackout are; a missed maintenance window and a double-booked
    /// assignee are warnings only.
    pub fn is_blocking(&self) -> bool {
        match self {
            Conflict::CiAlreadyScheduled { .. } | Conflict::InsideBlackout { .. } => true,
            Conflict::OutsideMaintenanceWindow { .. } | Conflict::AssigneeDoubleBooked { .. } => {
                false
            }
        }
    }
}

/// The change whose window is being checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleCandidate {
    /// The change (calendar entries with this id are the change itself and are skipped).
    pub id: ChangeId,
    /// The window to check.
    pub window: TimeWindow,
    /// The CIs the change affects.
    pub cis: BTreeSet<CiId>,
    /// Who implements it, if known.
    pub assignee: Option<ActorId>,
    /// Parent/child edges of the CI graph around `cis`, as far as the caller knows them.
    #[serde(default)]
    pub ci_relations: Vec<CiRelation>,
}

/// One entry of the change calendar: a change already scheduled (or being implemented) in a
/// window. The engine builds the calendar from its read model (see
/// [`Change::schedule_entry`](crate::change::Change::schedule_entry)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduledChange {
    /// The scheduled change.
    pub id: ChangeId,
    /// Its approved window.
    pub window: TimeWindow,
    /// The CIs it affects.
    pub cis: BTreeSet<CiId>,
    /// Who implements it, if known.
    pub assignee: Option<ActorId>,
}

/// Every conflict between `candidate` and the calendar, the maintenance windows and the
/// blackout windows of `policy`, sorted and without duplicates.
///
/// Rules (windows are half-open, so a window ending at 10:00 and one starting at 10:00 do not
/// overlap):
/// - a window with `start >= end` (the candidate's, a calendar entry's or a policy window's) is
///   empty: it overlaps and covers nothing, so an empty candidate window has no conflict;
/// - calendar entries with the candidate's own id are skipped;
/// - each affected CI is checked together with its parents and children from
///   `candidate.ci_relations` (self-edges ignored);
/// - maintenance: a CI with no maintenance window in scope is unconstrained; a CI with at least
///   one must have the candidate window covered by the union of them (adjacent windows join);
/// - blackout: one conflict per blackout window in scope that overlaps the candidate window;
/// - assignee: one conflict per overlapping calendar entry with the same assignee.
pub fn detect_conflicts(
    candidate: &ScheduleCandidate,
    scheduled: &[ScheduledChange],
    policy: &Policy,
) -> Vec<Conflict> {
    let window = candidate.window;
    if !window.is_valid() {
        return Vec::new();
    }
    let others: Vec<&ScheduledChange> = scheduled
        .iter()
        .filter(|s| s.id != candidate.id && s.window.is_valid() && s.window.overlaps(&window))
        .collect();
    let mut found = BTreeSet::new();

    for (ci, affected, link) in related_cis(candidate) {
        for other in &others {
            if other.cis.contains(ci) {
                found.insert(Conflict::CiAlreadyScheduled {
                    ci: ci.clone(),
                    affected: affected.clone(),
                    link,
                    other: other.id,
                    other_window: other.window,
                });
            }
        }
        let maintenance = in_scope(&policy.maintenance_windows, ci);
        if !maintenance.is_empty() && !union_covers(&maintenance, &window) {
            found.insert(Conflict::OutsideMaintenanceWindow {
                ci: ci.clone(),
                affected: affected.clone(),
                link,
            });
        }
        for blackout in &policy.blackout_windows {
            if blackout.window.is_valid()
                && blackout.scope.includes(ci)
                && blackout.window.overlaps(&window)
            {
                found.insert(Conflict::InsideBlackout {
                    ci: ci.clone(),
                    affected: affected.clone(),
                    link,
                    blackout: blackout.name.clone(),
                });
            }
        }
    }

    if let Some(assignee) = &candidate.assignee {
        for other in &others {
            if other.assignee.as_ref() == Some(assignee) {
                found.insert(Conflict::AssigneeDoubleBooked {
                    assignee: assignee.clone(),
                    other: other.id,
                    other_window: other.window,
                });
            }
        }
    }
    found.into_iter().collect()
}

/// (CI to check, affected CI it stems from, link) for every affected CI and its one-level
/// parents and children.
fn related_cis(candidate: &ScheduleCandidate) -> BTreeSet<(&CiId, &CiId, CiLink)> {
    let mut out = BTreeSet::new();
    for ci in &candidate.cis {
        out.insert((ci, ci, CiLink::Affected));
        for edge in &candidate.ci_relations {
            if edge.parent == edge.child {
                continue;
            }
            if &edge.child == ci {
                out.insert((&edge.parent, ci, CiLink::Parent));
            }
            if &edge.parent == ci {
                out.insert((&edge.child, ci, CiLink::Child));
            }
        }
    }
    out
}

fn in_scope(windows: &[NamedWindow], ci: &CiId) -> Vec<TimeWindow> {
    windows
        .iter()
        .filter(|w| w.window.is_valid() && w.scope.includes(ci))
        .map(|w| w.window)
        .collect()
}

/// Whether the union of `windows` covers all of `target` (a sweep over windows sorted by start).
fn union_covers(windows: &[TimeWindow], target: &TimeWindow) -> bool {
    let mut sorted = windows.to_vec();
    sorted.sort();
    let mut reached = target.start;
    for w in sorted {
        if w.start > reached {
            break;
        }
        if w.end > reached {
            reached = w.end;
        }
        if reached >= target.end {
            return true;
        }
    }
    reached >= target.end
}
