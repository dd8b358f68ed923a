//! Hand-worked SLA scenarios. Every expected number is worked out in the comments, so a
//! failure points at the arithmetic, not at the test.

#[path = "support/sla_fixtures.rs"]
mod fixtures;

use chrono::Duration;
use fixtures::*;
use opsledger_core::calendar::BusinessCalendar;
use opsledger_core::incident::{HoldReason, IncidentEvent};
use opsledger_core::sla::{
    AttachedInstance, BreachAction, BreachEscalation, CalendarKey, CalendarRef, ClockStart,
    DueMark, DueWhat, ExplainKind, ExplainSpan, InstanceWindow, Percent, ReattachStart,
    RecordHistory, RecordRef, SlaCancelCause, SlaCommand, SlaDecider, SlaDefinition, SlaEvent,
    SlaInstanceNo, SlaInstanceStatus, SlaKey, SlaMetric, SlaOutcome, SlaPin, SlaPolicy, SlaScope,
    SlaState, SlaStatus, ThresholdCrossing, WindowEnd, due_commands, explain, explain_in,
    sla_status, sla_status_in, what_if,
};
use opsledger_core::testing::{admin, given};
use opsledger_core::{
    ActorId, ChangeId, Context, Decider, DomainEvent, GroupId, Policy, Priority, RecordKind,
};
use std::sync::Arc;
use uuid::Uuid;

use Priority::{Critical, High, Moderate};
use SlaMetric::{Resolution, Response};

const CHANGE: ChangeId = ChangeId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0201));

fn span(
    from: &str,
    to: &str,
    kind: ExplainKind,
    counted: Duration,
    after: Duration,
) -> ExplainSpan {
    ExplainSpan {
        from: utc(from),
        to: utc(to),
        kind,
        business_time_counted: counted,
        business_time_paused: Duration::zero(),
        elapsed_after: after,
        over_target: false,
    }
}

fn running(from: &str, to: &str, after: Duration) -> ExplainSpan {
    let counted = utc(to) - utc(from);
    span(from, to, ExplainKind::Running, counted, after)
}

fn idle(from: &str, to: &str, kind: ExplainKind, after: Duration) -> ExplainSpan {
    span(from, to, kind, Duration::zero(), after)
}

fn over(mut s: ExplainSpan) -> ExplainSpan {
    s.over_target = true;
    s
}

fn paused_span(
    from: &str,
    to: &str,
    reason: HoldReason,
    paused: Duration,
    after: Duration,
) -> ExplainSpan {
    ExplainSpan {
        business_time_paused: paused,
        ..span(
            from,
            to,
            ExplainKind::Paused { reason },
            Duration::zero(),
            after,
        )
    }
}

fn crossing(percent: u8, at: &str) -> ThresholdCrossing {
    ThresholdCrossing {
        percent: Percent(percent),
        at: utc(at),
    }
}

fn due(what: DueWhat, at: &str) -> Option<DueMark> {
    Some(DueMark { at: utc(at), what })
}

fn threshold(percent: u8) -> DueWhat {
    DueWhat::Threshold {
        percent: Percent(percent),
    }
}

/// Checks the invariants every status/explanation pair keeps, then returns the spans.
fn explained(
    d: &SlaDefinition,
    cal: &BusinessCalendar,
    events: &[IncidentEvent],
    now: &str,
) -> (SlaStatus, Vec<ExplainSpan>) {
    let status = sla_status(d, cal, events, utc(now));
    let spans = explain(d, cal, events, utc(now));
    let counted: Duration = spans.iter().map(|s| s.business_time_counted).sum();
    assert_eq!(counted, status.elapsed, "running spans add up to elapsed");
    let paused: Duration = spans.iter().map(|s| s.business_time_paused).sum();
    assert_eq!(paused, status.paused, "paused spans add up to paused");
    (status, spans)
}

// ---------------------------------------------------------------------------------------------
// A pause across a night: London office hours 08:00-18:00 (GMT = UTC in January).
// ---------------------------------------------------------------------------------------------

fn night_history(reason: HoldReason) -> Vec<IncidentEvent> {
    vec![
        opened("2026-01-06T16:00:00Z", Moderate), // Tuesday
        acknowledged("2026-01-06T16:30:00Z"),
        on_hold("2026-01-06T17:00:00Z", reason),
        resumed("2026-01-07T10:00:00Z"), // Wednesday
        resolved("2026-01-07T14:30:00Z"),
    ]
}

