//! The context of a decision: when, who, and under which policy.

use crate::actor::Actor;
use crate::policy::Policy;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Everything a decider knows besides the state and the command. Time arrives here as data:
/// the core never reads a clock.
#[derive(Debug, Clone)]
pub struct Context {
    /// The instant the command is decided at (recorded time).
    pub now: DateTime<Utc>,
    /// Who issues the command.
    pub actor: Actor,
    /// The rules in force.
    pub policy: Arc<Policy>,
}

impl Context {
    /// A context with the given time, actor and policy.
    pub fn new(now: DateTime<Utc>, actor: Actor, policy: Arc<Policy>) -> Self {
        Self { now, actor, policy }
    }
}
