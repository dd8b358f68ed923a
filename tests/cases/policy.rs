//! Policy as history: versions are events of the `policy` stream; commands are decided under
//! the version in force when they are appended; records keep their SLA pins; as-of views answer
//! under the version in force then; publishing is validated, authorised, idempotent and
//! guarded by an expected version.

use crate::support::*;
use chrono::Duration;
use opsledger::core::calendar::BusinessCalendar;
use opsledger::core::policy::{PolicyVersion, Quorum, StandardChangeTemplate};
use opsledger::core::sla::{CalendarRef, SlaDefinition, SlaKey, SlaMetric, SlaPolicy, SlaScope};
use opsledger::core::{Actor, Impact, Permission, Policy, Priority, RecordKind, Role, Urgency};
use opsledger::{Engine, EngineError, POLICY_STREAM, PublishPolicy, RecordRef};
use proptest::prelude::*;
use std::sync::{Arc, Barrier};

fn admin() -> Actor {
    Actor::new("ada", [Role::Admin])
}

fn publish(engine: &Engine, document: Policy) -> opsledger::PolicyPublished {
    engine
        .publish_policy(&admin(), document, PublishPolicy::default())
        .expect("published")
}

/// A response definition `id` version `version` with `minutes` on a 24x7 calendar.
fn response(id: &str, version: u32, minutes: i64) -> SlaDefinition {
    SlaDefinition::new(
        SlaKey::new(id, version),
        format!("Response ({minutes} min)"),
        SlaScope::all(RecordKind::Incident),
        SlaMetric::Response,
        Duration::minutes(minutes),
        CalendarRef::exact("24x7", 1),
    )
}

fn with_sla(definitions: Vec<SlaDefinition>) -> Policy {
    Policy {
        sla: SlaPolicy::new(definitions, vec![BusinessCalendar::always()]),
        ..Policy::default()
    }
}

fn clocks(engine: &Engine, record: RecordRef) -> Vec<(String, u32, i64)> {
    engine
        .view(None)
        .unwrap()
        .sla(record)
        .unwrap()
        .iter()
        .map(|s| {
            (
                s.definition.id.to_string(),
                s.definition.version.0,
                s.target.num_minutes(),
            )
        })
        .collect()
}

fn head(engine: &Engine) -> u64 {
    engine.head().unwrap()
}

#[test]
fn a_new_log_starts_with_the_default_policy_as_version_1() {
    let (engine, _clock) = memory_engine();
    let history = engine.policy_history();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].version, PolicyVersion(1));
    assert_eq!(history[0].position, 1);
    assert_eq!(history[0].published_by.as_str(), "opsledger");
    assert_eq!(history[0].reason, "initial policy");
    let expected = Policy {
        version: PolicyVersion(1),
        ..Policy::default()
    };
    assert_eq!(*engine.policy(), expected);
    let first = engine.events(1, 1).unwrap();
    assert_eq!(first[0].stream.as_str(), POLICY_STREAM);
    assert_eq!(first[0].event_type, opsledger::POLICY_PUBLISHED);
}

#[test]
fn publishing_puts_sla_clocks_on_the_incidents_opened_after_it() {
    // Given the default policy (no SLA definitions) and an incident opened under it,
    let (engine, _clock) = memory_engine();
    exec(&engine, &agent(), open_incident(inc(1), "before"));
    assert!(clocks(&engine, RecordRef::incident(inc(1))).is_empty());
    // when a policy with a response SLA is published,
    let published = publish(&engine, with_sla(vec![response("response", 1, 30)]));
    assert_eq!(published.version, PolicyVersion(2));
    assert!(published.changed);
    // then a new incident gets a clock and the earlier one still has none.
    exec(&engine, &agent(), open_incident(inc(2), "after"));
    assert_eq!(
        clocks(&engine, RecordRef::incident(inc(2))),
        vec![("response".to_owned(), 1, 30)]
    );
    assert!(clocks(&engine, RecordRef::incident(inc(1))).is_empty());
}

