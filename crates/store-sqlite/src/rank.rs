//! Full-text ranking functions registered on every connection: FTS5's BM25 without the
//! document-length lookup per match, for tables whose row ids carry each row's length.
//!
//! FTS5's own `bm25()` reads every matching row's length in tokens from the `%_docsize`
//! table, one B-tree lookup per match: over thousands of matches that lookup is most of a
//! search's time. A table that packs each row's length into the low [`LENGTH_BITS`] bits of
//! its row id (see [`pack`]) can be ranked with `opsledger_bm25(table)`, which computes the
//! same score as `bm25(table)` (same constants, same arithmetic, column weights 1) from the
//! row id instead. A row id whose length bits are all zero or all one (a length too large
//! to pack), or at or above [`UNPACKED`], has its length read as `bm25()` does.
//! `opsledger_fts_length(table)` answers the current row's length, for packing it.
//!
//! These are the only `unsafe` code of the crate: FTS5's extension interface is C, and
//! rusqlite does not wrap it.

#![allow(unsafe_code)]

use rusqlite::Connection;
use rusqlite::ffi;
use std::ffi::{c_int, c_void};
use std::ptr;

/// Bits of a packed row id that hold the row's length in tokens.
pub const LENGTH_BITS: u32 = 20;
/// The length bits of a packed row id.
pub const LENGTH_MASK: i64 = (1 << LENGTH_BITS) - 1;
/// Row ids from here up pack nothing.
pub const UNPACKED: i64 = 7 << 60;

/// A row id that packs `order` (below `7 << 40`: what the row sorts by among equal ranks)
/// and the row's `length` in tokens (saturated at [`LENGTH_MASK`], which means "not packed").
pub fn pack(order: i64, length: i64) -> i64 {
    debug_assert!((0..7 << 40).contains(&order));
    (order << LENGTH_BITS) | length.clamp(0, LENGTH_MASK)
}

/// Registers `opsledger_bm25` and `opsledger_fts_length` on `conn` (the store does so on
/// every connection it opens).
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    let api = fts5_api(conn)?;
    for (name, function) in [
        (c"opsledger_bm25", bm25 as Extension),
        (c"opsledger_fts_length", length as Extension),
    ] {
        // SAFETY: `api` is the connection's live FTS5 interface (checked non-null by
        // `fts5_api`); the name is a NUL-terminated static string, the function has the
        // signature FTS5 calls, and no user data is passed (nothing to destroy).
        let rc = unsafe {
            let create = (*api)
                .xCreateFunction
                .ok_or_else(|| failure(ffi::SQLITE_MISUSE))?;
            create(api, name.as_ptr(), ptr::null_mut(), Some(function), None)
        };
        if rc != ffi::SQLITE_OK {
            return Err(failure(rc));
        }
    }
    Ok(())
}

type Extension = unsafe extern "C" fn(
    *const ffi::Fts5ExtensionApi,
    *mut ffi::Fts5Context,
    *mut ffi::sqlite3_context,
    c_int,
    *mut *mut ffi::sqlite3_value,
);

fn failure(rc: c_int) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        ffi::Error::new(rc),
        Some("registering the full-text ranking functions".to_owned()),
    )
}

/// The connection's FTS5 interface, obtained the documented way: `SELECT fts5(?1)` with a
/// pointer bound to `?1`.
fn fts5_api(conn: &Connection) -> rusqlite::Result<*mut ffi::fts5_api> {
    let mut api: *mut ffi::fts5_api = ptr::null_mut();
    // SAFETY: the handle is the open connection's; the statement is prepared, stepped once
    // and finalized here, and `api` outlives it (FTS5 writes the pointer during the step).
    let rc = unsafe {
        let db = conn.handle();
        let mut stmt: *mut ffi::sqlite3_stmt = ptr::null_mut();
        let rc = ffi::sqlite3_prepare_v2(
            db,
            c"SELECT fts5(?1)".as_ptr(),
            -1,
            &mut stmt,
            ptr::null_mut(),
        );
        if rc != ffi::SQLITE_OK {
            return Err(failure(rc));
        }
        let mut rc = ffi::sqlite3_bind_pointer(
            stmt,
            1,
            (&raw mut api).cast::<c_void>(),
            c"fts5_api_ptr".as_ptr(),
            None,
        );
        if rc == ffi::SQLITE_OK {
            rc = ffi::sqlite3_step(stmt);
        }
        let finalized = ffi::sqlite3_finalize(stmt);
        if rc == ffi::SQLITE_ROW || rc == ffi::SQLITE_DONE {
            finalized
        } else {
            rc
        }
    };
    if rc != ffi::SQLITE_OK {
        return Err(failure(rc));
    }
    if api.is_null() {
        return Err(failure(ffi::SQLITE_ERROR));
    }
    Ok(api)
}

