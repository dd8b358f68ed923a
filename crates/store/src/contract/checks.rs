//! The checks of the contract suite. Each takes a [`Factory`] that makes a fresh, empty store
//! with the given configuration (and a manual clock at [`t0`]).

use std::collections::HashSet;
use std::time::Duration;

use chrono::Duration as ChronoDuration;
use serde_json::json;

use super::*;
use crate::{
    AppendRequest, ExpectedVersion, Limit, Position, StoreConfig, StoreError, StoreLimits,
    Upcasters, Version,
};

pub(super) fn cfg() -> StoreConfig {
    StoreConfig::default()
}

/// Checks that empty store reads empty.
pub fn empty_store_reads_empty(make: Factory) {
    let s = make(cfg());
    assert_eq!(s.head().unwrap(), Position::BEGINNING);
    assert!(s.read_all(Position::BEGINNING, 10).unwrap().is_empty());
    assert_eq!(s.stream_version(&stream("a")).unwrap(), Version::NONE);
    assert!(
        s.read_stream(&stream("a"), Version::NONE, 10)
            .unwrap()
            .is_empty()
    );
    assert!(s.event_by_id(ev(1).event_id).unwrap().is_none());
    assert!(s.verify().unwrap().is_clean());
}

/// Checks that append assigns dense versions and positions.
pub fn append_assigns_dense_versions_and_positions(make: Factory) {
    let s = make(cfg());
    let o = s
        .append(&stream("a"), ExpectedVersion::NoStream, evs(0..3))
        .unwrap();
    assert_eq!(
        (o.first_position, o.last_position),
        (Position(1), Position(3))
    );
    assert_eq!((o.first_version, o.last_version), (Version(1), Version(3)));
    assert!(!o.was_duplicate);
    let o = s
        .append(&stream("b"), ExpectedVersion::Any, evs(3..4))
        .unwrap();
    assert_eq!(
        (o.first_position, o.first_version),
        (Position(4), Version(1))
    );
    let o = s
        .append(&stream("a"), ExpectedVersion::Exact(Version(3)), evs(4..6))
        .unwrap();
    assert_eq!(
        (o.first_position, o.last_position),
        (Position(5), Position(6))
    );
    assert_eq!((o.first_version, o.last_version), (Version(4), Version(5)));
    assert_eq!(s.head().unwrap(), Position(6));
    let all = s.read_all(Position::BEGINNING, 100).unwrap();
    let positions: Vec<u64> = all.iter().map(|e| e.position.0).collect();
    assert_eq!(positions, vec![1, 2, 3, 4, 5, 6]);
    let a = s.read_stream(&stream("a"), Version::FIRST, 100).unwrap();
    let versions: Vec<u64> = a.iter().map(|e| e.version.0).collect();
    assert_eq!(versions, vec![1, 2, 3, 4, 5]);
    assert!(a.iter().all(|e| e.stream == stream("a")));
    assert_eq!(s.stream_version(&stream("a")).unwrap(), Version(5));
    assert_eq!(s.stream_version(&stream("b")).unwrap(), Version(1));
    assert!(s.verify().unwrap().is_clean());
}

/// Checks that stored event carries every field.
pub fn stored_event_carries_every_field(make: Factory) {
    let s = make(cfg());
    s.clock.advance(ChronoDuration::seconds(90));
    let mut e = ev(7);
    e.event_type = "incident.opened".into();
    e.schema_version = 2;
    e.occurred_at = t0() - ChronoDuration::hours(1);
    e.causation_id = Some(uuid::Uuid::from_u128(99));
    e.payload = br#"{"title":"disk full","x":[1,2,3]}"#.to_vec();
    s.append(
        &stream("incident-1"),
        ExpectedVersion::NoStream,
        vec![e.clone()],
    )
    .unwrap();
    let got = s
        .read_stream(&stream("incident-1"), Version::FIRST, 1)
        .unwrap()
        .remove(0);
    assert_eq!(got.position, Position(1));
    assert_eq!(got.stream, stream("incident-1"));
    assert_eq!(got.version, Version(1));
    assert_eq!(got.event_id, e.event_id);
    assert_eq!(got.event_type, e.event_type);
    assert_eq!(got.schema_version, 2);
    assert_eq!(got.occurred_at, e.occurred_at);
    assert_eq!(got.recorded_at, t0() + ChronoDuration::seconds(90));
    assert_eq!(got.actor, e.actor);
    assert_eq!(got.correlation_id, e.correlation_id);
    assert_eq!(got.causation_id, e.causation_id);
    assert_eq!(got.payload, e.payload);
    assert_eq!(s.event_by_id(e.event_id).unwrap().unwrap(), got);
    assert_eq!(s.read_all(Position(1), 1).unwrap()[0], got);
}

