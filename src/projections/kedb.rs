//! The known-error database (KEDB) and the open alert dedup keys.

use super::queue::{Cursor, Page, page_size};
use super::tables::{Tables, UNPACKED_ORDER, search_order};
use crate::error::{EngineError, Result};
use crate::numbers::HumanNumber;
use opsledger_core::problem::{KnownError, ProblemStatusKind};
use opsledger_core::{CiId, IncidentId, Priority, ProblemId, ServiceId};
use opsledger_store::{RowFlow, SqlDialect, SqlTables, SqlValue};
use opsledger_store_sqlite::rank;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A KEDB search. All given criteria must match; text matching is case-insensitive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KedbQuery {
    /// Words that must all appear in the title, symptom, root cause or workaround.
    #[serde(default)]
    pub text: Option<String>,
    /// Words that must all appear in the symptom.
    #[serde(default)]
    pub symptom: Option<String>,
    /// A CI among the affected CIs (or the problem's CIs).
    #[serde(default)]
    pub ci: Option<CiId>,
    /// The problem's service.
    #[serde(default)]
    pub service: Option<ServiceId>,
    /// Only entries that have a workaround.
    #[serde(default)]
    pub with_workaround: bool,
    /// Most entries per page (default and maximum: the engine's `max_page_size`).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Continue after this cursor, from the previous page's `next`.
    #[serde(default)]
    pub cursor: Option<Cursor>,
}

impl KedbQuery {
    /// Entries matching `text`.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            ..Self::default()
        }
    }

    /// Entries affecting `ci`.
    pub fn ci(ci: impl Into<CiId>) -> Self {
        Self {
            ci: Some(ci.into()),
            ..Self::default()
        }
    }

    /// Entries whose symptom matches `symptom`.
    pub fn symptom(symptom: impl Into<String>) -> Self {
        Self {
            symptom: Some(symptom.into()),
            ..Self::default()
        }
    }
}

/// One KEDB entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KnownErrorEntry {
    /// The problem.
    pub problem: ProblemId,
    /// Its number.
    pub number: Option<HumanNumber>,
    /// Its title.
    pub title: String,
    /// Its service.
    pub service: Option<ServiceId>,
    /// Its priority.
    pub priority: Option<Priority>,
    /// Its status (a fixed problem's known error stays in the KEDB for reference).
    pub status: ProblemStatusKind,
    /// The published known error.
    pub known_error: KnownError,
    /// Relevance to the query's words (BM25, higher is better; 0 without words).
    pub score: f64,
    /// Where the words matched, marked `[like this]` (`None` without words).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
}

/// Length of a KEDB cursor: the order of the last entry of its page (rank, priority, number,
/// problem id).
const KEDB_CURSOR_LEN: usize = 40;

/// Ranks without a number or priority sort last.
const LAST: i64 = i64::MAX;

/// One phrase of a query: its words, and whether the last one is a prefix.
struct Phrase {
    words: Vec<String>,
    prefix: bool,
}

/// Reads a query the way people type it: words (all must match), `"quoted phrases"`, and a
/// trailing `*` for a prefix (`data*`). Punctuation separates words; nothing in the text is
/// passed to the full-text engine as syntax. A malformed query is an error naming the
/// character where it goes wrong.
fn phrases(field: &str, input: &str) -> Result<Vec<Phrase>> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let words_of = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() || c.is_control() {
            i += 1;
            continue;
        }
        let start = i;
        let (body, mut end) = if c == '"' {
            let Some(close) = chars[i + 1..].iter().position(|&c| c == '"') else {
                return Err(EngineError::invalid(
                    field,
                    format!("the quote at character {} is never closed", start + 1),
                ));
            };
            let body: String = chars[i + 1..i + 1 + close].iter().collect();
            (body, i + close + 2)
        } else {
            let mut j = i;
            while j < chars.len() && !chars[j].is_whitespace() && !chars[j].is_control() {
                if chars[j] == '"' {
                    return Err(EngineError::invalid(
                        field,
                        format!(
                            "a quote inside a word at character {}: put phrases in quotes of their own",
                            j + 1
                        ),
                    ));
                }
                j += 1;
            }
            let mut body: String = chars[i..j].iter().collect();
            if body.ends_with('*') {
                body.pop();
                (body, j - 1)
            } else {
                (body, j)
            }
        };
        let prefix = chars.get(end) == Some(&'*');
        if prefix {
            end += 1;
        }
        let words = words_of(&body);
        if words.is_empty() {
            if prefix {
                return Err(EngineError::invalid(
                    field,
                    format!("the `*` at character {end} needs a word before it"),
                ));
            }
        } else {
            out.push(Phrase { words, prefix });
        }
        i = end;
    }
    if out.is_empty() && !input.trim().is_empty() {
        return Err(EngineError::invalid(
            field,
            "nothing to search for: words need letters or digits",
        ));
    }
    Ok(out)
}

