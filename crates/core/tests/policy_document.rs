//! Policy documents as an operator writes them: the shipped examples (`examples/policy/`), every
//! refusal with the path of the value at fault, the diff between two documents, the round trip
//! through both notations, and weekly windows across clock changes.

use chrono::{DateTime, Duration, Utc};
use opsledger_core::Policy;
use opsledger_core::policy::PolicyIssue;
use opsledger_core::policy::document::{self, PolicyChange, PolicyFormat};
use opsledger_core::sla::HoldReasonKind;
use opsledger_core::window::{CiScope, NamedWindow, TimeWindow};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::path::PathBuf;

fn example_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/policy")
        .join(file)
}

fn example_text(file: &str) -> String {
    let path = example_path(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn parse_or_panic(text: &str, format: PolicyFormat) -> Policy {
    document::parse(text, format).unwrap_or_else(|issues| {
        let list: Vec<String> = issues.iter().map(ToString::to_string).collect();
        panic!("the document was refused: {list:#?}")
    })
}

fn example() -> Policy {
    parse_or_panic(&example_text("policy.toml"), PolicyFormat::Toml)
}

/// The JSON example as a value, for building bad documents by editing one spot.
fn example_value() -> Value {
    serde_json::from_str(&example_text("policy.json")).expect("policy.json is JSON")
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("bad instant {s}: {e}"))
        .with_timezone(&Utc)
}

// ------------------------------------------------------------------------------------------
// (a) the examples
// ------------------------------------------------------------------------------------------

#[test]
fn both_examples_parse_to_the_same_policy_without_issues() {
    let from_toml = example();
    let from_json = parse_or_panic(&example_text("policy.json"), PolicyFormat::Json);
    assert_eq!(from_toml, from_json, "policy.toml and policy.json differ");
    assert_eq!(from_toml.issues(), Vec::<PolicyIssue>::new());
    assert_eq!(from_toml.validate(), Ok(()));
    assert!(document::diff(&from_toml, &from_json).is_empty());
    // The format follows the file name, and the content when there is none.
    for file in ["policy.toml", "policy.json"] {
        let by_name = PolicyFormat::from_path(&example_path(file)).expect("a known extension");
        assert_eq!(PolicyFormat::sniff(&example_text(file)), by_name, "{file}");
    }
}

#[test]
fn the_example_says_what_its_comments_say() {
    use opsledger_core::calendar::CalendarVersion;
    use opsledger_core::policy::Quorum;
    use opsledger_core::sla::{BreachEscalation, SlaDefinitionId, SlaMetric};
    use opsledger_core::{ActorId, Permission, Priority, RecordKind, Role, ServiceId};

    let p = example();
    // The engine numbers versions: the document carries none.
    assert_eq!(p.version.0, 0);

    // Four priorities, a response and a resolution clock each; P1 resolution in its second
    // version, the first kept for the records that pinned it.
    let in_force = p.sla.in_force();
    assert_eq!(in_force.len(), 12);
    let p1 = p
        .sla
        .applicable(RecordKind::Incident, Priority::Critical, None);
    let p1: Vec<(&str, SlaMetric, u32, i64)> = p1
        .iter()
        .map(|d| (d.id.as_str(), d.metric, d.version.0, d.target.num_minutes()))
        .collect();
    assert_eq!(
        p1,
        [
            ("p1-resolution", SlaMetric::Resolution, 2, 240),
            ("p1-response", SlaMetric::Response, 1, 15),
        ]
    );
    assert_eq!(
        p.sla
            .newest(&SlaDefinitionId::new("p1-resolution"))
            .map(|d| (d.version.0, d.target)),
        Some((2, Duration::hours(4)))
    );
    assert_eq!(
        p.sla
            .definition(&opsledger_core::sla::SlaKey::new("p1-resolution", 1))
            .map(|d| d.target),
        Some(Duration::hours(6))
    );
    // P3/P4 clocks follow the desk that owns the service; without a service there is none.
    let erp = ServiceId::new("erp");
    let crm = ServiceId::new("crm");
    let calendars = |service: Option<&ServiceId>| -> Vec<String> {
        p.sla
            .pins_for(RecordKind::Incident, Priority::Moderate, service)
            .iter()
            .map(|pin| pin.calendar.to_string())
            .collect()
    };
    assert_eq!(
        calendars(Some(&erp)),
        ["berlin-office@v1", "berlin-office@v1"]
    );
    assert_eq!(
        calendars(Some(&crm)),
        ["new-york-office@v1", "new-york-office@v1"]
    );
    assert!(calendars(None).is_empty());
    // Every definition pauses on "awaiting caller" only, warns at 50/75/90 % and escalates.
    for d in &p.sla.definitions {
        let conditions = d.conditions();
        assert_eq!(
            conditions.pause_on_hold.into_iter().collect::<Vec<_>>(),
            [HoldReasonKind::AwaitingCaller],
            "{}",
            d.key()
        );
        let thresholds: Vec<u8> = d.sorted_thresholds().iter().map(|t| t.0).collect();
        assert_eq!(thresholds, [50, 75, 90], "{}", d.key());
        assert!(
            matches!(
                (&d.metric, &d.on_breach.escalation),
                (
                    SlaMetric::Response,
                    Some(BreachEscalation::Functional { .. })
                ) | (
                    SlaMetric::Resolution,
                    Some(BreachEscalation::Hierarchical { .. })
                )
            ),
            "{}",
            d.key()
        );
    }
    // Calendars: Good Friday is a holiday in Berlin, not in New York; 24 December closes at
    // noon in Berlin.
    let berlin = p
        .sla
        .calendar(&opsledger_core::sla::CalendarKey::new("berlin-office", 1))
        .expect("berlin-office v1");
    assert_eq!(berlin.version(), CalendarVersion(1));
    let good_friday = (utc("2027-03-26T06:00:00Z"), utc("2027-03-26T18:00:00Z"));
    assert_eq!(
        berlin.business_duration_between(good_friday.0, good_friday.1),
        Duration::zero()
    );
    let new_york = p
        .sla
        .calendar(&opsledger_core::sla::CalendarKey::new("new-york-office", 1))
        .expect("new-york-office v1");
    // 08:00-18:00 EDT is 12:00-22:00 UTC.
    assert_eq!(
        new_york
            .business_duration_between(utc("2027-03-26T12:00:00Z"), utc("2027-03-26T22:00:00Z")),
        Duration::hours(10)
    );
    // Thursday 24 December 2026, 08:00-12:00 CET only.
    assert_eq!(
        berlin.business_duration_between(utc("2026-12-24T00:00:00Z"), utc("2026-12-25T00:00:00Z")),
        Duration::hours(4)
    );

    // CAB: five members, majority of those eligible; the requester never counts.
    let cab = &p.approvals.normal;
    assert_eq!(cab.quorum, Quorum::Majority);
    assert_eq!(cab.required_approvals(&ActorId::new("k.nowak")), 3); // 4 eligible
    assert_eq!(cab.required_approvals(&ActorId::new("someone-else")), 3); // 5 eligible
    assert!(
        !cab.eligible_board(&ActorId::new("k.nowak"))
            .contains(&ActorId::new("k.nowak"))
    );
    let ecab = &p.approvals.emergency;
    assert_eq!(ecab.required_approvals(&ActorId::new("d.brooks")), 2);
    assert!(ecab.quorum_reachable(&ActorId::new("d.brooks")));

    // Publishing a policy: admins only, whatever the other grants say.
    let rules = &p.authorization;
    for role in Role::ALL {
        let actor = opsledger_core::Actor::new("x", [role]);
        assert_eq!(
            rules.allows(&actor, Permission::PolicyPublish),
            role == Role::Admin,
            "{role}"
        );
    }
    assert_eq!(p.standard_changes.len(), 5);

    // Auto-close: 3 Berlin business days. Resolved Wednesday 23 December 2026: Thursday 24
    // (a half day is a business day), Monday 28, Tuesday 29; due at the end of Tuesday.
    assert_eq!(
        p.auto_close_due(utc("2026-12-23T15:00:00Z")),
        Some(utc("2026-12-29T23:00:00Z"))
    );

    // Parent/child sync: every key `follow`, written out (the defaults); the engine may cancel
    // a duplicate recorded on its original.
    assert_eq!(
        p.incident.child_sync,
        opsledger_core::policy::ChildSyncPolicy::default()
    );
    assert!(p.incident.child_sync.on_hold.follows() && p.incident.child_sync.resumed.follows());
    assert!(
        p.authorization.grants[&Permission::IncidentCancel].contains(&Role::System),
        "system may cancel duplicates"
    );
}

// ------------------------------------------------------------------------------------------
// (b) bad documents
// ------------------------------------------------------------------------------------------

/// One bad document: what it starts from, the edit, and every issue expected, in order.
struct Case {
    given: &'static str,
    when: fn(&mut Value),
    then: &'static [(&'static str, &'static str)],
}

/// `value[path]`, creating nothing: the path must exist in the example.
fn at<'a>(value: &'a mut Value, pointer: &str) -> &'a mut Value {
    value
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer} is not in the example"))
}

