//! `decide` for the service model: one handler per command, the table checked first.

use super::command::{ModelCommand, ModelCommandKind};
use super::event::ModelEvent;
use super::state::{ItemStatus, Relation, ServiceModel};
use super::{
    ItemAttributes, ItemRef, MAX_COMMANDS_PER_CHANGE, MAX_ITEMS, MAX_NAME_BYTES, MAX_RELATIONS,
    RelationType,
};
use crate::authz::Permission;
use crate::context::Context;
use crate::decider::Decider;
use crate::error::DomainError;
use crate::transition::Named;
use crate::validate;

/// The service model's decider.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServiceModelDecider;

impl Decider for ServiceModelDecider {
    type State = ServiceModel;
    type Command = ModelCommand;
    type Event = ModelEvent;

    fn decide(
        state: &ServiceModel,
        cmd: &ModelCommand,
        ctx: &Context,
    ) -> Result<Vec<ModelEvent>, DomainError> {
        ctx.policy
            .authorization
            .require(&ctx.actor, Permission::ServiceModelManage)?;
        check_table(state, cmd)?;
        let at = ctx.now;
        let by = ctx.actor.id.clone();
        match cmd {
            ModelCommand::RegisterService {
                service,
                attributes,
            } => {
                validate::required_text("service", service.as_str(), MAX_NAME_BYTES)?;
                register(state, ItemRef::Service(service.clone()), attributes, ctx)
            }
            ModelCommand::RegisterCi { ci, attributes } => {
                validate::required_text("ci", ci.as_str(), MAX_NAME_BYTES)?;
                register(state, ItemRef::Ci(ci.clone()), attributes, ctx)
            }
            ModelCommand::Activate { item } => Ok(vec![ModelEvent::ItemActivated {
                item: item.clone(),
                at,
                by,
            }]),
            // One event however many relations the item has (a hub CI may have thousands, more
            // than one append holds): retiring removes them in the fold
            // ([`ServiceModel::apply`](super::ServiceModel::apply)) and in the read model.
            ModelCommand::Retire { item } => Ok(vec![ModelEvent::ItemRetired {
                item: item.clone(),
                at,
                by,
            }]),
            ModelCommand::Reactivate { item, reason } => {
                validate::required_text("reason", reason, ctx.policy.limits.max_title_bytes)?;
                Ok(vec![ModelEvent::ItemReactivated {
                    item: item.clone(),
                    reason: reason.clone(),
                    at,
                    by,
                }])
            }
            ModelCommand::UpdateAttributes { item, attributes } => {
                check_attributes(attributes, ctx)?;
                Ok(vec![ModelEvent::AttributesUpdated {
                    item: item.clone(),
                    attributes: attributes.clone(),
                    at,
                    by,
                }])
            }
            ModelCommand::Relate { from, kind, to } => relate(state, from, *kind, to, ctx),
            ModelCommand::Unrelate { from, kind, to } => {
                let relation = Relation {
                    from: from.clone(),
                    kind: *kind,
                    to: to.clone(),
                };
                if !state.relations.contains(&relation) {
                    return Err(DomainError::validation(
                        "to",
                        format!("no recorded relation: {relation}"),
                    ));
                }
                Ok(vec![ModelEvent::RelationRemoved {
                    from: from.clone(),
                    kind: *kind,
                    to: to.clone(),
                    at,
                    by,
                }])
            }
        }
    }

    fn evolve(state: ServiceModel, event: &ModelEvent) -> ServiceModel {
        state.apply(event)
    }
}

impl ServiceModelDecider {
    /// Decides several commands as one change: each against the state the previous ones left,
    /// all or nothing. An error names the failing command's index in its field
    /// (`commands[3].to`).
    pub fn decide_all(
        state: &ServiceModel,
        commands: &[ModelCommand],
        ctx: &Context,
    ) -> Result<Vec<ModelEvent>, DomainError> {
        if commands.len() > MAX_COMMANDS_PER_CHANGE {
            return Err(DomainError::LimitExceeded {
                what: "the commands of one service-model change".into(),
                limit: MAX_COMMANDS_PER_CHANGE,
            });
        }
        Self::decide_each(state, commands, ctx)
    }

    /// [`ServiceModelDecider::decide_all`] without its limit on the number of commands: for
    /// checking a whole import before it is written in several changes.
    pub fn decide_each(
        state: &ServiceModel,
        commands: &[ModelCommand],
        ctx: &Context,
    ) -> Result<Vec<ModelEvent>, DomainError> {
        let mut scratch: Option<ServiceModel> = None;
        let mut out = Vec::new();
        for (i, cmd) in commands.iter().enumerate() {
            let current = scratch.as_ref().unwrap_or(state);
            let events = Self::decide(current, cmd, ctx).map_err(|e| at_index(e, i))?;
            let mut next = scratch.take().unwrap_or_else(|| state.clone());
            for e in &events {
                next = next.apply(e);
            }
            scratch = Some(next);
            out.extend(events);
        }
        Ok(out)
    }
}

