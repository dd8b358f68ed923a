//! Full integrity scan of the sled backend.
//!
//! Forward: every record from 1 to the head decodes, passes its checksum, sits at its key,
//! continues its stream's versions densely, and has its derived index entries (tail or sled).
//! Backward: every derived index entry in sled points at a record that says the same thing.

use std::collections::{BTreeSet, HashMap};

use uuid::Uuid;

use crate::keys;
use crate::store::Core;
use opsledger_store::Position;
use opsledger_store::StoreError;
use opsledger_store::codec::{self, Record};
use opsledger_store::{FaultKind, VerifyReport};

impl Core {
    pub(super) fn verify(&self) -> Result<VerifyReport, StoreError> {
        let head = self.notifier.visible();
        let mut report = VerifyReport {
            head: Position(head),
            ..Default::default()
        };
        if self
            .tree
            .get(keys::FORMAT_KEY)
            .map_err(crate::sled_error)?
            .as_deref()
            != Some(keys::FORMAT_VALUE)
        {
            report.fault(
                None,
                FaultKind::Metadata,
                "format marker missing or wrong".into(),
            );
        }
        // stream number -> (last version, its position)
        let mut streams: HashMap<u64, (u64, u64)> = HashMap::new();
        // Positions whose record is missing or unreadable: faults that depend on what such a
        // record said are consequences, already reported once.
        let mut unreadable = BTreeSet::new();
        let mut expected = 1u64;
        for kv in self.tree.range(keys::event(1)..=keys::event(head)) {
            let (k, v) = match kv {
                Ok(kv) => kv,
                Err(e) => {
                    report.fault(
                        Some(expected),
                        FaultKind::CorruptRecord,
                        format!("storage engine: {e}"),
                    );
                    break;
                }
            };
            let Some(position) = keys::event_position(&k) else {
                report.fault(
                    None,
                    FaultKind::Metadata,
                    format!("malformed event key {k:?}"),
                );
                continue;
            };
            if position != expected {
                report.fault(
                    Some(expected),
                    FaultKind::PositionGap,
                    format!("positions {expected}..={} missing", position - 1),
                );
                unreadable.extend(expected..position.min(expected + 100_000));
            }
            expected = position + 1;
            report.events_checked += 1;
            let record = match codec::decode_record(&v) {
                Ok(r) => r,
                Err(e) => {
                    report.fault(Some(position), FaultKind::CorruptRecord, e);
                    unreadable.insert(position);
                    continue;
                }
            };
            if record.position != position {
                report.fault(
                    Some(position),
                    FaultKind::PositionMismatch,
                    format!("record claims position {}", record.position),
                );
            }
            let last = streams.entry(record.sid).or_insert((0, 0));
            // A jump over an unreadable record is that record's fault, already reported.
            let explained = record.version > last.0 + 1
                && unreadable.range(last.1 + 1..position).next().is_some();
            if record.version != last.0 + 1 && !explained {
                report.fault(
                    Some(position),
                    FaultKind::VersionOrder,
                    format!(
                        "stream number {} version {} follows {}",
                        record.sid, record.version, last.0
                    ),
                );
            }
            *last = (last.0.max(record.version), position);
            self.verify_entries(&mut report, position, &record)?;
        }
        if expected != head + 1 {
            report.fault(
                Some(expected),
                FaultKind::PositionGap,
                format!("positions {expected}..={head} missing"),
            );
            unreadable.extend(expected..=head.min(expected + 100_000));
        }
        report.streams = streams.len() as u64;
        let versions: HashMap<u64, u64> =
            streams.into_iter().map(|(sid, (v, _))| (sid, v)).collect();
        let checkpoint = self.indexed.load(std::sync::atomic::Ordering::Acquire);
        if checkpoint > head {
            report.fault(
                None,
                FaultKind::Metadata,
                format!("index checkpoint {checkpoint} beyond head {head}"),
            );
        }
        self.verify_reverse(&mut report, head, &versions, &unreadable)?;
        Ok(report)
    }

    /// Where the derived indexes put event `id` (tail first, then sled).
    fn indexed_id(&self, id: &Uuid) -> Result<Option<u64>, StoreError> {
        if let Some((p, _, _)) = self.tail.read().id(id) {
            return Ok(Some(p));
        }
        Ok(self
            .tree
            .get(keys::id(id))
            .map_err(crate::sled_error)?
            .and_then(|v| codec::read_varint_exact(&v).ok()))
    }

    fn indexed_version(&self, sid: u64, version: u64) -> Result<Option<u64>, StoreError> {
        let from_tail = self
            .tail
            .read()
            .stream(sid)
            .and_then(|list| list.iter().find(|&&(v, _)| v == version).map(|&(_, p)| p));
        if from_tail.is_some() {
            return Ok(from_tail);
        }
        Ok(self
            .tree
            .get(keys::stream(sid, version))
            .map_err(crate::sled_error)?
            .and_then(|v| codec::read_varint_exact(&v).ok()))
    }

