//! The engine: opens the log and the read models, executes commands, runs process managers and
//! answers queries.

use crate::cache::{Loader, Snapshots, StateCache};
use crate::command::{Command, CommandEnvelope, FollowUp, FollowUpResult, Outcome};
use crate::config::EngineConfig;
use crate::error::{EngineError, Result};
use crate::faults::FaultPoint;
use crate::hooks::EventHook;
use crate::idempotency::{self, IDEMPOTENCY_EVENT, IdempotencyRecord};
use crate::kv::Kv;
use crate::numbers::{self, HumanNumber, NUMBER_EVENT};
use crate::process::{self, Facts, follow_up_event_id_with};
use crate::projections::view::RecordView;
use crate::projections::{self, VIEWS_SCHEMA, calendar, get_view, kedb, keys};
use crate::record::{AnyState, RecordEvent, RecordRef, decode_event};
use crate::time_travel::ReadView;
use follow_ups::{Cause, PmFloor, PmState};
use opsledger_core::change::{ChangeCommand, ChangeDecider};
use opsledger_core::incident::{
    AlertFacts, AlertRoute, AlertSource, IncidentCommand, IncidentDecider, route_alert,
};
use opsledger_core::problem::ProblemDecider;
use opsledger_core::{Actor, ActorId, Context, Decider, IncidentId, Policy, ProblemId, RecordKind};
use opsledger_store::{
    AppendOutcome, AppendRequest, EventStore, ExpectedVersion, MemoryStorage, MemoryStore,
    NewEvent, Position, Space, Storage, StoreConfig, StoreError, StoredEvent, StreamId,
    Subscription, VerifyReport, Version, log_events,
};
use parking_lot::{Mutex, RwLock};
use pipeline::{backoff, pair};
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use uuid::Uuid;

mod follow_ups;
mod open;
mod pipeline;
pub(crate) mod policy;
mod projection;
mod recovery;
pub(crate) mod scheduler;
pub(crate) mod sla;
mod whatif;

pub use open::{
    DirectoryKind, EngineBuilder, create_storage, create_storage_at, directory_kind,
    is_database_url, open_storage, open_storage_at,
};
pub use policy::{
    DIFF_MAX_RECORDS, MovedTarget, POLICY_PUBLISHED, POLICY_STREAM, PolicyDiff, PolicyPublished,
    PolicyRevision, PublishPolicy, TargetAt,
};

/// Events read per call while the projector catches up.
const PROJECT_PAGE: usize = 1_000;
/// How far the persisted process-manager checkpoint may lag (events).
const PM_CHECKPOINT_EVERY: u64 = 256;
/// Stripes of the alert-routing lock.
const ALERT_STRIPES: usize = 64;
/// Meta keys (not wiped by a read-model rebuild).
const META_VIEWS_SCHEMA: &[u8] = b"views_schema";
const META_PM_CHECKPOINT: &[u8] = b"pm_checkpoint";
/// Where the sweep of a shared log's follow-ups has checked up to (`Inner::sweep_follow_ups`).
const META_PM_SWEPT: &[u8] = b"pm_swept";
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

pub(crate) struct Inner {
    storage: Option<Box<dyn Storage>>,
    /// Whether other processes write the same log ([`Storage::shared`]), kept for after
    /// `close` took the storage.
    pub(crate) shared: bool,
    pub(crate) views: Arc<dyn Kv>,
    /// The read models as SQL tables (the backend's database, or one in memory).
    pub(crate) tables: projections::tables::Tables,
    pub(crate) meta: Arc<dyn Kv>,
    snapshots: Snapshots,
    pub(crate) cache: StateCache,
    pub(crate) config: EngineConfig,
    /// Every published policy version (see `engine/policy.rs`).
    policies: RwLock<policy::PolicyBook>,
    /// Serializes publishes.
    publishing: Mutex<()>,
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
    /// Serializes the parent cascades (`parent_resolution`, `parent_reopen`, `parent_hold`,
    /// `parent_resume`, `parent_release`) of one parent
    /// (striped by its id): a cascade checks its cause is not stale and runs its follow-ups
    /// under it, so a racing opposite cascade sees all of them.
    cascade_locks: Vec<Mutex<()>>,
    alert_locks: Vec<Mutex<()>>,
    pm: Mutex<PmState>,
    hooks: RwLock<Vec<Arc<dyn EventHook>>>,
    /// Webhook subscriptions, read from the `webhooks` stream (see `webhooks/`).
    pub(crate) webhooks: Mutex<crate::webhooks::WebhookBook>,
    /// The service model, read from the `service-model` stream (see `service_model.rs`).
    pub(crate) service_model: Mutex<crate::service_model::ModelBook>,
    /// Unfinished webhook deliveries this engine knows of.
    pub(crate) webhook_pending: Mutex<crate::webhooks::Pending>,
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
    /// The store's commits and syncs since open (zero on backends that do not count them).
    pub store_io: opsledger_store::IoStats,
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
    /// checkpoints, snapshots) in `<path>/opsledger.db`, written in one transaction per
    /// command. A directory created by the sled backend (`<path>/log`) is detected and opened
    /// with sled. For another backend, or backend options, use [`Engine::builder`].
    ///
    /// Opening does not replay the log when the read models are current: it catches them up
    /// from their checkpoint, then runs the process managers for events after their
    /// checkpoint (the follow-ups a crash may have interrupted).
    pub fn open(path: impl AsRef<Path>, config: EngineConfig) -> Result<Self> {
        Self::builder().directory(path).config(config).open()
    }

