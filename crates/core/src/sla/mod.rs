//! Service level agreements: versioned definitions, exact and explainable clocks, a small SLA
//! lifecycle per record, and what-if replays.
//!
//! An SLA clock is a pure function of a record's events, the definition and calendar versions
//! the record pinned, and `now` ([`sla_status`], [`explain`]). Nothing is stored about a clock
//! but the facts about the record, which attachments were made, and which thresholds and
//! breaches were recorded ([`SlaDecider`], stream `sla-<kind>-<uuid>`); so a clock can be
//! recomputed at any instant, and the recompute-after-X bugs of the incumbents (GLPI #6902,
//! #15605, #17186, #9082, #23359: pause time lost or miscounted after an SLA change, a pending
//! state, a reassignment or a reopen) have nowhere to hide.
//!
//! # Definitions and policy
//!
//! A [`SlaDefinition`] says which records it attaches to (kind, priorities, services), what it
//! measures ([`SlaMetric::Response`] until the first acknowledgement or assignment to a person,
//! [`SlaMetric::Resolution`] until resolved), its business-time target, its calendar, its
//! conditions ([`SlaConditions`], defaults per metric), warning thresholds and what happens at
//! breach. Definitions and calendars are versioned and immutable per version; an
//! [`SlaPolicy`] holds every version, so a pinned version can always be looked up.
//! [`SlaPolicy::validate`] reports dangling calendars, empty targets, duplicate versions and
//! the rest as typed [`SlaPolicyError`]s.
//!
//! # The clock
//!
//! The record's events become [`SlaSignal`]s ([`SlaSource`], implemented for incident and
//! problem events), read in stream order up to `now`:
//! - **Start**: the first start signal (default: opened). With `start_at_impact`, a backdated
//!   impact start earlier than that moves the start back to it (the latest recorded impact
//!   start wins, so corrections work); without it, backdated facts never move a clock.
//! - **Pause**: while the record is on hold for a pausing reason (default: awaiting caller,
//!   awaiting vendor). The pause ends on a resume signal (default: resumed), or as soon as the
//!   hold reason changes to a non-pausing one. A clock that starts or continues while the
//!   record is on such a hold starts or continues paused.
//! - **Stop**: on a stop signal (response: acknowledged, assigned to a person, resolved or
//!   closed; resolution: resolved or closed). Cancel takes precedence over stop, stop over
//!   pause and resume.
//! - **Reopen**: a stopped resolution clock continues on `reopened`, from the elapsed time it
//!   stopped at; the time between resolution and reopen is "stopped", neither running nor
//!   paused (GLPI #23359). A response clock stays stopped: the first response happened.
//! - **Cancel**: on `canceled`, for good; canceled clocks count neither as met nor breached.
//! - **Marks**: a threshold or the target is crossed at the first instant elapsed business
//!   time reaches it. A clock breaches when elapsed reaches the target: resolving at the due
//!   instant, or after it outside business hours, is a breach.
//!
//! Elapsed time is the calendar's business time over the running stretches; [`explain`] cuts
//! the history into running, outside-hours, holiday, paused, stopped and canceled spans whose
//! running parts add up to elapsed exactly, cut at the breach instant. [`next_due`] gives the
//! next threshold or breach instant of a running clock, for the engine's due-instant index.
//!
//! # The SLA lifecycle of a record
//!
//! [`SlaDecider`] keeps one stream per record, holding numbered [`SlaInstance`]s (table:
//! [`SlaInstance::transitions`]):
//! - `attach` pins the definitions that apply when the record's clock starts; idempotent by
//!   definition id, so a retry never adds a clock and a running record keeps its pinned
//!   version when the policy changes later.
//! - `reattach` is the explicit, recorded answer to a change of the applicable definitions (a
//!   reprioritisation P3 -> P1): instances no longer applicable are replaced (their history is
//!   kept, frozen at the reattachment), new ones attached. A new instance measures from the
//!   record's start by default (retroactive, every pause replayed) or from the reattachment
//!   ([`ReattachStart`]).
//! - `record_threshold` and `record_breach` record what the tick found, exactly once per
//!   instance: a repeat succeeds with no event (idempotent, so a tick may run any number of
//!   times, and after restarts). [`due_commands`] computes them from a status.
//! - `cancel` withdraws one instance or every active one.
//!
//! # What-if
//!
//! [`what_if`] replays many records under the current and a proposed policy and reports, per
//! record and in total, how compliance would differ; it writes nothing.
//!
//! # Example
//!
//! ```
//! use chrono::{DateTime, Duration, Utc};
//! use opsledger_core::calendar::{
//!     BusinessCalendar, CalendarSpec, CalendarVersion, TimeZoneName, WeeklySchedule,
//! };
//! use opsledger_core::incident::HoldReason;
//! use opsledger_core::sla::{
//!     CalendarRef, ExplainKind, SignalKind, SlaDefinition, SlaKey, SlaMetric, SlaScope,
//!     SlaSignal, explain, sla_status,
//! };
//! use opsledger_core::{Priority, RecordKind};
//!
//! let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
//! let office = BusinessCalendar::new(CalendarSpec::new(
//!     "london-office",
//!     CalendarVersion(1),
//!     TimeZoneName::new("Europe/London").unwrap(),
//!     WeeklySchedule::weekdays(vec!["08:00-18:00".parse().unwrap()]),
//! ))
//! .unwrap();
//! let p3 = SlaDefinition::new(
//!     SlaKey::new("p3-resolution", 1),
//!     "P3 resolution",
//!     SlaScope::all(RecordKind::Incident),
//!     SlaMetric::Resolution,
//!     Duration::hours(8),
//!     CalendarRef::exact("london-office", 1),
//! );
//! // Opened Tuesday 16:00, waiting for the caller from 17:00 until Wednesday 10:00.
//! let history = [
//!     SlaSignal::new(
//!         at("2026-01-06T16:00:00Z"),
//!         SignalKind::Opened { priority: Priority::Moderate, service: None },
//!     ),
//!     SlaSignal::new(
//!         at("2026-01-06T17:00:00Z"),
//!         SignalKind::PutOnHold { reason: HoldReason::AwaitingCaller },
//!     ),
//!     SlaSignal::new(at("2026-01-07T10:00:00Z"), SignalKind::Resumed),
//! ];
//! let now = at("2026-01-07T12:00:00Z");
//! let status = sla_status(&p3, &office, &history, now);
//! // 1 h on Tuesday + 2 h on Wednesday; the pause kept 3 business hours off the clock.
//! assert_eq!(status.elapsed, Duration::hours(3));
//! assert_eq!(status.paused, Duration::hours(3));
//! assert_eq!(status.due_at, Some(at("2026-01-07T17:00:00Z")));
//! let spans = explain(&p3, &office, &history, now);
//! assert!(matches!(spans[1].kind, ExplainKind::Paused { .. }));
//! ```

