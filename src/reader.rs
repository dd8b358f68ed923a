//! Reading as an actor: what an end user may see.
//!
//! Queries need no actor: an embedder or a trusted adapter reads everything. An adapter that
//! serves end users reads through these methods with the acting [`Actor`] instead. A reader who
//! [reads only their own records](Actor::reads_own_records_only) (no role but `caller` or
//! `requester`, or none at all) sees the incidents they are the caller of, with internal work notes
//! filtered out of the timeline, and nothing else: another record, or a view across records
//! (KPIs, the log, the KEDB), is [`EngineError::ReadForbidden`]. Anyone else reads everything,
//! each timeline entry marked with its [`Visibility`](crate::Visibility).

use crate::error::{EngineError, Result};
use crate::projections::queue::{Page, QueueFilter};
use crate::projections::timeline::TimelineEntry;
use crate::projections::view::RecordView;
use crate::record::{RecordRef, RecordState};
use crate::time_travel::ReadView;
use opsledger_core::incident::Visibility;
use opsledger_core::{Actor, IncidentId, RecordKind};

impl ReadView<'_> {
    /// `Ok(())` when `reader` may read views across records (`what`, in words, names the
    /// view in the error); [`EngineError::ReadForbidden`] for a reader who reads only their
    /// own records.
    pub fn require_reads_all(&self, reader: &Actor, what: &str) -> Result<()> {
        if reader.reads_own_records_only() {
            return Err(forbidden(reader, what.to_owned()));
        }
        Ok(())
    }

    /// `Ok(())` when `reader` may read `record`: anyone who reads everything, or the caller
    /// of the incident as of this view. A record that is not theirs, or that does not exist,
    /// is [`EngineError::ReadForbidden`] alike, so a reader learns nothing of other records.
    pub fn require_readable(&self, reader: &Actor, record: RecordRef) -> Result<()> {
        if !reader.reads_own_records_only() {
            return Ok(());
        }
        let own = record.kind == RecordKind::Incident
            && self
                .incident(IncidentId(record.id))?
                .is_some_and(|incident| incident.caller == reader.id);
        if own {
            return Ok(());
        }
        // The same words whether the record exists or not, and whatever its kind.
        Err(forbidden(reader, OTHER_RECORD.to_owned()))
    }

    /// [`Self::record`] for `reader` ([`Self::require_readable`] first).
    pub fn record_for(&self, reader: &Actor, record: RecordRef) -> Result<Option<RecordView>> {
        self.require_readable(reader, record)?;
        self.record(record)
    }

    /// [`Self::state`] for `reader` ([`Self::require_readable`] first).
    pub fn state_for(&self, reader: &Actor, record: RecordRef) -> Result<Option<RecordState>> {
        self.require_readable(reader, record)?;
        self.state(record)
    }

    /// [`Self::timeline_page`] for `reader` ([`Self::require_readable`] first): a reader who
    /// reads only their own records gets the [`Visibility::Public`] entries of the page (work
    /// notes filtered out; the page may hold fewer than `limit` entries, `next` still says
    /// where to go on), without references to events of other records (`caused_by`,
    /// `caused`); anyone else gets every entry, each marked with its visibility.
    pub fn timeline_page_for(
        &self,
        reader: &Actor,
        record: RecordRef,
        from_version: u64,
        limit: usize,
    ) -> Result<(Vec<TimelineEntry>, Option<u64>)> {
        self.require_readable(reader, record)?;
        let (mut entries, next) = self.timeline_page(record, from_version, limit)?;
        if reader.reads_own_records_only() {
            entries.retain(|entry| entry.visibility == Visibility::Public);
            // What caused an entry, or what it caused, on other records is not theirs to see.
            for entry in &mut entries {
                entry.caused.retain(|effect| effect.record == Some(record));
                if entry
                    .caused_by
                    .as_ref()
                    .is_some_and(|cause| cause.record != Some(record))
                {
                    entry.caused_by = None;
                }
            }
        }
        Ok((entries, next))
    }

    /// [`Self::queue`] for `reader`: a reader who reads only their own records gets the
    /// incidents they are the caller of (the filter's `caller` is set to them; a queue of
    /// another kind or of another caller is [`EngineError::ReadForbidden`]); anyone else gets
    /// the queue as filtered.
    pub fn queue_for(&self, reader: &Actor, filter: &QueueFilter) -> Result<Page<RecordView>> {
        if !reader.reads_own_records_only() {
            return self.queue(filter);
        }
        if filter.kind != RecordKind::Incident {
            return Err(forbidden(reader, format!("the {} queue", filter.kind)));
        }
        if let Some(caller) = &filter.caller
            && *caller != reader.id
        {
            return Err(forbidden(
                reader,
                format!("the incidents of caller {caller}"),
            ));
        }
        let mut own = filter.clone();
        own.caller = Some(reader.id.clone());
        self.queue(&own)
    }
}

/// How a refusal names a record that is not the reader's: the same words for every record, so
/// that the refusal says nothing about whether it exists, its number or its kind.
pub const OTHER_RECORD: &str = "that record";

fn forbidden(reader: &Actor, what: String) -> EngineError {
    EngineError::ReadForbidden {
        actor: reader.id.clone(),
        what,
    }
}

impl crate::Engine {
    /// `Ok(())` when `reader` may read views across records or the log (`what`, in words,
    /// names it in the error); [`EngineError::ReadForbidden`] for a reader who reads only
    /// their own records. The same rule as [`ReadView::require_reads_all`], for adapters that
    /// read the log without a view (`events.read`, the event stream).
    pub fn require_reads_all(&self, reader: &Actor, what: &str) -> Result<()> {
        if reader.reads_own_records_only() {
            return Err(forbidden(reader, what.to_owned()));
        }
        Ok(())
    }
}
