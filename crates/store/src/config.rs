//! Store configuration: durability, limits, resources.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::error::StoreError;
use crate::upcast::Upcasters;

/// When an append is acknowledged relative to the disk. See the crate documentation, section
/// "Durability", for exactly what a process crash and a power loss keep in each mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Acknowledge once the append is in sled's in-process write buffers. sled's background
    /// flusher writes and fsyncs them every `flush_every_ms`.
    Buffered,
    /// Acknowledge each append only after `sled::Db::flush` plus an `fdatasync` of sled's log
    /// file covering it. One disk round trip per append, appends serialised.
    #[default]
    PerCommit,
    /// Like `PerCommit`, but concurrent appenders share one flush + fdatasync: each append is
    /// acknowledged only after a flush that started after it was written.
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

/// sled-specific resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SledOptions {
    /// sled's page-cache budget. Default 48 MiB. sled also keeps a page table in memory that
    /// grows with the log (about 80 MiB per million events here), so this default keeps a
    /// 1M-event log under 256 MiB resident; sled's own default of 1 GiB does not.
    pub cache_capacity_bytes: u64,
    /// Interval of sled's background flusher (write + fsync), in ms. `Buffered` appends are
    /// durable after at most about this long. Default 500.
    pub flush_every_ms: u64,
    /// Most events the background indexer may lag behind the log before appenders wait for it.
    /// Bounds memory and the catch-up work of the next open. Default 65,536.
    pub max_index_lag: usize,
    /// When [`SledStore::close`](crate::SledStore::close) brings sled's page-table snapshot up
    /// to date: after a run that wrote at least this many events (default `Some(10_000)`;
    /// `None`: never). The engine's `close` applies the same rule to its read-models database,
    /// counting the events it projected. sled writes that snapshot only while a database
    /// opens, after reading every log segment written since the previous one; doing it at a
    /// clean close keeps the next open from growing with what this run wrote. The price is a
    /// close that takes as long as that open would have (it also loads the page table, which
    /// grows with the database), holding the directory's lock meanwhile: a process taking the
    /// directory over waits for it. Below the threshold the next open's extra reading is a
    /// few megabytes, less than the refresh would cost.
    pub page_table_refresh_min_events: Option<u64>,
}

impl Default for SledOptions {
    fn default() -> Self {
        Self {
            cache_capacity_bytes: 48 * 1024 * 1024,
            flush_every_ms: 500,
            max_index_lag: 65_536,
            page_table_refresh_min_events: Some(10_000),
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
    /// sled resources (ignored by the memory backend).
    pub sled: SledOptions,
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
            sled: SledOptions::default(),
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

    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        self.limits.validate()?;
        if self.group_commit.max_batch == 0 {
            return Err(StoreError::InvalidConfig(
                "group_commit.max_batch must be > 0".into(),
            ));
        }
        if self.sled.max_index_lag < 1_024 {
            return Err(StoreError::InvalidConfig(
                "sled.max_index_lag must be >= 1024".into(),
            ));
        }
        Ok(())
    }
}
