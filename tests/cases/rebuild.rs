//! Rebuild equals incremental, and as-of equals replay, over random command sequences
//! (property test), on the in-memory engine; plus one fixed sequence on sled.

use crate::support::*;
use chrono::Duration;
use opsledger::core::change::ChangeCommand;
use opsledger::core::incident::{CancelReason, HoldReason, IncidentCommand};
use opsledger::core::problem::ProblemCommand;
use opsledger::core::{Actor, ChangeId, ProblemId};
use opsledger::{Command, Engine, RecordRef, RecordStatus};
use proptest::prelude::*;

#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// The natural next step of an incident (open, assign, resolve, close).
    Step(u32),
    Open(u32),
    Assign(u32, u8),
    Note(u32),
    Hold(u32),
    HoldForProblem(u32, u32),
    Resume(u32),
    Resolve(u32),
    Reopen(u32),
    Close(u32),
    Cancel(u32, u32),
    LinkParent(u32, u32),
    Alert(u8),
    Major(u32),
    CreateProblem(u32),
    ProblemStep(u32),
    LinkProblem(u32, u32),
    RequestChange(u32, u8),
    PlanChange(u32, u8),
    ChangeStep(u32),
    ChangeFixes(u32, u32),
    Tick(u8),
}

pub(crate) fn op() -> impl Strategy<Value = Op> {
    let i = 1u32..5;
    let p = 1u32..3;
    let c = 1u32..3;
    prop_oneof![
        6 => i.clone().prop_map(Op::Step),
        2 => i.clone().prop_map(Op::Open),
        2 => (i.clone(), 0u8..3).prop_map(|(a, b)| Op::Assign(a, b)),
        2 => i.clone().prop_map(Op::Note),
        1 => i.clone().prop_map(Op::Hold),
        1 => (i.clone(), p.clone()).prop_map(|(a, b)| Op::HoldForProblem(a, b)),
        1 => i.clone().prop_map(Op::Resume),
        2 => i.clone().prop_map(Op::Resolve),
        1 => i.clone().prop_map(Op::Reopen),
        1 => i.clone().prop_map(Op::Close),
        1 => (i.clone(), i.clone()).prop_map(|(a, b)| Op::Cancel(a, b)),
        1 => (i.clone(), i.clone()).prop_map(|(a, b)| Op::LinkParent(a, b)),
        2 => (0u8..3).prop_map(Op::Alert),
        1 => i.clone().prop_map(Op::Major),
        1 => p.clone().prop_map(Op::CreateProblem),
        2 => p.clone().prop_map(Op::ProblemStep),
        1 => (p.clone(), i.clone()).prop_map(|(a, b)| Op::LinkProblem(a, b)),
        1 => (c.clone(), 0u8..2).prop_map(|(a, b)| Op::RequestChange(a, b)),
        1 => (c.clone(), 0u8..3).prop_map(|(a, b)| Op::PlanChange(a, b)),
        2 => c.clone().prop_map(Op::ChangeStep),
        1 => (c, p).prop_map(|(a, b)| Op::ChangeFixes(a, b)),
        2 => (1u8..30).prop_map(Op::Tick),
    ]
}

fn status(engine: &Engine, record: RecordRef) -> Option<RecordStatus> {
    engine
        .view(None)
        .unwrap()
        .record(record)
        .unwrap()
        .map(|v| v.status)
}

fn problem_step(engine: &Engine, id: ProblemId) -> Vec<(Actor, Command)> {
    use opsledger::core::problem::ProblemStatusKind as S;
    let pm = problem_manager();
    let cmds: Vec<ProblemCommand> = match status(engine, RecordRef::problem(id)) {
        Some(RecordStatus::Problem(S::New)) => vec![
            ProblemCommand::Assign {
                id,
                group: "pm".into(),
                assignee: Some("pat".into()),
            },
            ProblemCommand::Assess { id },
        ],
        Some(RecordStatus::Problem(S::Assess)) => vec![ProblemCommand::StartAnalysis { id }],
        Some(RecordStatus::Problem(S::RootCauseAnalysis)) => vec![
            ProblemCommand::RecordRootCause {
                id,
                cause: "cause".into(),
            },
            ProblemCommand::MarkKnownError {
                id,
                symptom: "slow pages".into(),
                root_cause: "cause".into(),
                workaround: None,
                affected_cis: ["db-01".into()].into_iter().collect(),
            },
            ProblemCommand::StartFix {
                id,
                fix_notes: "fix".into(),
            },
        ],
        Some(RecordStatus::Problem(S::FixInProgress)) => {
            vec![ProblemCommand::ResolveFixed {
                id,
                notes: "fixed".into(),
            }]
        }
        Some(RecordStatus::Problem(S::Resolved)) => vec![ProblemCommand::Close { id }],
        _ => vec![],
    };
    cmds.into_iter()
        .map(|c| (pm.clone(), Command::Problem(c)))
        .collect()
}

