//! Opening an engine on its storage: checking the read models against the log, catching them
//! up (or rebuilding them), and re-running the process managers after their checkpoint.

use super::*;

impl Inner {
    // ---- opening --------------------------------------------------------------------------

    pub(super) fn recover(&self) -> Result<OpenReport> {
        let store = self.store();
        let mut report = OpenReport::default();
        let stale_tables = self.tables.ensure_schema()?;
        let mut schema = self
            .meta
            .get(META_VIEWS_SCHEMA)?
            .and_then(|b| b.try_into().ok().map(u32::from_be_bytes));
        if schema.is_some_and(|s| projections::VIEWS_SCHEMAS_UPGRADED_IN_PLACE.contains(&s)) {
            // The due index and the KPI facts left the key space for their tables (rebuilt
            // from the log with their models' new versions): the keys are dropped, nothing
            // else is rebuilt (a crash before the new version is written drops what is left
            // again).
            projections::drop_unused_keys(&*self.views)?;
            self.meta.put(
                META_VIEWS_SCHEMA.to_vec(),
                VIEWS_SCHEMA.to_be_bytes().to_vec(),
            )?;
            schema = Some(VIEWS_SCHEMA);
        }
        if schema != Some(VIEWS_SCHEMA) {
            report.views_rebuilt = schema.is_some();
            self.invalidate_views()?;
            self.meta.put(
                META_VIEWS_SCHEMA.to_vec(),
                VIEWS_SCHEMA.to_be_bytes().to_vec(),
            )?;
        }
        // Read in this order: whether the read models hold anything, their checkpoint, then the
        // log's head. On a shared log other processes append and project meanwhile, each
        // committing its events with their rows and the checkpoint that covers them; read in
        // this order, a checkpoint is never ahead of the head read after it, nor missing for
        // rows read before it, so a concurrent write is never taken for damage (which would
        // clear every process's read models).
        // A failed read is an error, not "the read models hold something": on a shared store a
        // lost connection must not clear what every process reads.
        let empty = self
            .views
            .range(&[], &[0xFF; 4], false)
            .next()
            .transpose()?
            .is_none();
        let (checkpoint, checkpoint_id) = projections::read_checkpoint(&*self.views)?;
        let head = store.head()?.0;
        report.head = head;
        // An interrupted rebuild, or read models without a checkpoint (a crash mid-clear), are
        // not to be trusted whatever they hold.
        let rebuilding = self.meta.get(META_VIEWS_REBUILDING)?.is_some();
        let consistent = !rebuilding
            && if checkpoint == 0 {
                empty
            } else {
                checkpoint <= head
                    && store
                        .read_all(Position(checkpoint), 1)?
                        .first()
                        .is_some_and(|e| Some(e.event_id) == checkpoint_id)
            };
        let checkpoint = if consistent {
            checkpoint
        } else {
            // The read models are ahead of (or disagree with) the log, e.g. after a crash in
            // `Buffered` mode lost the log's tail: they are caches, rebuild them.
            report.views_rebuilt = true;
            self.invalidate_views()?;
            0
        };
        self.checkpoint.store(checkpoint, Ordering::Release);
        if checkpoint > 0 {
            self.rebuild_tables(stale_tables)?;
        } else {
            // Nothing projected yet: the projection from the start fills every table.
            self.tables.mark_current(&stale_tables)?;
        }
        // Process managers: events after their checkpoint may lack their follow-ups. With no
        // checkpoint at all (new engine, or the views database was deleted) history is taken
        // as processed: re-running old reactions against today's states would be wrong.
        let pm_from = match self.read_pm_checkpoint()? {
            Some(p) => p.min(head),
            None => {
                self.meta
                    .put(META_PM_CHECKPOINT.to_vec(), head.to_be_bytes().to_vec())?;
                head
            }
        };
        // On a shared log the sweep starts where the first process to open found the process
        // checkpoint.
        if self.shared && self.meta.get(META_PM_SWEPT)?.is_none() {
            self.meta
                .put(META_PM_SWEPT.to_vec(), pm_from.to_be_bytes().to_vec())?;
        }
        self.pm_register(pm_from + 1);
        let result = self
            .with_projector(|| {
                let applied = self.project_locked(head, &[])?;
                self.views_rebuilt()?;
                Ok(applied)
            })
            .map(|applied| report.views_events_applied = applied)
            .and_then(|()| {
                let mut kept_floor = false;
                for event in log_events(store, pm_from + 1, head, PROJECT_PAGE) {
                    let event = event?;
                    report.process_events_checked += 1;
                    let correlation = event
                        .correlation_id
                        .unwrap_or_else(|| self.config.ids.new_id());
                    let position = event.position.0;
                    let (_, _, incomplete) = self.run_follow_ups(vec![(event, None)], correlation);
                    if incomplete && !kept_floor {
                        // A transient failure: keep the checkpoint before it, for the next open.
                        self.pm_register(position);
                        kept_floor = true;
                    }
                }
                Ok(())
            });
        self.pm_release(pm_from + 1);
        self.persist_pm_checkpoint()?;
        result.map(|()| report)
    }
}
