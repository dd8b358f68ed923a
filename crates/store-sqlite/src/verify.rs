//! The integrity scan: SQLite's own check of the file, then every record of the log.

use std::collections::HashMap;

use opsledger_store::codec;
use opsledger_store::{FaultKind, Position, StoreError, VerifyReport};
use rusqlite::params;

use crate::db::Db;

/// Records read per query while scanning.
const SCAN_PAGE: u64 = 2_048;

/// A row of `events`: position, stream, version, event id, record.
type Row = (u64, u64, u64, Vec<u8>, Vec<u8>);

/// Checks the database file (`PRAGMA quick_check`), then every record up to `head`: dense
/// positions, checksums, the columns against the record, dense versions per stream, unique
/// event ids (the unique index enforces them; a damaged index shows up in the quick check).
pub(crate) fn verify(db: &Db, head: u64) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport {
        head: Position(head),
        ..VerifyReport::default()
    };
    let problems: Vec<String> = db.read(|conn| {
        let mut statement = conn.prepare("PRAGMA quick_check")?;
        let rows = statement.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect()
    })?;
    for problem in problems.into_iter().filter(|p| p != "ok") {
        report.fault(None, FaultKind::Metadata, format!("SQLite: {problem}"));
    }
    let names: HashMap<u64, String> = db.read(|conn| {
        let mut statement = conn.prepare("SELECT stream, name FROM streams")?;
        let rows = statement.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?;
        rows.collect()
    })?;
    let mut versions: HashMap<u64, u64> = HashMap::new();
    let mut expected = 1u64;
    while expected <= head {
        let to = head.min(expected + SCAN_PAGE - 1);
        let rows: Vec<Row> = db.read(|conn| {
            let mut statement = conn.prepare_cached(
                "SELECT position, stream, version, event_id, record FROM events \
                 WHERE position BETWEEN ?1 AND ?2 ORDER BY position",
            )?;
            let rows = statement.query_map(params![expected as i64, to as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                    r.get(3)?,
                    r.get(4)?,
                ))
            })?;
            rows.collect()
        })?;
        for (position, sid, version, event_id, record) in rows {
            if position != expected {
                report.fault(
                    Some(expected),
                    FaultKind::PositionGap,
                    format!("positions {expected}..{position} are missing"),
                );
            }
            expected = position + 1;
            report.events_checked += 1;
            report.index_entries_checked += 2;
            check_record(
                &mut report,
                &names,
                &mut versions,
                position,
                sid,
                version,
                &event_id,
                &record,
            );
        }
        if expected <= to {
            report.fault(
                Some(expected),
                FaultKind::PositionGap,
                format!("positions {expected}..={to} are missing"),
            );
            expected = to + 1;
        }
    }
    report.streams = versions.len() as u64;
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn check_record(
    report: &mut VerifyReport,
    names: &HashMap<u64, String>,
    versions: &mut HashMap<u64, u64>,
    position: u64,
    sid: u64,
    version: u64,
    event_id: &[u8],
    bytes: &[u8],
) {
    // Versions are checked on the columns, before the record: a damaged record is one fault,
    // not also a "skipped" version at the stream's next event.
    let last = versions.entry(sid).or_insert(0);
    if version != *last + 1 {
        report.fault(
            Some(position),
            FaultKind::VersionOrder,
            format!("version {version} after {last}"),
        );
    }
    *last = version;
    let record = match codec::decode_record(bytes) {
        Ok(r) => r,
        Err(e) => {
            report.fault(Some(position), FaultKind::CorruptRecord, e);
            return;
        }
    };
    if record.position != position {
        report.fault(
            Some(position),
            FaultKind::PositionMismatch,
            format!("record claims position {}", record.position),
        );
    }
    if record.sid != sid || record.version != version {
        report.fault(
            Some(position),
            FaultKind::IndexMismatch,
            format!(
                "columns say stream {sid} version {version}, the record stream {} version {}",
                record.sid, record.version
            ),
        );
    }
    if record.event_id.as_bytes().as_slice() != event_id {
        report.fault(
            Some(position),
            FaultKind::IndexMismatch,
            "the event id column differs from the record".into(),
        );
    }
    match (names.get(&sid), record.stream_name) {
        (None, _) => report.fault(
            Some(position),
            FaultKind::IndexMissing,
            format!("stream number {sid} has no name"),
        ),
        (Some(name), Some(in_record)) if name != in_record => report.fault(
            Some(position),
            FaultKind::IndexMismatch,
            format!("stream {sid} is named {name:?} but its first record says {in_record:?}"),
        ),
        _ => {}
    }
}
