//! Statuses: NULL pointers, empty and invalid inputs, the last error message.

use crate::support::*;
use opsledger_ffi::*;
use serde_json::json;
use std::ptr;

#[test]
fn versions() {
    assert_eq!(opsledger_abi_version(), OPSLEDGER_ABI_VERSION);
    // SAFETY: a static NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(opsledger_version()) };
    assert_eq!(
        v.to_str().unwrap(),
        concat!("opsledger-ffi/", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn open_refuses_null_and_bad_configurations() {
    // SAFETY: NULL out-parameter: refused before anything is written.
    let st = unsafe { opsledger_engine_open(b"{}".as_ptr(), 2, ptr::null_mut()) };
    assert_eq!(st, OpsledgerStatus::NullArgument);
    assert_eq!(last_error(), "`out` is NULL");

    let mut out: *mut OpsledgerEngine = ptr::dangling_mut();
    // SAFETY: a NULL config with a non-zero length is refused without reading it.
    let st = unsafe { opsledger_engine_open(ptr::null(), 5, &mut out) };
    assert_eq!(st, OpsledgerStatus::NullArgument);
    assert!(out.is_null());
    assert!(last_error().contains("config_json"));

    // NULL with length 0: an empty configuration, refused as such.
    // SAFETY: length 0 never reads the pointer.
    let st = unsafe { opsledger_engine_open(ptr::null(), 0, &mut out) };
    assert_eq!(st, OpsledgerStatus::InvalidConfig);
    assert!(last_error().contains("empty configuration"));

    let cases: &[(&[u8], OpsledgerStatus, &str)] = &[
        (
            b"{\"in_memory\": \xff}",
            OpsledgerStatus::InvalidUtf8,
            "not UTF-8",
        ),
        (
            b"{\"in_memory\": tru",
            OpsledgerStatus::InvalidConfig,
            "EOF",
        ),
        (
            b"{\"in_memory\": true, \"x\": 1}",
            OpsledgerStatus::InvalidConfig,
            "unknown field `x`",
        ),
        (
            b"{\"in_memory\": \"yes\"}",
            OpsledgerStatus::InvalidConfig,
            "invalid type",
        ),
        (b"{}", OpsledgerStatus::InvalidConfig, "required"),
        (b"[]", OpsledgerStatus::InvalidConfig, "configuration"),
        (b"null", OpsledgerStatus::InvalidConfig, "configuration"),
        (
            b"{\"data_dir\": \"/x\", \"durability\": \"sometimes\"}",
            OpsledgerStatus::InvalidConfig,
            "unknown variant",
        ),
        (
            b"{\"in_memory\": true, \"cache_records\": 0}",
            OpsledgerStatus::InvalidConfig,
            "cache_records",
        ),
        // Once a panic inside the cache's allocation (found by the API fuzzer).
        (
            b"{\"in_memory\": true, \"cache_records\": 18446744073709551615}",
            OpsledgerStatus::InvalidConfig,
            "cache_records must be between 1 and 1000000",
        ),
        // A default identity no call could act under is refused at open (found by the API
        // fuzzer: it opened, then every call without an actor failed).
        (
            b"{\"in_memory\": true, \"actor\": {\"id\": \"sam\", \"roles\": [\"agent\", \"wizard\"]}}",
            OpsledgerStatus::InvalidConfig,
            "actor.roles[1]: unknown role \"wizard\", expected one of `requester`",
        ),
        (
            b"{\"in_memory\": true, \"actor\": {\"id\": \"sam\", \"roles\": [\"system\"]}}",
            OpsledgerStatus::InvalidConfig,
            "actor.roles[0]: the system role is the engine's own",
        ),
        (
            b"{\"in_memory\": true, \"actor\": {\"id\": \" \", \"roles\": [\"agent\"]}}",
            OpsledgerStatus::InvalidConfig,
            "actor.id: the actor id must not be empty",
        ),
    ];
    for (config, status, needle) in cases {
        let (st, message) = open_raw(config).err().expect("refused");
        assert_eq!(st, *status, "{}", String::from_utf8_lossy(config));
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
    #[cfg(not(feature = "spec-fixtures"))]
    {
        let (st, message) = open_raw(br#"{"in_memory": true, "spec_fixtures": true}"#)
            .err()
            .expect("refused without the feature");
        assert_eq!(st, OpsledgerStatus::InvalidConfig);
        assert!(message.contains("spec-fixtures"));
    }
}

#[test]
fn open_failure_of_a_directory_names_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let config = json!({"data_dir": file.join("sub")}).to_string();
    let (st, message) = open_raw(config.as_bytes()).err().expect("cannot open");
    assert_eq!(st, OpsledgerStatus::OpenFailed);
    assert!(!message.is_empty());
}

#[test]
fn rpc_refuses_null_pointers_without_writing_through_them() {
    let h = in_memory();
    let req = br#"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#;
    let mut out: *mut u8 = ptr::dangling_mut();
    let mut out_len = 7usize;
    // SAFETY: every non-NULL pointer below is live; NULL ones are refused.
    unsafe {
        let st = opsledger_rpc(ptr::null(), req.as_ptr(), req.len(), &mut out, &mut out_len);
        assert_eq!(st, OpsledgerStatus::NullArgument);
        assert!(out.is_null() && out_len == 0, "out-parameters reset");
        assert_eq!(last_error(), "`engine` is NULL");

        let st = opsledger_rpc(h.0, req.as_ptr(), req.len(), ptr::null_mut(), &mut out_len);
        assert_eq!(st, OpsledgerStatus::NullArgument);
        assert_eq!(last_error(), "`out` is NULL");

        let st = opsledger_rpc(h.0, req.as_ptr(), req.len(), &mut out, ptr::null_mut());
        assert_eq!(st, OpsledgerStatus::NullArgument);
        assert_eq!(last_error(), "`out_len` is NULL");

        let st = opsledger_rpc(h.0, ptr::null(), 10, &mut out, &mut out_len);
        assert_eq!(st, OpsledgerStatus::NullArgument);
        assert!(last_error().contains("`request` is NULL"));

        // A success clears the thread's message.
        let st = opsledger_rpc(h.0, req.as_ptr(), req.len(), &mut out, &mut out_len);
        assert_eq!(st, OpsledgerStatus::Ok);
        assert_eq!(last_error(), "");
        opsledger_buf_free(out, out_len);
    }
}

#[test]
fn empty_and_invalid_messages() {
    let h = in_memory();
    // Zero length, NULL pointer: an empty message, which is not JSON.
    let mut out: *mut u8 = ptr::null_mut();
    let mut out_len = 0usize;
    // SAFETY: length 0 never reads the pointer; out-parameters are live.
    let st = unsafe { opsledger_rpc(h.0, ptr::null(), 0, &mut out, &mut out_len) };
    assert_eq!(st, OpsledgerStatus::Ok);
    // SAFETY: the response buffer handed out.
    let text = unsafe { std::slice::from_raw_parts(out, out_len) }.to_vec();
    // SAFETY: freed once.
    unsafe { opsledger_buf_free(out, out_len) };
    let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(v["error"]["code"], -32700);
    assert_eq!(v["id"], serde_json::Value::Null);

    let (st, body) = h.rpc_raw(b"{\"jsonrpc\":\"2.0\",\"method\":\"\xc3\x28\",\"id\":1}");
    assert_eq!((st, body), (OpsledgerStatus::InvalidUtf8, None));
    assert!(last_error().contains("not UTF-8"));

    let (st, body) = h.rpc_raw(br#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#);
    assert_eq!(st, OpsledgerStatus::Ok);
    assert!(body.unwrap().contains("-32700"));

    // Wrong types in the envelope, an unknown method, a huge message.
    let v = h
        .rpc(&json!({"jsonrpc": "2.0", "method": 1, "id": 3}))
        .unwrap();
    assert_eq!(v["error"]["code"], -32600);
    assert_eq!(v["id"], 3);
    let v = h
        .rpc(&json!({"jsonrpc": "2.0", "method": "no.such", "id": "x"}))
        .unwrap();
    assert_eq!(v["error"]["code"], -32601);
    let huge = format!(
        r#"{{"jsonrpc":"2.0","method":"no.such","params":["{}"],"id":1}}"#,
        "a".repeat(2 * 1024 * 1024)
    );
    let (st, body) = h.rpc_raw(huge.as_bytes());
    assert_eq!(st, OpsledgerStatus::Ok);
    let v: serde_json::Value = serde_json::from_str(&body.unwrap()).unwrap();
    assert_eq!(v["error"]["code"], -32099);
    assert_eq!(v["error"]["data"]["limit"], "max_request_bytes");
}

#[test]
fn notifications_have_no_response() {
    let h = in_memory();
    let (st, body) = h.rpc_raw(br#"{"jsonrpc":"2.0","method":"no.such"}"#);
    assert_eq!((st, body), (OpsledgerStatus::Ok, None));
    let (st, body) =
        h.rpc_raw(br#"[{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"b"}]"#);
    assert_eq!((st, body), (OpsledgerStatus::Ok, None));
    let batch = h
        .rpc(&json!([
            {"jsonrpc": "2.0", "method": "a"},
            {"jsonrpc": "2.0", "method": "rpc.discover", "id": 2},
        ]))
        .unwrap();
    assert_eq!(batch.as_array().unwrap().len(), 1);
    assert_eq!(batch[0]["id"], 2);
    assert_eq!(batch[0]["result"]["openrpc"], "1.3.2");
}

#[test]
fn last_error_message_buffer_protocol() {
    // SAFETY: NULL `out_len` is refused.
    let st = unsafe { opsledger_last_error_message(ptr::null_mut(), 0, ptr::null_mut()) };
    assert_eq!(st, OpsledgerStatus::NullArgument);
    let mut n = 0usize;
    // SAFETY: NULL `buf` with a non-zero length is refused without writing.
    let st = unsafe { opsledger_last_error_message(ptr::null_mut(), 8, &mut n) };
    assert_eq!(st, OpsledgerStatus::NullArgument);
    let _ = open_raw(b"{}");
    let message = last_error();
    assert!(!message.is_empty());
    let mut small = [0x7fu8; 4];
    // SAFETY: `small` holds 4 bytes.
    let st = unsafe { opsledger_last_error_message(small.as_mut_ptr().cast(), 4, &mut n) };
    assert_eq!(st, OpsledgerStatus::BufferTooSmall);
    assert_eq!(n, message.len());
    assert_eq!(small, [0x7f; 4], "nothing copied");
    let mut exact = vec![0u8; n];
    // SAFETY: `exact` holds `n` bytes: one short of the terminator.
    let st = unsafe { opsledger_last_error_message(exact.as_mut_ptr().cast(), n, &mut n) };
    assert_eq!(st, OpsledgerStatus::BufferTooSmall);
    // Per thread: another thread has no message.
    std::thread::spawn(|| assert_eq!(last_error(), ""))
        .join()
        .unwrap();
    // buf_free does not touch it.
    // SAFETY: NULL is harmless.
    unsafe { opsledger_buf_free(ptr::null_mut(), 0) };
    assert_eq!(last_error(), message);
}

#[test]
fn close_null_is_harmless_and_close_reports_ok() {
    // SAFETY: NULL is harmless, any number of times.
    unsafe {
        assert_eq!(opsledger_engine_close(ptr::null_mut()), OpsledgerStatus::Ok);
        assert_eq!(opsledger_engine_close(ptr::null_mut()), OpsledgerStatus::Ok);
    }
    assert_eq!(in_memory().close(), OpsledgerStatus::Ok);
}

#[cfg(debug_assertions)]
#[test]
fn a_panic_poisons_the_handle() {
    let h = in_memory();
    let other = in_memory();
    // SAFETY: NULL is refused.
    assert_eq!(
        unsafe { opsledger_debug_panic(ptr::null()) },
        OpsledgerStatus::NullArgument
    );
    // SAFETY: a live handle.
    assert_eq!(
        unsafe { opsledger_debug_panic(h.0) },
        OpsledgerStatus::Panicked
    );
    assert!(last_error().contains("opsledger_debug_panic was called"));
    let (st, body) = h.rpc_raw(br#"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#);
    assert_eq!((st, body), (OpsledgerStatus::Poisoned, None));
    assert!(last_error().contains("poisoned"));
    // SAFETY: a live (poisoned) handle.
    assert_eq!(
        unsafe { opsledger_debug_panic(h.0) },
        OpsledgerStatus::Poisoned
    );
    // Other handles are unaffected, and a poisoned handle still closes.
    assert!(other.call("rpc.discover", json!({})).is_ok());
    assert_eq!(h.close(), OpsledgerStatus::Ok);
}
