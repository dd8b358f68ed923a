//! The JSON-RPC 2.0 specification's example table, through the ABI.

use crate::support::*;
use opsledger_ffi::OpsledgerStatus;
use opsledger_rpc::testing::{SPEC_EXAMPLES, check_response};
use serde_json::json;

#[test]
fn the_specification_examples_through_the_abi() {
    let h = open(json!({"in_memory": true, "spec_fixtures": true}));
    for example in SPEC_EXAMPLES {
        let (st, body) = h.rpc_raw(example.request.as_bytes());
        assert_eq!(st, OpsledgerStatus::Ok, "{}", example.title);
        if let Err(e) = check_response(example.response, body.as_deref()) {
            panic!("{}: {e}", example.title);
        }
    }
}

#[test]
fn a_panic_inside_a_method_poisons_the_handle() {
    let h = open(json!({"in_memory": true, "spec_fixtures": true}));
    // Given a method panics inside the dispatcher (answered -32603, as by the server),
    let (st, body) = h.rpc_raw(br#"{"jsonrpc":"2.0","method":"fixtures.panic","id":1}"#);
    assert_eq!(st, OpsledgerStatus::Ok);
    let reply: serde_json::Value = serde_json::from_str(&body.unwrap()).unwrap();
    assert_eq!(reply["error"]["code"], -32603);
    // then the handle refuses every later call: an invariant may be broken.
    let (st, body) = h.rpc_raw(br#"{"jsonrpc":"2.0","method":"subtract","params":[2,1],"id":2}"#);
    assert_eq!((st, body), (OpsledgerStatus::Poisoned, None));
    // A fresh handle serves.
    let other = open(json!({"in_memory": true, "spec_fixtures": true}));
    let (st, _) = other.rpc_raw(br#"{"jsonrpc":"2.0","method":"subtract","params":[2,1],"id":3}"#);
    assert_eq!(st, OpsledgerStatus::Ok);
}
