//! `opsledger backup`: a consistent copy of a data directory, in use by a server or not.
//!
//! The storage is opened read-only beside whoever uses it, and copies itself (the log and the
//! projections as of one instant) into `<out>.partial`, renamed to `<out>` once complete. The
//! copy is a data directory: `opsledger serve --data OUT` opens it, so restoring is pointing a
//! server at it (or moving it where the old directory was, with the server stopped).
//!
//! A PostgreSQL database (`--store URL`) is backed up into a new SQLite data directory, beside
//! the servers using it: its log is checked whole, then the events `1..=head`, with `head` read
//! when the copy starts, are copied, read back against the source field by field, and the
//! projections built from them (the code of `opsledger migrate`). Positions are dense and
//! given in commit order (the head row is updated in each append's transaction), so those
//! events are the database as it was at the commit of `head`: a consistent copy, whatever the
//! servers write meanwhile. Restoring is `opsledger migrate --from OUT --to URL` into a new
//! schema. For the server's own backups (every schema, roles, point-in-time recovery), use
//! `pg_dump` or `pg_basebackup` (docs/OPERATIONS.md).

use crate::cli::{BackupArgs, StoreKind};
use crate::data::{self, NewDirectory};
use crate::error::{CliError, CliResult, data_error};
use crate::migrate;
use crate::output::{self, emit};
use crate::progress;
use opsledger::store::{Durability, StoreError};
use std::time::Instant;

/// Runs `opsledger backup`.
pub fn run(args: &BackupArgs) -> CliResult {
    if args.store.is_some() {
        return back_up_database(args);
    }
    let started = Instant::now();
    data::require_log(&args.data)?;
    let out = NewDirectory::check(&args.out, "back up", false)?;
    out.refuse_inside(&args.data)?;
    let storage = data::open_log(&args.data, data::store_config(Durability::Buffered))?;
    let kind = storage.kind();
    let spinner = progress::spinner("copying");
    let copied = storage.backup(&out.path);
    spinner.finish_and_clear();
    let closed = storage.close(0);
    copied.map_err(|e| match e {
        StoreError::Unsupported(_) => CliError::data(format!(
            "{} holds a {kind} log, which cannot copy itself while open; stop the server using \
             it and run `opsledger migrate --from {} --to {} --store {kind}` (nothing was \
             written)",
            args.data.display(),
            args.data.display(),
            out.path.display()
        )),
        e => data_error(&format!("cannot back up {}", args.data.display()), &e),
    })?;
    closed.map_err(|e| {
        data_error(
            &format!("cannot close the log of {}", args.data.display()),
            &e,
        )
    })?;
    report(
        &args.location(),
        kind,
        &out,
        started,
        &format!(
            "`opsledger serve --data {}` opens the copy as it is",
            out.path.display()
        ),
    )
}

/// `backup --store URL`: the database's log as of one commit, into a new SQLite directory.
fn back_up_database(args: &BackupArgs) -> CliResult {
    let started = Instant::now();
    let location = args.location();
    data::require(&location)?;
    let out = NewDirectory::check(&args.out, "back up", false)?;
    let source = data::open_log_at(&location, data::store_config(Durability::Buffered))?;
    let name = location.to_string();
    let partial = out
        .partial
        .to_str()
        .map(str::to_owned)
        .ok_or_else(|| CliError::usage(format!("{} is not valid UTF-8", out.path.display())));
    let result = partial.and_then(|partial| {
        migrate::check_source(source.log(), &name)
            .and_then(|()| migrate::copy_checked(source.log(), &partial, StoreKind::Sqlite))
    });
    let closed = source
        .close(0)
        .map_err(|e| data_error(&format!("cannot close the log of {name}"), &e));
    if let Err(e) = result.and(closed).and_then(|()| out.commit()) {
        out.discard();
        return Err(e);
    }
    report(
        &location,
        "postgres",
        &out,
        started,
        &format!(
            "`opsledger serve --data {0}` opens the copy as it is; `opsledger migrate --from {0} \
             --to URL` puts it into a new schema of a database",
            out.path.display()
        ),
    )
}

/// Prints what the copy holds, read from the copy itself: the source may have moved on.
fn report(
    source: &data::Location,
    kind: &str,
    out: &NewDirectory,
    started: Instant,
    restore: &str,
) -> CliResult {
    // Opened for writing (nothing is written): only a writer's close leaves no `-wal`/`-shm`
    // files.
    let copy = opsledger::open_storage(&out.path, data::store_config(Durability::Buffered), false)
        .map_err(|e| data_error(&format!("cannot open the copy {}", out.path.display()), &e))?;
    let head = copy.log().head();
    let closed = copy.close(0);
    let head = head.map_err(|e| data_error("cannot read the copy's head", &e))?;
    closed.map_err(|e| data_error("cannot close the copy", &e))?;
    let bytes = data::size_on_disk(&out.path)?;
    emit(&format!(
        "backed up {source} ({kind}) to {}\n  events          {}\n  bytes           {}\n  seconds         {:.2}\n\
         restore: {restore}\n",
        out.path.display(),
        output::count(head.0),
        output::bytes(bytes),
        started.elapsed().as_secs_f64(),
    ))
}
