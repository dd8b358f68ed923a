//! Change enablement: standard, normal and emergency changes, approvals and schedule conflicts.
//!
//! States follow ServiceNow's change model (its numeric values in brackets, see
//! [`ChangeStatusKind::servicenow_code`]): New (-5), Assess (-4), Authorize (-3),
//! Scheduled (-2), Implement (-1), Review (0), Closed (3), Canceled (4). The full table is
//! [`Change::transitions`]. Rules, in short:
//!
//! 1. **Paths by type.** Normal: New -> Assess -> Authorize -> Scheduled -> Implement -> Review
//!    -> Closed. Emergency: New -> Authorize (emergency CAB) -> Scheduled -> ... Standard:
//!    New -> Scheduled (pre-authorised; the template must be in `policy.standard_changes`
//!    when the change is requested and again when it is submitted).
//! 2. **Ready.** Entering Authorize (and, for a standard change, Scheduled) needs a planned
//!    window, at least one affected CI (without one no conflict check could find anything)
//!    and written implementation and backout plans (the test plan is optional).
//!    Entering Authorize also needs a reachable quorum (enough eligible board members).
//! 3. **Editing.** `update` works in New and Assess; the type changes only in New (where the
//!    approval set is always empty). `plan` (window, assignee) works in New and Assess. A
//!    requester (an actor without `change_work`) may `update` and `submit` only a change they
//!    requested (`Forbidden` naming `change_request`, as for an incident's caller).
//! 4. **Approvals** (normal: `policy.approvals.normal`, emergency: `.emergency`). `approve` and
//!    `reject` need [`Permission::ChangeApprove`](crate::Permission::ChangeApprove), then, in
//!    this order: the requester never votes, even as admin or change manager
//!    (`SeparationOfDuties`); the voter must hold an approver role and, if the rule names a
//!    board, be on it (`NotAnApprover`; admin is not an implicit approver); one decision per
//!    approver per round (`AlreadyDecided`). Quorum counting is
//!    [`ApprovalRule::required_approvals`](crate::policy::ApprovalRule::required_approvals):
//!    the eligible board is the board minus the requester; Any = 1, Majority = more than half
//!    of it, All = all of it; never fewer than `min_approvals`; with no board, `min_approvals`.
//!    Eligibility is checked when each vote is cast; approvals already recorded keep counting.
//! 5. **Quorum reached.** The approval that reaches the quorum also authorises and schedules:
//!    `change.approved`, `change.authorized` and `change.scheduled` are decided together, and
//!    the approved window is the planned window. If that scheduling is refused (blocking
//!    conflict, window already over), the approval is refused too and nothing is recorded.
//! 6. **Rejection is a veto.** One eligible rejection returns the change to New.
//!    `revert_to_new` (from Assess, Authorize or Scheduled) also returns it to New. Both cancel
//!    the round's decisions, clear the authorisation and the approved window, and start a new
//!    approval round (the counter increases); the planned window stays.
//! 7. **Schedule conflicts** ([`detect_conflicts`]) run when `plan` fixes a window and again
//!    when the change enters Scheduled, over the calendar and CI graph the command carries.
//!    CI clashes (same, parent or child CI) and blackouts block with `ScheduleConflict` unless
//!    the command sets `accept_conflicts` (a reason) and the actor holds
//!    [`Permission::ChangeSchedule`](crate::Permission::ChangeSchedule); the acceptance is
//!    recorded. A blackout scoped to every CI also blocks a change naming none. A missed
//!    maintenance window and a double-booked assignee are warnings. A new `plan` voids earlier
//!    acceptances; acceptances for the current window carry over to the scheduling check.
//!    Emergency changes accept conflicts the same way. Reports are bounded: errors and events
//!    list at most [`MAX_REPORTED_CONFLICTS`] conflicts with the total (`total`,
//!    `warnings_omitted`), more blocking conflicts than that cannot be accepted at once
//!    (`LimitExceeded`), and each calendar entry's CIs and the CI graph are bounded by
//!    `policy.limits`.
//! 8. **Implementation** starts only when now lies inside the approved window
//!    (`OutsideApprovedWindow`; windows are half-open), for normal and emergency changes only
//!    after authorisation in the current round, and only if no blackout in
//!    `policy.blackout_windows` (declared since scheduling, say) overlaps what is left of the
//!    approved window, `[now, end)`, on the change's CIs (`ScheduleConflict`), unless that
//!    conflict was accepted for the window.
//! 9. **Cancel** from any state but Review, Closed and Canceled. **Close** (Review -> Closed)
//!    needs notes; `unsuccessful` carries a backout record (performed or not, with notes).
//! 10. **Links.** `link_fixes_problem` (any state but Canceled) and `record_caused_incident`
//!     (once implementation started, even if later canceled) are idempotent: a repeated link
//!     decides no event. The incident side (`LinkCausingChange`) cannot see the change and
//!     accepts any; this side is the authority, and the engine mirrors the link here first.
//!     `change.closed` and `change.canceled` carry `fixes_problems` and `caused_incidents`, so
//!     process managers need no state. `add_work_note` works in every state.
//! 11. **Policy version.** `change.requested` and the record pin `policy.version`.
//!
//! Permissions: request/update/submit `change_request`; plan, request authorisation, implement,
//! links and notes `change_work`; approve/reject `change_approve`; accepting conflicts
//! `change_schedule`; cancel `change_cancel`; revert `change_revert`; close `change_close`.
//!
//! Timestamps on the record describe the current state: `submitted_at` keeps the first
//! submission (lead time); `authorized_at`, `scheduled_at` and the approved window belong to
//! the current round and are cleared on a return to New. The events keep every instant.

mod command;
mod conflict;
mod decide;
mod event;
mod evolve;
mod state;
mod table;

pub use command::{ChangeCommand, ChangeCommandKind};
pub use conflict::{
    CiLink, CiRelation, Conflict, ConflictReport, MAX_REPORTED_CONFLICTS, ScheduleCandidate,
    ScheduledChange, detect_conflicts, detect_conflicts_bounded,
};
pub use decide::ChangeDecider;
pub use event::ChangeEvent;
pub use state::{
    Approval, ApprovalDecision, BackoutRecord, Change, ChangeStatus, ChangeStatusKind, ChangeType,
    CloseCode, ConflictAcceptance, Risk, WorkNote,
};
