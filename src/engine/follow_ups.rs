//! Process managers in the engine: the floor that keeps their checkpoint before commands whose
//! follow-ups have not run, running follow-ups (and finding those already recorded), the facts
//! they decide on.

use super::*;

#[derive(Default)]
pub(super) struct PmState {
    /// First positions (lower bounds) of commands whose follow-ups have not run yet.
    pub(super) pending: BTreeMap<u64, usize>,
}

/// A registered process-manager floor (see [`PmState::pending`]), released on drop unless
/// kept: a kept floor (follow-ups that could not run) holds the persisted process checkpoint
/// before the command, so the next open re-runs its follow-ups. On unwind the floor is kept too
/// (and the checkpoint persisted with it), never released past follow-ups that did not run.
pub(super) struct PmFloor<'a> {
    inner: &'a Inner,
    floor: u64,
    keep: bool,
}

impl<'a> PmFloor<'a> {
    pub(super) fn register(inner: &'a Inner, floor: u64) -> Self {
        inner.pm_register(floor);
        Self {
            inner,
            floor,
            keep: false,
        }
    }

    pub(super) fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for PmFloor<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.inner.persist_pm_checkpoint();
        } else if !self.keep {
            self.inner.pm_release(self.floor);
        }
    }
}

/// The cause of a follow-up command.
#[derive(Clone, Copy)]
pub(super) struct Cause {
    pub(super) event: Uuid,
    pub(super) process: &'static str,
    /// Set when other reactions to the same event share process and target.
    pub(super) discriminator: Option<Uuid>,
}

/// Whether a follow-up's error is a final refusal (the command is wrong for the record's state),
/// as opposed to a transient failure worth re-running.
pub(super) fn is_refusal(e: &EngineError) -> bool {
    matches!(
        e,
        EngineError::Domain(_)
            | EngineError::InvalidInput { .. }
            | EngineError::NotFound { .. }
            | EngineError::LimitExceeded { .. }
            | EngineError::IdempotencyKeyReused { .. }
    )
}

pub(super) struct EngineFacts<'a>(pub(super) &'a Inner);

impl Facts for EngineFacts<'_> {
    fn view(&self, record: RecordRef) -> Result<Option<RecordView>> {
        get_view(&self.0.tables, record)
    }

    fn incidents_awaiting(&self, problem: ProblemId) -> Result<Vec<IncidentId>> {
        kedb::awaiting(&self.0.tables, problem)
    }

    fn events_after(&self, record: RecordRef, version: u64) -> Result<Vec<RecordEvent>> {
        let stream = StreamId::new(record.stream_name())?;
        let mut out = Vec::new();
        let mut next = version + 1;
        loop {
            let page = self
                .0
                .store()
                .read_stream(&stream, Version(next), PROJECT_PAGE)?;
            let n = page.len();
            for e in &page {
                next = e.version.0 + 1;
                if let Some(d) = decode_event(e)? {
                    out.push(d);
                }
            }
            if n < PROJECT_PAGE {
                return Ok(out);
            }
        }
    }
}

impl Inner {
    // ---- process-manager bookkeeping ------------------------------------------------------

    pub(super) fn pm_register(&self, floor: u64) {
        *self.pm.lock().pending.entry(floor).or_insert(0) += 1;
    }

    pub(super) fn pm_release(&self, floor: u64) {
        let mut pm = self.pm.lock();
        if let Some(n) = pm.pending.get_mut(&floor) {
            *n -= 1;
            if *n == 0 {
                pm.pending.remove(&floor);
            }
        }
    }

    /// Persists the process managers' checkpoint now.
    pub(super) fn persist_pm_checkpoint(&self) -> Result<()> {
        let checkpoint = self.checkpoint.load(Ordering::Acquire);
        let value = match self.pm.lock().pending.keys().next() {
            Some(&min) => checkpoint.min(min.saturating_sub(1)),
            None => checkpoint,
        };
        self.pm_persisted.store(value, Ordering::Release);
        self.meta
            .put(META_PM_CHECKPOINT.to_vec(), value.to_be_bytes().to_vec())
    }

