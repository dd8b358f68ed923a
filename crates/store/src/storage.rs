//! A backend as the engine sees it: the log, the derived key-value spaces beside it, and units
//! of work that commit both together.
//!
//! A backend crate implements [`Storage`] (and [`EventStore`] for its log), runs the exported
//! contract suite (`contract` module, feature `contract`) unchanged, and is handed to the engine's builder.

use std::path::Path;

use crate::error::StoreError;
use crate::kv::{Kv, MemoryKv};
use crate::memory::MemoryStore;
use crate::sql::SqlTables;
use crate::store::EventStore;
use std::sync::Arc;

/// The derived key-value spaces a backend keeps beside its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Space {
    /// Read models and their checkpoint: wiped and rebuilt from the log on demand.
    Views,
    /// Engine bookkeeping that survives a rebuild of the read models (schema marker, the
    /// process managers' checkpoint).
    Meta,
    /// Snapshots of record states.
    Snapshots,
}

impl Space {
    /// Every space, in a fixed order.
    pub const ALL: [Space; 3] = [Space::Views, Space::Meta, Space::Snapshots];

    /// A short name (table and tree names are derived from it).
    pub fn name(self) -> &'static str {
        match self {
            Space::Views => "views",
            Space::Meta => "meta",
            Space::Snapshots => "snapshots",
        }
    }
}

/// One unit of work of a backend that can commit several appends and space writes together.
///
/// Obtained from [`Storage::begin_unit`]. Every append and every write to a space made *by the
/// calling thread* while the unit is open joins it; other threads do not see any of it until
/// [`Unit::commit`] returns. Dropping a unit without committing rolls all of it back. Units
/// nest: an inner unit joins the outer one, and rolling an inner unit back rolls the whole
/// unit back (the outer commit then fails with [`StoreError::RolledBack`]).
///
/// Backends without transactions over log and spaces (memory, sled) hand out a unit that
/// does nothing: each append and each write commits on its own, as it happens.
pub struct Unit<'a> {
    work: Option<Box<dyn UnitOfWork + 'a>>,
}

/// What a backend's unit does at its end.
pub trait UnitOfWork {
    /// Makes everything written in the unit durable per the durability mode and visible. If
    /// the unit is rolled back instead (an inner unit failed, or the commit itself failed),
    /// calls `rolled_back` before anything else can write, so that the caller can forget what
    /// it learnt in the unit while no other unit can have started.
    fn commit(self: Box<Self>, rolled_back: &mut dyn FnMut()) -> Result<(), StoreError>;
    /// Discards everything written in the unit.
    fn rollback(self: Box<Self>);
}

impl<'a> Unit<'a> {
    /// A unit whose writes commit as they happen (backends without units).
    pub fn immediate() -> Self {
        Self { work: None }
    }

    /// A unit backed by a backend's transaction.
    pub fn new(work: Box<dyn UnitOfWork + 'a>) -> Self {
        Self { work: Some(work) }
    }

    /// Whether writes in this unit wait for [`Unit::commit`] (false: they are committed as
    /// they happen, and nothing can be rolled back).
    pub fn is_transactional(&self) -> bool {
        self.work.is_some()
    }

    /// Commits the unit.
    pub fn commit(self) -> Result<(), StoreError> {
        self.commit_or(|| {})
    }

    /// Commits the unit; if it is rolled back instead, calls `rolled_back` while the backend
    /// still excludes every other unit (see [`UnitOfWork::commit`]).
    pub fn commit_or(mut self, rolled_back: impl FnOnce()) -> Result<(), StoreError> {
        let mut rolled_back = Some(rolled_back);
        let mut once = || {
            if let Some(f) = rolled_back.take() {
                f();
            }
        };
        match self.work.take() {
            Some(work) => work.commit(&mut once),
            None => Ok(()),
        }
    }
}

impl Drop for Unit<'_> {
    fn drop(&mut self) {
        if let Some(work) = self.work.take() {
            work.rollback();
        }
    }
}

impl std::fmt::Debug for Unit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unit")
            .field("transactional", &self.is_transactional())
            .finish()
    }
}

/// Work that no other process sharing the log may do at the same time, held until dropped
/// (see [`Storage::exclusive`]).
pub struct Exclusive<'a> {
    release: Option<Box<dyn FnOnce() + 'a>>,
}

impl<'a> Exclusive<'a> {
    /// Nothing to hold: no other process shares the log.
    pub fn uncontended() -> Self {
        Self { release: None }
    }

    /// Held until dropped, then `release` runs.
    pub fn held(release: impl FnOnce() + 'a) -> Self {
        Self {
            release: Some(Box::new(release)),
        }
    }
}

impl Drop for Exclusive<'_> {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

impl std::fmt::Debug for Exclusive<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exclusive")
            .field("held", &self.release.is_some())
            .finish()
    }
}

/// What a backend counts of its own writes since it opened, for operators (metrics): cheap
/// atomic counters, zero where a backend does not count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoStats {
    /// Acknowledged write transactions that stored events (one per append or unit of work).
    pub commits: u64,
    /// Syncs to the disk (`fsync`/`fdatasync`) the store ran or had its engine run to make
    /// acknowledged writes durable, flushes included. With group commit, `commits / syncs` is
    /// the mean batch: how many commits shared one sync.
    pub syncs: u64,
}

