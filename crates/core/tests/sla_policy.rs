//! SLA definitions and policies: validation as typed errors, lookup by version, what is in
//! force, defaults, the wire format, and how record events become clock signals.

#[path = "support/sla_fixtures.rs"]
mod fixtures;

use chrono::Duration;
use fixtures::*;
use opsledger_core::calendar::BusinessCalendar;
use opsledger_core::incident::HoldReason;
use opsledger_core::problem::{ProblemEvent, ResolutionCode};
use opsledger_core::sla::{
    BreachEscalation, CalendarKey, CalendarRef, EffectiveConditions, HoldReasonKind, Percent,
    SignalKind, SlaConditions, SlaDefinition, SlaKey, SlaMetric, SlaOutcome, SlaPolicy,
    SlaPolicyError, SlaScope, SlaSignal, SlaSource, SlaTrigger, sla_status,
};
use opsledger_core::{
    ActorId, DomainError, GroupId, Impact, Policy, Priority, ProblemId, RecordKind, ServiceId,
    Urgency,
};
use std::collections::BTreeSet;
use uuid::Uuid;

fn d(id: &str, version: u32) -> SlaDefinition {
    SlaDefinition::new(
        SlaKey::new(id, version),
        format!("{id} v{version}"),
        SlaScope::all(RecordKind::Incident),
        SlaMetric::Resolution,
        h(4),
        CalendarRef::exact("24x7", 1),
    )
}

fn key(id: &str, version: u32) -> SlaKey {
    SlaKey::new(id, version)
}

#[test]
fn validation_reports_every_problem_as_a_typed_error() {
    let blank = |to: &str| BreachEscalation::Functional {
        to_group: GroupId::new(to),
    };
    let definitions = vec![
        d("ok", 1),
        d("ok", 1),
        SlaDefinition {
            calendar: CalendarRef::exact("24x7", 2),
            ..d("dangling-version", 1)
        },
        SlaDefinition {
            calendar: CalendarRef::newest("nowhere"),
            ..d("dangling-id", 1)
        },
        SlaDefinition {
            target: Duration::zero(),
            ..d("zero", 1)
        },
        d("thresholds", 1).with_thresholds([0, 50, 50, 100]),
        d("never-starts", 1).with_conditions(SlaConditions {
            start: Some(BTreeSet::new()),
            ..SlaConditions::default()
        }),
        d("never-stops", 1).with_conditions(SlaConditions {
            stop: Some(BTreeSet::new()),
            ..SlaConditions::default()
        }),
        d("never-resumes", 1).with_conditions(SlaConditions {
            resume: Some(BTreeSet::new()),
            ..SlaConditions::default()
        }),
        SlaDefinition {
            name: " ".into(),
            ..d("nameless", 1)
        },
        d(" ", 3),
        d("escalates-nowhere", 1).escalating_to(blank("")),
    ];
    let calendars = vec![BusinessCalendar::always(), BusinessCalendar::always()];
    let policy = SlaPolicy::new(definitions, calendars);
    let errors = policy.validate().unwrap_err();
    assert_eq!(
        errors,
        vec![
            SlaPolicyError::DuplicateCalendar {
                calendar: CalendarKey::new("24x7", 1)
            },
            SlaPolicyError::DuplicateDefinition {
                definition: key("ok", 1)
            },
            SlaPolicyError::DanglingCalendar {
                definition: key("dangling-version", 1),
                calendar: "24x7".into(),
                version: Some(2)
            },
            SlaPolicyError::DanglingCalendar {
                definition: key("dangling-id", 1),
                calendar: "nowhere".into(),
                version: None
            },
            SlaPolicyError::EmptyTarget {
                definition: key("zero", 1)
            },
            SlaPolicyError::ThresholdOutOfRange {
                definition: key("thresholds", 1),
                percent: 0
            },
            SlaPolicyError::DuplicateThreshold {
                definition: key("thresholds", 1),
                percent: 50
            },
            SlaPolicyError::ThresholdOutOfRange {
                definition: key("thresholds", 1),
                percent: 100
            },
            SlaPolicyError::NoStartCondition {
                definition: key("never-starts", 1)
            },
            SlaPolicyError::NoStopCondition {
                definition: key("never-stops", 1)
            },
            SlaPolicyError::PauseWithoutResume {
                definition: key("never-resumes", 1)
            },
            SlaPolicyError::BlankName {
                definition: key("nameless", 1)
            },
            SlaPolicyError::BlankId { version: 3 },
            SlaPolicyError::BlankEscalationTarget {
                definition: key("escalates-nowhere", 1)
            },
        ]
    );
    let as_domain: DomainError = errors[4].clone().into();
    assert_eq!(as_domain.code(), "validation");
    assert_eq!(errors[4].to_string(), "zero@v1 has an empty target");
    let json = serde_json::to_value(&errors[2]).unwrap();
    assert_eq!(json["code"], "dangling_calendar");
}