    /// On a log several processes share: runs the follow-ups of every event after the sweep's
    /// own checkpoint (`pm_swept`; those already applied are found by their derived ids and
    /// left as they are), then moves it to the last event checked. The process managers'
    /// checkpoint cannot serve: each process moves it past the commands whose follow-ups it
    /// ran, and knows nothing of another process's commands, which that process may not live
    /// to follow up. The process that holds the scheduler lease sweeps at each tick, so that
    /// the follow-ups of a command whose process was killed before it ran them (an SLA clock's
    /// attachment, a cascade) run within a tick. A follow-up that failed for a transient
    /// reason keeps the sweep's checkpoint before its cause, for the next tick. Nothing to do
    /// on a log of one process (its open re-runs what its own crash left).
    pub(super) fn sweep_follow_ups(&self) -> Result<u64> {
        if !self.shared {
            return Ok(0);
        }
        let store = self.store();
        let head = store.head()?.0;
        self.project_to(head, &[])?;
        let from = self
            .meta
            .get(META_PM_SWEPT)?
            .and_then(|b| b.try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(head)
            .min(head);
        let mut upto = head;
        let mut checked = 0;
        for event in log_events(store, from + 1, head, PROJECT_PAGE) {
            let event = event?;
            checked += 1;
            let position = event.position.0;
            let correlation = event
                .correlation_id
                .unwrap_or_else(|| self.config.ids.new_id());
            let (_, _, incomplete) = self.run_follow_ups(vec![(event, None)], correlation);
            if incomplete {
                upto = position - 1;
                break;
            }
        }
        if upto > from {
            self.meta
                .put(META_PM_SWEPT.to_vec(), upto.to_be_bytes().to_vec())?;
        }
        Ok(checked)
    }

    /// Persists the process managers' checkpoint when it is `PM_CHECKPOINT_EVERY` events
    /// behind: after a crash, at most that many more events are checked again at open (and
    /// the follow-ups found already applied by their derived ids).
    pub(super) fn maybe_persist_pm_checkpoint(&self) -> Result<()> {
        let checkpoint = self.checkpoint.load(Ordering::Acquire);
        if checkpoint.saturating_sub(self.pm_persisted.load(Ordering::Acquire))
            >= PM_CHECKPOINT_EVERY
        {
            self.persist_pm_checkpoint()?;
        }
        Ok(())
    }

    pub(super) fn process_name(&self, actor: &str) -> String {
        let prefix = format!("{}:", self.config.system_actor.id);
        actor.strip_prefix(&prefix).unwrap_or(actor).to_owned()
    }

    /// The follow-ups `events` caused, from the causation index (for replays).
    pub(super) fn recorded_follow_ups(
        &self,
        events: &[StoredEvent],
    ) -> Result<(Vec<FollowUp>, bool)> {
        let store = self.store();
        let max = self.config.limits.max_follow_ups;
        let mut queue: VecDeque<StoredEvent> = events.iter().cloned().collect();
        let mut out: Vec<FollowUp> = Vec::new();
        while let Some(cause) = queue.pop_front() {
            let positions: Vec<u64> = self
                .tables
                .sql
                .query_all(
                    "SELECT position FROM timeline_effects WHERE cause = ?1 ORDER BY position",
                    &[opsledger_store::SqlValue::Text(cause.event_id.to_string())],
                )?
                .iter()
                .filter_map(|row| row.first().and_then(opsledger_store::SqlValue::as_i64))
                .map(|p| p as u64)
                .collect();
            let mut group: Vec<StoredEvent> = Vec::new();
            let flush = |group: &mut Vec<StoredEvent>, out: &mut Vec<FollowUp>| -> Result<()> {
                let Some(first) = group.first() else {
                    return Ok(());
                };
                let Some(record) = RecordRef::from_stream(first.stream.as_str()) else {
                    group.clear();
                    return Ok(());
                };
                out.push(FollowUp {
                    process: self.process_name(&first.actor),
                    cause: cause.event_id,
                    record,
                    number: self.number_of(record)?,
                    result: FollowUpResult::Applied {
                        events: std::mem::take(group),
                    },
                });
                Ok(())
            };
            for p in positions {
                let Some(event) = store.read_all(Position(p), 1)?.into_iter().next() else {
                    continue;
                };
                let contiguous = group
                    .last()
                    .is_some_and(|l| l.stream == event.stream && l.position.0 + 1 == p);
                if !contiguous {
                    flush(&mut group, &mut out)?;
                }
                queue.push_back(event.clone());
                group.push(event);
            }
            flush(&mut group, &mut out)?;
            if out.len() >= max {
                out.truncate(max);
                return Ok((out, true));
            }
        }
        Ok((out, false))
    }

    pub(super) fn system_actor(&self, process: &str) -> Actor {
        let sys = &self.config.system_actor;
        Actor {
            id: ActorId::new(format!("{}:{process}", sys.id)),
            roles: sys.roles.clone(),
        }
    }

    /// Runs the process managers for `events` and, recursively, for the events of the
    /// follow-ups they run. Failures of follow-ups are reported, never raised: the causing
    /// command stands. Returns the follow-ups, whether they were truncated, and whether one
    /// failed for a reason other than a domain refusal (store error, retries exhausted, ...):
    /// then the process checkpoint must not move past the cause, so that it is re-run.
    pub(super) fn run_follow_ups(
        &self,
        events: Vec<(StoredEvent, Option<RecordEvent>)>,
        correlation: Uuid,
    ) -> (Vec<FollowUp>, bool, bool) {
        let limits = self.config.limits;
        let facts = EngineFacts(self);
        let store = self.store();
        let mut queue: VecDeque<(StoredEvent, Option<RecordEvent>, usize)> =
            events.into_iter().map(|(e, d)| (e, d, 0)).collect();
        let mut out = Vec::new();
        let mut truncated = false;
        let mut incomplete = false;
        let skipped = |process: &str, cause: Uuid, record: RecordRef, e: &EngineError| FollowUp {
            process: process.to_owned(),
            cause,
            record,
            number: self.number_of(record).ok().flatten(),
            result: FollowUpResult::Skipped {
                code: e.code().to_owned(),
                message: self.name_records(&e.to_string()),
            },
        };
        'events: while let Some((event, known, depth)) = queue.pop_front() {
            let decoded = match known.map_or_else(|| decode_event(&event), |d| Ok(Some(d))) {
                Ok(Some(d)) => Some(d),
                Ok(None) => None,
                Err(e) => {
                    out.push(skipped(
                        "decode",
                        event.event_id,
                        RecordRef::from_stream(event.stream.as_str())
                            .unwrap_or(RecordRef::new(RecordKind::Incident, Uuid::nil())),
                        &e,
                    ));
                    continue;
                }
            };
            let mut _cascade = None;
            let reactions = match &decoded {
                Some(decoded) => {
                    if let Some(f) = self.sla_follow_up(&event, decoded, correlation) {
                        out.push(f);
                    }
                    _cascade = matches!(
                        decoded,
                        RecordEvent::Incident(
                            opsledger_core::incident::IncidentEvent::Resolved { .. }
                                | opsledger_core::incident::IncidentEvent::Reopened { .. }
                                | opsledger_core::incident::IncidentEvent::PutOnHold { .. }
                                | opsledger_core::incident::IncidentEvent::Resumed { .. }
                                | opsledger_core::incident::IncidentEvent::Canceled { .. }
                        )
                    )
                    .then(|| {
                        let stripe =
                            decoded.record().id.as_u128() % self.cascade_locks.len() as u128;
                        self.cascade_locks[usize::try_from(stripe).unwrap_or(0)].lock()
                    });
                    // The parent/child sync in force when the cause was appended.
                    let policy = self.policy_at(Some(event.position.0));
                    let sync = &policy.incident.child_sync;
                    match process::react_to(decoded, Some(event.version.0), sync, &facts) {
                        Ok(r) => r,
                        Err(e) => {
                            incomplete |= !is_refusal(&e);
                            out.push(skipped("react", event.event_id, decoded.record(), &e));
                            continue;
                        }
                    }
                }
                // Not a record event: an SLA event may call for an escalation at breach.
                None => match sla::sla_event_of(&event) {
                    Ok(Some(sla_event)) => process::react_to_sla(&sla_event),
                    Ok(None) => continue,
                    Err(e) => {
                        let record = RecordRef::from_stream(event.stream.as_str())
                            .unwrap_or(RecordRef::new(RecordKind::Incident, Uuid::nil()));
                        out.push(skipped("decode", event.event_id, record, &e));
                        continue;
                    }
                },
            };
            let shared = |process: &str, target: Option<RecordRef>| {
                reactions
                    .iter()
                    .filter(|r| r.process == process && r.command.target() == target)
                    .count()
                    > 1
            };
            let discriminators: Vec<Option<Uuid>> = reactions
                .iter()
                .map(|r| {
                    shared(r.process, r.command.target())
                        .then(|| process::reaction_discriminator(&r.command))
                })
                .collect();
            for (reaction, discriminator) in reactions.into_iter().zip(discriminators) {
                if out.len() >= limits.max_follow_ups {
                    truncated = true;
                    break 'events;
                }
                let Some(target) = reaction.command.target() else {
                    continue;
                };
                let first_id = follow_up_event_id_with(
                    event.event_id,
                    reaction.process,
                    target,
                    discriminator,
                    0,
                );
                match store.event_by_id(first_id) {
                    Ok(Some(existing)) => {
                        // Already ran (before a crash, or an earlier pass): report, never redo.
                        let mut applied = vec![existing];
                        for i in 1..u32::MAX {
                            let id = follow_up_event_id_with(
                                event.event_id,
                                reaction.process,
                                target,
                                discriminator,
                                i,
                            );
                            match store.event_by_id(id) {
                                Ok(Some(e)) => applied.push(e),
                                Ok(None) | Err(_) => break,
                            }
                        }
                        out.push(FollowUp {
                            process: reaction.process.to_owned(),
                            cause: event.event_id,
                            record: target,
                            number: self.number_of(target).ok().flatten(),
                            result: FollowUpResult::Applied { events: applied },
                        });
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        incomplete = true;
                        out.push(skipped(reaction.process, event.event_id, target, &e.into()));
                        continue;
                    }
                }
                let actor = self.system_actor(reaction.process);
                let cause = Cause {
                    event: event.event_id,
                    process: reaction.process,
                    discriminator,
                };
                let applied = self
                    .config
                    .faults
                    .pass(FaultPoint::FollowUp)
                    .and_then(|()| {
                        self.apply(
                            &actor,
                            &reaction.command,
                            None,
                            None,
                            correlation,
                            Some(cause),
                        )
                    });
                match applied {
                    Ok((o, decoded)) => {
                        if depth + 1 < limits.max_follow_up_depth {
                            queue.extend(
                                pair(&o.events, decoded)
                                    .into_iter()
                                    .map(|(e, d)| (e, d, depth + 1)),
                            );
                        } else if !o.events.is_empty() {
                            truncated = true;
                        }
                        out.push(FollowUp {
                            process: reaction.process.to_owned(),
                            cause: event.event_id,
                            record: o.record,
                            number: o.number,
                            result: FollowUpResult::Applied { events: o.events },
                        });
                    }
                    Err(e) => {
                        // Only a domain refusal is final; anything else is re-run later.
                        incomplete |= !is_refusal(&e);
                        let mut f = skipped(reaction.process, event.event_id, target, &e);
                        f.number = self.number_of(target).ok().flatten();
                        out.push(f);
                    }
                }
            }
        }
        (out, truncated, incomplete)
    }
}
