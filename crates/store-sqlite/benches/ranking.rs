//! Ranking full-text matches: FTS5's `bm25()` against `opsledger_bm25()` (the same score,
//! the row's length taken from its row id), over a table shaped like the KEDB's (four
//! columns, 34 words per row from a vocabulary of 400, so one word matches about 8.5% of
//! the rows); the first page (21 rows) of one-word queries, p50/p99 per round, both
//! functions interleaved query by query.
//!
//! ```text
//! cargo bench -p opsledger-store-sqlite --bench ranking
//! OPSLEDGER_BENCH_ROWS=20000 cargo bench -p opsledger-store-sqlite --bench ranking
//! ```

use std::time::{Duration, Instant};

use opsledger_store_sqlite::rank;
use rusqlite::Connection;

const WORDS: usize = 400;

fn word(i: usize) -> String {
    const SYLLABLES: [&str; 20] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "de", "po", "ga", "fe", "zu", "ri", "ba",
        "che", "ton", "mar", "lin", "dor",
    ];
    let i = i % WORDS;
    format!(
        "{}{}{}",
        SYLLABLES[i % 20],
        SYLLABLES[(i / 20) % 20],
        SYLLABLES[(i * 7) % 20]
    )
}

fn sentence(seed: u64, len: usize) -> String {
    (0..len)
        .map(|k| word(((seed.wrapping_mul(2_654_435_761) >> 7) as usize + k * 37) % WORDS))
        .collect::<Vec<_>>()
        .join(" ")
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile_us(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rows = env_u64("OPSLEDGER_BENCH_ROWS", 100_000);
    let rounds = env_u64("OPSLEDGER_BENCH_ROUNDS", 5);
    let dir = tempfile::tempdir().expect("temp dir");
    let conn = Connection::open(dir.path().join("ranking.db")).expect("open");
    rank::register(&conn).expect("register");
    conn.execute_batch(
        "CREATE VIRTUAL TABLE t USING fts5(title, symptom, root_cause, workaround,
             tokenize = 'porter unicode61 remove_diacritics 2');",
    )
    .expect("create");
    let started = Instant::now();
    let tx = conn.unchecked_transaction().expect("begin");
    for n in 0..rows {
        let order = (3 << 40) | (n as i64 + 1);
        let base = rank::pack(order, 0);
        tx.execute(
            "INSERT INTO t(rowid, title, symptom, root_cause, workaround) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                base,
                sentence(n, 4),
                sentence(n + 2, 12),
                sentence(n + 3, 10),
                sentence(n + 4, 8)
            ],
        )
        .expect("insert");
        let length: i64 = tx
            .query_row(
                "SELECT opsledger_fts_length(t) FROM t WHERE rowid = ?1",
                [base],
                |r| r.get(0),
            )
            .expect("length");
        tx.execute(
            "UPDATE t SET rowid = ?2 WHERE rowid = ?1",
            [base, rank::pack(order, length)],
        )
        .expect("re-key");
    }
    tx.commit().expect("commit");
    println!(
        "# ranking full-text matches: bm25() vs opsledger_bm25()\n\n{rows} rows written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let count: i64 = conn
        .query_row(
            "SELECT count(*) FROM t WHERE t MATCH ?1",
            [format!("\"{}\"", word(5))],
            |r| r.get(0),
        )
        .expect("count");
    println!("one word matches {count} rows\n");
    let statement = |function: &str| {
        format!(
            "SELECT rowid, {function}(t) AS score FROM t WHERE t MATCH ?1 ORDER BY score, rowid LIMIT 21"
        )
    };
    let (fts5, ours) = (statement("bm25"), statement("opsledger_bm25"));
    let mut figures = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for round in 0..rounds {
        let mut times = (Vec::new(), Vec::new());
        for i in 0..200u64 {
            let query = format!("\"{}\"", word((i * 31 + round * 17) as usize));
            let run = |sql: &str| {
                let mut stmt = conn.prepare_cached(sql).expect("prepare");
                let started = Instant::now();
                let page: Vec<(i64, f64)> = stmt
                    .query_map([&query], |r| Ok((r.get(0)?, r.get(1)?)))
                    .expect("query")
                    .collect::<Result<_, _>>()
                    .expect("rows");
                (started.elapsed(), page)
            };
            // Alternate which runs first, so that neither always finds the pages warm.
            let ((a, pa), (b, pb)) = if i % 2 == 0 {
                let a = run(&fts5);
                (a, run(&ours))
            } else {
                let b = run(&ours);
                (run(&fts5), b)
            };
            assert_eq!(pa, pb, "both functions rank alike");
            times.0.push(a);
            times.1.push(b);
        }
        times.0.sort();
        times.1.sort();
        figures[0].push(percentile_us(&times.0, 50.0));
        figures[1].push(percentile_us(&times.0, 99.0));
        figures[2].push(percentile_us(&times.1, 50.0));
        figures[3].push(percentile_us(&times.1, 99.0));
    }
    let [a50, a99, b50, b99] = figures.map(median);
    println!("| figure (median of {rounds} rounds) | bm25() | opsledger_bm25() | ratio |");
    println!("|---|---:|---:|---:|");
    println!(
        "| first page p50, µs | {a50:.0} | {b50:.0} | {:.2}x |",
        b50 / a50
    );
    println!(
        "| first page p99, µs | {a99:.0} | {b99:.0} | {:.2}x |",
        b99 / a99
    );
}
