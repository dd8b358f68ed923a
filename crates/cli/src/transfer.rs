//! `opsledger export` and `opsledger import`: the event log as JSON Lines.
//!
//! One line per stored event, in position order, members in this order:
//!
//! ```text
//! {"position":1,"stream":"incident-…","version":1,"event_id":"…","event_type":"incident.opened",
//!  "schema_version":1,"occurred_at":"…Z","recorded_at":"…Z","actor":"alice",
//!  "correlation_id":"…"|null,"causation_id":"…"|null,"payload":{…}}
//! ```
//!
//! (one line in the file). `payload` is the stored payload bytes written verbatim (the engine
//! stores compact JSON); a payload that is not single-line JSON is written as `payload_hex`
//! instead. The store's per-record checksum is not exported: it belongs to the store's
//! encoding, is verified on every read, and is computed again on import.
//!
//! Import writes into a new (or empty) data directory only. It first reads the whole file and
//! checks it (every line well-formed, positions dense from 1, versions dense per stream,
//! recorded times never decreasing, event ids unique), so a bad file writes nothing. It then
//! appends the events through the store with a clock that replays each event's recorded time
//! (consecutive events recorded at one instant, as one command's are, go in one atomic
//! append), so positions, streams, versions, ids and both timestamps are exactly the exported
//! ones, and builds the projections from the imported log. Exporting the imported
//! directory gives the same bytes.

use crate::cli::{ExportArgs, ImportArgs};
use crate::data;
use crate::error::{CliError, CliResult, data_error};
use crate::output::emit_err;
use crate::progress;
use crate::replay::{self, Origin, Original, Replayer};
use chrono::{DateTime, Utc};
use opsledger::Uuid;
use opsledger::store::{Durability, EventStore, NewEvent, StoredEvent, StreamId};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// The longest line import accepts (a maximal payload written as hex, with room to spare).
const MAX_LINE_BYTES: u64 = 64 * 1024 * 1024;

/// One exported event (one line).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedEvent {
    /// Global position, dense from 1.
    pub position: u64,
    /// The stream.
    pub stream: String,
    /// Version within the stream, dense from 1.
    pub version: u64,
    /// The event id.
    pub event_id: Uuid,
    /// The event type, e.g. `incident.opened`.
    pub event_type: String,
    /// The payload's schema version.
    pub schema_version: u16,
    /// When the fact happened.
    pub occurred_at: DateTime<Utc>,
    /// When the store recorded it.
    pub recorded_at: DateTime<Utc>,
    /// Who caused it.
    pub actor: String,
    /// Correlation id.
    pub correlation_id: Option<Uuid>,
    /// Causation id.
    pub causation_id: Option<Uuid>,
    /// The payload, verbatim, when it is single-line JSON.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_raw"
    )]
    pub payload: Option<Box<RawValue>>,
    /// The payload bytes in lowercase hex, when they are not single-line JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_hex: Option<String>,
}

/// `"payload": null` is the payload `null`, not a missing payload.
fn present_raw<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

impl ExportedEvent {
    /// The line of a stored event.
    pub fn from_stored(e: &StoredEvent) -> Self {
        let (payload, payload_hex) = match raw_json(&e.payload) {
            Some(raw) => (Some(raw), None),
            None => (None, Some(hex(&e.payload))),
        };
        ExportedEvent {
            position: e.position.0,
            stream: e.stream.as_str().to_owned(),
            version: e.version.0,
            event_id: e.event_id,
            event_type: e.event_type.clone(),
            schema_version: e.schema_version,
            occurred_at: e.occurred_at,
            recorded_at: e.recorded_at,
            actor: e.actor.clone(),
            correlation_id: e.correlation_id,
            causation_id: e.causation_id,
            payload,
            payload_hex,
        }
    }

