//! `opsledger verify`: the integrity of the event log and of the projections.

use crate::cli::DataArgs;
use crate::data;
use crate::error::{CliError, CliResult, Failure, data_error};
use crate::output::emit;
use crate::progress;
use opsledger::store::Durability;

/// Faults printed one by one; the rest are counted.
const SHOWN_FAULTS: usize = 50;

/// Runs `opsledger verify`: scans the whole log (checksums, dense positions and versions,
/// indexes, unique ids), then opens the engine as `serve` would and checks that the
/// projections reach the log's head. Prints a report on stdout; exits 1 when a problem was
/// found.
pub fn run(args: &DataArgs) -> CliResult {
    let mut out = String::new();
    let result = check(args, &mut out);
    emit(&out)?;
    result
}

/// Appends a line to the report.
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}

fn check(args: &DataArgs, out: &mut String) -> CliResult {
    let location = args.location();
    data::require(&location)?;
    match &location {
        data::Location::Directory(dir) => say!(out, "data directory: {}", dir.display()),
        data::Location::Database(_) => say!(out, "database: {location}"),
    }

    // 1. The log alone, without the engine (nothing is projected, nothing runs).
    let store = match data::open_log_at(&location, data::store_config(Durability::Buffered)) {
        Ok(store) => store,
        Err(e) => return corrupt_at_open(e, &location, out),
    };
    let spinner = progress::spinner("scanning the log");
    let report = store.log().verify();
    spinner.finish_and_clear();
    let closed = store.close(0);
    let report = report.map_err(|e| data_error("cannot scan the log", &e))?;
    closed.map_err(|e| data_error("cannot close the log", &e))?;
    say!(out, "event log:");
    say!(out, "  head                {}", report.head);
    say!(out, "  events checked      {}", report.events_checked);
    say!(out, "  streams             {}", report.streams);
    say!(
        out,
        "  index entries       {}",
        report.index_entries_checked
    );
    say!(out, "  faults              {}", report.fault_count);
    for fault in report.faults.iter().take(SHOWN_FAULTS) {
        say!(out, "    {fault}");
    }
    if report.fault_count > SHOWN_FAULTS as u64 {
        say!(
            out,
            "    ... and {} more",
            report.fault_count - SHOWN_FAULTS as u64
        );
    }
    if !report.is_clean() {
        say!(
            out,
            "verify: FAILED: the event log has {} fault(s)",
            report.fault_count
        );
        return Err(CliError::reported(Failure::Refused));
    }

    // 2. The projections: open the engine (it catches them up, or rebuilds them when they
    //    disagree with the log) and check they reach the head.
    let (engine, _copy) = data::open_engine_for_reading_at(&location)?;
    let stats = engine
        .stats()
        .map_err(|e| data_error("cannot read the engine's state", &e))?;
    engine
        .close()
        .map_err(|e| data_error("cannot close the engine", &e))?;
    say!(out, "projections:");
    say!(
        out,
        "  checkpoint          {} (log head {})",
        stats.views_checkpoint,
        stats.head
    );
    say!(out, "  process managers    {}", stats.process_checkpoint);
    say!(
        out,
        "  at open             {}",
        if stats.open.views_rebuilt {
            "inconsistent with the log: rebuilt from it (repaired)".to_owned()
        } else if stats.open.views_events_applied > 0 {
            format!(
                "{} event(s) behind the log: caught up (repaired)",
                stats.open.views_events_applied
            )
        } else {
            "current".to_owned()
        }
    );
    if stats.views_checkpoint != stats.head {
        say!(
            out,
            "verify: FAILED: the projections do not reach the log's head"
        );
        return Err(CliError::reported(Failure::Refused));
    }
    say!(out, "verify: OK");
    Ok(())
}

/// The store refuses to open a damaged log (e.g. shorter than its durability mark): that is
/// a finding of `verify`, not a usage problem.
fn corrupt_at_open(e: CliError, location: &data::Location, out: &mut String) -> CliResult {
    if e.message.contains("corrupt") {
        say!(out, "event log: cannot be opened: {}", e.message);
        say!(
            out,
            "verify: FAILED: the event log of {location} is damaged"
        );
        return Err(CliError::reported(Failure::Refused));
    }
    Err(e)
}
