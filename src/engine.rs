//! The engine: opens the log and the read models, executes commands, runs process managers and
//! answers queries.

use crate::cache::{Loader, Snapshots, StateCache};
use crate::command::{Command, CommandEnvelope, FollowUp, FollowUpResult, Outcome};
use crate::config::EngineConfig;
use crate::error::{EngineError, Result};
use crate::faults::FaultPoint;
use crate::hooks::EventHook;
use crate::idempotency::{self, IDEMPOTENCY_EVENT, IdempotencyRecord};
use crate::kv::{Kv, prefix_end};
use crate::numbers::{self, HumanNumber, NUMBER_EVENT};
use crate::process::{self, Facts, follow_up_event_id_with};
use crate::projections::view::RecordView;
use crate::projections::{self, VIEWS_SCHEMA, calendar, get_view, kedb, keys};
use crate::record::{AnyState, RecordEvent, RecordRef, decode_event};
use crate::time_travel::ReadView;
use opsledger_core::change::{ChangeCommand, ChangeDecider};
use opsledger_core::incident::{AlertSource, IncidentCommand, IncidentDecider};
use opsledger_core::problem::ProblemDecider;
use opsledger_core::{Actor, ActorId, Context, Decider, IncidentId, Policy, ProblemId, RecordKind};
use opsledger_store::{
    AppendOutcome, AppendRequest, EventStore, ExpectedVersion, MemoryStorage, MemoryStore,
    NewEvent, Position, Space, Storage, StoreConfig, StoreError, StoredEvent, StreamId,
    Subscription, VerifyReport, Version,
};
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use uuid::Uuid;

mod open;
pub(crate) mod scheduler;
pub(crate) mod sla;
mod whatif;

pub use open::{DirectoryKind, EngineBuilder, create_storage, directory_kind, open_storage};

/// Events read per call while the projector catches up.
const PROJECT_PAGE: usize = 1_000;
/// How far the persisted process-manager checkpoint may lag (events).
const PM_CHECKPOINT_EVERY: u64 = 256;
/// Stripes of the alert-routing lock.
const ALERT_STRIPES: usize = 64;
/// Meta keys (not wiped by a read-model rebuild).
const META_VIEWS_SCHEMA: &[u8] = b"views_schema";
const META_PM_CHECKPOINT: &[u8] = b"pm_checkpoint";
/// Present while the read models are being cleared and rebuilt: set (and flushed) before the
/// first key is cleared, removed once they are projected to the head. Found at open, it forces
/// a rebuild, whatever checkpoint survived a crash mid-clear.
const META_VIEWS_REBUILDING: &[u8] = b"views_rebuilding";

/// The embeddable ITIL engine: incidents, problems and changes over an append-only log.
///
/// Cheap to clone (a shared handle); `Send + Sync`, so one engine serves many threads.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("path", &self.inner.path)
            .field(
                "views_checkpoint",
                &self.inner.checkpoint.load(Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct PmState {
    /// First positions (lower bounds) of commands whose follow-ups have not run yet.
    pending: BTreeMap<u64, usize>,
}

/// A registered process-manager floor (see [`PmState::pending`]), released on drop unless
/// kept: a kept floor (follow-ups that could not run) holds the persisted process checkpoint
/// before the command, so the next open re-runs its follow-ups. On unwind the floor is kept too
/// (and the checkpoint persisted with it), never released past follow-ups that did not run.
struct PmFloor<'a> {
    inner: &'a Inner,
    floor: u64,
    keep: bool,
}

impl<'a> PmFloor<'a> {
    fn register(inner: &'a Inner, floor: u64) -> Self {
        inner.pm_register(floor);
        Self {
            inner,
            floor,
            keep: false,
        }
    }

    fn keep(&mut self) {
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

pub(crate) struct Inner {
    storage: Option<Box<dyn Storage>>,
    pub(crate) views: Arc<dyn Kv>,
    meta: Arc<dyn Kv>,
    snapshots: Snapshots,
    pub(crate) cache: StateCache,
    pub(crate) config: EngineConfig,
    policy: RwLock<Arc<Policy>>,
    projector: Mutex<()>,
    checkpoint: AtomicU64,
    pm_persisted: AtomicU64,
    retries: AtomicU64,
    numbering: [Mutex<()>; 3],
    /// Serializes the change commands that read the change calendar (see `Inner::apply`).
    calendar_lock: Mutex<()>,
    /// Events projected into the read models since the engine opened (catch-up, rebuilds and
    /// commands): handed to the backend at close, which may use it to size its housekeeping.
    projected: AtomicU64,
    /// Serializes the parent cascades (`parent_resolution`, `parent_reopen`) of one parent
    /// (striped by its id): a cascade checks its cause is not stale and runs its follow-ups
    /// under it, so a racing opposite cascade sees all of them.
    cascade_locks: Vec<Mutex<()>>,
    alert_locks: Vec<Mutex<()>>,
    pm: Mutex<PmState>,
    hooks: RwLock<Vec<Arc<dyn EventHook>>>,
    path: Option<PathBuf>,
    open_report: OpenReport,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.persist_pm_checkpoint();
        if let Some(storage) = &self.storage {
            let _ = storage.flush();
        }
    }
}

/// Counters for diagnostics and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineStats {
    /// Position of the last event in the log.
    pub head: u64,
    /// Position the read models reflect.
    pub views_checkpoint: u64,
    /// Position up to which process managers have run.
    pub process_checkpoint: u64,
    /// Record states in the cache.
    pub cached_records: usize,
    /// What the last open had to do.
    pub open: OpenReport,
    /// Attempts retried since open because a concurrent writer changed the record first.
    pub conflicts_retried: u64,
}

/// What opening the engine had to do: with current read models and process checkpoint, zero
/// events are replayed, whatever the length of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenReport {
    /// The log's head when the engine opened.
    pub head: u64,
    /// Whether the read models were wiped (schema change, or ahead of the log) and rebuilt.
    pub views_rebuilt: bool,
    /// Events the projector applied to bring the read models to the head.
    pub views_events_applied: u64,
    /// Events the process managers were run for (their follow-ups may have been interrupted).
    pub process_events_checked: u64,
    /// Time spent opening the log (the store's recovery).
    pub log_open: std::time::Duration,
    /// Time spent opening the read-model database.
    pub views_open: std::time::Duration,
    /// Time spent checking checkpoints and catching up.
    pub recover: std::time::Duration,
}

