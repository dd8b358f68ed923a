//! Transports: each one frames messages, establishes the [`CallContext`](crate::CallContext),
//! and hands the message to the [`Dispatcher`](crate::Dispatcher).
//!
//! - [`serve_stdio`] / [`serve_stdio_with`]: newline-delimited JSON over any reader/writer pair
//!   (a trusted local parent process: [`Trust::Local`](crate::Trust::Local)).
//! - [`http`] (feature `http`): `POST /rpc` and `GET /events` (server-sent events from an
//!   [`EventSource`]) on axum + tokio, bearer tokens from a [`TokenStore`], probes,
//!   [`metrics`] (Prometheus), optional [`tls`] (rustls).
//! - [`init_stderr_logging`] (feature `logging`): `tracing` output to stderr, never stdout.

mod events;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "http")]
pub mod metrics;
mod stdio;
#[cfg(feature = "http")]
pub mod tls;
#[cfg(feature = "http")]
mod tokens;

pub use events::{EventSource, EventSourceError, MemoryEventSource, StreamEvent};
#[cfg(feature = "http")]
pub use http::{HttpConfig, HttpError, HttpServer, ReadinessProbe, ReloadRefused, TokenReloader};
#[cfg(feature = "http")]
pub use metrics::{Metrics, MetricsSource, Sample, SampleKind, serve_metrics};
pub use stdio::{StdioOptions, serve_stdio, serve_stdio_with};
#[cfg(feature = "http")]
pub use tls::{TlsError, TlsFiles, TlsReloader};
#[cfg(feature = "http")]
pub use tokens::{MIN_TOKEN_LEN, TokenError, TokenStore};

/// Sends `tracing` output to stderr (stdout carries protocol messages on stdio). The filter
/// comes from `RUST_LOG` when set, else `default_filter` (e.g. `"info"` or
/// `"opsledger_rpc=debug"`). Colours only when stderr is a terminal. Errors if a global
/// subscriber is already installed or the filter does not parse.
#[cfg(feature = "logging")]
pub fn init_stderr_logging(default_filter: &str) -> Result<(), String> {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(spec),
        _ => EnvFilter::try_new(default_filter),
    }
    .map_err(|e| e.to_string())?;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .try_init()
        .map_err(|e| e.to_string())
}
