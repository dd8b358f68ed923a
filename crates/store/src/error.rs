//! The store's error type.

use uuid::Uuid;

use crate::types::{ExpectedVersion, Position, StreamId, Version};

/// Which configured limit an input exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Events in one append (all streams of a multi-stream append together).
    EventsPerAppend,
    /// Payload bytes of one event.
    PayloadBytes,
    /// Payload bytes of one append (all events together).
    AppendBytes,
    /// Bytes of an event type name.
    EventTypeBytes,
    /// Bytes of an actor string.
    ActorBytes,
    /// Streams in one multi-stream append.
    StreamsPerAppend,
    /// Events requested by one read.
    PageSize,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Limit::EventsPerAppend => "events per append",
            Limit::PayloadBytes => "payload bytes per event",
            Limit::AppendBytes => "payload bytes per append",
            Limit::EventTypeBytes => "event type bytes",
            Limit::ActorBytes => "actor bytes",
            Limit::StreamsPerAppend => "streams per append",
            Limit::PageSize => "events per read",
        })
    }
}

/// Everything that can go wrong in the store. Every variant is a value: the store never panics
/// on bad input or bad bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Optimistic-concurrency conflict: the stream is not at the expected version.
    #[error("wrong expected version for stream {stream}: expected {expected}, actual {actual}")]
    WrongExpectedVersion {
        /// The stream appended to.
        stream: StreamId,
        /// What the caller expected.
        expected: ExpectedVersion,
        /// The stream's version when the append was checked.
        actual: Version,
    },
    /// An event id is already stored, but the append is not an exact retry of the earlier one
    /// (EventStore's "some" case, or an id reused in another stream or at another version).
    #[error(
        "event id {event_id} already stored at position {existing_position} (stream {stream}): not an exact retry"
    )]
    DuplicateEventId {
        /// The stream appended to.
        stream: StreamId,
        /// The reused id.
        event_id: Uuid,
        /// Where the id is stored.
        existing_position: Position,
    },
    /// An append with no events (nothing is written).
    #[error("an append needs at least one event")]
    EmptyAppend,
    /// A configured limit was exceeded (nothing is written / nothing is read).
    #[error("limit exceeded: {limit} allows at most {max}, got {actual}")]
    LimitExceeded {
        /// The limit.
        limit: Limit,
        /// Its configured value.
        max: u64,
        /// The offending value.
        actual: u64,
    },
    /// A stream name that breaks the [`StreamId`] rules.
    #[error("invalid stream id {stream:?}: {reason}")]
    InvalidStreamId {
        /// The rejected name (cut to 64 characters).
        stream: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// Malformed input other than a limit (duplicate ids in one append, a stream listed twice,
    /// an empty event type, schema version 0, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A schema version newer than the latest one the registered upcasters know.
    #[error("unknown schema version {schema_version} of event type {event_type:?} (latest known: {latest}){}", at_position(*position))]
    UnknownSchemaVersion {
        /// The event type.
        event_type: String,
        /// The stored or submitted version.
        schema_version: u16,
        /// The latest version the registry produces.
        latest: u16,
        /// Where the event is stored (None for a rejected append).
        position: Option<Position>,
    },
    /// No upcaster is registered from this version (a gap in the chain).
    #[error("no upcaster registered for event type {event_type:?} from schema version {from_version}{}", at_position(*position))]
    MissingUpcaster {
        /// The event type.
        event_type: String,
        /// The version with no way forward.
        from_version: u16,
        /// Where the event is stored (None for a rejected append).
        position: Option<Position>,
    },
    /// An upcaster failed or the stored payload of an old version is not JSON.
    #[error(
        "upcasting event type {event_type:?} from schema version {from_version} at position {position} failed: {reason}"
    )]
    UpcastFailed {
        /// The event type.
        event_type: String,
        /// The version being lifted.
        from_version: u16,
        /// Where the event is stored.
        position: Position,
        /// What went wrong.
        reason: String,
    },
    /// Stored bytes that fail their checksum or do not decode; names the position when known.
    #[error("corrupt record{}: {reason}", at_position(*position))]
    Corrupt {
        /// The position of the record (None for damage outside the event records).
        position: Option<Position>,
        /// What is wrong.
        reason: String,
    },
    /// The store cannot accept writes any more: a durability step failed after data reached the
    /// backend, so its durable state is unknown. Reopen the store to recover.
    #[error("store is poisoned and refuses writes: {0}")]
    Poisoned(String),
    /// The store was closed.
    #[error("store is closed")]
    Closed,
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The storage engine reported an error.
    #[error("storage engine error: {0}")]
    Backend(String),
    /// A unit of work was rolled back (an inner unit failed) and nothing of it was committed.
    #[error("the unit of work was rolled back; nothing of it was stored")]
    RolledBack,
    /// The backend cannot do what was asked.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// The database is held by another process (opened for writing elsewhere).
    #[error(
        "{path} is in use by another process (open for writing there); stop that process, or open the database read-only"
    )]
    Locked {
        /// The file or directory that is locked.
        path: std::path::PathBuf,
    },
    /// A database written by a newer opsledger (or not an opsledger database at all).
    #[error("{path}: {reason}")]
    Incompatible {
        /// The file or directory.
        path: std::path::PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The connection to a database server was lost while a commit was in flight: the
    /// commit may or may not have been stored. Retrying with the same event ids (an engine
    /// command: the same idempotency key) settles it, as a stored append is then acknowledged
    /// again without writing.
    #[error(
        "the outcome of the commit is unknown (the connection was lost during it): {0}; retry with the same event ids or idempotency key to settle it"
    )]
    OutcomeUnknown(String),
    /// The database server cannot be reached or refused the session; nothing was written.
    #[error("the database is unavailable; nothing was written: {0}")]
    Unavailable(String),
    /// The database aborted the transaction to keep concurrent writers consistent (a
    /// serialization failure or a deadlock); nothing was written and the same write may be
    /// retried.
    #[error("the database aborted a concurrent write; nothing was written, retry it: {0}")]
    Transient(String),
    /// An operating-system I/O error (fsync, files).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

fn at_position(position: Option<Position>) -> String {
    match position {
        Some(p) => format!(" at position {p}"),
        None => String::new(),
    }
}
