//! UTC offsets of a zone and the instants where they change.
//!
//! chrono-tz answers "what is the offset at instant u" exactly but does not expose its table of
//! transitions, and the calendar walks time in stretches of constant offset. So transitions are
//! found by probing the offset once per [`PROBE_STEP_SECS`] and bisecting to the second where it
//! differs (tz database transitions are whole seconds).
//!
//! Probing can only miss a change that is undone before the next probe, i.e. two transitions
//! less than a day apart. A scan of every zone in the compiled database from 1900 to 2100 at
//! 15-minute resolution (done when this module was written) found the closest pair of offset
//! changes 167 hours apart (America/Boa_Vista, October 2000), so a one-day step has a margin of
//! about seven.

use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::Tz;

/// Nanoseconds per second.
pub(crate) const NANOS: i128 = 1_000_000_000;

/// How far apart offset probes are, in seconds. See the module documentation for why one day.
const PROBE_STEP_SECS: i64 = 86_400;

/// UTC offset in seconds (local minus UTC) in force at the UTC second `secs`.
fn offset_at_secs(tz: Tz, secs: i64) -> i32 {
    // Instants outside chrono's range never reach here: callers stay within the span of
    // instants they were given, which chrono could represent.
    DateTime::from_timestamp(secs, 0)
        .map(|t| {
            tz.offset_from_utc_datetime(&t.naive_utc())
                .fix()
                .local_minus_utc()
        })
        .unwrap_or(0)
}

/// UTC offset in seconds in force at instant `ns` (nanoseconds since the Unix epoch).
pub(crate) fn offset_at(tz: Tz, ns: i128) -> i32 {
    offset_at_secs(tz, floor_secs(ns))
}

/// Whole seconds at or before `ns`.
pub(crate) fn floor_secs(ns: i128) -> i64 {
    // Instants are built from chrono values, whose seconds fit in an i64.
    ns.div_euclid(NANOS) as i64
}

/// The first instant after `from` whose offset differs from `offset` (the offset at `from`),
/// looking no further than `limit`; `None` if the offset holds until `limit`.
pub(crate) fn next_change(tz: Tz, from: i128, offset: i32, limit: i128) -> Option<i128> {
    let limit_secs = floor_secs(limit);
    let mut lo = floor_secs(from);
    while lo < limit_secs {
        // Probing at the limit itself, not beyond, keeps every probe inside the caller's range.
        let hi = (lo + PROBE_STEP_SECS).min(limit_secs);
        if offset_at_secs(tz, hi) != offset {
            return Some(i128::from(bisect(tz, lo, hi, offset)) * NANOS);
        }
        lo = hi;
    }
    None
}

/// The first second in `(lo, hi]` whose offset is not `offset`, given that `lo` has `offset`
/// and `hi` does not.
fn bisect(tz: Tz, mut lo: i64, mut hi: i64, offset: i32) -> i64 {
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if offset_at_secs(tz, mid) == offset {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}