/// Checks that recorded at never goes backwards.
pub fn recorded_at_never_goes_backwards(make: Factory) {
    let s = make(cfg());
    s.clock.set(t0() + ChronoDuration::seconds(10));
    s.append(&stream("a"), ExpectedVersion::Any, evs(0..1))
        .unwrap();
    s.clock.set(t0());
    s.append(&stream("a"), ExpectedVersion::Any, evs(1..2))
        .unwrap();
    let all = s.read_all(Position::BEGINNING, 10).unwrap();
    assert_eq!(all[0].recorded_at, all[1].recorded_at);
}

/// Checks that expected version rules.
pub fn expected_version_rules(make: Factory) {
    let s = make(cfg());
    let a = stream("a");
    let err = s
        .append(&a, ExpectedVersion::StreamExists, evs(0..1))
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::WrongExpectedVersion {
                actual: Version(0),
                ..
            }
        ),
        "{err}"
    );
    let err = s
        .append(&a, ExpectedVersion::Exact(Version(1)), evs(0..1))
        .unwrap_err();
    assert!(matches!(err, StoreError::WrongExpectedVersion { .. }));
    s.append(&a, ExpectedVersion::Exact(Version::NONE), evs(0..1))
        .unwrap();
    let err = s
        .append(&a, ExpectedVersion::NoStream, evs(1..2))
        .unwrap_err();
    match err {
        StoreError::WrongExpectedVersion {
            stream,
            expected,
            actual,
        } => {
            assert_eq!(stream, a);
            assert_eq!(expected, ExpectedVersion::NoStream);
            assert_eq!(actual, Version(1));
        }
        other => panic!("unexpected {other}"),
    }
    let err = s
        .append(&a, ExpectedVersion::Exact(Version(5)), evs(1..2))
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::WrongExpectedVersion {
            actual: Version(1),
            ..
        }
    ));
    s.append(&a, ExpectedVersion::StreamExists, evs(1..2))
        .unwrap();
    s.append(&a, ExpectedVersion::Any, evs(2..3)).unwrap();
    s.append(&a, ExpectedVersion::Exact(Version(3)), evs(3..4))
        .unwrap();
    assert_eq!(s.stream_version(&a).unwrap(), Version(4));
    assert_eq!(s.head().unwrap(), Position(4));
}

