//! Knowledge articles and runbooks in the engine: one stream per article
//! (`article-<id>`) decided by the core's [`ArticleDecider`] at the stream's version; the SQL
//! tables `articles`, `article_links`, `article_uses` and the full-text index `articles_fts`
//! (projections/tables/knowledge.rs); suggestions for a record (its service, its CIs and its
//! text, ranked); a known error's workaround turned into a runbook; runbook effectiveness.
//!
//! Suggestions rank published runbooks by how many of the record's service and CIs they are
//! linked to, then by the BM25 relevance of the record's title and description to their
//! title and text (SQLite FTS5, Porter stemming, any word may match). The words are quoted
//! one by one: nothing the record says is passed to the full-text engine as syntax.

use crate::engine::{Engine, Inner};
use crate::error::{EngineError, Result};
use crate::read_side::ReadSide;
use crate::record::RecordRef;
use crate::webhooks::{fixed_stream, lost_race, new_event};
use opsledger_core::knowledge::{
    Article, ArticleCommand, ArticleDecider, ArticleEvent, ArticleKind, ArticleLinks,
};
use opsledger_core::service::ItemRef;
use opsledger_core::{
    Actor, ArticleId, CiId, Context, Decider, DomainError, IncidentId, ProblemId, RecordKind,
    ServiceId,
};
use opsledger_store::{AppendRequest, ExpectedVersion, SqlDialect, SqlValue, StreamId, Version};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// Most suggestions one call returns.
pub const MAX_SUGGESTIONS: usize = 50;
/// Most words of a record's text a suggestion searches for.
pub const MAX_SUGGESTION_WORDS: usize = 24;

/// The stream of one article.
pub fn article_stream(id: ArticleId) -> StreamId {
    fixed_stream(&format!("article-{}", id.0))
}

/// One suggested runbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Suggestion {
    /// The runbook.
    pub article: ArticleId,
    /// Its title.
    pub title: String,
    /// Its published version.
    pub version: u32,
    /// How many of the record's service and CIs it is linked to.
    pub linked: u32,
    /// Relevance of the record's text (BM25, higher is better; 0 when the text did not match).
    pub relevance: f64,
    /// How often it was applied to an incident.
    pub uses: u32,
    /// How often applying it resolved the incident.
    pub resolutions: u32,
}

impl fmt::Display for Suggestion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (version {})", self.title, self.version)?;
        if self.uses > 0 {
            write!(
                f,
                ", resolved {} of {} incidents it was applied to",
                self.resolutions, self.uses
            )?;
        }
        Ok(())
    }
}

/// One runbook's effectiveness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunbookEffectiveness {
    /// The runbook.
    pub article: ArticleId,
    /// Its title.
    pub title: String,
    /// How often it was applied to an incident.
    pub uses: u32,
    /// How often that resolved the incident.
    pub resolutions: u32,
    /// `resolutions / uses` (`None` when never used).
    pub resolution_rate: Option<f64>,
}

/// What a suggestion looks for: the record's service, CIs and text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SuggestFor {
    /// The service.
    pub service: Option<ServiceId>,
    /// The CIs.
    pub cis: Vec<CiId>,
    /// Title and description.
    pub text: String,
}

/// The words of `text`, lowercased, each once, at most [`MAX_SUGGESTION_WORDS`], as an FTS5
/// expression of quoted words joined by OR (`None`: no word).
fn any_word(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for w in text.split(|c: char| !c.is_alphanumeric()) {
        let w = w.to_lowercase();
        if w.len() < 3 || words.contains(&w) {
            continue;
        }
        words.push(w);
        if words.len() == MAX_SUGGESTION_WORDS {
            break;
        }
    }
    words
}

/// The full-text query of `words` (any of them) in `dialect`: FTS5 phrases joined by `OR`, or
/// a PostgreSQL `tsquery` of alternatives (the words are letters and digits only).
fn text_query(words: &[String], dialect: SqlDialect) -> Option<String> {
    if words.is_empty() {
        return None;
    }
    Some(match dialect {
        SqlDialect::Sqlite => words
            .iter()
            .map(|w| format!("\"{w}\""))
            .collect::<Vec<_>>()
            .join(" OR "),
        SqlDialect::Postgres => words.join(" | "),
    })
}

