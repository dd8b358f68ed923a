//! `detect_conflicts`: hand-written cases for each reason, and a property test against a
//! brute-force reference that walks every hour of the candidate window.

use chrono::{DateTime, Duration, Utc};
use opsledger_core::change::{
    CiLink, CiRelation, Conflict, ScheduleCandidate, ScheduledChange, detect_conflicts,
    detect_conflicts_bounded,
};
use opsledger_core::testing::t0;
use opsledger_core::window::{CiScope, NamedWindow};
use opsledger_core::{ActorId, ChangeId, CiId, Policy, TimeWindow};
use proptest::prelude::*;
use std::collections::BTreeSet;
use uuid::Uuid;

fn h(hours: i64) -> DateTime<Utc> {
    t0() + Duration::hours(hours)
}

fn w(a: i64, b: i64) -> TimeWindow {
    TimeWindow::new(h(a), h(b))
}

fn change(n: u128) -> ChangeId {
    ChangeId::from_uuid(Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0000 + n,
    ))
}

fn ci(name: &str) -> CiId {
    CiId::new(name)
}

fn set(names: &[&str]) -> BTreeSet<CiId> {
    names.iter().map(|n| ci(n)).collect()
}

fn candidate(window: TimeWindow, cis: &[&str], assignee: Option<&str>) -> ScheduleCandidate {
    ScheduleCandidate {
        id: change(0),
        window,
        cis: set(cis),
        assignee: assignee.map(ActorId::new),
        ci_relations: vec![],
    }
}

fn entry(n: u128, window: TimeWindow, cis: &[&str], assignee: Option<&str>) -> ScheduledChange {
    ScheduledChange {
        id: change(n),
        window,
        cis: set(cis),
        assignee: assignee.map(ActorId::new),
    }
}

fn named(name: &str, window: TimeWindow, scope: CiScope) -> NamedWindow {
    NamedWindow::once(name.to_owned(), window, scope)
}

#[test]
fn same_ci_in_an_overlapping_window_conflicts() {
    let found = detect_conflicts(
        &candidate(w(2, 4), &["db"], None),
        &[entry(1, w(3, 5), &["db", "web"], None)],
        &Policy::default(),
    );
    assert_eq!(
        found,
        vec![Conflict::CiAlreadyScheduled {
            ci: ci("db"),
            affected: ci("db"),
            link: CiLink::Affected,
            other: change(1),
            other_window: w(3, 5),
        }]
    );
    assert!(found[0].is_blocking());
}