fn set(value: &mut Value, pointer: &str, new: Value) {
    *at(value, pointer) = new;
}

fn insert(value: &mut Value, pointer: &str, key: &str, new: Value) {
    at(value, pointer)
        .as_object_mut()
        .unwrap_or_else(|| panic!("{pointer} is not an object"))
        .insert(key.to_owned(), new);
}

fn push(value: &mut Value, pointer: &str, new: Value) {
    at(value, pointer)
        .as_array_mut()
        .unwrap_or_else(|| panic!("{pointer} is not a list"))
        .push(new);
}

const CASES: &[Case] = &[
    Case {
        given: "a misspelt top-level key",
        when: |v| insert(v, "", "maintenance_window", json!([])),
        then: &[("maintenance_window", "unknown field `maintenance_window`")],
    },
    Case {
        given: "an unknown key in a definition's conditions",
        when: |v| {
            insert(
                v,
                "/sla/definitions/0/conditions",
                "pause_on_holds",
                json!(["awaiting_vendor"]),
            )
        },
        then: &[(
            "sla.definitions[0].conditions.pause_on_holds",
            "unknown field `pause_on_holds`, expected one of `start`, `pause_on_hold`",
        )],
    },
    Case {
        given: "an unknown key in a breach escalation",
        when: |v| {
            insert(
                v,
                "/sla/definitions/0/on_breach/escalation",
                "to",
                json!("a.schmidt"),
            )
        },
        then: &[(
            "sla.definitions[0].on_breach.escalation",
            "unknown field `to`",
        )],
    },
    Case {
        given: "an unknown key in a calendar",
        when: |v| insert(v, "/sla/calendars/1", "holiday", json!(["2026-08-15"])),
        then: &[("sla.calendars[1].holiday", "unknown field `holiday`")],
    },
    Case {
        given: "an unknown key in a calendar's working hours",
        when: |v| insert(v, "/sla/calendars/1/weekly", "saturdays", json!([])),
        then: &[(
            "sla.calendars[1].weekly.saturdays",
            "unknown field `saturdays`",
        )],
    },
    Case {
        given: "an unknown key in a weekly window",
        when: |v| insert(v, "/maintenance_windows/0/weekly", "timezone", json!("UTC")),
        then: &[(
            "maintenance_windows[0].weekly.timezone",
            "unknown field `timezone`",
        )],
    },
    Case {
        given: "an unknown key in a one-off window",
        when: |v| {
            insert(
                v,
                "/blackout_windows/0/window",
                "until",
                json!("2027-01-05T00:00:00Z"),
            )
        },
        then: &[(
            "blackout_windows[0].window.until",
            "unknown field `until`, expected `start` or `end`",
        )],
    },
    Case {
        given: "a misspelt permission in the grants",
        when: |v| {
            insert(
                v,
                "/authorization/grants",
                "policy_pubish",
                json!(["admin"]),
            )
        },
        then: &[(
            "authorization.grants.policy_pubish",
            "unknown variant `policy_pubish`, expected one of `incident_open`",
        )],
    },
    Case {
        given: "an unknown role in a grant",
        when: |v| push(v, "/authorization/grants/change_schedule", json!("root")),
        then: &[(
            "authorization.grants.change_schedule[1]",
            "unknown variant `root`, expected one of `requester`",
        )],
    },
    Case {
        given: "a calendar in an unknown IANA zone",
        when: |v| set(v, "/sla/calendars/1/time_zone", json!("Europe/Berln")),
        then: &[(
            "sla.calendars[1].time_zone",
            "unknown IANA time zone \"Europe/Berln\"",
        )],
    },
    Case {
        given: "a weekly window in an unknown IANA zone",
        when: |v| {
            set(
                v,
                "/maintenance_windows/2/weekly/time_zone",
                json!("US/Eastern Time"),
            )
        },
        then: &[(
            "maintenance_windows[2].weekly.time_zone",
            "unknown IANA time zone",
        )],
    },
    Case {
        given: "a calendar whose working hours overlap",
        when: |v| {
            set(
                v,
                "/sla/calendars/1/weekly/monday",
                json!([{"start": "08:00", "end": "13:00"}, {"start": "12:00", "end": "18:00"}]),
            )
        },
        then: &[("sla.calendars[1]", "intervals must be sorted and disjoint")],
    },
    Case {
        given: "a scope that is neither \"all\" nor a list",
        when: |v| set(v, "/maintenance_windows/0/scope", json!("db-prod-01")),
        then: &[(
            "maintenance_windows[0].scope",
            "a scope is \"all\" or a list of CI ids",
        )],
    },
    Case {
        given: "a one-off window that ends before it starts",
        when: |v| {
            set(
                v,
                "/blackout_windows/0/window",
                json!({"start": "2027-01-04T06:00:00+01:00", "end": "2026-12-18T18:00:00+01:00"}),
            )
        },
        then: &[("blackout_windows[0].window", "must start before it ends")],
    },
    Case {
        given: "a one-off window that ends when it starts",
        when: |v| {
            set(
                v,
                "/blackout_windows/1/window/end",
                json!("2027-03-28T22:00:00Z"),
            )
        },
        then: &[("blackout_windows[1].window", "must start before it ends")],
    },
    Case {
        given: "a weekly database window that overlaps the Saturday-night one on a shared CI",
        when: |v| {
            push(
                v,
                "/maintenance_windows",
                json!({
                    "name": "early-sunday-db",
                    "weekly": {"days": ["sunday"], "start": "03:00", "end": "05:00",
                               "time_zone": "Europe/Berlin"},
                    "scope": ["db-prod-02", "db-staging-01"]
                }),
            )
        },
        // 2024-01-07 is the first Sunday of the probe year; 03:00 CET is 02:00 UTC.
        then: &[(
            "maintenance_windows[3]",
            "overlaps `saturday-night-db` (maintenance_windows[0]) on a CI they share, from \
             2024-01-07 02:00 UTC",
        )],
    },
    Case {
        given: "a one-off blackout inside the year-end freeze (scope \"all\" shares every CI)",
        when: |v| {
            push(
                v,
                "/blackout_windows",
                json!({
                    "name": "erp-upgrade-freeze",
                    "window": {"start": "2026-12-28T00:00:00Z", "end": "2027-01-10T00:00:00Z"},
                    "scope": ["erp-prod-app"]
                }),
            )
        },
        then: &[(
            "blackout_windows[2]",
            "overlaps `year-end-freeze-2026` (blackout_windows[0]) on a CI they share, from \
             2026-12-28 00:00 UTC",
        )],
    },
    Case {
        given: "a weekly window with no days",
        when: |v| set(v, "/maintenance_windows/1/weekly/days", json!([])),
        then: &[("maintenance_windows[1].weekly.days", "names no day")],
    },
    Case {
        given: "a weekly window that opens and closes at the same time",
        when: |v| set(v, "/maintenance_windows/1/weekly/end", json!("06:00")),
        then: &[("maintenance_windows[1].weekly.end", "equals the start")],
    },
    Case {
        given: "a window with both a one-off and a weekly timing",
        when: |v| {
            insert(
                v,
                "/maintenance_windows/0",
                "window",
                json!({"start": "2026-06-06T20:00:00Z", "end": "2026-06-07T02:00:00Z"}),
            )
        },
        then: &[("maintenance_windows[0]", "has both `window` and `weekly`")],
    },
    Case {
        given: "a window with no timing at all",
        when: |v| {
            at(v, "/maintenance_windows/2")
                .as_object_mut()
                .expect("a window")
                .remove("weekly");
        },
        then: &[(
            "maintenance_windows[2]",
            "has neither `window` nor `weekly`",
        )],
    },
    Case {
        given: "two windows of one list with the same name",
        when: |v| set(v, "/blackout_windows/1/name", json!("year-end-freeze-2026")),
        then: &[(
            "blackout_windows[1].name",
            "`year-end-freeze-2026` names another window of this list",
        )],
    },
    Case {
        given: "a window scoped to an empty list of CIs",
        when: |v| set(v, "/maintenance_windows/2/scope", json!([])),
        then: &[("maintenance_windows[2].scope", "names no CI")],
    },
    Case {
        given: "an SLA target of zero",
        when: |v| set(v, "/sla/definitions/0/target", json!("0s")),
        then: &[(
            "sla.definitions[0].target",
            "p1-response@v1 has an empty target",
        )],
    },
    Case {
        given: "an SLA target one hour beyond a year of 366 days",
        when: |v| set(v, "/sla/definitions/5/target", json!("8785h")),
        then: &[(
            "sla.definitions[5].target",
            "p3-response-emea@v1 has a target longer than a year of business time",
        )],
    },
    Case {
        given: "an SLA target in days",
        when: |v| set(v, "/sla/definitions/6/target", json!("2d")),
        then: &[(
            "sla.definitions[6].target",
            "`2d` is not a duration: write hours, minutes and seconds as in \"4h\", \
             \"1h30m\" or \"90s\" (a business day is whatever the calendar says, so there is no \
             day unit)",
        )],
    },
    Case {
        given: "an SLA target in words",
        when: |v| set(v, "/sla/definitions/6/target", json!("4 hours")),
        then: &[("sla.definitions[6].target", "`4 hours` is not a duration")],
    },
    Case {
        given: "an SLA target with its units out of order",
        when: |v| set(v, "/sla/definitions/6/target", json!("30m4h")),
        then: &[("sla.definitions[6].target", "`30m4h` is not a duration")],
    },
    Case {
        given: "an SLA target that is a number",
        when: |v| set(v, "/sla/definitions/6/target", json!(14400)),
        then: &[(
            "sla.definitions[6].target",
            "a target is a text such as \"4h\", \"1h30m\" or \"90s\"",
        )],
    },
    Case {
        given: "thresholds of 0 and 100 percent",
        when: |v| set(v, "/sla/definitions/3/thresholds", json!([0, 50, 100])),
        then: &[
            (
                "sla.definitions[3].thresholds[0]",
                "p2-response@v1 has threshold 0%, outside 1..=99",
            ),
            (
                "sla.definitions[3].thresholds[2]",
                "p2-response@v1 has threshold 100%, outside 1..=99",
            ),
        ],
    },
    Case {
        given: "a threshold beyond a byte",
        when: |v| set(v, "/sla/definitions/3/thresholds", json!([50, 300])),
        then: &[(
            "sla.definitions[3].thresholds[1]",
            "invalid value: integer `300`",
        )],
    },
    Case {
        given: "a definition measured in a calendar the policy does not hold",
        when: |v| {
            set(
                v,
                "/sla/definitions/5/calendar",
                json!({"id": "paris-office"}),
            )
        },
        then: &[(
            "sla.definitions[5].calendar",
            "p3-response-emea@v1 measures in calendar paris-office, which the policy does not \
             hold",
        )],
    },
    Case {
        given: "two versions of a definition with the same number",
        when: |v| set(v, "/sla/definitions/2/version", json!(1)),
        then: &[("sla.definitions[2]", "p1-resolution@v1 is defined twice")],
    },
    Case {
        given: "an emergency CAB of three that needs four approvals",
        when: |v| set(v, "/approvals/emergency/min_approvals", json!(4)),
        then: &[(
            "approvals.emergency.min_approvals",
            "4 approvals can never be reached by a board of 3",
        )],
    },
    Case {
        given: "a majority quorum without a board",
        when: |v| set(v, "/approvals/normal/board", json!([])),
        then: &[(
            "approvals.normal.quorum",
            "majority and all count the members of a board; name the board or use any",
        )],
    },
    Case {
        given: "a CAB with no approver role and a member listed twice",
        when: |v| {
            set(v, "/approvals/normal/approver_roles", json!([]));
            push(v, "/approvals/normal/board", json!("j.miller"));
        },
        then: &[
            ("approvals.normal.approver_roles", "names no role"),
            ("approvals.normal.board[5]", "j.miller is listed twice"),
        ],
    },
    Case {
        given: "a template id used twice and a template name used twice",
        when: |v| {
            set(v, "/standard_changes/2/id", json!("std-tls-cert-renewal"));
            set(
                v,
                "/standard_changes/4/name",
                json!("Monthly operating system security patches (pilot ring first)"),
            );
        },
        then: &[
            (
                "standard_changes[2].id",
                "template `std-tls-cert-renewal` is listed twice",
            ),
            (
                "standard_changes[4].name",
                "the name `Monthly operating system security patches (pilot ring first)` is \
                 used by another template",
            ),
        ],
    },
    Case {
        given: "an auto-close calendar that is not among the SLA calendars",
        when: |v| {
            set(
                v,
                "/incident/auto_close_calendar",
                json!({"id": "paris-office"}),
            )
        },
        then: &[(
            "incident.auto_close_calendar",
            "calendar `paris-office` is not among sla.calendars",
        )],
    },
    Case {
        given: "an auto-close calendar version that was never published",
        when: |v| {
            set(
                v,
                "/incident/auto_close_calendar",
                json!({"id": "berlin-office", "version": 2}),
            )
        },
        then: &[(
            "incident.auto_close_calendar",
            "calendar `berlin-office` is not among sla.calendars",
        )],
    },
    Case {
        given: "a child sync setting that is neither follow nor ignore",
        when: |v| set(v, "/incident/child_sync/on_hold", json!("sometimes")),
        then: &[("incident.child_sync.on_hold", "unknown variant `sometimes`")],
    },
    Case {
        given: "a misspelt child sync key",
        when: |v| insert(v, "/incident/child_sync", "on_hlod", json!("follow")),
        then: &[("incident.child_sync.on_hlod", "unknown field `on_hlod`")],
    },
    Case {
        given: "a limit of zero",
        when: |v| set(v, "/limits/max_links", json!(0)),
        then: &[("limits.max_links", "must be at least 1")],
    },
    Case {
        given: "a section of the wrong type",
        when: |v| set(v, "/approvals", json!("cab")),
        then: &[("approvals", "invalid type")],
    },
    Case {
        given: "problems in several sections at once",
        when: |v| {
            set(v, "/approvals/normal/min_approvals", json!(0));
            set(v, "/maintenance_windows/1/weekly/days", json!([]));
            set(v, "/standard_changes/1/name", json!("  "));
            set(v, "/sla/definitions/11/thresholds", json!([50, 50]));
            set(v, "/sla/definitions/11/conditions", json!({"stop": []}));
            set(v, "/incident/auto_close_calendar", json!({"id": "berlin"}));
        },
        // Every issue, in document order.
        then: &[
            ("approvals.normal.min_approvals", "must be at least 1"),
            ("maintenance_windows[1].weekly.days", "names no day"),
            ("standard_changes[1].name", "must not be empty"),
            (
                "sla.definitions[11].thresholds[1]",
                "p4-response-americas@v1 lists threshold 50% twice",
            ),
            (
                "sla.definitions[11].conditions.stop",
                "p4-response-americas@v1 has no stop condition",
            ),
            (
                "incident.auto_close_calendar",
                "calendar `berlin` is not among sla.calendars",
            ),
        ],
    },
];

