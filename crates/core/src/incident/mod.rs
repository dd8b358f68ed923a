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
//! - **Hold**: InProgress <-> OnHold, repeatable; the reason may change while on hold. A hold
//!   `AwaitingParent { parent }` names the incident's linked parent, else it is refused (the
//!   engine puts children on hold so when their parent goes on hold, and resumes them when it
//!   resumes: `policy.incident.child_sync`).
//! - **Resolve** needs a close code and non-blank notes, from InProgress or OnHold. A child is
//!   resolved from its parent (code and notes copied into the command), also from New. A fixed
//!   problem resolves ("solved permanently", `ResolveFromProblem`) only an incident on hold
//!   awaiting that very problem (`AwaitingProblem { problem }`): DESIGN's "resolves linked
//!   incidents that await this problem". A merely linked incident is refused (it may be worked
//!   around or have another cause too); the engine may send the command to every linked one.
//! - **Reopen** needs a reason and counts in `reopen_count`; reopening a parent reopens its
//!   resolved children through `ReopenFromParent` (also counted). Either goes back to
//!   InProgress, or to New when nobody ever acknowledged the incident (a child its parent
//!   resolved from New): InProgress always has `acknowledged_at`.
//! - **Close** confirms a resolution. A caller or requester (an actor who may not work
//!   incidents) may close or reopen only an incident they are the caller of, and reopen (reject
//!   the resolution) only within `policy.incident.caller_reject_days` calendar days of it
//!   ([`DomainError::RejectWindowClosed`] after that); workers are not limited by the window.
//!   Children never close with their parent.
//! - **Comments and work notes**: `AddComment` records a comment the caller sees
//!   ([`Visibility::Public`]), `AddWorkNote` an internal note ([`Visibility::Internal`]). The
//!   caller (or a requester) comments only on incidents they are the caller of
//!   ([`Permission::IncidentComment`]); workers comment on any. A comment by the caller on an
//!   incident on hold awaiting the caller also resumes it (`incident.resumed` in the same
//!   decision) when `policy.incident.resume_on_caller_comment` is on (the default).
//! - **AutoClose** is the engine's timer ([`Permission::IncidentAutoClose`], granted by default
//!   to [`Role::System`] only): it is refused (a validation error naming `auto_close`) until
//!   `policy.incident.auto_close_after_days` have passed since the latest resolution: calendar
//!   days of 24 hours, or business days of `policy.incident.auto_close_calendar`
//!   ([`Policy::auto_close_due`](crate::Policy::auto_close_due)).
//! - **Major incidents**: NotMajor|Rejected -> Proposed -> Accepted | Rejected. A proposed or
//!   accepted major incident never auto-closes ([`DomainError::MajorIncidentNoAutoClose`]).
//!   `Close` of an accepted one fails with [`DomainError::ReviewRequired`] until a review
//!   revision is published *after the latest reopen* (reviews are published only in Resolved;
//!   republishing adds a revision; a reopen sets `major.review_required_since`).
//! - **Cancel** (from New, InProgress, OnHold): duplicate of another incident (never itself),
//!   not an incident, or another reason in words. Canceling an accepted major incident also
//!   needs [`Permission::MajorIncidentDecide`] (it undoes a manager's decision). The original
//!   records the duplicate with `LinkDuplicate` (the engine then cancels an open duplicate as
//!   a duplicate of the original, and the other way round links a duplicate canceled first).
//! - **Parent/child**: `LinkParent` on the child, `LinkChild` on the parent. No self-links, and
//!   an incident's parent cannot also be its child. The engine's process managers send the
//!   cross-record commands; this module never reads another incident.
//! - **Alerts**: an incident opened from an alert holds its dedup key; `CorrelateAlert` with that
//!   key, while the incident is open (New, InProgress, OnHold), adds one to `alert_count` and
//!   widens `first_seen`/`last_seen`. A resolved incident takes no repeats: a new one opens.
//!   Under `incident.correlate_alerts_by_service`, an alert whose key no open incident holds
//!   joins an open incident of a service its CI's outage affects ([`route_alert`]):
//!   `CorrelateAlert` with `via` (set only by the engine), recorded with the CI, service and
//!   path; the incident's own alert counters are left as they are.
//! - **Backdated facts**: impact start and detection are recorded with their own `occurred_at`,
//!   never in the future; detection never after the incident was logged (`opened_at`: logging
//!   it is noticing it), and impact start <= detection when both are known (MTTD).
//! - **Causing changes**: `LinkCausingChange` accepts any change id, because an incident cannot
//!   see the change. The link is mirrored on the change by the engine with
//!   `RecordCausedIncident`, which is the authority (it refuses a change whose implementation
//!   never started); the engine decides that one first and links the incident only if it
//!   succeeds.
//! - **Priority** is always `policy.priority_matrix(impact, urgency)`; `Reprioritize` records old
//!   and new values with a reason.
//! - Closed and Canceled are final: every command is refused. Texts and collections are bounded
//!   by `policy.limits`. `incident.opened` and the record pin `policy.version`.
//!
//! [`DomainError::ReviewRequired`]: crate::DomainError::ReviewRequired
//! [`DomainError::RejectWindowClosed`]: crate::DomainError::RejectWindowClosed
//! [`Permission::IncidentComment`]: crate::Permission::IncidentComment
//! [`DomainError::MajorIncidentNoAutoClose`]: crate::DomainError::MajorIncidentNoAutoClose
//! [`Permission::IncidentAutoClose`]: crate::Permission::IncidentAutoClose
//! [`Permission::MajorIncidentDecide`]: crate::Permission::MajorIncidentDecide
//! [`Role::System`]: crate::Role::System

mod alert_route;
mod command;
mod decide;
mod event;
mod evolve;
mod state;
mod table;

pub use alert_route::{
    AffectedByAlert, AlertFacts, AlertRoute, OpenServiceIncident, ServiceCorrelation, route_alert,
};
pub use command::{AlertSource, IncidentCommand, IncidentCommandKind, MajorCommandKind};
pub use decide::IncidentDecider;
pub use event::{AlertOrigin, IncidentEvent, ReopenSource, Visibility};
pub use state::{
    AlertInfo, CancelReason, CloseCode, Escalation, HoldReason, Incident, IncidentStatus,
    IncidentStatusKind, MajorOverlay, MajorStatus, MajorStatusKind, PublishedReview, Resolution,
    ResolutionSource,
};
