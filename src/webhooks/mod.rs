//! Outbound notifications: webhook subscriptions, the outbox and its delivery worker.
//!
//! - **Subscriptions** are events of the `webhooks` stream (`webhook.created`, `.updated`,
//!   `.deleted`), decided by the core's [`WebhookDecider`] and appended at the stream's
//!   version (so two editors cannot both write from the same state). The engine keeps them in
//!   a book read from that stream, refreshed from its tail before each use
//!   (another engine on the same log may have written).
//! - **The outbox is in the log.** The worker reads the log after its checkpoint, folds the
//!   subscription events it meets (so each event is matched against the subscriptions in
//!   force at its position) and, for every (subscription, event) match, appends a
//!   `webhook.delivery_queued` event to the delivery's own stream
//!   `webhook-delivery-<delivery id>` (expected: no stream) together with an entry in the
//!   `webhook-outbox` stream, in one atomic append with event ids derived from the delivery
//!   id. The delivery id is UUID v5 of (subscription, event), so a replica or a restarted
//!   worker queueing the same match again writes nothing.
//! - **One attempt sequence per event.** An attempt is claimed by appending
//!   `webhook.delivery_attempt_started` at the delivery stream's version: of several workers
//!   exactly one wins, the others skip. The claim holds a lease; an attempt without an outcome
//!   (a worker killed mid-request) counts as failed when the lease runs out, and the next
//!   attempt follows. Outcomes (`succeeded`, `failed` with the next attempt's instant,
//!   `dead_lettered`) are appended at the version after the claim. See
//!   [`opsledger_core::webhook::delivery`].
//! - **Transport.** [`WebhookTransport`] sends one request; [`HttpTransport`] is the real one
//!   (connect and total timeouts, no redirects, every resolved address checked again).

mod http;
mod outbox;
mod payload;
mod signature;
mod worker;

pub use http::HttpTransport;
pub use payload::{MAX_PAYLOAD_BYTES, MAX_TEXT_BYTES};
pub use signature::{SIGNATURE_TOLERANCE_SECS, sign, verify};
pub(crate) use worker::Pending;
pub use worker::{
    DeliveryReport, WebhookRequest, WebhookTransport, WebhookWorker, WebhookWorkerConfig,
};

use crate::engine::{Engine, Inner};
use crate::error::{EngineError, Result};
use chrono::{DateTime, Utc};
use opsledger_core::webhook::delivery::{Delivery, DeliveryEvent, DeliveryStatus};
use opsledger_core::webhook::{
    Webhook, WebhookChanges, WebhookCommand, WebhookDecider, WebhookEvent, WebhookFilter,
    WebhookSettings, WebhookState,
};
use opsledger_core::{
    Actor, ActorId, Context, Decider, DeliveryId, DomainEvent, Permission, WebhookId,
};
use opsledger_store::{
    AppendRequest, ExpectedVersion, NewEvent, StoreError, StoredEvent, StreamId, Version,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The stream of subscription events.
pub const WEBHOOKS_STREAM: &str = "webhooks";
/// The outbox: one entry per queued delivery (and per redelivery), for workers to find them.
pub const OUTBOX_STREAM: &str = "webhook-outbox";
/// The event type of an outbox entry.
pub const OUTBOX_ENTRY: &str = "webhook.outbox_entry";
/// Most deliveries one `deliveries` query returns.
pub const MAX_DELIVERIES_PAGE: usize = 1000;
/// Most outbox entries one `deliveries` query looks at (newest first).
pub const MAX_DELIVERIES_SCAN: usize = 10_000;
/// Most subscriptions (live or deleted) a log may hold.
pub const MAX_WEBHOOKS: usize = 1000;

pub(crate) fn fixed_stream(name: &str) -> StreamId {
    StreamId::new(name).unwrap_or_else(|_| unreachable!("a fixed ASCII name is a valid stream id"))
}

/// The stream of one delivery.
pub fn delivery_stream(delivery: DeliveryId) -> StreamId {
    fixed_stream(&format!("webhook-delivery-{}", delivery.0))
}

/// An outbox entry: a delivery to look at.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OutboxEntry {
    pub(crate) delivery: DeliveryId,
    pub(crate) webhook: WebhookId,
    pub(crate) sequence: u32,
}

