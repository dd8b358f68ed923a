//! The in-memory backend: tests and ephemeral embedding.
//!
//! It keeps the same encoded records as the sled backend (so checksums, decoding and upcasting
//! are the same code) in a `Vec`, with its indexes in hash maps, behind one `RwLock`. Nothing
//! survives the process; durability modes are accepted and ignored.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use uuid::Uuid;

use crate::codec::{self, Assigned};
use crate::config::StoreConfig;
use crate::error::{Limit, StoreError};
use crate::plan::{self, Existing, PartPlan};
use crate::store::EventStore;
use crate::subscription::{LogSource, Notifier, Subscription};
use crate::types::{AppendOutcome, AppendRequest, Position, StoredEvent, StreamId, Version};
use crate::verify::{FaultKind, VerifyReport};

/// An [`EventStore`] held in memory.
#[derive(Debug)]
pub struct MemoryStore {
    inner: Arc<MemInner>,
}

#[derive(Debug)]
struct MemInner {
    state: RwLock<MemState>,
    notifier: Arc<Notifier>,
    config: StoreConfig,
}

#[derive(Debug, Default)]
struct MemState {
    /// Encoded records; position `p` is at index `p - 1`.
    records: Vec<Vec<u8>>,
    /// Stream id -> stream number (1-based).
    sid_of: HashMap<Arc<str>, u64>,
    /// Stream number - 1 -> (stream id, positions by version - 1).
    streams: Vec<(StreamId, Vec<u64>)>,
    /// Event id -> position.
    ids: HashMap<Uuid, u64>,
    last_recorded: Option<DateTime<Utc>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(StoreConfig::default()).expect("the default configuration is valid")
    }
}

impl MemoryStore {
    /// An empty store with `config` (its sled options and durability are ignored).
    pub fn new(config: StoreConfig) -> Result<Self, StoreError> {
        config.validate()?;
        Ok(Self {
            inner: Arc::new(MemInner {
                state: RwLock::new(MemState::default()),
                notifier: Arc::new(Notifier::new(0)),
                config,
            }),
        })
    }
}

impl Drop for MemoryStore {
    fn drop(&mut self) {
        self.inner.notifier.close();
    }
}

impl MemState {
    fn decode_at(&self, position: u64, config: &StoreConfig) -> Result<StoredEvent, StoreError> {
        let bytes = self
            .records
            .get((position - 1) as usize)
            .ok_or(StoreError::Corrupt {
                position: Some(Position(position)),
                reason: "record missing".into(),
            })?;
        let corrupt = |reason: String| StoreError::Corrupt {
            position: Some(Position(position)),
            reason,
        };
        let record = codec::decode_record(bytes).map_err(corrupt)?;
        if record.position != position {
            return Err(corrupt(format!(
                "record claims position {}",
                record.position
            )));
        }
        let stream = self
            .streams
            .get((record.sid - 1) as usize)
            .map(|(s, _)| s.clone())
            .ok_or_else(|| corrupt(format!("unknown stream number {}", record.sid)))?;
        let mut event = record.to_stored(stream);
        config.upcasters.upcast(&mut event)?;
        Ok(event)
    }

    fn existing(&self, sid: Option<u64>, id: &Uuid) -> Result<Option<Existing>, StoreError> {
        let Some(&position) = self.ids.get(id) else {
            return Ok(None);
        };
        let bytes = &self.records[(position - 1) as usize];
        let record = codec::decode_record(bytes).map_err(|reason| StoreError::Corrupt {
            position: Some(Position(position)),
            reason,
        })?;
        Ok(Some(Existing {
            position,
            same_stream: Some(record.sid) == sid,
            version: record.version,
        }))
    }
}

impl EventStore for MemoryStore {
    fn append_multi(&self, requests: Vec<AppendRequest>) -> Result<Vec<AppendOutcome>, StoreError> {
        let config = &self.inner.config;
        plan::validate_requests(&requests, &config.limits, &config.upcasters)?;
        let mut state = self.inner.state.write();
        let mut plans = Vec::with_capacity(requests.len());
        for request in &requests {
            let sid = state.sid_of.get(request.stream.shared()).copied();
            let current = sid.map_or(0, |s| state.streams[(s - 1) as usize].1.len() as u64);
            let ids: Vec<Uuid> = request.events.iter().map(|e| e.event_id).collect();
            let existing = ids
                .iter()
                .map(|id| state.existing(sid, id))
                .collect::<Result<Vec<_>, _>>()?;
            plans.push(plan::classify(
                &request.stream,
                request.expected,
                Version(current),
                &ids,
                &existing,
            )?);
        }
        if let Some(outcomes) = plan::combine(&requests, &plans)? {
            return Ok(outcomes);
        }
        debug_assert!(plans.iter().all(|p| matches!(p, PartPlan::Write)));
        let now = config.clock.now();
        let recorded_at = state.last_recorded.map_or(now, |last| last.max(now));
        state.last_recorded = Some(recorded_at);
        let mut outcomes = Vec::with_capacity(requests.len());
        for request in requests {
            let sid = match state.sid_of.get(request.stream.shared()) {
                Some(&sid) => sid,
                None => {
                    state.streams.push((request.stream.clone(), Vec::new()));
                    let sid = state.streams.len() as u64;
                    state.sid_of.insert(request.stream.shared().clone(), sid);
                    sid
                }
            };
            let first_position = state.records.len() as u64 + 1;
            let first_version = state.streams[(sid - 1) as usize].1.len() as u64 + 1;
            for (i, event) in request.events.iter().enumerate() {
                let position = first_position + i as u64;
                let version = first_version + i as u64;
                let assigned = Assigned {
                    position,
                    sid,
                    version,
                    stream_name: (version == 1).then(|| request.stream.as_str()),
                    recorded_at,
                };
                let mut buf = Vec::with_capacity(event.payload.len() + 128);
                codec::encode_record(&mut buf, &assigned, event);
                state.records.push(buf);
                state.streams[(sid - 1) as usize].1.push(position);
                state.ids.insert(event.event_id, position);
            }
            let n = request.events.len() as u64;
            outcomes.push(AppendOutcome {
                first_position: Position(first_position),
                last_position: Position(first_position + n - 1),
                first_version: Version(first_version),
                last_version: Version(first_version + n - 1),
                was_duplicate: false,
            });
        }
        let head = state.records.len() as u64;
        drop(state);
        self.inner.notifier.publish(head);
        Ok(outcomes)
    }

