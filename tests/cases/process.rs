//! Process managers end to end: follow-ups, their metadata, cascades, and idempotence under
//! replay.

use crate::support::*;
use opsledger::core::change::ChangeCommand;
use opsledger::core::incident::{
    IncidentCommand, IncidentStatusKind, MajorStatusKind, ResolutionSource,
};
use opsledger::core::problem::{FixOutcome, ProblemCommand, ProblemStatusKind};
use opsledger::{Command, CommandEnvelope, FollowUpResult, RecordRef, Uuid};

fn family(engine: &opsledger::Engine) {
    let a = agent();
    for i in 1..=3 {
        exec(engine, &a, open_incident(inc(i), &format!("incident {i}")));
    }
    for child in [2, 3] {
        exec(
            engine,
            &a,
            IncidentCommand::LinkChild {
                id: inc(1),
                child: inc(child),
            },
        );
    }
    exec(engine, &a, assign(inc(1), "ops", "alice"));
}

#[test]
fn parent_resolution_and_reopen_cascade_to_children() {
    let (engine, clock) = memory_engine();
    family(&engine);
    let view = engine.view(None).unwrap();
    assert_eq!(
        view.incident(inc(2)).unwrap().unwrap().parent,
        Some(inc(1)),
        "mirrored link"
    );

    clock.advance(chrono::Duration::minutes(10));
    let correlation = Uuid::from_u128(42);
    let o = engine
        .execute(
            CommandEnvelope::new(agent(), resolve(inc(1), "Restarted the gateway"))
                .correlation_id(correlation),
        )
        .unwrap();
    assert_eq!(o.follow_ups.len(), 2);
    let cause = o.events[0].event_id;
    for f in &o.follow_ups {
        assert_eq!(f.process, "parent_resolution");
        assert_eq!(f.cause, cause);
        let FollowUpResult::Applied { events } = &f.result else {
            panic!("{f:?}");
        };
        assert_eq!(events[0].causation_id, Some(cause));
        assert_eq!(events[0].correlation_id, Some(correlation));
        assert_eq!(events[0].actor, "opsledger:parent_resolution");
    }
    for child in [2, 3] {
        let c = engine
            .view(None)
            .unwrap()
            .incident(inc(child))
            .unwrap()
            .unwrap();
        assert_eq!(c.status.kind(), IncidentStatusKind::Resolved);
        let r = c.resolution.unwrap();
        assert_eq!(r.notes, "Restarted the gateway");
        assert_eq!(r.source, ResolutionSource::Parent { parent: inc(1) });
    }
    // The timeline says what caused the child's resolution.
    let tl = engine
        .view(None)
        .unwrap()
        .timeline(RecordRef::incident(inc(2)))
        .unwrap();
    let last = tl.last().unwrap();
    assert_eq!(last.event_type, "incident.resolved");
    assert_eq!(
        last.caused_by.as_ref().unwrap().to_string(),
        "INC0000001 incident.resolved"
    );
    let parent_tl = engine
        .view(None)
        .unwrap()
        .timeline(RecordRef::incident(inc(1)))
        .unwrap();
    assert_eq!(parent_tl.last().unwrap().caused.len(), 2);

    // Reopening the parent reopens the children.
    let o = exec(
        &engine,
        &agent(),
        IncidentCommand::Reopen {
            id: inc(1),
            reason: "Still failing".into(),
        },
    );
    assert_eq!(o.follow_ups.len(), 2);
    for child in [2, 3] {
        let c = engine
            .view(None)
            .unwrap()
            .incident(inc(child))
            .unwrap()
            .unwrap();
        // The children were resolved by their parent before anyone acknowledged them, so the
        // reopen returns them to New (nobody owns them yet), not to InProgress.
        assert_eq!(c.status.kind(), IncidentStatusKind::New);
        assert_eq!(c.reopen_count, 1);
    }
    // Children never close with the parent.
    exec(&engine, &agent(), resolve(inc(1), "Fixed for real"));
    exec(&engine, &agent(), close(inc(1)));
    let c = engine
        .view(None)
        .unwrap()
        .incident(inc(2))
        .unwrap()
        .unwrap();
    assert_eq!(c.status.kind(), IncidentStatusKind::Resolved);
}

