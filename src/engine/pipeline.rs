//! The command pipeline: load, decide, append (numbering, idempotency, the calendar lock,
//! retries on conflict), project, and the replays of idempotent retries.

use super::*;

/// Whether `command` is decided against the change calendar: planning a window, and the two
/// commands that can book one (a standard change's submission, the approval that reaches the
/// quorum). Bookings are made by nothing else.
pub(super) fn reads_calendar(command: &Command) -> bool {
    matches!(
        command,
        Command::Change(
            ChangeCommand::Plan { .. }
                | ChangeCommand::Submit { .. }
                | ChangeCommand::Approve { .. }
        )
    )
}

/// Sleeps a little, more with each attempt, with jitter (so that colliding writers spread out).
pub(super) fn backoff(attempt: u32) {
    use std::cell::Cell;
    thread_local! {
        static SEED: Cell<u64> = const { Cell::new(0) };
    }
    if attempt <= 1 {
        std::thread::yield_now();
        return;
    }
    let r = SEED.with(|s| {
        let mut x = s.get();
        if x == 0 {
            x = (std::ptr::from_ref(s) as usize as u64) | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x
    });
    let cap = 20u64.saturating_mul(1 << attempt.min(10)).min(20_000);
    std::thread::sleep(Duration::from_micros(r % cap + 1));
}

/// The name of the section in which calendar decisions run one at a time across processes
/// ([`opsledger_store::Storage::exclusive`]).
const CALENDAR_EXCLUSIVE: &str = "change-calendar";

/// The names of the sections in which the creations of each kind of record (their number
/// allocations) run one at a time across processes, by [`kind_index`].
const NUMBERING_EXCLUSIVE: [&str; 3] = [
    "numbering-incident",
    "numbering-problem",
    "numbering-change",
];

/// Attempts of a read or a projection that a stored command retries before leaving it to the
/// next open (the command is stored: they must not turn it into an error).
const TRANSIENT_ATTEMPTS: u32 = 3;

/// The engine's one retry policy: runs `f` up to `attempts` times, waiting [`backoff`] between
/// attempts; the last error is returned. (The conflict loop of [`Inner::apply`] waits with the
/// same backoff between its attempts against fresh state.)
pub(super) fn retry<T, E>(attempts: u32, mut f: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    let mut attempt = 1;
    loop {
        match f() {
            Ok(value) => return Ok(value),
            Err(e) if attempt >= attempts => return Err(e),
            Err(_) => {
                backoff(attempt);
                attempt += 1;
            }
        }
    }
}

pub(super) fn decide(
    state: &AnyState,
    command: &Command,
    ctx: &Context,
) -> Result<Vec<RecordEvent>> {
    Ok(match (state, command) {
        (AnyState::Incident(s), Command::Incident(c)) => IncidentDecider::decide(s, c, ctx)?
            .into_iter()
            .map(RecordEvent::Incident)
            .collect(),
        (AnyState::Problem(s), Command::Problem(c)) => ProblemDecider::decide(s, c, ctx)?
            .into_iter()
            .map(RecordEvent::Problem)
            .collect(),
        (AnyState::Change(s), Command::Change(c)) => ChangeDecider::decide(s, c, ctx)?
            .into_iter()
            .map(RecordEvent::Change)
            .collect(),
        (AnyState::Incident(_) | AnyState::Problem(_) | AnyState::Change(_), _) => {
            return Err(EngineError::invalid(
                "command",
                "the command does not match the kind of its record",
            ));
        }
    })
}

/// Pairs stored events with the decoded events they were encoded from (when the counts agree).
pub(super) fn pair(
    stored: &[StoredEvent],
    decoded: Vec<RecordEvent>,
) -> Vec<(StoredEvent, Option<RecordEvent>)> {
    if stored.len() == decoded.len() {
        stored
            .iter()
            .cloned()
            .zip(decoded.into_iter().map(Some))
            .collect()
    } else {
        stored.iter().cloned().map(|e| (e, None)).collect()
    }
}

pub(super) fn kind_index(kind: RecordKind) -> usize {
    match kind {
        RecordKind::Incident => 0,
        RecordKind::Problem => 1,
        RecordKind::Change => 2,
    }
}

impl Inner {
    // ---- commands -------------------------------------------------------------------------

    pub(super) fn execute(&self, envelope: CommandEnvelope) -> Result<Outcome> {
        let CommandEnvelope {
            actor,
            command,
            idempotency_key,
            expected_version,
            correlation_id,
        } = envelope;
        let correlation = correlation_id.unwrap_or_else(|| self.config.ids.new_id());
        // One span per command: log lines from deciding, appending, projecting and the
        // follow-ups say which command they belong to. Fields are built only when a subscriber
        // wants the span.
        let _span = tracing::info_span!(
            "command",
            command = %command.name(),
            actor = %actor.id,
            correlation = %correlation
        )
        .entered();
        // Process managers must not be checkpointed past this command before its follow-ups
        // ran: register a lower bound of its position before it is appended.
        let floor = self.store().head()?.0 + 1;
        let mut registration = PmFloor::register(self, floor);
        let result = self
            .execute_one(
                &actor,
                &command,
                idempotency_key.as_deref(),
                expected_version,
                correlation,
            )
            .map(|(mut outcome, decoded)| {
                if !outcome.replayed {
                    // The command is stored: from here on, nothing turns it into an error.
                    let own_last = outcome.events.last().map_or(0, |e| e.position.0);
                    if self.checkpoint.load(Ordering::Acquire) < own_last {
                        let _ = self.project_to(own_last, &[]);
                    }
                    if self.checkpoint.load(Ordering::Acquire) < own_last {
                        // The read models could not reach the events: the process managers
                        // would decide on stale facts. Leave the follow-ups to the next open.
                        registration.keep();
                    } else {
                        let roots = pair(&outcome.events, decoded);
                        let (follow_ups, truncated, incomplete) =
                            self.run_follow_ups(roots, correlation);
                        outcome.follow_ups = follow_ups;
                        outcome.follow_ups_truncated = truncated;
                        if incomplete {
                            // A follow-up failed for a transient reason: the process
                            // checkpoint stays before this command, the next open re-runs it.
                            registration.keep();
                        }
                    }
                }
                outcome
            });
        drop(registration);
        // Best effort: a failed checkpoint write must not fail a stored command.
        let _ = self.maybe_persist_pm_checkpoint();
        match &result {
            Ok(outcome) => tracing::debug!(
                events = outcome.events.len(),
                follow_ups = outcome.follow_ups.len(),
                replayed = outcome.replayed,
                "command stored"
            ),
            Err(e) => tracing::debug!(code = e.code(), "command refused"),
        }
        result
    }

    pub(super) fn execute_one(
        &self,
        actor: &Actor,
        command: &Command,
        key: Option<&str>,
        expected: Option<u64>,
        correlation: Uuid,
    ) -> Result<(Outcome, Vec<RecordEvent>)> {
        let idem = match key {
            Some(k) => {
                idempotency::validate_key(k, self.config.limits.max_idempotency_key_bytes)?;
                let fp = idempotency::fingerprint(actor, command)?;
                if let Some(outcome) = self.replay(actor, k, fp)? {
                    return Ok((outcome, Vec::new()));
                }
                Some((k.to_owned(), fp))
            }
            None => None,
        };
        match command {
            Command::Alert(report) => self.route_alert(actor, report, idem.as_ref(), correlation),
            // Only the alert routing below says through which service an alert joins.
            Command::Incident(IncidentCommand::CorrelateAlert { via: Some(_), .. }) => {
                Err(EngineError::invalid(
                    "via",
                    "set only by the engine when it routes an alert (alert.report)",
                ))
            }
            Command::Incident(_) | Command::Problem(_) | Command::Change(_) => {
                self.apply(actor, command, idem.as_ref(), expected, correlation, None)
            }
        }
    }

    pub(super) fn route_alert(
        &self,
        actor: &Actor,
        report: &crate::command::AlertReport,
        idem: Option<&(String, Uuid)>,
        correlation: Uuid,
    ) -> Result<(Outcome, Vec<RecordEvent>)> {
        let stripe = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            report.dedup_key.hash(&mut h);
            usize::try_from(h.finish() % ALERT_STRIPES as u64).unwrap_or(0)
        };
        let _guard = self.alert_locks[stripe].lock();
        let attempts = self.config.max_attempts;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.catch_up()?;
            let seen_at = report.seen_at.unwrap_or_else(|| self.config.clock.now());
            let policy = self.policy();
            let key_holder = kedb::alert_owner(&self.tables, &report.dedup_key)?;
            // The model is consulted only when the policy may use it.
            let affected = if key_holder.is_none()
                && policy.incident.correlate_alerts_by_service
                && !report.cis.is_empty()
            {
                self.alert_impact(&report.cis, seen_at)?
            } else {
                Vec::new()
            };
            let facts = AlertFacts {
                key_holder,
                affected,
            };
            let route = route_alert(&policy.incident, &facts, &report.source);
            let command = match route.clone() {
                AlertRoute::Repeat { incident } => IncidentCommand::CorrelateAlert {
                    id: incident,
                    dedup_key: report.dedup_key.clone(),
                    seen_at,
                    via: None,
                },
                AlertRoute::ViaService {
                    incident,
                    correlation,
                } => IncidentCommand::CorrelateAlert {
                    id: incident,
                    dedup_key: report.dedup_key.clone(),
                    seen_at,
                    via: Some(correlation),
                },
                AlertRoute::Open => IncidentCommand::Open {
                    id: report
                        .incident_id
                        .unwrap_or_else(|| IncidentId(self.config.ids.new_id())),
                    title: report.title.clone(),
                    description: report.description.clone(),
                    caller: report.caller.clone().unwrap_or_else(|| actor.id.clone()),
                    impact: report.impact,
                    urgency: report.urgency,
                    service: report.service.clone(),
                    cis: report.cis.clone(),
                    group: report.group.clone(),
                    assignee: None,
                    alert: Some(AlertSource {
                        dedup_key: report.dedup_key.clone(),
                        source: report.source.clone(),
                        seen_at: report.seen_at,
                    }),
                },
            };
            match self.apply(
                actor,
                &Command::Incident(command),
                idem,
                None,
                correlation,
                None,
            ) {
                // The incident joined was resolved meanwhile: route again.
                Err(EngineError::Domain(_)) if route != AlertRoute::Open && attempt < attempts => {
                    continue;
                }
                other => return other,
            }
        }
    }

    /// Fills the change calendar of schedule-carrying change commands from the read model
    /// (those for which [`reads_calendar`] holds).
    pub(super) fn fill_calendar(&self, command: &mut Command, state: &AnyState) -> Result<()> {
        let Command::Change(c) = command else {
            return Ok(());
        };
        let planned = match state {
            AnyState::Change(Some(ch)) => ch.planned_window,
            AnyState::Change(None) | AnyState::Incident(_) | AnyState::Problem(_) => None,
        };
        let max = self.policy().limits.max_links;
        match c {
            ChangeCommand::Plan {
                id,
                window,
                calendar: cal,
                ..
            } => {
                self.catch_up()?;
                *cal = calendar::booked_overlapping(&self.tables, *window, *id, max)?;
            }
            ChangeCommand::Submit {
                id, calendar: cal, ..
            }
            | ChangeCommand::Approve {
                id, calendar: cal, ..
            } => {
                *cal = match planned {
                    Some(w) => {
                        self.catch_up()?;
                        calendar::booked_overlapping(&self.tables, w, *id, max)?
                    }
                    None => Vec::new(),
                };
            }
            ChangeCommand::Request { .. }
            | ChangeCommand::Update { .. }
            | ChangeCommand::RequestAuthorization { .. }
            | ChangeCommand::Reject { .. }
            | ChangeCommand::StartImplementation { .. }
            | ChangeCommand::CompleteImplementation { .. }
            | ChangeCommand::Close { .. }
            | ChangeCommand::Cancel { .. }
            | ChangeCommand::RevertToNew { .. }
            | ChangeCommand::LinkFixesProblem { .. }
            | ChangeCommand::RecordCausedIncident { .. }
            | ChangeCommand::AddWorkNote { .. } => {}
        }
        if let (
            ChangeCommand::Plan { ci_relations, .. }
            | ChangeCommand::Submit { ci_relations, .. }
            | ChangeCommand::Approve { ci_relations, .. },
            AnyState::Change(Some(ch)),
        ) = (c, state)
        {
            self.merge_model_relations(&ch.cis, ci_relations, max)?;
        }
        Ok(())
    }

    /// Decides and appends one command on one record, retrying unpinned conflicts.
    pub(super) fn apply(
        &self,
        actor: &Actor,
        command: &Command,
        idem: Option<&(String, Uuid)>,
        expected: Option<u64>,
        correlation: Uuid,
        cause: Option<Cause>,
    ) -> Result<(Outcome, Vec<RecordEvent>)> {
        let Some(record) = command.target() else {
            return Err(EngineError::invalid("command", "names no record"));
        };
        let kind = record.kind;
        // The commands decided against the calendar (the only ones that can book a window, and
        // planning, which records its conflicts) run one at a time, so two changes cannot
        // both book the same CI unseen. The other change commands do not wait for them: they
        // cannot add a booking, nor move one (the transition table allows `update` and
        // `plan` only before authorisation, and bookings exist only in Scheduled and
        // Implement), and one that frees a window while a booking command runs only makes
        // that command see a conflict that was about to go (the safe side).
        // Across the processes sharing a log (replicas on PostgreSQL) too.
        let _calendar_guard = reads_calendar(command).then(|| self.calendar_lock.lock());
        let _calendar_exclusive = if reads_calendar(command) {
            Some(self.storage().exclusive(CALENDAR_EXCLUSIVE)?)
        } else {
            None
        };
        let creates = command.creates();
        let _number_guard = creates.then(|| self.numbering[kind_index(kind)].lock());
        // A new record takes the next number of its kind: the numbering stream's version is
        // read, then appended to with that version expected. Across the processes sharing a
        // log (replicas on PostgreSQL) every creation by another process in between would be
        // a conflict and a retry, and with three replicas under load a creation could lose
        // `max_attempts` times in a row: creations of a kind run one at a time across
        // processes too. (No command both creates and reads the calendar, so the two sections
        // never nest.)
        let _number_exclusive = if creates {
            debug_assert!(!reads_calendar(command), "the sections must not nest");
            Some(
                self.storage()
                    .exclusive(NUMBERING_EXCLUSIVE[kind_index(kind)])?,
            )
        } else {
            None
        };
        let stream = record.stream();
        let store = self.store();
        let ids = &self.config.ids;
        let attempts = self.config.max_attempts;
        for attempt in 1..=attempts {
            let policy = self.policy();
            // A change is decided with the windows of its CIs' services applied to the CIs.
            let decide_policy = match command {
                Command::Change(_) => self.expand_service_scopes(policy.clone())?,
                Command::Incident(_) | Command::Problem(_) | Command::Alert(_) => policy.clone(),
            };
            // Where this engine is the only writer and every append is projected in its unit
            // (SQLite), a cached state is the record's latest: the projection leaves each
            // record's state in the cache, and a unit that does not commit clears it. A stale
            // one after all (a put racing an eviction) makes the append conflict on the
            // record's version, and the next attempt reads the tail. A caller's expected
            // version is checked against the tail, never against the cache alone.
            let cached = (attempt == 1 && expected.is_none() && self.cache_is_latest())
                .then(|| self.cache.get(&record))
                .flatten();
            let (version, state) = match cached {
                Some(hit) => hit,
                None => self.loader().latest(&record)?,
            };
            // A concurrent request with the same key may have won since the check before the
            // locks: its outcome, never an error, is this request's answer.
            if let Some((key, fingerprint)) = idem
                && let Some(outcome) = self.replay(actor, key, *fingerprint)?
            {
                return Ok((outcome, Vec::new()));
            }
            if let Some(e) = expected
                && e != version
            {
                if let Some((key, fingerprint)) = idem
                    && let Some(outcome) = self.replay(actor, key, *fingerprint)?
                {
                    return Ok((outcome, Vec::new()));
                }
                return Err(EngineError::Conflict {
                    record: stream.to_string(),
                    expected: e,
                    actual: version,
                });
            }
            let mut command = command.clone();
            self.fill_calendar(&mut command, &state)?;
            self.fill_group_from_model(&mut command, &policy)?;
            let ctx = Context::new(self.config.clock.now(), actor.clone(), decide_policy);
            let decided = {
                let _span = tracing::debug_span!("decide").entered();
                decide(&state, &command, &ctx)
            };
            let events = match decided {
                Ok(events) => events,
                Err(e) => {
                    if let Some((key, fingerprint)) = idem
                        && let Some(outcome) = self.replay(actor, key, *fingerprint)?
                    {
                        return Ok((outcome, Vec::new()));
                    }
                    return Err(e);
                }
            };
            let causation = cause.map(|c| c.event);
            let new_events = events
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let id = match cause {
                        Some(c) => follow_up_event_id_with(
                            c.event,
                            c.process,
                            record,
                            c.discriminator,
                            u32::try_from(i).unwrap_or(u32::MAX),
                        ),
                        None => ids.new_id(),
                    };
                    e.to_new_event(id, actor.id.as_str(), Some(correlation), causation)
                })
                .collect::<Result<Vec<NewEvent>>>()?;
            let count = new_events.len() as u64;
            let new_version = version + count;
            // The key's request goes first: a concurrent request with the same key conflicts
            // on the key (and replays) before it conflicts on the numbering or record stream.
            let mut requests = Vec::with_capacity(3);
            if let Some((key, fingerprint)) = idem {
                let rec = IdempotencyRecord {
                    key: key.clone(),
                    fingerprint: *fingerprint,
                    record,
                    first_version: if count > 0 { version + 1 } else { 0 },
                    count,
                    version: new_version,
                };
                requests.push(AppendRequest::new(
                    idempotency::key_stream(actor.id.as_str(), key),
                    ExpectedVersion::NoStream,
                    vec![NewEvent {
                        event_id: ids.new_id(),
                        event_type: IDEMPOTENCY_EVENT.to_owned(),
                        schema_version: 1,
                        occurred_at: ctx.now,
                        actor: actor.id.as_str().to_owned(),
                        correlation_id: Some(correlation),
                        causation_id: causation,
                        payload: serde_json::to_vec(&rec)
                            .map_err(|e| EngineError::invalid("idempotency_key", e.to_string()))?,
                    }],
                ));
            }
            let mut number = None;
            if creates && count > 0 {
                let numbering = numbers::numbering_stream(kind);
                let current = store.stream_version(&numbering)?.0;
                requests.push(AppendRequest::new(
                    numbering,
                    ExpectedVersion::Exact(Version(current)),
                    vec![NewEvent {
                        event_id: ids.new_id(),
                        event_type: NUMBER_EVENT.to_owned(),
                        schema_version: 1,
                        occurred_at: ctx.now,
                        actor: actor.id.as_str().to_owned(),
                        correlation_id: Some(correlation),
                        causation_id: causation,
                        payload: numbers::allocation_payload(record),
                    }],
                ));
                number = Some(HumanNumber::new(kind, current + 1));
            }
            let record_request = requests.len();
            let impact = if creates && count > 0 {
                self.impact_request(&command, actor, ctx.now, correlation)?
            } else {
                None
            };
            let suggestions = if creates && count > 0 {
                self.suggestions_request(&command, actor, ctx.now, correlation)?
            } else {
                None
            };
            if count > 0 {
                let expect = if version == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Exact(Version(version))
                };
                requests.push(AppendRequest::new(
                    stream.clone(),
                    expect,
                    new_events.clone(),
                ));
            }
            requests.extend(impact);
            requests.extend(suggestions);
            if requests.is_empty() {
                // Nothing changed (an idempotent link repeated) and nothing to remember.
                let outcome = Outcome {
                    record,
                    number: self.number_of(record)?,
                    version,
                    events: Vec::new(),
                    follow_ups: Vec::new(),
                    replayed: false,
                    follow_ups_truncated: false,
                };
                return Ok((outcome, Vec::new()));
            }
            let cached = (count > 0).then(|| {
                let mut new_state = (*state).clone();
                for e in &events {
                    new_state = new_state.evolve(e);
                }
                super::projection::CachedState {
                    request: record_request,
                    record,
                    version: new_version,
                    state: Arc::new(new_state),
                }
            });
            let new_state = cached.as_ref().map(|c| c.state.clone());
            match self.commit_append(requests, &policy, cached) {
                Ok((outcomes, projected)) => {
                    let (Some(first), Some(last)) = (outcomes.first(), outcomes.last()) else {
                        return Err(EngineError::Store(StoreError::Backend(
                            "append returned no outcome".into(),
                        )));
                    };
                    // The command is stored: nothing below may turn it into an error (the
                    // caller would retry a command that is in the log, and its follow-ups
                    // would be lost). Reads are retried; what still fails is left to the
                    // caller's projection check (see `execute`).
                    let (first, last) = (first.first_position.0, last.last_position.0);
                    let own = (count > 0).then(|| outcomes.get(record_request)).flatten();
                    // An exact retry of events already stored (derived follow-up ids): the
                    // store acknowledged the earlier append, whose state may differ from
                    // the one decided here.
                    let duplicate = outcomes.iter().any(|o| o.was_duplicate);
                    let new_version = match own {
                        Some(o) if duplicate => o.last_version.0,
                        _ => new_version,
                    };
                    let stored =
                        self.read_appended(own, first, last, &stream, &new_events, &projected);
                    if let Some(new_state) = new_state
                        && own.is_some_and(|o| !o.was_duplicate)
                    {
                        self.cache.put(record, new_version, new_state);
                    }
                    let _ = retry(TRANSIENT_ATTEMPTS, || self.project_to(last, &[]));
                    let number = match number {
                        Some(n) => Some(n),
                        None => self.number_of(record).ok().flatten(),
                    };
                    let outcome = Outcome {
                        record,
                        number,
                        version: new_version,
                        events: stored,
                        follow_ups: Vec::new(),
                        replayed: false,
                        follow_ups_truncated: false,
                    };
                    return Ok((outcome, events));
                }
                Err(EngineError::Conflict {
                    record: conflicted, ..
                }) if conflicted == super::policy::POLICY_STREAM => {
                    // A new policy version was published while this command was decided
                    // under the previous one: decide again under the new one.
                    self.retries.fetch_add(1, Ordering::Relaxed);
                }
                Err(EngineError::Store(StoreError::WrongExpectedVersion {
                    stream: conflicted,
                    actual,
                    ..
                })) => {
                    if let Some((key, fingerprint)) = idem
                        && conflicted == idempotency::key_stream(actor.id.as_str(), key)
                    {
                        return Ok((
                            self.replay_when_visible(actor, key, *fingerprint)?,
                            Vec::new(),
                        ));
                    }
                    if let Some(e) = expected
                        && conflicted == stream
                    {
                        if let Some((key, fingerprint)) = idem
                            && let Some(outcome) = self.replay(actor, key, *fingerprint)?
                        {
                            return Ok((outcome, Vec::new()));
                        }
                        return Err(EngineError::Conflict {
                            record: stream.to_string(),
                            expected: e,
                            actual: actual.0,
                        });
                    }
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    backoff(attempt);
                }
                Err(EngineError::Store(StoreError::Transient(_))) => {
                    // The database aborted the unit to keep concurrent writers (replicas)
                    // consistent; nothing of it was stored: decide again on fresh state.
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    backoff(attempt);
                }
                Err(e) => return Err(e),
            }
        }
        Err(EngineError::RetriesExhausted {
            record: stream.to_string(),
            attempts,
        })
    }

    /// The record events of a successful append, as stored: read back (retried), else rebuilt
    /// from what was appended and the store's acknowledgement (recorded time: now).
    /// `projected`: events the append's unit projected, if any (read from the store in that
    /// unit), which spare the read when they cover the append.
    pub(super) fn read_appended(
        &self,
        own: Option<&opsledger_store::AppendOutcome>,
        first: u64,
        last: u64,
        stream: &StreamId,
        appended: &[NewEvent],
        projected: &[StoredEvent],
    ) -> Vec<StoredEvent> {
        let Some(own) = own else {
            return Vec::new();
        };
        let (from, to) = if own.was_duplicate {
            (own.first_position.0, own.last_position.0)
        } else {
            (first, last)
        };
        let covers = |p: u64| projected.iter().any(|e| e.position.0 == p);
        if covers(from) && covers(to) {
            return projected
                .iter()
                .filter(|e| (from..=to).contains(&e.position.0) && &e.stream == stream)
                .cloned()
                .collect();
        }
        let read = retry(TRANSIENT_ATTEMPTS, || {
            self.store().read_all(
                Position(from),
                usize::try_from(to.saturating_sub(from) + 1).unwrap_or(usize::MAX),
            )
        });
        if let Ok(stored) = read {
            return stored.into_iter().filter(|e| &e.stream == stream).collect();
        }
        let now = self.config.clock.now();
        appended
            .iter()
            .zip(0u64..)
            .map(|(e, i)| StoredEvent {
                position: Position(own.first_position.0 + i),
                stream: stream.clone(),
                version: Version(own.first_version.0 + i),
                event_id: e.event_id,
                event_type: e.event_type.clone(),
                schema_version: e.schema_version,
                occurred_at: e.occurred_at,
                recorded_at: now,
                actor: e.actor.clone(),
                correlation_id: e.correlation_id,
                causation_id: e.causation_id,
                payload: e.payload.clone(),
                checksum: 0,
            })
            .collect()
    }

    /// The outcome recorded for `key`, if the key was used; an error if it was used for
    /// another command.
    pub(super) fn replay(
        &self,
        actor: &Actor,
        key: &str,
        fingerprint: Uuid,
    ) -> Result<Option<Outcome>> {
        let store = self.store();
        let stream = idempotency::key_stream(actor.id.as_str(), key);
        let Some(first) = store
            .read_stream(&stream, Version(1), 1)?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let rec: IdempotencyRecord =
            serde_json::from_slice(&first.payload).map_err(|e| EngineError::Decode {
                position: first.position.0,
                reason: e.to_string(),
            })?;
        if rec.fingerprint != fingerprint || rec.key != key {
            return Err(EngineError::IdempotencyKeyReused {
                key: key.to_owned(),
            });
        }
        let events = if rec.count > 0 {
            store.read_stream(
                &rec.record.stream(),
                Version(rec.first_version),
                usize::try_from(rec.count).unwrap_or(usize::MAX),
            )?
        } else {
            Vec::new()
        };
        self.catch_up()?;
        let (follow_ups, truncated) = self.recorded_follow_ups(&events)?;
        Ok(Some(Outcome {
            record: rec.record,
            number: self.number_of(rec.record)?,
            version: rec.version,
            events,
            follow_ups,
            replayed: true,
            follow_ups_truncated: truncated,
        }))
    }

    /// Replays a key another writer has just stored (its append may not be visible yet).
    pub(super) fn replay_when_visible(
        &self,
        actor: &Actor,
        key: &str,
        fingerprint: Uuid,
    ) -> Result<Outcome> {
        for _ in 0..200 {
            if let Some(outcome) = self.replay(actor, key, fingerprint)? {
                return Ok(outcome);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Err(EngineError::RetriesExhausted {
            record: idempotency::key_stream(actor.id.as_str(), key).to_string(),
            attempts: 200,
        })
    }
}