/// Checks that idempotent retries.
pub fn idempotent_retries(make: Factory) {
    let s = make(cfg());
    let a = stream("a");
    let first = s.append(&a, ExpectedVersion::NoStream, evs(0..3)).unwrap();
    // Same events, NoStream, second time: acknowledged, nothing written.
    let again = s.append(&a, ExpectedVersion::NoStream, evs(0..3)).unwrap();
    assert!(again.was_duplicate);
    assert_eq!(
        (again.first_position, again.last_position),
        (first.first_position, first.last_position)
    );
    assert_eq!(
        (again.first_version, again.last_version),
        (Version(1), Version(3))
    );
    // Exact(expected) retry, Any retry, StreamExists retry, a prefix retry.
    assert!(
        s.append(&a, ExpectedVersion::Exact(Version::NONE), evs(0..3))
            .unwrap()
            .was_duplicate
    );
    assert!(
        s.append(&a, ExpectedVersion::Any, evs(0..3))
            .unwrap()
            .was_duplicate
    );
    assert!(
        s.append(&a, ExpectedVersion::StreamExists, evs(0..3))
            .unwrap()
            .was_duplicate
    );
    let prefix = s.append(&a, ExpectedVersion::Any, evs(0..2)).unwrap();
    assert!(prefix.was_duplicate);
    assert_eq!(prefix.last_version, Version(2));
    let s2 = s
        .append(&a, ExpectedVersion::Exact(Version(3)), evs(3..5))
        .unwrap();
    let retry = s
        .append(&a, ExpectedVersion::Exact(Version(3)), evs(3..5))
        .unwrap();
    assert!(retry.was_duplicate);
    assert_eq!(retry.first_position, s2.first_position);
    assert_eq!(s.head().unwrap(), Position(5));
    // Same first events plus new ones ("some"): rejected.
    let err = s
        .append(
            &a,
            ExpectedVersion::NoStream,
            evs(0..4).into_iter().chain(evs(10..11)).collect(),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateEventId { .. }), "{err}");
    let err = s
        .append(&a, ExpectedVersion::Any, vec![ev(4), ev(11)])
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateEventId { .. }), "{err}");
    // Correct expected version but an id that is already stored: rejected.
    let err = s
        .append(&a, ExpectedVersion::Exact(Version(5)), vec![ev(1)])
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::DuplicateEventId {
                existing_position: Position(2),
                ..
            }
        ),
        "{err}"
    );
    // A retry claiming another place than where the events are: rejected.
    let err = s
        .append(&a, ExpectedVersion::Exact(Version(1)), evs(0..1))
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateEventId { .. }), "{err}");
    // Events in another order are not the same append.
    let err = s
        .append(&a, ExpectedVersion::Any, vec![ev(1), ev(0)])
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateEventId { .. }), "{err}");
    // An id stored in another stream.
    let err = s
        .append(&stream("b"), ExpectedVersion::Any, vec![ev(2)])
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::DuplicateEventId {
                existing_position: Position(3),
                ..
            }
        ),
        "{err}"
    );
    // Duplicate ids inside one append.
    let err = s
        .append(&stream("b"), ExpectedVersion::Any, vec![ev(20), ev(20)])
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err}");
    assert_eq!(s.head().unwrap(), Position(5));
    assert_eq!(s.stream_version(&stream("b")).unwrap(), Version::NONE);
    assert!(s.verify().unwrap().is_clean());
}

/// Checks that multi stream append is atomic.
pub fn multi_stream_append_is_atomic(make: Factory) {
    let s = make(cfg());
    s.append(&stream("counter"), ExpectedVersion::NoStream, evs(0..1))
        .unwrap();
    let reqs = |counter_expected| {
        vec![
            AppendRequest::new(stream("incident-1"), ExpectedVersion::NoStream, evs(10..12)),
            AppendRequest::new(stream("counter"), counter_expected, evs(20..21)),
        ]
    };
    // One conflicting part rejects the whole commit.
    let err = s
        .append_multi(reqs(ExpectedVersion::Exact(Version(7))))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::WrongExpectedVersion { .. }),
        "{err}"
    );
    assert_eq!(s.head().unwrap(), Position(1));
    assert_eq!(
        s.stream_version(&stream("incident-1")).unwrap(),
        Version::NONE
    );
    let out = s
        .append_multi(reqs(ExpectedVersion::Exact(Version(1))))
        .unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(
        (out[0].first_position, out[0].last_position),
        (Position(2), Position(3))
    );
    assert_eq!(
        (out[1].first_position, out[1].first_version),
        (Position(4), Version(2))
    );
    // The exact retry is a duplicate, a mixed retry is rejected.
    let again = s
        .append_multi(reqs(ExpectedVersion::Exact(Version(1))))
        .unwrap();
    assert!(again.iter().all(|o| o.was_duplicate));
    assert_eq!(
        again,
        out.iter()
            .map(|o| crate::AppendOutcome {
                was_duplicate: true,
                ..*o
            })
            .collect::<Vec<_>>()
    );
    let err = s
        .append_multi(vec![
            AppendRequest::new(stream("incident-1"), ExpectedVersion::NoStream, evs(10..12)),
            AppendRequest::new(stream("counter"), ExpectedVersion::Any, evs(30..31)),
        ])
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateEventId { .. }), "{err}");
    let err = s
        .append_multi(vec![
            AppendRequest::new(stream("x"), ExpectedVersion::Any, evs(40..41)),
            AppendRequest::new(stream("x"), ExpectedVersion::Any, evs(41..42)),
        ])
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err}");
    assert!(matches!(
        s.append_multi(vec![]).unwrap_err(),
        StoreError::EmptyAppend
    ));
    assert_eq!(s.head().unwrap(), Position(4));
    assert!(s.verify().unwrap().is_clean());
}