mod clock;
mod command;
mod decide;
mod definition;
mod event;
mod explain;
mod policy;
mod signal;
mod state;
mod status;
mod table;
mod tick;
mod whatif;

pub use command::{SlaCommand, SlaCommandKind};
pub use decide::SlaDecider;
pub use definition::{
    BreachAction, BreachEscalation, CalendarKey, CalendarRef, EffectiveConditions, HoldReasonKind,
    Percent, ReattachStart, SlaConditions, SlaDefinition, SlaDefinitionId, SlaKey, SlaMetric,
    SlaPin, SlaScope, SlaTrigger, SlaVersion,
};
pub use event::SlaEvent;
pub use explain::{ExplainKind, ExplainSpan, evaluate_in, explain, explain_in};
pub use policy::{MAX_TARGET, SlaPolicy, SlaPolicyError};
pub use signal::{SignalKind, SlaSignal, SlaSource};
pub use state::{
    AttachedInstance, ClockStart, RecordRef, SlaInstance, SlaInstanceNo, SlaInstanceStatus,
    SlaInstanceStatusKind, SlaRecord,
};
pub use status::{
    DueMark, DueWhat, InstanceWindow, SlaCancelCause, SlaOutcome, SlaState, SlaStatus,
    ThresholdCrossing, WindowEnd, next_due, sla_status, sla_status_in,
};
pub use tick::due_commands;
pub use whatif::{
    ComplianceTotals, MetricChange, PlannedInstance, PolicyTotals, RecordHistory, WhatIfInstance,
    WhatIfRecord, WhatIfReport, plan_instances, what_if,
};
