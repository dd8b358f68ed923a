//! The `query.*` methods: every one reads now, or as of a recorded instant (`as_of`, RFC 3339).

use super::errors::{self, engine_error};
use super::params::{ActorParam, reading_actor, resolve_record};
use super::results::number_text;
use crate::{CallContext, Method, MethodError};
use chrono::{DateTime, Utc};
use opsledger::core::kpi::{KpiQuery, KpiReport};
use opsledger::core::sla::{SlaPolicy, SlaStatus, WhatIfReport};
use opsledger::core::window::TimeWindow;
use opsledger::core::{Actor, ActorId, CiId, GroupId, IncidentId, Priority, RecordKind, ServiceId};
use opsledger::{
    CalendarEntry, CalendarQuery, Cursor, Engine, EngineError, KedbQuery, KnownErrorEntry,
    OpenAlert, QueueFilter, ReadView, RecordEvent, RecordRef, RecordState, RecordStatus,
    RecordView, SlaExplanation, TimelineEntry, Uuid, Visibility,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

fn view(engine: &Engine, as_of: Option<DateTime<Utc>>) -> Result<ReadView<'_>, MethodError> {
    engine.view(as_of).map_err(engine_error)
}

/// `query.record` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordParams {
    /// The record: its human number (`INC0000001`, `PRB0000001`, `CHG0000001`) or its UUID.
    pub id: String,
    /// The kind, to narrow a UUID lookup (optional).
    #[serde(default)]
    pub kind: Option<RecordKind>,
    /// The record's state right after its `version`-th event (instead of `as_of`).
    #[serde(default)]
    pub version: Option<u64>,
    /// Read as of this recorded instant (RFC 3339); default now.
    #[serde(default)]
    pub as_of: Option<DateTime<Utc>>,
    /// Read as this actor (trusted local callers only; over HTTP the bearer token's identity
    /// reads): a reader with no role but `caller` or `requester` reads only the incidents
    /// they are the caller of, without internal work notes. Absent: the transport's identity,
    /// if any, else everything.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// One record: its summary view and its full state.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RecordResult {
    /// Kind and id.
    pub record: RecordRef,
    /// Its human number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// The summary the queues show (absent when reading at a `version`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view: Option<RecordView>,
    /// The full state (the core's record state).
    pub state: RecordState,
}

/// The record a query names, if `reader` may read it: a reader who reads only their own
/// records gets `forbidden` alike for another's record and for one that does not exist.
fn readable_record(
    v: &ReadView<'_>,
    reader: Option<&Actor>,
    id: &str,
    kind: Option<RecordKind>,
) -> Result<RecordRef, MethodError> {
    match (resolve_record(v, id, kind, "id")?, reader) {
        (Some(record), Some(reader)) => {
            v.require_readable(reader, record).map_err(engine_error)?;
            Ok(record)
        }
        (Some(record), None) => Ok(record),
        (None, Some(reader)) if reader.reads_own_records_only() => {
            Err(engine_error(EngineError::ReadForbidden {
                actor: reader.id.clone(),
                what: opsledger::OTHER_RECORD.to_owned(),
            }))
        }
        (None, Some(_) | None) => Err(errors::not_found(id)),
    }
}

fn record(
    engine: &Engine,
    ctx: &CallContext,
    p: RecordParams,
) -> Result<RecordResult, MethodError> {
    if p.version.is_some() && p.as_of.is_some() {
        return Err(MethodError::invalid_params_at(
            "version",
            "give either `version` or `as_of`, not both",
        ));
    }
    let reader = reading_actor(ctx, p.actor)?;
    let live = view(engine, p.as_of)?;
    let record = readable_record(&live, reader.as_ref(), &p.id, p.kind)?;
    let number = number_text(live.number_of(record).map_err(engine_error)?);
    if let Some(version) = p.version {
        let state = engine
            .state_at_version(record, version)
            .map_err(engine_error)?
            .ok_or_else(|| errors::not_found(format!("{} at version {version}", p.id)))?;
        return Ok(RecordResult {
            record,
            number,
            view: None,
            state,
        });
    }
    let state = live
        .state(record)
        .map_err(engine_error)?
        .ok_or_else(|| errors::not_found(p.id.clone()))?;
    let record_view = live.record(record).map_err(engine_error)?;
    Ok(RecordResult {
        record,
        number,
        view: record_view,
        state,
    })
}

