//! The service model in the engine: the `service-model` stream decided by the core's
//! [`ServiceModelDecider`] at the stream's version, the model folded from it (refreshed from
//! its tail before each use: another engine on the same log may have written) with its
//! adjacency index ([`ModelIndex`], rebuilt lazily after a change), the SQL tables
//! `service_items` and `service_relations` (projections/tables/service_model.rs), impact and
//! dependency queries, and the impact an incident records when it is opened on CIs.
//!
//! **Impact recorded at open.** When an incident is opened naming CIs, the services their
//! outage affects at that moment are appended in the same atomic append as the incident's
//! creation, as a `service_model.impact_recorded` event on the stream `impact-<incident>`.
//! A later change of the model does not rewrite it, so an as-of view reads what was known.

use crate::command::Command;
use crate::engine::{Engine, Inner};
use crate::error::{EngineError, Result};
use crate::read_side::ReadSide;
use crate::webhooks::{fixed_stream, lost_race, new_event};
use chrono::{DateTime, Utc};
use opsledger_core::change::CiRelation;
use opsledger_core::incident::{AffectedByAlert, IncidentCommand, OpenServiceIncident};
use opsledger_core::service::MAX_TRAVERSAL_DEPTH;
use opsledger_core::service::{
    AffectedService, Dependency, ImpactCache, ImpactReport, Item, ItemRef, ModelCommand,
    ModelEvent, ModelIndex, Relation, ServiceModel, ServiceModelDecider,
};
use opsledger_core::{
    Actor, CiId, CiScope, Context, Decider, IncidentId, NamedWindow, Policy, ServiceId,
};
use opsledger_store::{AppendRequest, ExpectedVersion, NewEvent, SqlValue, StreamId, Version};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use uuid::Uuid;

/// The stream of service-model events.
pub const SERVICE_MODEL_STREAM: &str = "service-model";
/// The event type of the impact an incident recorded when it was opened.
pub const IMPACT_RECORDED: &str = "service_model.impact_recorded";
/// Most open incidents listed per affected service in an impact answer.
pub const MAX_OPEN_INCIDENTS_PER_SERVICE: usize = 20;
/// How a maintenance or blackout window's scope names a service: `service:webshop` applies
/// the window to every CI the service depends on (see `Inner::expand_service_scopes`).
pub const SERVICE_SCOPE_PREFIX: &str = "service:";
/// Most items one listing returns.
pub const MAX_ITEMS_PAGE: usize = 10_000;

/// The stream holding the impact recorded when `incident` was opened.
pub fn impact_stream(incident: IncidentId) -> StreamId {
    fixed_stream(&format!("impact-{}", incident.0))
}

/// An impact answer is kept for the model's version when its search reached at least this
/// many items (see [`ImpactCache`]).
pub const CACHE_IMPACTS_FROM_ITEMS: usize = ImpactCache::FROM_ITEMS;

/// The model folded from the `service-model` stream, and its index.
#[derive(Debug, Default)]
pub(crate) struct ModelBook {
    version: u64,
    model: ServiceModel,
    index: Option<Arc<ModelIndex>>,
    /// Impact answers of hub items for this version; emptied with the index whenever the
    /// model changes.
    impacts: ImpactCache,
    /// When the latest folded event was recorded.
    last_recorded_at: Option<DateTime<Utc>>,
}

impl ModelBook {
    fn refresh(&mut self, inner: &Inner) -> Result<()> {
        let stream = fixed_stream(SERVICE_MODEL_STREAM);
        loop {
            let page = inner
                .store()
                .read_stream(&stream, Version(self.version + 1), 1000)?;
            let n = page.len();
            for e in page {
                let event: ModelEvent =
                    serde_json::from_slice(&e.payload).map_err(|err| EngineError::Decode {
                        position: e.position.0,
                        reason: err.to_string(),
                    })?;
                let model = std::mem::take(&mut self.model);
                self.model = ServiceModelDecider::evolve(model, &event);
                self.version = e.version.0;
                self.last_recorded_at = Some(e.recorded_at);
                self.index = None;
                self.impacts.clear();
            }
            if n < 1000 {
                return Ok(());
            }
        }
    }

