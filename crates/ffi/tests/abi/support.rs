//! A thin safe wrapper over the exported functions, for the tests.

use opsledger_ffi::*;
use serde_json::{Value, json};
use std::ptr;

/// An open handle, closed on drop.
pub struct Handle(pub *mut OpsledgerEngine);

// SAFETY: the ABI documents `OpsledgerEngine` as safe to share between threads.
unsafe impl Send for Handle {}
// SAFETY: as above.
unsafe impl Sync for Handle {}

/// The calling thread's last error message.
pub fn last_error() -> String {
    let mut n = 0usize;
    // SAFETY: a NULL buffer with length 0 asks for the length only.
    let st = unsafe { opsledger_last_error_message(ptr::null_mut(), 0, &mut n) };
    assert!(matches!(
        st,
        OpsledgerStatus::Ok | OpsledgerStatus::BufferTooSmall
    ));
    let mut buf = vec![0u8; n + 1];
    // SAFETY: `buf` holds `n + 1` bytes.
    let st = unsafe { opsledger_last_error_message(buf.as_mut_ptr().cast(), buf.len(), &mut n) };
    assert_eq!(st, OpsledgerStatus::Ok);
    assert_eq!(buf[n], 0, "NUL-terminated");
    String::from_utf8(buf[..n].to_vec()).expect("UTF-8 message")
}

/// Opens with a raw configuration; the status and the message on failure.
pub fn open_raw(config: &[u8]) -> Result<Handle, (OpsledgerStatus, String)> {
    let mut out: *mut OpsledgerEngine = ptr::dangling_mut();
    // SAFETY: `config` is a live slice and `out` a live out-parameter.
    let st = unsafe { opsledger_engine_open(config.as_ptr(), config.len(), &mut out) };
    if st == OpsledgerStatus::Ok {
        assert!(!out.is_null());
        assert_eq!(last_error(), "");
        Ok(Handle(out))
    } else {
        assert!(out.is_null(), "out is reset on failure");
        Err((st, last_error()))
    }
}

pub fn open(config: Value) -> Handle {
    match open_raw(config.to_string().as_bytes()) {
        Ok(h) => h,
        Err((st, m)) => panic!("open {config}: {st:?} {m}"),
    }
}

pub fn in_memory() -> Handle {
    open(json!({"in_memory": true}))
}

impl Handle {
    /// One raw message: the status and the response text (None: no response).
    pub fn rpc_raw(&self, request: &[u8]) -> (OpsledgerStatus, Option<String>) {
        let mut out: *mut u8 = ptr::dangling_mut();
        let mut out_len = usize::MAX;
        // SAFETY: the handle is live; `request` is a live slice; out-parameters are live.
        let st = unsafe {
            opsledger_rpc(
                self.0,
                request.as_ptr(),
                request.len(),
                &mut out,
                &mut out_len,
            )
        };
        if out.is_null() {
            assert_eq!(out_len, 0);
            return (st, None);
        }
        assert_eq!(st, OpsledgerStatus::Ok);
        // SAFETY: the library handed out `out_len` bytes at `out`.
        let text = unsafe { std::slice::from_raw_parts(out, out_len) }.to_vec();
        // SAFETY: freed once, with the length received.
        unsafe { opsledger_buf_free(out, out_len) };
        (
            st,
            Some(String::from_utf8(text).expect("responses are UTF-8")),
        )
    }

    /// One request value; the response value.
    pub fn rpc(&self, request: &Value) -> Option<Value> {
        let (st, text) = self.rpc_raw(request.to_string().as_bytes());
        assert_eq!(st, OpsledgerStatus::Ok, "{}", last_error());
        text.map(|t| serde_json::from_str(&t).expect("responses are JSON"))
    }

    /// Calls `method`; `Ok(result)` or `Err(error object)`.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, Value> {
        let mut response = self
            .rpc(&json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}))
            .expect("a request is answered");
        if let Some(error) = response.get_mut("error") {
            Err(error.take())
        } else {
            Ok(response["result"].take())
        }
    }

    /// Closes explicitly; the status.
    pub fn close(mut self) -> OpsledgerStatus {
        let p = std::mem::replace(&mut self.0, ptr::null_mut());
        // SAFETY: `p` is a live handle, closed once (Drop then sees NULL).
        unsafe { opsledger_engine_close(p) }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: NULL or a live handle, closed once.
        unsafe { opsledger_engine_close(self.0) };
    }
}
