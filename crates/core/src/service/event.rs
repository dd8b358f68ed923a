//! What happened to the service model.

use super::{ItemAttributes, ItemRef, RelationType};
use crate::decider::DomainEvent;
use crate::ids::ActorId;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An event of the `service-model` stream. Each carries when and by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum ModelEvent {
    /// A service or CI was registered (Planned).
    #[serde(rename = "service_model.item_registered")]
    ItemRegistered {
        /// Which item.
        item: ItemRef,
        /// Its attributes.
        attributes: ItemAttributes,
        /// When.
        at: DateTime<Utc>,
        /// By whom.
        by: ActorId,
    },
    /// A planned item went into operation.
    #[serde(rename = "service_model.item_activated")]
    ItemActivated {
        /// Which item.
        item: ItemRef,
        /// When.
        at: DateTime<Utc>,
        /// By whom.
        by: ActorId,
    },
    /// An item was retired.
    #[serde(rename = "service_model.item_retired")]
    ItemRetired {
        /// Which item.
        item: ItemRef,
        /// When.
        at: DateTime<Utc>,
        /// By whom.
        by: ActorId,
    },
    /// A retired item was put back into operation.
    #[serde(rename = "service_model.item_reactivated")]
    ItemReactivated {
        /// Which item.
        item: ItemRef,
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
        /// By whom.
        by: ActorId,
    },
    /// An item's attributes were replaced.
    #[serde(rename = "service_model.attributes_updated")]
    AttributesUpdated {
        /// Which item.
        item: ItemRef,
        /// The new attributes.
        attributes: ItemAttributes,
        /// When.
        at: DateTime<Utc>,
        /// By whom.
        by: ActorId,
    },
    /// A relation was recorded.
    #[serde(rename = "service_model.relation_added")]
    RelationAdded {
        /// The dependent item.
        from: ItemRef,
        /// How it depends.
        kind: RelationType,
        /// What it depends on.
        to: ItemRef,
        /// When.
        at: DateTime<Utc>,
        /// By whom.
        by: ActorId,
    },
    /// A relation was removed (asked for, or with a retired item).
    #[serde(rename = "service_model.relation_removed")]
    RelationRemoved {
        /// The dependent item.
        from: ItemRef,
        /// How it depended.
        kind: RelationType,
        /// What it depended on.
        to: ItemRef,
        /// When.
        at: DateTime<Utc>,
        /// By whom.
        by: ActorId,
    },
}

impl DomainEvent for ModelEvent {
    fn event_type(&self) -> &'static str {
        match self {
            ModelEvent::ItemRegistered { .. } => "service_model.item_registered",
            ModelEvent::ItemActivated { .. } => "service_model.item_activated",
            ModelEvent::ItemRetired { .. } => "service_model.item_retired",
            ModelEvent::ItemReactivated { .. } => "service_model.item_reactivated",
            ModelEvent::AttributesUpdated { .. } => "service_model.attributes_updated",
            ModelEvent::RelationAdded { .. } => "service_model.relation_added",
            ModelEvent::RelationRemoved { .. } => "service_model.relation_removed",
        }
    }

    fn schema_version(&self) -> u16 {
        1
    }
}
