//! The event log on PostgreSQL.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use chrono::{DateTime, Utc};
use opsledger_store::codec::{self, Assigned};
use opsledger_store::plan::{self, Existing, PartPlan};
use opsledger_store::subscription::{LogSource, Subscription};
use opsledger_store::{
    AppendOutcome, AppendRequest, EventStore, Position, StoreConfig, StoreError, StoredEvent,
    StreamId, VerifyReport, Version, check_page,
};
use uuid::Uuid;

use crate::PgOptions;
use crate::conn::Conn;
use crate::db::{Db, Failure};

/// opsledger's event log in a PostgreSQL database (see the crate documentation).
///
/// Cheap to clone: clones share the connections.
#[derive(Debug, Clone)]
pub struct PgStore {
    pub(crate) db: Arc<Db>,
}

impl PgStore {
    /// Connects to the database at `url` (a `postgres://` URL or a `key=value` connection
    /// string) and opens the log in the schema of `options`, creating the schema and its tables
    /// when missing. Several processes may open the same database and schema at once.
    pub fn open(url: &str, config: StoreConfig, options: PgOptions) -> Result<Self, StoreError> {
        Ok(Self {
            db: Db::open(url, config, options)?,
        })
    }

    /// Closes every connection; later calls answer [`StoreError::Closed`].
    pub fn close(&self) -> Result<(), StoreError> {
        self.db.close()
    }

    /// The schema the log lives in.
    pub fn schema(&self) -> &str {
        &self.db.options.schema
    }
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or_default()
}

fn corrupt(position: u64) -> impl Fn(String) -> StoreError {
    move |reason| StoreError::Corrupt {
        position: Some(Position(position)),
        reason,
    }
}

fn decode(
    config: &StoreConfig,
    position: u64,
    name: &str,
    bytes: &[u8],
) -> Result<StoredEvent, StoreError> {
    let record = codec::decode_record(bytes).map_err(corrupt(position))?;
    if record.position != position {
        return Err(corrupt(position)(format!(
            "record claims position {}",
            record.position
        )));
    }
    let mut event = record.to_stored(StreamId::from_trusted(Arc::from(name)));
    config.upcasters.upcast(&mut event)?;
    Ok(event)
}

