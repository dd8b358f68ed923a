//! The ordered key-value spaces that read models, snapshots and checkpoints live in. The
//! storage backend provides them (`opsledger_store::Kv`: SQLite tables, or memory for
//! in-memory engines and as-of replays); query code is written once against [`Kv`], this
//! crate's view of them with the engine's error type.

use crate::error::{EngineError, Result};
pub(crate) use opsledger_store::{MemoryKv, prefix_end};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One write of a batch: `Some(value)` inserts, `None` removes.
pub(crate) type KvOp = opsledger_store::KvOp;

/// A forward or backward scan over a key range.
pub(crate) type KvIter<'a> = Box<dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>)>> + 'a>;

/// An ordered key-value space.
pub(crate) trait Kv: Send + Sync {
    /// The value of `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Entries with `start <= key < end`, ascending (or descending when `reverse`).
    fn range(&self, start: &[u8], end: &[u8], reverse: bool) -> KvIter<'_>;
    /// Applies the writes atomically (all or none are visible after a crash).
    fn apply(&self, ops: Vec<KvOp>) -> Result<()>;
    /// Removes everything.
    fn clear(&self) -> Result<()>;
    /// Every entry (for tests and comparisons).
    fn dump(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.range(&[], &[0xFF; 4], false).collect()
    }
    /// Inserts one entry.
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> Result<()> {
        self.apply(vec![(key, Some(value))])
    }
}

impl<T: opsledger_store::Kv + ?Sized> Kv for T {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(opsledger_store::Kv::get(self, key)?)
    }

    fn range(&self, start: &[u8], end: &[u8], reverse: bool) -> KvIter<'_> {
        Box::new(
            opsledger_store::Kv::range(self, start, end, reverse)
                .map(|item| item.map_err(EngineError::from)),
        )
    }

    fn apply(&self, ops: Vec<KvOp>) -> Result<()> {
        Ok(opsledger_store::Kv::apply(self, ops)?)
    }

    fn clear(&self) -> Result<()> {
        Ok(opsledger_store::Kv::clear(self)?)
    }
}

/// A backend's space as this crate's [`Kv`].
pub(crate) struct Space(pub(crate) Arc<dyn opsledger_store::Kv>);

impl Kv for Space {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Kv::get(&*self.0, key)
    }

    fn range(&self, start: &[u8], end: &[u8], reverse: bool) -> KvIter<'_> {
        Kv::range(&*self.0, start, end, reverse)
    }

    fn apply(&self, ops: Vec<KvOp>) -> Result<()> {
        Kv::apply(&*self.0, ops)
    }

    fn clear(&self) -> Result<()> {
        Kv::clear(&*self.0)
    }
}

/// Pending writes over a [`Kv`]: reads see the pending writes first. Committed as one batch.
pub(crate) struct Overlay<'a> {
    base: &'a dyn Kv,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> Overlay<'a> {
    pub(crate) fn new(base: &'a dyn Kv) -> Self {
        Self {
            base,
            writes: BTreeMap::new(),
        }
    }

    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.writes.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.get(key),
        }
    }

    pub(crate) fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    pub(crate) fn commit(self) -> Result<()> {
        self.base.apply(self.writes.into_iter().collect())
    }
}
