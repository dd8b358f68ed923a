//! HTTP transport on axum, hyper and tokio.
//!
//! Routes:
//! - `POST /rpc`: the body is one JSON-RPC message (request, notification or batch).
//!   - 200 `application/json` with the response; 204 with no body when there is nothing to
//!     return (notifications, all-notification batches). JSON-RPC errors are 200 with the
//!     error in the body: HTTP statuses describe the transport, not the call.
//!   - 415 when `Content-Type` is not `application/json` (or `application/json-rpc`,
//!     `application/jsonrequest`; parameters such as `charset` are ignored); a missing
//!     `Content-Type` is 415 too.
//!   - 413 when the body is over [`HttpConfig::max_body_bytes`] (checked against
//!     `Content-Length` first, then while reading), with `Connection: close` (the rest of the
//!     body is not read, so the connection is not reused).
//!   - 408 when the request (waiting for a slot, reading the body, running the call) takes
//!     longer than [`HttpConfig::request_timeout`]. The call itself runs on tokio's blocking
//!     pool and cannot be interrupted: a write that timed out may still have been committed.
//!   - 405 for other methods on `/rpc`, 404 for other paths.
//! - `GET /events?from=N`: server-sent events, one per stored event with position `>= N`
//!   (`id:` the position, `data:` the event as compact JSON), then live ones as they are
//!   stored. Without `from`, only events stored after the request. A `Last-Event-ID` header
//!   (what browsers send on reconnect) resumes after that position and wins over `from`.
//!   Comments (`:`) keep idle connections alive. When the source fails, one `event: error`
//!   is sent and the stream ends. A subscriber that does not read for
//!   [`HttpConfig::event_send_timeout`] is dropped (it can reconnect with `Last-Event-ID`).
//!   503 when [`HttpConfig::max_event_subscribers`] streams are open; 404 when the server has
//!   no event source.
//! - `GET /healthz`: 200 `ok` while the process serves (liveness). `GET /readyz`: 200 `ready`
//!   when the [`ReadinessProbe`] set with [`HttpServer::set_readiness`] says so (no probe:
//!   ready), 503 `not ready: <why>` otherwise and while shutting down. Both answer without
//!   authentication and say nothing about the data, so a load balancer can probe them.
//!
//! Authentication: when tokens are configured, every other route needs
//! `Authorization: Bearer <token>`; otherwise 401 with `WWW-Authenticate: Bearer
//! realm="opsledger"` (plus `error="invalid_token"` for a wrong token). The token's identity
//! becomes the call's [`CallContext`] ([`Trust::Authenticated`](crate::Trust::Authenticated));
//! the params can never name another actor. Without tokens, calls are
//! [`Trust::Anonymous`](crate::Trust::Anonymous), and only a loopback address may be bound.
//!
//! Limits: request body bytes, concurrent `/rpc` requests (tower's concurrency limit; excess
//! requests wait, within the request timeout), open connections, header read time (slow
//! clients), subscribers. Every dispatcher call runs on `spawn_blocking`. Logs go to stderr
//! through `tracing`.

use crate::context::CallContext;
use crate::dispatcher::Dispatcher;
use crate::transport::events::{EventSource, StreamEvent};
use crate::transport::tokens::TokenStore;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tower::ServiceBuilder;
use tower::limit::ConcurrencyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// The default listen address, `127.0.0.1:7700`.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7700);

/// The realm in `WWW-Authenticate`.
pub const REALM: &str = "opsledger";

