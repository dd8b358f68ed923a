//! The service model over JSON-RPC: `service.*` and `ci.*` (register, activate, update,
//! retire, get, list; `ci.relate`, `ci.unrelate`; `ci.batch` for several commands as one
//! atomic change) and the queries `query.impact`, `query.incident_impact` and
//! `query.dependencies`. Writes need `service_model_manage` (by default: managers and change
//! managers); reads are refused only to readers who read their own records alone.

use super::errors::{self, engine_error};
use super::params::{ActorParam, acting_actor, reading_actor, require_record};
use crate::{CallContext, Method, MethodError};
use opsledger::core::service::Item;
use opsledger::core::service::{
    Dependency, ItemAttributes, ItemRef, MAX_TRAVERSAL_DEPTH, ModelCommand, RelationType,
};
use opsledger::core::{CiId, ServiceId};
use opsledger::service_model::{ItemDetail, ModelChange, RecordedImpact, ServiceImpact};
use opsledger::{Engine, RecordKind};
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::Arc;

/// `service.register` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterServiceParams {
    /// The service's id (`web-shop`).
    pub service: ServiceId,
    /// Its attributes (name, owner group, support hours, criticality).
    #[serde(default)]
    pub attributes: ItemAttributes,
    /// Put it into operation at once (default false: it stays planned).
    #[serde(default)]
    pub operational: bool,
    /// Who acts, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// `ci.register` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterCiParams {
    /// The CI's id (`db-prod-01`).
    pub ci: CiId,
    /// Its attributes (name, class, owner group, support hours, criticality).
    #[serde(default)]
    pub attributes: ItemAttributes,
    /// Put it into operation at once (default false: it stays planned).
    #[serde(default)]
    pub operational: bool,
    /// Who acts, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// Params naming a service.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceParams {
    /// Which service.
    pub service: ServiceId,
    /// Who acts, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// Params naming a CI.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CiParams {
    /// Which CI.
    pub ci: CiId,
    /// Who acts, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// `service.reactivate` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReactivateServiceParams {
    /// Which service.
    pub service: ServiceId,
    /// Why it is back in operation (required).
    pub reason: String,
    /// Who acts, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// `ci.reactivate` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReactivateCiParams {
    /// Which CI.
    pub ci: CiId,
    /// Why it is back in operation (required).
    pub reason: String,
    /// Who acts, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// `service.update` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateServiceParams {
    /// Which service.
    pub service: ServiceId,
    /// The new attributes (all of them).
    pub attributes: ItemAttributes,
    /// Who acts, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// `ci.update` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCiParams {
    /// Which CI.
    pub ci: CiId,
    /// The new attributes (all of them).
    pub attributes: ItemAttributes,
    /// Who acts, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// `ci.relate` and `ci.unrelate` params: `from` runs on, depends on or connects to `to`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RelateParams {
    /// The dependent item: `{"service": "web-shop"}` or `{"ci": "app-01"}`.
    pub from: ItemRef,
    /// `runs_on`, `depends_on` or `connects_to`.
    pub kind: RelationType,
    /// What it depends on.
    pub to: ItemRef,
    /// Who acts, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// `ci.batch` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchParams {
    /// The commands, applied in order as one change (all or nothing).
    pub commands: Vec<ModelCommand>,
    /// Check only: decide every command, write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Who acts, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// `service.list` and `ci.list` params.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Continue after this id (the last of the previous page).
    #[serde(default)]
    pub after: Option<String>,
    /// Who reads, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// `query.impact` and `query.dependencies` params: exactly one of `ci` and `service`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemQueryParams {
    /// The CI.
    #[serde(default)]
    pub ci: Option<CiId>,
    /// The service.
    #[serde(default)]
    pub service: Option<ServiceId>,
    /// For `query.dependencies`: how many levels (default 1: direct dependencies; at most
    /// 1000).
    #[serde(default)]
    pub depth: Option<u32>,
    /// For `query.impact`: answer as of this instant (the model and the open incidents as
    /// they stood then); default now.
    #[serde(default)]
    pub as_of: Option<chrono::DateTime<chrono::Utc>>,
    /// Who reads, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// `query.incident_impact` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentImpactParams {
    /// The incident: number (`INC0000001`) or id.
    pub incident: String,
    /// Who reads, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

fn item_of(ci: Option<CiId>, service: Option<ServiceId>) -> Result<ItemRef, MethodError> {
    match (ci, service) {
        (Some(c), None) => Ok(ItemRef::Ci(c)),
        (None, Some(s)) => Ok(ItemRef::Service(s)),
        (Some(_), Some(_)) => Err(MethodError::invalid_params_at(
            "service",
            "give `ci` or `service`, not both",
        )),
        (None, None) => Err(MethodError::invalid_params_at(
            "ci",
            "give `ci` or `service`",
        )),
    }
}

