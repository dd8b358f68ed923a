//! The contract suite (`opsledger_store::contract`) on the sled backend, in every durability
//! mode, and the model-based check across reopens.

mod common;

mod per_commit {
    opsledger_store::contract_suite!(super::common::sled);
}

mod group_commit {
    opsledger_store::contract_suite!(super::common::sled_group);
}

mod buffered {
    opsledger_store::contract_suite!(super::common::sled_buffered);
}

#[test]
fn matches_the_model_across_reopens() {
    opsledger_store::contract::model::check(48, true, &|dir, config| {
        Box::new(opsledger_store_sled::SledStore::open(dir, config).unwrap())
    });
}
