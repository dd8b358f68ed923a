//! N threads x M appends on one contended stream and on disjoint streams, with a live
//! subscriber: exactly one winner per version, dense positions, nothing lost, never n+1 before n.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use opsledger_store::{ExpectedVersion, Position, StoreConfig, StoreError, Version};

const THREADS: u128 = 4;
const HOT_APPENDS: u128 = 30;
const OWN_APPENDS: u128 = 40;

fn run(make: Factory) {
    let s = make(StoreConfig::default());
    let store = &*s;
    let total = (THREADS * (HOT_APPENDS + OWN_APPENDS)) as u64;
    let mut sub = store.subscribe(Position::BEGINNING).unwrap();
    let results = std::thread::scope(|scope| {
        let subscriber = scope.spawn(move || {
            let mut seen = Vec::new();
            while (seen.len() as u64) < total {
                let e = sub
                    .next_timeout(Duration::from_secs(60))
                    .unwrap()
                    .expect("live event");
                seen.push(e.position.0);
            }
            seen
        });
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                scope.spawn(move || {
                    let mut outcomes = Vec::new();
                    let mut conflicts = 0u32;
                    for i in 0..HOT_APPENDS + OWN_APPENDS {
                        let id = t * 10_000 + i;
                        // Interleave: even iterations hit the shared stream until its quota is met.
                        let name = if i % 2 == 0 && i / 2 < HOT_APPENDS {
                            stream("hot")
                        } else {
                            stream(&format!("own-{t}"))
                        };
                        loop {
                            let current = store.stream_version(&name).unwrap();
                            match store.append(&name, ExpectedVersion::Exact(current), vec![ev(id)])
                            {
                                Ok(o) => {
                                    outcomes.push((id, name.clone(), o));
                                    break;
                                }
                                Err(StoreError::WrongExpectedVersion { actual, .. }) => {
                                    assert!(actual != current);
                                    conflicts += 1;
                                }
                                Err(e) => panic!("append failed: {e}"),
                            }
                        }
                    }
                    (outcomes, conflicts)
                })
            })
            .collect();
        let results: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
        let seen = subscriber.join().unwrap();
        assert_eq!(
            seen,
            (1..=total).collect::<Vec<_>>(),
            "subscriber saw a gap or reordering"
        );
        results
    });

    let all = store.read_all(Position::BEGINNING, 10_000).unwrap();
    assert_eq!(all.len() as u64, total, "events lost or duplicated");
    assert!(
        all.iter()
            .enumerate()
            .all(|(i, e)| e.position.0 == i as u64 + 1),
        "positions not dense"
    );
    let mut ids = HashSet::new();
    for (outcomes, _) in &results {
        for (id, name, o) in outcomes {
            let stored = &all[(o.first_position.0 - 1) as usize];
            assert_eq!(
                stored.event_id,
                ev(*id).event_id,
                "outcome points at another event"
            );
            assert_eq!(&stored.stream, name);
            assert_eq!(stored.version, o.first_version);
            assert!(!o.was_duplicate);
            ids.insert(*id);
        }
    }
    assert_eq!(ids.len() as u64, total);
    let hot = store
        .read_stream(&stream("hot"), Version::FIRST, 10_000)
        .unwrap();
    let versions: Vec<u64> = hot.iter().map(|e| e.version.0).collect();
    let hot_total = (THREADS * HOT_APPENDS) as u64;
    assert_eq!(
        versions,
        (1..=hot_total).collect::<Vec<_>>(),
        "one winner per version"
    );
    for t in 0..THREADS {
        let own = store
            .read_stream(&stream(&format!("own-{t}")), Version::FIRST, 10_000)
            .unwrap();
        let mine: Vec<u128> = results[t as usize]
            .0
            .iter()
            .filter(|(_, n, _)| n.as_str() != "hot")
            .map(|(id, _, _)| *id)
            .collect();
        let stored: Vec<_> = own.iter().map(|e| e.event_id).collect();
        assert_eq!(
            stored,
            mine.iter().map(|&id| ev(id).event_id).collect::<Vec<_>>()
        );
    }
    let report = store.verify().unwrap();
    assert!(report.is_clean(), "{:?}", report.faults);
}

#[test]
fn memory() {
    run(common::memory);
}

#[test]
fn sled_per_commit() {
    run(common::sled);
}

#[test]
fn sled_group_commit() {
    run(common::sled_group);
}

#[test]
fn sled_buffered() {
    run(common::sled_buffered);
}
