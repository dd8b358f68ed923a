//! Paging through the whole log: the one loop every reader of a log range uses.

use crate::error::StoreError;
use crate::store::EventStore;
use crate::types::{Position, StoredEvent};

/// The events at positions `from..=to` of a log, read in pages of at most `page` events
/// (bounded memory whatever the range). Yields each page; stops at `to` or at the log's end.
/// A read error is yielded once, and ends the iteration.
pub struct LogPages<'a> {
    store: &'a dyn EventStore,
    next: u64,
    to: u64,
    page: usize,
    done: bool,
}

impl<'a> LogPages<'a> {
    /// Pages of `store` from position `from` (1 for the start) through `to`.
    pub fn new(store: &'a dyn EventStore, from: u64, to: u64, page: usize) -> Self {
        Self {
            store,
            next: from.max(1),
            to,
            page: page.max(1),
            done: false,
        }
    }
}

impl Iterator for LogPages<'_> {
    type Item = Result<Vec<StoredEvent>, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.next > self.to {
            return None;
        }
        let want = usize::try_from(self.to - self.next + 1)
            .unwrap_or(usize::MAX)
            .min(self.page);
        match self.store.read_all(Position(self.next), want) {
            Ok(page) => {
                let Some(last) = page.last().map(|e| e.position.0) else {
                    self.done = true;
                    return None;
                };
                self.next = last + 1;
                Some(Ok(page))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Every event at positions `from..=to`, one at a time, read in pages of `page`.
pub fn log_events(
    store: &dyn EventStore,
    from: u64,
    to: u64,
    page: usize,
) -> impl Iterator<Item = Result<StoredEvent, StoreError>> + '_ {
    LogPages::new(store, from, to, page).flat_map(|page| -> Box<dyn Iterator<Item = _>> {
        match page {
            Ok(events) => Box::new(events.into_iter().map(Ok)),
            Err(e) => Box::new(std::iter::once(Err(e))),
        }
    })
}
