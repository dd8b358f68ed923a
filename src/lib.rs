//! opsledger: an embeddable, event-sourced ITIL workflow engine.
//!
//! Incidents, problems and changes are pure state machines ([`core`]) over an append-only event
//! log ([`store`]); the [`Engine`] joins them: it executes commands, keeps read models (queues,
//! timelines, the KEDB, the change calendar, alert dedup keys) with a checkpoint, runs process
//! managers (a parent's resolution resolves its children, a fix resolves the incidents waiting
//! for it, ...), answers every query as of any recorded instant, and streams events to live
//! consumers.
//!
//! ```
//! use opsledger::{CommandEnvelope, Engine, EngineConfig, QueueFilter};
//! use opsledger::core::incident::{CloseCode, IncidentCommand};
//! use opsledger::core::{Actor, Impact, IncidentId, Role, Urgency};
//!
//! # fn main() -> Result<(), opsledger::EngineError> {
//! let engine = Engine::in_memory(EngineConfig::default())?; // or Engine::open(dir, config)
//! let alice = Actor::new("alice", [Role::Agent]);
//! let id = IncidentId(opsledger::Uuid::now_v7());
//!
//! let opened = engine.execute(CommandEnvelope::new(
//!     alice.clone(),
//!     IncidentCommand::Open {
//!         id,
//!         title: "Checkout fails with HTTP 500".into(),
//!         description: String::new(),
//!         caller: "bob".into(),
//!         impact: Impact::High,
//!         urgency: Urgency::High,
//!         service: Some("payments".into()),
//!         cis: vec![],
//!         group: Some("web-oncall".into()),
//!         assignee: None,
//!         alert: None,
//!     },
//! ))?;
//! assert_eq!(opened.number.unwrap().to_string(), "INC0000001");
//!
//! engine.execute(CommandEnvelope::new(
//!     alice.clone(),
//!     IncidentCommand::Assign { id, group: Some("web-oncall".into()), assignee: Some("alice".into()) },
//! ))?;
//! engine.execute(
//!     CommandEnvelope::new(
//!         alice.clone(),
//!         IncidentCommand::Resolve {
//!             id,
//!             code: CloseCode::SolvedWorkaround,
//!             notes: "Rolled back the release".into(),
//!         },
//!     )
//!     .idempotency_key("resolve-inc-1"), // a retry with this key replays, never repeats
//! )?;
//!
//! let view = engine.view(None)?; // or engine.view(Some(instant)) for "as of"
//! assert!(view.queue(&QueueFilter::incidents().open())?.items.is_empty());
//! let record = view.find("INC0000001")?.unwrap();
//! assert_eq!(record.status.name(), "resolved");
//! for entry in view.timeline(record.record)? {
//!     println!("{} {} {}: {}", entry.recorded_at, entry.actor, entry.event_type, entry.what);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # How it works
//!
//! - **Storage.** A backend implements `opsledger_store::Storage`: the log plus the derived
//!   spaces (read models and their checkpoint, the process managers' checkpoint, record
//!   snapshots). `Engine::open(dir)` uses the default, SQLite (`opsledger-store-sqlite`): one
//!   file, `dir/opsledger.db`, where a command's events and its read models are written in
//!   one transaction. A directory created by the sled backend (`dir/log`, read models in
//!   `dir/views.sqlite3`) is detected and opened with sled. [`Engine::builder`] takes any
//!   backend ([`Engine::in_memory`] is the memory one). The derived spaces are a cache: empty
//!   them and the next open rebuilds them from the log.
//! - **Commands.** [`Engine::execute`] loads the record (LRU cache, else the newest valid
//!   snapshot, then the stream's tail), decides with the core, and appends with the record's
//!   version as expected version. A conflict is retried against fresh state up to
//!   [`EngineConfig::max_attempts`] times, unless the caller pinned a version
//!   ([`CommandEnvelope::expected_version`]): then it is [`EngineError::Conflict`].
//! - **Numbers.** A creating command also appends one event to its kind's numbering stream
//!   (`numbers-incident`, ...) in the same atomic `append_multi`; that event's version is the
//!   number, so numbers are dense and exist exactly when their record does.
//! - **Idempotency.** A key is recorded in the log (stream
//!   `idempotency-<uuid v5 of (actor id, key)>`: keys are scoped per actor) in the same atomic
//!   append, ahead of the record's events; the same key and command replays the first outcome
//!   without writing, also for concurrent retries, another command with the key is
//!   [`EngineError::IdempotencyKeyReused`], across restarts.
//! - **Read your writes.** The projector applies every append to the read models, in log order,
//!   before `execute` returns (on SQLite inside the append's transaction, so a command whose
//!   projection fails is not stored at all); queries catch up to the head first.
//! - **Process managers** ([`process`]) run right after, as the system actor
//!   `<system id>:<process>` ([`EngineConfig::system_actor`]), with the causing event as
//!   causation id and event ids derived from it; they are re-run from their checkpoint at open,
//!   and never apply anything twice. Once a command is appended, `execute` does not fail: if
//!   its follow-ups cannot run (the read models cannot catch up, or a follow-up fails for a
//!   reason other than a domain refusal), the process checkpoint stays before the command and
//!   the next open re-runs them. A domain refusal is reported as `Skipped` and is final.
//!   Parent cascades (children follow their parent's hold, resumption, resolution and
//!   reopening per the policy's `incident.child_sync`; never its close) are guarded on their
//!   cause: stale ones (the parent was reopened / resolved / resumed / held again since) do
//!   nothing (see [`process::react_to`]).
//! - **Rebuilds.** Clearing the read models (rebuild, schema change, inconsistent checkpoint)
//!   first durably marks them as being rebuilt; the mark is removed once they reach the head,
//!   so a crash mid-rebuild (or read models without a checkpoint) forces a rebuild at open.
//! - **Reads.** [`ReadView::timeline`] is the first page (oldest `max_timeline` events) of
//!   [`ReadView::timeline_page`]. As of an instant, single-record reads fold the record's
//!   stream; view-wide queries replay the log prefix, up to
//!   [`EngineLimits::max_as_of_replay_events`] (beyond: `limit_exceeded`).
//! - **SLAs.** Opening an incident attaches the policy's applicable SLA definitions (pinned
//!   versions) on its stream `sla-<kind>-<uuid>` as the follow-up `sla_attach`; a
//!   reprioritisation reattaches. [`ReadView::sla`] and [`ReadView::sla_explain`] compute the
//!   clocks from the record's events, the pins and the view's instant; nothing about a clock is
//!   stored but the facts. [`Engine::tick`] records thresholds and breaches that became due and
//!   auto-closes resolved incidents, each exactly once, looking only at records whose indexed
//!   due instant has passed (the due index lives in the read models, kept by the projector).
//! - **KPIs.** [`ReadView::kpis`] folds the log up to the view into the core's `KpiInput`.
//! - **Policy.** Every version of the policy (SLAs, calendars, CAB, windows, catalogue, grants)
//!   is a `policy.published` event of the stream [`POLICY_STREAM`]; a new log starts with the
//!   configured (or default) policy as version 1. [`Engine::publish_policy`] adds a version
//!   (validated with every problem's path, authorised, idempotent, guarded by an expected
//!   version); every command is decided under the version current when it is appended, and
//!   [`ReadView::policy`] answers with the version in force at the view's instant. Records keep
//!   the SLA definition and calendar versions they pinned whatever is published later. See
//!   `docs/POLICY.md` for the document.
//!
//! Layout of the facade:
//! - [`Engine`] (open, execute, view, subscribe, tick, publish_policy) and [`ReadView`] (every query, SLA
//!   clocks and KPIs included, now or as of an instant); [`TickReport`], [`SlaExplanation`];
//! - [`Command`], [`CommandEnvelope`], [`Outcome`]: what goes in and comes out;
//! - [`EngineConfig`], [`EngineError`]: configuration and errors with stable codes;
//! - read-model types: [`RecordView`], [`QueueFilter`], [`TimelineEntry`], [`KedbQuery`],
//!   [`CalendarEntry`], [`OpenAlert`];
//! - [`process`]: the process managers, as pure functions; [`EventHook`]: the seam for further
//!   projections (exports, custom read models).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The README's Rust examples are compiled and run as doctests, so they stay the real API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

