//! The change calendar: conflicts found from the engine's own calendar, a freeze window,
//! and CAB approval by majority with separation of duties.
//!
//! Run with `cargo run --example change_calendar`.

use chrono::{DateTime, Duration, TimeZone, Utc};
use opsledger::core::change::{ChangeCommand, ChangeType, Conflict, Risk};
use opsledger::core::policy::Quorum;
use opsledger::core::window::TimeWindow;
use opsledger::core::{Actor, ChangeId, CiScope, NamedWindow, Policy, Role};
use opsledger::{
    CalendarQuery, CommandEnvelope, Engine, EngineConfig, EngineError, ManualClock, RecordRef, Uuid,
};
use std::sync::Arc;

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0)
        .single()
        .unwrap_or_default()
}

fn request(id: ChangeId, title: &str, ci: &str) -> ChangeCommand {
    ChangeCommand::Request {
        id,
        title: title.into(),
        description: String::new(),
        change_type: ChangeType::Normal,
        risk: Risk::Moderate,
        cis: [ci.into()].into_iter().collect(),
        implementation_plan: "See runbook".into(),
        backout_plan: "Restore snapshot".into(),
        test_plan: "Smoke tests".into(),
        assignee: Some("ivan.ops".into()),
    }
}

fn plan(id: ChangeId, from: DateTime<Utc>, hours: i64, accept: Option<&str>) -> ChangeCommand {
    ChangeCommand::Plan {
        id,
        window: TimeWindow::new(from, from + Duration::hours(hours)),
        assignee: None,
        calendar: Vec::new(), // filled by the engine from its calendar
        ci_relations: Vec::new(),
        accept_conflicts: accept.map(str::to_owned),
    }
}

fn approve(id: ChangeId) -> ChangeCommand {
    ChangeCommand::Approve {
        id,
        comment: Some("Looks safe".into()),
        calendar: Vec::new(),
        ci_relations: Vec::new(),
        accept_conflicts: None,
    }
}

/// A conflict in words, naming the other change by its number.
fn words(engine: &Engine, c: &Conflict) -> String {
    let number = |id: &ChangeId| {
        engine
            .view(None)
            .ok()
            .and_then(|v| v.number_of(RecordRef::change(*id)).ok().flatten())
            .map_or_else(|| id.to_string(), |n| n.to_string())
    };
    let hhmm = |w: &TimeWindow| {
        format!(
            "{} .. {}",
            w.start.format("%a %H:%M"),
            w.end.format("%a %H:%M")
        )
    };
    match c {
        Conflict::CiAlreadyScheduled {
            ci,
            other,
            other_window,
            ..
        } => {
            format!(
                "{ci} is already booked by {} ({})",
                number(other),
                hhmm(other_window)
            )
        }
        Conflict::InsideBlackout { ci, blackout, .. } => {
            format!("{ci} is frozen by \"{blackout}\"")
        }
        Conflict::InsideGlobalBlackout { blackout } => {
            format!("everything is frozen by \"{blackout}\"")
        }
        Conflict::OutsideMaintenanceWindow { ci, .. } => {
            format!("{ci}: outside its maintenance windows")
        }
        Conflict::AssigneeDoubleBooked {
            assignee, other, ..
        } => {
            format!("{assignee} also implements {}", number(other))
        }
    }
}