    /// Opens an engine at a store location: a PostgreSQL URL (`postgres://user@host/db`,
    /// optionally `?schema=NAME`: the shared backend, several engines at once on one
    /// database) or a data directory (as [`Engine::open`]).
    pub fn open_location(location: &str, config: EngineConfig) -> Result<Self> {
        Self::builder().location(location).config(config).open()
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
    /// // A new log starts with the policy's version 1.
    /// assert_eq!(engine.head()?, 1);
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
        let tables = match storage.tables() {
            Some(t) => t,
            None => opsledger_store_sqlite::SqliteSpaces::in_memory()?.tables(),
        };
        let shared = storage.shared();
        let mut inner = Inner {
            shared,
            storage: Some(storage),
            views,
            tables: projections::tables::Tables::new(tables, !shared),
            meta,
            snapshots: Snapshots::new(snaps, config.snapshot_every),
            cache: StateCache::new(config.cache_records),
            policies: RwLock::new(policy::PolicyBook::provisional(
                config.policy.clone().unwrap_or_default(),
            )),
            publishing: Mutex::new(()),
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
            webhooks: Mutex::new(Default::default()),
            service_model: Mutex::new(Default::default()),
            webhook_pending: Mutex::new(Default::default()),
            path,
            open_report: OpenReport::default(),
        };
        let started = std::time::Instant::now();
        inner.load_policies()?;
        inner.open_report = inner.recover()?;
        inner.settle_policy()?;
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
        let own_records_only = envelope.actor.reads_own_records_only();
        let actor = envelope.actor.id.clone();
        let target = envelope.command.target();
        self.inner.execute(envelope).map_err(|e| match e {
            // An end user is told the same of a record that does not exist as of one that is
            // not theirs, so that commands do not tell which records exist, nor their state.
            EngineError::Domain(
                opsledger_core::DomainError::NotFound { .. }
                | opsledger_core::DomainError::Forbidden { .. },
            ) if own_records_only && !self.is_callers(target, &actor) => {
                EngineError::ReadForbidden {
                    actor,
                    what: crate::reader::OTHER_RECORD.to_owned(),
                }
            }
            e => self.inner.name_records_in(e),
        })
    }

    /// Whether `record` is an incident whose caller is `actor`.
    fn is_callers(&self, record: Option<RecordRef>, actor: &ActorId) -> bool {
        let Some(record) = record.filter(|r| r.kind == RecordKind::Incident) else {
            return false;
        };
        self.view(None)
            .and_then(|v| v.incident(IncidentId(record.id)))
            .ok()
            .flatten()
            .is_some_and(|incident| incident.caller == *actor)
    }

    /// A view of the read models now (`None`) or as of a recorded instant. An as-of view
    /// replays the log up to that instant into memory: use one view for several queries.
    pub fn view(&self, as_of: Option<chrono::DateTime<chrono::Utc>>) -> Result<ReadView<'_>> {
        ReadView::new(&*self.inner, as_of)
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

