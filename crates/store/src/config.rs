//! Store configuration: durability, limits, resources.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::error::StoreError;
use crate::upcast::Upcasters;

/// When an append is acknowledged relative to the disk. Each backend's crate documentation
/// (section "Durability") says exactly what a process crash and a power loss keep in each mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Acknowledge before the append is synced. On SQLite the transaction has been written to
    /// the operating system: a process crash keeps it, a power loss keeps what the last
    /// checkpoint synced. On sled it is in sled's in-process write buffer, written and synced by
    /// a background flusher every `flush_every_ms`: a process crash loses what that flusher has
    /// not yet synced, which under a busy disk is older than `flush_every_ms` (no fixed bound).
    Buffered,
    /// Acknowledge each append only after a sync of the log covering it (SQLite: the commit's
    /// fsync of the write-ahead log; sled: `flush` plus an `fdatasync` of its log file). One
    /// disk round trip per append, appends serialised.
    #[default]
    PerCommit,
    /// Like `PerCommit`, but concurrent appenders share one sync: each append is acknowledged
    /// only after a sync that started after it was written.
    GroupCommit,
}

/// Bounds on inputs and buffers. Exceeding one is a typed error and nothing is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// Events in one append (all streams together). Default 1,000.
    pub max_events_per_append: usize,
    /// Payload bytes of one event. Default 64 KiB; at most [`StoreLimits::MAX_PAYLOAD_BYTES`].
    pub max_payload_bytes: usize,
    /// Payload bytes of one append. Default 4 MiB.
    pub max_append_bytes: usize,
    /// Streams in one multi-stream append. Default 16.
    pub max_streams_per_append: usize,
    /// Events returned by one read call. Default 10,000.
    pub max_page_size: usize,
    /// Events a subscription buffers ahead of its consumer. Default 512.
    pub subscription_buffer: usize,
}

impl StoreLimits {
    /// Hard ceiling for `max_payload_bytes`.
    ///
    /// Why: sled 0.34 stores a tree node larger than a quarter segment as a separate "blob" file
    /// that it never fsyncs, which would break the durability promise. Leaves hold at most 17
    /// records and the store uses 8 MiB segments (2 MiB blob threshold), so records must stay
    /// below ~120 KiB.
    pub const MAX_PAYLOAD_BYTES: usize = 96 * 1024;

    /// Longest event type name, bytes.
    pub const MAX_EVENT_TYPE_BYTES: usize = 256;

    /// Longest actor string, bytes.
    pub const MAX_ACTOR_BYTES: usize = 256;

    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        let bad = |what: &str| Err(StoreError::InvalidConfig(what.to_string()));
        if self.max_events_per_append == 0 {
            return bad("max_events_per_append must be > 0");
        }
        if self.max_payload_bytes == 0 || self.max_payload_bytes > Self::MAX_PAYLOAD_BYTES {
            return bad("max_payload_bytes must be in 1..=98304");
        }
        if self.max_append_bytes < self.max_payload_bytes {
            return bad("max_append_bytes must be >= max_payload_bytes");
        }
        if self.max_streams_per_append == 0 {
            return bad("max_streams_per_append must be > 0");
        }
        if self.max_page_size == 0 || self.subscription_buffer == 0 {
            return bad("max_page_size and subscription_buffer must be > 0");
        }
        Ok(())
    }
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            max_events_per_append: 1_000,
            max_payload_bytes: 64 * 1024,
            max_append_bytes: 4 * 1024 * 1024,
            max_streams_per_append: 16,
            max_page_size: 10_000,
            subscription_buffer: 512,
        }
    }
}

/// Group-commit tuning (used when `durability` is [`Durability::GroupCommit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommitConfig {
    /// The longest the flush leader waits for appenders that are already inside `append`
    /// (writing their records) to join its flush. It waits only while such appenders exist,
    /// so a lone writer never waits. Default 1 ms; zero disables the wait.
    pub max_wait: Duration,
    /// The leader flushes at once when this many appends await the flush. Default 64.
    pub max_batch: usize,
}

impl Default for GroupCommitConfig {
    fn default() -> Self {
        Self {
            max_wait: Duration::from_millis(1),
            max_batch: 64,
        }
    }
}

/// Everything a store needs besides its location.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Durability mode (default `PerCommit`).
    pub durability: Durability,
    /// Input and buffer bounds.
    pub limits: StoreLimits,
    /// Group-commit tuning.
    pub group_commit: GroupCommitConfig,
    /// Stamps `recorded_at`.
    pub clock: Arc<dyn Clock>,
    /// Schema upcasters applied on every read.
    pub upcasters: Arc<Upcasters>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            durability: Durability::default(),
            limits: StoreLimits::default(),
            group_commit: GroupCommitConfig::default(),
            clock: Arc::new(SystemClock),
            upcasters: Arc::new(Upcasters::new()),
        }
    }
}

impl StoreConfig {
    /// The default configuration with another durability mode.
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The configuration with another clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The configuration with another upcaster registry.
    pub fn with_upcasters(mut self, upcasters: Upcasters) -> Self {
        self.upcasters = Arc::new(upcasters);
        self
    }

    /// The configuration with other limits.
    pub fn with_limits(mut self, limits: StoreLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Checks that the configuration is consistent.
    pub fn validate(&self) -> Result<(), StoreError> {
        self.limits.validate()?;
        if self.group_commit.max_batch == 0 {
            return Err(StoreError::InvalidConfig(
                "group_commit.max_batch must be > 0".into(),
            ));
        }
        Ok(())
    }
}
