//! The transition tables drive `decide`: every (state, command) pair, allowed or not, is checked.

#[path = "support/incident_fixtures.rs"]
mod fixtures;

use fixtures::*;
use opsledger_core::incident::{
    HoldReason, Incident, IncidentCommand, IncidentCommandKind, IncidentEvent, IncidentStatusKind,
    MajorCommandKind, MajorStatusKind,
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
            name: None,
        },
        Some(state) => DomainError::InvalidTransition {
            kind: RecordKind::Incident,
            state: state.name().to_owned(),
            command: kind.name().to_owned(),
        },
    }
}

/// A child its parent resolved from New: never acknowledged.
fn never_acknowledged_child() -> Vec<IncidentCommand> {
    vec![
        open_cmd(),
        valid_command(IncidentCommandKind::LinkParent),
        valid_command(IncidentCommandKind::ResolveFromParent),
    ]
}

/// The attempts for `kind` in `from`: the valid command in the fixture history, plus one
/// fixture per further guard of a row with several targets, so that every target is reached.
fn cases(
    from: Option<IncidentStatusKind>,
    kind: IncidentCommandKind,
) -> Vec<(Vec<IncidentEvent>, IncidentCommand)> {
    use IncidentCommandKind as K;
    use IncidentStatusKind as S;
    let events = match from {
        None => Vec::new(),
        Some(status) => history(&commands_to(status, kind)),
    };
    let mut out = vec![(events, valid_command(kind))];
    match (from, kind) {
        // Open: the fixture names no assignee (-> New); with one, work starts.
        (None, K::Open) => {
            let mut cmd = open_cmd();
            if let IncidentCommand::Open { assignee, .. } = &mut cmd {
                *assignee = Some("bob".into());
            }
            out.push((Vec::new(), cmd));
        }
        // Assign in New: the fixture names a person (-> InProgress); a group only keeps New.
        (Some(S::New), K::Assign) => out.push((
            history(&commands_to(S::New, kind)),
            IncidentCommand::Assign {
                id: INC,
                group: Some("network".into()),
                assignee: None,
            },
        )),
        // Reopen: the fixture was acknowledged (-> InProgress); a never acknowledged child
        // goes back to New.
        (Some(S::Resolved), K::Reopen | K::ReopenFromParent) => {
            out.push((history(&never_acknowledged_child()), valid_command(kind)));
        }
        // A comment on hold: the fixture awaits a problem (stays on hold); the caller's own
        // comment on an incident awaiting them resumes it. The table test acts as `root`.
        (Some(S::OnHold), K::AddComment) => {
            let mut open = open_cmd();
            if let IncidentCommand::Open { caller, .. } = &mut open {
                *caller = admin().id;
            }
            out.push((
                history(&[
                    open,
                    valid_command(K::Acknowledge),
                    IncidentCommand::PutOnHold {
                        id: INC,
                        reason: HoldReason::AwaitingCaller,
                    },
                ]),
                valid_command(kind),
            ));
        }
        _ => {}
    }
    out
}

#[test]
fn every_state_and_command_pair_follows_the_table() {
    let table = Incident::transitions();
    let froms: Vec<Option<IncidentStatusKind>> = std::iter::once(None)
        .chain(IncidentStatusKind::ALL.iter().copied().map(Some))
        .collect();
    let (mut allowed, mut refused) = (0, 0);
    let mut used_rows = BTreeSet::new();
    for &from in &froms {
        for &kind in IncidentCommandKind::ALL {
            if table.allows(from, kind) {
                allowed += 1;
            } else {
                refused += 1;
            }
            for (events, cmd) in cases(from, kind) {
                assert_eq!(
                    fold(&events).map(|i| i.status.kind()),
                    from,
                    "fixture for {kind:?} is in the wrong state"
                );
                let result = decide_as(&events, &cmd, admin());
                if table.allows(from, kind) {
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
                    let row = table
                        .rows
                        .iter()
                        .position(|r| r.from == from && r.command == kind && r.to == to);
                    assert!(
                        row.is_some(),
                        "{from:?} x {kind:?} reached {to:?}, not a target of the table"
                    );
                    used_rows.extend(row);
                } else {
                    assert_eq!(
                        result,
                        Err(expected_refusal(from, kind)),
                        "{from:?} x {kind:?} is not in the table"
                    );
                }
            }
        }
    }
    assert_eq!(
        allowed + refused,
        froms.len() * IncidentCommandKind::ALL.len()
    );
    let distinct: BTreeSet<_> = table.rows.iter().map(|r| (r.from, r.command)).collect();
    assert_eq!(allowed, distinct.len(), "every table pair was exercised");
    let unused: Vec<_> = (0..table.rows.len())
        .filter(|i| !used_rows.contains(i))
        .map(|i| table.rows[i])
        .collect();
    assert!(
        unused.is_empty(),
        "rows whose target was never reached: {unused:?}"
    );
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

#[test]
fn schema_definition_names_are_unique_across_every_generated_document() {
    // A combined document (the OpenRPC of `rpc.discover`) merges every schema's definitions:
    // one name must mean one type. `CloseCode` and `WorkNote` exist in several lifecycles and
    // carry lifecycle-prefixed schema names.
    use std::collections::BTreeMap;
    let mut seen: BTreeMap<String, (String, serde_json::Value)> = BTreeMap::new();
    for doc in opsledger_core::catalog::schemas() {
        let schema: serde_json::Value = serde_json::from_str(&doc.text).expect("JSON");
        let defs = schema["definitions"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (name, def) in defs {
            match seen.get(&name) {
                Some((first, earlier)) => assert_eq!(
                    earlier, &def,
                    "definition {name} differs between {first} and {}",
                    doc.file_name
                ),
                None => {
                    seen.insert(name, (doc.file_name.clone(), def));
                }
            }
        }
    }
    for name in [
        "IncidentCloseCode",
        "ChangeCloseCode",
        "ProblemWorkNote",
        "ChangeWorkNote",
    ] {
        assert!(seen.contains_key(name), "{name} missing");
    }
    assert!(!seen.contains_key("CloseCode") && !seen.contains_key("WorkNote"));
}