    /// Publishes a new version of the policy, in force for every command appended after it
    /// (history is not rewritten: records keep the SLA versions they pinned, and as-of views
    /// answer under the version in force at their instant).
    ///
    /// Needs [`Permission::PolicyPublish`](opsledger_core::Permission::PolicyPublish). Refused
    /// with [`EngineError::InvalidPolicy`] (every problem, each with its path) when the
    /// document is invalid or gives a published SLA definition or calendar version other
    /// content; with [`EngineError::Conflict`] on the `policy` stream when
    /// `request.expected_version` is not the current version. A document equal to the current
    /// version writes nothing (`changed: false`). The document's own `version` is replaced by
    /// the next version number.
    ///
    /// ```
    /// use opsledger::{Engine, EngineConfig, PublishPolicy};
    /// use opsledger::core::{Actor, Policy, Role};
    ///
    /// let engine = Engine::in_memory(EngineConfig::default())?;
    /// assert_eq!(engine.policy().version.0, 1);
    /// let mut document = Policy::default();
    /// document.incident.auto_close_after_days = 3;
    /// let admin = Actor::new("ada", [Role::Admin]);
    /// let published = engine.publish_policy(&admin, document, PublishPolicy::default())?;
    /// assert_eq!(published.version.0, 2);
    /// assert_eq!(engine.policy().incident.auto_close_after_days, 3);
    /// # Ok::<(), opsledger::EngineError>(())
    /// ```
    pub fn publish_policy(
        &self,
        actor: &Actor,
        document: Policy,
        request: PublishPolicy,
    ) -> Result<PolicyPublished> {
        self.inner.publish_policy(actor, document, request)
    }

    /// Every problem of `document` if it were published now (empty: none): its own and
    /// against the history. Writes nothing.
    pub fn validate_policy(&self, document: &Policy) -> Vec<opsledger_core::policy::PolicyIssue> {
        self.inner.policy_issues(document)
    }

    /// What publishing `document` would change: every setting, and the open records whose SLA
    /// targets would move if they were pinned again. Writes nothing.
    pub fn diff_policy(&self, document: &Policy) -> Result<PolicyDiff> {
        self.inner.diff_policy(document)
    }

    /// Every published version, oldest first.
    pub fn policy_history(&self) -> Vec<PolicyRevision> {
        self.inner.policies.read().revisions().to_vec()
    }