#[test]
fn old_versions_stay_available_and_the_newest_unretired_is_in_force() {
    let retired = SlaDefinition {
        retired: true,
        ..d("gone", 2)
    };
    let policy = SlaPolicy::new(
        vec![d("p1", 2), d("p1", 1), d("gone", 1), retired],
        vec![BusinessCalendar::always()],
    );
    assert_eq!(policy.validate(), Ok(()));
    let in_force: Vec<SlaKey> = policy.in_force().iter().map(|d| d.key()).collect();
    assert_eq!(in_force, vec![key("p1", 2)]);
    assert_eq!(policy.definition(&key("p1", 1)).unwrap().version.0, 1);
    assert_eq!(policy.definition(&key("gone", 2)).unwrap().version.0, 2);
    assert!(policy.definition(&key("p1", 3)).is_none());
    assert_eq!(policy.newest(&"gone".into()).unwrap().version.0, 2);
}

#[test]
fn applicability_filters_by_kind_priority_and_service() {
    let payments = ServiceId::new("payments");
    let policy = SlaPolicy::new(
        vec![
            SlaDefinition {
                applies_to: SlaScope::all(RecordKind::Incident),
                ..d("any", 1)
            },
            SlaDefinition {
                applies_to: SlaScope::all(RecordKind::Incident)
                    .with_priorities([Priority::Critical, Priority::High]),
                ..d("urgent", 1)
            },
            SlaDefinition {
                applies_to: SlaScope::all(RecordKind::Incident).with_services([payments.clone()]),
                ..d("payments", 1)
            },
            SlaDefinition {
                applies_to: SlaScope::all(RecordKind::Problem),
                ..d("problems", 1)
            },
        ],
        vec![BusinessCalendar::always()],
    );
    let ids = |kind, priority, service: Option<&ServiceId>| -> Vec<String> {
        policy
            .applicable(kind, priority, service)
            .iter()
            .map(|d| d.id.to_string())
            .collect()
    };
    assert_eq!(
        ids(RecordKind::Incident, Priority::High, Some(&payments)),
        vec!["any", "payments", "urgent"]
    );
    assert_eq!(ids(RecordKind::Incident, Priority::Low, None), vec!["any"]);
    assert_eq!(
        ids(RecordKind::Problem, Priority::Low, None),
        vec!["problems"]
    );
    let pins = policy.pins_for(RecordKind::Incident, Priority::Low, None);
    assert_eq!(pins[0].calendar, CalendarKey::new("24x7", 1));
}

#[test]
fn a_floating_calendar_reference_resolves_to_the_newest_version() {
    let cal = |v| london(v, &[]);
    let policy = SlaPolicy::new(vec![], vec![cal(1), cal(3), cal(2)]);
    let newest = policy
        .resolve_calendar(&CalendarRef::newest("london-office"))
        .unwrap();
    assert_eq!(newest.version().0, 3);
    let exact = policy
        .resolve_calendar(&CalendarRef::exact("london-office", 2))
        .unwrap();
    assert_eq!(exact.version().0, 2);
}