/// Checks that reads page and bound.
pub fn reads_page_and_bound(make: Factory) {
    let s = make(cfg());
    for i in 0..25u128 {
        let name = if i % 2 == 0 { "even" } else { "odd" };
        s.append(&stream(name), ExpectedVersion::Any, vec![ev(i)])
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut from = Position::BEGINNING;
    loop {
        let page = s.read_all(from, 7).unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 7);
        from = page.last().unwrap().position.next();
        seen.extend(page.into_iter().map(|e| e.position.0));
    }
    assert_eq!(seen, (1..=25).collect::<Vec<_>>());
    let even = s.read_stream(&stream("even"), Version(5), 3).unwrap();
    assert_eq!(
        even.iter().map(|e| e.version.0).collect::<Vec<_>>(),
        vec![5, 6, 7]
    );
    assert_eq!(even[0].position, Position(9));
    assert!(
        s.read_stream(&stream("even"), Version(14), 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.read_stream(&stream("even"), Version(13), 10)
            .unwrap()
            .len(),
        1
    );
    assert!(s.read_all(Position(26), 10).unwrap().is_empty());
    assert!(s.read_all(Position(1), 0).unwrap().is_empty());
    let big = StoreLimits::default().max_page_size + 1;
    let err = s.read_all(Position(1), big).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::LimitExceeded {
                limit: Limit::PageSize,
                ..
            }
        ),
        "{err}"
    );
    let err = s.read_stream(&stream("even"), Version(1), big).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::LimitExceeded {
                limit: Limit::PageSize,
                ..
            }
        ),
        "{err}"
    );
}

/// Checks that subscriptions catch up then follow.
pub fn subscriptions_catch_up_then_follow(make: Factory) {
    let s = make(cfg());
    s.append(&stream("a"), ExpectedVersion::Any, evs(0..3))
        .unwrap();
    let mut sub = s.subscribe(Position::BEGINNING).unwrap();
    let mut from_two = s.subscribe(Position(2)).unwrap();
    for p in 1..=3 {
        assert_eq!(sub.next().unwrap().unwrap().position, Position(p));
    }
    assert_eq!(from_two.next().unwrap().unwrap().position, Position(3));
    assert!(
        sub.next_timeout(Duration::from_millis(20))
            .unwrap()
            .is_none()
    );
    assert!(sub.try_next().unwrap().is_none());
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut got = Vec::new();
            while got.len() < 20 {
                let e = sub
                    .next_timeout(Duration::from_secs(20))
                    .unwrap()
                    .expect("event in time");
                got.push(e.position.0);
            }
            (got, sub.position())
        });
        for i in 3..23u128 {
            let name = if i % 3 == 0 { "a" } else { "b" };
            s.append(&stream(name), ExpectedVersion::Any, vec![ev(i)])
                .unwrap();
        }
        let (got, checkpoint) = reader.join().unwrap();
        assert_eq!(got, (4..=23).collect::<Vec<_>>());
        assert_eq!(checkpoint, Position(23));
    });
}

