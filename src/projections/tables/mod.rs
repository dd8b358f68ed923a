//! The read models as SQL tables (docs/READ_MODELS.md): records, their CIs and links, the
//! timeline, the known errors with a full-text index, the change calendar, open alert keys,
//! and per-record KPI facts and SLA clocks, in the backend's SQL database (SQLite: the same
//! file and the same transaction as the log).
//!
//! Every row is a pure function of the log: a record's rows of its current view, a timeline row
//! of its event, a KPI row of the record's KPI facts. The projector writes them in the batch
//! that moves the views' checkpoint, as upserts keyed by what they describe (and KPI facts
//! folded only past the stream version their row holds), so that applying a batch twice (a
//! backend without transactions, after a crash) leaves the same rows, and a rebuild from the
//! log gives what incremental updates gave.

pub(crate) mod knowledge;
pub(crate) mod kpi_report;
pub(crate) mod schema;
pub(crate) mod service_model;

use super::memo::Memo;
use super::view::{RecordView, ViewDetail};
use crate::error::Result;
use crate::numbers::HumanNumber;
use crate::record::{RecordEvent, RecordRef};
use chrono::{DateTime, SecondsFormat, Utc};
use lru::LruCache;
use opsledger_core::incident::HoldReason;
use opsledger_core::kpi::{ChangeHistory, IncidentHistory};
use opsledger_core::{Priority, RecordKind};
use opsledger_store::{SqlDialect, SqlStatement, SqlTables, SqlValue, StoredEvent};
use opsledger_store_sqlite::rank;
use parking_lot::Mutex;
use schema::Model;
use std::num::NonZeroUsize;
use std::sync::Arc;

/// An instant as the tables store it: RFC 3339 in UTC with microseconds (`2026-12-07T09:30:00.000000Z`),
/// which sorts as text and which SQLite's date functions read.
pub(crate) fn instant(t: DateTime<Utc>) -> SqlValue {
    SqlValue::Text(t.to_rfc3339_opts(SecondsFormat::Micros, true))
}

fn opt_instant(t: Option<DateTime<Utc>>) -> SqlValue {
    t.map_or(SqlValue::Null, instant)
}

fn micros(t: DateTime<Utc>) -> SqlValue {
    SqlValue::Integer(t.timestamp_micros())
}

fn opt_micros(t: Option<DateTime<Utc>>) -> SqlValue {
    t.map_or(SqlValue::Null, micros)
}

fn text(s: impl ToString) -> SqlValue {
    SqlValue::Text(s.to_string())
}

fn opt_text<T: ToString>(s: Option<T>) -> SqlValue {
    s.map_or(SqlValue::Null, |v| text(v))
}

fn label<T: serde::Serialize>(v: &T) -> SqlValue {
    SqlValue::Text(super::timeline::label(v))
}

/// 1 (P1, most urgent) to 5 (P5), for ordering.
pub(crate) fn priority_rank(p: Priority) -> i64 {
    match p {
        Priority::Critical => 1,
        Priority::High => 2,
        Priority::Moderate => 3,
        Priority::Low => 4,
        Priority::Planning => 5,
    }
}

/// How many decoded record views [`Tables`] keeps (about a kilobyte each).
const VIEW_CACHE: usize = 8_192;

/// Record views decoded from their `records.view` JSON, by record, with the log position they
/// were derived at: a row read again at the same position is that view, not decoded again.
type ViewCache = Mutex<LruCache<uuid::Uuid, (u64, Arc<RecordView>)>>;

/// The read models' SQL database, which models the projector writes (all of them, or the
/// ones being rebuilt alone), the record views last decoded from it or written to it, and
/// what the projector wrote last for its hot records ([`Memo`]).
#[derive(Clone)]
pub(crate) struct Tables {
    pub(crate) sql: Arc<dyn SqlTables>,
    only: Option<Vec<&'static str>>,
    views: Arc<ViewCache>,
    memo: Arc<Memo>,
}

impl std::fmt::Debug for Tables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tables").field("only", &self.only).finish()
    }
}

impl Tables {
    /// Every model of `sql`; `single_writer`: whether no other process writes them (see
    /// [`Memo`]).
    pub(crate) fn new(sql: Arc<dyn SqlTables>, single_writer: bool) -> Self {
        let capacity = NonZeroUsize::new(VIEW_CACHE).unwrap_or(NonZeroUsize::MIN);
        Self {
            sql,
            only: None,
            views: Arc::new(Mutex::new(LruCache::new(capacity))),
            memo: Arc::new(Memo::new(single_writer)),
        }
    }

    /// Only the named models (a rebuild of those alone).
    pub(crate) fn only(&self, names: Vec<&'static str>) -> Self {
        Self {
            sql: self.sql.clone(),
            only: Some(names),
            views: self.views.clone(),
            memo: self.memo.clone(),
        }
    }

    /// What the projector wrote last for its hot records.
    pub(crate) fn memo(&self) -> &Memo {
        &self.memo
    }

    /// The record view of a `records` row: `json` is its `view` column and `position` its
    /// `position` column (the log position the view was derived at, so a cached view at the
    /// same position is the same view).
    pub(crate) fn view(&self, id: uuid::Uuid, position: u64, json: &str) -> Result<RecordView> {
        if let Some((at, view)) = self.views.lock().get(&id)
            && *at == position
        {
            return Ok(RecordView::clone(view));
        }
        let view = super::decode_view(json.as_bytes())?;
        self.views
            .lock()
            .put(id, (position, Arc::new(view.clone())));
        Ok(view)
    }

    /// Remembers the view the projector just wrote to the record's `records` row (derived at
    /// log position `position`), so that the next read of the row does not decode it. A row
    /// that does not hold it after all (its unit rolled back) has another position.
    pub(crate) fn remember_view(&self, position: u64, view: Arc<RecordView>) {
        self.views.lock().put(view.record.id, (position, view));
    }

    /// Forgets every decoded view and the memo (the tables were emptied or dropped).
    fn forget_views(&self) {
        self.views.lock().clear();
        self.memo.forget();
    }

    fn writes(&self, model: &Model) -> bool {
        self.only.as_ref().is_none_or(|o| o.contains(&model.name))
    }

    /// Whether this writes the KPI model (its rows hold the records' KPI facts).
    pub(crate) fn writes_kpi(&self) -> bool {
        self.writes(&schema::KPI)
    }

    /// Whether this writes the records' rows (`records` and the record views).
    pub(crate) fn writes_records(&self) -> bool {
        self.writes(&schema::RECORDS)
    }

    /// Whether this writes the tick's due index (`sla_due`).
    pub(crate) fn writes_due(&self) -> bool {
        self.writes(&schema::DUE)
    }

