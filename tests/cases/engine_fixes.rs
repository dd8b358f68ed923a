//! Regression tests of the engine facade's fixes: concurrent idempotent retries, follow-up ids
//! of reactions sharing a target, invalid queue input, idempotency key scoping.

use crate::support::*;
use opsledger::core::change::{ChangeCommand, ScheduledChange};
use opsledger::core::problem::ProblemCommand;
use opsledger::{CommandEnvelope, EngineError, FollowUpResult, Outcome, QueueFilter};
use std::sync::{Arc, Barrier};

/// Runs `envelope` from `n` threads at once.
fn race(engine: &opsledger::Engine, envelope: &CommandEnvelope, n: usize) -> Vec<Outcome> {
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (engine, envelope, barrier) = (engine.clone(), envelope.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                engine.execute(envelope)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| match h.join().unwrap() {
            Ok(o) => o,
            Err(e) => panic!("a retry with the same key failed: {e} ({})", e.code()),
        })
        .collect()
}

fn assert_one_write(outcomes: &[Outcome]) {
    assert_eq!(outcomes.iter().filter(|o| !o.replayed).count(), 1);
    let first = &outcomes[0];
    for o in outcomes {
        assert_eq!(o.record, first.record);
        assert_eq!(o.number, first.number);
        assert_eq!(o.version, first.version);
        assert_eq!(o.events, first.events);
    }
}

#[test]
fn concurrent_retries_with_one_key_all_get_the_same_outcome() {
    for round in 0..30u32 {
        let (engine, _clock) = memory_engine();
        let id = inc(round + 1);
        let open = CommandEnvelope::new(agent(), open_incident(id, "Payment API 502"))
            .idempotency_key(format!("open-{round}"));
        let outcomes = race(&engine, &open, 16);
        assert_one_write(&outcomes);
        assert_eq!(
            engine
                .view(None)
                .unwrap()
                .number_of(outcomes[0].record)
                .unwrap(),
            outcomes[0].number
        );

        exec(&engine, &agent(), assign(id, "web-oncall", "alice"));
        let resolve = CommandEnvelope::new(agent(), resolve(id, "rolled back"))
            .idempotency_key(format!("resolve-{round}"));
        let outcomes = race(&engine, &resolve, 16);
        assert_one_write(&outcomes);
    }
}

#[test]
fn duplicate_problem_applies_every_follow_up() {
    let (engine, _clock) = memory_engine();
    let pm = problem_manager();
    exec(&engine, &agent(), open_incident(inc(1), "one"));
    exec(&engine, &agent(), open_incident(inc(2), "two"));
    exec(&engine, &pm, create_problem(prb(1), "original"));
    exec(&engine, &pm, create_problem(prb(2), "duplicate"));
    for i in [inc(1), inc(2)] {
        exec(
            &engine,
            &pm,
            ProblemCommand::LinkIncident {
                id: prb(2),
                incident: i,
            },
        );
    }
    let chm = change_manager();
    for c in [chg(1), chg(2)] {
        exec(&engine, &chm, request_change(c, "fix", "db-orders-01"));
        exec(
            &engine,
            &pm,
            ProblemCommand::LinkFixingChange {
                id: prb(2),
                change: c,
            },
        );
    }
    let outcome = exec(
        &engine,
        &pm,
        ProblemCommand::MarkDuplicate {
            id: prb(2),
            of: prb(1),
        },
    );
    let applied = outcome
        .follow_ups
        .iter()
        .filter(|f| f.process == "duplicate_problem")
        .filter(|f| matches!(&f.result, FollowUpResult::Applied { events } if !events.is_empty()))
        .count();
    assert_eq!(applied, 4, "{:#?}", outcome.follow_ups);
    let original = engine.view(None).unwrap().problem(prb(1)).unwrap().unwrap();
    assert!(original.incidents.contains(&inc(1)));
    assert!(original.incidents.contains(&inc(2)));
    assert!(original.fixing_changes.contains_key(&chg(1)));
    assert!(original.fixing_changes.contains_key(&chg(2)));
    // A re-run finds them all applied and applies nothing again.
    let head = engine.head().unwrap();
    engine.rerun_process_managers(1, head).unwrap();
    assert_eq!(engine.head().unwrap(), head);
}

#[test]
fn huge_min_age_is_invalid_input_not_a_panic() {
    let (engine, _clock) = memory_engine();
    exec(&engine, &agent(), open_incident(inc(1), "old"));
    let view = engine.view(None).unwrap();
    for age in [i64::MAX, i64::MIN] {
        let mut filter = QueueFilter::incidents();
        filter.min_age_secs = Some(age);
        match view.queue(&filter) {
            Err(EngineError::InvalidInput { field, .. }) => assert_eq!(field, "min_age_secs"),
            other => panic!("expected invalid input, got {other:?}"),
        }
    }
}

#[test]
fn idempotency_keys_are_scoped_per_actor() {
    let (engine, _clock) = memory_engine();
    let first = engine
        .execute(CommandEnvelope::new(agent(), open_incident(inc(1), "a")).idempotency_key("k"))
        .unwrap();
    let second = engine
        .execute(CommandEnvelope::new(agent2(), open_incident(inc(2), "b")).idempotency_key("k"))
        .unwrap();
    assert!(!first.replayed && !second.replayed);
    assert_ne!(first.record, second.record);
    // Each actor's own retry still replays.
    let again = engine
        .execute(CommandEnvelope::new(agent2(), open_incident(inc(2), "b")).idempotency_key("k"))
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.record, second.record);
}

#[test]
fn the_engine_replaced_calendar_is_not_part_of_the_fingerprint() {
    let (engine, _clock) = memory_engine();
    let chm = change_manager();
    exec(
        &engine,
        &chm,
        request_change(chg(1), "pool", "db-orders-01"),
    );
    let first = engine
        .execute(
            CommandEnvelope::new(chm.clone(), plan(chg(1), window(60, 120)))
                .idempotency_key("plan-1"),
        )
        .unwrap();
    let mut retry = plan(chg(1), window(60, 120));
    if let ChangeCommand::Plan { calendar, .. } = &mut retry {
        calendar.push(ScheduledChange {
            id: chg(9),
            window: window(0, 10),
            cis: ["other".into()].into_iter().collect(),
            assignee: None,
        });
    }
    let again = engine
        .execute(CommandEnvelope::new(chm, retry).idempotency_key("plan-1"))
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.events, first.events);
}
