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
//! - `GET /metrics`: the Prometheus text format ([`Metrics`]), behind the tokens like `/rpc`
//!   when [`HttpConfig::metrics_route`] is set; otherwise 404 here and served on a separate
//!   listener ([`serve_metrics`](super::metrics::serve_metrics)).
//!
//! Without tokens, the `Host` header must name a loopback address (`localhost`, `127.x.x.x`,
//! `[::1]`), the bound address or one of [`HttpConfig::allowed_hosts`]; other hosts get 421.
//! Why: a web page on another site can make the browser of someone on this machine send
//! requests here through a DNS name that resolves to 127.0.0.1 (DNS rebinding); the Host it
//! sends is that name. With tokens the page cannot authenticate, so the check is not needed.
//!
//! CORS is off unless [`HttpConfig::cors_allowed_origins`] lists origins: a browser page on
//! another origin then cannot read any answer.
//!
//! Limits, so that idle or slow clients cannot starve the others:
//! - connections: at most [`HttpConfig::max_connections`] open, at most
//!   [`HttpConfig::max_connections_per_client`] from one IP address; a connection over either
//!   limit is accepted and closed at once (counted in `opsledger_http_connections_refused`),
//!   never left waiting in the kernel's queue ahead of well-behaved clients;
//! - time: the request headers (of the first request, and of each next one on a kept-alive
//!   connection, so this is the idle timeout too) within [`HttpConfig::header_read_timeout`],
//!   the TLS handshake within the same time, the body within [`HttpConfig::body_read_timeout`]
//!   (408 and the connection closed), the whole `/rpc` request within
//!   [`HttpConfig::request_timeout`];
//! - work: at most [`HttpConfig::max_concurrent_requests`] `/rpc` requests run at once; a
//!   request takes its slot only once its body has arrived, so slow uploads hold no slot;
//! - request body bytes, event subscribers.
//!
//! Every dispatcher call runs on `spawn_blocking`. Logs go through `tracing`: one line per
//! request at info level on the target `opsledger::access` (request id, client address,
//! actor, route, status, JSON-RPC methods and outcomes, duration; never a token or a body);
//! the probes and `/metrics` log at debug level, as a scraper calls them every few seconds.

use crate::context::CallContext;
use crate::dispatcher::{CallRecord, Dispatcher};
use crate::transport::events::{EventSource, StreamEvent};
use crate::transport::metrics::{InFlight, Metrics, Refusal};
use crate::transport::tls::TlsReloader;
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
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tower::{Service, ServiceBuilder};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;

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
    /// How many `/rpc` requests run at once; more wait (within the request timeout). Default 64.
    pub max_concurrent_requests: usize,
    /// How many connections may be open at once; one more is closed at once. Default 1,024
    /// (each idle connection costs a few KiB; keep it under the process's file limit).
    pub max_connections: usize,
    /// How many connections one client IP address may hold open; one more is closed at once.
    /// Default 64. Clients behind one proxy or NAT share an address: raise it for them, or
    /// put the server behind the proxy on loopback.
    pub max_connections_per_client: usize,
    /// The longest a `/rpc` request may take, from routing to response. Default 30 s.
    pub request_timeout: Duration,
    /// The longest a client may take to send a request's headers, counted from the moment the
    /// server waits for them: on a new connection, and on a kept-alive one between requests
    /// (so an idle connection is closed after it too), and the TLS handshake. Default 5 s.
    pub header_read_timeout: Duration,
    /// The longest a client may take to send a request body once its headers arrived
    /// (slow-body protection: 408 and the connection closed). Default 10 s.
    pub body_read_timeout: Duration,
    /// Serve `GET /metrics` here, behind the tokens. Default true; false when the metrics have
    /// a listener of their own.
    pub metrics_route: bool,
    /// Origins (`https://tools.example.com`) whose pages may call this server from a browser.
    /// Empty (the default): no CORS headers, so browsers keep other origins from reading
    /// answers.
    pub cors_allowed_origins: Vec<String>,
    /// Host names (without port) accepted besides loopback and the bound address when no
    /// tokens are configured (the DNS-rebinding check).
    pub allowed_hosts: Vec<String>,
    /// TLS certificate and key, reloadable; `None`: plain HTTP.
    pub tls: Option<TlsReloader>,
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
            max_connections: 1024,
            max_connections_per_client: 64,
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(5),
            body_read_timeout: Duration::from_secs(10),
            metrics_route: true,
            cors_allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            tls: None,
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
    /// A CORS origin that is not `scheme://host[:port]`.
    #[error(
        "invalid CORS origin {0:?}: write it as scheme://host[:port], e.g. https://tools.example.com"
    )]
    InvalidOrigin(String),
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
    tokens: Arc<RwLock<TokenStore>>,
    subscribers: Arc<Semaphore>,
    rpc_slots: Arc<Semaphore>,
    shutdown: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
    local_addr: SocketAddr,
    request_ids: RequestIds,
    config: HttpConfig,
}