    fn verify_entries(
        &self,
        report: &mut VerifyReport,
        position: u64,
        record: &Record<'_>,
    ) -> Result<(), StoreError> {
        report.index_entries_checked += 2;
        match self.indexed_id(&record.event_id)? {
            Some(p) if p == position => {}
            Some(p) => {
                let same_id = self
                    .tree
                    .get(keys::event(p))
                    .map_err(crate::sled_error)?
                    .and_then(|b| {
                        codec::decode_record(&b)
                            .ok()
                            .map(|r| r.event_id == record.event_id)
                    })
                    .unwrap_or(false);
                let kind = if same_id {
                    FaultKind::DuplicateEventId
                } else {
                    FaultKind::IndexMismatch
                };
                report.fault(
                    Some(position),
                    kind,
                    format!("id index for {} says position {p}", record.event_id),
                );
            }
            None => report.fault(
                Some(position),
                FaultKind::IndexMissing,
                format!("no id index entry for {}", record.event_id),
            ),
        }
        match self.indexed_version(record.sid, record.version)? {
            Some(p) if p == position => {}
            Some(p) => report.fault(
                Some(position),
                FaultKind::IndexMismatch,
                format!("stream index says position {p}"),
            ),
            None => report.fault(
                Some(position),
                FaultKind::IndexMissing,
                "no stream index entry".into(),
            ),
        }
        if let Some(name) = record.stream_name {
            report.index_entries_checked += 2;
            let by_name = match self.tail.read().sid(name) {
                Some(s) => Some(s),
                None => self
                    .tree
                    .get(keys::name(name))
                    .map_err(crate::sled_error)?
                    .and_then(|v| codec::read_varint_exact(&v).ok()),
            };
            if by_name != Some(record.sid) {
                report.fault(
                    Some(position),
                    FaultKind::IndexMismatch,
                    format!("name index for {name} says {by_name:?}"),
                );
            }
            let by_sid: Option<String> = match self.tail.read().name(record.sid) {
                Some(n) => Some(n.to_string()),
                None => self
                    .tree
                    .get(keys::number(record.sid))
                    .map_err(crate::sled_error)?
                    .map(|v| String::from_utf8_lossy(&v).into_owned()),
            };
            if by_sid.as_deref() != Some(name) {
                report.fault(
                    Some(position),
                    FaultKind::IndexMismatch,
                    format!("stream number index says {by_sid:?}"),
                );
            }
        }
        Ok(())
    }

    fn verify_reverse(
        &self,
        report: &mut VerifyReport,
        head: u64,
        versions: &HashMap<u64, u64>,
        unreadable: &BTreeSet<u64>,
    ) -> Result<(), StoreError> {
        let record_at = |p: u64| -> Result<Option<(u64, u64, Uuid)>, StoreError> {
            Ok(self
                .tree
                .get(keys::event(p))
                .map_err(crate::sled_error)?
                .and_then(|b| {
                    codec::decode_record(&b)
                        .ok()
                        .map(|r| (r.sid, r.version, r.event_id))
                }))
        };
        for kv in self.tree.scan_prefix([keys::STREAM]) {
            let (k, v) = kv.map_err(crate::sled_error)?;
            report.index_entries_checked += 1;
            let (Some((sid, version)), Ok(p)) =
                (keys::stream_parts(&k), codec::read_varint_exact(&v))
            else {
                report.fault(
                    None,
                    FaultKind::IndexMismatch,
                    format!("malformed stream index entry {k:?}"),
                );
                continue;
            };
            if p > head || unreadable.contains(&p) {
                continue; // appended while the scan ran, or already reported
            }
            if versions.get(&sid).is_none_or(|&h| version > h)
                || record_at(p)?.map(|r| (r.0, r.1)) != Some((sid, version))
            {
                report.fault(
                    Some(p),
                    FaultKind::IndexMismatch,
                    format!("stream index entry ({sid}, {version}) points at another event"),
                );
            }
        }
        for kv in self.tree.scan_prefix([keys::ID]) {
            let (k, v) = kv.map_err(crate::sled_error)?;
            report.index_entries_checked += 1;
            let id = (k.len() == 17)
                .then(|| Uuid::from_slice(&k[1..]).ok())
                .flatten();
            let (Some(id), Ok(p)) = (id, codec::read_varint_exact(&v)) else {
                report.fault(
                    None,
                    FaultKind::IndexMismatch,
                    format!("malformed id index entry {k:?}"),
                );
                continue;
            };
            if p <= head && !unreadable.contains(&p) && record_at(p)?.map(|r| r.2) != Some(id) {
                report.fault(
                    Some(p),
                    FaultKind::IndexMismatch,
                    format!("id index entry {id} points at another event"),
                );
            }
        }
        let next_sid = self.writer.lock().next_sid;
        for kv in self.tree.scan_prefix([keys::NUMBER]) {
            let (k, _) = kv.map_err(crate::sled_error)?;
            report.index_entries_checked += 1;
            match keys::be_u64(&k, 1) {
                Some(sid) if k.len() == 9 && versions.contains_key(&sid) => {}
                Some(sid) if k.len() == 9 && sid >= next_sid => {
                    report.fault(
                        None,
                        FaultKind::IndexMismatch,
                        format!("stream number {sid} was never allocated"),
                    );
                }
                Some(_) if k.len() == 9 => {} // allocated after the scan's head
                _ => report.fault(
                    None,
                    FaultKind::IndexMismatch,
                    format!("malformed stream number key {k:?}"),
                ),
            }
        }
        Ok(())
    }
}