#[test]
fn an_invalid_document_is_refused_with_every_path_and_nothing_is_written() {
    let (engine, _clock) = memory_engine();
    let before = (head(&engine), engine.policy_history().len());
    let mut document = with_sla(vec![response("response", 1, 0)]);
    document.approvals.normal.board = vec!["carl".into(), "cora".into()];
    document.approvals.normal.quorum = Quorum::Majority;
    document.approvals.normal.min_approvals = 3;
    document.standard_changes = vec![
        StandardChangeTemplate {
            id: "restart-web".into(),
            name: "Restart a web node".into(),
        },
        StandardChangeTemplate {
            id: "restart-web-2".into(),
            name: "Restart a web node".into(),
        },
    ];
    let err = engine
        .publish_policy(&admin(), document.clone(), PublishPolicy::default())
        .unwrap_err();
    assert_eq!(err.code(), "invalid_policy");
    let EngineError::InvalidPolicy { issues } = err else {
        panic!("not an invalid policy: {err}");
    };
    let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "approvals.normal.min_approvals",
            "standard_changes[1].name",
            "sla.definitions[0].target",
        ]
    );
    assert_eq!(engine.validate_policy(&document), issues);
    assert_eq!((head(&engine), engine.policy_history().len()), before);
    assert_eq!(engine.policy().version, PolicyVersion(1));
}

#[test]
fn a_published_definition_version_never_changes_content() {
    let (engine, _clock) = memory_engine();
    publish(&engine, with_sla(vec![response("response", 1, 30)]));
    let before = head(&engine);
    // The same key with another target is refused: records may be pinned to it.
    let err = engine
        .publish_policy(
            &admin(),
            with_sla(vec![response("response", 1, 10)]),
            PublishPolicy::default(),
        )
        .unwrap_err();
    let EngineError::InvalidPolicy { issues } = err else {
        panic!("not an invalid policy: {err}");
    };
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].path, "sla.definitions[0]");
    assert!(issues[0].message.contains("new version"), "{}", issues[0]);
    assert_eq!(head(&engine), before);
    // A new version of it is accepted.
    let published = publish(&engine, with_sla(vec![response("response", 2, 10)]));
    assert_eq!(published.version, PolicyVersion(3));
}

#[test]
fn a_policy_change_mid_scenario_leaves_earlier_records_pinned_and_moves_later_ones() {
    let (engine, clock) = memory_engine();
    publish(&engine, with_sla(vec![response("response", 1, 30)]));
    exec(&engine, &agent(), open_incident(inc(1), "under v2"));
    clock.advance(Duration::minutes(5));
    // v3 drops response v1 from the document altogether and brings response v2.
    publish(&engine, with_sla(vec![response("response", 2, 10)]));
    exec(&engine, &agent(), open_incident(inc(2), "under v3"));
    // The first incident still measures against v1 (kept for its pin), the second v2.
    assert_eq!(
        clocks(&engine, RecordRef::incident(inc(1))),
        vec![("response".to_owned(), 1, 30)]
    );
    assert_eq!(
        clocks(&engine, RecordRef::incident(inc(2))),
        vec![("response".to_owned(), 2, 10)]
    );
    // Both survive a rebuild of the read models and are evaluated the same way.
    engine.rebuild_views().unwrap();
    assert_eq!(
        clocks(&engine, RecordRef::incident(inc(1))),
        vec![("response".to_owned(), 1, 30)]
    );
    // A tick past both targets records both breaches against their own pins.
    clock.advance(Duration::minutes(40));
    let report = engine.tick(clock_now(&engine)).unwrap();
    assert_eq!(report.breaches_recorded, 2, "{report:?}");
}

fn clock_now(engine: &Engine) -> chrono::DateTime<chrono::Utc> {
    engine.clock().now()
}

#[test]
fn as_of_views_answer_under_the_policy_then_in_force() {
    let (engine, clock) = memory_engine();
    clock.advance(Duration::minutes(1));
    let before = clock_now(&engine);
    clock.advance(Duration::minutes(1));
    let mut document = with_sla(vec![response("response", 1, 30)]);
    document.incident.auto_close_after_days = 2;
    publish(&engine, document);
    clock.advance(Duration::minutes(1));
    let after = clock_now(&engine);
    let then = engine.view(Some(before)).unwrap().policy();
    assert_eq!(then.version, PolicyVersion(1));
    assert_eq!(then.incident.auto_close_after_days, 7);
    assert!(then.sla.definitions.is_empty());
    let now = engine.view(Some(after)).unwrap().policy();
    assert_eq!(now.version, PolicyVersion(2));
    assert_eq!(now.incident.auto_close_after_days, 2);
    assert_eq!(
        engine.view(None).unwrap().policy().version,
        PolicyVersion(2)
    );
    assert_eq!(
        engine.policy_revision(PolicyVersion(1)).unwrap().version,
        PolicyVersion(1)
    );
    assert!(engine.policy_revision(PolicyVersion(9)).is_none());
}

