//! Outbound notifications: webhook subscriptions (a decider over each subscription's own
//! stream) and the delivery state machine ([`delivery`]).
//!
//! A subscription names a URL, a filter over the events to send (event types, record kind,
//! priority, group, service), an optional payload template and a secret for the HMAC-SHA256
//! signature. What the engine will call is checked here: http(s) only, never a link-local,
//! metadata or unspecified address ([`check_url`]); filters name only event types the engine
//! records ([`notifiable_event_types`]); templates are bounded ([`MAX_TEMPLATE_BYTES`]).

pub mod delivery;
mod template;
mod url;

pub use template::{MAX_TEMPLATE_BYTES, TEMPLATE_FIELDS, check_template, render_template};
pub use url::{MAX_URL_BYTES, METADATA_HOSTS, UrlHost, WebhookUrl, address_refused, check_url};

use crate::authz::Permission;
use crate::context::Context;
use crate::decider::{Decider, DomainEvent};
use crate::error::DomainError;
use crate::ids::{ActorId, DeliveryId, GroupId, RecordKind, ServiceId, WebhookId};
use crate::priority::Priority;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::OnceLock;
use uuid::Uuid;

/// Most entries in each list of a filter.
pub const MAX_FILTER_ENTRIES: usize = 256;
/// Shortest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;
/// Longest secret accepted, in bytes.
pub const MAX_SECRET_BYTES: usize = 256;
/// Longest description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 1024;

/// The namespace of delivery ids (UUID v5 of webhook id and event id under it).
pub const DELIVERY_NAMESPACE: Uuid = Uuid::from_u128(0x6f70_736c_6564_6765_7277_6562_686f_6f6b);

/// The delivery id of `event_id` for `webhook`: the same wherever and whenever it is computed,
/// so a replica or a restarted worker finds the delivery another one started.
pub fn delivery_id(webhook: WebhookId, event_id: Uuid) -> DeliveryId {
    let mut name = [0u8; 32];
    name[..16].copy_from_slice(webhook.0.as_bytes());
    name[16..].copy_from_slice(event_id.as_bytes());
    DeliveryId(Uuid::new_v5(&DELIVERY_NAMESPACE, &name))
}

/// Which events a subscription receives. Every non-empty list must contain the event's value
/// (an event without a value, say an incident without a group, fails a non-empty list); empty
/// lists match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookFilter {
    /// Event type names (`incident.opened`, `sla.breached`, ...; see the event schemas).
    #[serde(default)]
    pub event_types: BTreeSet<String>,
    /// Record kinds.
    #[serde(default)]
    pub kinds: BTreeSet<RecordKind>,
    /// Record priorities.
    #[serde(default)]
    pub priorities: BTreeSet<Priority>,
    /// Assignment groups.
    #[serde(default)]
    pub groups: BTreeSet<GroupId>,
    /// Business services.
    #[serde(default)]
    pub services: BTreeSet<ServiceId>,
}

/// What a filter looks at in one event.
#[derive(Debug, Clone, Copy)]
pub struct EventFacts<'a> {
    /// The event type name.
    pub event_type: &'a str,
    /// The record's kind.
    pub kind: RecordKind,
    /// The record's priority, if it has one.
    pub priority: Option<Priority>,
    /// The record's group, if any.
    pub group: Option<&'a GroupId>,
    /// The record's service, if any.
    pub service: Option<&'a ServiceId>,
}

impl WebhookFilter {
    /// Whether the event passes.
    pub fn matches(&self, facts: &EventFacts<'_>) -> bool {
        fn pass<T: Ord>(set: &BTreeSet<T>, value: Option<&T>) -> bool {
            set.is_empty() || value.is_some_and(|v| set.contains(v))
        }
        pass(&self.event_types, Some(&facts.event_type.to_owned()))
            && pass(&self.kinds, Some(&facts.kind))
            && pass(&self.priorities, facts.priority.as_ref())
            && pass(&self.groups, facts.group)
            && pass(&self.services, facts.service)
    }

    fn check(&self) -> Result<(), DomainError> {
        let sizes = [
            self.event_types.len(),
            self.kinds.len(),
            self.priorities.len(),
            self.groups.len(),
            self.services.len(),
        ];
        if sizes.iter().any(|n| *n > MAX_FILTER_ENTRIES) {
            return Err(DomainError::LimitExceeded {
                what: "a filter list".into(),
                limit: MAX_FILTER_ENTRIES,
            });
        }
        let known = notifiable_event_types();
        for name in &self.event_types {
            if !known.contains(name.as_str()) {
                return Err(DomainError::UnknownEventType { name: name.clone() });
            }
        }
        Ok(())
    }
}

