//! The KPI read model: what [`ReadView::kpis`](crate::ReadView::kpis) reads for the live view,
//! so that a KPI query costs a scan of one row per record instead of a replay of the log.
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `K` | `K ‖ kind ‖ uuid` | [`KpiRow`]: the record's KPI facts, as a one-record [`KpiInput`] |
//! | `O` | `O ‖ uuid` | the final SLA outcomes of an incident whose clocks are all finished |
//! | `o` | `o ‖ uuid` | — (an incident with a clock still running: evaluated at query time) |
//! | `S` | `S ‖ uuid` | a fingerprint of the incident's `sla_clocks` rows last written |
//!
//! `K` rows are written by the projector in the batch that moves the checkpoint (pushing a
//! fact is not idempotent, so it must be atomic with the checkpoint). `O`/`o` rows are
//! recomputed from the store for every incident a batch touches (its stream or its SLA
//! stream), before the batch is applied, as the due index is (see `engine/sla.rs`): they are a
//! pure function of the log, so re-running them after a crash is harmless. A finished clock's
//! outcome does not depend on the instant it is read at; a running one's does, which is why it
//! is only marked and evaluated by the query.
//!
//! Merging the rows gives exactly the [`KpiInput`] a replay of the log builds: the same facts
//! per record in log order, the same `recorded_until` (the maximum over the rows), the same SLA
//! outcomes. The engine's tests check the two against each other.

use crate::error::{EngineError, Result};
use crate::kv::{Kv, Overlay, prefix_end};
use crate::record::{RecordEvent, RecordRef, decode_as, kind_code};
use chrono::{DateTime, Utc};
use opsledger_core::incident::IncidentEvent;
use opsledger_core::kpi::{ChangeFact, KpiInput, SlaOutcome};
use opsledger_core::{ChangeId, IncidentId, Priority, RecordKind};
use opsledger_store::StoredEvent;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use uuid::Uuid;

const ROW: u8 = b'K';
const OUTCOMES: u8 = b'O';
const LIVE: u8 = b'o';
const SLA_ROWS: u8 = b'S';

/// The KPI facts of one record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct KpiRow {
    /// The record's facts, as an input holding that record alone.
    pub(crate) input: KpiInput,
    /// An incident's priorities over time (opened, then each reprioritisation), to give each
    /// SLA outcome the priority its record had when the clock was attached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    priorities: Vec<(DateTime<Utc>, Priority)>,
}

/// An SLA outcome of a finished clock, with the instant its instance was attached (its
/// priority is filled in by the query from the record's [`KpiRow`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredOutcome {
    pub outcome: SlaOutcome,
    pub attached_at: DateTime<Utc>,
}

fn row_key(record: RecordRef) -> Vec<u8> {
    let mut k = Vec::with_capacity(18);
    k.push(ROW);
    k.push(kind_code(record.kind));
    k.extend_from_slice(record.id.as_bytes());
    k
}

pub(crate) fn outcomes_key(id: Uuid) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.push(OUTCOMES);
    k.extend_from_slice(id.as_bytes());
    k
}

pub(crate) fn live_key(id: Uuid) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.push(LIVE);
    k.extend_from_slice(id.as_bytes());
    k
}

/// The fingerprint of the `sla_clocks` rows last written for an incident.
pub(crate) fn sla_rows_key(id: Uuid) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.push(SLA_ROWS);
    k.extend_from_slice(id.as_bytes());
    k
}

/// Whether a read-model key belongs to the `O`/`o` part, or the SLA rows' fingerprints (derived
/// from the store, not from the batches: left out of view dumps).
pub(crate) fn is_outcome_key(key: &[u8]) -> bool {
    matches!(key.first(), Some(&OUTCOMES | &LIVE | &SLA_ROWS))
}

/// Folds one record's events of a batch into its KPI row; answers the row before and after
/// when it changed.
pub(crate) fn apply(
    ov: &mut Overlay<'_>,
    record: RecordRef,
    events: &[&StoredEvent],
) -> Result<Option<(KpiRow, KpiRow)>> {
    if record.kind == RecordKind::Problem {
        return Ok(None);
    }
    let key = row_key(record);
    let before: KpiRow = match ov.get(&key)? {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(EngineError::views)?,
        None => KpiRow::default(),
    };
    let mut row = before.clone();
    let mut changed = false;
    for e in events {
        match decode_as(record.kind, e)? {
            RecordEvent::Incident(ev) => {
                if let IncidentEvent::Opened { priority, at, .. }
                | IncidentEvent::Reprioritized { priority, at, .. } = &ev
                {
                    row.priorities.push((*at, *priority));
                }
                row.input.push_incident_event(&ev);
                changed = true;
            }
            RecordEvent::Change(ev) => {
                if let Some(fact) = ChangeFact::from_event(&ev) {
                    row.input
                        .push_change_fact(ChangeId(record.id), ev.at(), fact);
                    changed = true;
                }
            }
            RecordEvent::Problem(_) => {}
        }
    }
    if !changed {
        return Ok(None);
    }
    ov.put(key, serde_json::to_vec(&row).map_err(EngineError::views)?);
    Ok(Some((before, row)))
}

