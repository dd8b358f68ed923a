//! Knowledge articles and runbooks over JSON-RPC: `article.*` (draft, revise, submit, approve,
//! reject, retire, record_use, get, from_known_error) and the queries `query.suggest` and
//! `query.runbook_effectiveness`. Writing needs `knowledge_write`; approving, rejecting and
//! retiring `knowledge_approve` (never the author's own article).

use super::errors::{self, engine_error};
use super::params::{ActorParam, acting_actor, reading_actor, require_record};
use crate::{CallContext, Method, MethodError};
use opsledger::core::knowledge::{Article, ArticleCommand, ArticleKind, ArticleLinks};
use opsledger::core::{ArticleId, IncidentId};
use opsledger::knowledge::{MAX_SUGGESTIONS, RunbookEffectiveness, Suggestion};
use opsledger::{Engine, RecordKind};
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::Arc;

/// `article.draft` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftParams {
    /// The article's id (default: a new one).
    #[serde(default)]
    pub id: Option<ArticleId>,
    /// `runbook` (suggested at triage) or `article`.
    pub kind: ArticleKind,
    /// Its title.
    pub title: String,
    /// Its text (a runbook's steps).
    pub body: String,
    /// What it is about: services, CIs, categories, known errors (problems); at least one.
    pub links: ArticleLinks,
    /// Who acts, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// `article.revise` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviseParams {
    /// The article.
    pub id: ArticleId,
    /// The new title.
    pub title: String,
    /// The new text.
    pub body: String,
    /// The new links (at least one).
    pub links: ArticleLinks,
    /// Who acts, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// Params naming an article.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdParams {
    /// The article.
    pub id: ArticleId,
    /// Who acts, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// `article.reject` and `article.retire` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonParams {
    /// The article.
    pub id: ArticleId,
    /// Why.
    pub reason: String,
    /// Who acts, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// `article.record_use` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UseParams {
    /// The runbook applied.
    pub id: ArticleId,
    /// The incident it was applied to: number (`INC0000001`) or id.
    pub incident: String,
    /// Whether applying it resolved the incident.
    pub resolved: bool,
    /// Who acts, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// `article.from_known_error` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FromKnownErrorParams {
    /// The problem whose known error's workaround becomes a runbook: number (`PRB0000001`)
    /// or id.
    pub problem: String,
    /// The new article's id (default: a new one).
    #[serde(default)]
    pub id: Option<ArticleId>,
    /// Who acts, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// `query.suggest` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuggestParams {
    /// The record: a number (`INC0000001`, `PRB…`, `CHG…`) or an id.
    pub record: String,
    /// At most this many (default 5, at most 50).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Who reads, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// Params with only the reader.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReaderParams {
    /// Who reads, on trusted local transports only.
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

fn documented(mut m: Method, summary: &str, description: &str, codes: &[&str]) -> Method {
    m = m.summary(summary).description(description);
    for code in codes {
        if let Some(row) = errors::error_code(code) {
            m = m.error(row.code, format!("{}: {}", row.domain_code, row.meaning));
        }
    }
    m
}

const WRITES: &[&str] = &[
    "forbidden",
    "unknown_role",
    "unknown_reference",
    "item_transition",
    "separation_of_duties",
    "validation",
    "limit_exceeded",
    "conflict",
    "store",
];

fn run(
    engine: &Engine,
    ctx: &CallContext,
    actor: Option<ActorParam>,
    command: ArticleCommand,
) -> Result<Article, MethodError> {
    let actor = acting_actor(ctx, actor)?;
    engine
        .execute_article(&actor, command)
        .map_err(engine_error)
}

fn reader_check(
    engine: &Engine,
    ctx: &CallContext,
    actor: Option<ActorParam>,
) -> Result<(), MethodError> {
    if let Some(reader) = reading_actor(ctx, actor)? {
        engine
            .require_reads_all(&reader, "the knowledge base")
            .map_err(engine_error)?;
    }
    Ok(())
}