/// The full-text expression of a query: every phrase quoted (so its words are only ever
/// words), all of them required.
fn expression(text: &[Phrase], symptom: &[Phrase]) -> Option<String> {
    let quote = |p: &Phrase| {
        let mut s = format!("\"{}\"", p.words.join(" "));
        if p.prefix {
            s.push_str(" *");
        }
        s
    };
    let mut parts: Vec<String> = text.iter().map(quote).collect();
    if !symptom.is_empty() {
        let inner: Vec<String> = symptom.iter().map(quote).collect();
        parts.push(format!("symptom : ({})", inner.join(" AND ")));
    }
    (!parts.is_empty()).then(|| parts.join(" AND "))
}

/// The same query as PostgreSQL's text search (`to_tsquery` syntax, words only ever quoted):
/// phrases as words in sequence (`<->`), a prefix as `:*`, all of them required; `None` for
/// no phrase.
fn tsquery(phrases: &[Phrase]) -> Option<String> {
    let phrase = |p: &Phrase| {
        let last = p.words.len().saturating_sub(1);
        p.words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                // Words are letters and digits only (see `phrases`): nothing to escape.
                if p.prefix && i == last {
                    format!("'{w}':*")
                } else {
                    format!("'{w}'")
                }
            })
            .collect::<Vec<_>>()
            .join(" <-> ")
    };
    let parts: Vec<String> = phrases.iter().map(|p| format!("({})", phrase(p))).collect();
    (!parts.is_empty()).then(|| parts.join(" & "))
}

/// PostgreSQL's search: the `search` vector of every text field (and `symptom_search` for
/// the symptom), ranked by `ts_rank` (negated, so that the best sorts first as with BM25),
/// the snippet by `ts_headline`.
const SEARCH_WORDS_POSTGRES: &str = "
SELECT entry, rank, snip, p, n, id FROM (
    SELECT k.entry AS entry,
           -CAST(ts_rank(k.search, to_tsquery('english', coalesce(?1, ?10))) AS DOUBLE PRECISION)
               AS rank,
           ts_headline('english',
               k.title || ' ' || k.symptom || ' ' || k.root_cause || ' ' || coalesce(k.workaround, ''),
               to_tsquery('english', coalesce(?1, ?10)),
               'StartSel=[, StopSel=], MaxWords=12, MinWords=4, MaxFragments=1, FragmentDelimiter=...')
               AS snip,
           coalesce(k.priority_rank, 6) AS p, coalesce(k.number_value, 9223372036854775807) AS n,
           k.problem AS id
    FROM known_errors k
    WHERE (CAST(?1 AS TEXT) IS NULL OR k.search @@ to_tsquery('english', ?1))
      AND (CAST(?10 AS TEXT) IS NULL OR k.symptom_search @@ to_tsquery('english', ?10))
      AND (CAST(?2 AS TEXT) IS NULL OR k.service = ?2)
      AND (CAST(?3 AS TEXT) IS NULL OR EXISTS(
          SELECT 1 FROM known_error_cis c WHERE c.problem = k.problem AND c.ci = ?3))
      AND (?4 = 0 OR k.workaround IS NOT NULL)
) AS hits
WHERE CAST(?5 AS DOUBLE PRECISION) IS NULL OR (rank, p, n, id) > (?5, ?6, ?7, ?8)
ORDER BY rank, p, n, id
LIMIT ?9";

