//! What the PostgreSQL store adds to the contract: several processes on one schema (dense
//! positions across them, wake-ups through LISTEN/NOTIFY, read-your-writes through units of
//! work), the format check, and typed errors when the connection is lost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use opsledger_store::contract::{ev, evs, stream};
use opsledger_store::{
    EventStore, ExpectedVersion, Position, Space, Storage, StoreConfig, StoreError, Version,
};
use opsledger_store_postgres::testing::{TestSchema, test_url};
use opsledger_store_postgres::{PgOptions, PgStorage, PgStore};
use postgres::NoTls;

fn options(schema: &TestSchema) -> PgOptions {
    PgOptions {
        // Long: a wake-up within the test's deadline comes from NOTIFY, not from the poll.
        poll_interval: Duration::from_secs(60),
        ..schema.options()
    }
}

fn client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, NoTls).unwrap()
}

#[test]
fn two_replicas_share_one_dense_log() {
    let Some(url) = test_url() else { return };
    let schema = TestSchema::new(&url, "replicas");
    let a = Arc::new(PgStore::open(&url, StoreConfig::default(), options(&schema)).unwrap());
    let b = Arc::new(PgStore::open(&url, StoreConfig::default(), options(&schema)).unwrap());
    let writers: Vec<_> = [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .enumerate()
        .map(|(w, store)| {
            std::thread::spawn(move || {
                for i in 0..25u128 {
                    let n = (w as u128) * 1_000 + i;
                    store
                        .append(
                            &stream(&format!("s-{w}")),
                            ExpectedVersion::Any,
                            vec![ev(n)],
                        )
                        .unwrap();
                    // Every writer also appends to a stream the others write to.
                    loop {
                        let shared = stream("shared");
                        let current = store.stream_version(&shared).unwrap();
                        match store.append(
                            &shared,
                            ExpectedVersion::Exact(current),
                            vec![ev(100_000 + n)],
                        ) {
                            Ok(_) => break,
                            Err(StoreError::WrongExpectedVersion { .. }) => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    for store in [&a, &b] {
        assert_eq!(store.head().unwrap(), Position(200));
        let all = store.read_all(Position::FIRST, 1_000).unwrap();
        let positions: Vec<u64> = all.iter().map(|e| e.position.0).collect();
        assert_eq!(positions, (1..=200).collect::<Vec<_>>());
        let shared = store
            .read_stream(&stream("shared"), Default::default(), 1_000)
            .unwrap();
        let versions: Vec<u64> = shared.iter().map(|e| e.version.0).collect();
        assert_eq!(versions, (1..=100).collect::<Vec<_>>());
        assert!(store.verify().unwrap().is_clean());
    }
}

#[test]
fn a_subscription_wakes_on_another_replicas_commit() {
    let Some(url) = test_url() else { return };
    let schema = TestSchema::new(&url, "notify");
    let a = PgStore::open(&url, StoreConfig::default(), options(&schema)).unwrap();
    let b = PgStore::open(&url, StoreConfig::default(), options(&schema)).unwrap();
    let mut subscription = b.subscribe(Position::BEGINNING).unwrap();
    assert!(subscription.try_next().unwrap().is_none());
    let started = Instant::now();
    a.append(&stream("s"), ExpectedVersion::NoStream, evs(0..3))
        .unwrap();
    for expected in 1..=3 {
        let event = subscription
            .next_timeout(Duration::from_secs(10))
            .unwrap()
            .expect("the notification wakes the other replica");
        assert_eq!(event.position, Position(expected));
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_unit_commits_log_and_spaces_together_for_every_replica() {
    let Some(url) = test_url() else { return };
    let schema = TestSchema::new(&url, "units");
    let a = PgStorage::open(&url, StoreConfig::default(), options(&schema)).unwrap();
    let b = PgStorage::open(&url, StoreConfig::default(), options(&schema)).unwrap();
    {
        let unit = a.begin_unit().unwrap();
        a.log()
            .append(&stream("s"), ExpectedVersion::NoStream, vec![ev(1)])
            .unwrap();
        a.space(Space::Views)
            .put(b"k".to_vec(), b"v1".to_vec())
            .unwrap();
        // The unit's thread reads its own writes; the other replica sees none of them.
        assert_eq!(a.log().head().unwrap(), Position(1));
        assert_eq!(
            a.space(Space::Views).get(b"k").unwrap(),
            Some(b"v1".to_vec())
        );
        assert_eq!(b.log().head().unwrap(), Position::BEGINNING);
        assert_eq!(b.space(Space::Views).get(b"k").unwrap(), None);
        drop(unit);
    }
    assert_eq!(a.log().head().unwrap(), Position::BEGINNING);
    assert_eq!(b.space(Space::Views).get(b"k").unwrap(), None);
    let unit = a.begin_unit().unwrap();
    a.log()
        .append(&stream("s"), ExpectedVersion::NoStream, vec![ev(1)])
        .unwrap();
    a.space(Space::Views)
        .put(b"k".to_vec(), b"v1".to_vec())
        .unwrap();
    unit.commit().unwrap();
    assert_eq!(b.log().head().unwrap(), Position(1));
    assert_eq!(
        b.space(Space::Views).get(b"k").unwrap(),
        Some(b"v1".to_vec())
    );
    // Ordered scans compare keys bytewise.
    let views = b.space(Space::Views);
    views
        .apply(vec![
            (vec![0x01], Some(b"a".to_vec())),
            (vec![0xFF, 0x00], Some(b"c".to_vec())),
            (vec![0x80], Some(b"b".to_vec())),
            (b"k".to_vec(), None),
        ])
        .unwrap();
    let keys: Vec<Vec<u8>> = views.dump().unwrap().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, vec![vec![0x01], vec![0x80], vec![0xFF, 0x00]]);
    let reversed: Vec<Vec<u8>> = views
        .range(&[0x00], &[0xFF], true)
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(reversed, vec![vec![0x80], vec![0x01]]);
}

#[test]
fn another_format_is_a_typed_error() {
    let Some(url) = test_url() else { return };
    let schema = TestSchema::new(&url, "format");
    let store = PgStore::open(&url, StoreConfig::default(), options(&schema)).unwrap();
    store.close().unwrap();
    client(&url)
        .execute(
            &format!(
                "UPDATE \"{}\".opsledger_meta SET value = 'opsledger-postgres-99' WHERE key = 'format'",
                schema.name
            ),
            &[],
        )
        .unwrap();
    let error = PgStore::open(&url, StoreConfig::default(), options(&schema)).unwrap_err();
    assert!(
        matches!(&error, StoreError::Incompatible { reason, .. } if reason.contains("opsledger-postgres-99")),
        "{error}"
    );
}

#[test]
fn an_unreachable_server_is_unavailable_and_a_bad_schema_name_is_refused() {
    let error = PgStore::open(
        "postgres://nobody@127.0.0.1:1/nothing?connect_timeout=2",
        StoreConfig::default(),
        PgOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error}");
    let error = PgStore::open(
        "postgres://nobody@127.0.0.1:1/nothing",
        StoreConfig::default(),
        PgOptions::in_schema("x\"; DROP TABLE events; --"),
    )
    .unwrap_err();
    assert!(matches!(error, StoreError::InvalidConfig(_)), "{error}");
    let error = PgStore::open(
        "not a url at all ===",
        StoreConfig::default(),
        PgOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(error, StoreError::InvalidConfig(_)), "{error}");
}

#[test]
fn a_connection_lost_before_commit_is_an_unknown_outcome_settled_by_a_retry() {
    let Some(url) = test_url() else { return };
    let schema = TestSchema::new(&url, "lost");
    let application = schema.name.clone();
    let separator = if url.contains('?') { '&' } else { '?' };
    let tagged = format!("{url}{separator}application_name={application}");
    let storage = PgStorage::open(&tagged, StoreConfig::default(), options(&schema)).unwrap();
    let unit = storage.begin_unit().unwrap();
    storage
        .log()
        .append(&stream("s"), ExpectedVersion::NoStream, evs(0..2))
        .unwrap();
    // The server ends the unit's session while its transaction is open.
    let terminated: Vec<bool> = client(&url)
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND state = 'idle in transaction'",
            &[&application],
        )
        .unwrap()
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(terminated, vec![true]);
    std::thread::sleep(Duration::from_millis(200));
    let error = unit.commit().unwrap_err();
    assert!(
        matches!(error, StoreError::OutcomeUnknown(_)),
        "a lost commit is an unknown outcome, not a conflict: {error}"
    );
    // The retry with the same ids settles it (here: nothing was stored, so it writes).
    let outcome = storage
        .log()
        .append(&stream("s"), ExpectedVersion::NoStream, evs(0..2))
        .unwrap();
    assert!(!outcome.was_duplicate);
    let again = storage
        .log()
        .append(&stream("s"), ExpectedVersion::NoStream, evs(0..2))
        .unwrap();
    assert!(again.was_duplicate);
    assert_eq!(storage.log().head().unwrap(), Position(2));
}

#[test]
fn a_writer_connection_ended_while_idle_is_replaced_when_the_next_write_begins() {
    let Some(url) = test_url() else { return };
    let schema = TestSchema::new(&url, "idle");
    let application = schema.name.clone();
    let separator = if url.contains('?') { '&' } else { '?' };
    let tagged = format!("{url}{separator}application_name={application}");
    let storage = PgStorage::open(&tagged, StoreConfig::default(), options(&schema)).unwrap();
    storage
        .log()
        .append(&stream("s"), ExpectedVersion::NoStream, evs(0..1))
        .unwrap();
    // The server ends every idle session of this store (a restart, an idle timeout).
    let terminated = client(&url)
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND state = 'idle'",
            &[&application],
        )
        .unwrap()
        .len();
    assert!(terminated >= 1, "{terminated}");
    std::thread::sleep(Duration::from_millis(200));
    // A write of its own, then a unit of work: both begin on a new connection.
    storage
        .space(Space::Meta)
        .put(b"k".to_vec(), b"v".to_vec())
        .unwrap();
    client(&url)
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND state = 'idle'",
            &[&application],
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let unit = storage.begin_unit().unwrap();
    let outcome = storage
        .log()
        .append(&stream("s"), ExpectedVersion::Exact(Version(1)), evs(1..2))
        .unwrap();
    unit.commit().unwrap();
    assert_eq!(outcome.last_position, Position(2));
}

#[test]
fn an_exclusive_section_runs_in_one_replica_at_a_time() {
    let Some(url) = test_url() else { return };
    let schema = TestSchema::new(&url, "exclusive");
    let a = PgStorage::open(&url, StoreConfig::default(), options(&schema)).unwrap();
    let b = Arc::new(PgStorage::open(&url, StoreConfig::default(), options(&schema)).unwrap());
    let held = a.exclusive("change-calendar").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = {
        let b = b.clone();
        std::thread::spawn(move || {
            let _section = b.exclusive("change-calendar").unwrap();
            tx.send(Instant::now()).unwrap();
        })
    };
    assert!(
        rx.recv_timeout(Duration::from_millis(500)).is_err(),
        "the other replica waits while the section is held"
    );
    let released = Instant::now();
    drop(held);
    let entered = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(entered >= released);
    waiter.join().unwrap();
}