#[test]
fn bad_documents_are_refused_with_the_path_of_every_problem() {
    let mut failures = Vec::new();
    for case in CASES {
        // Given the example, when one spot is edited...
        let mut doc = example_value();
        (case.when)(&mut doc);
        // ...then the document is refused with exactly these issues, in this order.
        let got = match document::from_value(doc.clone()) {
            Ok(_) => {
                failures.push(format!("{}: accepted", case.given));
                continue;
            }
            Err(issues) => issues,
        };
        let matches = got.len() == case.then.len()
            && got.iter().zip(case.then).all(|(issue, (path, fragment))| {
                issue.path == *path && issue.message.contains(fragment)
            });
        if !matches {
            failures.push(format!(
                "{}:\n  expected {:?}\n  got      {:?}",
                case.given, case.then, got
            ));
        }
        // The TOML notation of the same document says the same.
        let toml_text = toml::to_string(&doc).expect("the edited document as TOML");
        let via_toml = document::parse(&toml_text, PolicyFormat::Toml).err();
        if via_toml.as_ref() != Some(&got) {
            failures.push(format!(
                "{}: TOML says {:?}, JSON says {:?}",
                case.given, via_toml, got
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn windows_that_overlap_in_time_on_disjoint_cis_are_accepted() {
    let mut doc = example_value();
    // Sunday 03:00-05:00 overlaps the Saturday-night database window (until 04:00), but on
    // CIs it does not cover, and ends before the Sunday-morning window for every CI opens.
    push(
        &mut doc,
        "/maintenance_windows",
        json!({
            "name": "early-sunday-staging",
            "weekly": {"days": ["sunday"], "start": "03:00", "end": "05:00",
                       "time_zone": "Europe/Berlin"},
            "scope": ["db-staging-01"]
        }),
    );
    // A one-off ERP freeze in the New-Year week, after the year-end freeze ended: touching
    // (half-open windows) is not overlapping.
    push(
        &mut doc,
        "/blackout_windows",
        json!({
            "name": "erp-upgrade-freeze",
            "window": {"start": "2027-01-04T06:00:00+01:00", "end": "2027-01-10T00:00:00Z"},
            "scope": ["erp-prod-app"]
        }),
    );
    let policy = document::from_value(doc).expect("disjoint scopes do not conflict");
    assert_eq!(policy.maintenance_windows.len(), 4);
    assert_eq!(policy.blackout_windows.len(), 3);
}

#[test]
fn targets_up_to_a_year_are_accepted_and_written_back_as_text() {
    let mut doc = example_value();
    // 366 days of business time, exactly the limit.
    set(&mut doc, "/sla/definitions/5/target", json!("8784h"));
    set(&mut doc, "/sla/definitions/6/target", json!("1h30m"));
    set(&mut doc, "/sla/definitions/7/target", json!("90s"));
    let policy = document::from_value(doc).expect("targets within the limit");
    let targets: Vec<Duration> = policy.sla.definitions[5..8]
        .iter()
        .map(|d| d.target)
        .collect();
    assert_eq!(
        targets,
        [
            Duration::days(366),
            Duration::minutes(90),
            Duration::seconds(90)
        ]
    );
    let written: Value = serde_json::from_str(&document::to_json(&policy)).expect("JSON");
    assert_eq!(written["sla"]["definitions"][6]["target"], json!("1h30m"));
    assert_eq!(written["sla"]["definitions"][7]["target"], json!("1m30s"));
}

#[test]
fn a_toml_syntax_error_names_its_line() {
    let text = example_text("policy.toml");
    let line = text
        .lines()
        .position(|l| l == "quorum = \"majority\"")
        .expect("the CAB quorum line")
        + 1;
    let broken = text.replace("quorum = \"majority\"", "quorum = majority");
    let issues = document::parse(&broken, PolicyFormat::Toml).expect_err("not TOML");
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].path, "");
    assert!(issues[0].message.starts_with("not TOML: "), "{}", issues[0]);
    assert!(
        issues[0].message.ends_with(&format!("(line {line})")),
        "expected line {line}: {}",
        issues[0]
    );
}

#[test]
fn a_json_syntax_error_names_its_line_and_column() {
    let issues =
        document::parse("{\n  \"limits\": {,\n}", PolicyFormat::Json).expect_err("not JSON");
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].path, "");
    assert!(issues[0].message.starts_with("not JSON: "), "{}", issues[0]);
    assert!(
        issues[0].message.contains("(line 2, column 14)"),
        "{}",
        issues[0]
    );
}

#[test]
fn a_json_document_that_is_not_an_object_is_refused() {
    for text in ["[]", "\"policy.toml\"", "42", "null"] {
        let issues = document::parse(text, PolicyFormat::Json).expect_err(text);
        assert_eq!(
            issues,
            [PolicyIssue::new(
                "",
                "a policy document is an object (a table in TOML)"
            )],
            "{text}"
        );
    }
}

#[test]
fn toml_instants_may_be_bare_or_quoted() {
    let text = example_text("policy.toml");
    let bare = "window = { start = 2026-12-18T18:00:00+01:00, end = 2027-01-04T06:00:00+01:00 }";
    assert!(text.contains(bare));
    let quoted = text.replace(
        bare,
        "window = { start = \"2026-12-18T17:00:00Z\", end = \"2027-01-04T05:00:00Z\" }",
    );
    let holidays_quoted = quoted.replace("  2026-01-01, #", "  \"2026-01-01\", #");
    assert_ne!(holidays_quoted, quoted);
    assert_eq!(
        parse_or_panic(&holidays_quoted, PolicyFormat::Toml),
        example()
    );
    // A local date-time (no offset) is not an instant.
    let local = text.replace(
        bare,
        "window = { start = 2026-12-18T18:00:00, end = 2027-01-04T06:00:00+01:00 }",
    );
    let issues = document::parse(&local, PolicyFormat::Toml).expect_err("no offset");
    assert_eq!(issues.len(), 1);
    assert_eq!(
        issues[0].path, "blackout_windows[0].window.start",
        "{}",
        issues[0]
    );
}

// ------------------------------------------------------------------------------------------
// (c) diff
// ------------------------------------------------------------------------------------------

#[test]
fn diff_names_what_changed_by_identity_with_before_and_after() {
    let before = example();
    let mut doc = example_value();
    set(&mut doc, "/sla/definitions/2/target", json!("3h"));
    set(&mut doc, "/approvals/normal/min_approvals", json!(3));
    set(
        &mut doc,
        "/maintenance_windows/0/weekly/end",
        json!("05:00"),
    );
    push(
        &mut doc,
        "/standard_changes",
        json!({"id": "std-dns-record", "name": "Add or change an internal DNS record"}),
    );
    at(&mut doc, "/sla/calendars/1/holidays")
        .as_array_mut()
        .expect("holidays")
        .retain(|d| d != "2026-03-08");
    at(&mut doc, "/blackout_windows")
        .as_array_mut()
        .expect("blackouts")
        .remove(1);
    // Reordering a keyed list is not a change.
    at(&mut doc, "/sla/definitions")
        .as_array_mut()
        .expect("definitions")
        .swap(0, 1);
    let after = document::from_value(doc).expect("the edited example is valid");

    let changes = document::diff(&before, &after);
    let change = |path: &str, before: Option<Value>, after: Option<Value>| PolicyChange {
        path: path.to_owned(),
        before,
        after,
    };
    assert_eq!(
        changes[..5],
        [
            change(
                "approvals.normal.min_approvals",
                Some(json!(2)),
                Some(json!(3))
            ),
            change(
                "blackout_windows[q1-2027-close-erp]",
                Some(json!({
                    "name": "q1-2027-close-erp",
                    "window": {"start": "2027-03-28T22:00:00Z", "end": "2027-04-02T22:00:00Z"},
                    "scope": ["erp-prod-app", "erp-prod-db"]
                })),
                None,
            ),
            change(
                "maintenance_windows[saturday-night-db].weekly.end",
                Some(json!("04:00")),
                Some(json!("05:00")),
            ),
            // Holidays are a list of dates without identity: compared position by position.
            change(
                "sla.calendars[berlin-office v1].holidays[1]",
                Some(json!("2026-03-08")),
                Some(json!("2026-04-03")),
            ),
            change(
                "sla.calendars[berlin-office v1].holidays[2]",
                Some(json!("2026-04-03")),
                Some(json!("2026-04-06")),
            ),
        ],
        "{changes:#?}"
    );
    // The rest of the shifted holidays, then the definition and the new template.
    let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
    let holidays = paths
        .iter()
        .filter(|p| p.starts_with("sla.calendars[berlin-office v1].holidays["))
        .count();
    // 20 holidays became 19: positions 1..=18 shifted, position 19 removed.
    assert_eq!(holidays, 19, "{paths:#?}");
    assert_eq!(
        changes
            .iter()
            .rev()
            .take(2)
            .rev()
            .cloned()
            .collect::<Vec<_>>(),
        [
            change(
                "sla.definitions[p1-resolution v2].target",
                Some(json!("4h")),
                Some(json!("3h")),
            ),
            change(
                "standard_changes[std-dns-record]",
                None,
                Some(
                    json!({"id": "std-dns-record", "name": "Add or change an internal DNS record"})
                ),
            ),
        ]
    );
    assert_eq!(changes.len(), 5 - 2 + holidays + 2, "{paths:#?}");
}

#[test]
fn diff_of_equal_documents_is_empty_whatever_their_versions() {
    let a = example();
    assert!(document::diff(&a, &a).is_empty());
    let mut b = a.clone();
    b.version.0 = 7;
    assert!(document::diff(&a, &b).is_empty());
    // ...and a real change is seen in both directions.
    b.incident.auto_close_after_days = 5;
    let forth = document::diff(&a, &b);
    let back = document::diff(&b, &a);
    assert_eq!(
        forth,
        [PolicyChange {
            path: "incident.auto_close_after_days".into(),
            before: Some(json!(3)),
            after: Some(json!(5)),
        }]
    );
    assert_eq!(back[0].before, forth[0].after);
    assert_eq!(back[0].after, forth[0].before);
}

#[test]
fn diff_names_a_new_definition_version_by_its_key() {
    let before = example();
    let mut after = before.clone();
    let mut v2 = after
        .sla
        .definitions
        .iter()
        .find(|d| d.id.as_str() == "p2-resolution")
        .cloned()
        .expect("p2-resolution");
    v2.version.0 = 2;
    v2.target = Duration::hours(6);
    after.sla.definitions.push(v2);
    let changes = document::diff(&before, &after);
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(changes[0].path, "sla.definitions[p2-resolution v2]");
    assert_eq!(changes[0].before, None);
    let added = changes[0].after.as_ref().expect("added");
    assert_eq!(added["target"], json!("6h"));
    assert_eq!(added["version"], json!(2));
}

// ------------------------------------------------------------------------------------------
// (d) round trip through both notations
// ------------------------------------------------------------------------------------------

/// A variation of the example: other targets (sub-second ones included), thresholds, window
/// times, dates and settings.
#[derive(Debug, Clone)]
struct Variation {
    target_secs: i64,
    target_nanos: u32,
    thresholds: std::collections::BTreeSet<u8>,
    weekly_start_secs: u32,
    weekly_len_secs: u32,
    days: std::collections::BTreeSet<u8>,
    freeze_start: i64,
    freeze_len: i64,
    auto_close_after_days: u32,
    holiday_offset_days: u64,
    closure_start_secs: u32,
    scope_all: bool,
}

fn variation() -> impl Strategy<Value = Variation> {
    let max_target = opsledger_core::sla::MAX_TARGET.num_seconds();
    (
        (
            1i64..=max_target,
            prop_oneof![Just(0u32), 0u32..1_000_000_000],
        ),
        proptest::collection::btree_set(1u8..=99, 0..5),
        (
            0u32..86_400,
            60u32..86_400,
            proptest::collection::btree_set(0u8..7, 1..7),
        ),
        // 2024 to 2036, up to a month long, to the second.
        (1_704_067_200i64..2_082_758_400, 1i64..2_678_400),
        (0u32..=30, 0u64..3_650),
        (0u32..86_000, any::<bool>()),
    )
        .prop_map(
            |(
                (target_secs, target_nanos),
                thresholds,
                (weekly_start_secs, weekly_len_secs, days),
                (freeze_start, freeze_len),
                (auto_close_after_days, holiday_offset_days),
                (closure_start_secs, scope_all),
            )| Variation {
                target_secs,
                target_nanos,
                thresholds,
                weekly_start_secs,
                weekly_len_secs,
                days,
                freeze_start,
                freeze_len,
                auto_close_after_days,
                holiday_offset_days,
                closure_start_secs,
                scope_all,
            },
        )
}

fn apply(base: &Policy, v: &Variation) -> Policy {
    use opsledger_core::calendar::{BusinessCalendar, ClockInterval, ClockTime};
    use opsledger_core::sla::Percent;
    use opsledger_core::window::Day;

    let mut p = base.clone();
    let target = Duration::new(v.target_secs, v.target_nanos).expect("in range");
    let target = target.min(opsledger_core::sla::MAX_TARGET);
    p.sla.definitions[3].target = target;
    p.sla.definitions[3].thresholds = v.thresholds.iter().copied().map(Percent).collect();

    let days = [
        Day::Monday,
        Day::Tuesday,
        Day::Wednesday,
        Day::Thursday,
        Day::Friday,
        Day::Saturday,
        Day::Sunday,
    ];
    // The Americas window moves anywhere in the week: the Sunday-morning window is narrowed
    // to other CIs so that the two never share one.
    p.maintenance_windows[1].scope = CiScope::Only(vec!["app-emea-01".into()]);
    let weekly = p.maintenance_windows[2]
        .weekly
        .as_mut()
        .expect("a weekly window");
    let start = v.weekly_start_secs;
    let end = (start + v.weekly_len_secs) % 86_400;
    let clock = |s: u32| ClockTime::from_hms(s / 3600, s / 60 % 60, s % 60).expect("a time");
    weekly.start = clock(start);
    weekly.end = clock(end);
    weekly.days = v.days.iter().map(|d| days[usize::from(*d)]).collect();

    let freeze = TimeWindow::new(
        DateTime::from_timestamp(v.freeze_start, 0).expect("an instant"),
        DateTime::from_timestamp(v.freeze_start + v.freeze_len, 0).expect("an instant"),
    );
    p.blackout_windows[1].window = Some(freeze);
    if v.scope_all {
        p.blackout_windows.remove(0);
        p.blackout_windows[0].scope = CiScope::All;
    }

    p.incident.auto_close_after_days = v.auto_close_after_days;

    let mut spec = p.sla.calendars[2].spec().clone();
    let holiday = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
        .expect("a date")
        .checked_add_days(chrono::Days::new(v.holiday_offset_days))
        .expect("a date");
    spec.holidays.insert(holiday);
    let closure = ClockInterval::new(clock(v.closure_start_secs), ClockTime::END_OF_DAY)
        .expect("an interval");
    spec.closures.insert(holiday, vec![closure]);
    p.sla.calendars[2] = BusinessCalendar::new(spec).expect("a calendar");
    p
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn written_documents_read_back_equal(v in variation()) {
        let policy = apply(&example(), &v);
        // A random freeze may overlap the year-end one; such documents are refused on
        // purpose, and the round trip is about the ones that are accepted.
        prop_assume!(policy.issues().is_empty());
        let toml_text = document::to_toml(&policy);
        let json_text = document::to_json(&policy);
        let from_toml = document::parse(&toml_text, PolicyFormat::Toml);
        let from_json = document::parse(&json_text, PolicyFormat::Json);
        prop_assert_eq!(from_toml.as_ref(), Ok(&policy), "TOML:\n{}", toml_text);
        prop_assert_eq!(from_json.as_ref(), Ok(&policy), "JSON:\n{}", json_text);
        prop_assert_eq!(PolicyFormat::sniff(&toml_text), PolicyFormat::Toml);
        prop_assert_eq!(PolicyFormat::sniff(&json_text), PolicyFormat::Json);
        prop_assert!(document::diff(&policy, &from_toml.unwrap_or_default()).is_empty());
    }
}

#[test]
fn the_written_example_reads_back_equal() {
    let policy = example();
    for (text, format) in [
        (document::to_toml(&policy), PolicyFormat::Toml),
        (document::to_json(&policy), PolicyFormat::Json),
    ] {
        assert_eq!(parse_or_panic(&text, format), policy, "{text}");
    }
}

// ------------------------------------------------------------------------------------------
// (e) weekly windows across clock changes
// ------------------------------------------------------------------------------------------

fn window(name: &str) -> NamedWindow {
    example()
        .maintenance_windows
        .into_iter()
        .find(|w| w.name == name)
        .unwrap_or_else(|| panic!("no window {name}"))
}

fn occurrences(w: &NamedWindow, from: &str, to: &str) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    w.occurrences(&TimeWindow::new(utc(from), utc(to)))
        .into_iter()
        .map(|o| (o.start, o.end))
        .collect()
}

