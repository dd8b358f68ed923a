//! Engine configuration: durability, caches, snapshots, retries, limits, policy, clock, ids.

use crate::faults::Faults;
use crate::hooks::EventHook;
use opsledger_core::{Actor, Policy, Role};
use opsledger_store::{Clock, Durability, GroupCommitConfig, StoreLimits, SystemClock};
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

/// Source of new ids: event ids of ordinary commands, correlation ids, and the ids of incidents
/// opened from alerts. Injectable so that tests are deterministic.
pub trait IdGenerator: Send + Sync + Debug {
    /// A new, unique id.
    fn new_id(&self) -> Uuid;
}

/// UUID v7 (time-ordered, random tail): the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct UuidV7;

impl IdGenerator for UuidV7 {
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

/// Deterministic ids `seed:counter` for tests and reproducible runs: the same seed and the same
/// sequence of calls give the same ids.
#[derive(Debug)]
pub struct SequentialIds {
    seed: u64,
    next: AtomicU64,
}

impl SequentialIds {
    /// Ids `seed << 64 | 1`, `seed << 64 | 2`, ...
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            next: AtomicU64::new(1),
        }
    }
}

impl IdGenerator for SequentialIds {
    fn new_id(&self) -> Uuid {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        Uuid::from_u128((u128::from(self.seed) << 64) | u128::from(n))
    }
}

/// Bounds on what one call may ask for or cause. Exceeding one is a typed error (or, for
/// follow-ups, a truncation reported in the outcome), never an unbounded loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineLimits {
    /// Largest page a queue, KEDB or alert query returns. Default 1,000.
    pub max_page_size: usize,
    /// Index entries one queue query may scan before it returns a partial page with a cursor.
    /// Default 100,000.
    pub max_scan: usize,
    /// Events one timeline call returns (page with `ReadView::timeline_page`). Default 10,000.
    pub max_timeline: usize,
    /// Longest log prefix a view-wide as-of query (queues, KEDB, calendar, alerts, dump)
    /// replays into memory; a longer one is `limit_exceeded`. Single-record as-of reads fold
    /// the record's stream only and are not bound by it. Default 1,000,000.
    pub max_as_of_replay_events: u64,
    /// Longest idempotency key, in bytes. Default 256.
    pub max_idempotency_key_bytes: usize,
    /// Follow-up commands one command may cause, all cascades together. Default 20,000.
    pub max_follow_ups: usize,
    /// Depth of follow-up cascades (a parent's resolution resolving children resolving their
    /// children ...). Default 16.
    pub max_follow_up_depth: usize,
}

impl Default for EngineLimits {
    fn default() -> Self {
        Self {
            max_page_size: 1_000,
            max_scan: 100_000,
            max_timeline: 10_000,
            max_as_of_replay_events: 1_000_000,
            max_idempotency_key_bytes: 256,
            max_follow_ups: 20_000,
            max_follow_up_depth: 16,
        }
    }
}

/// The largest [`EngineConfig::cache_records`]: the LRU cache reserves room for all its
/// records when the engine opens, so a larger figure is refused rather than allocated.
pub const MAX_CACHE_RECORDS: usize = 1_000_000;