#[test]
fn defaults_follow_the_metric() {
    use SlaTrigger as T;
    let set = |t: &[SlaTrigger]| t.iter().copied().collect::<BTreeSet<_>>();
    let response = EffectiveConditions::defaults(SlaMetric::Response);
    assert_eq!(response.start, set(&[T::Opened]));
    assert_eq!(
        response.stop,
        set(&[T::Acknowledged, T::AssignedToPerson, T::Resolved, T::Closed])
    );
    assert!(response.reopen.is_empty());
    assert_eq!(response.cancel, set(&[T::Canceled]));
    assert_eq!(response.resume, set(&[T::Resumed]));
    assert_eq!(
        response.pause_on_hold,
        [
            HoldReasonKind::AwaitingCaller,
            HoldReasonKind::AwaitingVendor
        ]
        .into_iter()
        .collect()
    );
    let resolution = EffectiveConditions::defaults(SlaMetric::Resolution);
    assert_eq!(resolution.stop, set(&[T::Resolved, T::Closed]));
    assert_eq!(resolution.reopen, set(&[T::Reopened]));
    assert!(resolution.pauses(&HoldReason::AwaitingVendor));
    assert!(!resolution.pauses(&HoldReason::AwaitingProblem {
        problem: ProblemId(Uuid::nil())
    }));

    // A definition overrides only what it states.
    let custom = d("custom", 1).with_conditions(SlaConditions {
        pause_on_hold: Some([HoldReasonKind::AwaitingChange].into_iter().collect()),
        ..SlaConditions::default()
    });
    let c = custom.conditions();
    assert_eq!(
        c.pause_on_hold,
        [HoldReasonKind::AwaitingChange].into_iter().collect()
    );
    assert_eq!(c.stop, resolution.stop);
}

#[test]
fn a_minimal_definition_reads_from_json_with_defaults() {
    let json = serde_json::json!({
        "id": "p1-resolution",
        "version": 1,
        "name": "P1 resolution",
        "applies_to": {"kind": "incident", "priorities": ["critical"]},
        "metric": "resolution",
        "target": [14400, 0],
        "calendar": {"id": "24x7"}
    });
    let def: SlaDefinition = serde_json::from_value(json).unwrap();
    assert_eq!(def.target, h(4));
    assert_eq!(def.calendar, CalendarRef::newest("24x7"));
    assert_eq!(
        def.conditions(),
        EffectiveConditions::defaults(SlaMetric::Resolution)
    );
    assert!(!def.start_at_impact && !def.retired && def.thresholds.is_empty());
    let back: SlaDefinition = serde_json::from_value(serde_json::to_value(&def).unwrap()).unwrap();
    assert_eq!(back, def);
    assert_eq!(
        d("x", 1).with_thresholds([90, 50, 75]).sorted_thresholds(),
        vec![Percent(50), Percent(75), Percent(90)]
    );
}

#[test]
fn a_policy_without_slas_still_reads_and_sla_policies_round_trip() {
    let mut json = serde_json::to_value(Policy::default()).unwrap();
    json.as_object_mut().unwrap().remove("sla");
    let policy: Policy = serde_json::from_value(json).unwrap();
    assert_eq!(policy.sla, SlaPolicy::default());

    let sla = SlaPolicy::new(
        vec![d("p1", 1).escalating_to(BreachEscalation::Hierarchical {
            to: ActorId::new("mona"),
        })],
        vec![BusinessCalendar::always(), london(1, &["2026-12-25"])],
    );
    let back: SlaPolicy = serde_json::from_str(&serde_json::to_string(&sla).unwrap()).unwrap();
    assert_eq!(back, sla);
    let schema = serde_json::to_string(&schemars::schema_for!(SlaPolicy)).unwrap();
    assert!(schema.contains("pause_on_hold"));
}

// ---------------------------------------------------------------------------------------------
// Sources: record events as clock signals.
// ---------------------------------------------------------------------------------------------

#[test]
fn incident_events_become_signals_and_the_rest_are_ignored() {
    let kinds: Vec<Option<SignalKind>> = [
        opened("2026-01-05T09:00:00Z", Priority::High),
        acknowledged("2026-01-05T09:05:00Z"),
        on_hold("2026-01-05T09:10:00Z", HoldReason::AwaitingCaller),
        resumed("2026-01-05T09:20:00Z"),
        reprioritized("2026-01-05T09:30:00Z", Priority::High, Priority::Critical),
        impact_started("2026-01-05T09:40:00Z", "2026-01-05T08:00:00Z"),
        resolved("2026-01-05T10:00:00Z"),
        reopened("2026-01-05T10:10:00Z"),
        canceled("2026-01-05T10:20:00Z"),
    ]
    .iter()
    .map(|e| e.sla_signal().map(|s| s.kind))
    .collect();
    assert_eq!(
        kinds,
        vec![
            Some(SignalKind::Opened {
                priority: Priority::High,
                service: None
            }),
            Some(SignalKind::Acknowledged),
            Some(SignalKind::PutOnHold {
                reason: HoldReason::AwaitingCaller
            }),
            Some(SignalKind::Resumed),
            Some(SignalKind::Reprioritized {
                priority: Priority::Critical
            }),
            Some(SignalKind::ImpactStarted {
                occurred_at: utc("2026-01-05T08:00:00Z")
            }),
            Some(SignalKind::Resolved),
            Some(SignalKind::Reopened),
            Some(SignalKind::Canceled),
        ]
    );
    let note = opsledger_core::incident::IncidentEvent::WorkNoteAdded {
        id: INC,
        text: "looked at logs".into(),
        at: utc("2026-01-05T09:00:00Z"),
        by: alice(),
    };
    assert_eq!(note.sla_signal(), None);
}

