//! The service model: its item table exercised exhaustively, one given/when/then case per rule,
//! impact and dependency traversals (cycles included), and property tests over random command
//! sequences.

use opsledger_core::service::{
    Criticality, ItemAttributes, ItemRef, ItemStatus, ModelCommand, ModelCommandKind, ModelEvent,
    ModelIndex, Relation, RelationType, ServiceModel, ServiceModelDecider,
};
use opsledger_core::testing::{actor, admin, given, t0};
use opsledger_core::{Decider, DomainError, Named, Permission, Role};
use proptest::prelude::*;

type S = ItemStatus;
type C = ModelCommandKind;

fn ci(name: &str) -> ItemRef {
    ItemRef::Ci(name.into())
}

fn service(name: &str) -> ItemRef {
    ItemRef::Service(name.into())
}

fn registered(item: &ItemRef) -> ModelEvent {
    ModelEvent::ItemRegistered {
        item: item.clone(),
        attributes: ItemAttributes::default(),
        at: t0(),
        by: "root".into(),
    }
}

fn activated(item: &ItemRef) -> ModelEvent {
    ModelEvent::ItemActivated {
        item: item.clone(),
        at: t0(),
        by: "root".into(),
    }
}

fn retired(item: &ItemRef) -> ModelEvent {
    ModelEvent::ItemRetired {
        item: item.clone(),
        at: t0(),
        by: "root".into(),
    }
}

fn related(from: &ItemRef, kind: RelationType, to: &ItemRef) -> ModelEvent {
    ModelEvent::RelationAdded {
        from: from.clone(),
        kind,
        to: to.clone(),
        at: t0(),
        by: "root".into(),
    }
}

fn relate(from: &ItemRef, kind: RelationType, to: &ItemRef) -> ModelCommand {
    ModelCommand::Relate {
        from: from.clone(),
        kind,
        to: to.clone(),
    }
}

/// History putting `app` (a CI) in `status`, with `db` operational and related to it when the
/// status allows.
fn history(status: Option<S>) -> Vec<ModelEvent> {
    let app = ci("app");
    let db = ci("db");
    let mut events = vec![registered(&db), activated(&db)];
    match status {
        None => {}
        Some(S::Planned) => events.push(registered(&app)),
        Some(S::Operational) => {
            events.extend([registered(&app), activated(&app)]);
            events.push(related(&app, RelationType::RunsOn, &db));
        }
        Some(S::Retired) => events.extend([registered(&app), retired(&app)]),
    }
    events
}

fn valid(kind: C, status: Option<S>) -> ModelCommand {
    let app = ci("app");
    match kind {
        C::RegisterService => ModelCommand::RegisterService {
            service: "app".into(),
            attributes: ItemAttributes::default(),
        },
        C::RegisterCi => ModelCommand::RegisterCi {
            ci: "app".into(),
            attributes: ItemAttributes::default(),
        },
        C::Activate => ModelCommand::Activate { item: app },
        C::Retire => ModelCommand::Retire { item: app },
        C::Reactivate => ModelCommand::Reactivate {
            item: app,
            reason: "back from the scrap heap".into(),
        },
        C::UpdateAttributes => ModelCommand::UpdateAttributes {
            item: app,
            attributes: ItemAttributes {
                criticality: Criticality::High,
                ..ItemAttributes::default()
            },
        },
        C::Relate => relate(&app, RelationType::DependsOn, &ci("db")),
        C::Unrelate => {
            // Only an operational `app` holds a relation (see `history`).
            let kind = if status == Some(S::Operational) {
                RelationType::RunsOn
            } else {
                RelationType::DependsOn
            };
            ModelCommand::Unrelate {
                from: app,
                kind,
                to: ci("db"),
            }
        }
    }
}