/// Every event type a subscription may ask for: the events of incidents, problems, changes
/// and SLA clocks (`sla.threshold_crossed` is the SLA warning, `sla.breached` the breach), read
/// from the events' schemas so that a new event type is notifiable without a list to update.
pub fn notifiable_event_types() -> &'static BTreeSet<String> {
    static NAMES: OnceLock<BTreeSet<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        use crate::catalog::schema_for;
        let schemas = [
            schema_for::<crate::incident::IncidentEvent>(),
            schema_for::<crate::problem::ProblemEvent>(),
            schema_for::<crate::change::ChangeEvent>(),
            schema_for::<crate::sla::SlaEvent>(),
        ];
        let mut names = BTreeSet::new();
        for schema in schemas {
            let value = serde_json::to_value(&schema).unwrap_or_default();
            let variants = value["oneOf"].as_array().cloned().unwrap_or_default();
            for v in variants {
                if let Some(name) = v["properties"]["type"]["const"].as_str() {
                    names.insert(name.to_owned());
                }
            }
        }
        names
    })
}

/// A subscription's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Where to POST (http or https).
    pub url: String,
    /// For people: what it is for.
    #[serde(default)]
    pub description: String,
    /// Which events to send.
    #[serde(default)]
    pub filter: WebhookFilter,
    /// The body to send instead of the engine's JSON payload, with `{{field}}` placeholders
    /// (see docs/WEBHOOKS.md); `None`: the engine's payload.
    #[serde(default)]
    pub template: Option<String>,
    /// Whether events are sent (a disabled subscription matches nothing).
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

impl WebhookSettings {
    /// Every rule a subscription's settings must keep.
    pub fn check(&self) -> Result<(), DomainError> {
        check_url(&self.url)?;
        if self.description.len() > MAX_DESCRIPTION_BYTES {
            return Err(DomainError::LimitExceeded {
                what: "the description".into(),
                limit: MAX_DESCRIPTION_BYTES,
            });
        }
        self.filter.check()?;
        if let Some(t) = &self.template {
            check_template(t)?;
        }
        Ok(())
    }
}

/// What may change in a subscription (`None`: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookChanges {
    /// A new URL.
    #[serde(default)]
    pub url: Option<String>,
    /// A new description.
    #[serde(default)]
    pub description: Option<String>,
    /// A new filter (replaces the whole filter).
    #[serde(default)]
    pub filter: Option<WebhookFilter>,
    /// A new template; `Some(None)` (JSON `null`) removes it.
    #[serde(default, with = "double_option")]
    #[schemars(with = "Option<String>")]
    pub template: Option<Option<String>>,
    /// Enable or disable.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// A new secret (rotation: deliveries sign with it from then on).
    #[serde(default)]
    pub secret: Option<String>,
}

mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Option<String>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some(inner) => inner.serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

/// What callers ask of a subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum WebhookCommand {
    /// Creates a subscription.
    Create {
        /// Its id (chosen by the caller).
        id: WebhookId,
        /// Its settings.
        settings: WebhookSettings,
        /// The HMAC secret (16..=256 bytes).
        secret: String,
    },
    /// Changes a subscription.
    Update {
        /// Which.
        id: WebhookId,
        /// What changes.
        changes: WebhookChanges,
    },
    /// Deletes a subscription: nothing more is queued for it, and its pending deliveries are
    /// dead-lettered.
    Delete {
        /// Which.
        id: WebhookId,
    },
}

/// What happened to a subscription. The payloads carry the secret (the log is the only
/// source of truth); adapters redact it from every event they show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum WebhookEvent {
    /// A subscription was created.
    #[serde(rename = "webhook.created")]
    Created {
        /// Which.
        id: WebhookId,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
        /// Its settings.
        settings: WebhookSettings,
        /// The HMAC secret.
        secret: String,
    },
    /// A subscription was changed.
    #[serde(rename = "webhook.updated")]
    Updated {
        /// Which.
        id: WebhookId,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
        /// The settings from now on.
        settings: WebhookSettings,
        /// A new secret, when it was rotated.
        #[serde(default)]
        secret: Option<String>,
    },
    /// A subscription was deleted.
    #[serde(rename = "webhook.deleted")]
    Deleted {
        /// Which.
        id: WebhookId,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
}

