//! opsledger's C ABI.
//!
//! One opaque handle, [`OpsledgerEngine`], and one main entry point, [`opsledger_rpc()`], that
//! carries a JSON-RPC 2.0 message (a request, a notification or a batch) through the same
//! dispatcher and methods as the `opsledger` server. Everything else is plumbing: opening and
//! closing the handle, freeing the buffers the library hands out, the thread's last error
//! message, versions. The C header `include/opsledger.h` is generated from this crate by a
//! pinned cbindgen (see `tests/header.rs`) and committed.
//!
//! The conventions follow rustls-ffi and the regex C API:
//!
//! - **Statuses.** Every fallible function returns an [`OpsledgerStatus`]; results travel in
//!   out-parameters. Out-parameters are reset (`NULL`, `0`) on entry whenever they are
//!   non-NULL, and hold a result only when the status is [`OpsledgerStatus::Ok`].
//! - **Errors in-band first.** A JSON-RPC error (an unknown method, invalid params, a refused
//!   command, even invalid JSON: -32700) is a *response*, returned with status `OK`. Statuses
//!   other than `OK` are for failures where no JSON-RPC response can be produced (a NULL
//!   pointer, bytes that are not UTF-8, a poisoned handle...); their text is available from
//!   [`opsledger_last_error_message`] on the same thread.
//! - **Inputs** are `(const uint8_t *ptr, size_t len)` pairs of UTF-8, not NUL-terminated;
//!   `len == 0` never reads `ptr` (which may then be NULL); a NULL `ptr` with a non-zero `len`
//!   is [`OpsledgerStatus::NullArgument`].
//! - **Outputs** are allocated by Rust and must be released with [`opsledger_buf_free`] (never
//!   libc's `free`), exactly once, passing back the same pointer and length.
//! - **Panics** never cross the boundary: every entry point runs inside `catch_unwind`. A
//!   panic that reaches the boundary during a call on a handle returns
//!   [`OpsledgerStatus::Panicked`] and poisons the handle: every later call on it returns
//!   [`OpsledgerStatus::Poisoned`] (close it and open a new one; the log on disk is intact,
//!   appends are atomic). A panic inside a method handler is caught one level below by the
//!   dispatcher and answered with a -32603 response, exactly as the server answers it; that
//!   call returns [`OpsledgerStatus::Ok`] with the response, and the handle is poisoned as well.
//! - **Threads.** An `OpsledgerEngine` is `Send + Sync`: any number of threads may call
//!   [`opsledger_rpc()`] on one handle at the same time (the engine serialises what must be
//!   serialised). Closing a handle while another thread still uses it, or using it after
//!   close, is undefined behaviour, as in every C API.
//!
//! Debug builds (`debug_assertions`) add two functions for tests, declared in the header under
//! `#if defined(OPSLEDGER_DEBUG)`: [`opsledger_debug_live_buffers`] (output buffers handed out
//! and not yet freed, for leak checks) and [`opsledger_debug_panic`] (panics inside the
//! boundary, to test poisoning). Release builds do not export them.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

mod config;

use config::{OpenConfig, OpenError};
use opsledger::webhooks::{HttpTransport, WebhookWorker};
use opsledger::{Engine, ManualClock};
use opsledger_rpc::{CallContext, Dispatcher, Limits, MethodRegistry, TransportKind};
use std::cell::RefCell;
use std::ffi::c_char;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The version of the C ABI: the set of functions, their signatures and the status values.
/// Raised on any incompatible change; additions keep it.
pub const OPSLEDGER_ABI_VERSION: u32 = 1;

