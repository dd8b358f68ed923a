//! The event log over JSON-RPC (`events.read`, `events.subscribe`) and over `GET /events`
//! ([`EngineEvents`]).

use super::errors::{self, engine_error};
use super::params::reading_actor;
use super::results::WireEvent;
use crate::transport::{EventSource, EventSourceError, StreamEvent};
use crate::{CallContext, Identity, Method, MethodError};
use opsledger::{Engine, StoredEvent};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most events one `events.read` or `events.subscribe` call returns.
pub const MAX_EVENTS_PER_CALL: usize = 1_000;
/// Events per call when `max` is absent.
pub const DEFAULT_EVENTS_PER_CALL: usize = 100;
/// The longest `events.subscribe` waits (25 s: under the HTTP transport's default request
/// timeout of 30 s).
pub const MAX_SUBSCRIBE_TIMEOUT_MS: u64 = 25_000;
/// How long `events.subscribe` waits when `timeout_ms` is absent.
pub const DEFAULT_SUBSCRIBE_TIMEOUT_MS: u64 = 10_000;
/// The most `events.subscribe` calls waiting at once per API instance; a call beyond it (or
/// one inside a batch) answers at once, like `events.read`, so long polls cannot take every
/// blocking thread of a server.
pub const MAX_WAITING_SUBSCRIBES: usize = 32;

/// Counts the long polls waiting; a slot is released on drop.
struct WaitSlot(Arc<std::sync::atomic::AtomicUsize>);

impl WaitSlot {
    fn take(waiting: &Arc<std::sync::atomic::AtomicUsize>) -> Option<Self> {
        use std::sync::atomic::Ordering;
        let mut current = waiting.load(Ordering::Acquire);
        loop {
            if current >= MAX_WAITING_SUBSCRIBES {
                return None;
            }
            match waiting.compare_exchange(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(WaitSlot(waiting.clone())),
                Err(now) => current = now,
            }
        }
    }
}

impl Drop for WaitSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Reads up to `max` events with positions greater than `after`; when there are none yet,
/// waits up to `timeout` for the first to arrive.
fn read_after(
    engine: &Engine,
    after: u64,
    max: usize,
    timeout: Duration,
) -> opsledger::Result<Vec<StoredEvent>> {
    let events = engine.events(after.saturating_add(1), max)?;
    if !events.is_empty() || timeout.is_zero() || max == 0 {
        return Ok(events);
    }
    let deadline = Instant::now() + timeout;
    let mut subscription = engine.subscribe(after)?;
    let mut out = Vec::new();
    if let Some(first) =
        subscription.next_timeout(deadline.saturating_duration_since(Instant::now()))?
    {
        out.push(first);
        while out.len() < max {
            match subscription.try_next()? {
                Some(e) => out.push(e),
                None => break,
            }
        }
    }
    Ok(out)
}

/// `events.read` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadParams {
    /// Return events with positions greater than this (0, the default: from the beginning).
    #[serde(default)]
    pub after: u64,
    /// At most this many events (default 100, at most 1000).
    #[serde(default)]
    pub max: Option<usize>,
}

/// `events.subscribe` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscribeParams {
    /// Return events with positions greater than this (0: from the beginning).
    #[serde(default)]
    pub after: u64,
    /// At most this many events (default 100, at most 1000).
    #[serde(default)]
    pub max: Option<usize>,
    /// How long to wait for a first event when there is none yet (default 10000, at most
    /// 25000 milliseconds).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// A page of the log.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EventsPage {
    /// The events, in position order.
    pub events: Vec<WireEvent>,
    /// The cursor to pass as `after` next: the last position returned (or `after` when none).
    pub next: u64,
    /// The log's head when the call answered.
    pub head: u64,
}

fn bounded_max(max: Option<usize>) -> Result<usize, MethodError> {
    match max {
        None => Ok(DEFAULT_EVENTS_PER_CALL),
        Some(m) if m > MAX_EVENTS_PER_CALL => Err(errors::limit_exceeded(
            "max (events per call)",
            MAX_EVENTS_PER_CALL as u64,
        )),
        Some(m) => Ok(m),
    }
}

fn page(engine: &Engine, after: u64, events: Vec<StoredEvent>) -> Result<EventsPage, MethodError> {
    let next = events.last().map_or(after, |e| e.position.0);
    Ok(EventsPage {
        events: events.iter().map(WireEvent::from).collect(),
        next,
        head: engine.head().map_err(engine_error)?,
    })
}

