//! `decide` and `evolve` of a record's SLA stream.

use super::command::{SlaCommand, SlaCommandKind};
use super::definition::{ReattachStart, SlaDefinition, SlaDefinitionId, SlaPin};
use super::event::SlaEvent;
use super::state::{
    AttachedInstance, ClockStart, RecordRef, SlaInstance, SlaInstanceNo, SlaInstanceStatus,
    SlaInstanceStatusKind, SlaRecord,
};
use super::status::ThresholdCrossing;
use super::table::TABLE;
use crate::authz::Permission;
use crate::context::Context;
use crate::decider::Decider;
use crate::error::DomainError;
use crate::ids::RecordKind;
use crate::transition::Named;
use crate::validate;
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

/// A record's SLA stream (`sla-<kind>-<uuid>`) as a [`Decider`]. `None` is "nothing attached
/// yet".
///
/// Order of checks: the record (`wrong_record`), the transition table for every instance the
/// command touches (`invalid_transition`), the permission, then fields and guards. Repeats
/// that would record nothing new succeed with no event, so the engine's tick and retries can
/// send any command any number of times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlaDecider;

impl Decider for SlaDecider {
    type State = Option<SlaRecord>;
    type Command = SlaCommand;
    type Event = SlaEvent;

    fn decide(
        state: &Self::State,
        cmd: &Self::Command,
        ctx: &Context,
    ) -> Result<Vec<Self::Event>, DomainError> {
        let record = cmd.record();
        if let Some(existing) = state.as_ref().filter(|s| s.record != record) {
            return Err(DomainError::WrongRecord {
                kind: record.kind(),
                command_id: record.uuid().to_string(),
                state_id: existing.record.uuid().to_string(),
            });
        }
        let state = state.as_ref();
        match cmd {
            SlaCommand::Attach { record, pins } => decide_attach(state, *record, pins, ctx),
            SlaCommand::Reattach {
                record,
                pins,
                effective_at,
                reason,
            } => decide_reattach(state, *record, pins, *effective_at, reason, ctx),
            SlaCommand::RecordThreshold {
                record,
                instance,
                percent,
                crossed_at,
            } => {
                let inst = find(state, *instance);
                check(inst.map(|i| i.status.kind()), cmd.kind(), *record)?;
                authorize(*record, cmd.kind(), ctx)?;
                let inst = inst.ok_or_else(|| missing(*record, *instance))?;
                not_future("crossed_at", *crossed_at, ctx)?;
                within_window("crossed_at", inst, *crossed_at)?;
                if !inst.thresholds.contains(percent) {
                    return Err(DomainError::validation(
                        "percent",
                        format!("{percent} is not a threshold of instance {instance}"),
                    ));
                }
                if inst.threshold_recorded(*percent) {
                    return Ok(Vec::new());
                }
                Ok(vec![SlaEvent::ThresholdCrossed {
                    record: *record,
                    instance: *instance,
                    definition: inst.pin.definition.clone(),
                    percent: *percent,
                    crossed_at: *crossed_at,
                    at: ctx.now,
                    by: ctx.actor.id.clone(),
                }])
            }
            SlaCommand::RecordBreach {
                record,
                instance,
                breached_at,
            } => {
                let inst = find(state, *instance);
                check(inst.map(|i| i.status.kind()), cmd.kind(), *record)?;
                authorize(*record, cmd.kind(), ctx)?;
                let inst = inst.ok_or_else(|| missing(*record, *instance))?;
                not_future("breached_at", *breached_at, ctx)?;
                within_window("breached_at", inst, *breached_at)?;
                if inst.breach_recorded.is_some() {
                    return Ok(Vec::new());
                }
                Ok(vec![SlaEvent::Breached {
                    record: *record,
                    instance: *instance,
                    definition: inst.pin.definition.clone(),
                    metric: inst.metric,
                    breached_at: *breached_at,
                    escalation: inst.on_breach.escalation.clone(),
                    at: ctx.now,
                    by: ctx.actor.id.clone(),
                }])
            }
            SlaCommand::Cancel {
                record,
                instance,
                reason,
            } => {
                let targets: Vec<&SlaInstance> = match instance {
                    Some(number) => {
                        let inst = find(state, *number);
                        check(inst.map(|i| i.status.kind()), cmd.kind(), *record)?;
                        inst.into_iter().collect()
                    }
                    None => {
                        let active: Vec<&SlaInstance> =
                            state.into_iter().flat_map(SlaRecord::active).collect();
                        for inst in &active {
                            check(Some(inst.status.kind()), cmd.kind(), *record)?;
                        }
                        active
                    }
                };
                authorize(*record, cmd.kind(), ctx)?;
                validate::text("reason", reason, &ctx.policy.limits)?;
                let instances: Vec<SlaInstanceNo> = targets
                    .iter()
                    .filter(|i| i.is_active())
                    .map(|i| i.number)
                    .collect();
                if instances.is_empty() {
                    return Ok(Vec::new());
                }
                Ok(vec![SlaEvent::Canceled {
                    record: *record,
                    instances,
                    reason: reason.clone(),
                    at: ctx.now,
                    by: ctx.actor.id.clone(),
                }])
            }
        }
    }

