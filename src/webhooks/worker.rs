//! The delivery worker: each pass queues the deliveries of new events, learns of new outbox
//! entries, and attempts the deliveries that are due, claiming each attempt in the log first.

use super::{
    OUTBOX_STREAM, OutboxEntry, delivery_stream, fixed_stream, lost_race, new_event, payload,
    signature,
};
use crate::engine::{Engine, Inner};
use crate::error::{EngineError, Result};
use chrono::{DateTime, Utc};
use opsledger_core::DeliveryId;
use opsledger_core::webhook::delivery::{AttemptResult, Delivery, RetryPolicy, Step};
use opsledger_store::{AppendRequest, ExpectedVersion, Version};
use parking_lot::{Condvar, Mutex};
use std::collections::{BTreeMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

/// Meta key: outbox versions up to this one hold only finished deliveries.
const META_OUTBOX_FLOOR: &[u8] = b"webhook_outbox_floor";
/// Errors a [`WebhookWorker`] keeps.
const KEPT_ERRORS: usize = 64;

/// One request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    /// The delivery (also in the `Opsledger-Delivery` header).
    pub delivery: DeliveryId,
    /// Where to POST.
    pub url: String,
    /// The headers, signature included.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl WebhookRequest {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request and says how it went. [`HttpTransport`](super::HttpTransport) is the
/// real one; tests inject their own.
pub trait WebhookTransport: Send + Sync {
    /// POSTs `request`; must return within the worker's lease (the HTTP transport's total
    /// timeout is much shorter).
    fn send(&self, request: &WebhookRequest) -> AttemptResult;
}

/// How the worker runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookWorkerConfig {
    /// Attempts, backoff and lease.
    pub retry: RetryPolicy,
    /// How often the worker looks for work when nothing is due sooner.
    pub poll_interval: Duration,
    /// This worker's name in `attempt_started` events (host and process, for example).
    pub worker_id: String,
    /// Base of the links in payloads (`https://itsm.example/records` gives
    /// `https://itsm.example/records/INC0000001`); `None`: no URLs, numbers and ids only.
    pub link_base: Option<String>,
    /// Most attempts per pass.
    pub batch: usize,
}

impl Default for WebhookWorkerConfig {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            poll_interval: Duration::from_secs(1),
            worker_id: format!("opsledger-{}", std::process::id()),
            link_base: None,
            batch: 100,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Deliveries queued (new matches).
    pub queued: usize,
    /// Attempts started.
    pub attempted: usize,
    /// Attempts that succeeded.
    pub succeeded: usize,
    /// Attempts that failed.
    pub failed: usize,
    /// Deliveries dead-lettered.
    pub dead_lettered: usize,
    /// Attempts another worker claimed first (skipped here).
    pub lost_races: usize,
    /// When the next pending delivery is due (`None`: nothing pending).
    pub next_due: Option<DateTime<Utc>>,
}

/// The deliveries this engine knows to be unfinished.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// The outbox version read so far (`None`: not read yet since open).
    seen: Option<u64>,
    /// Delivery -> (when to look at it again, its outbox version).
    due: BTreeMap<DeliveryId, (DateTime<Utc>, u64)>,
    /// Attempts running on this engine (other workers skip them).
    running: std::collections::HashSet<DeliveryId>,
}

impl Inner {
    /// Reads outbox entries after the last one seen into the pending set.
    fn learn_outbox(&self) -> Result<()> {
        let seen = match self.webhook_pending.lock().seen {
            Some(v) => v,
            None => self
                .meta
                .get(META_OUTBOX_FLOOR)?
                .and_then(|b| b.try_into().ok().map(u64::from_be_bytes))
                .unwrap_or(0),
        };
        let outbox = fixed_stream(OUTBOX_STREAM);
        let mut next = seen + 1;
        loop {
            let page = self.store().read_stream(&outbox, Version(next), 1000)?;
            let n = page.len();
            let mut pending = self.webhook_pending.lock();
            for e in page {
                let entry: OutboxEntry =
                    serde_json::from_slice(&e.payload).map_err(|err| EngineError::Decode {
                        position: e.position.0,
                        reason: err.to_string(),
                    })?;
                pending
                    .due
                    .entry(entry.delivery)
                    .or_insert((DateTime::<Utc>::MIN_UTC, e.version.0));
                next = e.version.0 + 1;
            }
            pending.seen = Some(next - 1);
            if n < 1000 {
                return Ok(());
            }
        }
    }

