//! Model-based check: random sequences of appends (single and multi-stream, every expected
//! version, fresh and reused event ids, exact retries), reads and close + reopen, run against a
//! plain `Vec` model that implements the rules independently.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::{ev, stream};
use crate::{
    AppendOutcome, AppendRequest, Durability, EventStore, ExpectedVersion, Position, StoreConfig,
    StoreError, StoredEvent, Version,
};

/// Opens the store kept in a directory (called again on the same directory for a reopen).
pub type Open = dyn Fn(&Path, StoreConfig) -> Box<dyn EventStore>;

/// Runs `cases` random operation sequences against `open`, failing (with the shrunk sequence)
/// at the first disagreement with the model. Without `reopens` (a backend that keeps nothing)
/// the sequences' reopen steps only check the head.
pub fn check(cases: u32, reopens: bool, open: &Open) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&prop::collection::vec(op(), 1..40), |ops| {
        run(ops, reopens, open);
        Ok(())
    });
    if let Err(e) = result {
        panic!("the store disagrees with the model: {e}");
    }
}

/// A directory removed on drop (the suite does not depend on `tempfile`).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "opsledger-model-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a temporary directory");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Debug, Clone, Copy)]
enum Exp {
    Any,
    NoStream,
    StreamExists,
    Exact(u64),
    /// `Exact(current)`: most appends should succeed.
    Current,
}

#[derive(Debug, Clone, Copy)]
enum Id {
    Fresh,
    /// Reuse the n-th id ever submitted (modulo their count).
    Reuse(usize),
}

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<(u8, Exp, Vec<Id>)>),
    /// Re-submit the last successful append verbatim.
    Retry,
    ReadStream {
        stream: u8,
        from: u64,
        max: usize,
    },
    ReadAll {
        from: u64,
        max: usize,
    },
    Reopen,
}

fn exp() -> impl Strategy<Value = Exp> {
    prop_oneof![
        1 => Just(Exp::Any),
        1 => Just(Exp::NoStream),
        1 => Just(Exp::StreamExists),
        1 => (0u64..5).prop_map(Exp::Exact),
        4 => Just(Exp::Current),
    ]
}

fn ids() -> impl Strategy<Value = Vec<Id>> {
    prop::collection::vec(
        prop_oneof![5 => Just(Id::Fresh), 1 => any::<usize>().prop_map(Id::Reuse)],
        1..4,
    )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec((0u8..4, exp(), ids()), 1..3).prop_map(Op::Append),
        2 => Just(Op::Retry),
        2 => (0u8..4, 0u64..6, 0usize..5).prop_map(|(stream, from, max)| Op::ReadStream { stream, from, max }),
        2 => (0u64..20, 0usize..8).prop_map(|(from, max)| Op::ReadAll { from, max }),
        1 => Just(Op::Reopen),
    ]
}

/// The reference: the log as a vector of (stream, id).
#[derive(Default)]
struct Model {
    log: Vec<(u8, u128)>,
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Ok(Vec<AppendOutcome>),
    WrongExpectedVersion,
    DuplicateEventId,
    InvalidInput,
}

impl Model {
    fn version(&self, s: u8) -> u64 {
        self.log.iter().filter(|(st, _)| *st == s).count() as u64
    }

    fn find(&self, id: u128) -> Option<(u64, u8, u64)> {
        let i = self.log.iter().position(|(_, x)| *x == id)?;
        let s = self.log[i].0;
        let version = self.log[..=i].iter().filter(|(st, _)| *st == s).count() as u64;
        Some((i as u64 + 1, s, version))
    }

    fn append(&mut self, parts: &[(u8, ExpectedVersion, Vec<u128>)]) -> Outcome {
        let mut streams = std::collections::HashSet::new();
        let mut all_ids = std::collections::HashSet::new();
        for (s, _, ids) in parts {
            if !streams.insert(*s) || !ids.iter().all(|id| all_ids.insert(*id)) {
                return Outcome::InvalidInput;
            }
        }
        let mut dups = Vec::new();
        for (s, expected, ids) in parts {
            let current = self.version(*s);
            let found: Vec<_> = ids.iter().map(|id| self.find(*id)).collect();
            if found.iter().all(Option::is_none) {
                if !expected.admits(Version(current)) {
                    return Outcome::WrongExpectedVersion;
                }
                dups.push(None);
                continue;
            }
            let first = found[0];
            let exact = first.is_some_and(|(_, st, v0)| {
                st == *s
                    && found
                        .iter()
                        .enumerate()
                        .all(|(i, f)| f.is_some_and(|(_, st, v)| st == *s && v == v0 + i as u64))
                    && match expected {
                        ExpectedVersion::NoStream => v0 == 1,
                        ExpectedVersion::Exact(v) => v0 == v.0 + 1,
                        _ => true,
                    }
            });
            if !exact {
                return Outcome::DuplicateEventId;
            }
            let (p0, _, v0) = first.unwrap();
            let (pn, _, vn) = found.last().unwrap().unwrap();
            dups.push(Some(AppendOutcome {
                first_position: Position(p0),
                last_position: Position(pn),
                first_version: Version(v0),
                last_version: Version(vn),
                was_duplicate: true,
            }));
        }
        if dups.iter().all(Option::is_some) {
            return Outcome::Ok(dups.into_iter().map(Option::unwrap).collect());
        }
        if dups.iter().any(Option::is_some) {
            return Outcome::DuplicateEventId;
        }
        let mut out = Vec::new();
        for (s, _, ids) in parts {
            let v0 = self.version(*s) + 1;
            let p0 = self.log.len() as u64 + 1;
            self.log.extend(ids.iter().map(|id| (*s, *id)));
            let n = ids.len() as u64;
            out.push(AppendOutcome {
                first_position: Position(p0),
                last_position: Position(p0 + n - 1),
                first_version: Version(v0),
                last_version: Version(v0 + n - 1),
                was_duplicate: false,
            });
        }
        Outcome::Ok(out)
    }
}