/// A subscription as callers see it: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct WebhookInfo {
    /// Its id.
    pub id: WebhookId,
    /// Where events are POSTed.
    pub url: String,
    /// What it is for.
    pub description: String,
    /// Which events are sent.
    pub filter: WebhookFilter,
    /// The payload template, if any.
    pub template: Option<String>,
    /// Whether events are sent.
    pub enabled: bool,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Created by.
    pub created_by: ActorId,
    /// Last changed at.
    pub updated_at: DateTime<Utc>,
}

impl From<&Webhook> for WebhookInfo {
    fn from(w: &Webhook) -> Self {
        WebhookInfo {
            id: w.id,
            url: w.settings.url.clone(),
            description: w.settings.description.clone(),
            filter: w.settings.filter.clone(),
            template: w.settings.template.clone(),
            enabled: w.settings.enabled,
            created_at: w.created_at,
            created_by: w.created_by.clone(),
            updated_at: w.updated_at,
        }
    }
}

/// What [`Engine::create_webhook`] is asked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct CreateWebhook {
    /// The id (`None`: a new one).
    #[serde(default)]
    pub id: Option<WebhookId>,
    /// The settings.
    #[serde(flatten)]
    pub settings: WebhookSettings,
    /// The HMAC secret, 16..=256 bytes (`None`: a random one, returned once).
    #[serde(default)]
    pub secret: Option<String>,
}

/// A created subscription, with its secret: the only time the secret is given out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct CreatedWebhook {
    /// The subscription.
    pub webhook: WebhookInfo,
    /// The HMAC secret: keep it, it is never shown again.
    pub secret: String,
}

/// Which deliveries [`Engine::webhook_deliveries`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// Only this subscription's.
    #[serde(default)]
    pub webhook: Option<WebhookId>,
    /// Only those in this state (`pending`, `in_flight`, `retry_scheduled`, `succeeded`,
    /// `dead_lettered`).
    #[serde(default)]
    pub status: Option<DeliveryStatusKind>,
    /// At most this many (default 100, at most 1000), newest first.
    #[serde(default)]
    pub limit: Option<usize>,
}

/// A delivery's state, without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatusKind {
    /// Due now.
    Pending,
    /// An attempt runs.
    InFlight,
    /// Waiting for the next attempt.
    RetryScheduled,
    /// Delivered.
    Succeeded,
    /// Given up on.
    DeadLettered,
}

impl DeliveryStatusKind {
    fn of(status: &DeliveryStatus) -> Self {
        match status {
            DeliveryStatus::Pending => DeliveryStatusKind::Pending,
            DeliveryStatus::InFlight { .. } => DeliveryStatusKind::InFlight,
            DeliveryStatus::RetryScheduled { .. } => DeliveryStatusKind::RetryScheduled,
            DeliveryStatus::Succeeded => DeliveryStatusKind::Succeeded,
            DeliveryStatus::DeadLettered => DeliveryStatusKind::DeadLettered,
        }
    }
}

/// The subscriptions, folded from the `webhooks` stream.
#[derive(Debug, Default)]
pub(crate) struct WebhookBook {
    /// The stream version read so far.
    version: u64,
    /// Every event with its position, in order.
    history: Vec<(u64, WebhookEvent)>,
    /// The state of each subscription after every event read.
    current: BTreeMap<WebhookId, WebhookState>,
}

impl WebhookBook {
    /// Reads what was appended to the stream since the last read.
    fn refresh(&mut self, inner: &Inner) -> Result<()> {
        let stream = fixed_stream(WEBHOOKS_STREAM);
        loop {
            let page = inner
                .store()
                .read_stream(&stream, Version(self.version + 1), 1000)?;
            let n = page.len();
            for e in page {
                let event = decode_webhook_event(&e)?;
                self.apply(e.position.0, event);
                self.version = e.version.0;
            }
            if n < 1000 {
                return Ok(());
            }
        }
    }

    fn apply(&mut self, position: u64, event: WebhookEvent) {
        let id = webhook_of(&event);
        let state = self.current.remove(&id).unwrap_or_default();
        self.current
            .insert(id, WebhookDecider::evolve(state, &event));
        self.history.push((position, event));
    }

