//! What the projector wrote last for the records it touched recently: their human numbers,
//! record views, SLA streams folded, KPI facts, SLA fingerprints and due instants. The next
//! command on the same record reads none of them back from the database, and does not write
//! again what is already there (each was one statement, some with a decode, per command).
//!
//! Invariants:
//! - **An entry is what the database holds,** committed or written by the unit in progress:
//!   it is set only after the write (or the read) it describes succeeded.
//! - **A unit that does not commit forgets everything** ([`Memo::forget`], called by the
//!   engine wherever it forgets the state cache, while the unit still excludes other
//!   writers), and so does every wipe of the read models (a rebuild, a model dropped).
//! - **Only the projector reads and writes all but numbers,** under its lock, which is taken
//!   inside the writer's unit: no other thread sees what an open unit wrote there. A query
//!   reading an older row on another thread never puts it back.
//! - **An SLA stream folded is read again when a batch holds an event of it** (see
//!   `engine/sla.rs`): nothing else appends to it.
//! - **All but numbers are kept only where this engine is the only writer**
//!   ([`Memo::new`]'s `single_writer`): on a log shared by several processes another one may
//!   have moved them. Numbers never change once allocated and are kept everywhere; any thread
//!   reads them ([`crate::engine::Inner::number_of`]), so the number of a record whose
//!   creation is committing may show a moment before its commit, like its state in the state
//!   cache.

use crate::numbers::HumanNumber;
use crate::projections::kpi::KpiRow;
use crate::projections::view::RecordView;
use crate::record::RecordRef;
use lru::LruCache;
use opsledger_core::sla::SlaRecord;
use parking_lot::Mutex;
use std::num::NonZeroUsize;
use std::sync::Arc;

/// How many records the memo keeps (the hot ones: those commands are arriving for).
const RECORDS: usize = 4_096;

#[derive(Default, Clone)]
struct Entry {
    number: Option<HumanNumber>,
    /// `Some(None)`: the record has no `records` row.
    view: Option<Option<Arc<RecordView>>>,
    /// `Some(None)`: the record has no SLA stream.
    sla: Option<Option<Arc<SlaRecord>>>,
    /// `Some(None)`: the record has no KPI row.
    facts: Option<Option<KpiRow>>,
    fingerprint: Option<Vec<u8>>,
    /// `Some(None)`: the record has no row in the due index.
    due: Option<Option<i64>>,
}

/// See the module documentation.
pub(crate) struct Memo {
    single_writer: bool,
    records: Mutex<LruCache<RecordRef, Entry>>,
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo")
            .field("single_writer", &self.single_writer)
            .field("records", &self.records.lock().len())
            .finish()
    }
}

