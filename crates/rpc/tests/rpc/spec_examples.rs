//! The specification's §7 examples through the dispatcher, with the fixture methods
//! registered only for tests.

use crate::common::{check_reply, dispatcher};
use opsledger_rpc::Dispatcher;
use opsledger_rpc::testing::{SPEC_EXAMPLES, check_response, spec_registry};

#[test]
fn the_table_has_the_specifications_fifteen_messages() {
    assert_eq!(SPEC_EXAMPLES.len(), 15);
    assert_eq!(
        SPEC_EXAMPLES
            .iter()
            .filter(|e| e.response.is_none())
            .count(),
        3
    );
    for example in SPEC_EXAMPLES {
        assert!(!example.request.contains('\n'), "{}", example.title);
    }
}

#[test]
fn every_example_gets_the_specified_reply() {
    // Once with the specification's methods alone, once with the extra test methods around.
    for d in [Dispatcher::new(spec_registry()), dispatcher()] {
        let mut failures = Vec::new();
        for example in SPEC_EXAMPLES {
            let reply = d.handle(example.request);
            if let Some(r) = &reply
                && let Err(e) = check_reply(r)
            {
                failures.push(format!("{}: malformed reply: {e}", example.title));
            }
            if let Err(e) = check_response(example.response, reply.as_deref()) {
                failures.push(format!("{}: {e}", example.title));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

#[test]
fn batch_replies_are_compared_as_multisets() {
    let expected = r#"[{"jsonrpc":"2.0","result":1,"id":1},{"jsonrpc":"2.0","result":2,"id":2}]"#;
    let swapped = r#"[{"jsonrpc":"2.0","result":2,"id":2},{"jsonrpc":"2.0","result":1,"id":1}]"#;
    assert_eq!(check_response(Some(expected), Some(swapped)), Ok(()));
    let duplicated = r#"[{"jsonrpc":"2.0","result":1,"id":1},{"jsonrpc":"2.0","result":1,"id":1}]"#;
    assert!(check_response(Some(expected), Some(duplicated)).is_err());
    let single = r#"{"jsonrpc":"2.0","result":1,"id":1}"#;
    assert!(check_response(Some(&format!("[{single}]")), Some(single)).is_err());
    assert!(check_response(None, Some(single)).is_err());
    assert!(check_response(Some(single), None).is_err());
}