    fn persist_outbox_floor(&self) -> Result<()> {
        let floor = {
            let pending = self.webhook_pending.lock();
            let Some(seen) = pending.seen else {
                return Ok(());
            };
            pending
                .due
                .values()
                .map(|(_, v)| v.saturating_sub(1))
                .min()
                .unwrap_or(seen)
        };
        self.meta
            .put(META_OUTBOX_FLOOR.to_vec(), floor.to_be_bytes().to_vec())
    }

    fn deliver_pass(
        &self,
        transport: &dyn WebhookTransport,
        config: &WebhookWorkerConfig,
    ) -> Result<DeliveryReport> {
        let mut report = DeliveryReport {
            queued: self.queue_deliveries(10_000)?,
            ..DeliveryReport::default()
        };
        self.learn_outbox()?;
        let now = self.config.clock.now();
        let due: Vec<DeliveryId> = {
            let mut pending = self.webhook_pending.lock();
            // In outbox order, which is the order of the events in the log.
            let mut ready: Vec<(u64, DeliveryId)> = pending
                .due
                .iter()
                .filter(|(id, (at, _))| *at <= now && !pending.running.contains(*id))
                .map(|(id, (_, version))| (*version, *id))
                .collect();
            ready.sort_unstable();
            let picked: Vec<DeliveryId> = ready
                .into_iter()
                .take(config.batch.max(1))
                .map(|(_, id)| id)
                .collect();
            pending.running.extend(picked.iter().copied());
            picked
        };
        let mut first_error = None;
        for id in due {
            let result = catch_unwind(AssertUnwindSafe(|| {
                self.deliver_one(id, transport, config, &mut report)
            }));
            let mut pending = self.webhook_pending.lock();
            pending.running.remove(&id);
            // A panicking transport leaves a claimed attempt without an outcome: its lease
            // runs out and the next attempt follows. The panic goes on to the caller.
            let result = match result {
                Ok(result) => result,
                Err(panic) => {
                    if let Some(entry) = pending.due.get_mut(&id) {
                        entry.0 = now;
                    }
                    drop(pending);
                    std::panic::resume_unwind(panic);
                }
            };
            match result {
                Ok(Some(next)) => {
                    if let Some(entry) = pending.due.get_mut(&id) {
                        entry.0 = next;
                    }
                }
                Ok(None) => {
                    pending.due.remove(&id);
                }
                Err(e) => {
                    // Looked at again after a poll: a store error is usually transient.
                    if let Some(entry) = pending.due.get_mut(&id) {
                        entry.0 = now + chrono::Duration::seconds(1);
                    }
                    first_error.get_or_insert(e);
                }
            }
        }
        self.persist_outbox_floor()?;
        report.next_due = self
            .webhook_pending
            .lock()
            .due
            .values()
            .map(|(at, _)| *at)
            .min();
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Looks at one delivery; returns when to look again (`None`: finished).
    fn deliver_one(
        &self,
        id: DeliveryId,
        transport: &dyn WebhookTransport,
        config: &WebhookWorkerConfig,
        report: &mut DeliveryReport,
    ) -> Result<Option<DateTime<Utc>>> {
        let (state, version) = self.load_delivery(id)?;
        let Some(delivery) = state else {
            return Ok(None);
        };
        let now = self.config.clock.now();
        let actor = self.config.system_actor.id.as_str().to_owned();
        let append = |events: Vec<opsledger_core::webhook::delivery::DeliveryEvent>,
                      at_version: u64|
         -> Result<()> {
            let new = events
                .iter()
                .map(|e| new_event(self.config.ids.new_id(), e, now, &actor))
                .collect::<Result<Vec<_>>>()?;
            self.append_webhook_events(vec![AppendRequest::new(
                delivery_stream(id),
                ExpectedVersion::Exact(Version(at_version)),
                new,
            )])
            .map(|_| ())
        };
        let webhook = self.with_webhook_book(|b| b.live(delivery.webhook).cloned())?;
        let step = delivery.next_step(now, &config.retry);
        let attempt = match (step, webhook.as_ref()) {
            (Step::Done, _) => return Ok(None),
            (Step::WaitUntil(at), _) => return Ok(Some(at)),
            (Step::DeadLetter(reason), _) => {
                let event = dead_letter(&delivery, now, reason);
                return match append(vec![event], version) {
                    Ok(()) => {
                        report.dead_lettered += 1;
                        Ok(None)
                    }
                    Err(e) if lost_race(&e) => Ok(Some(now)),
                    Err(e) => Err(e),
                };
            }
            (Step::Attempt(_), None) => {
                let event = dead_letter(&delivery, now, "the webhook was deleted".into());
                return match append(vec![event], version) {
                    Ok(()) => {
                        report.dead_lettered += 1;
                        Ok(None)
                    }
                    Err(e) if lost_race(&e) => Ok(Some(now)),
                    Err(e) => Err(e),
                };
            }
            // A disabled subscription holds its deliveries until it is enabled again.
            (Step::Attempt(_), Some(w)) if !w.settings.enabled => {
                return Ok(Some(now + config.retry.lease));
            }
            (Step::Attempt(n), Some(_)) => n,
        };
        let webhook = webhook.unwrap_or_else(|| unreachable!("matched as Some above"));
        // The claim: only one worker appends at this version.
        let claim = delivery.start(attempt, now, &config.retry, &config.worker_id);
        match append(vec![claim.clone()], version) {
            Ok(()) => report.attempted += 1,
            Err(e) if lost_race(&e) => {
                report.lost_races += 1;
                return Ok(Some(now + config.retry.lease));
            }
            Err(e) => return Err(e),
        }
        let claimed = Delivery::evolve(Some(delivery), &claim)
            .unwrap_or_else(|| unreachable!("a delivery stays a delivery"));
        let result = match self.request(&claimed, &webhook, attempt, config, now) {
            Ok(request) => transport.send(&request),
            Err(e) => AttemptResult::Failed {
                status: None,
                error: format!("the payload could not be built: {e}"),
                permanent: true,
            },
        };
        let finished = self.config.clock.now();
        match &result {
            AttemptResult::Delivered { .. } => report.succeeded += 1,
            AttemptResult::Failed { .. } => report.failed += 1,
        }
        let outcome = claimed.outcome(attempt, result, finished, &config.retry);
        let after = outcome
            .iter()
            .fold(Some(claimed.clone()), Delivery::evolve)
            .unwrap_or(claimed);
        if outcome.len() > 1 {
            report.dead_lettered += 1;
        }
        match append(outcome, version + 1) {
            Ok(()) => {}
            // Someone took over after the lease (this attempt outlived it): theirs counts.
            Err(e) if lost_race(&e) => return Ok(Some(finished)),
            Err(e) => return Err(e),
        }
        Ok(match after.next_step(finished, &config.retry) {
            Step::Done => None,
            Step::WaitUntil(at) => Some(at),
            Step::Attempt(_) | Step::DeadLetter(_) => Some(finished),
        })
    }

    fn request(
        &self,
        delivery: &Delivery,
        webhook: &opsledger_core::webhook::Webhook,
        attempt: u32,
        config: &WebhookWorkerConfig,
        now: DateTime<Utc>,
    ) -> Result<WebhookRequest> {
        let event = self
            .store()
            .event_by_id(delivery.event_id)?
            .ok_or_else(|| EngineError::NotFound {
                what: format!("event {}", delivery.event_id),
            })?;
        let body = payload::build(self, &event, delivery, webhook, config.link_base.as_deref())?;
        let timestamp = now.timestamp();
        let signature = signature::sign(webhook.secret.as_bytes(), timestamp, &body);
        let content_type = if webhook.settings.template.is_some() {
            "application/json; charset=utf-8"
        } else {
            "application/json"
        };
        Ok(WebhookRequest {
            delivery: delivery.id,
            url: webhook.settings.url.clone(),
            headers: vec![
                ("Content-Type".into(), content_type.into()),
                (
                    "User-Agent".into(),
                    format!("opsledger-webhooks/{}", env!("CARGO_PKG_VERSION")),
                ),
                ("Opsledger-Delivery".into(), delivery.id.to_string()),
                ("Opsledger-Event".into(), delivery.event_type.clone()),
                ("Opsledger-Attempt".into(), attempt.to_string()),
                ("Opsledger-Sequence".into(), delivery.sequence.to_string()),
                ("Opsledger-Timestamp".into(), timestamp.to_string()),
                ("Opsledger-Signature".into(), signature),
            ],
            body,
        })
    }
}

fn dead_letter(
    d: &Delivery,
    now: DateTime<Utc>,
    reason: String,
) -> opsledger_core::webhook::delivery::DeliveryEvent {
    opsledger_core::webhook::delivery::DeliveryEvent::DeadLettered {
        delivery: d.id,
        sequence: d.sequence,
        at: now,
        reason,
    }
}

/// The running delivery worker. Stop it with [`WebhookWorker::stop`]; dropping it stops it
/// too. Either way the thread is joined (an attempt in progress finishes first).
pub struct WebhookWorker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for WebhookWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookWorker")
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Shared {
    stop: Mutex<bool>,
    wake: Condvar,
    totals: Mutex<DeliveryReport>,
    errors: Mutex<VecDeque<String>>,
}

impl WebhookWorker {
    /// Whether the thread still runs.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Sums of what the passes did (`next_due`: the last pass's).
    pub fn totals(&self) -> DeliveryReport {
        *self.shared.totals.lock()
    }

