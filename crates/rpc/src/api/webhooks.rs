//! The `webhook.*` methods: outbound notification subscriptions and their deliveries. Every
//! method needs the `webhook_manage` permission (by default: managers and admins). The
//! secret is returned by `webhook.create` only, never listed, and redacted from every event
//! this adapter shows (`events.read`, `events.subscribe`, `GET /events`).

use super::errors::{self, engine_error};
use super::params::{ActorParam, acting_actor};
use crate::{CallContext, Method, MethodError};
use opsledger::Engine;
use opsledger::core::webhook::delivery::Delivery;
use opsledger::core::webhook::{WebhookChanges, WebhookFilter, WebhookSettings};
use opsledger::core::{DeliveryId, WebhookId};
use opsledger::webhooks::{
    CreateWebhook, CreatedWebhook, DeliveryQuery, DeliveryStatusKind, WebhookInfo,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `webhook.create` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateParams {
    /// The subscription's id (default: a new one).
    #[serde(default)]
    pub id: Option<WebhookId>,
    /// Where events are POSTed: `http://` or `https://`, never a link-local, cloud metadata
    /// or unspecified address.
    pub url: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// Which events are sent (empty lists match everything).
    #[serde(default)]
    pub filter: WebhookFilter,
    /// A body template with `{{field}}` placeholders (docs/WEBHOOKS.md), for receivers that
    /// want their own shape (a Slack-style `{"text": "{{summary}}"}`); default: the engine's
    /// JSON payload.
    #[serde(default)]
    pub template: Option<String>,
    /// Whether events are sent (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The HMAC-SHA256 secret, 16..=256 bytes (default: a random one). Returned once.
    #[serde(default)]
    pub secret: Option<String>,
    /// Who acts, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// `webhook.update` params: the fields given change, the others stay.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateParams {
    /// Which subscription.
    pub id: WebhookId,
    /// What changes.
    #[serde(flatten)]
    pub changes: WebhookChanges,
    /// Who acts, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// Params naming a subscription.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdParams {
    /// Which subscription.
    pub id: WebhookId,
    /// Who acts, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// Params with only the actor.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Who acts, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// `webhook.deliveries` params.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesParams {
    /// Only this subscription's.
    #[serde(default)]
    pub webhook: Option<WebhookId>,
    /// Only those in this state.
    #[serde(default)]
    pub status: Option<DeliveryStatusKind>,
    /// At most this many (default 100, at most 1000), newest first.
    #[serde(default)]
    pub limit: Option<usize>,
    /// Who acts, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// `webhook.redeliver` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeliverParams {
    /// The delivery (the `Opsledger-Delivery` header's value).
    pub delivery: DeliveryId,
    /// Who acts, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// What `webhook.delete` did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Deleted {
    /// Always true (an unknown id is an error).
    pub deleted: bool,
}

fn create(
    engine: &Engine,
    ctx: &CallContext,
    p: CreateParams,
) -> Result<CreatedWebhook, MethodError> {
    let actor = acting_actor(ctx, p.actor)?;
    let request = CreateWebhook {
        id: p.id,
        settings: WebhookSettings {
            url: p.url,
            description: p.description,
            filter: p.filter,
            template: p.template,
            enabled: p.enabled.unwrap_or(true),
        },
        secret: p.secret,
    };
    engine.create_webhook(&actor, request).map_err(engine_error)
}

fn documented(mut m: Method, summary: &str, description: &str, codes: &[&str]) -> Method {
    m = m.summary(summary).description(description);
    for code in codes {
        if let Some(row) = errors::error_code(code) {
            m = m.error(row.code, format!("{}: {}", row.domain_code, row.meaning));
        }
    }
    m
}

/// The `webhook.*` methods.
pub(super) fn methods(engine: &Arc<Engine>) -> Vec<Method> {
    let e = engine.clone();
    let create = Method::new(
        "webhook.create",
        move |ctx: &CallContext, p: CreateParams| create(&e, ctx, p),
    )
    .by_name_only();
    let e = engine.clone();
    let list = Method::new(
        "webhook.list",
        move |ctx: &CallContext, p: ListParams| -> Result<Vec<WebhookInfo>, MethodError> {
            let actor = acting_actor(ctx, p.actor)?;
            e.webhooks(&actor).map_err(engine_error)
        },
    )
    .by_name_only();
    let e = engine.clone();
    let update = Method::new(
        "webhook.update",
        move |ctx: &CallContext, p: UpdateParams| -> Result<WebhookInfo, MethodError> {
            let actor = acting_actor(ctx, p.actor)?;
            e.update_webhook(&actor, p.id, p.changes)
                .map_err(engine_error)
        },
    )
    .by_name_only();
    let e = engine.clone();
    let delete = Method::new(
        "webhook.delete",
        move |ctx: &CallContext, p: IdParams| -> Result<Deleted, MethodError> {
            let actor = acting_actor(ctx, p.actor)?;
            e.delete_webhook(&actor, p.id).map_err(engine_error)?;
            Ok(Deleted { deleted: true })
        },
    )
    .by_name_only();
    let e = engine.clone();
    let deliveries = Method::new(
        "webhook.deliveries",
        move |ctx: &CallContext, p: DeliveriesParams| -> Result<Vec<Delivery>, MethodError> {
            let actor = acting_actor(ctx, p.actor)?;
            let query = DeliveryQuery {
                webhook: p.webhook,
                status: p.status,
                limit: p.limit,
            };
            e.webhook_deliveries(&actor, query).map_err(engine_error)
        },
    )
    .by_name_only();
    let e = engine.clone();
    let redeliver = Method::new(
        "webhook.redeliver",
        move |ctx: &CallContext, p: RedeliverParams| -> Result<Delivery, MethodError> {
            let actor = acting_actor(ctx, p.actor)?;
            e.redeliver(&actor, p.delivery).map_err(engine_error)
        },
    )
    .by_name_only();
    let writes = [
        "forbidden",
        "unknown_role",
        "unsafe_webhook_url",
        "unknown_event_type",
        "limit_exceeded",
        "validation",
        "conflict",
        "store",
    ];
    vec![
        documented(
            create,
            "Creates a webhook subscription",
            "Events matching `filter` (event types, record kinds, priorities, groups, services; empty lists match everything) are POSTed to `url` as JSON (or as `template` filled in), signed with HMAC-SHA256 of `<timestamp>.<body>` under the secret (`Opsledger-Signature: v1=<hex>`, `Opsledger-Timestamp`); see docs/WEBHOOKS.md. The secret (given, or generated) is in this result and never shown again. Refused, writing nothing, with `unsafe_webhook_url` (not http(s), or a link-local, cloud metadata or unspecified address), `unknown_event_type`, `limit_exceeded` (template over 4096 bytes, lists over 256 entries). Needs `webhook_manage` (by default: managers and admins).",
            &writes,
        ),
        documented(
            list,
            "The webhook subscriptions, without their secrets",
            "Every live subscription: id, url, description, filter, template, enabled, when and by whom. Needs `webhook_manage`.",
            &["forbidden", "unknown_role"],
        ),
        documented(
            update,
            "Changes a webhook subscription",
            "The fields given change (`filter` replaces the whole filter; `template: null` removes the template; `secret` rotates it), with the checks of `webhook.create`. Deliveries already queued go to the URL in force when they are attempted. Needs `webhook_manage`.",
            &writes,
        ),
        documented(
            delete,
            "Deletes a webhook subscription",
            "Nothing more is queued for it; its unfinished deliveries are dead-lettered. Needs `webhook_manage`.",
            &[
                "forbidden",
                "unknown_role",
                "validation",
                "conflict",
                "store",
            ],
        ),
        documented(
            deliveries,
            "Webhook deliveries, newest first",
            "Each delivery of one event to one subscription: its id (the `Opsledger-Delivery` header, the same for every attempt), the event, the attempt sequence and count, the status (`pending`, `in_flight`, `retry_scheduled` with `retry_at`, `succeeded`, `dead_lettered`), the last HTTP status and error. Filter by `webhook` and `status`; the 10000 most recent outbox entries are looked at. Needs `webhook_manage`.",
            &["forbidden", "unknown_role", "limit_exceeded"],
        ),
        documented(
            redeliver,
            "Sends a delivery again",
            "Starts a new attempt sequence (same delivery id, `Opsledger-Sequence` one higher) for a delivery that succeeded or was dead-lettered; refused with `validation` while a sequence runs. Needs `webhook_manage`.",
            &[
                "forbidden",
                "unknown_role",
                "not_found",
                "validation",
                "conflict",
                "store",
            ],
        ),
    ]
}
