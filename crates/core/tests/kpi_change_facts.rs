//! The change lifecycle's real events map to the KPI facts the change KPIs read.

#[path = "support/change_fixtures.rs"]
mod fixtures;

use fixtures::events_to;
use opsledger_core::change::ChangeStatusKind;
use opsledger_core::kpi::{ChangeFact, ChangeKind, ChangeOutcome};

fn facts(kind: ChangeStatusKind) -> Vec<ChangeFact> {
    events_to(kind)
        .iter()
        .filter_map(ChangeFact::from_event)
        .collect()
}

#[test]
fn a_closed_normal_change_is_requested_authorized_implemented_and_closed_successful() {
    assert_eq!(
        facts(ChangeStatusKind::Closed),
        vec![
            ChangeFact::Requested {
                kind: ChangeKind::Normal
            },
            ChangeFact::Authorized,
            ChangeFact::ImplementationStarted,
            ChangeFact::Closed {
                outcome: ChangeOutcome::Successful
            },
        ]
    );
}

#[test]
fn a_change_canceled_during_implementation_ends_with_canceled() {
    let facts = facts(ChangeStatusKind::Canceled);
    assert_eq!(facts.last(), Some(&ChangeFact::Canceled));
    assert!(facts.contains(&ChangeFact::ImplementationStarted));
    assert!(!facts.iter().any(|f| matches!(f, ChangeFact::Closed { .. })));
}

#[test]
fn a_change_still_in_new_has_only_its_request() {
    assert_eq!(
        facts(ChangeStatusKind::New),
        vec![ChangeFact::Requested {
            kind: ChangeKind::Normal
        }]
    );
}
