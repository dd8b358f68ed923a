//! The dispatcher against the JSON-RPC 2.0 rules, one rule per test.

use crate::common::*;
use opsledger_rpc::codes::*;
use opsledger_rpc::{CallContext, Dispatcher, Identity, Limits, TransportKind};
use serde_json::{Value, json};

fn call(request: &str) -> String {
    dispatcher()
        .handle(request)
        .unwrap_or_else(|| panic!("no reply to {request}"))
}

#[test]
fn dispatcher_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Dispatcher>();
}

#[test]
fn success_reply_is_compact_and_ordered() {
    assert_eq!(
        call(r#"{"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":1}"#),
        r#"{"jsonrpc":"2.0","result":19,"id":1}"#
    );
}

#[test]
fn ids_of_every_allowed_type_are_echoed_byte_for_byte() {
    for id in [
        "1",
        "0",
        "-0",
        "1.0",
        "1.50",
        "-12.5e-3",
        "1E400",
        "123456789012345678901234567890",
        "-99999999999999999999999999999999999999.000000000000000000001",
        "18446744073709551616",
        r#""1""#,
        r#""""#,
        r#""caf\u00e9 \"quoted\" \\ \/""#,
        r#""🦀""#,
        "null",
    ] {
        let reply = call(&format!(
            r#"{{"jsonrpc":"2.0","method":"get_data","id":{id}}}"#
        ));
        assert_eq!(
            reply,
            format!(r#"{{"jsonrpc":"2.0","result":["hello",5],"id":{id}}}"#),
            "id {id}"
        );
        // Errors echo it too.
        let reply = call(&format!(r#"{{"jsonrpc":"2.0","method":"nope","id":{id}}}"#));
        assert!(reply.ends_with(&format!(r#","id":{id}}}"#)), "{reply}");
    }
}

#[test]
fn id_with_surrounding_whitespace_is_echoed_without_it() {
    let reply = call("{\"jsonrpc\":\"2.0\",\"method\":\"get_data\",\"id\" :  \n 7 \t}");
    assert_eq!(reply, r#"{"jsonrpc":"2.0","result":["hello",5],"id":7}"#);
}

#[test]
fn ids_of_other_types_make_the_request_invalid_with_a_null_id() {
    for id in [
        "true",
        "false",
        "{}",
        "[1]",
        r#"{"a":1}"#,
        r#""\ud800""#,
        r#""a\udfffb""#,
    ] {
        let reply = call(&format!(
            r#"{{"jsonrpc":"2.0","method":"get_data","id":{id}}}"#
        ));
        let v = parse(&reply);
        assert_eq!(v["error"]["code"], INVALID_REQUEST, "{id}: {reply}");
        assert_eq!(v["id"], Value::Null, "{id}");
    }
}

#[test]
fn null_id_is_a_request_not_a_notification() {
    assert_eq!(
        call(r#"{"jsonrpc":"2.0","method":"get_data","id":null}"#),
        r#"{"jsonrpc":"2.0","result":["hello",5],"id":null}"#
    );
}

#[test]
fn jsonrpc_must_be_exactly_the_string_2_0() {
    for version in [
        None,
        Some(r#""1.0""#),
        Some("2.0"),
        Some("2"),
        Some(r#""2.0 ""#),
        Some("null"),
    ] {
        let member = version
            .map(|v| format!(r#""jsonrpc":{v},"#))
            .unwrap_or_default();
        let reply = call(&format!(r#"{{{member}"method":"get_data","id":7}}"#));
        let v = parse(&reply);
        assert_eq!(v["error"]["code"], INVALID_REQUEST, "{version:?}");
        assert_eq!(v["id"], 7, "a valid id is echoed on an invalid request");
    }
    // An escaped but equal string is the same string.
    let reply = call(r#"{"jsonrpc":"2\u002e0","method":"get_data","id":7}"#);
    assert_eq!(parse(&reply)["result"], json!(["hello", 5]));
}

#[test]
fn method_must_be_a_string() {
    for method in ["1", "null", "[]", r#"{"a":1}"#, "true"] {
        let reply = call(&format!(r#"{{"jsonrpc":"2.0","method":{method},"id":1}}"#));
        assert_eq!(error_code(&reply), i64::from(INVALID_REQUEST), "{method}");
    }
    let reply = call(r#"{"jsonrpc":"2.0","id":1}"#);
    assert_eq!(error_code(&reply), i64::from(INVALID_REQUEST));
}

#[test]
fn params_must_be_structured() {
    for params in [r#""bar""#, "3", "null", "true"] {
        let reply = call(&format!(
            r#"{{"jsonrpc":"2.0","method":"echo","params":{params},"id":1}}"#
        ));
        let v = parse(&reply);
        assert_eq!(v["error"]["code"], INVALID_REQUEST, "{params}");
        assert_eq!(
            v["error"]["data"]["reason"],
            "`params` must be an array or an object"
        );
    }
}

#[test]
fn unknown_and_duplicate_members_make_the_request_invalid() {
    let v = parse(&call(
        r#"{"jsonrpc":"2.0","method":"echo","param":[1],"id":1}"#,
    ));
    assert_eq!(v["error"]["code"], INVALID_REQUEST);
    assert_eq!(v["error"]["data"]["reason"], "unknown member `param`");
    assert_eq!(v["id"], 1);

    let v = parse(&call(
        r#"{"jsonrpc":"2.0","method":"echo","method":"sum","id":1}"#,
    ));
    assert_eq!(v["error"]["data"]["reason"], "duplicate member `method`");
    assert_eq!(v["id"], 1);

    let v = parse(&call(r#"{"jsonrpc":"2.0","method":"echo","id":1,"id":2}"#));
    assert_eq!(v["error"]["code"], INVALID_REQUEST);
    assert_eq!(v["id"], Value::Null, "an ambiguous id is not echoed");
}

#[test]
fn a_top_level_scalar_is_an_invalid_request() {
    for message in ["1", r#""x""#, "null", "true", " 3.5 "] {
        let reply = call(message);
        let v = parse(&reply);
        assert!(v.is_object(), "{message}: single object, not a batch");
        assert_eq!(v["error"]["code"], INVALID_REQUEST);
        assert_eq!(v["id"], Value::Null);
    }
}

#[test]
fn parse_errors_have_a_null_id() {
    for message in [
        "",
        "   ",
        "{",
        r#"{"jsonrpc":"2.0","#,
        "[1,",
        "{]",
        "nul",
        "{'a':1}",
        r#"{"a":1}x"#,
    ] {
        let reply = call(message);
        let v = parse(&reply);
        assert_eq!(v["error"]["code"], PARSE_ERROR, "{message:?}: {reply}");
        assert_eq!(v["error"]["message"], "Parse error");
        assert_eq!(v["id"], Value::Null);
    }
}

#[test]
fn invalid_utf8_is_a_parse_error() {
    let d = dispatcher();
    let reply = d
        .handle_bytes(
            &CallContext::in_process(),
            b"{\"jsonrpc\":\"2.0\",\"method\":\"\xff\",\"id\":1}",
        )
        .unwrap();
    let v = parse(&reply);
    assert_eq!(v["error"]["code"], PARSE_ERROR);
    assert_eq!(v["error"]["data"]["reason"], "invalid UTF-8 at byte 27");
}

#[test]
fn surrounding_whitespace_is_fine() {
    let reply = call(" \r\n\t{\"jsonrpc\":\"2.0\",\"method\":\"get_data\",\"id\":1} \n");
    assert_eq!(parse(&reply)["result"], json!(["hello", 5]));
}

#[test]
fn notifications_are_never_answered_whatever_happens() {
    let d = dispatcher();
    for request in [
        r#"{"jsonrpc":"2.0","method":"subtract","params":[1,2]}"#,
        r#"{"jsonrpc":"2.0","method":"no.such.method"}"#,
        r#"{"jsonrpc":"2.0","method":"rpc.nothing"}"#,
        r#"{"jsonrpc":"2.0","method":"subtract","params":{"minuend":"x"}}"#,
        r#"{"jsonrpc":"2.0","method":"fail.domain"}"#,
        r#"{"jsonrpc":"2.0","method":"fail.internal"}"#,
        r#"{"jsonrpc":"2.0","method":"bad.result"}"#,
        r#"{"jsonrpc":"2.0","method":"panic"}"#,
        r#"{"jsonrpc":"2.0","method":"rpc.discover"}"#,
    ] {
        assert_eq!(d.handle(request), None, "{request}");
    }
}

#[test]
fn invalid_requests_without_an_id_are_still_answered() {
    let v = parse(&call(r#"{"jsonrpc":"2.0","method":"echo","params":"bar"}"#));
    assert_eq!(v["error"]["code"], INVALID_REQUEST);
    let v = parse(&call(r#"{"jsonrpc":"1.0","method":"echo"}"#));
    assert_eq!(v["error"]["code"], INVALID_REQUEST);
}

#[test]
fn batches() {
    let d = dispatcher();
    // Empty: one error object, not an array.
    let v = parse(&d.handle("[]").unwrap());
    assert_eq!(v["error"]["code"], INVALID_REQUEST);
    assert!(v.is_object());
    // Whitespace inside the empty array.
    assert!(parse(&d.handle("[ \n ]").unwrap()).is_object());
    // A nested empty array is a (non-empty) batch of one invalid request.
    let v = parse(&d.handle("[[]]").unwrap());
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    assert_eq!(v[0]["error"]["code"], INVALID_REQUEST);
    // All notifications: nothing.
    assert_eq!(
        d.handle(r#"[{"jsonrpc":"2.0","method":"update","params":[1]},{"jsonrpc":"2.0","method":"nope"}]"#),
        None
    );
    // Order follows the requests; notifications leave no entry.
    let reply = d
        .handle(
            r#"[{"jsonrpc":"2.0","method":"subtract","params":[5,1],"id":"a"},
                {"jsonrpc":"2.0","method":"update","params":[1]},
                {"jsonrpc":"2.0","method":"nope","id":"b"},
                {"jsonrpc":"2.0","method":"subtract","params":[9,1],"id":3.0}]"#,
        )
        .unwrap();
    assert_eq!(
        reply,
        r#"[{"jsonrpc":"2.0","result":4,"id":"a"},{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":"b"},{"jsonrpc":"2.0","result":8,"id":3.0}]"#
    );
}

#[test]
fn batch_items_fail_independently() {
    let reply = dispatcher()
        .handle(
            r#"[{"jsonrpc":"2.0","method":"panic","id":1},{"jsonrpc":"2.0","method":"subtract","params":[2,1],"id":2},5]"#,
        )
        .unwrap();
    let v = parse(&reply);
    assert_eq!(v[0]["error"]["code"], INTERNAL_ERROR);
    assert_eq!(v[1]["result"], 1);
    assert_eq!(v[2]["error"]["code"], INVALID_REQUEST);
}

#[test]
fn limits_are_clear_errors() {
    let limits = Limits {
        max_request_bytes: 4096,
        max_batch_len: 3,
        max_depth: 8,
        max_string_bytes: 100,
    };
    let d = dispatcher_with(limits);
    let check = |request: &str, limit: &str| {
        let reply = d.handle(request).unwrap();
        let v = parse(&reply);
        assert_eq!(v["error"]["code"], LIMIT_EXCEEDED, "{reply}");
        assert_eq!(v["error"]["data"]["limit"], limit, "{reply}");
        assert_eq!(v["id"], Value::Null);
    };
    check(
        &format!(
            r#"{{"jsonrpc":"2.0","method":"echo","params":[{}],"id":1}}"#,
            "1,".repeat(3000) + "1"
        ),
        "max_request_bytes",
    );
    let item = r#"{"jsonrpc":"2.0","method":"get_data","id":1}"#;
    check(&format!("[{item},{item},{item},{item}]"), "max_batch_len");
    assert!(d.handle(&format!("[{item},{item},{item}]")).is_some());
    check(
        &format!(
            r#"{{"jsonrpc":"2.0","method":"echo","params":{}1{},"id":1}}"#,
            "[".repeat(8),
            "]".repeat(8)
        ),
        "max_depth",
    );
    // 1 (request) + 7 = 8 levels is fine.
    let ok = d
        .handle(&format!(
            r#"{{"jsonrpc":"2.0","method":"echo","params":{}1{},"id":1}}"#,
            "[".repeat(7),
            "]".repeat(7)
        ))
        .unwrap();
    assert!(parse(&ok).get("result").is_some(), "{ok}");
    check(
        &format!(
            r#"{{"jsonrpc":"2.0","method":"echo","params":["{}"],"id":1}}"#,
            "x".repeat(101)
        ),
        "max_string_bytes",
    );
    check(
        &format!(
            r#"{{"jsonrpc":"2.0","method":"echo","params":{{"{}":1}},"id":1}}"#,
            "k".repeat(101)
        ),
        "max_string_bytes",
    );
}

#[test]
fn deep_nesting_never_overflows_the_stack() {
    let d = Dispatcher::with_limits(
        registry(false),
        Limits {
            max_request_bytes: 16 * 1024 * 1024,
            max_depth: 10_000,
            ..Limits::default()
        },
    );
    for open in ["[", "{\"a\":"] {
        let deep = open.repeat(1_000_000);
        let reply = d.handle(&deep).unwrap();
        assert_eq!(error_code(&reply), i64::from(LIMIT_EXCEEDED), "{}", &reply);
    }
}

#[test]
fn method_not_found_and_reserved_names() {
    for method in ["foobar", "", "rpc.", "rpc.other", "nope"] {
        let reply = call(&format!(
            r#"{{"jsonrpc":"2.0","method":"{method}","id":1}}"#
        ));
        assert_eq!(
            reply,
            r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}"#,
            "{method:?}"
        );
    }
    // Names are exact, but a near miss says what was meant.
    for (method, meant) in [
        ("RPC.discover", "rpc.discover"),
        ("subtract ", "subtract"),
        ("substract", "subtract"),
        ("get-data", "get_data"),
    ] {
        let reply = call(&format!(
            r#"{{"jsonrpc":"2.0","method":"{method}","id":1}}"#
        ));
        assert_eq!(
            reply,
            format!(
                r#"{{"jsonrpc":"2.0","error":{{"code":-32601,"message":"Method not found","data":{{"did_you_mean":"{meant}","method":"{method}"}}}},"id":1}}"#
            ),
            "{method:?}"
        );
    }
}

#[test]
fn rpc_discover_takes_no_params() {
    let d = dispatcher();
    for params in ["", r#","params":[]"#, r#","params":{}"#, r#","params":[ ]"#] {
        let reply = d
            .handle(&format!(
                r#"{{"jsonrpc":"2.0","method":"rpc.discover"{params},"id":1}}"#
            ))
            .unwrap();
        assert_eq!(parse(&reply)["result"], d.openrpc_document(), "{params}");
    }
    let reply = d
        .handle(r#"{"jsonrpc":"2.0","method":"rpc.discover","params":[1],"id":1}"#)
        .unwrap();
    assert_eq!(error_code(&reply), i64::from(INVALID_PARAMS));
}

#[test]
fn invalid_params_name_the_field() {
    let v = parse(&call(
        r#"{"jsonrpc":"2.0","method":"subtract","params":{"minuend":"x","subtrahend":1},"id":1}"#,
    ));
    assert_eq!(v["error"]["code"], INVALID_PARAMS);
    assert_eq!(
        v["error"]["message"],
        "Invalid params: minuend: invalid type: string \"x\", expected i64"
    );
    assert_eq!(v["error"]["data"]["path"], "minuend");

    // By position, the path is the field the position maps to.
    let v = parse(&call(
        r#"{"jsonrpc":"2.0","method":"subtract","params":[1,"y"],"id":1}"#,
    ));
    assert_eq!(v["error"]["data"]["path"], "subtrahend");

    let v = parse(&call(
        r#"{"jsonrpc":"2.0","method":"subtract","params":{"minuend":1},"id":1}"#,
    ));
    assert_eq!(
        v["error"]["message"],
        "Invalid params: missing field `subtrahend`"
    );
    assert_eq!(v["error"]["data"]["path"], ".");

    let v = parse(&call(
        r#"{"jsonrpc":"2.0","method":"nested","params":{"label":"l","outer":{"items":[{"count":1},{"count":-1}]}},"id":1}"#,
    ));
    assert_eq!(v["error"]["data"]["path"], "outer.items[1].count");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("outer.items[1].count")
    );

    let v = parse(&call(
        r#"{"jsonrpc":"2.0","method":"nested","params":{"label":"l","outer":{"items":[]},"extra":1},"id":1}"#,
    ));
    assert_eq!(v["error"]["code"], INVALID_PARAMS);
    assert_eq!(v["error"]["data"]["path"], "extra");
    assert_eq!(
        v["error"]["data"]["reason"],
        "unknown field `extra`, expected one of `outer`, `label`"
    );

    let v = parse(&call(
        r#"{"jsonrpc":"2.0","method":"subtract","params":[1,2,3],"id":1}"#,
    ));
    assert_eq!(v["error"]["code"], INVALID_PARAMS);
    assert_eq!(
        v["error"]["data"]["reason"],
        "expected at most 2 params by position, got 3"
    );

    // Raw params types get serde's message too.
    let v = parse(&call(
        r#"{"jsonrpc":"2.0","method":"sum","params":[1,"a"],"id":1}"#,
    ));
    assert_eq!(v["error"]["code"], INVALID_PARAMS);
    assert_eq!(v["error"]["data"]["path"], "[1]");
    let v = parse(&call(
        r#"{"jsonrpc":"2.0","method":"sum","params":{"a":1},"id":1}"#,
    ));
    assert_eq!(v["error"]["code"], INVALID_PARAMS);
}

#[test]
fn positional_params_map_onto_fields_in_declaration_order() {
    let result = |request: &str| parse(&call(request))["result"].clone();
    assert_eq!(
        result(r#"{"jsonrpc":"2.0","method":"defaults","params":[4,2],"id":1}"#),
        42
    );
    assert_eq!(
        result(r#"{"jsonrpc":"2.0","method":"defaults","params":[4],"id":1}"#),
        40
    );
    assert_eq!(
        result(r#"{"jsonrpc":"2.0","method":"defaults","params":{"a":4},"id":1}"#),
        40
    );
    let v = parse(&call(
        r#"{"jsonrpc":"2.0","method":"defaults","params":[],"id":1}"#,
    ));
    assert_eq!(v["error"]["message"], "Invalid params: missing field `a`");
    let v = parse(&call(r#"{"jsonrpc":"2.0","method":"defaults","id":1}"#));
    assert_eq!(v["error"]["message"], "Invalid params: missing field `a`");
}

#[test]
fn by_name_only_and_lenient_methods() {
    let v = parse(&call(
        r#"{"jsonrpc":"2.0","method":"strict","params":[1],"id":1}"#,
    ));
    assert_eq!(v["error"]["code"], INVALID_PARAMS);
    assert_eq!(
        v["error"]["data"]["reason"],
        "this method takes params by name (an object), not by position"
    );
    assert_eq!(
        parse(&call(
            r#"{"jsonrpc":"2.0","method":"strict","params":{"a":1},"id":1}"#
        ))["result"],
        1
    );
    assert_eq!(
        parse(&call(
            r#"{"jsonrpc":"2.0","method":"lenient","params":{"a":1,"zzz":2},"id":1}"#
        ))["result"],
        1
    );
}

#[test]
fn no_params_methods_accept_absent_empty_array_and_empty_object_only() {
    for params in ["", r#","params":[]"#, r#","params":{}"#] {
        let v = parse(&call(&format!(
            r#"{{"jsonrpc":"2.0","method":"get_data"{params},"id":1}}"#
        )));
        assert_eq!(v["result"], json!(["hello", 5]), "{params}");
    }
    for params in [r#","params":[1]"#, r#","params":{"a":1}"#] {
        let reply = call(&format!(
            r#"{{"jsonrpc":"2.0","method":"get_data"{params},"id":1}}"#
        ));
        assert_eq!(error_code(&reply), i64::from(INVALID_PARAMS), "{params}");
    }
}

#[test]
fn a_panicking_method_answers_internal_error_and_the_dispatcher_keeps_serving() {
    let d = dispatcher();
    for _ in 0..3 {
        let reply = d
            .handle(r#"{"jsonrpc":"2.0","method":"panic","id":1}"#)
            .unwrap();
        assert_eq!(
            reply,
            r#"{"jsonrpc":"2.0","error":{"code":-32603,"message":"Internal error"},"id":1}"#
        );
        assert!(!reply.contains("boom"));
        let reply = d.handle(r#"{"jsonrpc":"2.0","method":"subtract","params":[3,1],"id":2}"#);
        assert_eq!(
            reply.as_deref(),
            Some(r#"{"jsonrpc":"2.0","result":2,"id":2}"#)
        );
    }
}

#[test]
fn domain_and_internal_errors() {
    let v = parse(&call(
        r#"{"jsonrpc":"2.0","method":"fail.domain","id":"x"}"#,
    ));
    assert_eq!(
        v,
        json!({"jsonrpc": "2.0", "id": "x", "error": {
            "code": -32001,
            "message": "Not allowed in this state",
            "data": {"domain_code": "illegal_transition", "details": {"state": "closed"}}
        }})
    );
    let reply = call(r#"{"jsonrpc":"2.0","method":"fail.internal","id":"x"}"#);
    assert_eq!(
        reply,
        r#"{"jsonrpc":"2.0","error":{"code":-32603,"message":"Internal error"},"id":"x"}"#
    );
    let reply = call(r#"{"jsonrpc":"2.0","method":"bad.result","id":"x"}"#);
    assert_eq!(error_code(&reply), i64::from(INTERNAL_ERROR));
}

#[test]
fn the_acting_identity_follows_the_trust_level() {
    let d = dispatcher();
    let claim = r#"{"jsonrpc":"2.0","method":"whoami","params":{"actor":{"actor":"mallory","roles":["cab"]}},"id":1}"#;
    let plain = r#"{"jsonrpc":"2.0","method":"whoami","id":1}"#;

    // In-process and stdio trust the caller.
    assert_eq!(
        parse(&d.handle(claim).unwrap())["result"]["actor"],
        "mallory"
    );
    assert_eq!(
        error_code(&d.handle(plain).unwrap()),
        i64::from(UNAUTHENTICATED)
    );
    let stdio = CallContext::local(TransportKind::Stdio, Some(Identity::new("ops", ["agent"])));
    assert_eq!(
        parse(&d.handle_with(&stdio, plain).unwrap())["result"]["actor"],
        "ops"
    );

    // HTTP with a token: the token decides, a claim is refused.
    let http = CallContext::authenticated(Identity::new("alice", ["agent"]));
    assert_eq!(
        parse(&d.handle_with(&http, plain).unwrap())["result"],
        json!({"actor": "alice", "roles": ["agent"]})
    );
    assert_eq!(
        error_code(&d.handle_with(&http, claim).unwrap()),
        i64::from(ACTOR_NOT_ALLOWED)
    );

    // HTTP without tokens: nobody.
    let anon = CallContext::anonymous();
    assert_eq!(
        error_code(&d.handle_with(&anon, plain).unwrap()),
        i64::from(UNAUTHENTICATED)
    );
    assert_eq!(
        error_code(&d.handle_with(&anon, claim).unwrap()),
        i64::from(ACTOR_NOT_ALLOWED)
    );
}

#[test]
fn results_of_any_json_shape_are_returned_verbatim() {
    for params in [
        r#"[1,2.5,"x",null,true,{"a":[]}]"#,
        r#"{"k":{"deep":[1,{"x":null}]}}"#,
    ] {
        let reply = call(&format!(
            r#"{{"jsonrpc":"2.0","method":"echo","params":{params},"id":1}}"#
        ));
        assert_eq!(parse(&reply)["result"], parse(params));
    }
}
