//! Knowledge articles and runbooks: the table exercised exhaustively, one case per rule.

use opsledger_core::knowledge::{
    Article, ArticleCommand, ArticleCommandKind, ArticleDecider, ArticleEvent, ArticleKind,
    ArticleLinks, ArticleStatus,
};
use opsledger_core::testing::{actor, given, t0};
use opsledger_core::{ArticleId, Decider, DomainError, IncidentId, Named, Role};
use uuid::Uuid;

fn aid() -> ArticleId {
    ArticleId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001))
}

fn links() -> ArticleLinks {
    ArticleLinks {
        cis: ["db-01".into()].into_iter().collect(),
        ..ArticleLinks::default()
    }
}

fn author() -> opsledger_core::Actor {
    actor("alice", &[Role::Agent])
}

fn approver() -> opsledger_core::Actor {
    actor("pat", &[Role::ProblemManager])
}

fn drafted(version: u32) -> ArticleEvent {
    ArticleEvent::Drafted {
        id: aid(),
        kind: ArticleKind::Runbook,
        version,
        title: "Fail over the shop database".into(),
        body: "1. Promote the replica. 2. Repoint the pool.".into(),
        links: links(),
        at: t0(),
        by: "alice".into(),
    }
}

fn history(status: Option<ArticleStatus>) -> Vec<ArticleEvent> {
    let submitted = ArticleEvent::Submitted {
        id: aid(),
        at: t0(),
        by: "alice".into(),
    };
    let published = ArticleEvent::Published {
        id: aid(),
        version: 1,
        at: t0(),
        by: "pat".into(),
    };
    match status {
        None => vec![],
        Some(ArticleStatus::Draft) => vec![drafted(1)],
        Some(ArticleStatus::Review) => vec![drafted(1), submitted],
        Some(ArticleStatus::Published) => vec![drafted(1), submitted, published],
        Some(ArticleStatus::Retired) => vec![
            drafted(1),
            ArticleEvent::Retired {
                id: aid(),
                reason: "obsolete".into(),
                at: t0(),
                by: "pat".into(),
            },
        ],
    }
}

fn command(kind: ArticleCommandKind) -> ArticleCommand {
    let id = aid();
    match kind {
        ArticleCommandKind::Draft => ArticleCommand::Draft {
            id,
            kind: ArticleKind::Runbook,
            title: "Fail over the shop database".into(),
            body: "Promote the replica".into(),
            links: links(),
        },
        ArticleCommandKind::Revise => ArticleCommand::Revise {
            id,
            title: "Fail over the shop database (v2)".into(),
            body: "Promote the replica, then check replication lag".into(),
            links: links(),
        },
        ArticleCommandKind::Submit => ArticleCommand::Submit { id },
        ArticleCommandKind::Approve => ArticleCommand::Approve { id },
        ArticleCommandKind::Reject => ArticleCommand::Reject {
            id,
            reason: "Add the rollback".into(),
        },
        ArticleCommandKind::Retire => ArticleCommand::Retire {
            id,
            reason: "Replaced".into(),
        },
        ArticleCommandKind::RecordUse => ArticleCommand::RecordUse {
            id,
            incident: IncidentId(Uuid::from_u128(7)),
            resolved: true,
        },
    }
}

#[test]
fn every_state_and_command_is_accepted_exactly_where_the_table_says() {
    let table = Article::transitions();
    let states: Vec<Option<ArticleStatus>> = std::iter::once(None)
        .chain(ArticleStatus::ALL.iter().copied().map(Some))
        .collect();
    for status in states {
        for kind in ArticleCommandKind::ALL {
            let actor = if *kind == ArticleCommandKind::Approve {
                approver()
            } else {
                actor("root", &[Role::Admin])
            };
            let (events, state) = {
                let s = given::<ArticleDecider>(history(status)).by(actor);
                let then = s.when(command(*kind));
                match then.result().clone() {
                    Ok(events) => {
                        let state =
                            ArticleDecider::fold(history(status).iter().chain(events.iter()));
                        (Some(events), state)
                    }
                    Err(_) => (None, None),
                }
            };
            if table.allows(status, *kind) {
                assert!(
                    events.is_some(),
                    "{kind:?} in {status:?} should be accepted"
                );
                let now = state.map(|a| a.status);
                let targets: Vec<ArticleStatus> = table.targets(status, *kind).collect();
                assert!(
                    now.is_some_and(|n| targets.contains(&n)),
                    "{kind:?} in {status:?}"
                );
            } else {
                assert!(events.is_none(), "{kind:?} in {status:?} should be refused");
            }
        }
    }
}

#[test]
fn the_author_may_not_approve_their_own_article() {
    given::<ArticleDecider>(history(Some(ArticleStatus::Review)))
        .by(actor("alice", &[Role::Manager]))
        .when(ArticleCommand::Approve { id: aid() })
        .then_error(DomainError::SeparationOfDuties {
            actor: "alice".into(),
        });
    let (events, state) = given::<ArticleDecider>(history(Some(ArticleStatus::Review)))
        .by(approver())
        .when(ArticleCommand::Approve { id: aid() })
        .then_ok();
    assert_eq!(events.len(), 1);
    let article = state.unwrap();
    assert_eq!(article.approved_by, Some("pat".into()));
    assert_eq!(article.published_version, Some(1));
}

#[test]
fn an_article_linked_to_nothing_is_refused() {
    let err = given::<ArticleDecider>(history(None))
        .by(author())
        .when(ArticleCommand::Draft {
            id: aid(),
            kind: ArticleKind::Article,
            title: "Orphan".into(),
            body: "text".into(),
            links: ArticleLinks::default(),
        })
        .then_error_code("validation");
    assert!(err.to_string().contains("links"), "{err}");
}

#[test]
fn revising_a_published_article_starts_the_next_version() {
    let (_, state) = given::<ArticleDecider>(history(Some(ArticleStatus::Published)))
        .by(author())
        .when(command(ArticleCommandKind::Revise))
        .then_ok();
    let a = state.unwrap();
    assert_eq!(
        (a.status, a.version, a.published_version),
        (ArticleStatus::Draft, 2, Some(1))
    );
}

#[test]
fn uses_are_counted_with_their_outcome() {
    let mut events = history(Some(ArticleStatus::Published));
    for resolved in [true, false, true] {
        events.push(ArticleEvent::Used {
            id: aid(),
            incident: IncidentId(Uuid::from_u128(9)),
            resolved,
            at: t0(),
            by: "alice".into(),
        });
    }
    let a = ArticleDecider::fold(events.iter()).unwrap();
    assert_eq!((a.uses, a.resolutions), (3, 2));
}

#[test]
fn writing_needs_the_knowledge_permissions() {
    given::<ArticleDecider>(history(None))
        .by(actor("carol", &[Role::Requester]))
        .when(command(ArticleCommandKind::Draft))
        .then_error_code("forbidden");
    given::<ArticleDecider>(history(Some(ArticleStatus::Review)))
        .by(actor("bob", &[Role::Agent]))
        .when(ArticleCommand::Approve { id: aid() })
        .then_error_code("forbidden");
}
