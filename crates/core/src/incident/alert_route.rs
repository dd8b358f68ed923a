//! Where an alert goes: a pure function of the facts the engine gathers when the alert
//! arrives (who holds its dedup key, which services the outage of its CIs affects and their
//! open incidents) and the incident policy.
//!
//! | given | then |
//! |---|---|
//! | an open incident holds the alert's dedup key | the alert repeats on it ([`AlertRoute::Repeat`]) |
//! | no holder, `correlate_alerts_by_service` off | a new incident opens ([`AlertRoute::Open`]) |
//! | no holder, the setting on, an affected service has an open incident | the alert joins that incident ([`AlertRoute::ViaService`]) |
//! | no holder, the setting on, no affected service has an open incident | a new incident opens |
//!
//! Among several candidates the alert joins the incident of the most critical affected
//! service, then the one nearest to the CI (fewest steps), then by service id; within that
//! service the most urgent incident, then the earliest opened, then by id. The order the
//! facts arrive in never matters.

use crate::ids::{CiId, IncidentId};
use crate::policy::IncidentPolicy;
use crate::priority::Priority;
use crate::service::{AffectedService, ItemRef};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How an alert joined an incident that does not hold its dedup key: the alert's CI, the
/// service of the incident that the CI's outage affects, and the path between them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServiceCorrelation {
    /// The alert's CI whose outage affects the service.
    pub ci: CiId,
    /// The monitoring system that sent the alert.
    pub source: String,
    /// The affected service (the incident's), its criticality and the path from it down to
    /// the CI, as the service model stood when the alert fired.
    pub service: AffectedService,
}

impl fmt::Display for ServiceCorrelation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CI {} affects {}", self.ci, self.service)
    }
}

impl ServiceCorrelation {
    /// Whether the path runs from the service down to the CI, as an impact answer gives it.
    pub fn path_is_consistent(&self) -> bool {
        let first = self.service.path.first().map(|r| &r.item);
        let last = self.service.path.last().map(|r| &r.item);
        first == Some(&ItemRef::Service(self.service.service.clone()))
            && last == Some(&ItemRef::Ci(self.ci.clone()))
    }
}

/// An open incident of an affected service, as the read model lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenServiceIncident {
    /// The incident.
    pub id: IncidentId,
    /// Its priority (`None`: not recorded).
    pub priority: Option<Priority>,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
}

/// A service the outage of one of the alert's CIs affects, with its open incidents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffectedByAlert {
    /// The alert's CI.
    pub ci: CiId,
    /// The service, its criticality and the path from it down to the CI.
    pub service: AffectedService,
    /// Its open incidents.
    pub open_incidents: Vec<OpenServiceIncident>,
}

/// What the engine knows when an alert arrives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFacts {
    /// The open incident holding the alert's dedup key, if any.
    pub key_holder: Option<IncidentId>,
    /// The services the outage of the alert's CIs affects (gathered only when the policy
    /// asks for correlation by service; ignored otherwise).
    pub affected: Vec<AffectedByAlert>,
}

/// Where an alert goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertRoute {
    /// A repeat of the alert of the open incident holding its dedup key.
    Repeat {
        /// That incident.
        incident: IncidentId,
    },
    /// The alert joins the open incident of a service its CI's outage affects.
    ViaService {
        /// That incident.
        incident: IncidentId,
        /// Which CI, service and path.
        correlation: ServiceCorrelation,
    },
    /// A new incident opens from the alert.
    Open,
}

/// Routes an alert (see the module's table). `source` is the alert's monitoring system.
pub fn route_alert(policy: &IncidentPolicy, facts: &AlertFacts, source: &str) -> AlertRoute {
    if let Some(incident) = facts.key_holder {
        return AlertRoute::Repeat { incident };
    }
    if !policy.correlate_alerts_by_service {
        return AlertRoute::Open;
    }
    let best = facts
        .affected
        .iter()
        .flat_map(|a| a.open_incidents.iter().map(move |i| (a, i)))
        .min_by(|(a, i), (b, j)| {
            let key = |s: &AffectedByAlert, o: &OpenServiceIncident| {
                (
                    s.service.criticality,
                    s.service.path.len(),
                    s.service.service.clone(),
                    s.service
                        .path
                        .iter()
                        .map(|r| r.item.clone())
                        .collect::<Vec<ItemRef>>(),
                    // `None` (no priority recorded) after every priority.
                    o.priority.is_none(),
                    o.priority,
                    o.opened_at,
                    o.id,
                    s.ci.clone(),
                )
            };
            key(a, i).cmp(&key(b, j))
        });
    match best {
        Some((affected, incident)) => AlertRoute::ViaService {
            incident: incident.id,
            correlation: ServiceCorrelation {
                ci: affected.ci.clone(),
                source: source.to_owned(),
                service: affected.service.clone(),
            },
        },
        None => AlertRoute::Open,
    }
}