/// The priority an incident had at `at` (its first one if `at` precedes them all).
pub(crate) fn priority_at(priorities: &[(DateTime<Utc>, Priority)], at: DateTime<Utc>) -> Priority {
    priorities
        .iter()
        .rev()
        .find(|(t, _)| *t <= at)
        .or(priorities.first())
        .map_or(Priority::Planning, |(_, p)| *p)
}

/// Everything the `K` rows hold, merged: the input (without SLA outcomes) and each incident's
/// priorities over time.
pub(crate) type Priorities = HashMap<IncidentId, Vec<(DateTime<Utc>, Priority)>>;

/// Merges every `K` row.
pub(crate) fn load(kv: &dyn Kv) -> Result<(KpiInput, Priorities)> {
    let mut input = KpiInput::new();
    let mut priorities = Priorities::new();
    for item in kv.range(&[ROW], &prefix_end(&[ROW]), false) {
        let (_, bytes) = item?;
        let row: KpiRow = serde_json::from_slice(&bytes).map_err(EngineError::views)?;
        if let Some(t) = row.input.recorded_until {
            input.recorded_until = Some(input.recorded_until.map_or(t, |u| u.max(t)));
        }
        if let Some((id, _)) = row.input.incidents.first_key_value()
            && !row.priorities.is_empty()
        {
            priorities.insert(*id, row.priorities);
        }
        input.incidents.extend(row.input.incidents);
        input.changes.extend(row.input.changes);
    }
    Ok((input, priorities))
}

/// Every stored final outcome (priority still to be filled), and the incidents with a clock
/// still running.
pub(crate) fn load_outcomes(kv: &dyn Kv) -> Result<(Vec<StoredOutcome>, Vec<Uuid>)> {
    let mut outcomes = Vec::new();
    for item in kv.range(&[OUTCOMES], &prefix_end(&[OUTCOMES]), false) {
        let (_, bytes) = item?;
        let stored: Vec<StoredOutcome> =
            serde_json::from_slice(&bytes).map_err(EngineError::views)?;
        outcomes.extend(stored);
    }
    let mut live = Vec::new();
    for item in kv.range(&[LIVE], &prefix_end(&[LIVE]), false) {
        let (key, _) = item?;
        if let Some(id) = key.get(1..17).and_then(|b| Uuid::from_slice(b).ok()) {
            live.push(id);
        }
    }
    Ok((outcomes, live))
}

/// An incident's KPI history and priorities over time: its `K` row with the events of `batch`
/// on its stream folded in (the row as the batch will leave it).
pub(crate) fn history_with(
    kv: &dyn Kv,
    record: RecordRef,
    batch: &[StoredEvent],
) -> Result<Option<KpiRow>> {
    let mut row: KpiRow = match kv.get(&row_key(record))? {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(EngineError::views)?,
        None => KpiRow::default(),
    };
    let stream = record.stream();
    for e in batch.iter().filter(|e| e.stream == stream) {
        if let RecordEvent::Incident(ev) = decode_as(record.kind, e)? {
            if let IncidentEvent::Opened { priority, at, .. }
            | IncidentEvent::Reprioritized { priority, at, .. } = &ev
            {
                row.priorities.push((*at, *priority));
            }
            row.input.push_incident_event(&ev);
        }
    }
    Ok((!row.input.incidents.is_empty()).then_some(row))
}

impl KpiRow {
    /// The incident's priority when an instance was attached at `at`.
    pub(crate) fn priority_at(&self, at: DateTime<Utc>) -> Priority {
        priority_at(&self.priorities, at)
    }

    /// The incident's assignment group at `at`.
    pub(crate) fn group_at(&self, at: DateTime<Utc>) -> Option<opsledger_core::GroupId> {
        self.input
            .incidents
            .values()
            .next()
            .and_then(|h| h.group_at(at))
    }
}
