//! `Dispatcher::handle_bytes` on arbitrary input: it never panics, and answers either nothing
//! or one line of JSON that is a response object or a non-empty array of them.

#![no_main]

use libfuzzer_sys::fuzz_target;
use opsledger_rpc::{CallContext, Dispatcher, Limits, testing::spec_registry};
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::LazyLock;

static DISPATCHER: LazyLock<Dispatcher> = LazyLock::new(|| {
    Dispatcher::with_limits(
        spec_registry(),
        Limits {
            max_batch_len: 16,
            max_depth: 16,
            max_string_bytes: 4096,
            ..Limits::default()
        },
    )
});

fn check_object(raw: &RawValue) {
    let members: HashMap<String, Box<RawValue>> =
        serde_json::from_str(raw.get()).expect("a response is an object");
    assert_eq!(members.get("jsonrpc").map(|v| v.get()), Some("\"2.0\""));
    let id = members.get("id").expect("a response has an id").get();
    assert!(
        id == "null"
            || id.starts_with(['"', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
    );
    assert!(members.contains_key("result") != members.contains_key("error"));
    assert!(
        members
            .keys()
            .all(|k| ["jsonrpc", "result", "error", "id"].contains(&k.as_str()))
    );
}

fuzz_target!(|data: &[u8]| {
    if let Some(reply) = DISPATCHER.handle_bytes(&CallContext::in_process(), data) {
        assert!(!reply.contains('\n'));
        let raw: &RawValue = serde_json::from_str(&reply).expect("the reply is JSON");
        if raw.get().starts_with('[') {
            let items: Vec<&RawValue> = serde_json::from_str(raw.get()).expect("an array");
            assert!(!items.is_empty(), "never an empty array");
            items.into_iter().for_each(check_object);
        } else {
            check_object(raw);
        }
    }
});
