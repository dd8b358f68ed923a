//! Queries, now or as of any recorded instant.
//!
//! A [`ReadView`] answers every query. The live view (`as_of = None`) reads the read models,
//! caught up to the log's head first. An as-of view reflects exactly the events recorded at or
//! before its instant: it finds the last such position (recorded times never decrease along
//! the log), and for view-wide queries (queues, KEDB, calendar, alerts, record views) replays
//! the log up to there into in-memory read models through the same projector code the live
//! models use. So "as of T" *is* "replay the log up to T", by construction; its cost grows with
//! the log prefix (use one view for several queries). Record states, timelines and number
//! lookups as of T need no replay: they read the record's own stream up to the position, and
//! the append-only number and causation indexes filtered by it.

use crate::engine::sla::SlaExplanation;
use crate::error::{EngineError, Result};
use crate::kv::{Kv, MemoryKv};
use crate::numbers::HumanNumber;
use crate::projections::calendar::{CalendarEntry, CalendarQuery};
use crate::projections::kedb::{KedbQuery, KnownErrorEntry, OpenAlert};
use crate::projections::kpi::{self, StoredOutcome};
use crate::projections::queue::{Page, QueueFilter};
use crate::projections::tables::{Tables, kpi_report};
use crate::projections::timeline::{EventRef, TimelineEntry, describe};
use crate::projections::view::RecordView;
use crate::projections::{self, ReplayStates, calendar, get_view, kedb, keys, queue};
use crate::read_side::ReadSide;
use crate::record::{AnyState, RecordEvent, RecordRef, RecordState, decode_as, fold_stored};
use chrono::{DateTime, Utc};
use opsledger_core::Priority;
use opsledger_core::change::Change;
use opsledger_core::incident::Incident;
use opsledger_core::incident::IncidentEvent;
use opsledger_core::kpi::BacklogSample;
use opsledger_core::kpi::{ChangeFact, KpiInput, KpiQuery, KpiReport, compute};
use opsledger_core::problem::Problem;
use opsledger_core::sla::{SlaPolicy, SlaStatus, WhatIfReport};
use opsledger_core::window::TimeWindow;
use opsledger_core::{ChangeId, IncidentId, ProblemId, RecordKind};
use opsledger_store::{LogPages, Position};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// Events read per call while replaying.
const REPLAY_PAGE: usize = 1_000;

/// The read models at one instant: now, or as of a recorded instant.
pub struct ReadView<'e> {
    side: &'e dyn ReadSide,
    as_of: Option<DateTime<Utc>>,
    position: u64,
    replay: Mutex<Option<Replayed>>,
}

/// The read models of an as-of view, replayed from the log: keys in memory and the SQL tables
/// in an in-memory database.
#[derive(Clone)]
struct Replayed {
    kv: Arc<MemoryKv>,
    tables: Tables,
}