/// HTTP server settings. [`HttpConfig::default`] gives safe defaults on `127.0.0.1:7700`.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Where to listen. A non-loopback address needs tokens. Port 0 picks a free port.
    pub listen: SocketAddr,
    /// Bearer tokens; empty means no authentication (loopback only).
    pub tokens: TokenStore,
    /// The largest request body. Default 1 MiB (the dispatcher's default request limit).
    pub max_body_bytes: usize,
    /// How many `/rpc` requests run at once; more wait. Default 64.
    pub max_concurrent_requests: usize,
    /// How many connections are open at once; more wait in the accept queue. Default 256.
    pub max_connections: usize,
    /// The longest a `/rpc` request may take, from routing to response. Default 30 s.
    pub request_timeout: Duration,
    /// The longest a client may take to send the request headers. Default 10 s.
    pub header_read_timeout: Duration,
    /// How many `/events` streams may be open at once. Default 16.
    pub max_event_subscribers: usize,
    /// How long one [`EventSource::read_after`] call may wait for new events. Default 5 s.
    pub event_poll_timeout: Duration,
    /// The most events read per [`EventSource::read_after`] call. Default 256.
    pub event_batch_size: usize,
    /// Events buffered per subscriber between the source and the connection. Default 256.
    pub event_buffer: usize,
    /// How long a subscriber may leave the buffer full before it is dropped. Default 30 s.
    pub event_send_timeout: Duration,
    /// The interval of keep-alive comments on idle streams. Default 15 s.
    pub event_keep_alive: Duration,
    /// How long shutdown waits for open connections before it drops them. Default 5 s.
    pub shutdown_grace: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: DEFAULT_LISTEN,
            tokens: TokenStore::new(),
            max_body_bytes: crate::Limits::default().max_request_bytes,
            max_concurrent_requests: 64,
            max_connections: 256,
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            max_event_subscribers: 16,
            event_poll_timeout: Duration::from_secs(5),
            event_batch_size: 256,
            event_buffer: 256,
            event_send_timeout: Duration::from_secs(30),
            event_keep_alive: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// A non-loopback address without tokens.
    #[error(
        "refusing to listen on {0} without bearer tokens: bind a loopback address (127.0.0.1, ::1) or configure tokens"
    )]
    NonLoopbackWithoutTokens(SocketAddr),
    /// A setting that cannot work (a zero limit).
    #[error("invalid HTTP configuration: {0}")]
    InvalidConfig(&'static str),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: io::Error,
    },
}

/// Whether `addr` is a loopback address (IPv4-mapped IPv6 loopback included).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    match addr.ip() {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// What `GET /readyz` asks: `Ok(())` when the server can answer calls, else why not (a short
/// text for operators, without data). It runs on the blocking pool.
pub type ReadinessProbe = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

struct AppState {
    readiness: std::sync::OnceLock<ReadinessProbe>,
    dispatcher: Arc<Dispatcher>,
    events: Option<Arc<dyn EventSource>>,
    tokens: TokenStore,
    subscribers: Arc<Semaphore>,
    shutdown: watch::Receiver<bool>,
    config: HttpConfig,
}

/// A bound, not yet serving, HTTP server.
pub struct HttpServer {
    state: Arc<AppState>,
    listener: TcpListener,
    local_addr: SocketAddr,
    router: Router,
    config: HttpConfig,
    shutdown_tx: watch::Sender<bool>,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("local_addr", &self.local_addr)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HttpServer {
    /// Checks the configuration and binds the listener. Refuses a non-loopback address
    /// without tokens. `events` feeds `GET /events` (404 without one).
    pub async fn bind(
        dispatcher: Arc<Dispatcher>,
        events: Option<Arc<dyn EventSource>>,
        config: HttpConfig,
    ) -> Result<HttpServer, HttpError> {
        if !is_loopback(&config.listen) && config.tokens.is_empty() {
            return Err(HttpError::NonLoopbackWithoutTokens(config.listen));
        }
        for (value, what) in [
            (config.max_body_bytes, "max_body_bytes must be positive"),
            (
                config.max_concurrent_requests,
                "max_concurrent_requests must be positive",
            ),
            (config.max_connections, "max_connections must be positive"),
            (config.event_batch_size, "event_batch_size must be positive"),
            (config.event_buffer, "event_buffer must be positive"),
        ] {
            if value == 0 {
                return Err(HttpError::InvalidConfig(what));
            }
        }
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| HttpError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| HttpError::Bind {
            addr: config.listen,
            source,
        })?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let state = Arc::new(AppState {
            readiness: std::sync::OnceLock::new(),
            dispatcher,
            events,
            tokens: config.tokens.clone(),
            subscribers: Arc::new(Semaphore::new(config.max_event_subscribers)),
            shutdown: shutdown_rx,
            config: config.clone(),
        });
        let router = router(state.clone(), &config);
        tracing::info!(
            %local_addr,
            authentication = !config.tokens.is_empty(),
            "JSON-RPC over HTTP: POST /rpc, GET /events"
        );
        Ok(HttpServer {
            state,
            listener,
            local_addr,
            router,
            config,
            shutdown_tx,
        })
    }

