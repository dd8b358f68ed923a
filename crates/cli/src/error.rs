//! Errors of the `opsledger` binary and the exit codes they map to.

use std::fmt;
use std::process::ExitCode;

/// What went wrong, broadly; each kind has its own exit code (documented in the crate README
/// and in `opsledger --help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The operation ran and answered "no": `call` got a JSON-RPC error object, `verify`
    /// found faults, `policy validate` found problems, the server refused a `policy`
    /// subcommand. Exit code 1.
    Refused,
    /// The command line or an input (params JSON, an import file, a date) is invalid; nothing
    /// was written. Exit code 2 (clap's own usage errors use 2 as well).
    Usage,
    /// The data directory or the engine failed: missing or non-empty directory, locked by
    /// another process, corrupt log, I/O. Exit code 3.
    Data,
    /// The server could not be reached or answered with an HTTP error (401, 413, ...). Exit
    /// code 4.
    Transport,
}

impl Failure {
    /// The process exit code of this kind.
    pub fn exit_code(self) -> u8 {
        match self {
            Failure::Refused => 1,
            Failure::Usage => 2,
            Failure::Data => 3,
            Failure::Transport => 4,
        }
    }
}

/// An error with its kind and a message for people (printed to stderr as `opsledger: ...`).
#[derive(Debug)]
pub struct CliError {
    /// The kind (and so the exit code).
    pub failure: Failure,
    /// What happened, and what to do about it when that is known.
    pub message: String,
    /// Already printed (the JSON-RPC error of `call`, the report of `verify`): only the exit
    /// code remains to be given.
    pub reported: bool,
}

impl CliError {
    /// An error of kind `failure`.
    pub fn new(failure: Failure, message: impl Into<String>) -> Self {
        CliError {
            failure,
            message: message.into(),
            reported: false,
        }
    }

    /// A usage error (exit code 2).
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(Failure::Usage, message)
    }

    /// A data-directory or engine error (exit code 3).
    pub fn data(message: impl Into<String>) -> Self {
        CliError::new(Failure::Data, message)
    }

    /// A transport error (exit code 4).
    pub fn transport(message: impl Into<String>) -> Self {
        CliError::new(Failure::Transport, message)
    }

    /// An error whose details were already printed.
    pub fn reported(failure: Failure) -> Self {
        CliError {
            failure,
            message: String::new(),
            reported: true,
        }
    }

    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.failure.exit_code())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// Result of a subcommand.
pub type CliResult<T = ()> = Result<T, CliError>;

/// An engine or store error as a data error, with a hint when another process holds the
/// directory.
pub fn data_error(context: &str, e: &dyn std::fmt::Display) -> CliError {
    let text = e.to_string();
    let hint = if text.contains("lock") || text.contains("WouldBlock") || text.contains("in use") {
        " (is another opsledger process, such as `opsledger serve`, using this directory? \
         Stop it, or talk to it with `opsledger call --url`)"
    } else {
        ""
    };
    CliError::data(format!("{context}: {text}{hint}"))
}