impl std::fmt::Debug for ReadView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadView")
            .field("as_of", &self.as_of)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl<'e> ReadView<'e> {
    pub(crate) fn new(side: &'e dyn ReadSide, as_of: Option<DateTime<Utc>>) -> Result<Self> {
        let head = side.catch_up()?;
        let position = match as_of {
            None => head,
            Some(t) => last_position_at(side, head, t)?,
        };
        Ok(Self {
            side,
            as_of,
            position,
            replay: Mutex::new(None),
        })
    }

    /// The policy in force at this view's instant: the current version for a live view, the
    /// version in force when the view's last event was appended for an as-of view.
    pub fn policy(&self) -> Arc<opsledger_core::Policy> {
        self.side.policy_at(self.bound())
    }

    /// The instant this view is as of (`None`: now).
    pub fn as_of(&self) -> Option<DateTime<Utc>> {
        self.as_of
    }

    /// The last log position this view reflects.
    pub fn position(&self) -> u64 {
        self.position
    }

    fn bound(&self) -> Option<u64> {
        self.as_of.map(|_| self.position)
    }

    /// The read models this view queries.
    fn kv(&self) -> Result<Arc<dyn Kv>> {
        if self.as_of.is_none() {
            return Ok(self.side.views().clone());
        }
        Ok(self.replayed()?.kv)
    }

    /// The SQL read models this view queries.
    /// The read models as SQL tables: live, or replayed to this view's position.
    pub(crate) fn tables(&self) -> Result<Tables> {
        if self.as_of.is_none() {
            return Ok(self.side.tables().clone());
        }
        Ok(self.replayed()?.tables)
    }

    fn replayed(&self) -> Result<Replayed> {
        let mut slot = self.replay.lock();
        if let Some(r) = slot.as_ref() {
            return Ok(r.clone());
        }
        let limit = self.side.config().limits.max_as_of_replay_events;
        if self.position > limit {
            return Err(EngineError::LimitExceeded {
                what: format!("an as-of view replaying {} events", self.position),
                limit,
            });
        }
        let kv = Arc::new(MemoryKv::new());
        let tables = Tables::new(
            opsledger_store_sqlite::SqliteSpaces::in_memory()?.tables(),
            true,
        );
        tables.ensure_schema()?;
        let mut states = ReplayStates::default();
        for page in LogPages::new(self.side.log(), 1, self.position, REPLAY_PAGE) {
            projections::apply_batch(&*kv, &tables, &mut states, &Default::default(), &page?)?;
        }
        let replayed = Replayed { kv, tables };
        *slot = Some(replayed.clone());
        Ok(replayed)
    }

    /// The view of one record. As of an instant it folds that record's stream alone (up to
    /// the view's position), unless this view already replayed the log prefix.
    pub fn record(&self, record: RecordRef) -> Result<Option<RecordView>> {
        let Some(bound) = self.bound() else {
            return get_view(&self.tables()?, record);
        };
        let replayed = self.replay.lock().clone();
        if let Some(r) = replayed {
            return get_view(&r.tables, record);
        }
        let inner = self.side;
        let events = inner.stream_events(&record.stream(), Some(bound), usize::MAX)?;
        let Some(last) = events.last() else {
            return Ok(None);
        };
        let Some(state) =
            fold_stored(record.kind, AnyState::empty(record.kind), &events)?.to_record()
        else {
            return Ok(None);
        };
        Ok(Some(RecordView::derive(
            &state,
            inner.number_of(record)?,
            last.version.0,
            last.position.0,
            last.recorded_at,
        )))
    }

    /// The record with human number `number`, if it existed at this view's instant.
    pub fn lookup(&self, number: &HumanNumber) -> Result<Option<RecordRef>> {
        let inner = self.side;
        let Some(id) = inner
            .views()
            .get(&keys::number(number.kind, number.value))?
            .and_then(|b| uuid::Uuid::from_slice(&b).ok())
        else {
            return Ok(None);
        };
        let record = RecordRef::new(number.kind, id);
        match self.bound() {
            None => Ok(Some(record)),
            Some(bound) => {
                let first =
                    inner
                        .log()
                        .read_stream(&record.stream(), opsledger_store::Version(1), 1)?;
                Ok(first
                    .first()
                    .filter(|e| e.position.0 <= bound)
                    .map(|_| record))
            }
        }
    }

    /// The view of the record with human number `number` (for example `INC0000042`).
    pub fn find(&self, number: &str) -> Result<Option<RecordView>> {
        let number: HumanNumber = number.parse()?;
        match self.lookup(&number)? {
            Some(record) => self.record(record),
            None => Ok(None),
        }
    }

    /// A record's human number.
    pub fn number_of(&self, record: RecordRef) -> Result<Option<HumanNumber>> {
        let n = self.side.number_of(record)?;
        match (n, self.bound()) {
            (Some(n), Some(_)) => Ok(self.lookup(&n)?.map(|_| n)),
            (n, None) => Ok(n),
            (None, Some(_)) => Ok(None),
        }
    }

    /// The full state of a record.
    pub fn state(&self, record: RecordRef) -> Result<Option<RecordState>> {
        let inner = self.side;
        match self.bound() {
            None => Ok(inner.loader().latest(&record)?.1.to_record()),
            Some(bound) => {
                let events = inner.stream_events(&record.stream(), Some(bound), usize::MAX)?;
                Ok(fold_stored(record.kind, AnyState::empty(record.kind), &events)?.to_record())
            }
        }
    }

    /// The full state of an incident.
    pub fn incident(&self, id: IncidentId) -> Result<Option<Incident>> {
        Ok(match self.state(RecordRef::incident(id))? {
            Some(RecordState::Incident(i)) => Some(i),
            Some(RecordState::Problem(_) | RecordState::Change(_)) | None => None,
        })
    }

    /// The full state of a problem.
    pub fn problem(&self, id: ProblemId) -> Result<Option<Problem>> {
        Ok(match self.state(RecordRef::problem(id))? {
            Some(RecordState::Problem(p)) => Some(p),
            Some(RecordState::Incident(_) | RecordState::Change(_)) | None => None,
        })
    }

    /// The full state of a change.
    pub fn change(&self, id: ChangeId) -> Result<Option<Change>> {
        Ok(match self.state(RecordRef::change(id))? {
            Some(RecordState::Change(c)) => Some(c),
            Some(RecordState::Incident(_) | RecordState::Problem(_)) | None => None,
        })
    }

    /// A page of a work queue. Age filters count from this view's instant.
    pub fn queue(&self, filter: &QueueFilter) -> Result<Page<RecordView>> {
        let inner = self.side;
        let now = self.as_of.unwrap_or_else(|| inner.config().clock.now());
        queue::query(
            &self.tables()?,
            filter,
            now,
            inner.config().limits.max_page_size,
            inner.config().limits.max_scan,
        )
    }

    /// The audit trail of a record, oldest first: the first page of [`Self::timeline_page`],
    /// that is at most the engine's `max_timeline` *oldest* events. A longer trail is cut
    /// there; page through it with [`Self::timeline_page`], which says where to go on.
    pub fn timeline(&self, record: RecordRef) -> Result<Vec<TimelineEntry>> {
        Ok(self
            .timeline_page(record, 1, self.side.config().limits.max_timeline)?
            .0)
    }

    /// A page of a record's audit trail, oldest first: the entries from stream version
    /// `from_version` (1 is the first event), at most `limit` of them (capped by the engine's
    /// `max_timeline`), and the version to ask for next, `None` when the page reaches the end
    /// of the trail as of this view.
    pub fn timeline_page(
        &self,
        record: RecordRef,
        from_version: u64,
        limit: usize,
    ) -> Result<(Vec<TimelineEntry>, Option<u64>)> {
        let limit = limit.clamp(1, self.side.config().limits.max_timeline);
        // Every read of the page in one read snapshot (one read transaction on SQLite, not one
        // per read); the words are written after it, from what it read.
        let mut page = None;
        self.side.read_snapshot(&mut || {
            page = Some(self.read_timeline_page(record, from_version, limit)?);
            Ok(())
        })?;
        let page = page.ok_or_else(|| {
            EngineError::Store(opsledger_store::StoreError::Backend(
                "a read snapshot that did not run its reads".into(),
            ))
        })?;
        let next = page.next;
        Ok((self.timeline_entries(record, page)?, next))
    }

    /// What a timeline page reads: the events, the version that follows them, what each event
    /// caused and what caused it.
    fn read_timeline_page(
        &self,
        record: RecordRef,
        from_version: u64,
        limit: usize,
    ) -> Result<TimelineReads> {
        let inner = self.side;
        let store = inner.log();
        let stream = record.stream();
        let bound = self.bound().unwrap_or(u64::MAX);
        let mut events = store.read_stream(
            &stream,
            opsledger_store::Version(from_version.max(1)),
            limit,
        )?;
        events.retain(|e| e.position.0 <= bound);
        // One more read (a store read is capped at `max_timeline`, and at the store's page
        // size) tells whether there is more; in the same snapshot, it costs one statement.
        let next = match events.last() {
            Some(last) if events.len() == limit => store
                .read_stream(&stream, opsledger_store::Version(last.version.0 + 1), 1)?
                .first()
                .filter(|e| e.position.0 <= bound)
                .map(|e| e.version.0),
            Some(_) | None => None,
        };
        // What these events caused, from the live tables (effects past the view's instant are
        // left out by position).
        let causes: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        let effects = crate::projections::timeline::effects(inner.tables(), &causes, bound)?;
        let mut caused_by = Vec::with_capacity(events.len());
        for e in &events {
            caused_by.push(match e.causation_id {
                Some(c) => match store.event_by_id(c)? {
                    Some(cause) if cause.position.0 <= bound => Some(self.event_ref(&cause)?),
                    Some(_) | None => None,
                },
                None => None,
            });
        }
        Ok(TimelineReads {
            events,
            next,
            effects,
            caused_by,
        })
    }

    /// Another event, named by its record's number.
    fn event_ref(&self, e: &opsledger_store::StoredEvent) -> Result<EventRef> {
        let record = RecordRef::from_stream(e.stream.as_str());
        Ok(EventRef {
            event_id: e.event_id,
            position: e.position.0,
            record,
            number: match record {
                Some(r) => self.side.number_of(r)?,
                None => None,
            },
            event_type: e.event_type.clone(),
        })
    }

    fn timeline_entries(
        &self,
        record: RecordRef,
        page: TimelineReads,
    ) -> Result<Vec<TimelineEntry>> {
        let inner = self.side;
        // Generated text names records by number; `why` is what people wrote, kept as is.
        let name = |what: &str| {
            crate::numbers::name_records(what, |id| {
                [
                    RecordKind::Incident,
                    RecordKind::Problem,
                    RecordKind::Change,
                ]
                .into_iter()
                .find_map(|kind| inner.number_of(RecordRef { kind, id }).ok().flatten())
            })
        };
        let mut out = Vec::with_capacity(page.events.len());
        let entries = page
            .events
            .into_iter()
            .zip(page.effects)
            .zip(page.caused_by);
        for ((e, caused), caused_by) in entries {
            let event = decode_as(record.kind, &e)?;
            let (what, why) = describe(&event);
            out.push(TimelineEntry {
                visibility: event.visibility(),
                position: e.position.0,
                version: e.version.0,
                event_id: e.event_id,
                what: name(&what),
                why,
                correlation_id: e.correlation_id,
                causation_id: e.causation_id,
                caused_by,
                caused,
                event,
                event_type: e.event_type,
                recorded_at: e.recorded_at,
                occurred_at: e.occurred_at,
                actor: e.actor,
            });
        }
        Ok(out)
    }

    /// Searches the known-error database: a page of the matches, best first (pass `next` as
    /// the query's `cursor` for the following one).
    pub fn known_errors(&self, query: &KedbQuery) -> Result<Page<KnownErrorEntry>> {
        let tables = self.tables()?;
        let max_page = self.side.config().limits.max_page_size;
        // The ranking and the page's entries in one read snapshot (one read transaction on
        // SQLite, not one per statement), so that the entries are those the ranking saw.
        let mut page = None;
        self.side.read_snapshot(&mut || {
            page = Some(kedb::search(&*tables.sql, query, max_page)?);
            Ok(())
        })?;
        page.ok_or_else(|| {
            EngineError::Store(opsledger_store::StoreError::Backend(
                "a read snapshot that did not run its reads".into(),
            ))
        })
    }

    /// A page of the change calendar, by window start, with each entry's conflicts under the
    /// policy in force (pass `next` as the query's `cursor` for the following page).
    pub fn calendar(&self, query: &CalendarQuery) -> Result<Page<CalendarEntry>> {
        let inner = self.side;
        calendar::calendar(
            &self.tables()?,
            query,
            &inner.policy_at(self.bound()),
            inner.config().limits.max_page_size,
        )
    }

    /// Alert dedup keys held by open incidents.
    pub fn open_alerts(&self) -> Result<Vec<OpenAlert>> {
        kedb::open_alerts(&self.tables()?, self.side.config().limits.max_page_size)
    }

    /// The open incident holding `dedup_key`, if any.
    pub fn alert_owner(&self, dedup_key: &str) -> Result<Option<IncidentId>> {
        kedb::alert_owner(&self.tables()?, dedup_key)
    }

    /// Incidents on hold awaiting `problem`.
    pub fn incidents_awaiting(&self, problem: ProblemId) -> Result<Vec<IncidentId>> {
        kedb::awaiting(&self.tables()?, problem)
    }

    /// The instant clocks are evaluated at: the view's instant, or the engine clock's now.
    fn clock_now(&self) -> DateTime<Utc> {
        self.as_of.unwrap_or_else(|| self.side.config().clock.now())
    }

    /// Every SLA clock of `record` (one per attached instance, in attachment order, replaced
    /// and canceled ones included), computed from the record's events and SLA stream as of
    /// this view and its instant, with the pinned definition and calendar versions. Empty if
    /// nothing is attached.
    pub fn sla(&self, record: RecordRef) -> Result<Vec<SlaStatus>> {
        Ok(self
            .side
            .sla_clocks(record, self.bound(), self.clock_now(), false)?
            .into_iter()
            .map(|c| c.status)
            .collect())
    }

    /// [`ReadView::sla`] with each instance and the spans that explain its clock.
    pub fn sla_explain(&self, record: RecordRef) -> Result<Vec<SlaExplanation>> {
        self.side
            .sla_clocks(record, self.bound(), self.clock_now(), true)
    }

    /// What-if: the incidents opened (and problems created) in `window`, as recorded up to
    /// this view, replayed under `proposed` and under the SLA policy in force, compared at
    /// this view's instant with the core's
    /// [`what_if`](opsledger_core::sla::what_if) (per record and in total). Writes nothing:
    /// the log and the read models are untouched. Both sides attach definitions by the same
    /// rule, so a difference is due to the policies alone (the records' pinned history is not
    /// consulted: see the core's `whatif` module). A window that does not end after it starts
    /// is `invalid_input` (`window`).
    pub fn sla_what_if(&self, window: &TimeWindow, proposed: &SlaPolicy) -> Result<WhatIfReport> {
        require_ordered("window", window)?;
        self.side
            .sla_what_if(window, proposed, self.position, self.clock_now())
    }

    /// KPIs over the log as of this view: incident facts from incident events, change facts
    /// ([`ChangeFact::from_event`]) from change events, and SLA outcomes from the SLA clocks
    /// evaluated at this view's instant. A query without `as_of` is read as of the view's
    /// instant (for a live view: everything recorded).
    ///
    /// An outcome's priority is the record's priority when the instance was attached; its
    /// group and service are the record's at this view's instant.
    ///
    /// A window that does not end after it starts is `invalid_input` (`query.window`).
    pub fn kpis(&self, query: &KpiQuery) -> Result<KpiReport> {
        require_ordered("query.window", &query.window)?;
        if self.as_of.is_none() && query.as_of.is_none() && kpi_report::answers(query) {
            return self.kpis_from_tables(query);
        }
        self.kpis_by_fold(query)
    }

    /// A live wall-clock report from the KPI tables ([`kpi_report`]): SQL aggregates, the
    /// running SLA clocks evaluated now, and for a window ending before now the backlog of
    /// the incidents open at its end folded alone.
    fn kpis_from_tables(&self, query: &KpiQuery) -> Result<KpiReport> {
        let inner = self.side;
        let now = self.clock_now();
        let mut query = query.clone();
        query.as_of = Some(now);
        let tables = inner.tables();
        let mut live_sla = Vec::new();
        for row in tables.sql.query_all(
            "SELECT DISTINCT incident FROM sla_clocks WHERE incident_live = 1",
            &[],
        )? {
            let Some(id) = row.first().and_then(opsledger_store::SqlValue::as_str) else {
                continue;
            };
            let id = Uuid::parse_str(id).map_err(|e| EngineError::Views(e.to_string()))?;
            let record = RecordRef::incident(IncidentId(id));
            let state = self.state(record)?;
            let incident = state.as_ref().and_then(RecordState::as_incident);
            let (outcomes, _) = inner.kpi_outcomes(record, None, now, incident)?;
            let k = kpi::history_with(tables, record, &[])?;
            let history = k.as_ref().and_then(|k| k.input.incidents.values().next());
            live_sla.extend(outcomes.into_iter().map(|s| {
                let mut outcome = s.outcome;
                if let Some(k) = &k {
                    outcome.priority = k.priority_at(s.attached_at);
                }
                held_by_group(&mut outcome, history);
                outcome
            }));
        }
        let backlog_at = |id: Uuid, at: DateTime<Utc>| -> Result<Option<BacklogSample>> {
            let record = RecordRef::incident(IncidentId(id));
            let k = kpi::history_with(tables, record, &[])?;
            Ok(k.as_ref()
                .and_then(|k| k.input.incidents.values().next())
                .and_then(|h| h.backlog_at(at, query.exclude_on_hold)))
        };
        let mut report = kpi_report::report(
            &*tables.sql,
            &query,
            now,
            kpi_report::Extras {
                live_sla,
                backlog_at: &backlog_at,
            },
        )?;
        report.runbooks = crate::knowledge::runbook_figures(tables, report.window, report.horizon)?;
        Ok(report)
    }

    /// [`ReadView::kpis`] by a fold of every record's KPI facts, never from the SQL
    /// aggregates (what the aggregates are checked against).
    #[doc(hidden)]
    pub fn kpis_by_fold(&self, query: &KpiQuery) -> Result<KpiReport> {
        require_ordered("query.window", &query.window)?;
        let input = if self.as_of.is_none() {
            self.kpi_input_from_views()?
        } else {
            self.kpi_input_by_replay()?
        };
        let mut query = query.clone();
        if query.as_of.is_none() {
            // Now for a live view: backlog ages and maturity run to the query's instant, not
            // to the last recorded event (a quiet weekend would understate them by days).
            query.as_of = Some(self.clock_now());
        }
        let mut report = compute(&query, &input);
        report.runbooks =
            crate::knowledge::runbook_figures(self.side.tables(), report.window, report.horizon)?;
        Ok(report)
    }

    /// The live view's KPI input, from the KPI read model ([`projections::kpi`]): one row per
    /// record, the stored outcomes of finished clocks, and the clocks still running evaluated
    /// now.
    fn kpi_input_from_views(&self) -> Result<KpiInput> {
        let inner = self.side;
        let views = inner.views().clone();
        let (mut input, priorities) = kpi::load(inner.tables())?;
        let (stored, live) = kpi::load_outcomes(&*views)?;
        let fill = |s: StoredOutcome| {
            let mut outcome = s.outcome;
            let id = IncidentId(outcome.record.uuid());
            if let Some(p) = priorities.get(&id) {
                outcome.priority = kpi::priority_at(p, s.attached_at);
            }
            held_by_group(&mut outcome, input.incidents.get(&id));
            outcome
        };
        input.sla.extend(stored.into_iter().map(fill));
        let now = self.clock_now();
        for id in live {
            let record = RecordRef::incident(IncidentId(id));
            let state = self.state(record)?;
            let incident = state.as_ref().and_then(RecordState::as_incident);
            let (outcomes, _) = inner.kpi_outcomes(record, self.bound(), now, incident)?;
            input.sla.extend(outcomes.into_iter().map(fill));
        }
        Ok(input)
    }

    /// An as-of view's KPI input: a replay of the log up to the view's position (incident
    /// facts from incident events, change facts from change events), and every incident's SLA
    /// clocks evaluated at the view's instant.
    fn kpi_input_by_replay(&self) -> Result<KpiInput> {
        let inner = self.side;
        let store = inner.log();
        let mut input = KpiInput::new();
        let mut priorities: HashMap<IncidentId, Vec<(DateTime<Utc>, Priority)>> = HashMap::new();
        for page in LogPages::new(store, 1, self.position, REPLAY_PAGE) {
            let page = page?;
            for e in &page {
                let Some(record) = RecordRef::from_stream(e.stream.as_str()) else {
                    continue;
                };
                match decode_as(record.kind, e)? {
                    RecordEvent::Incident(ev) => {
                        match &ev {
                            IncidentEvent::Opened {
                                id, priority, at, ..
                            }
                            | IncidentEvent::Reprioritized {
                                id, priority, at, ..
                            } => priorities.entry(*id).or_default().push((*at, *priority)),
                            _ => {}
                        }
                        input.push_incident_event(&ev);
                    }
                    RecordEvent::Change(ev) => {
                        if let Some(fact) = ChangeFact::from_event(&ev) {
                            input.push_change_fact(ChangeId(record.id), ev.at(), fact);
                        }
                    }
                    RecordEvent::Problem(_) => {}
                }
            }
        }
        let now = self.clock_now();
        for record in inner.sla_streams_upto(self.position)? {
            // SLA KPIs are incident KPIs: problem clocks (if a policy attaches any) stay out.
            if record.kind != RecordKind::Incident {
                continue;
            }
            let state = self.state(record)?;
            let incident = state.as_ref().and_then(RecordState::as_incident);
            let (outcomes, _) = inner.kpi_outcomes(record, self.bound(), now, incident)?;
            let p = priorities.get(&IncidentId(record.id));
            let history = input.incidents.get(&IncidentId(record.id)).cloned();
            input.sla.extend(outcomes.into_iter().map(|s| {
                let mut outcome = s.outcome;
                if let Some(p) = p {
                    outcome.priority = kpi::priority_at(p, s.attached_at);
                }
                held_by_group(&mut outcome, history.as_ref());
                outcome
            }));
        }
        Ok(input)
    }

    /// Every read-model entry except checkpoints, in key order: two views with equal dumps
    /// answer every query alike (used by the rebuild and as-of tests).
    #[doc(hidden)]
    pub fn dump(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut all = self.kv()?.dump()?;
        // Checkpoints and the KPI outcomes (recomputed from the store, not replayed).
        all.retain(|(k, _)| k.first() != Some(&b'X') && !projections::kpi::is_outcome_key(k));
        Ok(all)
    }
}