    /// Creates what is missing; answers the models whose stored version differs from this
    /// build's (their tables are dropped and created anew: the caller rebuilds them from the
    /// log, then records their version with [`Self::mark_current`] in the rebuild's unit, so
    /// that an interrupted or failed rebuild is started again at the next open). A database
    /// without any model yet answers none: it is rebuilt with the views.
    pub(crate) fn ensure_schema(&self) -> Result<Vec<&'static str>> {
        let sql = &*self.sql;
        let postgres = sql.dialect() == SqlDialect::Postgres;
        sql.execute_batch(schema::READ_MODELS)?;
        if postgres {
            sql.execute_batch(schema::POSTGRES_FUNCTIONS)?;
        }
        let mut stale = Vec::new();
        for model in schema::MODELS {
            let stored = sql
                .query_all(
                    "SELECT version FROM read_models WHERE name = ?1",
                    &[text(model.name)],
                )?
                .first()
                .and_then(|r| r.first().and_then(SqlValue::as_i64));
            let current = match stored {
                Some(v) if v == i64::from(model.version) => true,
                Some(_) => {
                    self.drop_model(model)?;
                    stale.push(model.name);
                    false
                }
                None => true,
            };
            sql.execute_batch(if postgres {
                model.create_postgres
            } else {
                model.create
            })?;
            if current {
                self.mark_current(&[model.name])?;
            }
        }
        Ok(stale)
    }

    /// Records that the tables of `models` are those of this build's versions (filled).
    pub(crate) fn mark_current(&self, models: &[&'static str]) -> Result<()> {
        for model in schema::MODELS.iter().filter(|m| models.contains(&m.name)) {
            self.sql.execute(
                "INSERT INTO read_models(name, version) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET version = excluded.version",
                &[text(model.name), SqlValue::from(model.version)],
            )?;
        }
        Ok(())
    }

    fn drop_model(&self, model: &Model) -> Result<()> {
        self.forget_views();
        let mut batch = String::new();
        for view in model.views {
            batch.push_str(&format!("DROP VIEW IF EXISTS {view};\n"));
        }
        for table in self.tables_of(model) {
            batch.push_str(&format!("DROP TABLE IF EXISTS {table};\n"));
        }
        self.sql.execute_batch(&batch)?;
        Ok(())
    }

    /// The tables of `model` in this database's dialect.
    fn tables_of(&self, model: &Model) -> impl Iterator<Item = &'static str> {
        let postgres = self.sql.dialect() == SqlDialect::Postgres;
        model
            .tables
            .iter()
            .copied()
            .filter(move |t| !(postgres && schema::SQLITE_ONLY_TABLES.contains(t)))
    }

    /// Empties the tables of the models this handle writes.
    pub(crate) fn clear(&self) -> Result<()> {
        self.forget_views();
        let mut batch = String::new();
        for model in schema::MODELS.iter().filter(|m| self.writes(m)) {
            for table in self.tables_of(model) {
                batch.push_str(&format!("DELETE FROM {table};\n"));
            }
        }
        self.sql.execute_batch(&batch)?;
        Ok(())
    }

    /// Writes `statements` (one batch).
    pub(crate) fn apply(&self, statements: &[SqlStatement]) -> Result<()> {
        self.sql.apply(statements)?;
        Ok(())
    }

    /// The rows of one record's current view; `old` is the view they were written from
    /// before (what did not change is not written again).
    pub(crate) fn record_rows(
        &self,
        old: Option<&RecordView>,
        view: &RecordView,
        out: &mut Vec<SqlStatement>,
    ) {
        let id = text(view.record.id);
        let number = opt_text(view.number);
        if self.writes(&schema::RECORDS) {
            record_row(old, view, out);
        }
        let same = old.is_some_and(|o| known_error_columns(o) == known_error_columns(view));
        if self.writes(&schema::KNOWN_ERRORS) && !(self.only.is_none() && same) {
            known_error_rows(view, self.sql.dialect(), out);
        }
        let same = old.is_some_and(|o| calendar_columns(o) == calendar_columns(view));
        if self.writes(&schema::CHANGE_CALENDAR)
            && view.record.kind == RecordKind::Change
            && !(self.only.is_none() && same)
        {
            match (view.calendar_window(), view.change()) {
                (Some(w), Some(d)) => out.push(SqlStatement::new(
                    "INSERT INTO change_calendar(change, number, title, status, booked,
                         window_start, window_end)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT(change) DO UPDATE SET number = excluded.number,
                         title = excluded.title, status = excluded.status,
                         booked = excluded.booked, window_start = excluded.window_start,
                         window_end = excluded.window_end",
                    vec![
                        id.clone(),
                        number.clone(),
                        text(&view.title),
                        text(view.status.name()),
                        SqlValue::from(d.booked.is_some()),
                        instant(w.start),
                        instant(w.end),
                    ],
                )),
                _ => out.push(SqlStatement::new(
                    "DELETE FROM change_calendar WHERE change = ?1",
                    vec![id.clone()],
                )),
            }
        }
        let same = old.is_some_and(|o| alert_columns(o) == alert_columns(view));
        if self.writes(&schema::OPEN_ALERTS)
            && view.record.kind == RecordKind::Incident
            && !(self.only.is_none() && same)
        {
            out.push(SqlStatement::new(
                "DELETE FROM open_alerts WHERE incident = ?1",
                vec![id.clone()],
            ));
            if let Some(alert) = view.incident().and_then(|d| d.alert.as_ref())
                && view.open
            {
                out.push(SqlStatement::new(
                    "INSERT INTO open_alerts(dedup_key, incident, number, alert_count)
                     VALUES (?1, ?2, ?3, ?4)",
                    vec![
                        text(&alert.dedup_key),
                        id,
                        number,
                        SqlValue::from(alert.alert_count),
                    ],
                ));
            }
        }
    }

    /// The timeline row of one record event, keyed by its record and version (the table's
    /// primary key: a batch applied again overwrites the row with the same values).
    pub(crate) fn timeline_row(
        &self,
        e: &StoredEvent,
        event: &RecordEvent,
        record: RecordRef,
        number: Option<HumanNumber>,
        name: &dyn Fn(&str) -> String,
        out: &mut Vec<SqlStatement>,
    ) {
        if !self.writes(&schema::TIMELINE) {
            return;
        }
        let (what, why) = super::timeline::describe(event);
        out.push(SqlStatement::new(
            "INSERT INTO timeline(position, record, kind, number, version, event_id,
                 event_type, what, why, actor, occurred_at, recorded_at, visibility, caused_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 ON CONFLICT(record, version) DO UPDATE SET position = excluded.position,
                     kind = excluded.kind, number = excluded.number,
                     event_id = excluded.event_id,
                     event_type = excluded.event_type, what = excluded.what,
                     why = excluded.why, actor = excluded.actor,
                     occurred_at = excluded.occurred_at, recorded_at = excluded.recorded_at,
                     visibility = excluded.visibility, caused_by = excluded.caused_by",
            vec![
                SqlValue::from(e.position.0),
                text(record.id),
                text(record.kind),
                opt_text(number),
                SqlValue::from(e.version.0),
                text(e.event_id),
                text(&e.event_type),
                text(name(&what)),
                opt_text(why),
                text(&e.actor),
                instant(e.occurred_at),
                instant(e.recorded_at),
                text(event.visibility().as_str()),
                opt_text(e.causation_id),
            ],
        ));
    }

    /// The `timeline_effects` row of an event caused by another (a follow-up, an SLA event):
    /// what the cause's timeline lists under "caused".
    pub(crate) fn effect_row(&self, e: &StoredEvent, out: &mut Vec<SqlStatement>) {
        let Some(cause) = e.causation_id else {
            return;
        };
        if !self.writes(&schema::TIMELINE) {
            return;
        }
        let record = RecordRef::from_stream(e.stream.as_str());
        out.push(SqlStatement::new(
            "INSERT INTO timeline_effects(cause, position, event_id, record, kind, event_type)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(cause, position) DO UPDATE SET event_id = excluded.event_id,
                 record = excluded.record, kind = excluded.kind,
                 event_type = excluded.event_type",
            vec![
                text(cause),
                SqlValue::from(e.position.0),
                text(e.event_id),
                opt_text(record.map(|r| r.id)),
                opt_text(record.map(|r| r.kind)),
                text(&e.event_type),
            ],
        ));
    }

    /// The KPI row of an incident's KPI facts.
    pub(crate) fn incident_kpi_row(
        &self,
        before: Option<&IncidentHistory>,
        history: &IncidentHistory,
        number: Option<HumanNumber>,
        facts: &str,
        out: &mut Vec<SqlStatement>,
    ) {
        if !self.writes(&schema::KPI) {
            return;
        }
        let Some(s) = history.summary() else {
            return;
        };
        // Rows of the history before this batch: what did not change is not written again
        // (a work note changes no KPI fact). A rebuild of this model alone writes all.
        let before = before.and_then(IncidentHistory::summary);
        let old = before.as_ref().filter(|_| self.only.is_none());
        let id = text(history.id.0);
        if old == Some(&s) {
            out.push(SqlStatement::new(
                "UPDATE kpi_incidents SET facts = ?2 WHERE incident = ?1",
                vec![id, text(facts)],
            ));
            return;
        }
        // The daily buckets: less what the rows hold now, plus what they hold after (unless
        // none of the facts they count changed).
        let daily = |s: &opsledger_core::kpi::IncidentSummary| {
            (
                s.opened_at,
                s.first_ack.clone(),
                s.resolution.clone(),
                s.reopens > 0,
                s.detection.clone(),
                s.resolutions.clone(),
            )
        };
        let buckets = old.is_none_or(|o| daily(o) != daily(&s));
        if buckets {
            out.push(SqlStatement::new(
                DAILY_CONTRIBUTION,
                vec![id.clone(), SqlValue::Integer(-1)],
            ));
        }
        self.incident_kpi_rows(&s, old, &id, number, facts, out);
        if buckets {
            let mut days = Vec::new();
            if let Some(before) = &before {
                daily_days(before, &mut days);
            }
            daily_days(&s, &mut days);
            days.sort_unstable();
            days.dedup();
            out.push(SqlStatement::new(
                DAILY_CONTRIBUTION,
                vec![id, SqlValue::Integer(1)],
            ));
            for day in days {
                out.push(SqlStatement::new(DAILY_EMPTY, vec![SqlValue::Integer(day)]));
            }
        }
    }

    /// The `kpi_incidents`, `kpi_resolutions` and `kpi_open_spans` rows of an incident's
    /// facts `s` (`old`: the facts they were written from, if known).
    fn incident_kpi_rows(
        &self,
        s: &opsledger_core::kpi::IncidentSummary,
        old: Option<&opsledger_core::kpi::IncidentSummary>,
        id: &SqlValue,
        number: Option<HumanNumber>,
        facts: &str,
        out: &mut Vec<SqlStatement>,
    ) {
        let (ack_at, ack) = match &s.first_ack {
            Some((at, r)) => (Some(*at), Some(r)),
            None => (None, None),
        };
        let res = s.resolution.as_ref();
        let det = s.detection.as_ref();
        out.push(SqlStatement::new(
            "INSERT INTO kpi_incidents(incident, number, opened_at, opened_us,
                 priority, assignment_group, service, is_open, acknowledged_at, acknowledged_us,
                 ack_priority, ack_group, ack_service, resolved_at, resolved_us,
                 resolved_priority, resolved_group, resolved_service, resolution_source,
                 resolved_reassignments, held_to_resolve_us, reassignments, reopens, held_us,
                 on_hold_since, on_hold_since_us, major, first_review_at, first_review_us,
                 detected_at, detected_us, mttd_ms, mttd_priority, mttd_group, mttd_service,
                 facts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                 ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33,
                 ?34, ?35, ?36)
                 ON CONFLICT(incident) DO UPDATE SET number = excluded.number, opened_at = excluded.opened_at,
                     opened_us = excluded.opened_us, priority = excluded.priority,
                     assignment_group = excluded.assignment_group,
                     service = excluded.service, is_open = excluded.is_open,
                     acknowledged_at = excluded.acknowledged_at,
                     acknowledged_us = excluded.acknowledged_us,
                     ack_priority = excluded.ack_priority, ack_group = excluded.ack_group,
                     ack_service = excluded.ack_service, resolved_at = excluded.resolved_at,
                     resolved_us = excluded.resolved_us,
                     resolved_priority = excluded.resolved_priority,
                     resolved_group = excluded.resolved_group,
                     resolved_service = excluded.resolved_service,
                     resolution_source = excluded.resolution_source,
                     resolved_reassignments = excluded.resolved_reassignments,
                     held_to_resolve_us = excluded.held_to_resolve_us,
                     reassignments = excluded.reassignments, reopens = excluded.reopens,
                     held_us = excluded.held_us, on_hold_since = excluded.on_hold_since,
                     on_hold_since_us = excluded.on_hold_since_us, major = excluded.major,
                     first_review_at = excluded.first_review_at,
                     first_review_us = excluded.first_review_us,
                     detected_at = excluded.detected_at, detected_us = excluded.detected_us,
                     mttd_ms = excluded.mttd_ms, mttd_priority = excluded.mttd_priority,
                     mttd_group = excluded.mttd_group, mttd_service = excluded.mttd_service,
                     facts = excluded.facts",
            vec![
                id.clone(),
                opt_text(number),
                instant(s.opened_at),
                micros(s.opened_at),
                label(&s.routing.priority),
                opt_text(s.routing.group.as_ref()),
                opt_text(s.routing.service.as_ref()),
                SqlValue::from(s.open),
                opt_instant(ack_at),
                opt_micros(ack_at),
                ack.map_or(SqlValue::Null, |r| label(&r.priority)),
                opt_text(ack.and_then(|r| r.group.as_ref())),
                opt_text(ack.and_then(|r| r.service.as_ref())),
                opt_instant(res.map(|r| r.at)),
                opt_micros(res.map(|r| r.at)),
                res.map_or(SqlValue::Null, |r| label(&r.routing.priority)),
                opt_text(res.and_then(|r| r.routing.group.as_ref())),
                opt_text(res.and_then(|r| r.routing.service.as_ref())),
                res.map_or(SqlValue::Null, |r| label(&r.source)),
                res.map_or(SqlValue::Null, |r| SqlValue::from(r.reassignments)),
                res.map_or(SqlValue::Null, |r| SqlValue::Integer(r.held_us)),
                SqlValue::from(s.reassignments),
                SqlValue::from(s.reopens),
                SqlValue::Integer(s.held_us),
                opt_instant(s.on_hold_since),
                opt_micros(s.on_hold_since),
                SqlValue::from(s.major),
                opt_instant(s.first_review_at),
                opt_micros(s.first_review_at),
                opt_instant(det.map(|d| d.detected_at)),
                opt_micros(det.map(|d| d.detected_at)),
                det.map_or(SqlValue::Null, |d| SqlValue::Integer(d.ms)),
                det.map_or(SqlValue::Null, |d| label(&d.routing.priority)),
                opt_text(det.and_then(|d| d.routing.group.as_ref())),
                opt_text(det.and_then(|d| d.routing.service.as_ref())),
                text(facts),
            ],
        ));
        if old.is_some_and(|o| o.resolutions == s.resolutions && o.open_spans == s.open_spans) {
            return;
        }
        out.push(SqlStatement::new(
            "DELETE FROM kpi_resolutions WHERE incident = ?1",
            vec![id.clone()],
        ));
        for (seq, r) in s.resolutions.iter().enumerate() {
            out.push(SqlStatement::new(
                "INSERT INTO kpi_resolutions(incident, seq, resolved_at, resolved_us, reopened_us,
                     priority, assignment_group, service)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                vec![
                    id.clone(),
                    SqlValue::from(seq as u64),
                    instant(r.at),
                    micros(r.at),
                    opt_micros(r.reopened_at),
                    label(&r.routing.priority),
                    opt_text(r.routing.group.as_ref()),
                    opt_text(r.routing.service.as_ref()),
                ],
            ));
        }
        out.push(SqlStatement::new(
            "DELETE FROM kpi_open_spans WHERE incident = ?1",
            vec![id.clone()],
        ));
        for (seq, (from, to)) in s.open_spans.iter().enumerate() {
            out.push(SqlStatement::new(
                "INSERT INTO kpi_open_spans(incident, seq, from_us, to_us) VALUES (?1, ?2, ?3, ?4)",
                vec![
                    id.clone(),
                    SqlValue::from(seq as u64),
                    micros(*from),
                    opt_micros(*to),
                ],
            ));
        }
    }

    /// The KPI row of a change's KPI facts.
    pub(crate) fn change_kpi_row(
        &self,
        before: Option<&ChangeHistory>,
        history: &ChangeHistory,
        number: Option<HumanNumber>,
        facts: &str,
        out: &mut Vec<SqlStatement>,
    ) {
        if !self.writes(&schema::KPI) {
            return;
        }
        let Some(s) = history.summary() else {
            return;
        };
        if before
            .filter(|_| self.only.is_none())
            .and_then(ChangeHistory::summary)
            .as_ref()
            == Some(&s)
        {
            out.push(SqlStatement::new(
                "UPDATE kpi_changes SET facts = ?2 WHERE change = ?1",
                vec![text(history.id.0), text(facts)],
            ));
            return;
        }
        out.push(SqlStatement::new(
            "INSERT INTO kpi_changes(change, number, change_type, requested_at,
                 requested_us, implemented_at, implemented_us, unauthorized, closed_at, closed_us,
                 outcome, caused_incident, facts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                 ON CONFLICT(change) DO UPDATE SET number = excluded.number, change_type = excluded.change_type,
                     requested_at = excluded.requested_at,
                     requested_us = excluded.requested_us,
                     implemented_at = excluded.implemented_at,
                     implemented_us = excluded.implemented_us,
                     unauthorized = excluded.unauthorized, closed_at = excluded.closed_at,
                     closed_us = excluded.closed_us, outcome = excluded.outcome,
                     caused_incident = excluded.caused_incident, facts = excluded.facts",
            vec![
                text(history.id.0),
                opt_text(number),
                label(&s.kind),
                instant(s.requested_at),
                micros(s.requested_at),
                opt_instant(s.implementation.map(|i| i.0)),
                opt_micros(s.implementation.map(|i| i.0)),
                s.implementation
                    .map_or(SqlValue::Null, |i| SqlValue::from(i.1)),
                opt_instant(s.closed.map(|c| c.0)),
                opt_micros(s.closed.map(|c| c.0)),
                s.closed.map_or(SqlValue::Null, |c| label(&c.1)),
                SqlValue::from(s.caused_incident),
                text(facts),
            ],
        ));
    }
}

