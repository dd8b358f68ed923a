//! Problem management end to end: recurring incidents -> a problem -> a known error in the
//! KEDB -> a fixing change -> the change closes successfully -> the problem is resolved -> the
//! incidents waiting for it are resolved, all by process managers.
//!
//! Run with `cargo run --example problem_kedb`.

use chrono::{Duration, TimeZone, Utc};
use opsledger::core::Named;
use opsledger::core::change::{ChangeCommand, ChangeType, CloseCode as ChangeClose, Risk};
use opsledger::core::incident::{HoldReason, IncidentCommand};
use opsledger::core::problem::ProblemCommand;
use opsledger::core::window::TimeWindow;
use opsledger::core::{Actor, ChangeId, Impact, IncidentId, ProblemId, Role, Urgency};
use opsledger::{
    Command, CommandEnvelope, Engine, EngineConfig, FollowUpResult, KedbQuery, ManualClock,
    Outcome, RecordRef, Uuid,
};
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Utc
        .with_ymd_and_hms(2026, 4, 6, 8, 0, 0)
        .single()
        .ok_or("time")?;
    let clock = Arc::new(ManualClock::new(start));
    let engine = Engine::in_memory(EngineConfig::default().with_clock(clock.clone()))?;
    let agent = Actor::new("alice.desk", [Role::Agent]);
    let pm = Actor::new("pat.problems", [Role::ProblemManager]);
    let chm = Actor::new("chris.changes", [Role::ChangeManager]);
    let cab = Actor::new("cora.cab", [Role::CabMember]);
    let run = |actor: &Actor, cmd: Command| -> Result<Outcome, opsledger::EngineError> {
        engine.execute(CommandEnvelope::new(actor.clone(), cmd))
    };

    println!("== Three incidents with the same symptom");
    let incidents: Vec<IncidentId> = (0..3).map(|_| IncidentId(Uuid::now_v7())).collect();
    for (n, id) in incidents.iter().enumerate() {
        let o = run(
            &agent,
            Command::Incident(IncidentCommand::Open {
                id: *id,
                title: format!("Invoice PDF export hangs (customer {})", 100 + n),
                description: "Export spinner never finishes".into(),
                caller: format!("customer-{}", 100 + n).as_str().into(),
                impact: Impact::Low,
                urgency: Urgency::Medium,
                service: Some("billing".into()),
                cis: vec!["pdf-render-01".into()],
                group: Some("billing-support".into()),
                assignee: Some(agent.id.clone()),
                alert: None,
            }),
        )?;
        println!(
            "  {} opened",
            o.number.map(|n| n.to_string()).unwrap_or_default()
        );
        clock.advance(Duration::hours(2));
    }

    println!("\n== A problem, its analysis and the known error");
    let problem = ProblemId(Uuid::now_v7());
    let p = run(
        &pm,
        Command::Problem(ProblemCommand::Create {
            id: problem,
            title: "PDF renderer hangs on invoices with more than 500 lines".into(),
            description: String::new(),
            impact: Impact::Medium,
            urgency: Urgency::Medium,
            service: Some("billing".into()),
            cis: ["pdf-render-01".into()].into_iter().collect(),
        }),
    )?;
    let prb = p.number.map(|n| n.to_string()).unwrap_or_default();
    println!("  {prb} created");
    for id in &incidents {
        run(
            &agent,
            Command::Incident(IncidentCommand::PutOnHold {
                id: *id,
                reason: HoldReason::AwaitingProblem { problem },
            }),
        )?;
        // Linked from the problem's side; a process manager records it on the incident too.
        run(
            &pm,
            Command::Problem(ProblemCommand::LinkIncident {
                id: problem,
                incident: *id,
            }),
        )?;
    }
    println!("  3 incidents on hold awaiting {prb}, linked both ways");
    for cmd in [
        ProblemCommand::Assign {
            id: problem,
            group: "billing-dev".into(),
            assignee: Some(pm.id.clone()),
        },
        ProblemCommand::Assess { id: problem },
        ProblemCommand::StartAnalysis { id: problem },
        ProblemCommand::RecordRootCause {
            id: problem,
            cause: "Renderer buffers the whole table in a 64 MiB heap".into(),
        },
        ProblemCommand::MarkKnownError {
            id: problem,
            symptom: "Invoice PDF export hangs for large invoices".into(),
            root_cause: "PDF renderer heap too small for tables over 500 lines".into(),
            workaround: Some("Export as CSV, or split the invoice".into()),
            affected_cis: ["pdf-render-01".into()].into_iter().collect(),
        },
        ProblemCommand::StartFix {
            id: problem,
            fix_notes: "Stream table rows; raise the heap to 512 MiB".into(),
        },
    ] {
        run(&pm, Command::Problem(cmd))?;
    }

    println!("\n== The service desk searches the KEDB");
    let view = engine.view(None)?;
    for (label, query) in [
        ("text \"pdf hangs\"", KedbQuery::text("pdf hangs")),
        ("CI pdf-render-01", KedbQuery::ci("pdf-render-01")),
        ("symptom \"export\"", KedbQuery::symptom("export")),
        ("text \"printer\"", KedbQuery::text("printer")),
    ] {
        let hits = view.known_errors(&query)?.items;
        println!("  {label:<22} -> {} hit(s)", hits.len());
        for hit in hits {
            println!(
                "      {} {} | workaround: {}",
                hit.number.map(|n| n.to_string()).unwrap_or_default(),
                hit.known_error.symptom,
                hit.known_error
                    .workaround
                    .unwrap_or_else(|| "none known".into())
            );
        }
    }

    println!("\n== The fixing change");
    let change = ChangeId(Uuid::now_v7());
    let window = TimeWindow::new(
        start + Duration::days(1),
        start + Duration::days(1) + Duration::hours(2),
    );
    let c = run(
        &chm,
        Command::Change(ChangeCommand::Request {
            id: change,
            title: "Deploy renderer 2.4 (streaming tables)".into(),
            description: String::new(),
            change_type: ChangeType::Normal,
            risk: Risk::Low,
            cis: ["pdf-render-01".into()].into_iter().collect(),
            implementation_plan: "Blue/green deploy".into(),
            backout_plan: "Switch back to blue".into(),
            test_plan: "Export the 3 failing invoices".into(),
            assignee: Some("ivan.ops".into()),
        }),
    )?;
    let chg = c.number.map(|n| n.to_string()).unwrap_or_default();
    for cmd in [
        ChangeCommand::LinkFixesProblem {
            id: change,
            problem,
        },
        ChangeCommand::Plan {
            id: change,
            window,
            assignee: None,
            calendar: vec![],
            ci_relations: vec![],
            accept_conflicts: None,
        },
        ChangeCommand::Submit {
            id: change,
            calendar: vec![],
            ci_relations: vec![],
            accept_conflicts: None,
        },
        ChangeCommand::RequestAuthorization { id: change },
    ] {
        run(&chm, Command::Change(cmd))?;
    }
    run(
        &cab,
        Command::Change(ChangeCommand::Approve {
            id: change,
            comment: None,
            calendar: vec![],
            ci_relations: vec![],
            accept_conflicts: None,
        }),
    )?;
    println!(
        "  {chg} fixes {prb}; approved and scheduled for {}",
        window.start
    );
    clock.set(window.start + Duration::minutes(10));
    run(
        &chm,
        Command::Change(ChangeCommand::StartImplementation { id: change }),
    )?;
    run(
        &chm,
        Command::Change(ChangeCommand::CompleteImplementation { id: change }),
    )?;
    let closed = run(
        &chm,
        Command::Change(ChangeCommand::Close {
            id: change,
            code: ChangeClose::Successful,
            notes: "All three invoices export in under 2 s".into(),
        }),
    )?;
    println!("  {chg} closed successfully; process managers ran:");
    for f in &closed.follow_ups {
        let what = match &f.result {
            FollowUpResult::Applied { events } => events
                .iter()
                .map(|e| e.event_type.as_str())
                .collect::<Vec<_>>()
                .join(" + "),
            FollowUpResult::Skipped { code, .. } => format!("skipped ({code})"),
        };
        println!(
            "    {:<20} -> {} {}",
            f.process,
            f.number.map(|n| n.to_string()).unwrap_or_default(),
            what
        );
    }

    println!("\n== Where everything stands");
    let view = engine.view(None)?;
    let p = view.record(RecordRef::problem(problem))?.ok_or("problem")?;
    println!("  {prb}: {}", p.status);
    for id in &incidents {
        let i = view.incident(*id)?.ok_or("incident")?;
        let number = view
            .number_of(RecordRef::incident(*id))?
            .map(|n| n.to_string())
            .unwrap_or_default();
        println!(
            "  {number}: {} — {}",
            i.status.kind().name().replace('_', " "),
            i.resolution.map(|r| r.notes).unwrap_or_default()
        );
    }
    Ok(())
}