    fn index(&mut self) -> Arc<ModelIndex> {
        self.index
            .get_or_insert_with(|| Arc::new(ModelIndex::build(&self.model)))
            .clone()
    }

    /// The impact of `item` on this version of the model, from the cache for a hub.
    fn impact(&mut self, item: &ItemRef) -> Option<Arc<ImpactReport>> {
        let index = self.index();
        self.impacts.impact(&index, item)
    }
}

/// What one service-model change wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ModelChange {
    /// How many events were appended.
    pub events: usize,
    /// The `service-model` stream's version afterwards.
    pub version: u64,
}

/// An open incident on an affected service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OpenIncident {
    /// The incident.
    pub id: IncidentId,
    /// Its number (`INC0000042`).
    pub number: Option<String>,
    /// Its title.
    pub title: String,
    /// Its priority (`critical` .. `planning`).
    pub priority: Option<String>,
}

/// A service an outage affects, with its open incidents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImpactedService {
    /// The service, its criticality and the path from it down to the item.
    #[serde(flatten)]
    pub affected: AffectedService,
    /// Its open incidents, most urgent first (at most [`MAX_OPEN_INCIDENTS_PER_SERVICE`]).
    pub open_incidents: Vec<OpenIncident>,
}

/// The answer of [`Engine::impact`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServiceImpact {
    /// The item whose outage is assessed.
    pub item: ItemRef,
    /// The affected services: most critical first, then nearest.
    pub services: Vec<ImpactedService>,
    /// How many items the outage reaches (the item included).
    pub items_reached: usize,
}

impl fmt::Display for ServiceImpact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.services.is_empty() {
            return write!(f, "An outage of {} affects no service", self.item);
        }
        write!(f, "An outage of {} affects:", self.item)?;
        for s in &self.services {
            write!(f, "\n  - {}", s.affected)?;
            for i in &s.open_incidents {
                let number = i.number.as_deref().unwrap_or("an incident");
                write!(f, "\n      open: {number} {}", i.title)?;
            }
        }
        Ok(())
    }
}

/// The services an incident's CIs affected when it was opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RecordedImpact {
    /// The incident.
    pub incident: IncidentId,
    /// Its CIs at opening.
    pub cis: Vec<CiId>,
    /// The services they affected then, most critical first (one path each).
    pub services: Vec<AffectedService>,
    /// When it was recorded (the incident's opening).
    pub at: DateTime<Utc>,
}

/// The answer of [`Engine::service_item`]: the item and its direct relations both ways.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ItemDetail {
    /// The item.
    #[serde(flatten)]
    pub item: Item,
    /// Relations starting at it (what it needs).
    pub depends_on: Vec<Relation>,
    /// Relations ending at it (what needs it).
    pub needed_by: Vec<Relation>,
}

/// Merges the impact of several items: each service once, with its shortest path.
pub(crate) fn merge_impacts(
    reports: impl IntoIterator<Item = ImpactReport>,
) -> Vec<AffectedService> {
    let mut by_service: BTreeMap<ServiceId, AffectedService> = BTreeMap::new();
    for report in reports {
        for s in report.services {
            match by_service.get(&s.service) {
                Some(old) if old.path.len() <= s.path.len() => {}
                _ => {
                    by_service.insert(s.service.clone(), s);
                }
            }
        }
    }
    let mut out: Vec<AffectedService> = by_service.into_values().collect();
    out.sort_by(|a, b| {
        (a.criticality, a.path.len(), &a.service).cmp(&(b.criticality, b.path.len(), &b.service))
    });
    out
}

impl Inner {
    /// Runs `f` over the current model and its index.
    pub(crate) fn with_service_model<T>(
        &self,
        f: impl FnOnce(&ServiceModel, &ModelIndex) -> T,
    ) -> Result<T> {
        let mut book = self.service_model.lock();
        book.refresh(self)?;
        let index = book.index();
        Ok(f(&book.model, &index))
    }

