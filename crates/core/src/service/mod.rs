//! The service model: business services and configuration items (CIs) with their lifecycles,
//! attributes and typed dependency relations, as one decider over the `service-model` stream.
//!
//! The model is one aggregate because its rules span items: a relation may only name items
//! that exist and are not retired, which a decider can check only when it sees them all. The
//! rules, in short (the table in [`ServiceModel::transitions`] is authoritative for lifecycles):
//!
//! 1. **Items.** `register_service` and `register_ci` create an item in Planned; `activate`
//!    moves Planned -> Operational; `retire` moves Planned or Operational -> Retired; `reactivate` (with a reason) moves
//!    Retired -> Operational, without the relations removed at retirement.
//!    `update_attributes` replaces the attributes of a live item (owner group, support-hours
//!    calendar, criticality, name, class). A support-hours calendar must be one of the policy's
//!    SLA calendars.
//! 2. **Relations.** `relate { from, kind, to }` records that `from` runs on, depends on or
//!    connects to `to`; both ends must exist and be live (not retired), differ, and the
//!    relation must not be recorded yet. `unrelate` removes a recorded one. Cycles are allowed
//!    (two servers that connect to each other): every traversal keeps a visited set.
//!    Retiring an item removes its relations with it: the one `item_retired` event does, in
//!    the fold and in the read model, however many relations a hub has (logs written before
//!    carried a `relation_removed` event per relation first, which fold the same). The model
//!    never holds a relation to a retired item.
//! 3. **Errors.** Unknown item: `unknown_reference`; retired item: `retired_reference`; a
//!    self-relation: `self_relation`; each names the command's field (`from`, `to`, `item`).
//!    A relation type not in the model cannot be written: [`RelationType`] is closed, and its
//!    text form is parsed by [`RelationType::parse`] with the field named.
//! 4. **Permissions.** Every command needs `service_model_manage`.
//! 5. **Limits.** At most [`MAX_ITEMS`] items, [`MAX_RELATIONS`] relations, names up to
//!    [`MAX_NAME_BYTES`].
//!
//! Impact and dependency traversals are pure functions over an index built from the state
//! ([`ModelIndex`]).

mod command;
mod decide;
mod event;
mod graph;
mod state;
mod table;

pub use decide::ServiceModelDecider;

pub use command::{ModelCommand, ModelCommandKind};
pub use event::ModelEvent;
pub use graph::{
    AffectedService, Dependency, ImpactCache, ImpactReport, MAX_TRAVERSAL_DEPTH, ModelIndex,
    Reached,
};
pub use state::{Item, ItemStatus, Relation, ServiceModel};

use crate::ids::{CiId, GroupId, ServiceId};
use crate::sla::CalendarRef;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Most items (services and CIs) a model holds.
pub const MAX_ITEMS: usize = 1_000_000;
/// Most relations a model holds.
pub const MAX_RELATIONS: usize = 5_000_000;
/// Longest item id or name, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// Most commands one atomic model change may carry.
pub const MAX_COMMANDS_PER_CHANGE: usize = 10_000;

/// One item of the model: a business service or a configuration item. On the wire
/// `{"service": "web-shop"}` or `{"ci": "db-prod-01"}`.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ItemRef {
    /// A business service.
    Service(ServiceId),
    /// A configuration item.
    Ci(CiId),
}

impl ItemRef {
    /// The id as text, without its kind.
    pub fn id(&self) -> &str {
        match self {
            ItemRef::Service(s) => s.as_str(),
            ItemRef::Ci(c) => c.as_str(),
        }
    }

    /// `service` or `ci`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            ItemRef::Service(_) => "service",
            ItemRef::Ci(_) => "ci",
        }
    }

    /// The service this names, if it names one.
    pub fn as_service(&self) -> Option<&ServiceId> {
        match self {
            ItemRef::Service(s) => Some(s),
            ItemRef::Ci(_) => None,
        }
    }
}

impl fmt::Display for ItemRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemRef::Service(s) => write!(f, "service {s}"),
            ItemRef::Ci(c) => write!(f, "CI {c}"),
        }
    }
}

/// How one item depends on another. Every type means "an outage of `to` affects `from`", so
/// impact walks relations backwards and dependencies walk them forwards.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RelationType {
    /// Hosted on (an application on a server, a VM on a hypervisor).
    RunsOn,
    /// Needs to work (a service on its application, an application on its database).
    DependsOn,
    /// Talks to over the network (a load balancer to its app servers).
    ConnectsTo,
}

impl RelationType {
    /// Every relation type.
    pub const ALL: [RelationType; 3] = [
        RelationType::RunsOn,
        RelationType::DependsOn,
        RelationType::ConnectsTo,
    ];

    /// Stable snake_case name (`runs_on`).
    pub const fn as_str(self) -> &'static str {
        match self {
            RelationType::RunsOn => "runs_on",
            RelationType::DependsOn => "depends_on",
            RelationType::ConnectsTo => "connects_to",
        }
    }

    /// Parses the snake_case name; anything else is a `validation` error naming `field`.
    pub fn parse(field: &str, text: &str) -> Result<Self, crate::DomainError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == text)
            .ok_or_else(|| {
                crate::DomainError::validation(
                    field,
                    format!(
                        "unknown relation type `{text}` (known: runs_on, depends_on, connects_to)"
                    ),
                )
            })
    }
}

impl fmt::Display for RelationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RelationType::RunsOn => "runs on",
            RelationType::DependsOn => "depends on",
            RelationType::ConnectsTo => "connects to",
        })
    }
}

/// How much the business depends on an item (ServiceNow's `busines_criticality`, 1 to 4).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Criticality {
    /// Most critical: an outage stops the business.
    Critical,
    /// An outage hurts many users.
    High,
    /// The default.
    #[default]
    Medium,
    /// Least critical.
    Low,
}

impl fmt::Display for Criticality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Criticality::Critical => "critical",
            Criticality::High => "high",
            Criticality::Medium => "medium",
            Criticality::Low => "low",
        })
    }
}

/// What the model records about an item besides its lifecycle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemAttributes {
    /// How people call it (`Web shop`); empty: its id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// For CIs, the class (`database`, `load_balancer`, `server`, `saas`); free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// The group that supports it (where its incidents and changes go).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_group: Option<GroupId>,
    /// When it is supported: one of the policy's SLA calendars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_hours: Option<CalendarRef>,
    /// How much the business depends on it.
    #[serde(default)]
    pub criticality: Criticality,
}
