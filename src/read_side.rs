//! What queries need from the engine, and nothing else: the log, the read models (caught up
//! first), the record loader, the number and stream lookups, and the SLA and KPI facts that
//! are computed from the log. [`ReadView`](crate::ReadView) reads through this handle, so the
//! query code does not depend on the engine's type (and the engine's write path does not
//! depend on the query code beyond handing the handle out).

use crate::cache::Loader;
use crate::config::EngineConfig;
use crate::engine::sla::SlaExplanation;
use crate::error::Result;
use crate::kv::Kv;
use crate::numbers::HumanNumber;
use crate::projections::kpi::StoredOutcome;
use crate::record::RecordRef;
use chrono::{DateTime, Utc};
use opsledger_core::Policy;
use opsledger_core::incident::Incident;
use opsledger_core::sla::{SlaPolicy, WhatIfReport};
use opsledger_core::window::TimeWindow;
use opsledger_store::{EventStore, StoredEvent, StreamId};
use std::sync::Arc;

/// The read side of an engine.
pub(crate) trait ReadSide: Send + Sync {
    /// Brings the read models up to the log's head; returns the head.
    fn catch_up(&self) -> Result<u64>;
    /// The event log.
    fn log(&self) -> &dyn EventStore;
    /// The live read models.
    fn views(&self) -> Arc<dyn Kv>;
    /// The live read models as SQL tables.
    fn tables(&self) -> &crate::projections::tables::Tables;
    /// The engine's configuration (limits, clock).
    fn config(&self) -> &EngineConfig;
    /// The policy in force when the event at `position` was appended (`None`: now).
    fn policy_at(&self, position: Option<u64>) -> Arc<Policy>;
    /// Loads record states (cache, snapshot, stream tail).
    fn loader(&self) -> Loader<'_>;
    /// A record's human number.
    fn number_of(&self, record: RecordRef) -> Result<Option<HumanNumber>>;
    /// Runs `reads` against one read snapshot of the backend ([`Storage::read_snapshot`]:
    /// on SQLite one read transaction instead of one per read).
    ///
    /// [`Storage::read_snapshot`]: opsledger_store::Storage::read_snapshot
    fn read_snapshot(&self, reads: &mut dyn FnMut() -> Result<()>) -> Result<()>;
    /// Events of a stream up to a position.
    fn stream_events(
        &self,
        stream: &StreamId,
        up_to: Option<u64>,
        max: usize,
    ) -> Result<Vec<StoredEvent>>;
    /// The final SLA outcomes of a record's clocks, and whether one still runs.
    fn kpi_outcomes(
        &self,
        record: RecordRef,
        up_to: Option<u64>,
        now: DateTime<Utc>,
        incident: Option<&Incident>,
    ) -> Result<(Vec<StoredOutcome>, bool)>;
    /// The records with SLA streams up to a position.
    fn sla_streams_upto(&self, up_to: u64) -> Result<Vec<RecordRef>>;
    /// A record's SLA clocks at `now`, with their spans when asked.
    fn sla_clocks(
        &self,
        record: RecordRef,
        up_to: Option<u64>,
        now: DateTime<Utc>,
        with_spans: bool,
    ) -> Result<Vec<SlaExplanation>>;
    /// Records opened in `window`, replayed under a proposed SLA policy and the current one.
    fn sla_what_if(
        &self,
        window: &TimeWindow,
        proposed: &SlaPolicy,
        up_to: u64,
        now: DateTime<Utc>,
    ) -> Result<WhatIfReport>;
}
