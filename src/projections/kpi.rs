//! The KPI read model's facts: what [`ReadView::kpis`](crate::ReadView::kpis) folds for a
//! query the SQL aggregates do not answer (business time), and what the SLA rows and the live
//! report read of one incident, so that neither replays the log.
//!
//! | where | what |
//! |---|---|
//! | `kpi_incidents.facts`, `kpi_changes.facts` | [`KpiRow`] as JSON: the record's KPI facts, as a one-record [`KpiInput`] (without `recorded_until`) |
//! | key `O ‖ uuid` | the final SLA outcomes of an incident whose clocks are all finished |
//! | key `o ‖ uuid` | — (an incident with a clock still running: evaluated at query time) |
//! | key `S ‖ uuid` | a fingerprint of the incident's `sla_clocks` rows and `O`/`o` keys last written |
//!
//! The facts are folded by the projector into the KPI row it writes anyway (a command that
//! changes no fact, a work note, writes nothing). Pushing a fact is not idempotent, so a row
//! records the stream version it folded through: a batch applied again (where units are not
//! transactions, a crash between the tables and the checkpoint) folds nothing twice. `O`/`o` keys are recomputed from the
//! store for every incident a batch touches (its stream or its SLA stream), before the batch
//! is applied, as the due index is (see `engine/sla.rs`): they are a pure function of the log,
//! so re-running them after a crash is harmless. A finished clock's outcome does not depend on
//! the instant it is read at; a running one's does, which is why it is only marked and
//! evaluated by the query.
//!
//! Merging the rows gives the [`KpiInput`] a replay of the log builds (the same facts per
//! record in log order, the same SLA outcomes) except `recorded_until`, the instant of the
//! last event, which a live query never reads: it measures to its own instant. The engine's
//! tests check the reports of the two against each other.

use crate::error::{EngineError, Result};
use crate::kv::{Kv, prefix_end};
use crate::projections::tables::Tables;
use crate::record::{RecordEvent, RecordRef, decode_as};
use chrono::{DateTime, Utc};
use opsledger_core::incident::IncidentEvent;
use opsledger_core::kpi::{ChangeFact, KpiInput, SlaOutcome};
use opsledger_core::{ChangeId, IncidentId, Priority, RecordKind};
use opsledger_store::StoredEvent;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use uuid::Uuid;

const OUTCOMES: u8 = b'O';
const LIVE: u8 = b'o';
const SLA_ROWS: u8 = b'S';

/// The KPI facts of one record (the `facts` column of its KPI row).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct KpiRow {
    /// The record's facts, as an input holding that record alone.
    pub(crate) input: KpiInput,
    /// An incident's priorities over time (opened, then each reprioritisation), to give each
    /// SLA outcome the priority its record had when the clock was attached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    priorities: Vec<(DateTime<Utc>, Priority)>,
    /// The stream version of the last event folded in that added a fact: an event at or below
    /// it is not folded again (on a backend whose units are not transactions a batch whose
    /// rows were written may be applied again after a crash, before its checkpoint was).
    #[serde(default)]
    through: u64,
}

impl KpiRow {
    /// Folds one event of the record's stream in (nothing if it already is); answers whether
    /// a fact was added. `through` moves to an event that adds a fact, not to one that adds
    /// none (folding that one again adds nothing either), so that a row written event by event
    /// and one rebuilt in one batch hold the same `through`.
    fn fold(&mut self, record: RecordRef, version: u64, event: &RecordEvent) -> bool {
        if version <= self.through {
            return false;
        }
        let added = self.fold_event(record, event);
        if added {
            self.through = version;
        }
        added
    }

    fn fold_event(&mut self, record: RecordRef, event: &RecordEvent) -> bool {
        match event {
            RecordEvent::Incident(ev) => {
                let mut added = false;
                if let IncidentEvent::Opened { priority, at, .. }
                | IncidentEvent::Reprioritized { priority, at, .. } = ev
                {
                    self.priorities.push((*at, *priority));
                    added = true;
                }
                self.input.push_incident_event(ev) || added
            }
            RecordEvent::Change(ev) => match ChangeFact::from_event(ev) {
                Some(fact) => {
                    self.input
                        .push_change_fact(ChangeId(record.id), ev.at(), fact);
                    true
                }
                None => false,
            },
            RecordEvent::Problem(_) => false,
        }
    }
}

/// An SLA outcome of a finished clock, with the instant its instance was attached (its
/// priority is filled in by the query from the record's [`KpiRow`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredOutcome {
    pub outcome: SlaOutcome,
    pub attached_at: DateTime<Utc>,
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

/// The fingerprint of the `sla_clocks` rows and the `O`/`o` keys last written for an incident.
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