/// What a call did. `OPSLEDGER_STATUS_OK` is 0; every other value is a failure whose text
/// [`opsledger_last_error_message`] returns on the same thread. New values may be added
/// (treat unknown values as failures).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpsledgerStatus {
    /// Success. For [`opsledger_rpc()`] this includes JSON-RPC error responses: the call
    /// produced a response, which may be an error object.
    Ok = 0,
    /// A required pointer argument was NULL (or an input pointer was NULL with a non-zero
    /// length).
    NullArgument = 1,
    /// An input that must be UTF-8 is not.
    InvalidUtf8 = 2,
    /// The configuration given to [`opsledger_engine_open`] is not valid JSON, has unknown
    /// keys, contradicts itself, or holds values the engine refuses.
    InvalidConfig = 3,
    /// The engine could not open its data directory (I/O, a directory in use by another
    /// engine, a damaged log).
    OpenFailed = 4,
    /// [`opsledger_engine_close`] could not flush the engine to disk. The handle is freed all
    /// the same; acknowledged writes follow the durability mode's promise.
    CloseFailed = 5,
    /// A panic reached the boundary during this call; the handle is now poisoned.
    Panicked = 6,
    /// An earlier call on this handle panicked; the handle refuses every call but close.
    Poisoned = 7,
    /// [`opsledger_last_error_message`]: the buffer is too small; the needed length (without
    /// the NUL) is in `*out_len`.
    BufferTooSmall = 8,
}

/// An engine and its JSON-RPC dispatcher. Opaque to C: create it with
/// [`opsledger_engine_open`], release it with [`opsledger_engine_close`].
///
/// Thread safety: an `OpsledgerEngine` may be used from any number of threads at the same
/// time. It may not outlive the calls in flight on it.
pub struct OpsledgerEngine {
    dispatcher: Dispatcher,
    engine: Arc<Engine>,
    context: CallContext,
    poisoned: AtomicBool,
    /// The webhook delivery worker, when the configuration asks for one.
    webhooks: Option<WebhookWorker>,
}

// The handle is shared across threads by C callers: keep it Send + Sync.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<OpsledgerEngine>();
};

/// The methods the ABI serves: the engine binding's (`opsledger_rpc::api`, the server's), plus
/// the specification's examples when the configuration asks for them (feature `spec-fixtures`
/// only).
fn registry(engine: &Arc<Engine>, config: &OpenConfig) -> MethodRegistry {
    #[allow(unused_mut)]
    let mut registry = api_registry(engine, config.manual_clock());
    #[cfg(feature = "spec-fixtures")]
    if config.spec_fixtures() {
        // The example names are not the engine's: registration cannot clash.
        if let Err(e) = opsledger_rpc::testing::register_spec_methods(&mut registry) {
            unreachable!("spec fixtures clash with the engine's methods: {e}");
        }
        // A method that panics, to test that a panic inside a method poisons the handle.
        let panics = opsledger_rpc::Method::new(
            "fixtures.panic",
            |_: &opsledger_rpc::CallContext,
             _: opsledger_rpc::NoParams|
             -> Result<(), opsledger_rpc::MethodError> {
                panic!("fixtures.panic was called")
            },
        );
        if let Err(e) = registry.register(panics) {
            unreachable!("fixtures.panic clashes with the engine's methods: {e}");
        }
    }
    #[cfg(not(feature = "spec-fixtures"))]
    let _ = config.spec_fixtures();
    registry
}

/// The engine binding's methods, given the engine's manual clock when it has one
/// (`clock: "manual"`), which `admin.set_clock` moves.
fn api_registry(engine: &Arc<Engine>, manual_clock: Option<&Arc<ManualClock>>) -> MethodRegistry {
    opsledger_rpc::api::registry_with_clock(Arc::clone(engine), manual_clock.cloned())
}

// ---------------------------------------------------------------------------------------------
// Failures, the thread's last error message, the panic boundary.

/// A failed call: its status and the message for [`opsledger_last_error_message`].
struct Failure {
    status: OpsledgerStatus,
    message: String,
}

impl Failure {
    fn new(status: OpsledgerStatus, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }

