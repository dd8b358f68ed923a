//! The transition tables drive `decide`: every (state, command) pair, allowed or not, is checked.

#[path = "support/incident_fixtures.rs"]
mod fixtures;

use fixtures::*;
use opsledger_core::incident::{
    Incident, IncidentCommandKind, IncidentStatusKind, MajorCommandKind, MajorStatusKind,
};
use opsledger_core::testing::admin;
use opsledger_core::{DomainError, Named, RecordKind};
use std::collections::BTreeSet;

fn expected_refusal(from: Option<IncidentStatusKind>, kind: IncidentCommandKind) -> DomainError {
    match from {
        None => DomainError::NotFound {
            kind: RecordKind::Incident,
            id: INC.to_string(),
        },
        Some(_) if kind.is_create() => DomainError::AlreadyExists {
            kind: RecordKind::Incident,
            id: INC.to_string(),
        },
        Some(state) => DomainError::InvalidTransition {
            kind: RecordKind::Incident,
            state: state.name().to_owned(),
            command: kind.name().to_owned(),
        },
    }
}

#[test]
fn every_state_and_command_pair_follows_the_table() {
    let table = Incident::transitions();
    let froms: Vec<Option<IncidentStatusKind>> = std::iter::once(None)
        .chain(IncidentStatusKind::ALL.iter().copied().map(Some))
        .collect();
    let (mut allowed, mut refused) = (0, 0);
    for &from in &froms {
        for &kind in IncidentCommandKind::ALL {
            let events = match from {
                None => Vec::new(),
                Some(status) => history(&commands_to(status, kind)),
            };
            let cmd = valid_command(kind);
            let result = decide_as(&events, &cmd, admin());
            if table.allows(from, kind) {
                allowed += 1;
                let produced = result.unwrap_or_else(|e| {
                    panic!("{from:?} x {kind:?} is in the table but was refused: {e:?}")
                });
                assert!(
                    !produced.is_empty(),
                    "{from:?} x {kind:?} produced no event"
                );
                let mut all = events.clone();
                all.extend(produced);
                let to = record(&all).status.kind();
                assert!(
                    table.targets(from, kind).any(|t| t == to),
                    "{from:?} x {kind:?} reached {to:?}, not a target of the table"
                );
            } else {
                refused += 1;
                assert_eq!(
                    result,
                    Err(expected_refusal(from, kind)),
                    "{from:?} x {kind:?} is not in the table"
                );
            }
        }
    }
    assert_eq!(allowed + refused, 7 * IncidentCommandKind::ALL.len());
    let distinct: BTreeSet<_> = table.rows.iter().map(|r| (r.from, r.command)).collect();
    assert_eq!(allowed, distinct.len(), "every table pair was exercised");
}

#[test]
fn open_with_an_assignee_reaches_the_guarded_in_progress_target() {
    let table = Incident::transitions();
    let mut cmd = open_cmd();
    if let opsledger_core::incident::IncidentCommand::Open { assignee, .. } = &mut cmd {
        *assignee = Some("bob".into());
    }
    let events = decide_as(&[], &cmd, admin()).expect("opens");
    let to = record(&events).status.kind();
    assert_eq!(to, IncidentStatusKind::InProgress);
    assert!(
        table
            .targets(None, IncidentCommandKind::Open)
            .any(|t| t == to)
    );
}

