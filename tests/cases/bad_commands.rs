//! Bad commands change nothing: the log head stays, the read models stay, the error is typed.

use crate::support::*;
use opsledger::core::change::ChangeCommand;
use opsledger::core::incident::{IncidentCommand, IncidentStatusKind};
use opsledger::core::problem::ProblemCommand;
use opsledger::core::{Actor, Role};
use opsledger::{Command, CommandEnvelope, Engine, EngineError};

fn assert_unchanged(engine: &Engine, command: impl Into<Command>, actor: &Actor, code: &str) {
    let head = engine.head().unwrap();
    let dump = engine.view(None).unwrap().dump().unwrap();
    let err = engine
        .execute(CommandEnvelope::new(actor.clone(), command.into()))
        .unwrap_err();
    assert_eq!(err.code(), code, "{err}");
    assert_eq!(engine.head().unwrap(), head, "the log did not move ({err})");
    assert_eq!(
        engine.view(None).unwrap().dump().unwrap(),
        dump,
        "no read-model change ({err})"
    );
}

#[test]
fn refused_commands_leave_log_and_read_models_untouched() {
    let (engine, clock) = memory_engine();
    exec(&engine, &agent(), open_incident(inc(1), "x"));
    exec(&engine, &agent(), open_incident(inc(2), "y"));
    exec(&engine, &agent(), assign(inc(2), "ops", "alice"));

    // Invalid transition, forbidden, validation, unknown record, already exists.
    assert_unchanged(&engine, close(inc(1)), &agent(), "invalid_transition");
    assert_unchanged(
        &engine,
        assign(inc(1), "ops", "bob"),
        &requester(),
        "forbidden",
    );
    assert_unchanged(&engine, resolve(inc(2), "   "), &agent(), "validation");
    assert_unchanged(&engine, note(inc(99), "ghost"), &agent(), "not_found");
    assert_unchanged(
        &engine,
        open_incident(inc(1), "again"),
        &agent(),
        "already_exists",
    );
    assert_unchanged(
        &engine,
        IncidentCommand::LinkParent {
            id: inc(1),
            parent: inc(1),
        },
        &agent(),
        "validation",
    );
    assert_unchanged(
        &engine,
        create_problem(prb(1), "p"),
        &requester(),
        "forbidden",
    );
    assert_unchanged(
        &engine,
        ProblemCommand::Assess { id: prb(1) },
        &problem_manager(),
        "not_found",
    );

    // Numbers stay dense: the refused creations took none.
    let o = exec(&engine, &agent(), open_incident(inc(3), "z"));
    assert_eq!(o.number.unwrap().to_string(), "INC0000003");

    // A change scheduled against a booked one on the same CI: a schedule conflict, found from
    // the engine's own calendar (the caller passes none).
    change_to_scheduled(&engine, chg(1), "db-01", window(60, 120));
    let chm = change_manager();
    exec(
        &engine,
        &chm,
        request_change(chg(2), "Patch db-01", "db-01"),
    );
    assert_unchanged(
        &engine,
        plan(chg(2), window(90, 150)),
        &chm,
        "schedule_conflict",
    );
    // A caller-supplied empty calendar changes nothing: the engine fills it.
    let mut sneaky = plan(chg(2), window(90, 150));
    if let ChangeCommand::Plan { calendar, .. } = &mut sneaky {
        calendar.clear();
    }
    assert_unchanged(&engine, sneaky, &chm, "schedule_conflict");
    // Separation of duties: the requester never approves.
    exec(&engine, &chm, plan(chg(2), window(200, 260)));
    exec(
        &engine,
        &chm,
        ChangeCommand::Submit {
            id: chg(2),
            calendar: Vec::new(),
            ci_relations: Vec::new(),
            accept_conflicts: None,
        },
    );
    exec(
        &engine,
        &chm,
        ChangeCommand::RequestAuthorization { id: chg(2) },
    );
    assert_unchanged(&engine, approve(chg(2)), &chm, "separation_of_duties");
    // Implementation outside the approved window.
    clock.set(t(10));
    assert_unchanged(
        &engine,
        ChangeCommand::StartImplementation { id: chg(1) },
        &chm,
        "outside_approved_window",
    );

    // Malformed engine input: an unparsable number.
    assert!(matches!(
        engine.view(None).unwrap().find("XYZ12"),
        Err(EngineError::InvalidInput { .. })
    ));
    let i1 = engine
        .view(None)
        .unwrap()
        .incident(inc(1))
        .unwrap()
        .unwrap();
    assert_eq!(i1.status.kind(), IncidentStatusKind::New);
}

#[test]
fn admin_can_do_everything_but_approve_its_own_change() {
    let (engine, _clock) = memory_engine();
    let root = Actor::new("root", [Role::Admin]);
    exec(
        &engine,
        &root,
        request_change(chg(1), "Rotate certs", "lb-01"),
    );
    exec(&engine, &root, plan(chg(1), window(60, 90)));
    exec(
        &engine,
        &root,
        ChangeCommand::Submit {
            id: chg(1),
            calendar: Vec::new(),
            ci_relations: Vec::new(),
            accept_conflicts: None,
        },
    );
    exec(
        &engine,
        &root,
        ChangeCommand::RequestAuthorization { id: chg(1) },
    );
    assert_unchanged(&engine, approve(chg(1)), &root, "separation_of_duties");
}

#[test]
fn a_booked_change_cannot_be_moved_outside_the_calendar_commands() {
    // Why only plan, submit and approve wait for the calendar: nothing else can change what a
    // booking holds. A scheduled change refuses an update of its CIs and a new plan.
    let (engine, _clock) = memory_engine();
    change_to_scheduled(&engine, chg(1), "db-01", window(60, 120));
    let update = ChangeCommand::Update {
        id: chg(1),
        title: None,
        description: None,
        change_type: None,
        risk: None,
        cis: Some(["web-01".into()].into_iter().collect()),
        implementation_plan: None,
        backout_plan: None,
        test_plan: None,
    };
    assert_unchanged(&engine, update, &change_manager(), "invalid_transition");
    assert_unchanged(
        &engine,
        plan(chg(1), window(300, 360)),
        &change_manager(),
        "invalid_transition",
    );
}
