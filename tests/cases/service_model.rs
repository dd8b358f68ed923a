//! The service model through the engine: changes as one atomic append, impact with open
//! incidents, the impact an incident records at opening (and keeps when the model changes),
//! dependencies, refusals that write nothing, the SQL tables, reopening.

use crate::support::*;
use opsledger::core::service::{Criticality, ItemAttributes, ItemRef, ModelCommand, RelationType};
use opsledger::service_model::SERVICE_MODEL_STREAM;
use opsledger::{AlertReport, Clock, Engine, Role};
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
fn a_hub_with_more_relations_than_one_append_holds_is_retired_in_one_event() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let engine = disk_engine(dir.path(), &clock, 1);
    let hub = ci("hypervisor-01");
    engine
        .change_service_model(
            &modeller(),
            &register(&hub, "Hypervisor", Criticality::High),
        )
        .unwrap();
    // 1,200 virtual machines run on it, registered and related 200 at a time.
    for batch in 0..6 {
        let mut commands = Vec::new();
        for n in 0..200 {
            let vm = ci(&format!("vm-{batch}-{n}"));
            commands.extend(register(&vm, "Virtual machine", Criticality::Low));
            commands.push(relate(&vm, RelationType::RunsOn, &hub));
        }
        engine.change_service_model(&modeller(), &commands).unwrap();
    }
    let relations = |dir: &std::path::Path| -> i64 {
        sql_rows(dir, "SELECT COUNT(*) FROM service_relations", &[])[0][0].int()
    };
    assert_eq!(engine.service_item(&hub).unwrap().needed_by.len(), 1_200);
    let before = model_events(&engine);
    engine
        .change_service_model(&modeller(), &[ModelCommand::Retire { item: hub.clone() }])
        .unwrap();
    assert_eq!(model_events(&engine), before + 1, "one event");
    let vm = engine.service_item(&ci("vm-3-7")).unwrap();
    assert!(vm.depends_on.is_empty(), "{:?}", vm.depends_on);
    engine.close().unwrap();
    assert_eq!(relations(dir.path()), 0);
    // Rebuilt from the log, the same.
    delete_read_models(dir.path());
    let engine = disk_engine(dir.path(), &clock, 2);
    assert!(
        engine
            .service_item(&ci("vm-0-0"))
            .unwrap()
            .depends_on
            .is_empty()
    );
    engine.close().unwrap();
    assert_eq!(relations(dir.path()), 0);
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

fn alert_on(key: &str, ci: &str, seen_at: Option<chrono::DateTime<chrono::Utc>>) -> AlertReport {
    AlertReport {
        dedup_key: key.into(),
        source: "zabbix".into(),
        seen_at,
        title: format!("{key} firing"),
        description: String::new(),
        impact: opsledger_core::Impact::Medium,
        urgency: opsledger_core::Urgency::Medium,
        service: None,
        cis: vec![ci.into()],
        group: Some("web-ops".into()),
        caller: None,
        incident_id: None,
    }
}

/// The `via` of the `incident.alert_correlated` an outcome wrote (`None`: a repeat by key).
fn joined_via(outcome: &opsledger::Outcome) -> Option<serde_json::Value> {
    let [event] = outcome.events.as_slice() else {
        panic!("one event, got {:?}", outcome.events);
    };
    assert_eq!(event.event_type, "incident.alert_correlated");
    let payload: serde_json::Value = serde_json::from_slice(&event.payload).unwrap();
    payload.get("via").cloned()
}

