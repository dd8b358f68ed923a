//! SLA clocks, the timer tick and KPIs in the engine.
//!
//! - **Attach.** `incident.opened` and `problem.created` call for an `attach`, and
//!   `incident.reprioritized` and `problem.reprioritized` for a `reattach`,
//!   on the record's SLA stream `sla-<kind>-<uuid>`, with the pins of the policy's applicable
//!   definitions ([`SlaPolicy::pins_for`](opsledger_core::sla::SlaPolicy::pins_for)).
//!   The engine runs it as the follow-up `sla_attach`, like every process manager: system
//!   actor, causation id, event ids derived from the causing event (so a re-run at open never
//!   attaches twice; the decider's idempotent attach is the second guard).
//! - **Clocks.** A clock is never stored: [`ReadView::sla`](crate::ReadView::sla) folds the
//!   record's events and its SLA stream (both cut at the view's position) and evaluates the
//!   pinned definition and calendar versions at the view's instant.
//! - **Due index.** The read-model table `sla_due` (one row per record: `due_us`, indexed):
//!   per record, the earliest instant at which [`Engine::tick`] has something to do (an
//!   unrecorded threshold or breach, the next mark of a running clock, or the auto-close of a
//!   resolved incident). The projector recomputes it for every record an appended batch
//!   touches (before applying the batch, so a crash cannot skip it), so it lives and dies with
//!   the read models: persisted across restarts, wiped and rebuilt by a read-model rebuild
//!   (or rebuilt alone from the log when its version changes), never a scan of all records.
//!   A tick reads only the rows `<= now`. Every backend has the table: SQLite in its own file,
//!   sled and memory in a SQLite database beside the log, PostgreSQL in its schema.
//! - **Tick.** For each due record: the `record_threshold` / `record_breach` commands of
//!   [`due_commands`] (event ids derived from record, instance and mark; the decider's no-op
//!   repeats make a second tick, or a tick after a restart, record nothing), then
//!   `AutoClose` as the system actor `<system>:auto_close` when the delay elapsed (event id
//!   derived from the resolution event), then the record's index entry is recomputed.

use super::{Cause, Inner, PmFloor, backoff};
use crate::command::{Command, FollowUp, FollowUpResult};
use crate::error::{EngineError, Result};
use crate::process::follow_up_event_id;
use crate::projections::kpi::{self, StoredOutcome};
use crate::projections::tables::Tables;
use crate::record::{AnyState, RecordEvent, RecordRef, decode_as};
use chrono::{DateTime, Utc};
use opsledger_core::incident::{Incident, IncidentCommand, IncidentEvent, IncidentStatusKind};
use opsledger_core::kpi::{SlaOutcome, SlaStop};
use opsledger_core::problem::ProblemEvent;
use opsledger_core::sla::{
    self, ExplainSpan, SlaCommand, SlaDecider, SlaEvent, SlaInstance, SlaRecord, SlaSignal,
    SlaSource, SlaState, SlaStatus, due_commands,
};
use opsledger_core::{
    ChangeId, Context, Decider, DomainEvent, IncidentId, Policy, Priority, ProblemId, RecordKind,
};
use opsledger_store::{
    AppendRequest, ExpectedVersion, NewEvent, Position, StoreError, StoredEvent, StreamId, Version,
};
use std::sync::atomic::Ordering;
use uuid::Uuid;

/// Namespace of the tick's derived event ids.
const TICK_NAMESPACE: Uuid = Uuid::from_u128(0x3c5e_91d2_7a4b_4e0f_8b6d_1f2a_9c3e_5d70);
/// The follow-up that attaches SLA definitions.
pub(crate) const SLA_ATTACH: &str = "sla_attach";
/// The actor suffix of threshold and breach recordings.
pub(crate) const SLA_TICK: &str = "sla_tick";
/// The actor suffix of automatic closures.
pub(crate) const AUTO_CLOSE: &str = "auto_close";

/// One SLA clock of a record: the instance, its status and the spans that explain it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct SlaExplanation {
    /// The instance (pinned versions, recorded thresholds and breach).
    pub instance: SlaInstance,
    /// The clock at the view's instant.
    pub status: SlaStatus,
    /// Running, outside-hours, holiday, paused, stopped and canceled spans.
    pub spans: Vec<ExplainSpan>,
}

