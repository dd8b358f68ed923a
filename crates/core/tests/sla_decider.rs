//! The SLA decider: its transition table drives `decide` (every instance status x command pair
//! is checked), and each rule and guard has a given/when/then case.

#[path = "support/sla_fixtures.rs"]
mod fixtures;

use fixtures::*;
use opsledger_core::calendar::BusinessCalendar;
use opsledger_core::policy::Limits;
use opsledger_core::sla::{
    AttachedInstance, BreachAction, BreachEscalation, CalendarKey, CalendarRef, ClockStart,
    Percent, RecordRef, SlaCommand, SlaCommandKind, SlaDecider, SlaDefinition, SlaEvent,
    SlaInstance, SlaInstanceNo, SlaInstanceStatus, SlaInstanceStatusKind, SlaKey, SlaMetric,
    SlaPin, SlaPolicy, SlaRecord, SlaScope,
};
use opsledger_core::testing::{actor, admin, given, t};
use opsledger_core::{
    ActorId, Decider, DomainError, DomainEvent, Named, Permission, Policy, ProblemId, RecordKind,
    Role,
};
use uuid::Uuid;

const OTHER: RecordRef = RecordRef::Incident(INC2);
const PROBLEM: RecordRef = RecordRef::Problem(ProblemId(Uuid::from_u128(
    0x0190_0000_0000_7000_8000_0000_0000_0101,
)));

fn definition(id: &str, version: u32, kind: RecordKind, target_hours: i64) -> SlaDefinition {
    SlaDefinition::new(
        SlaKey::new(id, version),
        format!("{id} v{version}"),
        SlaScope::all(kind),
        SlaMetric::Resolution,
        h(target_hours),
        CalendarRef::exact("24x7", 1),
    )
}

fn policy() -> Policy {
    let d1 = definition("d1", 1, RecordKind::Incident, 4)
        .with_thresholds([90, 50])
        .escalating_to(BreachEscalation::Hierarchical {
            to: ActorId::new("mona"),
        });
    let d1v2 = definition("d1", 2, RecordKind::Incident, 2);
    let d2 = definition("d2", 1, RecordKind::Incident, 8);
    let pr = definition("pr", 1, RecordKind::Problem, 40);
    let floating = SlaDefinition {
        calendar: CalendarRef::newest("24x7"),
        ..definition("floating", 1, RecordKind::Incident, 8)
    };
    let sla = SlaPolicy::new(
        vec![d1, d1v2, d2, pr, floating],
        vec![BusinessCalendar::always()],
    );
    assert_eq!(sla.validate(), Ok(()));
    Policy {
        sla,
        ..Policy::default()
    }
}

fn pin(id: &str, version: u32) -> SlaPin {
    SlaPin {
        definition: SlaKey::new(id, version),
        calendar: CalendarKey::new("24x7", 1),
    }
}

fn attach(pins: Vec<SlaPin>) -> SlaCommand {
    SlaCommand::Attach { record: REC, pins }
}

fn reattach(pins: Vec<SlaPin>) -> SlaCommand {
    SlaCommand::Reattach {
        record: REC,
        pins,
        effective_at: t(30),
        reason: "reprioritized".into(),
    }
}

fn threshold(instance: u32, percent: u8) -> SlaCommand {
    SlaCommand::RecordThreshold {
        record: REC,
        instance: SlaInstanceNo(instance),
        percent: Percent(percent),
        crossed_at: t(10),
    }
}

fn breach(instance: u32) -> SlaCommand {
    SlaCommand::RecordBreach {
        record: REC,
        instance: SlaInstanceNo(instance),
        breached_at: t(10),
    }
}

fn cancel(instance: Option<u32>) -> SlaCommand {
    SlaCommand::Cancel {
        record: REC,
        instance: instance.map(SlaInstanceNo),
        reason: "exempted by the service owner".into(),
    }
}

