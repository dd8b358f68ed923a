//! The sled backend (`sled = "=0.34.7"`). Layout, write path and durability are described in
//! the crate documentation; this module is the implementation.

use std::collections::HashMap;
use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use parking_lot::{Condvar, Mutex, MutexGuard, RwLock};
use uuid::Uuid;

use opsledger_store::VerifyReport;
use opsledger_store::codec::{self, Assigned};
use opsledger_store::hash::NumberMap;
use opsledger_store::plan::{self, Existing};
use opsledger_store::subscription::{LogSource, Notifier, Subscription};
use opsledger_store::{
    AppendOutcome, AppendRequest, Durability, EventStore, Position, StoreConfig, StoreError,
    StoredEvent, StreamId, Version, check_page, validate_stream_name,
};

use crate::options::SledOptions;
use crate::tail::{Tail, TailEntry};
use crate::{keys, mark, page_table};

/// sled segment size. Fixed per database (sled refuses to reopen with another), and large
/// enough that no tree node reaches sled's blob threshold (a quarter segment): blob files are
/// written without fsync, which would break `PerCommit`'s promise.
const SEGMENT_SIZE: usize = 8 * 1024 * 1024;
/// The name of the one tree the store uses.
const TREE: &[u8] = b"opsledger-log";
/// The indexer wakes when this many visible events are unindexed...
const INDEX_BATCH_MIN: u64 = 512;
/// ...or after this long with any pending.
const INDEX_INTERVAL: Duration = Duration::from_millis(20);
/// Most entries the indexer writes before moving its checkpoint.
const INDEX_BATCH_MAX: usize = 4_096;
/// Bound of the writer's stream-head and stream-number caches (entries).
const WRITER_CACHE_MAX: usize = 262_144;
/// Bound of the readers' stream-name cache (entries).
const NAME_CACHE_MAX: usize = 65_536;

/// An [`EventStore`] persisted in a sled database directory.
///
/// Dropping it (or [`close`](SledStore::close)) makes every acknowledged append durable,
/// finishes the derived indexes, and releases the directory; open subscriptions then end with
/// [`StoreError::Closed`].
pub struct SledStore {
    core: Arc<Core>,
    indexer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.core.path)
            .field("written", &self.core.written.load(Ordering::Relaxed))
            .field("visible", &self.core.notifier.visible())
            .field("indexed", &self.core.indexed.load(Ordering::Relaxed))
            .finish()
    }
}

/// State shared by the store handle, the indexer thread and (weakly) subscriptions.
pub(crate) struct Core {
    pub(crate) path: PathBuf,
    pub(crate) db: sled::Db,
    pub(crate) tree: sled::Tree,
    /// sled's log file, for the fdatasync that sled's own flush does not do.
    pub(crate) log_file: File,
    pub(crate) config: StoreConfig,
    pub(crate) options: SledOptions,
    pub(crate) writer: Mutex<Writer>,
    pub(crate) tail: RwLock<Tail>,
    pub(crate) notifier: Arc<Notifier>,
    durable: Mutex<DurableState>,
    pub(crate) durable_cond: Condvar,
    /// Last position inserted into sled (not necessarily durable or visible).
    pub(crate) written: AtomicU64,
    /// The head when the store opened: `written` minus this is what this run wrote.
    pub(crate) opened_head: u64,
    /// Appends between entering `append` and asking for durability (group-commit gathering).
    pub(crate) in_flight: AtomicUsize,
    stats: Counters,
    /// Index checkpoint: every event up to here is indexed in sled.
    pub(crate) indexed: AtomicU64,
    pub(crate) index_signal: Mutex<bool>,
    pub(crate) index_cond: Condvar,
    pub(crate) poisoned: AtomicBool,
    pub(crate) poison_reason: Mutex<Option<String>>,
    pub(crate) closed: AtomicBool,
    pub(crate) names: RwLock<NumberMap<u64, StreamId>>,
    /// (position in the durable-head mark file, when it was written)
    pub(crate) mark: Mutex<(u64, Instant)>,
}

/// State only the single writer touches (under `Core::writer`).
pub(crate) struct Writer {
    head: u64,
    pub(crate) next_sid: u64,
    last_recorded: Option<DateTime<Utc>>,
    heads: NumberMap<u64, u64>,
    sids: HashMap<Arc<str>, u64>,
}

#[derive(Debug, Default)]
struct DurableState {
    /// Everything up to here survived an fdatasync.
    durable: u64,
    /// Everything up to here was handed to the OS by a completed sled flush.
    flushed: u64,
    /// A sled flush (stage 1) is running.
    flushing: bool,
    /// An fdatasync (stage 2) is running.
    syncing: bool,
    /// Appenders inside `await_durable`.
    waiting: usize,
    /// Of those, the ones whose record still needs a sled flush.
    unflushed: usize,
    /// Most appenders seen active at once (writing or waiting) since the last flush began.
    peak: usize,
    /// `peak` of the previous flush window: how many appenders the next leader waits for.
    expected: usize,
}

impl SledStore {
    /// Opens (creating if needed) the store in directory `path`.
    ///
    /// Recovery: sled replays its log; the store then checks that the last record decodes and
    /// sits at its key (the global head), checks the index checkpoint against the record it
    /// names (rebuilding the derived indexes if they disagree), and re-reads only the events
    /// after the checkpoint into memory. Open time therefore depends on sled's recovery and on
    /// the index lag (bounded by `max_index_lag`), not on the length of the log.
    pub fn open(path: impl AsRef<Path>, config: StoreConfig) -> Result<Self, StoreError> {
        Self::open_with(path, config, SledOptions::default())
    }

