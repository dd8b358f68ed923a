//! Cursor pagination of the change calendar and the KEDB: pages concatenate to the whole
//! result, in order, without repeats; a cursor stays valid when entries are added between
//! pages; bad cursors and page sizes are typed errors.

use crate::support::*;
use opsledger::{CalendarQuery, Cursor, EngineError, KedbQuery};

/// Requests and plans change `n` for a window starting `n` days after t0, on its own CI.
fn planned_change(engine: &opsledger::Engine, n: u32) {
    let chm = change_manager();
    let day = 24 * 60;
    exec(
        engine,
        &chm,
        request_change(chg(n), &format!("change {n}"), &format!("ci-{n}")),
    );
    let start = i64::from(n) * day;
    exec(engine, &chm, plan(chg(n), window(start, start + 120)));
}

#[test]
fn calendar_pages_concatenate_to_the_whole_calendar() {
    let (engine, _clock) = memory_engine();
    // Planned out of order: the calendar is by window start.
    for n in [5, 1, 7, 3, 2, 6, 4] {
        planned_change(&engine, n);
    }
    let view = engine.view(None).unwrap();
    let whole = view.calendar(&CalendarQuery::all()).unwrap();
    assert_eq!(whole.next, None);
    let order: Vec<_> = whole.items.iter().map(|e| e.change).collect();
    assert_eq!(order, (1..=7).map(chg).collect::<Vec<_>>());

    // Concatenated, pages of any size are the whole calendar.
    for (size, sizes) in [(3, vec![3, 3, 1]), (2, vec![2, 2, 2, 1]), (7, vec![7])] {
        let mut pages = Vec::new();
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page = view
                .calendar(&CalendarQuery::all().limit(size).after(cursor))
                .unwrap();
            pages.push(page.items.len());
            all.extend(page.items);
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(pages, sizes);
        assert_eq!(all, whole.items);
    }

    // A window keeps only the changes overlapping it, paged the same way.
    let day = 24 * 60;
    let week = CalendarQuery::over(window(2 * day, 4 * day + 60)).limit(2);
    let first = view.calendar(&week).unwrap();
    let ids: Vec<_> = first.items.iter().map(|e| e.change).collect();
    assert_eq!(ids, vec![chg(2), chg(3)]);
    let second = view.calendar(&week.clone().after(first.next)).unwrap();
    let ids: Vec<_> = second.items.iter().map(|e| e.change).collect();
    assert_eq!(ids, vec![chg(4)]);
    assert_eq!(second.next, None);
}

#[test]
fn a_kedb_cursor_survives_known_errors_added_between_pages() {
    let (engine, _clock) = memory_engine();
    let pm = problem_manager();
    for n in 1..=5 {
        exec(
            &engine,
            &pm,
            create_problem(prb(n), &format!("checkout {n}")),
        );
        problem_to_fix(&engine, prb(n));
    }
    let query = KedbQuery::text("checkout");
    let view = engine.view(None).unwrap();
    let whole = view.known_errors(&query).unwrap();
    assert_eq!(whole.items.len(), 5);
    assert_eq!(whole.next, None);

    let first = view
        .known_errors(&KedbQuery {
            limit: Some(2),
            ..query.clone()
        })
        .unwrap();
    assert_eq!(first.items, whole.items[..2]);
    let cursor = first.next.clone().expect("more pages");

    // A sixth known error is published before the next page is asked for.
    exec(&engine, &pm, create_problem(prb(6), "checkout 6"));
    problem_to_fix(&engine, prb(6));
    let view = engine.view(None).unwrap();
    let mut rest = Vec::new();
    let mut next = Some(cursor);
    while let Some(cursor) = next {
        let page = view
            .known_errors(&KedbQuery {
                limit: Some(2),
                cursor: Some(cursor),
                ..query.clone()
            })
            .unwrap();
        rest.extend(page.items);
        next = page.next;
    }
    // Nothing repeated, nothing skipped: the three after the first page, then the new one.
    let mut seen: Vec<_> = first.items.iter().chain(&rest).map(|e| e.problem).collect();
    assert_eq!(
        &seen[..5],
        whole.items.iter().map(|e| e.problem).collect::<Vec<_>>()
    );
    assert_eq!(seen.pop(), Some(prb(6)));
}

#[test]
fn bad_cursors_and_page_sizes_are_typed_errors() {
    let (engine, _clock) = memory_engine();
    planned_change(&engine, 1);
    let view = engine.view(None).unwrap();
    let max = engine.config().limits.max_page_size;
    for limit in [0, max + 1] {
        assert!(matches!(
            view.calendar(&CalendarQuery::all().limit(limit)),
            Err(EngineError::LimitExceeded { .. })
        ));
        assert!(matches!(
            view.known_errors(&KedbQuery {
                limit: Some(limit),
                ..KedbQuery::default()
            }),
            Err(EngineError::LimitExceeded { .. })
        ));
    }
    // Not hex, the wrong length, and a cursor of the other query.
    for bad in ["zz", "00", &"ab".repeat(33)] {
        let err = view
            .calendar(&CalendarQuery::all().after(Some(Cursor(bad.to_owned()))))
            .unwrap_err();
        assert!(
            matches!(err, EngineError::InvalidInput { ref field, .. } if field == "cursor"),
            "{err:?}"
        );
    }
    let err = view
        .known_errors(&KedbQuery {
            cursor: Some(Cursor("ab".repeat(24))),
            ..KedbQuery::default()
        })
        .unwrap_err();
    assert!(
        matches!(err, EngineError::InvalidInput { ref field, .. } if field == "cursor"),
        "{err:?}"
    );
}
