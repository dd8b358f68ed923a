//! The source of the `GET /events` stream: a blocking, position-ordered read of stored events,
//! which the engine implements over its store.

use serde_json::Value;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// One stored event as the stream delivers it: its global position (1, 2, ... with no gaps)
/// and its JSON form.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    /// The event's global position in the log.
    pub position: u64,
    /// The event as JSON (sent compactly as the SSE `data`).
    pub data: Value,
}

/// Why an [`EventSource`] could not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EventSourceError(pub String);

impl EventSourceError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        EventSourceError(message.into())
    }
}

/// A blocking, position-ordered source of stored events. The HTTP transport calls it on
/// tokio's blocking pool (`spawn_blocking`), one subscriber at a time per call.
pub trait EventSource: Send + Sync + 'static {
    /// The position of the last stored event (0 when the log is empty).
    fn head(&self) -> Result<u64, EventSourceError>;

    /// Whether `identity` (the bearer token's; `None` without tokens) may read the stream.
    /// Every event of every record goes by, so a source may refuse identities that read only
    /// their own records. Default: everyone.
    fn allows(&self, identity: Option<&crate::Identity>) -> bool {
        let _ = identity;
        true
    }

    /// Up to `max` events with positions greater than `after`, in increasing position order.
    /// When there are none yet, waits up to `timeout` for some to arrive, then returns what it
    /// has (possibly nothing). Must never return an event at or below `after`, nor skip one.
    fn read_after(
        &self,
        after: u64,
        max: usize,
        timeout: Duration,
    ) -> Result<Vec<StreamEvent>, EventSourceError>;
}

/// An in-memory [`EventSource`]: events appended with [`MemoryEventSource::push`] get positions
/// 1, 2, ...; readers waiting in [`EventSource::read_after`] wake up on each push. For tests and
/// examples.
#[derive(Debug, Default)]
pub struct MemoryEventSource {
    events: Mutex<Vec<Value>>,
    appended: Condvar,
}

impl MemoryEventSource {
    /// An empty source.
    pub fn new() -> Self {
        MemoryEventSource::default()
    }

    /// Appends an event; returns its position.
    pub fn push(&self, data: Value) -> u64 {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        events.push(data);
        let position = events.len() as u64;
        self.appended.notify_all();
        position
    }
}

impl EventSource for MemoryEventSource {
    fn head(&self) -> Result<u64, EventSourceError> {
        let events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        Ok(events.len() as u64)
    }

    fn read_after(
        &self,
        after: u64,
        max: usize,
        timeout: Duration,
    ) -> Result<Vec<StreamEvent>, EventSourceError> {
        let deadline = Instant::now() + timeout;
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        while events.len() as u64 <= after {
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            events = self
                .appended
                .wait_timeout(events, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let start = usize::try_from(after).unwrap_or(usize::MAX);
        Ok(events
            .iter()
            .enumerate()
            .skip(start)
            .take(max)
            .map(|(i, data)| StreamEvent {
                position: i as u64 + 1,
                data: data.clone(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn memory_source_reads_in_order_and_waits() {
        let src = Arc::new(MemoryEventSource::new());
        assert_eq!(src.head(), Ok(0));
        assert_eq!(src.read_after(0, 10, Duration::from_millis(10)), Ok(vec![]));
        src.push(json!("a"));
        src.push(json!("b"));
        src.push(json!("c"));
        let got = src.read_after(1, 1, Duration::ZERO).unwrap();
        assert_eq!(
            got,
            vec![StreamEvent {
                position: 2,
                data: json!("b")
            }]
        );
        let waiter = {
            let src = src.clone();
            std::thread::spawn(move || src.read_after(3, 10, Duration::from_secs(10)))
        };
        std::thread::sleep(Duration::from_millis(20));
        src.push(json!("d"));
        let got = waiter.join().unwrap().unwrap();
        assert_eq!(
            got,
            vec![StreamEvent {
                position: 4,
                data: json!("d")
            }]
        );
    }
}