/// The cause of a follow-up command.
#[derive(Clone, Copy)]
struct Cause {
    event: Uuid,
    process: &'static str,
    /// Set when other reactions to the same event share process and target.
    discriminator: Option<Uuid>,
}

/// Whether `command` is decided against the change calendar: planning a window, and the two
/// commands that can book one (a standard change's submission, the approval that reaches the
/// quorum). Bookings are made by nothing else.
fn reads_calendar(command: &Command) -> bool {
    matches!(
        command,
        Command::Change(
            ChangeCommand::Plan { .. }
                | ChangeCommand::Submit { .. }
                | ChangeCommand::Approve { .. }
        )
    )
}

fn store_config(config: &EngineConfig) -> StoreConfig {
    let mut sc = StoreConfig::default()
        .with_durability(config.durability)
        .with_clock(config.clock.clone())
        .with_limits(config.store_limits);
    sc.group_commit = config.group_commit;
    sc
}

impl Engine {
    /// Opens (creating if needed) the engine in data directory `path` with the default
    /// embedded store: SQLite, the log and everything derived from it (read models,
    /// checkpoints, snapshots) in `<path>/opsledger.sqlite3`, written in one transaction per
    /// command. A directory created by the sled backend (`<path>/log`) is detected and opened
    /// with sled. For another backend, or backend options, use [`Engine::builder`].
    ///
    /// Opening does not replay the log when the read models are current: it catches them up
    /// from their checkpoint, then runs the process managers for events after their
    /// checkpoint (the follow-ups a crash may have interrupted).
    pub fn open(path: impl AsRef<Path>, config: EngineConfig) -> Result<Self> {
        Self::builder().directory(path).config(config).open()
    }

    /// Builds an engine from parts: a storage backend (or a directory for the default one)
    /// and a configuration.
    ///
    /// ```
    /// use opsledger::{Engine, EngineConfig};
    /// use opsledger::store::{MemoryStorage, MemoryStore};
    ///
    /// let engine = Engine::builder()
    ///     .storage(|config| Ok(Box::new(MemoryStorage::new(MemoryStore::new(config)?))))
    ///     .config(EngineConfig::default())
    ///     .open()?;
    /// assert_eq!(engine.head()?, 0);
    /// # Ok::<(), opsledger::EngineError>(())
    /// ```
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// An engine whose log, read models and snapshots live in memory (tests, ephemeral
    /// embedding). Nothing survives the process.
    pub fn in_memory(config: EngineConfig) -> Result<Self> {
        Self::builder()
            .storage(|config| Ok(Box::new(MemoryStorage::new(MemoryStore::new(config)?))))
            .config(config)
            .open()
    }