/// What one [`Engine::tick`](crate::Engine::tick) did.
#[derive(Debug, Clone, PartialEq)]
pub struct TickReport {
    /// The instant the tick evaluated clocks at.
    pub now: DateTime<Utc>,
    /// Records whose indexed due instant was `<= now`.
    pub records_due: usize,
    /// Threshold events recorded.
    pub thresholds_recorded: usize,
    /// Breach events recorded.
    pub breaches_recorded: usize,
    /// Incidents auto-closed.
    pub auto_closed: Vec<RecordRef>,
    /// The escalations the breaches recorded by this tick asked for (process
    /// `sla_escalation`), applied or refused; a refusal (the incident is already with that
    /// group, or resolved meanwhile) is final and leaves the breach recorded.
    pub escalations: Vec<FollowUp>,
    /// Commands the tick could not run (left due: the next tick tries again).
    pub failures: Vec<TickFailure>,
}

/// A command a tick could not run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct TickFailure {
    /// The record.
    pub record: RecordRef,
    /// The error's stable code.
    pub code: String,
    /// The error.
    pub message: String,
}

/// The core's name of an engine record.
pub(crate) fn core_ref(record: RecordRef) -> sla::RecordRef {
    match record.kind {
        RecordKind::Incident => sla::RecordRef::Incident(IncidentId(record.id)),
        RecordKind::Problem => sla::RecordRef::Problem(ProblemId(record.id)),
        RecordKind::Change => sla::RecordRef::Change(ChangeId(record.id)),
    }
}

fn engine_ref(record: sla::RecordRef) -> RecordRef {
    RecordRef::new(record.kind(), record.uuid())
}

/// The record's SLA stream.
pub(crate) fn sla_stream(record: RecordRef) -> Result<StreamId> {
    Ok(StreamId::new(core_ref(record).sla_stream())?)
}

/// The record an SLA stream belongs to.
pub(crate) fn sla_owner(stream: &str) -> Option<RecordRef> {
    RecordRef::from_stream(stream.strip_prefix("sla-")?)
}

/// The clock signals of a record's stored events.
fn signals(kind: RecordKind, events: &[StoredEvent]) -> Result<Vec<SlaSignal>> {
    let mut out = Vec::new();
    for e in events {
        let signal = match decode_as(kind, e)? {
            RecordEvent::Incident(ev) => ev.sla_signal(),
            RecordEvent::Problem(ev) => ev.sla_signal(),
            RecordEvent::Change(_) => None,
        };
        out.extend(signal);
    }
    Ok(out)
}

/// The SLA event `e` holds, when it is on an SLA stream.
pub(crate) fn sla_event_of(e: &StoredEvent) -> Result<Option<SlaEvent>> {
    if sla_owner(e.stream.as_str()).is_none() {
        return Ok(None);
    }
    decode_sla(e).map(Some)
}

fn decode_sla(e: &StoredEvent) -> Result<SlaEvent> {
    serde_json::from_slice(&e.payload).map_err(|err| EngineError::Decode {
        position: e.position.0,
        reason: err.to_string(),
    })
}

fn mark_event_id(record: RecordRef, command: &SlaCommand) -> Option<Uuid> {
    let mark = match command {
        SlaCommand::RecordThreshold {
            instance, percent, ..
        } => format!(
            "{}/{}/threshold/{}",
            record.stream_name(),
            instance.0,
            percent.0
        ),
        SlaCommand::RecordBreach { instance, .. } => {
            format!("{}/{}/breach", record.stream_name(), instance.0)
        }
        SlaCommand::Attach { .. } | SlaCommand::Reattach { .. } | SlaCommand::Cancel { .. } => {
            return None;
        }
    };
    Some(Uuid::new_v5(&TICK_NAMESPACE, mark.as_bytes()))
}

impl Inner {
    /// The record's SLA stream, folded, up to position `up_to`; and its version.
    pub(crate) fn sla_record(
        &self,
        record: RecordRef,
        up_to: Option<u64>,
    ) -> Result<(u64, Option<SlaRecord>)> {
        let events = self.stream_events(&sla_stream(record)?, up_to, usize::MAX)?;
        let version = events.last().map_or(0, |e| e.version.0);
        let mut state = None;
        for e in &events {
            state = SlaDecider::evolve(state, &decode_sla(e)?);
        }
        Ok((version, state))
    }

    /// The clock signals of the record's events up to position `up_to`.
    pub(crate) fn sla_signals(
        &self,
        record: RecordRef,
        up_to: Option<u64>,
    ) -> Result<Vec<SlaSignal>> {
        let events = self.stream_events(&record.stream(), up_to, usize::MAX)?;
        signals(record.kind, &events)
    }