#[test]
fn publishing_the_current_document_again_writes_nothing() {
    let (engine, _clock) = memory_engine();
    let document = with_sla(vec![response("response", 1, 30)]);
    let first = publish(&engine, document.clone());
    let at = head(&engine);
    let again = publish(&engine, document);
    assert_eq!(again.version, first.version);
    assert!(!again.changed);
    assert_eq!(again.position, None);
    assert_eq!(head(&engine), at);
}

#[test]
fn two_publishes_from_the_same_version_one_wins_one_conflicts() {
    let (engine, _clock) = memory_engine();
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|i| {
            let engine = engine.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut document = Policy::default();
                document.incident.auto_close_after_days = 10 + i;
                barrier.wait();
                engine.publish_policy(
                    &admin(),
                    document,
                    PublishPolicy {
                        expected_version: Some(PolicyVersion(1)),
                        reason: format!("editor {i}"),
                    },
                )
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let won: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    let lost = results.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert_eq!(lost.code(), "conflict");
    assert!(lost.to_string().contains("policy"), "{lost}");
    assert_eq!(engine.policy_history().len(), 2);
}

#[test]
fn publishing_needs_the_permission_and_a_policy_can_grant_it() {
    let (engine, _clock) = memory_engine();
    let before = head(&engine);
    let err = engine
        .publish_policy(&manager(), Policy::default(), PublishPolicy::default())
        .unwrap_err();
    assert_eq!(err.code(), "forbidden");
    assert_eq!(head(&engine), before);
    let mut document = Policy::default();
    document.authorization.grants.insert(
        Permission::PolicyPublish,
        [Role::Manager].into_iter().collect(),
    );
    publish(&engine, document.clone());
    document.incident.auto_close_after_days = 3;
    let by_manager = engine
        .publish_policy(&manager(), document, PublishPolicy::default())
        .unwrap();
    assert_eq!(by_manager.version, PolicyVersion(3));
    assert_eq!(
        engine.policy_history()[2].published_by.as_str(),
        manager().id.as_str()
    );
}

#[test]
fn a_restart_keeps_the_policy_and_a_configured_one_is_published_once() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let engine = disk_engine(dir.path(), &clock, 1);
    publish(&engine, with_sla(vec![response("response", 1, 30)]));
    engine.close().unwrap();
    // Reopened without a policy: the log's is kept.
    let engine = disk_engine(dir.path(), &clock, 2);
    assert_eq!(engine.policy().version, PolicyVersion(2));
    assert_eq!(engine.policy().sla.definitions.len(), 1);
    exec(&engine, &agent(), open_incident(inc(1), "after restart"));
    assert_eq!(clocks(&engine, RecordRef::incident(inc(1))).len(), 1);
    engine.close().unwrap();
    // Reopened with a different configured policy: published as the next version, once.
    let configured = with_sla(vec![response("response", 2, 15)]);
    for seed in [3, 4] {
        let engine = open_on_disk(
            dir.path(),
            config(&clock, seed).with_policy(configured.clone()),
        )
        .unwrap();
        let history = engine.policy_history();
        assert_eq!(history.len(), 3, "seed {seed}");
        assert_eq!(history[2].reason, "configured when the engine opened");
        engine.close().unwrap();
    }
}

#[test]
fn an_invalid_configured_policy_fails_the_open_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut bad = Policy::default();
    bad.limits.max_links = 0;
    let err = open_on_disk(dir.path(), config(&clock, 1).with_policy(bad.clone())).unwrap_err();
    assert_eq!(err.code(), "invalid_policy");
    let engine = disk_engine(dir.path(), &clock, 2);
    assert_eq!(engine.policy_history().len(), 1);
    assert_eq!(
        engine.policy().limits.max_links,
        Policy::default().limits.max_links
    );
}