/// `query.queue` params: filters and a cursor.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueParams {
    /// Which kind of record.
    pub kind: RecordKind,
    /// Only these statuses (empty: any), e.g. `{"kind": "incident", "status": "in_progress"}`.
    #[serde(default)]
    pub statuses: Vec<RecordStatus>,
    /// Only records that still need work.
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
    /// Only incidents of this caller.
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
    /// Only records at least this old (seconds) at the query's instant.
    #[serde(default)]
    pub min_age_secs: Option<i64>,
    /// Page size (default 50, at most the engine's `max_page_size`).
    #[serde(default)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Read as of this recorded instant (RFC 3339); default now.
    #[serde(default)]
    pub as_of: Option<DateTime<Utc>>,
    /// Read as this actor (trusted local callers only; over HTTP the bearer token's identity
    /// reads): a reader with no role but `caller` or `requester` reads only the incidents
    /// they are the caller of, without internal work notes. Absent: the transport's identity,
    /// if any, else everything.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// A page of a queue.
#[derive(Debug, Serialize, JsonSchema)]
pub struct QueuePage {
    /// The records, in queue order.
    pub items: Vec<RecordView>,
    /// Pass as `cursor` for the next page; absent at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn queue(engine: &Engine, ctx: &CallContext, p: QueueParams) -> Result<QueuePage, MethodError> {
    let reader = reading_actor(ctx, p.actor)?;
    let mut filter = QueueFilter::new(p.kind);
    filter.statuses = p.statuses;
    filter.open_only = p.open_only;
    filter.priorities = p.priorities;
    filter.group = p.group;
    filter.assignee = p.assignee;
    filter.caller = p.caller;
    filter.service = p.service;
    filter.ci = p.ci;
    filter.opened_after = p.opened_after;
    filter.opened_before = p.opened_before;
    filter.min_age_secs = p.min_age_secs;
    if let Some(limit) = p.limit {
        filter.limit = limit;
    }
    filter.cursor = p.cursor.map(Cursor);
    let v = view(engine, p.as_of)?;
    let page = match &reader {
        Some(reader) => v.queue_for(reader, &filter),
        None => v.queue(&filter),
    }
    .map_err(engine_error)?;
    Ok(QueuePage {
        items: page.items,
        next_cursor: page.next.map(|c| c.0),
    })
}

/// `query.timeline` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimelineParams {
    /// The record: its human number or its UUID.
    pub id: String,
    /// The kind, to narrow a UUID lookup (optional).
    #[serde(default)]
    pub kind: Option<RecordKind>,
    /// The first stream version of the page (default 1).
    #[serde(default)]
    pub from_version: Option<u64>,
    /// Entries per page (default and maximum: the engine's `max_timeline`).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Read as of this recorded instant (RFC 3339); default now.
    #[serde(default)]
    pub as_of: Option<DateTime<Utc>>,
    /// Read as this actor (trusted local callers only; over HTTP the bearer token's identity
    /// reads): a reader with no role but `caller` or `requester` reads only the incidents
    /// they are the caller of, without internal work notes. Absent: the transport's identity,
    /// if any, else everything.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// Another event referred to by a timeline entry.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WireEventRef {
    /// Its id.
    pub event_id: Uuid,
    /// Its position.
    pub position: u64,
    /// The record it belongs to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<RecordRef>,
    /// That record's number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// Its type.
    pub event_type: String,
}