/// Prefixes the field or path of `error` with `commands[i].`.
fn at_index(error: DomainError, i: usize) -> DomainError {
    let prefix = |p: String| format!("commands[{i}].{p}");
    match error {
        DomainError::Validation { field, reason } => DomainError::Validation {
            field: prefix(field),
            reason,
        },
        DomainError::UnknownReference { path, item } => DomainError::UnknownReference {
            path: prefix(path),
            item,
        },
        DomainError::RetiredReference { path, item } => DomainError::RetiredReference {
            path: prefix(path),
            item,
        },
        DomainError::SelfRelation { path, item } => DomainError::SelfRelation {
            path: prefix(path),
            item,
        },
        other => other,
    }
}

fn check_table(state: &ServiceModel, cmd: &ModelCommand) -> Result<(), DomainError> {
    let item = cmd.item();
    let from = state.item(&item).map(|i| i.status);
    let kind = cmd.kind();
    if ServiceModel::transitions().allows(from, kind) {
        return Ok(());
    }
    let path = match kind {
        ModelCommandKind::RegisterService => "service",
        ModelCommandKind::RegisterCi => "ci",
        ModelCommandKind::Activate
        | ModelCommandKind::Retire
        | ModelCommandKind::Reactivate
        | ModelCommandKind::UpdateAttributes => "item",
        ModelCommandKind::Relate | ModelCommandKind::Unrelate => "from",
    };
    match from {
        None => Err(DomainError::UnknownReference {
            path: path.to_owned(),
            item: item.to_string(),
        }),
        Some(ItemStatus::Retired) if kind == ModelCommandKind::Relate => {
            Err(DomainError::RetiredReference {
                path: path.to_owned(),
                item: item.to_string(),
            })
        }
        Some(status) => Err(DomainError::ItemTransition {
            item: item.to_string(),
            state: status.name().to_owned(),
            command: kind.name().to_owned(),
        }),
    }
}

fn check_attributes(attributes: &ItemAttributes, ctx: &Context) -> Result<(), DomainError> {
    validate::bounded_text("attributes.name", &attributes.name, MAX_NAME_BYTES)?;
    if let Some(class) = &attributes.class {
        validate::bounded_text("attributes.class", class, MAX_NAME_BYTES)?;
    }
    if let Some(group) = &attributes.owner_group {
        validate::required_text("attributes.owner_group", group.as_str(), MAX_NAME_BYTES)?;
    }
    if let Some(calendar) = &attributes.support_hours
        && ctx.policy.sla.resolve_calendar(calendar).is_none()
    {
        return Err(DomainError::validation(
            "attributes.support_hours",
            format!(
                "calendar `{}` is not among the policy's calendars",
                calendar.id
            ),
        ));
    }
    Ok(())
}

fn register(
    state: &ServiceModel,
    item: ItemRef,
    attributes: &ItemAttributes,
    ctx: &Context,
) -> Result<Vec<ModelEvent>, DomainError> {
    if state.items.len() >= MAX_ITEMS {
        return Err(DomainError::LimitExceeded {
            what: "the items of the service model".into(),
            limit: MAX_ITEMS,
        });
    }
    check_attributes(attributes, ctx)?;
    Ok(vec![ModelEvent::ItemRegistered {
        item,
        attributes: attributes.clone(),
        at: ctx.now,
        by: ctx.actor.id.clone(),
    }])
}

fn relate(
    state: &ServiceModel,
    from: &ItemRef,
    kind: RelationType,
    to: &ItemRef,
    ctx: &Context,
) -> Result<Vec<ModelEvent>, DomainError> {
    if from == to {
        return Err(DomainError::SelfRelation {
            path: "to".into(),
            item: to.to_string(),
        });
    }
    match state.item(to).map(|i| i.status) {
        None => {
            return Err(DomainError::UnknownReference {
                path: "to".into(),
                item: to.to_string(),
            });
        }
        Some(ItemStatus::Retired) => {
            return Err(DomainError::RetiredReference {
                path: "to".into(),
                item: to.to_string(),
            });
        }
        Some(ItemStatus::Planned | ItemStatus::Operational) => {}
    }
    let relation = Relation {
        from: from.clone(),
        kind,
        to: to.clone(),
    };
    if state.relations.contains(&relation) {
        return Err(DomainError::validation(
            "to",
            format!("already recorded: {relation}"),
        ));
    }
    if state.relations.len() >= MAX_RELATIONS {
        return Err(DomainError::LimitExceeded {
            what: "the relations of the service model".into(),
            limit: MAX_RELATIONS,
        });
    }
    Ok(vec![ModelEvent::RelationAdded {
        from: from.clone(),
        kind,
        to: to.clone(),
        at: ctx.now,
        by: ctx.actor.id.clone(),
    }])
}