/// The log shows every record: refused to a reader who reads only their own records.
fn require_reads_log(engine: &Engine, ctx: &CallContext) -> Result<(), MethodError> {
    match reading_actor(ctx, None)? {
        Some(reader) => engine
            .require_reads_all(&reader, "the event log")
            .map_err(engine_error),
        None => Ok(()),
    }
}

/// The `events.*` methods.
pub(super) fn methods(engine: &Arc<Engine>) -> Vec<Method> {
    let limit_row = errors::error_code("limit_exceeded").map(|r| (r.code, r.meaning));
    let read = {
        let engine = engine.clone();
        Method::new("events.read", move |ctx: &CallContext, p: ReadParams| {
            require_reads_log(&engine, ctx)?;
            let max = bounded_max(p.max)?;
            let events = engine
                .events(p.after.saturating_add(1), max)
                .map_err(engine_error)?;
            page(&engine, p.after, events)
        })
        .by_name_only()
        .summary("Reads the event log after a position")
        .description(
            "Up to `max` stored events (default 100, at most 1000) with positions greater than `after`, in order, and `next`, the cursor for the following call. Never waits.",
        )
    };
    let subscribe = {
        let engine = engine.clone();
        let waiting = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        Method::new(
            "events.subscribe",
            move |ctx: &CallContext, p: SubscribeParams| {
                require_reads_log(&engine, ctx)?;
                let max = bounded_max(p.max)?;
                let timeout_ms = p.timeout_ms.unwrap_or(DEFAULT_SUBSCRIBE_TIMEOUT_MS);
                if timeout_ms > MAX_SUBSCRIBE_TIMEOUT_MS {
                    return Err(errors::limit_exceeded(
                        "timeout_ms",
                        MAX_SUBSCRIBE_TIMEOUT_MS,
                    ));
                }
                // Inside a batch, or with every wait slot taken: answer now.
                let slot = (!ctx.in_batch()).then(|| WaitSlot::take(&waiting)).flatten();
                let timeout = match slot {
                    Some(_) => Duration::from_millis(timeout_ms),
                    None => Duration::ZERO,
                };
                let events =
                    read_after(&engine, p.after, max, timeout).map_err(engine_error)?;
                drop(slot);
                page(&engine, p.after, events)
            },
        )
        .by_name_only()
        .summary("Long-polls the event log after a position")
        .description(
            "Like `events.read`, but when no event lies after `after` yet, waits up to `timeout_ms` (default 10000, at most 25000) for one; an empty `events` means none arrived in time. Resume with `after = next`. Inside a batch, or while 32 other long polls are waiting, it answers at once without waiting.",
        )
    };
    match limit_row {
        Some((code, meaning)) => vec![
            read.error(code, format!("limit_exceeded: {meaning}")),
            subscribe.error(code, format!("limit_exceeded: {meaning}")),
        ],
        None => vec![read, subscribe],
    }
}

/// The engine's log as the source of `GET /events` (the HTTP transport's server-sent event
/// stream): each stored event becomes one SSE message (`id:` its position, `data:` the same
/// JSON `events.read` returns).
#[derive(Debug, Clone)]
pub struct EngineEvents {
    engine: Arc<Engine>,
}

impl EngineEvents {
    /// A source over `engine`'s log.
    pub fn new(engine: Arc<Engine>) -> Self {
        EngineEvents { engine }
    }
}

impl EventSource for EngineEvents {
    fn allows(&self, identity: Option<&Identity>) -> bool {
        // Unknown roles are refused here as on every method.
        match identity {
            None => true,
            Some(identity) => {
                let ctx = CallContext::authenticated(identity.clone());
                match reading_actor(&ctx, None) {
                    Ok(Some(reader)) => self
                        .engine
                        .require_reads_all(&reader, "the event log")
                        .is_ok(),
                    Ok(None) => true,
                    Err(_) => false,
                }
            }
        }
    }

    fn head(&self) -> Result<u64, EventSourceError> {
        self.engine
            .head()
            .map_err(|e| EventSourceError::new(e.to_string()))
    }

    fn read_after(
        &self,
        after: u64,
        max: usize,
        timeout: Duration,
    ) -> Result<Vec<StreamEvent>, EventSourceError> {
        let events = read_after(&self.engine, after, max, timeout)
            .map_err(|e| EventSourceError::new(e.to_string()))?;
        Ok(events
            .iter()
            .map(|e| StreamEvent {
                position: e.position.0,
                data: serde_json::to_value(WireEvent::from(e)).unwrap_or_default(),
            })
            .collect())
    }
}