const SEARCH_WORDS: &str = "
SELECT entry, rank, snip, p, n, id FROM (
    SELECT k.entry AS entry, bm25(known_errors_fts) AS rank,
           snippet(known_errors_fts, -1, '[', ']', '...', 12) AS snip,
           coalesce(k.priority_rank, 6) AS p, coalesce(k.number_value, 9223372036854775807) AS n,
           k.problem AS id
    FROM known_errors_fts JOIN known_errors k ON k.id = known_errors_fts.rowid
    WHERE known_errors_fts MATCH ?1
      AND (?2 IS NULL OR k.service = ?2)
      AND (?3 IS NULL OR EXISTS(
          SELECT 1 FROM known_error_cis c WHERE c.problem = k.problem AND c.ci = ?3))
      AND (?4 = 0 OR k.workaround IS NOT NULL)
)
WHERE ?5 IS NULL OR (rank, p, n, id) > (?5, ?6, ?7, ?8)
ORDER BY rank, p, n, id
LIMIT ?9";

const SEARCH_ALL: &str = "
SELECT entry, rank, snip, p, n, id FROM (
    SELECT k.entry AS entry, CAST(0 AS DOUBLE PRECISION) AS rank, CAST(NULL AS TEXT) AS snip,
           coalesce(k.priority_rank, 6) AS p, coalesce(k.number_value, 9223372036854775807) AS n,
           k.problem AS id
    FROM known_errors k
    WHERE CAST(?1 AS TEXT) IS NULL
      AND (CAST(?2 AS TEXT) IS NULL OR k.service = ?2)
      AND (CAST(?3 AS TEXT) IS NULL OR EXISTS(
          SELECT 1 FROM known_error_cis c WHERE c.problem = k.problem AND c.ci = ?3))
      AND (?4 = 0 OR k.workaround IS NOT NULL)
) AS hits
WHERE CAST(?5 AS DOUBLE PRECISION) IS NULL OR (rank, p, n, id) > (?5, ?6, ?7, ?8)
ORDER BY rank, p, n, id
LIMIT ?9";

/// The order of the first matches of a full-text expression after a cursor (`?2`..`?5`),
/// at most `?6` of them, with the known errors of a CI only when `?7` is given: the rank
/// computed on the full-text table, the ties ordered from the narrow index over each known
/// error's order (priority, number, problem), no entry or snippet read.
const ORDER_OF_MATCHES: &str = "
SELECT id, score, p, n, problem FROM (
    SELECT k.id AS id, bm25(known_errors_fts) AS score, coalesce(k.priority_rank, 6) AS p,
           coalesce(k.number_value, 9223372036854775807) AS n, k.problem AS problem
    FROM known_errors_fts
    JOIN known_errors k INDEXED BY known_errors_by_row ON k.id = known_errors_fts.rowid
    WHERE known_errors_fts MATCH ?1
      AND (?7 IS NULL OR k.problem IN (SELECT c.problem FROM known_error_cis c WHERE c.ci = ?7)))
WHERE ?2 IS NULL OR (score, p, n, problem) > (?2, ?3, ?4, ?5)
ORDER BY score, p, n, problem
LIMIT ?6";

/// The same order from the full-text table alone, when every known error's order among
/// equal ranks and its length are packed into its row id ([`search_order`]): rank (BM25 as
/// FTS5 computes it, the length taken from the row id), then row id; the cursor (`?2`, `?3`)
/// is a rank and the last row id of a packed order. Neither `known_errors` nor the row's
/// length is read per match.
const ORDER_OF_PACKED_MATCHES: &str = "
SELECT id, score FROM (
    SELECT known_errors_fts.rowid AS id, opsledger_bm25(known_errors_fts) AS score
    FROM known_errors_fts
    WHERE known_errors_fts MATCH ?1
      AND (?5 IS NULL OR +known_errors_fts.rowid IN (
          SELECT k.id FROM known_error_cis c JOIN known_errors k ON k.problem = c.problem
          WHERE c.ci = ?5)))
WHERE ?2 IS NULL OR (score, id) > (?2, ?3)
ORDER BY score, id
LIMIT ?4";

/// Whether some known error's order is not packed into its row id ([`UNPACKED_ORDER`]).
const ANY_UNPACKED: &str = "SELECT EXISTS(SELECT 1 FROM known_errors WHERE id >= ?1)";