#[test]
fn saturday_night_window_follows_berlin_spring_forward() {
    // Europe/Berlin moves from CET (UTC+1) to CEST (UTC+2) at 02:00 on Sunday 29 March 2026:
    // the night of the change is an hour shorter.
    let w = window("saturday-night-db");
    assert_eq!(
        occurrences(&w, "2026-03-21T00:00:00Z", "2026-04-05T00:00:00Z"),
        [
            // Sat 21 22:00 CET -> Sun 22 04:00 CET: 6 h.
            (utc("2026-03-21T21:00:00Z"), utc("2026-03-22T03:00:00Z")),
            // Sat 28 22:00 CET -> Sun 29 04:00 CEST: 5 h.
            (utc("2026-03-28T21:00:00Z"), utc("2026-03-29T02:00:00Z")),
            // Sat 4 April 22:00 CEST -> Sun 5 04:00 CEST: 6 h, an hour earlier in UTC. It
            // starts before the range ends, so it is listed.
            (utc("2026-04-04T20:00:00Z"), utc("2026-04-05T02:00:00Z")),
        ]
    );
}

#[test]
fn saturday_night_window_follows_berlin_fall_back() {
    // CEST -> CET at 03:00 on Sunday 25 October 2026: the night is an hour longer.
    let w = window("saturday-night-db");
    assert_eq!(
        occurrences(&w, "2026-10-17T00:00:00Z", "2026-11-01T00:00:00Z"),
        [
            (utc("2026-10-17T20:00:00Z"), utc("2026-10-18T02:00:00Z")),
            // Sat 24 22:00 CEST -> Sun 25 04:00 CET: 7 h.
            (utc("2026-10-24T20:00:00Z"), utc("2026-10-25T03:00:00Z")),
            (utc("2026-10-31T21:00:00Z"), utc("2026-11-01T03:00:00Z")),
        ]
    );
}

