//! Incidents on hold awaiting a problem are never orphaned: a duplicate's waiting incidents
//! move to the original problem (and are resolved by its fix), and a problem that will not
//! fix them (resolved without a fix, canceled, closed, a duplicate of a problem no longer open)
//! returns them to work with a note saying why.

use crate::support::*;
use opsledger::core::incident::{HoldReason, IncidentCommand, IncidentStatus};
use opsledger::core::problem::ProblemCommand;
use opsledger::core::{IncidentId, ProblemId};
use opsledger::{Engine, FollowUpResult, RecordRef};
use proptest::prelude::*;

fn wait_for(engine: &Engine, incident: IncidentId, problem: ProblemId) {
    exec(engine, &agent(), assign(incident, "service-desk", "alice"));
    exec(
        engine,
        &agent(),
        IncidentCommand::PutOnHold {
            id: incident,
            reason: HoldReason::AwaitingProblem { problem },
        },
    );
}

fn status(engine: &Engine, incident: IncidentId) -> IncidentStatus {
    engine
        .view(None)
        .unwrap()
        .incident(incident)
        .unwrap()
        .expect("exists")
        .status
}

/// The text of the incident's latest work note.
fn last_note(engine: &Engine, incident: IncidentId) -> String {
    engine
        .view(None)
        .unwrap()
        .timeline(RecordRef::incident(incident))
        .unwrap()
        .into_iter()
        .rev()
        .find(|e| e.event_type == "incident.work_note_added")
        .and_then(|e| e.why)
        .unwrap_or_default()
}

#[test]
fn a_duplicates_waiting_incidents_move_to_the_original_and_its_fix_resolves_them() {
    let (engine, _clock) = memory_engine();
    let pm = problem_manager();
    exec(&engine, &pm, create_problem(prb(1), "original"));
    exec(&engine, &pm, create_problem(prb(2), "duplicate"));
    exec(
        &engine,
        &agent(),
        open_incident(inc(1), "waits for the duplicate"),
    );
    wait_for(&engine, inc(1), prb(2));
    // When the problem it waits for is marked a duplicate,
    let outcome = exec(
        &engine,
        &pm,
        ProblemCommand::MarkDuplicate {
            id: prb(2),
            of: prb(1),
        },
    );
    assert!(
        outcome.follow_ups.iter().any(|f| f.process == "hold_move"
            && matches!(&f.result, FollowUpResult::Applied { events } if !events.is_empty())),
        "{:#?}",
        outcome.follow_ups
    );
    // then the incident waits for the original (an event says so),
    assert_eq!(
        status(&engine, inc(1)),
        IncidentStatus::OnHold {
            reason: HoldReason::AwaitingProblem { problem: prb(1) }
        }
    );
    let view = engine.view(None).unwrap();
    assert_eq!(view.incidents_awaiting(prb(1)).unwrap(), vec![inc(1)]);
    assert!(view.incidents_awaiting(prb(2)).unwrap().is_empty());
    // and the original's fix resolves it.
    problem_to_fix(&engine, prb(1));
    exec(
        &engine,
        &pm,
        ProblemCommand::ResolveFixed {
            id: prb(1),
            notes: "Pool raised".into(),
        },
    );
    assert!(matches!(
        status(&engine, inc(1)),
        IncidentStatus::Resolved { .. }
    ));
}