#[test]
fn a_closed_child_is_skipped_not_failed() {
    let (engine, _clock) = memory_engine();
    family(&engine);
    exec(&engine, &agent(), assign(inc(3), "ops", "bob"));
    exec(&engine, &agent(), resolve(inc(3), "Own fix"));
    exec(&engine, &agent(), close(inc(3)));
    let o = exec(&engine, &agent(), resolve(inc(1), "Parent fix"));
    // Only the open child is targeted: the closed one is not open any more.
    assert_eq!(o.follow_ups.len(), 1);
    assert_eq!(o.follow_ups[0].record, RecordRef::incident(inc(2)));
}

#[test]
fn successful_fixing_change_resolves_problem_and_waiting_incidents() {
    let (engine, clock) = memory_engine();
    let a = agent();
    exec(&engine, &a, open_incident(inc(1), "Checkout slow"));
    exec(&engine, &a, open_incident(inc(2), "Checkout slow again"));
    exec(&engine, &a, open_incident(inc(3), "Unrelated"));
    for i in 1..=3 {
        exec(&engine, &a, assign(inc(i), "dba", "alice"));
    }
    exec(
        &engine,
        &problem_manager(),
        create_problem(prb(1), "Pool exhaustion"),
    );
    exec(&engine, &a, await_problem(inc(1), prb(1)));
    exec(&engine, &a, await_problem(inc(2), prb(1)));
    // Linking from the problem side is mirrored on the incident.
    exec(
        &engine,
        &problem_manager(),
        ProblemCommand::LinkIncident {
            id: prb(1),
            incident: inc(1),
        },
    );
    assert!(
        engine
            .view(None)
            .unwrap()
            .incident(inc(1))
            .unwrap()
            .unwrap()
            .problems
            .contains(&prb(1))
    );
    problem_to_fix(&engine, prb(1));
    change_to_scheduled(&engine, chg(1), "db-orders-01", window(60, 120));
    exec(
        &engine,
        &change_manager(),
        ChangeCommand::LinkFixesProblem {
            id: chg(1),
            problem: prb(1),
        },
    );
    let p = engine.view(None).unwrap().problem(prb(1)).unwrap().unwrap();
    assert_eq!(p.fixing_changes.get(&chg(1)), Some(&FixOutcome::Pending));

    clock.set(t(70));
    exec(
        &engine,
        &change_manager(),
        ChangeCommand::StartImplementation { id: chg(1) },
    );
    exec(
        &engine,
        &change_manager(),
        ChangeCommand::CompleteImplementation { id: chg(1) },
    );
    let o = exec(
        &engine,
        &change_manager(),
        ChangeCommand::Close {
            id: chg(1),
            code: opsledger::core::change::CloseCode::Successful,
            notes: "Pool raised to 200".into(),
        },
    );
    let processes: Vec<&str> = o.follow_ups.iter().map(|f| f.process.as_str()).collect();
    assert_eq!(
        processes,
        ["fix_change_outcome", "problem_fix", "problem_fix"],
        "{:?}",
        o.follow_ups
    );
    let view = engine.view(None).unwrap();
    assert_eq!(
        view.problem(prb(1)).unwrap().unwrap().status.kind(),
        ProblemStatusKind::Resolved
    );
    for i in [1, 2] {
        let incident = view.incident(inc(i)).unwrap().unwrap();
        assert_eq!(
            incident.status.kind(),
            IncidentStatusKind::Resolved,
            "incident {i}"
        );
        assert_eq!(
            incident.resolution.unwrap().source,
            ResolutionSource::Problem { problem: prb(1) }
        );
    }
    assert_eq!(
        view.incident(inc(3)).unwrap().unwrap().status.kind(),
        IncidentStatusKind::InProgress
    );
    assert!(view.incidents_awaiting(prb(1)).unwrap().is_empty());
}