/// What the `known_errors` rows of a problem are written from.
fn known_error_columns(v: &RecordView) -> impl PartialEq + use<'_> {
    (
        v.problem().map(|d| &d.known_error),
        v.problem_status(),
        &v.title,
        v.number,
        v.priority,
        v.service.as_ref(),
        &v.cis,
    )
}

/// What the `change_calendar` row of a change is written from.
fn calendar_columns(v: &RecordView) -> impl PartialEq + use<'_> {
    (
        v.calendar_window(),
        v.change().map(|d| d.booked.is_some()),
        v.number,
        &v.title,
        v.status,
    )
}

/// What the `open_alerts` rows of an incident are written from.
fn alert_columns(v: &RecordView) -> impl PartialEq + use<'_> {
    (v.incident().map(|d| &d.alert), v.open, v.number)
}

/// The columns of `records` that an index covers, as a view gives them: when none changed, the
/// row is updated in place without touching the indexes.
fn indexed_columns(v: &RecordView) -> impl PartialEq + use<'_> {
    (
        v.number,
        v.status,
        v.open,
        v.priority,
        v.group.as_ref(),
        v.assignee.as_ref(),
        v.service.as_ref(),
        v.caller(),
        awaiting_problem(v),
        v.opened_at,
    )
}

/// The problem an incident on hold awaits, if it does.
fn awaiting_problem(v: &RecordView) -> Option<uuid::Uuid> {
    match v.incident().and_then(|d| d.hold.as_ref()) {
        Some(HoldReason::AwaitingProblem { problem }) => Some(problem.0),
        _ => None,
    }
}

