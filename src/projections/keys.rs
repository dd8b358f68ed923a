//! Key layout of the read models (one ordered key space, one-byte prefixes, integers
//! big-endian so that byte order is numeric order).
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `X` | `Xcheckpoint` | last position applied ‖ that event's id |
//! | `r` | `r ‖ kind ‖ uuid` | the record view (JSON) |
//! | `n` | `n ‖ kind ‖ number` | record uuid |
//! | `N` | `N ‖ kind ‖ uuid` | number |
//! | `q` | `q ‖ family ‖ kind ‖ [value] ‖ status ‖ sort key` | — (queue indexes) |
//! | `w` | `w ‖ problem ‖ incident` | — (incidents on hold awaiting a problem) |
//! | `k` | `k ‖ problem` | — (published known errors) |
//! | `l` | `l ‖ dedup key ‖ incident` | — (open alert dedup keys) |
//! | `C` | `C ‖ window start ‖ change` | — (change calendar) |
//! | `y` | `y ‖ cause event id ‖ position` | — (what each event caused) |
//! | `D` | `D ‖ instant ‖ kind ‖ uuid` | — (the tick's due index, see `engine/sla.rs`) |
//! | `E` | `E ‖ kind ‖ uuid` | that record's `D` instant |
//! | `K`, `O`, `o`, `S` | see [`kpi`](super::kpi) | the KPI read model |
//!
//! The queue sort key is `priority (P1 = 0, none = 5) ‖ opened_at ‖ uuid`: most urgent first,
//! then oldest first. Values inside keys (group, assignee, service, CI, dedup key) are
//! length-prefixed so that no value can run into the next field.

use crate::record::kind_code;
use chrono::{DateTime, Utc};
use opsledger_core::{Priority, RecordKind};
use uuid::Uuid;

pub(crate) const CHECKPOINT: &[u8] = b"Xcheckpoint";

/// Queue index families.
pub(crate) const FAM_STATUS: u8 = b's';
pub(crate) const FAM_GROUP: u8 = b'g';
pub(crate) const FAM_ASSIGNEE: u8 = b'a';
pub(crate) const FAM_SERVICE: u8 = b'v';
pub(crate) const FAM_CI: u8 = b'c';

/// Length of a queue sort key: priority (1) + opened_at (8) + uuid (16).
pub(crate) const SORT_KEY_LEN: usize = 25;

pub(crate) fn record(kind: RecordKind, id: &Uuid) -> Vec<u8> {
    let mut k = Vec::with_capacity(18);
    k.push(b'r');
    k.push(kind_code(kind));
    k.extend_from_slice(id.as_bytes());
    k
}

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

/// Appends a length-prefixed value.
pub(crate) fn push_value(k: &mut Vec<u8>, value: &str) {
    let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
    k.extend_from_slice(&len.to_be_bytes());
    k.extend_from_slice(&value.as_bytes()[..usize::from(len)]);
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

/// The queue sort key of a record.
pub(crate) fn sort_key(
    priority: Option<Priority>,
    opened_at: DateTime<Utc>,
    id: &Uuid,
) -> [u8; SORT_KEY_LEN] {
    let mut k = [0u8; SORT_KEY_LEN];
    k[0] = priority_code(priority);
    k[1..9].copy_from_slice(&time(opened_at));
    k[9..].copy_from_slice(id.as_bytes());
    k
}

/// `q ‖ family ‖ kind ‖ [value]`: the part of a queue key before the status.
pub(crate) fn queue_family(family: u8, kind: RecordKind, value: Option<&str>) -> Vec<u8> {
    let mut k = Vec::with_capacity(48);
    k.push(b'q');
    k.push(family);
    k.push(kind_code(kind));
    if let Some(v) = value {
        push_value(&mut k, v);
    }
    k
}

pub(crate) fn awaiting(problem: &Uuid, incident: &Uuid) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(b'w');
    k.extend_from_slice(problem.as_bytes());
    k.extend_from_slice(incident.as_bytes());
    k
}

pub(crate) fn awaiting_prefix(problem: &Uuid) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.push(b'w');
    k.extend_from_slice(problem.as_bytes());
    k
}

pub(crate) fn known_error(problem: &Uuid) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.push(b'k');
    k.extend_from_slice(problem.as_bytes());
    k
}

pub(crate) fn alert(dedup_key: &str, incident: &Uuid) -> Vec<u8> {
    let mut k = alert_prefix(dedup_key);
    k.extend_from_slice(incident.as_bytes());
    k
}

pub(crate) fn alert_prefix(dedup_key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(dedup_key.len() + 19);
    k.push(b'l');
    push_value(&mut k, dedup_key);
    k
}

pub(crate) fn calendar(start: DateTime<Utc>, change: &Uuid) -> Vec<u8> {
    let mut k = Vec::with_capacity(25);
    k.push(b'C');
    k.extend_from_slice(&time(start));
    k.extend_from_slice(change.as_bytes());
    k
}

pub(crate) fn caused(cause: &Uuid, position: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(25);
    k.push(b'y');
    k.extend_from_slice(cause.as_bytes());
    k.extend_from_slice(&position.to_be_bytes());
    k
}

pub(crate) fn caused_prefix(cause: &Uuid) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.push(b'y');
    k.extend_from_slice(cause.as_bytes());
    k
}

/// The trailing 16 bytes of a key as a UUID.
pub(crate) fn trailing_uuid(key: &[u8]) -> Option<Uuid> {
    let start = key.len().checked_sub(16)?;
    Uuid::from_slice(&key[start..]).ok()
}

/// The trailing 8 bytes of a key as a big-endian integer.
pub(crate) fn trailing_u64(key: &[u8]) -> Option<u64> {
    let start = key.len().checked_sub(8)?;
    Some(u64::from_be_bytes(key[start..].try_into().ok()?))
}