fn d1_instance(number: u32) -> AttachedInstance {
    AttachedInstance {
        number: SlaInstanceNo(number),
        pin: pin("d1", 1),
        name: "d1 v1".into(),
        metric: SlaMetric::Resolution,
        target: h(4),
        thresholds: vec![Percent(50), Percent(90)],
        on_breach: BreachAction {
            escalation: Some(BreachEscalation::Hierarchical {
                to: ActorId::new("mona"),
            }),
        },
        start: ClockStart::Record,
    }
}

/// Runs `cmds` from nothing, the i-th at `t(40 + i)` (after the instants the commands name),
/// and returns every event.
fn history(cmds: &[SlaCommand]) -> Vec<SlaEvent> {
    let policy = std::sync::Arc::new(policy());
    let mut events: Vec<SlaEvent> = Vec::new();
    for (i, cmd) in cmds.iter().enumerate() {
        let ctx = opsledger_core::Context::new(t(40 + i as i64), admin(), policy.clone());
        let state = SlaDecider::fold(&events);
        let produced = SlaDecider::decide(&state, cmd, &ctx)
            .unwrap_or_else(|e| panic!("setup command {cmd:?} refused: {e:?}"));
        events.extend(produced);
    }
    events
}

fn decide_at(
    events: &[SlaEvent],
    cmd: &SlaCommand,
    now_minutes: i64,
) -> Result<Vec<SlaEvent>, DomainError> {
    let ctx = opsledger_core::Context::new(t(now_minutes), admin(), std::sync::Arc::new(policy()));
    SlaDecider::decide(&SlaDecider::fold(events), cmd, &ctx)
}

/// A history in which d1's newest instance (#1) is in `from` (`None`: never attached).
fn commands_to(from: Option<SlaInstanceStatusKind>) -> Vec<SlaCommand> {
    match from {
        None => Vec::new(),
        Some(SlaInstanceStatusKind::Active) => vec![attach(vec![pin("d1", 1)])],
        Some(SlaInstanceStatusKind::Replaced) => {
            vec![attach(vec![pin("d1", 1)]), reattach(vec![pin("d2", 1)])]
        }
        Some(SlaInstanceStatusKind::Canceled) => vec![attach(vec![pin("d1", 1)]), cancel(Some(1))],
    }
}

fn command_for(kind: SlaCommandKind) -> SlaCommand {
    match kind {
        SlaCommandKind::Attach => attach(vec![pin("d1", 1)]),
        SlaCommandKind::Reattach => reattach(vec![pin("d1", 1)]),
        SlaCommandKind::RecordThreshold => threshold(1, 50),
        SlaCommandKind::RecordBreach => breach(1),
        SlaCommandKind::Cancel => cancel(Some(1)),
    }
}

/// The instance a command is about after it ran: d1's newest for attach/reattach, #1 else.
fn subject(state: &Option<SlaRecord>, kind: SlaCommandKind) -> Option<SlaInstanceStatusKind> {
    let state = state.as_ref()?;
    let inst = match kind {
        SlaCommandKind::Attach | SlaCommandKind::Reattach => state.latest(&"d1".into()),
        SlaCommandKind::RecordThreshold | SlaCommandKind::RecordBreach | SlaCommandKind::Cancel => {
            state.instance(SlaInstanceNo(1))
        }
    };
    inst.map(|i| i.status.kind())
}

