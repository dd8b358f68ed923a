//! The change calendar: changes booked into their approved window (scheduled or being
//! implemented) and changes still being prepared or authorised with a planned window, each
//! with the conflicts the core's `detect_conflicts` finds against the booked ones.

use super::keys;
use super::queue::{Cursor, Page, page_size};
use super::tables::{Tables, instant};
use super::view::RecordView;
use crate::error::{EngineError, Result};
use crate::numbers::HumanNumber;
use crate::record::RecordStatus;
use chrono::{DateTime, Utc};
use opsledger_core::change::{Conflict, ScheduleCandidate, ScheduledChange, detect_conflicts};
use opsledger_core::window::TimeWindow;
use opsledger_core::{ActorId, ChangeId, CiId, Policy};
use opsledger_store::{RowFlow, SqlValue};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

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

/// Length of a calendar cursor: window start and change id.
const CALENDAR_KEY_LEN: usize = 24;

/// A calendar cursor's bytes: the window start (sortable microseconds) and the change id.
fn calendar_key(start: DateTime<Utc>, change: &Uuid) -> Vec<u8> {
    let mut k = Vec::with_capacity(CALENDAR_KEY_LEN);
    k.extend_from_slice(&keys::time(start));
    k.extend_from_slice(change.as_bytes());
    k
}

/// Calendar entries overlapping `range` (all of them when `None`), by window start then change,
/// strictly after `after` (window start, change), at most `max`, with their cursor keys.
fn entries(
    tables: &Tables,
    after: Option<(DateTime<Utc>, Uuid)>,
    range: Option<TimeWindow>,
    booked_only: bool,
    max: usize,
) -> Result<Vec<(Vec<u8>, RecordView)>> {
    let (after_start, after_change) = match after {
        Some((start, change)) => (instant(start), SqlValue::Text(change.to_string())),
        None => (SqlValue::Text(String::new()), SqlValue::Text(String::new())),
    };
    let (from, to) = match range {
        Some(r) => (instant(r.start), instant(r.end)),
        None => (SqlValue::Null, SqlValue::Null),
    };
    let mut out = Vec::new();
    let mut failure = None;
    tables.sql.query(
        "SELECT c.id, c.position, c.view FROM change_calendar k JOIN records c ON c.id = k.change
         WHERE (k.window_start, k.change) > (?1, ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR (k.window_start < ?4 AND k.window_end > ?3))
           AND (?5 = 0 OR k.booked = 1)
         ORDER BY k.window_start, k.change LIMIT ?6",
        &[
            after_start,
            after_change,
            from,
            to,
            SqlValue::from(booked_only),
            SqlValue::Integer(i64::try_from(max).unwrap_or(i64::MAX)),
        ],
        &mut |row| {
            let view = match row {
                [
                    SqlValue::Text(id),
                    SqlValue::Integer(position),
                    SqlValue::Text(json),
                ] => match Uuid::parse_str(id) {
                    Ok(id) => tables.view(id, *position as u64, json),
                    Err(e) => Err(EngineError::Views(format!("a malformed change id: {e}"))),
                },
                _ => Err(EngineError::Views("a calendar row without its view".into())),
            };
            match view {
                Ok(view) => {
                    if let Some(window) = view.calendar_window()
                        && range.is_none_or(|r| window.overlaps(&r))
                    {
                        out.push((calendar_key(window.start, &view.record.id), view));
                    }
                    Ok(RowFlow::Continue)
                }
                Err(e) => {
                    failure = Some(e);
                    Ok(RowFlow::Stop)
                }
            }
        },
    )?;
    match failure {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Booked changes whose window overlaps `window` (other than `except`), at most `max`: the
/// calendar a schedule-carrying change command is decided against.
pub(crate) fn booked_overlapping(
    tables: &Tables,
    window: TimeWindow,
    except: ChangeId,
    max: usize,
) -> Result<Vec<ScheduledChange>> {
    let mut out: Vec<ScheduledChange> = entries(tables, None, Some(window), true, usize::MAX)?
        .into_iter()
        .filter_map(|(_, v)| v.change().and_then(|d| d.booked.clone()))
        .filter(|b| b.id != except)
        .collect();
    out.truncate(max);
    Ok(out)
}

/// A page of the calendar with each entry's conflicts under `policy`.
pub(crate) fn calendar(
    tables: &Tables,
    query: &CalendarQuery,
    policy: &Policy,
    max_page: usize,
) -> Result<Page<CalendarEntry>> {
    let limit = page_size(query.limit, max_page, "calendar")?;
    let after = match &query.cursor {
        Some(cursor) => {
            let key = cursor.decode_as(CALENDAR_KEY_LEN, "a calendar query")?;
            let micros = key
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(|b: [u8; 8]| (u64::from_be_bytes(b) ^ (1 << 63)) as i64);
            let start = micros.and_then(DateTime::<Utc>::from_timestamp_micros);
            let change = keys::trailing_uuid(&key);
            match (start, change) {
                (Some(s), Some(c)) => Some((s, c)),
                _ => {
                    return Err(EngineError::invalid(
                        "cursor",
                        "not a cursor returned by a calendar query",
                    ));
                }
            }
        }
        None => None,
    };
    // One more than a page says whether there is more.
    let mut views = entries(tables, after, query.window, false, limit + 1)?;
    let scanned = views.len();
    let mut next = None;
    if views.len() > limit {
        views.truncate(limit);
        next = views.last().map(|(key, _)| Cursor::encode(key));
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
        let booked = booked_overlapping(tables, window, ChangeId(view.record.id), usize::MAX)?;
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
