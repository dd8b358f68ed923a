//! One story through all three lifecycles — an incident, the problem behind it and the change
//! that fixes it — then the event log as stored: every event with its position, stream,
//! type, actor and cause.
//!
//! Run with `cargo run --example story`.

use chrono::{Duration, TimeZone, Utc};
use opsledger::core::change::{ChangeCommand, ChangeType, CloseCode as ChangeClose, Risk};
use opsledger::core::incident::{HoldReason, IncidentCommand};
use opsledger::core::problem::ProblemCommand;
use opsledger::core::window::TimeWindow;
use opsledger::core::{Actor, ChangeId, Impact, IncidentId, ProblemId, Role, Urgency};
use opsledger::{
    Command, CommandEnvelope, Engine, EngineConfig, ManualClock, RecordRef, SequentialIds,
};
use std::collections::HashMap;
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Utc
        .with_ymd_and_hms(2026, 5, 4, 9, 0, 0)
        .single()
        .ok_or("time")?;
    let clock = Arc::new(ManualClock::new(start));
    let dir = tempfile::tempdir()?;
    let config = EngineConfig::default()
        .with_clock(clock.clone())
        .with_ids(Arc::new(SequentialIds::new(2026)));
    let engine = Engine::open(dir.path(), config)?;

    let desk = Actor::new("sam.desk", [Role::Agent]);
    let eve = Actor::new("eve.network", [Role::Agent]);
    let pat = Actor::new("pat.problems", [Role::ProblemManager]);
    let chris = Actor::new("chris.changes", [Role::ChangeManager]);
    let cora = Actor::new("cora.cab", [Role::CabMember]);
    let caller = Actor::new("carol", [Role::Requester]);
    let incident = IncidentId(opsledger::Uuid::from_u128(1));
    let problem = ProblemId(opsledger::Uuid::from_u128(2));
    let change = ChangeId(opsledger::Uuid::from_u128(3));
    let step = |minutes: i64| clock.advance(Duration::minutes(minutes));
    let run =
        |actor: &Actor, cmd: Command| engine.execute(CommandEnvelope::new(actor.clone(), cmd));

    println!("09:00 Carol cannot reach the VPN; the service desk logs it.");
    run(
        &desk,
        Command::Incident(IncidentCommand::Open {
            id: incident,
            title: "VPN drops every 10 minutes".into(),
            description: String::new(),
            caller: caller.id.clone(),
            impact: Impact::Medium,
            urgency: Urgency::High,
            service: Some("remote-access".into()),
            cis: vec!["vpn-gw-02".into()],
            group: Some("network".into()),
            assignee: None,
            alert: None,
        }),
    )?;
    step(7);
    println!("09:07 Eve (network) takes it and finds a known pattern: a problem is opened.");
    run(
        &eve,
        Command::Incident(IncidentCommand::Assign {
            id: incident,
            group: Some("network".into()),
            assignee: Some(eve.id.clone()),
        }),
    )?;
    run(
        &pat,
        Command::Problem(ProblemCommand::Create {
            id: problem,
            title: "VPN gateway drops sessions on DPD timeout".into(),
            description: String::new(),
            impact: Impact::Medium,
            urgency: Urgency::Medium,
            service: Some("remote-access".into()),
            cis: ["vpn-gw-02".into()].into_iter().collect(),
        }),
    )?;
    run(
        &eve,
        Command::Incident(IncidentCommand::LinkProblem {
            id: incident,
            problem,
        }),
    )?;
    run(
        &eve,
        Command::Incident(IncidentCommand::PutOnHold {
            id: incident,
            reason: HoldReason::AwaitingProblem { problem },
        }),
    )?;
    step(60);
    println!("10:07 Pat analyses the problem and publishes a known error with a workaround.");
    for cmd in [
        ProblemCommand::Assign {
            id: problem,
            group: "network".into(),
            assignee: Some(pat.id.clone()),
        },
        ProblemCommand::Assess { id: problem },
        ProblemCommand::StartAnalysis { id: problem },
        ProblemCommand::RecordRootCause {
            id: problem,
            cause: "Dead-peer-detection timeout of 10 min on firmware 7.1".into(),
        },
        ProblemCommand::MarkKnownError {
            id: problem,
            symptom: "VPN session drops every 10 minutes".into(),
            root_cause: "DPD timeout on firmware 7.1".into(),
            workaround: Some("Reconnect; use vpn-gw-01".into()),
            affected_cis: ["vpn-gw-02".into()].into_iter().collect(),
        },
        ProblemCommand::StartFix {
            id: problem,
            fix_notes: "Upgrade firmware to 7.2".into(),
        },
    ] {
        run(&pat, Command::Problem(cmd))?;
    }
    step(30);
    println!("10:37 Chris raises the firmware upgrade; the CAB approves it for tonight.");
    let window = TimeWindow::new(start + Duration::hours(13), start + Duration::hours(14));
    run(
        &chris,
        Command::Change(ChangeCommand::Request {
            id: change,
            title: "Upgrade vpn-gw-02 firmware to 7.2".into(),
            description: String::new(),
            change_type: ChangeType::Normal,
            risk: Risk::Moderate,
            cis: ["vpn-gw-02".into()].into_iter().collect(),
            implementation_plan: "Drain, upgrade, undrain".into(),
            backout_plan: "Boot the previous image".into(),
            test_plan: String::new(),
            assignee: Some(eve.id.clone()),
        }),
    )?;
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
        run(&chris, Command::Change(cmd))?;
    }
    run(
        &cora,
        Command::Change(ChangeCommand::Approve {
            id: change,
            comment: Some("Go".into()),
            calendar: vec![],
            ci_relations: vec![],
            accept_conflicts: None,
        }),
    )?;
    clock.set(window.start + Duration::minutes(5));
    println!("22:05 Eve implements the change; it is reviewed and closed as successful.");
    run(
        &eve,
        Command::Change(ChangeCommand::StartImplementation { id: change }),
    )?;
    run(
        &eve,
        Command::Change(ChangeCommand::CompleteImplementation { id: change }),
    )?;
    step(40);
    run(
        &chris,
        Command::Change(ChangeCommand::Close {
            id: change,
            code: ChangeClose::Successful,
            notes: "No drops in 30 minutes".into(),
        }),
    )?;
    println!("22:45 The problem is resolved by the change, and the incident by the problem.");
    step(600);
    println!("08:45 Carol confirms; Pat closes the problem.");
    run(
        &caller,
        Command::Incident(IncidentCommand::Close { id: incident }),
    )?;
    run(
        &pat,
        Command::Problem(ProblemCommand::Close { id: problem }),
    )?;

    // The log, as stored.
    let mut names: HashMap<String, String> = HashMap::new();
    for (stream, label) in [
        ("numbers-incident", "INC counter"),
        ("numbers-problem", "PRB counter"),
        ("numbers-change", "CHG counter"),
    ] {
        names.insert(stream.into(), label.into());
    }
    for record in [
        RecordRef::incident(incident),
        RecordRef::problem(problem),
        RecordRef::change(change),
    ] {
        if let Some(n) = engine.view(None)?.number_of(record)? {
            names.insert(record.stream_name(), n.to_string());
        }
    }
    let events = engine.events(1, 1_000)?;
    let by_id: HashMap<_, _> = events.iter().map(|e| (e.event_id, e.clone())).collect();
    println!("\nThe event log ({} events):", events.len());
    println!(
        "  {:>3}  {:<11} {:<12} {:<38} {:<32} caused by",
        "pos", "recorded", "stream", "event", "actor"
    );
    for e in &events {
        let stream = names
            .get(e.stream.as_str())
            .cloned()
            .unwrap_or_else(|| e.stream.to_string());
        let cause = e
            .causation_id
            .and_then(|c| by_id.get(&c))
            .map(|c| format!("#{} {}", c.position, c.event_type))
            .unwrap_or_default();
        println!(
            "  {:>3}  {:<11} {:<12} {:<38} {:<32} {}",
            e.position,
            e.recorded_at.format("%d %H:%M:%S"),
            stream.chars().take(12).collect::<String>(),
            e.event_type,
            e.actor,
            cause
        );
    }
    let view = engine.view(None)?;
    println!(
        "\nFinal states: {} {}, {} {}, {} {}",
        names
            .get(&RecordRef::incident(incident).stream_name())
            .cloned()
            .unwrap_or_default(),
        view.record(RecordRef::incident(incident))?
            .map(|v| v.status.to_string())
            .unwrap_or_default(),
        names
            .get(&RecordRef::problem(problem).stream_name())
            .cloned()
            .unwrap_or_default(),
        view.record(RecordRef::problem(problem))?
            .map(|v| v.status.to_string())
            .unwrap_or_default(),
        names
            .get(&RecordRef::change(change).stream_name())
            .cloned()
            .unwrap_or_default(),
        view.record(RecordRef::change(change))?
            .map(|v| v.status.to_string())
            .unwrap_or_default(),
    );
    engine.close()?;
    Ok(())
}