#[test]
fn every_instance_status_and_command_pair_follows_the_table() {
    let table = SlaInstance::transitions();
    let froms: Vec<Option<SlaInstanceStatusKind>> = std::iter::once(None)
        .chain(SlaInstanceStatusKind::ALL.iter().copied().map(Some))
        .collect();
    let (mut allowed, mut refused) = (0, 0);
    for &from in &froms {
        for &kind in SlaCommandKind::ALL {
            let events = history(&commands_to(from));
            assert_eq!(
                subject(&SlaDecider::fold(&events), SlaCommandKind::Attach),
                from
            );
            let cmd = command_for(kind);
            let result = decide_at(&events, &cmd, 60);
            if table.allows(from, kind) {
                allowed += 1;
                let produced = result.unwrap_or_else(|e| {
                    panic!("{from:?} x {kind:?} is in the table but was refused: {e:?}")
                });
                let mut all = events.clone();
                all.extend(produced);
                let to = subject(&SlaDecider::fold(&all), kind).expect("an instance");
                assert!(
                    table.targets(from, kind).any(|t| t == to),
                    "{from:?} x {kind:?} reached {to:?}, not a target of the table"
                );
            } else {
                refused += 1;
                assert_eq!(
                    result,
                    Err(DomainError::InvalidTransition {
                        kind: RecordKind::Incident,
                        state: from.map_or("none", Named::name).to_owned(),
                        command: kind.name().to_owned(),
                    }),
                    "{from:?} x {kind:?} is not in the table"
                );
            }
        }
    }
    assert_eq!(allowed + refused, 4 * SlaCommandKind::ALL.len());
    let distinct: std::collections::BTreeSet<_> =
        table.rows.iter().map(|r| (r.from, r.command)).collect();
    assert_eq!(allowed, distinct.len(), "every table pair was exercised");
}

#[test]
fn reattaching_without_an_active_definition_replaces_it() {
    // The (active, reattach) -> replaced row: the definition is no longer among the pins.
    let events = history(&[attach(vec![pin("d1", 1)])]);
    let produced = decide_at(&events, &reattach(vec![]), 60).unwrap();
    let mut all = events;
    all.extend(produced);
    let state = SlaDecider::fold(&all).unwrap();
    assert_eq!(
        state.instances[0].status.kind(),
        SlaInstanceStatusKind::Replaced
    );
    assert!(
        SlaInstance::transitions()
            .targets(
                Some(SlaInstanceStatusKind::Active),
                SlaCommandKind::Reattach
            )
            .any(|t| t == SlaInstanceStatusKind::Replaced)
    );
}