mod cache;
mod command;
mod config;
mod engine;
mod error;
mod faults;
mod hooks;
mod idempotency;
pub mod knowledge;
mod kv;
mod numbers;
pub mod process;
mod projections;
mod read_side;
mod reader;
mod record;
pub mod service_model;
mod time_travel;
pub mod webhooks;

/// The pure domain: lifecycles, policy, ids (the `opsledger-core` crate).
pub use opsledger_core as core;
/// The event log (the `opsledger-store` crate).
pub use opsledger_store as store;

pub use command::{AlertReport, Command, CommandEnvelope, FollowUp, FollowUpResult, Outcome};
pub use config::{
    EngineConfig, EngineLimits, Hooks, IdGenerator, MAX_CACHE_RECORDS, SequentialIds, UuidV7,
};
pub use engine::scheduler::{
    KEPT_ERRORS, SCHEDULER_LEASE, SchedulerError, SchedulerHandle, SchedulerStats,
};
pub use engine::sla::{SlaExplanation, TickFailure, TickReport};
pub use engine::{
    DIFF_MAX_RECORDS, DirectoryKind, Engine, EngineBuilder, EngineStats, MovedTarget, OpenReport,
    POLICY_PUBLISHED, POLICY_STREAM, PolicyDiff, PolicyPublished, PolicyRevision, PublishPolicy,
    TargetAt, create_storage, create_storage_at, directory_kind, is_database_url, open_storage,
    open_storage_at,
};
pub use error::{EngineError, Result};
pub use faults::{FaultPoint, Faults};
pub use hooks::EventHook;
pub use numbers::HumanNumber;
pub use projections::calendar::{CalendarEntry, CalendarQuery};
pub use projections::kedb::{KedbQuery, KnownErrorEntry, OpenAlert};
pub use projections::queue::{Cursor, Page, QueueFilter};
pub use projections::timeline::{EventRef, TimelineEntry, describe};
pub use projections::view::{ChangeDetail, IncidentDetail, ProblemDetail, RecordView, ViewDetail};
pub use reader::OTHER_RECORD;
pub use record::{KINDS, RecordEvent, RecordRef, RecordState, RecordStatus, decode_event};
pub use time_travel::ReadView;

pub use opsledger_core::incident::Visibility;
pub use opsledger_core::{Actor, DomainError, Policy, RecordKind, Role};
pub use opsledger_store::{
    Clock, Durability, ManualClock, Position, StoreError, StoredEvent, Subscription, SystemClock,
};
/// UUIDs (record ids wrap them).
pub use uuid::Uuid;
