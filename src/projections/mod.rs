//! Read models: record views, queues, KEDB, change calendar, alert dedup keys, the tick's
//! due index and the KPI facts as SQL tables ([`tables`]); numbers and the KPI read model's
//! SLA outcomes in one ordered key space (see [`keys`] for the layout) with a checkpoint; and
//! the projector that folds the log into them.
//!
//! The projector applies the log strictly in position order, one batch at a time; each batch
//! is one atomic write that also moves the checkpoint (and records the id of the event at the
//! checkpoint, so that a view store that got ahead of its log is detected and rebuilt). Every
//! row and key is a pure function of the log (see [`view`]), so a rebuild from the log gives
//! exactly what incremental updates gave.

pub(crate) mod calendar;
pub(crate) mod kedb;
pub(crate) mod keys;
pub(crate) mod kpi;
pub(crate) mod memo;
pub(crate) mod queue;
pub(crate) mod tables;
pub(crate) mod timeline;
pub(crate) mod view;

use crate::error::{EngineError, Result};
use crate::kv::{Kv, Overlay};
use crate::numbers::{HumanNumber, NumberAllocated, numbering_kind};
use crate::record::{AnyState, RecordRef};
use opsledger_core::RecordKind;
use opsledger_store::StoredEvent;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;
use view::RecordView;

/// Version of the read-model layout. A store written with another version is wiped and rebuilt
/// from the log when the engine opens. 2: the tick's due index (`D`/`E`), so that records
/// resolved or attached before it existed are indexed. 3: the KPI read model (`K`, `O`, `o`).
/// 4: the SQL read models ([`tables`]) beside the keys, filled by the rebuild. 5: record views,
/// queues, the calendar, alert keys and awaiting incidents in the tables only. 6: the tick's
/// due index in the table `sla_due` only. 7: the KPI facts in the KPI rows' `facts` column,
/// not as `K` keys. A store at 5 or 6 is upgraded in place by dropping the keys no later
/// layout uses (see [`drop_unused_keys`]).
pub(crate) const VIEWS_SCHEMA: u32 = 7;

/// The layouts upgraded to [`VIEWS_SCHEMA`] by dropping keys (the tables the keys moved to are
/// filled by the rebuild of their model, whose version changed with them).
pub(crate) const VIEWS_SCHEMAS_UPGRADED_IN_PLACE: [u32; 2] = [5, 6];

/// Deletes the keys of the layouts in [`VIEWS_SCHEMAS_UPGRADED_IN_PLACE`] that
/// [`VIEWS_SCHEMA`] does not use: the due index (`D ‖ instant ‖ kind ‖ uuid` and
/// `E ‖ kind ‖ uuid`, up to 5) and the KPI facts (`K ‖ kind ‖ uuid`, up to 6), a thousand at
/// a time; answers how many.
pub(crate) fn drop_unused_keys(kv: &dyn Kv) -> Result<u64> {
    let mut dropped = 0u64;
    for (from, to) in [(&b"D"[..], &b"F"[..]), (&b"K"[..], &b"L"[..])] {
        loop {
            let page: Vec<Vec<u8>> = kv
                .range(from, to, false)
                .take(1_000)
                .map(|item| item.map(|(k, _)| k))
                .collect::<Result<_>>()?;
            if page.is_empty() {
                break;
            }
            dropped += page.len() as u64;
            kv.apply(page.into_iter().map(|k| (k, None)).collect())?;
        }
    }
    Ok(dropped)
}

/// Gives the projector the state of a record after some of its events.
pub(crate) trait StateSource {
    /// The state of `record` right after `events`: consecutive events of its stream, in order,
    /// the last of which is the latest the projector has seen of that stream.
    fn state_after(&mut self, record: RecordRef, events: &[&StoredEvent]) -> Result<AnyState>;
}

