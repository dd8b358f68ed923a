//! Catch-up subscriptions and the commit notifier they block on.
//!
//! The notifier is the store's own `Mutex` + `Condvar` pair (not sled's `watch_prefix`, whose
//! bounded per-subscriber queue can stall writers). Appenders publish the *visible* head after
//! each commit; a subscription reads the log in bounded pages from its cursor and, once caught
//! up, sleeps until the visible head moves past its cursor. Because the visible head only moves
//! forward and pages are read densely from the cursor, a subscriber can never see position
//! `n + 1` before `n`.

use std::collections::VecDeque;
use std::sync::Weak;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::StoreError;
use crate::types::{Position, StoredEvent};

#[derive(Debug, Default)]
struct NotifyState {
    visible: u64,
    closed: bool,
}

/// Publishes the visible head and wakes sleepers.
#[derive(Debug, Default)]
pub struct Notifier {
    state: Mutex<NotifyState>,
    cond: Condvar,
    /// Mirror of `state.visible` for lock-free reads on the hot read path.
    visible: AtomicU64,
}

/// How [`Notifier::wait_beyond`] ended.
pub enum Wait {
    /// The visible head passed the position.
    Advanced,
    /// The deadline passed first.
    TimedOut,
    /// The store closed.
    Closed,
}

impl Notifier {
    /// A notifier whose visible head starts at `visible`.
    pub fn new(visible: u64) -> Self {
        let n = Self::default();
        n.state.lock().visible = visible;
        n.visible.store(visible, Ordering::Release);
        n
    }

    /// The highest position readers may see.
    pub fn visible(&self) -> u64 {
        self.visible.load(Ordering::Acquire)
    }

    /// Makes everything up to `position` visible (never moves backwards).
    pub fn publish(&self, position: u64) {
        let mut s = self.state.lock();
        if position > s.visible {
            s.visible = position;
            self.visible.store(position, Ordering::Release);
            self.cond.notify_all();
        }
    }

    /// Wakes every sleeper for good.
    pub fn close(&self) {
        let mut s = self.state.lock();
        s.closed = true;
        self.cond.notify_all();
    }

    /// Sleeps until the visible head passes `after`, the deadline passes or the store closes.
    pub fn wait_beyond(&self, after: u64, deadline: Option<Instant>) -> Wait {
        let mut s = self.state.lock();
        loop {
            if s.visible > after {
                return Wait::Advanced;
            }
            if s.closed {
                return Wait::Closed;
            }
            match deadline {
                None => self.cond.wait(&mut s),
                Some(d) => {
                    if self.cond.wait_until(&mut s, d).timed_out() && s.visible <= after {
                        return if s.closed {
                            Wait::Closed
                        } else {
                            Wait::TimedOut
                        };
                    }
                }
            }
        }
    }
}

/// What a subscription reads from: a backend's visible log.
pub trait LogSource: Send + Sync {
    /// Up to `max` visible events from position `from` (inclusive), dense and in order.
    fn read_page(&self, from: u64, max: usize) -> Result<Vec<StoredEvent>, StoreError>;
}

/// A catch-up subscription to the whole log.
///
/// It first delivers the history after its starting position, in bounded pages, then blocks
/// for new commits. Events arrive strictly in position order without gaps. Delivery is
/// at-least-once from the consumer's point of view: a consumer that stores its checkpoint
/// (the last position it processed) and resubscribes from it after a crash sees every event
/// after the checkpoint exactly once more.
pub struct Subscription {
    source: Weak<dyn LogSource>,
    notifier: std::sync::Arc<Notifier>,
    last: u64,
    buffer: VecDeque<StoredEvent>,
    page: usize,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("last", &self.last)
            .field("buffered", &self.buffer.len())
            .finish()
    }
}

/// Blocking iteration: `next()` waits until the next event is committed; `None` once the
/// store is closed and everything committed before the close was delivered. After an error
/// (e.g. a corrupt record) the same position is retried on the next call.
impl Iterator for Subscription {
    type Item = Result<StoredEvent, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_buffered() {
                Ok(Some(e)) => return Some(Ok(e)),
                Ok(None) => {}
                Err(StoreError::Closed) => return None,
                Err(e) => return Some(Err(e)),
            }
            match self.notifier.wait_beyond(self.last, None) {
                Wait::Advanced | Wait::TimedOut => {}
                Wait::Closed => {
                    return match self.drain_or_closed() {
                        Ok(e) => Some(Ok(e)),
                        Err(StoreError::Closed) => None,
                        Err(e) => Some(Err(e)),
                    };
                }
            }
        }
    }
}

impl Subscription {
    /// A subscription reading `source` in pages of `page` events from position `after + 1`,
    /// sleeping on `notifier` once caught up.
    pub fn new(
        source: Weak<dyn LogSource>,
        notifier: std::sync::Arc<Notifier>,
        after: Position,
        page: usize,
    ) -> Self {
        Self {
            source,
            notifier,
            last: after.0,
            buffer: VecDeque::new(),
            page,
        }
    }

    /// The position of the last event delivered (the starting position before the first one):
    /// the checkpoint to store.
    pub fn position(&self) -> Position {
        Position(self.last)
    }

    /// The next event, waiting at most `timeout`; `Ok(None)` when nothing arrived in time.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<StoredEvent>, StoreError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.next_buffered()? {
                return Ok(Some(e));
            }
            match self.notifier.wait_beyond(self.last, Some(deadline)) {
                Wait::Advanced => {}
                Wait::TimedOut => return Ok(None),
                Wait::Closed => return self.drain_or_closed().map(Some),
            }
        }
    }

    /// The next event if one is already committed; never blocks on new commits.
    pub fn try_next(&mut self) -> Result<Option<StoredEvent>, StoreError> {
        self.next_buffered()
    }

    fn drain_or_closed(&mut self) -> Result<StoredEvent, StoreError> {
        match self.next_buffered() {
            Ok(Some(e)) => Ok(e),
            Ok(None) | Err(StoreError::Closed) => Err(StoreError::Closed),
            Err(e) => Err(e),
        }
    }

    /// Pops a buffered event, refilling the buffer with one page when empty.
    fn next_buffered(&mut self) -> Result<Option<StoredEvent>, StoreError> {
        // After the last position there can be none (a subscription from `u64::MAX`).
        let Some(next) = self.last.checked_add(1) else {
            return Ok(None);
        };
        if self.buffer.is_empty() {
            let source = self.source.upgrade().ok_or(StoreError::Closed)?;
            let page = source.read_page(next, self.page)?;
            self.buffer.extend(page);
        }
        let Some(event) = self.buffer.pop_front() else {
            return Ok(None);
        };
        // Pair assertion: the source promises density; a gap would mean lost events.
        if event.position.0 != next {
            let expected = Position(next);
            self.buffer.clear();
            return Err(StoreError::Corrupt {
                position: Some(expected),
                reason: format!(
                    "subscription expected position {expected}, read {}",
                    event.position
                ),
            });
        }
        self.last = event.position.0;
        Ok(Some(event))
    }
}
