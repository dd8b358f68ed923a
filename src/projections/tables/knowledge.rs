//! Knowledge articles and runbooks as SQL tables: `articles` (one row per article: its current
//! version's text and lifecycle state), `article_links` (what it is about), `article_uses`
//! (each application to an incident, with its outcome) and the FTS5 index `articles_fts`,
//! written from the article streams' events as idempotent upserts and replacements.

use super::schema::Model;
use super::{Tables, instant, text};
use crate::error::{EngineError, Result};
use opsledger_core::knowledge::ArticleEvent;
use opsledger_store::{SqlStatement, SqlValue, StoredEvent};

/// The knowledge tables.
pub(crate) const KNOWLEDGE: Model = Model {
    name: "knowledge",
    version: 2,
    create: "
CREATE TABLE IF NOT EXISTS articles(
    id                TEXT PRIMARY KEY,
    kind              TEXT NOT NULL,
    status            TEXT NOT NULL,
    version           INTEGER NOT NULL,
    title             TEXT NOT NULL,
    body              TEXT NOT NULL,
    author            TEXT NOT NULL,
    published_version INTEGER,
    approved_by       TEXT,
    published_at      TEXT,
    updated_at        TEXT NOT NULL,
    position          INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_by_status ON articles(status, kind);
CREATE TABLE IF NOT EXISTS article_links(
    article   TEXT NOT NULL,
    link_kind TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (article, link_kind, value)
);
CREATE INDEX IF NOT EXISTS article_links_by_value ON article_links(link_kind, value, article);
CREATE TABLE IF NOT EXISTS article_uses(
    position INTEGER PRIMARY KEY,
    article  TEXT NOT NULL,
    incident TEXT NOT NULL,
    resolved INTEGER NOT NULL,
    used_at  TEXT NOT NULL,
    used_by  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS article_uses_by_article ON article_uses(article);
CREATE TABLE IF NOT EXISTS article_suggestions(
    incident     TEXT NOT NULL,
    article      TEXT NOT NULL,
    rank         INTEGER NOT NULL,
    suggested_at TEXT NOT NULL,
    suggested_us INTEGER NOT NULL,
    PRIMARY KEY (incident, article)
);
CREATE INDEX IF NOT EXISTS article_suggestions_by_time
    ON article_suggestions(suggested_us, article);
CREATE VIRTUAL TABLE IF NOT EXISTS articles_fts USING fts5(
    article UNINDEXED, title, body, tokenize = 'porter unicode61'
);",
    create_postgres: "
CREATE TABLE IF NOT EXISTS articles(
    id                TEXT PRIMARY KEY,
    kind              TEXT NOT NULL,
    status            TEXT NOT NULL,
    version           BIGINT NOT NULL,
    title             TEXT NOT NULL,
    body              TEXT NOT NULL,
    author            TEXT NOT NULL,
    published_version BIGINT,
    approved_by       TEXT,
    published_at      TEXT,
    updated_at        TEXT NOT NULL,
    position          BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_by_status ON articles(status, kind);
CREATE TABLE IF NOT EXISTS article_links(
    article   TEXT NOT NULL,
    link_kind TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (article, link_kind, value)
);
CREATE INDEX IF NOT EXISTS article_links_by_value ON article_links(link_kind, value, article);
CREATE TABLE IF NOT EXISTS article_uses(
    position BIGINT PRIMARY KEY,
    article  TEXT NOT NULL,
    incident TEXT NOT NULL,
    resolved BIGINT NOT NULL,
    used_at  TEXT NOT NULL,
    used_by  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS article_uses_by_article ON article_uses(article);
CREATE TABLE IF NOT EXISTS article_suggestions(
    incident     TEXT NOT NULL,
    article      TEXT NOT NULL,
    rank         BIGINT NOT NULL,
    suggested_at TEXT NOT NULL,
    suggested_us BIGINT NOT NULL,
    PRIMARY KEY (incident, article)
);
CREATE INDEX IF NOT EXISTS article_suggestions_by_time
    ON article_suggestions(suggested_us, article);
CREATE TABLE IF NOT EXISTS articles_fts(
    article TEXT NOT NULL,
    title   TEXT NOT NULL,
    body    TEXT NOT NULL,
    doc     tsvector GENERATED ALWAYS AS
                (to_tsvector('english', title || ' ' || body)) STORED
);
CREATE INDEX IF NOT EXISTS articles_fts_by_article ON articles_fts(article);
CREATE INDEX IF NOT EXISTS articles_fts_doc ON articles_fts USING GIN (doc);",
    tables: &[
        "articles",
        "article_links",
        "article_uses",
        "article_suggestions",
        "articles_fts",
    ],
    views: &[],
};

impl Tables {
    /// The rows of the runbooks suggested to an incident when it was opened
    /// ([`crate::knowledge::RUNBOOKS_SUGGESTED`]).
    pub(crate) fn suggestion_rows(
        &self,
        e: &StoredEvent,
        out: &mut Vec<SqlStatement>,
    ) -> Result<()> {
        if !self.writes(&KNOWLEDGE) {
            return Ok(());
        }
        let recorded: crate::knowledge::RecordedSuggestions = serde_json::from_slice(&e.payload)
            .map_err(|err| EngineError::Decode {
                position: e.position.0,
                reason: err.to_string(),
            })?;
        for (rank, article) in recorded.articles.iter().enumerate() {
            out.push(SqlStatement::new(
                "INSERT INTO article_suggestions(incident, article, rank, suggested_at,
                     suggested_us)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(incident, article) DO UPDATE SET rank = excluded.rank,
                     suggested_at = excluded.suggested_at, suggested_us = excluded.suggested_us",
                vec![
                    text(recorded.incident),
                    text(article),
                    SqlValue::from(rank as u64 + 1),
                    instant(recorded.at),
                    SqlValue::Integer(recorded.at.timestamp_micros()),
                ],
            ));
        }
        Ok(())
    }

    /// The rows one event of an article stream writes.
    pub(crate) fn article_rows(&self, e: &StoredEvent, out: &mut Vec<SqlStatement>) -> Result<()> {
        if !self.writes(&KNOWLEDGE) {
            return Ok(());
        }
        let event: ArticleEvent =
            serde_json::from_slice(&e.payload).map_err(|err| EngineError::Decode {
                position: e.position.0,
                reason: err.to_string(),
            })?;
        let position = SqlValue::from(e.position.0);
        let status = |id: &opsledger_core::ArticleId, status: &str, at| {
            SqlStatement::new(
                "UPDATE articles SET status = ?2, updated_at = ?3, position = ?4 WHERE id = ?1",
                vec![text(id), text(status), instant(at), position.clone()],
            )
        };
        match &event {
            ArticleEvent::Drafted {
                id,
                kind,
                version,
                title,
                body,
                links,
                at,
                by,
            } => {
                out.push(SqlStatement::new(
                    "INSERT INTO articles(id, kind, status, version, title, body, author,
                         updated_at, position)
                     VALUES (?1, ?2, 'draft', ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT(id) DO UPDATE SET status = 'draft', version = excluded.version,
                         title = excluded.title, body = excluded.body, author = excluded.author,
                         updated_at = excluded.updated_at, position = excluded.position",
                    vec![
                        text(id),
                        text(kind),
                        SqlValue::from(*version),
                        text(title),
                        text(body),
                        text(by),
                        instant(*at),
                        position.clone(),
                    ],
                ));
                out.push(SqlStatement::new(
                    "DELETE FROM article_links WHERE article = ?1",
                    vec![text(id)],
                ));
                let mut link = |kind: &str, value: String| {
                    out.push(SqlStatement::new(
                        "INSERT INTO article_links(article, link_kind, value)
                         VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                        vec![text(id), text(kind), text(value)],
                    ));
                };
                for s in &links.services {
                    link("service", s.to_string());
                }
                for c in &links.cis {
                    link("ci", c.to_string());
                }
                for c in &links.categories {
                    link("category", c.clone());
                }
                for p in &links.known_errors {
                    link("known_error", p.to_string());
                }
                out.push(SqlStatement::new(
                    "DELETE FROM articles_fts WHERE article = ?1",
                    vec![text(id)],
                ));
                out.push(SqlStatement::new(
                    "INSERT INTO articles_fts(article, title, body) VALUES (?1, ?2, ?3)",
                    vec![text(id), text(title), text(body)],
                ));
            }
            ArticleEvent::Submitted { id, at, .. } => out.push(status(id, "review", *at)),
            ArticleEvent::Rejected { id, at, .. } => out.push(status(id, "draft", *at)),
            ArticleEvent::Retired { id, at, .. } => out.push(status(id, "retired", *at)),
            ArticleEvent::Published {
                id,
                version,
                at,
                by,
            } => out.push(SqlStatement::new(
                "UPDATE articles SET status = 'published', published_version = ?2,
                     approved_by = ?3, published_at = ?4, updated_at = ?4, position = ?5
                 WHERE id = ?1",
                vec![
                    text(id),
                    SqlValue::from(*version),
                    text(by),
                    instant(*at),
                    position.clone(),
                ],
            )),
            ArticleEvent::Used {
                id,
                incident,
                resolved,
                at,
                by,
            } => out.push(SqlStatement::new(
                "INSERT INTO article_uses(position, article, incident, resolved, used_at, used_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(position) DO UPDATE SET article = excluded.article,
                     incident = excluded.incident, resolved = excluded.resolved,
                     used_at = excluded.used_at, used_by = excluded.used_by",
                vec![
                    position.clone(),
                    text(id),
                    text(incident),
                    SqlValue::from(*resolved),
                    instant(*at),
                    text(by),
                ],
            )),
        }
        Ok(())
    }
}
