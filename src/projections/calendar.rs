//! The change calendar: changes booked into their approved window (scheduled or being
//! implemented) and changes still being prepared or authorised with a planned window, each
//! with the conflicts the core's `detect_conflicts` finds against the booked ones.

use super::get_view;
use super::keys;
use super::queue::{Cursor, Page, page_size};
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

/// A page of the change calendar: the changes whose window overlaps `window` (all of them
/// when `None`), by window start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CalendarQuery {
    /// Only entries whose window overlaps this one.
    #[serde(default)]
    pub window: Option<TimeWindow>,
    /// Most entries per page (default and maximum: the engine's `max_page_size`).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Continue after this cursor, from the previous page's `next`.
    #[serde(default)]
    pub cursor: Option<Cursor>,
}

impl CalendarQuery {
    /// The whole calendar, first page.
    pub fn all() -> Self {
        Self::default()
    }

    /// The entries overlapping `window`, first page.
    pub fn over(window: TimeWindow) -> Self {
        Self {
            window: Some(window),
            ..Self::default()
        }
    }

    /// At most `limit` entries per page.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The page after `cursor` (`None`: the first page).
    pub fn after(mut self, cursor: Option<Cursor>) -> Self {
        self.cursor = cursor;
        self
    }
}

/// Length of a calendar key after its tag: window start and change id.
const CALENDAR_KEY_LEN: usize = 24;

/// Calendar entries overlapping `range` (all of them when `None`), by window start, from the
/// key `from` on, with their keys.
fn entries<'a>(
    kv: &'a dyn Kv,
    from: Vec<u8>,
    range: Option<TimeWindow>,
) -> impl Iterator<Item = Result<(Vec<u8>, RecordView)>> + 'a {
    let end = match range {
        Some(r) => {
            let mut e = vec![b'C'];
            e.extend_from_slice(&keys::time(r.end));
            e
        }
        None => vec![b'D'],
    };
    kv.range(&from, &end, false).filter_map(move |item| {
        let key = match item {
            Ok((key, _)) => key,
            Err(e) => return Some(Err(e)),
        };
        let id = keys::trailing_uuid(&key)?;
        let view = match get_view(kv, RecordRef::new(RecordKind::Change, id)) {
            Ok(view) => view?,
            Err(e) => return Some(Err(e)),
        };
        let window = view.calendar_window()?;
        range
            .is_none_or(|r| window.overlaps(&r))
            .then_some(Ok((key, view)))
    })
}

/// Booked changes whose window overlaps `window` (other than `except`), at most `max`: the
/// calendar a schedule-carrying change command is decided against.
pub(crate) fn booked_overlapping(
    kv: &dyn Kv,
    window: TimeWindow,
    except: ChangeId,
    max: usize,
) -> Result<Vec<ScheduledChange>> {
    let mut out: Vec<ScheduledChange> = entries(kv, vec![b'C'], Some(window))
        .map(|item| item.map(|(_, view)| view))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .filter_map(|v| v.change().and_then(|d| d.booked.clone()))
        .filter(|b| b.id != except)
        .collect();
    out.truncate(max);
    Ok(out)
}

/// A page of the calendar with each entry's conflicts under `policy`.
pub(crate) fn calendar(
    kv: &dyn Kv,
    query: &CalendarQuery,
    policy: &Policy,
    max_page: usize,
) -> Result<Page<CalendarEntry>> {
    let limit = page_size(query.limit, max_page, "calendar")?;
    let mut from = vec![b'C'];
    if let Some(cursor) = &query.cursor {
        from.extend_from_slice(&cursor.decode_as(CALENDAR_KEY_LEN, "a calendar query")?);
        // Strictly after the cursor's entry.
        from.push(0);
    }
    let mut views = Vec::with_capacity(limit.min(64));
    let mut next = None;
    let mut scanned = 0;
    for item in entries(kv, from, query.window) {
        let (key, view) = item?;
        scanned += 1;
        if views.len() == limit {
            // One more exists: the page ends at the last one taken.
            next = views
                .last()
                .map(|(key, _): &(Vec<u8>, RecordView)| Cursor::encode(&key[1..]));
            break;
        }
        views.push((key, view));
    }
    let mut out = Vec::with_capacity(views.len());
    for (_, view) in &views {
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
    Ok(Page {
        items: out,
        next,
        scanned,
    })
}
