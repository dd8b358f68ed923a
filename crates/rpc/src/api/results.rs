//! What methods answer, as JSON: the engine's results translated to wire types (numbers as
//! text, event payloads as JSON).

use opsledger::{FollowUp, FollowUpResult, HumanNumber, Outcome, RecordRef, StoredEvent, Uuid};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// One stored event: its place in the log, its metadata and its payload.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct WireEvent {
    /// Global position in the log (1, 2, … without gaps).
    pub position: u64,
    /// The stream (`incident-<uuid>`, `sla-incident-<uuid>`, `numbers-incident`, …).
    pub stream: String,
    /// Version within the stream (1, 2, …).
    pub version: u64,
    /// The event's id.
    pub event_id: Uuid,
    /// The event's type (`incident.opened`, …).
    pub event_type: String,
    /// The payload's schema version.
    pub schema_version: u16,
    /// When the fact happened.
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    /// When the log recorded it.
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    /// Who caused it.
    pub actor: String,
    /// Correlation id (one request or workflow).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    /// The event that caused it (process-manager follow-ups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    /// The payload (the core's event as JSON), passed through as stored.
    #[schemars(with = "Value")]
    pub payload: Box<RawValue>,
}

/// A stored payload as JSON; anything else is passed on as a string rather than lost.
fn plain(payload: &[u8]) -> Box<RawValue> {
    serde_json::from_slice::<Box<RawValue>>(payload).unwrap_or_else(|_| {
        serde_json::value::to_raw_value(&String::from_utf8_lossy(payload))
            .unwrap_or_else(|_| RawValue::NULL.to_owned())
    })
}

/// A webhook event's payload with its `secret` replaced by `"[redacted]"`: the signing secret
/// is in the log (the only source of truth) but no reader of events is shown it.
fn redacted(payload: &[u8]) -> Box<RawValue> {
    let mut value: serde_json::Value =
        serde_json::from_slice(payload).unwrap_or(serde_json::Value::Null);
    if let Some(secret) = value.get_mut("secret")
        && !secret.is_null()
    {
        *secret = serde_json::Value::String("[redacted]".into());
    }
    serde_json::value::to_raw_value(&value).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

impl From<&StoredEvent> for WireEvent {
    fn from(e: &StoredEvent) -> Self {
        let payload = if e.event_type.starts_with("webhook.") {
            redacted(&e.payload)
        } else {
            plain(&e.payload)
        };
        WireEvent {
            position: e.position.0,
            stream: e.stream.as_str().to_owned(),
            version: e.version.0,
            event_id: e.event_id,
            event_type: e.event_type.clone(),
            schema_version: e.schema_version,
            occurred_at: e.occurred_at,
            recorded_at: e.recorded_at,
            actor: e.actor.clone(),
            correlation_id: e.correlation_id,
            causation_id: e.causation_id,
            payload,
        }
    }
}

/// What a command did.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CommandResult {
    /// The record acted on (for `alert.report`: the incident opened or joined).
    pub record: RecordRef,
    /// Its human number (`INC0000001`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// The record's version after the command.
    pub version: u64,
    /// The record's events this command appended (empty when it changed nothing, or on a
    /// replay).
    pub events: Vec<WireEvent>,
    /// Commands the engine's process managers ran because of these events.
    pub follow_ups: Vec<WireFollowUp>,
    /// True when this answer replays an earlier outcome for the same idempotency key: nothing
    /// was written by this call.
    pub was_duplicate: bool,
    /// True when the follow-ups were cut at the engine's limits.
    pub follow_ups_truncated: bool,
    /// For `incident.open`: the published runbooks for the new incident's service, CIs and
    /// text, best first (at most 5; absent when there is none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suggested_runbooks: Vec<opsledger::knowledge::Suggestion>,
    /// For `incident.propose_major` and `incident.accept_major`: the services the incident's
    /// CIs affect now, most critical first, each with its path (absent when there is none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blast_radius: Vec<opsledger::core::service::AffectedService>,
}

/// What one tick did.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TickResult {
    /// The instant the tick evaluated clocks at.
    pub now: chrono::DateTime<chrono::Utc>,
    /// Records whose indexed due instant was at or before `now`.
    pub records_due: usize,
    /// Threshold events recorded.
    pub thresholds_recorded: usize,
    /// Breach events recorded.
    pub breaches_recorded: usize,
    /// Incidents auto-closed.
    pub auto_closed: Vec<RecordRef>,
    /// The escalations the recorded breaches asked for (process `sla_escalation`).
    pub escalations: Vec<WireFollowUp>,
    /// Commands the tick could not run (left due: the next tick tries again).
    pub failures: Vec<opsledger::TickFailure>,
}

impl From<&opsledger::TickReport> for TickResult {
    fn from(r: &opsledger::TickReport) -> Self {
        TickResult {
            now: r.now,
            records_due: r.records_due,
            thresholds_recorded: r.thresholds_recorded,
            breaches_recorded: r.breaches_recorded,
            auto_closed: r.auto_closed.clone(),
            escalations: r.escalations.iter().map(WireFollowUp::from).collect(),
            failures: r.failures.clone(),
        }
    }
}

/// One follow-up command run by a process manager.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct WireFollowUp {
    /// The process manager (`parent_resolution`, `sla_attach`, …).
    pub process: String,
    /// The event that caused it.
    pub cause: Uuid,
    /// The record it acted on.
    pub record: RecordRef,
    /// That record's number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// `applied` or `skipped`.
    pub outcome: String,
    /// The events it appended (when applied).
    pub events: Vec<WireEvent>,
    /// Why it was skipped: the error's stable code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Why it was skipped, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A human number as text.
pub fn number_text(n: Option<HumanNumber>) -> Option<String> {
    n.map(|n| n.to_string())
}

impl From<&FollowUp> for WireFollowUp {
    fn from(f: &FollowUp) -> Self {
        let (outcome, events, code, message) = match &f.result {
            FollowUpResult::Applied { events } => (
                "applied",
                events.iter().map(WireEvent::from).collect(),
                None,
                None,
            ),
            FollowUpResult::Skipped { code, message } => (
                "skipped",
                Vec::new(),
                Some(code.clone()),
                Some(message.clone()),
            ),
        };
        WireFollowUp {
            process: f.process.clone(),
            cause: f.cause,
            record: f.record,
            number: number_text(f.number),
            outcome: outcome.to_owned(),
            events,
            code,
            message,
        }
    }
}

impl From<&Outcome> for CommandResult {
    fn from(o: &Outcome) -> Self {
        CommandResult {
            record: o.record,
            number: number_text(o.number),
            version: o.version,
            events: o.events.iter().map(WireEvent::from).collect(),
            follow_ups: o.follow_ups.iter().map(WireFollowUp::from).collect(),
            was_duplicate: o.replayed,
            follow_ups_truncated: o.follow_ups_truncated,
            suggested_runbooks: Vec::new(),
            blast_radius: Vec::new(),
        }
    }
}