/// The suggestion query around its dialect's text hits and CI list: runbooks linked to the
/// service or the CIs, or whose text matches, ranked by links, then text relevance (lower is
/// better), then how often they resolved incidents.
macro_rules! suggest_sql {
    ($text_hits:literal, $ci_list:literal, $sum:literal) => {
        concat!(
            "WITH text_hits AS (",
            $text_hits,
            "),
             link_hits AS (
                 SELECT article, COUNT(*) AS n FROM article_links
                 WHERE (link_kind = 'service' AND value = CAST(?2 AS TEXT))
                    OR (link_kind = 'ci' AND value IN (",
            $ci_list,
            "))
                 GROUP BY article
             ),
             uses AS (
                 SELECT article, COUNT(*) AS uses, ",
            $sum,
            " AS resolutions
                 FROM article_uses GROUP BY article
             )
             SELECT a.id, a.title, a.published_version, COALESCE(l.n, 0), COALESCE(t.rank, 0),
                    COALESCE(u.uses, 0), COALESCE(u.resolutions, 0)
             FROM articles a
             LEFT JOIN link_hits l ON l.article = a.id
             LEFT JOIN text_hits t ON t.article = a.id
             LEFT JOIN uses u ON u.article = a.id
             WHERE a.status = 'published' AND a.kind = 'runbook'
               AND (l.n IS NOT NULL OR t.rank IS NOT NULL)
             ORDER BY COALESCE(l.n, 0) DESC, COALESCE(t.rank, 0) ASC,
                      COALESCE(u.resolutions, 0) DESC, a.title, a.id
             LIMIT ?4"
        )
    };
}

/// Ranked runbooks on SQLite (FTS5 with BM25).
const SUGGEST_SQLITE: &str = suggest_sql!(
    "SELECT article, bm25(articles_fts) AS rank FROM articles_fts
     WHERE ?1 IS NOT NULL AND articles_fts MATCH ?1",
    "SELECT value FROM json_each(?3)",
    "SUM(resolved)"
);

/// Ranked runbooks on PostgreSQL (`ts_rank` negated so that lower is better).
const SUGGEST_POSTGRES: &str = suggest_sql!(
    "SELECT article, -CAST(ts_rank(doc, to_tsquery('english', CAST(?1 AS TEXT)))
                          AS DOUBLE PRECISION) AS rank
     FROM articles_fts
     WHERE CAST(?1 AS TEXT) IS NOT NULL AND doc @@ to_tsquery('english', CAST(?1 AS TEXT))",
    "SELECT json_array_elements_text(CAST(?3 AS json))",
    "CAST(SUM(resolved) AS BIGINT)"
);

impl Inner {
    fn load_article(&self, id: ArticleId) -> Result<(Option<Article>, u64)> {
        let stream = article_stream(id);
        let mut version = 0;
        let mut state = None;
        loop {
            let page = self
                .store()
                .read_stream(&stream, Version(version + 1), 1000)?;
            let n = page.len();
            for e in &page {
                let event: ArticleEvent =
                    serde_json::from_slice(&e.payload).map_err(|err| EngineError::Decode {
                        position: e.position.0,
                        reason: err.to_string(),
                    })?;
                state = ArticleDecider::evolve(state, &event);
                version = e.version.0;
            }
            if n < 1000 {
                return Ok((state, version));
            }
        }
    }

    /// Every link of `links` must name a live service or CI of the model and an existing
    /// problem.
    fn check_links(&self, links: &ArticleLinks) -> Result<()> {
        self.with_service_model(|_, index| {
            for s in &links.services {
                let item = ItemRef::Service(s.clone());
                if !index.contains(&item) {
                    return Err(DomainError::UnknownReference {
                        path: "links.services".into(),
                        item: item.to_string(),
                    });
                }
            }
            for c in &links.cis {
                let item = ItemRef::Ci(c.clone());
                if !index.contains(&item) {
                    return Err(DomainError::UnknownReference {
                        path: "links.cis".into(),
                        item: item.to_string(),
                    });
                }
            }
            Ok(())
        })??;
        for p in &links.known_errors {
            let record = RecordRef::new(RecordKind::Problem, p.0);
            let (_, state) = self.loader().latest(&record)?;
            if state.to_record().is_none() {
                return Err(EngineError::Domain(DomainError::UnknownReference {
                    path: "links.known_errors".into(),
                    item: format!("problem {p}"),
                }));
            }
        }
        Ok(())
    }

    fn decide_article(&self, actor: &Actor, commands: &[ArticleCommand]) -> Result<Article> {
        let Some(first) = commands.first() else {
            return Err(EngineError::invalid("commands", "no command"));
        };
        let id = first.id();
        for cmd in commands {
            if let ArticleCommand::Draft { links, .. } | ArticleCommand::Revise { links, .. } = cmd
            {
                self.check_links(links)?;
            }
        }
        let (mut state, version) = self.load_article(id)?;
        let now = self.config.clock.now();
        let ctx = Context::new(now, actor.clone(), self.policy());
        let mut events = Vec::new();
        for cmd in commands {
            let decided = ArticleDecider::decide(&state, cmd, &ctx)?;
            for e in &decided {
                state = ArticleDecider::evolve(state, e);
            }
            events.extend(decided);
        }
        let expected = if version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(Version(version))
        };
        let new = events
            .iter()
            .map(|e| new_event(self.config.ids.new_id(), e, now, actor.id.as_str()))
            .collect::<Result<Vec<_>>>()?;
        let stream = article_stream(id);
        self.append_webhook_events(vec![AppendRequest::new(stream.clone(), expected, new)])
            .map_err(|e| {
                if lost_race(&e) {
                    EngineError::Conflict {
                        record: stream.to_string(),
                        expected: version,
                        actual: version + 1,
                    }
                } else {
                    e
                }
            })?;
        state.ok_or_else(|| EngineError::NotFound {
            what: format!("article {id}"),
        })
    }
}