    /// One published version.
    pub fn policy_revision(
        &self,
        version: opsledger_core::policy::PolicyVersion,
    ) -> Option<PolicyRevision> {
        self.inner.policies.read().version(version).cloned()
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
            views_checkpoint: if inner.storage().shared() {
                // Other processes move the shared read models too.
                projections::read_checkpoint(&*inner.views)?
                    .0
                    .max(inner.checkpoint.load(Ordering::Acquire))
            } else {
                inner.checkpoint.load(Ordering::Acquire)
            },
            process_checkpoint: inner.read_pm_checkpoint()?.unwrap_or(0),
            cached_records: inner.cache.len(),
            open: inner.open_report,
            conflicts_retried: inner.retries.load(Ordering::Relaxed),
            store_io: inner.storage().io_stats(),
        })
    }

    /// Runs the process managers again for the events at positions `from..=to`, as the engine
    /// does at open for events after its process checkpoint. Follow-ups that already ran are
    /// found by their derived event ids and reported without being applied again.
    #[doc(hidden)]
    pub fn rerun_process_managers(&self, from: u64, to: u64) -> Result<Vec<FollowUp>> {
        let inner = &self.inner;
        let mut out = Vec::new();
        for event in log_events(inner.store(), from, to, PROJECT_PAGE) {
            let event = event?;
            let correlation = event
                .correlation_id
                .unwrap_or_else(|| inner.config.ids.new_id());
            out.extend(inner.run_follow_ups(vec![(event, None)], correlation).0);
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

    /// Whether a state in the cache is its record's latest (see `Inner::apply`): this engine
    /// is the log's only writer, and its units project their appends.
    pub(crate) fn cache_is_latest(&self) -> bool {
        !self.shared && self.storage().transactional_units()
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

    // ---- lookups --------------------------------------------------------------------------

    pub(crate) fn number_of(&self, record: RecordRef) -> Result<Option<HumanNumber>> {
        let memo = self.tables.memo();
        if let Some(number) = memo.number(record) {
            return Ok(Some(number));
        }
        let number = self
            .views
            .get(&keys::number_of(record.kind, &record.id))?
            .and_then(|b| b.try_into().ok().map(u64::from_be_bytes))
            .map(|n| HumanNumber::new(record.kind, n));
        if let Some(n) = number {
            memo.put_number(record, n);
        }
        Ok(number)
    }

    /// The human number of the record `id` names, whatever its kind.
    pub(crate) fn number_of_id(&self, id: uuid::Uuid) -> Option<HumanNumber> {
        [
            RecordKind::Incident,
            RecordKind::Problem,
            RecordKind::Change,
        ]
        .into_iter()
        .find_map(|kind| self.number_of(RecordRef { kind, id }).ok().flatten())
    }

    /// `text` with the records it names written as their human numbers.
    pub(crate) fn name_records(&self, text: &str) -> String {
        numbers::name_records(text, |id| self.number_of_id(id))
    }

    /// `error` with the records its free text names written as their human numbers.
    pub(crate) fn name_records_in(&self, error: EngineError) -> EngineError {
        use opsledger_core::DomainError as D;
        let name = |text: String| self.name_records(&text);
        match error {
            EngineError::Domain(D::Validation { field, reason }) => {
                EngineError::Domain(D::Validation {
                    field,
                    reason: name(reason),
                })
            }
            EngineError::Domain(D::NotAnApprover { actor, reason }) => {
                EngineError::Domain(D::NotAnApprover {
                    actor,
                    reason: name(reason),
                })
            }
            EngineError::Domain(D::AlreadyExists { kind, id, name }) => {
                let name = name.or_else(|| {
                    uuid::Uuid::parse_str(&id)
                        .ok()
                        .and_then(|uuid| self.number_of(RecordRef { kind, id: uuid }).ok())
                        .flatten()
                        .map(|n| n.to_string())
                });
                EngineError::Domain(D::AlreadyExists { kind, id, name })
            }
            other => other,
        }
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

impl crate::read_side::ReadSide for Inner {
    fn catch_up(&self) -> Result<u64> {
        Inner::catch_up(self)
    }

    fn log(&self) -> &dyn EventStore {
        self.store()
    }

    fn tables(&self) -> &projections::tables::Tables {
        &self.tables
    }

    fn views(&self) -> Arc<dyn Kv> {
        self.views.clone()
    }

    fn config(&self) -> &EngineConfig {
        &self.config
    }

    fn policy_at(&self, position: Option<u64>) -> Arc<Policy> {
        Inner::policy_at(self, position)
    }

    fn loader(&self) -> Loader<'_> {
        Inner::loader(self)
    }

    fn number_of(&self, record: RecordRef) -> Result<Option<HumanNumber>> {
        Inner::number_of(self, record)
    }

    fn read_snapshot(&self, reads: &mut dyn FnMut() -> Result<()>) -> Result<()> {
        let mut outcome = Ok(());
        self.storage().read_snapshot(&mut || {
            outcome = reads();
            Ok(())
        })?;
        outcome
    }

    fn stream_events(
        &self,
        stream: &StreamId,
        up_to: Option<u64>,
        max: usize,
    ) -> Result<Vec<StoredEvent>> {
        Inner::stream_events(self, stream, up_to, max)
    }

    fn kpi_outcomes(
        &self,
        record: RecordRef,
        up_to: Option<u64>,
        now: chrono::DateTime<chrono::Utc>,
        incident: Option<&opsledger_core::incident::Incident>,
    ) -> Result<(Vec<crate::projections::kpi::StoredOutcome>, bool)> {
        Inner::kpi_outcomes(self, record, up_to, now, incident)
    }

    fn sla_streams_upto(&self, up_to: u64) -> Result<Vec<RecordRef>> {
        Inner::sla_streams_upto(self, up_to)
    }

    fn sla_clocks(
        &self,
        record: RecordRef,
        up_to: Option<u64>,
        now: chrono::DateTime<chrono::Utc>,
        with_spans: bool,
    ) -> Result<Vec<sla::SlaExplanation>> {
        Inner::sla_clocks(self, record, up_to, now, with_spans)
    }

    fn sla_what_if(
        &self,
        window: &opsledger_core::window::TimeWindow,
        proposed: &opsledger_core::sla::SlaPolicy,
        up_to: u64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<opsledger_core::sla::WhatIfReport> {
        Inner::sla_what_if(self, window, proposed, up_to, now)
    }
}

#[cfg(test)]
mod tests {
    use super::pipeline::reads_calendar;
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