/// One audit-trail entry: what, who, when, why, caused by and caused.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WireTimelineEntry {
    /// Position in the log.
    pub position: u64,
    /// Version in the record's stream.
    pub version: u64,
    /// The event's id.
    pub event_id: Uuid,
    /// The event's type.
    pub event_type: String,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// What, in words.
    pub what: String,
    /// Why, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// `internal` (a work note: workers only) or `public` (the caller sees it too).
    pub visibility: Visibility,
    /// Correlation id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    /// Causation id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    /// The event that caused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caused_by: Option<WireEventRef>,
    /// The events it caused.
    pub caused: Vec<WireEventRef>,
    /// The event itself.
    pub event: RecordEvent,
}

/// A page of a record's audit trail.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TimelinePage {
    /// The record.
    pub record: RecordRef,
    /// Entries, oldest first.
    pub entries: Vec<WireTimelineEntry>,
    /// Pass as `from_version` for the next page; absent at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_version: Option<u64>,
}

fn event_ref(r: opsledger::EventRef) -> WireEventRef {
    WireEventRef {
        event_id: r.event_id,
        position: r.position,
        record: r.record,
        number: number_text(r.number),
        event_type: r.event_type,
    }
}

fn entry(e: TimelineEntry) -> WireTimelineEntry {
    WireTimelineEntry {
        position: e.position,
        version: e.version,
        event_id: e.event_id,
        event_type: e.event_type,
        recorded_at: e.recorded_at,
        occurred_at: e.occurred_at,
        actor: e.actor,
        what: e.what,
        why: e.why,
        visibility: e.visibility,
        correlation_id: e.correlation_id,
        causation_id: e.causation_id,
        caused_by: e.caused_by.map(event_ref),
        caused: e.caused.into_iter().map(event_ref).collect(),
        event: e.event,
    }
}

fn timeline(
    engine: &Engine,
    ctx: &CallContext,
    p: TimelineParams,
) -> Result<TimelinePage, MethodError> {
    let reader = reading_actor(ctx, p.actor)?;
    let v = view(engine, p.as_of)?;
    let record = readable_record(&v, reader.as_ref(), &p.id, p.kind)?;
    let limit = p
        .limit
        .unwrap_or(engine.config().limits.max_timeline)
        .max(1);
    let from_version = p.from_version.unwrap_or(1);
    let (entries, next_version) = match &reader {
        Some(reader) => v.timeline_page_for(reader, record, from_version, limit),
        None => v.timeline_page(record, from_version, limit),
    }
    .map_err(engine_error)?;
    Ok(TimelinePage {
        record,
        entries: entries.into_iter().map(entry).collect(),
        next_version,
    })
}

/// Params naming one record (`query.sla`, `query.sla_explain`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordAtParams {
    /// The record: its human number or its UUID.
    pub id: String,
    /// The kind, to narrow a UUID lookup (optional).
    #[serde(default)]
    pub kind: Option<RecordKind>,
    /// Read (and evaluate clocks) as of this recorded instant (RFC 3339); default now.
    #[serde(default)]
    pub as_of: Option<DateTime<Utc>>,
}

fn sla(
    engine: &Engine,
    ctx: &CallContext,
    p: RecordAtParams,
) -> Result<Vec<SlaStatus>, MethodError> {
    let reader = reading_actor(ctx, None)?;
    let v = view(engine, p.as_of)?;
    let record = readable_record(&v, reader.as_ref(), &p.id, p.kind)?;
    v.sla(record).map_err(engine_error)
}

fn sla_explain(
    engine: &Engine,
    ctx: &CallContext,
    p: RecordAtParams,
) -> Result<Vec<SlaExplanation>, MethodError> {
    let reader = reading_actor(ctx, None)?;
    let v = view(engine, p.as_of)?;
    let record = readable_record(&v, reader.as_ref(), &p.id, p.kind)?;
    v.sla_explain(record).map_err(engine_error)
}

