//! `opsledger migrate`: every event of a data directory, copied into a new one with the same or
//! another storage backend.
//!
//! 1. The source log is checked whole (`verify`: checksums, dense positions and versions,
//!    indexes, unique ids); a damaged source writes nothing.
//! 2. Its events are appended, in position order, into a new log in `<to>.partial` through the
//!    store with a clock that replays each event's recorded time (the code `import` uses), so
//!    positions, streams, versions, ids, both timestamps, actors, correlation and causation ids
//!    and payloads are the source's, byte for byte.
//! 3. The new log is reopened from disk, verified, and read back event by event against the
//!    source: every stored field must be equal, the record checksum included.
//! 4. The engine opens it once, which builds the projections from the log, and closes it.
//! 5. `<to>.partial` is renamed to `<to>`.
//!
//! Any failure removes `<to>.partial`: `<to>` is a complete, checked copy or absent. The copy
//! covers the source's head when the copy started; an SQLite source may be in use by a server
//! meanwhile (it is opened read-only), a sled source may not (sled locks its directory).
//!
//! The projections are rebuilt, not copied, and so is the process managers' checkpoint: the
//! new directory has none, and the engine takes its history as processed (see the README).
//!
//! Either side may be a PostgreSQL database (a `postgres://` URL): the source is opened beside
//! any server using it; the target is written into the schema `NAME_partial` and renamed to
//! `NAME` (which must not exist) in one statement once checked, or dropped on a failure.

use crate::cli::{MigrateArgs, StoreKind};
use crate::data::{self, NewDirectory};
use crate::error::{CliError, CliResult, data_error};
use crate::output::{self, emit};
use crate::progress;
use crate::replay::{self, Original, Replayer};
use opsledger::store::{Durability, EventStore, ManualClock, Storage, StoredEvent};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// What a migration copied.
pub(crate) struct Copied {
    /// Events (the source's head when the copy started).
    pub(crate) events: u64,
    /// Streams.
    pub(crate) streams: u64,
}

/// Where the copy goes: a new data directory, or a new schema of a PostgreSQL database.
pub(crate) enum Target {
    Directory(NewDirectory),
    Database {
        /// The connection string without the schema parameter.
        url: String,
        schema: String,
        partial: String,
    },
}

impl Target {
    fn check(to: &Path, store: StoreKind) -> CliResult<Target> {
        let Some(url) = to.to_str().filter(|t| opsledger::is_database_url(t)) else {
            if store == StoreKind::Postgres {
                return Err(CliError::usage(format!(
                    "--store postgres needs a postgres:// URL in --to, not {}",
                    to.display()
                )));
            }
            return Ok(Target::Directory(NewDirectory::check(to, "migrate", true)?));
        };
        Target::database(url, "migrate", "--to")
    }

    /// A new schema of the database at `url` (`schema=NAME`, default `opsledger`), which must
    /// not exist yet, nor its `NAME_partial`: `what` (a verb, e.g. "import") writes only into
    /// a new schema. `option` names the URL's option in messages.
    pub(crate) fn database(url: &str, what: &str, option: &str) -> CliResult<Target> {
        let (url, options) = opsledger_store_postgres::split_location(url)
            .map_err(|e| CliError::usage(format!("{option}: {e}")))?;
        let schema = options.schema;
        let partial = format!("{schema}_partial");
        let unavailable = |e| data_error(&format!("cannot reach {}", redact(&url)), &e);
        let exists = |name: &str| {
            opsledger_store_postgres::admin::schema_exists(&url, name).map_err(unavailable)
        };
        if exists(&schema)? {
            return Err(CliError::data(format!(
                "refusing to {what} into schema {schema} of {}: it exists ({what} writes only \
                 into a new schema; nothing was written)",
                redact(&url)
            )));
        }
        if exists(&partial)? {
            return Err(CliError::data(format!(
                "refusing to {what} into schema {schema} of {}: schema {partial} exists, perhaps \
                 left over from an interrupted run; drop it first (nothing was written)",
                redact(&url)
            )));
        }
        Ok(Target::Database {
            url,
            schema,
            partial,
        })
    }

