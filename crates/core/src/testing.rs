//! A given/when/then harness for deciders, for this crate's tests and (with the `testing`
//! feature) for other crates' tests.
//!
//! ```
//! # use opsledger_core::testing::*;
//! # use opsledger_core::Decider;
//! // given(events).by(actor).at(instant).when(command).then(expected_events)
//! ```

use crate::actor::{Actor, Role};
use crate::context::Context;
use crate::decider::Decider;
use crate::error::DomainError;
use crate::policy::Policy;
use chrono::{DateTime, TimeZone, Utc};
use std::fmt::Debug;
use std::sync::Arc;

/// Monday 2026-01-05 09:00 UTC: the default "now" of a scenario.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
        .single()
        .expect("valid instant")
}

/// `t0()` plus `minutes`.
pub fn t(minutes: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::minutes(minutes)
}

/// An actor with the given roles.
pub fn actor(id: &str, roles: &[Role]) -> Actor {
    Actor::new(id, roles.iter().copied())
}

/// An actor holding every role but admin.
pub fn agent() -> Actor {
    actor("alice", &[Role::Agent])
}

/// An admin (holds every permission).
pub fn admin() -> Actor {
    actor("root", &[Role::Admin])
}

/// Starts a scenario from the state folded from `events`.
pub fn given<D: Decider>(events: impl IntoIterator<Item = D::Event>) -> Scenario<D> {
    let events: Vec<D::Event> = events.into_iter().collect();
    Scenario {
        state: D::fold(events.iter()),
        ctx: Context::new(t0(), admin(), Arc::new(Policy::default())),
    }
}

/// Starts a scenario from an explicit state.
pub fn given_state<D: Decider>(state: D::State) -> Scenario<D> {
    Scenario {
        state,
        ctx: Context::new(t0(), admin(), Arc::new(Policy::default())),
    }
}

/// A state and a context, waiting for a command.
pub struct Scenario<D: Decider> {
    state: D::State,
    ctx: Context,
}

impl<D: Decider> Scenario<D> {
    /// Decide as `actor` (default: an admin).
    pub fn by(mut self, actor: Actor) -> Self {
        self.ctx.actor = actor;
        self
    }

    /// Decide at `now` (default: [`t0`]).
    pub fn at(mut self, now: DateTime<Utc>) -> Self {
        self.ctx.now = now;
        self
    }

    /// Decide under `policy` (default: [`Policy::default`]).
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.ctx.policy = Arc::new(policy);
        self
    }

    /// The state the command will be decided against.
    pub fn state(&self) -> &D::State {
        &self.state
    }

    /// Decides `cmd`.
    pub fn when(self, cmd: D::Command) -> Then<D> {
        let result = D::decide(&self.state, &cmd, &self.ctx);
        Then {
            state: self.state,
            ctx: self.ctx,
            result,
        }
    }
}

/// The outcome of a decision, waiting for assertions.
pub struct Then<D: Decider> {
    state: D::State,
    ctx: Context,
    result: Result<Vec<D::Event>, DomainError>,
}

impl<D: Decider> Then<D>
where
    D::Event: PartialEq + Debug,
{
    /// Asserts the command produced exactly `expected`; returns the new state.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = D::Event>) -> D::State {
        let expected: Vec<D::Event> = expected.into_iter().collect();
        match self.result {
            Ok(events) => {
                assert_eq!(events, expected, "unexpected events");
                events.iter().fold(self.state, |s, e| D::evolve(s, e))
            }
            Err(e) => panic!("expected events {expected:?}, got error {e:?}"),
        }
    }

    /// Asserts the command succeeded; returns its events and the new state.
    #[track_caller]
    pub fn then_ok(self) -> (Vec<D::Event>, D::State) {
        match self.result {
            Ok(events) => {
                let state = events.iter().fold(self.state, |s, e| D::evolve(s, e));
                (events, state)
            }
            Err(e) => panic!("expected success, got error {e:?}"),
        }
    }

    /// Asserts the command succeeded and continues the scenario from the new state, with the
    /// same actor, time and policy.
    #[track_caller]
    pub fn and(self) -> Scenario<D> {
        let ctx = self.ctx.clone();
        let (_, state) = self.then_ok();
        Scenario { state, ctx }
    }

    /// Asserts the command failed with exactly `expected`.
    #[track_caller]
    pub fn then_error(self, expected: DomainError) {
        match self.result {
            Ok(events) => panic!("expected error {expected:?}, got events {events:?}"),
            Err(e) => assert_eq!(e, expected, "unexpected error"),
        }
    }

    /// Asserts the command failed with an error of code `code`; returns the error.
    #[track_caller]
    pub fn then_error_code(self, code: &str) -> DomainError {
        match self.result {
            Ok(events) => panic!("expected error {code}, got events {events:?}"),
            Err(e) => {
                assert_eq!(e.code(), code, "unexpected error {e:?}");
                e
            }
        }
    }

    /// The raw result, for custom assertions.
    pub fn result(&self) -> &Result<Vec<D::Event>, DomainError> {
        &self.result
    }
}