    /// The subscriptions as they were right after the event at `position`.
    pub(crate) fn at_position(&self, position: u64) -> BTreeMap<WebhookId, WebhookState> {
        let mut out: BTreeMap<WebhookId, WebhookState> = BTreeMap::new();
        for (p, e) in &self.history {
            if *p > position {
                break;
            }
            let id = webhook_of(e);
            let state = out.remove(&id).unwrap_or_default();
            out.insert(id, WebhookDecider::evolve(state, e));
        }
        out
    }

    /// The position of the first subscription event (`None`: there is none).
    pub(crate) fn first_position(&self) -> Option<u64> {
        self.history.first().map(|(p, _)| *p)
    }

    pub(crate) fn live(&self, id: WebhookId) -> Option<&Webhook> {
        self.current
            .get(&id)
            .and_then(|s| s.0.as_ref())
            .filter(|w| !w.deleted)
    }
}

pub(crate) fn webhook_of(event: &WebhookEvent) -> WebhookId {
    match event {
        WebhookEvent::Created { id, .. }
        | WebhookEvent::Updated { id, .. }
        | WebhookEvent::Deleted { id, .. } => *id,
    }
}

pub(crate) fn decode_webhook_event(e: &StoredEvent) -> Result<WebhookEvent> {
    serde_json::from_slice(&e.payload).map_err(|err| EngineError::Decode {
        position: e.position.0,
        reason: err.to_string(),
    })
}

pub(crate) fn decode_delivery_event(e: &StoredEvent) -> Result<DeliveryEvent> {
    serde_json::from_slice(&e.payload).map_err(|err| EngineError::Decode {
        position: e.position.0,
        reason: err.to_string(),
    })
}

pub(crate) fn new_event<E: Serialize + DomainEvent>(
    event_id: Uuid,
    event: &E,
    at: DateTime<Utc>,
    actor: &str,
) -> Result<NewEvent> {
    Ok(NewEvent {
        event_id,
        event_type: event.event_type().to_owned(),
        schema_version: event.schema_version(),
        occurred_at: at,
        actor: actor.to_owned(),
        correlation_id: None,
        causation_id: None,
        payload: serde_json::to_vec(event)
            .map_err(|e| EngineError::invalid("event", e.to_string()))?,
    })
}

/// Whether an append failed only because the stream moved (another worker or editor won).
pub(crate) fn lost_race(e: &EngineError) -> bool {
    matches!(
        e,
        EngineError::Store(StoreError::WrongExpectedVersion { .. })
            | EngineError::Store(StoreError::DuplicateEventId { .. })
            | EngineError::Conflict { .. }
    )
}

/// A random secret: 2 x 122 random bits of UUID v4, hex.
fn random_secret() -> String {
    format!(
        "whsec_{}{}",
        Uuid::new_v4().simple(),
        Uuid::new_v4().simple()
    )
}

impl Inner {
    /// Appends events outside the command pipeline (subscriptions, deliveries), and moves the
    /// read models' checkpoint over them in the same unit where units are transactions.
    /// Returns whether anything was written (false: an idempotent retry of stored events).
    pub(crate) fn append_webhook_events(&self, requests: Vec<AppendRequest>) -> Result<bool> {
        let written = self.in_unit(|| {
            let outcomes = self.store().append_multi(requests)?;
            let last = outcomes
                .iter()
                .map(|o| o.last_position.0)
                .max()
                .unwrap_or(0);
            if self.storage().transactional_units() {
                self.project_to(last, &[])?;
            }
            Ok(outcomes.iter().any(|o| !o.was_duplicate))
        })?;
        if !self.storage().transactional_units() {
            self.catch_up()?;
        }
        Ok(written)
    }

    pub(crate) fn with_webhook_book<T>(&self, f: impl FnOnce(&WebhookBook) -> T) -> Result<T> {
        let mut book = self.webhooks.lock();
        book.refresh(self)?;
        Ok(f(&book))
    }