fn record_row(old: Option<&RecordView>, view: &RecordView, out: &mut Vec<SqlStatement>) {
    let id = text(view.record.id);
    let json = SqlValue::Text(serde_json::to_string(view).unwrap_or_default());
    let (caller, requester, hold, major, change_type, risk, reassignments, reopens) =
        match &view.detail {
            ViewDetail::Incident(d) => (
                text(&d.caller),
                SqlValue::Null,
                d.hold.as_ref().map_or(SqlValue::Null, label),
                label(&d.major),
                SqlValue::Null,
                SqlValue::Null,
                SqlValue::from(d.reassignment_count),
                SqlValue::from(d.reopen_count),
            ),
            ViewDetail::Problem(_) => (
                SqlValue::Null,
                SqlValue::Null,
                SqlValue::Null,
                SqlValue::Null,
                SqlValue::Null,
                SqlValue::Null,
                SqlValue::Null,
                SqlValue::Null,
            ),
            ViewDetail::Change(d) => (
                SqlValue::Null,
                text(&d.requester),
                SqlValue::Null,
                SqlValue::Null,
                label(&d.change_type),
                label(&d.risk),
                SqlValue::Null,
                SqlValue::Null,
            ),
        };
    if old.is_some_and(|o| indexed_columns(o) == indexed_columns(view)) {
        // The common case (a work note, an acknowledgement, a reassignment within the same
        // group's assignee... whatever leaves the indexed columns alone): one row, no index.
        out.push(SqlStatement::new(
            "UPDATE records SET title = ?2, hold_reason = ?3, major = ?4, change_type = ?5,
                 risk = ?6, reassignments = ?7, reopens = ?8, requester = ?9,
                 updated_at = ?10, version = ?11, position = ?12, view = ?13
             WHERE id = ?1",
            vec![
                id.clone(),
                text(&view.title),
                hold,
                major,
                change_type,
                risk,
                reassignments,
                reopens,
                requester,
                instant(view.updated_at),
                SqlValue::from(view.version),
                SqlValue::from(view.position),
                json,
            ],
        ));
    } else if old.is_some_and(|o| {
        (o.number, o.caller(), o.opened_at) == (view.number, view.caller(), view.opened_at)
    }) {
        // A change of status or routing: every column but those of the number and caller
        // indexes, which are left alone.
        out.push(SqlStatement::new(
            "UPDATE records SET title = ?2, status = ?3, status_code = ?4, is_open = ?5,
                 priority = ?6, priority_rank = ?7, queue_rank = ?8, assignment_group = ?9,
                 assignee = ?10, service = ?11, requester = ?12, hold_reason = ?13,
                 awaiting_problem = ?14, major = ?15, change_type = ?16, risk = ?17,
                 reassignments = ?18, reopens = ?19, updated_at = ?20, version = ?21,
                 position = ?22, view = ?23
             WHERE id = ?1",
            vec![
                id.clone(),
                text(&view.title),
                text(view.status.name()),
                SqlValue::Integer(i64::from(view.status.code())),
                SqlValue::from(view.open),
                view.priority.map_or(SqlValue::Null, |p| label(&p)),
                view.priority
                    .map_or(SqlValue::Null, |p| SqlValue::Integer(priority_rank(p))),
                SqlValue::Integer(i64::from(super::keys::priority_code(view.priority))),
                opt_text(view.group.as_ref()),
                opt_text(view.assignee.as_ref()),
                opt_text(view.service.as_ref()),
                requester,
                hold,
                opt_text(awaiting_problem(view)),
                major,
                change_type,
                risk,
                reassignments,
                reopens,
                instant(view.updated_at),
                SqlValue::from(view.version),
                SqlValue::from(view.position),
                json,
            ],
        ));
    } else {
        out.push(SqlStatement::new(
            "INSERT INTO records(id, kind, number, title, status, status_code, is_open, priority,
                 priority_rank, queue_rank, assignment_group, assignee, service, caller,
                 requester, hold_reason, awaiting_problem, major, change_type, risk,
                 reassignments, reopens, opened_at, opened_us, updated_at, version, position,
                 view)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                 ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)
             ON CONFLICT(id) DO UPDATE SET number = excluded.number, title = excluded.title,
                 status = excluded.status, status_code = excluded.status_code,
                 is_open = excluded.is_open, priority = excluded.priority,
                 priority_rank = excluded.priority_rank, queue_rank = excluded.queue_rank,
                 assignment_group = excluded.assignment_group, assignee = excluded.assignee,
                 service = excluded.service, caller = excluded.caller,
                 requester = excluded.requester, hold_reason = excluded.hold_reason,
                 awaiting_problem = excluded.awaiting_problem, major = excluded.major,
                 change_type = excluded.change_type, risk = excluded.risk,
                 reassignments = excluded.reassignments, reopens = excluded.reopens,
                 opened_at = excluded.opened_at, opened_us = excluded.opened_us,
                 updated_at = excluded.updated_at, version = excluded.version,
                 position = excluded.position, view = excluded.view",
            vec![
                id.clone(),
                text(view.record.kind),
                opt_text(view.number),
                text(&view.title),
                text(view.status.name()),
                SqlValue::Integer(i64::from(view.status.code())),
                SqlValue::from(view.open),
                view.priority.map_or(SqlValue::Null, |p| label(&p)),
                view.priority
                    .map_or(SqlValue::Null, |p| SqlValue::Integer(priority_rank(p))),
                SqlValue::Integer(i64::from(super::keys::priority_code(view.priority))),
                opt_text(view.group.as_ref()),
                opt_text(view.assignee.as_ref()),
                opt_text(view.service.as_ref()),
                caller,
                requester,
                hold,
                opt_text(awaiting_problem(view)),
                major,
                change_type,
                risk,
                reassignments,
                reopens,
                instant(view.opened_at),
                micros(view.opened_at),
                instant(view.updated_at),
                SqlValue::from(view.version),
                SqlValue::from(view.position),
                json,
            ],
        ));
    }
    if old.is_some_and(|o| o.cis == view.cis && links(o) == links(view)) {
        return;
    }
    out.push(SqlStatement::new(
        "DELETE FROM record_cis WHERE record = ?1",
        vec![id.clone()],
    ));
    for ci in &view.cis {
        out.push(SqlStatement::new(
            "INSERT INTO record_cis(record, ci) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            vec![id.clone(), text(ci)],
        ));
    }
    out.push(SqlStatement::new(
        "DELETE FROM record_links WHERE record = ?1",
        vec![id.clone()],
    ));
    for (relation, other) in links(view) {
        out.push(SqlStatement::new(
            "INSERT INTO record_links(record, relation, other) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            vec![id.clone(), text(relation), text(other)],
        ));
    }
}

