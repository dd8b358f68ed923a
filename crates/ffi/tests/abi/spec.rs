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
