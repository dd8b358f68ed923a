//! The whole transition table, pair by pair: for every (state or none) x command, a valid
//! command is accepted exactly when the table allows it, lands in one of the table's targets,
//! and is refused with `InvalidTransition` (or `NotFound` / `AlreadyExists`) and no event
//! otherwise.

#[path = "support/change_fixtures.rs"]
mod fixtures;

use fixtures::*;
use opsledger_core::change::{
    BackoutRecord, Change, ChangeCommand, ChangeCommandKind, ChangeDecider, ChangeStatusKind,
    ChangeType, CloseCode,
};
use opsledger_core::testing::{given, t};
use opsledger_core::{Actor, DomainError, Named, RecordKind};

/// A valid command of `kind` for the fixture change, and who may send it.
fn valid_command(kind: ChangeCommandKind) -> (Actor, ChangeCommand) {
    let id = cid();
    match kind {
        ChangeCommandKind::Request => (rita(), request_cmd(ChangeType::Normal)),
        ChangeCommandKind::Update => (
            rita(),
            ChangeCommand::Update {
                id,
                title: Some("Upgrade PostgreSQL 16.3 on db-01".to_owned()),
                description: None,
                change_type: None,
                risk: None,
                cis: None,
                implementation_plan: None,
                backout_plan: None,
                test_plan: None,
            },
        ),
        ChangeCommandKind::Plan => (alice(), plan_cmd(win(120, 240))),
        ChangeCommandKind::Submit => (rita(), submit_cmd()),
        ChangeCommandKind::RequestAuthorization => {
            (alice(), ChangeCommand::RequestAuthorization { id })
        }
        ChangeCommandKind::Approve => (carol(), approve_cmd()),
        ChangeCommandKind::Reject => (
            carol(),
            ChangeCommand::Reject {
                id,
                reason: "backout plan untested".to_owned(),
            },
        ),
        ChangeCommandKind::StartImplementation => {
            (alice(), ChangeCommand::StartImplementation { id })
        }
        ChangeCommandKind::CompleteImplementation => {
            (alice(), ChangeCommand::CompleteImplementation { id })
        }
        ChangeCommandKind::Close => (
            alice(),
            ChangeCommand::Close {
                id,
                code: CloseCode::Unsuccessful {
                    backout: BackoutRecord {
                        performed: true,
                        notes: "snapshot restored".to_owned(),
                    },
                },
                notes: "replication broke".to_owned(),
            },
        ),
        ChangeCommandKind::Cancel => (
            max(),
            ChangeCommand::Cancel {
                id,
                reason: "superseded".to_owned(),
            },
        ),
        ChangeCommandKind::RevertToNew => (
            max(),
            ChangeCommand::RevertToNew {
                id,
                reason: "scope changed".to_owned(),
            },
        ),
        ChangeCommandKind::LinkFixesProblem => (
            alice(),
            ChangeCommand::LinkFixesProblem {
                id,
                problem: pid(1),
            },
        ),
        ChangeCommandKind::RecordCausedIncident => (
            alice(),
            ChangeCommand::RecordCausedIncident {
                id,
                incident: iid(1),
            },
        ),
        ChangeCommandKind::AddWorkNote => (
            alice(),
            ChangeCommand::AddWorkNote {
                id,
                note: "paged the DBA".to_owned(),
            },
        ),
    }
}

/// One attempt of the table test: a history, who sends which command, under which policy.
struct Case {
    events: Vec<opsledger_core::change::ChangeEvent>,
    actor: Actor,
    cmd: ChangeCommand,
    policy: opsledger_core::Policy,
}

/// The attempts for `kind` in `from`: the valid command in the fixture history, plus one
/// fixture per further guard of a row with several targets, so that every target is reached.
fn cases(from: Option<ChangeStatusKind>, kind: ChangeCommandKind) -> Vec<Case> {
    let (actor, cmd) = valid_command(kind);
    let mut out = vec![Case {
        events: from.map(events_to).unwrap_or_default(),
        actor,
        cmd,
        policy: policy(),
    }];
    match (from, kind) {
        // New x submit: emergency -> Authorize, standard -> Scheduled (normal is the default).
        (Some(ChangeStatusKind::New), ChangeCommandKind::Submit) => {
            for change_type in [
                ChangeType::Emergency,
                ChangeType::Standard {
                    template: TEMPLATE.to_owned(),
                },
            ] {
                out.push(Case {
                    events: events_new(change_type),
                    actor: rita(),
                    cmd: submit_cmd(),
                    policy: policy(),
                });
            }
        }
        // Authorize x approve: below the quorum the change stays in Authorize.
        (Some(ChangeStatusKind::Authorize), ChangeCommandKind::Approve) => {
            let mut two = policy();
            two.approvals.normal.min_approvals = 2;
            out.push(Case {
                events: events_to(ChangeStatusKind::Authorize),
                actor: carol(),
                cmd: approve_cmd(),
                policy: two,
            });
        }
        _ => {}
    }
    out
}

