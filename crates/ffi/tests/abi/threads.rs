//! One handle shared by several threads.

use crate::support::*;
use serde_json::json;
use std::sync::Arc;

const THREADS: u64 = 8;
const NOTES: u64 = 50;

#[test]
fn concurrent_writes_on_one_handle_lose_nothing() {
    let h = Arc::new(open(
        json!({"in_memory": true, "actor": {"id": "alice", "roles": ["agent"]}}),
    ));
    let opened = h
        .call(
            "incident.open",
            json!({"title": "Shared", "caller": "bob", "impact": "low", "urgency": "low"}),
        )
        .unwrap();
    assert_eq!(opened["number"], "INC0000001");
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let h = Arc::clone(&h);
            std::thread::spawn(move || {
                for i in 0..NOTES {
                    let r = h
                        .call(
                            "incident.add_work_note",
                            json!({"id": "INC0000001", "text": format!("{t}/{i}")}),
                        )
                        .unwrap();
                    assert_eq!(r["events"].as_array().unwrap().len(), 1);
                    // Reads interleave with the writes.
                    h.call("query.record", json!({"id": "INC0000001"})).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let record = h.call("query.record", json!({"id": "INC0000001"})).unwrap();
    assert_eq!(record["view"]["version"], 1 + THREADS * NOTES);
}