    /// The event to store again, read from line `line` of the import file.
    fn into_original(self, line: u64) -> CliResult<Original> {
        let bad = |why: String| CliError::usage(format!("line {line}: {why}"));
        let payload = self.payload_bytes().map_err(bad)?;
        let stream = StreamId::new(&self.stream).map_err(|err| bad(err.to_string()))?;
        Ok(Original {
            origin: Origin::Line(line),
            position: self.position,
            stream,
            version: self.version,
            recorded_at: self.recorded_at,
            event: NewEvent {
                event_id: self.event_id,
                event_type: self.event_type,
                schema_version: self.schema_version,
                occurred_at: self.occurred_at,
                actor: self.actor,
                correlation_id: self.correlation_id,
                causation_id: self.causation_id,
                payload,
            },
        })
    }

    /// The payload bytes.
    fn payload_bytes(&self) -> Result<Vec<u8>, String> {
        match (&self.payload, &self.payload_hex) {
            (Some(raw), None) => Ok(raw.get().as_bytes().to_vec()),
            (None, Some(h)) => unhex(h),
            (Some(_), Some(_)) => Err("has both payload and payload_hex".into()),
            (None, None) => Err("has neither payload nor payload_hex".into()),
        }
    }
}

/// The payload as raw JSON when writing it verbatim keeps the line a line and the bytes exact.
fn raw_json(payload: &[u8]) -> Option<Box<RawValue>> {
    if payload.iter().any(|&b| b == b'\n' || b == b'\r') {
        return None;
    }
    let text = std::str::from_utf8(payload).ok()?;
    let raw = RawValue::from_string(text.to_owned()).ok()?;
    (raw.get().as_bytes() == payload).then_some(raw)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xF)]));
    }
    s
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err("payload_hex has an odd number of digits".into());
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |c: u8| char::from(c).to_digit(16).ok_or("payload_hex is not hex");
            Ok(u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).unwrap_or(0))
        })
        .collect()
}

// ---- export ---------------------------------------------------------------------------------

/// Runs `opsledger export`.
pub fn export(args: &ExportArgs) -> CliResult {
    let location = args.location();
    let store = data::open_log_at(&location, data::store_config(Durability::Buffered))?;
    let to_stdout = args.out.as_os_str() == "-";
    let result = if to_stdout {
        let stdout = std::io::stdout();
        let mut out = BufWriter::new(stdout.lock());
        write_events(store.log(), &mut out).and_then(|n| {
            out.flush()
                .map_err(|e| CliError::data(format!("cannot write to stdout: {e}")))?;
            Ok(n)
        })
    } else {
        export_to_file(store.log(), &args.out)
    };
    let closed = store
        .close(0)
        .map_err(|e| data_error(&format!("cannot close the log of {location}"), &e));
    let n = result?;
    closed?;
    if !to_stdout {
        emit_err(&format!("exported {n} events to {}", args.out.display()));
    }
    Ok(())
}