/// Everything an engine needs besides its location.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// When an append is acknowledged relative to the disk (the store's modes; see
    /// `opsledger_store`'s crate documentation for what a crash keeps in each). Default
    /// `PerCommit`.
    pub durability: Durability,
    /// The policy to put in force when the engine opens: recorded as version 1 of a new log,
    /// or published as the next version when it differs from the log's current one (as the
    /// system actor). `None` (the default) keeps the log's policy, and starts a new log with
    /// [`Policy::default`]. Later versions are published with
    /// [`Engine::publish_policy`](crate::Engine::publish_policy).
    pub policy: Option<Policy>,
    /// The clock: decision time (`Context.now`) and the store's `recorded_at`. Inject a
    /// [`ManualClock`](opsledger_store::ManualClock) for deterministic tests.
    pub clock: Arc<dyn Clock>,
    /// New ids (see [`IdGenerator`]).
    pub ids: Arc<dyn IdGenerator>,
    /// Records whose state the LRU cache keeps in memory. Default 10,000; at most
    /// [`MAX_CACHE_RECORDS`] (the cache reserves its table up front).
    pub cache_records: usize,
    /// A snapshot of a record's state is written every this many events of its stream (and
    /// whenever loading a record had to fold at least this many). Default 64.
    pub snapshot_every: u64,
    /// Attempts of a command whose caller pinned no expected version, when concurrent writers
    /// conflict. Default 16.
    pub max_attempts: u32,
    /// The actor process managers act as. Its id is prefixed to each process name
    /// (`opsledger:parent_resolution`) so the audit trail says which process acted. Default:
    /// `opsledger` with [`Role::System`], which under the default grants holds the permissions
    /// the process managers and timers need (`incident_work`, `incident_reopen`,
    /// `incident_auto_close`, `problem_work`, `change_work`, and the two incident escalations
    /// for SLA definitions that escalate at breach) and nothing a person would use. A
    /// deployment that narrows the system role's grants must keep those.
    pub system_actor: Actor,
    /// Engine limits.
    pub limits: EngineLimits,
    /// Store limits (the engine raises the per-event payload limit to the store's ceiling, so
    /// that a maximal note still fits with its JSON overhead).
    pub store_limits: StoreLimits,
    /// Group-commit tuning of the store.
    pub group_commit: GroupCommitConfig,
    /// Hooks registered before the engine opens, so that they also see the events projected
    /// while it opens (catch-up of the read models, or their rebuild); see
    /// [`EngineConfig::with_hook`]. [`Engine::add_hook`](crate::Engine::add_hook) registers one
    /// later.
    pub hooks: Hooks,
    /// Fault injection, for tests of the failure paths ([`Faults`]); empty by default.
    pub faults: Faults,
}

/// The hooks of an [`EngineConfig`] (a list that prints as the hooks' names).
#[derive(Clone, Default)]
pub struct Hooks(pub Vec<Arc<dyn EventHook>>);

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|h| h.name().to_owned()))
            .finish()
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        let store_limits = StoreLimits {
            max_payload_bytes: StoreLimits::MAX_PAYLOAD_BYTES,
            ..StoreLimits::default()
        };
        Self {
            durability: Durability::default(),
            policy: None,
            clock: Arc::new(SystemClock),
            ids: Arc::new(UuidV7),
            cache_records: 10_000,
            snapshot_every: 64,
            max_attempts: 16,
            system_actor: Actor::new("opsledger", [Role::System]),
            limits: EngineLimits::default(),
            store_limits,
            group_commit: GroupCommitConfig::default(),
            hooks: Hooks::default(),
            faults: Faults::default(),
        }
    }
}

impl EngineConfig {
    /// The configuration with one more hook, called from the engine's first projection on
    /// (including the catch-up or rebuild of the read models while the engine opens).
    pub fn with_hook(mut self, hook: Arc<dyn EventHook>) -> Self {
        self.hooks.0.push(hook);
        self
    }

    /// The configuration with another durability mode.
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The configuration with another policy.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The configuration with another clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The configuration with another id source.
    pub fn with_ids(mut self, ids: Arc<dyn IdGenerator>) -> Self {
        self.ids = ids;
        self
    }

    /// The configuration with another snapshot interval.
    pub fn with_snapshot_every(mut self, every: u64) -> Self {
        self.snapshot_every = every;
        self
    }

    /// The configuration with another cache size (records).
    pub fn with_cache_records(mut self, records: usize) -> Self {
        self.cache_records = records;
        self
    }

    /// The configuration with another bound on conflicting attempts.
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), crate::EngineError> {
        let bad = |what: &str| Err(crate::EngineError::InvalidConfig(what.to_owned()));
        if self.snapshot_every == 0 {
            return bad("snapshot_every must be >= 1");
        }
        if self.max_attempts == 0 {
            return bad("max_attempts must be >= 1");
        }
        if self.cache_records == 0 || self.cache_records > MAX_CACHE_RECORDS {
            return bad(&format!(
                "cache_records must be between 1 and {MAX_CACHE_RECORDS}"
            ));
        }
        if self.limits.max_page_size == 0 || self.limits.max_scan == 0 {
            return bad("max_page_size and max_scan must be >= 1");
        }
        if self.limits.max_timeline == 0 {
            return bad("max_timeline must be >= 1");
        }
        if self.system_actor.id.as_str().is_empty() {
            return bad("system_actor needs an id");
        }
        Ok(())
    }
}