/// Checks that upcasters lift old versions.
pub fn upcasters_lift_old_versions(make: Factory) {
    let mut up = Upcasters::new();
    up.register("incident.opened", 1, |mut v| {
        let title = v
            .as_object_mut()
            .ok_or("not an object")?
            .remove("title")
            .ok_or("no title")?;
        v["summary"] = title;
        Ok(v)
    })
    .unwrap();
    up.register("incident.opened", 2, |mut v| {
        v["impact"] = json!("medium");
        Ok(v)
    })
    .unwrap();
    let s = make(cfg().with_upcasters(up));
    let mk = |n: u128, version: u16, payload: serde_json::Value| {
        let mut e = ev(n);
        e.event_type = "incident.opened".into();
        e.schema_version = version;
        e.payload = serde_json::to_vec(&payload).unwrap();
        e
    };
    s.append(
        &stream("i1"),
        ExpectedVersion::NoStream,
        vec![mk(1, 1, json!({"title": "disk"}))],
    )
    .unwrap();
    s.append(
        &stream("i2"),
        ExpectedVersion::NoStream,
        vec![mk(2, 2, json!({"summary": "cpu"}))],
    )
    .unwrap();
    s.append(
        &stream("i3"),
        ExpectedVersion::NoStream,
        vec![mk(3, 3, json!({"summary": "net", "impact": "high"}))],
    )
    .unwrap();
    s.append(&stream("other"), ExpectedVersion::NoStream, vec![ev(4)])
        .unwrap();
    let all = s.read_all(Position::BEGINNING, 10).unwrap();
    let payloads: Vec<serde_json::Value> = all
        .iter()
        .map(|e| serde_json::from_slice(&e.payload).unwrap())
        .collect();
    assert_eq!(payloads[0], json!({"summary": "disk", "impact": "medium"}));
    assert_eq!(payloads[1], json!({"summary": "cpu", "impact": "medium"}));
    assert_eq!(payloads[2], json!({"summary": "net", "impact": "high"}));
    assert_eq!(payloads[3], json!({"n": 4}));
    assert!(all[..3].iter().all(|e| e.schema_version == 3));
    assert_eq!(all[3].schema_version, 1);
    assert_eq!(
        s.read_stream(&stream("i1"), Version::FIRST, 1).unwrap()[0],
        all[0]
    );
    assert_eq!(s.event_by_id(ev(1).event_id).unwrap().unwrap(), all[0]);
    assert_eq!(
        s.subscribe(Position::BEGINNING)
            .unwrap()
            .next()
            .unwrap()
            .unwrap(),
        all[0]
    );
    // A version newer than the registry knows is rejected on append; nothing is written.
    let err = s
        .append(
            &stream("i4"),
            ExpectedVersion::Any,
            vec![mk(5, 4, json!({}))],
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::UnknownSchemaVersion {
                schema_version: 4,
                latest: 3,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(s.head().unwrap(), Position(4));
}

/// Checks that upcaster gap is a typed error.
pub fn upcaster_gap_is_a_typed_error(make: Factory) {
    let mut up = Upcasters::new();
    up.register("t", 1, Ok).unwrap();
    up.declare_current("t", 4);
    assert!(up.register("t", 1, Ok).is_err(), "double registration");
    assert!(up.register("t", 0, Ok).is_err(), "version 0");
    let s = make(cfg().with_upcasters(up));
    let mut e = ev(1);
    e.event_type = "t".into();
    e.schema_version = 2;
    s.append(&stream("a"), ExpectedVersion::Any, vec![e])
        .unwrap();
    let mut bad_json = ev(2);
    bad_json.event_type = "t".into();
    bad_json.payload = b"not json".to_vec();
    s.append(&stream("b"), ExpectedVersion::Any, vec![bad_json])
        .unwrap();
    let err = s.read_all(Position(1), 1).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::MissingUpcaster {
                from_version: 2,
                position: Some(Position(1)),
                ..
            }
        ),
        "{err}"
    );
    let err = s.read_stream(&stream("b"), Version::FIRST, 1).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::UpcastFailed {
                position: Position(2),
                ..
            }
        ),
        "{err}"
    );
}