/// What one query's scores share: the average row length and each phrase's IDF (as FTS5's
/// `bm25()` computes them), and a scratch array of phrase frequencies.
struct QueryData {
    avgdl: f64,
    idf: Vec<f64>,
    freq: Vec<f64>,
}

unsafe extern "C" fn free_query_data(p: *mut c_void) {
    if !p.is_null() {
        // SAFETY: `p` came from `Box::into_raw` in `query_data` and FTS5 frees it once.
        drop(unsafe { Box::from_raw(p.cast::<QueryData>()) });
    }
}

unsafe extern "C" fn count_row(
    _api: *const ffi::Fts5ExtensionApi,
    _fts: *mut ffi::Fts5Context,
    user: *mut c_void,
) -> c_int {
    // SAFETY: `user` is the `i64` counter `query_data` passed to `xQueryPhrase`.
    unsafe { *user.cast::<i64>() += 1 };
    ffi::SQLITE_OK
}

/// Calls an optional FTS5 interface function, or fails with `SQLITE_MISUSE` if the version
/// of FTS5 lacks it.
macro_rules! call {
    ($api:expr, $f:ident, $($arg:expr),*) => {
        match (*$api).$f {
            Some(f) => f($($arg),*),
            None => return Err(ffi::SQLITE_MISUSE),
        }
    };
}

/// The query's shared data, computed at its first row.
///
/// # Safety
/// `api` and `fts` are the pointers FTS5 passed to the extension function.
unsafe fn query_data(
    api: *const ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
) -> Result<*mut QueryData, c_int> {
    // SAFETY (whole body): the calls follow FTS5's extension interface on the pointers it
    // passed; the auxiliary data is ours (a boxed `QueryData`, freed by `free_query_data`).
    unsafe {
        let data = call!(api, xGetAuxdata, fts, 0).cast::<QueryData>();
        if !data.is_null() {
            return Ok(data);
        }
        let phrases = usize::try_from(call!(api, xPhraseCount, fts)).unwrap_or(0);
        let mut rows: i64 = 0;
        let mut tokens: i64 = 0;
        check(call!(api, xRowCount, fts, &mut rows))?;
        check(call!(api, xColumnTotalSize, fts, -1, &mut tokens))?;
        let mut idf = Vec::with_capacity(phrases);
        for i in 0..phrases {
            let mut hits: i64 = 0;
            check(call!(
                api,
                xQueryPhrase,
                fts,
                i as c_int,
                (&raw mut hits).cast::<c_void>(),
                Some(count_row)
            ))?;
            let value = ((rows - hits) as f64 + 0.5) / (hits as f64 + 0.5);
            let value = value.ln();
            idf.push(if value <= 0.0 { 1e-6 } else { value });
        }
        let data = Box::into_raw(Box::new(QueryData {
            avgdl: tokens as f64 / rows as f64,
            idf,
            freq: vec![0.0; phrases],
        }));
        let rc = call!(
            api,
            xSetAuxdata,
            fts,
            data.cast::<c_void>(),
            Some(free_query_data)
        );
        if rc != ffi::SQLITE_OK {
            // FTS5 calls the destructor itself when it cannot keep the data.
            return Err(rc);
        }
        Ok(data)
    }
}

