//! Work queues: records filtered by state, priority, group, assignee, service, CI and age, in a
//! stable order (most urgent priority first, then oldest first), with cursor pagination.
//!
//! Each record has index entries `q ‖ family ‖ kind ‖ [value] ‖ status ‖ sort key` in five
//! families (all records; by group; by assignee; by service; by CI). A query picks the most
//! selective family its filter allows (assignee, then group, CI, service, else all), opens one
//! range per (status, priority) pair, bounded by the age filter, and merges the ranges by sort
//! key. Filters the family does not cover are checked on the record view. A query scans at most
//! `max_scan` index entries; when it stops early it returns what it found with a cursor.

use super::get_view;
use super::keys;
use super::view::RecordView;
use crate::error::{EngineError, Result};
use crate::kv::{Kv, KvIter, prefix_end};
use crate::record::{RecordRef, RecordStatus};
use chrono::{DateTime, Duration, Utc};
use opsledger_core::{ActorId, CiId, GroupId, Priority, RecordKind, ServiceId};
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

struct Source<'a> {
    iter: KvIter<'a>,
    prefix_len: usize,
    head: Option<Vec<u8>>,
}

impl Source<'_> {
    fn advance(&mut self) -> Result<()> {
        self.head = match self.iter.next() {
            Some(item) => Some(item?.0),
            None => None,
        };
        Ok(())
    }

    fn sort_key(&self) -> Option<&[u8]> {
        self.head.as_deref().map(|k| &k[self.prefix_len..])
    }
}

/// Runs a queue query against read models at instant `now`.
pub(crate) fn query(
    kv: &dyn Kv,
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
    statuses.sort();
    statuses.dedup();
    let priorities: Vec<u8> = if filter.priorities.is_empty() {
        keys::PRIORITY_CODES.to_vec()
    } else {
        let mut p: Vec<u8> = filter
            .priorities
            .iter()
            .map(|p| keys::priority_code(Some(*p)))
            .collect();
        p.sort_unstable();
        p.dedup();
        p
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
    let lower = filter.opened_after;
    let (family, value): (u8, Option<&str>) = if let Some(a) = &filter.assignee {
        (keys::FAM_ASSIGNEE, Some(a.as_str()))
    } else if let Some(g) = &filter.group {
        (keys::FAM_GROUP, Some(g.as_str()))
    } else if let Some(c) = &filter.ci {
        (keys::FAM_CI, Some(c.as_str()))
    } else if let Some(s) = &filter.service {
        (keys::FAM_SERVICE, Some(s.as_str()))
    } else {
        (keys::FAM_STATUS, None)
    };
    let cursor = filter.cursor.as_ref().map(Cursor::decode).transpose()?;
    let base = keys::queue_family(family, kind, value);
    let mut sources = Vec::new();
    for status in &statuses {
        for p in &priorities {
            let mut prefix = base.clone();
            prefix.push(status.code());
            prefix.push(*p);
            let prefix_len = prefix.len() - 1;
            let mut start = prefix.clone();
            if let Some(l) = lower {
                start.extend_from_slice(&keys::time(l));
            }
            if let Some(c) = &cursor {
                let mut after = base.clone();
                after.push(status.code());
                after.extend_from_slice(c);
                after.push(0); // strictly after the cursor's key
                if after > start {
                    start = after;
                }
            }
            let end = match upper {
                Some(u) => {
                    let mut e = prefix.clone();
                    e.extend_from_slice(&keys::time(u));
                    e
                }
                None => prefix_end(&prefix),
            };
            let mut source = Source {
                iter: kv.range(&start, &end, false),
                prefix_len,
                head: None,
            };
            source.advance()?;
            if source.head.is_some() {
                sources.push(source);
            }
        }
    }
    let mut items = Vec::new();
    let mut scanned = 0usize;
    let mut last_key: Option<Vec<u8>> = None;
    loop {
        if items.len() >= filter.limit {
            break;
        }
        let Some(best) = sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.sort_key().map(|k| (i, k)))
            .min_by(|a, b| a.1.cmp(b.1))
            .map(|(i, _)| i)
        else {
            last_key = None;
            break;
        };
        if scanned >= max_scan {
            break;
        }
        scanned += 1;
        let sort_key = sources[best]
            .sort_key()
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        sources[best].advance()?;
        last_key = Some(sort_key.clone());
        let Some(id) = keys::trailing_uuid(&sort_key) else {
            continue;
        };
        let Some(view) = get_view(kv, RecordRef::new(kind, id))? else {
            continue;
        };
        if matches(&view, filter) {
            items.push(view);
        }
    }
    let exhausted = sources.iter().all(|s| s.head.is_none());
    let next = match last_key {
        Some(k) if !exhausted => Some(Cursor::encode(&k)),
        Some(_) | None => None,
    };
    Ok(Page {
        items,
        next,
        scanned,
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