    /// The impact of each of `items` on the model as it stood at `at` (`None`: now), that is
    /// as every service-model event recorded by then left it; `None` for an item not live
    /// then. The live model (and its cache of hub answers) serves when nothing was recorded
    /// after `at`; else the stream is folded up to the first event recorded later, indexed
    /// for this call.
    pub(crate) fn impacts_as_of(
        &self,
        items: &[ItemRef],
        at: Option<DateTime<Utc>>,
    ) -> Result<Vec<Option<Arc<ImpactReport>>>> {
        {
            let mut book = self.service_model.lock();
            book.refresh(self)?;
            let live = match (at, book.last_recorded_at) {
                (None, _) | (_, None) => true,
                (Some(at), Some(last)) => last <= at,
            };
            if live {
                return Ok(items.iter().map(|i| book.impact(i)).collect());
            }
        }
        let model = self.service_model_until(at.unwrap_or_default())?;
        let index = ModelIndex::build(&model);
        Ok(items
            .iter()
            .map(|i| index.impact(i).map(Arc::new))
            .collect())
    }

    /// The model folded from the `service-model` events recorded at or before `at`.
    fn service_model_until(&self, at: DateTime<Utc>) -> Result<ServiceModel> {
        let stream = fixed_stream(SERVICE_MODEL_STREAM);
        let mut model = ServiceModel::default();
        let mut next = 1;
        loop {
            let page = self.store().read_stream(&stream, Version(next), 1000)?;
            let n = page.len();
            for e in page {
                if e.recorded_at > at {
                    return Ok(model);
                }
                let event: ModelEvent =
                    serde_json::from_slice(&e.payload).map_err(|err| EngineError::Decode {
                        position: e.position.0,
                        reason: err.to_string(),
                    })?;
                model = ServiceModelDecider::evolve(model, &event);
                next = e.version.0 + 1;
            }
            if n < 1000 {
                return Ok(model);
            }
        }
    }