#[test]
fn a_pause_across_a_night_counts_no_business_time() {
    let cal = london(1, &[]);
    let d = def("p3-res", 1, Resolution, h(8), &cal).with_thresholds([50, 75, 90]);
    let events = night_history(HoldReason::AwaitingCaller);

    // Tuesday 20:00, waiting for the caller: 16:00-17:00 ran (1 h); 17:00-18:00 would have
    // counted but was paused (1 h); the evening is outside hours anyway.
    let s = sla_status(&d, &cal, &events, utc("2026-01-06T20:00:00Z"));
    assert_eq!(
        s.state,
        SlaState::Paused {
            reason: HoldReason::AwaitingCaller,
            since: utc("2026-01-06T17:00:00Z")
        }
    );
    assert_eq!((s.elapsed, s.paused, s.remaining), (h(1), h(1), h(7)));
    assert_eq!(s.percent, 12); // 1/8 = 12.5 %
    assert_eq!(
        s.due_at, None,
        "no due instant while paused: it depends on the resume"
    );
    assert_eq!(s.next_due, None, "nothing falls due while paused");

    // Wednesday 12:00: resumed at 10:00, so 1 h (Tue) + 2 h (10:00-12:00) = 3 h. Paused:
    // Tue 17:00-18:00 + Wed 08:00-10:00 = 3 h. Remaining 5 h from 12:00 -> due 17:00, inside
    // office hours (GLPI #9082: a pause never pushes a deadline out of the schedule). The next
    // mark is 50 % = 4 h, one more hour: 13:00.
    let s = sla_status(&d, &cal, &events, utc("2026-01-07T12:00:00Z"));
    assert_eq!(
        s.state,
        SlaState::Running {
            since: utc("2026-01-07T10:00:00Z")
        }
    );
    assert_eq!((s.elapsed, s.paused, s.remaining), (h(3), h(3), h(5)));
    assert_eq!(s.percent, 37); // 3/8 = 37.5 %
    assert_eq!(s.due_at, Some(utc("2026-01-07T17:00:00Z")));
    assert_eq!(s.next_due, due(threshold(50), "2026-01-07T13:00:00Z"));
    assert!(s.thresholds_crossed.is_empty());

    // Wednesday 18:00: resolved at 14:30: 1 h + 4.5 h = 5.5 h of 8 h, met.
    let (s, spans) = explained(&d, &cal, &events, "2026-01-07T18:00:00Z");
    assert_eq!(
        s.state,
        SlaState::Stopped {
            since: utc("2026-01-07T14:30:00Z")
        }
    );
    assert_eq!((s.elapsed, s.paused), (h(5) + m(30), h(3)));
    assert_eq!(s.percent, 68); // 5.5/8 = 68.75 %
    assert_eq!(s.breached, None);
    assert_eq!(s.due_at, None);
    assert_eq!(s.outcome(), SlaOutcome::Met);
    assert_eq!(
        s.thresholds_crossed,
        vec![crossing(50, "2026-01-07T13:00:00Z")]
    );
    assert_eq!(
        spans,
        vec![
            running("2026-01-06T16:00:00Z", "2026-01-06T17:00:00Z", h(1)),
            paused_span(
                "2026-01-06T17:00:00Z",
                "2026-01-07T10:00:00Z",
                HoldReason::AwaitingCaller,
                h(3),
                h(1)
            ),
            running("2026-01-07T10:00:00Z", "2026-01-07T14:30:00Z", h(5) + m(30)),
            idle(
                "2026-01-07T14:30:00Z",
                "2026-01-07T18:00:00Z",
                ExplainKind::Stopped,
                h(5) + m(30)
            ),
        ]
    );
}

#[test]
fn a_hold_for_a_non_pausing_reason_keeps_the_clock_running_and_it_breaches() {
    let cal = london(1, &[]);
    let d = def("p3-res", 1, Resolution, h(8), &cal).with_thresholds([50, 75, 90]);
    // Waiting for our own change management does not stop our clock (default pause reasons
    // are awaiting caller and awaiting vendor).
    let events = night_history(HoldReason::AwaitingChange { change: CHANGE });
    // Tue 16:00-18:00 = 2 h, the night outside hours, Wed 08:00-14:30 = 6.5 h: 8.5 h.
    // 50 % (4 h) at Wed 10:00, 75 % (6 h) at 12:00, 90 % (7 h 12 min) at 13:12, 100 % at 14:00.
    let (s, spans) = explained(&d, &cal, &events, "2026-01-07T18:00:00Z");
    assert_eq!((s.elapsed, s.paused), (h(8) + m(30), Duration::zero()));
    assert_eq!(s.breached, Some(utc("2026-01-07T14:00:00Z")));
    assert_eq!(s.due_at, Some(utc("2026-01-07T14:00:00Z")));
    assert_eq!(s.remaining, -m(30));
    assert_eq!(s.over_target(), m(30));
    assert_eq!(s.percent, 106);
    assert_eq!(s.outcome(), SlaOutcome::Breached);
    assert_eq!(
        s.thresholds_crossed,
        vec![
            crossing(50, "2026-01-07T10:00:00Z"),
            crossing(75, "2026-01-07T12:00:00Z"),
            crossing(90, "2026-01-07T13:12:00Z"),
        ]
    );
    assert_eq!(
        spans,
        vec![
            running("2026-01-06T16:00:00Z", "2026-01-06T18:00:00Z", h(2)),
            idle(
                "2026-01-06T18:00:00Z",
                "2026-01-07T08:00:00Z",
                ExplainKind::OutsideHours,
                h(2)
            ),
            running("2026-01-07T08:00:00Z", "2026-01-07T14:00:00Z", h(8)),
            over(running(
                "2026-01-07T14:00:00Z",
                "2026-01-07T14:30:00Z",
                h(8) + m(30)
            )),
            over(idle(
                "2026-01-07T14:30:00Z",
                "2026-01-07T18:00:00Z",
                ExplainKind::Stopped,
                h(8) + m(30)
            )),
        ]
    );
}

