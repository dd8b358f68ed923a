//! Policy: the rules in force, passed to `decide` as data.
//!
//! A policy is versioned; records pin the version they started under where it matters (SLAs).
//! The core never loads a policy: the engine (or a test) supplies it in the [`Context`](crate::Context).

use crate::actor::Role;
use crate::authz::AuthorizationRules;
use crate::ids::ActorId;
use crate::priority::PriorityMatrix;
use crate::sla::SlaPolicy;
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
    /// SLA definitions and business calendars, every version (records pin the ones they use).
    #[serde(default)]
    pub sla: SlaPolicy,
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
            sla: SlaPolicy::default(),
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
///
/// "Eligible" is the board minus the change's requester (separation of duties: the requester
/// never approves, so the requester never counts towards the quorum either). With `n` eligible
/// board members, the approvals required are:
///
/// | quorum | board not empty | board empty (anyone with an approver role) |
/// |---|---|---|
/// | `Any` | 1 | 1 |
/// | `Majority` | `n / 2 + 1` (more than half) | 1 |
/// | `All` | `n` | 1 |
///
/// and never fewer than [`ApprovalRule::min_approvals`] (itself at least 1). See
/// [`ApprovalRule::required_approvals`].
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
///
/// An approval (or a rejection) counts only from an actor who holds one of `approver_roles`
/// and, when `board` is not empty, is on the board. [`Role::Admin`] is not an implicit approver:
/// an approval is a governance act of a named role, not a technical permission.
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

impl ApprovalRule {
    /// The board members who may vote on a change raised by `requester` (duplicates removed,
    /// the requester excluded). Empty when the rule names no board.
    pub fn eligible_board<'a>(&'a self, requester: &ActorId) -> BTreeSet<&'a ActorId> {
        self.board.iter().filter(|m| *m != requester).collect()
    }

    /// How many approvals a change raised by `requester` needs (see [`Quorum`]).
    pub fn required_approvals(&self, requester: &ActorId) -> u32 {
        let floor = self.min_approvals.max(1);
        if self.board.is_empty() {
            return floor;
        }
        let eligible = u32::try_from(self.eligible_board(requester).len()).unwrap_or(u32::MAX);
        let by_quorum = match self.quorum {
            Quorum::Any => 1,
            Quorum::Majority => eligible / 2 + 1,
            Quorum::All => eligible,
        };
        by_quorum.max(floor)
    }

    /// Whether enough distinct actors could ever approve a change raised by `requester`: false
    /// when no role may approve, or when the board (requester excluded) is smaller than
    /// [`ApprovalRule::required_approvals`]. With no board the answer is true, because the
    /// core cannot know how many actors hold an approver role.
    pub fn quorum_reachable(&self, requester: &ActorId) -> bool {
        if self.approver_roles.is_empty() {
            return false;
        }
        if self.board.is_empty() {
            return true;
        }
        let eligible = u32::try_from(self.eligible_board(requester).len()).unwrap_or(u32::MAX);
        self.required_approvals(requester) <= eligible
    }
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

/// A pre-authorised standard change from the catalogue. A change of type
/// `Standard { template }` must name the `id` of a template in
/// [`Policy::standard_changes`] when it is requested and again when it is submitted (a
/// template withdrawn from the catalogue no longer pre-authorises anything).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StandardChangeTemplate {
    /// Stable template id, referenced by `ChangeType::Standard { template }`.
    pub id: String,
    /// Human name.
    pub name: String,
}
