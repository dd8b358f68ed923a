//! The decider: the shape every lifecycle has.

use crate::context::Context;
use crate::error::DomainError;

/// A pure state machine over events.
///
/// Invariants every implementation keeps:
/// - `decide` validates; on error it returns no event and changes nothing.
/// - `evolve` is total: it never fails and never panics on any event `decide` could produce, so
///   replaying history can never break.
/// - Both are deterministic: no clock, no randomness, no IO.
pub trait Decider {
    /// The folded state; `Default` is "the record does not exist yet".
    type State: Default + Clone;
    /// What callers ask for.
    type Command;
    /// What happened.
    type Event;

    /// Validates `cmd` against `state` and returns the events that record its effect.
    fn decide(
        state: &Self::State,
        cmd: &Self::Command,
        ctx: &Context,
    ) -> Result<Vec<Self::Event>, DomainError>;

    /// Applies one event.
    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;

    /// Folds events from the default state.
    fn fold<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self::State
    where
        Self::Event: 'a,
    {
        events
            .into_iter()
            .fold(Self::State::default(), |s, e| Self::evolve(s, e))
    }
}

/// Metadata every event type carries for the store: a stable type name and a schema version.
pub trait DomainEvent {
    /// Stable, dotted type name, for example `incident.resolved`. Never changes once released.
    fn event_type(&self) -> &'static str;
    /// Version of this event type's payload schema; bumped with an upcaster when it changes.
    fn schema_version(&self) -> u16;
}
