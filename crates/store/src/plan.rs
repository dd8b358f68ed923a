//! Backend-independent parts of an append: input validation and the idempotency rules.

use std::collections::HashSet;

use crate::config::StoreLimits;
use crate::error::{Limit, StoreError};
use crate::types::{AppendOutcome, AppendRequest, ExpectedVersion, Position, StreamId, Version};
use crate::upcast::Upcasters;

/// Checks every limit and shape rule before anything is looked up or written.
pub fn validate_requests(
    requests: &[AppendRequest],
    limits: &StoreLimits,
    upcasters: &Upcasters,
) -> Result<(), StoreError> {
    if requests.is_empty() || requests.iter().any(|r| r.events.is_empty()) {
        return Err(StoreError::EmptyAppend);
    }
    let over = |limit, max: usize, actual: usize| StoreError::LimitExceeded {
        limit,
        max: max as u64,
        actual: actual as u64,
    };
    if requests.len() > limits.max_streams_per_append {
        return Err(over(
            Limit::StreamsPerAppend,
            limits.max_streams_per_append,
            requests.len(),
        ));
    }
    let total: usize = requests.iter().map(|r| r.events.len()).sum();
    if total > limits.max_events_per_append {
        return Err(over(
            Limit::EventsPerAppend,
            limits.max_events_per_append,
            total,
        ));
    }
    let mut streams = HashSet::with_capacity(requests.len());
    let mut ids = HashSet::with_capacity(total);
    let mut bytes = 0usize;
    for request in requests {
        if !streams.insert(request.stream.as_str()) {
            return Err(StoreError::InvalidInput(format!(
                "stream {} appears twice in one append",
                request.stream
            )));
        }
        for event in &request.events {
            if event.payload.len() > limits.max_payload_bytes {
                return Err(over(
                    Limit::PayloadBytes,
                    limits.max_payload_bytes,
                    event.payload.len(),
                ));
            }
            bytes += event.payload.len();
            if event.event_type.is_empty() {
                return Err(StoreError::InvalidInput(
                    "event type must not be empty".into(),
                ));
            }
            if event.event_type.len() > StoreLimits::MAX_EVENT_TYPE_BYTES {
                return Err(over(
                    Limit::EventTypeBytes,
                    StoreLimits::MAX_EVENT_TYPE_BYTES,
                    event.event_type.len(),
                ));
            }
            if event.actor.len() > StoreLimits::MAX_ACTOR_BYTES {
                return Err(over(
                    Limit::ActorBytes,
                    StoreLimits::MAX_ACTOR_BYTES,
                    event.actor.len(),
                ));
            }
            if event.schema_version == 0 {
                return Err(StoreError::InvalidInput(
                    "schema version must be >= 1".into(),
                ));
            }
            upcasters.check_new(event)?;
            if !ids.insert(event.event_id) {
                return Err(StoreError::InvalidInput(format!(
                    "event id {} appears twice in one append",
                    event.event_id
                )));
            }
        }
    }
    if bytes > limits.max_append_bytes {
        return Err(over(Limit::AppendBytes, limits.max_append_bytes, bytes));
    }
    Ok(())
}

/// Where an event id of a new event is already stored.
#[derive(Debug, Clone, Copy)]
pub struct Existing {
    /// Its position.
    pub position: u64,
    /// Whether it is stored in the stream being appended to.
    pub same_stream: bool,
    /// Its version in the stream it is stored in.
    pub version: u64,
}

/// What to do with one stream's part of an append.
#[derive(Debug, Clone, Copy)]
pub enum PartPlan {
    /// Check passed, ids are new: write.
    Write,
    /// Exact retry of stored events: write nothing, answer with the original outcome.
    Duplicate(AppendOutcome),
}

/// Applies the idempotency and expected-version rules to one stream's part.
///
/// 1. Every id already stored, in this stream, at consecutive versions in the given order, at
///    the place `expected` describes: an exact retry (EventStore's "all" case).
/// 2. Any other stored id: [`StoreError::DuplicateEventId`] ("some", or an id reused
///    elsewhere; this store keeps a permanent id index, so the check is exact in every mode,
///    `Any` included).
/// 3. No stored id: the ordinary expected-version check.
pub fn classify(
    stream: &StreamId,
    expected: ExpectedVersion,
    current: Version,
    event_ids: &[uuid::Uuid],
    existing: &[Option<Existing>],
) -> Result<PartPlan, StoreError> {
    debug_assert_eq!(event_ids.len(), existing.len());
    let Some(first_found) = existing.iter().position(Option::is_some) else {
        return if expected.admits(current) {
            Ok(PartPlan::Write)
        } else {
            Err(StoreError::WrongExpectedVersion {
                stream: stream.clone(),
                expected,
                actual: current,
            })
        };
    };
    if let Some(outcome) = exact_retry(expected, existing) {
        return Ok(PartPlan::Duplicate(outcome));
    }
    let found = existing[first_found].expect("position() found Some");
    Err(StoreError::DuplicateEventId {
        stream: stream.clone(),
        event_id: event_ids[first_found],
        existing_position: Position(found.position),
    })
}

fn exact_retry(expected: ExpectedVersion, existing: &[Option<Existing>]) -> Option<AppendOutcome> {
    let first = (*existing.first()?)?;
    let last = (*existing.last()?)?;
    let consecutive = existing
        .iter()
        .enumerate()
        .all(|(i, e)| e.is_some_and(|e| e.same_stream && e.version == first.version + i as u64));
    let placed_as_expected = match expected {
        ExpectedVersion::Any | ExpectedVersion::StreamExists => true,
        ExpectedVersion::NoStream => first.version == 1,
        ExpectedVersion::Exact(v) => first.version == v.0 + 1,
    };
    (consecutive && placed_as_expected).then_some(AppendOutcome {
        first_position: Position(first.position),
        last_position: Position(last.position),
        first_version: Version(first.version),
        last_version: Version(last.version),
        was_duplicate: true,
    })
}

/// Combines the per-part plans: all duplicates, all writes, or an error for a mix (a retry
/// cannot be partly new).
pub fn combine(
    requests: &[AppendRequest],
    plans: &[PartPlan],
) -> Result<Option<Vec<AppendOutcome>>, StoreError> {
    let duplicates = plans
        .iter()
        .filter(|p| matches!(p, PartPlan::Duplicate(_)))
        .count();
    if duplicates == 0 {
        return Ok(None);
    }
    if duplicates == plans.len() {
        return Ok(Some(
            plans
                .iter()
                .map(|p| match p {
                    PartPlan::Duplicate(o) => *o,
                    PartPlan::Write => unreachable!("all parts are duplicates"),
                })
                .collect(),
        ));
    }
    let (i, outcome) = plans
        .iter()
        .enumerate()
        .find_map(|(i, p)| match p {
            PartPlan::Duplicate(o) => Some((i, *o)),
            PartPlan::Write => None,
        })
        .expect("duplicates > 0");
    Err(StoreError::DuplicateEventId {
        stream: requests[i].stream.clone(),
        event_id: requests[i].events[0].event_id,
        existing_position: outcome.first_position,
    })
}
