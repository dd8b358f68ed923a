//! Schedule-conflict detection: a pure function over a candidate change, the scheduled changes,
//! maintenance and blackout windows, CIs (with their parents and children) and assignees.
//!
//! The ten reasons of ServiceNow's conflict checker map onto [`Conflict`] as follows: "CI /
//! parent CI / child CI already scheduled" is [`Conflict::CiAlreadyScheduled`] with
//! [`CiLink::Affected`] / [`CiLink::Parent`] / [`CiLink::Child`]; the three "not in maintenance
//! window" and the three "in blackout" reasons are [`Conflict::OutsideMaintenanceWindow`] and
//! [`Conflict::InsideBlackout`] with the same three links; "assigned to is already scheduled" is
//! [`Conflict::AssigneeDoubleBooked`]; a freeze over every CI also stops a change naming no CI
//! ([`Conflict::InsideGlobalBlackout`]). The CI graph is not part of the core: the caller (the
//! engine, from its CMDB view) passes the parent/child edges it knows as [`CiRelation`]s; with
//! none, only the affected CIs themselves are checked.

use crate::ids::{ActorId, ChangeId, CiId};
use crate::policy::Policy;
use crate::window::{CiScope, NamedWindow, TimeWindow};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

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
    /// The change names no CI and its window overlaps a blackout window scoped to every CI
    /// (a change naming CIs gets [`Conflict::InsideBlackout`] per CI instead). Blocking.
    InsideGlobalBlackout {
        /// The blackout window's name.
        blackout: String,
    },
}