#[test]
fn unsuccessful_fixing_change_leaves_the_problem_in_fix() {
    let (engine, clock) = memory_engine();
    exec(
        &engine,
        &problem_manager(),
        create_problem(prb(1), "Pool exhaustion"),
    );
    problem_to_fix(&engine, prb(1));
    change_to_scheduled(&engine, chg(1), "db-orders-01", window(60, 120));
    exec(
        &engine,
        &problem_manager(),
        ProblemCommand::LinkFixingChange {
            id: prb(1),
            change: chg(1),
        },
    );
    clock.set(t(70));
    change_implement_and_close(&engine, chg(1), false);
    let p = engine.view(None).unwrap().problem(prb(1)).unwrap().unwrap();
    assert_eq!(p.status.kind(), ProblemStatusKind::FixInProgress);
    assert_eq!(
        p.fixing_changes.get(&chg(1)),
        Some(&FixOutcome::Unsuccessful)
    );
}

#[test]
fn a_canceled_fixing_change_is_no_longer_waited_for_and_notes_name_changes_by_number() {
    let (engine, clock) = memory_engine();
    let a = agent();
    exec(&engine, &a, open_incident(inc(1), "Checkout slow"));
    exec(&engine, &a, assign(inc(1), "dba", "alice"));
    exec(
        &engine,
        &problem_manager(),
        create_problem(prb(1), "Pool exhaustion"),
    );
    exec(&engine, &a, await_problem(inc(1), prb(1)));
    problem_to_fix(&engine, prb(1));
    change_to_scheduled(&engine, chg(1), "db-orders-01", window(60, 120));
    change_to_scheduled(&engine, chg(2), "db-orders-02", window(60, 120));
    for c in [chg(1), chg(2)] {
        exec(
            &engine,
            &problem_manager(),
            ProblemCommand::LinkFixingChange {
                id: prb(1),
                change: c,
            },
        );
    }
    // The name a fix outcome carries into the notes is a change number and nothing else.
    let head = engine.head().unwrap();
    let refused = try_exec(
        &engine,
        &problem_manager(),
        ProblemCommand::RecordFixChangeOutcome {
            id: prb(1),
            change: chg(1),
            successful: true,
            change_name: Some("see https://example.com/phish".into()),
        },
    )
    .unwrap_err();
    assert_eq!(refused.code(), "validation", "{refused}");
    assert_eq!(engine.head().unwrap(), head);
    clock.set(t(70));
    // The first fix succeeds while the second is still pending: the problem keeps waiting.
    change_implement_and_close(&engine, chg(1), true);
    let p = engine.view(None).unwrap().problem(prb(1)).unwrap().unwrap();
    assert_eq!(p.status.kind(), ProblemStatusKind::FixInProgress);
    // Canceling the second one is recorded on the problem, which then has its fix.
    let o = exec(
        &engine,
        &change_manager(),
        ChangeCommand::Cancel {
            id: chg(2),
            reason: "Not needed after the first fix".into(),
        },
    );
    let processes: Vec<&str> = o.follow_ups.iter().map(|f| f.process.as_str()).collect();
    assert_eq!(
        processes,
        ["fix_change_outcome", "problem_fix"],
        "{:?}",
        o.follow_ups
    );
    let view = engine.view(None).unwrap();
    let p = view.problem(prb(1)).unwrap().unwrap();
    assert_eq!(p.status.kind(), ProblemStatusKind::Resolved);
    assert_eq!(p.fixing_changes.get(&chg(2)), Some(&FixOutcome::Canceled));
    let number = view
        .number_of(RecordRef::change(chg(2)))
        .unwrap()
        .unwrap()
        .to_string();
    let incident = view.incident(inc(1)).unwrap().unwrap();
    let notes = incident.resolution.unwrap().notes;
    assert!(notes.contains(&number), "{notes}");
    assert!(!notes.contains(&chg(2).to_string()), "{notes}");
    // The timeline's generated text names records by number too.
    let entries = view.timeline(RecordRef::problem(prb(1))).unwrap();
    let whats: Vec<&str> = entries.iter().map(|e| e.what.as_str()).collect();
    assert!(
        whats.contains(&format!("fixing change {number} closed: canceled").as_str()),
        "{whats:?}"
    );
    for what in whats {
        assert!(!what.contains(&chg(1).to_string()), "{what}");
        assert!(!what.contains(&chg(2).to_string()), "{what}");
        assert!(!what.contains(&inc(1).to_string()), "{what}");
    }
}