    /// Every SLA clock of the record (active, replaced and canceled instances, in attachment
    /// order) as of position `up_to` and instant `now`. Instances whose pinned versions the
    /// policy no longer holds are left out.
    pub(crate) fn sla_clocks(
        &self,
        record: RecordRef,
        up_to: Option<u64>,
        now: DateTime<Utc>,
        with_spans: bool,
    ) -> Result<Vec<SlaExplanation>> {
        let (_, Some(sla)) = self.sla_record(record, up_to)? else {
            return Ok(Vec::new());
        };
        let signals = self.sla_signals(record, up_to)?;
        Ok(self.evaluate_clocks(&sla, &signals, now, with_spans))
    }

    /// The clocks of a folded SLA record and the record's signals, at `now`.
    fn evaluate_clocks(
        &self,
        sla: &SlaRecord,
        signals: &[SlaSignal],
        now: DateTime<Utc>,
        with_spans: bool,
    ) -> Vec<SlaExplanation> {
        let policy = self.policy();
        let mut out = Vec::new();
        for instance in &sla.instances {
            let evaluated = if with_spans {
                policy.sla.explain_of(instance, signals, now)
            } else {
                policy
                    .sla
                    .status_of(instance, signals, now)
                    .map(|s| (s, Vec::new()))
            };
            if let Some((status, spans)) = evaluated {
                out.push(SlaExplanation {
                    instance: instance.clone(),
                    status,
                    spans,
                });
            }
        }
        out
    }

