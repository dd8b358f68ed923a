//! Where `tracing` output goes: stderr (stdout carries results, and for `serve --stdio` the
//! protocol), as text for people or as one JSON object per line for log collectors.
//!
//! The filter is `RUST_LOG` when set, else the command's default (`info` for `serve`, `warn`
//! for the others). The access log of `serve` is the target `opsledger::access`
//! (`RUST_LOG=info,opsledger::access=warn` silences it).

use crate::cli::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Errors if one is installed already or the filter does not
/// parse (the caller goes on without logs rather than failing the command).
pub fn init(default_filter: &str, format: LogFormat) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(spec),
        _ => EnvFilter::try_new(default_filter),
    }
    .map_err(|e| e.to_string())?;
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        // Spans are listed with their fields, so a line from inside a command says which
        // command, and which request (its id) it served.
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .flatten_event(true)
            .try_init(),
    }
    .map_err(|e| e.to_string())
}