#[test]
fn diff_lists_the_changed_settings_and_the_open_records_whose_targets_would_move() {
    let (engine, _clock) = memory_engine();
    publish(&engine, with_sla(vec![response("response", 1, 30)]));
    exec(&engine, &agent(), open_incident(inc(1), "open"));
    let before = head(&engine);
    let diff = engine
        .diff_policy(&with_sla(vec![response("response", 2, 60)]))
        .unwrap();
    assert_eq!(diff.from_version, PolicyVersion(2));
    let paths: Vec<&str> = diff.changes.iter().map(|c| c.path.as_str()).collect();
    assert!(paths.contains(&"sla.definitions[response v1]"), "{paths:?}");
    assert!(paths.contains(&"sla.definitions[response v2]"), "{paths:?}");
    assert_eq!(diff.moved_targets.len(), 1, "{diff:?}");
    let moved = &diff.moved_targets[0];
    assert_eq!(moved.number.as_deref(), Some("INC0000001"));
    assert_eq!(moved.metric, SlaMetric::Response);
    let (current, proposed) = (
        moved.current.as_ref().unwrap(),
        moved.proposed.as_ref().unwrap(),
    );
    assert_eq!(
        (current.target.as_str(), proposed.target.as_str()),
        ("30m", "1h")
    );
    assert_eq!(
        proposed.due_at.unwrap() - current.due_at.unwrap(),
        Duration::minutes(30)
    );
    assert_eq!(head(&engine), before, "a diff writes nothing");
    // Equal documents differ in nothing.
    let same = engine.diff_policy(&engine.policy()).unwrap();
    assert!(
        same.changes.is_empty() && same.moved_targets.is_empty(),
        "{same:?}"
    );
}

/// The priority matrix tells which version decided an opening: version `n` maps high impact
/// and high urgency to this priority.
fn marker(n: u32) -> Priority {
    if n.is_multiple_of(2) {
        Priority::Low
    } else {
        Priority::Critical
    }
}

#[test]
fn commands_racing_publishes_are_decided_under_the_version_in_force_when_appended() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let engine = disk_engine(dir.path(), &clock, 1);
    let start = Arc::new(Barrier::new(4));
    let writers: Vec<_> = (0..3u32)
        .map(|w| {
            let engine = engine.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                for i in 0..30u32 {
                    exec(
                        &engine,
                        &agent(),
                        open_incident_full(
                            inc(1_000 * (w + 1) + i),
                            "racing",
                            Impact::High,
                            Urgency::High,
                            "service-desk",
                            "webshop",
                            "web-01",
                        ),
                    );
                }
            })
        })
        .collect();
    start.wait();
    for n in 2..=12u32 {
        let mut document = Policy::default();
        document.priority_matrix.cells[0][0] = marker(n);
        publish(&engine, document);
        // Let some openings land under this version before the next (bounded wait: the
        // writers may be done).
        let at = head(&engine);
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
        while head(&engine) == at && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
    }
    for w in writers {
        w.join().unwrap();
    }
    let history = engine.policy_history();
    let mut checked = 0;
    let mut versions = std::collections::BTreeSet::new();
    for event in engine.events(1, 10_000).unwrap() {
        if event.event_type != "incident.opened" {
            continue;
        }
        let in_force = history
            .iter()
            .rev()
            .find(|r| r.position < event.position.0)
            .unwrap();
        let record = RecordRef::from_stream(event.stream.as_str()).unwrap();
        let view = engine.view(None).unwrap().record(record).unwrap().unwrap();
        let expected = in_force.policy.priority_matrix.cells[0][0];
        assert_eq!(
            view.priority,
            Some(expected),
            "opened at {} under v{}",
            event.position.0,
            in_force.version.0
        );
        checked += 1;
        versions.insert(in_force.version);
    }
    assert_eq!(checked, 90);
    assert!(
        versions.len() > 1,
        "the openings raced the publishes: {versions:?}"
    );
}