/// Checks that bad input is rejected and writes nothing.
pub fn bad_input_is_rejected_and_writes_nothing(make: Factory) {
    let limits = StoreLimits {
        max_events_per_append: 4,
        max_payload_bytes: 100,
        max_append_bytes: 250,
        max_streams_per_append: 2,
        ..StoreLimits::default()
    };
    let s = make(cfg().with_limits(limits));
    let a = stream("a");
    let check = |r: Result<crate::AppendOutcome, StoreError>| r.unwrap_err();
    assert!(matches!(
        check(s.append(&a, ExpectedVersion::Any, vec![])),
        StoreError::EmptyAppend
    ));
    let e = check(s.append(&a, ExpectedVersion::Any, evs(0..5)));
    assert!(
        matches!(
            e,
            StoreError::LimitExceeded {
                limit: Limit::EventsPerAppend,
                max: 4,
                actual: 5
            }
        ),
        "{e}"
    );
    let mut big = ev(0);
    big.payload = vec![b'x'; 101];
    let e = check(s.append(&a, ExpectedVersion::Any, vec![big]));
    assert!(
        matches!(
            e,
            StoreError::LimitExceeded {
                limit: Limit::PayloadBytes,
                ..
            }
        ),
        "{e}"
    );
    let three: Vec<_> = (0..3u128)
        .map(|i| {
            let mut e = ev(i);
            e.payload = vec![b'1'; 90];
            e
        })
        .collect();
    let e = check(s.append(&a, ExpectedVersion::Any, three));
    assert!(
        matches!(
            e,
            StoreError::LimitExceeded {
                limit: Limit::AppendBytes,
                ..
            }
        ),
        "{e}"
    );
    let mut no_type = ev(0);
    no_type.event_type.clear();
    assert!(matches!(
        check(s.append(&a, ExpectedVersion::Any, vec![no_type])),
        StoreError::InvalidInput(_)
    ));
    let mut long_type = ev(0);
    long_type.event_type = "t".repeat(257);
    let e = check(s.append(&a, ExpectedVersion::Any, vec![long_type]));
    assert!(
        matches!(
            e,
            StoreError::LimitExceeded {
                limit: Limit::EventTypeBytes,
                ..
            }
        ),
        "{e}"
    );
    let mut long_actor = ev(0);
    long_actor.actor = "a".repeat(257);
    let e = check(s.append(&a, ExpectedVersion::Any, vec![long_actor]));
    assert!(
        matches!(
            e,
            StoreError::LimitExceeded {
                limit: Limit::ActorBytes,
                ..
            }
        ),
        "{e}"
    );
    let mut v0 = ev(0);
    v0.schema_version = 0;
    assert!(matches!(
        check(s.append(&a, ExpectedVersion::Any, vec![v0])),
        StoreError::InvalidInput(_)
    ));
    let e = s
        .append_multi(vec![
            AppendRequest::new(stream("x"), ExpectedVersion::Any, evs(0..1)),
            AppendRequest::new(stream("y"), ExpectedVersion::Any, evs(1..2)),
            AppendRequest::new(stream("z"), ExpectedVersion::Any, evs(2..3)),
        ])
        .unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::LimitExceeded {
                limit: Limit::StreamsPerAppend,
                ..
            }
        ),
        "{e}"
    );
    let e = s
        .append_multi(vec![
            AppendRequest::new(stream("x"), ExpectedVersion::Any, evs(0..3)),
            AppendRequest::new(stream("y"), ExpectedVersion::Any, evs(3..5)),
        ])
        .unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::LimitExceeded {
                limit: Limit::EventsPerAppend,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(s.head().unwrap(), Position::BEGINNING);
    assert!(s.read_all(Position::BEGINNING, 10).unwrap().is_empty());
    // The limits are inclusive.
    let mut at_limit = ev(9);
    at_limit.payload = vec![b'0'; 100];
    s.append(&a, ExpectedVersion::Any, vec![at_limit]).unwrap();
}

const THREADS: u128 = 4;
const HOT_APPENDS: u128 = 30;
const OWN_APPENDS: u128 = 40;