    /// What alert routing needs from the service model: the services the outage of each of
    /// `cis` affected at `at` (the alert's instant), each with its open incidents now.
    pub(crate) fn alert_impact(
        &self,
        cis: &[CiId],
        at: DateTime<Utc>,
    ) -> Result<Vec<AffectedByAlert>> {
        let items: Vec<ItemRef> = cis.iter().map(|ci| ItemRef::Ci(ci.clone())).collect();
        let impacts: Vec<(CiId, Vec<AffectedService>)> = cis
            .iter()
            .zip(self.impacts_as_of(&items, Some(at))?)
            .filter_map(|(ci, report)| report.map(|r| (ci.clone(), r.services.clone())))
            .collect();
        let names: Vec<&ServiceId> = impacts
            .iter()
            .flat_map(|(_, services)| services.iter().map(|s| &s.service))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let open = self.open_incidents_opened(&names)?;
        let mut out = Vec::new();
        for (ci, services) in impacts {
            for service in services {
                let open_incidents = open
                    .get(&service.service)
                    .map(|list| {
                        list.iter()
                            .map(|(incident, opened_us)| OpenServiceIncident {
                                id: incident.id,
                                priority: incident.priority.as_deref().and_then(|p| {
                                    serde_json::from_value(serde_json::Value::String(p.to_owned()))
                                        .ok()
                                }),
                                opened_at: DateTime::from_timestamp_micros(*opened_us)
                                    .unwrap_or_default(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(AffectedByAlert {
                    ci: ci.clone(),
                    service,
                    open_incidents,
                });
            }
        }
        Ok(out)
    }

    fn decide_service_model(
        &self,
        actor: &Actor,
        commands: &[ModelCommand],
        write: bool,
        indexed: bool,
    ) -> Result<ModelChange> {
        let mut book = self.service_model.lock();
        book.refresh(self)?;
        let now = self.config.clock.now();
        let ctx = Context::new(now, actor.clone(), self.policy());
        let events = if indexed && !write {
            ServiceModelDecider::decide_each(&book.model, commands, &ctx)?
        } else if indexed {
            ServiceModelDecider::decide_all(&book.model, commands, &ctx)?
        } else {
            let mut scratch = book.model.clone();
            let mut events = Vec::new();
            for cmd in commands {
                let decided = ServiceModelDecider::decide(&scratch, cmd, &ctx)?;
                for e in &decided {
                    scratch = ServiceModelDecider::evolve(scratch, e);
                }
                events.extend(decided);
            }
            events
        };
        if !write || events.is_empty() {
            return Ok(ModelChange {
                events: 0,
                version: book.version,
            });
        }
        let expected = if book.version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(Version(book.version))
        };
        let new = events
            .iter()
            .map(|e| new_event(self.config.ids.new_id(), e, now, actor.id.as_str()))
            .collect::<Result<Vec<_>>>()?;
        let request = AppendRequest::new(fixed_stream(SERVICE_MODEL_STREAM), expected, new);
        self.append_webhook_events(vec![request]).map_err(|e| {
            if lost_race(&e) {
                EngineError::Conflict {
                    record: SERVICE_MODEL_STREAM.to_owned(),
                    expected: book.version,
                    actual: book.version + 1,
                }
            } else {
                e
            }
        })?;
        book.refresh(self)?;
        Ok(ModelChange {
            events: events.len(),
            version: book.version,
        })
    }

    /// Adds to `relations` (the ones a change command carries) the service model's relations
    /// around `cis`: for each CI, an edge to every CI that depends on it directly (a change on
    /// a server clashes with changes on the applications that run on it) and to every CI it
    /// depends on directly. Edges already given are kept once; the total stays within `max`.
    pub(crate) fn merge_model_relations(
        &self,
        cis: &std::collections::BTreeSet<CiId>,
        relations: &mut Vec<CiRelation>,
        max: usize,
    ) -> Result<()> {
        if cis.is_empty() {
            return Ok(());
        }
        let edges = self.with_service_model(|_, index| {
            let mut edges = Vec::new();
            for ci in cis {
                let (dependents, dependencies) = index.ci_neighbours(ci);
                for child in dependents {
                    edges.push(CiRelation {
                        parent: ci.clone(),
                        child,
                    });
                }
                for parent in dependencies {
                    edges.push(CiRelation {
                        parent,
                        child: ci.clone(),
                    });
                }
            }
            edges
        })?;
        let mut seen: std::collections::BTreeSet<CiRelation> = relations.iter().cloned().collect();
        for edge in edges {
            if relations.len() >= max {
                break;
            }
            if seen.insert(edge.clone()) {
                relations.push(edge);
            }
        }
        Ok(())
    }

    /// `policy` with every maintenance and blackout window scoped to a service
    /// (`service:ID` in its scope) also scoped to the CIs that service depends on, directly or
    /// transitively, in the service model: a service's windows apply to its CIs. The same
    /// `Arc` when no window names a service.
    pub(crate) fn expand_service_scopes(&self, policy: Arc<Policy>) -> Result<Arc<Policy>> {
        let names_service = |w: &NamedWindow| {
            matches!(&w.scope, CiScope::Only(cis)
                if cis.iter().any(|c| c.as_str().starts_with(SERVICE_SCOPE_PREFIX)))
        };
        if !policy
            .maintenance_windows
            .iter()
            .chain(policy.blackout_windows.iter())
            .any(names_service)
        {
            return Ok(policy);
        }
        let mut expanded = (*policy).clone();
        self.with_service_model(|_, index| {
            let windows = expanded
                .maintenance_windows
                .iter_mut()
                .chain(expanded.blackout_windows.iter_mut());
            for w in windows {
                let CiScope::Only(cis) = &mut w.scope else {
                    continue;
                };
                let mut extra = Vec::new();
                for c in cis.iter() {
                    let Some(service) = c.as_str().strip_prefix(SERVICE_SCOPE_PREFIX) else {
                        continue;
                    };
                    let item = ItemRef::Service(ServiceId::new(service));
                    for d in index
                        .dependencies(&item, MAX_TRAVERSAL_DEPTH)
                        .unwrap_or_default()
                    {
                        if let ItemRef::Ci(ci) = d.item {
                            extra.push(ci);
                        }
                    }
                }
                for ci in extra {
                    if !cis.contains(&ci) {
                        cis.push(ci);
                    }
                }
            }
        })?;
        Ok(Arc::new(expanded))
    }

    /// Fills the group of an incident opened on CIs without one, when the policy's
    /// `incident.group_from_service_model` is on: the owner group of its first CI that has
    /// one in the service model, else its service's.
    pub(crate) fn fill_group_from_model(
        &self,
        command: &mut Command,
        policy: &Policy,
    ) -> Result<()> {
        if !policy.incident.group_from_service_model {
            return Ok(());
        }
        let Command::Incident(IncidentCommand::Open {
            group: group @ None,
            cis,
            service,
            ..
        }) = command
        else {
            return Ok(());
        };
        let found = self.with_service_model(|model, _| {
            let live_group = |item: ItemRef| {
                model
                    .item(&item)
                    .filter(|i| i.status != opsledger_core::service::ItemStatus::Retired)
                    .and_then(|i| i.attributes.owner_group.clone())
            };
            cis.iter()
                .find_map(|ci| live_group(ItemRef::Ci(ci.clone())))
                .or_else(|| {
                    service
                        .as_ref()
                        .and_then(|s| live_group(ItemRef::Service(s.clone())))
                })
        })?;
        *group = found;
        Ok(())
    }

    /// The append request recording the impact of an incident opened on CIs (`None` for any
    /// other command, or when the model affects no service).
    pub(crate) fn impact_request(
        &self,
        command: &Command,
        actor: &Actor,
        now: DateTime<Utc>,
        correlation: Uuid,
    ) -> Result<Option<AppendRequest>> {
        let Command::Incident(IncidentCommand::Open { id, cis, .. }) = command else {
            return Ok(None);
        };
        if cis.is_empty() {
            return Ok(None);
        }
        let items: Vec<ItemRef> = cis.iter().map(|ci| ItemRef::Ci(ci.clone())).collect();
        let services = merge_impacts(
            self.impacts_as_of(&items, None)?
                .into_iter()
                .flatten()
                .map(Arc::unwrap_or_clone),
        );
        if services.is_empty() {
            return Ok(None);
        }
        let recorded = RecordedImpact {
            incident: *id,
            cis: cis.clone(),
            services,
            at: now,
        };
        let payload = serde_json::to_vec(&recorded)
            .map_err(|e| EngineError::invalid("impact", e.to_string()))?;
        Ok(Some(AppendRequest::new(
            impact_stream(*id),
            ExpectedVersion::NoStream,
            vec![NewEvent {
                event_id: self.config.ids.new_id(),
                event_type: IMPACT_RECORDED.to_owned(),
                schema_version: 1,
                occurred_at: now,
                actor: actor.id.as_str().to_owned(),
                correlation_id: Some(correlation),
                causation_id: None,
                payload,
            }],
        )))
    }

    /// Open incidents of each of `services`, most urgent first, at most
    /// [`MAX_OPEN_INCIDENTS_PER_SERVICE`] each: one query, the services bound as one JSON array.
    fn open_incidents(
        &self,
        services: &[&ServiceId],
    ) -> Result<BTreeMap<ServiceId, Vec<OpenIncident>>> {
        Ok(self
            .open_incidents_opened(services)?
            .into_iter()
            .map(|(service, list)| (service, list.into_iter().map(|(i, _)| i).collect()))
            .collect())
    }
}

impl Engine {
    /// Applies service-model commands as one atomic change (all or nothing), each decided
    /// against the model the previous ones left. Needs `service_model_manage`. Refused,
    /// writing nothing, with `unknown_reference`, `retired_reference`, `self_relation`,
    /// `item_transition` or `validation`, each naming the failing command (`commands[2].to`).
    pub fn change_service_model(
        &self,
        actor: &Actor,
        commands: &[ModelCommand],
    ) -> Result<ModelChange> {
        self.inner.decide_service_model(actor, commands, true, true)
    }

    /// Applies one service-model command on one item (with, for a registration, its
    /// activation): [`Engine::change_service_model`] with errors naming the command's own
    /// field (`to`, not `commands[0].to`).
    pub fn change_service_item(
        &self,
        actor: &Actor,
        command: ModelCommand,
        activate: bool,
    ) -> Result<ModelChange> {
        let item = command.item();
        let mut commands = vec![command];
        if activate {
            commands.push(ModelCommand::Activate { item });
        }
        self.inner
            .decide_service_model(actor, &commands, true, false)
    }

    /// Checks service-model commands as [`Engine::change_service_model`] would, each against
    /// the model the previous ones left, writing nothing: the first error, or `Ok`. Any number
    /// of commands (an import checked whole before it is written in several changes).
    pub fn check_service_model(&self, actor: &Actor, commands: &[ModelCommand]) -> Result<()> {
        self.inner
            .decide_service_model(actor, commands, false, true)
            .map(|_| ())
    }

    /// A service or CI with its direct relations (`not_found` when never registered).
    pub fn service_item(&self, item: &ItemRef) -> Result<ItemDetail> {
        self.inner.with_service_model(|model, _| {
            let found = model.item(item).ok_or_else(|| EngineError::NotFound {
                what: item.to_string(),
            })?;
            Ok(ItemDetail {
                item: found.clone(),
                depends_on: model.relations_from(item).cloned().collect(),
                needed_by: model.relations_to(item).collect(),
            })
        })?
    }

    /// The registered services (`services: true`) or CIs, by id, at most
    /// [`MAX_ITEMS_PAGE`] from `after` on (exclusive).
    pub fn service_items(&self, services: bool, after: Option<&str>) -> Result<Vec<Item>> {
        self.inner.with_service_model(|model, _| {
            model
                .items
                .values()
                .filter(|i| i.item.as_service().is_some() == services)
                .filter(|i| after.is_none_or(|a| i.item.id() > a))
                .take(MAX_ITEMS_PAGE)
                .cloned()
                .collect()
        })
    }

    /// The services an outage of `item` affects, transitively, each with the path from the
    /// service down to the item, its criticality and its open incidents. Cycles are walked
    /// once. `not_found` when `item` is not a live (registered, not retired) item.
    pub fn impact(&self, item: &ItemRef) -> Result<ServiceImpact> {
        let report = self
            .inner
            .impacts_as_of(std::slice::from_ref(item), None)?
            .pop()
            .flatten()
            .map(Arc::unwrap_or_clone)
            .ok_or_else(|| EngineError::NotFound {
                what: format!("live {item}"),
            })?;
        let names: Vec<&ServiceId> = report.services.iter().map(|s| &s.service).collect();
        let mut open = self.inner.open_incidents(&names)?;
        let services = report
            .services
            .into_iter()
            .map(|affected| ImpactedService {
                open_incidents: open.remove(&affected.service).unwrap_or_default(),
                affected,
            })
            .collect();
        Ok(ServiceImpact {
            item: report.item,
            services,
            items_reached: report.items_reached,
        })
    }

    /// [`Engine::impact`] as of an instant (`None`: now): the model as every service-model
    /// event recorded by then left it, and the incidents open then (from a replay of the log
    /// to that instant, as every as-of view). `not_found` when `item` was not live then.
    pub fn impact_as_of(
        &self,
        item: &ItemRef,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<ServiceImpact> {
        let Some(at) = as_of else {
            return self.impact(item);
        };
        let report = self
            .inner
            .impacts_as_of(std::slice::from_ref(item), Some(at))?
            .pop()
            .flatten()
            .map(Arc::unwrap_or_clone)
            .ok_or_else(|| EngineError::NotFound {
                what: format!("{item} live at {at}"),
            })?;
        let names: Vec<&ServiceId> = report.services.iter().map(|s| &s.service).collect();
        let tables = self.view(Some(at))?.tables()?;
        let mut open = open_incidents_in(&tables, &names)?;
        let services = report
            .services
            .into_iter()
            .map(|affected| ImpactedService {
                open_incidents: open
                    .remove(&affected.service)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(incident, _)| incident)
                    .collect(),
                affected,
            })
            .collect();
        Ok(ServiceImpact {
            item: report.item,
            services,
            items_reached: report.items_reached,
        })
    }

    /// What `item` needs, directly and transitively up to `depth` levels, nearest first.
    /// `not_found` when `item` is not a live item.
    pub fn dependencies(&self, item: &ItemRef, depth: u32) -> Result<Vec<Dependency>> {
        self.inner
            .with_service_model(|_, index| index.dependencies(item, depth))?
            .ok_or_else(|| EngineError::NotFound {
                what: format!("live {item}"),
            })
    }

    /// The services an incident's CIs affect now, most critical first (one shortest path
    /// each): the blast radius a major-incident proposal is judged on. Empty for an incident
    /// without CIs in the model; `not_found` for an unknown incident.
    pub fn blast_radius(&self, incident: IncidentId) -> Result<Vec<AffectedService>> {
        let record = crate::record::RecordRef::incident(incident);
        let (_, state) = self.inner.loader().latest(&record)?;
        let Some(i) = state.to_record().and_then(|r| r.as_incident().cloned()) else {
            return Err(EngineError::NotFound {
                what: format!("incident {incident}"),
            });
        };
        let items: Vec<ItemRef> = i.cis.iter().map(|ci| ItemRef::Ci(ci.clone())).collect();
        Ok(merge_impacts(
            self.inner
                .impacts_as_of(&items, None)?
                .into_iter()
                .flatten()
                .map(Arc::unwrap_or_clone),
        ))
    }

    /// The services an incident's CIs affected when it was opened (`None`: opened without
    /// CIs, or on CIs that affected no service).
    pub fn recorded_impact(&self, incident: IncidentId) -> Result<Option<RecordedImpact>> {
        let events = self
            .inner
            .store()
            .read_stream(&impact_stream(incident), Version(1), 1)?;
        let Some(e) = events.first() else {
            return Ok(None);
        };
        serde_json::from_slice(&e.payload)
            .map(Some)
            .map_err(|err| EngineError::Decode {
                position: e.position.0,
                reason: err.to_string(),
            })
    }
}

impl Inner {
    /// [`Inner::open_incidents`], each with the microsecond it was opened at.
    fn open_incidents_opened(
        &self,
        services: &[&ServiceId],
    ) -> Result<BTreeMap<ServiceId, Vec<(OpenIncident, i64)>>> {
        open_incidents_in(self.tables(), services)
    }
}

/// The open incidents of each of `services` in `tables` (the live read model or an as-of
/// replay), most urgent first, at most [`MAX_OPEN_INCIDENTS_PER_SERVICE`] each, with the
/// microsecond each was opened at: one query, the services bound as one JSON array.
fn open_incidents_in(
    tables: &crate::projections::tables::Tables,
    services: &[&ServiceId],
) -> Result<BTreeMap<ServiceId, Vec<(OpenIncident, i64)>>> {
    let mut out: BTreeMap<ServiceId, Vec<(OpenIncident, i64)>> = BTreeMap::new();
    if services.is_empty() {
        return Ok(out);
    }
    let names: Vec<&str> = services.iter().map(|s| s.as_str()).collect();
    let list = serde_json::to_string(&names)
        .map_err(|e| EngineError::invalid("services", e.to_string()))?;
    let sql = &tables.sql;
    let statement = match sql.dialect() {
        opsledger_store::SqlDialect::Sqlite => {
            "SELECT service, id, number, title, priority, opened_us FROM records
                 WHERE kind = 'incident' AND is_open = 1
                   AND service IN (SELECT value FROM json_each(?1))
                 ORDER BY service, priority_rank, opened_at, id"
        }
        opsledger_store::SqlDialect::Postgres => {
            "SELECT service, id, number, title, priority, opened_us FROM records
                 WHERE kind = 'incident' AND is_open = 1
                   AND service IN (SELECT json_array_elements_text(CAST(?1 AS json)))
                 ORDER BY service, priority_rank, opened_at, id"
        }
    };
    let rows = sql.query_all(statement, &[SqlValue::Text(list)])?;
    for row in rows {
        let cell = |i: usize| row.get(i).and_then(SqlValue::as_str).map(str::to_owned);
        let (Some(service), Some(id)) = (cell(0), cell(1).and_then(|s| Uuid::parse_str(&s).ok()))
        else {
            continue;
        };
        let list = out.entry(ServiceId::new(service)).or_default();
        if list.len() < MAX_OPEN_INCIDENTS_PER_SERVICE {
            let opened_us = row.get(5).and_then(SqlValue::as_i64).unwrap_or(0);
            list.push((
                OpenIncident {
                    id: IncidentId(id),
                    number: cell(2),
                    title: cell(3).unwrap_or_default(),
                    priority: cell(4),
                },
                opened_us,
            ));
        }
    }
    Ok(out)
}
