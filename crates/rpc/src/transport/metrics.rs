//! Prometheus metrics of the HTTP transport, and the scrape endpoint.
//!
//! [`Metrics`] holds what the transport counts as it serves (requests, calls by method and
//! outcome, latencies, connections) and the [`MetricsSource`]s an embedder adds for what only
//! it knows (the engine's log head, store size, scheduler and webhook counters): those are read
//! at scrape time, so a scrape costs a few atomic loads and one call per source, and an idle
//! server does no metrics work at all.
//!
//! The text is the OpenMetrics exposition format (what Prometheus asks for first), written by
//! the `prometheus-client` crate. `GET /metrics` is served on the main listener behind the same
//! bearer tokens as `/rpc` ([`HttpConfig::metrics_route`](super::HttpConfig::metrics_route)),
//! or without authentication on a separate listener ([`serve_metrics`]) that the operator
//! keeps on an internal address.
//!
//! Label values are bounded: methods are the registered names (anything else is
//! `(unknown)`), outcomes are `ok` or a JSON-RPC error code, routes are the server's own.

use crate::dispatcher::CallRecord;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// The `Content-Type` of the exposition format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A value an embedder reports at scrape time.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric's name (`opsledger_...`); a counter's name ends in `_total`.
    pub name: &'static str,
    /// One line for people: what it counts and why it matters.
    pub help: &'static str,
    /// Counter (only ever grows while the process runs) or gauge.
    pub kind: SampleKind,
    /// The value.
    pub value: f64,
}

/// Whether a [`Sample`] is a counter or a gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleKind {
    /// Grows while the process runs; `rate()` applies.
    Counter,
    /// Goes up and down.
    Gauge,
}

impl Sample {
    /// A counter sample; `name` must end in `_total`.
    pub fn counter(name: &'static str, help: &'static str, value: f64) -> Self {
        Sample {
            name,
            help,
            kind: SampleKind::Counter,
            value,
        }
    }

    /// A gauge sample.
    pub fn gauge(name: &'static str, help: &'static str, value: f64) -> Self {
        Sample {
            name,
            help,
            kind: SampleKind::Gauge,
            value,
        }
    }
}

/// What an embedder adds to every scrape. It runs on the scrape's task: keep it cheap (atomic
/// loads, a cached figure), never a scan of the log.
pub type MetricsSource = Arc<dyn Fn() -> Vec<Sample> + Send + Sync>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabel {
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// Why a connection was closed before it carried a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The client address already had its share of connections.
    PerClient,
    /// The server had [`HttpConfig::max_connections`](super::HttpConfig::max_connections) open.
    Global,
    /// The TLS handshake failed or took longer than the header timeout.
    Tls,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Refusal::PerClient => "per_client_limit",
            Refusal::Global => "global_limit",
            Refusal::Tls => "tls_handshake",
        }
    }
}

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~16 s: a read is well under a millisecond, a per-commit write a few, a long
    // poll seconds.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The transport's counters and the embedder's sources. Cheap to update from any thread.
pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    call_seconds: Family<MethodLabel, Histogram, fn() -> Histogram>,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabel, Histogram, fn() -> Histogram>,
    requests_in_flight: Gauge,
    connections_open: Gauge,
    connections: Counter,
    refused: Family<ReasonLabel, Counter>,
    event_streams: Gauge,
    sources: Arc<Mutex<Vec<MetricsSource>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

struct SourcesCollector(Arc<Mutex<Vec<MetricsSource>>>);

impl std::fmt::Debug for SourcesCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourcesCollector").finish_non_exhaustive()
    }
}