    fn null(what: &str) -> Self {
        Failure::new(OpsledgerStatus::NullArgument, format!("`{what}` is NULL"))
    }
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_last_error(message: String) {
    // `try_with`: during thread teardown the slot may be gone; the message is then dropped.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = message);
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}

/// Runs `body` inside `catch_unwind`, records the outcome as the thread's last error, and
/// poisons `poison` (when not NULL) if `body` panicked.
///
/// `poison` must be NULL or point to a live handle for the duration of the call (the entry
/// points' callers promise that for the handle they pass).
fn boundary(
    poison: *const OpsledgerEngine,
    body: impl FnOnce() -> Result<(), Failure>,
) -> OpsledgerStatus {
    let outcome = catch_unwind(AssertUnwindSafe(body));
    let (status, message) = match outcome {
        Ok(Ok(())) => (OpsledgerStatus::Ok, String::new()),
        Ok(Err(failure)) => (failure.status, failure.message),
        Err(panic) => {
            // SAFETY: `poison` is NULL or a handle the caller keeps alive during this call
            // (documented on every entry point); `as_ref` handles NULL.
            if let Some(engine) = unsafe { poison.as_ref() } {
                engine.poisoned.store(true, Ordering::SeqCst);
            }
            (
                OpsledgerStatus::Panicked,
                format!(
                    "panic inside opsledger: {}; the handle is poisoned",
                    panic_message(&*panic)
                ),
            )
        }
    };
    set_last_error(message);
    status
}

/// Borrows a live handle, refusing NULL and poisoned ones.
///
/// # Safety
/// `engine` must be NULL or point to a handle returned by [`opsledger_engine_open`] and not yet
/// closed, alive for `'a`.
unsafe fn live_engine<'a>(engine: *const OpsledgerEngine) -> Result<&'a OpsledgerEngine, Failure> {
    // SAFETY: guaranteed by the caller (see above); `as_ref` handles NULL.
    let engine = unsafe { engine.as_ref() }.ok_or_else(|| Failure::null("engine"))?;
    if engine.poisoned.load(Ordering::SeqCst) {
        return Err(Failure::new(
            OpsledgerStatus::Poisoned,
            "the handle is poisoned by an earlier panic: close it and open a new one",
        ));
    }
    Ok(engine)
}

/// Borrows an input `(ptr, len)` as bytes. `len == 0` never reads `ptr`.
///
/// # Safety
/// When `len > 0`, `ptr` must be NULL or valid for reads of `len` bytes for `'a`.
unsafe fn input<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Failure::new(
            OpsledgerStatus::NullArgument,
            format!("`{what}` is NULL with a length of {len}"),
        ));
    }
    // SAFETY: `ptr` is non-NULL and the caller guarantees it is valid for `len` bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows an input `(ptr, len)` as UTF-8 text.
