//! Writing events into a new log exactly as they were first stored: the part `import` (events
//! from an export file) and `migrate` (events from another log) share.
//!
//! The store stamps `recorded_at` from its clock, never earlier than the previous append's. A
//! [`ManualClock`] set to each event's recorded time, in order, makes it stamp exactly the
//! original times. Consecutive events recorded at one instant (as one command's are) go in one
//! atomic append, each stream with the exact version it expects, and every append is checked to
//! land at the original positions and versions: ids, order, streams, versions and both
//! timestamps come out as they went in.

use crate::data;
use crate::error::{CliError, CliResult, data_error};
use chrono::{DateTime, Utc};
use opsledger::store::{
    AppendRequest, Durability, EventStore, ExpectedVersion, ManualClock, NewEvent, StoreConfig,
    StoredEvent, StreamId, Version,
};
use std::fmt;
use std::sync::Arc;

/// Where an event came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A line of an export file.
    Line(u64),
    /// A position in the source log.
    Position(u64),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Line(n) => write!(f, "line {n}"),
            Origin::Position(n) => write!(f, "position {n}"),
        }
    }
}

/// One event to store again where it was.
#[derive(Debug)]
pub struct Original {
    /// Where it came from.
    pub origin: Origin,
    /// Its position, which the new log must give it too.
    pub position: u64,
    /// Its stream.
    pub stream: StreamId,
    /// Its version in the stream.
    pub version: u64,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The rest, as the store takes it.
    pub event: NewEvent,
}

impl Original {
    /// A stored event of another log.
    pub fn from_stored(e: StoredEvent) -> Self {
        Original {
            origin: Origin::Position(e.position.0),
            position: e.position.0,
            stream: e.stream,
            version: e.version.0,
            recorded_at: e.recorded_at,
            event: NewEvent {
                event_id: e.event_id,
                event_type: e.event_type,
                schema_version: e.schema_version,
                occurred_at: e.occurred_at,
                actor: e.actor,
                correlation_id: e.correlation_id,
                causation_id: e.causation_id,
                payload: e.payload,
            },
        }
    }
}

/// The clock that replays recorded times, and the store configuration using it (buffered
/// writes: the new log is flushed once at the end).
pub fn clock_and_config() -> (Arc<ManualClock>, StoreConfig) {
    let clock = Arc::new(ManualClock::new(DateTime::<Utc>::UNIX_EPOCH));
    let config = data::store_config(Durability::Buffered).with_clock(clock.clone());
    (clock, config)
}

/// Most events, streams and payload bytes one append carries (under the store's limits).
const BATCH_EVENTS: usize = 256;
const BATCH_STREAMS: usize = 16;
const BATCH_BYTES: usize = 2 * 1024 * 1024;

/// Appends [`Original`]s in order to a new log whose store runs on `clock`.
pub struct Replayer<'a> {
    store: &'a dyn EventStore,
    clock: &'a ManualClock,
    batch: Batch,
}

impl<'a> Replayer<'a> {
    /// Writes into `store`, whose configuration carries `clock` (see [`clock_and_config`]).
    pub fn new(store: &'a dyn EventStore, clock: &'a ManualClock) -> Self {
        Replayer {
            store,
            clock,
            batch: Batch::default(),
        }
    }

    /// Takes the next event; returns how many events were appended meanwhile (the batch
    /// before it, when it could not join).
    pub fn push(&mut self, original: Original) -> CliResult<u64> {
        let payload = original.event.payload.len();
        let appended = if self
            .batch
            .admits(&original.stream, original.recorded_at, payload)
        {
            0
        } else {
            self.batch.append(self.store, self.clock)?
        };
        self.batch.push(original);
        Ok(appended)
    }

    /// Appends what is left; returns how many events that was.
    pub fn finish(&mut self) -> CliResult<u64> {
        self.batch.append(self.store, self.clock)
    }
}

/// One stream's run of events in a batch.
struct Run {
    stream: StreamId,
    origin: Origin,
    first_position: u64,
    first_version: u64,
    events: Vec<NewEvent>,
}

/// Consecutive events recorded at the same instant, appended together (as the engine appended
/// them: one command's events share their recorded time). One request per run of a stream;
/// a stream met again after another starts a new batch, since an append lists a stream once.
#[derive(Default)]
struct Batch {
    recorded_at: Option<DateTime<Utc>>,
    runs: Vec<Run>,
    events: usize,
    bytes: usize,
}

impl Batch {
    /// Whether an event of `stream` recorded at `at` may join.
    fn admits(&self, stream: &StreamId, at: DateTime<Utc>, payload: usize) -> bool {
        let Some(recorded_at) = self.recorded_at else {
            return true;
        };
        let continues_last = self.runs.last().is_some_and(|r| &r.stream == stream);
        recorded_at == at
            && self.events < BATCH_EVENTS
            && self.bytes + payload <= BATCH_BYTES
            && (continues_last
                || (self.runs.len() < BATCH_STREAMS
                    && !self.runs.iter().any(|r| &r.stream == stream)))
    }

    fn push(&mut self, original: Original) {
        self.recorded_at = Some(original.recorded_at);
        self.events += 1;
        self.bytes += original.event.payload.len();
        match self.runs.last_mut() {
            Some(last) if last.stream == original.stream => last.events.push(original.event),
            _ => self.runs.push(Run {
                stream: original.stream,
                origin: original.origin,
                first_position: original.position,
                first_version: original.version,
                events: vec![original.event],
            }),
        }
    }

    /// Appends the batch with the clock at its recorded time; checks every run landed at its
    /// original position and version. Returns how many events were appended.
    fn append(&mut self, store: &dyn EventStore, clock: &ManualClock) -> CliResult<u64> {
        let Some(recorded_at) = self.recorded_at.take() else {
            return Ok(0);
        };
        let runs = std::mem::take(&mut self.runs);
        let appended = std::mem::take(&mut self.events) as u64;
        self.bytes = 0;
        let expected: Vec<(Origin, u64, u64)> = runs
            .iter()
            .map(|r| (r.origin, r.first_position, r.first_version))
            .collect();
        let Some(&(first, _, _)) = expected.first() else {
            return Ok(0);
        };
        clock.set(recorded_at);
        let outcomes = store
            .append_multi(
                runs.into_iter()
                    .map(|r| {
                        AppendRequest::new(
                            r.stream,
                            ExpectedVersion::Exact(Version(r.first_version.saturating_sub(1))),
                            r.events,
                        )
                    })
                    .collect(),
            )
            .map_err(|err| data_error(&format!("{first}: cannot append"), &err))?;
        for ((origin, position, version), outcome) in expected.into_iter().zip(outcomes) {
            if outcome.first_position.0 != position || outcome.first_version.0 != version {
                return Err(CliError::data(format!(
                    "{origin}: stored at position {} version {}, not {position} / {version}",
                    outcome.first_position, outcome.first_version
                )));
            }
        }
        Ok(appended)
    }
}