#[derive(Debug, Clone)]
enum Op {
    /// Publish a document whose auto-close delay is this, maybe pinned to the model's current
    /// version (`true`) or a stale one (`false`).
    Publish(u32, Option<bool>),
    /// Publish an invalid document.
    Invalid,
    /// Close and reopen.
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u32..4, proptest::option::of(any::<bool>())).prop_map(|(d, e)| Op::Publish(d, e)),
        1 => Just(Op::Invalid),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, max_shrink_iters: 50, .. ProptestConfig::default() })]

    /// Against a model (the list of published delays): versions are dense, a document equal
    /// to the current one or refused writes nothing, a stale expected version conflicts, and
    /// a reopen keeps everything.
    #[test]
    fn the_policy_history_matches_a_model(ops in proptest::collection::vec(op(), 1..12)) {
        let dir = tempfile::tempdir().unwrap();
        let clock = clock();
        let mut seed = 1;
        let mut engine = disk_engine(dir.path(), &clock, seed);
        let mut model: Vec<u32> = vec![Policy::default().incident.auto_close_after_days];
        for op in ops {
            let current = PolicyVersion(model.len() as u32);
            match op {
                Op::Publish(days, expected) => {
                    let mut document = Policy::default();
                    document.incident.auto_close_after_days = days;
                    let expected_version = expected.map(|fresh| {
                        if fresh { current } else { PolicyVersion(current.0 + 1) }
                    });
                    let result = engine.publish_policy(
                        &admin(),
                        document,
                        PublishPolicy { expected_version, reason: String::new() },
                    );
                    if expected == Some(false) {
                        prop_assert_eq!(result.unwrap_err().code(), "conflict");
                    } else if model.last() == Some(&days) {
                        prop_assert!(!result.unwrap().changed);
                    } else {
                        let published = result.unwrap();
                        model.push(days);
                        prop_assert_eq!(published.version, PolicyVersion(model.len() as u32));
                    }
                }
                Op::Invalid => {
                    let mut document = Policy::default();
                    document.limits.max_title_bytes = 0;
                    let result = engine.publish_policy(&admin(), document, PublishPolicy::default());
                    prop_assert_eq!(result.unwrap_err().code(), "invalid_policy");
                }
                Op::Reopen => {
                    engine.close().unwrap();
                    seed += 1;
                    engine = disk_engine(dir.path(), &clock, seed);
                }
            }
            let history = engine.policy_history();
            let delays: Vec<u32> = history.iter().map(|r| r.policy.incident.auto_close_after_days).collect();
            prop_assert_eq!(&delays, &model);
            for (i, r) in history.iter().enumerate() {
                prop_assert_eq!(r.version, PolicyVersion(i as u32 + 1));
            }
        }
    }
}

