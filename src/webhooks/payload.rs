//! The body of a delivery: the engine's JSON payload (human number, what happened in words,
//! who, when, links), or the subscription's template filled in with the same values.

use crate::engine::Inner;
use crate::engine::sla::sla_owner;
use crate::error::{EngineError, Result};
use crate::projections::get_view;
use crate::projections::timeline::describe;
use crate::projections::view::{RecordView, ViewDetail};
use crate::record::{RecordRef, decode_event};
use opsledger_core::RecordKind;
use opsledger_core::sla::SlaEvent;
use opsledger_core::webhook::delivery::Delivery;
use opsledger_core::webhook::{Webhook, render_template};
use opsledger_store::StoredEvent;
use serde_json::{Value, json};

/// Largest body sent, in bytes (what happened and why are cut to [`MAX_TEXT_BYTES`] first).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Longest `what` and `why` texts in a payload, in bytes (longer ones are cut, with `…`).
pub const MAX_TEXT_BYTES: usize = 2048;
/// Most related records listed in `links.related`.
const MAX_RELATED: usize = 50;

fn cut(mut text: String) -> String {
    if text.len() > MAX_TEXT_BYTES {
        let mut end = MAX_TEXT_BYTES - 3;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// What an SLA event means, in words.
fn sla_words(e: &SlaEvent) -> (String, Option<String>) {
    match e {
        SlaEvent::ThresholdCrossed {
            definition,
            percent,
            crossed_at,
            ..
        } => (
            format!(
                "SLA warning: {percent} of the target of {definition} elapsed at {}",
                crossed_at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            None,
        ),
        SlaEvent::Breached {
            definition,
            metric,
            breached_at,
            ..
        } => (
            format!(
                "SLA breached: the {metric} target of {definition} was missed at {}",
                breached_at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            None,
        ),
        SlaEvent::Attached { instances, .. } => {
            (format!("SLA clocks attached ({})", instances.len()), None)
        }
        SlaEvent::Reattached { reason, .. } => {
            ("SLA clocks reattached".to_owned(), Some(reason.clone()))
        }
        SlaEvent::Canceled { reason, .. } => {
            ("SLA clocks canceled".to_owned(), Some(reason.clone()))
        }
    }
}

/// Records a view links to, with their relation.
fn related(view: &RecordView) -> Vec<(&'static str, RecordRef)> {
    let mut out = Vec::new();
    match &view.detail {
        ViewDetail::Incident(d) => {
            out.extend(d.parent.map(|p| ("parent", RecordRef::incident(p))));
            out.extend(
                d.children
                    .iter()
                    .map(|c| ("child", RecordRef::incident(*c))),
            );
            out.extend(
                d.duplicate_of
                    .map(|p| ("duplicate_of", RecordRef::incident(p))),
            );
            out.extend(
                d.duplicates
                    .iter()
                    .map(|c| ("duplicate", RecordRef::incident(*c))),
            );
            out.extend(
                d.problems
                    .iter()
                    .map(|p| ("problem", RecordRef::problem(*p))),
            );
            out.extend(
                d.caused_by_changes
                    .iter()
                    .map(|c| ("caused_by_change", RecordRef::change(*c))),
            );
        }
        ViewDetail::Problem(d) => {
            out.extend(
                d.incidents
                    .iter()
                    .map(|i| ("incident", RecordRef::incident(*i))),
            );
            out.extend(
                d.fixing_changes
                    .keys()
                    .map(|c| ("fixing_change", RecordRef::change(*c))),
            );
        }
        ViewDetail::Change(d) => {
            out.extend(
                d.fixes_problems
                    .iter()
                    .map(|p| ("fixes_problem", RecordRef::problem(*p))),
            );
            out.extend(
                d.caused_incidents
                    .iter()
                    .map(|i| ("caused_incident", RecordRef::incident(*i))),
            );
        }
    }
    out.truncate(MAX_RELATED);
    out
}

fn kind_name(kind: RecordKind) -> &'static str {
    kind.as_str()
}

/// The body of `delivery` (the event `event`) for `webhook`, at most [`MAX_PAYLOAD_BYTES`].
pub(crate) fn build(
    inner: &Inner,
    event: &StoredEvent,
    delivery: &Delivery,
    webhook: &Webhook,
    link_base: Option<&str>,
) -> Result<Vec<u8>> {
    let record = RecordRef::from_stream(event.stream.as_str())
        .or_else(|| sla_owner(event.stream.as_str()))
        .ok_or_else(|| EngineError::invalid("event", "not an event of a record"))?;
    let (what, why) = match decode_event(event)? {
        Some(e) => describe(&e),
        None => {
            let sla: SlaEvent =
                serde_json::from_slice(&event.payload).map_err(|e| EngineError::Decode {
                    position: event.position.0,
                    reason: e.to_string(),
                })?;
            sla_words(&sla)
        }
    };
    // Generated text names records by number, as the timeline does; people's "why" stays.
    let (what, why) = (cut(inner.name_records(&what)), why.map(cut));
    let view = get_view(&inner.tables, record)?;
    let number = view
        .as_ref()
        .and_then(|v| v.number)
        .or(inner.number_of(record)?)
        .map(|n| n.to_string());
    let label = number.clone().unwrap_or_else(|| record.id.to_string());
    let summary = format!("{label}: {what}");
    let link = |n: &Option<String>| {
        link_base
            .zip(n.as_ref())
            .map(|(base, n)| format!("{}/{n}", base.trim_end_matches('/')))
    };
    let mut related_out = Vec::new();
    if let Some(v) = &view {
        for (relation, r) in related(v) {
            let n = inner.number_of(r)?.map(|n| n.to_string());
            related_out.push(json!({
                "relation": relation,
                "kind": kind_name(r.kind),
                "id": r.id,
                "number": n,
                "url": link(&n),
            }));
        }
    }
    let at = event
        .recorded_at
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let priority = view.as_ref().and_then(|v| v.priority);
    let status = view.as_ref().map(|v| v.status.to_string());
    let title = view.as_ref().map(|v| v.title.clone());
    let body = match &webhook.settings.template {
        Some(template) => render_template(template, |name| {
            Some(match name {
                "number" => label.clone(),
                "summary" => summary.clone(),
                "what" => what.clone(),
                "event_type" => event.event_type.clone(),
                "actor" => event.actor.clone(),
                "at" => at.clone(),
                "record_kind" => kind_name(record.kind).to_owned(),
                "record_id" => record.id.to_string(),
                "title" => title.clone().unwrap_or_default(),
                "priority" => priority.map(|p| p.to_string()).unwrap_or_default(),
                "status" => status.clone().unwrap_or_default(),
                "delivery" => delivery.id.to_string(),
                _ => return None,
            })
        })
        .into_bytes(),
        None => {
            let value: Value = json!({
                "delivery": delivery.id,
                "webhook": webhook.id,
                "event_type": event.event_type,
                "summary": summary,
                "what": what,
                "why": why,
                "actor": event.actor,
                "at": at,
                "occurred_at": event.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "event": {
                    "id": event.event_id,
                    "position": event.position.0,
                    "stream": event.stream.as_str(),
                },
                "record": {
                    "kind": kind_name(record.kind),
                    "id": record.id,
                    "number": number,
                    "title": title,
                    "status": status,
                    "priority": priority,
                    "group": view.as_ref().and_then(|v| v.group.clone()),
                    "service": view.as_ref().and_then(|v| v.service.clone()),
                    "assignee": view.as_ref().and_then(|v| v.assignee.clone()),
                    "url": link(&number),
                },
                "links": { "related": related_out },
            });
            serde_json::to_vec(&value)
                .map_err(|e| EngineError::invalid("payload", e.to_string()))?
        }
    };
    if body.len() > MAX_PAYLOAD_BYTES {
        return Err(EngineError::LimitExceeded {
            what: "the webhook payload".into(),
            limit: MAX_PAYLOAD_BYTES as u64,
        });
    }
    Ok(body)
}
