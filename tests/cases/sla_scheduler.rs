//! The background scheduler, what-if at the engine, and SLA clocks on problems.

use crate::support::*;
use chrono::Duration;
use opsledger::core::calendar::BusinessCalendar;
use opsledger::core::sla::{
    CalendarRef, SlaDefinition, SlaKey, SlaMetric, SlaOutcome, SlaPolicy, SlaScope,
};
use opsledger::core::window::TimeWindow;
use opsledger::core::{Policy, RecordKind};
use opsledger::{Clock, Engine, ManualClock, RecordRef};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

/// A 24x7 response SLA of `response_minutes` (threshold 50 %) for incidents, and a 2-hour
/// resolution SLA for problems.
fn sla(response_minutes: i64) -> SlaPolicy {
    let cal = || CalendarRef::exact("24x7", 1);
    SlaPolicy::new(
        vec![
            SlaDefinition::new(
                SlaKey::new("response", 1),
                "Response",
                SlaScope::all(RecordKind::Incident),
                SlaMetric::Response,
                Duration::minutes(response_minutes),
                cal(),
            )
            .with_thresholds([50]),
            SlaDefinition::new(
                SlaKey::new("problem-resolution", 1),
                "Problem resolution",
                SlaScope::all(RecordKind::Problem),
                SlaMetric::Resolution,
                Duration::hours(2),
                cal(),
            ),
        ],
        vec![BusinessCalendar::always()],
    )
}

fn engine() -> (Engine, Arc<ManualClock>) {
    let clock = clock();
    let policy = Policy {
        sla: sla(30),
        ..Policy::default()
    };
    let engine = Engine::in_memory(config(&clock, 1).with_policy(policy)).unwrap();
    (engine, clock)
}

/// Waits (up to 10 s) until `done` holds.
fn wait_for(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + StdDuration::from_secs(10);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(StdDuration::from_millis(5));
    }
    done()
}

#[test]
fn scheduler_records_the_breach_once() {
    let (engine, clock) = engine();
    let rec = RecordRef::incident(inc(1));
    exec(&engine, &agent(), open_incident(inc(1), "Checkout slow"));
    let handle = engine.start_scheduler(StdDuration::from_millis(5));
    assert!(handle.is_running());
    // Nothing due yet: ticks run, record nothing.
    assert!(wait_for(|| handle.stats().ticks >= 2));
    assert_eq!(handle.stats().breaches_recorded, 0);

    clock.advance(Duration::minutes(31));
    assert!(wait_for(|| handle.stats().breaches_recorded >= 1));
    // Many more ticks: still one breach, one threshold.
    let ticks = handle.stats().ticks;
    assert!(wait_for(|| handle.stats().ticks >= ticks + 5));
    let stats = handle.stop();
    assert_eq!(stats.breaches_recorded, 1, "{stats:?}");
    assert_eq!(stats.thresholds_recorded, 1, "{stats:?}");
    assert_eq!(stats.errors, 0);
    assert_eq!(stats.failed_ticks, 0);
    let status = engine.view(None).unwrap().sla(rec).unwrap();
    assert_eq!(status[0].breached, Some(t(30)));
    // A manual tick afterwards finds nothing left to record.
    let r = engine.tick(clock.now()).unwrap();
    assert_eq!((r.breaches_recorded, r.thresholds_recorded), (0, 0));
}

#[test]
fn scheduler_stops_on_drop_and_when_the_engine_is_gone() {
    let (engine, _clock) = engine();
    let handle = engine.start_scheduler_with(StdDuration::from_secs(3600), |e| {
        panic!("no error expected: {e:?}")
    });
    assert!(wait_for(|| handle.stats().ticks >= 1));
    // A long interval: drop must wake the thread, not wait an hour.
    let started = Instant::now();
    drop(handle);
    assert!(started.elapsed() < StdDuration::from_secs(5));

    let handle = engine.start_scheduler(StdDuration::from_millis(5));
    assert!(wait_for(|| handle.stats().ticks >= 1));
    drop(engine);
    assert!(wait_for(|| !handle.is_running()), "ends with the engine");
    assert!(handle.errors().is_empty());
    let _ = handle.stop();
}

#[test]
fn what_if_compares_policies_and_writes_nothing() {
    let (engine, clock) = engine();
    exec(&engine, &agent(), open_incident(inc(1), "Checkout slow"));
    clock.set(t(20));
    exec(&engine, &agent(), assign(inc(1), "web", "bob"));
    clock.set(t(60));
    exec(
        &engine,
        &agent(),
        open_incident(inc(2), "Outside the window"),
    );
    clock.set(t(120));

    let view = engine.view(None).unwrap();
    let head = view.position();
    let window = TimeWindow::new(t(-1), t(30));
    // Same policy: no difference; response met in 20 of 30 minutes.
    let same = view.sla_what_if(&window, &sla(30)).unwrap();
    assert_eq!(same.records.len(), 1);
    assert_eq!(same.records[0].record.uuid(), inc(1).0);
    assert_eq!(same.current, same.proposed);
    assert_eq!(same.current.response.met, 1);
    assert_eq!(same.records_changed, 0);

    // A stricter 10-minute target: the met response becomes a breach at t+10.
    let strict = view.sla_what_if(&window, &sla(10)).unwrap();
    assert_eq!(strict.current.response.met, 1);
    assert_eq!(strict.proposed.response.breached, 1);
    assert_eq!(strict.proposed.response.met, 0);
    assert_eq!((strict.breaches_added, strict.breaches_avoided), (1, 0));
    assert_eq!(strict.records_changed, 1);
    let change = strict.records[0].changes[0];
    assert_eq!(change.metric, SlaMetric::Response);
    assert_eq!(change.current, Some(SlaOutcome::Met));
    assert_eq!(change.proposed, Some(SlaOutcome::Breached));
    assert_eq!(strict.records[0].proposed[0].breached, Some(t(10)));

    // Nothing written: the log head and the live clocks are unchanged.
    drop(view);
    let view = engine.view(None).unwrap();
    assert_eq!(view.position(), head);
    let live = view.sla(RecordRef::incident(inc(1))).unwrap();
    assert_eq!(live[0].breached, None);

    // As of before the assignment: the response is still pending under both.
    let past = engine.view(Some(t(5))).unwrap();
    let early = past.sla_what_if(&window, &sla(10)).unwrap();
    assert_eq!(early.current.response.pending, 1);
    assert_eq!(early.proposed.response.pending, 1);
}