fn change_step(engine: &Engine, id: ChangeId) -> Vec<(Actor, Command)> {
    use opsledger::core::change::ChangeStatusKind as S;
    let chm = change_manager();
    let cmd = match status(engine, RecordRef::change(id)) {
        Some(RecordStatus::Change(S::New)) => (
            chm,
            ChangeCommand::Submit {
                id,
                calendar: vec![],
                ci_relations: vec![],
                accept_conflicts: None,
            },
        ),
        Some(RecordStatus::Change(S::Assess)) => (chm, ChangeCommand::RequestAuthorization { id }),
        Some(RecordStatus::Change(S::Authorize)) => (cab("cora"), approve(id)),
        Some(RecordStatus::Change(S::Scheduled)) => {
            (chm, ChangeCommand::StartImplementation { id })
        }
        Some(RecordStatus::Change(S::Implement)) => {
            (chm, ChangeCommand::CompleteImplementation { id })
        }
        Some(RecordStatus::Change(S::Review)) => (
            chm,
            ChangeCommand::Close {
                id,
                code: opsledger::core::change::CloseCode::Successful,
                notes: "ok".into(),
            },
        ),
        _ => return vec![],
    };
    vec![(cmd.0, Command::Change(cmd.1))]
}

pub(crate) fn commands(engine: &Engine, op: &Op) -> Vec<(Actor, Command)> {
    let a = agent();
    let one = |c: IncidentCommand| vec![(a.clone(), Command::Incident(c))];
    match op {
        Op::Step(i) => {
            use opsledger::core::incident::IncidentStatusKind as S;
            match status(engine, RecordRef::incident(inc(*i))) {
                None => one(open_incident(inc(*i), "x")),
                Some(RecordStatus::Incident(S::New)) => one(assign(inc(*i), "ops", "alice")),
                Some(RecordStatus::Incident(S::InProgress | S::OnHold)) => {
                    one(resolve(inc(*i), "done"))
                }
                Some(RecordStatus::Incident(S::Resolved)) => one(close(inc(*i))),
                _ => vec![],
            }
        }
        Op::Open(i) => one(open_incident(inc(*i), "x")),
        Op::Assign(i, who) => one(assign(
            inc(*i),
            ["ops", "dba", "net"][*who as usize],
            ["alice", "bob", "carl"][*who as usize],
        )),
        Op::Note(i) => one(note(inc(*i), "note")),
        Op::Hold(i) => one(IncidentCommand::PutOnHold {
            id: inc(*i),
            reason: HoldReason::AwaitingCaller,
        }),
        Op::HoldForProblem(i, p) => one(await_problem(inc(*i), prb(*p))),
        Op::Resume(i) => one(IncidentCommand::Resume { id: inc(*i) }),
        Op::Resolve(i) => one(resolve(inc(*i), "fixed")),
        Op::Reopen(i) => one(IncidentCommand::Reopen {
            id: inc(*i),
            reason: "again".into(),
        }),
        Op::Close(i) => one(close(inc(*i))),
        Op::Cancel(i, of) => one(IncidentCommand::Cancel {
            id: inc(*i),
            reason: CancelReason::Duplicate { of: inc(*of) },
        }),
        Op::LinkParent(i, p) => one(IncidentCommand::LinkParent {
            id: inc(*i),
            parent: inc(*p),
        }),
        Op::Alert(k) => vec![(monitor(), Command::Alert(alert(&format!("key-{k}"), None)))],
        Op::Major(i) => vec![
            (
                a.clone(),
                Command::Incident(IncidentCommand::ProposeMajor {
                    id: inc(*i),
                    reason: "big".into(),
                }),
            ),
            (
                manager(),
                Command::Incident(IncidentCommand::AcceptMajor { id: inc(*i) }),
            ),
        ],
        Op::CreateProblem(p) => vec![(
            problem_manager(),
            Command::Problem(create_problem(prb(*p), "p")),
        )],
        Op::ProblemStep(p) => problem_step(engine, prb(*p)),
        Op::LinkProblem(p, i) => vec![(
            problem_manager(),
            Command::Problem(ProblemCommand::LinkIncident {
                id: prb(*p),
                incident: inc(*i),
            }),
        )],
        Op::RequestChange(c, ci) => vec![(
            change_manager(),
            Command::Change(request_change(
                chg(*c),
                "c",
                ["db-01", "web-01"][*ci as usize],
            )),
        )],
        Op::PlanChange(c, slot) => {
            let start = 30 + i64::from(*slot) * 45;
            vec![(
                change_manager(),
                Command::Change(plan(chg(*c), window(start, start + 60))),
            )]
        }
        Op::ChangeStep(c) => change_step(engine, chg(*c)),
        Op::ChangeFixes(c, p) => vec![(
            change_manager(),
            Command::Change(ChangeCommand::LinkFixesProblem {
                id: chg(*c),
                problem: prb(*p),
            }),
        )],
        Op::Tick(_) => vec![],
    }
}