/// `query.sla_what_if` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatIfParams {
    /// Records opened (or created) in this window are replayed.
    pub window: TimeWindow,
    /// The proposed SLA policy, compared with the one in force.
    pub proposed: SlaPolicy,
    /// Evaluate as of this recorded instant (RFC 3339); default now.
    #[serde(default)]
    pub as_of: Option<DateTime<Utc>>,
}

fn sla_what_if(engine: &Engine, p: WhatIfParams) -> Result<WhatIfReport, MethodError> {
    view(engine, p.as_of)?
        .sla_what_if(&p.window, &p.proposed)
        .map_err(engine_error)
}

/// `query.kpis` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KpiParams {
    /// The KPI query: window, grouping, time basis and definitions.
    pub query: KpiQuery,
    /// Compute over the log as of this recorded instant (RFC 3339); default now.
    #[serde(default)]
    pub as_of: Option<DateTime<Utc>>,
}

fn kpis(engine: &Engine, p: KpiParams) -> Result<KpiReport, MethodError> {
    view(engine, p.as_of)?.kpis(&p.query).map_err(engine_error)
}

/// `query.kedb` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KedbParams {
    /// Words that must all appear in the title, symptom, root cause or workaround.
    #[serde(default)]
    pub text: Option<String>,
    /// Words that must all appear in the symptom.
    #[serde(default)]
    pub symptom: Option<String>,
    /// Only known errors affecting this CI.
    #[serde(default)]
    pub ci: Option<CiId>,
    /// Only known errors of this service.
    #[serde(default)]
    pub service: Option<ServiceId>,
    /// Only known errors with a workaround.
    #[serde(default)]
    pub with_workaround: bool,
    /// Entries per page (default and maximum: the engine's page size).
    #[serde(default)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page, for the one after it.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Search as of this recorded instant (RFC 3339); default now.
    #[serde(default)]
    pub as_of: Option<DateTime<Utc>>,
}

/// A page of `query.kedb`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct KedbPage {
    /// The known errors, best match first.
    pub items: Vec<KnownErrorEntry>,
    /// Pass as `cursor` for the next page; absent at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn kedb(engine: &Engine, p: KedbParams) -> Result<KedbPage, MethodError> {
    let query = KedbQuery {
        text: p.text,
        symptom: p.symptom,
        ci: p.ci,
        service: p.service,
        with_workaround: p.with_workaround,
        limit: p.limit,
        cursor: p.cursor.map(Cursor),
    };
    let page = view(engine, p.as_of)?
        .known_errors(&query)
        .map_err(engine_error)?;
    Ok(KedbPage {
        items: page.items,
        next_cursor: page.next.map(|c| c.0),
    })
}

/// `query.calendar` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarParams {
    /// Only entries overlapping this window (default: all).
    #[serde(default)]
    pub window: Option<TimeWindow>,
    /// Entries per page (default and maximum: the engine's page size).
    #[serde(default)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page, for the one after it.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Read as of this recorded instant (RFC 3339); default now.
    #[serde(default)]
    pub as_of: Option<DateTime<Utc>>,
}

/// A page of `query.calendar`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CalendarPage {
    /// The changes, by window start.
    pub items: Vec<CalendarEntry>,
    /// Pass as `cursor` for the next page; absent at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn calendar(engine: &Engine, p: CalendarParams) -> Result<CalendarPage, MethodError> {
    let query = CalendarQuery {
        window: p.window,
        limit: p.limit,
        cursor: p.cursor.map(Cursor),
    };
    let page = view(engine, p.as_of)?
        .calendar(&query)
        .map_err(engine_error)?;
    Ok(CalendarPage {
        items: page.items,
        next_cursor: page.next.map(|c| c.0),
    })
}

/// Params with only `as_of`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AsOfParams {
    /// Read as of this recorded instant (RFC 3339); default now.
    #[serde(default)]
    pub as_of: Option<DateTime<Utc>>,
}