#[test]
fn an_alert_on_a_ci_joins_the_open_incident_of_an_affected_service_when_the_policy_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut policy = opsledger::Policy::default();
    policy.incident.correlate_alerts_by_service = true;
    let engine = open_on_disk(dir.path(), config(&clock, 1).with_policy(policy)).unwrap();
    load_shop(&engine);
    let on = |n: u32, service: &str, ci: &str| {
        exec(
            &engine,
            &agent(),
            open_incident_full(
                inc(n),
                "Checkout failing",
                opsledger_core::Impact::High,
                opsledger_core::Urgency::High,
                "web-ops",
                service,
                ci,
            ),
        )
    };
    on(1, "payments", "psp");
    on(2, "webshop", "lb-01");
    clock.advance(chrono::Duration::minutes(5));
    // db-01 affects both services: the web shop is the more critical one.
    let joined = exec(&engine, &agent(), alert_on("db-01-disk", "db-01", None));
    assert_eq!(joined.record, opsledger::RecordRef::incident(inc(2)));
    let via = joined_via(&joined).expect("joined through a service");
    assert_eq!(via["ci"], "db-01");
    assert_eq!(via["service"]["service"], "webshop");
    let path = via["service"]["path"].as_array().unwrap();
    assert_eq!(
        path.first().unwrap()["item"],
        serde_json::json!({"service": "webshop"})
    );
    assert_eq!(
        path.last().unwrap()["item"],
        serde_json::json!({"ci": "db-01"})
    );
    // The timeline says so in words.
    let timeline = engine
        .view(None)
        .unwrap()
        .timeline(opsledger::RecordRef::incident(inc(2)))
        .unwrap();
    let last = &timeline.last().unwrap().what;
    assert!(
        last.starts_with("alert db-01-disk from zabbix fired at")
            && last.contains(
                "joined through the service: CI db-01 affects Web shop (critical criticality) via"
            ),
        "{last}"
    );
    assert!(!last.contains(&inc(2).0.to_string()), "{last}");
    // The same alert again, and one on a CI only payments needs, each to their service.
    let again = exec(&engine, &agent(), alert_on("db-01-disk", "db-01", None));
    assert_eq!(again.record, opsledger::RecordRef::incident(inc(2)));
    let psp = exec(&engine, &agent(), alert_on("psp-timeouts", "psp", None));
    assert_eq!(psp.record, opsledger::RecordRef::incident(inc(1)));
    assert_eq!(joined_via(&psp).unwrap()["service"]["service"], "payments");
    // As of the alert's instant: a CI related to the shop only later was not its then.
    let before_cache = clock.now();
    clock.advance(chrono::Duration::minutes(5));
    let mut cache = register(&ci("cache-01"), "Cache", Criticality::Medium);
    cache.push(relate(
        &ci("app-01"),
        RelationType::DependsOn,
        &ci("cache-01"),
    ));
    engine.change_service_model(&modeller(), &cache).unwrap();
    clock.advance(chrono::Duration::minutes(1));
    let late = exec(
        &engine,
        &agent(),
        alert_on("cache-evictions", "cache-01", Some(before_cache)),
    );
    assert!(
        late.events
            .iter()
            .any(|e| e.event_type == "incident.opened"),
        "an alert from before the CI existed opens its own incident"
    );
    let now = exec(&engine, &agent(), alert_on("cache-miss", "cache-01", None));
    assert_eq!(now.record, opsledger::RecordRef::incident(inc(2)));
    engine.close().unwrap();
}

#[test]
fn without_the_setting_or_an_open_incident_an_alert_opens_its_own_incident() {
    let (engine, _clock) = memory_engine();
    load_shop(&engine);
    exec(
        &engine,
        &agent(),
        open_incident_full(
            inc(1),
            "Checkout failing",
            opsledger_core::Impact::High,
            opsledger_core::Urgency::High,
            "web-ops",
            "webshop",
            "lb-01",
        ),
    );
    let off = exec(&engine, &agent(), alert_on("db-01-disk", "db-01", None));
    assert_ne!(off.record, opsledger::RecordRef::incident(inc(1)));
    assert!(off.events.iter().any(|e| e.event_type == "incident.opened"));
    // On, but the only affected service has no open incident.
    let clock = clock();
    let mut policy = opsledger::Policy::default();
    policy.incident.correlate_alerts_by_service = true;
    let engine = Engine::in_memory(config(&clock, 1).with_policy(policy)).unwrap();
    load_shop(&engine);
    let alone = exec(&engine, &agent(), alert_on("psp-timeouts", "psp", None));
    assert!(
        alone
            .events
            .iter()
            .any(|e| e.event_type == "incident.opened")
    );
    // A caller may not claim a service route itself.
    let forged = engine.execute(opsledger::CommandEnvelope::new(
        agent(),
        opsledger_core::incident::IncidentCommand::CorrelateAlert {
            id: opsledger_core::IncidentId(alone.record.id),
            dedup_key: "psp-timeouts".into(),
            seen_at: clock.now(),
            via: Some(opsledger_core::incident::ServiceCorrelation {
                ci: "psp".into(),
                source: "zabbix".into(),
                service: engine
                    .blast_radius(opsledger_core::IncidentId(alone.record.id))
                    .unwrap()
                    .remove(0),
            }),
        },
    ));
    let err = forged.unwrap_err();
    assert_eq!(err.code(), "invalid_input", "{err}");
    assert!(err.to_string().contains("via"), "{err}");
}

