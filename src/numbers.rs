//! Human numbers: `INC0000001`, `PRB0000001`, `CHG0000001`.
//!
//! Each kind has a numbering stream (`numbers-incident`, `numbers-problem`, `numbers-change`).
//! The append that creates a record also appends one `number.allocated` event to its kind's
//! numbering stream, in the same atomic [`append_multi`](opsledger_store::EventStore::append_multi),
//! expecting the numbering stream's current version. The event's version in that stream *is*
//! the number: numbers are dense (no gaps, no duplicates) because versions are, and a number
//! exists exactly when its record does, because both are one commit.

use crate::error::{EngineError, Result};
use crate::record::RecordRef;
use opsledger_core::RecordKind;
use opsledger_store::StreamId;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// A record's human number: kind prefix and a dense sequence number from 1.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub struct HumanNumber {
    /// Which sequence.
    pub kind: RecordKind,
    /// The sequence number (1 for the first record of the kind).
    pub value: u64,
}

/// The event type of a numbering event.
pub(crate) const NUMBER_EVENT: &str = "number.allocated";

/// Payload of a numbering event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NumberAllocated {
    pub kind: RecordKind,
    pub id: Uuid,
}

impl HumanNumber {
    /// A number of `kind`.
    pub const fn new(kind: RecordKind, value: u64) -> Self {
        Self { kind, value }
    }

    /// The three-letter prefix of a kind: `INC`, `PRB` or `CHG`.
    pub const fn prefix(kind: RecordKind) -> &'static str {
        match kind {
            RecordKind::Incident => "INC",
            RecordKind::Problem => "PRB",
            RecordKind::Change => "CHG",
        }
    }
}

impl fmt::Display for HumanNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:07}", Self::prefix(self.kind), self.value)
    }
}

impl FromStr for HumanNumber {
    type Err = EngineError;

    /// Parses `INC0000042` (case-insensitive prefix, at least one digit, value >= 1).
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            EngineError::invalid(
                "number",
                format!("{s:?} is not a record number such as INC0000001"),
            )
        };
        if s.len() < 4 || s.len() > 24 || !s.is_ascii() {
            return Err(bad());
        }
        let (prefix, digits) = s.split_at(3);
        let kind = match prefix.to_ascii_uppercase().as_str() {
            "INC" => RecordKind::Incident,
            "PRB" => RecordKind::Problem,
            "CHG" => RecordKind::Change,
            _ => return Err(bad()),
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let value: u64 = digits.parse().map_err(|_| bad())?;
        if value == 0 {
            return Err(bad());
        }
        Ok(Self { kind, value })
    }
}

/// The numbering stream of `kind`.
pub(crate) fn numbering_stream(kind: RecordKind) -> StreamId {
    StreamId::new(format!("numbers-{}", kind.as_str()))
        .unwrap_or_else(|_| unreachable!("a fixed ASCII name is a valid stream id"))
}

/// The kind a numbering stream numbers, if `stream` is one.
pub(crate) fn numbering_kind(stream: &str) -> Option<RecordKind> {
    match stream {
        "numbers-incident" => Some(RecordKind::Incident),
        "numbers-problem" => Some(RecordKind::Problem),
        "numbers-change" => Some(RecordKind::Change),
        _ => None,
    }
}

pub(crate) fn allocation_payload(record: RecordRef) -> Vec<u8> {
    serde_json::to_vec(&NumberAllocated {
        kind: record.kind,
        id: record.id,
    })
    .unwrap_or_default()
}

/// `text` with every record id that has a human number written as that number
/// (`PRB0000003` for `0190a9e6-…`): generated text for people names records the way people do.
/// Ids without a number (unknown records, events) stay as they are.
pub(crate) fn name_records(text: &str, number: impl Fn(Uuid) -> Option<HumanNumber>) -> String {
    const LEN: usize = 36;
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i + LEN <= bytes.len() {
        let starts_word = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        let ends_word = bytes
            .get(i + LEN)
            .is_none_or(|b| !b.is_ascii_alphanumeric());
        if starts_word
            && ends_word
            && looks_like_uuid(&bytes[i..i + LEN])
            && let Ok(id) = Uuid::parse_str(&text[i..i + LEN])
            && let Some(n) = number(id)
        {
            out.push_str(&text[copied..i]);
            out.push_str(&n.to_string());
            i += LEN;
            copied = i;
            continue;
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    out
}

/// `8-4-4-4-12` hexadecimal digits.
fn looks_like_uuid(b: &[u8]) -> bool {
    b.iter().enumerate().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => *c == b'-',
        _ => c.is_ascii_hexdigit(),
    })
}

/// The number allocated to `record` by an event of `batch`, if one was.
pub(crate) fn allocated_in(
    batch: &[opsledger_store::StoredEvent],
    record: RecordRef,
) -> Option<HumanNumber> {
    batch.iter().find_map(|e| {
        let kind = numbering_kind(e.stream.as_str())?;
        let alloc: NumberAllocated = serde_json::from_slice(&e.payload).ok()?;
        (kind == record.kind && alloc.id == record.id).then(|| HumanNumber::new(kind, e.version.0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_with_numbers_are_named_by_them_and_others_stay() {
        let known = Uuid::parse_str("0190a9e6-0000-7000-8000-000000000001").unwrap();
        let unknown = "0190a9e6-0000-7000-8000-0000000000ff";
        let lookup = |id: Uuid| (id == known).then(|| HumanNumber::new(RecordKind::Problem, 3));
        let text = format!("problem {known} is a duplicate of {unknown}; see {known}.");
        assert_eq!(
            name_records(&text, lookup),
            format!("problem PRB0000003 is a duplicate of {unknown}; see PRB0000003.")
        );
        // Part of a longer token: left alone.
        let glued = format!("x{known}");
        assert_eq!(name_records(&glued, lookup), glued);
        assert_eq!(name_records("", lookup), "");
        assert_eq!(name_records("ünïcödé text", lookup), "ünïcödé text");
    }
}
