//! Incident management: restore service as quickly as possible.
//!
//! States (ServiceNow numbering for orientation): New (1), InProgress (2), OnHold (3, with a
//! [`HoldReason`]), Resolved (6, with a [`CloseCode`] and notes), Closed (7), Canceled (8, with a
//! [`CancelReason`]). The full table is [`Incident::transitions()`]; the major-incident overlay
//! has its own, [`Incident::major_transitions()`]. [`IncidentDecider`] checks every command
//! against them first, then the actor's permission, then fields and guards.
//!
//! Rules:
//! - **New** means nobody personally owns the incident. Acknowledging it, or assigning it to a
//!   person (at opening or later), starts work: New -> InProgress, and `acknowledged_at` is set
//!   once, never overwritten. Assigning only a group keeps it New (it sits in that queue).
//! - **Assignment** replaces group and assignee together. Replacing an already set group or
//!   assignee is a reassignment (`incident.reassigned`, `reassignment_count` + 1); filling an
//!   empty one is not. A functional escalation hands over to another group one tier up, clears
//!   the assignee and also counts as a reassignment. A hierarchical escalation raises the level
//!   and names the manager; it changes no assignment.
//! - **Hold**: InProgress <-> OnHold, repeatable; the reason may change while on hold.
//! - **Resolve** needs a close code and non-blank notes, from InProgress or OnHold. A child is
//!   resolved from its parent (code and notes copied into the command), also from New; an
//!   incident awaiting or linked to a problem is resolved from it ("solved permanently").
//! - **Reopen** (Resolved -> InProgress) needs a reason and counts in `reopen_count`; reopening
//!   a parent reopens its resolved children through `ReopenFromParent` (also counted).
//! - **Close** confirms a resolution; **AutoClose** is the timer's close after N business days.
//!   A requester (an actor who may not work incidents) may close or reopen only an incident
//!   they are the caller of. Children never close with their parent.
//! - **Major incidents**: NotMajor|Rejected -> Proposed -> Accepted | Rejected. An accepted major
//!   incident never auto-closes, and `Close` fails with [`DomainError::ReviewRequired`] until its
//!   post-incident review is published (only in Resolved; republishing adds a revision).
//! - **Cancel** (from New, InProgress, OnHold): duplicate of another incident (never itself),
//!   not an incident, or another reason in words. The original records the duplicate with
//!   `LinkDuplicate`.
//! - **Parent/child**: `LinkParent` on the child, `LinkChild` on the parent. No self-links, and
//!   an incident's parent cannot also be its child. The engine's process managers send the
//!   cross-record commands; this module never reads another incident.
//! - **Alerts**: an incident opened from an alert holds its dedup key; `CorrelateAlert` with that
//!   key, while the incident is open (New, InProgress, OnHold), adds one to `alert_count` and
//!   widens `first_seen`/`last_seen`. A resolved incident takes no repeats: a new one opens.
//! - **Backdated facts**: impact start and detection are recorded with their own `occurred_at`,
//!   never in the future, and impact start <= detection when both are known (MTTD).
//! - **Priority** is always `policy.priority_matrix(impact, urgency)`; `Reprioritize` records old
//!   and new values with a reason.
//! - Closed and Canceled are final: every command is refused. Texts and collections are bounded
//!   by `policy.limits`.
//!
//! [`DomainError::ReviewRequired`]: crate::DomainError::ReviewRequired

mod command;
mod decide;
mod event;
mod evolve;
mod state;
mod table;

pub use command::{AlertSource, IncidentCommand, IncidentCommandKind, MajorCommandKind};
pub use decide::IncidentDecider;
pub use event::{AlertOrigin, IncidentEvent, ReopenSource};
pub use state::{
    AlertInfo, CancelReason, CloseCode, Escalation, HoldReason, Incident, IncidentStatus,
    IncidentStatusKind, MajorOverlay, MajorStatus, MajorStatusKind, PublishedReview, Resolution,
    ResolutionSource,
};
