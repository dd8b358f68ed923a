//! Work queues: records filtered by state, priority, group, assignee, service, CI and age, in a
//! stable order (most urgent priority first, then oldest first), with cursor pagination.
//!
//! A queue is read from the `records` table (see `tables`): each family of filters has an index
//! `(kind, [value], is_open, queue_rank, opened_us, id, status_code)`, so that a page is one
//! ordered range for the open records and one for the others, merged; statuses and priorities
//! are bitmasks checked inside the index, the other filters on the row. The cursor is the
//! sort key `queue_rank ‖ opened_at ‖ id` of the last row of the page.

use super::keys;
use super::tables::Tables;
use super::view::RecordView;
use crate::error::{EngineError, Result};
use crate::record::RecordStatus;
use chrono::{DateTime, Duration, Utc};
use opsledger_core::{ActorId, CiId, GroupId, Priority, RecordKind, ServiceId};
use opsledger_store::SqlValue;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A queue query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct QueueFilter {
    /// Which kind of record.
    pub kind: RecordKind,
    /// Only these statuses (empty: any). Statuses of another kind are an error.
    #[serde(default)]
    pub statuses: Vec<RecordStatus>,
    /// Only records that still need work (intersected with `statuses`).
    #[serde(default)]
    pub open_only: bool,
    /// Only these priorities (empty: any).
    #[serde(default)]
    pub priorities: Vec<Priority>,
    /// Assignment group.
    #[serde(default)]
    pub group: Option<GroupId>,
    /// Assignee.
    #[serde(default)]
    pub assignee: Option<ActorId>,
    /// Only incidents whose caller this is (records of other kinds have no caller: none
    /// match). Filtered while scanning, not indexed.
    #[serde(default)]
    pub caller: Option<ActorId>,
    /// Affected service.
    #[serde(default)]
    pub service: Option<ServiceId>,
    /// Affected configuration item.
    #[serde(default)]
    pub ci: Option<CiId>,
    /// Only records opened at or after this instant.
    #[serde(default)]
    pub opened_after: Option<DateTime<Utc>>,
    /// Only records opened before this instant.
    #[serde(default)]
    pub opened_before: Option<DateTime<Utc>>,
    /// Only records at least this old (seconds) at the query's instant (now, or the as-of
    /// instant).
    #[serde(default)]
    pub min_age_secs: Option<i64>,
    /// Page size (at most the engine's `max_page_size`).
    pub limit: usize,
    /// Where the previous page ended.
    #[serde(default)]
    pub cursor: Option<Cursor>,
}

impl QueueFilter {
    /// Every record of `kind`, 50 per page.
    pub fn new(kind: RecordKind) -> Self {
        Self {
            kind,
            statuses: Vec::new(),
            open_only: false,
            priorities: Vec::new(),
            group: None,
            assignee: None,
            caller: None,
            service: None,
            ci: None,
            opened_after: None,
            opened_before: None,
            min_age_secs: None,
            limit: 50,
            cursor: None,
        }
    }

    /// Incidents.
    pub fn incidents() -> Self {
        Self::new(RecordKind::Incident)
    }

    /// Problems.
    pub fn problems() -> Self {
        Self::new(RecordKind::Problem)
    }

    /// Changes.
    pub fn changes() -> Self {
        Self::new(RecordKind::Change)
    }

    /// Only open records.
    pub fn open(mut self) -> Self {
        self.open_only = true;
        self
    }

    /// Only this status (may be repeated).
    pub fn status(mut self, status: RecordStatus) -> Self {
        self.statuses.push(status);
        self
    }