    /// [`SledStore::open`] with sled resources other than the defaults.
    pub fn open_with(
        path: impl AsRef<Path>,
        config: StoreConfig,
        options: SledOptions,
    ) -> Result<Self, StoreError> {
        config.validate()?;
        options.validate()?;
        let path = path.as_ref().to_path_buf();
        let core = match catch_unwind(AssertUnwindSafe(|| Core::open(path, config, options))) {
            Ok(r) => Arc::new(r?),
            Err(panic) => {
                return Err(StoreError::Corrupt {
                    position: None,
                    reason: format!(
                        "storage engine panicked while opening: {}",
                        panic_text(&panic)
                    ),
                });
            }
        };
        let indexer_core = core.clone();
        let indexer = std::thread::Builder::new()
            .name("opsledger-indexer".into())
            .spawn(move || indexer_core.run_indexer())
            .map_err(StoreError::Io)?;
        Ok(Self {
            core,
            indexer: Some(indexer),
        })
    }

    /// Closes the store: waits for in-flight appends, makes everything durable, finishes the
    /// derived indexes (so the next open has nothing to catch up), and releases the directory.
    /// After a run that wrote at least
    /// [`SledOptions::page_table_refresh_min_events`](crate::SledOptions) events it then brings
    /// sled's page-table snapshot up to date ([`page_table::refresh`]), so that the next open
    /// reads the snapshot instead of every log segment written since this store opened. That step cannot fail the close: everything is durable before it, and
    /// whatever stops it (say, an I/O error while sled reads its log) is met again, and
    /// reported, by the next open. A dropped store skips that step.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.shutdown()?;
        let core = &self.core;
        let written = core
            .written
            .load(Ordering::Acquire)
            .saturating_sub(core.opened_head);
        let refresh =
            page_table::worth_refreshing(core.options.page_table_refresh_min_events, written)
                .then(|| sled_config(&core.path, &core.options));
        drop(self);
        if let Some(config) = refresh {
            // Best effort, see above.
            let _ = page_table::refresh(&config);
        }
        Ok(())
    }

    /// Blocks until the derived indexes in sled cover every visible event (benchmarks,
    /// backups, tools). Appends do not need it: lookups read the in-memory tail as well.
    pub fn wait_for_indexes(&self) -> Result<(), StoreError> {
        let core = &self.core;
        let mut stop = core.index_signal.lock();
        while core.indexed.load(Ordering::Acquire) < core.notifier.visible() {
            if let Some(reason) = core.poisoned() {
                return Err(StoreError::Poisoned(reason));
            }
            if *stop {
                return Err(StoreError::Closed);
            }
            core.index_cond.notify_all();
            core.index_cond
                .wait_for(&mut stop, Duration::from_millis(5));
        }
        Ok(())
    }

    /// Counters since open: appends, durability syncs (their ratio is the group-commit batch
    /// size), time spent flushing and syncing, index lag.
    pub fn stats(&self) -> SledStats {
        let c = &self.core.stats;
        SledStats {
            appends: c.appends.load(Ordering::Relaxed),
            syncs: c.syncs.load(Ordering::Relaxed),
            sync_time: Duration::from_nanos(c.sync_nanos.load(Ordering::Relaxed)),
            flush_time: Duration::from_nanos(c.flush_nanos.load(Ordering::Relaxed)),
            index_lag: self
                .core
                .written
                .load(Ordering::Acquire)
                .saturating_sub(self.core.indexed.load(Ordering::Acquire)),
        }
    }

    /// The directory of the store.
    pub fn path(&self) -> &Path {
        &self.core.path
    }

    fn shutdown(&mut self) -> Result<(), StoreError> {
        let Some(indexer) = self.indexer.take() else {
            return Ok(());
        };
        let core = &self.core;
        {
            // Taking the writer lock waits for an append that is writing right now.
            let _writer = core.writer.lock();
            core.closed.store(true, Ordering::SeqCst);
        }
        let mut result = match core.poisoned() {
            Some(reason) => Err(StoreError::Poisoned(reason)),
            None => core.await_durable(core.written.load(Ordering::Acquire)),
        };
        *core.index_signal.lock() = true;
        core.index_cond.notify_all();
        if indexer.join().is_err() && result.is_ok() {
            result = Err(StoreError::Backend("indexer thread panicked".into()));
        }
        if result.is_ok() {
            result = core.sync_to_disk();
        }
        if result.is_ok() {
            result = mark::write(&core.path, core.written.load(Ordering::Acquire));
        }
        core.notifier.close();
        result
    }

    fn guarded<T>(&self, f: impl FnOnce(&Core) -> Result<T, StoreError>) -> Result<T, StoreError> {
        match catch_unwind(AssertUnwindSafe(|| f(&self.core))) {
            Ok(r) => r,
            Err(panic) => {
                let text = panic_text(&panic);
                self.core.poison(format!("storage engine panicked: {text}"));
                Err(StoreError::Backend(format!(
                    "storage engine panicked: {text}"
                )))
            }
        }
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Operation counters (relaxed atomics: cheap, approximate under concurrency).
#[derive(Debug, Default)]
struct Counters {
    appends: AtomicU64,
    syncs: AtomicU64,
    sync_nanos: AtomicU64,
    flush_nanos: AtomicU64,
}

/// What a [`SledStore`] has done since it was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SledStats {
    /// Appends that wrote (idempotent retries excluded).
    pub appends: u64,
    /// fdatasyncs made for durability (group commit: one per group).
    pub syncs: u64,
    /// Time spent in those fdatasyncs.
    pub sync_time: Duration,
    /// Time spent in sled flushes made for durability (they overlap the fdatasyncs).
    pub flush_time: Duration,
    /// Events not yet in the derived indexes in sled (held in memory).
    pub index_lag: u64,
}