#[test]
fn a_retired_item_is_reactivated_with_a_reason_and_relations_are_recorded_again() {
    let (engine, _clock) = memory_engine();
    load_shop(&engine);
    engine
        .change_service_model(&modeller(), &[ModelCommand::Retire { item: ci("db-01") }])
        .unwrap();
    let before = model_events(&engine);
    // Refusals write nothing: no reason; an item that is not retired.
    let no_reason = engine
        .change_service_item(
            &modeller(),
            ModelCommand::Reactivate {
                item: ci("db-01"),
                reason: " ".into(),
            },
            false,
        )
        .unwrap_err();
    assert_eq!(no_reason.code(), "validation", "{no_reason}");
    assert!(no_reason.to_string().contains("reason"), "{no_reason}");
    let live = engine
        .change_service_item(
            &modeller(),
            ModelCommand::Reactivate {
                item: ci("app-01"),
                reason: "never left".into(),
            },
            false,
        )
        .unwrap_err();
    assert_eq!(live.code(), "item_transition", "{live}");
    assert_eq!(model_events(&engine), before);
    engine
        .change_service_item(
            &modeller(),
            ModelCommand::Reactivate {
                item: ci("db-01"),
                reason: "Restored from backup after the storage migration".into(),
            },
            false,
        )
        .unwrap();
    let detail = engine.service_item(&ci("db-01")).unwrap();
    assert_eq!(
        detail.item.status,
        opsledger::core::service::ItemStatus::Operational
    );
    // Back, but nothing depends on it until it is related again.
    assert!(engine.impact(&ci("db-01")).unwrap().services.is_empty());
    engine
        .change_service_model(
            &modeller(),
            &[relate(&ci("app-01"), RelationType::DependsOn, &ci("db-01"))],
        )
        .unwrap();
    assert_eq!(engine.impact(&ci("db-01")).unwrap().services.len(), 1);
    // The event says who and why.
    let events = engine.events(0, 10_000).unwrap();
    let reactivated = events
        .iter()
        .find(|e| e.event_type == "service_model.item_reactivated")
        .expect("recorded");
    let payload: serde_json::Value = serde_json::from_slice(&reactivated.payload).unwrap();
    assert_eq!(payload["by"], "cmdb");
    assert_eq!(
        payload["reason"],
        "Restored from backup after the storage migration"
    );
}

mod as_of {
    use super::*;
    use proptest::prelude::*;

    /// One step of a random history of the shop's model and incidents.
    #[derive(Debug, Clone)]
    enum Step {
        Relate(usize, RelationType, usize),
        Unrelate(usize),
        Retire(usize),
        Reactivate(usize),
        OpenOn(usize),
        Resolve(usize),
    }

    const ITEMS: [&str; 7] = [
        "webshop", "payments", "lb-01", "app-01", "app-02", "db-01", "psp",
    ];

    fn item(n: usize) -> ItemRef {
        let name = ITEMS[n % ITEMS.len()];
        if n % ITEMS.len() < 2 {
            service(name)
        } else {
            ci(name)
        }
    }

    fn step() -> impl Strategy<Value = Step> {
        let kind = prop_oneof![
            Just(RelationType::RunsOn),
            Just(RelationType::DependsOn),
            Just(RelationType::ConnectsTo),
        ];
        prop_oneof![
            3 => (0..7usize, kind, 2..7usize).prop_map(|(a, k, b)| Step::Relate(a, k, b)),
            1 => (0..32usize).prop_map(Step::Unrelate),
            1 => (2..7usize).prop_map(Step::Retire),
            1 => (2..7usize).prop_map(Step::Reactivate),
            2 => (0..2usize).prop_map(Step::OpenOn),
            1 => (1..8u32).prop_map(|n| Step::Resolve(n as usize)),
        ]
    }

