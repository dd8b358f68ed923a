//! The ordered key-value space that read models, snapshots and checkpoints live in: a sled tree
//! (under `<dir>/views`) or an in-memory map (in-memory engines and as-of replays). Query code
//! is written once against [`Kv`].

use crate::error::{EngineError, Result};
use parking_lot::RwLock;
use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

/// One write of a batch: `Some(value)` inserts, `None` removes.
pub(crate) type KvOp = (Vec<u8>, Option<Vec<u8>>);

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

/// The smallest key greater than every key starting with `prefix` (for prefix scans).
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xFF; 8]
}

impl Kv for sled::Tree {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(sled::Tree::get(self, key)?.map(|v| v.to_vec()))
    }

    fn range(&self, start: &[u8], end: &[u8], reverse: bool) -> KvIter<'_> {
        if start >= end {
            return Box::new(std::iter::empty());
        }
        let iter = sled::Tree::range(self, start.to_vec()..end.to_vec());
        let map = |r: sled::Result<(sled::IVec, sled::IVec)>| {
            r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(EngineError::from)
        };
        if reverse {
            Box::new(iter.rev().map(map))
        } else {
            Box::new(iter.map(map))
        }
    }

    fn apply(&self, ops: Vec<KvOp>) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for (k, v) in ops {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        self.apply_batch(batch)?;
        Ok(())
    }

    fn clear(&self) -> Result<()> {
        sled::Tree::clear(self)?;
        Ok(())
    }
}

/// An in-memory ordered map, shareable.
#[derive(Debug, Default, Clone)]
pub(crate) struct MemoryKv {
    map: Arc<RwLock<BTreeMap<Vec<u8>, Vec<u8>>>>,
}

impl MemoryKv {
    pub(crate) fn new() -> Self {
        Self::default()
    }
}

/// Entries fetched per lock acquisition by a memory scan.
const MEMORY_PAGE: usize = 256;

struct MemoryIter {
    map: Arc<RwLock<BTreeMap<Vec<u8>, Vec<u8>>>>,
    /// Lower bound of what is left (ascending scans move it up).
    low: Bound<Vec<u8>>,
    /// Upper bound of what is left (descending scans move it down).
    high: Bound<Vec<u8>>,
    reverse: bool,
    buffer: VecDeque<(Vec<u8>, Vec<u8>)>,
    done: bool,
}

impl Iterator for MemoryIter {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffer.is_empty() && !self.done {
            let map = self.map.read();
            let range = map.range((self.low.clone(), self.high.clone()));
            let page: Vec<(Vec<u8>, Vec<u8>)> = if self.reverse {
                range
                    .rev()
                    .take(MEMORY_PAGE)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            } else {
                range
                    .take(MEMORY_PAGE)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            };
            if page.len() < MEMORY_PAGE {
                self.done = true;
            }
            if let Some((last, _)) = page.last() {
                if self.reverse {
                    self.high = Bound::Excluded(last.clone());
                } else {
                    self.low = Bound::Excluded(last.clone());
                }
            }
            self.buffer.extend(page);
        }
        self.buffer.pop_front().map(Ok)
    }
}

impl Kv for MemoryKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.map.read().get(key).cloned())
    }

    fn range(&self, start: &[u8], end: &[u8], reverse: bool) -> KvIter<'_> {
        if start >= end {
            return Box::new(std::iter::empty());
        }
        Box::new(MemoryIter {
            map: self.map.clone(),
            low: Bound::Included(start.to_vec()),
            high: Bound::Excluded(end.to_vec()),
            reverse,
            buffer: VecDeque::new(),
            done: false,
        })
    }

    fn apply(&self, ops: Vec<KvOp>) -> Result<()> {
        let mut map = self.map.write();
        for (k, v) in ops {
            match v {
                Some(v) => {
                    map.insert(k, v);
                }
                None => {
                    map.remove(&k);
                }
            }
        }
        Ok(())
    }

    fn clear(&self) -> Result<()> {
        self.map.write().clear();
        Ok(())
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

    pub(crate) fn remove(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    pub(crate) fn commit(self) -> Result<()> {
        self.base.apply(self.writes.into_iter().collect())
    }
}