    /// Only this priority (may be repeated).
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priorities.push(priority);
        self
    }

    /// Only this group.
    pub fn group(mut self, group: impl Into<GroupId>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Only this assignee.
    pub fn assignee(mut self, assignee: impl Into<ActorId>) -> Self {
        self.assignee = Some(assignee.into());
        self
    }

    /// Only incidents of this caller.
    pub fn caller(mut self, caller: impl Into<ActorId>) -> Self {
        self.caller = Some(caller.into());
        self
    }

    /// Only this service.
    pub fn service(mut self, service: impl Into<ServiceId>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// Only this CI.
    pub fn ci(mut self, ci: impl Into<CiId>) -> Self {
        self.ci = Some(ci.into());
        self
    }

    /// Only records at least `age` old.
    pub fn min_age(mut self, age: Duration) -> Self {
        self.min_age_secs = Some(age.num_seconds());
        self
    }

    /// Page size.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Continue after `cursor`.
    pub fn after(mut self, cursor: Option<Cursor>) -> Self {
        self.cursor = cursor;
        self
    }
}

/// An opaque position in a queue's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Cursor(pub String);

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Cursor {
    pub(crate) fn encode(sort_key: &[u8]) -> Self {
        let mut s = String::with_capacity(sort_key.len() * 2);
        for b in sort_key {
            s.push_str(&format!("{b:02x}"));
        }
        Cursor(s)
    }

    fn decode(&self) -> Result<Vec<u8>> {
        self.decode_as(keys::SORT_KEY_LEN, "a queue query")
    }

    /// The `len` bytes of a cursor returned by `source` (named in the error otherwise).
    pub(crate) fn decode_as(&self, len: usize, source: &str) -> Result<Vec<u8>> {
        let bad = || EngineError::invalid("cursor", format!("not a cursor returned by {source}"));
        let s = self.0.as_bytes();
        if s.len() != len * 2 {
            return Err(bad());
        }
        s.chunks(2)
            .map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(bad)
            })
            .collect()
    }
}

/// The page size asked for (`None`: the default, `max_page`), checked against `max_page`.
pub(crate) fn page_size(asked: Option<usize>, max_page: usize, what: &str) -> Result<usize> {
    let limit = asked.unwrap_or(max_page);
    if limit == 0 || limit > max_page {
        return Err(EngineError::LimitExceeded {
            what: format!("{what} page size"),
            limit: max_page as u64,
        });
    }
    Ok(limit)
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items, in order.
    pub items: Vec<T>,
    /// Pass to the next query to continue; `None` at the end.
    pub next: Option<Cursor>,
    /// Entries read to build the page (for diagnostics): index entries for a queue, calendar
    /// entries in the window for the calendar, known errors for a KEDB search.
    pub scanned: usize,
}

/// One row of a queue scan: its sort key and its view, not yet decoded.
struct Hit {
    sort_key: [u8; keys::SORT_KEY_LEN],
    id: uuid::Uuid,
    position: u64,
    view: String,
}

/// What every family's query checks beside its index's leading columns. Parameters: ?1 kind,
/// ?2 the family's value, ?3 is_open, ?4-?6 the cursor (queue_rank, opened_us, id), ?7-?8
/// opened_us bounds, ?9 statuses (a bitmask of status codes), ?10 priorities (a bitmask of
/// queue ranks), ?11 rows, ?12 group, ?13 assignee, ?14 service, ?15 caller, ?16 CI.
macro_rules! queue_sql {
    ($from:literal, $family:literal) => {
        concat!(
            "SELECT r.queue_rank, r.opened_us, r.id, r.position, r.view FROM ",
            $from,
            " WHERE r.kind = ?1 AND ",
            $family,
            " AND r.is_open = ?3
               AND (r.queue_rank, r.opened_us, r.id) > (?4, ?5, ?6)
               AND r.opened_us >= ?7 AND r.opened_us < ?8
               AND ((CAST(?9 AS BIGINT) >> CAST(r.status_code AS INTEGER)) & 1) = 1
               AND ((CAST(?10 AS BIGINT) >> CAST(r.queue_rank AS INTEGER)) & 1) = 1
               AND (CAST(?12 AS TEXT) IS NULL OR r.assignment_group = ?12)
               AND (CAST(?13 AS TEXT) IS NULL OR r.assignee = ?13)
               AND (CAST(?14 AS TEXT) IS NULL OR r.service = ?14)
               AND (CAST(?15 AS TEXT) IS NULL OR r.caller = ?15)
               AND (CAST(?16 AS TEXT) IS NULL OR EXISTS
                   (SELECT 1 FROM record_cis x WHERE x.record = r.id AND x.ci = ?16))
             ORDER BY r.queue_rank, r.opened_us, r.id LIMIT ?11"
        )
    };
}