/// A record's links as (relation, other record's id).
fn links(view: &RecordView) -> Vec<(&'static str, uuid::Uuid)> {
    let mut out = Vec::new();
    match &view.detail {
        ViewDetail::Incident(d) => {
            out.extend(d.parent.iter().map(|p| ("parent", p.0)));
            out.extend(d.children.iter().map(|c| ("child", c.0)));
            out.extend(d.duplicates.iter().map(|c| ("duplicate", c.0)));
            out.extend(d.duplicate_of.iter().map(|c| ("duplicate_of", c.0)));
            out.extend(d.problems.iter().map(|p| ("problem", p.0)));
            out.extend(
                d.caused_by_changes
                    .iter()
                    .map(|c| ("caused_by_change", c.0)),
            );
        }
        ViewDetail::Problem(d) => {
            out.extend(d.incidents.iter().map(|i| ("incident", i.0)));
            out.extend(d.fixing_changes.keys().map(|c| ("fixing_change", c.0)));
        }
        ViewDetail::Change(d) => {
            out.extend(d.fixes_problems.iter().map(|p| ("fixes_problem", p.0)));
            out.extend(d.caused_incidents.iter().map(|i| ("caused_incident", i.0)));
        }
    }
    out
}

/// The known error's rows; SQLite's FTS5 index is a table written beside them, PostgreSQL's
/// search vectors are generated columns of `known_errors`.
fn known_error_rows(view: &RecordView, dialect: SqlDialect, out: &mut Vec<SqlStatement>) {
    if view.record.kind != RecordKind::Problem {
        return;
    }
    let fts5 = dialect == SqlDialect::Sqlite;
    let id = text(view.record.id);
    if fts5 {
        out.push(SqlStatement::new(
            "DELETE FROM known_errors_fts
             WHERE rowid = (SELECT id FROM known_errors WHERE problem = ?1)",
            vec![id.clone()],
        ));
    }
    out.push(SqlStatement::new(
        "DELETE FROM known_error_cis WHERE problem = ?1",
        vec![id.clone()],
    ));
    let (Some(ke), Some(status)) = (
        view.problem().and_then(|d| d.known_error.as_ref()),
        view.problem_status(),
    ) else {
        out.push(SqlStatement::new(
            "DELETE FROM known_errors WHERE problem = ?1",
            vec![id],
        ));
        return;
    };
    let entry = super::kedb::KnownErrorEntry {
        problem: opsledger_core::ProblemId(view.record.id),
        number: view.number,
        title: view.title.clone(),
        service: view.service.clone(),
        priority: view.priority,
        status,
        known_error: ke.clone(),
        score: 0.0,
        snippet: None,
    };
    // The row id is the known error's place among equal ranks (see `search_order`); one
    // the order cannot be packed into takes the next id past every packed one.
    let order = search_order(
        view.priority.map(priority_rank),
        view.number.map(|n| n.value),
    )
    .map(|order| rank::pack(order, 0));
    out.push(SqlStatement::new(
        "INSERT INTO known_errors(problem, number, number_value, title, status, priority,
             priority_rank, service, symptom, root_cause, workaround, revision, published_at,
             revised_at, entry, id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
             coalesce(CAST(?16 AS BIGINT), (SELECT CASE WHEN coalesce(max(id), 0) >= CAST(?17 AS BIGINT)
                 THEN max(id) + 1 ELSE CAST(?17 AS BIGINT) END FROM known_errors)))
         ON CONFLICT(problem) DO UPDATE SET id = excluded.id, number = excluded.number,
             number_value = excluded.number_value, title = excluded.title,
             status = excluded.status, priority = excluded.priority,
             priority_rank = excluded.priority_rank, service = excluded.service,
             symptom = excluded.symptom, root_cause = excluded.root_cause,
             workaround = excluded.workaround, revision = excluded.revision,
             published_at = excluded.published_at, revised_at = excluded.revised_at,
             entry = excluded.entry",
        vec![
            id.clone(),
            opt_text(view.number),
            view.number
                .map_or(SqlValue::Null, |n| SqlValue::from(n.value)),
            text(&view.title),
            label(&status),
            view.priority.map_or(SqlValue::Null, |p| label(&p)),
            view.priority
                .map_or(SqlValue::Null, |p| SqlValue::Integer(priority_rank(p))),
            opt_text(view.service.as_ref()),
            text(&ke.symptom),
            text(&ke.root_cause),
            opt_text(ke.workaround.as_ref()),
            SqlValue::from(ke.revision),
            instant(ke.published_at),
            instant(ke.revised_at),
            SqlValue::Text(serde_json::to_string(&entry).unwrap_or_default()),
            order.map_or(SqlValue::Null, SqlValue::Integer),
            SqlValue::Integer(UNPACKED_ORDER),
        ],
    ));
    if fts5 {
        out.push(SqlStatement::new(
            "INSERT INTO known_errors_fts(rowid, title, symptom, root_cause, workaround)
             SELECT id, title, symptom, root_cause, coalesce(workaround, '')
             FROM known_errors WHERE problem = ?1",
            vec![id.clone()],
        ));
        // A packed row id takes the row's length in tokens as FTS5 counted it (saturated:
        // a length too large is then read as `bm25()` reads it), and the full-text row
        // follows it.
        out.push(SqlStatement::new(
            "UPDATE known_errors SET id = id | (
                 SELECT min(opsledger_fts_length(known_errors_fts), ?2)
                 FROM known_errors_fts WHERE known_errors_fts.rowid = known_errors.id)
             WHERE problem = ?1 AND id < ?3",
            vec![
                id.clone(),
                SqlValue::Integer(rank::LENGTH_MASK),
                SqlValue::Integer(UNPACKED_ORDER),
            ],
        ));
        out.push(SqlStatement::new(
            "UPDATE known_errors_fts SET rowid = (SELECT id FROM known_errors WHERE problem = ?1)
             WHERE rowid = (SELECT id & ~?2 FROM known_errors
                            WHERE problem = ?1 AND id < ?3 AND id & ?2 != 0)",
            vec![
                id.clone(),
                SqlValue::Integer(rank::LENGTH_MASK),
                SqlValue::Integer(UNPACKED_ORDER),
            ],
        ));
    }
    for ci in ke.affected_cis.iter().chain(view.cis.iter()) {
        out.push(SqlStatement::new(
            "INSERT INTO known_error_cis(problem, ci) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            vec![id.clone(), text(ci)],
        ));
    }
}