#[test]
fn every_state_and_command_is_accepted_exactly_where_the_table_says() {
    let table = ServiceModel::transitions();
    let states: Vec<Option<S>> = std::iter::once(None)
        .chain(S::ALL.iter().copied().map(Some))
        .collect();
    for status in states {
        for kind in C::ALL {
            // Registering a service named like the CI `app` is a new item: check as "none".
            let from = if *kind == C::RegisterService {
                None
            } else {
                status
            };
            let cmd = valid(*kind, status);
            let state = ServiceModelDecider::fold(history(status).iter());
            let result = ServiceModelDecider::decide(
                &state,
                &cmd,
                &opsledger_core::Context::new(t0(), admin(), Default::default()),
            );
            let allowed = table.allows(from, *kind);
            let unrelate_without_relation = *kind == C::Unrelate && status != Some(S::Operational);
            if allowed && !unrelate_without_relation {
                let events = result
                    .unwrap_or_else(|e| panic!("{kind:?} in {status:?} should be accepted: {e}"));
                let after = events
                    .iter()
                    .fold(state.clone(), ServiceModelDecider::evolve);
                let item = cmd.item();
                let now = after.item(&item).map(|i| i.status);
                let targets: Vec<S> = table.targets(from, *kind).collect();
                assert!(
                    now.is_some_and(|n| targets.contains(&n)),
                    "{kind:?} in {status:?} led to {now:?}, table says {targets:?}"
                );
            } else {
                assert!(
                    result.is_err(),
                    "{kind:?} in {status:?} should be refused, got {result:?}"
                );
            }
        }
    }
}

#[test]
fn a_relation_to_an_unknown_item_names_the_field() {
    given::<ServiceModelDecider>(history(Some(S::Planned)))
        .when(relate(&ci("app"), RelationType::RunsOn, &ci("ghost")))
        .then_error(DomainError::UnknownReference {
            path: "to".into(),
            item: "CI ghost".into(),
        });
    given::<ServiceModelDecider>(history(None))
        .when(relate(&ci("ghost"), RelationType::RunsOn, &ci("db")))
        .then_error(DomainError::UnknownReference {
            path: "from".into(),
            item: "CI ghost".into(),
        });
}

#[test]
fn a_relation_to_a_retired_item_is_refused() {
    let mut events = history(Some(S::Retired));
    events.push(registered(&ci("web")));
    given::<ServiceModelDecider>(events.clone())
        .when(relate(&ci("web"), RelationType::ConnectsTo, &ci("app")))
        .then_error(DomainError::RetiredReference {
            path: "to".into(),
            item: "CI app".into(),
        });
    given::<ServiceModelDecider>(events)
        .when(relate(&ci("app"), RelationType::ConnectsTo, &ci("web")))
        .then_error(DomainError::RetiredReference {
            path: "from".into(),
            item: "CI app".into(),
        });
}

#[test]
fn a_self_relation_is_refused() {
    given::<ServiceModelDecider>(history(Some(S::Planned)))
        .when(relate(&ci("app"), RelationType::DependsOn, &ci("app")))
        .then_error(DomainError::SelfRelation {
            path: "to".into(),
            item: "CI app".into(),
        });
}

#[test]
fn a_relation_recorded_twice_is_refused() {
    let err = given::<ServiceModelDecider>(history(Some(S::Operational)))
        .when(relate(&ci("app"), RelationType::RunsOn, &ci("db")))
        .then_error_code("validation");
    assert!(err.to_string().contains("already recorded"), "{err}");
}

#[test]
fn an_unknown_relation_type_names_the_field() {
    let err = RelationType::parse("relations[2].kind", "hosts").unwrap_err();
    assert_eq!(err.code(), "validation");
    assert!(err.to_string().contains("relations[2].kind"), "{err}");
    assert_eq!(
        RelationType::parse("kind", "runs_on").ok(),
        Some(RelationType::RunsOn)
    );
}

