//! The known-error database (KEDB) and the open alert dedup keys.

use super::get_view;
use super::keys;
use super::queue::{Cursor, Page, page_size};
use super::view::RecordView;
use crate::error::{EngineError, Result};
use crate::kv::{Kv, prefix_end};
use crate::numbers::HumanNumber;
use crate::record::RecordRef;
use opsledger_core::problem::{KnownError, ProblemStatusKind};
use opsledger_core::{CiId, IncidentId, Priority, ProblemId, RecordKind, ServiceId};
use serde::{Deserialize, Serialize};

/// A KEDB search. All given criteria must match; text matching is case-insensitive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KedbQuery {
    /// Words that must all appear in the title, symptom, root cause or workaround.
    #[serde(default)]
    pub text: Option<String>,
    /// Words that must all appear in the symptom.
    #[serde(default)]
    pub symptom: Option<String>,
    /// A CI among the affected CIs (or the problem's CIs).
    #[serde(default)]
    pub ci: Option<CiId>,
    /// The problem's service.
    #[serde(default)]
    pub service: Option<ServiceId>,
    /// Only entries that have a workaround.
    #[serde(default)]
    pub with_workaround: bool,
    /// Most entries per page (default and maximum: the engine's `max_page_size`).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Continue after this cursor, from the previous page's `next`.
    #[serde(default)]
    pub cursor: Option<Cursor>,
}

impl KedbQuery {
    /// Entries matching `text`.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            ..Self::default()
        }
    }

    /// Entries affecting `ci`.
    pub fn ci(ci: impl Into<CiId>) -> Self {
        Self {
            ci: Some(ci.into()),
            ..Self::default()
        }
    }

    /// Entries whose symptom matches `symptom`.
    pub fn symptom(symptom: impl Into<String>) -> Self {
        Self {
            symptom: Some(symptom.into()),
            ..Self::default()
        }
    }
}

/// One KEDB entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KnownErrorEntry {
    /// The problem.
    pub problem: ProblemId,
    /// Its number.
    pub number: Option<HumanNumber>,
    /// Its title.
    pub title: String,
    /// Its service.
    pub service: Option<ServiceId>,
    /// Its priority.
    pub priority: Option<Priority>,
    /// Its status (a fixed problem's known error stays in the KEDB for reference).
    pub status: ProblemStatusKind,
    /// The published known error.
    pub known_error: KnownError,
    /// How many query words matched (higher first).
    pub score: usize,
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_lowercase).collect()
}

fn all_in(words: &[String], haystack: &str) -> Option<usize> {
    let hay = haystack.to_lowercase();
    let mut hits = 0;
    for w in words {
        let n = hay.matches(w.as_str()).count();
        if n == 0 {
            return None;
        }
        hits += n;
    }
    Some(hits)
}

/// Length of a KEDB cursor: the sort key of the last entry of its page.
const KEDB_CURSOR_LEN: usize = 33;

/// The order of search results as bytes (best first): score descending, then priority, then
/// number, then id; a cursor is the sort key of the last entry of its page, so the next page
/// starts right after it even when the KEDB changed in between.
fn sort_key(e: &KnownErrorEntry) -> [u8; KEDB_CURSOR_LEN] {
    let mut k = [0u8; KEDB_CURSOR_LEN];
    k[..8].copy_from_slice(&(u64::MAX - e.score as u64).to_be_bytes());
    k[8] = keys::priority_code(e.priority);
    k[9..17].copy_from_slice(&e.number.map_or(u64::MAX, |n| n.value).to_be_bytes());
    k[17..].copy_from_slice(e.problem.0.as_bytes());
    k
}

