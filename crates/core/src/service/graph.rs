//! Traversals of the service model: what an outage of an item affects (impact, walking
//! relations backwards) and what an item needs (dependencies, walking them forwards).
//!
//! [`ModelIndex`] is a compact adjacency index (items interned as `u32`, both directions in
//! compressed sparse rows) built once from the state; each query is a breadth-first search with
//! a visited set, so cycles end and every item is reached by one of its shortest paths.

use super::state::{ItemStatus, Relation, ServiceModel};
use super::{Criticality, ItemRef, RelationType};
use crate::ids::{CiId, ServiceId};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;

/// Deepest level a dependency query may ask for.
pub const MAX_TRAVERSAL_DEPTH: u32 = 1_000;

/// One step of a path: an item and how it depends on the next step (`None` on the last one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Reached {
    /// The item.
    pub item: ItemRef,
    /// How it depends on the next item of the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<RelationType>,
}

/// A service affected by an outage, with the path from the service down to the item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AffectedService {
    /// The service.
    pub service: ServiceId,
    /// Its name.
    pub name: String,
    /// Its criticality.
    pub criticality: Criticality,
    /// The service first, the item whose outage it is last.
    pub path: Vec<Reached>,
}

impl fmt::Display for AffectedService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} criticality) via ", self.name, self.criticality)?;
        write_path(f, &self.path)
    }
}

/// Writes `a depends on b runs on c`.
fn write_path(f: &mut fmt::Formatter<'_>, path: &[Reached]) -> fmt::Result {
    for (i, step) in path.iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        f.write_str(step.item.id())?;
        if let Some(r) = step.relation {
            write!(f, " {r}")?;
        }
    }
    Ok(())
}

/// What an outage of one item affects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImpactReport {
    /// The item whose outage is assessed.
    pub item: ItemRef,
    /// The affected services: most critical first, then nearest, then by id.
    pub services: Vec<AffectedService>,
    /// How many items (services and CIs, the item included) the outage reaches.
    pub items_reached: usize,
}

/// One item an item needs, directly or transitively.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Dependency {
    /// The needed item.
    pub item: ItemRef,
    /// Its name.
    pub name: String,
    /// 1 for a direct dependency, 2 for a dependency of one, ...
    pub depth: u32,
    /// The item that needs it on the way (the queried item at depth 1).
    pub needed_by: ItemRef,
    /// How `needed_by` depends on it.
    pub relation: RelationType,
}

#[derive(Debug, Clone)]
struct Node {
    item: ItemRef,
    name: String,
    criticality: Criticality,
}

/// The live items and relations of a model, as an adjacency index.
#[derive(Debug, Clone, Default)]
pub struct ModelIndex {
    ids: BTreeMap<ItemRef, u32>,
    nodes: Vec<Node>,
    service: Vec<bool>,
    out_start: Vec<u32>,
    out_edges: Vec<(u32, RelationType)>,
    in_start: Vec<u32>,
    in_edges: Vec<(u32, RelationType)>,
    /// `in_edges` without the kinds: what the impact search reads.
    in_targets: Vec<u32>,
}