/// One match's entry, snippet and order (priority rank, number, problem).
const ENTRY_OF_ROW: &str = "
SELECT k.entry, snippet(known_errors_fts, -1, '[', ']', '...', 12),
       coalesce(k.priority_rank, 6), coalesce(k.number_value, 9223372036854775807), k.problem
FROM known_errors_fts JOIN known_errors k ON k.id = known_errors_fts.rowid
WHERE known_errors_fts MATCH ?1 AND known_errors_fts.rowid = ?2";

/// The first `limit` matches of `expr` after the cursor `after`, in the order of
/// [`SEARCH_WORDS`] (rank, priority, number, problem), and the cursor of the next page if
/// there is one: the order found first without reading any entry, then the entries and
/// snippets of the page's matches alone (rather than of every match, as one statement
/// would). While every known error's order among equal ranks is packed into its row id (a
/// problem without a number is the exception), the order is read from the full-text table
/// alone; otherwise each match's order is read from `known_errors`.
fn ranked_first(
    sql: &dyn SqlTables,
    expr: &str,
    ci: Option<&str>,
    after: Option<(f64, i64, i64, Uuid)>,
    limit: usize,
) -> Result<(Vec<KnownErrorEntry>, Option<[u8; KEDB_CURSOR_LEN]>)> {
    let (r, p, n, id) = match after {
        Some((r, p, n, id)) => (
            SqlValue::Real(r),
            SqlValue::Integer(p),
            SqlValue::Integer(n),
            SqlValue::Text(id.to_string()),
        ),
        None => (
            SqlValue::Null,
            SqlValue::Null,
            SqlValue::Null,
            SqlValue::Null,
        ),
    };
    let ci = ci.map_or(SqlValue::Null, |c| SqlValue::Text(c.to_owned()));
    let packed = sql
        .query_all(ANY_UNPACKED, &[SqlValue::Integer(UNPACKED_ORDER)])?
        .first()
        .and_then(|row| row.first())
        .and_then(SqlValue::as_i64)
        .is_none_or(|any| any == 0);
    let expr_value = SqlValue::Text(expr.to_owned());
    let page = SqlValue::from(limit as u64 + 1);
    let rows = if packed {
        // A cursor's priority and number are its packed order (both came from a packed row).
        let key = match (&p, &n) {
            (SqlValue::Integer(p), SqlValue::Integer(n)) => {
                search_order(Some(*p), u64::try_from(*n).ok())
                    .map_or(UNPACKED_ORDER, |order| rank::pack(order, rank::LENGTH_MASK))
                    .into()
            }
            _ => SqlValue::Null,
        };
        sql.query_all(ORDER_OF_PACKED_MATCHES, &[expr_value, r, key, page, ci])?
    } else {
        sql.query_all(ORDER_OF_MATCHES, &[expr_value, r, p, n, id, page, ci])?
    };
    // The page's row ids and ranks, best first (both statements answer them first).
    let mut order: Vec<(i64, f64)> = rows
        .iter()
        .map(|row| {
            let at = row.first().and_then(SqlValue::as_i64).unwrap_or(0);
            let rank = row.get(1).and_then(SqlValue::as_f64).unwrap_or(0.0);
            (at, rank)
        })
        .collect();
    let more = order.len() > limit;
    order.truncate(limit);
    let mut items = Vec::with_capacity(order.len());
    let mut last_key = None;
    for (id, rank) in order {
        let rows = sql.query_all(
            ENTRY_OF_ROW,
            &[SqlValue::Text(expr.to_owned()), SqlValue::Integer(id)],
        )?;
        let row = rows
            .first()
            .ok_or_else(|| EngineError::Views("a known error without its entry".into()))?;
        let json = row
            .first()
            .and_then(SqlValue::as_str)
            .ok_or_else(|| EngineError::Views("a known error without its entry".into()))?;
        let mut entry: KnownErrorEntry = serde_json::from_str(json).map_err(EngineError::views)?;
        entry.snippet = row.get(1).and_then(SqlValue::as_str).map(str::to_owned);
        entry.score = if rank == 0.0 { 0.0 } else { -rank };
        let p = row.get(2).and_then(SqlValue::as_i64).unwrap_or(LAST);
        let n = row.get(3).and_then(SqlValue::as_i64).unwrap_or(LAST);
        let mut key = [0u8; KEDB_CURSOR_LEN];
        key[..8].copy_from_slice(&rank.to_bits().to_be_bytes());
        key[8..16].copy_from_slice(&p.to_be_bytes());
        key[16..24].copy_from_slice(&n.to_be_bytes());
        key[24..].copy_from_slice(entry.problem.0.as_bytes());
        last_key = Some(key);
        items.push(entry);
    }
    // The page's last match is where the next page starts, if there is one.
    Ok((items, last_key.filter(|_| more)))
}