#[test]
fn a_problem_has_a_clock_too() {
    // Response for a problem: created -> assessed. Resolution: created -> resolved, with
    // re-analysis continuing it.
    let id = ProblemId(Uuid::from_u128(7));
    let by = alice;
    let events = vec![
        ProblemEvent::Created {
            id,
            title: "Pool exhaustion".into(),
            description: String::new(),
            impact: Impact::Medium,
            urgency: Urgency::Medium,
            priority: Priority::Moderate,
            service: None,
            cis: BTreeSet::new(),
            policy_version: opsledger_core::policy::PolicyVersion(1),
            at: utc("2026-01-05T09:00:00Z"),
            by: by(),
        },
        ProblemEvent::Assessed {
            id,
            at: utc("2026-01-05T11:00:00Z"),
            by: by(),
        },
        ProblemEvent::Resolved {
            id,
            code: ResolutionCode::FixApplied,
            notes: "pool resized".into(),
            linked_incidents: BTreeSet::new(),
            at: utc("2026-01-06T09:00:00Z"),
            by: by(),
        },
    ];
    let cal = BusinessCalendar::always();
    let scope = SlaScope::all(RecordKind::Problem);
    let response = SlaDefinition::new(
        key("prb-response", 1),
        "Problem response",
        scope.clone(),
        SlaMetric::Response,
        h(4),
        CalendarRef::exact("24x7", 1),
    );
    let resolution = SlaDefinition::new(
        key("prb-resolution", 1),
        "Problem resolution",
        scope,
        SlaMetric::Resolution,
        h(20),
        CalendarRef::exact("24x7", 1),
    );
    let now = utc("2026-01-07T00:00:00Z");
    let s = sla_status(&response, &cal, &events, now);
    assert_eq!((s.elapsed, s.outcome()), (h(2), SlaOutcome::Met));
    let s = sla_status(&resolution, &cal, &events, now);
    assert_eq!(s.elapsed, h(24));
    assert_eq!(s.breached, Some(utc("2026-01-06T05:00:00Z")));
}

#[test]
fn signals_can_be_fed_directly_and_time_never_runs_backwards() {
    let cal = BusinessCalendar::always();
    let def = SlaDefinition::new(
        key("direct", 1),
        "Direct",
        SlaScope::all(RecordKind::Change),
        SlaMetric::Resolution,
        h(4),
        CalendarRef::exact("24x7", 1),
    );
    let signals = vec![
        SlaSignal::new(
            utc("2026-01-05T09:00:00Z"),
            SignalKind::Opened {
                priority: Priority::Low,
                service: None,
            },
        ),
        // Recorded "before" the opening by a skewed clock: it counts as 09:00.
        SlaSignal::new(utc("2026-01-05T08:00:00Z"), SignalKind::Resolved),
    ];
    let s = sla_status(&def, &cal, &signals, utc("2026-01-05T12:00:00Z"));
    assert_eq!(s.elapsed, Duration::zero());
    assert_eq!(s.outcome(), SlaOutcome::Met);
}

#[test]
fn an_invalid_sla_policy_makes_the_whole_policy_invalid() {
    let mut policy = opsledger_core::Policy::default();
    assert_eq!(policy.validate(), Ok(()));
    // The definition names a calendar the policy does not hold.
    policy.sla.definitions.push(fixtures::def(
        "p1-res",
        1,
        opsledger_core::sla::SlaMetric::Resolution,
        fixtures::h(4),
        &fixtures::london(1, &[]),
    ));
    let err = policy
        .validate()
        .expect_err("a definition naming no known calendar is invalid");
    assert_eq!(err.code(), "validation");
    assert!(
        matches!(&err, opsledger_core::DomainError::Validation { field, .. } if field == "sla.definitions[0].calendar"),
        "{err:?}"
    );
}