    /// Applies a step; refusals (a relation to a retired item, ...) are part of the game.
    fn apply(engine: &Engine, step: &Step, opened: &mut u32) {
        let change = |commands: &[ModelCommand]| {
            let _ = engine.change_service_model(&modeller(), commands);
        };
        match step {
            Step::Relate(a, kind, b) => change(&[relate(&item(*a), *kind, &item(*b))]),
            Step::Unrelate(n) => {
                let relations: Vec<_> = engine
                    .service_items(false, None)
                    .unwrap()
                    .into_iter()
                    .flat_map(|i| engine.service_item(&i.item).unwrap().depends_on)
                    .collect();
                if let Some(r) = relations.get(n % relations.len().max(1)) {
                    change(&[ModelCommand::Unrelate {
                        from: r.from.clone(),
                        kind: r.kind,
                        to: r.to.clone(),
                    }]);
                }
            }
            Step::Retire(n) => change(&[ModelCommand::Retire { item: item(*n) }]),
            Step::Reactivate(n) => change(&[ModelCommand::Reactivate {
                item: item(*n),
                reason: "back".into(),
            }]),
            Step::OpenOn(s) => {
                *opened += 1;
                exec(
                    engine,
                    &agent(),
                    open_incident_full(
                        inc(*opened),
                        "Shop trouble",
                        opsledger_core::Impact::High,
                        opsledger_core::Urgency::High,
                        "web-ops",
                        ITEMS[*s],
                        "lb-01",
                    ),
                );
                exec(engine, &agent(), assign(inc(*opened), "web-ops", "dana"));
            }
            Step::Resolve(n) => {
                let n = u32::try_from(*n).unwrap();
                if n <= *opened {
                    let _ = engine.execute(opsledger::CommandEnvelope::new(
                        agent(),
                        resolve(inc(n), "Fixed"),
                    ));
                }
            }
        }
    }

    /// What `query.impact` answers for every CI now (`None`: not live).
    fn answers(
        engine: &Engine,
        as_of: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Vec<Option<String>> {
        (2..ITEMS.len())
            .map(|n| {
                engine
                    .impact_as_of(&item(n), as_of)
                    .ok()
                    .map(|i| serde_json::to_string(&i).unwrap())
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 16, max_shrink_iters: 100, .. ProptestConfig::default() })]

        #[test]
        fn impact_as_of_an_instant_is_what_was_answered_then(
            steps in prop::collection::vec(step(), 1..14),
        ) {
            let (engine, clock) = memory_engine();
            load_shop(&engine);
            let mut opened = 0;
            let mut seen = Vec::new();
            clock.advance(chrono::Duration::minutes(1));
            for step in &steps {
                apply(&engine, step, &mut opened);
                seen.push((clock.now(), answers(&engine, None)));
                clock.advance(chrono::Duration::minutes(1));
            }
            for (at, then) in &seen {
                prop_assert_eq!(&answers(&engine, Some(*at)), then, "as of {}", at);
            }
        }
    }
}

#[test]
fn a_hubs_impact_kept_for_a_version_of_the_model_follows_every_change() {
    let (engine, _clock) = memory_engine();
    let vms = opsledger::service_model::CACHE_IMPACTS_FROM_ITEMS + 100;
    let mut commands = register(&ci("hv-1"), "Hypervisor 1", Criticality::High);
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
    for n in 0..vms {
        let vm = ci(&format!("vm-{n:05}"));
        commands.push(ModelCommand::RegisterCi {
            ci: opsledger_core::CiId::new(format!("vm-{n:05}")),
            attributes: ItemAttributes::default(),
        });
        commands.push(relate(&vm, RelationType::RunsOn, &ci("hv-1")));
    }
    commands.push(relate(
        &service("webshop"),
        RelationType::DependsOn,
        &ci("vm-00000"),
    ));
    // At most 1,000 events per append: in several changes, as an import writes.
    for chunk in commands.chunks(900) {
        engine.change_service_model(&modeller(), chunk).unwrap();
    }
    let first = engine.impact(&ci("hv-1")).unwrap();
    assert!(first.items_reached > opsledger::service_model::CACHE_IMPACTS_FROM_ITEMS);
    assert_eq!(first.services.len(), 1);
    // Asked again: the same answer.
    assert_eq!(engine.impact(&ci("hv-1")).unwrap(), first);
    // The model changes: the answer follows.
    engine
        .change_service_model(
            &modeller(),
            &[relate(
                &service("payments"),
                RelationType::DependsOn,
                &ci("vm-00042"),
            )],
        )
        .unwrap();
    let after = engine.impact(&ci("hv-1")).unwrap();
    let names: Vec<&str> = after
        .services
        .iter()
        .map(|s| s.affected.service.as_str())
        .collect();
    assert_eq!(names, ["webshop", "payments"]);
    engine
        .change_service_model(
            &modeller(),
            &[ModelCommand::Unrelate {
                from: service("webshop"),
                kind: RelationType::DependsOn,
                to: ci("vm-00000"),
            }],
        )
        .unwrap();
    let names: Vec<String> = engine
        .impact(&ci("hv-1"))
        .unwrap()
        .services
        .iter()
        .map(|s| s.affected.service.to_string())
        .collect();
    assert_eq!(names, ["payments"]);
}
