//! Property tests of SLA clocks and the SLA decider over random calendars, definitions,
//! histories and command sequences.

#[path = "support/sla_fixtures.rs"]
mod fixtures;

use chrono::{DateTime, Duration, Utc};
use fixtures::*;
use opsledger_core::calendar::{BusinessCalendar, WeeklySchedule};
use opsledger_core::incident::HoldReason;
use opsledger_core::sla::{
    CalendarKey, CalendarRef, DueWhat, ExplainKind, HoldReasonKind, InstanceWindow, Percent,
    RecordRef, SignalKind, SlaCancelCause, SlaCommand, SlaConditions, SlaDecider, SlaDefinition,
    SlaEvent, SlaInstanceNo, SlaInstanceStatus, SlaKey, SlaMetric, SlaPin, SlaPolicy, SlaRecord,
    SlaScope, SlaSignal, SlaStatus, WindowEnd, due_commands, evaluate_in, sla_status,
    sla_status_in,
};
use opsledger_core::testing::{actor, admin};
use opsledger_core::{
    Actor, ChangeId, Context, Decider, DomainEvent, Policy, Priority, ProblemId, RecordKind, Role,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Generators.
// ---------------------------------------------------------------------------------------------

fn calendars() -> Vec<BusinessCalendar> {
    vec![
        BusinessCalendar::always(),
        london(1, &["2026-03-27", "2026-10-26"]),
        new_york(),
        new_york_weekend(),
        // A Berlin desk with a lunch break.
        calendar(
            "berlin-desk",
            1,
            "Europe/Berlin",
            WeeklySchedule::weekdays(vec![
                "09:00-12:00".parse().unwrap(),
                "13:00-17:00".parse().unwrap(),
            ]),
            &["2026-10-26"],
        ),
    ]
}

fn reason(i: u8) -> HoldReason {
    match i % 4 {
        0 => HoldReason::AwaitingCaller,
        1 => HoldReason::AwaitingVendor,
        2 => HoldReason::AwaitingProblem {
            problem: ProblemId(Uuid::from_u128(1)),
        },
        _ => HoldReason::AwaitingChange {
            change: ChangeId(Uuid::from_u128(2)),
        },
    }
}

#[derive(Debug, Clone)]
struct Case {
    calendar: usize,
    definition: SlaDefinition,
    signals: Vec<SlaSignal>,
}

fn definition_strategy() -> impl Strategy<Value = SlaDefinition> {
    (
        any::<bool>(),
        30i64..3000,
        proptest::sample::subsequence(vec![25u8, 50, 75, 90], 0..=4),
        proptest::sample::subsequence(
            vec![
                HoldReasonKind::AwaitingCaller,
                HoldReasonKind::AwaitingVendor,
                HoldReasonKind::AwaitingProblem,
            ],
            0..=3,
        ),
        any::<bool>(),
    )
        .prop_map(|(response, minutes, thresholds, pauses, at_impact)| {
            let metric = if response {
                SlaMetric::Response
            } else {
                SlaMetric::Resolution
            };
            let mut d = SlaDefinition::new(
                SlaKey::new("prop", 1),
                "prop",
                SlaScope::all(RecordKind::Incident),
                metric,
                Duration::minutes(minutes),
                CalendarRef::newest("any"),
            )
            .with_thresholds(thresholds)
            .with_conditions(SlaConditions {
                pause_on_hold: Some(pauses.into_iter().collect()),
                ..SlaConditions::default()
            });
            d.start_at_impact = at_impact;
            d
        })
}

/// A signal kind; `ImpactStarted` is produced separately (at most once per history).
fn kind_strategy() -> impl Strategy<Value = SignalKind> {
    prop_oneof![
        Just(SignalKind::Acknowledged),
        Just(SignalKind::AssignedToPerson),
        (0u8..4).prop_map(|r| SignalKind::PutOnHold { reason: reason(r) }),
        (0u8..4).prop_map(|r| SignalKind::PutOnHold { reason: reason(r) }),
        Just(SignalKind::Resumed),
        Just(SignalKind::Resumed),
        Just(SignalKind::Resolved),
        Just(SignalKind::Reopened),
        Just(SignalKind::Closed),
        Just(SignalKind::Canceled),
        Just(SignalKind::Reprioritized {
            priority: Priority::Critical
        }),
    ]
}

/// Histories around the 2026 clock changes (New York 8 March and 1 November, London 29 March
/// and 25 October): gaps from 0 to 3 days, with seconds.
fn signals_strategy(with_impact: bool) -> impl Strategy<Value = Vec<SlaSignal>> {
    let bases = [
        utc("2026-03-05T00:00:00Z"),
        utc("2026-03-26T00:00:00Z"),
        utc("2026-10-22T00:00:00Z"),
    ];
    (
        0usize..3,
        0i64..(6 * 24 * 60),
        any::<bool>(),
        proptest::collection::vec((0i64..(3 * 24 * 60), 0i64..60, kind_strategy()), 0..25),
        proptest::option::of((0usize..25, 0i64..(48 * 60))),
    )
        .prop_map(move |(base, offset, opened_first, steps, impact)| {
            let mut at = bases[base] + Duration::minutes(offset);
            let mut out = Vec::new();
            let opened = SignalKind::Opened {
                priority: Priority::Moderate,
                service: None,
            };
            if opened_first {
                out.push(SlaSignal::new(at, opened.clone()));
            }
            for (i, (gap, secs, kind)) in steps.into_iter().enumerate() {
                at += Duration::minutes(gap) + Duration::seconds(secs);
                out.push(SlaSignal::new(at, kind));
                if i == 1 && !opened_first {
                    out.push(SlaSignal::new(at, opened.clone()));
                }
                if let Some((when, back)) = impact.filter(|(when, _)| *when == i && with_impact) {
                    let _ = when;
                    out.push(SlaSignal::new(
                        at,
                        SignalKind::ImpactStarted {
                            occurred_at: at - Duration::minutes(back),
                        },
                    ));
                }
            }
            if out.is_empty() {
                out.push(SlaSignal::new(at, opened));
            }
            out
        })
}

fn case_strategy(with_impact: bool) -> impl Strategy<Value = Case> {
    (
        0usize..5,
        definition_strategy(),
        signals_strategy(with_impact),
    )
        .prop_map(|(calendar, definition, signals)| Case {
            calendar,
            definition,
            signals,
        })
}

/// An instant between the first signal and ten days after the last.
fn instant_in(signals: &[SlaSignal], fraction: f64) -> DateTime<Utc> {
    let first = signals
        .first()
        .map(|s| s.at)
        .unwrap_or(utc("2026-03-05T00:00:00Z"));
    let last = signals.last().map(|s| s.at).unwrap_or(first) + Duration::days(10);
    let span = (last - first).num_seconds() as f64;
    first + Duration::seconds((span * fraction) as i64)
}

fn nanos(d: Duration) -> i128 {
    i128::from(d.num_seconds()) * 1_000_000_000 + i128::from(d.subsec_nanos())
}

// ---------------------------------------------------------------------------------------------
// Clock properties.
// ---------------------------------------------------------------------------------------------

/// Contiguous, ordered, covering [start, now), adding up to elapsed and paused, cut at the
/// breach.
fn check_spans(status: &SlaStatus, spans: &[opsledger_core::sla::ExplainSpan], now: DateTime<Utc>) {
    match status.started_at {
        None => assert!(spans.is_empty(), "spans without a start"),
        Some(start) if start >= now => assert!(spans.is_empty(), "spans before the start"),
        Some(start) => {
            assert_eq!(
                spans.first().unwrap().from,
                start,
                "spans begin at the start"
            );
            assert_eq!(spans.last().unwrap().to, now, "spans end at now");
        }
    }
    let mut elapsed = Duration::zero();
    let mut paused = Duration::zero();
    for (i, s) in spans.iter().enumerate() {
        assert!(s.from < s.to, "span {i} is empty or reversed: {s:?}");
        if i > 0 {
            assert_eq!(
                spans[i - 1].to,
                s.from,
                "span {i} does not follow its predecessor"
            );
        }
        match s.kind {
            ExplainKind::Running => assert_eq!(s.business_time_counted, s.to - s.from),
            ExplainKind::OutsideHours
            | ExplainKind::Holiday
            | ExplainKind::Paused { .. }
            | ExplainKind::Stopped
            | ExplainKind::Canceled { .. } => {
                assert_eq!(
                    s.business_time_counted,
                    Duration::zero(),
                    "{s:?} counted time"
                )
            }
        }
        if !matches!(s.kind, ExplainKind::Paused { .. }) {
            assert_eq!(s.business_time_paused, Duration::zero());
        }
        elapsed += s.business_time_counted;
        paused += s.business_time_paused;
        assert_eq!(s.elapsed_after, elapsed, "running total of span {i}");
        if let Some(b) = status.breached {
            assert!(!(s.from < b && b < s.to), "span {i} straddles the breach");
            assert_eq!(s.over_target, s.from >= b, "over_target of span {i}");
        } else {
            assert!(!s.over_target);
        }
    }
    assert_eq!(elapsed, status.elapsed, "running spans add up to elapsed");
    assert_eq!(paused, status.paused, "paused spans add up to paused");
}

fn crossed(status: &SlaStatus, what: DueWhat) -> Option<DateTime<Utc>> {
    match what {
        DueWhat::Threshold { percent } => status
            .thresholds_crossed
            .iter()
            .find(|c| c.percent == percent)
            .map(|c| c.at),
        DueWhat::Breach => status.breached,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn explain_spans_are_contiguous_ordered_and_add_up_to_elapsed(
        case in case_strategy(true),
        fraction in 0.0f64..1.0,
    ) {
        let cal = &calendars()[case.calendar];
        let now = instant_in(&case.signals, fraction);
        let (status, spans) =
            evaluate_in(&case.definition, cal, &case.signals, &InstanceWindow::default(), now);
        check_spans(&status, &spans, now);
        prop_assert_eq!(&status, &sla_status(&case.definition, cal, &case.signals, now));
        // Marks are crossed in order, and elapsed is the percentage's basis.
        let ats: Vec<_> = status.thresholds_crossed.iter().map(|c| c.at).collect();
        prop_assert!(ats.windows(2).all(|w| w[0] <= w[1]));
        prop_assert_eq!(status.breached.is_some(), status.elapsed >= status.target);
        prop_assert_eq!(status.remaining, status.target - status.elapsed);
        prop_assert_eq!(
            i128::from(status.percent),
            nanos(status.elapsed) * 100 / nanos(status.target)
        );
    }

    #[test]
    fn explain_holds_within_any_instance_window_and_windows_only_remove_time(
        case in case_strategy(true),
        fraction in 0.0f64..1.0,
        not_before in proptest::option::of(0.0f64..1.0),
        ended in proptest::option::of((0.0f64..1.0, any::<bool>())),
    ) {
        let cal = &calendars()[case.calendar];
        let now = instant_in(&case.signals, fraction);
        let window = InstanceWindow {
            not_before: not_before.map(|f| instant_in(&case.signals, f * fraction)),
            ended: ended.map(|(f, explicit)| WindowEnd {
                at: instant_in(&case.signals, f),
                cause: if explicit { SlaCancelCause::Explicit } else { SlaCancelCause::Reattached },
            }),
        };
        let (status, spans) = evaluate_in(&case.definition, cal, &case.signals, &window, now);
        check_spans(&status, &spans, now);
        let full = sla_status(&case.definition, cal, &case.signals, now);
        prop_assert!(status.elapsed <= full.elapsed, "a window added time");
        // Nothing counts after the end (unless a backdated start, recorded later, moved the
        // clock's start back before the end: that is retroactive by design).
        let retroactive = case.definition.start_at_impact;
        if let Some(end) = window.ended.filter(|e| e.at <= now && !retroactive) {
            let at_end = sla_status_in(&case.definition, cal, &case.signals, &window, end.at);
            prop_assert_eq!(status.elapsed, at_end.elapsed);
        }
    }

    #[test]
    fn elapsed_is_monotonic_in_now(
        case in case_strategy(true),
        a in 0.0f64..1.0,
        b in 0.0f64..1.0,
    ) {
        let cal = &calendars()[case.calendar];
        let (early, late) = (instant_in(&case.signals, a.min(b)), instant_in(&case.signals, a.max(b)));
        let s1 = sla_status(&case.definition, cal, &case.signals, early);
        let s2 = sla_status(&case.definition, cal, &case.signals, late);
        prop_assert!(s1.elapsed <= s2.elapsed, "elapsed went down: {:?} -> {:?}", s1.elapsed, s2.elapsed);
        prop_assert!(s1.paused <= s2.paused, "paused went down");
        if let Some(b1) = s1.breached {
            prop_assert_eq!(s2.breached, Some(b1), "a breach is never undone");
        }
    }

    #[test]
    fn pauses_never_count(case in case_strategy(true), fraction in 0.0f64..1.0) {
        // The same history with every hold for a non-pausing reason: exactly the paused
        // business time comes back as elapsed, and nothing else changes.
        let cal = &calendars()[case.calendar];
        let now = instant_in(&case.signals, fraction);
        let never_paused: Vec<SlaSignal> = case
            .signals
            .iter()
            .map(|s| match &s.kind {
                SignalKind::PutOnHold { .. } => SlaSignal::new(
                    s.at,
                    SignalKind::PutOnHold { reason: reason(3) },
                ),
                _other => s.clone(),
            })
            .collect();
        let with = sla_status(&case.definition, cal, &case.signals, now);
        let without = sla_status(&case.definition, cal, &never_paused, now);
        prop_assert_eq!(without.paused, Duration::zero());
        prop_assert_eq!(without.elapsed, with.elapsed + with.paused);
        prop_assert_eq!(without.started_at, with.started_at);
        let spans = opsledger_core::sla::explain(&case.definition, cal, &case.signals, now);
        for s in spans.iter().filter(|s| matches!(s.kind, ExplainKind::Paused { .. })) {
            prop_assert_eq!(s.business_time_counted, Duration::zero());
        }
    }

    #[test]
    fn status_is_deterministic_and_survives_serialization(
        case in case_strategy(true),
        fraction in 0.0f64..1.0,
    ) {
        let cal = &calendars()[case.calendar];
        let now = instant_in(&case.signals, fraction);
        let window = InstanceWindow::default();
        let (s1, e1) = evaluate_in(&case.definition, cal, &case.signals, &window, now);
        let (s2, e2) = evaluate_in(&case.definition, cal, &case.signals.clone(), &window, now);
        prop_assert_eq!(&s1, &s2);
        prop_assert_eq!(&e1, &e2);
        let back: SlaStatus = serde_json::from_str(&serde_json::to_string(&s1).unwrap()).unwrap();
        prop_assert_eq!(&back, &s1);
        let back: Vec<opsledger_core::sla::ExplainSpan> =
            serde_json::from_str(&serde_json::to_string(&e1).unwrap()).unwrap();
        prop_assert_eq!(back, e1);
    }

    #[test]
    fn next_due_and_crossing_instants_match_the_status_just_before_and_at_them(
        case in case_strategy(true),
        fraction in 0.0f64..1.0,
    ) {
        let cal = &calendars()[case.calendar];
        let now = instant_in(&case.signals, fraction);
        // Only what is known at `now`: the clock is assumed to keep doing what it does.
        let known: Vec<SlaSignal> = case.signals.iter().filter(|s| s.at <= now).cloned().collect();
        let status = sla_status(&case.definition, cal, &known, now);
        let eps = Duration::nanoseconds(1);
        if let Some(next) = status.next_due {
            prop_assert!(next.at > now);
            prop_assert!(!next.is_due(now) && next.is_due(next.at));
            let before = sla_status(&case.definition, cal, &known, next.at - eps);
            let at = sla_status(&case.definition, cal, &known, next.at);
            prop_assert_eq!(crossed(&before, next.what), None, "crossed before its due instant");
            prop_assert_eq!(crossed(&at, next.what), Some(next.at), "not crossed at its due instant");
            if next.what == DueWhat::Breach {
                prop_assert_eq!(status.due_at, Some(next.at));
            }
        }
        let mut marks: Vec<(DueWhat, DateTime<Utc>)> = status
            .thresholds_crossed
            .iter()
            .map(|c| (DueWhat::Threshold { percent: c.percent }, c.at))
            .collect();
        if let Some(b) = status.breached {
            marks.push((DueWhat::Breach, b));
            prop_assert_eq!(status.due_at, Some(b));
        }
        // A backdated impact start can put a crossing before the instant the clock's start
        // (the impact, or the opening it moves back) was recorded: a retroactive breach. The
        // status as of such an instant rightly did not know it yet, so those crossings are
        // checked only against the present.
        let learned = known
            .iter()
            .filter(|s| {
                matches!(s.kind, SignalKind::ImpactStarted { .. } | SignalKind::Opened { .. })
            })
            .map(|s| s.at)
            .max()
            .filter(|_| case.definition.start_at_impact);
        for (what, at) in marks.into_iter().filter(|(_, at)| learned.is_none_or(|l| *at >= l)) {
            let before = sla_status(&case.definition, cal, &known, at - eps);
            let then = sla_status(&case.definition, cal, &known, at);
            prop_assert_eq!(crossed(&before, what), None, "{:?} crossed before {}", what, at);
            prop_assert_eq!(crossed(&then, what), Some(at), "{:?} not crossed at {}", what, at);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The SLA decider.
// ---------------------------------------------------------------------------------------------

fn decider_policy() -> Policy {
    let def = |id: &str, thresholds: Vec<u8>| {
        SlaDefinition::new(
            SlaKey::new(id, 1),
            id,
            SlaScope::all(RecordKind::Incident),
            SlaMetric::Resolution,
            h(4),
            CalendarRef::exact("24x7", 1),
        )
        .with_thresholds(thresholds)
    };
    Policy {
        sla: SlaPolicy::new(
            vec![
                def("d1", vec![50, 75]),
                def("d2", vec![90]),
                def("d3", vec![]),
            ],
            vec![BusinessCalendar::always()],
        ),
        ..Policy::default()
    }
}

fn pin(i: u8) -> SlaPin {
    SlaPin {
        definition: SlaKey::new(format!("d{i}"), 1),
        calendar: CalendarKey::new("24x7", 1),
    }
}

#[derive(Debug, Clone)]
struct Step {
    advance: i64,
    actor: u8,
    command: SlaCommand,
    repeat: u8,
}

fn command_strategy() -> impl Strategy<Value = SlaCommand> {
    let pins = proptest::sample::subsequence(vec![1u8, 2, 3, 9], 0..=3)
        .prop_map(|ids| ids.into_iter().map(pin).collect::<Vec<_>>());
    let text = prop_oneof![4 => Just("reprioritized".to_owned()), 1 => Just(" ".to_owned())];
    prop_oneof![
        pins.clone()
            .prop_map(|pins| SlaCommand::Attach { record: REC, pins }),
        (pins, -60i64..5, text.clone()).prop_map(|(pins, offset, reason)| SlaCommand::Reattach {
            record: REC,
            pins,
            effective_at: utc("2026-01-05T00:00:00Z") + Duration::minutes(offset),
            reason,
        }),
        (
            1u32..5,
            prop::sample::select(vec![25u8, 50, 75, 90]),
            -600i64..5
        )
            .prop_map(|(n, p, offset)| SlaCommand::RecordThreshold {
                record: REC,
                instance: SlaInstanceNo(n),
                percent: Percent(p),
                crossed_at: utc("2026-01-05T00:00:00Z") + Duration::minutes(offset),
            }),
        (1u32..5, -600i64..5).prop_map(|(n, offset)| SlaCommand::RecordBreach {
            record: REC,
            instance: SlaInstanceNo(n),
            breached_at: utc("2026-01-05T00:00:00Z") + Duration::minutes(offset),
        }),
        (proptest::option::of(1u32..5), text).prop_map(|(n, reason)| SlaCommand::Cancel {
            record: REC,
            instance: n.map(SlaInstanceNo),
            reason,
        }),
        Just(SlaCommand::Attach {
            record: RecordRef::Incident(INC2),
            pins: vec![pin(1)],
        }),
    ]
}

fn steps_strategy() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(
        (0i64..120, 0u8..4, command_strategy(), 1u8..4).prop_map(
            |(advance, actor, command, repeat)| Step {
                advance,
                actor,
                command,
                repeat,
            },
        ),
        0..40,
    )
}

fn actor_of(i: u8) -> Actor {
    match i {
        0 | 1 => admin(),
        2 => actor("alice", &[Role::Agent]),
        _ => actor("carol", &[Role::Requester]),
    }
}

/// Instants in commands are relative to a moving "now": shift them to it.
fn at_now(cmd: &SlaCommand, now: DateTime<Utc>) -> SlaCommand {
    let shift = |t: DateTime<Utc>| now + (t - utc("2026-01-05T00:00:00Z"));
    match cmd.clone() {
        SlaCommand::Reattach {
            record,
            pins,
            effective_at,
            reason,
        } => SlaCommand::Reattach {
            record,
            pins,
            effective_at: shift(effective_at),
            reason,
        },
        SlaCommand::RecordThreshold {
            record,
            instance,
            percent,
            crossed_at,
        } => SlaCommand::RecordThreshold {
            record,
            instance,
            percent,
            crossed_at: shift(crossed_at),
        },
        SlaCommand::RecordBreach {
            record,
            instance,
            breached_at,
        } => SlaCommand::RecordBreach {
            record,
            instance,
            breached_at: shift(breached_at),
        },
        other @ (SlaCommand::Attach { .. } | SlaCommand::Cancel { .. }) => other,
    }
}

struct Run {
    events: Vec<SlaEvent>,
    state: Option<SlaRecord>,
}

fn run(steps: &[Step]) -> Run {
    let policy = Arc::new(decider_policy());
    let mut now = utc("2026-01-05T09:00:00Z");
    let mut state: Option<SlaRecord> = None;
    let mut events = Vec::new();
    for step in steps {
        now += Duration::minutes(step.advance);
        let ctx = Context::new(now, actor_of(step.actor), policy.clone());
        let cmd = at_now(&step.command, now);
        for attempt in 0..step.repeat {
            // (e) A refusal is an error and nothing else: no event, no state change.
            if let Ok(produced) = SlaDecider::decide(&state, &cmd, &ctx) {
                {
                    if attempt > 0 {
                        assert!(
                            produced.is_empty(),
                            "a repeat of {cmd:?} produced {produced:?}"
                        );
                    }
                    let record = state.as_ref().map(|s| s.record);
                    for e in &produced {
                        state = SlaDecider::evolve(state, e);
                    }
                    if let Some(record) = record {
                        assert_eq!(
                            state.as_ref().map(|s| s.record),
                            Some(record),
                            "the stream's record changed"
                        );
                    }
                    events.extend(produced);
                    // Idempotent: decided again on the new state, it records nothing.
                    assert_eq!(
                        SlaDecider::decide(&state, &cmd, &ctx),
                        Ok(vec![]),
                        "{cmd:?}"
                    );
                }
            }
            check_invariants(state.as_ref());
        }
    }
    Run { events, state }
}

fn check_invariants(state: Option<&SlaRecord>) {
    let Some(s) = state else { return };
    for (i, inst) in s.instances.iter().enumerate() {
        assert_eq!(
            inst.number,
            SlaInstanceNo(i as u32 + 1),
            "instances are numbered 1..n"
        );
        let mut seen = std::collections::BTreeSet::new();
        for c in &inst.thresholds_recorded {
            assert!(
                seen.insert(c.percent),
                "threshold {} recorded twice",
                c.percent
            );
            assert!(
                inst.thresholds.contains(&c.percent),
                "foreign threshold recorded"
            );
        }
        if let SlaInstanceStatus::Replaced { by, .. } = &inst.status {
            for n in by {
                assert!(*n > inst.number, "replaced by an older instance");
                assert!(s.instance(*n).is_some(), "replaced by a missing instance");
            }
        }
    }
    let mut active = BTreeMap::new();
    for inst in s.active() {
        assert!(
            active
                .insert(inst.pin.definition.id.clone(), inst.number)
                .is_none(),
            "two active instances of {}",
            inst.pin.definition.id
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_decider_folds_consistently_keeps_its_invariants_and_is_idempotent(
        steps in steps_strategy(),
    ) {
        let Run { events, state } = run(&steps);
        // (a) The fold of every event is the state worked on step by step.
        prop_assert_eq!(&SlaDecider::fold(&events), &state);
        // (c) Same inputs, same events.
        prop_assert_eq!(&run(&steps).events, &events);
        // Thresholds and breaches exactly once per instance, however often they were sent.
        let mut thresholds = BTreeMap::new();
        let mut breaches = BTreeMap::new();
        for e in &events {
            match e {
                SlaEvent::ThresholdCrossed { instance, percent, .. } => {
                    *thresholds.entry((*instance, *percent)).or_insert(0) += 1;
                }
                SlaEvent::Breached { instance, .. } => *breaches.entry(*instance).or_insert(0) += 1,
                SlaEvent::Attached { .. } | SlaEvent::Reattached { .. } | SlaEvent::Canceled { .. } => {}
            }
            // (d) Every event survives a serde round trip, under its declared type.
            let json = serde_json::to_value(e).unwrap();
            prop_assert_eq!(json["type"].as_str(), Some(e.event_type()));
            let back: SlaEvent = serde_json::from_value(json).unwrap();
            prop_assert_eq!(&back, e);
        }
        prop_assert!(thresholds.values().all(|n| *n == 1));
        prop_assert!(breaches.values().all(|n| *n == 1));
    }
}

// ---------------------------------------------------------------------------------------------
// The tick, end to end: random histories, random tick instants with repeats and restarts.
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn ticks_record_every_crossing_exactly_once_whatever_their_rhythm(
        case in case_strategy(false),
        ticks in proptest::collection::vec(0.0f64..1.0, 1..12),
        repeats in proptest::collection::vec(1u8..3, 12),
    ) {
        let cal = calendars()[case.calendar].clone();
        let mut definition = case.definition.clone();
        definition.calendar = CalendarRef::exact(cal.id().clone(), cal.version().0);
        let policy = Arc::new(Policy {
            sla: SlaPolicy::new(vec![definition], vec![cal]),
            ..Policy::default()
        });
        let pins = policy.sla.pins_for(RecordKind::Incident, Priority::Moderate, None);
        let open_at = case.signals[0].at;
        let ctx = Context::new(open_at, admin(), policy.clone());
        let mut stream = SlaDecider::decide(&None, &SlaCommand::Attach { record: REC, pins }, &ctx).unwrap();
        let mut instants: Vec<DateTime<Utc>> =
            ticks.iter().map(|f| instant_in(&case.signals, *f).max(open_at)).collect();
        instants.sort();
        let mut last_status = None;
        for (i, now) in instants.iter().enumerate() {
            for _ in 0..repeats[i] {
                // A restart: the state is folded from the stream every time.
                let state = SlaDecider::fold(&stream).unwrap();
                let ctx = Context::new(*now, admin(), policy.clone());
                for inst in &state.instances {
                    let status = policy.sla.status_of(inst, &case.signals, *now).unwrap();
                    for cmd in due_commands(&state, inst, &status) {
                        let current = SlaDecider::fold(&stream);
                        stream.extend(SlaDecider::decide(&current, &cmd, &ctx).unwrap());
                    }
                    last_status = Some(status);
                }
            }
        }
        let state = SlaDecider::fold(&stream).unwrap();
        let status = last_status.unwrap();
        let inst = &state.instances[0];
        prop_assert_eq!(&inst.thresholds_recorded, &status.thresholds_crossed);
        prop_assert_eq!(inst.breach_recorded, status.breached);
        prop_assert!(due_commands(&state, inst, &status).is_empty());
    }
}