/// The views' checkpoint: the last position applied and that event's id (one key, written in
/// the same batch as the read models it describes).
pub(crate) fn read_checkpoint(kv: &dyn Kv) -> Result<(u64, Option<Uuid>)> {
    let Some(bytes) = kv.get(keys::CHECKPOINT)? else {
        return Ok((0, None));
    };
    let position = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok().map(u64::from_be_bytes))
        .unwrap_or(0);
    let id = bytes.get(8..24).and_then(|b| Uuid::from_slice(b).ok());
    Ok((position, id))
}

/// Reads one record view (the `view` column of its `records` row).
pub(crate) fn get_view(tables: &tables::Tables, record: RecordRef) -> Result<Option<RecordView>> {
    use opsledger_store::SqlValue;
    let rows = tables.sql.query_all(
        "SELECT position, view FROM records WHERE id = ?1 AND kind = ?2",
        &[
            SqlValue::Text(record.id.to_string()),
            SqlValue::Text(record.kind.to_string()),
        ],
    )?;
    match rows.first().map(Vec::as_slice) {
        Some([SqlValue::Integer(position), SqlValue::Text(json)]) => {
            tables.view(record.id, *position as u64, json).map(Some)
        }
        Some(_) => Err(EngineError::Views(format!(
            "the records row of {record} has no view"
        ))),
        None => Ok(None),
    }
}

pub(crate) fn decode_view(bytes: &[u8]) -> Result<RecordView> {
    serde_json::from_slice(bytes).map_err(EngineError::views)
}

/// A record's human number as the views know it (allocated in the same append as the record).
fn number_in(
    ov: &Overlay<'_>,
    t: &tables::Tables,
    record: RecordRef,
) -> Result<Option<HumanNumber>> {
    if let Some(number) = t.memo().number(record) {
        return Ok(Some(number));
    }
    Ok(ov
        .get(&keys::number_of(record.kind, &record.id))?
        .and_then(|b| b.try_into().ok().map(u64::from_be_bytes))
        .map(|n| HumanNumber::new(record.kind, n)))
}