impl Memo {
    /// An empty memo; `single_writer`: whether no other process writes the read models.
    pub(crate) fn new(single_writer: bool) -> Self {
        Self {
            single_writer,
            records: Mutex::new(LruCache::new(
                NonZeroUsize::new(RECORDS).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }

    /// The record's human number, if known.
    pub(crate) fn number(&self, record: RecordRef) -> Option<HumanNumber> {
        self.records.lock().get(&record).and_then(|e| e.number)
    }

    /// Remembers the record's human number (numbers are never taken back once committed).
    pub(crate) fn put_number(&self, record: RecordRef, number: HumanNumber) {
        self.update(record, |e| e.number = Some(number));
    }

    /// The view the record's `records` row holds (`Some(None)`: it has none), if known.
    pub(crate) fn view(&self, record: RecordRef) -> Option<Option<Arc<RecordView>>> {
        if !self.single_writer {
            return None;
        }
        self.records
            .lock()
            .get(&record)
            .and_then(|e| e.view.clone())
    }

    /// Remembers the view the record's `records` row holds.
    pub(crate) fn put_view(&self, record: RecordRef, view: Option<Arc<RecordView>>) {
        if self.single_writer {
            self.update(record, |e| e.view = Some(view));
        }
    }

    /// The record's SLA stream folded (`Some(None)`: it has none), if known.
    pub(crate) fn sla(&self, record: RecordRef) -> Option<Option<Arc<SlaRecord>>> {
        if !self.single_writer {
            return None;
        }
        self.records.lock().get(&record).and_then(|e| e.sla.clone())
    }

    /// Remembers the record's SLA stream folded.
    pub(crate) fn put_sla(&self, record: RecordRef, sla: Option<Arc<SlaRecord>>) {
        if self.single_writer {
            self.update(record, |e| e.sla = Some(sla));
        }
    }

    /// The record's stored KPI facts (`Some(None)`: it has no KPI row), if known.
    pub(crate) fn facts(&self, record: RecordRef) -> Option<Option<KpiRow>> {
        if !self.single_writer {
            return None;
        }
        self.records
            .lock()
            .get(&record)
            .and_then(|e| e.facts.clone())
    }

    /// Remembers the record's stored KPI facts.
    pub(crate) fn put_facts(&self, record: RecordRef, facts: Option<KpiRow>) {
        if self.single_writer {
            self.update(record, |e| e.facts = Some(facts));
        }
    }

    /// The fingerprint of the record's SLA rows as last written (see `engine/sla.rs`).
    pub(crate) fn fingerprint(&self, record: RecordRef) -> Option<Vec<u8>> {
        if !self.single_writer {
            return None;
        }
        self.records
            .lock()
            .get(&record)
            .and_then(|e| e.fingerprint.clone())
    }

    /// Remembers the fingerprint of the record's SLA rows.
    pub(crate) fn put_fingerprint(&self, record: RecordRef, fingerprint: Vec<u8>) {
        if self.single_writer {
            self.update(record, |e| e.fingerprint = Some(fingerprint));
        }
    }

    /// The record's instant in the due index (microseconds; `Some(None)`: no row), if known.
    pub(crate) fn due(&self, record: RecordRef) -> Option<Option<i64>> {
        if !self.single_writer {
            return None;
        }
        self.records.lock().get(&record).and_then(|e| e.due)
    }

    /// Remembers the record's instant in the due index.
    pub(crate) fn put_due(&self, record: RecordRef, due_us: Option<i64>) {
        if self.single_writer {
            self.update(record, |e| e.due = Some(due_us));
        }
    }

    /// Forgets everything (a unit did not commit, or the read models were wiped).
    pub(crate) fn forget(&self) {
        self.records.lock().clear();
    }

    fn update(&self, record: RecordRef, f: impl FnOnce(&mut Entry)) {
        let mut records = self.records.lock();
        match records.get_mut(&record) {
            Some(entry) => f(entry),
            None => {
                let mut entry = Entry::default();
                f(&mut entry);
                records.put(record, entry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opsledger_core::RecordKind;
    use uuid::Uuid;

    fn record(n: u128) -> RecordRef {
        RecordRef {
            kind: RecordKind::Incident,
            id: Uuid::from_u128(n),
        }
    }

    #[test]
    fn what_is_put_is_read_back_until_forgotten() {
        let memo = Memo::new(true);
        assert_eq!(memo.number(record(1)), None);
        memo.put_number(record(1), HumanNumber::new(RecordKind::Incident, 7));
        memo.put_facts(record(1), None);
        memo.put_fingerprint(record(1), vec![1, 2]);
        memo.put_due(record(1), Some(5));
        memo.put_view(record(1), None);
        memo.put_sla(record(1), None);
        assert!(matches!(memo.sla(record(1)), Some(None)));
        assert_eq!(memo.due(record(1)), Some(Some(5)));
        assert!(matches!(memo.view(record(1)), Some(None)));
        assert_eq!(
            memo.number(record(1)),
            Some(HumanNumber::new(RecordKind::Incident, 7))
        );
        assert!(matches!(memo.facts(record(1)), Some(None)));
        assert_eq!(memo.fingerprint(record(1)), Some(vec![1, 2]));
        assert_eq!(memo.number(record(2)), None);
        memo.forget();
        assert_eq!(memo.number(record(1)), None);
        assert!(memo.facts(record(1)).is_none());
        assert_eq!(memo.fingerprint(record(1)), None);
        assert_eq!(memo.due(record(1)), None);
        assert!(memo.view(record(1)).is_none());
        assert!(memo.sla(record(1)).is_none());
    }

    #[test]
    fn a_shared_log_keeps_numbers_only() {
        let memo = Memo::new(false);
        memo.put_number(record(1), HumanNumber::new(RecordKind::Incident, 7));
        memo.put_facts(record(1), None);
        memo.put_fingerprint(record(1), vec![1]);
        memo.put_due(record(1), None);
        memo.put_view(record(1), None);
        memo.put_sla(record(1), None);
        assert!(memo.sla(record(1)).is_none());
        assert_eq!(memo.due(record(1)), None);
        assert!(memo.view(record(1)).is_none());
        assert_eq!(
            memo.number(record(1)),
            Some(HumanNumber::new(RecordKind::Incident, 7))
        );
        assert!(memo.facts(record(1)).is_none());
        assert_eq!(memo.fingerprint(record(1)), None);
    }
}
