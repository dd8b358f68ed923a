//! Every error path, given/when/then: the exact JSON-RPC code and `data.domain_code` (or
//! `data.path` for params), and nothing written on any refused call.

use crate::common::*;
use chrono::Duration;
use opsledger::core::change::Conflict;
use opsledger::core::incident::MajorStatusKind;
use opsledger::core::window::TimeWindow;
use opsledger::core::{ActorId, Permission, RecordKind};
use opsledger::{DomainError, EngineError, StoreError};
use opsledger_rpc::api::errors::{ERROR_CODES, engine_error, error_code};
use opsledger_rpc::{CallContext, Identity};
use serde_json::{Value, json};

/// What a refused call must answer.
enum Then {
    /// A domain code from the table.
    Domain(i64, &'static str),
    /// -32602 at this field path.
    Params(&'static str),
    /// A bare protocol or identity code.
    Code(i64),
}

struct Case {
    given: &'static str,
    when: (&'static str, Value),
    then: Then,
}

/// A record of each kind: INC0000001 (new), PRB0000001, and CHG0000001 requested by chris,
/// planned, submitted and awaiting authorization.
fn given_records(rig: &Rig) {
    rig.ok("incident.open", by(&desk(), open_params("Given")));
    rig.ok(
        "problem.create",
        by(
            &pat(),
            json!({"title": "Given", "impact": "low", "urgency": "low"}),
        ),
    );
    rig.ok(
        "change.request",
        by(
            &chris(),
            json!({"title": "Given", "change_type": {"kind": "normal"}, "risk": "low", "cis": ["db-1"],
                   "implementation_plan": "Do it", "backout_plan": "Undo it"}),
        ),
    );
    let start = start();
    for (method, params) in [
        (
            "change.plan",
            json!({"window": {"start": start + Duration::hours(30), "end": start + Duration::hours(31)}}),
        ),
        ("change.submit", json!({})),
        ("change.request_authorization", json!({})),
    ] {
        let mut p = by(&chris(), params);
        p["id"] = json!("CHG0000001");
        rig.ok(method, p);
    }
}

fn cases() -> Vec<Case> {
    let uuid = "0190c4b2-7a1e-7c3d-9e5f-0123456789ab";
    vec![
        Case {
            given: "no such method",
            when: ("incident.fly", json!({})),
            then: Then::Code(-32601),
        },
        Case {
            given: "a misspelt field",
            when: ("incident.open", by(&desk(), json!({"titel": "x"}))),
            then: Then::Params("titel"),
        },
        Case {
            given: "a missing required field",
            when: (
                "incident.open",
                by(
                    &desk(),
                    json!({"caller": "bob", "impact": "low", "urgency": "low"}),
                ),
            ),
            then: Then::Params("title"),
        },
        Case {
            given: "a wrong type",
            when: (
                "incident.open",
                by(
                    &desk(),
                    json!({"title": "t", "caller": "bob", "impact": 5, "urgency": "low"}),
                ),
            ),
            then: Then::Params("impact"),
        },
        Case {
            given: "a wrong type inside an array",
            when: (
                "incident.open",
                by(
                    &desk(),
                    json!({"title": "t", "caller": "bob", "impact": "low", "urgency": "low", "cis": ["a", 3]}),
                ),
            ),
            then: Then::Params("cis[1]"),
        },
        Case {
            given: "a malformed instant in a nested object",
            when: (
                "change.plan",
                by(
                    &chris(),
                    json!({"id": "CHG0000001", "window": {"start": "yesterday", "end": "2026-05-06T00:00:00Z"}}),
                ),
            ),
            then: Then::Params("window.start"),
        },
        Case {
            given: "a wrong type inside a tagged union",
            when: (
                "incident.put_on_hold",
                by(
                    &desk(),
                    json!({"id": "INC0000001", "reason": {"kind": "awaiting_problem", "problem": 42}}),
                ),
            ),
            then: Then::Params("reason.problem"),
        },
        Case {
            given: "an unknown tag of a tagged union",
            when: (
                "incident.put_on_hold",
                by(
                    &desk(),
                    json!({"id": "INC0000001", "reason": {"kind": "awaiting_godot"}}),
                ),
            ),
            then: Then::Params("reason.kind"),
        },
        Case {
            given: "params by position",
            when: ("incident.acknowledge", json!(["INC0000001"])),
            then: Then::Code(-32602),
        },
        Case {
            given: "a malformed number",
            when: ("incident.acknowledge", by(&desk(), json!({"id": "INC12X"}))),
            then: Then::Params("id"),
        },
        Case {
            given: "a number of the wrong kind",
            when: (
                "incident.acknowledge",
                by(&desk(), json!({"id": "PRB0000001"})),
            ),
            then: Then::Params("id"),
        },
        Case {
            given: "a number that does not exist",
            when: (
                "incident.acknowledge",
                by(&desk(), json!({"id": "INC0000099"})),
            ),
            then: Then::Domain(-32001, "not_found"),
        },
        Case {
            given: "a UUID that does not exist",
            when: ("incident.acknowledge", by(&desk(), json!({"id": uuid}))),
            then: Then::Domain(-32001, "not_found"),
        },
        Case {
            given: "a query for a number that does not exist",
            when: ("query.record", json!({"id": "CHG0000042"})),
            then: Then::Domain(-32001, "not_found"),
        },
        Case {
            given: "a query with a malformed record reference",
            when: ("query.record", json!({"id": "nonsense"})),
            then: Then::Params("id"),
        },
        Case {
            given: "a query with a malformed instant",
            when: (
                "query.record",
                json!({"id": "INC0000001", "as_of": "last tuesday"}),
            ),
            then: Then::Params("as_of"),
        },
        Case {
            given: "a creating command for an existing id",
            when: ("incident.open", {
                let mut p = by(&desk(), open_params("again"));
                p["id"] = json!("INC0000001");
                p
            }),
            then: Then::Domain(-32002, "already_exists"),
        },
        Case {
            given: "a command the state does not accept",
            when: ("incident.close", by(&desk(), json!({"id": "INC0000001"}))),
            then: Then::Domain(-32004, "invalid_transition"),
        },
        Case {
            given: "an actor without the permission",
            when: ("problem.assess", by(&carol(), json!({"id": "PRB0000001"}))),
            then: Then::Domain(-32005, "forbidden"),
        },
        Case {
            given: "a field the domain refuses",
            when: ("incident.open", by(&desk(), open_params(""))),
            then: Then::Domain(-32006, "validation"),
        },
        Case {
            given: "a pinned version that is not the record's",
            when: (
                "incident.acknowledge",
                by(&desk(), json!({"id": "INC0000001", "expected_version": 5})),
            ),
            then: Then::Domain(-32020, "conflict"),
        },
        Case {
            given: "the requester approving their own change",
            when: (
                "change.approve",
                by(
                    &actor("chris.changes", &["change_manager", "cab_member"]),
                    json!({"id": "CHG0000001"}),
                ),
            ),
            then: Then::Domain(-32008, "separation_of_duties"),
        },
        Case {
            given: "no actor on a command",
            when: ("incident.acknowledge", json!({"id": "INC0000001"})),
            then: Then::Code(-32098),
        },
        Case {
            given: "an unknown role named in the params",
            when: (
                "incident.acknowledge",
                by(&actor("x", &["wizard"]), json!({"id": "INC0000001"})),
            ),
            then: Then::Params("actor.roles[0]"),
        },
        Case {
            given: "the system role claimed",
            when: (
                "incident.auto_close",
                by(&actor("x", &["system"]), json!({"id": "INC0000001"})),
            ),
            then: Then::Domain(-32005, "forbidden"),
        },
        Case {
            given: "a non-admin calling an admin method",
            when: ("admin.rebuild", json!({"actor": desk()})),
            then: Then::Domain(-32005, "forbidden"),
        },
        Case {
            given: "too many events asked for",
            when: ("events.read", json!({"max": 5000})),
            then: Then::Domain(-32007, "limit_exceeded"),
        },
        Case {
            given: "a long poll over the bound",
            when: ("events.subscribe", json!({"timeout_ms": 60000})),
            then: Then::Domain(-32007, "limit_exceeded"),
        },
        Case {
            given: "a negative page start",
            when: ("events.read", json!({"after": -1})),
            then: Then::Params("after"),
        },
    ]
}

#[test]
fn every_refusal_answers_its_code_and_writes_nothing() {
    let rig = Rig::memory();
    given_records(&rig);
    let mut failures = Vec::new();
    for Case { given, when, then } in cases() {
        let head = rig.head();
        let (method, params) = when;
        let error = match rig.call(method, params.clone()) {
            Ok(v) => {
                failures.push(format!("given {given}: {method} succeeded: {v}"));
                continue;
            }
            Err(e) => e,
        };
        let ok = match then {
            Then::Domain(c, d) => code(&error) == c && domain_code(&error) == d,
            Then::Params(path) => {
                code(&error) == -32602
                    && error["data"]["path"] == path
                    && error["message"].as_str().unwrap().contains(path)
            }
            Then::Code(c) => code(&error) == c,
        };
        if !ok {
            failures.push(format!("given {given}: {method} {params} answered {error}"));
        }
        if rig.head() != head {
            failures.push(format!("given {given}: {method} wrote to the log"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn an_unknown_field_is_named_in_the_message() {
    let rig = Rig::memory();
    let e = rig.err("incident.open", by(&desk(), json!({"titel": "x"})));
    assert_eq!(
        e["message"]
            .as_str()
            .unwrap()
            .split(", expected")
            .next()
            .unwrap(),
        "Invalid params: titel: unknown field `titel`"
    );
}

#[test]
fn a_conflict_says_what_was_expected_and_found() {
    let rig = Rig::memory();
    given_records(&rig);
    let e = rig.err(
        "incident.acknowledge",
        by(&desk(), json!({"id": "INC0000001", "expected_version": 5})),
    );
    assert_eq!(e["data"]["details"]["expected"], 5);
    assert_eq!(e["data"]["details"]["actual"], 1);
    // The right version goes through.
    let ok = rig.ok(
        "incident.acknowledge",
        by(&desk(), json!({"id": "INC0000001", "expected_version": 1})),
    );
    assert_eq!(ok["version"], 2);
}

#[test]
fn a_separation_of_duties_refusal_carries_the_domain_details() {
    let rig = Rig::memory();
    given_records(&rig);
    let e = rig.err(
        "change.approve",
        by(
            &actor("chris.changes", &["cab_member"]),
            json!({"id": "CHG0000001"}),
        ),
    );
    assert_eq!(
        e["data"],
        json!({"domain_code": "separation_of_duties", "details": {"actor": "chris.changes"}})
    );
}

/// The mapping table, given/when/then: given an engine error, when it is translated, then it
/// has its row's code and domain code (and server failures leak nothing).
#[test]
fn the_error_table_maps_every_engine_and_domain_code() {
    let now = start();
    let window = TimeWindow::new(now, now + Duration::hours(1));
    let actor = ActorId::new("alice");
    let domain = |d: DomainError| EngineError::Domain(d);
    let cases: Vec<(&str, EngineError, i32, &str)> = vec![
        (
            "a missing record",
            domain(DomainError::NotFound {
                kind: RecordKind::Incident,
                id: "x".into(),
            }),
            -32001,
            "not_found",
        ),
        (
            "an existing record",
            domain(DomainError::AlreadyExists {
                kind: RecordKind::Incident,
                id: "x".into(),
                name: None,
            }),
            -32002,
            "already_exists",
        ),
        (
            "another record",
            domain(DomainError::WrongRecord {
                kind: RecordKind::Change,
                command_id: "a".into(),
                state_id: "b".into(),
            }),
            -32003,
            "wrong_record",
        ),
        (
            "a bad transition",
            domain(DomainError::InvalidTransition {
                kind: RecordKind::Problem,
                state: "closed".into(),
                command: "assess".into(),
            }),
            -32004,
            "invalid_transition",
        ),
        (
            "a missing permission",
            domain(DomainError::Forbidden {
                actor: actor.clone(),
                permission: Permission::IncidentWork,
            }),
            -32005,
            "forbidden",
        ),
        (
            "a bad field",
            domain(DomainError::validation("title", "empty")),
            -32006,
            "validation",
        ),
        (
            "a domain limit",
            domain(DomainError::LimitExceeded {
                what: "cis".into(),
                limit: 3,
            }),
            -32007,
            "limit_exceeded",
        ),
        (
            "self-approval",
            domain(DomainError::SeparationOfDuties {
                actor: actor.clone(),
            }),
            -32008,
            "separation_of_duties",
        ),
        (
            "a non-approver",
            domain(DomainError::NotAnApprover {
                actor: actor.clone(),
                reason: "no role".into(),
            }),
            -32009,
            "not_an_approver",
        ),
        (
            "a second decision",
            domain(DomainError::AlreadyDecided {
                actor: actor.clone(),
            }),
            -32010,
            "already_decided",
        ),
        (
            "implementing outside the window",
            domain(DomainError::OutsideApprovedWindow { now, window }),
            -32011,
            "outside_approved_window",
        ),
        (
            "blocking conflicts",
            domain(DomainError::ScheduleConflict {
                conflicts: Vec::<Conflict>::new(),
                total: 1,
            }),
            -32012,
            "schedule_conflict",
        ),
        (
            "a missing review",
            domain(DomainError::ReviewRequired),
            -32013,
            "review_required",
        ),
        (
            "auto-closing a major incident",
            domain(DomainError::MajorIncidentNoAutoClose {
                major: MajorStatusKind::Accepted,
            }),
            -32014,
            "major_incident_no_auto_close",
        ),
        (
            "an unknown number",
            EngineError::NotFound {
                what: "INC0000009".into(),
            },
            -32001,
            "not_found",
        ),
        (
            "a pinned version",
            EngineError::Conflict {
                record: "incident-x".into(),
                expected: 1,
                actual: 2,
            },
            -32020,
            "conflict",
        ),
        (
            "a reused key",
            EngineError::IdempotencyKeyReused { key: "k".into() },
            -32021,
            "idempotency_key_reused",
        ),
        (
            "busy writers",
            EngineError::RetriesExhausted {
                record: "incident-x".into(),
                attempts: 8,
            },
            -32022,
            "retries_exhausted",
        ),
        (
            "a bad cursor",
            EngineError::InvalidInput {
                field: "cursor".into(),
                reason: "garbled".into(),
            },
            -32023,
            "invalid_input",
        ),
        (
            "a refused policy document",
            EngineError::InvalidPolicy {
                issues: vec![opsledger::core::policy::PolicyIssue::new(
                    "incident.auto_close_after_dayz",
                    "unknown field",
                )],
            },
            -32024,
            "invalid_policy",
        ),
        (
            "an engine limit",
            EngineError::LimitExceeded {
                what: "payload".into(),
                limit: 10,
            },
            -32007,
            "limit_exceeded",
        ),
        (
            "a failing store",
            EngineError::Store(StoreError::Closed),
            -32050,
            "store",
        ),
        (
            "an undecodable event",
            EngineError::Decode {
                position: 3,
                reason: "secret detail".into(),
            },
            -32051,
            "decode",
        ),
        (
            "failing read models",
            EngineError::Views("secret detail".into()),
            -32052,
            "views",
        ),
        (
            "a bad configuration",
            EngineError::InvalidConfig("secret detail".into()),
            -32053,
            "invalid_config",
        ),
    ];
    for (given, when, code, domain_code) in cases {
        let stable = when.code();
        let then = engine_error(when);
        assert_eq!(then.code(), code, "given {given}");
        assert_eq!(
            then.data().unwrap()["domain_code"],
            domain_code,
            "given {given}"
        );
        assert_eq!(stable, domain_code, "given {given}: the engine's own code");
        let row = error_code(domain_code).unwrap();
        if row.details {
            assert!(
                then.data().unwrap().get("details").is_some(),
                "given {given}"
            );
        } else {
            assert!(
                then.data().unwrap().get("details").is_none(),
                "given {given}"
            );
            assert!(
                !then.message().contains("secret"),
                "given {given}: nothing leaks"
            );
        }
    }
    // Every row is reachable and lies in the domain band.
    for row in ERROR_CODES {
        assert!(
            (-32089..=-32000).contains(&row.code.get()),
            "{}",
            row.domain_code
        );
    }
}

#[test]
fn over_http_style_contexts_the_actor_comes_from_the_identity() {
    let rig = Rig::memory();
    let alice = CallContext::authenticated(Identity::new("alice", ["agent"]));
    // Acting as the token's identity works.
    let opened = call_with(
        &rig.rpc,
        &alice,
        "incident.open",
        open_params("From a token"),
    )
    .unwrap();
    assert_eq!(opened["events"][0]["actor"], "alice");
    // Claiming an actor in the params, even oneself, is refused.
    let head = rig.head();
    let e = call_with(
        &rig.rpc,
        &alice,
        "incident.acknowledge",
        by(
            &actor("alice", &["agent", "admin"]),
            json!({"id": "INC0000001"}),
        ),
    )
    .unwrap_err();
    assert_eq!(code(&e), -32097);
    // A token with a role the engine does not know.
    let odd = CallContext::authenticated(Identity::new("odd", ["wizard"]));
    let e = call_with(
        &rig.rpc,
        &odd,
        "incident.acknowledge",
        json!({"id": "INC0000001"}),
    )
    .unwrap_err();
    assert_eq!(code(&e), -32030);
    assert_eq!(domain_code(&e), "unknown_role");
    // Anonymous callers may read but not write.
    let anon = CallContext::anonymous();
    assert!(call_with(&rig.rpc, &anon, "query.record", json!({"id": "INC0000001"})).is_ok());
    let e = call_with(
        &rig.rpc,
        &anon,
        "incident.acknowledge",
        json!({"id": "INC0000001"}),
    )
    .unwrap_err();
    assert_eq!(code(&e), -32098);
    assert_eq!(rig.head(), head);
    // A stdio caller may name the actor.
    let ok = call_with(
        &rig.rpc,
        &stdio(),
        "incident.acknowledge",
        by(&actor("bob", &["agent"]), json!({"id": "INC0000001"})),
    )
    .unwrap();
    assert_eq!(ok["events"][0]["actor"], "bob");
}
