//! The contract suite every backend runs unchanged (feature `contract`).
//!
//! A backend crate adds `opsledger-store = { features = ["contract"] }` to its dev-dependencies
//! and, in one test file:
//!
//! ```no_run
//! # // The memory backend stands in for a backend crate's store here.
//! # use opsledger_store::MemoryStore as MyStore;
//! fn make(config: opsledger_store::StoreConfig) -> opsledger_store::contract::Harness {
//!     opsledger_store::contract::harness(config, |config| {
//!         // A disk backend returns its `tempfile::TempDir` here, to outlive the store.
//!         (Box::new(MyStore::new(config).unwrap()), Box::new(()))
//!     })
//! }
//! opsledger_store::contract_suite!(make);
//!
//! #[test]
//! fn matches_the_model_across_reopens() {
//!     // `true`: the sequences reopen the store from its directory (a disk backend).
//!     opsledger_store::contract::model::check(48, false, &|_dir, config| {
//!         Box::new(MyStore::new(config).unwrap())
//!     });
//! }
//! # fn main() {}
//! ```
//!
//! [`contract_suite!`](crate::contract_suite) expands to one `#[test]` per check of
//! [`checks`]; [`model::check`] runs random sequences of appends, reads, retries and reopens
//! against an independent model of the rules. Idempotency facts follow SQLStreamStore's
//! acceptance tests and EventStore's all/none/some rules.

pub mod checks;
pub mod model;

use std::any::Any;
use std::ops::Deref;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{EventStore, ManualClock, NewEvent, StoreConfig, StreamId};

/// 2026-01-01T00:00:00Z, the fixed clock start of every check.
pub fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).expect("a valid instant")
}

/// A stream id (panics on an invalid name: fixtures only).
pub fn stream(name: &str) -> StreamId {
    StreamId::new(name).expect("a valid stream id")
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

/// Events `ev(n)` for every `n` in `range`.
pub fn evs(range: std::ops::Range<u128>) -> Vec<NewEvent> {
    range.map(ev).collect()
}

/// A store under test, its manual clock, and whatever must outlive it (a temporary directory).
pub struct Harness {
    /// The store.
    pub store: Box<dyn EventStore>,
    /// The clock the store stamps `recorded_at` with.
    pub clock: Arc<ManualClock>,
    /// Dropped after the store (e.g. its `tempfile::TempDir`).
    pub keep: Option<Box<dyn Any>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        // The store goes first, then what it lives in.
        self.store = Box::new(crate::MemoryStore::default());
        self.keep.take();
    }
}

impl Deref for Harness {
    type Target = dyn EventStore;
    fn deref(&self) -> &Self::Target {
        &*self.store
    }
}

/// Makes a fresh, empty store with the given configuration.
pub type Factory = fn(StoreConfig) -> Harness;

/// Builds a [`Harness`]: installs a manual clock at [`t0`] in `config`, then calls `open`,
/// which returns the store and what must outlive it.
pub fn harness(
    config: StoreConfig,
    open: impl FnOnce(StoreConfig) -> (Box<dyn EventStore>, Box<dyn Any>),
) -> Harness {
    let clock = Arc::new(ManualClock::new(t0()));
    let (store, keep) = open(config.with_clock(clock.clone()));
    Harness {
        store,
        clock,
        keep: Some(keep),
    }
}

/// The memory backend as a [`Factory`].
pub fn memory(config: StoreConfig) -> Harness {
    harness(config, |config| {
        (
            Box::new(crate::MemoryStore::new(config).expect("a valid configuration")),
            Box::new(()),
        )
    })
}

/// Expands to one `#[test]` per check of the contract suite, each run with `$factory`
/// (a [`Factory`]).
#[macro_export]
macro_rules! contract_suite {
    ($factory:path) => {
        $crate::contract_suite!(@checks $factory;
            empty_store_reads_empty,
            append_assigns_dense_versions_and_positions,
            stored_event_carries_every_field,
            recorded_at_never_goes_backwards,
            expected_version_rules,
            idempotent_retries,
            multi_stream_append_is_atomic,
            reads_page_and_bound,
            subscriptions_catch_up_then_follow,
            upcasters_lift_old_versions,
            upcaster_gap_is_a_typed_error,
            bad_input_is_rejected_and_writes_nothing,
            concurrent_writers_keep_versions_and_positions_dense,
        );
    };
    (@checks $factory:path; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                $crate::contract::checks::$check($factory)
            }
        )*
    };
}