type Dump = Vec<(Vec<u8>, Vec<u8>)>;

fn run(
    engine: &Engine,
    clock: &std::sync::Arc<opsledger::ManualClock>,
    ops: &[Op],
) -> Vec<(chrono::DateTime<chrono::Utc>, Dump)> {
    let mut captured = Vec::new();
    for op in ops {
        if let Op::Tick(m) = op {
            captured.push((clock.now_at(), engine.view(None).unwrap().dump().unwrap()));
            clock.advance(Duration::minutes(i64::from(*m)));
            continue;
        }
        for (actor, command) in commands(engine, op) {
            let _ = try_exec(engine, &actor, command);
        }
    }
    captured
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, max_shrink_iters: 200, .. ProptestConfig::default() })]

    #[test]
    fn rebuild_equals_incremental_and_as_of_equals_replay(ops in prop::collection::vec(op(), 1..100)) {
        let (engine, clock) = memory_engine();
        let captured = run(&engine, &clock, &ops);
        let incremental = engine.view(None).unwrap().dump().unwrap();
        engine.rebuild_views().unwrap();
        prop_assert_eq!(&engine.view(None).unwrap().dump().unwrap(), &incremental);
        for (at, dump) in captured {
            prop_assert_eq!(&engine.view(Some(at)).unwrap().dump().unwrap(), &dump);
        }
        prop_assert_eq!(&engine.view(Some(clock.now_at())).unwrap().dump().unwrap(), &incremental);
    }
}

#[test]
fn rebuild_equals_incremental_on_sled() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let engine = disk_engine(dir.path(), &clock, 1);
    let ops: Vec<Op> = (1..=5)
        .flat_map(|i| {
            vec![
                Op::Open(i),
                Op::Assign(i, (i % 3) as u8),
                Op::Note(i),
                Op::Tick(1),
            ]
        })
        .chain([
            Op::LinkParent(2, 1),
            Op::LinkParent(3, 1),
            Op::Alert(0),
            Op::Alert(0),
            Op::CreateProblem(1),
            Op::ProblemStep(1),
            Op::ProblemStep(1),
            Op::ProblemStep(1),
            Op::HoldForProblem(4, 1),
            Op::RequestChange(1, 0),
            Op::PlanChange(1, 0),
            Op::ChangeStep(1),
            Op::ChangeStep(1),
            Op::ChangeStep(1),
            Op::ChangeFixes(1, 1),
            Op::Resolve(1),
            Op::ProblemStep(1),
            Op::Tick(5),
        ])
        .collect();
    let captured = run(&engine, &clock, &ops);
    let incremental = engine.view(None).unwrap().dump().unwrap();
    engine.rebuild_views().unwrap();
    assert_eq!(engine.view(None).unwrap().dump().unwrap(), incremental);
    for (at, dump) in captured {
        assert_eq!(engine.view(Some(at)).unwrap().dump().unwrap(), dump);
    }
}

