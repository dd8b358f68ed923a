//! The event log on SQLite.

use std::path::Path;
use std::sync::{Arc, Weak};

use opsledger_store::codec::{self, Assigned};
use opsledger_store::plan::{self, Existing, PartPlan};
use opsledger_store::subscription::{LogSource, Subscription};
use opsledger_store::{
    AppendOutcome, AppendRequest, EventStore, Position, StoreConfig, StoreError, StoredEvent,
    StreamId, VerifyReport, Version, check_page,
};
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use crate::SqliteOptions;
use crate::db::{Db, Role, Writer, sql_error};

/// opsledger's event log in an SQLite database file (see the crate documentation).
///
/// Cheap to clone: clones share the database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) db: Arc<Db>,
}

impl SqliteStore {
    /// Opens (creating if needed) the log in the database file `path`, for writing. A second
    /// process opening the same file for writing gets [`StoreError::Locked`].
    pub fn open(path: impl AsRef<Path>, config: StoreConfig) -> Result<Self, StoreError> {
        Self::open_with(path, config, SqliteOptions::default())
    }

    /// [`SqliteStore::open`] with SQLite resources other than the defaults.
    pub fn open_with(
        path: impl AsRef<Path>,
        config: StoreConfig,
        options: SqliteOptions,
    ) -> Result<Self, StoreError> {
        let db = Db::open(path.as_ref(), config, options, Role::LogAndSpaces, false)?;
        Ok(Self { db })
    }

    /// Opens an existing log read-only, beside a process that may be writing to it (SQLite's
    /// write-ahead log lets readers and one writer work at once). Appends are refused. Reads
    /// follow the writer's commits; a subscription notices them when it polls (`try_next`,
    /// `next_timeout`), as nothing in this process wakes it.
    pub fn open_read_only(path: impl AsRef<Path>, config: StoreConfig) -> Result<Self, StoreError> {
        let db = Db::open(
            path.as_ref(),
            config,
            SqliteOptions::default(),
            Role::LogAndSpaces,
            true,
        )?;
        Ok(Self { db })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.db.path
    }

    /// Checkpoints the write-ahead log into the database file and closes the database.
    pub fn close(self) -> Result<(), StoreError> {
        self.db.close()
    }

    /// The highest position readers may see (the visible head; see [`EventStore::head`]).
    fn visible(&self) -> u64 {
        self.db.visible()
    }

    /// The bound of what the calling thread may read: everything written, for the thread that
    /// owns the open unit of work; the visible head otherwise.
    fn read_bound(&self) -> u64 {
        if self.db.in_unit() {
            self.db.lock_writer().borrow().head
        } else {
            self.visible()
        }
    }

    fn decode(&self, position: u64, name: &str, bytes: &[u8]) -> Result<StoredEvent, StoreError> {
        decode(&self.db.config, position, name, bytes)
    }
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
    decode_in(
        config,
        position,
        &StreamId::from_trusted(Arc::from(name)),
        bytes,
    )
}

/// [`decode`] of an event of a stream the caller holds (its name is shared, not copied).
fn decode_in(
    config: &StoreConfig,
    position: u64,
    stream: &StreamId,
    bytes: &[u8],
) -> Result<StoredEvent, StoreError> {
    let record = codec::decode_record(bytes).map_err(corrupt(position))?;
    if record.position != position {
        return Err(corrupt(position)(format!(
            "record claims position {}",
            record.position
        )));
    }
    let mut event = record.to_stored(stream.clone());
    config.upcasters.upcast(&mut event)?;
    Ok(event)
}

fn stream_head(conn: &Connection, stream: u64, bound: u64) -> rusqlite::Result<u64> {
    conn.prepare_cached(
        "SELECT coalesce(max(version), 0) FROM events WHERE stream = ?1 AND position <= ?2",
    )?
    .query_row(params![stream as i64, bound as i64], |r| r.get::<_, i64>(0))
    .map(|v| v as u64)
}

