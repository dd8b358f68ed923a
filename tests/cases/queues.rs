//! Work queues read from the `records` table: any filter, paged with any page size and any scan
//! budget, gives exactly the records a plain filter of every view gives, in queue order
//! (priority, then oldest first, then id), without gaps or repeats.

use crate::support::*;
use opsledger::core::incident::{CancelReason, HoldReason, IncidentCommand};
use opsledger::core::{Impact, Priority, Urgency};
use opsledger::{Clock, QueueFilter, RecordKind, RecordRef, RecordStatus};
use proptest::prelude::*;

const GROUPS: [&str; 3] = ["service-desk", "network", "dba"];
const PEOPLE: [&str; 3] = ["alice", "bob", "dave"];
const SERVICES: [&str; 2] = ["webshop", "payments"];
const CIS: [&str; 3] = ["web-01", "db-01", "lb-01"];
const LEVELS: [(Impact, Urgency); 4] = [
    (Impact::High, Urgency::High),
    (Impact::High, Urgency::Low),
    (Impact::Medium, Urgency::Medium),
    (Impact::Low, Urgency::Low),
];

/// What happens to one incident after it is opened.
#[derive(Debug, Clone)]
enum Fate {
    Stays,
    Assigned(usize, usize),
    OnHold,
    Resolved,
    Closed,
    Canceled,
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        Just(Fate::Stays),
        (0..GROUPS.len(), 0..PEOPLE.len()).prop_map(|(g, p)| Fate::Assigned(g, p)),
        Just(Fate::OnHold),
        Just(Fate::Resolved),
        Just(Fate::Closed),
        Just(Fate::Canceled),
    ]
}

/// One incident: its level, group, service, CI, gap to the previous one and fate.
type Spec = (usize, usize, usize, usize, u8, Fate);

fn spec() -> impl Strategy<Value = Spec> {
    (
        0..LEVELS.len(),
        0..GROUPS.len(),
        0..SERVICES.len(),
        0..CIS.len(),
        0u8..3,
        fate(),
    )
}

fn statuses() -> Vec<RecordStatus> {
    RecordStatus::all_of(RecordKind::Incident)
}

/// A filter: bitmasks of statuses and priorities, optional group/assignee/service/CI, the open
/// flag, an age bound (minutes) and the page size.
type FilterSpec = (
    u8,
    u8,
    Option<usize>,
    Option<usize>,
    Option<usize>,
    Option<usize>,
    bool,
    Option<i64>,
    usize,
);

fn filter_spec() -> impl Strategy<Value = FilterSpec> {
    (
        any::<u8>(),
        any::<u8>(),
        prop::option::of(0..GROUPS.len()),
        prop::option::of(0..PEOPLE.len()),
        prop::option::of(0..SERVICES.len()),
        prop::option::of(0..CIS.len()),
        any::<bool>(),
        prop::option::of(0i64..40),
        1usize..7,
    )
}