/// Replaces the bearer tokens of a running server (SIGHUP in `opsledger serve`). Clones share
/// the server's tokens.
#[derive(Clone)]
pub struct TokenReloader {
    tokens: Arc<RwLock<TokenStore>>,
}

impl std::fmt::Debug for TokenReloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenReloader").finish_non_exhaustive()
    }
}

/// Why new tokens were not put in force.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReloadRefused {
    /// The new set is empty: that would turn authentication off on a running server.
    #[error("the new tokens file holds no token; the tokens in force stay")]
    NoTokens,
    /// The server started without tokens; authentication cannot be turned on while it runs.
    #[error("the server runs without tokens; restart it with a tokens file to require them")]
    NotAuthenticating,
}

impl TokenReloader {
    /// Puts `tokens` in force for the requests that start from now on. Returns how many
    /// there are.
    pub fn replace(&self, tokens: TokenStore) -> Result<usize, ReloadRefused> {
        let mut current = self
            .tokens
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.is_empty() {
            return Err(ReloadRefused::NotAuthenticating);
        }
        if tokens.is_empty() {
            return Err(ReloadRefused::NoTokens);
        }
        let count = tokens.len();
        *current = tokens;
        Ok(count)
    }
}

/// Request ids: the start instant in seconds and a counter, unique within a run and unlikely to
/// repeat across runs; a proxy's `X-Request-Id` is kept when it is short and plain.
struct RequestIds {
    prefix: u64,
    next: AtomicU64,
}

impl RequestIds {
    fn new() -> Self {
        let prefix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        RequestIds {
            prefix,
            next: AtomicU64::new(1),
        }
    }