    fn assemble(
        storage: Box<dyn Storage>,
        config: EngineConfig,
        path: Option<PathBuf>,
        storage_open: std::time::Duration,
    ) -> Result<Self> {
        let hooks = config.hooks.0.clone();
        let space = |s| -> Arc<dyn Kv> { Arc::new(crate::kv::Space(storage.space(s))) };
        let views = space(Space::Views);
        let meta = space(Space::Meta);
        let snaps = space(Space::Snapshots);
        let mut inner = Inner {
            storage: Some(storage),
            views,
            meta,
            snapshots: Snapshots::new(snaps, config.snapshot_every),
            cache: StateCache::new(config.cache_records),
            policy: RwLock::new(Arc::new(config.policy.clone())),
            config,
            projector: Mutex::new(()),
            checkpoint: AtomicU64::new(0),
            pm_persisted: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            numbering: [Mutex::new(()), Mutex::new(()), Mutex::new(())],
            calendar_lock: Mutex::new(()),
            projected: AtomicU64::new(0),
            cascade_locks: (0..ALERT_STRIPES).map(|_| Mutex::new(())).collect(),
            alert_locks: (0..ALERT_STRIPES).map(|_| Mutex::new(())).collect(),
            pm: Mutex::new(PmState::default()),
            hooks: RwLock::new(hooks),
            path,
            open_report: OpenReport::default(),
        };
        let started = std::time::Instant::now();
        inner.open_report = inner.recover()?;
        inner.open_report.recover = started.elapsed();
        inner.open_report.log_open = storage_open;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Executes a command: loads the record (cache, snapshot, log tail), decides, appends with
    /// the expected version (retrying against fresh state when the caller pinned none),
    /// projects the events into the read models (so the caller reads its own writes), then
    /// runs the process managers' follow-ups.
    pub fn execute(&self, envelope: CommandEnvelope) -> Result<Outcome> {
        self.inner.execute(envelope)
    }

    /// A view of the read models now (`None`) or as of a recorded instant. An as-of view
    /// replays the log up to that instant into memory: use one view for several queries.
    pub fn view(&self, as_of: Option<chrono::DateTime<chrono::Utc>>) -> Result<ReadView<'_>> {
        ReadView::new(self, as_of)
    }

    /// A catch-up subscription to every event with position > `after` (0: everything). It
    /// blocks until new events arrive; the consumer keeps its own checkpoint
    /// ([`Subscription::position`]) and resubscribes from it (at-least-once).
    pub fn subscribe(&self, after: u64) -> Result<Subscription> {
        Ok(self.inner.store().subscribe(Position(after))?)
    }

    /// Up to `max` stored events from position `from` (1: the beginning).
    pub fn events(&self, from: u64, max: usize) -> Result<Vec<StoredEvent>> {
        Ok(self.inner.store().read_all(Position(from), max)?)
    }

    /// The position of the last event in the log.
    pub fn head(&self) -> Result<u64> {
        Ok(self.inner.store().head()?.0)
    }

    /// The engine's clock (decision time and recorded time); timers such as SLA ticks read
    /// it too, so that tests stay deterministic.
    pub fn clock(&self) -> Arc<dyn opsledger_store::Clock> {
        self.inner.config.clock.clone()
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        self.inner.policy()
    }

    /// Checks that `actor` holds `permission` under the policy in force, for operations that
    /// are not commands on a record (the `Engine*` permissions: tick, verify, rebuild), so that
    /// an adapter exposing them asks the engine instead of deciding itself.
    pub fn authorize(&self, actor: &Actor, permission: opsledger_core::Permission) -> Result<()> {
        if self.inner.policy().authorization.allows(actor, permission) {
            Ok(())
        } else {
            Err(EngineError::Domain(
                opsledger_core::DomainError::Forbidden {
                    actor: actor.id.clone(),
                    permission,
                },
            ))
        }
    }

    /// Replaces the policy for commands decided from now on (history is not rewritten: events
    /// record what the policy said when they were decided).
    pub fn set_policy(&self, policy: Policy) {
        *self.inner.policy.write() = Arc::new(policy);
    }

    /// Registers a hook that sees every event after the built-in read models (the seam for
    /// SLA and KPI projections).
    pub fn add_hook(&self, hook: Arc<dyn EventHook>) {
        self.inner.hooks.write().push(hook);
    }

    /// Wipes the read models and rebuilds them from the log (hooks are told with
    /// [`EventHook::on_rebuild`] and see the whole log again).
    pub fn rebuild_views(&self) -> Result<()> {
        self.inner.rebuild_views(&mut |_, _| {})
    }

