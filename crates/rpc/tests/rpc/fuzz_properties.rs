//! The property the cargo-fuzz target checks, on stable with proptest: whatever arrives,
//! `handle` does not panic and answers either nothing or a well-formed JSON-RPC reply; ids are
//! echoed byte for byte.

use crate::common::{check_reply, registry};
use opsledger_rpc::{CallContext, Dispatcher, Limits};
use proptest::prelude::*;
use serde_json::Value;
use std::sync::LazyLock;

/// No `panic` method here: panics are tested on their own, and each one prints to stderr.
static DISPATCHER: LazyLock<Dispatcher> = LazyLock::new(|| {
    Dispatcher::with_limits(
        registry(false),
        Limits {
            max_batch_len: 8,
            max_depth: 12,
            max_string_bytes: 512,
            ..Limits::default()
        },
    )
});

fn assert_well_formed(message: &[u8]) -> Result<(), TestCaseError> {
    if let Some(reply) = DISPATCHER.handle_bytes(&CallContext::in_process(), message) {
        prop_assert!(check_reply(&reply).is_ok(), "{:?}", check_reply(&reply));
    }
    Ok(())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("2.0"),
            Just("subtract"),
            Just("sum"),
            Just("echo"),
            Just("rpc.discover")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("jsonrpc".to_string()),
                    Just("method".to_string()),
                    Just("params".to_string()),
                    Just("id".to_string()),
                    "[a-z]{1,6}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Raw id texts: every JSON type, numbers in spellings serde_json would not produce.
fn id_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        "-?[1-9][0-9]{15,60}",
        "-?(0|[1-9][0-9]{0,8})\\.[0-9]{1,12}([eE][+-]?[0-9]{1,3})?",
        "-?[1-9][eE][+-]?[0-9]{1,4}",
        "[ -~&&[^\"\\\\]]{0,16}".prop_map(|s| format!("\"{s}\"")),
        "(\\\\[nrt\"\\\\/]|\\\\u00[0-7][0-9a-f]|[a-z🦀é]){0,8}".prop_map(|s| format!("\"{s}\"")),
        Just("null".to_string()),
    ]
}

/// Request-shaped objects: the right member names with right and wrong values.
fn request_like() -> impl Strategy<Value = String> {
    let jsonrpc = prop_oneof![
        4 => Just(Some(r#""2.0""#.to_string())),
        1 => Just(None),
        1 => json_value().prop_map(|v| Some(v.to_string())),
    ];
    let method = prop_oneof![
        4 => prop_oneof![
            Just("subtract"), Just("sum"), Just("get_data"), Just("echo"), Just("defaults"),
            Just("nested"), Just("whoami"), Just("update"), Just("fail.domain"),
            Just("fail.internal"), Just("bad.result"), Just("rpc.discover"), Just("rpc.x"),
            Just("nope"), Just("strict"), Just("lenient")
        ].prop_map(|m| Some(format!("\"{m}\""))),
        1 => Just(None),
        1 => json_value().prop_map(|v| Some(v.to_string())),
    ];
    let params = prop_oneof![
        2 => Just(None),
        3 => json_value().prop_map(|v| Some(v.to_string())),
    ];
    let id = prop_oneof![
        3 => id_text().prop_map(Some),
        1 => Just(None),
        1 => json_value().prop_map(|v| Some(v.to_string())),
    ];
    (jsonrpc, method, params, id).prop_map(|(j, m, p, i)| {
        let members: Vec<String> = [("jsonrpc", j), ("method", m), ("params", p), ("id", i)]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("\"{k}\":{v}")))
            .collect();
        format!("{{{}}}", members.join(","))
    })
}

proptest! {
    // 256 cases per property by default; PROPTEST_CASES=100000 for a long run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        assert_well_formed(&bytes)?;
    }

    #[test]
    fn json_like_bytes_never_panic(
        bytes in prop::collection::vec(
            prop_oneof![Just(b'['), Just(b']'), Just(b'{'), Just(b'}'), Just(b'"'), Just(b','),
                        Just(b':'), Just(b'\\'), Just(b'1'), Just(b' '), any::<u8>()],
            0..256)
    ) {
        assert_well_formed(&bytes)?;
    }

    #[test]
    fn arbitrary_json_values_never_panic(value in json_value()) {
        assert_well_formed(value.to_string().as_bytes())?;
    }

    #[test]
    fn request_shaped_messages_never_panic(request in request_like()) {
        assert_well_formed(request.as_bytes())?;
    }

    #[test]
    fn batches_of_request_shaped_messages_never_panic(
        requests in prop::collection::vec(request_like(), 0..10)
    ) {
        assert_well_formed(format!("[{}]", requests.join(",")).as_bytes())?;
    }

    #[test]
    fn ids_are_echoed_byte_for_byte(id in id_text(), method in prop_oneof![Just("get_data"), Just("nope"), Just("subtract")]) {
        let request = format!(r#"{{"jsonrpc":"2.0","method":"{method}","id":{id}}}"#);
        let reply = DISPATCHER.handle(&request).expect("a request is answered");
        prop_assert!(check_reply(&reply).is_ok());
        let suffix = format!(",\"id\":{id}}}");
        prop_assert!(reply.ends_with(&suffix), "{} does not end with {}", reply, suffix);
    }

    #[test]
    fn ids_are_echoed_inside_batches(ids in prop::collection::vec(id_text(), 1..6)) {
        let items: Vec<String> = ids
            .iter()
            .map(|id| format!(r#"{{"jsonrpc":"2.0","method":"get_data","id":{id}}}"#))
            .collect();
        let reply = DISPATCHER.handle(&format!("[{}]", items.join(","))).unwrap();
        let expected: Vec<String> = ids
            .iter()
            .map(|id| format!(r#"{{"jsonrpc":"2.0","result":["hello",5],"id":{id}}}"#))
            .collect();
        prop_assert_eq!(reply, format!("[{}]", expected.join(",")));
    }

    #[test]
    fn subtract_by_position_and_by_name_agree(a in any::<i32>(), b in any::<i32>()) {
        let (a, b) = (i64::from(a), i64::from(b));
        let by_position = DISPATCHER
            .handle(&format!(r#"{{"jsonrpc":"2.0","method":"subtract","params":[{a},{b}],"id":1}}"#))
            .unwrap();
        let by_name = DISPATCHER
            .handle(&format!(r#"{{"jsonrpc":"2.0","method":"subtract","params":{{"subtrahend":{b},"minuend":{a}}},"id":1}}"#))
            .unwrap();
        prop_assert_eq!(&by_position, &by_name);
        prop_assert_eq!(by_position, format!(r#"{{"jsonrpc":"2.0","result":{},"id":1}}"#, a - b));
    }
}
