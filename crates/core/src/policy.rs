//! Policy: the rules in force, passed to `decide` as data.
//!
//! A policy is versioned; records pin the version they started under where it matters (SLAs).
//! The core never loads a policy: the engine (or a test) supplies it in the [`Context`](crate::Context).

use crate::actor::Role;
use crate::authz::AuthorizationRules;
use crate::ids::ActorId;
use crate::priority::PriorityMatrix;
use crate::window::NamedWindow;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// Version of a policy document; increases with every change an operator makes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct PolicyVersion(pub u32);

impl fmt::Display for PolicyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// Everything `decide` may consult besides the record's own state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Policy {
    /// Version of this policy.
    pub version: PolicyVersion,
    /// Impact x urgency -> priority.
    pub priority_matrix: PriorityMatrix,
    /// Role grants.
    pub authorization: AuthorizationRules,
    /// Who approves which type of change, and how many approvals are needed.
    pub approvals: ApprovalPolicy,
    /// Pre-authorised standard change templates.
    pub standard_changes: Vec<StandardChangeTemplate>,
    /// Maintenance windows: changes should be implemented inside one.
    pub maintenance_windows: Vec<NamedWindow>,
    /// Blackout (freeze) windows: no change may be implemented inside one.
    pub blackout_windows: Vec<NamedWindow>,
    /// Limits on command sizes, so that no command can make a record unboundedly large.
    pub limits: Limits,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            version: PolicyVersion(1),
            priority_matrix: PriorityMatrix::default(),
            authorization: AuthorizationRules::default(),
            approvals: ApprovalPolicy::default(),
            standard_changes: Vec::new(),
            maintenance_windows: Vec::new(),
            blackout_windows: Vec::new(),
            limits: Limits::default(),
        }
    }
}

/// Hard limits on what one command may carry. Exceeding one is a validation error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Limits {
    /// Longest title, in bytes.
    pub max_title_bytes: usize,
    /// Longest free text (description, notes, reason, workaround), in bytes.
    pub max_text_bytes: usize,
    /// Most links (children, incidents, changes, CIs) one record may hold per kind.
    pub max_links: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_title_bytes: 512,
            max_text_bytes: 64 * 1024,
            max_links: 10_000,
        }
    }
}

/// How many of the eligible approvers must approve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Quorum {
    /// One approval is enough.
    Any,
    /// More than half of the board (the requester excluded) must approve.
    Majority,
    /// Every member of the board (the requester excluded) must approve.
    All,
}

/// Who may approve a type of change and how many must.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalRule {
    /// An approval counts only from an actor holding one of these roles.
    pub approver_roles: BTreeSet<Role>,
    /// The named board (CAB). When empty, anyone with an approver role counts and
    /// `Majority`/`All` fall back to needing `min_approvals`.
    pub board: Vec<ActorId>,
    /// How many must approve.
    pub quorum: Quorum,
    /// Lower bound on approvals, whatever the quorum says (at least 1).
    pub min_approvals: u32,
}

/// Approval rules per change type. Standard changes are pre-authorised and need none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalPolicy {
    /// Normal changes: the CAB.
    pub normal: ApprovalRule,
    /// Emergency changes: the emergency CAB.
    pub emergency: ApprovalRule,
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        Self {
            normal: ApprovalRule {
                approver_roles: [Role::CabMember, Role::ChangeManager].into_iter().collect(),
                board: Vec::new(),
                quorum: Quorum::Any,
                min_approvals: 1,
            },
            emergency: ApprovalRule {
                approver_roles: [Role::ChangeManager].into_iter().collect(),
                board: Vec::new(),
                quorum: Quorum::Any,
                min_approvals: 1,
            },
        }
    }
}

/// A pre-authorised standard change from the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StandardChangeTemplate {
    /// Stable template id, referenced by `ChangeType::Standard { template }`.
    pub id: String,
    /// Human name.
    pub name: String,
}