#[test]
fn occurrences_overlapping_the_range_edges_are_included_and_no_others() {
    let w = window("saturday-night-db");
    // A range that starts in the middle of the 28 March night and ends in the middle of the
    // 4 April one sees both, and nothing else.
    assert_eq!(
        occurrences(&w, "2026-03-29T01:00:00Z", "2026-04-04T21:00:00Z"),
        [
            (utc("2026-03-28T21:00:00Z"), utc("2026-03-29T02:00:00Z")),
            (utc("2026-04-04T20:00:00Z"), utc("2026-04-05T02:00:00Z")),
        ]
    );
    // Half-open: a range that starts when an occurrence ends does not see it.
    assert!(occurrences(&w, "2026-03-29T02:00:00Z", "2026-04-04T20:00:00Z").is_empty());
}

#[test]
fn sunday_evening_new_york_window_follows_the_us_clock_change() {
    // America/New_York moves to EDT on 8 March 2026, two weeks before Berlin moves.
    let w = window("sunday-evening-americas");
    assert_eq!(
        occurrences(&w, "2026-03-01T00:00:00Z", "2026-03-10T00:00:00Z"),
        [
            // Sun 1 March 20:00-24:00 EST (UTC-5).
            (utc("2026-03-02T01:00:00Z"), utc("2026-03-02T05:00:00Z")),
            // Sun 8 March 20:00-24:00 EDT (UTC-4).
            (utc("2026-03-09T00:00:00Z"), utc("2026-03-09T04:00:00Z")),
        ]
    );
}