/// Checks that N threads x M appends on one contended stream and on disjoint streams, with a
/// live subscriber, give exactly one winner per version, dense positions, nothing lost, and
/// never position n + 1 before n.
pub fn concurrent_writers_keep_versions_and_positions_dense(make: Factory) {
    let s = make(StoreConfig::default());
    let store = &*s;
    let total = (THREADS * (HOT_APPENDS + OWN_APPENDS)) as u64;
    let mut sub = store.subscribe(Position::BEGINNING).unwrap();
    let results = std::thread::scope(|scope| {
        let subscriber = scope.spawn(move || {
            let mut seen = Vec::new();
            while (seen.len() as u64) < total {
                let e = sub
                    .next_timeout(Duration::from_secs(60))
                    .unwrap()
                    .expect("live event");
                seen.push(e.position.0);
            }
            seen
        });
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                scope.spawn(move || {
                    let mut outcomes = Vec::new();
                    let mut conflicts = 0u32;
                    for i in 0..HOT_APPENDS + OWN_APPENDS {
                        let id = t * 10_000 + i;
                        // Interleave: even iterations hit the shared stream until its quota is met.
                        let name = if i % 2 == 0 && i / 2 < HOT_APPENDS {
                            stream("hot")
                        } else {
                            stream(&format!("own-{t}"))
                        };
                        loop {
                            let current = store.stream_version(&name).unwrap();
                            match store.append(&name, ExpectedVersion::Exact(current), vec![ev(id)])
                            {
                                Ok(o) => {
                                    outcomes.push((id, name.clone(), o));
                                    break;
                                }
                                Err(StoreError::WrongExpectedVersion { actual, .. }) => {
                                    assert!(actual != current);
                                    conflicts += 1;
                                }
                                Err(e) => panic!("append failed: {e}"),
                            }
                        }
                    }
                    (outcomes, conflicts)
                })
            })
            .collect();
        let results: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
        let seen = subscriber.join().unwrap();
        assert_eq!(
            seen,
            (1..=total).collect::<Vec<_>>(),
            "subscriber saw a gap or reordering"
        );
        results
    });

    let all = store.read_all(Position::BEGINNING, 10_000).unwrap();
    assert_eq!(all.len() as u64, total, "events lost or duplicated");
    assert!(
        all.iter()
            .enumerate()
            .all(|(i, e)| e.position.0 == i as u64 + 1),
        "positions not dense"
    );
    let mut ids = HashSet::new();
    for (outcomes, _) in &results {
        for (id, name, o) in outcomes {
            let stored = &all[(o.first_position.0 - 1) as usize];
            assert_eq!(
                stored.event_id,
                ev(*id).event_id,
                "outcome points at another event"
            );
            assert_eq!(&stored.stream, name);
            assert_eq!(stored.version, o.first_version);
            assert!(!o.was_duplicate);
            ids.insert(*id);
        }
    }
    assert_eq!(ids.len() as u64, total);
    let hot = store
        .read_stream(&stream("hot"), Version::FIRST, 10_000)
        .unwrap();
    let versions: Vec<u64> = hot.iter().map(|e| e.version.0).collect();
    let hot_total = (THREADS * HOT_APPENDS) as u64;
    assert_eq!(
        versions,
        (1..=hot_total).collect::<Vec<_>>(),
        "one winner per version"
    );
    for t in 0..THREADS {
        let own = store
            .read_stream(&stream(&format!("own-{t}")), Version::FIRST, 10_000)
            .unwrap();
        let mine: Vec<u128> = results[t as usize]
            .0
            .iter()
            .filter(|(_, n, _)| n.as_str() != "hot")
            .map(|(id, _, _)| *id)
            .collect();
        let stored: Vec<_> = own.iter().map(|e| e.event_id).collect();
        assert_eq!(
            stored,
            mine.iter().map(|&id| ev(id).event_id).collect::<Vec<_>>()
        );
    }
    let report = store.verify().unwrap();
    assert!(report.is_clean(), "{:?}", report.faults);
}