/// The first `known_errors.id` of the known errors whose order [`search_order`] cannot pack;
/// every packed row id is below it.
pub(crate) const UNPACKED_ORDER: i64 = rank::UNPACKED;

/// A known error's order among matches of equal rank, packed into its row id (which is also
/// its full-text row id) above its length in tokens ([`rank::pack`]): priority rank (1 to 5,
/// 6 for none) in the top bits, then the problem's number, so that ordering the full-text
/// matches by rank and row id is ordering them by rank, priority and number, and so that
/// `opsledger_bm25` ranks them without reading `known_errors` or the row's length per
/// match. `None` for a problem without a number or with one of 2^40 or more (such a row gets
/// an id from [`UNPACKED_ORDER`] up, and the search then orders every match by its columns
/// instead).
pub(crate) fn search_order(priority_rank: Option<i64>, number: Option<u64>) -> Option<i64> {
    let p = priority_rank.unwrap_or(6);
    let n = i64::try_from(number?).ok().filter(|n| *n < 1 << 40)?;
    (1..=6).contains(&p).then_some((p << 40) | n)
}

/// Days since 1970-01-01 (UTC) of an instant in microseconds, rounded down: the `day` of
/// `kpi_daily` (the same arithmetic as [`DAILY_CONTRIBUTION`]'s `day` in SQL).
pub(crate) fn day_of(us: i64) -> i64 {
    us.div_euclid(DAY_US)
}

/// Microseconds in a day.
pub(crate) const DAY_US: i64 = 86_400_000_000;

/// Adds `?2` (1 or -1) times one incident's contribution (`?1`: its id) to the daily buckets,
/// as its `kpi_incidents` and `kpi_resolutions` rows stand: run with -1 before they are
/// written and with 1 after, a batch moves each bucket by the difference, and applying a
/// batch again over rows that already hold it moves nothing. One row per (dimension, day,
/// figure, value, class): the acknowledgement, the standing resolution (classed by source,
/// reassignments up to 8, reopened or not), the detection, and every resolution.
const DAILY_CONTRIBUTION: &str = "
INSERT INTO kpi_daily(dimension, day, figure, value, valued, source, reassigned, reopened,
    n, total_ms, net_ms, reassignments)
