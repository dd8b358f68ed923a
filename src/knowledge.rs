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

use crate::command::Command;
use crate::engine::{Engine, Inner};
use crate::error::{EngineError, Result};
use crate::projections::tables::Tables;
use crate::read_side::ReadSide;
use crate::record::RecordRef;
use crate::webhooks::{fixed_stream, lost_race, new_event};
use chrono::{DateTime, SecondsFormat, Utc};
use opsledger_core::incident::IncidentCommand;
use opsledger_core::knowledge::{
    Article, ArticleCommand, ArticleDecider, ArticleEvent, ArticleKind, ArticleLinks,
};
use opsledger_core::kpi::{DurationFigure, RunbookFigure};
use opsledger_core::service::ItemRef;
use opsledger_core::window::TimeWindow;
use opsledger_core::{
    Actor, ArticleId, CiId, Context, Decider, DomainError, IncidentId, ProblemId, RecordKind,
    ServiceId,
};
use opsledger_store::{AppendRequest, ExpectedVersion, SqlDialect, SqlValue, StreamId, Version};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use uuid::Uuid;

/// Most suggestions one call returns.
pub const MAX_SUGGESTIONS: usize = 50;
/// Most words of a record's text a suggestion searches for.
pub const MAX_SUGGESTION_WORDS: usize = 24;

/// Most runbooks the runbook section of a KPI report lists.
pub const MAX_RUNBOOK_FIGURES: usize = 200;
/// How many runbooks are suggested, and recorded as suggested, when an incident opens.
pub const SUGGESTED_AT_OPEN: usize = 5;
/// The event type of the runbooks suggested to an incident when it was opened.
pub const RUNBOOKS_SUGGESTED: &str = "knowledge.runbooks_suggested";

/// The stream holding the runbooks suggested to `incident` when it was opened.
pub fn suggestions_stream(incident: IncidentId) -> StreamId {
    fixed_stream(&format!("suggested-{}", incident.0))
}