/// Counts an append as in flight until it asks for durability (or fails).
struct InFlight<'a> {
    counter: &'a AtomicUsize,
    inside: bool,
}

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        Self {
            counter,
            inside: true,
        }
    }

    fn leave(&mut self) {
        if std::mem::take(&mut self.inside) {
            self.counter.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.leave();
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

fn corrupt(position: u64) -> impl Fn(String) -> StoreError {
    move |reason| StoreError::Corrupt {
        position: Some(Position(position)),
        reason,
    }
}

fn corrupt_index(reason: String) -> StoreError {
    StoreError::Corrupt {
        position: None,
        reason: format!("derived index: {reason}"),
    }
}

/// The sled configuration of the store at `path`.
fn sled_config(path: &Path, options: &SledOptions) -> sled::Config {
    sled::Config::new()
        .path(path)
        .cache_capacity(options.cache_capacity_bytes)
        .flush_every_ms(Some(options.flush_every_ms.max(1)))
        .segment_size(SEGMENT_SIZE)
}

impl Core {
    fn open(path: PathBuf, config: StoreConfig, options: SledOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(&path)?;
        let db = page_table::open_db(&sled_config(&path, &options))?;
        let log_file = File::open(path.join("db"))?;
        let tree = db.open_tree(TREE).map_err(crate::sled_error)?;
        match tree.get(keys::FORMAT_KEY).map_err(crate::sled_error)? {
            Some(v) if v == keys::FORMAT_VALUE => {}
            Some(v) => {
                return Err(StoreError::InvalidConfig(format!(
                    "{} holds format {:?}, not {:?}",
                    path.display(),
                    String::from_utf8_lossy(&v),
                    String::from_utf8_lossy(keys::FORMAT_VALUE)
                )));
            }
            None if tree.first().map_err(crate::sled_error)?.is_some() => {
                return Err(StoreError::Corrupt {
                    position: None,
                    reason: "database has records but no format marker".into(),
                });
            }
            None => {
                tree.insert(keys::FORMAT_KEY, keys::FORMAT_VALUE)
                    .map_err(crate::sled_error)?;
            }
        }
        // The recovered state may sit only in the OS page cache (after a process crash), and a
        // fresh directory's entries are not durable yet: make both durable before serving.
        db.flush().map_err(crate::sled_error)?;
        log_file.sync_data()?;
        File::open(&path)?.sync_all()?;

        let (head, last_recorded) = match tree
            .range(keys::event(1)..=keys::event(u64::MAX))
            .next_back()
        {
            None => (0, None),
            Some(kv) => {
                let (k, v) = kv.map_err(crate::sled_error)?;
                let position = keys::event_position(&k)
                    .ok_or_else(|| corrupt_index(format!("malformed event key {k:?}")))?;
                let record = codec::decode_record(&v).map_err(corrupt(position))?;
                if record.position != position {
                    return Err(corrupt(position)(format!(
                        "record claims position {}",
                        record.position
                    )));
                }
                (position, Some(record.recorded_at))
            }
        };

        match mark::read(&path)? {
            Some(marked) if marked > head => {
                return Err(StoreError::Corrupt {
                    position: Some(Position(head + 1)),
                    reason: format!(
                        "the log ends at position {head} but positions up to {marked} were durable: \
                         the storage engine dropped damaged log data while recovering. Restore a \
                         backup, or delete {} to accept the loss and open the surviving prefix",
                        mark::MARK_FILE
                    ),
                });
            }
            Some(marked) if marked == head => {}
            _ => mark::write(&path, head)?,
        }

        let core = Self {
            path,
            db,
            tree,
            log_file,
            options,
            writer: Mutex::new(Writer {
                head,
                next_sid: 1,
                last_recorded,
                heads: NumberMap::default(),
                sids: HashMap::new(),
            }),
            tail: RwLock::new(Tail::default()),
            notifier: Arc::new(Notifier::new(head)),
            durable: Mutex::new(DurableState {
                durable: head,
                flushed: head,
                ..Default::default()
            }),
            durable_cond: Condvar::new(),
            written: AtomicU64::new(head),
            opened_head: head,
            in_flight: AtomicUsize::new(0),
            stats: Counters::default(),
            indexed: AtomicU64::new(0),
            index_signal: Mutex::new(false),
            index_cond: Condvar::new(),
            poisoned: AtomicBool::new(false),
            poison_reason: Mutex::new(None),
            closed: AtomicBool::new(false),
            names: RwLock::new(NumberMap::default()),
            mark: Mutex::new((head, Instant::now())),
            config,
        };
        core.recover_indexes(head)?;
        let max_sid = match core
            .tree
            .range(keys::number(1)..=keys::number(u64::MAX))
            .next_back()
        {
            Some(kv) => keys::be_u64(&kv.map_err(crate::sled_error)?.0, 1).unwrap_or(0),
            None => 0,
        };
        core.writer.lock().next_sid = max_sid.max(core.tail.read().max_sid()) + 1;
        Ok(core)
    }

    /// Brings the derived indexes in line with the log after open (see `SledStore::open`).
    fn recover_indexes(&self, head: u64) -> Result<(), StoreError> {
        let mut checkpoint = match self
            .tree
            .get(keys::INDEXED_KEY)
            .map_err(crate::sled_error)?
        {
            Some(v) => {
                keys::be_u64(&v, 0).ok_or_else(|| corrupt_index("malformed checkpoint".into()))?
            }
            None => 0,
        };
        if checkpoint > head || (checkpoint > 0 && !self.checkpoint_consistent(checkpoint)?) {
            self.clear_indexes()?;
            checkpoint = 0;
        }
        self.indexed.store(checkpoint, Ordering::Release);
        // A large lag (a rebuild, or a log written by a crashed process with a big index lag)
        // is indexed straight into sled in batches rather than held in memory.
        let mut next = checkpoint + 1;
        while head >= next && head - next + 1 > INDEX_BATCH_MAX as u64 {
            let upto = next + INDEX_BATCH_MAX as u64 - 1;
            let entries = self.scan_entries(next, upto)?;
            self.write_index(&entries, upto)?;
            next = upto + 1;
        }
        let entries = self.scan_entries(next, head)?;
        let mut tail = self.tail.write();
        for e in entries {
            tail.push(e);
        }
        Ok(())
    }

    /// Whether the event at the checkpoint has its index entries (cheap sample check).
    fn checkpoint_consistent(&self, checkpoint: u64) -> Result<bool, StoreError> {
        let Some(bytes) = self
            .tree
            .get(keys::event(checkpoint))
            .map_err(crate::sled_error)?
        else {
            return Ok(false);
        };
        let Ok(record) = codec::decode_record(&bytes) else {
            return Ok(false);
        };
        let points_here = |v: Option<sled::IVec>| {
            v.is_some_and(|v| codec::read_varint_exact(&v).ok() == Some(checkpoint))
        };
        Ok(points_here(
            self.tree
                .get(keys::id(&record.event_id))
                .map_err(crate::sled_error)?,
        ) && points_here(
            self.tree
                .get(keys::stream(record.sid, record.version))
                .map_err(crate::sled_error)?,
        ))
    }

    fn clear_indexes(&self) -> Result<(), StoreError> {
        for prefix in [keys::ID, keys::NUMBER, keys::NAME, keys::STREAM] {
            for kv in self.tree.scan_prefix([prefix]) {
                self.tree
                    .remove(kv.map_err(crate::sled_error)?.0)
                    .map_err(crate::sled_error)?;
            }
        }
        self.tree
            .remove(keys::INDEXED_KEY)
            .map_err(crate::sled_error)?;
        Ok(())
    }

    /// Reads the index facts of events `from..=to` from their records.
    fn scan_entries(&self, from: u64, to: u64) -> Result<Vec<TailEntry>, StoreError> {
        let mut out = Vec::new();
        if from > to {
            return Ok(out);
        }
        let mut expected = from;
        for kv in self.tree.range(keys::event(from)..=keys::event(to)) {
            let (k, v) = kv.map_err(crate::sled_error)?;
            let position = keys::event_position(&k).unwrap_or(0);
            if position != expected {
                return Err(corrupt(expected)("record missing from the log".into()));
            }
            let record = codec::decode_record(&v).map_err(corrupt(position))?;
            if record.position != position {
                return Err(corrupt(position)(format!(
                    "record claims position {}",
                    record.position
                )));
            }
            out.push(TailEntry {
                position,
                sid: record.sid,
                version: record.version,
                event_id: record.event_id,
                name: record.stream_name.map(Arc::from),
            });
            expected += 1;
        }
        if expected != to + 1 {
            return Err(corrupt(expected)("record missing from the log".into()));
        }
        Ok(out)
    }

    /// Writes derived index entries and moves the checkpoint to `upto`. Plain inserts (no
    /// batch): the entries are idempotent, and the checkpoint is written last, so sled's
    /// prefix recovery never leaves a checkpoint ahead of the entries it covers.
    fn write_index(&self, entries: &[TailEntry], upto: u64) -> Result<(), StoreError> {
        let mut value = Vec::with_capacity(10);
        for e in entries {
            value.clear();
            codec::put_varint(&mut value, e.position);
            self.tree
                .insert(keys::stream(e.sid, e.version), value.as_slice())
                .map_err(crate::sled_error)?;
            self.tree
                .insert(keys::id(&e.event_id), value.as_slice())
                .map_err(crate::sled_error)?;
            if let Some(name) = &e.name {
                value.clear();
                codec::put_varint(&mut value, e.sid);
                self.tree
                    .insert(keys::name(name), value.as_slice())
                    .map_err(crate::sled_error)?;
                self.tree
                    .insert(keys::number(e.sid), name.as_bytes())
                    .map_err(crate::sled_error)?;
            }
        }
        self.tree
            .insert(keys::INDEXED_KEY, &upto.to_be_bytes())
            .map_err(crate::sled_error)?;
        Ok(())
    }

    fn run_indexer(self: Arc<Self>) {
        loop {
            let stopping = self.wait_for_index_work();
            if let Err(e) = self.refresh_mark() {
                self.poison(format!("writing the durable-head mark failed: {e}"));
                return;
            }
            match catch_unwind(AssertUnwindSafe(|| self.index_once())) {
                Ok(Ok(0)) if stopping => return,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    self.poison(format!("indexer failed: {e}"));
                    return;
                }
                Err(panic) => {
                    self.poison(format!("indexer panicked: {}", panic_text(&panic)));
                    return;
                }
            }
        }
    }

    /// Moves the durable-head mark forward, at most about once a second (see `mark`).
    fn refresh_mark(&self) -> Result<(), StoreError> {
        let durable = self.durable.lock().durable;
        let mut mark = self.mark.lock();
        if durable > mark.0 && mark.1.elapsed() >= Duration::from_secs(1) {
            mark::write(&self.path, durable)?;
            *mark = (durable, Instant::now());
        }
        Ok(())
    }

    /// Sleeps until there is enough to index, the interval passes, or the store stops.
    fn wait_for_index_work(&self) -> bool {
        let deadline = Instant::now() + INDEX_INTERVAL;
        let mut stop = self.index_signal.lock();
        loop {
            if *stop || self.poisoned.load(Ordering::Acquire) {
                return true;
            }
            let pending = self
                .notifier
                .visible()
                .saturating_sub(self.indexed.load(Ordering::Acquire));
            if pending >= INDEX_BATCH_MIN {
                return false;
            }
            if self.index_cond.wait_until(&mut stop, deadline).timed_out() {
                return *stop;
            }
        }
    }

    /// Indexes one batch of visible events; returns how many.
    fn index_once(&self) -> Result<usize, StoreError> {
        if self.poisoned.load(Ordering::Acquire) {
            return Ok(0);
        }
        // Only visible (acknowledged) events: sled then never holds index entries for events a
        // crash could still take back, whatever the durability mode.
        let visible = self.notifier.visible();
        let entries = self.tail.read().entries_upto(visible, INDEX_BATCH_MAX);
        let Some(last) = entries.last().map(|e| e.position) else {
            return Ok(0);
        };
        self.write_index(&entries, last)?;
        self.tail.write().remove_through(last);
        self.indexed.store(last, Ordering::Release);
        let _guard = self.index_signal.lock();
        self.index_cond.notify_all();
        Ok(entries.len())
    }

    /// Backpressure: appenders wait while the indexer lags too far behind.
    fn wait_for_indexer(&self) -> Result<(), StoreError> {
        let max = self.options.max_index_lag as u64;
        let lag = || {
            self.written
                .load(Ordering::Acquire)
                .saturating_sub(self.indexed.load(Ordering::Acquire))
        };
        if lag() <= max {
            return Ok(());
        }
        let mut stop = self.index_signal.lock();
        while lag() > max {
            self.check_writable()?;
            if *stop {
                return Err(StoreError::Closed);
            }
            self.index_cond.notify_all();
            self.index_cond
                .wait_for(&mut stop, Duration::from_millis(10));
        }
        Ok(())
    }

    fn poison(&self, reason: String) {
        {
            let mut r = self.poison_reason.lock();
            if r.is_none() {
                *r = Some(reason);
            }
        }
        self.poisoned.store(true, Ordering::Release);
        let _d = self.durable.lock();
        self.durable_cond.notify_all();
        drop(_d);
        let _i = self.index_signal.lock();
        self.index_cond.notify_all();
    }

    fn poisoned(&self) -> Option<String> {
        if !self.poisoned.load(Ordering::Acquire) {
            return None;
        }
        Some(self.poison_reason.lock().clone().unwrap_or_default())
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        match self.poisoned() {
            Some(reason) => Err(StoreError::Poisoned(reason)),
            None => Ok(()),
        }
    }

    /// sled's flush (write + `sync_file_range`) followed by the `fdatasync` that makes it
    /// durable against power loss as well.
    fn sync_to_disk(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(crate::sled_error)?;
        self.log_file.sync_data()?;
        Ok(())
    }

    /// Returns once everything up to `position` is durable, doing the work if nobody else is.
    ///
    /// Durability is a two-stage pipeline: stage 1 is sled's `flush()` (hands sled's buffer
    /// to the OS and waits for the write-back), stage 2 is the `fdatasync` of the log file.
    /// An appender whose record is not yet handed over runs stage 1 for everything written so
    /// far (after the group-commit gathering) unless a stage-1 run is already going; once its
    /// record is handed over it runs stage 2 unless one is already going. While one group
    /// waits for its fdatasync, the next group's flush proceeds, so the disk is kept busy
    /// with two operations instead of one. An append is acknowledged only after an
    /// `fdatasync` that started after its record reached the OS.
    fn await_durable(&self, position: u64) -> Result<(), StoreError> {
        let mut st = self.durable.lock();
        st.waiting += 1;
        let mut unflushed = position > st.flushed;
        if unflushed {
            st.unflushed += 1;
        }
        let active = st.unflushed + self.in_flight.load(Ordering::Acquire);
        st.peak = st.peak.max(active);
        if st.flushing {
            self.durable_cond.notify_all();
        }
        let result = loop {
            if let Some(reason) = self.poisoned() {
                break Err(StoreError::Poisoned(reason));
            }
            if st.durable >= position {
                break Ok(());
            }
            if unflushed && st.flushed >= position {
                unflushed = false;
                st.unflushed -= 1;
            }
            if st.flushed >= position {
                if st.syncing {
                    self.durable_cond.wait(&mut st);
                    continue;
                }
                st.syncing = true;
                let target = st.flushed;
                let started = Instant::now();
                let synced = MutexGuard::unlocked(&mut st, || self.log_file.sync_data());
                self.stats.syncs.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .sync_nanos
                    .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                st.syncing = false;
                match synced {
                    Ok(()) => {
                        st.durable = st.durable.max(target);
                        self.notifier.publish(target);
                    }
                    Err(e) => self.poison(format!("fdatasync failed, durable state unknown: {e}")),
                }
                self.durable_cond.notify_all();
                continue;
            }
            if st.flushing {
                self.durable_cond.wait(&mut st);
                continue;
            }
            st.flushing = true;
            self.gather(&mut st);
            // Everything up to `target` was inserted before this flush starts, so it covers it.
            let target = self.written.load(Ordering::Acquire);
            let started = Instant::now();
            let flushed = MutexGuard::unlocked(&mut st, || self.db.flush());
            self.stats
                .flush_nanos
                .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
            st.flushing = false;
            match flushed {
                Ok(_) => st.flushed = st.flushed.max(target),
                Err(e) => self.poison(format!("flush failed, durable state unknown: {e}")),
            }
            self.durable_cond.notify_all();
        };
        if unflushed {
            st.unflushed -= 1;
        }
        st.waiting -= 1;
        result
    }

    /// The group-commit leader's bounded wait for more appenders.
    ///
    /// Without it, appenders fall into cohorts: those woken by one flush re-enter `append`
    /// while the next leader already flushes the others, so each flush covers only part of
    /// the writers. The leader therefore waits, at most `max_wait`, until as many appenders
    /// wait as were active in the previous flush window (a lone writer: one, no wait), or
    /// `max_batch` of them.
    fn gather(&self, st: &mut MutexGuard<'_, DurableState>) {
        let gc = self.config.group_commit;
        let peak = st.peak;
        let expected = std::mem::replace(&mut st.expected, peak);
        st.peak = st.unflushed + self.in_flight.load(Ordering::Acquire);
        if self.config.durability != Durability::GroupCommit || gc.max_wait.is_zero() {
            return;
        }
        let want = expected.max(1).min(gc.max_batch);
        let deadline = Instant::now() + gc.max_wait;
        while st.unflushed < want {
            if self.durable_cond.wait_until(st, deadline).timed_out() {
                break;
            }
        }
        st.peak = st
            .peak
            .max(st.waiting + self.in_flight.load(Ordering::Acquire));
    }

    /// Acknowledges up to `position` according to the durability mode.
    fn acknowledge(&self, position: u64) -> Result<(), StoreError> {
        match self.config.durability {
            Durability::Buffered => {
                self.notifier.publish(position);
                Ok(())
            }
            Durability::PerCommit | Durability::GroupCommit => self.await_durable(position),
        }
    }

    fn append(&self, requests: Vec<AppendRequest>) -> Result<Vec<AppendOutcome>, StoreError> {
        self.check_writable()?;
        self.wait_for_indexer()?;
        let mut in_flight = InFlight::enter(&self.in_flight);
        let mut w = self.writer.lock();
        self.check_writable()?;
        let mut parts = Vec::with_capacity(requests.len());
        let mut plans = Vec::with_capacity(requests.len());
        for request in &requests {
            let sid = self.writer_sid(&mut w, &request.stream)?;
            let current = match sid {
                Some(sid) => self.writer_head(&mut w, sid)?,
                None => 0,
            };
            let ids: Vec<Uuid> = request.events.iter().map(|e| e.event_id).collect();
            let existing = ids
                .iter()
                .map(|id| self.existing(sid, id))
                .collect::<Result<Vec<_>, _>>()?;
            plans.push(plan::classify(
                &request.stream,
                request.expected,
                Version(current),
                &ids,
                &existing,
            )?);
            parts.push((sid, current));
        }
        if let Some(outcomes) = plan::combine(&requests, &plans)? {
            drop(w);
            let last = outcomes
                .iter()
                .map(|o| o.last_position.0)
                .max()
                .unwrap_or(0);
            self.acknowledge(last)?;
            return Ok(outcomes);
        }

        let now = self.config.clock.now();
        let recorded_at = w.last_recorded.map_or(now, |last| last.max(now));
        let mut position = w.head;
        let mut records: Vec<([u8; 9], Vec<u8>)> = Vec::new();
        let mut entries = Vec::new();
        let mut outcomes = Vec::with_capacity(requests.len());
        let mut new_heads = Vec::with_capacity(requests.len());
        let mut next_sid = w.next_sid;
        for (request, (sid, current)) in requests.iter().zip(parts) {
            let (sid, new_name) = match sid {
                Some(sid) => (sid, None),
                None => {
                    next_sid += 1;
                    (next_sid - 1, Some(request.stream.shared().clone()))
                }
            };
            for (i, event) in request.events.iter().enumerate() {
                position += 1;
                let version = current + 1 + i as u64;
                let name = if version == 1 { new_name.clone() } else { None };
                let assigned = Assigned {
                    position,
                    sid,
                    version,
                    stream_name: name.as_deref(),
                    recorded_at,
                };
                let mut buf = Vec::with_capacity(event.payload.len() + 96);
                codec::encode_record(&mut buf, &assigned, event);
                records.push((keys::event(position), buf));
                entries.push(TailEntry {
                    position,
                    sid,
                    version,
                    event_id: event.event_id,
                    name,
                });
            }
            let n = request.events.len() as u64;
            outcomes.push(AppendOutcome {
                first_position: Position(position - n + 1),
                last_position: Position(position),
                first_version: Version(current + 1),
                last_version: Version(current + n),
                was_duplicate: false,
            });
            new_heads.push((sid, current + n, new_name));
        }

        // One sled key per event; a multi-event commit is one atomic batch (sled's log "peg"
        // recovers a batch entirely or not at all). No transaction, no index write here.
        let written = if records.len() == 1 {
            let (k, v) = records.pop().expect("one record");
            self.tree.insert(k, v).map(|_| ())
        } else {
            let mut batch = sled::Batch::default();
            for (k, v) in records {
                batch.insert(&k, v);
            }
            self.tree.apply_batch(batch)
        };
        if let Err(e) = written {
            self.poison(format!("write failed, state unknown: {e}"));
            return Err(crate::sled_error(e));
        }

        w.head = position;
        w.next_sid = next_sid;
        w.last_recorded = Some(recorded_at);
        for (sid, head, name) in new_heads {
            if w.heads.len() >= WRITER_CACHE_MAX {
                w.heads.clear();
            }
            w.heads.insert(sid, head);
            if let Some(name) = name {
                if w.sids.len() >= WRITER_CACHE_MAX {
                    w.sids.clear();
                }
                w.sids.insert(name, sid);
            }
        }
        {
            let mut tail = self.tail.write();
            for e in entries {
                tail.push(e);
            }
        }
        self.written.store(position, Ordering::Release);
        self.stats.appends.fetch_add(1, Ordering::Relaxed);
        let result = match self.config.durability {
            // PerCommit: the flush happens under the writer lock, one per append.
            Durability::PerCommit => {
                in_flight.leave();
                self.acknowledge(position)
            }
            Durability::Buffered | Durability::GroupCommit => {
                drop(w);
                in_flight.leave();
                self.acknowledge(position)
            }
        };
        if self
            .notifier
            .visible()
            .saturating_sub(self.indexed.load(Ordering::Acquire))
            >= INDEX_BATCH_MIN
        {
            self.index_cond.notify_all();
        }
        result.map(|()| outcomes)
    }

    fn writer_sid(&self, w: &mut Writer, stream: &StreamId) -> Result<Option<u64>, StoreError> {
        if let Some(&sid) = w.sids.get(stream.as_str()) {
            return Ok(Some(sid));
        }
        let sid = self.lookup_sid(stream.as_str())?;
        if let Some(sid) = sid {
            if w.sids.len() >= WRITER_CACHE_MAX {
                w.sids.clear();
            }
            w.sids.insert(stream.shared().clone(), sid);
        }
        Ok(sid)
    }

    fn writer_head(&self, w: &mut Writer, sid: u64) -> Result<u64, StoreError> {
        if let Some(&v) = w.heads.get(&sid) {
            return Ok(v);
        }
        let v = self.stream_head(sid, u64::MAX)?;
        if w.heads.len() >= WRITER_CACHE_MAX {
            w.heads.clear();
        }
        w.heads.insert(sid, v);
        Ok(v)
    }

    /// Stream number of a stream id: the tail first, then sled (see `tail` for why).
    fn lookup_sid(&self, name: &str) -> Result<Option<u64>, StoreError> {
        if let Some(sid) = self.tail.read().sid(name) {
            return Ok(Some(sid));
        }
        self.tree
            .get(keys::name(name))
            .map_err(crate::sled_error)?
            .map(|v| codec::read_varint_exact(&v).map_err(corrupt_index))
            .transpose()
    }

    /// The last version of stream `sid` among events with position <= `visible`.
    fn stream_head(&self, sid: u64, visible: u64) -> Result<u64, StoreError> {
        // (Nested rather than a let chain: the workspace's MSRV is 1.85.)
        let from_tail = self.tail.read().stream(sid).and_then(|list| {
            list.iter()
                .rev()
                .find(|&&(_, p)| p <= visible)
                .map(|&(v, _)| v)
        });
        if let Some(v) = from_tail {
            return Ok(v);
        }
        match self
            .tree
            .range(keys::stream(sid, 1)..=keys::stream(sid, u64::MAX))
            .next_back()
        {
            None => Ok(0),
            Some(kv) => {
                let (k, _) = kv.map_err(crate::sled_error)?;
                keys::stream_parts(&k)
                    .map(|(_, v)| v)
                    .ok_or_else(|| corrupt_index(format!("malformed stream key {k:?}")))
            }
        }
    }

    /// Where an event id is stored, if anywhere (tail, then the sled id index).
    fn existing(&self, sid: Option<u64>, id: &Uuid) -> Result<Option<Existing>, StoreError> {
        if let Some((position, s, version)) = self.tail.read().id(id) {
            return Ok(Some(Existing {
                position,
                same_stream: Some(s) == sid,
                version,
            }));
        }
        let Some(v) = self.tree.get(keys::id(id)).map_err(crate::sled_error)? else {
            return Ok(None);
        };
        let position = codec::read_varint_exact(&v).map_err(corrupt_index)?;
        let bytes = self
            .tree
            .get(keys::event(position))
            .map_err(crate::sled_error)?
            .ok_or_else(|| corrupt(position)("id index points at a missing record".into()))?;
        let record = codec::decode_record(&bytes).map_err(corrupt(position))?;
        if record.event_id != *id {
            return Err(corrupt(position)(format!(
                "id index for {id} points at another event"
            )));
        }
        Ok(Some(Existing {
            position,
            same_stream: Some(record.sid) == sid,
            version: record.version,
        }))
    }

    /// The stream id of stream number `sid` (cache, the record's own copy, tail, sled).
    fn stream_name(&self, sid: u64, own: Option<&str>) -> Result<StreamId, StoreError> {
        if let Some(s) = self.names.read().get(&sid) {
            return Ok(s.clone());
        }
        let name: Arc<str> = match own {
            Some(n) => Arc::from(n),
            None => match self.tail.read().name(sid) {
                Some(n) => n,
                None => {
                    let bytes = self
                        .tree
                        .get(keys::number(sid))
                        .map_err(crate::sled_error)?
                        .ok_or_else(|| {
                            corrupt_index(format!("no stream id for stream number {sid}"))
                        })?;
                    let s = std::str::from_utf8(&bytes)
                        .map_err(|_| corrupt_index(format!("stream id {sid} is not UTF-8")))?;
                    validate_stream_name(s).map_err(|e| corrupt_index(e.to_string()))?;
                    Arc::from(s)
                }
            },
        };
        let stream = StreamId::from_trusted(name);
        let mut names = self.names.write();
        if names.len() >= NAME_CACHE_MAX {
            names.clear();
        }
        names.insert(sid, stream.clone());
        Ok(stream)
    }

    /// Decodes the record stored at `position` into a public event (checksum, key, upcasting).
    fn event_from(
        &self,
        position: u64,
        bytes: &[u8],
        sid: Option<u64>,
    ) -> Result<StoredEvent, StoreError> {
        let record = codec::decode_record(bytes).map_err(corrupt(position))?;
        if record.position != position {
            return Err(corrupt(position)(format!(
                "record claims position {}",
                record.position
            )));
        }
        if sid.is_some_and(|sid| record.sid != sid) {
            return Err(corrupt(position)(
                "stream index points at another stream's event".into(),
            ));
        }
        let stream = self.stream_name(record.sid, record.stream_name)?;
        let mut event = record.to_stored(stream);
        if !self.config.upcasters.is_empty() {
            self.config.upcasters.upcast(&mut event)?;
        }
        Ok(event)
    }

    fn load_event(&self, position: u64, sid: Option<u64>) -> Result<StoredEvent, StoreError> {
        let bytes = self
            .tree
            .get(keys::event(position))
            .map_err(crate::sled_error)?
            .ok_or_else(|| corrupt(position)("record missing from the log".into()))?;
        self.event_from(position, &bytes, sid)
    }

    fn read_stream(
        &self,
        stream: &StreamId,
        from: Version,
        max: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        check_page(max, &self.config)?;
        if max == 0 {
            return Ok(Vec::new());
        }
        let Some(sid) = self.lookup_sid(stream.as_str())? else {
            return Ok(Vec::new());
        };
        let visible = self.notifier.visible();
        let from = from.0.max(1);
        let from_tail: Vec<(u64, u64)> = self
            .tail
            .read()
            .stream(sid)
            .map(|l| {
                l.iter()
                    .filter(|&&(v, p)| v >= from && p <= visible)
                    .take(max)
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        let mut list = Vec::with_capacity(max.min(1024));
        if from_tail.first().is_none_or(|&(v, _)| v > from) {
            for kv in self
                .tree
                .range(keys::stream(sid, from)..=keys::stream(sid, u64::MAX))
                .take(max)
            {
                let (k, value) = kv.map_err(crate::sled_error)?;
                let (_, version) = keys::stream_parts(&k)
                    .ok_or_else(|| corrupt_index(format!("malformed stream key {k:?}")))?;
                let position = codec::read_varint_exact(&value).map_err(corrupt_index)?;
                if position > visible {
                    break;
                }
                list.push((version, position));
            }
        }
        let next = list.last().map_or(from, |&(v, _)| v + 1);
        list.extend(from_tail.into_iter().filter(|&(v, _)| v >= next));
        list.truncate(max);
        let mut out = Vec::with_capacity(list.len());
        for (i, (version, position)) in list.into_iter().enumerate() {
            if version != from + i as u64 {
                return Err(corrupt_index(format!(
                    "stream {stream} lacks version {} in its index",
                    from + i as u64
                )));
            }
            let event = self.load_event(position, Some(sid))?;
            if event.version.0 != version {
                return Err(corrupt(position)(format!(
                    "stream index says version {version}"
                )));
            }
            out.push(event);
        }
        Ok(out)
    }

    fn event_by_id(&self, id: Uuid) -> Result<Option<StoredEvent>, StoreError> {
        let visible = self.notifier.visible();
        let position = self.tail.read().id(&id).map(|(p, _, _)| p);
        let position = match position {
            Some(p) => Some(p),
            None => self
                .tree
                .get(keys::id(&id))
                .map_err(crate::sled_error)?
                .map(|v| codec::read_varint_exact(&v).map_err(corrupt_index))
                .transpose()?,
        };
        let Some(position) = position.filter(|&p| p <= visible) else {
            return Ok(None);
        };
        let event = self.load_event(position, None)?;
        if event.event_id != id {
            return Err(corrupt(position)(format!(
                "id index for {id} points at another event"
            )));
        }
        Ok(Some(event))
    }
}

impl LogSource for Core {
    /// Reads `from..` densely. A page stops before a missing or damaged record, so that every
    /// event before it is delivered; reading from the damaged position itself is the error.
    fn read_page(&self, from: u64, max: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let visible = self.notifier.visible();
        let from = from.max(1);
        if from > visible || max == 0 {
            return Ok(Vec::new());
        }
        let end = visible.min(from.saturating_add(max as u64 - 1));
        let mut out = Vec::with_capacity((end - from + 1) as usize);
        let mut expected = from;
        let stop =
            |out: Vec<StoredEvent>, e: StoreError| if out.is_empty() { Err(e) } else { Ok(out) };
        for kv in self.tree.range(keys::event(from)..=keys::event(end)) {
            let (k, v) = match kv {
                Ok(kv) => kv,
                Err(e) => return stop(out, crate::sled_error(e)),
            };
            if keys::event_position(&k) != Some(expected) {
                return stop(out, corrupt(expected)("record missing from the log".into()));
            }
            match self.event_from(expected, &v, None) {
                Ok(event) => out.push(event),
                Err(e) => return stop(out, e),
            }
            expected += 1;
        }
        if expected != end + 1 {
            return stop(out, corrupt(expected)("record missing from the log".into()));
        }
        Ok(out)
    }
}

impl EventStore for SledStore {
    fn append_multi(&self, requests: Vec<AppendRequest>) -> Result<Vec<AppendOutcome>, StoreError> {
        let config = &self.core.config;
        plan::validate_requests(&requests, &config.limits, &config.upcasters)?;
        self.guarded(|core| core.append(requests))
    }

    fn read_stream(
        &self,
        stream: &StreamId,
        from: Version,
        max: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.guarded(|core| core.read_stream(stream, from, max))
    }

    fn read_all(&self, from: Position, max: usize) -> Result<Vec<StoredEvent>, StoreError> {
        check_page(max, &self.core.config)?;
        self.guarded(|core| core.read_page(from.0, max))
    }

    fn stream_version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        self.guarded(|core| {
            let visible = core.notifier.visible();
            match core.lookup_sid(stream.as_str())? {
                Some(sid) => core.stream_head(sid, visible).map(Version),
                None => Ok(Version::NONE),
            }
        })
    }

    fn head(&self) -> Result<Position, StoreError> {
        Ok(Position(self.core.notifier.visible()))
    }

    fn event_by_id(&self, event_id: Uuid) -> Result<Option<StoredEvent>, StoreError> {
        self.guarded(|core| core.event_by_id(event_id))
    }

    fn subscribe(&self, after: Position) -> Result<Subscription, StoreError> {
        let source: Weak<dyn LogSource> = Arc::downgrade(&self.core) as Weak<dyn LogSource>;
        Ok(Subscription::new(
            source,
            self.core.notifier.clone(),
            after,
            self.core.config.limits.subscription_buffer,
        ))
    }

    fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.guarded(|core| core.verify())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.guarded(|core| {
            core.check_writable()?;
            core.await_durable(core.written.load(Ordering::Acquire))
        })
    }
}