///
/// # Safety
/// As [`input`].
unsafe fn input_str<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a str, Failure> {
    // SAFETY: forwarded from the caller.
    let bytes = unsafe { input(ptr, len, what) }?;
    std::str::from_utf8(bytes).map_err(|e| {
        Failure::new(
            OpsledgerStatus::InvalidUtf8,
            format!("`{what}` is not UTF-8: {e}"),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Output buffers.

#[cfg(debug_assertions)]
static LIVE_BUFFERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Hands `text` to the caller as a Rust-owned buffer (freed by [`opsledger_buf_free`]).
fn into_buffer(text: String) -> (*mut u8, usize) {
    let boxed: Box<[u8]> = text.into_bytes().into_boxed_slice();
    let len = boxed.len();
    #[cfg(debug_assertions)]
    LIVE_BUFFERS.fetch_add(1, Ordering::SeqCst);
    (Box::into_raw(boxed).cast::<u8>(), len)
}

// ---------------------------------------------------------------------------------------------
// Entry points.

/// Opens an engine as `config_json` describes and stores the new handle in `*out`.
///
/// `config_json` is a UTF-8 JSON object of `len` bytes, not NUL-terminated:
/// `{"data_dir": "/path", "durability": "buffered" | "per_commit" | "group_commit"}` or
/// `{"in_memory": true}`, optionally with `cache_records`, `snapshot_every`, `max_attempts`,
/// `actor` (`{"id": "alice", "roles": ["agent"]}`, the default acting identity), `policy` (the
/// policy to put in force: a policy document as a JSON object, or the path of a `.toml` or
/// `.json` document, relative to the working directory) and `clock` (`"system"`, the default;
/// `"manual"` or `{"manual": "2026-03-02T09:00:00Z"}`: a clock that stands still until
/// `admin.set_clock` moves it). Unknown keys are refused, at every depth. An empty
/// configuration (`len == 0`) is refused too: the caller must say where the log lives.
///
/// A policy document with problems is `INVALID_CONFIG`, and nothing is created or written:
/// the message's first line says so and each further line is one problem, `  path: message`
/// (`(document)` for the document as a whole).
///
/// Returns `OK` and a handle in `*out`, or `NULL_ARGUMENT`, `INVALID_UTF8`, `INVALID_CONFIG`,
/// `OPEN_FAILED`, `PANICKED` with `*out` set to NULL.
///
/// # Safety
/// `config_json` must be valid for reads of `len` bytes (or `len` must be 0); `out` must be
/// NULL or valid for a write of one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn opsledger_engine_open(
    config_json: *const u8,
    len: usize,
    out: *mut *mut OpsledgerEngine,
) -> OpsledgerStatus {
    boundary(std::ptr::null(), || {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: `out` is non-NULL and valid for a write (caller contract).
        unsafe { out.write(std::ptr::null_mut()) };
        // SAFETY: caller contract on `config_json`/`len`.
        let text = unsafe { input_str(config_json, len, "config_json") }?;
        let config = OpenConfig::parse(text).map_err(open_failure)?;
        let engine = Arc::new(config.open().map_err(open_failure)?);
        let dispatcher = Dispatcher::with_limits(registry(&engine, &config), Limits::default());
        let webhooks = match config.webhooks() {
            Some(worker) => {
                let timeout = worker
                    .retry
                    .lease
                    .to_std()
                    .unwrap_or_default()
                    .saturating_sub(std::time::Duration::from_secs(1))
                    .max(std::time::Duration::from_millis(1));
                let transport =
                    HttpTransport::new(timeout.min(std::time::Duration::from_secs(5)), timeout)
                        .map_err(|m| Failure::new(OpsledgerStatus::OpenFailed, m))?;
                Some(engine.start_webhook_worker(worker.clone(), Arc::new(transport)))
            }
            None => None,
        };
        let handle = Box::new(OpsledgerEngine {
            webhooks,
            dispatcher,
            engine,
            context: CallContext::local(TransportKind::InProcess, config.identity()),
            poisoned: AtomicBool::new(false),
        });
        // SAFETY: as above.
        unsafe { out.write(Box::into_raw(handle)) };
        Ok(())
    })
}

fn open_failure(e: OpenError) -> Failure {
    match e {
        OpenError::Config(m) => Failure::new(OpsledgerStatus::InvalidConfig, m),
        OpenError::Open(m) => Failure::new(OpsledgerStatus::OpenFailed, m),
    }
}

/// Flushes and closes an engine, and frees the handle. NULL is harmless (returns `OK`).
///
/// The handle is freed whatever the status: `CLOSE_FAILED` says the final flush failed (the
/// message says why). A poisoned handle is closed too. Call it at most once per handle, after
/// every other call on the handle has returned; using the handle afterwards is undefined
/// behaviour.
///
/// # Safety
/// `engine` must be NULL or a handle from [`opsledger_engine_open`] that was not closed yet and
/// that no other thread is using.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn opsledger_engine_close(engine: *mut OpsledgerEngine) -> OpsledgerStatus {
    boundary(std::ptr::null(), || {
        if engine.is_null() {
            return Ok(());
        }
        // SAFETY: `engine` came from `Box::into_raw` in `opsledger_engine_open` and is closed
        // at most once (caller contract), so we own it again here.
        let handle = unsafe { Box::from_raw(engine) };
        let OpsledgerEngine {
            dispatcher,
            engine,
            webhooks,
            ..
        } = *handle;
        // The worker holds a weak reference only; stop it before the engine closes.
        if let Some(worker) = webhooks {
            worker.stop();
        }
        // The dispatcher's methods hold clones of the engine: drop them first, so that the
        // engine is closed (and its data directory released) here, not later.
        drop(dispatcher);
        let closed = match Arc::try_unwrap(engine) {
            Ok(engine) => engine.close(),
            Err(shared) => shared.flush(),
        };
        closed.map_err(|e| Failure::new(OpsledgerStatus::CloseFailed, e.to_string()))
    })
}

/// Handles one JSON-RPC 2.0 message (a request, a notification or a batch) and returns the
/// response.
///
/// The message goes through the same dispatcher and methods as the server's transports, as a
/// trusted local caller (like the parent process on stdio): params may name the acting actor
/// (`"actor": {"id": "alice", "roles": ["agent"]}`); without one, the configuration's `actor`
/// acts, if any.
///
/// On `OK`, `*out`/`*out_len` hold the response (compact JSON, UTF-8, not NUL-terminated),
/// which the caller frees with [`opsledger_buf_free`] — or `NULL`/`0` when there is nothing to
/// send back (a notification, or a batch of notifications only). JSON-RPC errors are
/// responses: invalid JSON (including an empty message) is answered -32700, an unknown method
/// -32601, a message over the limits -32099, all with status `OK`. Other statuses:
/// `NULL_ARGUMENT`, `INVALID_UTF8` (the message is not UTF-8: no JSON-RPC response can name
/// it), `POISONED`, `PANICKED`; `*out` is then NULL and `*out_len` 0.
///
/// # Safety
/// `engine` must be NULL or a live handle; `request` must be valid for reads of `len` bytes (or
/// `len` must be 0); `out` and `out_len` must be NULL or valid for one write each.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn opsledger_rpc(
    engine: *const OpsledgerEngine,
    request: *const u8,
    len: usize,
    out: *mut *mut u8,
    out_len: *mut usize,
) -> OpsledgerStatus {
    boundary(engine, || {
        // Reset whichever out-parameter is given before refusing a NULL one, so that freeing
        // `*out` after any call is safe.
        // SAFETY: each is NULL (skipped) or valid for one write (caller contract).
        unsafe {
            if !out.is_null() {
                out.write(std::ptr::null_mut());
            }
            if !out_len.is_null() {
                out_len.write(0);
            }
        }
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        if out_len.is_null() {
            return Err(Failure::null("out_len"));
        }
        // SAFETY: caller contract on `engine`.
        let engine = unsafe { live_engine(engine) }?;
        // SAFETY: caller contract on `request`/`len`.
        let text = unsafe { input_str(request, len, "request") }?;
        let panics_before = engine.dispatcher.panics();
        let reply = engine.dispatcher.handle_with(&engine.context, text);
        if engine.dispatcher.panics() != panics_before {
            // A method panicked inside the engine (answered -32603): an invariant may be
            // broken, so this handle refuses further calls, as after a panic at the boundary.
            // (Another thread's panic in the same window poisons it too: the handle is shared.)
            engine.poisoned.store(true, Ordering::SeqCst);
        }
        if let Some(response) = reply {
            let (ptr, n) = into_buffer(response);
            // SAFETY: as above.
            unsafe {
                out.write(ptr);
                out_len.write(n);
            }
        }
        Ok(())
    })
}

/// Frees a buffer returned by [`opsledger_rpc()`]. `ptr == NULL` is harmless.
///
/// Pass back exactly the pointer and length received, at most once. Never free such a buffer
/// with libc's `free` (Rust's allocator owns it), and never pass a pointer this library did not
/// hand out.
///
/// # Safety
/// `ptr` must be NULL, or a buffer pointer from this library with its length `len`, not yet
/// freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn opsledger_buf_free(ptr: *mut u8, len: usize) {
    if ptr.is_null() {
        return;
    }
    // A panic cannot happen while freeing, but nothing may unwind out of an `extern "C"` fn.
    let _ = catch_unwind(|| {
        // SAFETY: `ptr`/`len` are a `Box<[u8]>` leaked by `into_buffer` and not yet freed
        // (caller contract), so rebuilding and dropping the box frees it exactly once.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
        #[cfg(debug_assertions)]
        LIVE_BUFFERS.fetch_sub(1, Ordering::SeqCst);
    });
}