    fn assign(&self, headers: &HeaderMap) -> String {
        if let Some(given) = headers.get(REQUEST_ID).and_then(|v| v.to_str().ok())
            && (1..=64).contains(&given.len())
            && given
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        {
            return given.to_owned();
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{:x}-{n}", self.prefix)
    }
}

/// The request-id header, read from a proxy and sent back on every response.
pub const REQUEST_ID: &str = "x-request-id";

/// The client's address, set on each request by the accept loop.
#[derive(Debug, Clone, Copy)]
struct ClientAddr(SocketAddr);

/// What the handlers learn for the access log line.
#[derive(Debug, Default)]
struct AccessNote {
    actor: Option<String>,
    methods: Vec<String>,
    outcomes: Vec<String>,
}

type SharedNote = Arc<Mutex<AccessNote>>;

fn note(request: &Request) -> Option<SharedNote> {
    request.extensions().get::<SharedNote>().cloned()
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
            (
                config.max_connections_per_client,
                "max_connections_per_client must be positive",
            ),
            (config.event_batch_size, "event_batch_size must be positive"),
            (config.event_buffer, "event_buffer must be positive"),
        ] {
            if value == 0 {
                return Err(HttpError::InvalidConfig(what));
            }
        }
        cors_layer(&config.cors_allowed_origins)?;
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
            tokens: Arc::new(RwLock::new(config.tokens.clone())),
            subscribers: Arc::new(Semaphore::new(config.max_event_subscribers)),
            rpc_slots: Arc::new(Semaphore::new(config.max_concurrent_requests)),
            shutdown: shutdown_rx,
            metrics: Arc::new(Metrics::new()),
            local_addr,
            request_ids: RequestIds::new(),
            config: config.clone(),
        });
        let router = router(state.clone(), &config)?;
        tracing::info!(
            %local_addr,
            authentication = !config.tokens.is_empty(),
            tls = config.tls.is_some(),
            metrics = config.metrics_route,
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

    /// The server's metrics: add the embedder's sources, or serve them on another listener.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.state.metrics.clone()
    }

    /// A handle that replaces the bearer tokens while the server runs.
    pub fn token_reloader(&self) -> TokenReloader {
        TokenReloader {
            tokens: self.state.tokens.clone(),
        }
    }

    /// The bound address (with the actual port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then stops accepting, ends event streams, and waits
    /// up to [`HttpConfig::shutdown_grace`] for open requests.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> io::Result<()> {
        let HttpServer {
            state,
            listener,
            router,
            config,
            shutdown_tx,
            ..
        } = self;
        let graceful = GracefulShutdown::new();
        let connections = Arc::new(Semaphore::new(config.max_connections));
        let per_client = PerClient::new(config.max_connections_per_client);
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout);
        tokio::pin!(shutdown);
        loop {
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
            // Over a limit: close now. Leaving the connection in the kernel's queue would make
            // every later client, well-behaved or not, wait behind it.
            let Some(client_slot) = per_client.take(peer.ip()) else {
                state.metrics.refused(Refusal::PerClient);
                tracing::debug!(%peer, "connection closed: this address holds its share of connections");
                continue;
            };
            let Ok(permit) = connections.clone().try_acquire_owned() else {
                state.metrics.refused(Refusal::Global);
                tracing::warn!(%peer, limit = config.max_connections, "connection closed: the server holds its most connections");
                continue;
            };
            let _ = stream.set_nodelay(true);
            let open = state.metrics.connection_opened();
            let service = ClientService {
                router: router.clone(),
                client: ClientAddr(peer),
            };
            let tls = config.tls.as_ref().map(TlsReloader::acceptor);
            let http1 = http1.clone();
            let watcher = graceful.watcher();
            let handshake_timeout = config.header_read_timeout;
            let metrics = state.metrics.clone();
            tokio::spawn(async move {
                let _held = (permit, client_slot, open);
                match tls {
                    None => serve_connection(&http1, watcher, stream, service, peer).await,
                    Some(acceptor) => {
                        match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await
                        {
                            Ok(Ok(stream)) => {
                                serve_connection(&http1, watcher, stream, service, peer).await;
                            }
                            Ok(Err(e)) => {
                                metrics.refused(Refusal::Tls);
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            }
                            Err(_) => {
                                metrics.refused(Refusal::Tls);
                                tracing::debug!(%peer, "TLS handshake timed out");
                            }
                        }
                    }
                }
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

async fn serve_connection<I>(
    http1: &hyper::server::conn::http1::Builder,
    watcher: hyper_util::server::graceful::Watcher,
    io: I,
    service: ClientService,
    peer: SocketAddr,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let connection = http1.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// The router, with the client's address put on every request.
#[derive(Clone)]
struct ClientService {
    router: Router,
    client: ClientAddr,
}

impl Service<hyper::Request<hyper::body::Incoming>> for ClientService {
    type Response = Response;
    type Error = Infallible;
    type Future = <Router as Service<Request>>::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        Service::<Request>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, request: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        let mut request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(self.client);
        self.router.call(request)
    }
}

/// Open connections per client address.
#[derive(Clone)]
struct PerClient {
    limit: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection's place in its client's count; given back when dropped.
struct ClientSlot {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerClient {
    fn new(limit: usize) -> Self {
        PerClient {
            limit,
            open: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn take(&self, ip: IpAddr) -> Option<ClientSlot> {
        let ip = canonical_ip(ip);
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(ip).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            ip,
            open: self.open.clone(),
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// An IPv4 client seen through an IPv6 socket counts as its IPv4 address.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

fn cors_layer(origins: &[String]) -> Result<Option<CorsLayer>, HttpError> {
    if origins.is_empty() {
        return Ok(None);
    }
    let mut values = Vec::with_capacity(origins.len());
    for origin in origins {
        let valid = origin.split_once("://").is_some_and(|(scheme, rest)| {
            matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains('/')
        });
        let value = HeaderValue::from_str(origin).ok().filter(|_| valid);
        match value {
            Some(value) => values.push(value),
            None => return Err(HttpError::InvalidOrigin(origin.clone())),
        }
    }
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(values))
            .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers([axum::http::HeaderName::from_static(REQUEST_ID)])
            .max_age(Duration::from_secs(600)),
    ))
}

fn router(state: Arc<AppState>, config: &HttpConfig) -> Result<Router, HttpError> {
    let rpc = Router::new().route("/rpc", post(rpc_handler)).layer(
        ServiceBuilder::new()
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                config.request_timeout,
            ))
            .layer(DefaultBodyLimit::max(config.max_body_bytes)),
    );
    let mut authenticated = rpc.route("/events", get(events_handler));
    if config.metrics_route {
        authenticated = authenticated.route("/metrics", get(metrics_route));
    }
    let probes = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    let mut router = authenticated
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .merge(probes)
        .layer(middleware::from_fn_with_state(state.clone(), check_host));
    if let Some(cors) = cors_layer(&config.cors_allowed_origins)? {
        router = router.layer(cors);
    }
    Ok(router
        .layer(middleware::from_fn_with_state(state.clone(), access_log))
        .with_state(state))
}

/// The route label of a path: the server's own routes, `other` for anything else (a client
/// must not be able to mint label values).
fn route_label(path: &str) -> &'static str {
    match path {
        "/rpc" => "/rpc",
        "/events" => "/events",
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/metrics" => "/metrics",
        _ => "other",
    }
}

/// Outermost layer: a request id, the metrics, and one access log line per request.
async fn access_log(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = state.request_ids.assign(request.headers());
    let client = request.extensions().get::<ClientAddr>().map(|c| c.0);
    let note = SharedNote::default();
    request.extensions_mut().insert(note.clone());
    let route = route_label(request.uri().path());
    let method = request.method().clone();
    let path: String = request.uri().path().chars().take(128).collect();
    let in_flight = state.metrics.request_started();
    // Everything logged while serving the request (the engine's spans and events included, see
    // rpc_handler) is inside this span, so a log line carries the request id.
    let span = tracing::info_span!("request", request_id = %request_id);
    let mut response = tracing::Instrument::instrument(next.run(request), span).await;
    drop(in_flight);
    let elapsed = started.elapsed();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let status = response.status();
    state.metrics.record_request(route, status, elapsed);
    let note = note
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let client = client.map_or_else(|| "-".to_owned(), |c| c.to_string());
    let actor = note.actor.as_deref().unwrap_or("-");
    let rpc_method = if note.methods.is_empty() {
        "-".to_owned()
    } else {
        note.methods.join(",")
    };
    let rpc_outcome = if note.outcomes.is_empty() {
        "-".to_owned()
    } else {
        note.outcomes.join(",")
    };
    // Milliseconds with one decimal: what people read in a log.
    let duration_ms = (elapsed.as_secs_f64() * 10_000.0).round() / 10.0;
    if matches!(route, "/healthz" | "/readyz" | "/metrics") {
        tracing::debug!(
            target: "opsledger::access",
            request_id, client, actor, http_method = %method, path, status = status.as_u16(),
            rpc_method, rpc_outcome, duration_ms, "request"
        );
    } else {
        tracing::info!(
            target: "opsledger::access",
            request_id, client, actor, http_method = %method, path, status = status.as_u16(),
            rpc_method, rpc_outcome, duration_ms, "request"
        );
    }
    response
}

/// Without tokens, only requests addressed to this machine by a loopback name or the bound
/// address (see the module documentation: DNS rebinding).
async fn check_host(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let authenticating = !state
        .tokens
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .is_empty();
    if authenticating {
        return next.run(request).await;
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    match host {
        // No Host header: not a browser (every browser sends one), so not a rebinding page.
        None => next.run(request).await,
        Some(host) if host_allowed(host, &state.local_addr, &state.config.allowed_hosts) => {
            next.run(request).await
        }
        Some(host) => {
            let shown: String = host.chars().take(64).collect();
            tracing::warn!(
                host = shown,
                "refused a request for another host name (no tokens configured)"
            );
            (
                StatusCode::MISDIRECTED_REQUEST,
                "this server answers only to localhost, its address or its configured host names\n",
            )
                .into_response()
        }
    }
}

/// Whether a `Host` header names this server: a loopback name or address, the bound address,
/// or an allowed name. The port is not checked (a proxy may change it).
fn host_allowed(host: &str, local: &SocketAddr, allowed: &[String]) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(inside, _)| inside)
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(name, _)| name)
    };
    let name = name.trim_end_matches('.');
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(ip) = name.parse::<IpAddr>()
        && (canonical_ip(ip).is_loopback() || canonical_ip(ip) == canonical_ip(local.ip()))
    {
        return true;
    }
    allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
}

