//! Shared test fixtures: event builders and store factories for both backends.
#![allow(dead_code)]

use std::ops::Deref;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use opsledger_store::{
    EventStore, ManualClock, MemoryStore, NewEvent, SledStore, StoreConfig, StreamId,
};
use uuid::Uuid;

/// 2026-01-01T00:00:00Z, the fixed clock start of every test.
pub fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap()
}

pub fn stream(name: &str) -> StreamId {
    StreamId::new(name).unwrap()
}

/// A deterministic event: id from `n`, payload mentioning `n`.
pub fn ev(n: u128) -> NewEvent {
    NewEvent {
        event_id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n),
        event_type: "test.happened".into(),
        schema_version: 1,
        occurred_at: t0(),
        actor: "tester".into(),
        correlation_id: Some(Uuid::from_u128(0xC0 + n)),
        causation_id: None,
        payload: format!("{{\"n\":{n}}}").into_bytes(),
    }
}

pub fn evs(range: std::ops::Range<u128>) -> Vec<NewEvent> {
    range.map(ev).collect()
}

/// A store of either backend; keeps the sled directory alive as long as the store.
pub struct Harness {
    pub store: Box<dyn EventStore>,
    pub clock: Arc<ManualClock>,
    pub dir: Option<tempfile::TempDir>,
}

impl Deref for Harness {
    type Target = dyn EventStore;
    fn deref(&self) -> &Self::Target {
        &*self.store
    }
}

pub type Factory = fn(StoreConfig) -> Harness;

fn with_clock(config: StoreConfig) -> (StoreConfig, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(t0()));
    (config.with_clock(clock.clone()), clock)
}

pub fn memory(config: StoreConfig) -> Harness {
    let (config, clock) = with_clock(config);
    Harness {
        store: Box::new(MemoryStore::new(config).unwrap()),
        clock,
        dir: None,
    }
}

pub fn sled(config: StoreConfig) -> Harness {
    let (config, clock) = with_clock(config);
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), config).unwrap();
    Harness {
        store: Box::new(store),
        clock,
        dir: Some(dir),
    }
}

/// sled with durability `Buffered` (fast; durability is covered by the crash test).
pub fn sled_buffered(config: StoreConfig) -> Harness {
    sled(config.with_durability(opsledger_store::Durability::Buffered))
}

/// sled with group commit.
pub fn sled_group(config: StoreConfig) -> Harness {
    sled(config.with_durability(opsledger_store::Durability::GroupCommit))
}