    /// [`Engine::rebuild_views`], calling `progress(projected, head)` after each page of events
    /// is projected (`projected` is the position the read models have reached; it grows to
    /// `head`, the log's head when the rebuild started). For progress bars.
    pub fn rebuild_views_with(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<()> {
        self.inner.rebuild_views(progress)
    }

    /// The state of a record right after its `version`-th event (`None` if it had not been
    /// created by then).
    pub fn state_at_version(
        &self,
        record: RecordRef,
        version: u64,
    ) -> Result<Option<crate::record::RecordState>> {
        Ok(self
            .inner
            .loader()
            .at_version(&record, version)?
            .to_record())
    }

    /// Makes every acknowledged event durable now and flushes the read models.
    pub fn flush(&self) -> Result<()> {
        self.inner.persist_pm_checkpoint()?;
        self.inner.storage().flush()?;
        Ok(())
    }

    /// Flushes and closes the engine. Other clones of this handle keep it open until they are
    /// dropped too.
    pub fn close(self) -> Result<()> {
        self.flush()?;
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                let projected = inner.projected.load(Ordering::Relaxed);
                match inner.storage.take() {
                    Some(storage) => Ok(storage.close(projected)?),
                    None => Ok(()),
                }
            }
            Err(_) => Ok(()),
        }
    }

    /// Writes a consistent copy of the data directory (log, read models, snapshots) to `to`,
    /// a directory that must not exist yet, while the engine keeps serving. Opening the copy
    /// gives the same log and read models. Backends without online backup answer
    /// `not supported`.
    pub fn backup(&self, to: impl AsRef<Path>) -> Result<()> {
        self.inner.persist_pm_checkpoint()?;
        Ok(self.inner.storage().backup(to.as_ref())?)
    }

    /// The storage backend's short name (`sqlite`, `sled`, `memory`).
    pub fn backend(&self) -> &'static str {
        self.inner.storage().kind()
    }

    /// Checks the whole log and its indexes (see the store's `verify`).
    pub fn verify(&self) -> Result<VerifyReport> {
        Ok(self.inner.store().verify()?)
    }

    /// Counters for diagnostics.
    pub fn stats(&self) -> Result<EngineStats> {
        let inner = &self.inner;
        Ok(EngineStats {
            head: inner.store().head()?.0,
            views_checkpoint: inner.checkpoint.load(Ordering::Acquire),
            process_checkpoint: inner.read_pm_checkpoint()?.unwrap_or(0),
            cached_records: inner.cache.len(),
            open: inner.open_report,
            conflicts_retried: inner.retries.load(Ordering::Relaxed),
        })
    }

    /// Runs the process managers again for the events at positions `from..=to`, as the engine
    /// does at open for events after its process checkpoint. Follow-ups that already ran are
    /// found by their derived event ids and reported without being applied again.
    #[doc(hidden)]
    pub fn rerun_process_managers(&self, from: u64, to: u64) -> Result<Vec<FollowUp>> {
        let inner = &self.inner;
        let mut out = Vec::new();
        let mut next = from.max(1);
        while next <= to {
            let page = inner.store().read_all(Position(next), PROJECT_PAGE)?;
            let Some(last) = page.last().map(|e| e.position.0) else {
                break;
            };
            for event in page.into_iter().filter(|e| e.position.0 <= to) {
                let correlation = event
                    .correlation_id
                    .unwrap_or_else(|| inner.config.ids.new_id());
                out.extend(inner.run_follow_ups(vec![(event, None)], correlation).0);
            }
            next = last + 1;
        }
        Ok(out)
    }

    /// Records the SLA thresholds and breaches that became due by `now`, carries out the
    /// escalations the breached definitions ask for (process `sla_escalation`, reported in
    /// [`TickReport::escalations`](sla::TickReport::escalations)), and auto-closes the resolved
    /// incidents whose delay ([`IncidentPolicy::auto_close_after_days`], in calendar or
    /// business days: [`Policy::auto_close_due`](opsledger_core::Policy::auto_close_due))
    /// elapsed, as the system actor. Each happens exactly once however often `tick` runs, concurrently or
    /// after a restart (derived event ids, and the deciders' no-op repeats). Only records whose
    /// indexed due instant is `<= now` are looked at. Thresholds and breaches are recorded at
    /// the instants the clocks crossed them; `now` should not be ahead of the engine's clock
    /// (the deciders refuse facts from the future).
    ///
    /// [`IncidentPolicy::auto_close_after_days`]: opsledger_core::policy::IncidentPolicy::auto_close_after_days
    pub fn tick(&self, now: chrono::DateTime<chrono::Utc>) -> Result<sla::TickReport> {
        self.inner.tick(now)
    }

    /// A new id from the configured [`IdGenerator`](crate::IdGenerator) (UUID v7 by default),
    /// for the id of a record an adapter creates on a caller's behalf.
    pub fn new_id(&self) -> Uuid {
        self.inner.config.ids.new_id()
    }

    /// The data directory (`None` for an in-memory engine).
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }
}