/// The runbooks suggested to an incident when it was opened, best first: what the runbook
/// section of the KPI report counts as "suggested".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RecordedSuggestions {
    /// The incident.
    pub incident: IncidentId,
    /// The runbooks, best first.
    pub articles: Vec<ArticleId>,
    /// When.
    pub at: DateTime<Utc>,
}

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
    /// The append request recording the runbooks suggested to an incident being opened
    /// (`None` for any other command, or when none is suggested): the first
    /// [`SUGGESTED_AT_OPEN`] for its service, CIs and text, as `incident.open` answers.
    pub(crate) fn suggestions_request(
        &self,
        command: &Command,
        actor: &Actor,
        now: DateTime<Utc>,
        correlation: Uuid,
    ) -> Result<Option<AppendRequest>> {
        let Command::Incident(IncidentCommand::Open {
            id,
            title,
            description,
            service,
            cis,
            ..
        }) = command
        else {
            return Ok(None);
        };
        let what = SuggestFor {
            service: service.clone(),
            cis: cis.clone(),
            text: format!("{title} {description}"),
        };
        let articles: Vec<ArticleId> = self
            .suggest_runbooks(&what, SUGGESTED_AT_OPEN)?
            .into_iter()
            .map(|s| s.article)
            .collect();
        if articles.is_empty() {
            return Ok(None);
        }
        let recorded = RecordedSuggestions {
            incident: *id,
            articles,
            at: now,
        };
        let payload = serde_json::to_vec(&recorded)
            .map_err(|e| EngineError::invalid("suggestions", e.to_string()))?;
        Ok(Some(AppendRequest::new(
            suggestions_stream(*id),
            ExpectedVersion::NoStream,
            vec![opsledger_store::NewEvent {
                event_id: self.config.ids.new_id(),
                event_type: RUNBOOKS_SUGGESTED.to_owned(),
                schema_version: 1,
                occurred_at: now,
                actor: actor.id.as_str().to_owned(),
                correlation_id: Some(correlation),
                causation_id: None,
                payload,
            }],
        )))
    }

    /// Ranked published runbooks for a service, CIs and text (see the module documentation),
    /// at most `limit` (at most [`MAX_SUGGESTIONS`]).
    pub(crate) fn suggest_runbooks(
        &self,
        what: &SuggestFor,
        limit: usize,
    ) -> Result<Vec<Suggestion>> {
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
        let sql = self.tables().sql.clone();
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
        self.inner.suggest_runbooks(what, limit)
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

/// The runbook section of a KPI report over `window`, from facts recorded by `horizon`
/// (see [`RunbookFigure`]), at most [`MAX_RUNBOOK_FIGURES`] runbooks, most applied first.
pub(crate) fn runbook_figures(
    tables: &Tables,
    window: TimeWindow,
    horizon: DateTime<Utc>,
) -> Result<Vec<RunbookFigure>> {
    let sql = tables.sql.clone();
    let us = |t: DateTime<Utc>| SqlValue::Integer(t.timestamp_micros());
    let text = |t: DateTime<Utc>| SqlValue::Text(t.to_rfc3339_opts(SecondsFormat::Micros, true));
    let end = window.end.min(horizon + chrono::Duration::microseconds(1));
    let (start_us, end_us) = (us(window.start), us(end));
    let (start_text, end_text) = (text(window.start), text(end));
    let horizon_text = text(horizon);
    let horizon_us = us(horizon);
    let mut rows: BTreeMap<Uuid, RunbookFigure> = BTreeMap::new();
    let id_of = |row: &[SqlValue]| {
        row.first()
            .and_then(SqlValue::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
    };
    let int = |row: &[SqlValue], i: usize| row.get(i).and_then(SqlValue::as_i64).unwrap_or(0);
    let count = |row: &[SqlValue], i: usize| u64::try_from(int(row, i)).unwrap_or(0);
    let blank = |id: Uuid| RunbookFigure {
        article: ArticleId(id),
        title: String::new(),
        suggested: 0,
        applied: 0,
        resolved: 0,
        resolution_rate: None,
        mttr_applied: DurationFigure::default(),
        mttr_not_applied: DurationFigure::default(),
    };
    for row in sql.query_all(
        "SELECT article, COUNT(*) FROM article_suggestions
             WHERE suggested_us >= ?1 AND suggested_us < ?2 GROUP BY article",
        &[start_us.clone(), end_us.clone()],
    )? {
        if let Some(id) = id_of(&row) {
            rows.entry(id).or_insert_with(|| blank(id)).suggested = count(&row, 1);
        }
    }
    for row in sql.query_all(
        "SELECT article, COUNT(*), CAST(SUM(resolved) AS BIGINT) FROM article_uses
             WHERE used_at >= ?1 AND used_at < ?2 GROUP BY article",
        &[start_text, end_text],
    )? {
        if let Some(id) = id_of(&row) {
            let figure = rows.entry(id).or_insert_with(|| blank(id));
            figure.applied = count(&row, 1);
            figure.resolved = count(&row, 2);
        }
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // Time to resolve of the incidents resolved in the window, by whether the runbook was
    // applied to them (by the horizon) or only suggested.
    let ttr = "CAST(SUM(CASE WHEN k.resolved_us > k.opened_us
                                  THEN (k.resolved_us - k.opened_us) / 1000 ELSE 0 END) AS BIGINT)";
    for (applied, statement) in [
        (
            true,
            format!(
                "SELECT u.article, COUNT(*), {ttr}
                     FROM (SELECT DISTINCT article, incident FROM article_uses
                           WHERE used_at <= ?3) u
                     CROSS JOIN kpi_incidents k
                     WHERE k.incident = u.incident
                       AND k.resolved_us >= ?1 AND k.resolved_us < ?2
                     GROUP BY u.article"
            ),
        ),
        (
            false,
            format!(
                "SELECT s.article, COUNT(*), {ttr}
                     FROM article_suggestions s
                     CROSS JOIN kpi_incidents k
                     WHERE k.incident = s.incident
                       AND s.suggested_us <= ?4
                       AND k.resolved_us >= ?1 AND k.resolved_us < ?2
                       AND NOT EXISTS (SELECT 1 FROM article_uses u
                                       WHERE u.article = s.article AND u.incident = s.incident
                                         AND u.used_at <= ?3)
                     GROUP BY s.article"
            ),
        ),
    ] {
        let mut params = vec![start_us.clone(), end_us.clone(), horizon_text.clone()];
        if !applied {
            params.push(horizon_us.clone());
        }
        for row in sql.query_all(&statement, &params)? {
            let Some(id) = id_of(&row) else { continue };
            // Only runbooks suggested or applied in the window are listed.
            let Some(figure) = rows.get_mut(&id) else {
                continue;
            };
            let value = DurationFigure::new(count(&row, 1), int(&row, 2));
            if applied {
                figure.mttr_applied = value;
            } else {
                figure.mttr_not_applied = value;
            }
        }
    }
    let ids: Vec<String> = rows.keys().map(Uuid::to_string).collect();
    let list =
        serde_json::to_string(&ids).map_err(|e| EngineError::invalid("runbooks", e.to_string()))?;
    let titles = sql.query_all(
        match sql.dialect() {
            SqlDialect::Sqlite => {
                "SELECT id, title, kind FROM articles WHERE id IN (SELECT value FROM json_each(?1))"
            }
            SqlDialect::Postgres => {
                "SELECT id, title, kind FROM articles
                     WHERE id IN (SELECT json_array_elements_text(CAST(?1 AS json)))"
            }
        },
        &[SqlValue::Text(list)],
    )?;
    for row in titles {
        let Some(id) = id_of(&row) else { continue };
        let kind = row.get(2).and_then(SqlValue::as_str).unwrap_or_default();
        if kind != "runbook" {
            rows.remove(&id);
            continue;
        }
        if let Some(figure) = rows.get_mut(&id) {
            figure.title = row
                .get(1)
                .and_then(SqlValue::as_str)
                .unwrap_or_default()
                .to_owned();
        }
    }
    let mut out: Vec<RunbookFigure> = rows
        .into_values()
        .map(|mut f| {
            f.resolution_rate = (f.applied > 0).then(|| f.resolved as f64 / f.applied as f64);
            f
        })
        .collect();
    out.sort_by(|a, b| {
        b.applied
            .cmp(&a.applied)
            .then(b.suggested.cmp(&a.suggested))
            .then_with(|| a.title.cmp(&b.title))
            .then(a.article.cmp(&b.article))
    });
    out.truncate(MAX_RUNBOOK_FIGURES);
    Ok(out)
}