/// What a timeline page read in its read snapshot, per event in stream order.
struct TimelineReads {
    events: Vec<opsledger_store::StoredEvent>,
    /// The version to ask for next.
    next: Option<u64>,
    /// What each event caused.
    effects: Vec<Vec<EventRef>>,
    /// What caused each event, when it is visible from the view.
    caused_by: Vec<Option<EventRef>>,
}

/// Gives an SLA outcome the group that held its record when the clock stopped (or breached,
/// while it runs): a breach escalated to another group later stays with the group that had it.
fn held_by_group(
    outcome: &mut opsledger_core::kpi::SlaOutcome,
    history: Option<&opsledger_core::kpi::IncidentHistory>,
) {
    let decided = outcome.stopped.map(|s| s.at).or(outcome.breach());
    if let (Some(at), Some(h)) = (decided, history) {
        outcome.group = h.group_at(at);
    }
}

/// The last position recorded at or before `t` (recorded times never decrease along the log).
fn last_position_at(side: &dyn ReadSide, head: u64, t: DateTime<Utc>) -> Result<u64> {
    let store = side.log();
    let recorded = |p: u64| -> Result<DateTime<Utc>> {
        store
            .read_all(Position(p), 1)?
            .into_iter()
            .next()
            .map(|e| e.recorded_at)
            .ok_or_else(|| EngineError::NotFound {
                what: format!("event at position {p}"),
            })
    };
    // Invariant: every position <= lo is at or before t; every position > hi is after t.
    let (mut lo, mut hi) = (0u64, head);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if recorded(mid)? <= t {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(lo)
}

/// A reporting window must end after it starts: an inverted or empty window is a caller's
/// mistake (swapped bounds, one instant twice), refused rather than answered with zeros.
fn require_ordered(field: &str, window: &TimeWindow) -> Result<()> {
    if window.is_valid() {
        Ok(())
    } else {
        Err(EngineError::invalid(
            field,
            format!(
                "the window starts at {} and ends at {}: it must end after it starts",
                window.start.to_rfc3339(),
                window.end.to_rfc3339()
            ),
        ))
    }
}