    /// Where the copy is written before it is checked.
    pub(crate) fn partial(&self) -> CliResult<String> {
        match self {
            Target::Directory(d) => path_text(&d.partial),
            Target::Database { url, partial, .. } => Ok(with_schema(url, partial)),
        }
    }

    fn kind(&self, store: StoreKind) -> StoreKind {
        match self {
            Target::Directory(_) => store,
            Target::Database { .. } => StoreKind::Postgres,
        }
    }

    /// Puts the complete copy in place under its name.
    pub(crate) fn commit(&self) -> CliResult {
        match self {
            Target::Directory(d) => d.commit(),
            Target::Database {
                url,
                schema,
                partial,
            } => {
                opsledger_store_postgres::admin::rename_schema(url, partial, schema).map_err(|e| {
                    data_error(&format!("cannot rename schema {partial} to {schema}"), &e)
                })
            }
        }
    }

    /// Removes what was written of the copy (after a failure).
    pub(crate) fn discard(&self) {
        match self {
            Target::Directory(d) => d.discard(),
            Target::Database { url, partial, .. } => {
                let _ = opsledger_store_postgres::admin::drop_schema(url, partial);
            }
        }
    }

    /// The target, for people.
    pub(crate) fn describe(&self) -> String {
        match self {
            Target::Directory(d) => d.path.display().to_string(),
            Target::Database { url, schema, .. } => format!("{} (schema {schema})", redact(url)),
        }
    }
}

/// `url` with `schema=NAME` added.
fn with_schema(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}schema={schema}")
}

/// A URL for people: without its password.
fn redact(url: &str) -> String {
    match url.split_once("://").and_then(|(scheme, rest)| {
        let (auth, host) = rest.split_once('@')?;
        Some(format!(
            "{scheme}://{}@{host}",
            auth.split(':').next().unwrap_or_default()
        ))
    }) {
        Some(redacted) => redacted,
        None => url.to_owned(),
    }
}

fn path_text(path: &Path) -> CliResult<String> {
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| CliError::usage(format!("{} is not valid UTF-8", path.display())))
}

/// Runs `opsledger migrate`.
pub fn run(args: &MigrateArgs) -> CliResult {
    let started = Instant::now();
    let from_database = args.from.to_str().is_some_and(opsledger::is_database_url);
    if !from_database {
        data::require_log(&args.from)?;
    }
    let target = Target::check(&args.to, args.store)?;
    if let Target::Directory(d) = &target
        && !from_database
    {
        d.refuse_inside(&args.from)?;
    }
    let from_name = if from_database {
        redact(&path_text(&args.from)?)
    } else {
        args.from.display().to_string()
    };
    let source = if from_database {
        opsledger::open_storage_at(
            &path_text(&args.from)?,
            data::store_config(Durability::Buffered),
            true,
        )
        .map_err(|e| data_error(&format!("cannot open the log of {from_name}"), &e))?
    } else {
        data::open_log(&args.from, data::store_config(Durability::Buffered))?
    };
    let source_kind = source.kind();
    let store = target.kind(args.store);
    let result = target.partial().and_then(|partial| {
        check_source(source.log(), &from_name)
            .and_then(|()| copy_checked(source.log(), &partial, store))
    });
    let closed = source
        .close(0)
        .map_err(|e| data_error(&format!("cannot close the log of {from_name}"), &e));
    let copied = match result.and_then(|copied| closed.map(|()| copied)) {
        Ok(copied) => copied,
        Err(e) => {
            target.discard();
            return Err(e);
        }
    };
    if let Err(e) = target.commit() {
        target.discard();
        return Err(e);
    }
    let mut report = format!(
        "migrated {from_name} ({source_kind}) to {} ({store})\n  events          {}\n  streams         {}\n",
        target.describe(),
        output::count(copied.events),
        output::count(copied.streams),
    );
    if let Target::Directory(d) = &target {
        report.push_str(&format!(
            "  bytes           {}\n",
            output::bytes(data::size_on_disk(&d.path)?)
        ));
    }
    if !from_database {
        report.push_str(&format!(
            "  source bytes    {}\n",
            output::bytes(data::size_on_disk(&args.from)?)
        ));
    }
    report.push_str(&format!(
        "  seconds         {:.2}\n",
        started.elapsed().as_secs_f64()
    ));
    emit(&report)
}

