//! The service model through the engine: changes as one atomic append, impact with open
//! incidents, the impact an incident records at opening (and keeps when the model changes),
//! dependencies, refusals that write nothing, the SQL tables, reopening.

use crate::support::*;
use opsledger::core::service::{Criticality, ItemAttributes, ItemRef, ModelCommand, RelationType};
use opsledger::service_model::SERVICE_MODEL_STREAM;
use opsledger::{Engine, Role};
use opsledger_core::Actor;

pub(super) fn modeller() -> Actor {
    Actor::new("cmdb", [Role::Manager])
}

fn ci(name: &str) -> ItemRef {
    ItemRef::Ci(name.into())
}

fn service(name: &str) -> ItemRef {
    ItemRef::Service(name.into())
}

fn register(item: &ItemRef, name: &str, criticality: Criticality) -> Vec<ModelCommand> {
    let attributes = ItemAttributes {
        name: name.into(),
        criticality,
        owner_group: Some("web-ops".into()),
        ..ItemAttributes::default()
    };
    let register = match item {
        ItemRef::Service(s) => ModelCommand::RegisterService {
            service: s.clone(),
            attributes,
        },
        ItemRef::Ci(c) => ModelCommand::RegisterCi {
            ci: c.clone(),
            attributes,
        },
    };
    vec![register, ModelCommand::Activate { item: item.clone() }]
}

fn relate(from: &ItemRef, kind: RelationType, to: &ItemRef) -> ModelCommand {
    ModelCommand::Relate {
        from: from.clone(),
        kind,
        to: to.clone(),
    }
}

/// The web shop: shop -> lb -> app-1/app-2 (app-1 connects back: a cycle) -> db; the
/// payment service depends on the payment provider and on the database.
pub(super) fn load_shop(engine: &Engine) {
    let mut commands = Vec::new();
    commands.extend(register(
        &service("webshop"),
        "Web shop",
        Criticality::Critical,
    ));
    commands.extend(register(
        &service("payments"),
        "Payments",
        Criticality::High,
    ));
    for (c, name) in [
        ("lb-01", "Load balancer"),
        ("app-01", "App server 1"),
        ("app-02", "App server 2"),
        ("db-01", "Shop database"),
        ("psp", "Payment provider"),
    ] {
        commands.extend(register(&ci(c), name, Criticality::Medium));
    }
    commands.extend([
        relate(&service("webshop"), RelationType::DependsOn, &ci("lb-01")),
        relate(&ci("lb-01"), RelationType::ConnectsTo, &ci("app-01")),
        relate(&ci("lb-01"), RelationType::ConnectsTo, &ci("app-02")),
        relate(&ci("app-01"), RelationType::ConnectsTo, &ci("lb-01")),
        relate(&ci("app-01"), RelationType::DependsOn, &ci("db-01")),
        relate(&ci("app-02"), RelationType::DependsOn, &ci("db-01")),
        relate(&service("payments"), RelationType::DependsOn, &ci("psp")),
        relate(&service("payments"), RelationType::DependsOn, &ci("db-01")),
    ]);
    let change = engine
        .change_service_model(&modeller(), &commands)
        .expect("the shop loads");
    assert_eq!(change.events, commands.len());
}

#[test]
fn impact_lists_affected_services_with_paths_and_open_incidents() {
    let (engine, _clock) = memory_engine();
    load_shop(&engine);
    exec(
        &engine,
        &agent(),
        open_incident_full(
            inc(1),
            "Checkout slow",
            opsledger_core::Impact::High,
            opsledger_core::Urgency::High,
            "web-ops",
            "webshop",
            "app-01",
        ),
    );
    let impact = engine.impact(&ci("db-01")).unwrap();
    let names: Vec<&str> = impact
        .services
        .iter()
        .map(|s| s.affected.service.as_str())
        .collect();
    assert_eq!(names, ["webshop", "payments"]);
    assert_eq!(impact.services[0].open_incidents.len(), 1);
    assert_eq!(
        impact.services[0].open_incidents[0].number.as_deref(),
        Some("INC0000001")
    );
    assert!(impact.services[1].open_incidents.is_empty());
    let text = impact.to_string();
    assert!(
        text.contains(
            "Web shop (critical criticality) via webshop depends on lb-01 connects to app-01 depends on db-01"
        ),
        "{text}"
    );
    assert!(text.contains("open: INC0000001 Checkout slow"), "{text}");
    assert!(!text.contains("Some("), "{text}");
    let deps = engine.dependencies(&service("payments"), 5).unwrap();
    let items: Vec<&str> = deps.iter().map(|d| d.item.id()).collect();
    assert_eq!(items, ["db-01", "psp"]);
}