/// The KPI facts of `record` as its KPI row holds them: none for a problem, or before the
/// record's first fact a KPI reads.
pub(crate) fn stored(t: &Tables, record: RecordRef) -> Result<Option<KpiRow>> {
    if let Some(facts) = t.memo().facts(record) {
        return Ok(facts);
    }
    let facts = read_stored(t, record)?;
    t.memo().put_facts(record, facts.clone());
    Ok(facts)
}

fn read_stored(t: &Tables, record: RecordRef) -> Result<Option<KpiRow>> {
    let sql = match record.kind {
        RecordKind::Incident => "SELECT facts FROM kpi_incidents WHERE incident = ?1",
        RecordKind::Change => "SELECT facts FROM kpi_changes WHERE change = ?1",
        RecordKind::Problem => return Ok(None),
    };
    let rows = t.sql.query_all(
        sql,
        &[opsledger_store::SqlValue::Text(record.id.to_string())],
    )?;
    match rows.first().and_then(|r| r.first()) {
        Some(value) => decode(value).map(Some),
        None => Ok(None),
    }
}

fn decode(value: &opsledger_store::SqlValue) -> Result<KpiRow> {
    let json = value
        .as_str()
        .ok_or_else(|| EngineError::Views("a KPI row has no facts".into()))?;
    serde_json::from_str(json).map_err(EngineError::views)
}

/// Stored KPI facts already read in the unit that projects a batch (by the due index's
/// refresh, see `engine/sla.rs`), so that the batch's fold does not read them again.
pub(crate) type KnownFacts = HashMap<RecordRef, Option<KpiRow>>;

/// Folds one record's events of a batch (each with its decoded form) into its KPI facts;
/// answers the facts before and after when a fact was added (nothing when the KPI model is not
/// written).
pub(crate) fn apply(
    t: &Tables,
    known: &KnownFacts,
    record: RecordRef,
    events: &[(&StoredEvent, RecordEvent)],
) -> Result<Option<(KpiRow, KpiRow)>> {
    if record.kind == RecordKind::Problem || !t.writes_kpi() {
        return Ok(None);
    }
    let before = match known.get(&record) {
        Some(row) => row.clone(),
        None => stored(t, record)?,
    }
    .unwrap_or_default();
    let mut row = before.clone();
    let mut changed = false;
    for (e, event) in events {
        changed |= row.fold(record, e.version.0, event);
    }
    // Not stored: it would change with every event, and the live fold measures to its query's
    // instant.
    row.input.recorded_until = None;
    Ok(changed.then_some((before, row)))
}

impl KpiRow {
    /// The JSON the `facts` column holds.
    pub(crate) fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(EngineError::views)
    }
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

/// Merges the facts of every KPI row.
pub(crate) fn load(t: &Tables) -> Result<(KpiInput, Priorities)> {
    let mut input = KpiInput::new();
    let mut priorities = Priorities::new();
    let mut failed = None;
    t.sql.query(
        "SELECT facts FROM kpi_incidents UNION ALL SELECT facts FROM kpi_changes",
        &[],
        &mut |r| {
            let row = match r.first().map(decode) {
                Some(Ok(row)) => row,
                Some(Err(e)) => {
                    failed = Some(e);
                    return Ok(opsledger_store::RowFlow::Stop);
                }
                None => return Ok(opsledger_store::RowFlow::Continue),
            };
            if let Some((id, _)) = row.input.incidents.first_key_value()
                && !row.priorities.is_empty()
            {
                priorities.insert(*id, row.priorities);
            }
            input.incidents.extend(row.input.incidents);
            input.changes.extend(row.input.changes);
            Ok(opsledger_store::RowFlow::Continue)
        },
    )?;
    match failed {
        Some(e) => Err(e),
        None => Ok((input, priorities)),
    }
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

/// An incident's KPI history and priorities over time: its stored facts with the events of
/// `batch` on its stream folded in (the facts as the batch will leave them).
pub(crate) fn history_with(
    t: &Tables,
    record: RecordRef,
    batch: &[StoredEvent],
) -> Result<Option<KpiRow>> {
    folded(stored(t, record)?, record, batch)
}

/// `stored` (an incident's facts, see [`stored`]) with the events of `batch` on its stream
/// folded in.
pub(crate) fn folded(
    stored: Option<KpiRow>,
    record: RecordRef,
    batch: &[StoredEvent],
) -> Result<Option<KpiRow>> {
    let mut row = stored.unwrap_or_default();
    let stream = record.stream();
    for e in batch.iter().filter(|e| e.stream == stream) {
        let event = decode_as(record.kind, e)?;
        if matches!(event, RecordEvent::Incident(_)) {
            row.fold(record, e.version.0, &event);
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