/// The query of the family index a filter reads: its most selective filter (assignee, then
/// group, CI, service, else every record of the kind), and that filter's value.
fn family_sql(filter: &QueueFilter) -> (&'static str, Option<&str>) {
    if let Some(a) = &filter.assignee {
        (queue_sql!("records r", "r.assignee = ?2"), Some(a.as_str()))
    } else if let Some(g) = &filter.group {
        (
            queue_sql!("records r", "r.assignment_group = ?2"),
            Some(g.as_str()),
        )
    } else if let Some(c) = &filter.ci {
        (
            queue_sql!(
                "record_cis c JOIN records r ON r.id = c.record",
                "c.ci = ?2"
            ),
            Some(c.as_str()),
        )
    } else if let Some(v) = &filter.service {
        (queue_sql!("records r", "r.service = ?2"), Some(v.as_str()))
    } else {
        (queue_sql!("records r", "CAST(?2 AS TEXT) IS NULL"), None)
    }
}

/// Runs a queue query against the `records` table at instant `now`.
///
/// The rows come from the index of the most selective filter the query has (assignee, then
/// group, CI, service, else every record of the kind), in queue order (priority, then age,
/// then id), one ordered range for the open records and one for the others, merged. Status,
/// priority and age are checked inside the index; the other filters on the record view. At
/// most `max_scan` rows are read; a query that stops early returns what it found with a
/// cursor.
pub(crate) fn query(
    tables: &Tables,
    filter: &QueueFilter,
    now: DateTime<Utc>,
    max_page: usize,
    max_scan: usize,
) -> Result<Page<RecordView>> {
    page_size(Some(filter.limit), max_page, "queue")?;
    let kind = filter.kind;
    for s in &filter.statuses {
        if s.kind() != kind {
            return Err(EngineError::invalid(
                "statuses",
                format!("{s} is not a status of a {kind}"),
            ));
        }
    }
    let mut statuses: Vec<RecordStatus> = if filter.statuses.is_empty() {
        RecordStatus::all_of(kind)
    } else {
        filter.statuses.clone()
    };
    if filter.open_only {
        statuses.retain(|s| s.is_open());
    }
    let status_mask = |open: bool| -> i64 {
        statuses
            .iter()
            .filter(|s| s.is_open() == open)
            .fold(0i64, |m, s| m | (1i64 << s.code().min(62)))
    };
    let priority_mask: i64 = if filter.priorities.is_empty() {
        keys::PRIORITY_CODES
            .iter()
            .fold(0i64, |m, p| m | (1i64 << p))
    } else {
        filter
            .priorities
            .iter()
            .fold(0i64, |m, p| m | (1i64 << keys::priority_code(Some(*p))))
    };
    // Age bounds on opened_at.
    // Both bounds are exclusive: opened_at < upper. At least `age` old means
    // opened_at <= now - age, i.e. opened_at < now - age + 1 µs.
    let mut upper: Option<DateTime<Utc>> = filter.opened_before;
    if let Some(age) = filter.min_age_secs {
        let cutoff = Duration::try_seconds(age)
            .and_then(|d| now.checked_sub_signed(d))
            .and_then(|t| t.checked_add_signed(Duration::microseconds(1)))
            .ok_or_else(|| {
                crate::error::EngineError::invalid("min_age_secs", "out of the representable range")
            })?;
        upper = Some(upper.map_or(cutoff, |u| u.min(cutoff)));
    }
    let lower = filter
        .opened_after
        .map_or(i64::MIN, |t| t.timestamp_micros());
    let upper = upper.map_or(i64::MAX, |t| t.timestamp_micros());
    let (after_rank, after_opened, after_id) = match &filter.cursor {
        Some(c) => {
            let key = c.decode()?;
            let opened = key
                .get(1..9)
                .and_then(|b| b.try_into().ok())
                .map(|b: [u8; 8]| (u64::from_be_bytes(b) ^ (1 << 63)) as i64)
                .unwrap_or(i64::MIN);
            let id = keys::trailing_uuid(&key).unwrap_or_default();
            (i64::from(key[0]), opened, id.to_string())
        }
        // Before every row: ranks are 0..=5 and ids are never empty.
        None => (-1, i64::MIN, String::new()),
    };
    let (sql, value) = family_sql(filter);
    // Two ordered ranges (open records, then the others), each read up to a page and one row
    // beyond it (which says whether there is more).
    let mut scanned = 0usize;
    let mut cut: Option<[u8; keys::SORT_KEY_LEN]> = None;
    let mut ranges: Vec<Vec<Hit>> = Vec::new();
    for open in [true, false] {
        let mask = status_mask(open);
        if mask == 0 {
            continue;
        }
        let budget = max_scan.saturating_sub(scanned);
        let rows = (filter.limit + 1).min(budget.max(1));
        let params = [
            SqlValue::Text(kind.to_string()),
            value.map_or(SqlValue::Null, |v| SqlValue::Text(v.to_owned())),
            SqlValue::from(open),
            SqlValue::Integer(after_rank),
            SqlValue::Integer(after_opened),
            SqlValue::Text(after_id.clone()),
            SqlValue::Integer(lower),
            SqlValue::Integer(upper),
            SqlValue::Integer(mask),
            SqlValue::Integer(priority_mask),
            SqlValue::Integer(i64::try_from(rows).unwrap_or(i64::MAX)),
            opt(filter.group.as_ref().map(|v| v.as_str())),
            opt(filter.assignee.as_ref().map(|v| v.as_str())),
            opt(filter.service.as_ref().map(|v| v.as_str())),
            opt(filter.caller.as_ref().map(|v| v.as_str())),
            opt(filter.ci.as_ref().map(|v| v.as_str())),
        ];
        let mut hits = Vec::new();
        let mut failure = None;
        tables.sql.query(sql, &params, &mut |row| {
            match hit(row) {
                Some(h) => hits.push(h),
                None => failure = Some("a records row without its queue columns"),
            }
            Ok(opsledger_store::RowFlow::Continue)
        })?;
        if let Some(f) = failure {
            return Err(EngineError::Views(f.into()));
        }
        scanned += hits.len();
        if hits.len() == rows && rows <= filter.limit {
            // Stopped by the scan budget: nothing after its last row is known yet.
            let last = hits.last().map(|h| h.sort_key);
            cut = match (cut, last) {
                (Some(c), Some(l)) => Some(c.min(l)),
                (c, l) => c.or(l),
            };
        }
        ranges.push(hits);
    }
    // Merge the ranges in queue order.
    let mut merged: Vec<Hit> = ranges.into_iter().flatten().collect();
    merged.sort_by_key(|h| h.sort_key);
    if let Some(c) = cut {
        merged.retain(|h| h.sort_key <= c);
    }
    let more = merged.len() > filter.limit || cut.is_some();
    let mut items = Vec::with_capacity(filter.limit.min(merged.len()));
    let mut last_key = None;
    for h in merged.into_iter().take(filter.limit) {
        last_key = Some(h.sort_key);
        let view = tables.view(h.id, h.position, &h.view)?;
        if matches(&view, filter) {
            items.push(view);
        }
    }
    let next = match last_key {
        Some(k) if more => Some(Cursor::encode(&k)),
        Some(_) | None => None,
    };
    Ok(Page {
        items,
        next,
        scanned,
    })
}

