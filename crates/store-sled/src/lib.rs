//! opsledger-store-sled: the sled backend (`sled = "=0.34.7"`) of opsledger's event log.
//!
//! [`SledStore`] implements `opsledger_store::EventStore` and passes the contract suite.
//! [`SledStorage`] is the backend as the engine sees it: the log in `<dir>/log` (sled), the
//! read models, snapshots and checkpoints in `<dir>/views.sqlite3` (SQLite, through
//! `opsledger-store-sqlite`), so no second sled database remains.
//!
//! # When to choose it
//!
//! SQLite is the default and the better store on every figure measured (throughput, disk,
//! memory, open time; `docs/PERFORMANCE.md`). sled stays for directories created with it and
//! for comparison. Its known limits:
//!
//! - sled 0.34.7 has had no release since 2021. Under heavy concurrent writes it can deadlock
//!   inside its page cache (sled issue #1412, "Deadlock under high load", open): every thread
//!   parks, the writer in `SegmentAccountant::next` under `Tree::split_node`, the IO threads in
//!   `IoBufs::write_to_log`. Nothing in this crate can detect or break that from outside.
//! - Its page table lives in memory and grows with the log, so open time and resident memory
//!   grow with the log (see Resources).
//! - A damaged message in sled's log ends its recovery silently; the mark file below turns that
//!   into an error instead of a shortened history.
//!
//! # Layout
//!
//! One sled tree (`opsledger-log`) with one-byte key prefixes, integers big-endian:
//!
//! | keyspace | key | value | written by |
//! |---|---|---|---|
//! | `E` events | `E ‖ position` (9 B) | event record (below) | the append itself |
//! | `S` stream index | `S ‖ stream number ‖ version` (17 B) | position (varint) | indexer |
//! | `I` id index | `I ‖ event id` (17 B) | position (varint) | indexer |
//! | `N` names | `N ‖ stream id` | stream number (varint) | indexer |
//! | `M` numbers | `M ‖ stream number` (9 B) | stream id | indexer |
//! | `X` metadata | `Xformat`, `Xindexed` | format marker, index checkpoint | open, indexer |
//!
//! Beside sled's files the directory holds `opsledger.mark`, a 20-byte file (magic, position,
//! CRC) naming a position known to be durable. sled 0.34 treats a damaged message met while
//! replaying its log as the end of the log and silently truncates there; a log found shorter
//! than the mark therefore fails `open` with [`StoreError::Corrupt`] instead of serving a
//! silently shortened history. The mark is replaced atomically at open, at close and about
//! once a second while appends become durable.
//!
//! Stream ids are interned to a `u64` stream number, allocated on a stream's first event, so
//! index keys stay short; the stream id itself is written once, inside the record of the
//! stream's version 1. The record encoding is a compact binary format (see the `codec`
//! module source): varint integers, 16-byte UUIDs, timestamps as zigzag seconds + nanoseconds,
//! then the payload and a CRC-32 of the whole record. A typical record spends ~60 bytes on
//! metadata.
//!
//! # Write path
//!
//! 1. Validate the input against the limits and the upcaster registry (no lock held).
//! 2. Take the writer lock. Resolve stream numbers and heads (in-memory caches, rebuilt lazily
//!    from the indexes), look the event ids up, apply the idempotency and expected-version
//!    rules, stamp `recorded_at` from the [`Clock`] (never earlier than the previous append's),
//!    assign positions and versions, encode.
//! 3. Write the records: one plain `insert` for a single event, one `sled::Batch` for several
//!    (sled recovers a batch entirely or not at all). Nothing else is written on this path:
//!    no transaction (sled's transactions take a process-global lock and ran at ~20k/s on this
//!    machine kind), no index entry.
//! 4. Record the index facts in the in-memory tail, then acknowledge per the durability mode
//!    and publish the new visible head to readers and subscriptions.
//!
//! Group commit: durability is a two-stage pipeline, stage 1 sled's `flush()` (hands sled's
//! buffer to the OS and waits for the write-back), stage 2 an `fdatasync` of sled's log file.
//! An appender whose record is not handed over yet runs stage 1 for everything written so far,
//! unless a stage-1 run is going; before it starts it waits (at most
//! `GroupCommitConfig::max_wait`, default 1 ms) until as many appenders wait as were active in
//! the previous window (a lone writer never waits). Once its record is handed over it runs
//! stage 2 unless one is going. So group k+1's flush overlaps group k's fdatasync, and an append
//! is acknowledged only after an fdatasync that started after its record reached the OS.
//! [`SledStore::stats`] reports appends per fdatasync.
//!
//! A background indexer thread writes the tail's derived entries (`S`, `I`, `N`, `M`) to sled
//! in batches, for visible events only, then moves the `Xindexed` checkpoint. Lookups read the
//! tail first, then sled; entries leave the tail only after sled has them. sled recovers a
//! prefix of its log, and index entries are written after the records they describe, so after
//! any crash the checkpoint never points past the log. On open, the store checks that the last
//! record decodes and sits at its key (the head), checks the checkpoint's record against its
//! index entries (rebuilding the indexes if they disagree), and re-reads only the events after
//! the checkpoint. The indexer's lag is bounded by `SledOptions::max_index_lag`: appenders
//! wait when it is exceeded, which bounds memory and the catch-up work of the next open.
//!
//! # Durability
//!
//! sled 0.34.7's `flush()` writes its buffer with `pwrite` and then calls `sync_file_range`,
//! which neither persists file metadata nor flushes the device's volatile cache; only sled's
//! background flusher calls `fsync`, every `flush_every_ms`. The modes therefore are:
//!
//! | mode | acknowledged when | a process crash (SIGKILL, panic, OOM) keeps | a power loss / kernel crash keeps |
//! |---|---|---|---|
//! | [`Buffered`](opsledger_store::Durability::Buffered) | the records are in sled's in-process write buffer | every append the flusher had written and synced before the crash; the rest may be lost. The flusher starts every `flush_every_ms` (default 500 ms), so the loss window is that period **plus however long its write and fsync take**: no fixed bound under a busy disk (acknowledgements up to 881 ms old were lost at the default period) | the same |
//! | [`PerCommit`](opsledger_store::Durability::PerCommit) | sled `flush()` **and** an `fdatasync` of sled's log file `<dir>/db` returned, one per append | every acknowledged append | every acknowledged append, provided the device honours cache flushes (true for enterprise drives and correctly configured virtual disks; not for drives that lie about `FLUSH`) |
//! | [`GroupCommit`](opsledger_store::Durability::GroupCommit) | a flush + `fdatasync` that started after the append was written returned; concurrent appenders share it | every acknowledged append | every acknowledged append (same proviso) |
//!
//! In every mode a crash leaves a prefix of the commit order: no torn append, no gap, no
//! index entry past the log (sled recovers a prefix of its log, and a multi-event append is
//! one batch). Appends that were not acknowledged when the crash hit may or may not be there,
//! always whole. An append that fails with [`StoreError::Poisoned`] or [`StoreError::Io`]
//! has an unknown outcome: reopen and retry with the same event ids (the retry is idempotent).
//! If a flush or fsync fails the store poisons itself and refuses further writes, because the
//! kernel may have dropped the dirty pages (the PostgreSQL "fsyncgate" lesson); reopening
//! recovers from what is on disk. [`MemoryStore`] keeps nothing across a process exit.
//!
//! # Resources
//!
//! sled's page cache is capped by `SledOptions::cache_capacity_bytes` (default 48 MiB; sled's
//! own default is 1 GiB). sled also keeps its page table in memory (about 80 MiB per million
//! events), so the default keeps a 1M-event log under 256 MiB resident; that table, and so
//! resident memory after open, grows with the log. sled persists the table as a snapshot only
//! while a database opens, after reading every log segment written since the previous
//! snapshot; [`SledStore::close`] therefore refreshes it ([`page_table::refresh`]) after a
//! run that wrote more than `SledOptions::page_table_refresh_min_events` (default 10,000), so
//! the open after a clean close reads the snapshot and not what the last run wrote. After a crash the next open
//! reads those segments, as any sled recovery does. The writer's stream
//! caches and the readers' name cache are bounded and rebuilt on demand; the derived-index tail
//! is bounded by `max_index_lag`. Reads are paged (`max_page_size`), subscriptions buffer at
//! most `subscription_buffer` events. Measured figures against SQLite are in
//! `docs/PERFORMANCE.md` ("Event store").
//!
//! [`Clock`]: opsledger_store::Clock
//! [`StoreError::Corrupt`]: opsledger_store::StoreError::Corrupt
//! [`StoreError::Poisoned`]: opsledger_store::StoreError::Poisoned
//! [`StoreError::Io`]: opsledger_store::StoreError::Io
//! [`MemoryStore`]: opsledger_store::MemoryStore
//! [`Durability`]: opsledger_store::Durability

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod keys;
mod mark;
mod options;
pub mod page_table;
mod storage;
mod store;
mod tail;
mod verify;

pub use options::SledOptions;
pub use storage::{LOG_DIR, SPACES_FILE, SledStorage};
pub use store::{SledStats, SledStore};

/// Converts sled's errors into the store's (a function, since both types are foreign here).
pub(crate) fn sled_error(err: sled::Error) -> opsledger_store::StoreError {
    use opsledger_store::StoreError;
    match err {
        sled::Error::Corruption { at, .. } => StoreError::Corrupt {
            position: None,
            reason: format!("storage engine reports corruption at {at:?}"),
        },
        sled::Error::Io(io) => StoreError::Io(io),
        other => StoreError::Backend(other.to_string()),
    }
}