/// Writes into a temporary file beside `out`, renamed over it once complete: `out` is written
/// whole or not at all.
fn export_to_file(store: &dyn EventStore, out: &Path) -> CliResult<u64> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(CliError::usage(format!(
            "cannot write {}: {} is not a directory",
            out.display(),
            parent.display()
        )));
    }
    if out.is_dir() {
        return Err(CliError::usage(format!(
            "--out {} is a directory",
            out.display()
        )));
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    let tmp = parent.join(format!(".{name}.{}.partial", std::process::id()));
    let written = (|| {
        let file = File::create(&tmp)
            .map_err(|e| CliError::data(format!("cannot create {}: {e}", tmp.display())))?;
        let mut w = BufWriter::new(file);
        let n = write_events(store, &mut w)?;
        let file = w
            .into_inner()
            .map_err(|e| CliError::data(format!("cannot write {}: {e}", tmp.display())))?;
        file.sync_all()
            .map_err(|e| CliError::data(format!("cannot sync {}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, out)
            .map_err(|e| CliError::data(format!("cannot rename to {}: {e}", out.display())))?;
        Ok(n)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Writes every event up to the head when the export started; returns how many.
fn write_events(store: &dyn EventStore, out: &mut dyn Write) -> CliResult<u64> {
    let head = store
        .head()
        .map_err(|e| data_error("cannot read the log's head", &e))?
        .0;
    let bar = progress::events(head, "export");
    let mut next = 1u64;
    let mut line = Vec::new();
    while next <= head {
        for event in data::read_page(store, next, head, "the log")? {
            line.clear();
            serde_json::to_writer(&mut line, &ExportedEvent::from_stored(&event))
                .map_err(|e| CliError::data(format!("cannot encode event {next}: {e}")))?;
            line.push(b'\n');
            out.write_all(&line)
                .map_err(|e| CliError::data(format!("cannot write the export: {e}")))?;
            next += 1;
        }
        bar.set_position(next - 1);
    }
    bar.finish_and_clear();
    Ok(head)
}

// ---- import ---------------------------------------------------------------------------------

/// Reads the non-empty lines of an export file, bounded in length, with their line numbers.
struct Lines {
    reader: BufReader<File>,
    number: u64,
    buf: Vec<u8>,
}

impl Lines {
    fn open(path: &Path) -> CliResult<Self> {
        let file = File::open(path)
            .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(CliError::usage(format!(
                "{} is a directory",
                path.display()
            )));
        }
        Ok(Lines {
            reader: BufReader::with_capacity(1 << 20, file),
            number: 0,
            buf: Vec::new(),
        })
    }

    /// The next event line, parsed.
    fn next_event(&mut self) -> CliResult<Option<(u64, ExportedEvent)>> {
        loop {
            self.buf.clear();
            let n = (&mut self.reader)
                .take(MAX_LINE_BYTES + 1)
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| CliError::usage(format!("cannot read the import file: {e}")))?;
            if n == 0 {
                return Ok(None);
            }
            self.number += 1;
            if n as u64 > MAX_LINE_BYTES {
                return Err(CliError::usage(format!(
                    "line {}: longer than {MAX_LINE_BYTES} bytes",
                    self.number
                )));
            }
            let line = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let text = std::str::from_utf8(line)
                .map_err(|e| CliError::usage(format!("line {}: not UTF-8: {e}", self.number)))?;
            let event: ExportedEvent = serde_json::from_str(text).map_err(|e| {
                CliError::usage(format!("line {}: not an exported event: {e}", self.number))
            })?;
            return Ok(Some((self.number, event)));
        }
    }
}

/// What the check pass learnt.
struct Checked {
    events: u64,
    streams: usize,
}

/// Reads the whole file and checks that it is a complete, consistent log.
fn check_file(path: &Path) -> CliResult<Checked> {
    let mut lines = Lines::open(path)?;
    let mut heads: HashMap<String, u64> = HashMap::new();
    let mut ids: HashSet<Uuid> = HashSet::new();
    let mut last_recorded: Option<DateTime<Utc>> = None;
    let mut expected = 1u64;
    let spinner = progress::spinner("checking the import file");
    while let Some((line, e)) = lines.next_event()? {
        let bad = |why: String| CliError::usage(format!("line {line}: {why}"));
        if e.position != expected {
            return Err(bad(format!(
                "position {} where {expected} was expected (positions are dense from 1)",
                e.position
            )));
        }
        StreamId::new(&e.stream).map_err(|err| bad(err.to_string()))?;
        let head = heads.entry(e.stream.clone()).or_insert(0);
        if e.version != *head + 1 {
            return Err(bad(format!(
                "version {} of stream {} where {} was expected",
                e.version,
                e.stream,
                *head + 1
            )));
        }
        *head = e.version;
        if last_recorded.is_some_and(|last| e.recorded_at < last) {
            return Err(bad(
                "recorded_at goes back in time (the log's recorded times never decrease)".into(),
            ));
        }
        last_recorded = Some(e.recorded_at);
        if !ids.insert(e.event_id) {
            return Err(bad(format!("event id {} appears twice", e.event_id)));
        }
        if e.event_type.is_empty() || e.schema_version == 0 {
            return Err(bad("empty event_type or schema_version 0".into()));
        }
        e.payload_bytes().map_err(bad)?;
        expected += 1;
        if expected.is_multiple_of(4096) {
            spinner.set_message(format!("checking the import file: {expected} events"));
        }
    }
    spinner.finish_and_clear();
    Ok(Checked {
        events: expected - 1,
        streams: heads.len(),
    })
}

/// Runs `opsledger import`.
pub fn import(args: &ImportArgs) -> CliResult {
    if let Some(url) = &args.store {
        return import_into_database(args, url);
    }
    let target = &args.data;
    if !data::is_missing_or_empty_dir(target)? {
        return Err(CliError::data(format!(
            "refusing to import into {}: it is not empty (import only into a new or empty data \
             directory; nothing was written)",
            target.display()
        )));
    }
    let checked = check_file(&args.file)?;
    let existed = target.exists();
    let location = data::Location::Directory(target.clone());
    let result =
        write_log(&args.file, &location, checked.events).and_then(|()| build_views(&location));
    if let Err(e) = result {
        // Leave the target as it was: absent, or empty.
        if existed {
            if let Ok(entries) = std::fs::read_dir(target) {
                for entry in entries.flatten() {
                    let path = entry.path();
                    let _ = if path.is_dir() {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                }
            }
        } else {
            let _ = std::fs::remove_dir_all(target);
        }
        return Err(e);
    }
    emit_err(&format!(
        "imported {} events ({} streams) into {}",
        checked.events,
        checked.streams,
        target.display()
    ));
    Ok(())
}

/// `import --store URL`: into a new schema, written as `NAME_partial` and renamed to `NAME`
/// once complete and its projections built (dropped on a failure).
fn import_into_database(args: &ImportArgs, url: &str) -> CliResult {
    if !opsledger::is_database_url(url) {
        return Err(CliError::usage(format!(
            "--store takes a postgres:// URL, not {}; a data directory goes in --data",
            data::redact(url)
        )));
    }
    let target = crate::migrate::Target::database(url, "import", "--store")?;
    let checked = check_file(&args.file)?;
    let partial = data::Location::Database(target.partial()?);
    let result = write_log(&args.file, &partial, checked.events)
        .and_then(|()| build_views(&partial))
        .and_then(|()| target.commit());
    if let Err(e) = result {
        target.discard();
        return Err(e);
    }
    emit_err(&format!(
        "imported {} events ({} streams) into {}",
        checked.events,
        checked.streams,
        target.describe()
    ));
    Ok(())
}

/// Appends every event of `file` to a new log at `target`, each with its recorded time.
fn write_log(file: &Path, target: &data::Location, total: u64) -> CliResult {
    if let data::Location::Directory(dir) = target {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::data(format!("cannot create {}: {e}", dir.display())))?;
    }
    let (clock, config) = replay::clock_and_config();
    let store =
        opsledger::create_storage_at(&target.text()?, config, opsledger::DirectoryKind::Sqlite)
            .map_err(|e| data_error(&format!("cannot create the log in {target}"), &e))?;
    let bar = progress::events(total, "import");
    let mut lines = Lines::open(file)?;
    let appended = (|| {
        let mut replayer = Replayer::new(store.log(), &clock);
        while let Some((line, e)) = lines.next_event()? {
            bar.inc(replayer.push(e.into_original(line)?)?);
        }
        bar.inc(replayer.finish()?);
        store
            .flush()
            .map_err(|err| data_error("cannot flush the imported log", &err))
    })();
    bar.finish_and_clear();
    let closed = store
        .close(0)
        .map_err(|err| data_error("cannot close the imported log", &err));
    appended?;
    closed
}

/// Opens the engine on the imported log: it builds every projection from it. With no
/// process-manager checkpoint yet, the engine takes the history as processed and runs no
/// follow-up (they are in the log already).
fn build_views(target: &data::Location) -> CliResult {
    let spinner = progress::spinner("building the projections");
    let engine = data::open_engine_at(target)?;
    let report = engine
        .stats()
        .map_err(|e| data_error("cannot read the engine's state", &e))?;
    spinner.finish_and_clear();
    if report.views_checkpoint != report.head {
        return Err(CliError::data(format!(
            "the projections reached position {} of {}",
            report.views_checkpoint, report.head
        )));
    }
    engine
        .close()
        .map_err(|e| data_error("cannot close the engine", &e))
}