SELECT dimension, day, figure, coalesce(value, ''), CASE WHEN value IS NULL THEN 0 ELSE 1 END,
       source, reassigned, reopened,
       CAST(?2 AS BIGINT) * count(*), CAST(?2 AS BIGINT) * CAST(sum(total_ms) AS BIGINT),
       CAST(?2 AS BIGINT) * CAST(sum(net_ms) AS BIGINT),
       CAST(?2 AS BIGINT) * CAST(sum(reassignments) AS BIGINT)
FROM (
    SELECT d.dimension AS dimension,
           (acknowledged_us - (acknowledged_us % 86400000000 + 86400000000) % 86400000000)
               / 86400000000 AS day,
           'acknowledged' AS figure,
           CASE d.dimension WHEN 'priority' THEN ack_priority WHEN 'group' THEN ack_group
               ELSE ack_service END AS value,
           '' AS source, 0 AS reassigned, 0 AS reopened,
           max(0, acknowledged_us - opened_us) / 1000 AS total_ms, 0 AS net_ms,
           0 AS reassignments
    FROM kpi_incidents CROSS JOIN (SELECT 'priority' AS dimension UNION ALL SELECT 'group'
        UNION ALL SELECT 'service') AS d
    WHERE incident = ?1 AND acknowledged_us IS NOT NULL
    UNION ALL
    SELECT d.dimension,
           (resolved_us - (resolved_us % 86400000000 + 86400000000) % 86400000000) / 86400000000,
           'resolved',
           CASE d.dimension WHEN 'priority' THEN resolved_priority
               WHEN 'group' THEN resolved_group ELSE resolved_service END,
           coalesce(resolution_source, ''),
           CASE WHEN coalesce(resolved_reassignments, 0) >= 8 THEN 8
               ELSE coalesce(resolved_reassignments, 0) END,
           CASE WHEN reopens > 0 THEN 1 ELSE 0 END,
           max(0, resolved_us - opened_us) / 1000,
           (max(0, resolved_us - opened_us) - coalesce(held_to_resolve_us, 0)) / 1000,
           coalesce(resolved_reassignments, 0)
    FROM kpi_incidents CROSS JOIN (SELECT 'priority' AS dimension UNION ALL SELECT 'group'
        UNION ALL SELECT 'service') AS d
    WHERE incident = ?1 AND resolved_us IS NOT NULL
    UNION ALL
    SELECT d.dimension,
           (detected_us - (detected_us % 86400000000 + 86400000000) % 86400000000) / 86400000000,
           'detected',
           CASE d.dimension WHEN 'priority' THEN mttd_priority WHEN 'group' THEN mttd_group
               ELSE mttd_service END,
           '', 0, 0, coalesce(mttd_ms, 0), 0, 0
    FROM kpi_incidents CROSS JOIN (SELECT 'priority' AS dimension UNION ALL SELECT 'group'
        UNION ALL SELECT 'service') AS d
    WHERE incident = ?1 AND detected_us IS NOT NULL
    UNION ALL
    SELECT d.dimension,
           (resolved_us - (resolved_us % 86400000000 + 86400000000) % 86400000000) / 86400000000,
           'resolution',
           CASE d.dimension WHEN 'priority' THEN priority WHEN 'group' THEN assignment_group
               ELSE service END,
           '', 0, 0, 0, 0, 0
    FROM kpi_resolutions CROSS JOIN (SELECT 'priority' AS dimension UNION ALL SELECT 'group'
        UNION ALL SELECT 'service') AS d
    WHERE incident = ?1
) AS contribution
WHERE true
GROUP BY dimension, day, figure, value, source, reassigned, reopened
ON CONFLICT(dimension, day, figure, value, valued, source, reassigned, reopened) DO UPDATE SET
    n = kpi_daily.n + excluded.n, total_ms = kpi_daily.total_ms + excluded.total_ms,
    net_ms = kpi_daily.net_ms + excluded.net_ms,
    reassignments = kpi_daily.reassignments + excluded.reassignments";

/// Drops the buckets of one day that no incident contributes to any more (a rebuild would
/// not have them).
const DAILY_EMPTY: &str = "
DELETE FROM kpi_daily WHERE dimension IN ('priority', 'group', 'service') AND day = ?1 AND n = 0";

/// The days an incident's facts put in the daily buckets.
fn daily_days(s: &opsledger_core::kpi::IncidentSummary, out: &mut Vec<i64>) {
    let us = |t: DateTime<Utc>| t.timestamp_micros();
    out.extend(s.first_ack.as_ref().map(|(at, _)| day_of(us(*at))));
    out.extend(s.resolution.as_ref().map(|r| day_of(us(r.at))));
    out.extend(s.detection.as_ref().map(|d| day_of(us(d.detected_at))));
    out.extend(s.resolutions.iter().map(|r| day_of(us(r.at))));
}

/// Adds `?2` (1 or -1) times the decided SLA clocks of one incident (`?1`) to the daily SLA
/// buckets, as its `sla_clocks` rows stand (see [`DAILY_CONTRIBUTION`]): clocks decided (the
/// breach, or the stop of a clock that met its target) while no clock of the incident runs,
/// and not canceled; by the day of that decision.
const DAILY_SLA_CONTRIBUTION: &str = "
INSERT INTO kpi_daily_sla(dimension, day, value, valued, metric, priority, met,
    breached_stopped, breached_running, overrun_ms)
SELECT dimension, day, coalesce(value, ''), CASE WHEN value IS NULL THEN 0 ELSE 1 END, metric,
       priority, CAST(?2 AS BIGINT) * CAST(sum(met) AS BIGINT),
       CAST(?2 AS BIGINT) * CAST(sum(breached_stopped) AS BIGINT),
       CAST(?2 AS BIGINT) * CAST(sum(breached_running) AS BIGINT),
       CAST(?2 AS BIGINT) * CAST(sum(overrun_ms) AS BIGINT)
FROM (
    SELECT d.dimension AS dimension,
           (decided_us - (decided_us % 86400000000 + 86400000000) % 86400000000)
               / 86400000000 AS day,
           CASE d.dimension WHEN 'priority' THEN priority WHEN 'group' THEN held_by_group
               ELSE service END AS value,
           metric, priority,
           CASE WHEN breached_us IS NULL THEN 1 ELSE 0 END AS met,
           CASE WHEN breached_us IS NOT NULL AND stopped_us IS NOT NULL THEN 1 ELSE 0 END
               AS breached_stopped,
           CASE WHEN breached_us IS NOT NULL AND stopped_us IS NULL THEN 1 ELSE 0 END
               AS breached_running,
           CASE WHEN breached_us IS NOT NULL AND stopped_us IS NOT NULL
               THEN max(0, elapsed_ms - target_ms) ELSE 0 END AS overrun_ms
    FROM (SELECT *, coalesce(breached_us, stopped_us) AS decided_us FROM sla_clocks
          WHERE incident = ?1) AS clock
    CROSS JOIN (SELECT 'priority' AS dimension UNION ALL SELECT 'group'
        UNION ALL SELECT 'service') AS d
    WHERE incident_live = 0 AND canceled_at IS NULL AND decided_us IS NOT NULL
) AS contribution
WHERE true
GROUP BY dimension, day, value, metric, priority
ON CONFLICT(dimension, day, value, valued, metric, priority) DO UPDATE SET
    met = kpi_daily_sla.met + excluded.met,
    breached_stopped = kpi_daily_sla.breached_stopped + excluded.breached_stopped,
    breached_running = kpi_daily_sla.breached_running + excluded.breached_running,
    overrun_ms = kpi_daily_sla.overrun_ms + excluded.overrun_ms";

