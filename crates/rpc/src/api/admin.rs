//! The `admin.*` methods: SLA tick, log verification, read-model rebuild. Only an actor with
//! the `admin` role may call them; anyone else gets `forbidden` (-32005).

use super::errors::{self, engine_error};
use super::params::{ActorParam, acting_actor};
use crate::{CallContext, Method, MethodError};
use chrono::{DateTime, Utc};
use opsledger::core::{Actor, Role};
use opsledger::{Engine, TickReport};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Params of an admin method without arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminParams {
    /// Who acts, on trusted local transports only (see the command methods).
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// `admin.tick` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TickParams {
    /// The instant to evaluate clocks at (default: the engine clock's now; not ahead of it).
    #[serde(default)]
    pub now: Option<DateTime<Utc>>,
    /// Who acts, on trusted local transports only (see the command methods).
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// What `admin.verify` found.
#[derive(Debug, Serialize, JsonSchema)]
pub struct VerifyResult {
    /// True when no fault was found.
    pub clean: bool,
    /// The head the scan covered.
    pub head: u64,
    /// Events read and checked.
    pub events_checked: u64,
    /// Distinct streams seen.
    pub streams: u64,
    /// Index entries checked.
    pub index_entries_checked: u64,
    /// Faults found in total.
    pub fault_count: u64,
    /// The faults reported (bounded), in words.
    pub faults: Vec<String>,
}

/// What `admin.rebuild` did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RebuildResult {
    /// The log's head.
    pub head: u64,
    /// The position the rebuilt read models reflect.
    pub views_checkpoint: u64,
}

fn admin(ctx: &CallContext, claimed: Option<ActorParam>) -> Result<Actor, MethodError> {
    let actor = acting_actor(ctx, claimed)?;
    if actor.has_role(Role::Admin) {
        Ok(actor)
    } else {
        Err(errors::forbidden(
            actor.id.as_str(),
            "admin",
            format!("{} lacks the admin role these methods need", actor.id),
        ))
    }
}

/// The `admin.*` methods.
pub(super) fn methods(engine: &Arc<Engine>) -> Vec<Method> {
    let doc = |m: Method| {
        let mut m = m.by_name_only();
        for code in ["forbidden", "unknown_role", "store", "views"] {
            if let Some(row) = errors::error_code(code) {
                m = m.error(row.code, format!("{}: {}", row.domain_code, row.meaning));
            }
        }
        m
    };
    let tick = {
        let engine = engine.clone();
        doc(Method::new(
            "admin.tick",
            move |ctx: &CallContext, p: TickParams| -> Result<TickReport, MethodError> {
                admin(ctx, p.actor)?;
                let now = p.now.unwrap_or_else(|| engine.clock().now());
                engine.tick(now).map_err(engine_error)
            },
        ))
        .summary("Records due SLA thresholds and breaches; auto-closes resolved incidents")
        .description("Runs the engine's tick at `now` (default: the engine clock): thresholds and breaches that became due are recorded and resolved incidents past the auto-close delay are closed, each exactly once. Needs the `admin` role.")
    };
    let verify = {
        let engine = engine.clone();
        doc(Method::new(
            "admin.verify",
            move |ctx: &CallContext, p: AdminParams| -> Result<VerifyResult, MethodError> {
                admin(ctx, p.actor)?;
                let r = engine.verify().map_err(engine_error)?;
                Ok(VerifyResult {
                    clean: r.is_clean(),
                    head: r.head.0,
                    events_checked: r.events_checked,
                    streams: r.streams,
                    index_entries_checked: r.index_entries_checked,
                    fault_count: r.fault_count,
                    faults: r.faults.iter().map(|f| format!("{f:?}")).collect(),
                })
            },
        ))
        .summary("Checks the whole log and its indexes")
        .description("Reads every stored event, checks checksums, density of positions and versions, and the indexes. Needs the `admin` role.")
    };
    let rebuild = {
        let engine = engine.clone();
        doc(Method::new(
            "admin.rebuild",
            move |ctx: &CallContext, p: AdminParams| -> Result<RebuildResult, MethodError> {
                admin(ctx, p.actor)?;
                engine.rebuild_views().map_err(engine_error)?;
                let s = engine.stats().map_err(engine_error)?;
                Ok(RebuildResult {
                    head: s.head,
                    views_checkpoint: s.views_checkpoint,
                })
            },
        ))
        .summary("Rebuilds the read models from the log")
        .description("Wipes the read models (a cache) and projects the whole log again. Needs the `admin` role.")
    };
    vec![tick, verify, rebuild]
}