/// Searches the KEDB: one page of the matching known errors, best first.
pub(crate) fn search(kv: &dyn Kv, q: &KedbQuery, max_page: usize) -> Result<Page<KnownErrorEntry>> {
    let limit = page_size(q.limit, max_page, "KEDB")?;
    let after = match &q.cursor {
        Some(c) => Some(c.decode_as(KEDB_CURSOR_LEN, "a KEDB search")?),
        None => None,
    };
    let text = q.text.as_deref().map(words).unwrap_or_default();
    let symptom = q.symptom.as_deref().map(words).unwrap_or_default();
    let prefix = [b'k'];
    let mut out = Vec::new();
    let mut scanned = 0;
    for item in kv.range(&prefix, &prefix_end(&prefix), false) {
        let (key, _) = item?;
        let Some(id) = keys::trailing_uuid(&key) else {
            continue;
        };
        let Some(view) = get_view(kv, RecordRef::new(RecordKind::Problem, id))? else {
            continue;
        };
        scanned += 1;
        if let Some(entry) = entry_if_match(&view, q, &text, &symptom) {
            let key = sort_key(&entry);
            if after.as_deref().is_none_or(|a| key.as_slice() > a) {
                out.push((key, entry));
                // Memory stays in the page size, whatever the number of matches.
                if out.len() >= 4 * (limit + 1) {
                    out.sort_by_key(|a| a.0);
                    out.truncate(limit + 1);
                }
            }
        }
    }
    out.sort_by_key(|a| a.0);
    let next = (out.len() > limit).then(|| Cursor::encode(&out[limit - 1].0));
    out.truncate(limit);
    Ok(Page {
        items: out.into_iter().map(|(_, e)| e).collect(),
        next,
        scanned,
    })
}

fn entry_if_match(
    view: &RecordView,
    q: &KedbQuery,
    text: &[String],
    symptom: &[String],
) -> Option<KnownErrorEntry> {
    let detail = view.problem()?;
    let ke = detail.known_error.as_ref()?;
    if let Some(ci) = &q.ci
        && !ke.affected_cis.contains(ci)
        && !view.cis.contains(ci)
    {
        return None;
    }
    if let Some(service) = &q.service
        && view.service.as_ref() != Some(service)
    {
        return None;
    }
    if q.with_workaround && ke.workaround.is_none() {
        return None;
    }
    let mut score = 0;
    if !symptom.is_empty() {
        score += all_in(symptom, &ke.symptom)?;
    }
    if !text.is_empty() {
        let hay = format!(
            "{}\n{}\n{}\n{}",
            view.title,
            ke.symptom,
            ke.root_cause,
            ke.workaround.as_deref().unwrap_or("")
        );
        score += all_in(text, &hay)?;
    }
    Some(KnownErrorEntry {
        problem: ProblemId(view.record.id),
        number: view.number,
        title: view.title.clone(),
        service: view.service.clone(),
        priority: view.priority,
        status: view.problem_status()?,
        known_error: ke.clone(),
        score,
    })
}

/// An alert dedup key held by an open incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OpenAlert {
    /// The dedup key.
    pub dedup_key: String,
    /// The open incident holding it.
    pub incident: IncidentId,
    /// That incident's number.
    pub number: Option<HumanNumber>,
    /// Occurrences so far (the opening one included).
    pub alert_count: u64,
}

/// The open incident holding `dedup_key`, if any.
pub(crate) fn alert_owner(kv: &dyn Kv, dedup_key: &str) -> Result<Option<IncidentId>> {
    let prefix = keys::alert_prefix(dedup_key);
    for item in kv.range(&prefix, &prefix_end(&prefix), false) {
        let (key, _) = item?;
        if key.len() == prefix.len() + 16
            && let Some(id) = keys::trailing_uuid(&key)
        {
            return Ok(Some(IncidentId(id)));
        }
    }
    Ok(None)
}

/// Every open alert dedup key, in key order.
pub(crate) fn open_alerts(kv: &dyn Kv, max_page: usize) -> Result<Vec<OpenAlert>> {
    let prefix = [b'l'];
    let mut out = Vec::new();
    for item in kv.range(&prefix, &prefix_end(&prefix), false) {
        if out.len() >= max_page {
            break;
        }
        let (key, _) = item?;
        let Some(id) = keys::trailing_uuid(&key) else {
            continue;
        };
        let Some(view) = get_view(kv, RecordRef::new(RecordKind::Incident, id))? else {
            continue;
        };
        let Some(alert) = view.incident().and_then(|d| d.alert.clone()) else {
            continue;
        };
        out.push(OpenAlert {
            dedup_key: alert.dedup_key,
            incident: IncidentId(id),
            number: view.number,
            alert_count: alert.alert_count,
        });
    }
    Ok(out)
}

/// Incidents on hold awaiting `problem`.
pub(crate) fn awaiting(kv: &dyn Kv, problem: ProblemId) -> Result<Vec<IncidentId>> {
    let prefix = keys::awaiting_prefix(&problem.0);
    kv.range(&prefix, &prefix_end(&prefix), false)
        .map(|item| {
            let (key, _) = item?;
            keys::trailing_uuid(&key)
                .map(IncidentId)
                .ok_or_else(|| EngineError::Views("malformed awaiting key".into()))
        })
        .collect()
}