impl DomainEvent for WebhookEvent {
    fn event_type(&self) -> &'static str {
        match self {
            WebhookEvent::Created { .. } => "webhook.created",
            WebhookEvent::Updated { .. } => "webhook.updated",
            WebhookEvent::Deleted { .. } => "webhook.deleted",
        }
    }

    fn schema_version(&self) -> u16 {
        1
    }
}

/// A subscription as its events left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Its id.
    pub id: WebhookId,
    /// Its settings.
    pub settings: WebhookSettings,
    /// The HMAC secret.
    pub secret: String,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Created by.
    pub created_by: ActorId,
    /// Last changed at.
    pub updated_at: DateTime<Utc>,
    /// Whether it was deleted.
    pub deleted: bool,
}

/// The folded state of one subscription's stream (`None`: not created).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookState(pub Option<Webhook>);

/// The subscription decider.
#[derive(Debug, Clone, Copy)]
pub struct WebhookDecider;

fn check_secret(secret: &str) -> Result<(), DomainError> {
    if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&secret.len()) {
        return Err(DomainError::Validation {
            field: "secret".into(),
            reason: format!("must be {MIN_SECRET_BYTES}..={MAX_SECRET_BYTES} bytes"),
        });
    }
    Ok(())
}

fn not_found(id: WebhookId) -> DomainError {
    DomainError::Validation {
        field: "id".into(),
        reason: format!("webhook {id} does not exist"),
    }
}

impl Decider for WebhookDecider {
    type State = WebhookState;
    type Command = WebhookCommand;
    type Event = WebhookEvent;

    fn decide(
        state: &WebhookState,
        cmd: &WebhookCommand,
        ctx: &Context,
    ) -> Result<Vec<WebhookEvent>, DomainError> {
        ctx.policy
            .authorization
            .require(&ctx.actor, Permission::WebhookManage)?;
        let live = state.0.as_ref().filter(|w| !w.deleted);
        match (cmd, live) {
            (
                WebhookCommand::Create {
                    id,
                    settings,
                    secret,
                },
                None,
            ) => {
                if state.0.is_some() {
                    return Err(DomainError::Validation {
                        field: "id".into(),
                        reason: format!("webhook {id} was deleted; ids are not reused"),
                    });
                }
                settings.check()?;
                check_secret(secret)?;
                Ok(vec![WebhookEvent::Created {
                    id: *id,
                    at: ctx.now,
                    by: ctx.actor.id.clone(),
                    settings: settings.clone(),
                    secret: secret.clone(),
                }])
            }
            (WebhookCommand::Create { id, .. }, Some(_)) => Err(DomainError::Validation {
                field: "id".into(),
                reason: format!("webhook {id} already exists"),
            }),
            (WebhookCommand::Update { id, changes }, Some(current)) => {
                let mut settings = current.settings.clone();
                if let Some(url) = &changes.url {
                    settings.url = url.clone();
                }
                if let Some(d) = &changes.description {
                    settings.description = d.clone();
                }
                if let Some(f) = &changes.filter {
                    settings.filter = f.clone();
                }
                if let Some(t) = &changes.template {
                    settings.template = t.clone();
                }
                if let Some(e) = changes.enabled {
                    settings.enabled = e;
                }
                settings.check()?;
                if let Some(s) = &changes.secret {
                    check_secret(s)?;
                }
                Ok(vec![WebhookEvent::Updated {
                    id: *id,
                    at: ctx.now,
                    by: ctx.actor.id.clone(),
                    settings,
                    secret: changes.secret.clone(),
                }])
            }
            (WebhookCommand::Delete { id }, Some(_)) => Ok(vec![WebhookEvent::Deleted {
                id: *id,
                at: ctx.now,
                by: ctx.actor.id.clone(),
            }]),
            (WebhookCommand::Update { id, .. } | WebhookCommand::Delete { id }, None) => {
                Err(not_found(*id))
            }
        }
    }