fn reader_check(
    engine: &Engine,
    ctx: &CallContext,
    actor: Option<ActorParam>,
    what: &str,
) -> Result<(), MethodError> {
    if let Some(reader) = reading_actor(ctx, actor)? {
        engine
            .require_reads_all(&reader, what)
            .map_err(engine_error)?;
    }
    Ok(())
}

fn change(
    engine: &Engine,
    ctx: &CallContext,
    actor: Option<ActorParam>,
    commands: &[ModelCommand],
) -> Result<ModelChange, MethodError> {
    let actor = acting_actor(ctx, actor)?;
    engine
        .change_service_model(&actor, commands)
        .map_err(engine_error)
}

fn detail(engine: &Engine, item: &ItemRef) -> Result<ItemDetail, MethodError> {
    engine.service_item(item).map_err(engine_error)
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

const WRITES: &[&str] = &[
    "forbidden",
    "unknown_role",
    "unknown_reference",
    "retired_reference",
    "self_relation",
    "item_transition",
    "validation",
    "limit_exceeded",
    "conflict",
    "store",
];

const READS: &[&str] = &["forbidden", "unknown_role", "not_found"];

/// Registers one item, operational at once when asked, and answers its detail.
fn register(
    engine: &Engine,
    ctx: &CallContext,
    actor: Option<ActorParam>,
    first: ModelCommand,
    operational: bool,
) -> Result<ItemDetail, MethodError> {
    let item = first.item();
    let actor = acting_actor(ctx, actor)?;
    engine
        .change_service_item(&actor, first, operational)
        .map_err(engine_error)?;
    detail(engine, &item)
}

/// Applies one command on `item` and answers its detail.
fn on_item(
    engine: &Engine,
    ctx: &CallContext,
    actor: Option<ActorParam>,
    command: ModelCommand,
) -> Result<ItemDetail, MethodError> {
    let item = command.item();
    let actor = acting_actor(ctx, actor)?;
    engine
        .change_service_item(&actor, command, false)
        .map_err(engine_error)?;
    detail(engine, &item)
}

/// The `service.*`, `ci.*` and service-model `query.*` methods.
pub(super) fn methods(engine: &Arc<Engine>) -> Vec<Method> {
    let mut out = Vec::new();
    let e = engine.clone();
    out.push(documented(
        Method::new(
            "service.register",
            move |ctx: &CallContext, p: RegisterServiceParams| {
                let cmd = ModelCommand::RegisterService {
                    service: p.service,
                    attributes: p.attributes,
                };
                register(&e, ctx, p.actor, cmd, p.operational)
            },
        )
        .by_name_only(),
        "Registers a business service",
        "A new service in `planned` (or `operational` with `operational: true`), with its attributes: `name`, `owner_group`, `support_hours` (one of the policy's SLA calendars), `criticality` (`critical`, `high`, `medium`, `low`). Refused with `item_transition` when the id is registered already. Needs `service_model_manage`.",
        WRITES,
    ));
    let e = engine.clone();
    out.push(documented(
        Method::new("ci.register", move |ctx: &CallContext, p: RegisterCiParams| {
            let cmd = ModelCommand::RegisterCi {
                ci: p.ci,
                attributes: p.attributes,
            };
            register(&e, ctx, p.actor, cmd, p.operational)
        })
        .by_name_only(),
        "Registers a configuration item",
        "A new CI in `planned` (or `operational` with `operational: true`), with its attributes: `name`, `class` (free text: `database`, `load_balancer`), `owner_group`, `support_hours`, `criticality`. Needs `service_model_manage`.",
        WRITES,
    ));
    for (kind, verb) in [
        ("service", "activate"),
        ("service", "retire"),
        ("ci", "activate"),
        ("ci", "retire"),
    ] {
        let e = engine.clone();
        let name = format!("{kind}.{verb}");
        let retire = verb == "retire";
        let method = if kind == "service" {
            Method::new(&name, move |ctx: &CallContext, p: ServiceParams| {
                let item = ItemRef::Service(p.service);
                let cmd = if retire {
                    ModelCommand::Retire { item }
                } else {
                    ModelCommand::Activate { item }
                };
                on_item(&e, ctx, p.actor, cmd)
            })
        } else {
            Method::new(&name, move |ctx: &CallContext, p: CiParams| {
                let item = ItemRef::Ci(p.ci);
                let cmd = if retire {
                    ModelCommand::Retire { item }
                } else {
                    ModelCommand::Activate { item }
                };
                on_item(&e, ctx, p.actor, cmd)
            })
        };
        let (summary, description) = if retire {
            (
                format!("Retires a {}", if kind == "ci" { "CI" } else { "service" }),
                "Planned or operational -> retired (`service.reactivate` / `ci.reactivate` bring it back); its relations are removed in the same change (no relation may name a retired item). Needs `service_model_manage`.",
            )
        } else {
            (
                format!(
                    "Puts a planned {} into operation",
                    if kind == "ci" { "CI" } else { "service" }
                ),
                "Planned -> operational. Needs `service_model_manage`.",
            )
        };
        out.push(documented(
            method.by_name_only(),
            &summary,
            description,
            WRITES,
        ));
    }
    const REACTIVATE: &str = "Retired -> operational, with `reason` (who: the actor) recorded in `service_model.item_reactivated`. The relations removed at its retirement are not restored: relate it again. `item_transition` for an item that is not retired, `validation` (`reason`) without a reason. Needs `service_model_manage`.";
    let e = engine.clone();
    out.push(documented(
        Method::new(
            "service.reactivate",
            move |ctx: &CallContext, p: ReactivateServiceParams| {
                let cmd = ModelCommand::Reactivate {
                    item: ItemRef::Service(p.service),
                    reason: p.reason,
                };
                on_item(&e, ctx, p.actor, cmd)
            },
        )
        .by_name_only(),
        "Puts a retired service back into operation",
        REACTIVATE,
        WRITES,
    ));
    let e = engine.clone();
    out.push(documented(
        Method::new(
            "ci.reactivate",
            move |ctx: &CallContext, p: ReactivateCiParams| {
                let cmd = ModelCommand::Reactivate {
                    item: ItemRef::Ci(p.ci),
                    reason: p.reason,
                };
                on_item(&e, ctx, p.actor, cmd)
            },
        )
        .by_name_only(),
        "Puts a retired CI back into operation",
        REACTIVATE,
        WRITES,
    ));
    let e = engine.clone();
    out.push(documented(
        Method::new("service.update", move |ctx: &CallContext, p: UpdateServiceParams| {
            let cmd = ModelCommand::UpdateAttributes {
                item: ItemRef::Service(p.service),
                attributes: p.attributes,
            };
            on_item(&e, ctx, p.actor, cmd)
        })
        .by_name_only(),
        "Replaces a service's attributes",
        "All attributes at once (those left out take their defaults). Refused for a retired service (`item_transition`). Needs `service_model_manage`.",
        WRITES,
    ));
    let e = engine.clone();
    out.push(documented(
        Method::new("ci.update", move |ctx: &CallContext, p: UpdateCiParams| {
            let cmd = ModelCommand::UpdateAttributes {
                item: ItemRef::Ci(p.ci),
                attributes: p.attributes,
            };
            on_item(&e, ctx, p.actor, cmd)
        })
        .by_name_only(),
        "Replaces a CI's attributes",
        "All attributes at once (those left out take their defaults). Refused for a retired CI (`item_transition`). Needs `service_model_manage`.",
        WRITES,
    ));
    let e = engine.clone();
    out.push(documented(
        Method::new("ci.relate", move |ctx: &CallContext, p: RelateParams| {
            let cmd = ModelCommand::Relate {
                from: p.from,
                kind: p.kind,
                to: p.to,
            };
            on_item(&e, ctx, p.actor, cmd)
        })
        .by_name_only(),
        "Records a dependency relation",
        "`from` `runs_on`, `depends_on` or `connects_to` `to` (each a `{\"service\": id}` or `{\"ci\": id}`); an outage of `to` affects `from`. Cycles are allowed. Refused, writing nothing, with `unknown_reference` or `retired_reference` (`data.details.path`: `from` or `to`), `self_relation`, `validation` (already recorded). Answers `from`'s detail. Needs `service_model_manage`.",
        WRITES,
    ));
    let e = engine.clone();
    out.push(documented(
        Method::new("ci.unrelate", move |ctx: &CallContext, p: RelateParams| {
            let cmd = ModelCommand::Unrelate {
                from: p.from,
                kind: p.kind,
                to: p.to,
            };
            on_item(&e, ctx, p.actor, cmd)
        })
        .by_name_only(),
        "Removes a recorded relation",
        "Refused with `validation` when the relation is not recorded. Answers `from`'s detail. Needs `service_model_manage`.",
        WRITES,
    ));
    let e = engine.clone();
    out.push(documented(
        Method::new("ci.batch", move |ctx: &CallContext, p: BatchParams| {
            if p.dry_run {
                let actor = acting_actor(ctx, p.actor)?;
                e.check_service_model(&actor, &p.commands)
                    .map_err(engine_error)?;
                return Ok(ModelChange {
                    events: 0,
                    version: 0,
                });
            }
            change(&e, ctx, p.actor, &p.commands)
        })
        .by_name_only(),
        "Applies service-model commands as one atomic change",
        "Each command (`register_service`, `register_ci`, `activate`, `retire`, `update_attributes`, `relate`, `unrelate`, tagged by `command`) is decided against the model the previous ones left; all are written or none. An error names the failing command in `data.details.path` or `field` (`commands[3].to`). `dry_run: true` checks without writing (the answer's `version` is then 0). Needs `service_model_manage`.",
        WRITES,
    ));
    for (kind, services) in [("service", true), ("ci", false)] {
        let e = engine.clone();
        out.push(documented(
            Method::new(
                format!("{kind}.list"),
                move |ctx: &CallContext, p: ListParams| -> Result<Vec<Item>, MethodError> {
                    reader_check(&e, ctx, p.actor, "the service model")?;
                    e.service_items(services, p.after.as_deref())
                        .map_err(engine_error)
                },
            )
            .by_name_only(),
            if services {
                "The registered services, by id"
            } else {
                "The registered CIs, by id"
            },
            "Every item of that kind, retired ones included, in id order, at most 10000 after `after`.",
            &["forbidden", "unknown_role"],
        ));
    }
    let e = engine.clone();
    out.push(documented(
        Method::new("service.get", move |ctx: &CallContext, p: ServiceParams| {
            reader_check(&e, ctx, p.actor, "the service model")?;
            detail(&e, &ItemRef::Service(p.service))
        })
        .by_name_only(),
        "A service with its relations",
        "Its lifecycle state, attributes, and the relations starting (`depends_on`) and ending (`needed_by`) at it.",
        READS,
    ));
    let e = engine.clone();
    out.push(documented(
        Method::new("ci.get", move |ctx: &CallContext, p: CiParams| {
            reader_check(&e, ctx, p.actor, "the service model")?;
            detail(&e, &ItemRef::Ci(p.ci))
        })
        .by_name_only(),
        "A CI with its relations",
        "Its lifecycle state, attributes, and the relations starting (`depends_on`) and ending (`needed_by`) at it.",
        READS,
    ));
    let e = engine.clone();
    out.push(documented(
        Method::new(
            "query.impact",
            move |ctx: &CallContext, p: ItemQueryParams| -> Result<ServiceImpact, MethodError> {
                reader_check(&e, ctx, p.actor, "the service model")?;
                let item = item_of(p.ci, p.service)?;
                e.impact_as_of(&item, p.as_of).map_err(engine_error)
            },
        )
        .by_name_only(),
        "The services an outage of a CI (or service) affects",
        "Walks the relations backwards from the item, transitively (cycles once): each affected service with its criticality, one shortest `path` from the service down to the item (each step with the `relation` to the next), and its open incidents; most critical first, then nearest. With `as_of`, the model and the open incidents as they stood at that instant (equal to what was answered then). `not_found` for an item that is not registered or is retired (then).",
        READS,
    ));
    let e = engine.clone();
    out.push(documented(
        Method::new(
            "query.dependencies",
            move |ctx: &CallContext, p: ItemQueryParams| -> Result<Vec<Dependency>, MethodError> {
                reader_check(&e, ctx, p.actor, "the service model")?;
                let item = item_of(p.ci, p.service)?;
                let depth = p.depth.unwrap_or(1).clamp(1, MAX_TRAVERSAL_DEPTH);
                e.dependencies(&item, depth).map_err(engine_error)
            },
        )
        .by_name_only(),
        "What a CI or service needs",
        "The items it depends on, directly (`depth` 1, the default) or transitively up to `depth` levels, nearest first, each with the item that needs it on the way and how.",
        READS,
    ));
    let e = engine.clone();
    out.push(documented(
        Method::new(
            "query.incident_impact",
            move |ctx: &CallContext,
                  p: IncidentImpactParams|
                  -> Result<Option<RecordedImpact>, MethodError> {
                reader_check(&e, ctx, p.actor, "the service model")?;
                let view = e.view(None).map_err(engine_error)?;
                let record =
                    require_record(&view, &p.incident, Some(RecordKind::Incident), "incident")?;
                e.recorded_impact(opsledger::core::IncidentId(record.id))
                    .map_err(engine_error)
            },
        )
        .by_name_only(),
        "The services an incident's CIs affected when it was opened",
        "Recorded with the incident's opening from the service model of that moment, and never rewritten when the model changes; `null` for an incident opened without CIs or on CIs that affected no service.",
        READS,
    ));
    out
}