impl Engine {
    /// Decides and records one article command. Needs `knowledge_write` (draft, revise,
    /// submit, record_use) or `knowledge_approve` (approve, reject, retire). Links must name
    /// live services and CIs of the service model and existing problems
    /// (`unknown_reference` naming `links.cis`, ...); an article linked to nothing is
    /// `validation` on `links`; the author approving is `separation_of_duties`.
    pub fn execute_article(&self, actor: &Actor, command: ArticleCommand) -> Result<Article> {
        self.inner.decide_article(actor, &[command])
    }

    /// An article (`None`: never drafted).
    pub fn article(&self, id: ArticleId) -> Result<Option<Article>> {
        Ok(self.inner.load_article(id)?.0)
    }

    /// Drafts a runbook from the workaround of `problem`'s known error (title, workaround,
    /// the known error's CIs and the problem's service as links) and submits it for review:
    /// someone other than `actor` approves it. `validation` when the problem has no known
    /// error with a workaround.
    pub fn publish_workaround(
        &self,
        actor: &Actor,
        problem: ProblemId,
        id: ArticleId,
    ) -> Result<Article> {
        let record = RecordRef::new(RecordKind::Problem, problem.0);
        let (_, state) = self.inner.loader().latest(&record)?;
        let Some(p) = state.to_record().and_then(|r| r.as_problem().cloned()) else {
            return Err(EngineError::NotFound {
                what: format!("problem {problem}"),
            });
        };
        let Some(ke) = p.known_error.as_ref() else {
            return Err(
                DomainError::validation("problem", "the problem has no known error").into(),
            );
        };
        let Some(workaround) = ke.workaround.clone().filter(|w| !w.trim().is_empty()) else {
            return Err(
                DomainError::validation("problem", "the known error has no workaround").into(),
            );
        };
        let live_cis = self.inner.with_service_model(|_, index| {
            ke.affected_cis
                .iter()
                .filter(|c| index.contains(&ItemRef::Ci((*c).clone())))
                .cloned()
                .collect()
        })?;
        let services = p
            .service
            .iter()
            .filter(|s| {
                self.inner
                    .with_service_model(|_, index| index.contains(&ItemRef::Service((*s).clone())))
                    .unwrap_or(false)
            })
            .cloned()
            .collect();
        let links = ArticleLinks {
            services,
            cis: live_cis,
            categories: Default::default(),
            known_errors: [problem].into_iter().collect(),
        };
        let title = format!(
            "Workaround: {}",
            ke.symptom.lines().next().unwrap_or(&p.title)
        );
        let title: String = title.chars().take(200).collect();
        self.inner.decide_article(
            actor,
            &[
                ArticleCommand::Draft {
                    id,
                    kind: ArticleKind::Runbook,
                    title,
                    body: workaround,
                    links,
                },
                ArticleCommand::Submit { id },
            ],
        )
    }