fn check(rc: c_int) -> Result<(), c_int> {
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(rc)
    }
}

/// The current row's length in tokens, from its row id when it packs it.
///
/// # Safety
/// As [`query_data`].
unsafe fn row_length(
    api: *const ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
) -> Result<f64, c_int> {
    // SAFETY: as `query_data`.
    unsafe {
        let rowid = call!(api, xRowid, fts);
        let packed = rowid & LENGTH_MASK;
        if (0..UNPACKED).contains(&rowid) && packed != 0 && packed != LENGTH_MASK {
            return Ok(packed as f64);
        }
        let mut tokens: c_int = 0;
        check(call!(api, xColumnSize, fts, -1, &mut tokens))?;
        Ok(f64::from(tokens))
    }
}

/// BM25 as FTS5's `bm25()` computes it (k1 = 1.2, b = 0.75, every column weighing 1,
/// negated so that the best match sorts first).
///
/// # Safety
/// As [`query_data`].
unsafe fn score(
    api: *const ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
) -> Result<f64, c_int> {
    const K1: f64 = 1.2;
    const B: f64 = 0.75;
    // SAFETY: as `query_data`; `data` stays valid for the whole query.
    unsafe {
        let data = &mut *query_data(api, fts)?;
        data.freq.iter_mut().for_each(|f| *f = 0.0);
        let mut instances: c_int = 0;
        check(call!(api, xInstCount, fts, &mut instances))?;
        for i in 0..instances {
            let (mut phrase, mut column, mut offset): (c_int, c_int, c_int) = (0, 0, 0);
            check(call!(
                api,
                xInst,
                fts,
                i,
                &mut phrase,
                &mut column,
                &mut offset
            ))?;
            if let Some(f) = usize::try_from(phrase)
                .ok()
                .and_then(|p| data.freq.get_mut(p))
            {
                *f += 1.0;
            }
        }
        let d = row_length(api, fts)?;
        let mut score = 0.0;
        for (idf, freq) in data.idf.iter().zip(&data.freq) {
            score += idf * ((freq * (K1 + 1.0)) / (freq + K1 * (1.0 - B + B * d / data.avgdl)));
        }
        // `bm25()` returns `-1.0 * score`: the same bits.
        Ok(-score)
    }
}

unsafe extern "C" fn bm25(
    api: *const ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    ctx: *mut ffi::sqlite3_context,
    _n: c_int,
    _values: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: FTS5 passes valid pointers for the duration of the call.
    match std::panic::catch_unwind(|| unsafe { score(api, fts) }) {
        Ok(Ok(value)) => unsafe { ffi::sqlite3_result_double(ctx, value) },
        Ok(Err(rc)) => unsafe { ffi::sqlite3_result_error_code(ctx, rc) },
        Err(_) => unsafe { ffi::sqlite3_result_error_code(ctx, ffi::SQLITE_INTERNAL) },
    }
}

