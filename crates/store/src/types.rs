//! Value types of the log: stream ids, versions, positions, expected versions and events.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use uuid::Uuid;

use crate::error::StoreError;

/// Longest accepted stream id, in bytes.
///
/// Stream ids end up in keys and in every API response; a bound keeps keys short and makes an
/// oversized id a clear error instead of a slow path.
pub const MAX_STREAM_ID_BYTES: usize = 128;

/// The name of a stream, e.g. `incident-0190f2a4-...`.
///
/// Validated on construction: non-empty, at most [`MAX_STREAM_ID_BYTES`] bytes, printable ASCII
/// without spaces (`'!'..='~'`). The restriction keeps ids safe to embed in keys, URLs, file
/// names and log lines without escaping. Cloning is cheap (a shared string).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamId(Arc<str>);

impl StreamId {
    /// Validates and wraps a stream name.
    pub fn new(name: impl AsRef<str>) -> Result<Self, StoreError> {
        let name = name.as_ref();
        validate_stream_name(name)?;
        Ok(Self(Arc::from(name)))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a name that was validated when it was first written (decode path).
    #[doc(hidden)]
    pub fn from_trusted(name: Arc<str>) -> Self {
        Self(name)
    }

    /// The shared string, for interning without copying.
    pub fn shared(&self) -> &Arc<str> {
        &self.0
    }
}

/// Checks the stream-name rules of [`StreamId::new`].
/// Checks a stream name against the [`StreamId`] rules.
pub fn validate_stream_name(name: &str) -> Result<(), StoreError> {
    let reason = if name.is_empty() {
        "must not be empty"
    } else if name.len() > MAX_STREAM_ID_BYTES {
        "longer than 128 bytes"
    } else if !name.bytes().all(|b| b.is_ascii_graphic()) {
        "only printable ASCII without spaces is allowed"
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidStreamId {
        stream: truncate_for_error(name),
        reason,
    })
}

/// Keeps error messages bounded even when the rejected input is huge.
fn truncate_for_error(name: &str) -> String {
    name.chars().take(64).collect()
}

impl TryFrom<String> for StreamId {
    type Error = StoreError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl TryFrom<&str> for StreamId {
    type Error = StoreError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<StreamId> for String {
    fn from(value: StreamId) -> Self {
        value.0.to_string()
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamId({:?})", &*self.0)
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for StreamId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The version of an event within its stream: 1 for the first event, dense, no gaps.
///
/// `Version::NONE` (0) is the version of a stream that has no events.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Version(pub u64);

impl Version {
    /// The version of a stream without events.
    pub const NONE: Version = Version(0);
    /// The version of a stream's first event.
    pub const FIRST: Version = Version(1);

    /// The raw number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The following version (saturating, so it can never wrap to `NONE`).
    pub const fn next(self) -> Version {
        Version(self.0.saturating_add(1))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The position of an event in the global log: 1 for the first event ever appended, dense, in
/// commit order.
///
/// `Position::BEGINNING` (0) is "before the first event": the checkpoint of a consumer that has
/// seen nothing.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Position(pub u64);

impl Position {
    /// Before the first event; the head of an empty log.
    pub const BEGINNING: Position = Position(0);
    /// The position of the first event.
    pub const FIRST: Position = Position(1);

    /// The raw number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The following position (saturating).
    pub const fn next(self) -> Position {
        Position(self.0.saturating_add(1))
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What the caller believes about the stream's current version (optimistic concurrency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "version", rename_all = "snake_case")]
pub enum ExpectedVersion {
    /// No check: append after whatever is there.
    Any,
    /// The stream must not exist yet (no events).
    NoStream,
    /// The stream must have at least one event.
    StreamExists,
    /// The stream's last event must have exactly this version (`Version::NONE` = no events).
    Exact(Version),
}

impl ExpectedVersion {
    /// Whether a stream at `current` satisfies this expectation.
    pub fn admits(self, current: Version) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => current == Version::NONE,
            ExpectedVersion::StreamExists => current != Version::NONE,
            ExpectedVersion::Exact(v) => current == v,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::StreamExists => f.write_str("stream exists"),
            ExpectedVersion::Exact(v) => write!(f, "version {v}"),
        }
    }
}

/// An event to append. The payload is opaque to the store (the engine writes JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Chosen by the caller; the key of idempotent retries (UUID v7 recommended).
    pub event_id: Uuid,
    /// The event's type name, e.g. `incident.opened` (1..=256 bytes).
    pub event_type: String,
    /// The payload's schema version for this type (>= 1); older versions are upcast on read.
    pub schema_version: u16,
    /// When the fact happened in the world (may be earlier than `recorded_at`).
    pub occurred_at: DateTime<Utc>,
    /// Who caused the event (0..=256 bytes).
    pub actor: String,
    /// Groups the events of one request or workflow.
    pub correlation_id: Option<Uuid>,
    /// The event (or command) that caused this one.
    pub causation_id: Option<Uuid>,
    /// The payload bytes (JSON for the engine).
    pub payload: Vec<u8>,
}

/// An event as stored: the [`NewEvent`] plus what the store assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Global position, dense from 1, in commit order.
    pub position: Position,
    /// The stream the event belongs to.
    pub stream: StreamId,
    /// Version within the stream, dense from 1.
    pub version: Version,
    /// The caller's event id (unique in the whole log).
    pub event_id: Uuid,
    /// The event's type name.
    pub event_type: String,
    /// Schema version of `payload` as returned (after upcasting: the latest registered).
    pub schema_version: u16,
    /// When the fact happened in the world.
    pub occurred_at: DateTime<Utc>,
    /// When the store committed it (store clock; non-decreasing in position order).
    pub recorded_at: DateTime<Utc>,
    /// Who caused the event.
    pub actor: String,
    /// Correlation id, if any.
    pub correlation_id: Option<Uuid>,
    /// Causation id, if any.
    pub causation_id: Option<Uuid>,
    /// The payload (upcast to the latest schema version when upcasters are registered).
    pub payload: Vec<u8>,
    /// CRC-32 (IEEE) of the stored record, as written; verified on every read.
    pub checksum: u32,
}

/// One stream's part of an atomic append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendRequest {
    /// Target stream.
    pub stream: StreamId,
    /// Optimistic-concurrency expectation for `stream`.
    pub expected: ExpectedVersion,
    /// Events to append, in order (at least one).
    pub events: Vec<NewEvent>,
}

impl AppendRequest {
    /// Bundles a stream, an expectation and events.
    pub fn new(stream: StreamId, expected: ExpectedVersion, events: Vec<NewEvent>) -> Self {
        Self {
            stream,
            expected,
            events,
        }
    }
}

/// What an append did (or, for an idempotent retry, what the original append did).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Position of the first event of this append.
    pub first_position: Position,
    /// Position of the last event of this append.
    pub last_position: Position,
    /// Stream version of the first event.
    pub first_version: Version,
    /// Stream version of the last event: the stream's version right after the append.
    pub last_version: Version,
    /// True when every event was already stored by an earlier append with the same ids: nothing
    /// was written and the positions are those of the earlier append.
    pub was_duplicate: bool,
}