/// Drops the SLA buckets of the days an incident's clocks were decided on that no clock
/// counts in any more.
const DAILY_SLA_EMPTY: &str = "
DELETE FROM kpi_daily_sla WHERE dimension IN ('priority', 'group', 'service')
    AND day IN (SELECT DISTINCT (decided_us - (decided_us % 86400000000 + 86400000000)
                    % 86400000000) / 86400000000
                FROM (SELECT coalesce(breached_us, stopped_us) AS decided_us FROM sla_clocks
                      WHERE incident = ?1) AS clock
                WHERE decided_us IS NOT NULL)
    AND met = 0 AND breached_stopped = 0 AND breached_running = 0";

impl Tables {
    /// The `sla_clocks` rows of an incident: every instance with a start, as computed when the
    /// incident or its SLA stream last changed; priority as attached, group as it stood when
    /// the clock stopped (or breached, while it runs).
    pub(crate) fn sla_rows(
        &self,
        record: RecordRef,
        number: Option<HumanNumber>,
        outcomes: &[super::kpi::StoredOutcome],
        live: bool,
        row: Option<&super::kpi::KpiRow>,
        out: &mut Vec<SqlStatement>,
    ) {
        if !self.writes(&schema::KPI) {
            return;
        }
        // The daily SLA buckets: less the clocks' rows as they stand (the buckets this empties
        // dropped while those rows still say which days they held), plus the new rows.
        out.push(SqlStatement::new(
            DAILY_SLA_CONTRIBUTION,
            vec![text(record.id), SqlValue::Integer(-1)],
        ));
        out.push(SqlStatement::new(DAILY_SLA_EMPTY, vec![text(record.id)]));
        out.push(SqlStatement::new(
            "DELETE FROM sla_clocks WHERE incident = ?1",
            vec![text(record.id)],
        ));
        for s in outcomes {
            let o = &s.outcome;
            let decided_at = o.stopped.map(|st| st.at).or(o.breach());
            let priority = row.map_or(o.priority, |r| r.priority_at(s.attached_at));
            let group = match (row, decided_at) {
                (Some(r), Some(at)) => r.group_at(at),
                _ => o.group.clone(),
            };
            let state = if o.canceled_at.is_some() {
                "canceled"
            } else if o.stopped.is_some() {
                "stopped"
            } else {
                "running"
            };
            out.push(SqlStatement::new(
                "INSERT INTO sla_clocks(incident, number, definition, cycle, metric,
                     priority, held_by_group, service, state, started_at, target_ms,
                     breached_at, breached_us, stopped_at, stopped_us, elapsed_ms, canceled_at,
                     incident_live)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     ?17, ?18)
                 ON CONFLICT(incident, definition, cycle) DO UPDATE SET number = excluded.number, metric = excluded.metric,
                     priority = excluded.priority, held_by_group = excluded.held_by_group,
                     service = excluded.service, state = excluded.state,
                     started_at = excluded.started_at, target_ms = excluded.target_ms,
                     breached_at = excluded.breached_at, breached_us = excluded.breached_us,
                     stopped_at = excluded.stopped_at, stopped_us = excluded.stopped_us,
                     elapsed_ms = excluded.elapsed_ms, canceled_at = excluded.canceled_at,
                     incident_live = excluded.incident_live",
                vec![
                    text(record.id),
                    opt_text(number),
                    text(&o.definition),
                    SqlValue::from(o.cycle),
                    label(&o.metric),
                    label(&priority),
                    opt_text(group.as_ref()),
                    opt_text(o.service.as_ref()),
                    text(state),
                    instant(o.started_at),
                    SqlValue::Integer(o.target_ms),
                    opt_instant(o.breach()),
                    opt_micros(o.breach()),
                    opt_instant(o.stopped.map(|st| st.at)),
                    opt_micros(o.stopped.map(|st| st.at)),
                    o.stopped.map_or(SqlValue::Null, |st| {
                        SqlValue::Integer(st.business_elapsed_ms)
                    }),
                    opt_instant(o.canceled_at),
                    SqlValue::from(live),
                ],
            ));
        }
        out.push(SqlStatement::new(
            DAILY_SLA_CONTRIBUTION,
            vec![text(record.id), SqlValue::Integer(1)],
        ));
    }
}

impl Tables {
    /// The tick's due index: when the record next needs the tick (a threshold, a breach, an
    /// auto-close), or no row; to the millisecond. A row that already says `due` is left
    /// alone (most commands do not move it), so that it costs no page.
    pub(crate) fn due_row(&self, record: RecordRef, due: Option<DateTime<Utc>>) -> Result<()> {
        if !self.writes(&schema::DUE) {
            return Ok(());
        }
        let due = due.and_then(|at| DateTime::from_timestamp_millis(at.timestamp_millis()));
        let due_us = due.map(|at| at.timestamp_micros());
        if self.memo.due(record) == Some(due_us) {
            return Ok(());
        }
        let statement = match due {
            Some(at) => SqlStatement::new(
                "INSERT INTO sla_due(record, kind, due_at, due_us) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(record) DO UPDATE SET kind = excluded.kind, due_at = excluded.due_at,
                     due_us = excluded.due_us
                 WHERE sla_due.due_us <> excluded.due_us",
                vec![text(record.id), text(record.kind), instant(at), micros(at)],
            ),
            None => SqlStatement::new(
                "DELETE FROM sla_due WHERE record = ?1",
                vec![text(record.id)],
            ),
        };
        self.apply(&[statement])?;
        self.memo.put_due(record, due_us);
        Ok(())
    }

    /// The records whose due instant is `<= now`, earliest first (what a tick has to look at).
    pub(crate) fn due_until(&self, now: DateTime<Utc>) -> Result<Vec<RecordRef>> {
        let rows = self.sql.query_all(
            "SELECT record, kind FROM sla_due WHERE due_us <= ?1 ORDER BY due_us, record",
            &[micros(now)],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id = row.first().and_then(SqlValue::as_str);
            let kind = row.get(1).and_then(SqlValue::as_str);
            let record = id.zip(kind).and_then(|(id, kind)| {
                let kind = [
                    RecordKind::Incident,
                    RecordKind::Problem,
                    RecordKind::Change,
                ]
                .into_iter()
                .find(|k| k.as_str() == kind)?;
                Some(RecordRef::new(kind, uuid::Uuid::parse_str(id).ok()?))
            });
            match record {
                Some(record) => out.push(record),
                None => {
                    return Err(crate::error::EngineError::views(format!(
                        "sla_due holds a row that names no record: {row:?}"
                    )));
                }
            }
        }
        Ok(out)
    }
}
