//! The projector: units of work, catch-up, the batches that move the read models and their
//! checkpoint, rebuilds.

use super::*;

impl Inner {
    // ---- projection -----------------------------------------------------------------------

    /// Brings the read models up to the log's head.
    pub(crate) fn catch_up(&self) -> Result<u64> {
        let head = self.store().head()?.0;
        self.project_to(head, &[])?;
        Ok(head)
    }

    /// Brings the read models to at least `target` (and to the head as of taking the lock).
    /// `known` may hold events the caller already read (consecutive positions).
    pub(crate) fn project_to(&self, target: u64, known: &[StoredEvent]) -> Result<()> {
        if self.checkpoint.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        self.config.faults.pass(FaultPoint::Projection)?;
        let _span = tracing::debug_span!("project", target).entered();
        self.with_projector(|| self.project_locked(target, known).map(|_| ()))
    }

    /// Runs `f` under the projector's lock inside a unit of work of the backend, committed
    /// when `f` succeeds. Where units are transactions (SQLite), what `f` projects commits
    /// together with the events the calling thread appended in an enclosing unit, or not at
    /// all; a failure then puts the engine's checkpoint and cache back as they were.
    ///
    /// Lock order: the backend's writer (taken by the unit) before the projector, everywhere.
    pub(crate) fn with_projector<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.in_unit(|| {
            let _guard = self.projector.lock();
            f()
        })
    }

    /// Runs `f` inside a unit of work of the backend (see [`Self::with_projector`]).
    pub(crate) fn in_unit<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.in_unit_or(f, || {})
    }

    /// [`Self::in_unit`], also running `undo` when what `f` did is not stored after all (`f`
    /// failed, or the unit did not commit), while the unit still excludes other writers.
    pub(crate) fn in_unit_or<T>(
        &self,
        f: impl FnOnce() -> Result<T>,
        undo: impl Fn(),
    ) -> Result<T> {
        let unit = self.storage().begin_unit()?;
        if !unit.is_transactional() {
            // What failed may have written part of what the memo was about to learn.
            let value = f().inspect_err(|_| {
                self.tables.memo().forget();
                undo();
            })?;
            unit.commit().inspect_err(|_| self.tables.memo().forget())?;
            return Ok(value);
        }
        // Nothing of a rolled-back unit is stored: neither may the engine remember it. The
        // engine's memory is put back while the unit still excludes every other writer (else
        // it could undo what a later unit projected, and that unit's events would be
        // projected twice).
        let checkpoint = self.checkpoint.load(Ordering::Acquire);
        let forget = || {
            self.checkpoint.store(checkpoint, Ordering::Release);
            self.cache.clear();
            self.tables.memo().forget();
            undo();
        };
        match f() {
            Ok(value) => {
                unit.commit_or(forget)?;
                Ok(value)
            }
            Err(e) => {
                forget();
                drop(unit);
                Err(e)
            }
        }
    }

    /// Appends `requests`; where units are transactions, projects the new events in the same
    /// unit, so that the command and its read models commit together or not at all (a
    /// projection failure then fails the command and stores nothing). Elsewhere the caller
    /// projects after the append, as a separate step.
    ///
    /// `decided_under` is the policy the events were decided under: if it is no longer the
    /// current one (a version was published since, or the one it saw was rolled back), nothing
    /// is appended and the answer is a conflict on the `policy` stream, which the callers
    /// retry under the current policy (see `engine/policy.rs`). Policies are compared by
    /// identity, not by version number, so a rolled-back version and the one published after
    /// it under the same number are told apart.
    ///
    /// Answers the store's acknowledgements and, where the unit projected them, the events it
    /// appended as stored (the caller need not read them back). `cache` is the state of the
    /// record one request appends to, as its events leave it: it goes into the state cache
    /// before the projection folds them (which then reads it instead of decoding them),
    /// unless the append was a duplicate; a unit that does not commit clears the cache.
    pub(super) fn commit_append(
        &self,
        requests: Vec<AppendRequest>,
        decided_under: &Arc<Policy>,
        cache: Option<CachedState>,
    ) -> Result<(Vec<AppendOutcome>, Vec<StoredEvent>)> {
        let _span = tracing::debug_span!("append", streams = requests.len()).entered();
        self.in_unit(|| {
            let book = self.policies.read();
            let current = &book.current().policy;
            if !Arc::ptr_eq(current, decided_under) {
                return Err(EngineError::Conflict {
                    record: super::policy::POLICY_STREAM.to_owned(),
                    expected: u64::from(decided_under.version.0),
                    actual: u64::from(current.version.0),
                });
            }
            let outcomes = self.store().append_multi(requests)?;
            drop(book);
            // On a shared log another process may have published a policy version since this
            // one read the book: the append now holds the log, so the policy stream cannot move
            // before the unit ends. A newer version rolls the unit back and the command is
            // decided again under it.
            if self.storage().shared() && self.refresh_policies()? {
                let current = self.policy();
                return Err(EngineError::Conflict {
                    record: super::policy::POLICY_STREAM.to_owned(),
                    expected: u64::from(decided_under.version.0),
                    actual: u64::from(current.version.0),
                });
            }
            let mut projected = Vec::new();
            if self.storage().transactional_units()
                && let Some(last) = outcomes.iter().map(|o| o.last_position.0).max()
            {
                if let Some(c) = cache
                    && outcomes.get(c.request).is_some_and(|o| !o.was_duplicate)
                {
                    self.cache.put(c.record, c.version, c.state);
                }
                self.project_to_collecting(last, &mut projected)?;
                self.config.faults.pass(FaultPoint::Commit)?;
            }
            Ok((outcomes, projected))
        })
    }

    /// [`Self::project_to`] from the log, keeping the events it projected in `projected`.
    fn project_to_collecting(&self, target: u64, projected: &mut Vec<StoredEvent>) -> Result<()> {
        if self.checkpoint.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        self.config.faults.pass(FaultPoint::Projection)?;
        let _span = tracing::debug_span!("project", target).entered();
        self.with_projector(|| {
            self.project_locked_with(target, &[], &mut |_, _| {}, Some(&mut *projected))
                .map(|_| ())
        })
    }

    /// Projects up to the head; returns how many events it applied.
    pub(super) fn project_locked(&self, target: u64, known: &[StoredEvent]) -> Result<u64> {
        self.project_locked_with(target, known, &mut |_, _| {}, None)
    }

    /// [`Self::project_locked`], reporting `(checkpoint, head)` after each batch, and keeping
    /// the events it projected in `projected` when given one.
    pub(super) fn project_locked_with(
        &self,
        target: u64,
        known: &[StoredEvent],
        progress: &mut dyn FnMut(u64, u64),
        mut projected: Option<&mut Vec<StoredEvent>>,
    ) -> Result<u64> {
        let store = self.store();
        let head = store.head()?.0.max(target);
        if self.storage().shared() {
            // Other processes project their own events in their own units: what the read
            // models' checkpoint says is applied (read inside this unit) is not applied again.
            let (persisted, _) = projections::read_checkpoint(&*self.views)?;
            self.checkpoint.fetch_max(persisted, Ordering::AcqRel);
        }
        let mut applied = 0u64;
        loop {
            let checkpoint = self.checkpoint.load(Ordering::Acquire);
            if checkpoint >= head {
                break;
            }
            let from = checkpoint + 1;
            let batch: Vec<StoredEvent> = match known.iter().position(|e| e.position.0 == from) {
                Some(i) => known[i..].to_vec(),
                None => store.read_all(
                    Position(from),
                    PROJECT_PAGE.min(usize::try_from(head - checkpoint).unwrap_or(PROJECT_PAGE)),
                )?,
            };
            let Some(last) = batch.last().map(|e| e.position.0) else {
                break;
            };
            // The due index and the KPI outcomes first (both recomputed from the store): a
            // crash between them and the batch re-projects the batch.
            let known = self.refresh_derived_for(&batch, last == head)?;
            let mut loader = self.loader();
            projections::apply_batch(&*self.views, &self.tables, &mut loader, &known, &batch)?;
            applied += batch.len() as u64;
            self.projected
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            self.checkpoint.store(last, Ordering::Release);
            for hook in self.hooks.read().iter() {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    hook.on_events(&batch);
                }));
            }
            // Best effort: the events are projected, a failed write only delays the checkpoint.
            let _ = self.maybe_persist_pm_checkpoint();
            progress(last, head);
            if let Some(projected) = projected.as_deref_mut() {
                projected.extend(batch);
            }
        }
        Ok(applied)
    }

    /// Marks the read models as being rebuilt (durably, before touching them), then clears
    /// them: a crash from here on forces a rebuild at the next open, since clearing is not
    /// atomic and the checkpoint key may survive it. [`Self::views_rebuilt`] ends it.
    pub(super) fn invalidate_views(&self) -> Result<()> {
        self.meta.put(META_VIEWS_REBUILDING.to_vec(), vec![1])?;
        self.storage().flush()?;
        self.views.clear()?;
        self.tables.clear()
    }

    /// Ends a rebuild started by [`Self::invalidate_views`] once the read models reached the
    /// head (and their checkpoint with them).
    pub(super) fn views_rebuilt(&self) -> Result<()> {
        if self.meta.get(META_VIEWS_REBUILDING)?.is_some() {
            self.storage().flush()?;
            self.meta
                .apply(vec![(META_VIEWS_REBUILDING.to_vec(), None)])?;
        }
        Ok(())
    }

    /// Wipes and rebuilds the read models from the log. Where units are transactions the
    /// whole rebuild is one (a crash or a failure leaves the old read models as they were);
    /// writers wait for it.
    pub(super) fn rebuild_views(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<()> {
        self.with_projector(|| self.rebuild_views_locked(progress))
    }

    /// Rebuilds the SQL read models named in `models` alone, from the log up to the views'
    /// checkpoint (a model whose version changed): the log is replayed into scratch keys in
    /// memory, and only those models' tables are written.
    pub(super) fn rebuild_tables(&self, models: Vec<&'static str>) -> Result<()> {
        if models.is_empty() {
            return Ok(());
        }
        let only = self.tables.only(models.clone());
        self.with_projector(|| {
            self.config.faults.pass(FaultPoint::Projection)?;
            only.clear()?;
            let scratch = crate::kv::MemoryKv::new();
            let mut states = projections::ReplayStates::default();
            let upto = self.checkpoint.load(Ordering::Acquire);
            for page in opsledger_store::LogPages::new(self.store(), 1, upto, PROJECT_PAGE) {
                projections::apply_batch(
                    &scratch,
                    &only,
                    &mut states,
                    &Default::default(),
                    &page?,
                )?;
            }
            // SLA clocks are computed from the store, not folded from batches.
            let now = self.config.clock.now();
            let mut sql = Vec::new();
            for record in self.sla_streams_upto(upto)? {
                if record.kind != RecordKind::Incident {
                    continue;
                }
                let (_, state) = self.loader().latest(&record)?;
                let incident = match state.as_ref() {
                    AnyState::Incident(i) => i.as_ref(),
                    _ => None,
                };
                let (outcomes, live) = self.kpi_outcomes(record, None, now, incident)?;
                let row = projections::kpi::history_with(&self.tables, record, &[])?;
                only.sla_rows(
                    record,
                    self.number_of(record)?,
                    &outcomes,
                    live,
                    row.as_ref(),
                    &mut sql,
                );
            }
            only.apply(&sql)?;
            if only.writes_due() {
                self.rebuild_due(&only, upto)?;
            }
            // In the rebuild's unit: a rebuild that does not commit leaves the old version
            // recorded, and the next open drops and rebuilds the model again.
            self.tables.mark_current(&models)
        })
    }

    pub(super) fn rebuild_views_locked(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<()> {
        self.invalidate_views()?;
        self.cache.clear();
        self.checkpoint.store(0, Ordering::Release);
        for hook in self.hooks.read().iter() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook.on_rebuild()));
        }
        let head = self.store().head()?.0;
        self.project_locked_with(head, &[], progress, None)?;
        self.views_rebuilt()
    }
}

/// The state a command's append leaves its record in, for the state cache (see
/// [`Inner::commit_append`]).
pub(super) struct CachedState {
    /// The index of the request that appends the record's events.
    pub(super) request: usize,
    pub(super) record: RecordRef,
    /// The record's version after the append.
    pub(super) version: u64,
    pub(super) state: Arc<AnyState>,
}
