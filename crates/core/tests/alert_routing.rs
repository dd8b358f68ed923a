//! Where an alert goes (`route_alert`) and how an alert joins an incident through its service
//! (`CorrelateAlert` with `via`): one given/when/then case per rule, and properties of the pure
//! routing function.

#[path = "support/incident_fixtures.rs"]
mod fixtures;

use chrono::{DateTime, Utc};
use fixtures::*;
use opsledger_core::incident::{
    AffectedByAlert, AlertFacts, AlertRoute, IncidentCommand, IncidentDecider, IncidentEvent,
    IncidentStatusKind, OpenServiceIncident, ServiceCorrelation, route_alert,
};
use opsledger_core::policy::IncidentPolicy;
use opsledger_core::service::{AffectedService, Criticality, ItemRef, Reached, RelationType};
use opsledger_core::testing::{given, t};
use opsledger_core::{CiId, DomainError, IncidentId, Priority, ServiceId};
use proptest::prelude::*;
use uuid::Uuid;

fn on() -> IncidentPolicy {
    IncidentPolicy {
        correlate_alerts_by_service: true,
        ..IncidentPolicy::default()
    }
}

fn incident(n: u128) -> IncidentId {
    IncidentId(Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0001_0000 + n,
    ))
}

/// `service` affected by `ci` through `hops` intermediate CIs.
fn affected(service: &str, criticality: Criticality, ci: &str, hops: usize) -> AffectedService {
    let mut path = vec![Reached {
        item: ItemRef::Service(ServiceId::new(service)),
        relation: Some(RelationType::DependsOn),
    }];
    for h in 0..hops {
        path.push(Reached {
            item: ItemRef::Ci(CiId::new(format!("{service}-hop-{h}"))),
            relation: Some(RelationType::RunsOn),
        });
    }
    path.push(Reached {
        item: ItemRef::Ci(CiId::new(ci)),
        relation: None,
    });
    AffectedService {
        service: ServiceId::new(service),
        name: service.to_owned(),
        criticality,
        path,
    }
}

fn open(id: IncidentId, priority: Option<Priority>, minute: i64) -> OpenServiceIncident {
    OpenServiceIncident {
        id,
        priority,
        opened_at: t(minute),
    }
}

fn facts(affected: Vec<AffectedByAlert>) -> AlertFacts {
    AlertFacts {
        key_holder: None,
        affected,
    }
}

fn by(
    ci: &str,
    service: AffectedService,
    open_incidents: Vec<OpenServiceIncident>,
) -> AffectedByAlert {
    AffectedByAlert {
        ci: CiId::new(ci),
        service,
        open_incidents,
    }
}

fn joined(route: &AlertRoute) -> Option<(IncidentId, &str)> {
    match route {
        AlertRoute::ViaService {
            incident,
            correlation,
        } => Some((*incident, correlation.service.service.as_str())),
        AlertRoute::Repeat { .. } | AlertRoute::Open => None,
    }
}

// ----- route_alert: one case per row of the rule ----------------------------------------------

#[test]
fn an_open_incident_holding_the_key_takes_the_alert_whatever_the_model_says() {
    let facts = AlertFacts {
        key_holder: Some(incident(1)),
        affected: vec![by(
            "db-01",
            affected("shop", Criticality::Critical, "db-01", 0),
            vec![open(incident(2), Some(Priority::Critical), 0)],
        )],
    };
    assert_eq!(
        route_alert(&on(), &facts, "zabbix"),
        AlertRoute::Repeat {
            incident: incident(1)
        }
    );
}

#[test]
fn with_the_setting_off_an_alert_without_a_key_holder_opens_a_new_incident() {
    let facts = facts(vec![by(
        "db-01",
        affected("shop", Criticality::Critical, "db-01", 0),
        vec![open(incident(2), Some(Priority::High), 0)],
    )]);
    assert_eq!(
        route_alert(&IncidentPolicy::default(), &facts, "zabbix"),
        AlertRoute::Open
    );
}

#[test]
fn with_the_setting_on_an_alert_joins_the_open_incident_of_an_affected_service() {
    let shop = affected("shop", Criticality::High, "db-01", 1);
    let facts = facts(vec![by(
        "db-01",
        shop.clone(),
        vec![open(incident(2), Some(Priority::High), 0)],
    )]);
    assert_eq!(
        route_alert(&on(), &facts, "zabbix"),
        AlertRoute::ViaService {
            incident: incident(2),
            correlation: ServiceCorrelation {
                ci: CiId::new("db-01"),
                source: "zabbix".to_owned(),
                service: shop,
            }
        }
    );
}