fn open_alerts(engine: &Engine, p: AsOfParams) -> Result<Vec<OpenAlert>, MethodError> {
    view(engine, p.as_of)?.open_alerts().map_err(engine_error)
}

/// `query.incidents_awaiting` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwaitingParams {
    /// The problem: its number (`PRB0000001`) or its UUID.
    pub problem: String,
    /// Read as of this recorded instant (RFC 3339); default now.
    #[serde(default)]
    pub as_of: Option<DateTime<Utc>>,
}

/// An incident, by id and number.
#[derive(Debug, Serialize, JsonSchema)]
pub struct IncidentRef {
    /// Its id.
    pub id: IncidentId,
    /// Its number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
}

fn incidents_awaiting(engine: &Engine, p: AwaitingParams) -> Result<Vec<IncidentRef>, MethodError> {
    let v = view(engine, p.as_of)?;
    let problem = resolve_record(&v, &p.problem, Some(RecordKind::Problem), "problem")?
        .ok_or_else(|| errors::not_found(&p.problem))?;
    let ids = v
        .incidents_awaiting(opsledger::core::ProblemId(problem.id))
        .map_err(engine_error)?;
    ids.into_iter()
        .map(|id| {
            Ok(IncidentRef {
                id,
                number: number_text(v.number_of(RecordRef::incident(id)).map_err(engine_error)?),
            })
        })
        .collect()
}

/// Engine counters.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StatsResult {
    /// Position of the last event in the log (now).
    pub head: u64,
    /// The last position a view as of `as_of` reflects (the head when reading now).
    pub position: u64,
    /// Position the read models reflect.
    pub views_checkpoint: u64,
    /// Position up to which process managers have run.
    pub process_checkpoint: u64,
    /// Record states in the cache.
    pub cached_records: usize,
    /// Attempts retried since open because a concurrent writer changed the record first.
    pub conflicts_retried: u64,
}

fn stats(engine: &Engine, p: AsOfParams) -> Result<StatsResult, MethodError> {
    let position = view(engine, p.as_of)?.position();
    let s = engine.stats().map_err(engine_error)?;
    Ok(StatsResult {
        head: s.head,
        position,
        views_checkpoint: s.views_checkpoint,
        process_checkpoint: s.process_checkpoint,
        cached_records: s.cached_records,
        conflicts_retried: s.conflicts_retried,
    })
}

/// A query of one record or of a reader's own records: it reads as the reader itself.
fn query<P, R>(
    engine: &Arc<Engine>,
    name: &str,
    f: fn(&Engine, &CallContext, P) -> Result<R, MethodError>,
) -> Method
where
    P: serde::de::DeserializeOwned + JsonSchema + 'static,
    R: Serialize + JsonSchema + 'static,
{
    let engine = engine.clone();
    Method::new(name, move |ctx: &CallContext, p: P| f(&engine, ctx, p)).by_name_only()
}

/// A query across records (`what`, in words, for the error): refused to a reader who reads
/// only their own records (`Engine::require_reads_all`).
fn across<P, R>(
    engine: &Arc<Engine>,
    name: &str,
    what: &'static str,
    f: fn(&Engine, P) -> Result<R, MethodError>,
) -> Method
where
    P: serde::de::DeserializeOwned + JsonSchema + 'static,
    R: Serialize + JsonSchema + 'static,
{
    let engine = engine.clone();
    Method::new(name, move |ctx: &CallContext, p: P| {
        if let Some(reader) = reading_actor(ctx, None)? {
            engine
                .require_reads_all(&reader, what)
                .map_err(engine_error)?;
        }
        f(&engine, p)
    })
    .by_name_only()
}

