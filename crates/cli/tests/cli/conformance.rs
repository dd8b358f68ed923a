//! The JSON-RPC 2.0 specification's examples (§7), run against the real binary over stdio and
//! HTTP (`serve --spec-fixtures`, which exists only in builds with the `spec-fixtures` feature).

use crate::common::*;
use opsledger_rpc::testing::{SPEC_EXAMPLES, check_response};

const PROBE: &str = r#"{"jsonrpc": "2.0", "method": "get_data", "id": "probe"}"#;

#[test]
fn the_spec_examples_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--spec-fixtures"]);
    for example in SPEC_EXAMPLES {
        let (status, body) = server.post(example.request, None);
        match example.response {
            None => {
                assert_eq!(status, 204, "{}: {body}", example.title);
                assert!(body.is_empty(), "{}: {body}", example.title);
            }
            Some(_) => assert_eq!(status, 200, "{}: {body}", example.title),
        }
        let actual = (!body.is_empty()).then_some(body.as_str());
        if let Err(why) = check_response(example.response, actual) {
            panic!("{}: {why}", example.title);
        }
    }
    let (status, _) = server.stop();
    assert!(status.success(), "{status:?}");
}

#[test]
fn the_spec_examples_over_stdio() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = StdioServer::start(&dir.path().join("data"), &["--spec-fixtures"]);
    for example in SPEC_EXAMPLES {
        server.send(example.request);
        match example.response {
            Some(_) => {
                let reply = server.recv();
                assert!(!reply.contains('\n'));
                if let Err(why) = check_response(example.response, Some(&reply)) {
                    panic!("{}: {why}", example.title);
                }
            }
            None => {
                // Nothing may come back: the next line must be the probe's reply.
                let reply = server.call(PROBE);
                if let Err(why) = check_response(
                    Some(r#"{"jsonrpc":"2.0","result":["hello",5],"id":"probe"}"#),
                    Some(&reply),
                ) {
                    panic!("{}: a reply to a notification: {why}", example.title);
                }
            }
        }
    }
    let status = server.finish();
    assert!(status.success(), "{status:?}");
}

#[test]
fn without_the_flag_the_fixtures_do_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = StdioServer::start(&dir.path().join("data"), &[]);
    let reply =
        server.call(r#"{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}"#);
    assert!(reply.contains("-32601"), "{reply}");
    assert!(server.finish().success());
}

#[test]
fn the_fixtures_are_not_in_the_help() {
    let help = ok(&["serve", "--help"]);
    assert!(!help.contains("spec-fixtures"), "{help}");
}
