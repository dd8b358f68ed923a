//! The change calendar: changes booked into their approved window (scheduled or being
//! implemented) and changes still being prepared or authorised with a planned window, each
//! with the conflicts the core's `detect_conflicts` finds against the booked ones.

use super::get_view;
use super::keys;
use super::view::RecordView;
use crate::error::Result;
use crate::kv::Kv;
use crate::numbers::HumanNumber;
use crate::record::{RecordRef, RecordStatus};
use opsledger_core::change::{Conflict, ScheduleCandidate, ScheduledChange, detect_conflicts};
use opsledger_core::window::TimeWindow;
use opsledger_core::{ActorId, ChangeId, CiId, Policy, RecordKind};
use serde::{Deserialize, Serialize};

/// One change on the calendar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CalendarEntry {
    /// The change.
    pub change: ChangeId,
    /// Its number.
    pub number: Option<HumanNumber>,
    /// Its title.
    pub title: String,
    /// Its status.
    pub status: RecordStatus,
    /// The approved window when booked, else the planned window.
    pub window: TimeWindow,
    /// Whether it is booked (authorised and scheduled, or being implemented).
    pub booked: bool,
    /// Affected CIs.
    pub cis: Vec<CiId>,
    /// Implementer.
    pub assignee: Option<ActorId>,
    /// Conflicts with the booked changes and the policy's windows (blocking ones first).
    pub conflicts: Vec<Conflict>,
    /// Those of `conflicts` that were accepted for the current plan.
    pub accepted: Vec<Conflict>,
}

/// Calendar entries overlapping `range` (all of them when `None`), by window start.
fn entries(kv: &dyn Kv, range: Option<TimeWindow>) -> Result<Vec<RecordView>> {
    let start = [b'C'];
    let end = match range {
        Some(r) => {
            let mut e = vec![b'C'];
            e.extend_from_slice(&keys::time(r.end));
            e
        }
        None => vec![b'D'],
    };
    let mut out = Vec::new();
    for item in kv.range(&start, &end, false) {
        let (key, _) = item?;
        let Some(id) = keys::trailing_uuid(&key) else {
            continue;
        };
        let Some(view) = get_view(kv, RecordRef::new(RecordKind::Change, id))? else {
            continue;
        };
        let Some(window) = view.calendar_window() else {
            continue;
        };
        if range.is_none_or(|r| window.overlaps(&r)) {
            out.push(view);
        }
    }
    Ok(out)
}

/// Booked changes whose window overlaps `window` (other than `except`), at most `max`: the
/// calendar a schedule-carrying change command is decided against.
pub(crate) fn booked_overlapping(
    kv: &dyn Kv,
    window: TimeWindow,
    except: ChangeId,
    max: usize,
) -> Result<Vec<ScheduledChange>> {
    let mut out: Vec<ScheduledChange> = entries(kv, Some(window))?
        .into_iter()
        .filter_map(|v| v.change().and_then(|d| d.booked.clone()))
        .filter(|b| b.id != except)
        .collect();
    out.truncate(max);
    Ok(out)
}

/// The calendar over `range` with each entry's conflicts under `policy`.
pub(crate) fn calendar(
    kv: &dyn Kv,
    range: Option<TimeWindow>,
    policy: &Policy,
) -> Result<Vec<CalendarEntry>> {
    let views = entries(kv, range)?;
    let mut out = Vec::with_capacity(views.len());
    for view in &views {
        let Some(detail) = view.change() else {
            continue;
        };
        let Some(window) = view.calendar_window() else {
            continue;
        };
        // Against every booked change overlapping this one (not only those inside `range`).
        let booked = booked_overlapping(kv, window, ChangeId(view.record.id), usize::MAX)?;
        let candidate = ScheduleCandidate {
            id: ChangeId(view.record.id),
            window,
            cis: view.cis.iter().cloned().collect(),
            assignee: view.assignee.clone(),
            ci_relations: Vec::new(),
        };
        let mut conflicts = detect_conflicts(&candidate, &booked, policy);
        conflicts.sort_by_key(|c| !c.is_blocking());
        let accepted = conflicts
            .iter()
            .filter(|c| detail.accepted_conflicts.contains(c))
            .cloned()
            .collect();
        out.push(CalendarEntry {
            change: ChangeId(view.record.id),
            number: view.number,
            title: view.title.clone(),
            status: view.status,
            window,
            booked: detail.booked.is_some(),
            cis: view.cis.clone(),
            assignee: view.assignee.clone(),
            conflicts,
            accepted,
        });
    }
    Ok(out)
}