/// Copies the message of this thread's last failed call into `buf`.
///
/// The message describes the most recent call on the calling thread of
/// [`opsledger_engine_open`], [`opsledger_engine_close`] or [`opsledger_rpc()`] (and the debug
/// functions): a failure's text, or the empty string after a success. Other functions leave
/// it alone, so `opsledger_buf_free` between the call and this one is fine. It is per thread:
/// ask on the thread that made the call.
///
/// `*out_len` receives the message length in bytes (UTF-8, without a terminator). When `len`
/// is greater than that, the message and a terminating NUL are copied into `buf` (which the
/// caller owns; the library keeps no pointer to it) and `OK` is returned; otherwise nothing is
/// copied and `BUFFER_TOO_SMALL` is returned: call again with `len >= *out_len + 1`. `buf` may
/// be NULL when `len` is 0 (to ask for the length). `out_len` NULL, or `buf` NULL with a
/// non-zero `len`, is `NULL_ARGUMENT`.
///
/// # Safety
/// `buf` must be valid for writes of `len` bytes (or `len` must be 0); `out_len` must be NULL
/// or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn opsledger_last_error_message(
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> OpsledgerStatus {
    let result = catch_unwind(|| {
        if out_len.is_null() || (buf.is_null() && len > 0) {
            return OpsledgerStatus::NullArgument;
        }
        let copy = LAST_ERROR.try_with(|slot| {
            let message = slot.borrow();
            let n = message.len();
            // SAFETY: `out_len` is non-NULL and valid for one write (caller contract).
            unsafe { out_len.write(n) };
            if len <= n {
                return OpsledgerStatus::BufferTooSmall;
            }
            // SAFETY: `buf` is non-NULL and valid for `len > n` bytes (caller contract); the
            // source is our own string of `n` bytes, which cannot overlap the caller's buffer.
            unsafe {
                std::ptr::copy_nonoverlapping(message.as_ptr(), buf.cast::<u8>(), n);
                buf.add(n).write(0);
            }
            OpsledgerStatus::Ok
        });
        copy.unwrap_or(OpsledgerStatus::Panicked)
    });
    result.unwrap_or(OpsledgerStatus::Panicked)
}