/// The `article.*` methods and the knowledge queries.
pub(super) fn methods(engine: &Arc<Engine>) -> Vec<Method> {
    let mut out = Vec::new();
    let e = engine.clone();
    out.push(documented(
        Method::new("article.draft", move |ctx: &CallContext, p: DraftParams| {
            let id = p.id.unwrap_or_else(|| ArticleId(e.new_id()));
            let cmd = ArticleCommand::Draft {
                id,
                kind: p.kind,
                title: p.title,
                body: p.body,
                links: p.links,
            };
            run(&e, ctx, p.actor, cmd)
        })
        .by_name_only(),
        "Writes a knowledge article or runbook (version 1, draft)",
        "Linked to services, CIs, categories or known errors (problems): an article linked to nothing is `validation` on `links`; a link to a service or CI that is not a live item of the service model, or to an unknown problem, is `unknown_reference` naming `links.cis`, `links.services` or `links.known_errors`. Needs `knowledge_write`.",
        WRITES,
    ));
    let e = engine.clone();
    out.push(documented(
        Method::new("article.revise", move |ctx: &CallContext, p: ReviseParams| {
            let cmd = ArticleCommand::Revise {
                id: p.id,
                title: p.title,
                body: p.body,
                links: p.links,
            };
            run(&e, ctx, p.actor, cmd)
        })
        .by_name_only(),
        "Rewrites a draft, or starts the next version of a published article",
        "A published article goes back to draft with its version one higher, and is suggested again once that version is approved. Needs `knowledge_write`.",
        WRITES,
    ));
    let e = engine.clone();
    out.push(documented(
        Method::new("article.submit", move |ctx: &CallContext, p: IdParams| {
            run(&e, ctx, p.actor, ArticleCommand::Submit { id: p.id })
        })
        .by_name_only(),
        "Submits a draft for approval",
        "Draft -> review. Needs `knowledge_write`.",
        WRITES,
    ));
    let e = engine.clone();
    out.push(documented(
        Method::new("article.approve", move |ctx: &CallContext, p: IdParams| {
            run(&e, ctx, p.actor, ArticleCommand::Approve { id: p.id })
        })
        .by_name_only(),
        "Approves and publishes an article",
        "Review -> published, recording who approved which version. The author of the version may not approve it (`separation_of_duties`). Needs `knowledge_approve`.",
        WRITES,
    ));
    let e = engine.clone();
    out.push(documented(
        Method::new(
            "article.reject",
            move |ctx: &CallContext, p: ReasonParams| {
                let cmd = ArticleCommand::Reject {
                    id: p.id,
                    reason: p.reason,
                };
                run(&e, ctx, p.actor, cmd)
            },
        )
        .by_name_only(),
        "Sends an article in review back to its author",
        "Review -> draft, with the reason. Needs `knowledge_approve`.",
        WRITES,
    ));
    let e = engine.clone();
    out.push(documented(
        Method::new(
            "article.retire",
            move |ctx: &CallContext, p: ReasonParams| {
                let cmd = ArticleCommand::Retire {
                    id: p.id,
                    reason: p.reason,
                };
                run(&e, ctx, p.actor, cmd)
            },
        )
        .by_name_only(),
        "Withdraws an article for good",
        "Any state but retired -> retired. Needs `knowledge_approve`.",
        WRITES,
    ));
    let e = engine.clone();
    out.push(documented(
        Method::new("article.record_use", move |ctx: &CallContext, p: UseParams| {
            let view = e.view(None).map_err(engine_error)?;
            let record = require_record(&view, &p.incident, Some(RecordKind::Incident), "incident")?;
            let cmd = ArticleCommand::RecordUse {
                id: p.id,
                incident: IncidentId(record.id),
                resolved: p.resolved,
            };
            run(&e, ctx, p.actor, cmd)
        })
        .by_name_only(),
        "Records that a published runbook was applied to an incident",
        "With whether that resolved it: the figures of `query.runbook_effectiveness` and of each suggestion. Needs `knowledge_write`.",
        WRITES,
    ));
    let e = engine.clone();
    out.push(documented(
        Method::new(
            "article.from_known_error",
            move |ctx: &CallContext, p: FromKnownErrorParams| -> Result<Article, MethodError> {
                let actor = acting_actor(ctx, p.actor)?;
                let view = e.view(None).map_err(engine_error)?;
                let record =
                    require_record(&view, &p.problem, Some(RecordKind::Problem), "problem")?;
                let id = p.id.unwrap_or_else(|| ArticleId(e.new_id()));
                e.publish_workaround(&actor, opsledger::core::ProblemId(record.id), id)
                    .map_err(engine_error)
            },
        )
        .by_name_only(),
        "Turns a known error's workaround into a runbook awaiting approval",
        "Drafts a runbook from the problem's known error (title from the symptom, the workaround as its text, linked to the known error, its live CIs and the problem's service) and submits it: someone other than the caller approves it with `article.approve`. `validation` when the problem has no known error with a workaround. Needs `knowledge_write`.",
        WRITES,
    ));
    let e = engine.clone();
    out.push(documented(
        Method::new(
            "article.get",
            move |ctx: &CallContext, p: IdParams| -> Result<Article, MethodError> {
                reader_check(&e, ctx, p.actor)?;
                e.article(p.id)
                    .map_err(engine_error)?
                    .ok_or_else(|| errors::not_found(p.id.to_string()))
            },
        )
        .by_name_only(),
        "An article: its current version, state, links, approver and use counts",
        "The version being written, reviewed or published, the last published version and who approved it.",
        &["forbidden", "unknown_role", "not_found"],
    ));
    let e = engine.clone();
    out.push(documented(
        Method::new(
            "query.suggest",
            move |ctx: &CallContext, p: SuggestParams| -> Result<Vec<Suggestion>, MethodError> {
                reader_check(&e, ctx, p.actor)?;
                let view = e.view(None).map_err(engine_error)?;
                let record = require_record(&view, &p.record, None, "record")?;
                let limit = p.limit.unwrap_or(5).clamp(1, MAX_SUGGESTIONS);
                e.suggest(record, limit).map_err(engine_error)
            },
        )
        .by_name_only(),
        "Ranked published runbooks for a record",
        "For an incident or problem: runbooks linked to its service and CIs first (the more links the higher), then by the full-text relevance of its title and description (BM25, any word may match), then by how often they resolved the incidents they were applied to. `incident.open` answers with the first five as `suggested_runbooks`.",
        &["forbidden", "unknown_role", "not_found"],
    ));
    let e = engine.clone();
    out.push(documented(
        Method::new(
            "query.runbook_effectiveness",
            move |ctx: &CallContext,
                  p: ReaderParams|
                  -> Result<Vec<RunbookEffectiveness>, MethodError> {
                reader_check(&e, ctx, p.actor)?;
                e.runbook_effectiveness().map_err(engine_error)
            },
        )
        .by_name_only(),
        "How often each runbook resolved the incidents it was applied to",
        "Every runbook applied at least once (`article.record_use`): uses, resolutions and the resolution rate, most used first.",
        &["forbidden", "unknown_role"],
    ));
    out
}
