//! The contract suite (`opsledger_store::contract`) on the SQLite backend, in every durability
//! mode, the model-based check across reopens, and the same checks with every append inside
//! a unit of work.

use opsledger_store::contract::{Harness, harness};
use opsledger_store::{Durability, StoreConfig};
use opsledger_store_sqlite::SqliteStore;

fn sqlite(config: StoreConfig) -> Harness {
    harness(config, |config| {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("log.sqlite3"), config).unwrap();
        (Box::new(store), Box::new(dir))
    })
}

fn sqlite_group(config: StoreConfig) -> Harness {
    sqlite(config.with_durability(Durability::GroupCommit))
}

fn sqlite_buffered(config: StoreConfig) -> Harness {
    sqlite(config.with_durability(Durability::Buffered))
}

mod per_commit {
    opsledger_store::contract_suite!(super::sqlite);
}

mod group_commit {
    opsledger_store::contract_suite!(super::sqlite_group);
}

mod buffered {
    opsledger_store::contract_suite!(super::sqlite_buffered);
}

#[test]
fn matches_the_model_across_reopens() {
    opsledger_store::contract::model::check(64, true, &|dir, config| {
        Box::new(SqliteStore::open(dir.join("log.sqlite3"), config).unwrap())
    });
}