#[test]
fn an_incident_on_a_ci_records_the_services_affected_then() {
    let (engine, _clock) = memory_engine();
    load_shop(&engine);
    exec(
        &engine,
        &agent(),
        open_incident_full(
            inc(1),
            "Database down",
            opsledger_core::Impact::High,
            opsledger_core::Urgency::High,
            "dba",
            "webshop",
            "db-01",
        ),
    );
    let recorded = engine.recorded_impact(inc(1)).unwrap().expect("recorded");
    let names: Vec<&str> = recorded
        .services
        .iter()
        .map(|s| s.service.as_str())
        .collect();
    assert_eq!(names, ["webshop", "payments"]);
    // The model changes afterwards: the record keeps what was known at opening.
    engine
        .change_service_model(
            &modeller(),
            &[ModelCommand::Retire {
                item: service("payments"),
            }],
        )
        .unwrap();
    let live = engine.impact(&ci("db-01")).unwrap();
    assert_eq!(live.services.len(), 1);
    let again = engine.recorded_impact(inc(1)).unwrap().expect("recorded");
    assert_eq!(again, recorded);
    // Without CIs nothing is recorded.
    let mut open = open_incident(inc(2), "No CI");
    if let opsledger_core::incident::IncidentCommand::Open { cis, .. } = &mut open {
        cis.clear();
    }
    exec(&engine, &agent(), open);
    assert_eq!(engine.recorded_impact(inc(2)).unwrap(), None);
}

fn model_events(engine: &Engine) -> usize {
    engine
        .events(0, 10_000)
        .unwrap()
        .iter()
        .filter(|e| e.stream.as_str() == SERVICE_MODEL_STREAM)
        .count()
}

#[test]
fn a_refused_change_writes_nothing_and_names_the_command() {
    let (engine, _clock) = memory_engine();
    load_shop(&engine);
    let before = model_events(&engine);
    let commands = [
        relate(&ci("psp"), RelationType::ConnectsTo, &ci("lb-01")),
        relate(&ci("psp"), RelationType::ConnectsTo, &ci("ghost")),
    ];
    let err = engine
        .change_service_model(&modeller(), &commands)
        .unwrap_err();
    assert_eq!(err.code(), "unknown_reference");
    assert!(err.to_string().contains("commands[1].to"), "{err}");
    let err = engine
        .change_service_model(
            &modeller(),
            &[relate(&ci("psp"), RelationType::ConnectsTo, &ci("psp"))],
        )
        .unwrap_err();
    assert_eq!(err.code(), "self_relation");
    let err = engine
        .change_service_model(&agent(), &[ModelCommand::Retire { item: ci("psp") }])
        .unwrap_err();
    assert_eq!(err.code(), "forbidden");
    assert_eq!(model_events(&engine), before);
    assert_eq!(engine.impact(&ci("ghost")).unwrap_err().code(), "not_found");
}

#[test]
fn the_model_is_in_sql_tables_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    {
        let engine = disk_engine(dir.path(), &clock, 1);
        load_shop(&engine);
        engine
            .change_service_model(&modeller(), &[ModelCommand::Retire { item: ci("app-02") }])
            .unwrap();
        engine.close().unwrap();
    }
    let engine = disk_engine(dir.path(), &clock, 2);
    let detail = engine.service_item(&ci("lb-01")).unwrap();
    assert_eq!(detail.depends_on.len(), 1);
    assert_eq!(detail.needed_by.len(), 2);
    assert_eq!(engine.service_items(true, None).unwrap().len(), 2);
    engine.close().unwrap();
    let count = |dir: &std::path::Path, sql: &str| -> i64 { sql_rows(dir, sql, &[])[0][0].int() };
    let counts = |dir: &std::path::Path| -> Vec<i64> {
        [
            "SELECT COUNT(*) FROM service_items",
            "SELECT COUNT(*) FROM service_items WHERE status = 'retired'",
            "SELECT COUNT(*) FROM service_relations",
        ]
        .iter()
        .map(|sql| count(dir, sql))
        .collect()
    };
    let incremental = counts(dir.path());
    // Rebuilt from the log alone, the tables hold the same rows.
    delete_read_models(dir.path());
    disk_engine(dir.path(), &clock, 3).close().unwrap();
    assert_eq!(counts(dir.path()), incremental);
    assert_eq!(count(dir.path(), "SELECT COUNT(*) FROM service_items"), 7);
    assert_eq!(
        count(
            dir.path(),
            "SELECT COUNT(*) FROM service_items WHERE status = 'retired'"
        ),
        1
    );
    // 8 relations, the two of app-02 removed with it.
    assert_eq!(
        count(dir.path(), "SELECT COUNT(*) FROM service_relations"),
        6
    );
    assert_eq!(
        count(
            dir.path(),
            "SELECT version FROM read_models WHERE name = 'service_model'"
        ),
        1
    );
}