    fn read_stream(
        &self,
        stream: &StreamId,
        from: Version,
        max: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        check_page(max, &self.inner.config)?;
        let state = self.inner.state.read();
        let Some(&sid) = state.sid_of.get(stream.shared()) else {
            return Ok(Vec::new());
        };
        let positions = &state.streams[(sid - 1) as usize].1;
        let start = from.0.max(1) as usize - 1;
        positions
            .iter()
            .skip(start)
            .take(max)
            .map(|&p| state.decode_at(p, &self.inner.config))
            .collect()
    }

    fn read_all(&self, from: Position, max: usize) -> Result<Vec<StoredEvent>, StoreError> {
        check_page(max, &self.inner.config)?;
        self.inner.read_page(from.0.max(1), max)
    }

    fn stream_version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        let state = self.inner.state.read();
        Ok(Version(
            state
                .sid_of
                .get(stream.shared())
                .map_or(0, |&sid| state.streams[(sid - 1) as usize].1.len() as u64),
        ))
    }

    fn head(&self) -> Result<Position, StoreError> {
        Ok(Position(self.inner.state.read().records.len() as u64))
    }

    fn event_by_id(&self, event_id: Uuid) -> Result<Option<StoredEvent>, StoreError> {
        let state = self.inner.state.read();
        state
            .ids
            .get(&event_id)
            .map(|&p| state.decode_at(p, &self.inner.config))
            .transpose()
    }

    fn subscribe(&self, after: Position) -> Result<Subscription, StoreError> {
        let source: Weak<dyn LogSource> = Arc::downgrade(&self.inner) as Weak<dyn LogSource>;
        Ok(Subscription::new(
            source,
            self.inner.notifier.clone(),
            after,
            self.inner.config.limits.subscription_buffer,
        ))
    }

    fn verify(&self) -> Result<VerifyReport, StoreError> {
        let state = self.inner.state.read();
        let mut report = VerifyReport {
            head: Position(state.records.len() as u64),
            ..Default::default()
        };
        let mut versions: HashMap<u64, u64> = HashMap::new();
        for (i, bytes) in state.records.iter().enumerate() {
            let position = i as u64 + 1;
            report.events_checked += 1;
            let record = match codec::decode_record(bytes) {
                Ok(r) => r,
                Err(e) => {
                    report.fault(Some(position), FaultKind::CorruptRecord, e);
                    continue;
                }
            };
            if record.position != position {
                report.fault(
                    Some(position),
                    FaultKind::PositionMismatch,
                    "record position differs".into(),
                );
            }
            let last = versions.entry(record.sid).or_insert(0);
            if record.version != *last + 1 {
                report.fault(
                    Some(position),
                    FaultKind::VersionOrder,
                    format!("version {} after {}", record.version, last),
                );
            }
            *last = record.version;
            report.index_entries_checked += 2;
            let stream_ok = state
                .streams
                .get((record.sid - 1) as usize)
                .and_then(|(_, ps)| ps.get((record.version - 1) as usize))
                == Some(&position);
            if !stream_ok {
                report.fault(
                    Some(position),
                    FaultKind::IndexMissing,
                    "stream index entry".into(),
                );
            }
            if state.ids.get(&record.event_id) != Some(&position) {
                report.fault(
                    Some(position),
                    FaultKind::DuplicateEventId,
                    format!("id {}", record.event_id),
                );
            }
        }
        report.streams = versions.len() as u64;
        Ok(report)
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl LogSource for MemInner {
    fn read_page(&self, from: u64, max: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let state = self.state.read();
        let head = state.records.len() as u64;
        let end = head.min(from.saturating_add(max as u64).saturating_sub(1));
        (from..=end)
            .map(|p| state.decode_at(p, &self.config))
            .collect()
    }
}

/// Refuses a read of more than the configured page size.
pub fn check_page(max: usize, config: &StoreConfig) -> Result<(), StoreError> {
    if max > config.limits.max_page_size {
        return Err(StoreError::LimitExceeded {
            limit: Limit::PageSize,
            max: config.limits.max_page_size as u64,
            actual: max as u64,
        });
    }
    Ok(())
}