#[test]
fn rerunning_process_managers_applies_nothing_twice() {
    let (engine, clock) = memory_engine();
    family(&engine);
    clock.advance(chrono::Duration::minutes(1));
    exec(&engine, &agent(), resolve(inc(1), "done"));
    exec(
        &engine,
        &agent(),
        IncidentCommand::Reopen {
            id: inc(1),
            reason: "not done".into(),
        },
    );
    let head = engine.head().unwrap();
    let dump = engine.view(None).unwrap().dump().unwrap();
    let rerun = engine.rerun_process_managers(1, head).unwrap();
    assert_eq!(engine.head().unwrap(), head, "a re-run writes nothing");
    assert_eq!(engine.view(None).unwrap().dump().unwrap(), dump);
    // Reactions are guarded on their cause: the parent was reopened since its resolution, so
    // the old resolution's cascade is stale and asks for nothing; the children are open, so
    // the reopen's cascade has nothing to do either. Nothing is redone.
    assert!(rerun.is_empty(), "{rerun:#?}");
}

#[test]
fn alerts_open_one_incident_per_dedup_key_until_it_is_resolved() {
    let (engine, clock) = memory_engine();
    let m = monitor();
    let first = exec(&engine, &m, alert("disk-full:db1", None));
    assert_eq!(first.events[0].event_type, "incident.opened");
    for _ in 0..5 {
        clock.advance(chrono::Duration::seconds(30));
        let o = exec(&engine, &m, alert("disk-full:db1", None));
        assert_eq!(o.record, first.record);
        assert_eq!(o.events[0].event_type, "incident.alert_correlated");
    }
    let other = exec(&engine, &m, alert("cpu:web1", None));
    assert_ne!(other.record, first.record);
    let view = engine.view(None).unwrap();
    let alerts = view.open_alerts().unwrap();
    assert_eq!(alerts.len(), 2);
    let disk = alerts
        .iter()
        .find(|a| a.dedup_key == "disk-full:db1")
        .unwrap();
    assert_eq!(disk.alert_count, 6);
    let id = opsledger::core::IncidentId(first.record.id);
    exec(&engine, &agent(), assign(id, "dba", "alice"));
    exec(&engine, &agent(), resolve(id, "Cleaned up the disk"));
    let again = exec(&engine, &m, alert("disk-full:db1", None));
    assert_ne!(
        again.record, first.record,
        "a resolved incident takes no repeats"
    );
    assert_eq!(again.number.unwrap().to_string(), "INC0000003");
}