#[test]
fn retiring_an_item_removes_its_relations_with_it() {
    let app = ci("app");
    let db = ci("db");
    let state = given::<ServiceModelDecider>(history(Some(S::Operational)))
        .when(ModelCommand::Retire { item: db.clone() })
        .then([retired(&db)]);
    assert!(state.relations.is_empty());
    assert!(state.relations_to(&db).next().is_none());
    assert!(state.relations_from(&app).next().is_none());
}

#[test]
fn a_log_that_removed_the_relations_before_retiring_folds_the_same() {
    let app = ci("app");
    let db = ci("db");
    let mut events = history(Some(S::Operational));
    events.push(ModelEvent::RelationRemoved {
        from: app.clone(),
        kind: RelationType::RunsOn,
        to: db.clone(),
        at: t0(),
        by: "root".into(),
    });
    events.push(retired(&db));
    let old = ServiceModelDecider::fold(&events);
    let mut now = history(Some(S::Operational));
    now.push(retired(&db));
    assert_eq!(old, ServiceModelDecider::fold(&now));
}

#[test]
fn registering_twice_is_an_item_transition_error() {
    given::<ServiceModelDecider>(history(Some(S::Planned)))
        .when(valid(C::RegisterCi, None))
        .then_error(DomainError::ItemTransition {
            item: "CI app".into(),
            state: "planned".into(),
            command: "register_ci".into(),
        });
}

#[test]
fn an_unknown_support_calendar_is_refused() {
    let err = given::<ServiceModelDecider>(history(Some(S::Planned)))
        .when(ModelCommand::UpdateAttributes {
            item: ci("app"),
            attributes: ItemAttributes {
                support_hours: Some(opsledger_core::sla::CalendarRef {
                    id: "nowhere".into(),
                    version: None,
                }),
                ..ItemAttributes::default()
            },
        })
        .then_error_code("validation");
    assert!(
        err.to_string().contains("attributes.support_hours"),
        "{err}"
    );
}

#[test]
fn only_the_service_model_permission_writes_the_model() {
    let err = given::<ServiceModelDecider>(history(None))
        .by(actor("carl", &[Role::Agent]))
        .when(valid(C::RegisterCi, None))
        .then_error_code("forbidden");
    assert_eq!(
        err,
        DomainError::Forbidden {
            actor: "carl".into(),
            permission: Permission::ServiceModelManage
        }
    );
    given::<ServiceModelDecider>(history(None))
        .by(actor("mia", &[Role::ChangeManager]))
        .when(valid(C::RegisterCi, None))
        .then_ok();
}

#[test]
fn several_commands_decide_as_one_change_and_name_the_failing_one() {
    let ctx = opsledger_core::Context::new(t0(), admin(), Default::default());
    let commands = vec![
        valid(C::RegisterCi, None),
        relate(&ci("app"), RelationType::RunsOn, &ci("db")),
        relate(&ci("app"), RelationType::RunsOn, &ci("nowhere")),
    ];
    let state = ServiceModelDecider::fold(history(None).iter());
    let err = ServiceModelDecider::decide_all(&state, &commands, &ctx).unwrap_err();
    assert_eq!(
        err,
        DomainError::UnknownReference {
            path: "commands[2].to".into(),
            item: "CI nowhere".into()
        }
    );
    let events = ServiceModelDecider::decide_all(&state, &commands[..2], &ctx).unwrap();
    assert_eq!(events.len(), 2);
}

/// A web shop: the service depends on the load balancer, which connects to two app servers
/// (which connect back to it: a cycle), which depend on the database.
fn shop() -> ServiceModel {
    let shop = service("web-shop");
    let reports = service("reports");
    let lb = ci("lb");
    let app1 = ci("app-1");
    let app2 = ci("app-2");
    let db = ci("db");
    let mut events = Vec::new();
    for item in [&shop, &reports, &lb, &app1, &app2, &db] {
        events.push(registered(item));
        events.push(activated(item));
    }
    events.extend([
        related(&shop, RelationType::DependsOn, &lb),
        related(&lb, RelationType::ConnectsTo, &app1),
        related(&lb, RelationType::ConnectsTo, &app2),
        related(&app1, RelationType::ConnectsTo, &lb),
        related(&app1, RelationType::DependsOn, &db),
        related(&app2, RelationType::DependsOn, &db),
        related(&reports, RelationType::DependsOn, &db),
    ]);
    ServiceModelDecider::fold(events.iter())
}

