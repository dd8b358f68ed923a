//! Typed identifiers.
//!
//! Record ids are UUID v7 values chosen by the caller (the adapter edge), never generated here:
//! the core is deterministic, so a retried command carries the same id and yields the same events.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
        )]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Wraps a UUID chosen by the caller (UUID v7 recommended: time-ordered).
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// Short prefix used in stream names and logs.
            pub const PREFIX: &'static str = $prefix;
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}

uuid_id!(
    /// Identifies one incident.
    IncidentId,
    "incident"
);
uuid_id!(
    /// Identifies one problem.
    ProblemId,
    "problem"
);
uuid_id!(
    /// Identifies one change request.
    ChangeId,
    "change"
);
uuid_id!(
    /// Identifies one webhook subscription (chosen by the caller, like record ids).
    WebhookId,
    "webhook"
);
uuid_id!(
    /// Identifies the delivery of one event to one webhook: UUID v5 of the webhook and the
    /// event ([`crate::webhook::delivery_id`]), the same on every replica and after a restart.
    DeliveryId,
    "delivery"
);

uuid_id!(
    /// Identifies one knowledge article or runbook (chosen by the caller, like record ids).
    ArticleId,
    "article"
);

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
        )]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps a caller-supplied name.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

string_id!(
    /// A person or system acting on records (login name, service account).
    ActorId
);
string_id!(
    /// An assignment group (a team or support tier), for example `service-desk` or `db-oncall`.
    GroupId
);
string_id!(
    /// A configuration item from the caller's CMDB, for example `db-prod-01`.
    CiId
);
string_id!(
    /// A business service, for example `payments`.
    ServiceId
);

/// The three kinds of record the engine manages.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// An unplanned interruption or degradation of a service.
    Incident,
    /// The cause of one or more incidents.
    Problem,
    /// A change request.
    Change,
}

impl RecordKind {
    /// Stable lowercase name (`incident`, `problem`, `change`).
    pub const fn as_str(self) -> &'static str {
        match self {
            RecordKind::Incident => "incident",
            RecordKind::Problem => "problem",
            RecordKind::Change => "change",
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