/// Refuses a source log with faults, naming the first.
pub(crate) fn check_source(log: &dyn EventStore, from: &str) -> CliResult {
    let spinner = progress::spinner("checking the source log");
    let report = log
        .verify()
        .map_err(|e| data_error(&format!("cannot check the log of {from}"), &e))?;
    spinner.finish_and_clear();
    if report.is_clean() {
        return Ok(());
    }
    let first = report
        .faults
        .first()
        .map_or_else(String::new, |f| format!("; the first: {f}"));
    Err(CliError::data(format!(
        "the log of {from} has {} fault(s){first}. Nothing was written; see `opsledger verify \
         --data {from}`",
        output::count(report.fault_count),
    )))
}

/// Copies, checks the copy and builds its projections, all in `partial` (created here).
pub(crate) fn copy_checked(
    source: &dyn EventStore,
    partial: &str,
    store: StoreKind,
) -> CliResult<Copied> {
    let head = source
        .head()
        .map_err(|e| data_error("cannot read the source log's head", &e))?
        .0;
    write_copy(source, partial, store, head)?;
    let streams = compare_copy(source, partial, head)?;
    build_views(partial, head)?;
    Ok(Copied {
        events: head,
        streams,
    })
}

/// Creates the new backend at `partial` (a directory, created here, or a database schema), with
/// the clock its appends take their recorded times from.
fn create(partial: &str, store: StoreKind) -> CliResult<(Arc<ManualClock>, Box<dyn Storage>)> {
    if !opsledger::is_database_url(partial) {
        std::fs::create_dir_all(partial)
            .map_err(|e| CliError::data(format!("cannot create {partial}: {e}")))?;
    }
    let (clock, config) = replay::clock_and_config();
    let kind = match store {
        StoreKind::Sled => opsledger::DirectoryKind::Sled,
        StoreKind::Sqlite | StoreKind::Postgres => opsledger::DirectoryKind::Sqlite,
    };
    let created = opsledger::create_storage_at(partial, config, kind).map_err(|e| e.to_string());
    let storage = created.map_err(|e| {
        data_error(
            &format!("cannot create the {store} log in {}", redact(partial)),
            &e,
        )
    })?;
    Ok((clock, storage))
}

/// Appends the source's events `1..=head` to a new log in `partial`, flushed and closed.
fn write_copy(source: &dyn EventStore, partial: &str, store: StoreKind, head: u64) -> CliResult {
    let (clock, target) = create(partial, store)?;
    let bar = progress::events(head, "copy");
    let written = (|| {
        let mut replayer = Replayer::new(target.log(), &clock);
        let mut next = 1u64;
        while next <= head {
            for event in data::read_page(source, next, head, "the source log")? {
                next += 1;
                bar.inc(replayer.push(Original::from_stored(event))?);
            }
        }
        bar.inc(replayer.finish()?);
        target
            .flush()
            .map_err(|e| data_error("cannot flush the new log", &e))
    })();
    bar.finish_and_clear();
    let closed = target
        .close(0)
        .map_err(|e| data_error("cannot close the new log", &e));
    written?;
    closed
}

