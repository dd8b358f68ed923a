//! opsledger-core: the pure domain of opsledger.
//!
//! Incidents, problems and changes are [`Decider`]s: `decide(state, command, context)` validates
//! a command and returns events; `evolve(state, event)` folds them. Nothing here does IO, reads a
//! clock or draws a random number: time, ids and policy arrive as data, so the same events and
//! commands give the same result on every machine.
//!
//! Layout:
//! - [`ids`], [`actor`], [`priority`], [`window`]: value types;
//! - [`policy`], [`authz`], [`context`]: what a decision may consult;
//! - [`decider`], [`transition`], [`error`]: the shape every lifecycle shares;
//! - [`incident`], [`problem`], [`change`]: the three lifecycles, each with its transition table;
//! - [`webhook`]: outbound notification subscriptions and the delivery state machine.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod actor;
pub mod authz;
pub mod calendar;
pub mod catalog;
pub mod change;
pub mod context;
pub mod decider;
pub mod error;
pub mod ids;
pub mod incident;
pub mod knowledge;
pub mod kpi;
pub mod policy;
pub mod priority;
pub mod problem;
pub mod service;
pub mod sla;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod transition;
pub mod validate;
pub mod webhook;
pub mod window;

pub use actor::{Actor, Role};
pub use authz::{AuthorizationRules, Permission};
pub use calendar::{BusinessCalendar, CalendarSpan, SpanKind};
pub use context::Context;
pub use decider::{Decider, DomainEvent};
pub use error::DomainError;
pub use ids::{
    ActorId, ArticleId, ChangeId, CiId, DeliveryId, GroupId, IncidentId, ProblemId, RecordKind,
    ServiceId, WebhookId,
};
pub use kpi::{KpiInput, KpiQuery, KpiReport};
pub use policy::Policy;
pub use priority::{Impact, Priority, PriorityMatrix, Urgency};
pub use sla::{SlaDecider, SlaPolicy};
pub use transition::{Named, Transition, TransitionTable};
pub use window::{CiScope, NamedWindow, TimeWindow};