/// Sleeps a little, more with each attempt, with jitter (so that colliding writers spread out).
fn backoff(attempt: u32) {
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

fn decide(state: &AnyState, command: &Command, ctx: &Context) -> Result<Vec<RecordEvent>> {
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
fn pair(
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

/// Whether a follow-up's error is a final refusal (the command is wrong for the record's state),
/// as opposed to a transient failure worth re-running.
fn is_refusal(e: &EngineError) -> bool {
    matches!(
        e,
        EngineError::Domain(_)
            | EngineError::InvalidInput { .. }
            | EngineError::NotFound { .. }
            | EngineError::LimitExceeded { .. }
            | EngineError::IdempotencyKeyReused { .. }
    )
}

fn kind_index(kind: RecordKind) -> usize {
    match kind {
        RecordKind::Incident => 0,
        RecordKind::Problem => 1,
        RecordKind::Change => 2,
    }
}

struct EngineFacts<'a>(&'a Inner);

impl Facts for EngineFacts<'_> {
    fn view(&self, record: RecordRef) -> Result<Option<RecordView>> {
        get_view(&*self.0.views, record)
    }

    fn incidents_awaiting(&self, problem: ProblemId) -> Result<Vec<IncidentId>> {
        kedb::awaiting(&*self.0.views, problem)
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
    pub(crate) fn storage(&self) -> &dyn Storage {
        // Taken only by `Engine::close`, which owns the last handle.
        self.storage
            .as_deref()
            .expect("the storage lives as long as the engine")
    }

    pub(crate) fn store(&self) -> &dyn EventStore {
        self.storage().log()
    }

    pub(crate) fn policy(&self) -> Arc<Policy> {
        self.policy.read().clone()
    }

    pub(crate) fn loader(&self) -> Loader<'_> {
        Loader {
            store: self.store(),
            cache: &self.cache,
            snapshots: &self.snapshots,
        }
    }

    fn read_pm_checkpoint(&self) -> Result<Option<u64>> {
        Ok(self
            .meta
            .get(META_PM_CHECKPOINT)?
            .and_then(|b| b.try_into().ok().map(u64::from_be_bytes)))
    }

    // ---- opening --------------------------------------------------------------------------

    fn recover(&self) -> Result<OpenReport> {
        let store = self.store();
        let head = store.head()?.0;
        let mut report = OpenReport {
            head,
            ..OpenReport::default()
        };
        let schema = self
            .meta
            .get(META_VIEWS_SCHEMA)?
            .and_then(|b| b.try_into().ok().map(u32::from_be_bytes));
        if schema != Some(VIEWS_SCHEMA) {
            report.views_rebuilt = schema.is_some();
            self.invalidate_views()?;
            self.meta.put(
                META_VIEWS_SCHEMA.to_vec(),
                VIEWS_SCHEMA.to_be_bytes().to_vec(),
            )?;
        }
        let (checkpoint, checkpoint_id) = projections::read_checkpoint(&*self.views)?;
        // An interrupted rebuild, or read models without a checkpoint (a crash mid-clear), are
        // not to be trusted whatever they hold.
        let rebuilding = self.meta.get(META_VIEWS_REBUILDING)?.is_some();
        let consistent = !rebuilding
            && if checkpoint == 0 {
                self.views.range(&[], &[0xFF; 4], false).next().is_none()
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
                let mut next = pm_from + 1;
                while next <= head {
                    let page = store.read_all(Position(next), PROJECT_PAGE)?;
                    let Some(last) = page.last().map(|e| e.position.0) else {
                        break;
                    };
                    for event in page.into_iter().filter(|e| e.position.0 <= head) {
                        report.process_events_checked += 1;
                        let correlation = event
                            .correlation_id
                            .unwrap_or_else(|| self.config.ids.new_id());
                        let position = event.position.0;
                        let (_, _, incomplete) =
                            self.run_follow_ups(vec![(event, None)], correlation);
                        if incomplete && !kept_floor {
                            // A transient failure: keep the checkpoint before it, for the next open.
                            self.pm_register(position);
                            kept_floor = true;
                        }
                    }
                    next = last + 1;
                }
                Ok(())
            });
        self.pm_release(pm_from + 1);
        self.persist_pm_checkpoint()?;
        result.map(|()| report)
    }

    // ---- process-manager bookkeeping ------------------------------------------------------

    fn pm_register(&self, floor: u64) {
        *self.pm.lock().pending.entry(floor).or_insert(0) += 1;
    }

    fn pm_release(&self, floor: u64) {
        let mut pm = self.pm.lock();
        if let Some(n) = pm.pending.get_mut(&floor) {
            *n -= 1;
            if *n == 0 {
                pm.pending.remove(&floor);
            }
        }
    }

    /// Persists the process managers' checkpoint now.
    fn persist_pm_checkpoint(&self) -> Result<()> {
        let checkpoint = self.checkpoint.load(Ordering::Acquire);
        let value = match self.pm.lock().pending.keys().next() {
            Some(&min) => checkpoint.min(min.saturating_sub(1)),
            None => checkpoint,
        };
        self.pm_persisted.store(value, Ordering::Release);
        self.meta
            .put(META_PM_CHECKPOINT.to_vec(), value.to_be_bytes().to_vec())
    }

    /// Persists the process managers' checkpoint when it is `PM_CHECKPOINT_EVERY` events
    /// behind: after a crash, at most that many more events are checked again at open (and
    /// the follow-ups found already applied by their derived ids).
    fn maybe_persist_pm_checkpoint(&self) -> Result<()> {
        let checkpoint = self.checkpoint.load(Ordering::Acquire);
        if checkpoint.saturating_sub(self.pm_persisted.load(Ordering::Acquire))
            >= PM_CHECKPOINT_EVERY
        {
            self.persist_pm_checkpoint()?;
        }
        Ok(())
    }

    // ---- projection -----------------------------------------------------------------------

    /// Brings the read models up to the log's head.
    pub(crate) fn catch_up(&self) -> Result<u64> {
        let head = self.store().head()?.0;
        self.project_to(head, &[])?;
        Ok(head)
    }

    /// Brings the read models to at least `target` (and to the head as of taking the lock).
    /// `known` may hold events the caller already read (consecutive positions).
    fn project_to(&self, target: u64, known: &[StoredEvent]) -> Result<()> {
        if self.checkpoint.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        self.config.faults.pass(FaultPoint::Projection)?;
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
        let unit = self.storage().begin_unit()?;
        if !unit.is_transactional() {
            let value = f()?;
            unit.commit()?;
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
    fn commit_append(&self, requests: Vec<AppendRequest>) -> Result<Vec<AppendOutcome>> {
        self.in_unit(|| {
            let outcomes = self.store().append_multi(requests)?;
            if self.storage().transactional_units()
                && let Some(last) = outcomes.iter().map(|o| o.last_position.0).max()
            {
                self.project_to(last, &[])?;
            }
            Ok(outcomes)
        })
    }

    /// Projects up to the head; returns how many events it applied.
    fn project_locked(&self, target: u64, known: &[StoredEvent]) -> Result<u64> {
        self.project_locked_with(target, known, &mut |_, _| {})
    }

    /// [`Self::project_locked`], reporting `(checkpoint, head)` after each batch.
    fn project_locked_with(
        &self,
        target: u64,
        known: &[StoredEvent],
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<u64> {
        let store = self.store();
        let head = store.head()?.0.max(target);
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
            self.refresh_derived_for(&batch)?;
            let mut loader = self.loader();
            projections::apply_batch(&*self.views, &mut loader, &batch)?;
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
        }
        Ok(applied)
    }

    /// Marks the read models as being rebuilt (durably, before touching them), then clears
    /// them: a crash from here on forces a rebuild at the next open, since clearing is not
    /// atomic and the checkpoint key may survive it. [`Self::views_rebuilt`] ends it.
    fn invalidate_views(&self) -> Result<()> {
        self.meta.put(META_VIEWS_REBUILDING.to_vec(), vec![1])?;
        self.storage().flush()?;
        self.views.clear()
    }

    /// Ends a rebuild started by [`Self::invalidate_views`] once the read models reached the
    /// head (and their checkpoint with them).
    fn views_rebuilt(&self) -> Result<()> {
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
    fn rebuild_views(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<()> {
        self.with_projector(|| self.rebuild_views_locked(progress))
    }

    fn rebuild_views_locked(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<()> {
        self.invalidate_views()?;
        self.cache.clear();
        self.checkpoint.store(0, Ordering::Release);
        for hook in self.hooks.read().iter() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook.on_rebuild()));
        }
        let head = self.store().head()?.0;
        self.project_locked_with(head, &[], progress)?;
        self.views_rebuilt()
    }

    // ---- commands -------------------------------------------------------------------------

    fn execute(&self, envelope: CommandEnvelope) -> Result<Outcome> {
        let CommandEnvelope {
            actor,
            command,
            idempotency_key,
            expected_version,
            correlation_id,
        } = envelope;
        let correlation = correlation_id.unwrap_or_else(|| self.config.ids.new_id());
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
        result
    }

    fn execute_one(
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
            Command::Incident(_) | Command::Problem(_) | Command::Change(_) => {
                self.apply(actor, command, idem.as_ref(), expected, correlation, None)
            }
        }
    }

    fn route_alert(
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
            let owner = kedb::alert_owner(&*self.views, &report.dedup_key)?;
            let command = match owner {
                Some(id) => IncidentCommand::CorrelateAlert {
                    id,
                    dedup_key: report.dedup_key.clone(),
                    seen_at: report.seen_at.unwrap_or_else(|| self.config.clock.now()),
                },
                None => IncidentCommand::Open {
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
                // The incident holding the key was resolved meanwhile: route again.
                Err(EngineError::Domain(_)) if owner.is_some() && attempt < attempts => continue,
                other => return other,
            }
        }
    }

    /// Fills the change calendar of schedule-carrying change commands from the read model
    /// (those for which [`reads_calendar`] holds).
    fn fill_calendar(&self, command: &mut Command, state: &AnyState) -> Result<()> {
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
                *cal = calendar::booked_overlapping(&*self.views, *window, *id, max)?;
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
                        calendar::booked_overlapping(&*self.views, w, *id, max)?
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
        Ok(())
    }

    /// Decides and appends one command on one record, retrying unpinned conflicts.
    fn apply(
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
        let _calendar_guard = reads_calendar(command).then(|| self.calendar_lock.lock());
        let creates = command.creates();
        let _number_guard = creates.then(|| self.numbering[kind_index(kind)].lock());
        let policy = self.policy();
        let stream = record.stream();
        let store = self.store();
        let ids = &self.config.ids;
        let attempts = self.config.max_attempts;
        for attempt in 1..=attempts {
            let (version, state) = self.loader().latest(&record)?;
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
            let ctx = Context::new(self.config.clock.now(), actor.clone(), policy.clone());
            let events = match decide(&state, &command, &ctx) {
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
            match self.commit_append(requests) {
                Ok(outcomes) => {
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
                    let stored = self.read_appended(own, first, last, &stream, &new_events);
                    if count > 0 && !duplicate {
                        let mut new_state = (*state).clone();
                        for e in &events {
                            new_state = new_state.evolve(e);
                        }
                        self.cache.put(record, new_version, Arc::new(new_state));
                    }
                    for retry in 1..=3 {
                        if self.project_to(last, &[]).is_ok() {
                            break;
                        }
                        backoff(retry);
                    }
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
    fn read_appended(
        &self,
        own: Option<&opsledger_store::AppendOutcome>,
        first: u64,
        last: u64,
        stream: &StreamId,
        appended: &[NewEvent],
    ) -> Vec<StoredEvent> {
        let Some(own) = own else {
            return Vec::new();
        };
        let (from, to) = if own.was_duplicate {
            (own.first_position.0, own.last_position.0)
        } else {
            (first, last)
        };
        for retry in 1..=3 {
            match self.store().read_all(
                Position(from),
                usize::try_from(to.saturating_sub(from) + 1).unwrap_or(usize::MAX),
            ) {
                Ok(stored) => return stored.into_iter().filter(|e| &e.stream == stream).collect(),
                Err(_) => backoff(retry),
            }
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
    fn replay(&self, actor: &Actor, key: &str, fingerprint: Uuid) -> Result<Option<Outcome>> {
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
    fn replay_when_visible(&self, actor: &Actor, key: &str, fingerprint: Uuid) -> Result<Outcome> {
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

    fn process_name(&self, actor: &str) -> String {
        let prefix = format!("{}:", self.config.system_actor.id);
        actor.strip_prefix(&prefix).unwrap_or(actor).to_owned()
    }

    /// The follow-ups `events` caused, from the causation index (for replays).
    fn recorded_follow_ups(&self, events: &[StoredEvent]) -> Result<(Vec<FollowUp>, bool)> {
        let store = self.store();
        let max = self.config.limits.max_follow_ups;
        let mut queue: VecDeque<StoredEvent> = events.iter().cloned().collect();
        let mut out: Vec<FollowUp> = Vec::new();
        while let Some(cause) = queue.pop_front() {
            let prefix = keys::caused_prefix(&cause.event_id);
            let positions: Vec<u64> = self
                .views
                .range(&prefix, &prefix_end(&prefix), false)
                .map(|item| item.map(|(k, _)| keys::trailing_u64(&k).unwrap_or(0)))
                .collect::<Result<_>>()?;
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

    fn system_actor(&self, process: &str) -> Actor {
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
    fn run_follow_ups(
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
            number: None,
            result: FollowUpResult::Skipped {
                code: e.code().to_owned(),
                message: e.to_string(),
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
                        )
                    )
                    .then(|| {
                        let stripe =
                            decoded.record().id.as_u128() % self.cascade_locks.len() as u128;
                        self.cascade_locks[usize::try_from(stripe).unwrap_or(0)].lock()
                    });
                    match process::react_to(decoded, Some(event.version.0), &facts) {
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

    // ---- lookups --------------------------------------------------------------------------

    pub(crate) fn number_of(&self, record: RecordRef) -> Result<Option<HumanNumber>> {
        Ok(self
            .views
            .get(&keys::number_of(record.kind, &record.id))?
            .and_then(|b| b.try_into().ok().map(u64::from_be_bytes))
            .map(|n| HumanNumber::new(record.kind, n)))
    }

    pub(crate) fn stream_events(
        &self,
        stream: &StreamId,
        up_to: Option<u64>,
        max: usize,
    ) -> Result<Vec<StoredEvent>> {
        let store = self.store();
        let mut out = Vec::new();
        let mut next = 1u64;
        loop {
            let page = store.read_stream(stream, Version(next), PROJECT_PAGE)?;
            let n = page.len();
            for e in page {
                if up_to.is_some_and(|p| e.position.0 > p) || out.len() >= max {
                    return Ok(out);
                }
                next = e.version.0 + 1;
                out.push(e);
            }
            if n < PROJECT_PAGE {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opsledger_core::change::{ChangeType, Risk};
    use opsledger_core::window::TimeWindow;
    use opsledger_core::{ChangeId, Role};
    use std::sync::mpsc;
    use std::time::Duration;

    fn run(engine: &Engine, command: ChangeCommand) -> mpsc::Receiver<Result<Outcome>> {
        let (tx, rx) = mpsc::channel();
        let engine = engine.clone();
        std::thread::spawn(move || {
            let actor = Actor::new("chris", [Role::ChangeManager]);
            let _ = tx.send(engine.execute(CommandEnvelope::new(actor, command)));
        });
        rx
    }

    #[test]
    fn only_calendar_commands_wait_for_the_calendar() {
        let engine = Engine::in_memory(EngineConfig::default()).expect("engine");
        let id = ChangeId(Uuid::from_u128(1));
        let request = ChangeCommand::Request {
            id,
            title: "Raise DB pool size".into(),
            description: String::new(),
            change_type: ChangeType::Normal,
            risk: Risk::Moderate,
            cis: ["db-01".into()].into_iter().collect(),
            implementation_plan: "Apply".into(),
            backout_plan: "Restore".into(),
            test_plan: String::new(),
            assignee: None,
        };
        let wait = Duration::from_secs(30);
        run(&engine, request)
            .recv_timeout(wait)
            .expect("request")
            .expect("ok");

        let held = engine.inner.calendar_lock.lock();
        // A work note decides without the calendar: it does not wait.
        let note = ChangeCommand::AddWorkNote {
            id,
            note: "checked the runbook".into(),
        };
        run(&engine, note)
            .recv_timeout(wait)
            .expect("not blocked")
            .expect("ok");
        // Planning is decided against the calendar: it waits for the lock...
        let now = engine.clock().now();
        let plan = run(
            &engine,
            ChangeCommand::Plan {
                id,
                window: TimeWindow::new(
                    now + chrono::Duration::days(1),
                    now + chrono::Duration::days(2),
                ),
                assignee: None,
                calendar: Vec::new(),
                ci_relations: Vec::new(),
                accept_conflicts: None,
            },
        );
        assert!(matches!(
            plan.recv_timeout(Duration::from_millis(200)),
            Err(mpsc::RecvTimeoutError::Timeout)
        ));
        // ...and goes through once it is free.
        drop(held);
        plan.recv_timeout(wait).expect("plan").expect("ok");
        assert!(reads_calendar(&Command::Change(ChangeCommand::Approve {
            id,
            comment: None,
            calendar: Vec::new(),
            ci_relations: Vec::new(),
            accept_conflicts: None,
        })));
    }
}