    /// Sets what `GET /readyz` asks (once; a second probe is ignored). Without one, a serving
    /// server is ready.
    pub fn set_readiness(&self, probe: ReadinessProbe) {
        let _ = self.state.readiness.set(probe);
    }

    /// The bound address (with the actual port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then stops accepting, ends event streams, and waits
    /// up to [`HttpConfig::shutdown_grace`] for open requests.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> io::Result<()> {
        let HttpServer {
            listener,
            router,
            config,
            shutdown_tx,
            ..
        } = self;
        let graceful = GracefulShutdown::new();
        let connections = Arc::new(Semaphore::new(config.max_connections));
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout);
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                permit = connections.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            };
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Typically out of file descriptors: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let service = TowerToHyperService::new(router.clone());
            let connection = graceful.watch(http1.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                drop(permit);
            });
        }
        drop(listener);
        let _ = shutdown_tx.send(true);
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(config.shutdown_grace) => {
                tracing::warn!("shutdown grace period over; dropping open connections");
            }
        }
        Ok(())
    }
}

fn router(state: Arc<AppState>, config: &HttpConfig) -> Router {
    let rpc = Router::new().route("/rpc", post(rpc_handler)).layer(
        ServiceBuilder::new()
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                config.request_timeout,
            ))
            .layer(ConcurrencyLimitLayer::new(config.max_concurrent_requests))
            .layer(DefaultBodyLimit::max(config.max_body_bytes)),
    );
    let events = Router::new().route("/events", get(events_handler));
    let probes = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    rpc.merge(events)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .merge(probes)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Liveness: the process accepts and answers requests.
async fn healthz() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

/// Readiness: not shutting down, and the probe (if any) says ready.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let not_ready = |why: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response()
    };
    if *state.shutdown.borrow() {
        return not_ready("shutting down".to_owned());
    }
    let Some(probe) = state.readiness.get().cloned() else {
        return (StatusCode::OK, "ready\n").into_response();
    };
    match tokio::task::spawn_blocking(move || probe()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(why)) => not_ready(why),
        Err(_) => not_ready("the readiness probe failed".to_owned()),
    }
}

fn unauthorized(invalid_token: bool) -> Response {
    let challenge = if invalid_token {
        format!("Bearer realm=\"{REALM}\", error=\"invalid_token\"")
    } else {
        format!("Bearer realm=\"{REALM}\"")
    };
    let mut response = (
        StatusCode::UNAUTHORIZED,
        if invalid_token {
            "invalid bearer token\n"
        } else {
            "a bearer token is required\n"
        },
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// The token in `Authorization: Bearer <token>` (scheme case-insensitive), if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let context = if state.tokens.is_empty() {
        CallContext::anonymous()
    } else {
        match bearer(request.headers()) {
            None => return unauthorized(false),
            Some(token) => match state.tokens.authenticate(token) {
                Some(identity) => CallContext::authenticated(identity.clone()),
                None => {
                    tracing::warn!(path = %request.uri().path(), "rejected an invalid bearer token");
                    return unauthorized(true);
                }
            },
        }
    };
    request.extensions_mut().insert(context);
    next.run(request).await
}

fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    [
        "application/json",
        "application/json-rpc",
        "application/jsonrequest",
    ]
    .iter()
    .any(|t| essence.eq_ignore_ascii_case(t))
}

async fn rpc_handler(State(state): State<Arc<AppState>>, request: Request) -> Response {
    if !is_json_content_type(request.headers()) {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected Content-Type: application/json\n",
        )
            .into_response();
    }
    let context = request
        .extensions()
        .get::<CallContext>()
        .cloned()
        .unwrap_or_else(CallContext::anonymous);
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) => {
            let mut response = rejection.into_response();
            if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
                // The body was not read to its end, so the connection cannot carry another
                // request: say so, or a keep-alive client sends its next request into a
                // connection the server is closing.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            return response;
        }
    };
    let dispatcher = state.dispatcher.clone();
    match tokio::task::spawn_blocking(move || dispatcher.handle_bytes(&context, &body)).await {
        Ok(Some(reply)) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            reply,
        )
            .into_response(),
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "dispatcher task failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `GET /events` query.
#[derive(Debug, Deserialize)]
struct EventsQuery {
    /// Deliver events with positions `>= from`.
    from: Option<u64>,
}