#[test]
fn impact_walks_back_to_every_service_through_cycles_with_a_shortest_path() {
    let index = ModelIndex::build(&shop());
    let report = index.impact(&ci("db")).expect("db is live");
    let names: Vec<&str> = report.services.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(names, ["reports", "web-shop"]);
    let path: Vec<String> = report.services[1]
        .path
        .iter()
        .map(|r| r.item.to_string())
        .collect();
    assert_eq!(path, ["service web-shop", "CI lb", "CI app-1", "CI db"]);
    assert_eq!(
        report.services[1].to_string(),
        "web-shop (medium criticality) via web-shop depends on lb connects to app-1 depends on db"
    );
    assert_eq!(report.items_reached, 6);
    // An item nothing depends on affects no service; an unknown one is not in the index.
    assert!(index.impact(&service("reports")).unwrap().services.len() == 1);
    assert!(index.impact(&ci("ghost")).is_none());
}

#[test]
fn dependencies_walk_forward_up_to_the_depth_asked() {
    let index = ModelIndex::build(&shop());
    let direct = index.dependencies(&service("web-shop"), 1).unwrap();
    assert_eq!(direct.len(), 1);
    assert_eq!(direct[0].item, ci("lb"));
    let all = index.dependencies(&service("web-shop"), 10).unwrap();
    let items: Vec<String> = all.iter().map(|d| d.item.id().to_owned()).collect();
    assert_eq!(items, ["lb", "app-1", "app-2", "db"]);
    assert_eq!(all[3].depth, 3);
}

#[test]
fn retired_items_leave_the_index() {
    let mut model = shop();
    let ctx = opsledger_core::Context::new(t0(), admin(), Default::default());
    let events =
        ServiceModelDecider::decide(&model, &ModelCommand::Retire { item: ci("lb") }, &ctx)
            .unwrap();
    for e in &events {
        model = ServiceModelDecider::evolve(model, e);
    }
    let index = ModelIndex::build(&model);
    let report = index.impact(&ci("db")).unwrap();
    let names: Vec<&str> = report.services.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(names, ["reports"]);
}

fn arb_item() -> impl Strategy<Value = ItemRef> {
    prop_oneof![
        (0u8..3).prop_map(|i| service(&format!("s{i}"))),
        (0u8..6).prop_map(|i| ci(&format!("c{i}"))),
    ]
}

fn arb_kind() -> impl Strategy<Value = RelationType> {
    prop::sample::select(RelationType::ALL.to_vec())
}

fn arb_command() -> impl Strategy<Value = ModelCommand> {
    prop_oneof![
        arb_item().prop_map(|item| match item {
            ItemRef::Service(service) => ModelCommand::RegisterService {
                service,
                attributes: ItemAttributes::default(),
            },
            ItemRef::Ci(ci) => ModelCommand::RegisterCi {
                ci,
                attributes: ItemAttributes::default(),
            },
        }),
        arb_item().prop_map(|item| ModelCommand::Activate { item }),
        arb_item().prop_map(|item| ModelCommand::Retire { item }),
        (arb_item(), arb_kind(), arb_item()).prop_map(|(f, k, t)| relate(&f, k, &t)),
        (arb_item(), arb_kind(), arb_item())
            .prop_map(|(from, kind, to)| { ModelCommand::Unrelate { from, kind, to } }),
    ]
}

