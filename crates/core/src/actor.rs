//! Who acts: an id and the roles the caller's identity system granted.

use crate::ids::ActorId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// A role an actor may hold. Permissions are granted to roles by
/// [`AuthorizationRules`](crate::authz::AuthorizationRules).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reports incidents and requests changes; may comment on, confirm or reject the resolution
    /// of an incident they are the caller of.
    Requester,
    /// An end user: comments on, confirms or rejects the resolution of incidents they are the
    /// caller of, and reads only those (work notes filtered out), nothing else.
    Caller,
    /// Service-desk or resolver-group engineer working records.
    Agent,
    /// Team lead or duty manager: escalations, major incidents, cancellations.
    Manager,
    /// Owns problem management: risk acceptance, re-analysis, known errors.
    ProblemManager,
    /// Owns change enablement: assessment, scheduling, emergency changes.
    ChangeManager,
    /// Member of the change advisory board: approves or rejects changes.
    CabMember,
    /// May do everything.
    Admin,
    /// The engine itself: its timers (auto-close) and process managers (resolving children
    /// with their parent, linking records on both sides, recording fixing-change outcomes).
    /// Adapters must never grant it to a person or an API token; the engine acts under it
    /// with an actor id of its own, so the audit trail says what was automatic.
    System,
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Role; 9] = [
        Role::Requester,
        Role::Caller,
        Role::Agent,
        Role::Manager,
        Role::ProblemManager,
        Role::ChangeManager,
        Role::CabMember,
        Role::Admin,
        Role::System,
    ];

    /// Whether the role is an end user's ([`Role::Requester`], [`Role::Caller`]), whose reads
    /// are limited to their own incidents ([`Actor::reads_own_records_only`]).
    pub const fn is_end_user(self) -> bool {
        match self {
            Role::Requester | Role::Caller => true,
            Role::Agent
            | Role::Manager
            | Role::ProblemManager
            | Role::ChangeManager
            | Role::CabMember
            | Role::Admin
            | Role::System => false,
        }
    }

    /// Stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Caller => "caller",
            Role::Agent => "agent",
            Role::Manager => "manager",
            Role::ProblemManager => "problem_manager",
            Role::ChangeManager => "change_manager",
            Role::CabMember => "cab_member",
            Role::Admin => "admin",
            Role::System => "system",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The acting identity of a command: supplied by the adapter (token, session), never by the core.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Actor {
    /// Who.
    pub id: ActorId,
    /// What they may do.
    #[serde(default)]
    pub roles: BTreeSet<Role>,
}

impl Actor {
    /// An actor with the given roles.
    pub fn new(id: impl Into<String>, roles: impl IntoIterator<Item = Role>) -> Self {
        Self {
            id: ActorId::new(id),
            roles: roles.into_iter().collect(),
        }
    }

    /// Whether the actor holds `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the actor is an end user who reads only the incidents they are the caller of:
    /// they hold no role but [`Role::Caller`] and [`Role::Requester`] (an actor with no role at
    /// all included: reading everything takes a role that works records). Such a reader sees
    /// their own incidents with internal work notes filtered out, and no queue, KPI or log that
    /// shows other records.
    pub fn reads_own_records_only(&self) -> bool {
        self.roles.iter().all(|r| r.is_end_user())
    }
}