#[test]
fn weekly_times_inside_a_clock_change_open_at_its_edge() {
    let mut doc = example_value();
    set(
        &mut doc,
        "/maintenance_windows/0/weekly/days",
        json!(["sunday"]),
    );
    set(
        &mut doc,
        "/maintenance_windows/0/weekly/start",
        json!("02:30"),
    );
    set(
        &mut doc,
        "/maintenance_windows/0/weekly/end",
        json!("03:30"),
    );
    let policy = document::from_value(doc).expect("valid");
    let w = &policy.maintenance_windows[0];
    // Spring forward: 02:30 does not exist on 29 March 2026; the window opens at the first
    // instant after the gap (03:00 CEST = 01:00 UTC) and closes at 03:30 CEST.
    assert_eq!(
        occurrences(w, "2026-03-29T00:00:00Z", "2026-03-30T00:00:00Z"),
        [(utc("2026-03-29T01:00:00Z"), utc("2026-03-29T01:30:00Z"))]
    );
    // Fall back: 02:30 happens twice on 25 October 2026; the window opens at the first
    // (02:30 CEST = 00:30 UTC) and closes at 03:30 CET (02:30 UTC): two hours.
    assert_eq!(
        occurrences(w, "2026-10-25T00:00:00Z", "2026-10-26T00:00:00Z"),
        [(utc("2026-10-25T00:30:00Z"), utc("2026-10-25T02:30:00Z"))]
    );
}

