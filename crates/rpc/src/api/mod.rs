//! The engine over JSON-RPC: every command, query and admin operation of an
//! [`opsledger::Engine`] as a method of a [`MethodRegistry`].
//!
//! ```
//! use opsledger::{Engine, EngineConfig};
//! use opsledger_rpc::{Limits, api};
//! use std::sync::Arc;
//!
//! let engine = Arc::new(Engine::in_memory(EngineConfig::default()).unwrap());
//! let rpc = api::dispatcher(engine.clone(), Limits::default());
//! let reply = rpc.handle(r#"{"jsonrpc":"2.0","id":1,"method":"incident.open","params":{
//!     "title":"Checkout fails","caller":"bob","impact":"high","urgency":"high",
//!     "actor":{"id":"alice","roles":["agent"]}}}"#).unwrap();
//! assert!(reply.contains(r#""number":"INC0000001""#));
//! let reply = rpc.handle(r#"{"jsonrpc":"2.0","id":2,"method":"query.record","params":{"id":"INC0000001"}}"#).unwrap();
//! assert!(reply.contains(r#""title":"Checkout fails""#));
//! ```
//!
//! Methods (the names are the contract; `rpc.discover` describes each):
//!
//! - **commands** ([`commands`]): `incident.<command>`, `problem.<command>`, `change.<command>`
//!   for every command of the core (named by its command kind: `incident.open`,
//!   `incident.resolve`, `change.approve`, …) and `alert.report`. Params: the command's fields
//!   by name (`id` optional on creating commands: the engine generates one; wherever a record
//!   id goes, a human number such as `INC0000001` is accepted and looked up) plus the envelope
//!   fields `idempotency_key`, `expected_version`, `correlation_id`, and `actor` on trusted
//!   transports. Result: the outcome ([`results::CommandResult`]).
//! - **queries** ([`queries`]): `query.record`, `query.queue`, `query.timeline`, `query.sla`,
//!   `query.sla_explain`, `query.sla_what_if`, `query.kpis`, `query.kedb`, `query.calendar`,
//!   `query.open_alerts`, `query.incidents_awaiting`, `query.stats`; each takes `as_of`.
//! - **events** ([`events`]): `events.read` and the long-poll `events.subscribe`;
//!   [`EngineEvents`] feeds the HTTP transport's `GET /events`.
//! - **policy** ([`policy`]): `policy.get`, `policy.history` (read only), `policy.validate`,
//!   `policy.diff` (write nothing), `policy.publish` (permission `policy_publish`).
//! - **admin** ([`admin`]): `admin.tick`, `admin.verify`, `admin.rebuild`, `admin.backup`, and
//!   `admin.set_clock` on an engine running on a manual clock ([`registry_with_clock`]) (role
//!   `admin`).
//! - **webhooks** ([`webhooks`]): `webhook.create`, `webhook.list`, `webhook.update`,
//!   `webhook.delete`, `webhook.deliveries`, `webhook.redeliver` (permission `webhook_manage`).
//!
//! Who acts: [`CallContext::acting_identity`](crate::CallContext::acting_identity) decides. On
//! trusted local transports (stdio, in-process, the C ABI) the params' `actor`
//! (`{"id": "alice", "roles": ["agent"]}`) acts, else the transport's default identity; over
//! HTTP the bearer token's identity acts and an `actor` in the params is refused (-32097).
//! Role names are the core's (`agent`, `cab_member`, …); `system` is refused.
//!
//! Errors: params that do not fit the method's schema are -32602 with the field's path
//! (`data.path`); refusals of the engine follow the table in [`errors`]
//! (`data.domain_code`, `data.details`). A refused call writes nothing.
//!
//! The adapter translates and decides nothing: every rule runs in the engine.

pub mod admin;
pub mod commands;
pub mod errors;
pub mod events;
pub mod knowledge;
pub mod params;
pub mod policy;
pub mod queries;
pub mod results;
pub mod service_model;
pub mod webhooks;

pub use events::EngineEvents;

use crate::{Dispatcher, Limits, Method, MethodRegistry};
use opsledger::{Engine, ManualClock};
use std::sync::Arc;

/// The API's title in the OpenRPC document.
pub const API_TITLE: &str = "opsledger";

/// The version of the JSON-RPC API (the OpenRPC document's `info.version`, also printed by
/// `opsledger --version`), versioned apart from the crates: it moves when what goes over the
/// wire changes, by the semver rules of a 0.x API (a breaking change moves the minor
/// number). docs/CHANGELOG.md says what each version changed.
pub const API_VERSION: &str = "0.2.0";

/// Every method of the engine's API, registered in name order. `admin.set_clock` answers
/// `not_supported`: see [`registry_with_clock`].
pub fn registry(engine: Arc<Engine>) -> MethodRegistry {
    registry_with_clock(engine, None)
}

/// [`registry`], for an engine that may run on a manual clock: `manual_clock` is the
/// [`ManualClock`] the engine was opened with (`EngineConfig::with_clock`), which
/// `admin.set_clock` moves forward (tests and demos: make SLA targets fall due without
/// waiting). A clock that is not the engine's own is ignored (`admin.set_clock` answers
/// `not_supported`), so that the method can never move a clock the engine does not read.
pub fn registry_with_clock(
    engine: Arc<Engine>,
    manual_clock: Option<Arc<ManualClock>>,
) -> MethodRegistry {
    let mut methods: Vec<Method> = Vec::new();
    methods.extend(commands::methods(&engine));
    methods.extend(queries::methods(&engine));
    methods.extend(events::methods(&engine));
    methods.extend(policy::methods(&engine));
    methods.extend(admin::methods(&engine, manual_clock));
    methods.extend(webhooks::methods(&engine));
    methods.extend(service_model::methods(&engine));
    methods.extend(knowledge::methods(&engine));
    methods.sort_by(|a, b| a.name().cmp(b.name()));
    let mut registry = MethodRegistry::new(API_TITLE, API_VERSION).with_description(
        "opsledger, an event-sourced ITIL workflow engine (incidents, problems, changes, SLAs, KPIs), over JSON-RPC 2.0. Error codes: see docs/RPC.md.",
    );
    for m in methods {
        let name = m.name().to_owned();
        if let Err(e) = registry.register(m) {
            panic!("method {name} could not be registered: {e}");
        }
    }
    registry
}

/// A dispatcher serving [`registry`] (and `rpc.discover`) with `limits`.
pub fn dispatcher(engine: Arc<Engine>, limits: Limits) -> Dispatcher {
    Dispatcher::with_limits(registry(engine), limits)
}