/// The library's version as a static, NUL-terminated string: `opsledger-ffi/<version>`. Never
/// free it.
#[unsafe(no_mangle)]
pub extern "C" fn opsledger_version() -> *const c_char {
    concat!("opsledger-ffi/", env!("CARGO_PKG_VERSION"), "\0")
        .as_ptr()
        .cast()
}

/// The ABI version of the library, [`OPSLEDGER_ABI_VERSION`]: compare it with the header's
/// `OPSLEDGER_ABI_VERSION` at start-up.
#[unsafe(no_mangle)]
pub extern "C" fn opsledger_abi_version() -> u32 {
    OPSLEDGER_ABI_VERSION
}

/// Debug builds only: how many buffers [`opsledger_rpc()`] handed out that were not yet freed
/// with [`opsledger_buf_free`], across all threads and handles. For leak checks in tests.
#[cfg(debug_assertions)]
#[unsafe(no_mangle)]
pub extern "C" fn opsledger_debug_live_buffers() -> usize {
    LIVE_BUFFERS.load(Ordering::SeqCst)
}

/// Debug builds only: panics inside the boundary while using `engine`, to test that panics
/// become `PANICKED` and poison the handle. Returns `PANICKED` (or `NULL_ARGUMENT`,
/// `POISONED`).
///
/// # Safety
/// `engine` must be NULL or a live handle.
#[cfg(debug_assertions)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn opsledger_debug_panic(engine: *const OpsledgerEngine) -> OpsledgerStatus {
    boundary(engine, || {
        // SAFETY: caller contract on `engine`.
        let engine = unsafe { live_engine(engine) }?;
        let _ = &engine.engine;
        panic!("opsledger_debug_panic was called");
    })
}
