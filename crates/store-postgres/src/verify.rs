//! The integrity scan: the head row against the log, then every record.

use std::collections::HashMap;

use opsledger_store::codec;
use opsledger_store::{FaultKind, Position, StoreError, VerifyReport};

use crate::db::Db;
use crate::store::{to_i64, to_u64};

/// Records read per query while scanning.
const SCAN_PAGE: u64 = 2_048;

/// A row of `events`: position, stream, version, event id, record.
type Row = (u64, u64, u64, Vec<u8>, Vec<u8>);

/// Checks every record up to the committed head: dense positions, checksums, the columns
/// against the record, dense versions per stream, stream names; and that no event lies past
/// the head row.
pub(crate) fn verify(db: &Db) -> Result<VerifyReport, StoreError> {
    let (head, beyond): (u64, i64) = db.read(|client| {
        let row = client.query_one(
            "SELECT h.position, (SELECT count(*) FROM events e WHERE e.position > h.position) FROM head h",
            &[],
        )?;
        Ok((to_u64(row.get(0)), row.get(1)))
    })?;
    let mut report = VerifyReport {
        head: Position(head),
        ..VerifyReport::default()
    };
    if beyond > 0 {
        report.fault(
            Some(head + 1),
            FaultKind::Metadata,
            format!("{beyond} events lie past the head row"),
        );
    }
    let names: HashMap<u64, String> = db.read(|client| {
        Ok(client
            .query("SELECT stream, name FROM streams", &[])?
            .into_iter()
            .map(|r| (to_u64(r.get(0)), r.get(1)))
            .collect())
    })?;
    let mut versions: HashMap<u64, u64> = HashMap::new();
    let mut expected = 1u64;
    while expected <= head {
        let to = head.min(expected + SCAN_PAGE - 1);
        let rows: Vec<Row> = db.read(|client| {
            Ok(client
                .query(
                    "SELECT position, stream, version, event_id, record FROM events \
                     WHERE position BETWEEN $1 AND $2 ORDER BY position",
                    &[&to_i64(expected), &to_i64(to)],
                )?
                .into_iter()
                .map(|r| {
                    (
                        to_u64(r.get(0)),
                        to_u64(r.get(1)),
                        to_u64(r.get(2)),
                        r.get(3),
                        r.get(4),
                    )
                })
                .collect())
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
            let last = versions.entry(sid).or_insert(0);
            if version != *last + 1 {
                report.fault(
                    Some(position),
                    FaultKind::VersionOrder,
                    format!("version {version} after {last}"),
                );
            }
            *last = version;
            check_record(
                &mut report,
                &names,
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

fn check_record(
    report: &mut VerifyReport,
    names: &HashMap<u64, String>,
    position: u64,
    sid: u64,
    version: u64,
    event_id: &[u8],
    bytes: &[u8],
) {
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
