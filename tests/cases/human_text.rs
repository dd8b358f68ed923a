//! Text for people reads like something a support lead would paste into a post-incident
//! review: refused commands' messages, follow-ups' skip reasons and timelines' "what" lines use
//! Display forms and human numbers, never Rust internals (`Some(..)`, struct dumps, paths with
//! `::`) or the UUID of a record that has a number.

use super::rebuild::{commands, op, sla_config};
use crate::support::*;
use opsledger::core::change::ChangeCommand;
use opsledger::core::incident::IncidentCommand;
use opsledger::{Engine, FollowUpResult, RecordRef};
use proptest::prelude::*;

/// What text for people must not contain, or `None` when `text` reads well.
fn internals(text: &str, numbered: &[String]) -> Option<String> {
    for token in ["Some(", "None", "{ ", "::", "\"}", "[\""] {
        if text.contains(token) {
            return Some(format!("`{token}` in {text:?}"));
        }
    }
    numbered
        .iter()
        .find(|id| text.contains(id.as_str()))
        .map(|id| format!("the id {id} of a numbered record in {text:?}"))
}

/// The ids of every record that has a human number.
fn numbered_ids(engine: &Engine) -> Vec<String> {
    let view = engine.view(None).unwrap();
    let mut ids = Vec::new();
    for i in 1..=6 {
        for record in [
            RecordRef::incident(inc(i)),
            RecordRef::problem(prb(i)),
            RecordRef::change(chg(i)),
        ] {
            if view.number_of(record).unwrap().is_some() {
                ids.push(record.id.to_string());
            }
        }
    }
    ids
}

/// Every "what" line of every record's timeline.
fn timeline_lines(engine: &Engine) -> Vec<String> {
    let view = engine.view(None).unwrap();
    let mut out = Vec::new();
    for i in 1..=6 {
        for record in [
            RecordRef::incident(inc(i)),
            RecordRef::problem(prb(i)),
            RecordRef::change(chg(i)),
        ] {
            if view.record(record).unwrap().is_some() {
                out.extend(view.timeline(record).unwrap().into_iter().map(|e| e.what));
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 200, .. ProptestConfig::default() })]

    /// Random work on incidents, problems and changes (with SLA clocks): every refusal, skipped
    /// follow-up and timeline line reads as text for people.
    #[test]
    fn refusals_follow_ups_and_timelines_read_as_text_for_people(
        ops in prop::collection::vec(op(), 1..80)
    ) {
        let clock = clock();
        let engine = Engine::in_memory(sla_config(&clock)).unwrap();
        // Each text is checked against the records numbered when it was written: a refusal
        // may name a record that exists only later.
        let check = |engine: &Engine, texts: Vec<String>| -> Result<(), TestCaseError> {
            let numbered = numbered_ids(engine);
            for text in &texts {
                if let Some(problem) = internals(text, &numbered) {
                    return Err(TestCaseError::fail(problem));
                }
            }
            Ok(())
        };
        for op in &ops {
            if let super::rebuild::Op::Tick(m) = op {
                clock.advance(chrono::Duration::minutes(i64::from(*m)));
                engine.tick(clock.now_at()).unwrap();
                continue;
            }
            for (actor, command) in commands(&engine, op) {
                let mut texts = Vec::new();
                match try_exec(&engine, &actor, command) {
                    Ok(outcome) => {
                        for f in outcome.follow_ups {
                            if let FollowUpResult::Skipped { message, .. } = f.result {
                                texts.push(message);
                            }
                        }
                    }
                    Err(e) => texts.push(e.to_string()),
                }
                check(&engine, texts)?;
            }
        }
        check(&engine, timeline_lines(&engine))?;
    }
}

/// The refusals the field reported with Rust internals in them, and refusals that name other
/// records, read as text for people.
#[test]
fn refusals_that_name_records_and_windows_read_as_text_for_people() {
    let (engine, _clock) = memory_engine();
    let a = agent();
    exec(&engine, &a, open_incident(inc(1), "Checkout slow"));
    exec(&engine, &a, assign(inc(1), "dba", "alice"));
    exec(
        &engine,
        &problem_manager(),
        create_problem(prb(1), "Pool exhaustion"),
    );
    exec(&engine, &a, await_problem(inc(1), prb(1)));
    exec(
        &engine,
        &a,
        IncidentCommand::LinkProblem {
            id: inc(1),
            problem: prb(1),
        },
    );
    change_to_scheduled(&engine, chg(1), "db-orders-01", window(60, 120));
    let mut refusals = Vec::new();
    let mut refuse = |actor, command: opsledger::Command| {
        let e = try_exec(&engine, &actor, command).unwrap_err();
        refusals.push(e.to_string());
    };
    // Linking a problem twice names it.
    refuse(
        a.clone(),
        IncidentCommand::LinkProblem {
            id: inc(1),
            problem: prb(1),
        }
        .into(),
    );
    // Implementation before the approved window names the window.
    refuse(
        change_manager(),
        ChangeCommand::StartImplementation { id: chg(1) }.into(),
    );
    // A problem's fix for an incident that waits for another, and a requester working an
    // incident.
    refuse(
        a.clone(),
        IncidentCommand::ResolveFromProblem {
            id: inc(1),
            problem: prb(2),
            notes: "x".into(),
        }
        .into(),
    );
    refuse(requester(), assign(inc(1), "ops", "bob").into());
    let numbered = numbered_ids(&engine);
    assert!(refusals[0].contains("PRB0000001"), "{}", refusals[0]);
    assert!(refusals[1].contains("UTC"), "{}", refusals[1]);
    for text in &refusals {
        assert_eq!(internals(text, &numbered), None);
    }
}