#[test]
fn a_change_conflicts_with_changes_on_what_depends_on_its_ci_from_the_model() {
    let (engine, _clock) = memory_engine();
    // Without the model, changes on db-01 and app-01 in the same window do not clash.
    change_to_scheduled(&engine, chg(1), "app-01", window(60, 120));
    exec(
        &engine,
        &change_manager(),
        request_change(chg(2), "Patch the database", "db-01"),
    );
    exec(&engine, &change_manager(), plan(chg(2), window(90, 150)));
    // With the model (app-01 depends on db-01), planning the same change again clashes.
    load_shop(&engine);
    let err = try_exec(&engine, &change_manager(), plan(chg(2), window(90, 150))).unwrap_err();
    assert_eq!(err.code(), "schedule_conflict", "{err}");
    let opsledger::EngineError::Domain(opsledger::DomainError::ScheduleConflict {
        conflicts, ..
    }) = &err
    else {
        panic!("{err:?}");
    };
    let listed = format!("{conflicts:?}");
    assert!(listed.contains("app-01"), "{listed}");
    // Relations passed with the call are still honoured, merged with the model's.
    exec(
        &engine,
        &change_manager(),
        request_change(chg(3), "Rotate psp keys", "psp"),
    );
    let mut planned = plan(chg(3), window(90, 150));
    if let opsledger_core::change::ChangeCommand::Plan { ci_relations, .. } = &mut planned {
        ci_relations.push(opsledger_core::change::CiRelation {
            parent: "psp".into(),
            child: "app-01".into(),
        });
    }
    let err = try_exec(&engine, &change_manager(), planned).unwrap_err();
    assert_eq!(err.code(), "schedule_conflict", "{err}");
}

#[test]
fn a_services_maintenance_window_applies_to_the_cis_it_depends_on() {
    let clock = clock();
    let mut policy = opsledger::Policy::default();
    policy
        .maintenance_windows
        .push(opsledger_core::NamedWindow::once(
            "payments night",
            window(600, 720),
            opsledger_core::CiScope::Only(vec!["service:payments".into()]),
        ));
    let engine = Engine::in_memory(config(&clock, 1).with_policy(policy)).unwrap();
    load_shop(&engine);
    // psp is one of payments' CIs: planned outside the window, the plan records the warning.
    let warnings = |outcome: &opsledger::Outcome| -> String {
        let planned = outcome.events.last().expect("change.planned");
        let payload: serde_json::Value = serde_json::from_slice(&planned.payload).unwrap();
        payload["warnings"].to_string()
    };
    exec(
        &engine,
        &change_manager(),
        request_change(chg(1), "Rotate psp keys", "psp"),
    );
    let outside = exec(&engine, &change_manager(), plan(chg(1), window(60, 120)));
    let listed = warnings(&outside);
    assert!(
        listed.contains("outside_maintenance_window") && listed.contains("psp"),
        "{listed}"
    );
    let inside = exec(&engine, &change_manager(), plan(chg(1), window(610, 700)));
    assert_eq!(warnings(&inside), "[]");
    // lb-01 serves the web shop only: the payments window does not constrain it.
    exec(
        &engine,
        &change_manager(),
        request_change(chg(2), "Renew the lb certificate", "lb-01"),
    );
    let lb = exec(&engine, &change_manager(), plan(chg(2), window(60, 120)));
    assert_eq!(warnings(&lb), "[]");
}

#[test]
fn an_incident_on_a_ci_goes_to_its_owner_group_when_the_policy_says_so() {
    let opened_group = |engine: &Engine, n: u32| -> serde_json::Value {
        let mut open = open_incident(inc(n), "Database slow");
        if let opsledger_core::incident::IncidentCommand::Open { group, cis, .. } = &mut open {
            *group = None;
            *cis = vec!["db-01".into()];
        }
        let outcome = exec(engine, &agent(), open);
        let opened = outcome.events.first().expect("incident.opened");
        let payload: serde_json::Value = serde_json::from_slice(&opened.payload).unwrap();
        payload["group"].clone()
    };
    let dba = |engine: &Engine| {
        engine
            .change_service_item(
                &modeller(),
                ModelCommand::UpdateAttributes {
                    item: ci("db-01"),
                    attributes: ItemAttributes {
                        owner_group: Some("dba".into()),
                        ..ItemAttributes::default()
                    },
                },
                false,
            )
            .unwrap();
    };
    // Off by default: the incident stays unassigned.
    let (engine, _clock) = memory_engine();
    load_shop(&engine);
    dba(&engine);
    assert_eq!(opened_group(&engine, 1), serde_json::Value::Null);
    // On: the CI's owner group, recorded in the event.
    let clock = clock();
    let mut policy = opsledger::Policy::default();
    policy.incident.group_from_service_model = true;
    let engine = Engine::in_memory(config(&clock, 1).with_policy(policy)).unwrap();
    load_shop(&engine);
    dba(&engine);
    assert_eq!(opened_group(&engine, 1), "dba");
}
