//! Writing results to stdout without panicking when the reader went away (`| head`).

use crate::error::{CliError, CliResult};
use std::io::{ErrorKind, Write};

/// Writes `text` to stdout and flushes. A closed pipe is not an error: the reader has what it
/// wanted.
pub fn emit(text: &str) -> CliResult {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::data(format!("cannot write to stdout: {e}"))),
    }
}

/// [`emit`] with a newline.
pub fn emit_line(text: &str) -> CliResult {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    emit(&line)
}

/// Writes a line to stderr; failures to write there are ignored (nowhere left to report them).
pub fn emit_err(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// A count for people, with thousands separators: `1,234,567`.
pub fn count(n: u64) -> String {
    indicatif::HumanCount(n).to_string()
}

/// A size in bytes for people: `1,234,567 (1.18 MiB)`.
pub fn bytes(n: u64) -> String {
    format!("{} ({})", count(n), indicatif::HumanBytes(n))
}