proptest! {
    /// Whatever is asked: refusals change nothing, the model never holds a relation naming a
    /// missing or retired item or an item itself, both directions agree, and every impact
    /// path follows recorded relations from a service down to the item.
    #[test]
    fn the_model_keeps_its_invariants(commands in prop::collection::vec(arb_command(), 1..60)) {
        let ctx = opsledger_core::Context::new(t0(), admin(), Default::default());
        let mut model = ServiceModel::default();
        for cmd in &commands {
            match ServiceModelDecider::decide(&model, cmd, &ctx) {
                Ok(events) => {
                    for e in &events {
                        model = ServiceModelDecider::evolve(model, e);
                    }
                }
                Err(e) => prop_assert!(!e.code().is_empty()),
            }
            for r in &model.relations {
                prop_assert_ne!(&r.from, &r.to);
                for end in [&r.from, &r.to] {
                    let status = model.item(end).map(|i| i.status);
                    prop_assert!(matches!(status, Some(S::Planned | S::Operational)), "{r}");
                }
                prop_assert!(model.relations_to(&r.to).any(|x| &x == r));
            }
            prop_assert_eq!(
                model.relations.len(),
                model.items.keys().map(|i| model.relations_to(i).count()).sum::<usize>()
            );
        }
        let index = ModelIndex::build(&model);
        for item in model.items.keys() {
            let Some(report) = index.impact(item) else { continue };
            for affected in &report.services {
                prop_assert_eq!(&affected.path[0].item, &ItemRef::Service(affected.service.clone()));
                prop_assert_eq!(&affected.path.last().unwrap().item, item);
                for pair in affected.path.windows(2) {
                    let relation = Relation {
                        from: pair[0].item.clone(),
                        kind: pair[0].relation.unwrap(),
                        to: pair[1].item.clone(),
                    };
                    prop_assert!(model.relations.contains(&relation), "{relation}");
                }
            }
        }
    }
}

#[test]
fn the_impact_cache_keeps_hub_answers_only_and_stays_bounded() {
    use opsledger_core::service::{ImpactCache, ModelIndex, Relation};
    let hubs = ImpactCache::MAX + 1;
    let vms = ImpactCache::FROM_ITEMS;
    let mut items = vec![(
        ItemRef::Service("shop".into()),
        "Shop".to_owned(),
        Criticality::High,
    )];
    let mut relations = Vec::new();
    for h in 0..hubs {
        items.push((
            ci(&format!("hv-{h}")),
            format!("hv {h}"),
            Criticality::Medium,
        ));
    }
    for v in 0..vms {
        let vm = ci(&format!("vm-{v}"));
        items.push((vm.clone(), format!("vm {v}"), Criticality::Medium));
        for h in 0..hubs {
            relations.push(Relation {
                from: vm.clone(),
                kind: RelationType::RunsOn,
                to: ci(&format!("hv-{h}")),
            });
        }
    }
    relations.push(Relation {
        from: ItemRef::Service("shop".into()),
        kind: RelationType::DependsOn,
        to: ci("vm-0"),
    });
    let index = ModelIndex::from_parts(items, relations);
    let mut cache = ImpactCache::default();
    // A VM reaches two items: not kept.
    let small = cache.impact(&index, &ci("vm-0")).expect("live");
    assert_eq!(small.items_reached, 2);
    assert!(cache.is_empty());
    // A hypervisor reaches every VM: kept, and the same answer comes back.
    let hub = cache.impact(&index, &ci("hv-0")).expect("live");
    assert_eq!(*hub, index.impact(&ci("hv-0")).expect("live"));
    assert_eq!(cache.len(), 1);
    assert!(std::sync::Arc::ptr_eq(
        &hub,
        &cache.impact(&index, &ci("hv-0")).expect("kept")
    ));
    // One hub more than the bound empties it first.
    for h in 1..hubs {
        cache.impact(&index, &ci(&format!("hv-{h}"))).expect("live");
    }
    assert_eq!(cache.len(), 1);
    assert!(cache.impact(&index, &ci("nowhere")).is_none());
    cache.clear();
    assert!(cache.is_empty());
}