fn show(engine: &Engine, label: &str, result: Result<opsledger::Outcome, EngineError>) {
    match result {
        Ok(o) => println!(
            "  {label}: ok -> {}",
            o.events
                .iter()
                .map(|e| e.event_type.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Err(EngineError::Domain(opsledger::DomainError::ScheduleConflict {
            conflicts, ..
        })) => {
            println!("  {label}: REFUSED, schedule conflict:");
            for c in conflicts {
                println!("      {}", words(engine, &c));
            }
        }
        Err(e) => println!("  {label}: REFUSED, {e} ({})", e.code()),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The CAB: three members, a majority must approve; a quarter-end freeze on every CI.
    let mut policy = Policy::default();
    policy.approvals.normal.board = vec!["cora".into(), "carl".into(), "cleo".into()];
    policy.approvals.normal.quorum = Quorum::Majority;
    policy.blackout_windows.push(NamedWindow::once(
        "quarter-end freeze",
        TimeWindow::new(at(5, 0), at(6, 0)),
        CiScope::All,
    ));
    let clock = Arc::new(ManualClock::new(at(2, 9))); // Monday 2 March, 09:00
    let engine = Engine::in_memory(
        EngineConfig::default()
            .with_policy(policy)
            .with_clock(clock.clone()),
    )?;
    let chris = Actor::new("chris.changes", [Role::ChangeManager, Role::CabMember]);
    let (cora, carl, cleo) = (
        Actor::new("cora", [Role::CabMember]),
        Actor::new("carl", [Role::CabMember]),
        Actor::new("cleo", [Role::CabMember]),
    );
    let run = |actor: &Actor, cmd: ChangeCommand| {
        engine.execute(CommandEnvelope::new(actor.clone(), cmd))
    };
    let submit = |id| ChangeCommand::Submit {
        id,
        calendar: vec![],
        ci_relations: vec![],
        accept_conflicts: None,
    };
    let (pg, kernel, fw) = (
        ChangeId(Uuid::now_v7()),
        ChangeId(Uuid::now_v7()),
        ChangeId(Uuid::now_v7()),
    );

    println!("== CHG0000001: PostgreSQL upgrade on db-01, Tuesday 22:00-24:00");
    run(&chris, request(pg, "Upgrade PostgreSQL 15 -> 16", "db-01"))?;
    show(&engine, "plan", run(&chris, plan(pg, at(3, 22), 2, None)));
    run(&chris, submit(pg))?;
    run(&chris, ChangeCommand::RequestAuthorization { id: pg })?;
    show(
        &engine,
        "chris (requester) approves",
        run(&chris, approve(pg)),
    );
    show(&engine, "cora approves (1 of 2)", run(&cora, approve(pg)));
    show(&engine, "carl approves (2 of 2)", run(&carl, approve(pg)));

    println!("\n== CHG0000002: kernel patch on db-01");
    run(&chris, request(kernel, "Kernel security patch", "db-01"))?;
    show(
        &engine,
        "plan Tuesday 23:00-01:00",
        run(&chris, plan(kernel, at(3, 23), 2, None)),
    );
    show(
        &engine,
        "plan Wednesday 22:00-23:00",
        run(&chris, plan(kernel, at(4, 22), 1, None)),
    );
    run(&chris, submit(kernel))?;
    run(&chris, ChangeCommand::RequestAuthorization { id: kernel })?;
    show(&engine, "cleo approves", run(&cleo, approve(kernel)));
    show(&engine, "cleo approves again", run(&cleo, approve(kernel)));
    show(&engine, "carl approves", run(&carl, approve(kernel)));

    println!("\n== CHG0000003: firewall rule on fw-01 during the freeze");
    run(
        &chris,
        request(fw, "Open port 8443 for the partner API", "fw-01"),
    )?;
    show(
        &engine,
        "plan Thursday 10:00-12:00",
        run(&chris, plan(fw, at(5, 10), 2, None)),
    );
    show(
        &engine,
        "plan again, accepting the conflict",
        run(
            &chris,
            plan(
                fw,
                at(5, 10),
                2,
                Some("Contractual go-live; approved by the CIO"),
            ),
        ),
    );

    println!("\n== Change calendar, week of 2 March");
    let week = TimeWindow::new(at(2, 0), at(9, 0));
    for entry in engine
        .view(None)?
        .calendar(&CalendarQuery::over(week))?
        .items
    {
        println!(
            "  {} {:<36} {} .. {}  {:<10} {}",
            entry.number.map(|n| n.to_string()).unwrap_or_default(),
            entry.title,
            entry.window.start.format("%a %H:%M"),
            entry.window.end.format("%a %H:%M"),
            entry.status.name(),
            if entry.booked { "booked" } else { "planned" }
        );
        for c in &entry.conflicts {
            let kind = if entry.accepted.contains(c) {
                "accepted"
            } else if c.is_blocking() {
                "BLOCKING"
            } else {
                "warning "
            };
            println!("      {kind} {}", words(&engine, c));
        }
    }

    println!("\n== Implementing CHG0000001 inside its window");
    show(
        &engine,
        "start implementation on Monday",
        run(&chris, ChangeCommand::StartImplementation { id: pg }),
    );
    clock.set(at(3, 22) + Duration::minutes(5));
    show(
        &engine,
        "start implementation at Tuesday 22:05",
        run(&chris, ChangeCommand::StartImplementation { id: pg }),
    );
    Ok(())
}
