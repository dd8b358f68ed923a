//! Impact over a large service model: 1,000 services and 100,000 CIs in layers (applications,
//! servers, databases, hypervisors and network), 500,000 relations with cycles. Builds the
//! adjacency index once, then asks the impact of CIs from every layer and prints p50, p99 and
//! the largest time, with the size of the answers. Run:
//! `cargo bench -p opsledger-core --bench service_impact`.

use opsledger_core::service::{
    Criticality, ImpactCache, ItemRef, ModelIndex, Relation, RelationType,
};
use std::time::{Duration, Instant};

const SERVICES: u32 = 1_000;
const APPS: u32 = 20_000;
const SERVERS: u32 = 60_000;
const DATABASES: u32 = 10_000;
const INFRA: u32 = 10_000;
const QUERIES: usize = 2_000;

/// A small deterministic generator (the same model on every run).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u32) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % u64::from(n)) as u32
    }
}

fn ci(layer: &str, n: u32) -> ItemRef {
    ItemRef::Ci(opsledger_core::CiId::new(format!("{layer}-{n:06}")))
}

fn model() -> (Vec<(ItemRef, String, Criticality)>, Vec<Relation>) {
    let mut rng = Lcg(7);
    let mut items = Vec::new();
    for s in 0..SERVICES {
        let item = ItemRef::Service(opsledger_core::ServiceId::new(format!("svc-{s:04}")));
        items.push((item, format!("Service {s}"), Criticality::Medium));
    }
    for (layer, n) in [
        ("app", APPS),
        ("srv", SERVERS),
        ("db", DATABASES),
        ("infra", INFRA),
    ] {
        for i in 0..n {
            items.push((ci(layer, i), format!("{layer} {i}"), Criticality::Medium));
        }
    }
    let mut relations = Vec::new();
    let mut add = |from: ItemRef, kind: RelationType, to: ItemRef| {
        relations.push(Relation { from, kind, to });
    };
    for s in 0..SERVICES {
        for _ in 0..3 {
            let app = rng.below(APPS);
            add(
                ItemRef::Service(opsledger_core::ServiceId::new(format!("svc-{s:04}"))),
                RelationType::DependsOn,
                ci("app", app),
            );
        }
    }
    for a in 0..APPS {
        for _ in 0..2 {
            add(
                ci("app", a),
                RelationType::RunsOn,
                ci("srv", rng.below(SERVERS)),
            );
        }
        add(
            ci("app", a),
            RelationType::DependsOn,
            ci("db", rng.below(DATABASES)),
        );
        add(
            ci("app", a),
            RelationType::ConnectsTo,
            ci("app", rng.below(APPS)),
        );
    }
    for s in 0..SERVERS {
        add(
            ci("srv", s),
            RelationType::RunsOn,
            ci("infra", rng.below(INFRA)),
        );
        for _ in 0..5 {
            add(
                ci("srv", s),
                RelationType::ConnectsTo,
                ci("infra", rng.below(INFRA)),
            );
        }
    }
    for d in 0..DATABASES {
        for _ in 0..2 {
            add(
                ci("db", d),
                RelationType::RunsOn,
                ci("srv", rng.below(SERVERS)),
            );
        }
    }
    for i in 0..INFRA {
        for _ in 0..4 {
            // Network and storage talk to each other: cycles.
            add(
                ci("infra", i),
                RelationType::ConnectsTo,
                ci("infra", rng.below(INFRA)),
            );
        }
    }
    (items, relations)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let (items, relations) = model();
    let relation_count = relations.len();
    let item_count = items.len();
    let started = Instant::now();
    let index = ModelIndex::from_parts(items, relations);
    let built = started.elapsed();
    println!(
        "model: {item_count} items ({SERVICES} services), {relation_count} relations; index built in {built:.2?}"
    );
    let mut rng = Lcg(11);
    let layers = [
        ("app", APPS),
        ("srv", SERVERS),
        ("db", DATABASES),
        ("infra", INFRA),
    ];
    let mut all = Vec::with_capacity(QUERIES);
    for (layer, n) in layers {
        let mut times = Vec::with_capacity(QUERIES / layers.len());
        let mut services = 0usize;
        let mut reached = 0usize;
        for _ in 0..QUERIES / layers.len() {
            let item = ci(layer, rng.below(n));
            let t = Instant::now();
            let report = index.impact(&item).expect("a live item");
            times.push(t.elapsed());
            services += report.services.len();
            reached += report.items_reached;
        }
        let q = times.len();
        times.sort();
        println!(
            "impact of a {layer:<5} CI: p50 {:>9.2?}  p99 {:>9.2?}  max {:>9.2?}  (mean {} services, {} items reached)",
            percentile(&times, 0.50),
            percentile(&times, 0.99),
            times[q - 1],
            services / q,
            reached / q,
        );
        all.extend(times);
    }
    all.sort();
    println!(
        "impact, all layers ({} queries): p50 {:.2?}  p99 {:.2?}  max {:.2?}",
        all.len(),
        percentile(&all, 0.50),
        percentile(&all, 0.99),
        all[all.len() - 1]
    );
    hub_storm(&index);
}

/// An alert storm on the infrastructure: 2,000 queries over 20 hub CIs, through the cache the
/// engine keeps per model version ([`ImpactCache`]): the first query of each hub searches,
/// the others are answered from the cache.
fn hub_storm(index: &ModelIndex) {
    let mut rng = Lcg(13);
    let hubs: Vec<ItemRef> = (0..20).map(|_| ci("infra", rng.below(INFRA))).collect();
    let mut cache = ImpactCache::default();
    let mut times = Vec::with_capacity(QUERIES);
    for _ in 0..QUERIES {
        let item = &hubs[rng.below(20) as usize];
        let t = Instant::now();
        let report = cache.impact(index, item).expect("a live item");
        times.push(t.elapsed());
        assert!(report.services.len() > 900);
    }
    times.sort();
    println!(
        "impact of hub CIs, repeated ({} queries over {} hubs, cached per model version): p50 {:.2?}  p99 {:.2?}  max {:.2?}",
        times.len(),
        hubs.len(),
        percentile(&times, 0.50),
        percentile(&times, 0.99),
        times[times.len() - 1]
    );
}
