//! Key layout of the read models (one ordered key space, one-byte prefixes, integers
//! big-endian so that byte order is numeric order).
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `X` | `Xcheckpoint` | last position applied ‖ that event's id |
//! | `n` | `n ‖ kind ‖ number` | record uuid |
//! | `N` | `N ‖ kind ‖ uuid` | number |
//! | `O`, `o`, `S` | see [`kpi`](super::kpi) | the KPI read model's SLA part (its facts are in the KPI rows) |
//!
//! Record views, queues, the change calendar, open alert keys, the incidents awaiting a
//! problem, the tick's due index and the KPI facts are SQL tables (see
//! [`tables`](super::tables)); `D` and `E` held the due index up to layout 5, `K` the KPI
//! facts up to layout 6, and are not used. A queue cursor is the sort key
//! `priority (P1 = 0, none = 5) ‖ opened_at ‖ uuid`: most urgent first, then oldest first.

use crate::record::kind_code;
use chrono::{DateTime, Utc};
use opsledger_core::{Priority, RecordKind};
use uuid::Uuid;

pub(crate) const CHECKPOINT: &[u8] = b"Xcheckpoint";

/// Length of a queue sort key: priority (1) + opened_at (8) + uuid (16).
pub(crate) const SORT_KEY_LEN: usize = 25;

pub(crate) fn number(kind: RecordKind, value: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(10);
    k.push(b'n');
    k.push(kind_code(kind));
    k.extend_from_slice(&value.to_be_bytes());
    k
}

pub(crate) fn number_of(kind: RecordKind, id: &Uuid) -> Vec<u8> {
    let mut k = Vec::with_capacity(18);
    k.push(b'N');
    k.push(kind_code(kind));
    k.extend_from_slice(id.as_bytes());
    k
}

/// Sortable encoding of an instant (microseconds, sign bit flipped).
pub(crate) fn time(t: DateTime<Utc>) -> [u8; 8] {
    ((t.timestamp_micros() as u64) ^ (1 << 63)).to_be_bytes()
}

pub(crate) fn priority_code(p: Option<Priority>) -> u8 {
    match p {
        Some(Priority::Critical) => 0,
        Some(Priority::High) => 1,
        Some(Priority::Moderate) => 2,
        Some(Priority::Low) => 3,
        Some(Priority::Planning) => 4,
        None => 5,
    }
}

/// Every priority code, most urgent first (none last).
pub(crate) const PRIORITY_CODES: [u8; 6] = [0, 1, 2, 3, 4, 5];

/// The trailing 16 bytes of a key as a UUID.
pub(crate) fn trailing_uuid(key: &[u8]) -> Option<Uuid> {
    let start = key.len().checked_sub(16)?;
    Uuid::from_slice(&key[start..]).ok()
}
