//! What callers ask of the service model.

use super::{ItemAttributes, ItemRef, RelationType};
use crate::ids::{CiId, ServiceId};
use crate::transition::Named;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A command on the service model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelCommand {
    /// Registers a business service (Planned).
    RegisterService {
        /// Its id (`web-shop`).
        service: ServiceId,
        /// Its attributes.
        #[serde(default)]
        attributes: ItemAttributes,
    },
    /// Registers a configuration item (Planned).
    RegisterCi {
        /// Its id (`db-prod-01`).
        ci: CiId,
        /// Its attributes.
        #[serde(default)]
        attributes: ItemAttributes,
    },
    /// Puts a planned item into operation.
    Activate {
        /// Which item.
        item: ItemRef,
    },
    /// Retires an item; its relations are removed with it.
    Retire {
        /// Which item.
        item: ItemRef,
    },
    /// Puts a retired item back into operation (retired -> operational), saying why. The
    /// relations removed at its retirement are not restored: relate it again.
    Reactivate {
        /// Which item.
        item: ItemRef,
        /// Why it is back (required).
        reason: String,
    },
    /// Replaces a live item's attributes.
    UpdateAttributes {
        /// Which item.
        item: ItemRef,
        /// The new attributes (all of them).
        attributes: ItemAttributes,
    },
    /// Records that `from` runs on, depends on or connects to `to`.
    Relate {
        /// The dependent item.
        from: ItemRef,
        /// How it depends.
        kind: RelationType,
        /// What it depends on.
        to: ItemRef,
    },
    /// Removes a recorded relation.
    Unrelate {
        /// The dependent item.
        from: ItemRef,
        /// How it depends.
        kind: RelationType,
        /// What it depends on.
        to: ItemRef,
    },
}

/// [`ModelCommand`] without data: the columns of the transition table.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ModelCommandKind {
    /// See [`ModelCommand::RegisterService`].
    RegisterService,
    /// See [`ModelCommand::RegisterCi`].
    RegisterCi,
    /// See [`ModelCommand::Activate`].
    Activate,
    /// See [`ModelCommand::Retire`].
    Retire,
    /// See [`ModelCommand::Reactivate`].
    Reactivate,
    /// See [`ModelCommand::UpdateAttributes`].
    UpdateAttributes,
    /// See [`ModelCommand::Relate`] (the row is about the `from` item).
    Relate,
    /// See [`ModelCommand::Unrelate`] (the row is about the `from` item).
    Unrelate,
}

impl ModelCommand {
    /// The command without its data.
    pub const fn kind(&self) -> ModelCommandKind {
        match self {
            ModelCommand::RegisterService { .. } => ModelCommandKind::RegisterService,
            ModelCommand::RegisterCi { .. } => ModelCommandKind::RegisterCi,
            ModelCommand::Activate { .. } => ModelCommandKind::Activate,
            ModelCommand::Retire { .. } => ModelCommandKind::Retire,
            ModelCommand::Reactivate { .. } => ModelCommandKind::Reactivate,
            ModelCommand::UpdateAttributes { .. } => ModelCommandKind::UpdateAttributes,
            ModelCommand::Relate { .. } => ModelCommandKind::Relate,
            ModelCommand::Unrelate { .. } => ModelCommandKind::Unrelate,
        }
    }

    /// The item the command is about (for relations: `from`).
    pub fn item(&self) -> ItemRef {
        match self {
            ModelCommand::RegisterService { service, .. } => ItemRef::Service(service.clone()),
            ModelCommand::RegisterCi { ci, .. } => ItemRef::Ci(ci.clone()),
            ModelCommand::Activate { item }
            | ModelCommand::Retire { item }
            | ModelCommand::Reactivate { item, .. }
            | ModelCommand::UpdateAttributes { item, .. } => item.clone(),
            ModelCommand::Relate { from, .. } | ModelCommand::Unrelate { from, .. } => from.clone(),
        }
    }
}

impl Named for ModelCommandKind {
    const ALL: &'static [Self] = &[
        ModelCommandKind::RegisterService,
        ModelCommandKind::RegisterCi,
        ModelCommandKind::Activate,
        ModelCommandKind::Retire,
        ModelCommandKind::Reactivate,
        ModelCommandKind::UpdateAttributes,
        ModelCommandKind::Relate,
        ModelCommandKind::Unrelate,
    ];

    fn name(self) -> &'static str {
        match self {
            ModelCommandKind::RegisterService => "register_service",
            ModelCommandKind::RegisterCi => "register_ci",
            ModelCommandKind::Activate => "activate",
            ModelCommandKind::Retire => "retire",
            ModelCommandKind::Reactivate => "reactivate",
            ModelCommandKind::UpdateAttributes => "update_attributes",
            ModelCommandKind::Relate => "relate",
            ModelCommandKind::Unrelate => "unrelate",
        }
    }
}
