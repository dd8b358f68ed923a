//! Newline-delimited JSON: one message per line in, one response per line out.
//!
//! - A line is read up to `\n` (a trailing `\r` is dropped); blank lines are skipped.
//! - A line longer than the limit is never buffered whole: the rest of it is read and
//!   discarded, and the line is answered with one -32099 error (`id` null).
//! - Notifications and all-notification batches write nothing.
//! - Responses are compact JSON (never containing a raw newline) followed by `\n`, flushed
//!   after each.
//! - Nothing but responses is written to the writer; logs go to stderr through `tracing`.
//! - End of input ends the loop; a final line without `\n` is still handled.

use crate::context::{CallContext, Identity, TransportKind};
use crate::dispatcher::{Dispatcher, limit_error_response};
use crate::limits::LimitExceeded;
use std::io::{self, BufRead, Write};

/// Options for [`serve_stdio_with`].
#[derive(Debug, Clone)]
pub struct StdioOptions {
    /// The caller's context; by default a trusted local caller without a default identity (the
    /// params name the actor).
    pub context: CallContext,
    /// The longest accepted line in bytes; `None` means the dispatcher's
    /// [`max_request_bytes`](crate::Limits::max_request_bytes).
    pub max_line_bytes: Option<usize>,
}

impl Default for StdioOptions {
    fn default() -> Self {
        StdioOptions {
            context: CallContext::local(TransportKind::Stdio, None),
            max_line_bytes: None,
        }
    }
}

impl StdioOptions {
    /// Options whose context carries `identity` as the default acting identity (the params
    /// may still name another actor: stdio trusts its parent process).
    pub fn with_default_identity(identity: Identity) -> Self {
        StdioOptions {
            context: CallContext::local(TransportKind::Stdio, Some(identity)),
            max_line_bytes: None,
        }
    }
}

/// Serves newline-delimited JSON-RPC from `reader` to `writer` with default options until end
/// of input. Returns the number of lines handled.
pub fn serve_stdio<R: BufRead, W: Write>(
    dispatcher: &Dispatcher,
    reader: R,
    writer: W,
) -> io::Result<u64> {
    serve_stdio_with(dispatcher, &StdioOptions::default(), reader, writer)
}

/// Serves newline-delimited JSON-RPC from `reader` to `writer` until end of input. Returns the
/// number of lines handled (blank lines not counted). An I/O error on either side ends the loop
/// with that error.
pub fn serve_stdio_with<R: BufRead, W: Write>(
    dispatcher: &Dispatcher,
    options: &StdioOptions,
    mut reader: R,
    mut writer: W,
) -> io::Result<u64> {
    let max = options
        .max_line_bytes
        .unwrap_or(dispatcher.limits().max_request_bytes);
    let mut line = Vec::new();
    let mut handled = 0u64;
    loop {
        line.clear();
        let response = match read_line_bounded(&mut reader, &mut line, max)? {
            Line::Eof => return Ok(handled),
            Line::TooLong => {
                tracing::warn!(max, "stdio line over the limit; answered and skipped");
                Some(limit_error_response(
                    LimitExceeded::RequestBytes,
                    dispatcher.limits(),
                ))
            }
            Line::Complete => {
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                dispatcher.handle_bytes(&options.context, &line)
            }
        };
        handled += 1;
        if let Some(response) = response {
            writer.write_all(response.as_bytes())?;
            writer.write_all(b"\n")?;
            writer.flush()?;
        }
    }
}

enum Line {
    Complete,
    TooLong,
    Eof,
}

/// Reads one line (without its `\n`) into `buf`, holding at most `max` bytes (plus one for a
/// trailing `\r`); a longer line is consumed to its end and reported as too long.
fn read_line_bounded<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Line> {
    let cap = max.saturating_add(1);
    let mut too_long = false;
    let mut read_any = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(if read_any {
                finish(buf, too_long, max)
            } else {
                Line::Eof
            });
        }
        read_any = true;
        let (chunk, used, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], i + 1, true),
            None => (available, available.len(), false),
        };
        if !too_long {
            if buf.len() + chunk.len() > cap {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        reader.consume(used);
        if done {
            return Ok(finish(buf, too_long, max));
        }
    }
}

/// A line of exactly `max` bytes plus a `\r` is fine; `max + 1` bytes before it are not.
fn finish(buf: &mut Vec<u8>, too_long: bool, max: usize) -> Line {
    let real = buf.len() - usize::from(buf.last() == Some(&b'\r'));
    if too_long || real > max {
        buf.clear();
        Line::TooLong
    } else {
        Line::Complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<Result<Vec<u8>, &'static str>> {
        let mut r = io::BufReader::with_capacity(4, input);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match read_line_bounded(&mut r, &mut buf, max).unwrap() {
                Line::Eof => return out,
                Line::TooLong => out.push(Err("too long")),
                Line::Complete => out.push(Ok(buf.clone())),
            }
        }
    }

    #[test]
    fn bounded_lines() {
        assert_eq!(
            lines(b"abc\ndefghijk\n\nxy", 5),
            vec![
                Ok(b"abc".to_vec()),
                Err("too long"),
                Ok(vec![]),
                Ok(b"xy".to_vec())
            ]
        );
        assert_eq!(lines(b"abcde\r\n", 5), vec![Ok(b"abcde\r".to_vec())]);
        assert_eq!(lines(b"abcdef\n", 5), vec![Err("too long")]);
        assert_eq!(lines(b"abcdef", 5), vec![Err("too long")]);
        assert_eq!(lines(b"", 5), vec![]);
    }
}