fn build(spec: &FilterSpec) -> QueueFilter {
    let (status_bits, priority_bits, group, person, service, ci, open, age, limit) = spec;
    let mut f = QueueFilter::incidents().limit(*limit);
    for (i, s) in statuses().into_iter().enumerate() {
        if status_bits & (1 << i) != 0 && status_bits & 0x80 == 0 {
            f = f.status(s);
        }
    }
    let priorities = [
        Priority::Critical,
        Priority::High,
        Priority::Moderate,
        Priority::Low,
        Priority::Planning,
    ];
    for (i, p) in priorities.into_iter().enumerate() {
        if priority_bits & (1 << i) != 0 && priority_bits & 0x80 == 0 {
            f = f.priority(p);
        }
    }
    if let Some(g) = group {
        f = f.group(GROUPS[*g]);
    }
    if let Some(p) = person {
        f = f.assignee(PEOPLE[*p]);
    }
    if let Some(s) = service {
        f = f.service(SERVICES[*s]);
    }
    if let Some(c) = ci {
        f = f.ci(CIS[*c]);
    }
    if *open {
        f = f.open();
    }
    if let Some(minutes) = age {
        f = f.min_age(chrono::Duration::minutes(*minutes));
    }
    f
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 200, .. ProptestConfig::default() })]

    #[test]
    fn queue_pages_are_the_filtered_views_in_queue_order(
        specs in prop::collection::vec(spec(), 1..24),
        filters in prop::collection::vec(filter_spec(), 1..6),
        max_scan in 1usize..12,
    ) {
        let clock = clock();
        let mut cfg = config(&clock, 7);
        cfg.limits.max_scan = max_scan;
        let engine = opsledger::Engine::in_memory(cfg).unwrap();
        let mut ids = Vec::new();
        for (n, (level, group, service, ci, gap, fate)) in specs.iter().enumerate() {
            // Some incidents open at the same instant: the id breaks the tie.
            clock.advance(chrono::Duration::minutes(i64::from(*gap)));
            let id = inc(u32::try_from(n).unwrap() + 1);
            let (impact, urgency) = LEVELS[*level];
            exec(&engine, &agent(), open_incident_full(
                id, &format!("n{n}"), impact, urgency, GROUPS[*group], SERVICES[*service], CIS[*ci],
            ));
            match fate {
                Fate::Stays => {}
                Fate::Assigned(g, p) => {
                    exec(&engine, &agent(), assign(id, GROUPS[*g], PEOPLE[*p]));
                }
                Fate::OnHold => {
                    exec(&engine, &agent(), assign(id, GROUPS[*group], PEOPLE[0]));
                    exec(&engine, &agent(), IncidentCommand::PutOnHold {
                        id, reason: HoldReason::AwaitingVendor,
                    });
                }
                Fate::Resolved | Fate::Closed => {
                    exec(&engine, &agent(), assign(id, GROUPS[*group], PEOPLE[1]));
                    exec(&engine, &agent(), resolve(id, "fixed"));
                    if matches!(fate, Fate::Closed) {
                        exec(&engine, &agent(), close(id));
                    }
                }
                Fate::Canceled => {
                    exec(&engine, &agent(), IncidentCommand::Cancel {
                        id,
                        reason: CancelReason::NotAnIncident,
                    });
                }
            }
            ids.push(id);
        }
        clock.advance(chrono::Duration::minutes(5));
        let view = engine.view(None).unwrap();
        let all: Vec<_> = ids
            .iter()
            .map(|id| view.record(RecordRef::incident(*id)).unwrap().unwrap())
            .collect();
        let now = clock.now();
        for spec in &filters {
            let filter = build(spec);
            let mut expected: Vec<_> = all
                .iter()
                .filter(|v| filter.statuses.is_empty() || filter.statuses.contains(&v.status))
                .filter(|v| !filter.open_only || v.open)
                .filter(|v| filter.priorities.is_empty()
                    || v.priority.is_some_and(|p| filter.priorities.contains(&p)))
                .filter(|v| filter.group.as_ref().is_none_or(|g| v.group.as_ref() == Some(g)))
                .filter(|v| filter.assignee.as_ref().is_none_or(|a| v.assignee.as_ref() == Some(a)))
                .filter(|v| filter.service.as_ref().is_none_or(|s| v.service.as_ref() == Some(s)))
                .filter(|v| filter.ci.as_ref().is_none_or(|c| v.cis.contains(c)))
                .filter(|v| filter.min_age_secs.is_none_or(|s| (now - v.opened_at).num_seconds() >= s))
                .collect();
            expected.sort_by_key(|v| (
                v.priority.map_or(9, |p| p as u8),
                v.opened_at,
                v.record.id,
            ));
            let expected: Vec<_> = expected.into_iter().map(|v| v.record.id).collect();
            let mut got = Vec::new();
            let mut f = filter.clone();
            for _ in 0..200 {
                let page = view.queue(&f).unwrap();
                prop_assert!(page.items.len() <= f.limit);
                got.extend(page.items.iter().map(|v| v.record.id));
                match page.next {
                    Some(next) => f.cursor = Some(next),
                    None => break,
                }
            }
            prop_assert_eq!(&got, &expected, "filter {:?}", spec);
        }
    }
}