    fn evolve(state: Self::State, event: &Self::Event) -> Self::State {
        evolve(state, event)
    }
}

fn find(state: Option<&SlaRecord>, number: SlaInstanceNo) -> Option<&SlaInstance> {
    state.and_then(|s| s.instance(number))
}

/// The status of the newest instance of a definition, `None` if never attached.
fn slot(state: Option<&SlaRecord>, id: &SlaDefinitionId) -> Option<SlaInstanceStatusKind> {
    state.and_then(|s| s.latest(id)).map(|i| i.status.kind())
}

fn check(
    from: Option<SlaInstanceStatusKind>,
    command: SlaCommandKind,
    record: RecordRef,
) -> Result<(), DomainError> {
    if TABLE.allows(from, command) {
        Ok(())
    } else {
        Err(DomainError::InvalidTransition {
            kind: record.kind(),
            state: from.map_or("none", Named::name).to_owned(),
            command: command.name().to_owned(),
        })
    }
}

/// Unreachable after the table check (no row has `from: None` for numbered commands); kept as
/// an error rather than a panic.
fn missing(record: RecordRef, number: SlaInstanceNo) -> DomainError {
    DomainError::validation("instance", format!("{record} has no SLA instance {number}"))
}

/// SLA commands are work on the record (the engine issues them on behalf of the actor whose
/// command caused them, or as its system actor); withdrawing a clock is a cancellation.
fn permission(kind: RecordKind, command: SlaCommandKind) -> Permission {
    let cancel = match command {
        SlaCommandKind::Cancel => true,
        SlaCommandKind::Attach
        | SlaCommandKind::Reattach
        | SlaCommandKind::RecordThreshold
        | SlaCommandKind::RecordBreach => false,
    };
    match (kind, cancel) {
        (RecordKind::Incident, false) => Permission::IncidentWork,
        (RecordKind::Incident, true) => Permission::IncidentCancel,
        (RecordKind::Problem, false) => Permission::ProblemWork,
        (RecordKind::Problem, true) => Permission::ProblemCancel,
        (RecordKind::Change, false) => Permission::ChangeWork,
        (RecordKind::Change, true) => Permission::ChangeCancel,
    }
}

fn authorize(record: RecordRef, command: SlaCommandKind, ctx: &Context) -> Result<(), DomainError> {
    ctx.policy
        .authorization
        .require(&ctx.actor, permission(record.kind(), command))
}

fn not_future(field: &str, when: DateTime<Utc>, ctx: &Context) -> Result<(), DomainError> {
    if when > ctx.now {
        return Err(DomainError::validation(
            field,
            format!("{when} lies in the future (now is {})", ctx.now),
        ));
    }
    Ok(())
}

/// A threshold or breach of an ended instance counts only if it happened before the end.
fn within_window(field: &str, inst: &SlaInstance, when: DateTime<Utc>) -> Result<(), DomainError> {
    match inst.status.ended() {
        Some(end) if when > end.at => Err(DomainError::validation(
            field,
            format!(
                "{when} is after instance {} ended at {}",
                inst.number, end.at
            ),
        )),
        Some(_) | None => Ok(()),
    }
}

