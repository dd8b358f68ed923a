//! The folded service model.

use super::{ItemAttributes, ItemRef, RelationType};
use crate::ids::ActorId;
use crate::transition::Named;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// An item's lifecycle (ServiceNow's `operational_status` reduced to what the rules need).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Registered, not in operation yet: relations may be recorded.
    Planned,
    /// In operation.
    Operational,
    /// Out of operation for good: no relation may name it.
    Retired,
}

impl Named for ItemStatus {
    const ALL: &'static [Self] = &[
        ItemStatus::Planned,
        ItemStatus::Operational,
        ItemStatus::Retired,
    ];

    fn name(self) -> &'static str {
        match self {
            ItemStatus::Planned => "planned",
            ItemStatus::Operational => "operational",
            ItemStatus::Retired => "retired",
        }
    }
}

impl fmt::Display for ItemStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One service or CI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Item {
    /// Which item.
    pub item: ItemRef,
    /// Where it is in its lifecycle.
    pub status: ItemStatus,
    /// What the model records about it.
    pub attributes: ItemAttributes,
    /// When it was registered.
    pub registered_at: DateTime<Utc>,
    /// Who registered it.
    pub registered_by: ActorId,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Item {
    /// The name people use: the attribute `name`, or else the id.
    pub fn display_name(&self) -> &str {
        if self.attributes.name.is_empty() {
            self.item.id()
        } else {
            &self.attributes.name
        }
    }
}

/// A recorded relation: `from` runs on, depends on or connects to `to`.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct Relation {
    /// The dependent item.
    pub from: ItemRef,
    /// How it depends.
    pub kind: RelationType,
    /// What it depends on.
    pub to: ItemRef,
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.from, self.kind, self.to)
    }
}

/// The whole model: items by reference, relations in both directions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceModel {
    /// Every item ever registered (retired ones included).
    pub items: BTreeMap<ItemRef, Item>,
    /// The recorded relations, ordered by `from`.
    pub relations: BTreeSet<Relation>,
    /// The same relations keyed by `to` first: `(to, kind, from)`.
    pub(crate) incoming: BTreeSet<(ItemRef, RelationType, ItemRef)>,
}

impl ServiceModel {
    /// The item, if registered.
    pub fn item(&self, item: &ItemRef) -> Option<&Item> {
        self.items.get(item)
    }

    /// The relations that start at `item`.
    pub fn relations_from<'a>(&'a self, item: &'a ItemRef) -> impl Iterator<Item = &'a Relation> {
        self.relations
            .iter()
            .skip_while(move |r| &r.from < item)
            .take_while(move |r| &r.from == item)
    }

    /// The relations that end at `item`, as `Relation`s.
    pub fn relations_to<'a>(&'a self, item: &'a ItemRef) -> impl Iterator<Item = Relation> + 'a {
        // The smallest key for `item`: the first relation type and the smallest reference.
        let smallest = ItemRef::Service(crate::ids::ServiceId::new(String::new()));
        let start = (item.clone(), RelationType::RunsOn, smallest);
        self.incoming
            .range(start..)
            .take_while(move |(to, _, _)| to == item)
            .map(|(to, kind, from)| Relation {
                from: from.clone(),
                kind: *kind,
                to: to.clone(),
            })
    }

    /// Every relation touching `item`, either way.
    pub fn relations_of(&self, item: &ItemRef) -> Vec<Relation> {
        let mut out: Vec<Relation> = self.relations_from(item).cloned().collect();
        out.extend(self.relations_to(item));
        out
    }

    /// Applies one event (total: an event naming an unknown item changes nothing).
    pub fn apply(mut self, event: &super::ModelEvent) -> Self {
        use super::ModelEvent as E;
        match event {
            E::ItemRegistered {
                item,
                attributes,
                at,
                by,
            } => {
                self.items.insert(
                    item.clone(),
                    Item {
                        item: item.clone(),
                        status: ItemStatus::Planned,
                        attributes: attributes.clone(),
                        registered_at: *at,
                        registered_by: by.clone(),
                        updated_at: *at,
                    },
                );
            }
            E::ItemActivated { item, at, .. } | E::ItemReactivated { item, at, .. } => {
                if let Some(i) = self.items.get_mut(item) {
                    i.status = ItemStatus::Operational;
                    i.updated_at = *at;
                }
            }
            E::ItemRetired { item, at, .. } => {
                if let Some(i) = self.items.get_mut(item) {
                    i.status = ItemStatus::Retired;
                    i.updated_at = *at;
                }
                // Its relations go with it (logs written before retirement carried them in
                // `relation_removed` events find none left here).
                for r in self.relations_of(item) {
                    self.incoming
                        .remove(&(r.to.clone(), r.kind, r.from.clone()));
                    self.relations.remove(&r);
                }
            }
            E::AttributesUpdated {
                item,
                attributes,
                at,
                ..
            } => {
                if let Some(i) = self.items.get_mut(item) {
                    i.attributes = attributes.clone();
                    i.updated_at = *at;
                }
            }
            E::RelationAdded { from, kind, to, .. } => {
                self.relations.insert(Relation {
                    from: from.clone(),
                    kind: *kind,
                    to: to.clone(),
                });
                self.incoming.insert((to.clone(), *kind, from.clone()));
            }
            E::RelationRemoved { from, kind, to, .. } => {
                self.relations.remove(&Relation {
                    from: from.clone(),
                    kind: *kind,
                    to: to.clone(),
                });
                self.incoming.remove(&(to.clone(), *kind, from.clone()));
            }
        }
        self
    }
}
