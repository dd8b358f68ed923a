//! Limits on what one message may cost, checked before the message is parsed.
//!
//! A message over a limit is answered with a single error object, code
//! [`crate::codes::LIMIT_EXCEEDED`] (-32099), `id` null, and
//! `data = {"limit": NAME, "max": N}`; nothing in it runs.

use crate::error::{ErrorObject, codes};
use serde_json::json;

/// The deepest nesting the parser supports (serde_json stops at 128 levels); a configured
/// [`Limits::max_depth`] above it is lowered to it.
pub const MAX_SUPPORTED_DEPTH: usize = 127;

/// Per-message limits. Every message is scanned against them in one pass over its bytes before
/// it is parsed, so a hostile message costs O(bytes) and never recursion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes a message (single request or batch) may have. Default 1 MiB.
    pub max_request_bytes: usize,
    /// The most requests a batch may hold. Default 100.
    pub max_batch_len: usize,
    /// The deepest nesting of arrays and objects, counting the request object itself and the
    /// batch array around it (`{"params":{"a":[1]}}` is 3 deep). Default 32; at most
    /// [`MAX_SUPPORTED_DEPTH`].
    pub max_depth: usize,
    /// The most bytes a single JSON string (a key or a value) may have, measured as written,
    /// escapes included, quotes excluded. Default 64 KiB.
    pub max_string_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 1024 * 1024,
            max_batch_len: 100,
            max_depth: 32,
            max_string_bytes: 64 * 1024,
        }
    }
}

/// Which limit a message exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitExceeded {
    /// [`Limits::max_request_bytes`].
    RequestBytes,
    /// [`Limits::max_batch_len`].
    BatchLen,
    /// [`Limits::max_depth`].
    Depth,
    /// [`Limits::max_string_bytes`].
    StringBytes,
}

impl LimitExceeded {
    /// The limit's name, as sent in `data.limit`.
    pub fn name(self) -> &'static str {
        match self {
            LimitExceeded::RequestBytes => "max_request_bytes",
            LimitExceeded::BatchLen => "max_batch_len",
            LimitExceeded::Depth => "max_depth",
            LimitExceeded::StringBytes => "max_string_bytes",
        }
    }

    fn message(self) -> &'static str {
        match self {
            LimitExceeded::RequestBytes => "Request too large",
            LimitExceeded::BatchLen => "Batch too large",
            LimitExceeded::Depth => "Request nested too deeply",
            LimitExceeded::StringBytes => "String too long",
        }
    }

    /// The error object answering a message over this limit, given the configured `limits`.
    pub fn to_error_object(self, limits: &Limits) -> ErrorObject {
        let max = match self {
            LimitExceeded::RequestBytes => limits.max_request_bytes,
            LimitExceeded::BatchLen => limits.max_batch_len,
            LimitExceeded::Depth => limits.effective_depth(),
            LimitExceeded::StringBytes => limits.max_string_bytes,
        };
        ErrorObject::new(codes::LIMIT_EXCEEDED, self.message())
            .with_data(json!({"limit": self.name(), "max": max}))
    }
}

impl Limits {
    /// [`Limits::max_depth`], lowered to [`MAX_SUPPORTED_DEPTH`].
    pub fn effective_depth(&self) -> usize {
        self.max_depth.min(MAX_SUPPORTED_DEPTH)
    }

    /// Checks a message's size, nesting depth and string lengths in one pass over its bytes,
    /// without parsing it. Malformed JSON passes (the parser reports it) unless it trips a limit
    /// first.
    pub fn scan(&self, message: &[u8]) -> Result<(), LimitExceeded> {
        if message.len() > self.max_request_bytes {
            return Err(LimitExceeded::RequestBytes);
        }
        let max_depth = self.effective_depth();
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        let mut string_bytes = 0usize;
        for &b in message {
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                    continue;
                }
                string_bytes += 1;
                if string_bytes > self.max_string_bytes {
                    return Err(LimitExceeded::StringBytes);
                }
            } else {
                match b {
                    b'"' => {
                        in_string = true;
                        string_bytes = 0;
                    }
                    b'[' | b'{' => {
                        depth += 1;
                        if depth > max_depth {
                            return Err(LimitExceeded::Depth);
                        }
                    }
                    b']' | b'}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_every_container_outside_strings() {
        let l = Limits {
            max_depth: 3,
            ..Limits::default()
        };
        assert_eq!(l.scan(br#"{"params":{"a":[1]}}"#), Ok(()));
        assert_eq!(
            l.scan(br#"[{"params":{"a":[1]}}]"#),
            Err(LimitExceeded::Depth)
        );
        assert_eq!(l.scan(br#"{"a":"[[[[[[{{{{"}"#), Ok(()));
        assert_eq!(l.scan(br#"{"a":"\"[[[[[["}"#), Ok(()));
        assert_eq!(
            l.scan(&[b'['; 1_000_000][..1000]),
            Err(LimitExceeded::Depth)
        );
    }

    #[test]
    fn strings_are_measured_as_written() {
        let l = Limits {
            max_string_bytes: 4,
            ..Limits::default()
        };
        assert_eq!(l.scan(br#"{"abcd":"wxyz"}"#), Ok(()));
        assert_eq!(l.scan(br#"{"abcde":1}"#), Err(LimitExceeded::StringBytes));
        assert_eq!(l.scan(br#"["\n\n\n"]"#), Err(LimitExceeded::StringBytes));
    }

    #[test]
    fn size_and_depth_caps() {
        let l = Limits {
            max_request_bytes: 4,
            ..Limits::default()
        };
        assert_eq!(l.scan(b"12345"), Err(LimitExceeded::RequestBytes));
        let deep = Limits {
            max_depth: 10_000,
            ..Limits::default()
        };
        assert_eq!(deep.effective_depth(), MAX_SUPPORTED_DEPTH);
        let e = LimitExceeded::Depth.to_error_object(&deep);
        assert_eq!(e.code, codes::LIMIT_EXCEEDED);
        assert_eq!(e.data, Some(json!({"limit": "max_depth", "max": 127})));
    }
}