#[test]
fn a_section_left_out_takes_its_default() {
    let mut value = example_value();
    let object = value.as_object_mut().expect("an object");
    for key in ["approvals", "limits", "priority_matrix", "blackout_windows"] {
        object.remove(key);
    }
    let policy = document::from_value(value).expect("valid without those sections");
    let defaults = Policy::default();
    assert_eq!(policy.approvals, defaults.approvals);
    assert_eq!(policy.limits, defaults.limits);
    assert_eq!(policy.priority_matrix, defaults.priority_matrix);
    assert!(policy.blackout_windows.is_empty());
    assert!(
        !policy.sla.definitions.is_empty(),
        "the sections given are kept"
    );
}

#[test]
fn a_key_given_twice_in_a_json_object_is_refused() {
    let text = r#"{"incident": {"auto_close_after_days": 3, "auto_close_after_days": 4}}"#;
    let issues = document::parse(text, PolicyFormat::Json).unwrap_err();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert!(issues[0].path.starts_with("incident"), "{issues:?}");
    assert!(
        issues[0]
            .message
            .contains("duplicate field `auto_close_after_days`"),
        "{issues:?}"
    );
    // JSON text is read as JSON whatever format the caller guessed.
    let issues = document::parse(text, PolicyFormat::Toml).unwrap_err();
    assert!(issues[0].message.contains("duplicate field"), "{issues:?}");
}

#[test]
fn weekly_windows_expand_without_panicking_at_the_ends_of_time() {
    let policy = example();
    let ends = [
        (
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MIN_UTC + Duration::days(30),
        ),
        (
            DateTime::<Utc>::MAX_UTC - Duration::days(30),
            DateTime::<Utc>::MAX_UTC,
        ),
    ];
    for (start, end) in ends {
        for w in policy
            .maintenance_windows
            .iter()
            .chain(&policy.blackout_windows)
        {
            // Far instants may have no occurrence; they must not panic.
            let _ = w.occurrences(&TimeWindow::new(start, end));
        }
    }
}