#[test]
fn every_state_command_pair_follows_the_table() {
    let table = Change::transitions();
    let mut froms: Vec<Option<ChangeStatusKind>> = vec![None];
    froms.extend(ChangeStatusKind::ALL.iter().copied().map(Some));
    let mut pairs = 0;
    let mut allowed_pairs = 0;
    let mut used_rows = std::collections::BTreeSet::new();
    for &from in &froms {
        for &kind in ChangeCommandKind::ALL {
            pairs += 1;
            if table.allows(from, kind) {
                allowed_pairs += 1;
            }
            for case in cases(from, kind) {
                let scenario = given::<ChangeDecider>(case.events)
                    .by(case.actor)
                    .at(t(65))
                    .with_policy(case.policy);
                assert_eq!(
                    scenario.state().as_ref().map(|c| c.status.kind()),
                    from,
                    "fixture for {from:?} is in the wrong state"
                );
                let then = scenario.when(case.cmd);
                let label = format!("{} x {}", from.map_or("none", Named::name), kind.name());
                if table.allows(from, kind) {
                    let (produced, state) = then.then_ok();
                    assert!(
                        !produced.is_empty(),
                        "{label}: accepted but decided no event"
                    );
                    let to = state
                        .expect("a record after an accepted command")
                        .status
                        .kind();
                    let row = table
                        .rows
                        .iter()
                        .position(|r| r.from == from && r.command == kind && r.to == to);
                    assert!(
                        row.is_some(),
                        "{label}: landed in {} which is not a target of the table",
                        to.name()
                    );
                    used_rows.extend(row);
                } else {
                    let expected = match from {
                        None => DomainError::NotFound {
                            kind: RecordKind::Change,
                            id: cid().to_string(),
                        },
                        Some(_) if kind == ChangeCommandKind::Request => {
                            DomainError::AlreadyExists {
                                kind: RecordKind::Change,
                                id: cid().to_string(),
                                name: None,
                            }
                        }
                        Some(state) => DomainError::InvalidTransition {
                            kind: RecordKind::Change,
                            state: state.name().to_owned(),
                            command: kind.name().to_owned(),
                        },
                    };
                    then.then_error(expected);
                }
            }
        }
    }
    assert_eq!(pairs, froms.len() * ChangeCommandKind::ALL.len());
    let distinct: std::collections::BTreeSet<_> =
        table.rows.iter().map(|r| (r.from, r.command)).collect();
    assert_eq!(
        allowed_pairs,
        distinct.len(),
        "every (from, command) pair of the table was tried"
    );
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
fn submit_from_new_goes_where_the_type_says() {
    let cases = [
        (ChangeType::Normal, ChangeStatusKind::Assess),
        (ChangeType::Emergency, ChangeStatusKind::Authorize),
        (
            ChangeType::Standard {
                template: TEMPLATE.to_owned(),
            },
            ChangeStatusKind::Scheduled,
        ),
    ];
    for (change_type, expected) in cases {
        let (_, state) = given::<ChangeDecider>(events_new(change_type.clone()))
            .by(rita())
            .at(t(5))
            .with_policy(policy())
            .when(submit_cmd())
            .then_ok();
        let to = state.expect("exists").status.kind();
        assert_eq!(to, expected, "{change_type:?}");
        assert!(
            Change::transitions()
                .targets(Some(ChangeStatusKind::New), ChangeCommandKind::Submit)
                .any(|s| s == to)
        );
    }
}

#[test]
fn table_rows_are_unique_and_cover_every_state_and_command() {
    let rows = Change::transitions().rows;
    for (i, a) in rows.iter().enumerate() {
        for b in &rows[i + 1..] {
            assert!(
                !(a.from == b.from && a.command == b.command && a.to == b.to),
                "duplicate row {a:?}"
            );
        }
    }
    for s in ChangeStatusKind::ALL {
        assert!(
            rows.iter().any(|r| r.from == Some(*s) || r.to == *s),
            "{s:?}"
        );
    }
    for c in ChangeCommandKind::ALL {
        assert!(rows.iter().any(|r| r.command == *c), "{c:?}");
    }
}

#[test]
fn closed_and_canceled_only_take_links_and_notes() {
    let rows = Change::transitions().rows;
    for r in rows {
        if let Some(from) = r.from
            && from.is_terminal()
        {
            assert_eq!(r.to, from, "a terminal state never moves: {r:?}");
        }
    }
}

#[test]
fn review_and_closed_cannot_be_canceled() {
    let table = Change::transitions();
    for s in [
        ChangeStatusKind::Review,
        ChangeStatusKind::Closed,
        ChangeStatusKind::Canceled,
    ] {
        assert!(!table.allows(Some(s), ChangeCommandKind::Cancel), "{s:?}");
    }
}

#[test]
fn servicenow_codes_match_the_reference() {
    let codes: Vec<i8> = ChangeStatusKind::ALL
        .iter()
        .map(|s| s.servicenow_code())
        .collect();
    assert_eq!(codes, vec![-5, -4, -3, -2, -1, 0, 3, 4]);
}

#[test]
fn mermaid_and_markdown_render_every_row() {
    let table = Change::transitions();
    let mermaid = table.to_mermaid();
    assert!(
        mermaid.contains("new --> assess: submit [normal; requester: own change]"),
        "{mermaid}"
    );
    assert!(mermaid.contains("authorize --> new"));
    let markdown = table.to_markdown();
    assert_eq!(markdown.lines().count(), table.rows.len() + 2);
}

#[test]
fn json_schemas_generate_with_the_stable_tags() {
    let events = serde_json::to_string(&schemars::schema_for!(opsledger_core::change::ChangeEvent))
        .expect("schema");
    for tag in [
        "change.requested",
        "change.authorized",
        "change.reverted_to_new",
    ] {
        assert!(events.contains(tag), "{tag} missing from the event schema");
    }
    let commands = serde_json::to_string(&schemars::schema_for!(ChangeCommand)).expect("schema");
    assert!(commands.contains("request_authorization"));
    let record = serde_json::to_string(&schemars::schema_for!(Change)).expect("schema");
    assert!(record.contains("approval_round"));
}