impl Conflict {
    /// Whether the conflict refuses the schedule unless explicitly accepted: a CI clash with
    /// another change and a blackout are; a missed maintenance window and a double-booked
    /// assignee are warnings only.
    pub fn is_blocking(&self) -> bool {
        match self {
            Conflict::CiAlreadyScheduled { .. }
            | Conflict::InsideBlackout { .. }
            | Conflict::InsideGlobalBlackout { .. } => true,
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

/// The most conflicts a decision reports (in an error, an event or an acceptance). A schedule
/// can clash in far more ways than anyone can read; past this many, the count says how many.
pub const MAX_REPORTED_CONFLICTS: usize = 100;

/// The first conflicts of a check, in order, and how many there are in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConflictReport {
    /// The smallest `max` conflicts, in the order [`detect_conflicts`] uses.
    pub conflicts: Vec<Conflict>,
    /// How many conflicts were found in all (`conflicts.len()` when none was left out).
    pub total: usize,
}

impl ConflictReport {
    /// How many conflicts were found but not listed.
    pub fn omitted(&self) -> usize {
        self.total.saturating_sub(self.conflicts.len())
    }
}

/// Keeps the `max` smallest of a stream of distinct conflicts and counts them all, in memory
/// bounded by `max` whatever the stream's length.
#[derive(Debug)]
pub(super) struct Capped {
    max: usize,
    kept: BTreeSet<Conflict>,
    total: usize,
}

impl Capped {
    pub(super) fn new(max: usize) -> Self {
        Self {
            max,
            kept: BTreeSet::new(),
            total: 0,
        }
    }

    pub(super) fn push(&mut self, conflict: Conflict) {
        self.total = self.total.saturating_add(1);
        self.kept.insert(conflict);
        if self.kept.len() > self.max {
            self.kept.pop_last();
        }
    }

    pub(super) fn total(&self) -> usize {
        self.total
    }

    pub(super) fn finish(self) -> ConflictReport {
        ConflictReport {
            conflicts: self.kept.into_iter().collect(),
            total: self.total,
        }
    }
}

/// Every conflict between `candidate` and the calendar, the maintenance windows and the
/// blackout windows of `policy`, sorted and without duplicates.
///
/// Rules (windows are half-open, so a window ending at 10:00 and one starting at 10:00 do not
/// overlap):
/// - a window with `start >= end` (the candidate's, a calendar entry's or a policy window's) is
///   empty: it overlaps and covers nothing, so an empty candidate window has no conflict;
/// - calendar entries with the candidate's own id are skipped; entries repeated in the
///   calendar (same change, same window) count once;
/// - each affected CI is checked together with its parents and children from
///   `candidate.ci_relations` (self-edges ignored);
/// - maintenance: a CI with no maintenance window in scope is unconstrained; a CI with at least
///   one must have the candidate window covered by the union of them (adjacent windows join);
/// - blackout: one conflict per blackout name in scope that overlaps the candidate window; a
///   blackout scoped to every CI (`CiScope::All`) applies to a change naming no CI too, as
///   [`Conflict::InsideGlobalBlackout`] (a freeze freezes everything);
/// - assignee: one conflict per overlapping calendar entry with the same assignee.
///
/// The list is as long as the input makes it; on input from outside, prefer
/// [`detect_conflicts_bounded`], which holds at most `max` conflicts in memory.
pub fn detect_conflicts(
    candidate: &ScheduleCandidate,
    scheduled: &[ScheduledChange],
    policy: &Policy,
) -> Vec<Conflict> {
    let mut found = BTreeSet::new();
    each_conflict(candidate, scheduled, policy, |c| {
        found.insert(c);
    });
    found.into_iter().collect()
}

/// The first `max` conflicts of [`detect_conflicts`] (same rules, same order) and their total
/// count, in memory bounded by `max` plus the size of the input.
pub fn detect_conflicts_bounded(
    candidate: &ScheduleCandidate,
    scheduled: &[ScheduledChange],
    policy: &Policy,
    max: usize,
) -> ConflictReport {
    let mut capped = Capped::new(max);
    each_conflict(candidate, scheduled, policy, |c| capped.push(c));
    capped.finish()
}

/// Calls `emit` once per distinct conflict (in no particular order).
pub(super) fn each_conflict(
    candidate: &ScheduleCandidate,
    scheduled: &[ScheduledChange],
    policy: &Policy,
    mut emit: impl FnMut(Conflict),
) {
    let window = candidate.window;
    if !window.is_valid() {
        return;
    }
    // Overlapping calendar entries, grouped by (change, window) so that a repeated entry
    // counts once; `by_ci` indexes them by the CIs they touch.
    let mut others: BTreeMap<(ChangeId, TimeWindow), BTreeSet<&ActorId>> = BTreeMap::new();
    let mut by_ci: BTreeMap<&CiId, BTreeSet<(ChangeId, TimeWindow)>> = BTreeMap::new();
    for s in scheduled {
        if s.id == candidate.id || !s.window.is_valid() || !s.window.overlaps(&window) {
            continue;
        }
        let key = (s.id, s.window);
        let assignees = others.entry(key).or_default();
        assignees.extend(s.assignee.as_ref());
        for ci in &s.cis {
            by_ci.entry(ci).or_default().insert(key);
        }
    }
    let blackouts: Vec<&NamedWindow> = policy
        .blackout_windows
        .iter()
        .filter(|b| !b.occurrences(&window).is_empty())
        .collect();
    // Each maintenance window is expanded once (weekly ones can have many occurrences), not
    // once per CI.
    let maintenance: Vec<(&NamedWindow, Vec<TimeWindow>)> = policy
        .maintenance_windows
        .iter()
        .filter(|w| w.can_occur())
        .map(|w| (w, w.occurrences(&window)))
        .collect();

    for (ci, affected, link) in related_cis(candidate) {
        for (other, other_window) in by_ci.get(ci).into_iter().flatten() {
            emit(Conflict::CiAlreadyScheduled {
                ci: ci.clone(),
                affected: affected.clone(),
                link,
                other: *other,
                other_window: *other_window,
            });
        }
        let mut has_maintenance = false;
        let mut covering = Vec::new();
        for (w, occurrences) in &maintenance {
            if w.scope.includes(ci) {
                has_maintenance = true;
                covering.extend_from_slice(occurrences);
            }
        }
        if has_maintenance && !union_covers(&covering, &window) {
            emit(Conflict::OutsideMaintenanceWindow {
                ci: ci.clone(),
                affected: affected.clone(),
                link,
            });
        }
        let names: BTreeSet<&str> = blackouts
            .iter()
            .filter(|b| b.scope.includes(ci))
            .map(|b| b.name.as_str())
            .collect();
        for name in names {
            emit(Conflict::InsideBlackout {
                ci: ci.clone(),
                affected: affected.clone(),
                link,
                blackout: name.to_owned(),
            });
        }
    }

    if candidate.cis.is_empty() {
        let global: BTreeSet<&str> = blackouts
            .iter()
            .filter(|b| b.scope == CiScope::All)
            .map(|b| b.name.as_str())
            .collect();
        for name in global {
            emit(Conflict::InsideGlobalBlackout {
                blackout: name.to_owned(),
            });
        }
    }

    if let Some(assignee) = &candidate.assignee {
        for ((other, other_window), assignees) in &others {
            if assignees.contains(assignee) {
                emit(Conflict::AssigneeDoubleBooked {
                    assignee: assignee.clone(),
                    other: *other,
                    other_window: *other_window,
                });
            }
        }
    }
}

/// (CI to check, affected CI it stems from, link) for every affected CI and its one-level
/// parents and children. Indexed, so the work grows with CIs plus edges, not their product.
fn related_cis(candidate: &ScheduleCandidate) -> BTreeSet<(&CiId, &CiId, CiLink)> {
    let mut parents: BTreeMap<&CiId, BTreeSet<&CiId>> = BTreeMap::new();
    let mut children: BTreeMap<&CiId, BTreeSet<&CiId>> = BTreeMap::new();
    for edge in &candidate.ci_relations {
        if edge.parent == edge.child {
            continue;
        }
        parents.entry(&edge.child).or_default().insert(&edge.parent);
        children
            .entry(&edge.parent)
            .or_default()
            .insert(&edge.child);
    }
    let mut out = BTreeSet::new();
    for ci in &candidate.cis {
        out.insert((ci, ci, CiLink::Affected));
        for parent in parents.get(ci).into_iter().flatten() {
            out.insert((*parent, ci, CiLink::Parent));
        }
        for child in children.get(ci).into_iter().flatten() {
            out.insert((*child, ci, CiLink::Child));
        }
    }
    out
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
