//! The `opsledger` binary: the engine behind JSON-RPC 2.0 (HTTP and stdio), a client for it,
//! and the operator's tools (verify, export/import, migrate, backup, rebuild, KPIs, diagrams,
//! schemas, the policy's versions).
//!
//! Every subcommand and its options are listed by `opsledger --help` and described, with
//! examples, in the crate README. The library part exists so that the binary's pieces can be
//! tested and documented; its API is not meant for other crates.
//!
//! Exit codes: 0 success; 1 the operation answered no (`call` got a JSON-RPC error, `verify`
//! found faults, `policy validate` found problems, `policy publish` was refused); 2 invalid command line or input (nothing was written); 3 data directory or
//! engine failure; 4 transport failure. See [`error::Failure`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backup;
mod binding;
pub mod call;
pub mod cli;
pub mod cmdb;
pub mod data;
pub mod docs;
pub mod error;
pub mod kpi;
pub mod logging;
pub mod migrate;
mod output;
pub mod policy;
mod progress;
pub mod rebuild;
mod replay;
pub mod serve;
pub mod transfer;
pub mod verify;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

/// Parses the command line, runs the subcommand, prints an error (`opsledger: ...` on
/// stderr) and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `serve` logs at info; the other commands only warn. RUST_LOG overrides both. Logs go to
    // stderr: stdout carries results (and, for `serve --stdio`, the protocol).
    let _ = match &cli.command {
        Command::Serve(args) => logging::init("info", args.log_format),
        _ => logging::init("warn", cli::LogFormat::Text),
    };
    let result = match &cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Call(args) => call::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Export(args) => transfer::export(args),
        Command::Import(args) => transfer::import(args),
        Command::ImportCmdb(args) => cmdb::run(args),
        Command::Rebuild(args) => rebuild::run(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Backup(args) => backup::run(args),
        Command::Kpi(args) => kpi::run(args),
        Command::Diagram(args) => docs::diagram(args),
        Command::Schema(args) => docs::schema(args),
        Command::Policy(args) => policy::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !e.reported {
                output::emit_err(&format!("opsledger: {e}"));
            }
            e.exit_code()
        }
    }
}
