//! The commit and sync counters operators read as metrics: one sync per commit in
//! `PerCommit`, shared syncs under concurrency in `GroupCommit`, none of the store's own in
//! `Buffered` until a flush.

use std::sync::Arc;

use opsledger_store::contract::{ev, stream};
use opsledger_store::{Durability, ExpectedVersion, IoStats, Storage, StoreConfig};
use opsledger_store_sqlite::{SqliteOptions, SqliteStorage};

fn open(dir: &std::path::Path, durability: Durability) -> Arc<SqliteStorage> {
    Arc::new(
        SqliteStorage::open(
            dir,
            StoreConfig::default().with_durability(durability),
            SqliteOptions::default(),
        )
        .unwrap(),
    )
}

/// `threads` writers, `each` appends apiece, each to its own stream.
fn append_concurrently(storage: &Arc<SqliteStorage>, threads: u128, each: u128) {
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let storage = storage.clone();
            std::thread::spawn(move || {
                let name = format!("writer-{t}");
                for i in 0..each {
                    storage
                        .log()
                        .append(
                            &stream(&name),
                            ExpectedVersion::Any,
                            vec![ev(t * 1_000 + i)],
                        )
                        .unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
}

#[test]
fn per_commit_syncs_every_commit() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path(), Durability::PerCommit);
    assert_eq!(storage.io_stats(), IoStats::default());
    append_concurrently(&storage, 4, 10);
    assert_eq!(
        storage.io_stats(),
        IoStats {
            commits: 40,
            syncs: 40
        }
    );
}

#[test]
fn group_commit_counts_shared_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path(), Durability::GroupCommit);
    append_concurrently(&storage, 8, 25);
    let stats = storage.io_stats();
    assert_eq!(stats.commits, 200);
    // Every commit waited for a sync that covered it, and eight writers shared some: fewer
    // syncs than commits, but at least one.
    assert!(
        (1..200).contains(&stats.syncs),
        "{} syncs for 200 commits",
        stats.syncs
    );
    println!(
        "group commit, 8 writers: {} commits, {} syncs ({:.1} commits per sync)",
        stats.commits,
        stats.syncs,
        stats.commits as f64 / stats.syncs as f64
    );
}

#[test]
fn buffered_counts_no_sync_until_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path(), Durability::Buffered);
    append_concurrently(&storage, 2, 10);
    assert_eq!(
        storage.io_stats(),
        IoStats {
            commits: 20,
            syncs: 0
        }
    );
    storage.flush().unwrap();
    assert_eq!(storage.io_stats().syncs, 1);
}