    /// The most recent errors (at most 64), oldest first. Never contains a secret.
    pub fn errors(&self) -> Vec<String> {
        self.shared.errors.lock().iter().cloned().collect()
    }

    /// Wakes the worker for a pass now (after a command, say, instead of waiting a poll).
    pub fn wake(&self) {
        self.shared.wake.notify_all();
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) -> DeliveryReport {
        self.shutdown();
        self.totals()
    }

    fn shutdown(&mut self) {
        *self.shared.stop.lock() = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for WebhookWorker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

type ErrorCallback = Box<dyn Fn(&str) + Send + 'static>;

fn run(
    engine: &Weak<Inner>,
    shared: &Shared,
    transport: &dyn WebhookTransport,
    config: &WebhookWorkerConfig,
    on_error: Option<ErrorCallback>,
) {
    let report = |message: String| {
        if let Some(callback) = &on_error {
            // A panicking callback must not take the thread down.
            let _ = catch_unwind(AssertUnwindSafe(|| callback(&message)));
        }
        keep(shared, message);
    };
    loop {
        if *shared.stop.lock() {
            return;
        }
        let Some(inner) = engine.upgrade() else {
            return;
        };
        let result = catch_unwind(AssertUnwindSafe(|| inner.deliver_pass(transport, config)));
        let now = inner.config.clock.now();
        drop(inner);
        let mut wait = config.poll_interval;
        match result {
            Ok(Ok(r)) => {
                let mut t = shared.totals.lock();
                t.queued += r.queued;
                t.attempted += r.attempted;
                t.succeeded += r.succeeded;
                t.failed += r.failed;
                t.dead_lettered += r.dead_lettered;
                t.lost_races += r.lost_races;
                t.next_due = r.next_due;
                drop(t);
                // Sooner when something falls due before the next poll (at once when a pass
                // left due work, over its batch size).
                if let Some(due) = r.next_due {
                    let until = (due - now).to_std().unwrap_or_default();
                    wait = wait.min(until.max(Duration::from_millis(10)));
                }
                if r.dead_lettered > 0 {
                    report(format!(
                        "dead_lettered: {} webhook deliveries gave up (webhook.deliveries lists them; webhook.redeliver sends one again)",
                        r.dead_lettered
                    ));
                }
            }
            Ok(Err(e)) => report(format!("{}: {e}", e.code())),
            Err(_) => report("panic: a delivery pass panicked".to_owned()),
        }
        let mut stop = shared.stop.lock();
        if !*stop {
            let _ = shared.wake.wait_for(&mut stop, wait);
        }
    }
}

fn keep(shared: &Shared, error: String) {
    let mut errors = shared.errors.lock();
    if errors.len() == KEPT_ERRORS {
        errors.pop_front();
    }
    errors.push_back(error);
}

impl Engine {
    /// One delivery pass at the engine clock's now: queues the deliveries of events appended
    /// since the last pass, then makes the attempts that are due through `transport`. The
    /// background worker ([`Engine::start_webhook_worker`]) runs this in a loop; tests call
    /// it directly with a manual clock and a fake transport.
    pub fn deliver_webhooks(
        &self,
        transport: &dyn WebhookTransport,
        config: &WebhookWorkerConfig,
    ) -> Result<DeliveryReport> {
        self.inner.deliver_pass(transport, config)
    }

    /// Starts the delivery worker: a thread running [`Engine::deliver_webhooks`] every
    /// `poll_interval` (sooner when a retry falls due). It holds a weak reference to the
    /// engine and ends when the handle is stopped or dropped, or the last engine handle is
    /// dropped. Errors are kept in the handle, never panic the thread; the next pass retries.
    pub fn start_webhook_worker(
        &self,
        config: WebhookWorkerConfig,
        transport: Arc<dyn WebhookTransport>,
    ) -> WebhookWorker {
        self.spawn_webhook_worker(config, transport, None)
    }

    /// [`Engine::start_webhook_worker`], calling `on_error` (on the worker thread) with each
    /// failed pass and each pass that dead-lettered deliveries, as well as keeping them, so
    /// that a server can log them: a notification channel must not fail silently.
    pub fn start_webhook_worker_with(
        &self,
        config: WebhookWorkerConfig,
        transport: Arc<dyn WebhookTransport>,
        on_error: impl Fn(&str) + Send + 'static,
    ) -> WebhookWorker {
        self.spawn_webhook_worker(config, transport, Some(Box::new(on_error)))
    }

    fn spawn_webhook_worker(
        &self,
        config: WebhookWorkerConfig,
        transport: Arc<dyn WebhookTransport>,
        on_error: Option<ErrorCallback>,
    ) -> WebhookWorker {
        let shared = Arc::new(Shared::default());
        let engine = Arc::downgrade(&self.inner);
        let thread = std::thread::Builder::new()
            .name("opsledger-webhooks".into())
            .spawn({
                let shared = shared.clone();
                move || run(&engine, &shared, &*transport, &config, on_error)
            });
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                keep(&shared, format!("spawn: {e}"));
                None
            }
        };
        WebhookWorker { shared, thread }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Command, CommandEnvelope, EngineConfig};
    use opsledger_core::incident::IncidentCommand;
    use opsledger_core::webhook::{WebhookFilter, WebhookSettings};
    use opsledger_core::{Actor, Impact, IncidentId, Role, Urgency};
    use std::sync::Barrier;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use uuid::Uuid;