fn documented(mut m: Method, summary: &str, description: &str, codes: &[&str]) -> Method {
    m = m.summary(summary).description(format!(
        "{description}\n\nReads only; needs no actor. An identity with no role but `caller` or `requester` (a bearer token's, or the `actor` a trusted local caller names where the params take one) reads only the incidents it is the caller of, without internal work notes, and is refused (`forbidden`) anything else. `as_of` (RFC 3339) reads the log as recorded up to that instant."
    ));
    for code in codes {
        if let Some(row) = errors::error_code(code) {
            m = m.error(row.code, format!("{}: {}", row.domain_code, row.meaning));
        }
    }
    m
}

/// Every query method.
pub(super) fn methods(engine: &Arc<Engine>) -> Vec<Method> {
    const READ: &[&str] = &["forbidden", "limit_exceeded", "invalid_input"];
    const ONE: &[&str] = &["not_found", "forbidden", "limit_exceeded", "invalid_input"];
    vec![
        documented(
            query(engine, "query.record", record),
            "One record by number or id: its view and full state",
            "Finds the record by human number (`INC0000001`) or UUID and returns its summary view and its full state, now, as of `as_of`, or right after its `version`-th event (`Engine::state_at_version`).",
            ONE,
        ),
        documented(
            query(engine, "query.queue", queue),
            "A page of a work queue, filtered, with a cursor",
            "Records of one kind filtered by status, openness, priority, group, assignee, caller, service, CI, opening time and age; `next_cursor` continues.",
            READ,
        ),
        documented(
            query(engine, "query.timeline", timeline),
            "A page of a record's audit trail",
            "What happened to a record, oldest first: who, when, why, what caused it and what it caused; `next_version` continues.",
            ONE,
        ),
        documented(
            query(engine, "query.sla", sla),
            "A record's SLA clocks",
            "Every SLA clock attached to the record, evaluated at the view's instant with the pinned definition and calendar versions.",
            ONE,
        ),
        documented(
            query(engine, "query.sla_explain", sla_explain),
            "A record's SLA clocks with the spans that explain them",
            "Like `query.sla`, with each instance and its running, outside-hours, holiday, paused and stopped spans.",
            ONE,
        ),
        documented(
            across(
                engine,
                "query.sla_what_if",
                "an SLA what-if across records",
                sla_what_if,
            ),
            "Replays a window under a proposed SLA policy",
            "The records opened in `window`, replayed under `proposed` and under the policy in force, compared per record and in total. Writes nothing.",
            READ,
        ),
        documented(
            across(engine, "query.kpis", "the KPIs", kpis),
            "KPIs over a window",
            "MTTA, MTTR, MTTD, SLA compliance, reopen and reassignment rates, backlog, change success rate and the rest, over the log as of the view.",
            READ,
        ),
        documented(
            across(engine, "query.kedb", "the known-error database", kedb),
            "Searches the known-error database, a page at a time",
            "Known errors matching words, a symptom, a CI or a service, best match first; `next_cursor` continues.",
            READ,
        ),
        documented(
            across(engine, "query.calendar", "the change calendar", calendar),
            "A page of the change calendar, with conflicts",
            "Scheduled and planned changes overlapping `window` (all when absent), by window start, each with its conflicts under the policy in force; `next_cursor` continues.",
            READ,
        ),
        documented(
            across(engine, "query.open_alerts", "the open alerts", open_alerts),
            "Alert dedup keys held by open incidents",
            "Each open alert key with its incident and occurrence count.",
            READ,
        ),
        documented(
            across(
                engine,
                "query.incidents_awaiting",
                "the incidents awaiting a problem",
                incidents_awaiting,
            ),
            "Incidents on hold awaiting a problem",
            "The incidents on hold `awaiting_problem` for this problem (by number or UUID).",
            ONE,
        ),
        documented(
            across(engine, "query.stats", "the engine's counters", stats),
            "Engine counters",
            "The log head, read-model and process checkpoints, cache size and conflicts retried; `position` is the last position a view as of `as_of` reflects.",
            READ,
        ),
    ]
}
