//! The in-memory tail of the derived indexes.
//!
//! An append writes only its event records to sled (one key per event). The derived index
//! entries (stream, id, name) of recent events live here until the background indexer has
//! written them to sled and moved the checkpoint; lookups consult the tail first, then sled.
//! Entries leave the tail only after sled has them, so "tail, then sled" never misses one.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use uuid::Uuid;

use opsledger_store::hash::NumberMap;

/// The index facts of one event.
#[derive(Debug, Clone)]
pub(crate) struct TailEntry {
    pub position: u64,
    pub sid: u64,
    pub version: u64,
    pub event_id: Uuid,
    /// The stream id, on the first event of a stream.
    pub name: Option<Arc<str>>,
}

#[derive(Debug, Default)]
pub(crate) struct Tail {
    entries: VecDeque<TailEntry>,
    /// event id -> (position, stream number, version)
    ids: HashMap<Uuid, (u64, u64, u64)>,
    /// stream number -> (version, position), versions ascending and dense
    streams: NumberMap<u64, VecDeque<(u64, u64)>>,
    names: HashMap<Arc<str>, u64>,
    sid_names: NumberMap<u64, Arc<str>>,
}

impl Tail {
    pub(crate) fn push(&mut self, e: TailEntry) {
        debug_assert!(
            self.entries
                .back()
                .is_none_or(|b| b.position + 1 == e.position)
        );
        self.ids.insert(e.event_id, (e.position, e.sid, e.version));
        self.streams
            .entry(e.sid)
            .or_default()
            .push_back((e.version, e.position));
        if let Some(name) = &e.name {
            self.names.insert(name.clone(), e.sid);
            self.sid_names.insert(e.sid, name.clone());
        }
        self.entries.push_back(e);
    }

    /// Up to `max` entries with position in `from..=upto`, oldest first.
    pub(crate) fn entries_upto(&self, upto: u64, max: usize) -> Vec<TailEntry> {
        self.entries
            .iter()
            .take_while(|e| e.position <= upto)
            .take(max)
            .cloned()
            .collect()
    }

    /// Drops every entry up to `position` (the indexer has persisted them).
    pub(crate) fn remove_through(&mut self, position: u64) {
        while self.entries.front().is_some_and(|e| e.position <= position) {
            let Some(e) = self.entries.pop_front() else {
                break;
            };
            self.ids.remove(&e.event_id);
            if let Some(versions) = self.streams.get_mut(&e.sid) {
                versions.pop_front();
                if versions.is_empty() {
                    self.streams.remove(&e.sid);
                }
            }
            if let Some(name) = &e.name {
                self.names.remove(name);
                self.sid_names.remove(&e.sid);
            }
        }
    }

    pub(crate) fn id(&self, id: &Uuid) -> Option<(u64, u64, u64)> {
        self.ids.get(id).copied()
    }

    pub(crate) fn sid(&self, name: &str) -> Option<u64> {
        self.names.get(name).copied()
    }

    pub(crate) fn name(&self, sid: u64) -> Option<Arc<str>> {
        self.sid_names.get(&sid).cloned()
    }

    /// The (version, position) entries of a stream, ascending.
    pub(crate) fn stream(&self, sid: u64) -> Option<&VecDeque<(u64, u64)>> {
        self.streams.get(&sid)
    }

    pub(crate) fn max_sid(&self) -> u64 {
        self.sid_names.keys().copied().max().unwrap_or(0)
    }
}