/// Compressed sparse rows of `edges` (source, target, kind) over `n` nodes.
fn csr(n: usize, edges: &[(u32, u32, RelationType)]) -> (Vec<u32>, Vec<(u32, RelationType)>) {
    let mut start = vec![0u32; n + 1];
    for (s, _, _) in edges {
        start[*s as usize + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut out = vec![(0u32, RelationType::RunsOn); edges.len()];
    for (s, t, k) in edges {
        let slot = &mut fill[*s as usize];
        out[*slot as usize] = (*t, *k);
        *slot += 1;
    }
    (start, out)
}

impl ModelIndex {
    /// The index of the model's live (not retired) items and their relations.
    pub fn build(model: &ServiceModel) -> Self {
        let items = model
            .items
            .values()
            .filter(|i| i.status != ItemStatus::Retired)
            .map(|i| {
                (
                    i.item.clone(),
                    i.display_name().to_owned(),
                    i.attributes.criticality,
                )
            });
        Self::from_parts(items, model.relations.iter().cloned())
    }

    /// The index of the given items (reference, name, criticality) and relations; a relation
    /// naming an item not given is left out.
    pub fn from_parts(
        items: impl IntoIterator<Item = (ItemRef, String, Criticality)>,
        relations: impl IntoIterator<Item = Relation>,
    ) -> Self {
        let mut ids = BTreeMap::new();
        let mut nodes = Vec::new();
        for (item, name, criticality) in items {
            if ids.contains_key(&item) {
                continue;
            }
            let n = u32::try_from(nodes.len()).unwrap_or(u32::MAX);
            ids.insert(item.clone(), n);
            nodes.push(Node {
                item,
                name,
                criticality,
            });
        }
        let mut edges = Vec::new();
        for r in relations {
            if let (Some(f), Some(t)) = (ids.get(&r.from), ids.get(&r.to)) {
                edges.push((*f, *t, r.kind));
            }
        }
        let (out_start, out_edges) = csr(nodes.len(), &edges);
        let reversed: Vec<(u32, u32, RelationType)> =
            edges.iter().map(|(f, t, k)| (*t, *f, *k)).collect();
        let (in_start, in_edges) = csr(nodes.len(), &reversed);
        let service = nodes
            .iter()
            .map(|n| matches!(n.item, ItemRef::Service(_)))
            .collect();
        let in_targets = in_edges.iter().map(|(t, _)| *t).collect();
        Self {
            ids,
            nodes,
            service,
            in_targets,
            out_start,
            out_edges,
            in_start,
            in_edges,
        }
    }

    /// How many items the index holds.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the index holds no item.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// How many relations the index holds.
    pub fn relation_count(&self) -> usize {
        self.out_edges.len()
    }

    /// Whether `item` is a live item of the index.
    pub fn contains(&self, item: &ItemRef) -> bool {
        self.ids.contains_key(item)
    }

    fn neighbours<'a, T>(starts: &[u32], edges: &'a [T], n: u32) -> &'a [T] {
        let i = n as usize;
        match (starts.get(i), starts.get(i + 1)) {
            (Some(a), Some(b)) => edges.get(*a as usize..*b as usize).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// How `from` depends on `to` (the first recorded relation between them).
    fn relation_between(&self, from: u32, to: u32) -> RelationType {
        Self::neighbours(&self.out_start, &self.out_edges, from)
            .iter()
            .find(|(t, _)| *t == to)
            .map_or(RelationType::DependsOn, |(_, k)| *k)
    }

    /// Breadth-first search from `start` over `forward` or backward edges, up to `depth`
    /// levels: for each reached node, its parent (the node it was reached from, with the
    /// relation between them) and its depth, in the order reached.
    fn search(&self, start: u32, forward: bool, depth: u32) -> Vec<(u32, u32, RelationType, u32)> {
        let (starts, edges) = if forward {
            (&self.out_start, &self.out_edges)
        } else {
            (&self.in_start, &self.in_edges)
        };
        let mut seen = vec![false; self.nodes.len()];
        let mut queue = VecDeque::new();
        let mut out = Vec::new();
        if let Some(s) = seen.get_mut(start as usize) {
            *s = true;
        }
        queue.push_back((start, 0u32));
        while let Some((n, d)) = queue.pop_front() {
            if d >= depth {
                continue;
            }
            for (m, kind) in Self::neighbours(starts, edges, n) {
                let Some(s) = seen.get_mut(*m as usize) else {
                    continue;
                };
                if *s {
                    continue;
                }
                *s = true;
                out.push((*m, n, *kind, d + 1));
                queue.push_back((*m, d + 1));
            }
        }
        out
    }

    /// The services an outage of `item` affects, transitively, each with one shortest path.
    /// `None` when `item` is not a live item of the model.
    pub fn impact(&self, item: &ItemRef) -> Option<ImpactReport> {
        const UNSEEN: u32 = u32::MAX;
        let start = *self.ids.get(item)?;
        // One breadth-first search over relations backwards: `parent[n]` is the node `n` was
        // reached from (itself for the start) and how `n` depends on it.
        let mut parent = vec![UNSEEN; self.nodes.len()];
        let mut queue: Vec<u32> = Vec::new();
        let mut found: Vec<(u32, u32)> = Vec::new();
        parent[start as usize] = start;
        queue.push(start);
        let mut head = 0;
        while let Some(&n) = queue.get(head) {
            head += 1;
            if self.service[n as usize] {
                found.push((n, 0));
            }
            for m in Self::neighbours(&self.in_start, &self.in_targets, n) {
                let slot = &mut parent[*m as usize];
                if *slot == UNSEEN {
                    *slot = n;
                    queue.push(*m);
                }
            }
        }
        let mut services = Vec::with_capacity(found.len());
        for (n, _) in found {
            let node = &self.nodes[n as usize];
            let ItemRef::Service(service) = &node.item else {
                continue;
            };
            let mut path = Vec::new();
            let mut at = n;
            while at != start {
                let p = parent[at as usize];
                path.push(Reached {
                    item: self.nodes[at as usize].item.clone(),
                    relation: Some(self.relation_between(at, p)),
                });
                at = p;
            }
            path.push(Reached {
                item: item.clone(),
                relation: None,
            });
            services.push(AffectedService {
                service: service.clone(),
                name: node.name.clone(),
                criticality: node.criticality,
                path,
            });
        }
        services.sort_by(|a, b| {
            (a.criticality, a.path.len(), &a.service).cmp(&(
                b.criticality,
                b.path.len(),
                &b.service,
            ))
        });
        Some(ImpactReport {
            item: item.clone(),
            services,
            items_reached: queue.len(),
        })
    }

    /// What `item` needs, directly and transitively up to `depth` levels (at most
    /// [`MAX_TRAVERSAL_DEPTH`]), nearest first. `None` when `item` is not a live item.
    pub fn dependencies(&self, item: &ItemRef, depth: u32) -> Option<Vec<Dependency>> {
        let start = *self.ids.get(item)?;
        let depth = depth.min(MAX_TRAVERSAL_DEPTH);
        Some(
            self.search(start, true, depth)
                .into_iter()
                .map(|(n, p, relation, d)| {
                    let node = &self.nodes[n as usize];
                    Dependency {
                        item: node.item.clone(),
                        name: node.name.clone(),
                        depth: d,
                        needed_by: self.nodes[p as usize].item.clone(),
                        relation,
                    }
                })
                .collect(),
        )
    }

    /// The CIs that depend directly on `ci` (relations ending at it), and those it depends on
    /// directly: the neighbours a change on `ci` may clash with.
    pub fn ci_neighbours(&self, ci: &CiId) -> (Vec<CiId>, Vec<CiId>) {
        let Some(n) = self.ids.get(&ItemRef::Ci(ci.clone())) else {
            return (Vec::new(), Vec::new());
        };
        let pick = |edges: &[(u32, RelationType)]| -> Vec<CiId> {
            let mut out: Vec<CiId> = edges
                .iter()
                .filter_map(|(m, _)| match &self.nodes[*m as usize].item {
                    ItemRef::Ci(c) => Some(c.clone()),
                    ItemRef::Service(_) => None,
                })
                .collect();
            out.sort();
            out.dedup();
            out
        };
        (
            pick(Self::neighbours(&self.in_start, &self.in_edges, *n)),
            pick(Self::neighbours(&self.out_start, &self.out_edges, *n)),
        )
    }
}

/// Impact answers of hub items for one version of a model: an answer is kept when its search
/// reached at least [`ImpactCache::FROM_ITEMS`] items (a hypervisor, a core switch), at most
/// [`ImpactCache::MAX`] of them (one more empties the cache), so that an alert storm on a hub,
/// or a dashboard polling it, does not walk most of the model again for every call. The owner
/// empties it whenever the model changes (answers are only valid for the index they came
/// from).
#[derive(Debug, Clone, Default)]
pub struct ImpactCache {
    answers: BTreeMap<ItemRef, Arc<ImpactReport>>,
}

impl ImpactCache {
    /// Items an answer's search must reach to be kept.
    pub const FROM_ITEMS: usize = 4_096;
    /// Most answers kept.
    pub const MAX: usize = 64;

    /// The impact of `item` in `index`: the kept answer, or a new search (kept for a hub).
    pub fn impact(&mut self, index: &ModelIndex, item: &ItemRef) -> Option<Arc<ImpactReport>> {
        if let Some(hit) = self.answers.get(item) {
            return Some(hit.clone());
        }
        let report = Arc::new(index.impact(item)?);
        if report.items_reached >= Self::FROM_ITEMS {
            if self.answers.len() >= Self::MAX {
                self.answers.clear();
            }
            self.answers.insert(item.clone(), report.clone());
        }
        Some(report)
    }

    /// Forgets every answer (the model changed).
    pub fn clear(&mut self) {
        self.answers.clear();
    }

    /// How many answers are kept.
    pub fn len(&self) -> usize {
        self.answers.len()
    }

    /// Whether no answer is kept.
    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }
}