fn opt(value: Option<&str>) -> SqlValue {
    value.map_or(SqlValue::Null, |v| SqlValue::Text(v.to_owned()))
}

fn hit(row: &[SqlValue]) -> Option<Hit> {
    let rank = u8::try_from(row.first()?.as_i64()?).ok()?;
    let opened = row.get(1)?.as_i64()?;
    let id = match row.get(2)? {
        SqlValue::Text(t) => uuid::Uuid::parse_str(t).ok()?,
        _ => return None,
    };
    let position = u64::try_from(row.get(3)?.as_i64()?).ok()?;
    let view = match row.get(4)? {
        SqlValue::Text(t) => t.clone(),
        _ => return None,
    };
    let mut sort_key = [0u8; keys::SORT_KEY_LEN];
    sort_key[0] = rank;
    sort_key[1..9].copy_from_slice(&((opened as u64) ^ (1 << 63)).to_be_bytes());
    sort_key[9..].copy_from_slice(id.as_bytes());
    Some(Hit {
        sort_key,
        id,
        position,
        view,
    })
}

fn matches(view: &RecordView, filter: &QueueFilter) -> bool {
    if let Some(g) = &filter.group
        && view.group.as_ref() != Some(g)
    {
        return false;
    }
    if let Some(a) = &filter.assignee
        && view.assignee.as_ref() != Some(a)
    {
        return false;
    }
    if let Some(caller) = &filter.caller
        && view.caller() != Some(caller)
    {
        return false;
    }
    if let Some(s) = &filter.service
        && view.service.as_ref() != Some(s)
    {
        return false;
    }
    if let Some(c) = &filter.ci
        && !view.cis.contains(c)
    {
        return false;
    }
    true
}