#[test]
fn a_canceled_problems_waiting_incidents_go_back_to_work_with_a_note() {
    let (engine, _clock) = memory_engine();
    let pm = problem_manager();
    exec(&engine, &pm, create_problem(prb(1), "not a problem"));
    exec(&engine, &agent(), open_incident(inc(1), "waits"));
    wait_for(&engine, inc(1), prb(1));
    exec(
        &engine,
        &pm,
        ProblemCommand::Cancel {
            id: prb(1),
            reason: "a misconfigured monitor, not a defect".into(),
        },
    );
    assert_eq!(status(&engine, inc(1)), IncidentStatus::InProgress);
    let note = last_note(&engine, inc(1));
    assert_eq!(
        note,
        "PRB0000001 was canceled: a misconfigured monitor, not a defect; work resumes here"
    );
    assert!(
        engine
            .view(None)
            .unwrap()
            .incidents_awaiting(prb(1))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_problem_resolved_without_a_fix_returns_its_waiting_incidents_to_work() {
    let (engine, _clock) = memory_engine();
    let pm = problem_manager();
    exec(&engine, &pm, create_problem(prb(1), "accepted risk"));
    problem_to_fix(&engine, prb(1));
    exec(&engine, &agent(), open_incident(inc(1), "waits"));
    wait_for(&engine, inc(1), prb(1));
    exec(
        &engine,
        &pm,
        ProblemCommand::AcceptRisk {
            id: prb(1),
            reason: "Too costly to fix before the migration".into(),
        },
    );
    assert_eq!(status(&engine, inc(1)), IncidentStatus::InProgress);
    assert!(last_note(&engine, inc(1)).contains("resolved without a fix (risk accepted)"));
}

#[test]
fn a_duplicate_of_a_problem_no_longer_open_releases_its_waiting_incidents() {
    let (engine, _clock) = memory_engine();
    let pm = problem_manager();
    exec(&engine, &pm, create_problem(prb(1), "original, canceled"));
    exec(&engine, &pm, create_problem(prb(2), "duplicate"));
    exec(
        &engine,
        &pm,
        ProblemCommand::Cancel {
            id: prb(1),
            reason: "out of scope".into(),
        },
    );
    exec(&engine, &agent(), open_incident(inc(1), "waits"));
    wait_for(&engine, inc(1), prb(2));
    let marked = try_exec(
        &engine,
        &pm,
        ProblemCommand::MarkDuplicate {
            id: prb(2),
            of: prb(1),
        },
    );
    if marked.is_ok() {
        assert_eq!(status(&engine, inc(1)), IncidentStatus::InProgress);
        assert!(last_note(&engine, inc(1)).contains("no longer open"));
    } else {
        // The core refuses a duplicate of a closed problem: the incident keeps waiting for
        // an open problem.
        assert_eq!(
            status(&engine, inc(1)),
            IncidentStatus::OnHold {
                reason: HoldReason::AwaitingProblem { problem: prb(2) }
            }
        );
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// An incident (index) starts waiting for a problem (index).
    Wait(u32, u32),
    /// A problem is marked a duplicate of another.
    Duplicate(u32, u32),
    Cancel(u32),
    ResolveFix(u32),
    ResolveRisk(u32),
    Close(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u32..5, 1u32..4).prop_map(|(i, p)| Op::Wait(i, p)),
        2 => (1u32..4, 1u32..4).prop_map(|(a, b)| Op::Duplicate(a, b)),
        1 => (1u32..4).prop_map(Op::Cancel),
        1 => (1u32..4).prop_map(Op::ResolveFix),
        1 => (1u32..4).prop_map(Op::ResolveRisk),
        1 => (1u32..4).prop_map(Op::Close),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 100, .. ProptestConfig::default() })]

    /// Whatever happens to the problems, no incident is left on hold awaiting a problem that
    /// is resolved, closed, canceled or a duplicate.
    #[test]
    fn no_incident_waits_for_a_problem_that_will_not_fix_it(ops in proptest::collection::vec(op(), 1..16)) {
        let (engine, _clock) = memory_engine();
        let pm = problem_manager();
        for p in 1..4 {
            exec(&engine, &pm, create_problem(prb(p), "problem"));
            problem_to_fix(&engine, prb(p));
        }
        for i in 1..5 {
            exec(&engine, &agent(), open_incident(inc(i), "incident"));
            exec(&engine, &agent(), assign(inc(i), "service-desk", "alice"));
        }
        for op in ops {
            // Refusals (an incident already resolved, a problem already closed...) are part of
            // the game: the invariant must hold whatever was accepted.
            let _ = match op {
                Op::Wait(i, p) => try_exec(&engine, &agent(), IncidentCommand::PutOnHold {
                    id: inc(i),
                    reason: HoldReason::AwaitingProblem { problem: prb(p) },
                }),
                Op::Duplicate(a, b) => try_exec(&engine, &pm, ProblemCommand::MarkDuplicate { id: prb(a), of: prb(b) }),
                Op::Cancel(p) => try_exec(&engine, &pm, ProblemCommand::Cancel { id: prb(p), reason: "no".into() }),
                Op::ResolveFix(p) => try_exec(&engine, &pm, ProblemCommand::ResolveFixed { id: prb(p), notes: "fixed".into() }),
                Op::ResolveRisk(p) => try_exec(&engine, &pm, ProblemCommand::AcceptRisk { id: prb(p), reason: "accepted".into() }),
                Op::Close(p) => try_exec(&engine, &pm, ProblemCommand::Close { id: prb(p) }),
            };
            let view = engine.view(None).unwrap();
            for i in 1..5 {
                let state = view.incident(inc(i)).unwrap().unwrap();
                if let IncidentStatus::OnHold { reason: HoldReason::AwaitingProblem { problem } } = state.status {
                    let awaited = view.record(RecordRef::problem(problem)).unwrap().unwrap();
                    prop_assert!(awaited.open, "{} waits for {} which is {:?}", inc(i), problem, awaited.status);
                }
            }
        }
    }
}

#[test]
fn a_hold_on_a_problem_that_is_no_longer_open_is_released_at_once() {
    let (engine, _clock) = memory_engine();
    let pm = problem_manager();
    exec(&engine, &pm, create_problem(prb(1), "already canceled"));
    exec(
        &engine,
        &pm,
        ProblemCommand::Cancel {
            id: prb(1),
            reason: "not reproducible".into(),
        },
    );
    exec(&engine, &agent(), open_incident(inc(1), "waits"));
    wait_for(&engine, inc(1), prb(1));
    assert_eq!(status(&engine, inc(1)), IncidentStatus::InProgress);
    assert_eq!(
        last_note(&engine, inc(1)),
        "PRB0000001 is closed, so nothing will release this hold; work resumes here"
    );
}