#[test]
fn a_publish_whose_unit_does_not_commit_leaves_nothing_behind() {
    if test_backend() == "sled" {
        // On sled a publish and its projection are separate writes: the version is stored
        // once appended, whatever the projection does (the next catch-up projects it).
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let faults = opsledger::Faults::new();
    let engine = open_on_disk(
        dir.path(),
        opsledger::EngineConfig {
            faults: faults.clone(),
            ..config(&clock, 1)
        },
    )
    .unwrap();
    let before = (
        head(&engine),
        engine.policy_history().len(),
        engine.policy(),
    );
    faults.fail_next(opsledger::FaultPoint::Projection, 1);
    let err = engine
        .publish_policy(
            &admin(),
            with_sla(vec![response("response", 1, 30)]),
            PublishPolicy::default(),
        )
        .unwrap_err();
    assert_ne!(err.code(), "invalid_policy", "{err}");
    assert_eq!(head(&engine), before.0);
    assert_eq!(engine.policy_history().len(), before.1);
    assert!(
        Arc::ptr_eq(&engine.policy(), &before.2),
        "the book is put back"
    );
    // Commands still run, under the version that is in force.
    exec(
        &engine,
        &agent(),
        open_incident(inc(1), "after the failed publish"),
    );
    assert!(clocks(&engine, RecordRef::incident(inc(1))).is_empty());
    // And the same document publishes as version 2 once the fault is gone.
    let published = publish(&engine, with_sla(vec![response("response", 1, 30)]));
    assert_eq!(published.version, PolicyVersion(2));
}

#[test]
fn concurrent_publishes_cannot_give_one_definition_version_two_contents() {
    let (engine, _clock) = memory_engine();
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = [30, 45]
        .into_iter()
        .map(|minutes| {
            let engine = engine.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                engine.publish_policy(
                    &admin(),
                    with_sla(vec![response("response", 1, minutes)]),
                    PublishPolicy::default(),
                )
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    let refused = results.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert_eq!(refused.code(), "invalid_policy");
    let targets: std::collections::BTreeSet<i64> = engine
        .policy_history()
        .iter()
        .flat_map(|r| r.policy.sla.definitions.clone())
        .map(|d| d.target.num_minutes())
        .collect();
    assert_eq!(targets.len(), 1, "response v1 has one content: {targets:?}");
}

#[test]
fn an_as_of_view_before_the_first_version_answers_with_version_1() {
    // A log written before policy versions were recorded gets version 1 when it is next
    // opened; views of instants before that answer with it, the policy the log was written
    // under as far as the log can tell.
    let (engine, clock) = memory_engine();
    let first = engine.policy_history()[0].published_at;
    let before = first - Duration::days(1);
    clock.advance(Duration::minutes(5));
    publish(&engine, with_sla(vec![response("response", 1, 30)]));
    let view = engine.view(Some(before)).unwrap();
    assert_eq!(view.position(), 0);
    assert_eq!(view.policy().version, PolicyVersion(1));
}

#[test]
fn a_shorter_auto_close_delay_applies_to_incidents_already_resolved() {
    let (engine, clock) = memory_engine();
    exec(
        &engine,
        &agent(),
        open_incident(inc(1), "resolved under 7 days"),
    );
    exec(&engine, &agent(), assign(inc(1), "service-desk", "alice"));
    exec(&engine, &agent(), resolve(inc(1), "restarted the pool"));
    clock.advance(Duration::days(2));
    let report = engine.tick(clock_now(&engine)).unwrap();
    assert!(report.auto_closed.is_empty(), "7 days have not passed");
    let mut document = Policy::default();
    document.incident.auto_close_after_days = 1;
    publish(&engine, document);
    let report = engine.tick(clock_now(&engine)).unwrap();
    assert_eq!(
        report.auto_closed,
        vec![RecordRef::incident(inc(1))],
        "{report:?}"
    );
}

/// `policy.published` version 1 as stored: a log holding it must open and read it back. A
/// change to the policy types that no longer reads it needs an upcaster, not an edit of this
/// file.
#[test]
fn a_stored_policy_version_of_schema_1_reads_back() {
    use opsledger::store::{
        EventStore, ExpectedVersion, MemoryStorage, MemoryStore, NewEvent, StreamId,
    };
    let golden = include_str!("../golden/policy_published_v1.json");
    let clock = clock();
    let engine = Engine::builder()
        .storage(move |config| {
            let store = MemoryStore::new(config)?;
            store.append(
                &StreamId::new(POLICY_STREAM)?,
                ExpectedVersion::NoStream,
                vec![NewEvent {
                    event_id: opsledger::Uuid::from_u128(1),
                    event_type: opsledger::POLICY_PUBLISHED.to_owned(),
                    schema_version: 1,
                    occurred_at: t0(),
                    actor: "ada".to_owned(),
                    correlation_id: None,
                    causation_id: None,
                    payload: golden.as_bytes().to_vec(),
                }],
            )?;
            Ok(Box::new(MemoryStorage::new(store)))
        })
        .config(config(&clock, 1))
        .open()
        .unwrap();
    let history = engine.policy_history();
    assert_eq!(history.len(), 1, "no second version is published at open");
    assert_eq!(history[0].published_by.as_str(), "ada");
    let example = opsledger::core::policy::document::parse(
        include_str!("../../examples/policy/policy.toml"),
        opsledger::core::policy::document::PolicyFormat::Toml,
    )
    .unwrap();
    let read = (*history[0].policy).clone();
    // The stored document predates settings and grants added since: it reads back as the
    // example did then, every newer setting taking its default and the grants as stored.
    let mut then = Policy {
        version: PolicyVersion(1),
        ..example
    };
    then.incident.resume_on_caller_comment = true;
    then.incident.caller_reject_days = Policy::default().incident.caller_reject_days;
    then.incident.child_sync = Policy::default().incident.child_sync;
    {
        use opsledger::core::{Permission, Role};
        let grants = &mut then.authorization.grants;
        grants.remove(&Permission::IncidentComment);
        grants.remove(&Permission::WebhookManage);
        for permission in [Permission::IncidentClose, Permission::IncidentReopen] {
            if let Some(roles) = grants.get_mut(&permission) {
                roles.remove(&Role::Caller);
            }
        }
        if let Some(roles) = grants.get_mut(&Permission::IncidentCancel) {
            roles.remove(&Role::System);
        }
    }
    assert_eq!(read, then);
    // Such a log keeps its grants until a new version is published: the engine does not
    // cancel duplicates there (the system role may not cancel), and callers may not comment.
    assert!(!read.authorization.allows(
        &opsledger::core::Actor::new("engine", [opsledger::core::Role::System]),
        opsledger::core::Permission::IncidentCancel
    ));
}