#[test]
fn every_major_state_and_major_command_pair_follows_the_major_table() {
    let table = Incident::major_transitions();
    for &major in MajorStatusKind::ALL {
        for &mcmd in MajorCommandKind::ALL {
            let kind = match mcmd {
                MajorCommandKind::ProposeMajor => IncidentCommandKind::ProposeMajor,
                MajorCommandKind::AcceptMajor => IncidentCommandKind::AcceptMajor,
                MajorCommandKind::RejectMajor => IncidentCommandKind::RejectMajor,
                MajorCommandKind::PublishReview => IncidentCommandKind::PublishReview,
            };
            assert_eq!(kind.major(), Some(mcmd));
            // A lifecycle state in which the incident table accepts the command.
            let status = match mcmd {
                MajorCommandKind::PublishReview => IncidentStatusKind::Resolved,
                MajorCommandKind::ProposeMajor
                | MajorCommandKind::AcceptMajor
                | MajorCommandKind::RejectMajor => IncidentStatusKind::InProgress,
            };
            let mut cmds = vec![open_cmd()];
            cmds.extend(major_commands(major));
            cmds.extend(path_to(status, false));
            let events = history(&cmds);
            let result = decide_as(&events, &valid_command(kind), admin());
            if table.allows(Some(major), mcmd) {
                let mut all = events.clone();
                all.extend(result.unwrap_or_else(|e| {
                    panic!("{major:?} x {mcmd:?} is in the major table but was refused: {e:?}")
                }));
                let to = record(&all).major.status.kind();
                assert!(
                    table.targets(Some(major), mcmd).any(|t| t == to),
                    "{major:?} x {mcmd:?} reached {to:?}"
                );
            } else {
                assert_eq!(
                    result,
                    Err(DomainError::InvalidTransition {
                        kind: RecordKind::Incident,
                        state: major.name().to_owned(),
                        command: mcmd.name().to_owned(),
                    }),
                    "{major:?} x {mcmd:?} is not in the major table"
                );
            }
        }
    }
}

#[test]
fn each_major_command_is_exactly_one_incident_command() {
    for &m in MajorCommandKind::ALL {
        let sources: Vec<_> = IncidentCommandKind::ALL
            .iter()
            .filter(|k| k.major() == Some(m))
            .collect();
        assert_eq!(sources.len(), 1, "{m:?}");
        assert_eq!(sources[0].name(), m.name());
    }
}

#[test]
fn fixtures_reach_every_status_for_every_command() {
    for &status in IncidentStatusKind::ALL {
        for &kind in IncidentCommandKind::ALL {
            let state = record(&history(&commands_to(status, kind)));
            assert_eq!(state.status.kind(), status, "fixture for {kind:?}");
        }
    }
}

#[test]
fn final_states_accept_no_command() {
    let table = Incident::transitions();
    for final_state in [IncidentStatusKind::Closed, IncidentStatusKind::Canceled] {
        assert!(
            table.rows.iter().all(|r| r.from != Some(final_state)),
            "{final_state:?} has outgoing rows"
        );
    }
}

#[test]
fn every_state_is_reachable_and_only_open_creates() {
    let table = Incident::transitions();
    for &s in IncidentStatusKind::ALL {
        assert!(table.rows.iter().any(|r| r.to == s), "{s:?} unreachable");
    }
    for r in table.rows {
        assert_eq!(r.from.is_none(), r.command.is_create(), "{r:?}");
    }
}

#[test]
fn tables_render_for_docs() {
    let mermaid = Incident::transitions().to_mermaid();
    assert!(mermaid.contains("resolved --> closed: close"));
    assert!(mermaid.contains("[*] --> new: open [no assignee]"));
    let major = Incident::major_transitions().to_mermaid();
    assert!(major.contains("proposed --> accepted: accept_major"));
    assert_eq!(Incident::transitions().name, "incident");
    assert_eq!(Incident::major_transitions().name, "incident_major");
}

#[test]
fn json_schemas_generate_and_name_every_event_type_and_command() {
    use opsledger_core::incident::{IncidentCommand, IncidentEvent};
    let events = serde_json::to_string(&schemars::schema_for!(IncidentEvent)).expect("schema");
    for ty in [
        "incident.opened",
        "incident.resolved",
        "incident.review_published",
        "incident.impact_start_recorded",
        "incident.work_note_added",
    ] {
        assert!(events.contains(ty), "{ty} missing from the event schema");
    }
    let commands = serde_json::to_string(&schemars::schema_for!(IncidentCommand)).expect("schema");
    for &kind in IncidentCommandKind::ALL {
        assert!(
            commands.contains(&format!("\"{}\"", kind.name())),
            "{kind:?} missing from the command schema"
        );
    }
    let state = serde_json::to_string(&schemars::schema_for!(Incident)).expect("schema");
    assert!(state.contains("reassignment_count"));
}