fn existing(
    conn: &Connection,
    event_id: &Uuid,
    stream: Option<u64>,
) -> rusqlite::Result<Option<Existing>> {
    conn.prepare_cached("SELECT position, stream, version FROM events WHERE event_id = ?1")?
        .query_row([event_id.as_bytes().as_slice()], |r| {
            Ok(Existing {
                position: r.get::<_, i64>(0)? as u64,
                same_stream: Some(r.get::<_, i64>(1)? as u64) == stream,
                version: r.get::<_, i64>(2)? as u64,
            })
        })
        .optional()
}

/// Reads positions `from..=to` with their stream names. A page stops before a damaged or
/// missing record, so a reader (a subscription) gets every event before it; a page that
/// starts there is the error naming it.
fn read_range(
    conn: &Connection,
    config: &StoreConfig,
    from: u64,
    to: u64,
) -> Result<Vec<StoredEvent>, StoreError> {
    if from > to {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity((to - from + 1).min(1_024) as usize);
    match read_range_into(conn, config, from, to, &mut out) {
        Err(e) if out.is_empty() => Err(e),
        _ => Ok(out),
    }
}

fn read_range_into(
    conn: &Connection,
    config: &StoreConfig,
    from: u64,
    to: u64,
    out: &mut Vec<StoredEvent>,
) -> Result<(), StoreError> {
    let mut statement = conn
        .prepare_cached(
            "SELECT e.position, s.name, e.record FROM events e JOIN streams s ON s.stream = e.stream \
             WHERE e.position BETWEEN ?1 AND ?2 ORDER BY e.position",
        )
        .map_err(sql_error)?;
    let mut rows = statement
        .query(params![from as i64, to as i64])
        .map_err(sql_error)?;
    let mut expected = from;
    while let Some(row) = rows.next().map_err(sql_error)? {
        let position = row.get::<_, i64>(0).map_err(sql_error)? as u64;
        if position != expected {
            return Err(corrupt(expected)(format!(
                "the log skips from position {expected} to {position}"
            )));
        }
        let name: String = row.get(1).map_err(sql_error)?;
        let record = row
            .get_ref(2)
            .map_err(sql_error)?
            .as_blob()
            .map_err(|e| corrupt(position)(format!("record is not a blob: {e}")))?;
        out.push(decode(config, position, &name, record)?);
        expected += 1;
    }
    if expected <= to {
        return Err(corrupt(expected)("record missing".into()));
    }
    Ok(())
}

impl SqliteStore {
    /// The write path, on the writer connection inside a transaction (its own or a unit's).
    ///
    /// Appends carry fresh event ids almost always, so the first attempt does not look each
    /// one up: it plans as if none were stored, and the id index's uniqueness finds one that
    /// is (its insert changes nothing). Then, or when that plan is a version conflict (which
    /// an exact retry of stored events is not), the append is planned again with every id
    /// looked up.
    fn append_locked(
        &self,
        writer: &mut Writer,
        requests: Vec<AppendRequest>,
    ) -> Result<Vec<AppendOutcome>, StoreError> {
        if let Some(outcomes) = self.plan_and_write(writer, &requests, false)? {
            return Ok(outcomes);
        }
        self.plan_and_write(writer, &requests, true)?
            .ok_or_else(|| {
                StoreError::Backend("an event id the lookups did not find is stored".into())
            })
    }

    /// One attempt of [`Self::append_locked`]; `look_up_ids`: whether the plan looks every
    /// event id up. Without, answers `None` when that plan cannot stand (a version conflict,
    /// or an id already stored).
    fn plan_and_write(
        &self,
        writer: &mut Writer,
        requests: &[AppendRequest],
        look_up_ids: bool,
    ) -> Result<Option<Vec<AppendOutcome>>, StoreError> {
        let head = writer.head;
        let mut plans = Vec::with_capacity(requests.len());
        let mut numbers = Vec::with_capacity(requests.len());
        for request in requests {
            let sid = self
                .db
                .stream_number_for_append(writer, request.stream.as_str())
                .map_err(sql_error)?;
            let conn = &writer.conn;
            let current = match sid {
                Some(s) => stream_head(conn, s, head).map_err(sql_error)?,
                None => 0,
            };
            let ids: Vec<Uuid> = request.events.iter().map(|e| e.event_id).collect();
            let found = if look_up_ids {
                ids.iter()
                    .map(|id| existing(conn, id, sid))
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(sql_error)?
            } else {
                vec![None; ids.len()]
            };
            let planned = plan::classify(
                &request.stream,
                request.expected,
                Version(current),
                &ids,
                &found,
            );
            match planned {
                Ok(p) => plans.push(p),
                Err(_) if !look_up_ids => return Ok(None),
                Err(e) => return Err(e),
            }
            numbers.push((sid, current));
        }
        if let Some(outcomes) = plan::combine(requests, &plans)? {
            return Ok(Some(outcomes));
        }
        debug_assert!(plans.iter().all(|p| matches!(p, PartPlan::Write)));
        if numbers.iter().any(|(sid, _)| sid.is_none()) {
            writer.created_stream = true;
        }
        let conn = &writer.conn;
        let now = self.db.config.clock.now();
        let recorded_at = writer.last_recorded.map_or(now, |last| last.max(now));
        // A savepoint, so that a failure leaves an enclosing unit's earlier writes intact.
        conn.execute_batch("SAVEPOINT append").map_err(sql_error)?;
        let written = self.write_events(conn, head, recorded_at, requests, &numbers);
        match written {
            Ok(None) => {
                // An id already stored: nothing of this attempt stays.
                conn.execute_batch("ROLLBACK TO append; RELEASE append")
                    .map_err(sql_error)?;
                Ok(None)
            }
            Ok(Some(outcomes)) => {
                conn.execute_batch("RELEASE append").map_err(sql_error)?;
                let last = outcomes.last().map_or(head, |o| o.last_position.0);
                // Pair assertion: positions stay dense.
                debug_assert_eq!(
                    last - head,
                    requests.iter().map(|r| r.events.len() as u64).sum::<u64>()
                );
                writer.head = last;
                writer.last_recorded = Some(recorded_at);
                Ok(Some(outcomes))
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK TO append; RELEASE append");
                Err(e)
            }
        }
    }

    fn write_events(
        &self,
        conn: &Connection,
        head: u64,
        recorded_at: chrono::DateTime<chrono::Utc>,
        requests: &[AppendRequest],
        numbers: &[(Option<u64>, u64)],
    ) -> Result<Option<Vec<AppendOutcome>>, StoreError> {
        let mut insert_stream = conn
            .prepare_cached("INSERT INTO streams(name) VALUES (?1)")
            .map_err(sql_error)?;
        // An id already stored is no error here: the insert changes nothing, and the caller
        // plans the append again with the ids looked up.
        let mut insert_event = conn
            .prepare_cached(
                "INSERT INTO events(position, stream, version, event_id, record) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(event_id) DO NOTHING",
            )
            .map_err(sql_error)?;
        let mut position = head;
        let mut outcomes = Vec::with_capacity(requests.len());
        let mut buf = Vec::with_capacity(1_024);
        for (request, &(sid, current)) in requests.iter().zip(numbers) {
            let sid = match sid {
                Some(s) => s,
                None => {
                    insert_stream
                        .execute([request.stream.as_str()])
                        .map_err(sql_error)?;
                    conn.last_insert_rowid() as u64
                }
            };
            let first_position = position + 1;
            for (i, event) in request.events.iter().enumerate() {
                position += 1;
                let version = current + 1 + i as u64;
                buf.clear();
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
                let inserted = insert_event
                    .execute(params![
                        position as i64,
                        sid as i64,
                        version as i64,
                        event.event_id.as_bytes().as_slice(),
                        buf.as_slice()
                    ])
                    .map_err(sql_error)?;
                if inserted == 0 {
                    return Ok(None);
                }
            }
            let n = request.events.len() as u64;
            outcomes.push(AppendOutcome {
                first_position: Position(first_position),
                last_position: Position(position),
                first_version: Version(current + 1),
                last_version: Version(current + n),
                was_duplicate: false,
            });
        }
        Ok(Some(outcomes))
    }
}

impl EventStore for SqliteStore {
    fn append_multi(&self, requests: Vec<AppendRequest>) -> Result<Vec<AppendOutcome>, StoreError> {
        let config = &self.db.config;
        plan::validate_requests(&requests, &config.limits, &config.upcasters)?;
        self.db
            .write(true, |writer| self.append_locked(writer, requests))
    }

    fn read_stream(
        &self,
        stream: &StreamId,
        from: Version,
        max: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        check_page(max, &self.db.config)?;
        let bound = self.read_bound();
        let config = &self.db.config;
        let name = stream.as_str();
        // Room for a short stream's events at once (a record's trail is a handful of events).
        let room = max.min(32);
        let (from, bound, max) = (from.0.max(1) as i64, bound as i64, max as i64);
        // Each record is decoded from the row as SQLite holds it (no copy of the bytes first).
        let events: Vec<Result<StoredEvent, StoreError>> = self.db.read(|conn| {
            let known = self.db.known_stream_number(name);
            let mut statement;
            let mut rows = match known {
                Some(sid) => {
                    statement = conn.prepare_cached(
                        "SELECT position, record, stream FROM events WHERE stream = ?1 \
                         AND version >= ?2 AND position <= ?3 ORDER BY version LIMIT ?4",
                    )?;
                    statement.query(params![sid as i64, from, bound, max])?
                }
                // The stream's number found in the same statement, not by one of its own.
                None => {
                    statement = conn.prepare_cached(
                        "SELECT e.position, e.record, e.stream FROM streams s \
                         JOIN events e ON e.stream = s.stream WHERE s.name = ?1 \
                         AND e.version >= ?2 AND e.position <= ?3 ORDER BY e.version LIMIT ?4",
                    )?;
                    statement.query(params![name, from, bound, max])?
                }
            };
            let mut events = Vec::with_capacity(room);
            let mut sid = None;
            while let Some(row) = rows.next()? {
                let position = row.get::<_, i64>(0)? as u64;
                let record = row.get_ref(1)?.as_blob()?;
                sid = Some(row.get::<_, i64>(2)? as u64);
                events.push(decode_in(config, position, stream, record));
            }
            if let (None, Some(sid)) = (known, sid) {
                self.db.remember_stream(conn, name, sid)?;
            }
            Ok(events)
        })?;
        events.into_iter().collect()
    }

    fn read_all(&self, from: Position, max: usize) -> Result<Vec<StoredEvent>, StoreError> {
        check_page(max, &self.db.config)?;
        let from = from.0.max(1);
        let bound = self.read_bound();
        let to = bound.min(from.saturating_add(max as u64).saturating_sub(1));
        let config = &self.db.config;
        self.db
            .read(|conn| Ok(read_range(conn, config, from, to)))?
    }

    fn stream_version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        let bound = self.read_bound();
        self.db
            .read(|conn| match self.db.stream_number(conn, stream.as_str())? {
                Some(sid) => stream_head(conn, sid, bound),
                None => Ok(0),
            })
            .map(Version)
    }

    fn head(&self) -> Result<Position, StoreError> {
        Ok(Position(self.read_bound()))
    }

    fn event_by_id(&self, event_id: Uuid) -> Result<Option<StoredEvent>, StoreError> {
        let bound = self.read_bound();
        let row: Option<(u64, String, Vec<u8>)> = self.db.read(|conn| {
            conn.prepare_cached(
                "SELECT e.position, s.name, e.record FROM events e JOIN streams s \
                 ON s.stream = e.stream WHERE e.event_id = ?1 AND e.position <= ?2",
            )?
            .query_row(params![event_id.as_bytes().as_slice(), bound as i64], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))
            })
            .optional()
        })?;
        row.map(|(position, name, record)| self.decode(position, &name, &record))
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
        crate::verify::verify(&self.db, self.visible())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()
    }
}

impl LogSource for Db {
    fn read_page(&self, from: u64, max: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let to = self
            .visible()
            .min(from.saturating_add(max as u64).saturating_sub(1));
        let config = &self.config;
        self.read(|conn| Ok(read_range(conn, config, from, to)))?
    }
}