fn nanos(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// Reads up to `max` events from position `from`. A page stops before a damaged or missing
/// record, so a reader (a subscription) gets every event before it; a page that starts there
/// is the error naming it.
fn read_range(
    client: &mut Conn,
    config: &StoreConfig,
    from: u64,
    max: usize,
) -> Result<Vec<StoredEvent>, Failure> {
    let rows = client.query(
        "SELECT e.position, s.name, e.record FROM events e JOIN streams s ON s.stream = e.stream \
         WHERE e.position >= $1 ORDER BY e.position LIMIT $2",
        &[&to_i64(from), &to_i64(max as u64)],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for (expected, row) in (from..).zip(rows) {
        let position = to_u64(row.get(0));
        let decoded = if position != expected {
            Err(corrupt(expected)(format!(
                "the log skips from position {expected} to {position}"
            )))
        } else {
            let name: &str = row.get(1);
            let record: &[u8] = row.get(2);
            decode(config, position, name, record)
        };
        match decoded {
            Ok(event) => out.push(event),
            Err(e) if out.is_empty() => return Err(e.into()),
            Err(_) => break,
        }
    }
    Ok(out)
}

/// What one stream's part of an append found in the log: its number (`None`: a new stream)
/// and its current version.
struct Part {
    sid: Option<u64>,
    current: u64,
}

/// What an append reads under the head row's lock, in one statement: the named streams with
/// their versions (kind 0), the events already stored under the appended ids (kind 1) and the
/// highest stream number (kind 2, for the numbers of new streams).
const LOOKUP: &str = "\
    SELECT 0, s.name, NULL::bytea, s.stream, \
           coalesce((SELECT max(e.version) FROM events e WHERE e.stream = s.stream), 0), 0::bigint \
      FROM streams s WHERE s.name = ANY($1) \
    UNION ALL \
    SELECT 1, NULL, e.event_id, e.stream, e.version, e.position \
      FROM events e WHERE e.event_id = ANY($2) \
    UNION ALL \
    SELECT 2, NULL, NULL, coalesce(max(stream), 0), 0, 0 FROM streams";

/// An append's writes, in one statement: the new streams, the events, the head, and the
/// notification sent at commit. (The events' reference to their stream is checked at the end
/// of the statement, when the new streams are in.)
const WRITE: &str = "\
    WITH new_streams AS ( \
        INSERT INTO streams (stream, name) SELECT * FROM unnest($1::bigint[], $2::text[])), \
    new_events AS ( \
        INSERT INTO events (position, stream, version, event_id, record) \
        SELECT * FROM unnest($3::bigint[], $4::bigint[], $5::bigint[], $6::bytea[], $7::bytea[])), \
    moved AS (UPDATE head SET position = $8, recorded_at_nanos = $9) \
    SELECT pg_notify($10, $11)";

/// What the lookup found.
struct Found {
    /// Stream name to (number, current version).
    streams: HashMap<String, (u64, u64)>,
    /// Event id to (position, stream number, version).
    events: HashMap<Vec<u8>, (u64, u64, u64)>,
    /// The highest stream number.
    last_stream: u64,
}

fn lookup(client: &mut Conn, requests: &[AppendRequest]) -> Result<Found, Failure> {
    let names: Vec<&str> = requests.iter().map(|r| r.stream.as_str()).collect();
    let ids: Vec<&[u8]> = requests
        .iter()
        .flat_map(|r| r.events.iter().map(|e| e.event_id.as_bytes().as_slice()))
        .collect();
    let mut found = Found {
        streams: HashMap::with_capacity(names.len()),
        events: HashMap::new(),
        last_stream: 0,
    };
    for row in client.query(LOOKUP, &[&names, &ids])? {
        let kind: i32 = row.get(0);
        let (number, version, position) =
            (to_u64(row.get(3)), to_u64(row.get(4)), to_u64(row.get(5)));
        match kind {
            0 => {
                found.streams.insert(row.get(1), (number, version));
            }
            1 => {
                found.events.insert(row.get(2), (position, number, version));
            }
            _ => found.last_stream = number,
        }
    }
    Ok(found)
}

/// The rows of an append's writes, as arrays (one statement writes them all).
#[derive(Default)]
struct Rows {
    stream_numbers: Vec<i64>,
    stream_names: Vec<String>,
    positions: Vec<i64>,
    sids: Vec<i64>,
    versions: Vec<i64>,
    ids: Vec<Vec<u8>>,
    records: Vec<Vec<u8>>,
}

impl PgStore {
    /// The write path, inside a transaction (its own or a unit's): takes the head row's lock
    /// (which serialises appends across every process, so positions are dense and in commit
    /// order), reads what the plan needs in one statement (after the lock, so it sees every
    /// earlier append), plans, and writes everything in one more; listeners are notified at
    /// commit.
    fn append_tx(
        &self,
        client: &mut Conn,
        requests: &[AppendRequest],
    ) -> Result<(Vec<AppendOutcome>, Option<u64>), Failure> {
        let config = &self.db.config;
        let row = client.query_one(
            "SELECT position, recorded_at_nanos FROM head FOR UPDATE",
            &[],
        )?;
        let head = to_u64(row.get(0));
        let last_recorded: i64 = row.get(1);
        let found = lookup(client, requests)?;
        let mut plans = Vec::with_capacity(requests.len());
        let mut parts = Vec::with_capacity(requests.len());
        for request in requests {
            let (sid, current) = match found.streams.get(request.stream.as_str()) {
                Some(&(sid, current)) => (Some(sid), current),
                None => (None, 0),
            };
            let ids: Vec<Uuid> = request.events.iter().map(|e| e.event_id).collect();
            let existing: Vec<Option<Existing>> = ids
                .iter()
                .map(|id| {
                    found.events.get(id.as_bytes().as_slice()).map(
                        |&(position, stream, version)| Existing {
                            position,
                            same_stream: Some(stream) == sid,
                            version,
                        },
                    )
                })
                .collect();
            plans.push(plan::classify(
                &request.stream,
                request.expected,
                Version(current),
                &ids,
                &existing,
            )?);
            parts.push(Part { sid, current });
        }
        if let Some(outcomes) = plan::combine(requests, &plans)? {
            return Ok((outcomes, None));
        }
        debug_assert!(plans.iter().all(|p| matches!(p, PartPlan::Write)));
        let now = config.clock.now();
        let recorded_at = if nanos(now) < last_recorded {
            DateTime::from_timestamp_nanos(last_recorded)
        } else {
            now
        };
        let (outcomes, rows) = encode(head, found.last_stream, recorded_at, requests, &parts);
        let last = outcomes.last().map_or(head, |o| o.last_position.0);
        // Pair assertion: positions stay dense.
        debug_assert_eq!(
            last - head,
            requests.iter().map(|r| r.events.len() as u64).sum::<u64>()
        );
        debug_assert_eq!(rows.positions.len() as u64, last - head);
        client.query_one(
            WRITE,
            &[
                &rows.stream_numbers,
                &rows.stream_names,
                &rows.positions,
                &rows.sids,
                &rows.versions,
                &rows.ids,
                &rows.records,
                &to_i64(last),
                &nanos(recorded_at),
                &self.db.channel(),
                &last.to_string(),
            ],
        )?;
        Ok((outcomes, Some(last)))
    }
}

/// Numbers the new streams after `last_stream`, places the events after `head` and encodes
/// their records: the outcomes and the rows to write.
fn encode(
    head: u64,
    last_stream: u64,
    recorded_at: DateTime<Utc>,
    requests: &[AppendRequest],
    parts: &[Part],
) -> (Vec<AppendOutcome>, Rows) {
    let mut rows = Rows::default();
    let mut next_stream = last_stream;
    let mut position = head;
    let mut outcomes = Vec::with_capacity(requests.len());
    for (request, part) in requests.iter().zip(parts) {
        let sid = part.sid.unwrap_or_else(|| {
            next_stream += 1;
            rows.stream_numbers.push(to_i64(next_stream));
            rows.stream_names.push(request.stream.as_str().to_owned());
            next_stream
        });
        let first_position = position + 1;
        for (i, event) in request.events.iter().enumerate() {
            position += 1;
            let version = part.current + 1 + i as u64;
            let mut buf = Vec::with_capacity(256 + event.payload.len());
            codec::encode_record(
                &mut buf,
                &Assigned {
                    position,
                    sid,
                    version,
                    stream_name: (version == 1).then(|| request.stream.as_str()),
                    recorded_at,
                },
                event,
            );
            rows.positions.push(to_i64(position));
            rows.sids.push(to_i64(sid));
            rows.versions.push(to_i64(version));
            rows.ids.push(event.event_id.as_bytes().to_vec());
            rows.records.push(buf);
        }
        let n = request.events.len() as u64;
        outcomes.push(AppendOutcome {
            first_position: Position(first_position),
            last_position: Position(position),
            first_version: Version(part.current + 1),
            last_version: Version(part.current + n),
            was_duplicate: false,
        });
    }
    (outcomes, rows)
}

impl EventStore for PgStore {
    fn append_multi(&self, requests: Vec<AppendRequest>) -> Result<Vec<AppendOutcome>, StoreError> {
        let config = &self.db.config;
        plan::validate_requests(&requests, &config.limits, &config.upcasters)?;
        self.db.write(|client| self.append_tx(client, &requests))
    }

    fn read_stream(
        &self,
        stream: &StreamId,
        from: Version,
        max: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        check_page(max, &self.db.config)?;
        let rows: Vec<(u64, Vec<u8>)> = self.db.read(|client| {
            Ok(client
                .query(
                    "SELECT e.position, e.record FROM events e JOIN streams s ON s.stream = e.stream \
                     WHERE s.name = $1 AND e.version >= $2 ORDER BY e.version LIMIT $3",
                    &[
                        &stream.as_str(),
                        &to_i64(from.0.max(1)),
                        &to_i64(max as u64),
                    ],
                )?
                .into_iter()
                .map(|r| (to_u64(r.get(0)), r.get(1)))
                .collect())
        })?;
        rows.iter()
            .map(|(position, record)| {
                let mut event = decode(&self.db.config, *position, stream.as_str(), record)?;
                event.stream = stream.clone();
                Ok(event)
            })
            .collect()
    }

    fn read_all(&self, from: Position, max: usize) -> Result<Vec<StoredEvent>, StoreError> {
        check_page(max, &self.db.config)?;
        let config = &self.db.config;
        self.db
            .read(|client| read_range(client, config, from.0.max(1), max))
    }

    fn stream_version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        self.db.read(|client| {
            let row = client.query_one(
                "SELECT coalesce(max(e.version), 0) FROM events e JOIN streams s \
                 ON s.stream = e.stream WHERE s.name = $1",
                &[&stream.as_str()],
            )?;
            Ok(Version(to_u64(row.get(0))))
        })
    }

    fn head(&self) -> Result<Position, StoreError> {
        self.db.committed_head().map(Position)
    }

    fn event_by_id(&self, event_id: Uuid) -> Result<Option<StoredEvent>, StoreError> {
        let row: Option<(u64, String, Vec<u8>)> = self.db.read(|client| {
            Ok(client
                .query_opt(
                    "SELECT e.position, s.name, e.record FROM events e JOIN streams s \
                     ON s.stream = e.stream WHERE e.event_id = $1",
                    &[&event_id.as_bytes().as_slice()],
                )?
                .map(|r| (to_u64(r.get(0)), r.get(1), r.get(2))))
        })?;
        row.map(|(position, name, record)| decode(&self.db.config, position, &name, &record))
            .transpose()
    }

    fn subscribe(&self, after: Position) -> Result<Subscription, StoreError> {
        let source: Weak<dyn LogSource> = Arc::downgrade(&self.db) as Weak<dyn LogSource>;
        Ok(Subscription::new(
            source,
            self.db.notifier.clone(),
            after,
            self.db.config.limits.subscription_buffer,
        ))
    }

    fn verify(&self) -> Result<VerifyReport, StoreError> {
        crate::verify::verify(&self.db)
    }

    /// PostgreSQL makes a commit durable before acknowledging it (with `synchronous_commit`
    /// on, the default for `PerCommit` and `GroupCommit`); in `Buffered` mode this asks the
    /// server to flush its write-ahead log now.
    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()
    }
}

impl LogSource for Db {
    fn read_page(&self, from: u64, max: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let config = &self.config;
        self.read(|client| read_range(client, config, from, max))
    }
}
