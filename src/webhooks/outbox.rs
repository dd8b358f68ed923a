//! The outbox: matching the log against the subscriptions in force at each position, and
//! queueing one delivery per match, idempotently.

use super::{
    OUTBOX_ENTRY, OUTBOX_STREAM, OutboxEntry, WEBHOOKS_STREAM, decode_webhook_event,
    delivery_stream, fixed_stream, lost_race, new_event, webhook_of,
};
use crate::engine::Inner;
use crate::engine::sla::sla_owner;
use crate::error::{EngineError, Result};
use crate::projections::get_view;
use crate::record::RecordRef;
use chrono::{DateTime, Utc};
use opsledger_core::webhook::delivery::DeliveryEvent;
use opsledger_core::webhook::{
    DELIVERY_NAMESPACE, EventFacts, WebhookDecider, delivery_id, notifiable_event_types,
};
use opsledger_core::{Decider, DeliveryId, WebhookId};
use opsledger_store::{AppendRequest, ExpectedVersion, NewEvent, Position, StoredEvent};
use uuid::Uuid;

/// Meta key: the log position up to which events were matched.
const META_MATCHED: &[u8] = b"webhook_matched";
/// Events matched per page.
const MATCH_PAGE: usize = 500;

fn derived_id(delivery: DeliveryId, what: &str) -> Uuid {
    let mut name = delivery.0.as_bytes().to_vec();
    name.extend_from_slice(what.as_bytes());
    Uuid::new_v5(&DELIVERY_NAMESPACE, &name)
}

/// The outbox entry of a delivery's sequence, with an id derived from both (a second
/// queueing of the same entry is an idempotent retry).
pub(crate) fn outbox_request(
    entry: &OutboxEntry,
    at: DateTime<Utc>,
    actor: &str,
) -> Result<AppendRequest> {
    let payload =
        serde_json::to_vec(entry).map_err(|e| EngineError::invalid("outbox", e.to_string()))?;
    Ok(AppendRequest::new(
        fixed_stream(OUTBOX_STREAM),
        ExpectedVersion::Any,
        vec![NewEvent {
            event_id: derived_id(entry.delivery, &format!("outbox/{}", entry.sequence)),
            event_type: OUTBOX_ENTRY.to_owned(),
            schema_version: 1,
            occurred_at: at,
            actor: actor.to_owned(),
            correlation_id: None,
            causation_id: None,
            payload,
        }],
    ))
}

impl Inner {
    fn read_matched(&self) -> Result<Option<u64>> {
        Ok(self
            .meta
            .get(META_MATCHED)?
            .and_then(|b| b.try_into().ok().map(u64::from_be_bytes)))
    }

    /// Matches up to `max_events` log events after the matcher's checkpoint and queues a
    /// delivery for each match. Returns how many deliveries it queued (a match queued before,
    /// by this or another worker, is not counted).
    pub(crate) fn queue_deliveries(&self, max_events: usize) -> Result<usize> {
        let head = self.store().head()?.0;
        let (first, mut subscriptions) = {
            let checkpoint = self.read_matched()?;
            self.with_webhook_book(|book| {
                let from = checkpoint
                    .or_else(|| book.first_position().map(|p| p - 1))
                    .unwrap_or(head);
                (from, book.at_position(from))
            })?
        };
        if first >= head {
            if self.read_matched()?.is_none() && first > 0 {
                self.meta
                    .put(META_MATCHED.to_vec(), first.to_be_bytes().to_vec())?;
            }
            return Ok(0);
        }
        // Filters read the records' views: bring them up to the head first.
        self.catch_up()?;
        let notifiable = notifiable_event_types();
        let actor = self.config.system_actor.id.as_str().to_owned();
        let mut queued = 0;
        let mut done = first;
        while done < head && done - first < max_events as u64 {
            let page = self.store().read_all(Position(done + 1), MATCH_PAGE)?;
            if page.is_empty() {
                break;
            }
            for e in &page {
                if e.stream.as_str() == WEBHOOKS_STREAM {
                    let event = decode_webhook_event(e)?;
                    let id = webhook_of(&event);
                    let state = subscriptions.remove(&id).unwrap_or_default();
                    subscriptions.insert(id, WebhookDecider::evolve(state, &event));
                } else if notifiable.contains(e.event_type.as_str())
                    && let Some(record) = RecordRef::from_stream(e.stream.as_str())
                        .or_else(|| sla_owner(e.stream.as_str()))
                {
                    let view = get_view(&self.tables, record)?;
                    let facts = EventFacts {
                        event_type: &e.event_type,
                        kind: record.kind,
                        priority: view.as_ref().and_then(|v| v.priority),
                        group: view.as_ref().and_then(|v| v.group.as_ref()),
                        service: view.as_ref().and_then(|v| v.service.as_ref()),
                    };
                    for (id, state) in &subscriptions {
                        if let Some(w) = &state.0
                            && !w.deleted
                            && w.settings.enabled
                            && w.settings.filter.matches(&facts)
                            && self.queue_one(*id, e, &actor)?
                        {
                            queued += 1;
                        }
                    }
                }
                done = e.position.0;
            }
            self.meta
                .put(META_MATCHED.to_vec(), done.to_be_bytes().to_vec())?;
        }
        Ok(queued)
    }

    /// Queues the delivery of `event` to `webhook`; false when it was queued before.
    fn queue_one(&self, webhook: WebhookId, event: &StoredEvent, actor: &str) -> Result<bool> {
        let delivery = delivery_id(webhook, event.event_id);
        let queued = DeliveryEvent::Queued {
            delivery,
            webhook,
            event_id: event.event_id,
            position: event.position.0,
            event_type: event.event_type.clone(),
            at: event.recorded_at,
        };
        let requests = vec![
            AppendRequest::new(
                delivery_stream(delivery),
                ExpectedVersion::NoStream,
                vec![new_event(
                    derived_id(delivery, "queued"),
                    &queued,
                    event.recorded_at,
                    actor,
                )?],
            ),
            outbox_request(
                &OutboxEntry {
                    delivery,
                    webhook,
                    sequence: 1,
                },
                event.recorded_at,
                actor,
            )?,
        ];
        match self.append_webhook_events(requests) {
            Ok(written) => Ok(written),
            Err(e) if lost_race(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