/// Checks pins against the policy in force: each names a definition version the policy holds,
/// for this kind of record, measured in the calendar the definition names (and a version of it
/// the policy holds); no definition twice.
fn validate_pins<'p>(
    pins: &[SlaPin],
    record: RecordRef,
    ctx: &'p Context,
) -> Result<Vec<&'p SlaDefinition>, DomainError> {
    validate::links("pins", pins.len(), &ctx.policy.limits)?;
    let sla = &ctx.policy.sla;
    let mut seen = BTreeSet::new();
    let mut definitions = Vec::with_capacity(pins.len());
    for (i, pin) in pins.iter().enumerate() {
        let field = format!("pins[{i}]");
        if !seen.insert(&pin.definition.id) {
            return Err(DomainError::validation(
                field,
                format!("definition {} is pinned twice", pin.definition.id),
            ));
        }
        let def = sla.definition(&pin.definition).ok_or_else(|| {
            DomainError::validation(
                format!("{field}.definition"),
                format!("{} is not in the policy", pin.definition),
            )
        })?;
        if def.applies_to.kind != record.kind() {
            return Err(DomainError::validation(
                format!("{field}.definition"),
                format!(
                    "{} applies to {} records, not to {}",
                    pin.definition,
                    def.applies_to.kind,
                    record.kind()
                ),
            ));
        }
        let calendar_ok = pin.calendar.id == def.calendar.id
            && def
                .calendar
                .version
                .is_none_or(|v| v == pin.calendar.version)
            && sla.calendar(&pin.calendar).is_some();
        if !calendar_ok {
            return Err(DomainError::validation(
                format!("{field}.calendar"),
                format!(
                    "{} does not measure in calendar {} (or the policy lacks it)",
                    pin.definition, pin.calendar
                ),
            ));
        }
        definitions.push(def);
    }
    Ok(definitions)
}

fn attached(
    def: &SlaDefinition,
    pin: &SlaPin,
    number: SlaInstanceNo,
    start: ClockStart,
) -> AttachedInstance {
    AttachedInstance {
        number,
        pin: pin.clone(),
        name: def.name.clone(),
        metric: def.metric,
        target: def.target,
        thresholds: def.sorted_thresholds(),
        on_breach: def.on_breach.clone(),
        start,
    }
}

fn numbers_from(state: Option<&SlaRecord>) -> impl Iterator<Item = SlaInstanceNo> {
    let first = state.map_or(1, |s| s.next_number().0);
    (first..).map(SlaInstanceNo)
}

fn decide_attach(
    state: Option<&SlaRecord>,
    record: RecordRef,
    pins: &[SlaPin],
    ctx: &Context,
) -> Result<Vec<SlaEvent>, DomainError> {
    for pin in pins {
        check(
            slot(state, &pin.definition.id),
            SlaCommandKind::Attach,
            record,
        )?;
    }
    authorize(record, SlaCommandKind::Attach, ctx)?;
    if pins.is_empty() {
        return Err(DomainError::validation("pins", "must not be empty"));
    }
    let definitions = validate_pins(pins, record, ctx)?;
    let instances: Vec<AttachedInstance> = pins
        .iter()
        .zip(definitions)
        .filter(|(pin, _)| slot(state, &pin.definition.id).is_none())
        .zip(numbers_from(state))
        .map(|((pin, def), number)| attached(def, pin, number, ClockStart::Record))
        .collect();
    if instances.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![SlaEvent::Attached {
        record,
        instances,
        at: ctx.now,
        by: ctx.actor.id.clone(),
    }])
}