    fn evolve(state: WebhookState, event: &WebhookEvent) -> WebhookState {
        match (event, state.0) {
            (
                WebhookEvent::Created {
                    id,
                    at,
                    by,
                    settings,
                    secret,
                },
                _,
            ) => WebhookState(Some(Webhook {
                id: *id,
                settings: settings.clone(),
                secret: secret.clone(),
                created_at: *at,
                created_by: by.clone(),
                updated_at: *at,
                deleted: false,
            })),
            (
                WebhookEvent::Updated {
                    at,
                    settings,
                    secret,
                    ..
                },
                Some(mut w),
            ) => {
                w.settings = settings.clone();
                if let Some(s) = secret {
                    w.secret = s.clone();
                }
                w.updated_at = *at;
                WebhookState(Some(w))
            }
            (WebhookEvent::Deleted { at, .. }, Some(mut w)) => {
                w.deleted = true;
                w.updated_at = *at;
                WebhookState(Some(w))
            }
            (WebhookEvent::Updated { .. } | WebhookEvent::Deleted { .. }, None) => {
                WebhookState(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, Policy, Role};
    use std::sync::Arc;

    fn ctx(roles: &[Role]) -> Context {
        Context::new(
            DateTime::from_timestamp(1_800_000_000, 0).expect("instant"),
            Actor::new("mia", roles.iter().copied()),
            Arc::new(Policy::default()),
        )
    }

    fn create(url: &str, filter: WebhookFilter, template: Option<String>) -> WebhookCommand {
        WebhookCommand::Create {
            id: WebhookId(Uuid::from_u128(7)),
            settings: WebhookSettings {
                url: url.into(),
                description: String::new(),
                filter,
                template,
                enabled: true,
            },
            secret: "0123456789abcdef".into(),
        }
    }

    #[test]
    fn sla_warning_and_breach_are_notifiable() {
        let names = notifiable_event_types();
        for n in [
            "incident.opened",
            "incident.resolved",
            "problem.created",
            "change.requested",
            "sla.threshold_crossed",
            "sla.breached",
        ] {
            assert!(names.contains(n), "{n} missing from {names:?}");
        }
        assert!(!names.contains("webhook.created"));
    }

    #[test]
    fn managers_create_agents_may_not() {
        let state = WebhookState::default();
        let cmd = create(
            "https://hooks.example.com/x",
            WebhookFilter::default(),
            None,
        );
        let events = WebhookDecider::decide(&state, &cmd, &ctx(&[Role::Manager])).expect("manager");
        assert_eq!(events.len(), 1);
        let e = WebhookDecider::decide(&state, &cmd, &ctx(&[Role::Agent])).expect_err("agent");
        assert_eq!(e.code(), "forbidden");
        let state = WebhookDecider::fold(&events);
        let again = WebhookDecider::decide(&state, &cmd, &ctx(&[Role::Admin])).expect_err("dup");
        assert_eq!(again.code(), "validation");
    }

    #[test]
    fn bad_input_is_typed() {
        let state = WebhookState::default();
        let c = ctx(&[Role::Admin]);
        let code = |cmd| {
            WebhookDecider::decide(&state, &cmd, &c)
                .expect_err("refused")
                .code()
        };
        assert_eq!(
            code(create("ftp://x.example/", WebhookFilter::default(), None)),
            "unsafe_webhook_url"
        );
        assert_eq!(
            code(create(
                "http://169.254.169.254/",
                WebhookFilter::default(),
                None
            )),
            "unsafe_webhook_url"
        );
        let filter = WebhookFilter {
            event_types: ["incident.exploded".to_owned()].into(),
            ..WebhookFilter::default()
        };
        assert_eq!(
            code(create("https://ok.example/", filter, None)),
            "unknown_event_type"
        );
        assert_eq!(
            code(create(
                "https://ok.example/",
                WebhookFilter::default(),
                Some("x".repeat(MAX_TEMPLATE_BYTES + 1))
            )),
            "limit_exceeded"
        );
    }

    #[test]
    fn filters_match_each_list() {
        let group = GroupId::new("dba");
        let filter = WebhookFilter {
            event_types: ["sla.breached".to_owned()].into(),
            priorities: [Priority::Critical].into(),
            groups: [group.clone()].into(),
            ..WebhookFilter::default()
        };
        let mut facts = EventFacts {
            event_type: "sla.breached",
            kind: RecordKind::Incident,
            priority: Some(Priority::Critical),
            group: Some(&group),
            service: None,
        };
        assert!(filter.matches(&facts));
        facts.priority = Some(Priority::Low);
        assert!(!filter.matches(&facts));
        facts.priority = Some(Priority::Critical);
        facts.group = None;
        assert!(!filter.matches(&facts));
        assert!(WebhookFilter::default().matches(&facts));
    }

    #[test]
    fn delivery_ids_are_stable_and_distinct() {
        let w = WebhookId(Uuid::from_u128(1));
        let e = Uuid::from_u128(2);
        assert_eq!(delivery_id(w, e), delivery_id(w, e));
        assert_ne!(
            delivery_id(w, e),
            delivery_id(WebhookId(Uuid::from_u128(3)), e)
        );
    }
}