/// Reopens the new log from disk, verifies it and reads every event back against the source.
/// Returns the number of streams (the same on both sides).
fn compare_copy(source: &dyn EventStore, partial: &str, head: u64) -> CliResult<u64> {
    let copy = opsledger::open_storage_at(partial, data::store_config(Durability::Buffered), true)
        .map_err(|e| data_error("cannot reopen the new log", &e))?;
    let compared = compare_logs(source, copy.log(), head);
    let closed = copy
        .close(0)
        .map_err(|e| data_error("cannot close the new log", &e));
    let streams = compared?;
    closed?;
    Ok(streams)
}

fn compare_logs(source: &dyn EventStore, copy: &dyn EventStore, head: u64) -> CliResult<u64> {
    let spinner = progress::spinner("checking the new log");
    let report = copy
        .verify()
        .map_err(|e| data_error("cannot check the new log", &e))?;
    if !report.is_clean() || report.head.0 != head {
        return Err(CliError::data(format!(
            "the new log fails its check: head {} of {head}, {} fault(s)",
            report.head,
            output::count(report.fault_count)
        )));
    }
    let bar = progress::events(head, "compare");
    let mut next = 1u64;
    let mut streams = 0u64;
    while next <= head {
        let original = data::read_page(source, next, head, "the source log")?;
        let copied = data::read_page(copy, next, head, "the new log")?;
        streams += original.iter().filter(|e| e.version.0 == 1).count() as u64;
        for (a, b) in original.iter().zip(&copied) {
            if let Some(field) = first_difference(a, b) {
                return Err(CliError::data(format!(
                    "the copy of the event at position {} differs from the source in its {field}",
                    a.position
                )));
            }
        }
        next += original.len().min(copied.len()) as u64;
        bar.set_position(next - 1);
    }
    bar.finish_and_clear();
    spinner.finish_and_clear();
    if report.streams != streams {
        return Err(CliError::data(format!(
            "the new log has {} streams where the source has {}",
            output::count(report.streams),
            output::count(streams)
        )));
    }
    Ok(streams)
}

/// The first field in which two stored events differ, if any. Every field is compared, the
/// checksum of the stored record too (it covers the record's encoding, stream numbering
/// included).
fn first_difference(a: &StoredEvent, b: &StoredEvent) -> Option<&'static str> {
    let fields = [
        (a.position == b.position, "position"),
        (a.stream == b.stream, "stream"),
        (a.version == b.version, "version"),
        (a.event_id == b.event_id, "event id"),
        (a.event_type == b.event_type, "event type"),
        (a.schema_version == b.schema_version, "schema version"),
        (a.occurred_at == b.occurred_at, "occurred time"),
        (a.recorded_at == b.recorded_at, "recorded time"),
        (a.actor == b.actor, "actor"),
        (a.correlation_id == b.correlation_id, "correlation id"),
        (a.causation_id == b.causation_id, "causation id"),
        (a.payload == b.payload, "payload"),
        (a.checksum == b.checksum, "record checksum"),
    ];
    let found = fields.iter().find(|(same, _)| !same).map(|(_, name)| *name);
    debug_assert_eq!(
        found.is_none(),
        a == b,
        "a field of StoredEvent is not compared"
    );
    found
}

/// Opens the engine on the new log once: it builds every projection from the log (with no
/// process-manager checkpoint yet, it takes the history as processed: the follow-ups are in
/// the log already), then closes it.
fn build_views(partial: &str, head: u64) -> CliResult {
    let spinner = progress::spinner("building the projections");
    let engine = opsledger::Engine::open_location(partial, data::engine_config())
        .map_err(|e| data_error("cannot open the engine on the new log", &e))?;
    let stats = engine
        .stats()
        .map_err(|e| data_error("cannot read the engine's state", &e))?;
    spinner.finish_and_clear();
    if stats.head != head || stats.views_checkpoint != head {
        return Err(CliError::data(format!(
            "the projections of the new log reached position {} of {head}",
            stats.views_checkpoint
        )));
    }
    engine
        .close()
        .map_err(|e| data_error("cannot close the engine on the new log", &e))
}
