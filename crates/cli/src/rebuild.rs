//! `opsledger rebuild`: the projections, rebuilt from the event log.

use crate::cli::DataArgs;
use crate::data;
use crate::error::{CliResult, data_error};
use crate::output::emit_line;
use crate::progress;
use std::time::Instant;

/// Runs `opsledger rebuild`.
pub fn run(args: &DataArgs) -> CliResult {
    let location = args.location();
    let engine = data::open_engine_at(&location)?;
    let head = engine
        .head()
        .map_err(|e| data_error("cannot read the log's head", &e))?;
    let bar = progress::events(head, "rebuild");
    let started = Instant::now();
    engine
        .rebuild_views_with(&mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .map_err(|e| data_error("cannot rebuild the projections", &e))?;
    bar.finish_and_clear();
    engine
        .close()
        .map_err(|e| data_error("cannot close the engine", &e))?;
    emit_line(&format!(
        "rebuilt the projections of {location} from {head} events in {:.2} s",
        started.elapsed().as_secs_f64()
    ))
}