#[test]
fn with_the_setting_on_but_no_open_incident_on_an_affected_service_a_new_incident_opens() {
    let facts = facts(vec![by(
        "db-01",
        affected("shop", Criticality::Critical, "db-01", 0),
        vec![],
    )]);
    assert_eq!(route_alert(&on(), &facts, "zabbix"), AlertRoute::Open);
    assert_eq!(
        route_alert(&on(), &AlertFacts::default(), "zabbix"),
        AlertRoute::Open
    );
}

#[test]
fn the_most_critical_affected_service_wins_over_a_nearer_one_and_a_more_urgent_incident() {
    let facts = facts(vec![
        by(
            "db-01",
            affected("reports", Criticality::Low, "db-01", 0),
            vec![open(incident(1), Some(Priority::Critical), 0)],
        ),
        by(
            "db-01",
            affected("shop", Criticality::Critical, "db-01", 3),
            vec![open(incident(2), Some(Priority::Low), 5)],
        ),
    ]);
    assert_eq!(
        joined(&route_alert(&on(), &facts, "zabbix")),
        Some((incident(2), "shop"))
    );
}

#[test]
fn among_equally_critical_services_the_nearest_wins() {
    let facts = facts(vec![
        by(
            "db-01",
            affected("a-far", Criticality::High, "db-01", 2),
            vec![open(incident(1), Some(Priority::Critical), 0)],
        ),
        by(
            "db-01",
            affected("z-near", Criticality::High, "db-01", 0),
            vec![open(incident(2), Some(Priority::Low), 0)],
        ),
    ]);
    assert_eq!(
        joined(&route_alert(&on(), &facts, "zabbix")),
        Some((incident(2), "z-near"))
    );
}

#[test]
fn within_a_service_the_most_urgent_then_earliest_incident_wins_and_unprioritised_come_last() {
    let shop = affected("shop", Criticality::High, "db-01", 0);
    let facts = facts(vec![by(
        "db-01",
        shop,
        vec![
            open(incident(1), None, 0),
            open(incident(2), Some(Priority::Moderate), 1),
            open(incident(3), Some(Priority::High), 9),
            open(incident(4), Some(Priority::High), 3),
        ],
    )]);
    assert_eq!(
        joined(&route_alert(&on(), &facts, "zabbix")),
        Some((incident(4), "shop"))
    );
}

// ----- route_alert: properties ----------------------------------------------------------------

fn criticality() -> impl Strategy<Value = Criticality> {
    prop_oneof![
        Just(Criticality::Critical),
        Just(Criticality::High),
        Just(Criticality::Medium),
        Just(Criticality::Low),
    ]
}

fn priority() -> impl Strategy<Value = Option<Priority>> {
    prop_oneof![
        Just(None),
        Just(Some(Priority::Critical)),
        Just(Some(Priority::High)),
        Just(Some(Priority::Moderate)),
        Just(Some(Priority::Low)),
        Just(Some(Priority::Planning)),
    ]
}