impl Collector for SourcesCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let sources: Vec<MetricsSource> = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for source in sources {
            for sample in source() {
                match sample.kind {
                    SampleKind::Counter => {
                        // The text encoder appends `_total` to a counter's samples.
                        let name = sample.name.strip_suffix("_total").unwrap_or(sample.name);
                        let counter = ConstCounter::new(sample.value.max(0.0));
                        let metric = encoder.encode_descriptor(
                            name,
                            sample.help,
                            None,
                            counter.metric_type(),
                        )?;
                        counter.encode(metric)?;
                    }
                    SampleKind::Gauge => {
                        let gauge = ConstGauge::new(sample.value);
                        let metric = encoder.encode_descriptor(
                            sample.name,
                            sample.help,
                            None,
                            gauge.metric_type(),
                        )?;
                        gauge.encode(metric)?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl Metrics {
    /// The transport's metrics, registered and at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "opsledger_rpc_calls",
            "JSON-RPC method calls by method and outcome (ok, or the JSON-RPC error code)",
            calls.clone(),
        );
        let call_seconds: Family<MethodLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "opsledger_rpc_call_duration_seconds",
            "Time to run one JSON-RPC method call (params checked, engine call, result written)",
            call_seconds.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "opsledger_http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        let request_seconds: Family<RouteLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "opsledger_http_request_duration_seconds",
            "Time from the request's headers to its response (for /events: to the stream's start)",
            request_seconds.clone(),
        );
        let requests_in_flight = Gauge::default();
        registry.register(
            "opsledger_http_requests_in_flight",
            "HTTP requests being served, long polls (events.subscribe) included",
            requests_in_flight.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "opsledger_http_connections_open",
            "TCP connections open",
            connections_open.clone(),
        );
        let connections = Counter::default();
        registry.register(
            "opsledger_http_connections",
            "TCP connections accepted",
            connections.clone(),
        );
        let refused = Family::<ReasonLabel, Counter>::default();
        // At zero from the start, so an alert on their rate has a series to read.
        for why in [Refusal::PerClient, Refusal::Global, Refusal::Tls] {
            let _ = refused.get_or_create(&ReasonLabel {
                reason: why.label(),
            });
        }
        registry.register(
            "opsledger_http_connections_refused",
            "Connections closed before a request: per-client limit, global limit, TLS handshake",
            refused.clone(),
        );
        let event_streams = Gauge::default();
        registry.register(
            "opsledger_event_streams_open",
            "GET /events subscribers connected",
            event_streams.clone(),
        );
        let sources = Arc::new(Mutex::new(Vec::new()));
        registry.register_collector(Box::new(SourcesCollector(sources.clone())));
        Metrics {
            registry,
            calls,
            call_seconds,
            requests,
            request_seconds,
            requests_in_flight,
            connections_open,
            connections,
            refused,
            event_streams,
            sources,
        }
    }

    /// Adds values read at every scrape.
    pub fn add_source(&self, source: MetricsSource) {
        self.sources
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(source);
    }

    /// Counts one method call.
    pub fn record_call(&self, call: &CallRecord<'_>) {
        let outcome = call
            .error_code
            .map_or_else(|| "ok".to_owned(), |code| code.to_string());
        self.calls
            .get_or_create(&CallLabels {
                method: call.method.to_owned(),
                outcome,
            })
            .inc();
        self.call_seconds
            .get_or_create(&MethodLabel {
                method: call.method.to_owned(),
            })
            .observe(call.elapsed.as_secs_f64());
    }

    /// Counts one HTTP request (`route` is the server's own path, never the client's).
    pub fn record_request(&self, route: &'static str, status: StatusCode, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route,
                status: status.as_u16(),
            })
            .inc();
        self.request_seconds
            .get_or_create(&RouteLabel { route })
            .observe(elapsed.as_secs_f64());
    }

    pub(crate) fn request_started(&self) -> InFlight {
        self.requests_in_flight.inc();
        InFlight(self.requests_in_flight.clone())
    }

    pub(crate) fn connection_opened(&self) -> InFlight {
        self.connections.inc();
        self.connections_open.inc();
        InFlight(self.connections_open.clone())
    }

    pub(crate) fn event_stream_opened(&self) -> InFlight {
        self.event_streams.inc();
        InFlight(self.event_streams.clone())
    }

    pub(crate) fn refused(&self, why: Refusal) {
        self.refused
            .get_or_create(&ReasonLabel {
                reason: why.label(),
            })
            .inc();
    }

    /// The exposition text.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "metrics did not encode");
        }
        text
    }
}

/// Decrements its gauge when dropped (a request, connection or stream that ended, however).
pub(crate) struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `GET /metrics`.
pub(crate) async fn metrics_handler(State(metrics): State<Arc<Metrics>>) -> Response {
    let text = tokio::task::spawn_blocking(move || metrics.encode()).await;
    match text {
        Ok(text) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metrics task failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Serves `GET /metrics` (no authentication) on `listener` until `shutdown` completes: the
/// separate metrics address, for a Prometheus on an internal network.
pub async fn serve_metrics(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let router = Router::new()
        .route("/metrics", get(metrics_handler))
        .with_state(metrics);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
