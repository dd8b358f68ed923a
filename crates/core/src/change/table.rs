//! THE transition table of a change: every allowed (state, command) -> state move, in one place.
//! `decide` checks every command against it before anything else.

use super::command::ChangeCommandKind as C;
use super::state::{Change, ChangeStatusKind as S};
use crate::ids::RecordKind;
use crate::transition::{Transition, TransitionTable};

const fn row(from: S, command: C, to: S, guard: &'static str) -> Transition<S, C> {
    Transition {
        from: Some(from),
        command,
        to,
        guard,
    }
}

const fn keep(state: S, command: C, guard: &'static str) -> Transition<S, C> {
    row(state, command, state, guard)
}

static ROWS: &[Transition<S, C>] = &[
    Transition {
        from: None,
        command: C::Request,
        to: S::New,
        guard: "standard: template in the catalogue",
    },
    // Drafting and assessment.
    keep(S::New, C::Update, "requester: own change"),
    keep(
        S::Assess,
        C::Update,
        "requester: own change; type unchanged",
    ),
    keep(S::New, C::Plan, "no blocking conflict, or accepted"),
    keep(S::Assess, C::Plan, "no blocking conflict, or accepted"),
    row(
        S::New,
        C::Submit,
        S::Assess,
        "normal; requester: own change",
    ),
    row(
        S::New,
        C::Submit,
        S::Authorize,
        "emergency; requester: own change; ready (window, CIs, plans); quorum reachable",
    ),
    row(
        S::New,
        C::Submit,
        S::Scheduled,
        "standard: pre-authorised; requester: own change; ready (window, CIs, plans); \
         no blocking conflict, or accepted",
    ),
    row(
        S::Assess,
        C::RequestAuthorization,
        S::Authorize,
        "ready (window, CIs, plans); quorum reachable",
    ),
    // Authorisation.
    keep(
        S::Authorize,
        C::Approve,
        "eligible approver, not the requester; quorum not reached",
    ),
    row(
        S::Authorize,
        C::Approve,
        S::Scheduled,
        "eligible approver, not the requester; quorum reached; no blocking conflict, or accepted",
    ),
    row(
        S::Authorize,
        C::Reject,
        S::New,
        "eligible approver, not the requester; new round",
    ),
    // Implementation and review.
    row(
        S::Scheduled,
        C::StartImplementation,
        S::Implement,
        "now inside the approved window; no blackout over the rest of it, or accepted",
    ),
    row(S::Implement, C::CompleteImplementation, S::Review, ""),
    row(
        S::Review,
        C::Close,
        S::Closed,
        "notes; unsuccessful: backout record",
    ),
    // Cancel: from any state but Review, Closed and Canceled.
    row(S::New, C::Cancel, S::Canceled, ""),
    row(S::Assess, C::Cancel, S::Canceled, ""),
    row(S::Authorize, C::Cancel, S::Canceled, ""),
    row(S::Scheduled, C::Cancel, S::Canceled, ""),
    row(S::Implement, C::Cancel, S::Canceled, ""),
    // Revert to New: cancels the round's approvals, starts a new round.
    row(S::Assess, C::RevertToNew, S::New, "new round"),
    row(S::Authorize, C::RevertToNew, S::New, "new round"),
    row(S::Scheduled, C::RevertToNew, S::New, "new round"),
    // Links: a canceled change fixes nothing.
    keep(S::New, C::LinkFixesProblem, ""),
    keep(S::Assess, C::LinkFixesProblem, ""),
    keep(S::Authorize, C::LinkFixesProblem, ""),
    keep(S::Scheduled, C::LinkFixesProblem, ""),
    keep(S::Implement, C::LinkFixesProblem, ""),
    keep(S::Review, C::LinkFixesProblem, ""),
    keep(S::Closed, C::LinkFixesProblem, ""),
    // Only a change whose implementation started can have caused an incident.
    keep(S::Implement, C::RecordCausedIncident, ""),
    keep(S::Review, C::RecordCausedIncident, ""),
    keep(S::Closed, C::RecordCausedIncident, ""),
    keep(
        S::Canceled,
        C::RecordCausedIncident,
        "implementation had started",
    ),
    // Work notes, always.
    keep(S::New, C::AddWorkNote, ""),
    keep(S::Assess, C::AddWorkNote, ""),
    keep(S::Authorize, C::AddWorkNote, ""),
    keep(S::Scheduled, C::AddWorkNote, ""),
    keep(S::Implement, C::AddWorkNote, ""),
    keep(S::Review, C::AddWorkNote, ""),
    keep(S::Closed, C::AddWorkNote, ""),
    keep(S::Canceled, C::AddWorkNote, ""),
];

/// The change lifecycle's transition table.
pub(super) static TABLE: TransitionTable<S, C> = TransitionTable {
    kind: RecordKind::Change,
    name: "change",
    rows: ROWS,
};

impl Change {
    /// The transition table every change decision is checked against (for docs, diagrams and
    /// tests).
    pub fn transitions() -> &'static TransitionTable<S, C> {
        &TABLE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transition::Named;

    #[test]
    fn every_status_appears_in_the_table() {
        for s in S::ALL {
            assert!(
                ROWS.iter().any(|r| r.from == Some(*s) || r.to == *s),
                "{} missing",
                s.name()
            );
        }
    }
}