/// Affected services of up to 3 CIs, each service reached once per CI; incident ids unique.
fn affected_set() -> impl Strategy<Value = Vec<AffectedByAlert>> {
    prop::collection::vec(
        (
            0..3usize,
            0..5usize,
            criticality(),
            0..4usize,
            prop::collection::vec((priority(), 0..50i64), 0..4),
        ),
        0..8,
    )
    .prop_map(|rows| {
        let mut seen = std::collections::BTreeSet::new();
        let mut next = 0u128;
        rows.into_iter()
            .filter(|(ci, service, ..)| seen.insert((*ci, *service)))
            .map(|(ci, service, crit, hops, incidents)| {
                let ci = format!("ci-{ci}");
                by(
                    &ci,
                    affected(&format!("svc-{service}"), crit, &ci, hops),
                    incidents
                        .into_iter()
                        .map(|(p, minute)| {
                            next += 1;
                            open(incident(next), p, minute)
                        })
                        .collect(),
                )
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn routing_is_a_function_of_the_facts_not_of_their_order(
        affected in affected_set(),
        seed in any::<u64>(),
    ) {
        let mut shuffled = affected.clone();
        // A deterministic permutation of the facts and of each service's incidents.
        let n = shuffled.len();
        if n > 1 {
            shuffled.rotate_left(usize::try_from(seed % n as u64).unwrap_or(0));
        }
        shuffled.reverse();
        for a in &mut shuffled {
            a.open_incidents.reverse();
        }
        prop_assert_eq!(
            route_alert(&on(), &facts(affected), "zabbix"),
            route_alert(&on(), &facts(shuffled), "zabbix")
        );
    }

    #[test]
    fn a_joined_incident_is_an_open_incident_of_a_most_critical_candidate(
        affected in affected_set(),
    ) {
        let route = route_alert(&on(), &facts(affected.clone()), "zabbix");
        let candidates: Vec<&AffectedByAlert> =
            affected.iter().filter(|a| !a.open_incidents.is_empty()).collect();
        match route {
            AlertRoute::Open => prop_assert!(candidates.is_empty()),
            AlertRoute::Repeat { .. } => prop_assert!(false, "no key holder was given"),
            AlertRoute::ViaService { incident, correlation } => {
                let best = candidates.iter().map(|a| a.service.criticality).min();
                prop_assert_eq!(Some(correlation.service.criticality), best);
                prop_assert!(correlation.path_is_consistent());
                prop_assert!(candidates.iter().any(|a| a.ci == correlation.ci
                    && a.service == correlation.service
                    && a.open_incidents.iter().any(|i| i.id == incident)));
            }
        }
    }

    #[test]
    fn the_setting_off_never_joins_through_a_service_and_a_key_holder_always_wins(
        affected in affected_set(),
        holder in any::<bool>(),
    ) {
        let mut f = facts(affected);
        prop_assert_eq!(route_alert(&IncidentPolicy::default(), &f, "zabbix"), AlertRoute::Open);
        if holder {
            f.key_holder = Some(incident(0));
            prop_assert_eq!(
                route_alert(&on(), &f, "zabbix"),
                AlertRoute::Repeat { incident: incident(0) }
            );
        }
    }
}

// ----- CorrelateAlert with `via` ----------------------------------------------------------------

fn on_service(service: &str) -> IncidentCommand {
    let mut cmd = open_cmd();
    if let IncidentCommand::Open { service: s, .. } = &mut cmd {
        *s = Some(ServiceId::new(service));
    }
    cmd
}

fn via(service: &str, ci: &str) -> ServiceCorrelation {
    ServiceCorrelation {
        ci: CiId::new(ci),
        source: "zabbix".to_owned(),
        service: affected(service, Criticality::High, ci, 1),
    }
}

fn correlate(via: ServiceCorrelation, seen_at: DateTime<Utc>) -> IncidentCommand {
    IncidentCommand::CorrelateAlert {
        id: INC,
        dedup_key: "db-01-disk".into(),
        seen_at,
        via: Some(via),
    }
}

#[test]
fn an_alert_joining_through_the_service_is_recorded_with_ci_service_and_path() {
    let (events, state) = given::<IncidentDecider>(history(&[on_service("shop")]))
        .at(t(100))
        .when(correlate(via("shop", "db-01"), t(90)))
        .then_ok();
    let [IncidentEvent::AlertCorrelated { via: Some(v), .. }] = events.as_slice() else {
        panic!("one alert_correlated with via, got {events:?}");
    };
    assert_eq!(v, &via("shop", "db-01"));
    // The incident's own alert keeps its counters.
    let state = state.expect("incident");
    assert_eq!(state.alert.expect("own alert").alert_count, 1);
    assert_eq!(state.updated_at, t(100));
}

#[test]
fn an_alert_may_not_join_through_a_service_the_incident_is_not_on() {
    given::<IncidentDecider>(history(&[on_service("shop")]))
        .at(t(100))
        .when(correlate(via("payments", "db-01"), t(90)))
        .then_error(DomainError::validation(
            "via.service.service",
            "the incident is on service shop, not payments",
        ));
    given::<IncidentDecider>(history(&[open_cmd()]))
        .at(t(100))
        .when(correlate(via("shop", "db-01"), t(90)))
        .then_error(DomainError::validation(
            "via.service.service",
            "the incident names no service",
        ));
}

#[test]
fn an_alert_joining_through_a_service_needs_a_path_from_the_service_to_its_ci() {
    let mut broken = via("shop", "db-01");
    broken.ci = CiId::new("web-01");
    given::<IncidentDecider>(history(&[on_service("shop")]))
        .at(t(100))
        .when(correlate(broken, t(90)))
        .then_error(DomainError::validation(
            "via.service.path",
            "the path must run from service shop down to CI web-01",
        ));
}

#[test]
fn an_alert_from_the_future_or_on_a_resolved_incident_is_refused() {
    given::<IncidentDecider>(history(&[on_service("shop")]))
        .at(t(100))
        .when(correlate(via("shop", "db-01"), t(101)))
        .then_error_code("validation");
    let mut cmds = vec![on_service("shop")];
    cmds.extend(path_to(IncidentStatusKind::Resolved, false));
    given::<IncidentDecider>(history(&cmds))
        .at(t(100))
        .when(correlate(via("shop", "db-01"), t(90)))
        .then_error_code("invalid_transition");
}