fn decide_reattach(
    state: Option<&SlaRecord>,
    record: RecordRef,
    pins: &[SlaPin],
    effective_at: DateTime<Utc>,
    reason: &str,
    ctx: &Context,
) -> Result<Vec<SlaEvent>, DomainError> {
    let wanted: BTreeSet<&SlaDefinitionId> = pins.iter().map(|p| &p.definition.id).collect();
    for pin in pins {
        check(
            slot(state, &pin.definition.id),
            SlaCommandKind::Reattach,
            record,
        )?;
    }
    let replaced: Vec<SlaInstanceNo> = state
        .into_iter()
        .flat_map(SlaRecord::active)
        .filter(|i| !wanted.contains(&i.pin.definition.id))
        .map(|i| i.number)
        .collect();
    for _ in &replaced {
        check(
            Some(SlaInstanceStatusKind::Active),
            SlaCommandKind::Reattach,
            record,
        )?;
    }
    authorize(record, SlaCommandKind::Reattach, ctx)?;
    validate::text("reason", reason, &ctx.policy.limits)?;
    not_future("effective_at", effective_at, ctx)?;
    let definitions = validate_pins(pins, record, ctx)?;
    let instances: Vec<AttachedInstance> = pins
        .iter()
        .zip(definitions)
        .filter(|(pin, _)| slot(state, &pin.definition.id) != Some(SlaInstanceStatusKind::Active))
        .zip(numbers_from(state))
        .map(|((pin, def), number)| {
            let start = match def.reattach_start {
                ReattachStart::RecordStart => ClockStart::Record,
                ReattachStart::Reattachment => ClockStart::Reattachment { at: effective_at },
            };
            attached(def, pin, number, start)
        })
        .collect();
    if replaced.is_empty() && instances.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![SlaEvent::Reattached {
        record,
        replaced,
        instances,
        effective_at,
        reason: reason.to_owned(),
        at: ctx.now,
        by: ctx.actor.id.clone(),
    }])
}

/// Applies one event. Total: an event for another record, for an unknown instance, or that
/// repeats what is recorded changes nothing.
pub(crate) fn evolve(state: Option<SlaRecord>, event: &SlaEvent) -> Option<SlaRecord> {
    if state.as_ref().is_some_and(|s| s.record != event.record()) {
        return state;
    }
    match event {
        SlaEvent::Attached {
            record,
            instances,
            at,
            by,
        } => {
            let mut s = state.unwrap_or_else(|| empty(*record, *at));
            s.attach(instances, *at, by);
            s.updated_at = *at;
            Some(s)
        }
        SlaEvent::Reattached {
            record,
            replaced,
            instances,
            effective_at,
            reason,
            at,
            by,
        } => {
            let mut s = state.unwrap_or_else(|| empty(*record, *at));
            let by_numbers: Vec<SlaInstanceNo> = instances.iter().map(|i| i.number).collect();
            for number in replaced {
                if let Some(inst) = s.instance_mut(*number).filter(|i| i.is_active()) {
                    inst.status = SlaInstanceStatus::Replaced {
                        at: *effective_at,
                        by: by_numbers.clone(),
                        reason: reason.clone(),
                    };
                }
            }
            s.attach(instances, *at, by);
            s.updated_at = *at;
            Some(s)
        }
        SlaEvent::ThresholdCrossed {
            instance,
            percent,
            crossed_at,
            at,
            ..
        } => state.map(|mut s| {
            if let Some(inst) = s
                .instance_mut(*instance)
                .filter(|i| !i.threshold_recorded(*percent))
            {
                inst.thresholds_recorded.push(ThresholdCrossing {
                    percent: *percent,
                    at: *crossed_at,
                });
            }
            s.updated_at = *at;
            s
        }),
        SlaEvent::Breached {
            instance,
            breached_at,
            at,
            ..
        } => state.map(|mut s| {
            if let Some(inst) = s.instance_mut(*instance) {
                inst.breach_recorded.get_or_insert(*breached_at);
            }
            s.updated_at = *at;
            s
        }),
        SlaEvent::Canceled {
            instances,
            reason,
            at,
            ..
        } => state.map(|mut s| {
            for number in instances {
                if let Some(inst) = s.instance_mut(*number).filter(|i| i.is_active()) {
                    inst.status = SlaInstanceStatus::Canceled {
                        at: *at,
                        reason: reason.clone(),
                    };
                }
            }
            s.updated_at = *at;
            s
        }),
    }
}

fn empty(record: RecordRef, at: DateTime<Utc>) -> SlaRecord {
    SlaRecord {
        record,
        instances: Vec::new(),
        created_at: at,
        updated_at: at,
    }
}
