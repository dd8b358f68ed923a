//! The report of a full integrity scan.

use crate::types::Position;

/// Most faults a report lists; further ones are only counted (bounded memory on a bad log).
pub const MAX_REPORTED_FAULTS: usize = 1_000;

/// What kind of inconsistency a fault is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// A record fails its checksum or does not decode.
    CorruptRecord,
    /// Positions are not dense (a missing or misplaced record).
    PositionGap,
    /// A record's stored position differs from its key.
    PositionMismatch,
    /// Versions of a stream are not dense from 1, or a stream id is defined twice.
    VersionOrder,
    /// A derived index lacks an entry for an event.
    IndexMissing,
    /// A derived index entry points at the wrong event or past the head.
    IndexMismatch,
    /// Two events share an event id.
    DuplicateEventId,
    /// Store metadata (format marker, checkpoint, head) is inconsistent.
    Metadata,
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FaultKind::CorruptRecord => "corrupt record",
            FaultKind::PositionGap => "position gap",
            FaultKind::PositionMismatch => "position mismatch",
            FaultKind::VersionOrder => "version order",
            FaultKind::IndexMissing => "index entry missing",
            FaultKind::IndexMismatch => "index entry wrong",
            FaultKind::DuplicateEventId => "duplicate event id",
            FaultKind::Metadata => "metadata",
        })
    }
}

/// One inconsistency found by `verify()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyFault {
    /// The position concerned, when there is one.
    pub position: Option<Position>,
    /// The kind of fault.
    pub kind: FaultKind,
    /// Human-readable detail.
    pub detail: String,
}

impl std::fmt::Display for VerifyFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.position {
            Some(p) => write!(f, "position {p}: {}: {}", self.kind, self.detail),
            None => write!(f, "{}: {}", self.kind, self.detail),
        }
    }
}

/// The outcome of `verify()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// The head the scan covered (events appended during the scan are not checked).
    pub head: Position,
    /// Records read and checked.
    pub events_checked: u64,
    /// Distinct streams seen.
    pub streams: u64,
    /// Index entries checked.
    pub index_entries_checked: u64,
    /// The faults found (at most [`MAX_REPORTED_FAULTS`]).
    pub faults: Vec<VerifyFault>,
    /// Faults found in total (may exceed `faults.len()`).
    pub fault_count: u64,
}

impl VerifyReport {
    /// True when no fault was found.
    pub fn is_clean(&self) -> bool {
        self.fault_count == 0
    }

    /// Records a fault (the first `MAX_REPORTED_FAULTS` are kept with their detail).
    pub fn fault(&mut self, position: Option<u64>, kind: FaultKind, detail: String) {
        self.fault_count += 1;
        if self.faults.len() < MAX_REPORTED_FAULTS {
            self.faults.push(VerifyFault {
                position: position.map(Position),
                kind,
                detail,
            });
        }
    }
}