async fn events_handler(
    State(state): State<Arc<AppState>>,
    Query(query): Query<EventsQuery>,
    context: Option<axum::Extension<CallContext>>,
    headers: HeaderMap,
) -> Response {
    let Some(source) = state.events.clone() else {
        return (StatusCode::NOT_FOUND, "this server has no event stream\n").into_response();
    };
    let identity = context.as_ref().and_then(|c| c.0.identity().cloned());
    if !source.allows(identity.as_ref()) {
        return (
            StatusCode::FORBIDDEN,
            "this identity reads only its own records, not the event stream\n",
        )
            .into_response();
    }
    let Ok(permit) = state.subscribers.clone().try_acquire_owned() else {
        let mut response = (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many event subscribers\n",
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return response;
    };
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let after = match (last_event_id, query.from) {
        (Some(last), _) => last,
        (None, Some(from)) => from.saturating_sub(1),
        (None, None) => {
            let src = source.clone();
            match tokio::task::spawn_blocking(move || src.head()).await {
                Ok(Ok(head)) => head,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "event source head failed");
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "event source unavailable\n",
                    )
                        .into_response();
                }
                Err(e) => {
                    tracing::error!(error = %e, "event source task failed");
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
            }
        }
    };
    let (tx, rx) = mpsc::channel::<Event>(state.config.event_buffer);
    tokio::spawn(pump_events(
        source,
        after,
        tx,
        state.shutdown.clone(),
        state.config.clone(),
        permit,
    ));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|event| (Ok::<_, Infallible>(event), rx))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(state.config.event_keep_alive))
        .into_response()
}

fn sse_event(event: &StreamEvent) -> Event {
    let data = serde_json::to_string(&event.data).unwrap_or_else(|_| "null".into());
    Event::default().id(event.position.to_string()).data(data)
}

/// Moves events from the source into one subscriber's buffer until the subscriber goes away,
/// stops reading, the source fails, or the server shuts down.
async fn pump_events(
    source: Arc<dyn EventSource>,
    mut after: u64,
    tx: mpsc::Sender<Event>,
    mut shutdown: watch::Receiver<bool>,
    config: HttpConfig,
    _permit: tokio::sync::OwnedSemaphorePermit,
) {
    loop {
        if tx.is_closed() || *shutdown.borrow() {
            return;
        }
        let src = source.clone();
        let (max, wait) = (config.event_batch_size, config.event_poll_timeout);
        let read = tokio::task::spawn_blocking(move || src.read_after(after, max, wait));
        let read = tokio::select! {
            read = read => read,
            _ = shutdown.changed() => return,
        };
        let events = match read {
            Ok(Ok(events)) => events,
            Ok(Err(e)) => {
                tracing::error!(error = %e, after, "event source failed; ending the stream");
                let message = serde_json::json!({"message": e.to_string()}).to_string();
                let _ = tx.try_send(Event::default().event("error").data(message));
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "event source task failed; ending the stream");
                return;
            }
        };
        for event in events {
            if event.position <= after {
                tracing::error!(
                    position = event.position,
                    after,
                    "event source returned an event out of order; skipped"
                );
                continue;
            }
            match tokio::time::timeout(config.event_send_timeout, tx.send(sse_event(&event))).await
            {
                Ok(Ok(())) => after = event.position,
                Ok(Err(_)) => return,
                Err(_) => {
                    tracing::warn!(after, "event subscriber too slow; dropped");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        for ok in [
            "127.0.0.1:1",
            "127.9.9.9:1",
            "[::1]:1",
            "[::ffff:127.0.0.1]:1",
        ] {
            assert!(is_loopback(&ok.parse().unwrap()), "{ok}");
        }
        for bad in ["0.0.0.0:1", "10.0.0.1:1", "[::]:1", "[::ffff:10.0.0.1]:1"] {
            assert!(!is_loopback(&bad.parse().unwrap()), "{bad}");
        }
    }

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer   abc "),
        );
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn content_types() {
        let mut h = HeaderMap::new();
        assert!(!is_json_content_type(&h));
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/json-rpc",
        ] {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ok));
            assert!(is_json_content_type(&h), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/jsonx",
        ] {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(bad));
            assert!(!is_json_content_type(&h), "{bad}");
        }
    }
}
