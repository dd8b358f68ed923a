//! Service impact and runbooks: a web shop's service model (load balancer, app servers,
//! database, payment provider), an incident on the database with the services it affects and
//! the runbook suggested for it, and a change whose conflict comes from the model.
//!
//! Run with `cargo run --example service_impact`.

use chrono::{DateTime, Duration, TimeZone, Utc};
use opsledger::core::change::{ChangeCommand, ChangeType, Conflict, Risk};
use opsledger::core::incident::IncidentCommand;
use opsledger::core::knowledge::{ArticleCommand, ArticleKind, ArticleLinks};
use opsledger::core::service::{Criticality, ItemAttributes, ItemRef, ModelCommand, RelationType};
use opsledger::core::window::TimeWindow;
use opsledger::core::{Actor, ArticleId, ChangeId, Impact, IncidentId, Role, Urgency};
use opsledger::{CommandEnvelope, Engine, EngineConfig, EngineError, ManualClock, RecordRef};
use std::sync::Arc;

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, hour, 0, 0)
        .single()
        .unwrap_or_default()
}

fn item(kind: &str, id: &str) -> ItemRef {
    if kind == "service" {
        ItemRef::Service(id.into())
    } else {
        ItemRef::Ci(id.into())
    }
}

/// Registers an item with its attributes and puts it into operation.
fn register(
    commands: &mut Vec<ModelCommand>,
    what: ItemRef,
    name: &str,
    class: Option<&str>,
    criticality: Criticality,
) {
    let attributes = ItemAttributes {
        name: name.into(),
        class: class.map(str::to_owned),
        owner_group: Some("web-ops".into()),
        criticality,
        ..ItemAttributes::default()
    };
    commands.push(match &what {
        ItemRef::Service(service) => ModelCommand::RegisterService {
            service: service.clone(),
            attributes,
        },
        ItemRef::Ci(ci) => ModelCommand::RegisterCi {
            ci: ci.clone(),
            attributes,
        },
    });
    commands.push(ModelCommand::Activate { item: what });
}

fn relate(from: ItemRef, kind: RelationType, to: ItemRef) -> ModelCommand {
    ModelCommand::Relate { from, kind, to }
}

fn change(id: ChangeId, title: &str, ci: &str) -> ChangeCommand {
    ChangeCommand::Request {
        id,
        title: title.into(),
        description: String::new(),
        change_type: ChangeType::Normal,
        risk: Risk::Moderate,
        cis: [ci.into()].into_iter().collect(),
        implementation_plan: "Rolling, one node at a time".into(),
        backout_plan: "Previous release".into(),
        test_plan: "Checkout smoke test".into(),
        assignee: Some("ivan.ops".into()),
    }
}

