//! The embedding surface: thread-safety, JSON of commands, numbers, error codes.

use crate::support::*;
use opsledger::{Command, Engine, EngineError, HumanNumber, RecordKind};

#[test]
fn the_engine_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<Engine>();
}

#[test]
fn commands_round_trip_through_json() {
    let commands: Vec<Command> = vec![
        open_incident(inc(1), "x").into(),
        create_problem(prb(1), "p").into(),
        request_change(chg(1), "c", "db-01").into(),
        alert("k", None).into(),
    ];
    for c in commands {
        let json = serde_json::to_string(&c).unwrap();
        let back: Command = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c, "{json}");
    }
    let json = serde_json::to_value(Command::from(close(inc(1)))).unwrap();
    assert_eq!(json["kind"], "incident");
    assert_eq!(json["command"], "close");
}

#[test]
fn human_numbers_parse_and_print() {
    let n: HumanNumber = "inc0000042".parse().unwrap();
    assert_eq!(n, HumanNumber::new(RecordKind::Incident, 42));
    assert_eq!(n.to_string(), "INC0000042");
    assert_eq!(
        HumanNumber::new(RecordKind::Change, 12_345_678).to_string(),
        "CHG12345678"
    );
    for bad in ["", "INC", "INC0", "XYZ0000001", "PRB00x1", "PRB-1"] {
        assert!(
            matches!(
                bad.parse::<HumanNumber>(),
                Err(EngineError::InvalidInput { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn invalid_configuration_is_refused() {
    let clock = clock();
    let e = Engine::in_memory(config(&clock, 1).with_snapshot_every(0)).unwrap_err();
    assert_eq!(e.code(), "invalid_config");
    let e = Engine::in_memory(config(&clock, 1).with_max_attempts(0)).unwrap_err();
    assert_eq!(e.code(), "invalid_config");
}

#[test]
fn queue_pages_follow_the_cursor_without_gaps_or_repeats() {
    let (engine, clock) = memory_engine();
    for i in 1..=23 {
        clock.advance(chrono::Duration::seconds(1));
        exec(&engine, &agent(), open_incident(inc(i), &format!("n{i}")));
    }
    let view = engine.view(None).unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = view
            .queue(
                &opsledger::QueueFilter::incidents()
                    .group("service-desk")
                    .limit(5)
                    .after(cursor),
            )
            .unwrap();
        seen.extend(page.items.iter().map(|v| v.number.unwrap().value));
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(
        seen,
        (1..=23).collect::<Vec<u64>>(),
        "oldest first within a priority"
    );
    let e = view
        .queue(&opsledger::QueueFilter::incidents().after(Some(opsledger::Cursor("zz".into()))))
        .unwrap_err();
    assert_eq!(e.code(), "invalid_input");
    let e = view
        .queue(&opsledger::QueueFilter::incidents().limit(100_000))
        .unwrap_err();
    assert_eq!(e.code(), "limit_exceeded");
}
