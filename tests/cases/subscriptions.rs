//! Live consumers: `subscribe(from)` blocks until events arrive, in order; a consumer resumes
//! from its own checkpoint.

use crate::support::*;
use std::time::Duration;

#[test]
fn subscribers_receive_new_events_in_order_and_resume_from_their_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let engine = disk_engine(dir.path(), &clock, 1);
    // The log starts with the policy's version 1.
    let start = engine.head().unwrap();
    assert_eq!(start, 1);
    let mut sub = engine.subscribe(start).unwrap();
    // Nothing yet: a bounded wait returns empty-handed.
    assert!(
        sub.next_timeout(Duration::from_millis(20))
            .unwrap()
            .is_none()
    );

    let consumer = std::thread::spawn(move || {
        // Blocks until the writer below has appended enough.
        let events: Vec<_> = sub.by_ref().take(6).map(|e| e.unwrap()).collect();
        (events, sub.position())
    });
    std::thread::sleep(Duration::from_millis(20));
    exec(&engine, &agent(), open_incident(inc(1), "x")); // numbering + opened
    exec(&engine, &agent(), assign(inc(1), "ops", "alice")); // assigned + acknowledged
    exec(&engine, &agent(), note(inc(1), "n1"));
    exec(&engine, &agent(), note(inc(1), "n2"));
    let (events, checkpoint) = consumer.join().unwrap();
    let positions: Vec<u64> = events.iter().map(|e| e.position.0).collect();
    assert_eq!(positions, [2, 3, 4, 5, 6, 7]);
    assert_eq!(events[1].event_type, "incident.opened");
    assert_eq!(checkpoint.0, 7);
    let decoded = opsledger::decode_event(&events[1]).unwrap().unwrap();
    assert_eq!(decoded.record(), opsledger::RecordRef::incident(inc(1)));

    // The consumer crashed after its checkpoint: it resumes from there, across a restart.
    engine.close().unwrap();
    let engine = disk_engine(dir.path(), &clock, 2);
    exec(&engine, &agent(), note(inc(1), "n3"));
    let mut sub = engine.subscribe(checkpoint.0).unwrap();
    let next = sub.next_timeout(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(next.position.0, 8);
    assert!(
        sub.next_timeout(Duration::from_millis(20))
            .unwrap()
            .is_none()
    );
}
