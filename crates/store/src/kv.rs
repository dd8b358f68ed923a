//! The ordered key-value spaces that derived data lives in: read models, snapshots and
//! checkpoints. A backend provides them beside its log ([`crate::Storage`]); query code is
//! written once against [`Kv`].
//!
//! Everything in a [`Kv`] is derived from the log and can be rebuilt from it at any time.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::error::StoreError;

/// One write of a batch: `Some(value)` inserts, `None` removes.
pub type KvOp = (Vec<u8>, Option<Vec<u8>>);

/// A key and its value.
pub type KvEntry = (Vec<u8>, Vec<u8>);

/// A forward or backward scan over a key range.
pub type KvIter<'a> = Box<dyn Iterator<Item = Result<KvEntry, StoreError>> + 'a>;

/// An ordered key-value space (keys and values are bytes, keys compare bytewise).
pub trait Kv: Send + Sync {
    /// The value of `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Entries with `start <= key < end`, ascending (or descending when `reverse`).
    fn range(&self, start: &[u8], end: &[u8], reverse: bool) -> KvIter<'_>;
    /// Applies the writes atomically (all or none are visible after a crash).
    fn apply(&self, ops: Vec<KvOp>) -> Result<(), StoreError>;
    /// Removes everything.
    fn clear(&self) -> Result<(), StoreError>;
    /// Every entry (for tests and comparisons).
    fn dump(&self) -> Result<Vec<KvEntry>, StoreError> {
        self.range(&[], &[0xFF; 4], false).collect()
    }
    /// Inserts one entry.
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> Result<(), StoreError> {
        self.apply(vec![(key, Some(value))])
    }
}

/// The smallest key greater than every key starting with `prefix` (for prefix scans).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xFF; 8]
}

/// An in-memory ordered map, shareable (clones share the map).
#[derive(Debug, Default, Clone)]
pub struct MemoryKv {
    map: Arc<RwLock<BTreeMap<Vec<u8>, Vec<u8>>>>,
}

impl MemoryKv {
    /// An empty map.
    pub fn new() -> Self {
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
    type Item = Result<(Vec<u8>, Vec<u8>), StoreError>;

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
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
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

    fn apply(&self, ops: Vec<KvOp>) -> Result<(), StoreError> {
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

    fn clear(&self) -> Result<(), StoreError> {
        self.map.write().clear();
        Ok(())
    }
}
