//! Shared fixtures of the sled backend's tests: the contract suite's event builders and sled
//! store factories in each durability mode.
#![allow(dead_code)]

#[allow(unused_imports)]
pub use opsledger_store::contract::{Harness, ev, evs, harness, stream, t0};
use opsledger_store::{Durability, StoreConfig};
use opsledger_store_sled::SledStore;

/// A sled store in a fresh temporary directory (durability as configured).
pub fn sled(config: StoreConfig) -> Harness {
    harness(config, |config| {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), config).unwrap();
        (Box::new(store), Box::new(dir))
    })
}

/// sled with durability `Buffered` (fast; durability is covered by the crash test).
pub fn sled_buffered(config: StoreConfig) -> Harness {
    sled(config.with_durability(Durability::Buffered))
}

/// sled with group commit.
pub fn sled_group(config: StoreConfig) -> Harness {
    sled(config.with_durability(Durability::GroupCommit))
}

/// The memory backend (for comparisons).
pub fn memory(config: StoreConfig) -> Harness {
    opsledger_store::contract::memory(config)
}