#[test]
fn the_table_renders_as_markdown_and_mermaid() {
    let table = SlaInstance::transitions();
    assert!(table.to_markdown().contains("| (none) | attach |"));
    assert!(table.to_mermaid().contains("active --> replaced: reattach"));
    // Only attach and reattach can bring an instance into existence.
    for row in table.rows.iter().filter(|r| r.from.is_none()) {
        assert!(matches!(
            row.command,
            SlaCommandKind::Attach | SlaCommandKind::Reattach
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Attach.
// ---------------------------------------------------------------------------------------------

#[test]
fn attach_pins_the_versions_and_copies_what_later_decisions_need() {
    given::<SlaDecider>([])
        .with_policy(policy())
        .when(attach(vec![pin("d1", 1), pin("d2", 1)]))
        .then([SlaEvent::Attached {
            record: REC,
            instances: vec![
                d1_instance(1),
                AttachedInstance {
                    number: SlaInstanceNo(2),
                    pin: pin("d2", 1),
                    name: "d2 v1".into(),
                    metric: SlaMetric::Resolution,
                    target: h(8),
                    thresholds: vec![],
                    on_breach: BreachAction::default(),
                    start: ClockStart::Record,
                },
            ],
            at: t(0),
            by: admin().id,
        }]);
}

#[test]
fn attach_is_idempotent() {
    let events = history(&[attach(vec![pin("d1", 1)])]);
    given::<SlaDecider>(events)
        .with_policy(policy())
        .when(attach(vec![pin("d1", 1)]))
        .then([]);
}

#[test]
fn attach_keeps_the_pinned_version_when_a_newer_one_is_offered() {
    let events = history(&[attach(vec![pin("d1", 1)])]);
    let state = given::<SlaDecider>(events)
        .with_policy(policy())
        .when(attach(vec![pin("d1", 2), pin("d2", 1)]))
        .then_ok()
        .1
        .unwrap();
    let pins: Vec<&SlaKey> = state.instances.iter().map(|i| i.definition()).collect();
    assert_eq!(pins, vec![&SlaKey::new("d1", 1), &SlaKey::new("d2", 1)]);
}

#[test]
fn attach_never_brings_back_a_replaced_definition() {
    let events = history(&[attach(vec![pin("d1", 1)]), reattach(vec![pin("d2", 1)])]);
    given::<SlaDecider>(events)
        .with_policy(policy())
        .when(attach(vec![pin("d1", 1)]))
        .then([]);
}

#[test]
fn attach_pins_the_calendar_version_of_a_floating_reference() {
    let (events, _) = given::<SlaDecider>([])
        .with_policy(policy())
        .when(attach(vec![pin("floating", 1)]))
        .then_ok();
    let SlaEvent::Attached { instances, .. } = &events[0] else {
        panic!("expected sla.attached, got {events:?}");
    };
    assert_eq!(instances[0].pin.calendar, CalendarKey::new("24x7", 1));
}

#[test]
fn attach_refuses_bad_pins() {
    let cases: Vec<(&str, Vec<SlaPin>, &str)> = vec![
        ("empty", vec![], "pins"),
        ("unknown version", vec![pin("d1", 9)], "pins[0].definition"),
        (
            "unknown definition",
            vec![pin("nope", 1)],
            "pins[0].definition",
        ),
        (
            "a problem definition",
            vec![pin("pr", 1)],
            "pins[0].definition",
        ),
        (
            "another calendar",
            vec![SlaPin {
                definition: SlaKey::new("d1", 1),
                calendar: CalendarKey::new("london-office", 1),
            }],
            "pins[0].calendar",
        ),
        (
            "a calendar version the policy lacks",
            vec![SlaPin {
                definition: SlaKey::new("floating", 1),
                calendar: CalendarKey::new("24x7", 2),
            }],
            "pins[0].calendar",
        ),
        ("twice", vec![pin("d1", 1), pin("d1", 2)], "pins[1]"),
    ];
    for (name, pins, field) in cases {
        let err = given::<SlaDecider>([])
            .with_policy(policy())
            .when(attach(pins))
            .then_error_code("validation");
        let DomainError::Validation { field: got, .. } = err else {
            unreachable!()
        };
        assert_eq!(got, field, "{name}");
    }
}

#[test]
fn attach_refuses_more_pins_than_the_limit() {
    let tight = Policy {
        limits: Limits {
            max_links: 1,
            ..Limits::default()
        },
        ..policy()
    };
    given::<SlaDecider>([])
        .with_policy(tight)
        .when(attach(vec![pin("d1", 1), pin("d2", 1)]))
        .then_error(DomainError::LimitExceeded {
            what: "pins".into(),
            limit: 1,
        });
}

#[test]
fn a_command_for_another_record_is_refused() {
    let events = history(&[attach(vec![pin("d1", 1)])]);
    given::<SlaDecider>(events)
        .with_policy(policy())
        .when(SlaCommand::Attach {
            record: OTHER,
            pins: vec![pin("d1", 1)],
        })
        .then_error(DomainError::WrongRecord {
            kind: RecordKind::Incident,
            command_id: INC2.to_string(),
            state_id: INC.to_string(),
        });
}

// ---------------------------------------------------------------------------------------------
// Thresholds and breaches.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_threshold_is_recorded_once_and_a_repeat_is_a_no_op() {
    let events = history(&[attach(vec![pin("d1", 1)])]);
    let expected = SlaEvent::ThresholdCrossed {
        record: REC,
        instance: SlaInstanceNo(1),
        definition: SlaKey::new("d1", 1),
        percent: Percent(50),
        crossed_at: t(10),
        at: t(60),
        by: admin().id,
    };
    given::<SlaDecider>(events.clone())
        .with_policy(policy())
        .at(t(60))
        .when(threshold(1, 50))
        .then([expected.clone()]);
    let mut all = events;
    all.push(expected);
    given::<SlaDecider>(all)
        .with_policy(policy())
        .at(t(90))
        .when(threshold(1, 50))
        .then([]);
}

#[test]
fn only_the_instances_own_thresholds_can_be_recorded() {
    let events = history(&[attach(vec![pin("d1", 1)])]);
    given::<SlaDecider>(events)
        .with_policy(policy())
        .at(t(60))
        .when(threshold(1, 75))
        .then_error_code("validation");
}

#[test]
fn a_threshold_or_breach_in_the_future_is_refused() {
    let events = history(&[attach(vec![pin("d1", 1)])]);
    for cmd in [threshold(1, 50), breach(1)] {
        given::<SlaDecider>(events.clone())
            .with_policy(policy())
            .at(t(5))
            .when(cmd)
            .then_error_code("validation");
    }
}

#[test]
fn a_threshold_of_an_instance_that_does_not_exist_is_refused() {
    let events = history(&[attach(vec![pin("d1", 1)])]);
    given::<SlaDecider>(events)
        .with_policy(policy())
        .at(t(60))
        .when(threshold(7, 50))
        .then_error(DomainError::InvalidTransition {
            kind: RecordKind::Incident,
            state: "none".into(),
            command: "record_threshold".into(),
        });
}

#[test]
fn a_breach_is_recorded_once_and_carries_the_pinned_escalation() {
    let events = history(&[attach(vec![pin("d1", 1)])]);
    let expected = SlaEvent::Breached {
        record: REC,
        instance: SlaInstanceNo(1),
        definition: SlaKey::new("d1", 1),
        metric: SlaMetric::Resolution,
        breached_at: t(10),
        escalation: Some(BreachEscalation::Hierarchical {
            to: ActorId::new("mona"),
        }),
        at: t(60),
        by: admin().id,
    };
    given::<SlaDecider>(events.clone())
        .with_policy(policy())
        .at(t(60))
        .when(breach(1))
        .then([expected.clone()]);
    let mut all = events;
    all.push(expected);
    given::<SlaDecider>(all)
        .with_policy(policy())
        .at(t(61))
        .when(SlaCommand::RecordBreach {
            record: REC,
            instance: SlaInstanceNo(1),
            breached_at: t(11),
        })
        .then([]);
}

#[test]
fn recording_needs_no_policy_lookup_after_attachment() {
    // The instance copied its thresholds and escalation: a later policy without d1 at all
    // still records them.
    let events = history(&[attach(vec![pin("d1", 1)])]);
    given::<SlaDecider>(events)
        .with_policy(Policy::default())
        .at(t(60))
        .when(threshold(1, 90))
        .then_ok();
}

#[test]
fn a_breach_after_an_explicit_cancellation_is_refused_one_before_is_kept() {
    // Canceled at t(41); a breach at t(50) is after the end, one at t(41) is not.
    let events = history(&[attach(vec![pin("d1", 1)]), cancel(Some(1))]);
    let at = |minutes| SlaCommand::RecordBreach {
        record: REC,
        instance: SlaInstanceNo(1),
        breached_at: t(minutes),
    };
    given::<SlaDecider>(events.clone())
        .with_policy(policy())
        .at(t(60))
        .when(at(50))
        .then_error_code("validation");
    given::<SlaDecider>(events)
        .with_policy(policy())
        .at(t(60))
        .when(at(41))
        .then_ok();
}

// ---------------------------------------------------------------------------------------------
// Reattach.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_reattachment_that_changes_nothing_is_a_no_op() {
    let events = history(&[attach(vec![pin("d1", 1), pin("d2", 1)])]);
    // Same ids (a newer d1 version does not count as a change).
    given::<SlaDecider>(events)
        .with_policy(policy())
        .at(t(60))
        .when(reattach(vec![pin("d2", 1), pin("d1", 2)]))
        .then([]);
}

#[test]
fn a_reattachment_keeps_what_still_applies_and_replaces_the_rest() {
    let events = history(&[attach(vec![pin("d1", 1), pin("d2", 1)])]);
    let (produced, state) = given::<SlaDecider>(events)
        .with_policy(policy())
        .at(t(60))
        .when(reattach(vec![pin("d2", 1), pin("floating", 1)]))
        .then_ok();
    let SlaEvent::Reattached {
        replaced,
        instances,
        ..
    } = &produced[0]
    else {
        panic!("expected sla.reattached, got {produced:?}");
    };
    assert_eq!(replaced, &vec![SlaInstanceNo(1)]);
    assert_eq!(instances.len(), 1);
    assert_eq!(instances[0].number, SlaInstanceNo(3));
    let state = state.unwrap();
    let active: Vec<u32> = state.active().map(|i| i.number.0).collect();
    assert_eq!(active, vec![2, 3]);
    assert!(!state.needs_reattachment(&[pin("floating", 1), pin("d2", 1)]));
}

#[test]
fn a_definition_that_applies_again_gets_a_new_instance() {
    let events = history(&[
        attach(vec![pin("d1", 1)]),
        reattach(vec![pin("d2", 1)]),
        reattach(vec![pin("d1", 1)]),
    ]);
    let state = SlaDecider::fold(&events).unwrap();
    let d1: Vec<(u32, SlaInstanceStatusKind)> = state
        .instances
        .iter()
        .filter(|i| i.pin.definition.id.as_str() == "d1")
        .map(|i| (i.number.0, i.status.kind()))
        .collect();
    assert_eq!(
        d1,
        vec![
            (1, SlaInstanceStatusKind::Replaced),
            (3, SlaInstanceStatusKind::Active)
        ]
    );
}

#[test]
fn a_reattachment_needs_a_reason_and_a_past_effective_instant() {
    let events = history(&[attach(vec![pin("d1", 1)])]);
    given::<SlaDecider>(events.clone())
        .with_policy(policy())
        .at(t(60))
        .when(SlaCommand::Reattach {
            record: REC,
            pins: vec![pin("d2", 1)],
            effective_at: t(30),
            reason: "  ".into(),
        })
        .then_error(DomainError::validation("reason", "must not be empty"));
    given::<SlaDecider>(events)
        .with_policy(policy())
        .at(t(20))
        .when(reattach(vec![pin("d2", 1)]))
        .then_error_code("validation");
}

#[test]
fn a_reattachment_can_create_the_stream() {
    let state = given::<SlaDecider>([])
        .with_policy(policy())
        .at(t(60))
        .when(reattach(vec![pin("d1", 1)]))
        .then_ok()
        .1
        .unwrap();
    assert_eq!(state.instances.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Cancel.
// ---------------------------------------------------------------------------------------------

#[test]
fn cancel_without_an_instance_cancels_every_active_one() {
    let events = history(&[
        attach(vec![pin("d1", 1)]),
        reattach(vec![pin("d2", 1), pin("floating", 1)]),
    ]);
    given::<SlaDecider>(events.clone())
        .with_policy(policy())
        .at(t(60))
        .when(cancel(None))
        .then([SlaEvent::Canceled {
            record: REC,
            instances: vec![SlaInstanceNo(2), SlaInstanceNo(3)],
            reason: "exempted by the service owner".into(),
            at: t(60),
            by: admin().id,
        }]);
}

#[test]
fn cancel_repeats_and_empty_cancels_are_no_ops() {
    let events = history(&[attach(vec![pin("d1", 1)]), cancel(Some(1))]);
    for cmd in [cancel(Some(1)), cancel(None)] {
        given::<SlaDecider>(events.clone())
            .with_policy(policy())
            .at(t(60))
            .when(cmd)
            .then([]);
    }
    given::<SlaDecider>([])
        .with_policy(policy())
        .when(cancel(None))
        .then([]);
}

#[test]
fn cancel_needs_a_reason() {
    let events = history(&[attach(vec![pin("d1", 1)])]);
    given::<SlaDecider>(events)
        .with_policy(policy())
        .when(SlaCommand::Cancel {
            record: REC,
            instance: Some(SlaInstanceNo(1)),
            reason: String::new(),
        })
        .then_error(DomainError::validation("reason", "must not be empty"));
}

#[test]
fn a_canceled_instance_keeps_its_record_of_what_happened() {
    let events = history(&[
        attach(vec![pin("d1", 1)]),
        threshold(1, 50),
        cancel(Some(1)),
    ]);
    let state = SlaDecider::fold(&events).unwrap();
    let inst = &state.instances[0];
    assert!(matches!(inst.status, SlaInstanceStatus::Canceled { .. }));
    assert_eq!(inst.thresholds_recorded.len(), 1);
    assert_eq!(inst.window().ended.map(|e| e.at), Some(t(42)));
}

// ---------------------------------------------------------------------------------------------
// Permissions.
// ---------------------------------------------------------------------------------------------

#[test]
fn sla_commands_need_the_records_work_or_cancel_permission() {
    let carol = actor("carol", &[Role::Requester]);
    given::<SlaDecider>([])
        .with_policy(policy())
        .by(carol.clone())
        .when(attach(vec![pin("d1", 1)]))
        .then_error(DomainError::Forbidden {
            actor: carol.id.clone(),
            permission: Permission::IncidentWork,
        });
    let events = history(&[attach(vec![pin("d1", 1)])]);
    given::<SlaDecider>(events)
        .with_policy(policy())
        .by(carol.clone())
        .when(cancel(Some(1)))
        .then_error(DomainError::Forbidden {
            actor: carol.id,
            permission: Permission::IncidentCancel,
        });
    let mona = actor("mona", &[Role::Manager]);
    given::<SlaDecider>([])
        .with_policy(policy())
        .by(mona.clone())
        .when(SlaCommand::Attach {
            record: PROBLEM,
            pins: vec![pin("pr", 1)],
        })
        .then_error(DomainError::Forbidden {
            actor: mona.id,
            permission: Permission::ProblemWork,
        });
    given::<SlaDecider>([])
        .with_policy(policy())
        .by(actor("alice", &[Role::Agent]))
        .when(attach(vec![pin("d1", 1)]))
        .then_ok();
}

// ---------------------------------------------------------------------------------------------
// Wire format.
// ---------------------------------------------------------------------------------------------

#[test]
fn event_types_match_their_serde_tags_and_survive_a_round_trip() {
    let events = history(&[
        attach(vec![pin("d1", 1)]),
        threshold(1, 50),
        breach(1),
        reattach(vec![pin("d2", 1)]),
        cancel(None),
    ]);
    assert_eq!(events.len(), 5);
    for event in &events {
        let json = serde_json::to_value(event).unwrap();
        assert_eq!(json["type"], event.event_type(), "{json}");
        assert_eq!(event.schema_version(), 1);
        let back: SlaEvent = serde_json::from_value(json).unwrap();
        assert_eq!(&back, event);
    }
    let state = SlaDecider::fold(&events);
    let back: Option<SlaRecord> =
        serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    assert_eq!(back, state);
}

#[test]
fn commands_have_a_stable_json_shape_and_schemas() {
    let cmd = threshold(1, 50);
    let json = serde_json::to_value(&cmd).unwrap();
    assert_eq!(json["command"], "record_threshold");
    assert_eq!(
        json["record"],
        serde_json::json!({"kind": "incident", "id": INC.to_string()})
    );
    assert_eq!(json["percent"], 50);
    let back: SlaCommand = serde_json::from_value(json).unwrap();
    assert_eq!(back, cmd);
    for schema in [
        schemars::schema_for!(SlaCommand),
        schemars::schema_for!(SlaEvent),
        schemars::schema_for!(SlaRecord),
    ] {
        assert!(serde_json::to_string(&schema).unwrap().len() > 100);
    }
    assert_eq!(REC.sla_stream(), format!("sla-incident-{INC}"));
}
