//! opsledger-store: the append-only event log that every opsledger view is a fold of, and the
//! seam its backends plug into.
//!
//! The store knows nothing of ITIL: an event is opaque payload bytes (JSON written by the
//! engine) plus metadata. This crate holds what every backend shares, as public building
//! blocks, the way sqlx and postgres-es split theirs:
//!
//! - [`EventStore`], the log's trait, and [`Storage`], a backend as the engine sees it (the log,
//!   the derived key-value spaces beside it, and units of work that commit both together);
//! - the types ([`StoredEvent`], [`AppendRequest`], ...), the record [`codec`] with its CRC,
//!   the append [`plan`]ner (limits, idempotency and expected-version rules), the
//!   [`subscription`] machinery, the [`upcast`] registry and [`verify`] reports;
//! - [`MemoryStore`] / [`MemoryStorage`], the in-memory backend;
//! - the contract suite (`contract` module, feature `contract`) that every backend runs
//!   unchanged.
//!
//! Backends are crates: `opsledger-store-sqlite` (the default embedded store: log and derived
//! spaces in one SQLite file, one transaction per unit of work), `opsledger-store-sled`, and
//! `opsledger-store-postgres` (the shared store: several processes on one PostgreSQL schema).
//!
//! # Guarantees
//!
//! - An append of 1..=N events to one stream, or to several streams through
//!   [`EventStore::append_multi`], is atomic: all of it is stored, or none.
//! - Per-stream versions are dense from 1; global positions are dense from 1 and follow commit
//!   order. Both are allocated under a single writer lock at the moment of the write, so there
//!   are no gaps to detect and no watermark to maintain.
//! - [`ExpectedVersion`] `Any` / `NoStream` / `StreamExists` / `Exact(v)`; a conflict is
//!   [`StoreError::WrongExpectedVersion`] naming expected and actual.
//! - Idempotency by event id, exact in every mode (a permanent id index, not a cache): an
//!   append whose ids are all stored, as the same stream's consecutive events placed where
//!   `expected` says, is acknowledged again without writing (`was_duplicate`); any other reuse
//!   of a stored id is [`StoreError::DuplicateEventId`] (EventStore's "some" case).
//! - Readers and subscriptions see an event only once its append is acknowledged in the
//!   configured durability mode, never position `n + 1` before `n`.
//! - Every record carries a CRC-32 verified on each read; damaged bytes are
//!   [`StoreError::Corrupt`] naming the position, never a panic or a wrong event.
//! - Old schema versions are lifted on read by registered [`Upcasters`]; an unknown version
//!   is a typed error.
//! - Every input and buffer is bounded by [`StoreLimits`]; exceeding one is a typed error and
//!   nothing is written.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
pub mod codec;
pub mod config;
#[cfg(feature = "contract")]
pub mod contract;
pub mod error;
pub mod hash;
pub mod kv;
mod memory;
mod pages;
pub mod plan;
pub mod sql;
pub mod storage;
mod store;
pub mod subscription;
pub mod types;
pub mod upcast;
pub mod verify;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Durability, GroupCommitConfig, StoreConfig, StoreLimits};
pub use error::{Limit, StoreError};
pub use kv::{Kv, KvEntry, KvIter, KvOp, MemoryKv, prefix_end};
pub use memory::{MemoryStore, check_page};
pub use pages::{LogPages, log_events};
pub use sql::{RowFlow, SqlDialect, SqlStatement, SqlTables, SqlValue};
pub use storage::{Exclusive, IoStats, MemoryStorage, Space, Storage, Unit, UnitOfWork};
pub use store::EventStore;
pub use subscription::Subscription;
pub use types::{
    AppendOutcome, AppendRequest, ExpectedVersion, MAX_STREAM_ID_BYTES, NewEvent, Position,
    StoredEvent, StreamId, Version, validate_stream_name,
};
pub use upcast::{UpcastFn, Upcasters};
pub use verify::{FaultKind, VerifyFault, VerifyReport};

#[doc(hidden)]
pub mod __private {
    //! Test-only access to the record codec (golden files). Not part of the API.

    use chrono::{DateTime, Utc};

    use crate::types::NewEvent;

    /// Encodes one record as the backends store it.
    pub fn encode_record(
        position: u64,
        stream_number: u64,
        version: u64,
        stream_name: Option<&str>,
        recorded_at: DateTime<Utc>,
        event: &NewEvent,
    ) -> Vec<u8> {
        let mut buf = Vec::new();
        crate::codec::encode_record(
            &mut buf,
            &crate::codec::Assigned {
                position,
                sid: stream_number,
                version,
                stream_name,
                recorded_at,
            },
            event,
        );
        buf
    }

    /// Decodes a record into its event (stream name taken from `stream`), or the reason it is
    /// rejected.
    pub fn decode_record(
        bytes: &[u8],
        stream: crate::types::StreamId,
    ) -> Result<(u64, crate::types::StoredEvent), String> {
        let r = crate::codec::decode_record(bytes)?;
        Ok((r.sid, r.to_stored(stream)))
    }

    /// Applies `upcasters` to an event as every read does.
    pub fn upcast(
        upcasters: &crate::upcast::Upcasters,
        event: &mut crate::types::StoredEvent,
    ) -> Result<(), crate::error::StoreError> {
        upcasters.upcast(event)
    }
}