/// Folds `events` (the next positions after the checkpoint, dense and in order) into the read
/// models in one atomic write: the SQL tables, then the keys and the checkpoint (the tables
/// first, so that on a backend without transactions a crash in between re-applies the batch
/// over rows that already hold it, which leaves them as they are).
pub(crate) fn apply_batch(
    kv: &dyn Kv,
    t: &tables::Tables,
    states: &mut dyn StateSource,
    known: &kpi::KnownFacts,
    events: &[StoredEvent],
) -> Result<()> {
    let Some(last) = events.last() else {
        return Ok(());
    };
    let mut ov = Overlay::new(kv);
    let mut sql = Vec::new();
    let mut order: Vec<RecordRef> = Vec::new();
    // What the batch writes, for the memo and the view cache once the tables hold it.
    let mut written_facts: Vec<(RecordRef, kpi::KpiRow)> = Vec::new();
    let mut written_views: Vec<(RecordRef, Arc<RecordView>)> = Vec::new();
    let mut allocated: Vec<(RecordRef, HumanNumber)> = Vec::new();
    let mut by_record: HashMap<RecordRef, Vec<&StoredEvent>> = HashMap::new();
    for e in events {
        if let Some(kind) = numbering_kind(e.stream.as_str()) {
            let alloc: NumberAllocated =
                serde_json::from_slice(&e.payload).map_err(|err| EngineError::Decode {
                    position: e.position.0,
                    reason: err.to_string(),
                })?;
            ov.put(
                keys::number(kind, e.version.0),
                alloc.id.as_bytes().to_vec(),
            );
            ov.put(
                keys::number_of(kind, &alloc.id),
                e.version.0.to_be_bytes().to_vec(),
            );
            allocated.push((
                RecordRef { kind, id: alloc.id },
                HumanNumber::new(kind, e.version.0),
            ));
        } else if let Some(record) = RecordRef::from_stream(e.stream.as_str()) {
            by_record
                .entry(record)
                .or_insert_with(|| {
                    order.push(record);
                    Vec::new()
                })
                .push(e);
        }
        t.effect_row(e, &mut sql);
        if e.stream.as_str() == crate::service_model::SERVICE_MODEL_STREAM {
            t.service_model_rows(e, &mut sql)?;
        }
        if e.stream.as_str().starts_with("article-") {
            t.article_rows(e, &mut sql)?;
        }
        if e.event_type == crate::knowledge::RUNBOOKS_SUGGESTED {
            t.suggestion_rows(e, &mut sql)?;
        }
    }
    for record in order {
        let evs = by_record.get(&record).map(Vec::as_slice).unwrap_or(&[]);
        let Some(last_event) = evs.last() else {
            continue;
        };
        let decoded = evs
            .iter()
            .map(|e| Ok((*e, crate::record::decode_as(record.kind, e)?)))
            .collect::<Result<Vec<_>>>()?;
        let kpi_row = kpi::apply(t, known, record, &decoded)?;
        let number = number_in(&ov, t, record)?;
        if let Some((_, row)) = &kpi_row {
            written_facts.push((record, row.clone()));
        }
        if let Some((before, row)) = &kpi_row {
            let facts = row.to_json()?;
            for history in row.input.incidents.values() {
                let old = before.input.incidents.values().next();
                t.incident_kpi_row(old, history, number, &facts, &mut sql);
            }
            for history in row.input.changes.values() {
                let old = before.input.changes.values().next();
                t.change_kpi_row(old, history, number, &facts, &mut sql);
            }
        }
        let name = |text: &str| {
            crate::numbers::name_records(text, |id| {
                [
                    RecordKind::Incident,
                    RecordKind::Problem,
                    RecordKind::Change,
                ]
                .into_iter()
                .find_map(|kind| number_in(&ov, t, RecordRef { kind, id }).ok().flatten())
            })
        };
        for (e, event) in &decoded {
            t.timeline_row(e, event, record, number, &name, &mut sql);
        }
        let state = states.state_after(record, evs)?;
        let Some(current) = state.to_record() else {
            continue;
        };
        let old = match t.memo().view(record) {
            Some(view) => view,
            None => get_view(t, record)?.map(Arc::new),
        };
        let number = match old.as_ref().and_then(|v| v.number) {
            Some(n) => Some(n),
            None => number,
        };
        let new = RecordView::derive(
            &current,
            number,
            last_event.version.0,
            last_event.position.0,
            last_event.recorded_at,
        );
        t.record_rows(old.as_deref(), &new, &mut sql);
        written_views.push((record, Arc::new(new)));
    }
    t.apply(&sql)?;
    if t.writes_kpi() {
        for (record, row) in written_facts {
            t.memo().put_facts(record, Some(row));
        }
    }
    if t.writes_records() {
        for (record, view) in written_views {
            t.remember_view(view.position, view.clone());
            t.memo().put_view(record, Some(view));
        }
    }
    let mut checkpoint = last.position.0.to_be_bytes().to_vec();
    checkpoint.extend_from_slice(last.event_id.as_bytes());
    ov.put(keys::CHECKPOINT.to_vec(), checkpoint);
    ov.commit()?;
    for (record, number) in allocated {
        t.memo().put_number(record, number);
    }
    Ok(())
}

/// States kept in a map, folded from the first event on: the state source of as-of replays.
#[derive(Default)]
pub(crate) struct ReplayStates {
    pub(crate) states: HashMap<RecordRef, (u64, AnyState)>,
}

impl StateSource for ReplayStates {
    fn state_after(&mut self, record: RecordRef, events: &[&StoredEvent]) -> Result<AnyState> {
        let entry = self
            .states
            .entry(record)
            .or_insert_with(|| (0, AnyState::empty(record.kind)));
        let mut state = std::mem::replace(&mut entry.1, AnyState::empty(record.kind));
        for e in events {
            if e.version.0 <= entry.0 {
                continue;
            }
            let decoded = crate::record::decode_as(record.kind, e)?;
            state = state.evolve(&decoded);
            entry.0 = e.version.0;
        }
        entry.1 = state.clone();
        Ok(state)
    }
}