#[test]
fn problems_get_sla_clocks_and_breach_on_tick() {
    let (engine, clock) = engine();
    let rec = RecordRef::problem(prb(1));
    let o = exec(
        &engine,
        &problem_manager(),
        create_problem(prb(1), "Orders DB slow"),
    );
    assert!(o.follow_ups.iter().any(|f| f.process == "sla_attach"));
    let clocks = engine.view(None).unwrap().sla(rec).unwrap();
    assert_eq!(clocks.len(), 1);
    assert_eq!(clocks[0].definition.id.to_string(), "problem-resolution");

    clock.set(t(119));
    assert_eq!(engine.tick(clock.now()).unwrap().breaches_recorded, 0);
    clock.set(t(121));
    let r = engine.tick(clock.now()).unwrap();
    assert_eq!(r.breaches_recorded, 1, "{r:?}");
    assert_eq!(engine.tick(clock.now()).unwrap().breaches_recorded, 0);
    let clocks = engine.view(None).unwrap().sla(rec).unwrap();
    assert_eq!(clocks[0].breached, Some(t(120)));

    // What-if covers problems created in the window too.
    let view = engine.view(None).unwrap();
    let report = view
        .sla_what_if(&TimeWindow::new(t(-1), t(1)), &sla(30))
        .unwrap();
    assert_eq!(report.records.len(), 1);
    assert_eq!(report.current.resolution.breached, 1);
}

#[test]
fn reprioritising_a_problem_reattaches_its_clocks() {
    use opsledger::core::problem::ProblemCommand;
    use opsledger::core::{Impact, Priority, Urgency};
    let cal = || CalendarRef::exact("24x7", 1);
    // Given a standard 8-hour and an urgent 1-hour resolution SLA for problems,
    let policy = Policy {
        sla: SlaPolicy::new(
            vec![
                SlaDefinition::new(
                    SlaKey::new("problem-standard", 1),
                    "Problem resolution",
                    SlaScope::all(RecordKind::Problem).with_priorities([
                        Priority::High,
                        Priority::Moderate,
                        Priority::Low,
                        Priority::Planning,
                    ]),
                    SlaMetric::Resolution,
                    Duration::hours(8),
                    cal(),
                ),
                SlaDefinition::new(
                    SlaKey::new("problem-urgent", 1),
                    "Urgent problem resolution",
                    SlaScope::all(RecordKind::Problem).with_priorities([Priority::Critical]),
                    SlaMetric::Resolution,
                    Duration::hours(1),
                    cal(),
                ),
            ],
            vec![BusinessCalendar::always()],
        ),
        ..Policy::default()
    };
    let clock = clock();
    let engine = Engine::in_memory(config(&clock, 1).with_policy(policy)).unwrap();
    let rec = RecordRef::problem(prb(1));
    exec(
        &engine,
        &problem_manager(),
        create_problem(prb(1), "Orders DB slow"),
    );
    let ids = |e: &Engine| -> Vec<(String, bool)> {
        e.view(None)
            .unwrap()
            .sla_explain(rec)
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c.instance.definition().id.to_string(),
                    c.instance.is_active(),
                )
            })
            .collect()
    };
    assert_eq!(ids(&engine), [("problem-standard".to_owned(), true)]);

    // when it is reprioritised to critical 20 minutes later,
    clock.advance(Duration::minutes(20));
    let o = exec(
        &engine,
        &problem_manager(),
        ProblemCommand::Reprioritize {
            id: prb(1),
            impact: Impact::High,
            urgency: Urgency::High,
            reason: "every checkout fails".into(),
        },
    );
    // then the urgent clock replaces the standard one, as a recorded reattachment,
    assert!(
        o.follow_ups.iter().any(|f| f.process == "sla_attach"),
        "{o:?}"
    );
    assert_eq!(
        ids(&engine),
        [
            ("problem-standard".to_owned(), false),
            ("problem-urgent".to_owned(), true)
        ]
    );
    // and it breaches an hour after the problem's creation (a reattached clock measures from
    // the record's start unless its definition says `reattachment`).
    clock.set(t(59));
    assert_eq!(engine.tick(clock.now()).unwrap().breaches_recorded, 0);
    clock.set(t(61));
    assert_eq!(engine.tick(clock.now()).unwrap().breaches_recorded, 1);
    let clocks = engine.view(None).unwrap().sla(rec).unwrap();
    assert_eq!(clocks[1].breached, Some(t(60)));
    // As of before the reprioritisation: the standard clock alone.
    assert_eq!(engine.view(Some(t(10))).unwrap().sla(rec).unwrap().len(), 1);
}