    /// Decides and appends one SLA command, retrying conflicts; the stored events (none for a
    /// no-op repeat).
    fn apply_sla(
        &self,
        actor: &opsledger_core::Actor,
        command: &SlaCommand,
        correlation: Option<Uuid>,
        causation: Option<Uuid>,
        id_of: &dyn Fn(usize) -> Uuid,
    ) -> Result<Vec<StoredEvent>> {
        let record = engine_ref(command.record());
        let stream = sla_stream(record)?;
        let attempts = self.config.max_attempts;
        for attempt in 1..=attempts {
            let policy = self.policy();
            let (version, state) = self.sla_record(record, None)?;
            let ctx = Context::new(self.config.clock.now(), actor.clone(), policy.clone());
            let events = SlaDecider::decide(&state, command, &ctx)?;
            if events.is_empty() {
                return Ok(Vec::new());
            }
            let new_events = events
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    Ok(NewEvent {
                        event_id: id_of(i),
                        event_type: e.event_type().to_owned(),
                        schema_version: e.schema_version(),
                        occurred_at: e.at(),
                        actor: actor.id.as_str().to_owned(),
                        correlation_id: correlation,
                        causation_id: causation,
                        payload: serde_json::to_vec(e)
                            .map_err(|err| EngineError::invalid("event", err.to_string()))?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let expect = if version == 0 {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Exact(Version(version))
            };
            let store = self.store();
            match self.commit_append(
                vec![AppendRequest::new(stream.clone(), expect, new_events)],
                &policy,
                None,
            ) {
                Ok((outcomes, projected)) => {
                    let (Some(first), Some(last)) = (outcomes.first(), outcomes.last()) else {
                        return Err(EngineError::Store(StoreError::Backend(
                            "append returned no outcome".into(),
                        )));
                    };
                    let (first, last) = (first.first_position.0, last.last_position.0);
                    let appended: Vec<StoredEvent> = projected
                        .into_iter()
                        .filter(|e| (first..=last).contains(&e.position.0))
                        .collect();
                    let stored = if appended.len() as u64 == last - first + 1 {
                        appended
                    } else {
                        store.read_all(
                            Position(first),
                            usize::try_from(last - first + 1).unwrap_or(usize::MAX),
                        )?
                    };
                    self.project_to(last, &stored)?;
                    return Ok(stored);
                }
                Err(EngineError::Store(StoreError::WrongExpectedVersion { .. })) => {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    backoff(attempt);
                }
                Err(EngineError::Conflict { record, .. })
                    if record == super::policy::POLICY_STREAM =>
                {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        Err(EngineError::RetriesExhausted {
            record: stream.to_string(),
            attempts,
        })
    }

    /// The SLA command a record event calls for: `attach` on opening, `reattach` on a
    /// reprioritisation of a record that has (or now gets) SLA instances.
    fn sla_reaction(&self, decoded: &RecordEvent, policy: &Policy) -> Result<Option<SlaCommand>> {
        match decoded {
            RecordEvent::Incident(IncidentEvent::Opened {
                id,
                priority,
                service,
                ..
            }) => {
                let pins = policy
                    .sla
                    .pins_for(RecordKind::Incident, *priority, service.as_ref());
                if pins.is_empty() {
                    return Ok(None);
                }
                Ok(Some(SlaCommand::Attach {
                    record: sla::RecordRef::Incident(*id),
                    pins,
                }))
            }
            RecordEvent::Incident(IncidentEvent::Reprioritized {
                id,
                previous_priority,
                priority,
                at,
                ..
            }) => self.reattach(
                RecordRef::incident(*id),
                *priority,
                *at,
                format!("reprioritised from {previous_priority} to {priority}"),
                policy,
            ),
            RecordEvent::Problem(ProblemEvent::Created {
                id,
                priority,
                service,
                ..
            }) => {
                let pins = policy
                    .sla
                    .pins_for(RecordKind::Problem, *priority, service.as_ref());
                if pins.is_empty() {
                    return Ok(None);
                }
                Ok(Some(SlaCommand::Attach {
                    record: sla::RecordRef::Problem(*id),
                    pins,
                }))
            }
            RecordEvent::Problem(ProblemEvent::Reprioritized {
                id, priority, at, ..
            }) => self.reattach(
                RecordRef::problem(*id),
                *priority,
                *at,
                format!("reprioritised to {priority}"),
                policy,
            ),
            RecordEvent::Incident(_) | RecordEvent::Problem(_) | RecordEvent::Change(_) => Ok(None),
        }
    }

    /// The `reattach` a reprioritisation of `record` to `priority` calls for: the definitions
    /// applicable now (by kind, priority and the record's service), unless the record has no
    /// SLA stream and gets none.
    fn reattach(
        &self,
        record: RecordRef,
        priority: Priority,
        at: DateTime<Utc>,
        reason: String,
        policy: &Policy,
    ) -> Result<Option<SlaCommand>> {
        let service = match self.loader().latest(&record)?.1.as_ref() {
            AnyState::Incident(Some(i)) => i.service.clone(),
            AnyState::Problem(Some(p)) => p.service.clone(),
            AnyState::Incident(None) | AnyState::Problem(None) | AnyState::Change(_) => None,
        };
        let pins = policy.sla.pins_for(record.kind, priority, service.as_ref());
        let (version, _) = self.sla_record(record, None)?;
        if version == 0 && pins.is_empty() {
            return Ok(None);
        }
        Ok(Some(SlaCommand::Reattach {
            record: core_ref(record),
            pins,
            effective_at: at,
            reason,
        }))
    }

    /// Runs the `sla_attach` follow-up of one event, if it calls for one.
    pub(crate) fn sla_follow_up(
        &self,
        event: &StoredEvent,
        decoded: &RecordEvent,
        correlation: Uuid,
    ) -> Option<FollowUp> {
        let record = decoded.record();
        let skipped = |e: &EngineError| FollowUp {
            process: SLA_ATTACH.to_owned(),
            cause: event.event_id,
            record,
            number: self.number_of(record).ok().flatten(),
            result: FollowUpResult::Skipped {
                code: e.code().to_owned(),
                message: e.to_string(),
            },
        };
        // The policy the causing event was decided under: a re-run at open, or a publish
        // between the event and its follow-up, attaches what was in force when it happened.
        let in_force = self.policy_at(Some(event.position.0));
        let command = match self.sla_reaction(decoded, &in_force) {
            Ok(Some(c)) => c,
            Ok(None) => return None,
            Err(e) => return Some(skipped(&e)),
        };
        let id_of = |i: usize| {
            follow_up_event_id(
                event.event_id,
                SLA_ATTACH,
                record,
                u32::try_from(i).unwrap_or(u32::MAX),
            )
        };
        let result = match self.store().event_by_id(id_of(0)) {
            Ok(Some(existing)) => {
                // Already ran (before a crash, or an earlier pass): report, never redo.
                let mut applied = vec![existing];
                for i in 1..usize::MAX {
                    match self.store().event_by_id(id_of(i)) {
                        Ok(Some(e)) => applied.push(e),
                        Ok(None) | Err(_) => break,
                    }
                }
                Ok(applied)
            }
            Ok(None) => self.apply_sla(
                &self.system_actor(SLA_ATTACH),
                &command,
                Some(correlation),
                Some(event.event_id),
                &id_of,
            ),
            Err(e) => Err(e.into()),
        };
        match result {
            Ok(events) if events.is_empty() => None,
            Ok(events) => Some(FollowUp {
                process: SLA_ATTACH.to_owned(),
                cause: event.event_id,
                record,
                number: self.number_of(record).ok().flatten(),
                result: FollowUpResult::Applied { events },
            }),
            Err(e) => Some(skipped(&e)),
        }
    }

    // ---- due index ------------------------------------------------------------------------

    /// The earliest instant at which a tick has something to do for `record`, seen at `now`.
    fn next_due_of(&self, record: RecordRef, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let (_, state) = self.loader().latest(&record)?;
        let (_, sla) = self.sla_record(record, None)?;
        let signals = match &sla {
            Some(_) => self.sla_signals(record, None)?,
            None => Vec::new(),
        };
        Ok(self.next_due_from(&state, sla.as_ref(), &signals, now))
    }

    /// The earliest instant the tick has something to do for a record, from its state, its
    /// folded SLA record and its signals.
    fn next_due_from(
        &self,
        state: &AnyState,
        sla: Option<&SlaRecord>,
        signals: &[SlaSignal],
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let mut due: Option<DateTime<Utc>> = None;
        let mut consider = |t: DateTime<Utc>| due = Some(due.map_or(t, |d| d.min(t)));
        let policy = self.policy();
        if let AnyState::Incident(Some(i)) = state
            && i.status.kind() == IncidentStatusKind::Resolved
            && !i.major.blocks_auto_close()
            && let Some(resolved) = i.resolved_at
            && let Some(at) = policy.auto_close_due(resolved)
        {
            consider(at);
        }
        let Some(sla) = sla else {
            return due;
        };
        for instance in sla.instances.iter().filter(|i| i.is_active()) {
            let Some(status) = policy.sla.status_of(instance, signals, now) else {
                continue;
            };
            for command in due_commands(sla, instance, &status) {
                match command {
                    SlaCommand::RecordThreshold { crossed_at, .. } => consider(crossed_at),
                    SlaCommand::RecordBreach { breached_at, .. } => consider(breached_at),
                    SlaCommand::Attach { .. }
                    | SlaCommand::Reattach { .. }
                    | SlaCommand::Cancel { .. } => {}
                }
            }
            if let Some(mark) = status.next_due {
                consider(mark.at);
            }
        }
        due
    }

    /// Recomputes the due-index row of `record`.
    pub(crate) fn refresh_due(&self, record: RecordRef, now: DateTime<Utc>) -> Result<()> {
        let due = self.next_due_of(record, now)?;
        self.tables.due_row(record, due)
    }

    /// Recomputes the due-index row of every incident and problem in the log up to `up_to`
    /// into `tables` (the `sla_due` table rebuilt alone).
    pub(crate) fn rebuild_due(&self, tables: &Tables, up_to: u64) -> Result<()> {
        let now = self.config.clock.now();
        for e in opsledger_store::log_events(self.store(), 1, up_to, 1_000) {
            let e = e?;
            if e.version.0 != 1 {
                continue;
            }
            let Some(record) = RecordRef::from_stream(e.stream.as_str()) else {
                continue;
            };
            if record.kind != RecordKind::Change {
                tables.due_row(record, self.next_due_of(record, now)?)?;
            }
        }
        Ok(())
    }

    /// [`outcomes_of`] the record's clocks as of position `up_to` and instant `now`, with the
    /// group and service of `incident`.
    pub(crate) fn kpi_outcomes(
        &self,
        record: RecordRef,
        up_to: Option<u64>,
        now: DateTime<Utc>,
        incident: Option<&Incident>,
    ) -> Result<(Vec<StoredOutcome>, bool)> {
        let clocks = self.sla_clocks(record, up_to, now, false)?;
        Ok(outcomes_of(record, &clocks, incident))
    }

    /// Recomputes, for every record a batch touches (its stream or its SLA stream), what is
    /// derived from the store rather than from the batch: its due-index row and, for an
    /// incident, the KPI read model's SLA part (`O`/`o`, see [`kpi`]: final outcomes when every
    /// clock is finished, else a live mark). One fold of the record and its SLA stream serves
    /// both. `at_head`: whether the batch ends at the log's head (nothing follows it).
    ///
    /// Answers the stored KPI facts it read, for the fold of the batch.
    pub(crate) fn refresh_derived_for(
        &self,
        batch: &[StoredEvent],
        at_head: bool,
    ) -> Result<kpi::KnownFacts> {
        let mut records: Vec<RecordRef> = batch
            .iter()
            .filter_map(|e| {
                let s = e.stream.as_str();
                RecordRef::from_stream(s).or_else(|| sla_owner(s))
            })
            .filter(|r| r.kind != RecordKind::Change)
            .collect();
        // A new policy version may change the auto-close delay: every resolved incident's
        // due instant is recomputed with it (SLA clocks measure against their pins and do not
        // move).
        if batch
            .iter()
            .any(|e| e.stream.as_str() == super::policy::POLICY_STREAM)
        {
            records.extend(self.resolved_incidents()?);
        }
        records.sort_unstable();
        records.dedup();
        let now = self.config.clock.now();
        let mut ops = Vec::new();
        let mut known = kpi::KnownFacts::new();
        let mut sql = Vec::new();
        let mut fingerprints = Vec::new();
        for record in records {
            // The record's state after its last event in the batch is its latest when the
            // batch ends at the head: the state cache holds it when the command that appended
            // the batch put it there (no read of the record's tail).
            let stream = record.stream();
            let in_batch = batch.iter().rev().find(|e| e.stream == stream);
            let state = match (in_batch, self.cache.get(&record)) {
                (Some(e), Some((version, state))) if at_head && version == e.version.0 => state,
                _ => self.loader().latest(&record)?.1,
            };
            // The SLA stream folded, read again only when the batch appended to it.
            let sla_stream = sla_stream(record)?;
            let memo = self.tables.memo();
            let sla = match memo.sla(record) {
                Some(sla) if !batch.iter().any(|e| e.stream == sla_stream) => sla,
                _ => {
                    let sla = self.sla_record(record, None)?.1.map(std::sync::Arc::new);
                    memo.put_sla(record, sla.clone());
                    sla
                }
            };
            let signals = match &sla {
                Some(_) => self.sla_signals(record, None)?,
                None => Vec::new(),
            };
            self.tables.due_row(
                record,
                self.next_due_from(&state, sla.as_deref(), &signals, now),
            )?;
            let AnyState::Incident(incident) = state.as_ref() else {
                continue;
            };
            let clocks = match &sla {
                Some(sla) => self.evaluate_clocks(sla, &signals, now, false),
                None => Vec::new(),
            };
            let (outcomes, live) = outcomes_of(record, &clocks, incident.as_ref());
            let stored = kpi::stored(&self.tables, record)?;
            let row = kpi::folded(stored.clone(), record, batch)?;
            // Kept for the batch's fold, which reads only the records with events of their
            // own in the batch (not every resolved incident a policy version touches).
            if in_batch.is_some() {
                known.insert(record, stored);
            }
            let number = match self.number_of(record)? {
                Some(n) => Some(n),
                None => crate::numbers::allocated_in(batch, record),
            };
            let mut rows = Vec::new();
            self.tables
                .sla_rows(record, number, &outcomes, live, row.as_ref(), &mut rows);
            let (final_value, live_value) = if live {
                (None, Some(Vec::new()))
            } else if outcomes.is_empty() {
                (None, None)
            } else {
                (
                    Some(serde_json::to_vec(&outcomes).map_err(EngineError::views)?),
                    None,
                )
            };
            // Most commands on an incident leave its clocks' rows and outcomes as they were:
            // compare a fingerprint of both with the one written last, and write only a change.
            let fingerprint = fingerprint(&rows, final_value.as_deref(), live)
                .to_be_bytes()
                .to_vec();
            let key = kpi::sla_rows_key(record.id);
            let written = match memo.fingerprint(record) {
                Some(written) => Some(written),
                None => self.views.get(&key)?,
            };
            if written.as_deref() == Some(&fingerprint[..]) {
                memo.put_fingerprint(record, fingerprint);
            } else {
                sql.append(&mut rows);
                ops.push((key, Some(fingerprint.clone())));
                ops.push((kpi::outcomes_key(record.id), final_value));
                ops.push((kpi::live_key(record.id), live_value));
                fingerprints.push((record, fingerprint));
            }
        }
        if ops.is_empty() {
            return Ok(known);
        }
        self.tables.apply(&sql)?;
        self.views.apply(ops)?;
        for (record, fingerprint) in fingerprints {
            self.tables.memo().put_fingerprint(record, fingerprint);
        }
        Ok(known)
    }

    // ---- tick -----------------------------------------------------------------------------

    pub(crate) fn tick(&self, now: DateTime<Utc>) -> Result<TickReport> {
        self.catch_up()?;
        // Replicas on one log: the follow-ups another process did not live to run.
        if let Err(e) = self.sweep_follow_ups() {
            tracing::warn!(error = %e, "the follow-ups after the process checkpoint could not be checked; the next tick tries again");
        }
        // A breach's escalation runs as a follow-up of the breach event: the process
        // checkpoint must not pass the tick's events before it ran (else a crash in between
        // would lose it), exactly as for a command.
        let mut floor = PmFloor::register(self, self.store().head()?.0 + 1);
        let records = self.tables.due_until(now)?;
        let mut report = TickReport {
            now,
            records_due: records.len(),
            thresholds_recorded: 0,
            breaches_recorded: 0,
            auto_closed: Vec::new(),
            escalations: Vec::new(),
            failures: Vec::new(),
        };
        let mut incomplete = false;
        for record in records {
            if let Err(e) = self.tick_record(record, now, &mut report, &mut incomplete) {
                report.failures.push(TickFailure {
                    record,
                    code: e.code().to_owned(),
                    message: e.to_string(),
                });
            }
            // Under the projector's lock: the projector updates the same rows.
            self.with_projector(|| self.refresh_due(record, now))?;
        }
        if incomplete {
            floor.keep();
        }
        drop(floor);
        Ok(report)
    }

    fn tick_record(
        &self,
        record: RecordRef,
        now: DateTime<Utc>,
        report: &mut TickReport,
        incomplete: &mut bool,
    ) -> Result<()> {
        let policy = self.policy();
        if let (_, Some(sla)) = self.sla_record(record, None)? {
            let signals = self.sla_signals(record, None)?;
            let actor = self.system_actor(SLA_TICK);
            for instance in sla.instances.iter().filter(|i| i.is_active()) {
                let Some(status) = policy.sla.status_of(instance, &signals, now) else {
                    continue;
                };
                for command in due_commands(&sla, instance, &status) {
                    let Some(id) = mark_event_id(record, &command) else {
                        continue;
                    };
                    if self.store().event_by_id(id)?.is_some() {
                        continue;
                    }
                    match self.apply_sla(&actor, &command, None, None, &|_| id) {
                        Ok(events) if events.is_empty() => {}
                        Ok(events) => match command {
                            SlaCommand::RecordBreach { .. } => {
                                report.breaches_recorded += 1;
                                let correlation = self.config.ids.new_id();
                                let roots = events.into_iter().map(|e| (e, None)).collect();
                                let (follow_ups, _, failed) =
                                    self.run_follow_ups(roots, correlation);
                                *incomplete |= failed;
                                report.escalations.extend(follow_ups);
                            }
                            SlaCommand::RecordThreshold { .. }
                            | SlaCommand::Attach { .. }
                            | SlaCommand::Reattach { .. }
                            | SlaCommand::Cancel { .. } => report.thresholds_recorded += 1,
                        },
                        Err(e) => report.failures.push(TickFailure {
                            record,
                            code: e.code().to_owned(),
                            message: e.to_string(),
                        }),
                    }
                }
            }
        }
        if record.kind != RecordKind::Incident {
            return Ok(());
        }
        let (_, state) = self.loader().latest(&record)?;
        let AnyState::Incident(Some(incident)) = state.as_ref() else {
            return Ok(());
        };
        let due = incident.resolved_at.and_then(|r| policy.auto_close_due(r));
        if incident.status.kind() != IncidentStatusKind::Resolved
            || incident.major.blocks_auto_close()
            || due.is_none_or(|d| d > now)
        {
            return Ok(());
        }
        // The standing resolution causes the closure: its id derives the closure's event id.
        let events = self.stream_events(&record.stream(), None, usize::MAX)?;
        let mut cause = None;
        for e in events.iter().rev() {
            if let RecordEvent::Incident(IncidentEvent::Resolved { .. }) =
                decode_as(record.kind, e)?
            {
                cause = Some(e.event_id);
                break;
            }
        }
        let cause =
            cause.unwrap_or_else(|| Uuid::new_v5(&TICK_NAMESPACE, record.stream_name().as_bytes()));
        if self
            .store()
            .event_by_id(follow_up_event_id(cause, AUTO_CLOSE, record, 0))?
            .is_some()
        {
            return Ok(());
        }
        let actor = self.system_actor(AUTO_CLOSE);
        let (outcome, _) = self.apply(
            &actor,
            &Command::Incident(IncidentCommand::AutoClose {
                id: IncidentId(record.id),
            }),
            None,
            None,
            self.config.ids.new_id(),
            Some(Cause {
                event: cause,
                process: AUTO_CLOSE,
                discriminator: None,
            }),
        )?;
        if !outcome.events.is_empty() {
            report.auto_closed.push(record);
        }
        Ok(())
    }

    /// Every resolved incident, from the queue index.
    fn resolved_incidents(&self) -> Result<Vec<RecordRef>> {
        let mut out = Vec::new();
        let mut filter = crate::projections::queue::QueueFilter::incidents().status(
            crate::record::RecordStatus::Incident(IncidentStatusKind::Resolved),
        );
        filter.limit = 1_000;
        let now = self.config.clock.now();
        loop {
            let page = crate::projections::queue::query(
                &self.tables,
                &filter,
                now,
                filter.limit,
                usize::MAX,
            )?;
            out.extend(page.items.iter().map(|v| v.record));
            match page.next {
                Some(next) => filter.cursor = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// Every record with an SLA stream, among the streams of events up to `up_to`.
    pub(crate) fn sla_streams_upto(&self, up_to: u64) -> Result<Vec<RecordRef>> {
        let mut out = Vec::new();
        for e in opsledger_store::log_events(self.store(), 1, up_to, 1_000) {
            let e = e?;
            if e.version.0 == 1 {
                out.extend(sla_owner(e.stream.as_str()));
            }
        }
        Ok(out)
    }
}

/// The SLA state of a status, for KPI outcomes.
pub(crate) fn stop_and_cancel(
    status: &SlaStatus,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    match status.state {
        SlaState::Stopped { since } => (Some(since), None),
        SlaState::Canceled { since, .. } => (None, Some(since)),
        SlaState::NotStarted | SlaState::Running { .. } | SlaState::Paused { .. } => (None, None),
    }
}

/// The SLA outcomes of an incident's clocks as the KPIs read them (the priority is left to the
/// caller: [`kpi::priority_at`] of the attach instant), and whether a clock is still live (not
/// started, running or paused: its outcome depends on the instant it is read at).
fn outcomes_of(
    record: RecordRef,
    clocks: &[SlaExplanation],
    incident: Option<&Incident>,
) -> (Vec<StoredOutcome>, bool) {
    let mut out = Vec::new();
    let mut live = false;
    for (i, clock) in clocks.iter().enumerate() {
        live |= matches!(
            clock.status.state,
            SlaState::NotStarted | SlaState::Running { .. } | SlaState::Paused { .. }
        );
        let Some(started_at) = clock.status.started_at else {
            continue;
        };
        let definition = &clock.instance.pin.definition.id;
        let cycle = clocks[..=i]
            .iter()
            .filter(|c| &c.instance.pin.definition.id == definition)
            .count();
        let (stopped, canceled_at) = stop_and_cancel(&clock.status);
        out.push(StoredOutcome {
            outcome: SlaOutcome {
                record: core_ref(record),
                definition: definition.to_string(),
                cycle: u32::try_from(cycle).unwrap_or(u32::MAX),
                metric: clock.instance.metric,
                priority: Priority::Planning,
                group: incident.and_then(|i| i.group.clone()),
                service: incident.and_then(|i| i.service.clone()),
                started_at,
                target_ms: clock.instance.target.num_milliseconds(),
                breached_at: clock.status.breached,
                stopped: stopped.map(|at| SlaStop {
                    at,
                    business_elapsed_ms: clock.status.elapsed.num_milliseconds(),
                }),
                canceled_at,
            },
            attached_at: clock.instance.attached_at,
        });
    }
    (out, live)
}

/// A hash of an incident's SLA rows (their statements' text and every bound value), its
/// stored final outcomes and whether a clock still runs.
fn fingerprint(rows: &[opsledger_store::SqlStatement], outcomes: Option<&[u8]>, live: bool) -> u64 {
    use opsledger_store::SqlValue;
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (outcomes, live).hash(&mut h);
    for row in rows {
        row.sql.hash(&mut h);
        for value in &row.params {
            match value {
                SqlValue::Null => 0u8.hash(&mut h),
                SqlValue::Integer(i) => (1u8, i).hash(&mut h),
                SqlValue::Real(f) => (2u8, f.to_bits()).hash(&mut h),
                SqlValue::Text(t) => (3u8, t).hash(&mut h),
                SqlValue::Blob(b) => (4u8, b).hash(&mut h),
            }
        }
    }
    h.finish()
}