unsafe extern "C" fn length(
    api: *const ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    ctx: *mut ffi::sqlite3_context,
    _n: c_int,
    _values: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: FTS5 passes valid pointers for the duration of the call.
    let tokens = std::panic::catch_unwind(|| unsafe {
        let mut tokens: c_int = 0;
        check(call!(api, xColumnSize, fts, -1, &mut tokens)).map(|()| tokens)
    });
    match tokens {
        Ok(Ok(n)) => unsafe { ffi::sqlite3_result_int64(ctx, i64::from(n)) },
        Ok(Err(rc)) => unsafe { ffi::sqlite3_result_error_code(ctx, rc) },
        Err(_) => unsafe { ffi::sqlite3_result_error_code(ctx, ffi::SQLITE_INTERNAL) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table(docs: &[(i64, String, String)]) -> Connection {
        let conn = Connection::open_in_memory().expect("open");
        register(&conn).expect("register");
        conn.execute_batch(
            "CREATE VIRTUAL TABLE t USING fts5(a, b, tokenize = 'porter unicode61 remove_diacritics 2')",
        )
        .expect("create");
        for (order, a, b) in docs {
            conn.execute(
                "INSERT INTO t(rowid, a, b) VALUES (?1, ?2, ?3)",
                rusqlite::params![pack(*order, 0), a, b],
            )
            .expect("insert");
            let length: i64 = conn
                .query_row(
                    "SELECT opsledger_fts_length(t) FROM t WHERE rowid = ?1",
                    [pack(*order, 0)],
                    |r| r.get(0),
                )
                .expect("length");
            if length != 0 {
                conn.execute(
                    "INSERT INTO t(rowid, a, b) SELECT ?2, a, b FROM t WHERE rowid = ?1",
                    [pack(*order, 0), pack(*order, length)],
                )
                .expect("re-key");
                conn.execute("DELETE FROM t WHERE rowid = ?1", [pack(*order, 0)])
                    .expect("delete");
            }
        }
        conn
    }

    const WORDS: [&str; 6] = ["disk", "disks", "queue", "cache", "pool", "full"];

    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(&WORDS[..]), 0..12).prop_map(|w| w.join(" "))
    }

    proptest! {
        /// `opsledger_bm25` equals FTS5's `bm25` exactly for every match of any query, the
        /// row ids packing lengths or not; `opsledger_fts_length` is the row's token count.
        #[test]
        fn packed_bm25_equals_fts5_bm25(
            docs in prop::collection::vec((text(), text(), any::<bool>()), 1..30),
            query in prop::collection::vec(prop::sample::select(&WORDS[..]), 1..3),
            prefix in any::<bool>(),
        ) {
            let docs: Vec<(i64, String, String)> = docs
                .into_iter()
                .enumerate()
                .map(|(i, (a, b, long))| {
                    // Rows of very different lengths, so that length matters to the rank.
                    let a = if long { format!("{a} {a} {a}") } else { a };
                    (i as i64 + 1, a, b)
                })
                .collect();
            let conn = table(&docs);
            // A row past the packed range, as an unnumbered known error's would be.
            conn.execute("INSERT INTO t(rowid, a, b) VALUES (?1, 'disk queue', 'full')", [UNPACKED + 3])
                .expect("unpacked row");
            let mut expr: Vec<String> = query.iter().map(|w| format!("\"{w}\"")).collect();
            if prefix {
                expr.push("\"dis\" *".to_owned());
            }
            let expr = expr.join(" OR ");
            let mut stmt = conn
                .prepare("SELECT rowid, bm25(t), opsledger_bm25(t), opsledger_fts_length(t)
                          FROM t WHERE t MATCH ?1")
                .expect("prepare");
            let rows: Vec<(i64, f64, f64, i64)> = stmt
                .query_map([&expr], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            for (rowid, fts5, ours, length) in &rows {
                prop_assert_eq!(fts5.to_bits(), ours.to_bits(), "row {}", rowid);
                if *rowid < UNPACKED {
                    prop_assert_eq!(rowid & LENGTH_MASK, *length);
                }
            }
        }
    }

    #[test]
    fn a_length_too_large_to_pack_is_read_from_the_table() {
        let conn = Connection::open_in_memory().expect("open");
        register(&conn).expect("register");
        conn.execute_batch("CREATE VIRTUAL TABLE t USING fts5(a)")
            .expect("create");
        // Saturated and zero length bits: both mean "not packed".
        for (rowid, text) in [
            (pack(1, LENGTH_MASK), "disk disk queue"),
            (pack(2, 0), "disk"),
        ] {
            conn.execute(
                "INSERT INTO t(rowid, a) VALUES (?1, ?2)",
                rusqlite::params![rowid, text],
            )
            .expect("insert");
        }
        let mut stmt = conn
            .prepare("SELECT bm25(t), opsledger_bm25(t) FROM t WHERE t MATCH 'disk'")
            .expect("prepare");
        let rows: Vec<(f64, f64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(rows.len(), 2);
        for (fts5, ours) in rows {
            assert_eq!(fts5.to_bits(), ours.to_bits());
        }
    }
}