    fn decide_webhook(&self, actor: &Actor, command: WebhookCommand) -> Result<Webhook> {
        let id = match &command {
            WebhookCommand::Create { id, .. }
            | WebhookCommand::Update { id, .. }
            | WebhookCommand::Delete { id } => *id,
        };
        let mut book = self.webhooks.lock();
        book.refresh(self)?;
        if matches!(command, WebhookCommand::Create { .. }) && book.current.len() >= MAX_WEBHOOKS {
            return Err(EngineError::LimitExceeded {
                what: "webhook subscriptions".into(),
                limit: MAX_WEBHOOKS as u64,
            });
        }
        let state = book.current.get(&id).cloned().unwrap_or_default();
        let now = self.config.clock.now();
        let ctx = Context::new(now, actor.clone(), self.policy());
        let events = WebhookDecider::decide(&state, &command, &ctx)?;
        let expected = if book.version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(Version(book.version))
        };
        let new = events
            .iter()
            .map(|e| new_event(self.config.ids.new_id(), e, now, actor.id.as_str()))
            .collect::<Result<Vec<_>>>()?;
        let request = AppendRequest::new(fixed_stream(WEBHOOKS_STREAM), expected, new);
        self.append_webhook_events(vec![request]).map_err(|e| {
            if lost_race(&e) {
                EngineError::Conflict {
                    record: WEBHOOKS_STREAM.to_owned(),
                    expected: book.version,
                    actual: book.version + 1,
                }
            } else {
                e
            }
        })?;
        book.refresh(self)?;
        book.current
            .get(&id)
            .and_then(|s| s.0.clone())
            .ok_or_else(|| EngineError::NotFound {
                what: format!("webhook {id}"),
            })
    }

    pub(crate) fn load_delivery(&self, delivery: DeliveryId) -> Result<(Option<Delivery>, u64)> {
        let events = self.stream_events(&delivery_stream(delivery), None, usize::MAX)?;
        let version = events.last().map_or(0, |e| e.version.0);
        let decoded = events
            .iter()
            .map(decode_delivery_event)
            .collect::<Result<Vec<_>>>()?;
        Ok((Delivery::fold(&decoded), version))
    }
}

impl Engine {
    /// Creates a webhook subscription. Needs `webhook_manage` (by default: managers and
    /// admins). Refused, writing nothing, for a URL that is not http(s) or names a link-local,
    /// metadata or unspecified address (`unsafe_webhook_url`), a filter naming an unknown event
    /// type (`unknown_event_type`), a template over [`MAX_TEMPLATE_BYTES`] (`limit_exceeded`).
    /// The secret (given, or generated when `None`) is returned here and never again.
    ///
    /// [`MAX_TEMPLATE_BYTES`]: opsledger_core::webhook::MAX_TEMPLATE_BYTES
    pub fn create_webhook(&self, actor: &Actor, request: CreateWebhook) -> Result<CreatedWebhook> {
        let secret = request.secret.unwrap_or_else(random_secret);
        let id = request
            .id
            .unwrap_or_else(|| WebhookId(self.inner.config.ids.new_id()));
        let webhook = self.inner.decide_webhook(
            actor,
            WebhookCommand::Create {
                id,
                settings: request.settings,
                secret: secret.clone(),
            },
        )?;
        Ok(CreatedWebhook {
            webhook: WebhookInfo::from(&webhook),
            secret,
        })
    }

    /// Changes a subscription (same checks as [`Engine::create_webhook`]). Deliveries already
    /// queued go to the URL in force when they are attempted, signed with the secret then in
    /// force.
    pub fn update_webhook(
        &self,
        actor: &Actor,
        id: WebhookId,
        changes: WebhookChanges,
    ) -> Result<WebhookInfo> {
        let webhook = self
            .inner
            .decide_webhook(actor, WebhookCommand::Update { id, changes })?;
        Ok(WebhookInfo::from(&webhook))
    }

    /// Deletes a subscription: nothing more is queued for it; its pending deliveries are
    /// dead-lettered when the worker next looks at them.
    pub fn delete_webhook(&self, actor: &Actor, id: WebhookId) -> Result<()> {
        self.inner
            .decide_webhook(actor, WebhookCommand::Delete { id })
            .map(|_| ())
    }

