//! sled-specific resources.

use opsledger_store::StoreError;

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

impl SledOptions {
    /// Checks that the options are consistent.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.max_index_lag < 1_024 {
            return Err(StoreError::InvalidConfig(
                "sled.max_index_lag must be >= 1024".into(),
            ));
        }
        Ok(())
    }
}
