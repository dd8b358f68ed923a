//! `opsledger backup`: a consistent copy of a data directory, in use by a server or not.
//!
//! The storage is opened read-only beside whoever uses it, and copies itself (the log and the
//! projections as of one instant) into `<out>.partial`, renamed to `<out>` once complete. The
//! copy is a data directory: `opsledger serve --data OUT` opens it, so restoring is pointing a
//! server at it (or moving it where the old directory was, with the server stopped).

use crate::cli::BackupArgs;
use crate::data::{self, NewDirectory};
use crate::error::{CliError, CliResult, data_error};
use crate::output::{self, emit};
use crate::progress;
use opsledger::store::{Durability, StoreError};
use std::time::Instant;

/// Runs `opsledger backup`.
pub fn run(args: &BackupArgs) -> CliResult {
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
    // What the copy holds, read from the copy itself: the source may have moved on. Opened
    // for writing (nothing is written): only a writer's close leaves no `-wal`/`-shm` files.
    let copy = opsledger::open_storage(&out.path, data::store_config(Durability::Buffered), false)
        .map_err(|e| data_error(&format!("cannot open the copy {}", out.path.display()), &e))?;
    let head = copy.log().head();
    let closed = copy.close(0);
    let head = head.map_err(|e| data_error("cannot read the copy's head", &e))?;
    closed.map_err(|e| data_error("cannot close the copy", &e))?;
    let bytes = data::size_on_disk(&out.path)?;
    emit(&format!(
        "backed up {} ({kind}) to {}\n  events          {}\n  bytes           {}\n  seconds         {:.2}\n\
         restore: `opsledger serve --data {}` opens the copy as it is\n",
        args.data.display(),
        out.path.display(),
        output::count(head.0),
        output::bytes(bytes),
        started.elapsed().as_secs_f64(),
        out.path.display()
    ))
}