fn plan(id: ChangeId, from: DateTime<Utc>) -> ChangeCommand {
    ChangeCommand::Plan {
        id,
        window: TimeWindow::new(from, from + Duration::hours(2)),
        assignee: None,
        calendar: Vec::new(),
        ci_relations: Vec::new(),
        accept_conflicts: None,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clock = Arc::new(ManualClock::new(at(9)));
    let engine = Engine::in_memory(EngineConfig::default().with_clock(clock.clone()))?;
    let cmdb = Actor::new("cmdb.sync", [Role::Manager]);
    let desk = Actor::new("sam.desk", [Role::Agent]);
    let dba = Actor::new("dora.dba", [Role::Agent]);
    let problem_manager = Actor::new("pat.problems", [Role::ProblemManager]);
    let changes = Actor::new("chris.changes", [Role::ChangeManager]);
    let cab = Actor::new("cora.cab", [Role::CabMember]);

    // The service model, loaded as one atomic change.
    let mut model = Vec::new();
    for (kind, id, name, class, criticality) in [
        (
            "service",
            "webshop",
            "Web shop",
            None,
            Criticality::Critical,
        ),
        ("service", "payments", "Payments", None, Criticality::High),
        (
            "service",
            "reporting",
            "Sales reporting",
            None,
            Criticality::Low,
        ),
        (
            "ci",
            "lb-01",
            "Load balancer",
            Some("load_balancer"),
            Criticality::High,
        ),
        (
            "ci",
            "app-01",
            "App server 1",
            Some("server"),
            Criticality::High,
        ),
        (
            "ci",
            "app-02",
            "App server 2",
            Some("server"),
            Criticality::High,
        ),
        (
            "ci",
            "db-01",
            "Shop database",
            Some("database"),
            Criticality::Critical,
        ),
        (
            "ci",
            "psp",
            "Payment provider",
            Some("saas"),
            Criticality::High,
        ),
    ] {
        register(&mut model, item(kind, id), name, class, criticality);
    }
    let (s, c) = (|id| item("service", id), |id| item("ci", id));
    model.extend([
        relate(s("webshop"), RelationType::DependsOn, c("lb-01")),
        relate(c("lb-01"), RelationType::ConnectsTo, c("app-01")),
        relate(c("lb-01"), RelationType::ConnectsTo, c("app-02")),
        relate(c("app-01"), RelationType::DependsOn, c("db-01")),
        relate(c("app-02"), RelationType::DependsOn, c("db-01")),
        relate(c("app-01"), RelationType::ConnectsTo, c("psp")),
        relate(s("payments"), RelationType::DependsOn, c("psp")),
        relate(s("payments"), RelationType::DependsOn, c("app-01")),
        relate(s("reporting"), RelationType::DependsOn, c("db-01")),
    ]);
    let loaded = engine.change_service_model(&cmdb, &model)?;
    println!("Service model loaded: {} events.", loaded.events);

    // A runbook for the database, written by the DBA and approved by the problem manager.
    let runbook = ArticleId(engine.new_id());
    engine.execute_article(
        &dba,
        ArticleCommand::Draft {
            id: runbook,
            kind: ArticleKind::Runbook,
            title: "Fail over the shop database to its replica".into(),
            body: "1. Promote db-01's replica. 2. Repoint the app servers' pool. 3. Watch the error rate.".into(),
            links: ArticleLinks {
                cis: ["db-01".into()].into_iter().collect(),
                categories: ["database".into()].into_iter().collect(),
                ..ArticleLinks::default()
            },
        },
    )?;
    engine.execute_article(&dba, ArticleCommand::Submit { id: runbook })?;
    engine.execute_article(&problem_manager, ArticleCommand::Approve { id: runbook })?;

    // The database goes down.
    let incident = IncidentId(engine.new_id());
    let opened = engine.execute(CommandEnvelope::new(
        desk.clone(),
        IncidentCommand::Open {
            id: incident,
            title: "Shop database unreachable".into(),
            description: "Checkout fails with connection refused".into(),
            caller: "carol".into(),
            impact: Impact::High,
            urgency: Urgency::High,
            service: Some("webshop".into()),
            cis: vec!["db-01".into()],
            group: Some("dba".into()),
            assignee: None,
            alert: None,
        },
    ))?;
    let number = opened
        .number
        .map_or_else(|| "the incident".to_owned(), |n| n.to_string());
    println!("\n{number} opened on CI db-01.");
    println!("{}", engine.impact(&c("db-01"))?);
    if let Some(recorded) = engine.recorded_impact(incident)? {
        let names: Vec<&str> = recorded.services.iter().map(|s| s.name.as_str()).collect();
        println!(
            "Recorded with {number} at {}: {}",
            recorded.at.format("%H:%M"),
            names.join(", ")
        );
    }
    println!("\nSuggested runbooks:");
    for suggestion in engine.suggest(RecordRef::incident(incident), 3)? {
        println!("  - {suggestion}");
    }
    engine.execute_article(
        &dba,
        ArticleCommand::RecordUse {
            id: runbook,
            incident,
            resolved: true,
        },
    )?;
    println!("Runbook effectiveness:");
    for r in engine.runbook_effectiveness()? {
        println!(
            "  {}: applied {} time(s), resolved {}",
            r.title, r.uses, r.resolutions
        );
    }

    // A change on app-01 is booked; a change on the database it depends on clashes with it,
    // because the model says so (no relation was passed with the call).
    let deploy = ChangeId(engine.new_id());
    let patch = ChangeId(engine.new_id());
    let run = |actor: &Actor, cmd: ChangeCommand| {
        engine.execute(CommandEnvelope::new(actor.clone(), cmd))
    };
    run(
        &changes,
        change(deploy, "Deploy shop 2.4 on app-01", "app-01"),
    )?;
    run(&changes, plan(deploy, at(22)))?;
    run(
        &changes,
        ChangeCommand::Submit {
            id: deploy,
            calendar: Vec::new(),
            ci_relations: Vec::new(),
            accept_conflicts: None,
        },
    )?;
    run(&changes, ChangeCommand::RequestAuthorization { id: deploy })?;
    run(
        &cab,
        ChangeCommand::Approve {
            id: deploy,
            comment: Some("Go".into()),
            calendar: Vec::new(),
            ci_relations: Vec::new(),
            accept_conflicts: None,
        },
    )?;
    run(&changes, change(patch, "Patch the shop database", "db-01"))?;
    println!("\nPlanning \"Patch the shop database\" (db-01) over the app-01 deployment window:");
    match run(&changes, plan(patch, at(23))) {
        Ok(_) => println!("  planned without conflict"),
        Err(EngineError::Domain(opsledger::DomainError::ScheduleConflict {
            conflicts, ..
        })) => {
            for conflict in conflicts {
                if let Conflict::CiAlreadyScheduled {
                    ci,
                    affected,
                    other,
                    ..
                } = conflict
                {
                    let other = engine
                        .view(None)?
                        .number_of(RecordRef::change(other))?
                        .map_or_else(|| "another change".to_owned(), |n| n.to_string());
                    println!(
                        "  refused: {ci} (which depends on {affected}) is already booked by {other}"
                    );
                }
            }
        }
        Err(e) => println!("  refused: {e}"),
    }
    Ok(())
}