/// Searches the KEDB: one page of the matching known errors, best first (SQLite FTS5 with
/// BM25 ranking and Porter stemming; ties by priority, then number).
pub(crate) fn search(
    sql: &dyn SqlTables,
    q: &KedbQuery,
    max_page: usize,
) -> Result<Page<KnownErrorEntry>> {
    let limit = page_size(q.limit, max_page, "KEDB")?;
    let after = match &q.cursor {
        Some(c) => {
            let bytes = c.decode_as(KEDB_CURSOR_LEN, "a KEDB search")?;
            let int = |r: std::ops::Range<usize>| {
                bytes
                    .get(r)
                    .and_then(|b| b.try_into().ok())
                    .map(i64::from_be_bytes)
                    .unwrap_or(LAST)
            };
            let rank = f64::from_bits(int(0..8) as u64);
            let id = uuid::Uuid::from_slice(&bytes[24..40]).map_err(|_| {
                EngineError::invalid("cursor", "not a cursor returned by a KEDB search")
            })?;
            Some((rank, int(8..16), int(16..24), id))
        }
        None => None,
    };
    let text = phrases("text", q.text.as_deref().unwrap_or(""))?;
    let symptom = phrases("symptom", q.symptom.as_deref().unwrap_or(""))?;
    let postgres = sql.dialect() == SqlDialect::Postgres;
    let (expr, symptom_expr) = if postgres {
        (tsquery(&text), tsquery(&symptom))
    } else {
        (expression(&text, &symptom), None)
    };
    let statement = match (expr.is_some() || symptom_expr.is_some(), postgres) {
        (false, _) => SEARCH_ALL,
        (true, false) => SEARCH_WORDS,
        (true, true) => SEARCH_WORDS_POSTGRES,
    };
    if statement == SEARCH_WORDS
        && q.service.is_none()
        && !q.with_workaround
        && let Some(expr) = &expr
    {
        let (items, more) = ranked_first(sql, expr, q.ci.as_ref().map(CiId::as_str), after, limit)?;
        let scanned = items.len() + usize::from(more.is_some());
        let next = more.map(|key| Cursor::encode(&key));
        return Ok(Page {
            items,
            next,
            scanned,
        });
    }
    let (r, p, n, id) = match after {
        Some((r, p, n, id)) => (
            SqlValue::Real(r),
            SqlValue::Integer(p),
            SqlValue::Integer(n),
            SqlValue::Text(id.to_string()),
        ),
        None => (
            SqlValue::Null,
            SqlValue::Null,
            SqlValue::Null,
            SqlValue::Null,
        ),
    };
    let params = [
        SqlValue::from(expr),
        SqlValue::from(q.service.as_ref().map(|s| s.as_str().to_owned())),
        SqlValue::from(q.ci.as_ref().map(|c| c.as_str().to_owned())),
        SqlValue::from(q.with_workaround),
        r,
        p,
        n,
        id,
        SqlValue::from(limit as u64 + 1),
        SqlValue::from(symptom_expr),
    ];
    // Only PostgreSQL's search takes the symptom apart (SQLite's FTS5 expression holds it).
    let params = if statement == SEARCH_WORDS_POSTGRES {
        &params[..]
    } else {
        &params[..9]
    };
    let mut rows: Vec<(KnownErrorEntry, [u8; KEDB_CURSOR_LEN])> = Vec::new();
    let mut failure = None;
    sql.query(statement, params, &mut |row| {
        let decoded = (|| -> Result<(KnownErrorEntry, [u8; KEDB_CURSOR_LEN])> {
            let entry = row
                .first()
                .and_then(SqlValue::as_str)
                .ok_or_else(|| EngineError::Views("a known error without its entry".into()))?;
            let mut entry: KnownErrorEntry =
                serde_json::from_str(entry).map_err(EngineError::views)?;
            let rank = row.get(1).and_then(SqlValue::as_f64).unwrap_or(0.0);
            entry.score = if rank == 0.0 { 0.0 } else { -rank };
            entry.snippet = row.get(2).and_then(SqlValue::as_str).map(str::to_owned);
            let mut key = [0u8; KEDB_CURSOR_LEN];
            key[..8].copy_from_slice(&rank.to_bits().to_be_bytes());
            key[8..16].copy_from_slice(
                &row.get(3)
                    .and_then(SqlValue::as_i64)
                    .unwrap_or(LAST)
                    .to_be_bytes(),
            );
            key[16..24].copy_from_slice(
                &row.get(4)
                    .and_then(SqlValue::as_i64)
                    .unwrap_or(LAST)
                    .to_be_bytes(),
            );
            key[24..].copy_from_slice(entry.problem.0.as_bytes());
            Ok((entry, key))
        })();
        match decoded {
            Ok(r) => {
                rows.push(r);
                Ok(RowFlow::Continue)
            }
            Err(e) => {
                failure = Some(e);
                Ok(RowFlow::Stop)
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    let scanned = rows.len();
    let next = (rows.len() > limit).then(|| Cursor::encode(&rows[limit - 1].1));
    rows.truncate(limit);
    Ok(Page {
        items: rows.into_iter().map(|(e, _)| e).collect(),
        next,
        scanned,
    })
}

/// An alert dedup key held by an open incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OpenAlert {
    /// The dedup key.
    pub dedup_key: String,
    /// The open incident holding it.
    pub incident: IncidentId,
    /// That incident's number.
    pub number: Option<HumanNumber>,
    /// Occurrences so far (the opening one included).
    pub alert_count: u64,
}

/// Reads one text column of every row of `sql`.
fn ids(tables: &Tables, sql: &str, params: &[SqlValue]) -> Result<Vec<Uuid>> {
    tables
        .sql
        .query_all(sql, params)?
        .iter()
        .map(|row| match row.first() {
            Some(SqlValue::Text(t)) => Uuid::parse_str(t)
                .map_err(|e| EngineError::Views(format!("a malformed record id: {e}"))),
            Some(_) | None => Err(EngineError::Views("a row without its record id".into())),
        })
        .collect()
}

/// The open incident holding `dedup_key`, if any.
pub(crate) fn alert_owner(tables: &Tables, dedup_key: &str) -> Result<Option<IncidentId>> {
    Ok(ids(
        tables,
        "SELECT incident FROM open_alerts WHERE dedup_key = ?1 ORDER BY incident LIMIT 1",
        &[SqlValue::Text(dedup_key.to_owned())],
    )?
    .first()
    .map(|id| IncidentId(*id)))
}

/// Every open alert dedup key, by key, at most `max_page`.
pub(crate) fn open_alerts(tables: &Tables, max_page: usize) -> Result<Vec<OpenAlert>> {
    let rows = tables.sql.query_all(
        "SELECT a.dedup_key, a.incident, r.view FROM open_alerts a
         JOIN records r ON r.id = a.incident
         ORDER BY a.dedup_key, a.incident LIMIT ?1",
        &[SqlValue::Integer(
            i64::try_from(max_page).unwrap_or(i64::MAX),
        )],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(SqlValue::Text(json)) = row.get(2) else {
            return Err(EngineError::Views(
                "an open alert without its incident".into(),
            ));
        };
        let view = super::decode_view(json.as_bytes())?;
        let Some(alert) = view.incident().and_then(|d| d.alert.clone()) else {
            continue;
        };
        out.push(OpenAlert {
            dedup_key: alert.dedup_key,
            incident: IncidentId(view.record.id),
            number: view.number,
            alert_count: alert.alert_count,
        });
    }
    Ok(out)
}

/// Incidents on hold awaiting `problem`.
pub(crate) fn awaiting(tables: &Tables, problem: ProblemId) -> Result<Vec<IncidentId>> {
    Ok(ids(
        tables,
        "SELECT id FROM records WHERE awaiting_problem = ?1 AND kind = 'incident' ORDER BY id",
        &[SqlValue::Text(problem.0.to_string())],
    )?
    .into_iter()
    .map(IncidentId)
    .collect())
}