fn name(s: u8) -> crate::StreamId {
    stream(&format!("stream-{s}"))
}

fn summarize(events: &[StoredEvent]) -> Vec<(u64, String, u64, uuid::Uuid)> {
    events
        .iter()
        .map(|e| (e.position.0, e.stream.to_string(), e.version.0, e.event_id))
        .collect()
}

fn run(ops: Vec<Op>, reopens: bool, open: &Open) {
    let dir = TempDir::new();
    let config = || StoreConfig::default().with_durability(Durability::Buffered);
    let mut store = open(&dir.0, config());
    let mut model = Model::default();
    let mut submitted: Vec<u128> = Vec::new();
    let mut next_id = 1u128;
    let mut last_ok: Option<Vec<(u8, ExpectedVersion, Vec<u128>)>> = None;
    for op in ops {
        let parts = match op {
            Op::Append(parts) => parts
                .into_iter()
                .map(|(s, e, ids)| {
                    let expected = match e {
                        Exp::Any => ExpectedVersion::Any,
                        Exp::NoStream => ExpectedVersion::NoStream,
                        Exp::StreamExists => ExpectedVersion::StreamExists,
                        Exp::Exact(v) => ExpectedVersion::Exact(Version(v)),
                        Exp::Current => ExpectedVersion::Exact(Version(model.version(s))),
                    };
                    let ids = ids
                        .into_iter()
                        .map(|id| match id {
                            Id::Reuse(n) if !submitted.is_empty() => submitted[n % submitted.len()],
                            _ => {
                                next_id += 1;
                                next_id
                            }
                        })
                        .collect::<Vec<_>>();
                    submitted.extend(&ids);
                    (s, expected, ids)
                })
                .collect::<Vec<_>>(),
            Op::Retry => match &last_ok {
                Some(p) => p.clone(),
                None => continue,
            },
            Op::ReadStream {
                stream: s,
                from,
                max,
            } => {
                let got = store.read_stream(&name(s), Version(from), max).unwrap();
                let want: Vec<_> = model
                    .log
                    .iter()
                    .enumerate()
                    .filter(|(_, (st, _))| *st == s)
                    .enumerate()
                    .map(|(v, (p, (_, id)))| {
                        (
                            p as u64 + 1,
                            name(s).to_string(),
                            v as u64 + 1,
                            ev(*id).event_id,
                        )
                    })
                    .filter(|(_, _, v, _)| *v >= from.max(1))
                    .take(max)
                    .collect();
                assert_eq!(summarize(&got), want);
                assert_eq!(
                    store.stream_version(&name(s)).unwrap(),
                    Version(model.version(s))
                );
                continue;
            }
            Op::ReadAll { from, max } => {
                let got = store.read_all(Position(from), max).unwrap();
                assert_eq!(
                    got.len(),
                    model
                        .log
                        .len()
                        .saturating_sub(from.max(1) as usize - 1)
                        .min(max)
                );
                for e in &got {
                    let (s, id) = model.log[(e.position.0 - 1) as usize];
                    assert_eq!((e.stream.clone(), e.event_id), (name(s), ev(id).event_id));
                }
                continue;
            }
            Op::Reopen => {
                if reopens {
                    drop(store);
                    store = open(&dir.0, config());
                }
                assert_eq!(store.head().unwrap(), Position(model.log.len() as u64));
                continue;
            }
        };
        let expected = model.append(&parts);
        let requests = parts
            .iter()
            .map(|(s, e, ids)| {
                AppendRequest::new(name(*s), *e, ids.iter().map(|id| ev(*id)).collect())
            })
            .collect();
        let got = match store.append_multi(requests) {
            Ok(o) => Outcome::Ok(o),
            Err(StoreError::WrongExpectedVersion { .. }) => Outcome::WrongExpectedVersion,
            Err(StoreError::DuplicateEventId { .. }) => Outcome::DuplicateEventId,
            Err(StoreError::InvalidInput(_)) => Outcome::InvalidInput,
            Err(e) => panic!("unexpected error {e}"),
        };
        assert_eq!(got, expected, "parts {parts:?}");
        if matches!(got, Outcome::Ok(_)) {
            last_ok = Some(parts);
        }
        assert_eq!(store.head().unwrap(), Position(model.log.len() as u64));
    }
    let all = store.read_all(Position::BEGINNING, 10_000).unwrap();
    assert_eq!(all.len(), model.log.len());
    let report = store.verify().unwrap();
    assert!(report.is_clean(), "{:?}", report.faults);
}