async fn metrics_route(State(state): State<Arc<AppState>>) -> Response {
    super::metrics::metrics_handler(State(state.metrics.clone())).await
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
    let found = {
        let tokens = state
            .tokens
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tokens.is_empty() {
            None
        } else {
            Some(bearer(request.headers()).map(|token| tokens.authenticate(token).cloned()))
        }
    };
    let context = match found {
        None => CallContext::anonymous(),
        Some(presented) => match presented {
            None => return unauthorized(false),
            Some(identity) => match identity {
                Some(identity) => {
                    if let Some(note) = note(&request) {
                        note.lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .actor = Some(identity.actor.clone());
                    }
                    CallContext::authenticated(identity)
                }
                None => {
                    tracing::warn!(path = %request.uri().path(), "rejected an invalid bearer token");
                    return unauthorized(true);
                }
            },
        },
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
    let note = note(&request);
    // The body arrives before the request takes a slot, so slow uploads hold none.
    let read = tokio::time::timeout(
        state.config.body_read_timeout,
        Bytes::from_request(request, &()),
    )
    .await;
    let body = match read {
        Ok(Ok(body)) => body,
        Ok(Err(rejection)) => {
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
        Err(_) => {
            let mut response = (
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time\n",
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
    };
    let Ok(_slot) = state.rpc_slots.clone().acquire_owned().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let dispatcher = state.dispatcher.clone();
    let metrics = state.metrics.clone();
    let span = tracing::Span::current();
    let handled = tokio::task::spawn_blocking(move || {
        let _request = span.enter();
        let mut methods = Vec::new();
        let mut outcomes = Vec::new();
        let reply =
            dispatcher.handle_bytes_recorded(&context, &body, &mut |call: CallRecord<'_>| {
                metrics.record_call(&call);
                // A batch logs its first calls only: one line stays one line.
                if methods.len() < 16 {
                    methods.push(call.method.to_owned());
                    outcomes.push(
                        call.error_code
                            .map_or_else(|| "ok".to_owned(), |c| c.to_string()),
                    );
                }
            });
        (reply, methods, outcomes)
    })
    .await;
    match handled {
        Ok((reply, methods, outcomes)) => {
            if let Some(note) = note {
                let mut note = note
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                note.methods = methods;
                note.outcomes = outcomes;
            }
            match reply {
                Some(reply) => (
                    StatusCode::OK,
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    )],
                    reply,
                )
                    .into_response(),
                None => StatusCode::NO_CONTENT.into_response(),
            }
        }
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
        (permit, state.metrics.event_stream_opened()),
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
    _held: (tokio::sync::OwnedSemaphorePermit, InFlight),
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
