//! The commit and sync counters operators read as metrics, on the sled backend: every append
//! counted, one sync per append in `PerCommit`, none of the log's own in `Buffered`.

use opsledger_store::contract::{ev, stream};
use opsledger_store::{Durability, ExpectedVersion, Storage, StoreConfig};
use opsledger_store_sled::{SledOptions, SledStorage};

fn appended(durability: Durability, appends: u128) -> opsledger_store::IoStats {
    let dir = tempfile::tempdir().unwrap();
    let storage = SledStorage::open(
        dir.path(),
        StoreConfig::default().with_durability(durability),
        SledOptions::default(),
    )
    .unwrap();
    for i in 0..appends {
        storage
            .log()
            .append(&stream("s"), ExpectedVersion::Any, vec![ev(i)])
            .unwrap();
    }
    let stats = storage.io_stats();
    Box::new(storage).close(0).unwrap();
    stats
}

#[test]
fn per_commit_counts_every_append_and_syncs_each() {
    let stats = appended(Durability::PerCommit, 5);
    assert_eq!(stats.commits, 5);
    assert!(stats.syncs >= 5, "{stats:?}");
}

#[test]
fn buffered_counts_appends_without_syncing_them() {
    let stats = appended(Durability::Buffered, 5);
    assert_eq!(stats.commits, 5);
    assert_eq!(stats.syncs, 0, "{stats:?}");
}