#[test]
fn changing_the_hold_reason_to_a_non_pausing_one_ends_the_pause() {
    let cal = london(1, &[]);
    let d = def("p3-res", 1, Resolution, h(8), &cal);
    let events = vec![
        opened("2026-01-05T09:00:00Z", Moderate),
        acknowledged("2026-01-05T09:00:00Z"),
        on_hold("2026-01-05T10:00:00Z", HoldReason::AwaitingVendor),
        // Still on hold, now for a change of ours: the clock runs again from 11:00.
        on_hold(
            "2026-01-05T11:00:00Z",
            HoldReason::AwaitingChange { change: CHANGE },
        ),
    ];
    // 09:00-10:00 + 11:00-13:00 = 3 h; paused 10:00-11:00 = 1 h.
    let (s, spans) = explained(&d, &cal, &events, "2026-01-05T13:00:00Z");
    assert_eq!((s.elapsed, s.paused), (h(3), h(1)));
    assert_eq!(
        s.state,
        SlaState::Running {
            since: utc("2026-01-05T11:00:00Z")
        }
    );
    assert_eq!(spans.len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Daylight saving: America/New_York springs forward on Sunday 2026-03-08, 02:00 EST -> 03:00
// EDT (UTC-5 -> UTC-4).
// ---------------------------------------------------------------------------------------------

#[test]
fn office_hours_across_the_spring_forward_weekend() {
    let cal = new_york();
    let d = def("p2-res", 1, Resolution, h(4), &cal);
    // Friday 2026-03-06 16:00 EST = 21:00Z. Friday 16:00-18:00 EST = 2 h; Monday 08:00 EDT is
    // 12:00Z (not 13:00Z: the clocks moved), so the other 2 h end at 10:00 EDT = 14:00Z.
    let events = vec![opened("2026-03-06T21:00:00Z", High)];
    let s = sla_status(&d, &cal, &events, utc("2026-03-09T13:00:00Z")); // Mon 09:00 EDT
    assert_eq!((s.elapsed, s.remaining), (h(3), h(1)));
    assert_eq!(s.due_at, Some(utc("2026-03-09T14:00:00Z")));
    assert_eq!(s.next_due, due(DueWhat::Breach, "2026-03-09T14:00:00Z"));

    // The weekend between is 61 real hours (Fri 23:00Z to Mon 12:00Z), one less than the 62
    // its wall clock shows (Fri 18:00 to Mon 08:00).
    let (s, spans) = explained(&d, &cal, &events, "2026-03-09T14:30:00Z");
    assert_eq!(s.breached, Some(utc("2026-03-09T14:00:00Z")));
    assert_eq!(
        spans,
        vec![
            running("2026-03-06T21:00:00Z", "2026-03-06T23:00:00Z", h(2)),
            idle(
                "2026-03-06T23:00:00Z",
                "2026-03-09T12:00:00Z",
                ExplainKind::OutsideHours,
                h(2)
            ),
            running("2026-03-09T12:00:00Z", "2026-03-09T14:00:00Z", h(4)),
            over(running(
                "2026-03-09T14:00:00Z",
                "2026-03-09T14:30:00Z",
                h(4) + m(30)
            )),
        ]
    );
    assert_eq!(spans[1].to - spans[1].from, h(61));
}

#[test]
fn a_weekend_desk_counts_the_23_hour_sunday_as_23_hours() {
    let cal = new_york_weekend();
    let d = def("weekend-res", 1, Resolution, h(36), &cal).with_thresholds([50, 75, 90]);
    // Saturday 2026-03-07 12:00 EST = 17:00Z. Saturday 12:00-24:00 = 12 h (to Sun 05:00Z).
    // Sunday 00:00-24:00 local runs from 05:00Z to Monday 04:00Z: 23 real hours. 35 h by the
    // end of the weekend; the last hour is next Saturday 00:00-01:00 EDT = 04:00Z-05:00Z.
    // 50 % = 18 h: 6 h into Sunday = 11:00Z (07:00 EDT, after the jump).
    // 75 % = 27 h: 15 h into Sunday = 20:00Z. 90 % = 32 h 24 min: 20 h 24 min into Sunday =
    // Monday 01:24Z (Sunday 21:24 EDT).
    let events = vec![opened("2026-03-07T17:00:00Z", High)];
    let s = sla_status(&d, &cal, &events, utc("2026-03-09T12:00:00Z"));
    assert_eq!((s.elapsed, s.remaining), (h(35), h(1)));
    assert_eq!(s.percent, 97);
    assert_eq!(
        s.thresholds_crossed,
        vec![
            crossing(50, "2026-03-08T11:00:00Z"),
            crossing(75, "2026-03-08T20:00:00Z"),
            crossing(90, "2026-03-09T01:24:00Z"),
        ]
    );
    assert_eq!(s.due_at, Some(utc("2026-03-14T05:00:00Z")));
    assert_eq!(s.next_due, due(DueWhat::Breach, "2026-03-14T05:00:00Z"));
    assert_eq!(s.breached, None);
}

// ---------------------------------------------------------------------------------------------
// A holiday: London, Christmas 2026 (Friday 25th; Monday 28th is the substitute Boxing Day).
// ---------------------------------------------------------------------------------------------

#[test]
fn holidays_stop_business_time_and_the_explanation_says_so() {
    let cal = london(1, &["2026-12-25", "2026-12-28"]);
    let d = def("p3-res", 1, Resolution, h(8), &cal);
    // Thursday 24th 15:00-18:00 = 3 h; Friday holiday; weekend; Monday holiday; Tuesday 29th
    // from 08:00: 5 more hours reach 8 h at 13:00. At 14:00 the clock is 1 h over.
    let events = vec![opened("2026-12-24T15:00:00Z", Moderate)];
    let (s, spans) = explained(&d, &cal, &events, "2026-12-29T14:00:00Z");
    assert_eq!(s.elapsed, h(9));
    assert_eq!(s.breached, Some(utc("2026-12-29T13:00:00Z")));
    assert_eq!(s.remaining, -h(1));
    assert_eq!(s.percent, 112);
    assert_eq!(s.outcome(), SlaOutcome::Breached);
    assert_eq!(
        spans,
        vec![
            running("2026-12-24T15:00:00Z", "2026-12-24T18:00:00Z", h(3)),
            idle(
                "2026-12-24T18:00:00Z",
                "2026-12-25T00:00:00Z",
                ExplainKind::OutsideHours,
                h(3)
            ),
            idle(
                "2026-12-25T00:00:00Z",
                "2026-12-26T00:00:00Z",
                ExplainKind::Holiday,
                h(3)
            ),
            idle(
                "2026-12-26T00:00:00Z",
                "2026-12-28T00:00:00Z",
                ExplainKind::OutsideHours,
                h(3)
            ),
            idle(
                "2026-12-28T00:00:00Z",
                "2026-12-29T00:00:00Z",
                ExplainKind::Holiday,
                h(3)
            ),
            idle(
                "2026-12-29T00:00:00Z",
                "2026-12-29T08:00:00Z",
                ExplainKind::OutsideHours,
                h(3)
            ),
            running("2026-12-29T08:00:00Z", "2026-12-29T13:00:00Z", h(8)),
            over(running(
                "2026-12-29T13:00:00Z",
                "2026-12-29T14:00:00Z",
                h(9)
            )),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// A reopen: the resolution clock continues; the response clock does not.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_reopen_continues_the_resolution_clock_and_leaves_the_response_clock_stopped() {
    let cal = london(1, &[]);
    let resolution = def("p3-res", 1, Resolution, h(8), &cal);
    let response = def("p3-resp", 1, Response, h(1), &cal);
    let events = vec![
        opened("2026-01-05T09:00:00Z", Moderate), // Monday
        acknowledged("2026-01-05T09:20:00Z"),
        resolved("2026-01-05T12:00:00Z"),
        reopened("2026-01-06T09:00:00Z"), // Tuesday
        resolved("2026-01-06T11:00:00Z"),
    ];

    // Monday 15:00, resolved: 3 h counted, stopped.
    let s = sla_status(&resolution, &cal, &events, utc("2026-01-05T15:00:00Z"));
    assert_eq!(s.elapsed, h(3));
    assert_eq!(s.outcome(), SlaOutcome::Met);

    // Tuesday 10:00, reopened at 09:00: 3 h + 1 h = 4 h; 4 h left from 10:00 -> 14:00. The
    // time between resolution and reopen is neither running nor paused (GLPI #23359).
    let s = sla_status(&resolution, &cal, &events, utc("2026-01-06T10:00:00Z"));
    assert_eq!((s.elapsed, s.paused), (h(4), Duration::zero()));
    assert_eq!(
        s.state,
        SlaState::Running {
            since: utc("2026-01-06T09:00:00Z")
        }
    );
    assert_eq!(s.due_at, Some(utc("2026-01-06T14:00:00Z")));
    assert_eq!(s.outcome(), SlaOutcome::Pending);

    // Tuesday 17:00: 3 h + 2 h = 5 h, met.
    let (s, spans) = explained(&resolution, &cal, &events, "2026-01-06T17:00:00Z");
    assert_eq!(s.elapsed, h(5));
    assert_eq!(s.outcome(), SlaOutcome::Met);
    assert_eq!(
        spans,
        vec![
            running("2026-01-05T09:00:00Z", "2026-01-05T12:00:00Z", h(3)),
            idle(
                "2026-01-05T12:00:00Z",
                "2026-01-06T09:00:00Z",
                ExplainKind::Stopped,
                h(3)
            ),
            running("2026-01-06T09:00:00Z", "2026-01-06T11:00:00Z", h(5)),
            idle(
                "2026-01-06T11:00:00Z",
                "2026-01-06T17:00:00Z",
                ExplainKind::Stopped,
                h(5)
            ),
        ]
    );

    // The response clock stopped at the acknowledgement (20 min) and stays stopped.
    let s = sla_status(&response, &cal, &events, utc("2026-01-06T17:00:00Z"));
    assert_eq!(s.elapsed, m(20));
    assert_eq!(
        s.state,
        SlaState::Stopped {
            since: utc("2026-01-05T09:20:00Z")
        }
    );
    assert_eq!(s.outcome(), SlaOutcome::Met);
}

#[test]
fn the_response_clock_stops_at_a_person_not_at_a_group() {
    let cal = london(1, &[]);
    let response = def("p3-resp", 1, Response, h(1), &cal);
    let assign = |at: &str, assignee: Option<&str>| IncidentEvent::Assigned {
        id: INC,
        group: Some(GroupId::new("service-desk")),
        assignee: assignee.map(ActorId::new),
        previous_group: None,
        previous_assignee: None,
        at: utc(at),
        by: alice(),
    };
    let events = vec![
        opened("2026-01-05T09:00:00Z", Moderate),
        assign("2026-01-05T09:10:00Z", None),
        assign("2026-01-05T09:45:00Z", Some("bob")),
    ];
    let s = sla_status(&response, &cal, &events, utc("2026-01-05T12:00:00Z"));
    assert_eq!(s.elapsed, m(45));
    assert_eq!(s.outcome(), SlaOutcome::Met);
}

#[test]
fn a_canceled_record_cancels_its_clocks() {
    let cal = london(1, &[]);
    let d = def("p3-res", 1, Resolution, h(8), &cal);
    let events = vec![
        opened("2026-01-05T09:00:00Z", Moderate),
        canceled("2026-01-05T10:00:00Z"),
    ];
    let (s, spans) = explained(&d, &cal, &events, "2026-01-05T12:00:00Z");
    assert_eq!(
        s.state,
        SlaState::Canceled {
            cause: SlaCancelCause::Record,
            since: utc("2026-01-05T10:00:00Z")
        }
    );
    assert_eq!(s.elapsed, h(1));
    assert_eq!(s.outcome(), SlaOutcome::Canceled);
    assert_eq!(spans.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Reprioritisation with reattachment: P3 (16 business hours, London) -> P1 (4 hours, 24x7).
// ---------------------------------------------------------------------------------------------

fn p3_definition() -> SlaDefinition {
    SlaDefinition::new(
        SlaKey::new("p3-resolution", 1),
        "P3 resolution",
        SlaScope::all(RecordKind::Incident).with_priorities([Moderate]),
        Resolution,
        h(16),
        CalendarRef::exact("london-office", 1),
    )
    .with_thresholds([50, 75])
}

fn p1_definition(start: ReattachStart) -> SlaDefinition {
    SlaDefinition::new(
        SlaKey::new("p1-resolution", 1),
        "P1 resolution",
        SlaScope::all(RecordKind::Incident).with_priorities([Critical]),
        Resolution,
        h(4),
        CalendarRef::exact("24x7", 1),
    )
    .with_thresholds([50, 75, 90])
    .with_reattach_start(start)
    .escalating_to(BreachEscalation::Functional {
        to_group: GroupId::new("major-incident-team"),
    })
}

fn reprioritisation_policy(start: ReattachStart) -> Policy {
    let sla = SlaPolicy::new(
        vec![p3_definition(), p1_definition(start)],
        vec![london(1, &[]), BusinessCalendar::always()],
    );
    assert_eq!(sla.validate(), Ok(()));
    Policy {
        sla,
        ..Policy::default()
    }
}

fn pin(id: &str, calendar: &str) -> SlaPin {
    SlaPin {
        definition: SlaKey::new(id, 1),
        calendar: CalendarKey::new(calendar, 1),
    }
}

#[test]
fn a_reprioritisation_reattaches_explicitly_and_keeps_the_old_history() {
    let policy = reprioritisation_policy(ReattachStart::Reattachment);
    let record = vec![
        opened("2026-01-05T09:00:00Z", Moderate), // Monday
        acknowledged("2026-01-05T09:10:00Z"),
        reprioritized("2026-01-06T10:00:00Z", Moderate, Critical), // Tuesday
    ];
    let root = admin().id;

    // Monday 09:00: the clock starts; the engine attaches what applies to a P3.
    let pins = policy.sla.pins_for(RecordKind::Incident, Moderate, None);
    assert_eq!(pins, vec![pin("p3-resolution", "london-office")]);
    let p3 = AttachedInstance {
        number: SlaInstanceNo(1),
        pin: pins[0].clone(),
        name: "P3 resolution".into(),
        metric: Resolution,
        target: h(16),
        thresholds: vec![Percent(50), Percent(75)],
        on_breach: BreachAction::default(),
        start: ClockStart::Record,
    };
    let attached = SlaEvent::Attached {
        record: REC,
        instances: vec![p3],
        at: utc("2026-01-05T09:00:00Z"),
        by: root.clone(),
    };
    given::<SlaDecider>([])
        .with_policy(policy.clone())
        .at(utc("2026-01-05T09:00:00Z"))
        .when(SlaCommand::Attach { record: REC, pins })
        .then([attached.clone()]);

    // Tuesday 10:00: P3 -> P1. The applicable set changed, so the engine reattaches.
    let pins = policy.sla.pins_for(RecordKind::Incident, Critical, None);
    let p1 = AttachedInstance {
        number: SlaInstanceNo(2),
        pin: pin("p1-resolution", "24x7"),
        name: "P1 resolution".into(),
        metric: Resolution,
        target: h(4),
        thresholds: vec![Percent(50), Percent(75), Percent(90)],
        on_breach: BreachAction {
            escalation: Some(BreachEscalation::Functional {
                to_group: GroupId::new("major-incident-team"),
            }),
        },
        start: ClockStart::Reattachment {
            at: utc("2026-01-06T10:00:00Z"),
        },
    };
    let reattached = SlaEvent::Reattached {
        record: REC,
        replaced: vec![SlaInstanceNo(1)],
        instances: vec![p1],
        effective_at: utc("2026-01-06T10:00:00Z"),
        reason: "reprioritized P3 -> P1".into(),
        at: utc("2026-01-06T10:00:00Z"),
        by: root.clone(),
    };
    let state = given::<SlaDecider>([attached.clone()])
        .with_policy(policy.clone())
        .at(utc("2026-01-06T10:00:00Z"))
        .when(SlaCommand::Reattach {
            record: REC,
            pins,
            effective_at: utc("2026-01-06T10:00:00Z"),
            reason: "reprioritized P3 -> P1".into(),
        })
        .then([reattached.clone()])
        .expect("a record");

    // The old instance: replaced, pinned version unchanged. Its clock is frozen at 10:00:
    // Monday 09:00-18:00 (9 h) + Tuesday 08:00-10:00 (2 h) = 11 h; 50 % (8 h) was crossed on
    // Monday at 17:00, 75 % (12 h) never.
    let old = state.instance(SlaInstanceNo(1)).unwrap();
    assert_eq!(old.pin, pin("p3-resolution", "london-office"));
    assert_eq!(
        old.status,
        SlaInstanceStatus::Replaced {
            at: utc("2026-01-06T10:00:00Z"),
            by: vec![SlaInstanceNo(2)],
            reason: "reprioritized P3 -> P1".into(),
        }
    );
    let s = policy
        .sla
        .status_of(old, &record, utc("2026-01-06T10:05:00Z"))
        .unwrap();
    assert_eq!(
        s.state,
        SlaState::Canceled {
            cause: SlaCancelCause::Reattached,
            since: utc("2026-01-06T10:00:00Z")
        }
    );
    assert_eq!(s.elapsed, h(11));
    assert_eq!(
        s.thresholds_crossed,
        vec![crossing(50, "2026-01-05T17:00:00Z")]
    );
    assert_eq!(s.outcome(), SlaOutcome::Canceled);
    // Later the record's history moves on; the old clock does not.
    let later = policy
        .sla
        .status_of(old, &record, utc("2026-01-07T18:00:00Z"))
        .unwrap();
    assert_eq!(later.elapsed, h(11));

    // A tick that runs late still records the 50 % crossing, which happened before the
    // replacement; a breach "after" the replacement is refused.
    let tick = due_commands(&state, old, &s);
    assert_eq!(
        tick,
        vec![SlaCommand::RecordThreshold {
            record: REC,
            instance: SlaInstanceNo(1),
            percent: Percent(50),
            crossed_at: utc("2026-01-05T17:00:00Z"),
        }]
    );
    let history = vec![attached.clone(), reattached.clone()];
    given::<SlaDecider>(history.clone())
        .with_policy(policy.clone())
        .at(utc("2026-01-06T10:05:00Z"))
        .when(tick[0].clone())
        .then([SlaEvent::ThresholdCrossed {
            record: REC,
            instance: SlaInstanceNo(1),
            definition: SlaKey::new("p3-resolution", 1),
            percent: Percent(50),
            crossed_at: utc("2026-01-05T17:00:00Z"),
            at: utc("2026-01-06T10:05:00Z"),
            by: root.clone(),
        }]);
    given::<SlaDecider>(history.clone())
        .with_policy(policy.clone())
        .at(utc("2026-01-06T12:00:00Z"))
        .when(SlaCommand::RecordBreach {
            record: REC,
            instance: SlaInstanceNo(1),
            breached_at: utc("2026-01-06T11:00:00Z"),
        })
        .then_error_code("validation");

    // The new instance measures from the reattachment, 24x7: at 12:00, 2 h of 4; 50 % at
    // 12:00; 75 % (3 h) next, at 13:00; due 14:00.
    let new = state.instance(SlaInstanceNo(2)).unwrap();
    let s = policy
        .sla
        .status_of(new, &record, utc("2026-01-06T12:00:00Z"))
        .unwrap();
    assert_eq!(s.started_at, Some(utc("2026-01-06T10:00:00Z")));
    assert_eq!(s.elapsed, h(2));
    assert_eq!(
        s.thresholds_crossed,
        vec![crossing(50, "2026-01-06T12:00:00Z")]
    );
    assert_eq!(s.due_at, Some(utc("2026-01-06T14:00:00Z")));
    assert_eq!(s.next_due, due(threshold(75), "2026-01-06T13:00:00Z"));

    // At 14:05 the tick records 50, 75 (13:00), 90 (3 h 36 min: 13:36) and the breach at
    // 14:00, which carries the escalation for the process manager.
    let s = policy
        .sla
        .status_of(new, &record, utc("2026-01-06T14:05:00Z"))
        .unwrap();
    let tick = due_commands(&state, new, &s);
    assert_eq!(tick.len(), 4);
    let (events, _) = given::<SlaDecider>(history)
        .with_policy(policy.clone())
        .at(utc("2026-01-06T14:05:00Z"))
        .when(tick[3].clone())
        .then_ok();
    assert_eq!(
        events,
        vec![SlaEvent::Breached {
            record: REC,
            instance: SlaInstanceNo(2),
            definition: SlaKey::new("p1-resolution", 1),
            metric: Resolution,
            breached_at: utc("2026-01-06T14:00:00Z"),
            escalation: Some(BreachEscalation::Functional {
                to_group: GroupId::new("major-incident-team"),
            }),
            at: utc("2026-01-06T14:05:00Z"),
            by: root,
        }]
    );
}

#[test]
fn a_retroactive_reattachment_replays_the_records_pauses() {
    // GLPI #15605 / #6902: pause time lost when the SLA changes. A retroactive reattachment
    // computes the new clock from the record's whole history, pauses included.
    let policy = reprioritisation_policy(ReattachStart::RecordStart);
    let record = vec![
        opened("2026-01-05T09:00:00Z", Moderate),
        acknowledged("2026-01-05T09:10:00Z"),
        on_hold("2026-01-05T09:30:00Z", HoldReason::AwaitingCaller),
        resumed("2026-01-05T11:30:00Z"),
        reprioritized("2026-01-05T12:00:00Z", Moderate, Critical),
    ];
    let state = given::<SlaDecider>([])
        .with_policy(policy.clone())
        .at(utc("2026-01-05T09:00:00Z"))
        .when(SlaCommand::Attach {
            record: REC,
            pins: policy.sla.pins_for(RecordKind::Incident, Moderate, None),
        })
        .and()
        .at(utc("2026-01-05T12:00:00Z"))
        .when(SlaCommand::Reattach {
            record: REC,
            pins: policy.sla.pins_for(RecordKind::Incident, Critical, None),
            effective_at: utc("2026-01-05T12:00:00Z"),
            reason: "reprioritized P3 -> P1".into(),
        })
        .then_ok()
        .1
        .unwrap();
    let new = state.instance(SlaInstanceNo(2)).unwrap();
    assert_eq!(new.start, ClockStart::Record);
    // 24x7 from 09:00: ran 09:00-09:30, paused 09:30-11:30 (2 h), ran 11:30-12:30: 1.5 h by
    // 12:30; 2.5 h left -> due 15:00.
    let s = policy
        .sla
        .status_of(new, &record, utc("2026-01-05T12:30:00Z"))
        .unwrap();
    assert_eq!(s.started_at, Some(utc("2026-01-05T09:00:00Z")));
    assert_eq!((s.elapsed, s.paused), (h(1) + m(30), h(2)));
    assert_eq!(s.due_at, Some(utc("2026-01-05T15:00:00Z")));
}

// ---------------------------------------------------------------------------------------------
// A policy change after the clock started: the running record keeps what it pinned.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_policy_change_never_changes_a_running_records_pinned_versions() {
    let p2 = |version: u32, target: Duration| {
        SlaDefinition::new(
            SlaKey::new("p2-resolution", version),
            "P2 resolution",
            SlaScope::all(RecordKind::Incident).with_priorities([High]),
            Resolution,
            target,
            CalendarRef::newest("london-office"),
        )
    };
    let before = Policy {
        sla: SlaPolicy::new(vec![p2(1, h(16))], vec![london(1, &[])]),
        ..Policy::default()
    };
    // Monday 09:00: attached under the old policy: definition v1, calendar v1.
    let pins = before.sla.pins_for(RecordKind::Incident, High, None);
    assert_eq!(
        pins,
        vec![SlaPin {
            definition: SlaKey::new("p2-resolution", 1),
            calendar: CalendarKey::new("london-office", 1),
        }]
    );
    let state = given::<SlaDecider>([])
        .with_policy(before)
        .at(utc("2026-01-05T09:00:00Z"))
        .when(SlaCommand::Attach { record: REC, pins })
        .then_ok()
        .1
        .unwrap();

    // Monday evening the operator halves the target (v2) and publishes calendar v2 with
    // Tuesday 6 January off. Old versions stay in the policy.
    let after = Policy {
        sla: SlaPolicy::new(
            vec![p2(1, h(16)), p2(2, h(8))],
            vec![london(1, &[]), london(2, &["2026-01-06"])],
        ),
        ..Policy::default()
    };
    let new_pins = after.sla.pins_for(RecordKind::Incident, High, None);
    assert_eq!(
        new_pins,
        vec![SlaPin {
            definition: SlaKey::new("p2-resolution", 2),
            calendar: CalendarKey::new("london-office", 2),
        }],
        "new records get the new versions"
    );
    // A repeated attach under the new policy changes nothing, and no reattachment is due.
    let repeat = SlaDecider::decide(
        &Some(state.clone()),
        &SlaCommand::Attach {
            record: REC,
            pins: new_pins.clone(),
        },
        &Context::new(
            utc("2026-01-05T19:00:00Z"),
            admin(),
            Arc::new(after.clone()),
        ),
    );
    assert_eq!(repeat, Ok(vec![]));
    assert!(!state.needs_reattachment(&new_pins));

    // Tuesday 12:00, measured with what it pinned: 16 h target, Tuesday a working day:
    // Monday 9 h + Tuesday 08:00-12:00 4 h = 13 h; 3 h left -> due 15:00. (Under v2 and
    // calendar v2 it would have breached on Monday at 17:00.)
    let events = vec![opened("2026-01-05T09:00:00Z", High)];
    let s = after
        .sla
        .status_of(&state.instances[0], &events, utc("2026-01-06T12:00:00Z"))
        .unwrap();
    assert_eq!(s.definition, SlaKey::new("p2-resolution", 1));
    assert_eq!(s.calendar, CalendarKey::new("london-office", 1));
    assert_eq!((s.elapsed, s.remaining), (h(13), h(3)));
    assert_eq!(s.due_at, Some(utc("2026-01-06T15:00:00Z")));
    assert_eq!(s.breached, None);
}

// ---------------------------------------------------------------------------------------------
// Backdated impact start.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_backdated_impact_start_moves_the_start_only_where_the_definition_says_so() {
    let cal = london(1, &[]);
    let plain = def("p2-res", 1, Resolution, h(8), &cal);
    let from_impact = def("p2-res-impact", 1, Resolution, h(8), &cal).starting_at_impact();
    // Logged Monday 10:00; at 11:00 someone records that the impact began at 07:30, before
    // office hours.
    let events = vec![
        opened("2026-01-05T10:00:00Z", High),
        impact_started("2026-01-05T11:00:00Z", "2026-01-05T07:30:00Z"),
    ];

    // As of 10:30 the fact was not known yet: both clocks started at 10:00.
    for d in [&plain, &from_impact] {
        let s = sla_status(d, &cal, &events, utc("2026-01-05T10:30:00Z"));
        assert_eq!(s.started_at, Some(utc("2026-01-05T10:00:00Z")));
        assert_eq!(s.elapsed, m(30));
    }

    // As of 12:00: without start_at_impact the clock ignores the backdated fact: 2 h. With
    // it, the clock starts at 07:30 but business time only from 08:00: 4 h.
    let s = sla_status(&plain, &cal, &events, utc("2026-01-05T12:00:00Z"));
    assert_eq!(
        (s.started_at, s.elapsed),
        (Some(utc("2026-01-05T10:00:00Z")), h(2))
    );
    let (s, spans) = explained(&from_impact, &cal, &events, "2026-01-05T12:00:00Z");
    assert_eq!(
        (s.started_at, s.elapsed),
        (Some(utc("2026-01-05T07:30:00Z")), h(4))
    );
    assert_eq!(
        spans,
        vec![
            idle(
                "2026-01-05T07:30:00Z",
                "2026-01-05T08:00:00Z",
                ExplainKind::OutsideHours,
                Duration::zero()
            ),
            running("2026-01-05T08:00:00Z", "2026-01-05T12:00:00Z", h(4)),
        ]
    );

    // A correction at 11:30 (the impact began at 09:00) replaces the first fact: 3 h.
    let mut corrected = events.clone();
    corrected.push(impact_started(
        "2026-01-05T11:30:00Z",
        "2026-01-05T09:00:00Z",
    ));
    let s = sla_status(&from_impact, &cal, &corrected, utc("2026-01-05T12:00:00Z"));
    assert_eq!(
        (s.started_at, s.elapsed),
        (Some(utc("2026-01-05T09:00:00Z")), h(3))
    );
}

// ---------------------------------------------------------------------------------------------
// The tick: recording is idempotent however often it runs.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_tick_that_runs_again_records_nothing_twice() {
    let cal = BusinessCalendar::always();
    let d = SlaDefinition::new(
        SlaKey::new("p1-resolution", 1),
        "P1 resolution",
        SlaScope::all(RecordKind::Incident),
        Resolution,
        h(4),
        CalendarRef::exact("24x7", 1),
    )
    .with_thresholds([50, 75]);
    let policy = Policy {
        sla: SlaPolicy::new(vec![d], vec![cal]),
        ..Policy::default()
    };
    let record = vec![opened("2026-01-05T09:00:00Z", Critical)];
    let mut stream: Vec<SlaEvent> = given::<SlaDecider>([])
        .with_policy(policy.clone())
        .at(utc("2026-01-05T09:00:00Z"))
        .when(SlaCommand::Attach {
            record: REC,
            pins: policy.sla.pins_for(RecordKind::Incident, Critical, None),
        })
        .then_ok()
        .0;
    // Ticks at 11:30 (50 % at 11:00 is due), twice at 14:00 (75 % at 12:00, breach at 13:00),
    // and once more after a "restart" at 15:00.
    for now in [
        "2026-01-05T11:30:00Z",
        "2026-01-05T14:00:00Z",
        "2026-01-05T14:00:00Z",
        "2026-01-05T15:00:00Z",
    ] {
        let now = utc(now);
        let ctx = Context::new(now, admin(), Arc::new(policy.clone()));
        let state = SlaDecider::fold(&stream).unwrap();
        for inst in &state.instances {
            let status = policy.sla.status_of(inst, &record, now).unwrap();
            for cmd in due_commands(&state, inst, &status) {
                let current = SlaDecider::fold(&stream);
                let events = SlaDecider::decide(&current, &cmd, &ctx).unwrap();
                stream.extend(events);
            }
        }
    }
    let types: Vec<String> = stream
        .iter()
        .map(|e| match e {
            SlaEvent::ThresholdCrossed {
                percent,
                crossed_at,
                ..
            } => {
                format!("threshold {percent} at {crossed_at}")
            }
            SlaEvent::Breached { breached_at, .. } => format!("breach at {breached_at}"),
            other => other.event_type().to_owned(),
        })
        .collect();
    assert_eq!(
        types,
        vec![
            "sla.attached",
            "threshold 50% at 2026-01-05 11:00:00 UTC",
            "threshold 75% at 2026-01-05 12:00:00 UTC",
            "breach at 2026-01-05 13:00:00 UTC",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// What-if: a proposed policy halves the P1 target.
// ---------------------------------------------------------------------------------------------

#[test]
fn what_if_reports_how_compliance_would_change_per_record_and_in_total() {
    let always = BusinessCalendar::always();
    let p1 = |target: Duration| {
        SlaDefinition::new(
            SlaKey::new("p1-resolution", 1),
            "P1 resolution",
            SlaScope::all(RecordKind::Incident).with_priorities([Critical]),
            Resolution,
            target,
            CalendarRef::exact("24x7", 1),
        )
    };
    let current = SlaPolicy::new(
        vec![p1(h(4)), p3_definition()],
        vec![always.clone(), london(1, &[])],
    );
    let proposed = SlaPolicy::new(
        vec![p1(h(2)), p3_definition()],
        vec![always, london(1, &[])],
    );
    let a = [
        opened_as(INC, "2026-01-05T09:00:00Z", Critical),
        resolved_as(INC, "2026-01-05T10:30:00Z"),
    ];
    let b = [
        opened_as(INC2, "2026-01-05T09:00:00Z", Critical),
        resolved_as(INC2, "2026-01-05T12:00:00Z"),
    ];
    let c = [
        opened_as(INC3, "2026-01-05T09:00:00Z", Critical),
        resolved_as(INC3, "2026-01-05T14:00:00Z"),
    ];
    // Opened as P3 at 09:00, raised to P1 at 10:00 (reattached, retroactive: measured from
    // 09:00), resolved 11:30: 2.5 h -> met under 4 h, breached under 2 h (at 11:00).
    let d = [
        opened_as(INC4, "2026-01-05T09:00:00Z", Moderate),
        reprioritized_as(INC4, "2026-01-05T10:00:00Z", Moderate, Critical),
        resolved_as(INC4, "2026-01-05T11:30:00Z"),
    ];
    let histories = [
        RecordHistory {
            record: REC,
            events: &a[..],
        },
        RecordHistory {
            record: RecordRef::Incident(INC2),
            events: &b[..],
        },
        RecordHistory {
            record: RecordRef::Incident(INC3),
            events: &c[..],
        },
        RecordHistory {
            record: RecordRef::Incident(INC4),
            events: &d[..],
        },
    ];
    let report = what_if(&histories, &current, &proposed, utc("2026-01-05T18:00:00Z"));
    // A: 1.5 h, met under both. B: 3 h, met -> breached. C: 5 h, breached under both.
    // D: the P3 clock is replaced at 10:00 (canceled, excluded), the P1 clock 2.5 h.
    assert_eq!(
        (
            report.current.all.met,
            report.current.all.breached,
            report.current.all.canceled
        ),
        (3, 1, 1)
    );
    assert_eq!(
        (
            report.proposed.all.met,
            report.proposed.all.breached,
            report.proposed.all.canceled
        ),
        (1, 3, 1)
    );
    assert_eq!(report.current.resolution.compliance_percent(), Some(75.0));
    assert_eq!(report.proposed.resolution.compliance_percent(), Some(25.0));
    assert_eq!(report.records_changed, 2);
    assert_eq!(report.breaches_added, 2);
    assert_eq!(report.breaches_avoided, 0);
    let changed: Vec<_> = report
        .records
        .iter()
        .filter(|r| !r.changes.is_empty())
        .map(|r| (r.record, r.changes[0].current, r.changes[0].proposed))
        .collect();
    assert_eq!(
        changed,
        vec![
            (
                RecordRef::Incident(INC2),
                Some(SlaOutcome::Met),
                Some(SlaOutcome::Breached)
            ),
            (
                RecordRef::Incident(INC4),
                Some(SlaOutcome::Met),
                Some(SlaOutcome::Breached)
            ),
        ]
    );
    let d_proposed = &report.records[3].proposed;
    assert_eq!(d_proposed.len(), 2);
    assert_eq!(d_proposed[0].outcome, SlaOutcome::Canceled);
    assert_eq!(d_proposed[1].breached, Some(utc("2026-01-05T11:00:00Z")));
}

// ---------------------------------------------------------------------------------------------
// Instance windows.
// ---------------------------------------------------------------------------------------------

#[test]
fn an_instance_whose_window_closed_before_its_clock_started_measured_nothing() {
    // Found by the property tests: a reattachment that starts measuring at 10:00 but was
    // itself replaced at 09:30 has an empty window.
    let cal = BusinessCalendar::always();
    let d = def("p1-res", 1, Resolution, h(4), &cal);
    let events = vec![opened("2026-01-05T09:00:00Z", Critical)];
    let window = InstanceWindow {
        not_before: Some(utc("2026-01-05T10:00:00Z")),
        ended: Some(WindowEnd {
            at: utc("2026-01-05T09:30:00Z"),
            cause: SlaCancelCause::Reattached,
        }),
    };
    let now = utc("2026-01-05T12:00:00Z");
    let s = sla_status_in(&d, &cal, &events, &window, now);
    assert_eq!(s.started_at, None);
    assert_eq!(s.elapsed, Duration::zero());
    assert_eq!(
        s.state,
        SlaState::Canceled {
            cause: SlaCancelCause::Reattached,
            since: utc("2026-01-05T09:30:00Z")
        }
    );
    assert!(explain_in(&d, &cal, &events, &window, now).is_empty());

    // A window that closes after the start keeps what ran until then, and a clock that had
    // already stopped keeps its outcome.
    let window = InstanceWindow {
        not_before: None,
        ended: Some(WindowEnd {
            at: utc("2026-01-05T11:00:00Z"),
            cause: SlaCancelCause::Explicit,
        }),
    };
    let s = sla_status_in(&d, &cal, &events, &window, now);
    assert_eq!(s.elapsed, h(2));
    assert_eq!(s.outcome(), SlaOutcome::Canceled);
    let resolved_first = vec![
        opened("2026-01-05T09:00:00Z", Critical),
        resolved("2026-01-05T10:00:00Z"),
    ];
    let s = sla_status_in(&d, &cal, &resolved_first, &window, now);
    assert_eq!((s.elapsed, s.outcome()), (h(1), SlaOutcome::Met));
}
