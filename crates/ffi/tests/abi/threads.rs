//! One handle shared by several threads.

use crate::support::*;
use serde_json::json;
use std::sync::Arc;

#[test]
fn concurrent_calls_on_one_handle() {
    let h = Arc::new(in_memory());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let h = Arc::clone(&h);
            std::thread::spawn(move || {
                for i in 0..200 {
                    let v = h
                        .rpc(&json!({"jsonrpc": "2.0", "method": "no.such", "id": t * 1000 + i}))
                        .unwrap();
                    assert_eq!(v["id"], t * 1000 + i);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