    /// Ranked published runbooks for a service, CIs and text (see the module documentation),
    /// at most `limit` (at most [`MAX_SUGGESTIONS`]).
    pub fn suggest_runbooks(&self, what: &SuggestFor, limit: usize) -> Result<Vec<Suggestion>> {
        let limit = limit.clamp(1, MAX_SUGGESTIONS);
        let mut cis: Vec<&str> = what.cis.iter().map(CiId::as_str).collect();
        cis.sort_unstable();
        cis.dedup();
        let cis =
            serde_json::to_string(&cis).map_err(|e| EngineError::invalid("cis", e.to_string()))?;
        let service = what
            .service
            .as_ref()
            .map_or(SqlValue::Null, |s| SqlValue::Text(s.as_str().to_owned()));
        let sql = self.inner.tables().sql.clone();
        let dialect = sql.dialect();
        let text = text_query(&any_word(&what.text), dialect);
        let rows = sql.query_all(
            match dialect {
                SqlDialect::Sqlite => SUGGEST_SQLITE,
                SqlDialect::Postgres => SUGGEST_POSTGRES,
            },
            &[
                text.map_or(SqlValue::Null, SqlValue::Text),
                service,
                SqlValue::Text(cis),
                SqlValue::from(limit as u64),
            ],
        )?;
        let mut out = Vec::new();
        for row in rows {
            let int = |i: usize| row.get(i).and_then(SqlValue::as_i64).unwrap_or(0);
            let Some(id) = row
                .first()
                .and_then(SqlValue::as_str)
                .and_then(|s| Uuid::parse_str(s).ok())
            else {
                continue;
            };
            let relevance = match row.get(4) {
                Some(SqlValue::Real(r)) => -*r,
                _ => 0.0,
            };
            out.push(Suggestion {
                article: ArticleId(id),
                title: row
                    .get(1)
                    .and_then(SqlValue::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                version: u32::try_from(int(2)).unwrap_or(0),
                linked: u32::try_from(int(3)).unwrap_or(0),
                relevance,
                uses: u32::try_from(int(5)).unwrap_or(0),
                resolutions: u32::try_from(int(6)).unwrap_or(0),
            });
        }
        Ok(out)
    }

    /// Ranked published runbooks for a record: an incident's or a problem's service, CIs,
    /// title and description (a change's CIs and title). `not_found` for an unknown record.
    pub fn suggest(&self, record: RecordRef, limit: usize) -> Result<Vec<Suggestion>> {
        let (_, state) = self.inner.loader().latest(&record)?;
        let Some(state) = state.to_record() else {
            return Err(EngineError::NotFound {
                what: format!("{} {}", record.kind, record.id),
            });
        };
        let what = match (state.as_incident(), state.as_problem(), state.as_change()) {
            (Some(i), _, _) => SuggestFor {
                service: i.service.clone(),
                cis: i.cis.clone(),
                text: format!("{} {}", i.title, i.description),
            },
            (None, Some(p), _) => SuggestFor {
                service: p.service.clone(),
                cis: p.cis.iter().cloned().collect(),
                text: format!("{} {}", p.title, p.description),
            },
            (None, None, Some(c)) => SuggestFor {
                service: None,
                cis: c.cis.iter().cloned().collect(),
                text: c.title.clone(),
            },
            (None, None, None) => SuggestFor::default(),
        };
        self.suggest_runbooks(&what, limit)
    }

    /// The suggestions for a newly opened incident (what `incident.open` answers with).
    pub fn suggest_for_incident(&self, incident: IncidentId) -> Result<Vec<Suggestion>> {
        self.suggest(RecordRef::new(RecordKind::Incident, incident.0), 5)
    }

    /// Every runbook that was applied at least once, with how often that resolved the
    /// incident, most used first.
    pub fn runbook_effectiveness(&self) -> Result<Vec<RunbookEffectiveness>> {
        let rows = self.inner.tables().sql.query_all(
            "SELECT a.id, a.title, COUNT(*), CAST(SUM(u.resolved) AS BIGINT) FROM article_uses u
             JOIN articles a ON a.id = u.article
             WHERE a.kind = 'runbook'
             GROUP BY a.id, a.title ORDER BY COUNT(*) DESC, a.title, a.id LIMIT 1000",
            &[],
        )?;
        let mut out = Vec::new();
        for row in rows {
            let int = |i: usize| row.get(i).and_then(SqlValue::as_i64).unwrap_or(0);
            let Some(id) = row
                .first()
                .and_then(SqlValue::as_str)
                .and_then(|s| Uuid::parse_str(s).ok())
            else {
                continue;
            };
            let uses = u32::try_from(int(2)).unwrap_or(0);
            let resolutions = u32::try_from(int(3)).unwrap_or(0);
            out.push(RunbookEffectiveness {
                article: ArticleId(id),
                title: row
                    .get(1)
                    .and_then(SqlValue::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                uses,
                resolutions,
                resolution_rate: (uses > 0).then(|| f64::from(resolutions) / f64::from(uses)),
            });
        }
        Ok(out)
    }
}