    struct Counting(AtomicUsize);

    impl WebhookTransport for Counting {
        fn send(&self, _: &WebhookRequest) -> AttemptResult {
            self.0.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(20));
            AttemptResult::Delivered { status: 204 }
        }
    }

    /// Workers that all read the delivery at the same version race for the claim: one
    /// appends `attempt_started`, the others lose the append and send nothing. That is what
    /// holds across replicas sharing a log, and across restarts.
    #[test]
    fn of_racing_workers_exactly_one_claims_each_attempt() {
        let engine = Engine::in_memory(EngineConfig::default()).expect("engine");
        let manager = Actor::new("mia", [Role::Manager]);
        engine
            .create_webhook(
                &manager,
                super::super::CreateWebhook {
                    id: None,
                    settings: WebhookSettings {
                        url: "http://127.0.0.1:9/".into(),
                        description: String::new(),
                        filter: WebhookFilter::default(),
                        template: None,
                        enabled: true,
                    },
                    secret: None,
                },
            )
            .expect("webhook");
        let transport = Counting(AtomicUsize::new(0));
        let config = WebhookWorkerConfig::default();
        let mut lost = 0;
        for round in 0..10u128 {
            let id = IncidentId(Uuid::from_u128(
                0x0190_0000_0000_7000_8000_0000_0000_0000 + round,
            ));
            let open = IncidentCommand::Open {
                id,
                title: "Checkout down".into(),
                description: String::new(),
                caller: "carol".into(),
                impact: Impact::Medium,
                urgency: Urgency::Medium,
                service: None,
                cis: Vec::new(),
                group: None,
                assignee: None,
                alert: None,
            };
            let agent = Actor::new("ann", [Role::Agent]);
            engine
                .execute(CommandEnvelope::new(agent, Command::Incident(open)))
                .expect("open");
            let inner = &engine.inner;
            inner.queue_deliveries(1000).expect("queue");
            inner.learn_outbox().expect("outbox");
            let before = transport.0.load(Ordering::SeqCst);
            let ids: Vec<DeliveryId> = inner.webhook_pending.lock().due.keys().copied().collect();
            let barrier = Barrier::new(6);
            let reports: Vec<DeliveryReport> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..6)
                    .map(|_| {
                        s.spawn(|| {
                            let mut report = DeliveryReport::default();
                            barrier.wait();
                            for id in &ids {
                                inner
                                    .deliver_one(*id, &transport, &config, &mut report)
                                    .expect("deliver");
                            }
                            report
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("thread"))
                    .collect()
            });
            let attempted: usize = reports.iter().map(|r| r.attempted).sum();
            lost += reports.iter().map(|r| r.lost_races).sum::<usize>();
            assert_eq!(attempted, 1, "round {round}: {reports:?}");
            assert_eq!(transport.0.load(Ordering::SeqCst) - before, 1);
            inner.webhook_pending.lock().due.clear();
        }
        // The losers did race (not merely arrive after the winner): seen at least once.
        assert!(lost > 0, "no append race happened in 10 rounds");
    }
}
