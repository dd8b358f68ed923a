//! The contract suite (`opsledger_store::contract`) on the memory backend, and the rules of
//! stream ids.

use opsledger_store::StoreError;

mod memory_backend {
    opsledger_store::contract_suite!(opsledger_store::contract::memory);

    #[test]
    fn matches_the_model() {
        opsledger_store::contract::model::check(256, false, &|_, config| {
            Box::new(opsledger_store::MemoryStore::new(config).unwrap())
        });
    }
}

#[test]
fn stream_ids_are_validated() {
    use opsledger_store::StreamId;
    for bad in ["", " ", "a b", "tab\t", "é", &"x".repeat(129)] {
        let err = StreamId::new(bad).unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidStreamId { .. }),
            "{bad:?}: {err}"
        );
    }
    assert!(StreamId::new("x".repeat(128)).is_ok());
    assert!(StreamId::new("incident-0190f2a4-aaaa-7bbb-8ccc-0123456789ab").is_ok());
    let json = serde_json::to_string(&StreamId::new("a-1").unwrap()).unwrap();
    assert_eq!(json, "\"a-1\"");
    assert!(serde_json::from_str::<StreamId>("\"a b\"").is_err());
}