/// A storage backend: an event log plus the derived spaces the engine keeps beside it.
pub trait Storage: Send + Sync {
    /// A short name of the backend for people (`sqlite`, `sled`, `memory`).
    fn kind(&self) -> &'static str;

    /// The event log.
    fn log(&self) -> &dyn EventStore;

    /// A derived key-value space.
    fn space(&self, space: Space) -> Arc<dyn Kv>;

    /// The SQL database beside the log, if the backend has one (see [`crate::sql`]). A
    /// backend without one answers `None`, and the engine keeps its SQL read models in a
    /// database of its own.
    fn tables(&self) -> Option<Arc<dyn SqlTables>> {
        None
    }

    /// Starts a unit of work on the calling thread (see [`Unit`]).
    fn begin_unit(&self) -> Result<Unit<'_>, StoreError>;

    /// Whether this backend's units are transactions over the log and the spaces (else each
    /// write commits as it happens).
    fn transactional_units(&self) -> bool {
        false
    }

    /// Makes every acknowledged append and every space write durable now.
    fn flush(&self) -> Result<(), StoreError>;

    /// Flushes and releases the backend. `events_projected` is how many events the engine
    /// projected into the spaces since it opened (a backend may use it to decide how much
    /// housekeeping a close is worth).
    fn close(self: Box<Self>, events_projected: u64) -> Result<(), StoreError>;

    /// Commits and syncs since the backend opened (zero where it does not count them).
    fn io_stats(&self) -> IoStats {
        IoStats::default()
    }

    /// Whether other processes may write this log at the same time (replicas on one shared
    /// database): the engine then reads what it keeps in memory about the log (the read
    /// models' checkpoint, the policy versions) back from the backend where it matters,
    /// instead of trusting that it wrote everything itself.
    fn shared(&self) -> bool {
        false
    }

    /// Waits until no other process sharing the log holds `name`, then holds it until the
    /// answer is dropped: work that must run one at a time across processes (decisions
    /// against the change calendar). A backend used by one process at a time answers at once
    /// with nothing to hold (the caller serialises its own threads).
    fn exclusive(&self, name: &str) -> Result<Exclusive<'_>, StoreError> {
        let _ = name;
        Ok(Exclusive::uncontended())
    }

    /// Whether this process holds the lease `name`, acquiring it when it is free: work that
    /// several processes sharing one log must not all do (the SLA scheduler's ticks) runs only
    /// where this answers `true`. A backend used by one process at a time (SQLite holds a
    /// lock file, sled its directory) answers `true`; a shared backend (PostgreSQL) answers
    /// `true` on one process at a time, and `false` once that process cannot show it still
    /// holds the lease (its connection to the database was lost), so that it stops the work
    /// while another process takes the lease over.
    fn lease(&self, name: &str) -> Result<bool, StoreError> {
        let _ = name;
        Ok(true)
    }

    /// Runs `reads` (reads of the log, the spaces and the SQL tables on the calling thread, and
    /// no writes) against one state of the backend where it can hold one cheaply: on SQLite,
    /// one read transaction on one connection instead of one per read, which both costs less
    /// (each read transaction takes and releases the write-ahead log's locks) and gives reads
    /// that belong together one snapshot. The default runs `reads` as it is, each read on its
    /// own, as outside. A write inside is refused where the backend holds a snapshot.
    fn read_snapshot(
        &self,
        reads: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        reads()
    }

    /// Writes a consistent copy of everything (log and spaces) to `to`, a directory that must
    /// not exist yet, while the backend stays in use. Opening that directory gives the same
    /// log. Backends that cannot do it answer [`StoreError::Unsupported`].
    fn backup(&self, to: &Path) -> Result<(), StoreError> {
        let _ = to;
        Err(StoreError::Unsupported(format!(
            "online backup of a {} store",
            self.kind()
        )))
    }
}

/// The in-memory backend as a [`Storage`]: nothing survives the process.
#[derive(Debug)]
pub struct MemoryStorage {
    log: MemoryStore,
    spaces: [Arc<MemoryKv>; 3],
}

impl MemoryStorage {
    /// An empty in-memory backend.
    pub fn new(log: MemoryStore) -> Self {
        Self {
            log,
            spaces: [
                Arc::new(MemoryKv::new()),
                Arc::new(MemoryKv::new()),
                Arc::new(MemoryKv::new()),
            ],
        }
    }
}

impl Storage for MemoryStorage {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn log(&self) -> &dyn EventStore {
        &self.log
    }

    fn space(&self, space: Space) -> Arc<dyn Kv> {
        let index = Space::ALL
            .iter()
            .position(|s| *s == space)
            .unwrap_or_default();
        self.spaces[index].clone()
    }

    fn begin_unit(&self) -> Result<Unit<'_>, StoreError> {
        Ok(Unit::immediate())
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn close(self: Box<Self>, _events_projected: u64) -> Result<(), StoreError> {
        Ok(())
    }
}