    /// The live subscriptions, without their secrets. Needs `webhook_manage`.
    pub fn webhooks(&self, actor: &Actor) -> Result<Vec<WebhookInfo>> {
        self.authorize(actor, Permission::WebhookManage)?;
        self.inner.with_webhook_book(|book| {
            book.current
                .values()
                .filter_map(|s| s.0.as_ref())
                .filter(|w| !w.deleted)
                .map(WebhookInfo::from)
                .collect()
        })
    }

    /// Deliveries, newest first (the most recent [`MAX_DELIVERIES_SCAN`] outbox entries are
    /// looked at). Needs `webhook_manage`.
    pub fn webhook_deliveries(&self, actor: &Actor, query: DeliveryQuery) -> Result<Vec<Delivery>> {
        self.authorize(actor, Permission::WebhookManage)?;
        let limit = query.limit.unwrap_or(100);
        if limit > MAX_DELIVERIES_PAGE {
            return Err(EngineError::LimitExceeded {
                what: "limit".into(),
                limit: MAX_DELIVERIES_PAGE as u64,
            });
        }
        let inner = &self.inner;
        let outbox = fixed_stream(OUTBOX_STREAM);
        let head = inner.store().stream_version(&outbox)?.0;
        let from = head.saturating_sub(MAX_DELIVERIES_SCAN as u64) + 1;
        let entries = inner
            .store()
            .read_stream(&outbox, Version(from), MAX_DELIVERIES_SCAN)?;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for e in entries.iter().rev() {
            if out.len() >= limit {
                break;
            }
            let entry: OutboxEntry =
                serde_json::from_slice(&e.payload).map_err(|err| EngineError::Decode {
                    position: e.position.0,
                    reason: err.to_string(),
                })?;
            if query.webhook.is_some_and(|w| w != entry.webhook) || !seen.insert(entry.delivery) {
                continue;
            }
            if let (Some(d), _) = inner.load_delivery(entry.delivery)?
                && query
                    .status
                    .is_none_or(|s| s == DeliveryStatusKind::of(&d.status))
            {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// One delivery. Needs `webhook_manage`.
    pub fn webhook_delivery(&self, actor: &Actor, delivery: DeliveryId) -> Result<Delivery> {
        self.authorize(actor, Permission::WebhookManage)?;
        self.inner
            .load_delivery(delivery)?
            .0
            .ok_or_else(|| EngineError::NotFound {
                what: format!("delivery {delivery}"),
            })
    }

    /// Starts a new attempt sequence for a delivery that succeeded or was dead-lettered
    /// (refused with `validation` while one runs). Needs `webhook_manage`.
    pub fn redeliver(&self, actor: &Actor, delivery: DeliveryId) -> Result<Delivery> {
        self.authorize(actor, Permission::WebhookManage)?;
        let inner = &self.inner;
        let (state, version) = inner.load_delivery(delivery)?;
        let d = state.ok_or_else(|| EngineError::NotFound {
            what: format!("delivery {delivery}"),
        })?;
        let now = inner.config.clock.now();
        let event = d.redeliver(&actor.id, now)?;
        let DeliveryEvent::RedeliveryRequested { sequence, .. } = &event else {
            unreachable!("redeliver answers a redelivery request")
        };
        let entry = OutboxEntry {
            delivery,
            webhook: d.webhook,
            sequence: *sequence,
        };
        let requests = vec![
            AppendRequest::new(
                delivery_stream(delivery),
                ExpectedVersion::Exact(Version(version)),
                vec![new_event(
                    inner.config.ids.new_id(),
                    &event,
                    now,
                    actor.id.as_str(),
                )?],
            ),
            outbox::outbox_request(&entry, now, actor.id.as_str())?,
        ];
        inner.append_webhook_events(requests).map_err(|e| {
            if lost_race(&e) {
                EngineError::Conflict {
                    record: delivery_stream(delivery).as_str().to_owned(),
                    expected: version,
                    actual: version + 1,
                }
            } else {
                e
            }
        })?;
        Ok(Delivery::evolve(Some(d), &event).unwrap_or_else(|| unreachable!("a delivery stays")))
    }
}

/// The receivers' guide, `docs/WEBHOOKS.md`: payload, headers, signature verification and
/// delivery guarantees. Included here so that its Rust verification snippet is compiled and
/// run as a doctest.
#[doc = include_str!("../../docs/WEBHOOKS.md")]
pub mod guide {}