#[test]
fn an_accepted_major_incident_needs_its_review_before_closing() {
    let (engine, _clock) = memory_engine();
    let a = agent();
    exec(&engine, &a, open_incident(inc(1), "Datacenter outage"));
    exec(&engine, &a, assign(inc(1), "ops", "alice"));
    exec(
        &engine,
        &a,
        IncidentCommand::ProposeMajor {
            id: inc(1),
            reason: "All stores down".into(),
        },
    );
    exec(
        &engine,
        &manager(),
        IncidentCommand::AcceptMajor { id: inc(1) },
    );
    exec(&engine, &a, resolve(inc(1), "Power restored"));
    let err = try_exec(&engine, &a, close(inc(1))).unwrap_err();
    assert_eq!(err.code(), "review_required");
    // Only the engine's timers (the System role) auto-close, and never a major incident.
    let timer = opsledger::Actor::new("timer", [opsledger::Role::System]);
    let err = try_exec(&engine, &timer, IncidentCommand::AutoClose { id: inc(1) }).unwrap_err();
    assert_eq!(err.code(), "major_incident_no_auto_close");
    exec(
        &engine,
        &manager(),
        IncidentCommand::PublishReview {
            id: inc(1),
            summary: "UPS failed during maintenance".into(),
            findings: String::new(),
            action_items: vec!["Test UPS monthly".into()],
        },
    );
    exec(&engine, &a, close(inc(1)));
    let view = engine
        .view(None)
        .unwrap()
        .record(RecordRef::incident(inc(1)))
        .unwrap()
        .unwrap();
    let d = view.incident().unwrap();
    assert_eq!(d.major, MajorStatusKind::Accepted);
    assert_eq!(d.review_revision, Some(1));
    assert!(!view.open);
}

#[test]
fn follow_ups_are_reported_for_commands_that_cause_none() {
    let (engine, _clock) = memory_engine();
    let o = exec(&engine, &agent(), open_incident(inc(1), "x"));
    assert!(o.follow_ups.is_empty());
    assert!(!o.follow_ups_truncated);
    // A command the process managers do not react to reports no follow-ups either.
    let o = engine
        .execute(CommandEnvelope::new(
            agent(),
            Command::Incident(note(inc(1), "hello")),
        ))
        .unwrap();
    assert!(o.follow_ups.is_empty());
}

#[test]
fn a_long_timeline_names_every_effect_of_every_event() {
    // More causes than one effects lookup asks about at a time: 20 resolutions and 20 reopens
    // of a parent, each with a follow-up on both children.
    let (engine, clock) = memory_engine();
    let mut commands = vec![
        open_incident(inc(1), "parent"),
        open_incident(inc(2), "child 2"),
        open_incident(inc(3), "child 3"),
    ];
    for child in [2, 3] {
        commands.push(IncidentCommand::LinkChild {
            id: inc(1),
            child: inc(child),
        });
    }
    commands.push(assign(inc(1), "ops", "alice"));
    for round in 0..20 {
        commands.push(resolve(inc(1), &format!("Fix {round}")));
        commands.push(IncidentCommand::Reopen {
            id: inc(1),
            reason: format!("Back {round}"),
        });
    }
    let mut expected: std::collections::HashMap<Uuid, Vec<Uuid>> = Default::default();
    for command in commands {
        clock.advance(chrono::Duration::minutes(5));
        {
            let o = exec(&engine, &agent(), command);
            let cause = o.events[0].event_id;
            for f in &o.follow_ups {
                let FollowUpResult::Applied { events } = &f.result else {
                    panic!("{f:?}");
                };
                let effects = expected.entry(cause).or_default();
                effects.extend(events.iter().map(|e| e.event_id));
            }
        }
    }
    let timeline = engine
        .view(None)
        .unwrap()
        .timeline(RecordRef::incident(inc(1)))
        .unwrap();
    assert!(timeline.len() > 40, "{} entries", timeline.len());
    let mut with_effects = 0;
    for entry in &timeline {
        let mut caused: Vec<Uuid> = entry.caused.iter().map(|c| c.event_id).collect();
        let mut want = expected.get(&entry.event_id).cloned().unwrap_or_default();
        caused.sort();
        want.sort();
        assert_eq!(caused, want, "effects of {}", entry.event_type);
        let positions: Vec<u64> = entry.caused.iter().map(|c| c.position).collect();
        assert!(positions.is_sorted(), "in log order: {positions:?}");
        with_effects += usize::from(!entry.caused.is_empty());
    }
    // Both links (mirrored on the child) and the 40 resolutions and reopens.
    assert_eq!(with_effects, 42);
}
