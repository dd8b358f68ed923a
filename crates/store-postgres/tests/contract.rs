//! The contract suite (`opsledger_store::contract`) on PostgreSQL, in every durability mode,
//! and the model-based check across reopens. Each store lives in a schema of its own on the
//! server named by `OPSLEDGER_PG_URL` (see `opsledger_store_postgres::testing`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use opsledger_store::contract::{Harness, harness};
use opsledger_store::{Durability, EventStore, StoreConfig};
use opsledger_store_postgres::PgStore;
use opsledger_store_postgres::testing::{TestSchema, test_url};

fn postgres(config: StoreConfig) -> Harness {
    let Some(url) = test_url() else {
        // No server outside CI: the checks run on the memory store, after the loud message.
        return opsledger_store::contract::memory(config);
    };
    harness(config, |config| {
        let schema = TestSchema::new(&url, "contract");
        let store = PgStore::open(&url, config, schema.options()).unwrap();
        (Box::new(store), Box::new(schema))
    })
}

fn postgres_buffered(config: StoreConfig) -> Harness {
    postgres(config.with_durability(Durability::Buffered))
}

mod per_commit {
    opsledger_store::contract_suite!(super::postgres);
}

mod buffered {
    opsledger_store::contract_suite!(super::postgres_buffered);
}

/// The schemas of the model check, one per directory it makes (a reopen gets the same one).
static SCHEMAS: Mutex<Option<HashMap<PathBuf, TestSchema>>> = Mutex::new(None);

#[test]
fn matches_the_model_across_reopens() {
    let Some(url) = test_url() else { return };
    opsledger_store::contract::model::check(32, true, &move |dir: &Path, config| {
        let mut schemas = SCHEMAS.lock().unwrap();
        let schema = schemas
            .get_or_insert_with(HashMap::new)
            .entry(dir.to_path_buf())
            .or_insert_with(|| TestSchema::new(&url, "model"));
        let store: Box<dyn EventStore> =
            Box::new(PgStore::open(&url, config, schema.options()).unwrap());
        store
    });
    // Dropping them drops their schemas.
    SCHEMAS.lock().unwrap().take();
}