#[test]
fn adjacent_windows_do_not_overlap() {
    let found = detect_conflicts(
        &candidate(w(2, 4), &["db"], Some("al")),
        &[
            entry(1, w(4, 6), &["db"], Some("al")),
            entry(2, w(0, 2), &["db"], Some("al")),
        ],
        &Policy::default(),
    );
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn a_ci_without_maintenance_windows_is_unconstrained() {
    let policy = Policy {
        maintenance_windows: vec![named("web-sunday", w(0, 1), CiScope::Only(vec![ci("web")]))],
        ..Policy::default()
    };
    let found = detect_conflicts(&candidate(w(2, 4), &["db"], None), &[], &policy);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn adjacent_maintenance_windows_join() {
    let policy = Policy {
        maintenance_windows: vec![
            named("a", w(0, 3), CiScope::All),
            named("b", w(3, 6), CiScope::Only(vec![ci("db")])),
        ],
        ..Policy::default()
    };
    assert!(detect_conflicts(&candidate(w(2, 5), &["db"], None), &[], &policy).is_empty());
    assert_eq!(
        detect_conflicts(&candidate(w(2, 5), &["web"], None), &[], &policy),
        vec![Conflict::OutsideMaintenanceWindow {
            ci: ci("web"),
            affected: ci("web"),
            link: CiLink::Affected,
        }]
    );
}

#[test]
fn a_gap_between_maintenance_windows_is_outside() {
    let policy = Policy {
        maintenance_windows: vec![
            named("a", w(0, 3), CiScope::All),
            named("b", w(4, 6), CiScope::All),
        ],
        ..Policy::default()
    };
    let found = detect_conflicts(&candidate(w(2, 5), &["db"], None), &[], &policy);
    assert_eq!(found.len(), 1);
    assert!(!found[0].is_blocking());
}

#[test]
fn overlapping_a_blackout_conflicts_per_blackout() {
    let policy = Policy {
        blackout_windows: vec![
            named("year-end", w(3, 10), CiScope::All),
            named("db-freeze", w(0, 3), CiScope::Only(vec![ci("db")])),
            named("web-freeze", w(0, 10), CiScope::Only(vec![ci("web")])),
        ],
        ..Policy::default()
    };
    let found = detect_conflicts(&candidate(w(2, 4), &["db"], None), &[], &policy);
    let names: Vec<&str> = found
        .iter()
        .map(|c| match c {
            Conflict::InsideBlackout { blackout, .. } => blackout.as_str(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(names, vec!["db-freeze", "year-end"]);
}

#[test]
fn a_double_booked_assignee_is_a_warning() {
    let found = detect_conflicts(
        &candidate(w(2, 4), &[], Some("al")),
        &[
            entry(1, w(1, 3), &["other"], Some("al")),
            entry(2, w(1, 3), &[], Some("bo")),
        ],
        &Policy::default(),
    );
    assert_eq!(
        found,
        vec![Conflict::AssigneeDoubleBooked {
            assignee: ActorId::new("al"),
            other: change(1),
            other_window: w(1, 3),
        }]
    );
    assert!(!found[0].is_blocking());
}

#[test]
fn parents_and_children_are_checked_one_level_deep() {
    let mut cand = candidate(w(2, 4), &["vm"], None);
    cand.ci_relations = vec![
        CiRelation {
            parent: ci("host"),
            child: ci("vm"),
        },
        CiRelation {
            parent: ci("rack"),
            child: ci("host"),
        },
        CiRelation {
            parent: ci("vm"),
            child: ci("app"),
        },
        CiRelation {
            parent: ci("vm"),
            child: ci("vm"),
        },
    ];
    let policy = Policy {
        blackout_windows: vec![named(
            "host-firmware",
            w(0, 10),
            CiScope::Only(vec![ci("host")]),
        )],
        maintenance_windows: vec![named("app-window", w(5, 6), CiScope::Only(vec![ci("app")]))],
        ..Policy::default()
    };
    let found = detect_conflicts(
        &cand,
        &[
            entry(1, w(3, 4), &["app"], None),
            entry(2, w(3, 4), &["rack"], None),
        ],
        &policy,
    );
    assert_eq!(
        found,
        vec![
            Conflict::CiAlreadyScheduled {
                ci: ci("app"),
                affected: ci("vm"),
                link: CiLink::Child,
                other: change(1),
                other_window: w(3, 4),
            },
            Conflict::OutsideMaintenanceWindow {
                ci: ci("app"),
                affected: ci("vm"),
                link: CiLink::Child,
            },
            Conflict::InsideBlackout {
                ci: ci("host"),
                affected: ci("vm"),
                link: CiLink::Parent,
                blackout: "host-firmware".to_owned(),
            },
        ],
        "rack is two levels up and is not checked"
    );
}

#[test]
fn the_candidate_itself_and_empty_windows_conflict_with_nothing() {
    let policy = Policy {
        blackout_windows: vec![named("inverted", w(5, 1), CiScope::All)],
        maintenance_windows: vec![named("empty", w(3, 3), CiScope::All)],
        ..Policy::default()
    };
    let found = detect_conflicts(
        &candidate(w(2, 4), &["db"], Some("al")),
        &[
            entry(0, w(2, 4), &["db"], Some("al")),
            entry(1, w(6, 1), &["db"], Some("al")),
        ],
        &policy,
    );
    assert!(found.is_empty(), "{found:?}");
    let inverted = detect_conflicts(
        &candidate(w(4, 2), &["db"], None),
        &[entry(1, w(0, 9), &["db"], None)],
        &policy,
    );
    assert!(inverted.is_empty());
}

// ---------------------------------------------------------------- against a brute force

const CIS: [&str; 4] = ["a", "b", "c", "d"];
const PEOPLE: [&str; 2] = ["al", "bo"];

fn arb_window() -> impl Strategy<Value = TimeWindow> {
    // Hours 0..12, including empty and inverted windows.
    (0i64..12, 0i64..12).prop_map(|(a, b)| w(a, b))
}

fn arb_cis() -> impl Strategy<Value = BTreeSet<CiId>> {
    proptest::sample::subsequence(CIS.to_vec(), 0..=CIS.len())
        .prop_map(|names| names.into_iter().map(ci).collect())
}

fn arb_assignee() -> impl Strategy<Value = Option<ActorId>> {
    proptest::option::of(proptest::sample::select(PEOPLE.to_vec()).prop_map(ActorId::new))
}

fn arb_scope() -> impl Strategy<Value = CiScope> {
    prop_oneof![
        1 => Just(CiScope::All),
        3 => proptest::sample::subsequence(CIS.to_vec(), 0..=2)
            .prop_map(|names| CiScope::Only(names.into_iter().map(ci).collect())),
    ]
}

fn arb_named() -> impl Strategy<Value = NamedWindow> {
    (
        proptest::sample::select(vec!["x", "y"]),
        arb_window(),
        arb_scope(),
    )
        .prop_map(|(name, window, scope)| NamedWindow::once(name.to_owned(), window, scope))
}

fn arb_relation() -> impl Strategy<Value = CiRelation> {
    (
        proptest::sample::select(CIS.to_vec()),
        proptest::sample::select(CIS.to_vec()),
    )
        .prop_map(|(p, c)| CiRelation {
            parent: ci(p),
            child: ci(c),
        })
}

fn arb_candidate() -> impl Strategy<Value = ScheduleCandidate> {
    (
        arb_window(),
        arb_cis(),
        arb_assignee(),
        proptest::collection::vec(arb_relation(), 0..4),
    )
        .prop_map(|(window, cis, assignee, ci_relations)| ScheduleCandidate {
            id: change(0),
            window,
            cis,
            assignee,
            ci_relations,
        })
}

fn arb_scheduled() -> impl Strategy<Value = Vec<ScheduledChange>> {
    proptest::collection::vec(
        (0u128..4, arb_window(), arb_cis(), arb_assignee()).prop_map(
            |(n, window, cis, assignee)| ScheduledChange {
                id: change(n),
                window,
                cis,
                assignee,
            },
        ),
        0..5,
    )
}

fn arb_policy() -> impl Strategy<Value = Policy> {
    (
        proptest::collection::vec(arb_named(), 0..3),
        proptest::collection::vec(arb_named(), 0..3),
    )
        .prop_map(|(maintenance_windows, blackout_windows)| Policy {
            maintenance_windows,
            blackout_windows,
            ..Policy::default()
        })
}

/// The hours (as instants) a window contains; empty for empty or inverted windows.
fn hours(window: &TimeWindow) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut at = window.start;
    while at < window.end {
        out.push(at);
        at += Duration::hours(1);
    }
    out
}

fn share_an_hour(a: &TimeWindow, b: &TimeWindow) -> bool {
    hours(a).iter().any(|x| hours(b).contains(x))
}

/// The same rules as `detect_conflicts`, written the slow and obvious way: every hour of the
/// candidate window is inspected on its own.
fn reference(
    cand: &ScheduleCandidate,
    scheduled: &[ScheduledChange],
    policy: &Policy,
) -> Vec<Conflict> {
    let mut out: Vec<Conflict> = Vec::new();
    let mine = hours(&cand.window);
    for affected in &cand.cis {
        let mut related = vec![(affected.clone(), CiLink::Affected)];
        for r in &cand.ci_relations {
            if r.parent != r.child && &r.child == affected {
                related.push((r.parent.clone(), CiLink::Parent));
            }
            if r.parent != r.child && &r.parent == affected {
                related.push((r.child.clone(), CiLink::Child));
            }
        }
        for (x, link) in related {
            for s in scheduled {
                if s.id != cand.id && s.cis.contains(&x) && share_an_hour(&s.window, &cand.window) {
                    out.push(Conflict::CiAlreadyScheduled {
                        ci: x.clone(),
                        affected: affected.clone(),
                        link,
                        other: s.id,
                        other_window: s.window,
                    });
                }
            }
            let maintenance: Vec<&NamedWindow> = policy
                .maintenance_windows
                .iter()
                .filter(|m| {
                    m.scope.includes(&x)
                        && !hours(&m.window.expect("the model generates one-off windows"))
                            .is_empty()
                })
                .collect();
            let every_hour_covered = mine.iter().all(|hour| {
                maintenance.iter().any(|m| {
                    hours(&m.window.expect("the model generates one-off windows")).contains(hour)
                })
            });
            if !maintenance.is_empty() && !mine.is_empty() && !every_hour_covered {
                out.push(Conflict::OutsideMaintenanceWindow {
                    ci: x.clone(),
                    affected: affected.clone(),
                    link,
                });
            }
            for b in &policy.blackout_windows {
                if b.scope.includes(&x)
                    && share_an_hour(
                        &b.window.expect("the model generates one-off windows"),
                        &cand.window,
                    )
                {
                    out.push(Conflict::InsideBlackout {
                        ci: x.clone(),
                        affected: affected.clone(),
                        link,
                        blackout: b.name.clone(),
                    });
                }
            }
        }
    }
    // A freeze over every CI applies to a change naming none.
    if cand.cis.is_empty() {
        for b in &policy.blackout_windows {
            if b.scope == CiScope::All
                && share_an_hour(
                    &b.window.expect("the model generates one-off windows"),
                    &cand.window,
                )
            {
                out.push(Conflict::InsideGlobalBlackout {
                    blackout: b.name.clone(),
                });
            }
        }
    }
    if let Some(a) = &cand.assignee {
        for s in scheduled {
            if s.id != cand.id
                && s.assignee.as_ref() == Some(a)
                && share_an_hour(&s.window, &cand.window)
            {
                out.push(Conflict::AssigneeDoubleBooked {
                    assignee: a.clone(),
                    other: s.id,
                    other_window: s.window,
                });
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

proptest! {
    #[test]
    fn detect_conflicts_matches_the_brute_force_reference(
        cand in arb_candidate(),
        scheduled in arb_scheduled(),
        policy in arb_policy(),
    ) {
        let found = detect_conflicts(&cand, &scheduled, &policy);
        prop_assert_eq!(&found, &reference(&cand, &scheduled, &policy));
        // Sorted, without duplicates, and deterministic.
        prop_assert!(found.windows(2).all(|p| p[0] < p[1]));
        prop_assert_eq!(&found, &detect_conflicts(&cand, &scheduled, &policy));
        // Calendar order does not matter.
        let mut reversed = scheduled.clone();
        reversed.reverse();
        prop_assert_eq!(&found, &detect_conflicts(&cand, &reversed, &policy));
        // The bounded report lists a prefix of the same list and counts all of it.
        for max in [0, 1, 3, 1000] {
            let report = detect_conflicts_bounded(&cand, &scheduled, &policy, max);
            prop_assert_eq!(report.total, found.len(), "total of the bounded report");
            prop_assert_eq!(
                &report.conflicts[..],
                &found[..found.len().min(max)],
                "the bounded report is the first {} conflicts",
                max
            );
        }
    }
}

#[test]
fn given_a_change_naming_no_ci_when_its_window_overlaps_a_global_freeze_then_it_conflicts() {
    let policy = Policy {
        blackout_windows: vec![
            named("year-end", w(0, 10), CiScope::All),
            named("db-only", w(0, 10), CiScope::Only(vec![ci("a")])),
        ],
        ..Policy::default()
    };
    assert_eq!(
        detect_conflicts(&candidate(w(2, 4), &[], None), &[], &policy),
        vec![Conflict::InsideGlobalBlackout {
            blackout: "year-end".to_owned()
        }]
    );
    // With CIs, the freeze is reported per CI, as before.
    assert_eq!(
        detect_conflicts(&candidate(w(2, 4), &["b"], None), &[], &policy),
        vec![Conflict::InsideBlackout {
            ci: ci("b"),
            affected: ci("b"),
            link: CiLink::Affected,
            blackout: "year-end".to_owned()
        }]
    );
    assert!(
        Conflict::InsideGlobalBlackout {
            blackout: "year-end".to_owned()
        }
        .is_blocking()
    );
}

#[test]
fn given_a_huge_calendar_when_conflicts_are_bounded_then_the_first_ones_and_the_total_are_reported()
{
    // 300 other changes on the same CI, each repeated twice in the calendar (counted once).
    let calendar: Vec<ScheduledChange> = (1..=300u128)
        .flat_map(|n| {
            let e = entry(n, w(0, 10), &["a"], Some("al"));
            [e.clone(), e]
        })
        .collect();
    let cand = candidate(w(2, 4), &["a"], Some("al"));
    let report = detect_conflicts_bounded(&cand, &calendar, &Policy::default(), 100);
    assert_eq!(report.total, 600, "300 CI clashes + 300 double bookings");
    assert_eq!(report.conflicts.len(), 100);
    assert_eq!(report.omitted(), 500);
    assert_eq!(
        report.conflicts,
        detect_conflicts(&cand, &calendar, &Policy::default())[..100]
    );
}