/// A 24x7 response (20 min) and resolution (2 h) SLA for every incident.
pub(crate) fn sla_config(
    clock: &std::sync::Arc<opsledger::ManualClock>,
) -> opsledger::EngineConfig {
    use opsledger::core::calendar::BusinessCalendar;
    use opsledger::core::sla::{
        CalendarRef, SlaDefinition, SlaKey, SlaMetric, SlaPolicy, SlaScope,
    };
    use opsledger::core::{Policy, RecordKind};
    let definition = |id: &str, metric, minutes| {
        SlaDefinition::new(
            SlaKey::new(id, 1),
            id,
            SlaScope::all(RecordKind::Incident),
            metric,
            Duration::minutes(minutes),
            CalendarRef::exact("24x7", 1),
        )
    };
    config(clock, 1).with_policy(Policy {
        sla: SlaPolicy::new(
            vec![
                definition("response", SlaMetric::Response, 20),
                definition("resolution", SlaMetric::Resolution, 120),
            ],
            vec![BusinessCalendar::always()],
        ),
        ..Policy::default()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 200, .. ProptestConfig::default() })]

    /// The live view's KPIs come from the KPI read model; an as-of view's from a replay of the
    /// log. At the same instant, over the same log, they must agree in every grouping, and a
    /// rebuild of the read models must not change them.
    #[test]
    fn kpis_from_the_read_model_equal_kpis_by_replay(ops in prop::collection::vec(op(), 1..80)) {
        use opsledger::core::kpi::{GroupBy, KpiQuery};
        use opsledger::core::window::TimeWindow;
        let clock = clock();
        let engine = Engine::in_memory(sla_config(&clock)).unwrap();
        for op in &ops {
            if let Op::Tick(m) = op {
                clock.advance(Duration::minutes(i64::from(*m) * 3));
                engine.tick(clock.now_at()).unwrap();
                continue;
            }
            for (actor, command) in commands(&engine, op) {
                let _ = try_exec(&engine, &actor, command);
            }
        }
        let now = clock.now_at();
        for group_by in [GroupBy::None, GroupBy::Priority, GroupBy::Group, GroupBy::Service] {
            let mut query = KpiQuery::new(TimeWindow::new(t(-60), now + Duration::minutes(1)))
                .as_of(now);
            query.group_by = group_by;
            let live = engine.view(None).unwrap().kpis(&query).unwrap();
            let replayed = engine.view(Some(now)).unwrap().kpis(&query).unwrap();
            prop_assert_eq!(&live, &replayed);
            engine.rebuild_views().unwrap();
            prop_assert_eq!(&engine.view(None).unwrap().kpis(&query).unwrap(), &live);
        }
    }
}

#[test]
fn kpis_from_the_read_model_count_finished_and_running_clocks() {
    use opsledger::core::kpi::KpiQuery;
    use opsledger::core::window::TimeWindow;
    let clock = clock();
    let engine = Engine::in_memory(sla_config(&clock)).unwrap();
    // Given three incidents: one resolved in time (both clocks finished, a stored outcome),
    // one assigned in time and left open (response met, resolution running), and one left
    // unanswered past its response target (breached while running, evaluated at query time),
    for i in 1..=3 {
        exec(&engine, &agent(), open_incident(inc(i), "x"));
    }
    clock.advance(Duration::minutes(10));
    exec(&engine, &agent(), assign(inc(1), "ops", "alice"));
    exec(&engine, &agent(), assign(inc(2), "ops", "bob"));
    exec(&engine, &agent(), resolve(inc(1), "fixed"));
    clock.advance(Duration::minutes(30));
    let now = clock.now_at();
    let query = KpiQuery::new(TimeWindow::new(t(-60), now)).as_of(now);
    // when KPIs are read from the read model and by replay,
    let live = engine.view(None).unwrap().kpis(&query).unwrap();
    let replayed = engine.view(Some(now)).unwrap().kpis(&query).unwrap();
    // then both agree, and count what the clocks say.
    assert_eq!(live, replayed);
    let sla = &live.groups[0].sla;
    let response = sla
        .iter()
        .find(|f| f.metric == opsledger::core::kpi::SlaMetric::Response)
        .unwrap();
    assert_eq!(response.breaches, 1, "{sla:?}");
    assert_eq!(response.breached_running, 1, "{sla:?}");
    assert_eq!(
        (
            response.compliance.numerator,
            response.compliance.denominator
        ),
        (2, 3),
        "{sla:?}"
    );
}

#[test]
fn rebuild_with_progress_reports_each_page_up_to_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let engine = disk_engine(dir.path(), &clock, 2);
    // Enough events for several projector pages (1,000 events each).
    let ops: Vec<Op> = (1..=4)
        .flat_map(|i| std::iter::once(Op::Open(i)).chain((0..300).map(move |_| Op::Note(i))))
        .collect();
    run(&engine, &clock, &ops);
    let head = engine.head().unwrap();
    assert!(head > 1_000, "head {head}");
    let incremental = engine.view(None).unwrap().dump().unwrap();
    let mut calls = Vec::new();
    engine
        .rebuild_views_with(&mut |done, total| calls.push((done, total)))
        .unwrap();
    assert!(calls.len() >= 2, "{calls:?}");
    assert!(calls.windows(2).all(|w| w[0].0 < w[1].0), "{calls:?}");
    assert!(calls.iter().all(|&(_, total)| total == head));
    assert_eq!(calls.last(), Some(&(head, head)));
    assert_eq!(engine.view(None).unwrap().dump().unwrap(), incremental);
    assert_eq!(engine.stats().unwrap().views_checkpoint, head);
}
