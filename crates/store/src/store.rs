//! The backend-agnostic `EventStore` trait.

use uuid::Uuid;

use crate::error::StoreError;
use crate::subscription::Subscription;
use crate::types::{
    AppendOutcome, AppendRequest, ExpectedVersion, NewEvent, Position, StoredEvent, StreamId,
    Version,
};
use crate::verify::VerifyReport;

/// An append-only event log with per-stream optimistic concurrency.
///
/// Guarantees (every backend; the contract suite in `tests/` checks them):
/// - an append of 1..=N events, to one stream or to several through
///   [`append_multi`](EventStore::append_multi), is all or nothing;
/// - versions are dense per stream from 1, positions are dense globally from 1, and position
///   order is commit order;
/// - an append whose event ids are all already stored, as the same events of the same stream in
///   the same order, is an idempotent retry: nothing is written and the original outcome is
///   returned with `was_duplicate = true`; reusing a stored id any other way is
///   [`StoreError::DuplicateEventId`];
/// - readers (and subscriptions) see an event only once its append is acknowledged, so they
///   never see an event that the durability mode could still lose, nor position `n + 1` before
///   `n`.
pub trait EventStore: Send + Sync {
    /// Appends `events` to `stream` if it is at `expected`.
    fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        let mut outcomes =
            self.append_multi(vec![AppendRequest::new(stream.clone(), expected, events)])?;
        outcomes
            .pop()
            .ok_or_else(|| StoreError::Backend("append returned no outcome".into()))
    }

    /// Appends to several streams in one all-or-nothing commit (e.g. a record and the counter
    /// stream that allocates its human number). Each request's expectation is checked; one
    /// failure rejects the whole commit. Outcomes are returned in request order. Events get
    /// consecutive positions in request order.
    fn append_multi(&self, requests: Vec<AppendRequest>) -> Result<Vec<AppendOutcome>, StoreError>;

    /// Up to `max` events of `stream` with version >= `from` (`Version::NONE` or `FIRST`: from
    /// the start). An unknown stream reads as empty.
    fn read_stream(
        &self,
        stream: &StreamId,
        from: Version,
        max: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// Up to `max` events with position >= `from`, in position order (`Position::BEGINNING` or
    /// `FIRST`: from the start). Page on with `last.position.next()`.
    fn read_all(&self, from: Position, max: usize) -> Result<Vec<StoredEvent>, StoreError>;

    /// The stream's current version (`Version::NONE` if it has no events).
    fn stream_version(&self, stream: &StreamId) -> Result<Version, StoreError>;

    /// The position of the last visible event (`Position::BEGINNING` for an empty log).
    fn head(&self) -> Result<Position, StoreError>;

    /// The stored event with this id, if any.
    fn event_by_id(&self, event_id: Uuid) -> Result<Option<StoredEvent>, StoreError>;

    /// A catch-up subscription delivering every event with position > `after` (pass the last
    /// position you processed; `Position::BEGINNING` for everything).
    fn subscribe(&self, after: Position) -> Result<Subscription, StoreError>;

    /// Scans the whole log and its indexes; lists every fault with its position.
    fn verify(&self) -> Result<VerifyReport, StoreError>;

    /// Makes every acknowledged append durable now (flush + fsync), whatever the mode.
    fn flush(&self) -> Result<(), StoreError>;
}
