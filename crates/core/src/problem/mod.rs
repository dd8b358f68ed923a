//! Problem management: root cause analysis, known errors (the KEDB), fixes and risk acceptance.
//!
//! The state model is ServiceNow's Madrid+ best-practice model (New 101, Assess 102, Root Cause
//! Analysis 103, Fix in Progress 104, Resolved 106, Closed 107) with its resolution codes
//! `fix_applied`, `risk_accepted`, `duplicate` and `canceled`. The table in
//! [`Problem::transitions`] is authoritative; the rules, in short:
//!
//! 1. **Path.** `create` -> New; `assess` New -> Assess (needs an assignee); `start_analysis`
//!    Assess -> Root cause analysis; `start_fix` RCA -> Fix in Progress (needs a recorded root
//!    cause, takes fix notes); `resolve_fixed` Fix in Progress -> Resolved{FixApplied};
//!    `close` Resolved -> Closed with the same code.
//! 2. **Risk acceptance.** `accept_risk` RCA or Fix in Progress -> Resolved{RiskAccepted}
//!    (permission `problem_accept_risk`), and, like `start_fix`, only once a root cause is
//!    recorded: a risk nobody has identified cannot be accepted. It resolves rather than closes, so a problem manager
//!    still completes it with `close` (ServiceNow's `problem.acceptrisk.move_to_closed = false`).
//! 3. **Duplicate and cancel.** `mark_duplicate { of }` and `cancel { reason }` go from any open
//!    state (New, Assess, RCA, Fix in Progress) straight to Closed{Duplicate{of}} /
//!    Closed{Canceled}, as ServiceNow does (permission `problem_cancel`). A problem cannot
//!    duplicate itself. `problem.marked_duplicate` carries the duplicate's incident and
//!    fixing-change links so that the engine can move them to the original.
//! 4. **Re-analysis.** `reanalyze` Resolved or Closed -> RCA (permission `problem_reanalyze`),
//!    except a problem closed as a duplicate (re-analyse the original). It counts in
//!    `reanalysis_count`, clears the resolution (notes, resolved/closed/fix-started times) and
//!    keeps cause notes, fix notes, the known error and all links.
//! 5. **Known error (KEDB).** `mark_known_error` publishes revision 1 and `update_known_error`
//!    publishes revision n+1 (full replacement of symptom, root cause, workaround, affected CIs);
//!    permission `problem_known_error`. Allowed once analysis has started: RCA, Fix in
//!    Progress, Resolved and Closed (a risk-accepted, closed problem is the typical KEDB entry,
//!    and its workaround keeps being curated), never New or Assess (nothing is known yet), and
//!    never on a problem closed as a duplicate (its knowledge lives in the original) or as
//!    canceled (it was not a problem; re-analyse it first). `problem.known_error_published` is
//!    self-contained: title, service, priority and the whole [`KnownError`].
//! 6. **Root cause.** `record_root_cause` in RCA and Fix in Progress; each replaces the cause notes.
//! 7. **Incidents.** `link_incident` / `unlink_incident` in every state (recurrences of a known
//!    error still link to it); no linking to a duplicate; no double link, no unlink of an
//!    unlinked incident. `problem.resolved` carries the linked incidents, so that on
//!    `fix_applied` the engine resolves the incidents on hold awaiting this problem.
//! 8. **Fixing changes.** `link_fixing_change` while open or resolved (outcome pending);
//!    `record_fix_change_outcome { change, successful }` (on `change.closed`) or
//!    `record_fix_change_canceled { change }` (on `change.canceled`, outcome
//!    [`FixOutcome::Canceled`]) once per linked change, in any state. In Fix in Progress the
//!    fix is in when no linked fixing change is pending any more and one succeeded during this
//!    fix (`fix_succeeded_at`): the success of the last pending change, or the cancellation of
//!    the last pending change after another one succeeded. The decision then emits the outcome
//!    event *and* `problem.resolved` with `fix_applied`. A failed change never resolves (a
//!    later successful retry does); a canceled one no longer holds the fix up.
//! 9. **Other work.** `assign` and `reprioritize` in open states (no-op changes are refused;
//!    priority comes from the policy's matrix and is recorded in the event); `add_work_note`
//!    in every state.
//! 10. **Policy version.** `problem.created` and the record pin `policy.version`.
//! 11. **Permissions.** `create`: `problem_create`; `mark_known_error`, `update_known_error`:
//!     `problem_known_error`; `accept_risk`: `problem_accept_risk`; `mark_duplicate`, `cancel`:
//!     `problem_cancel`; `close`: `problem_close`; `reanalyze`: `problem_reanalyze`; everything
//!     else: `problem_work`.

mod command;
mod decide;
mod event;
#[cfg(any(test, feature = "testing"))]
pub mod fixtures;
mod state;
mod table;

pub use command::{ProblemCommand, ProblemCommandKind};
pub use decide::ProblemDecider;
pub use event::ProblemEvent;
pub use state::{
    FixOutcome, KnownError, Problem, ProblemStatus, ProblemStatusKind, ResolutionCode, WorkNote,
};
