//! `opsledger serve`: the engine behind JSON-RPC 2.0, over HTTP or stdio.

use crate::binding;
use crate::cli::{ClockKind, DurabilityArg, ServeArgs};
use crate::data;
use crate::error::{CliError, CliResult, Failure, data_error};
use crate::output::emit_err;
use crate::policy::{DocumentFile, report_issues};
use opsledger::core::Policy;
use opsledger::core::webhook::delivery::RetryPolicy;
use opsledger::webhooks::{HttpTransport, WebhookWorker, WebhookWorkerConfig};
use opsledger::{Durability, Engine, EngineError, ManualClock, SchedulerHandle};
use opsledger_rpc::transport::http::is_loopback;
use opsledger_rpc::transport::{
    HttpConfig, HttpError, HttpServer, Sample, StdioOptions, TlsFiles, TlsReloader, TokenReloader,
    TokenStore, serve_stdio_with,
};
use opsledger_rpc::{Dispatcher, Limits, MethodRegistry};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The line `serve` prints on stdout once the HTTP listener is bound (followed by the URL,
/// e.g. `opsledger listening on http://127.0.0.1:7700`). Scripts and tests wait for it.
pub const LISTENING: &str = "opsledger listening on http://";

/// [`LISTENING`] with TLS (`opsledger listening on https://127.0.0.1:7700`).
pub const LISTENING_TLS: &str = "opsledger listening on https://";

/// The line printed after [`LISTENING`] once the separate metrics listener is bound
/// (`--metrics-listen`).
pub const METRICS_LISTENING: &str = "opsledger metrics on http://";

/// The scheduler and the webhook worker, shared with the metrics (which read their counters)
/// until shutdown takes them.
type Shared<T> = Arc<Mutex<Option<T>>>;

fn take<T>(shared: &Shared<T>) -> Option<T> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
}

/// How long one read of the event source waits for new events before the `GET /events` pump
/// checks again; also bounds how long shutdown waits for such reads.
const EVENT_POLL: Duration = Duration::from_secs(1);

/// Runs `opsledger serve` until end of input (stdio) or SIGINT/SIGTERM.
pub fn run(args: &ServeArgs) -> CliResult {
    check_args(args)?;
    // Everything that can be refused is checked before the data directory is touched.
    let tokens = match &args.token_file {
        Some(path) => {
            warn_if_readable_by_others(path);
            TokenStore::load(path).map_err(|e| CliError::usage(e.to_string()))?
        }
        None => TokenStore::new(),
    };
    if args.token_file.is_some() && tokens.is_empty() {
        return Err(CliError::usage("the token file holds no token"));
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            TlsReloader::load(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            })
            .map_err(|e| CliError::usage(e.to_string()))?,
        ),
        _ => None,
    };
    if args.clock == ClockKind::Manual && !args.stdio && !is_loopback(&args.listen) {
        return Err(CliError::usage(format!(
            "refusing --clock manual on {}: whoever may call admin.set_clock there could move \
             the engine's time. A manual clock is for tests and demos: listen on a loopback \
             address such as 127.0.0.1, or use --stdio",
            args.listen
        )));
    }
    let policy = match &args.policy {
        Some(path) => {
            let file = DocumentFile::read(path, None)?;
            let policy = file.parse()?;
            Some((file, policy))
        }
        None => None,
    };
    if !args.stdio && !is_loopback(&args.listen) && tokens.is_empty() {
        return Err(CliError::usage(format!(
            "refusing to listen on {} without bearer tokens: anyone who can reach it could act \
             as anyone. Pass --token-file FILE (a JSON object token -> {{\"actor\", \"roles\"}}) \
             or listen on a loopback address such as 127.0.0.1",
            args.listen
        )));
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("opsledger-serve")
        .build()
        .map_err(|e| CliError::data(format!("cannot start the async runtime: {e}")))?;

    // A directory this run creates is removed again if the server cannot even start.
    let created = args.store.is_none() && !args.data.exists();
    let manual_clock = (args.clock == ClockKind::Manual).then(|| Arc::new(ManualClock::new(now())));
    let engine = open_engine(args, policy.as_ref(), manual_clock.clone(), created)?;
    let engine = Arc::new(engine);
    tracing::info!(data = %location(args), head = engine.head().unwrap_or(0), "engine open");
    if let Some(clock) = &manual_clock {
        start_manual_clock(&engine, clock);
    }
    let scheduler: Shared<SchedulerHandle> = Arc::new(Mutex::new(start_scheduler(args, &engine)));
    let webhooks: Shared<WebhookWorker> = Arc::new(Mutex::new(start_webhooks(args, &engine)?));
    let dispatcher = Arc::new(dispatcher(args, engine.clone(), manual_clock)?);

    let (served, started) = if args.stdio {
        (runtime.block_on(serve_stdio(dispatcher, args)), true)
    } else {
        let http = Http {
            events: binding::events(engine.clone()),
            readiness: readiness(engine.clone()),
            metrics: metrics_source(
                engine.clone(),
                // A shared database has no directory to measure.
                if args.store.is_some() {
                    PathBuf::new()
                } else {
                    args.data.clone()
                },
                scheduler.clone(),
                webhooks.clone(),
            ),
            tokens,
            tls,
        };
        match runtime.block_on(serve_http(dispatcher, http, args)) {
            Ok(()) => (Ok(()), true),
            Err((e, started)) => (Err(e), started),
        }
    };
    // Stop accepting work, then make everything durable and close.
    if let Some(scheduler) = take(&scheduler) {
        let stats = scheduler.stop();
        tracing::info!(ticks = stats.ticks, "scheduler stopped");
    }
    if let Some(worker) = take(&webhooks) {
        let errors = worker.errors();
        let totals = worker.stop();
        tracing::info!(
            attempted = totals.attempted,
            succeeded = totals.succeeded,
            dead_lettered = totals.dead_lettered,
            errors = errors.len(),
            "webhook worker stopped"
        );
    }
    // Blocking work still running (an event read waits at most EVENT_POLL) holds the engine;
    // give it the time to finish so the engine can be closed, not only flushed. (On stdio, a
    // read of stdin never finishes by itself: after a signal the engine is flushed.)
    runtime.shutdown_timeout(if args.stdio {
        Duration::from_millis(200)
    } else {
        EVENT_POLL + Duration::from_millis(500)
    });
    let closed = close_engine(engine);
    if !started && created && closed.is_ok() {
        let _ = std::fs::remove_dir_all(&args.data);
    }
    served?;
    closed
}

/// Where the server keeps its data, for people: the data directory, or the database URL
/// without its password.
fn location(args: &ServeArgs) -> String {
    match &args.store {
        Some(url) => match url.split_once("://").and_then(|(scheme, rest)| {
            let (auth, host) = rest.split_once('@')?;
            let user = auth.split(':').next().unwrap_or_default();
            Some(format!("{scheme}://{user}@{host}"))
        }) {
            Some(redacted) => redacted,
            None => url.clone(),
        },
        None => args.data.display().to_string(),
    }
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
}

/// Opens the engine on the data directory with the policy to put in force and the manual
/// clock, if any; says on stderr whether the policy was published. A policy the history
/// refuses (an SLA version published before with other content) is listed problem by
/// problem; nothing is written.
fn open_engine(
    args: &ServeArgs,
    policy: Option<&(DocumentFile, Policy)>,
    manual_clock: Option<Arc<ManualClock>>,
    created: bool,
) -> CliResult<Engine> {
    let mut config = data::engine_config().with_durability(match args.durability {
        DurabilityArg::PerCommit => Durability::PerCommit,
        DurabilityArg::GroupCommit => Durability::GroupCommit,
        DurabilityArg::Buffered => Durability::Buffered,
    });
    if let Some((_, policy)) = policy {
        config = config.with_policy(policy.clone());
    }
    if let Some(clock) = manual_clock {
        config = config.with_clock(clock);
    }
    let opened = match &args.store {
        Some(url) => Engine::open_location(url, config),
        None => data::open_engine_with(&args.data, config),
    };
    let engine = match opened {
        Ok(engine) => engine,
        Err(e) => {
            if created {
                let _ = std::fs::remove_dir_all(&args.data);
            }
            return Err(match (e, policy) {
                (EngineError::InvalidPolicy { issues }, Some((file, _))) => {
                    report_issues(&file.name, &issues);
                    CliError::reported(Failure::Usage)
                }
                (e, _) => data_error(&format!("cannot open {}", location(args)), &e),
            });
        }
    };
    if let Some((file, _)) = policy {
        let opened_at = engine.stats().map(|s| s.open.head).unwrap_or_default();
        let current = engine.policy_history().pop();
        match current {
            Some(r) if r.position > opened_at => {
                emit_err(&format!(
                    "policy {} published from {}",
                    r.version, file.name
                ));
            }
            Some(r) => emit_err(&format!(
                "policy {} is already in force as {}",
                file.name, r.version
            )),
            None => {}
        }
    }
    Ok(engine)
}

/// A manual clock never starts behind the log: it is set to the last recorded instant when
/// that is later than the present (a clock moved forward in an earlier run).
fn start_manual_clock(engine: &Engine, clock: &ManualClock) {
    use opsledger::Clock;
    let last = engine
        .head()
        .ok()
        .filter(|&head| head > 0)
        .and_then(|head| engine.events(head, 1).ok())
        .and_then(|events| events.first().map(|e| e.recorded_at));
    if let Some(last) = last
        && last > clock.now()
    {
        clock.set(last);
    }
    tracing::warn!(
        now = %clock.now(),
        "the engine clock is manual: it moves only with admin.set_clock"
    );
}

/// Bearer tokens are secrets: say so when the file is readable by other users.
fn warn_if_readable_by_others(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                file = %path.display(),
                "the tokens file is readable by other users; consider chmod 600"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn check_args(args: &ServeArgs) -> CliResult {
    if args.max_body == 0 {
        return Err(CliError::usage("--max-body must be at least 1"));
    }
    if args.max_concurrency == 0 {
        return Err(CliError::usage("--max-concurrency must be at least 1"));
    }
    if args.timeout_ms == 0 {
        return Err(CliError::usage("--timeout-ms must be at least 1"));
    }
    if args.max_connections == 0 || args.max_connections_per_client == 0 {
        return Err(CliError::usage(
            "--max-connections and --max-connections-per-client must be at least 1",
        ));
    }
    if args.tick_interval == 0 {
        return Err(CliError::usage("--tick-interval must be at least 1"));
    }
    if args.webhook_poll_ms == 0 || args.webhook_timeout_ms == 0 || args.webhook_max_attempts == 0 {
        return Err(CliError::usage(
            "--webhook-poll-ms, --webhook-timeout-ms and --webhook-max-attempts must be at least 1",
        ));
    }
    Ok(())
}

/// Starts the webhook delivery worker with the real HTTP transport.
fn start_webhooks(args: &ServeArgs, engine: &Arc<Engine>) -> CliResult<Option<WebhookWorker>> {
    if args.no_webhooks {
        return Ok(None);
    }
    let total = Duration::from_millis(args.webhook_timeout_ms);
    let transport = HttpTransport::new(total.min(Duration::from_secs(5)), total)
        .map_err(|e| CliError::data(format!("cannot build the webhook HTTP client: {e}")))?;
    let ms = |v: u64| chrono::Duration::milliseconds(i64::try_from(v).unwrap_or(i64::MAX / 2));
    let config = WebhookWorkerConfig {
        retry: RetryPolicy {
            max_attempts: args.webhook_max_attempts,
            first_delay: ms(args.webhook_first_delay_ms),
            max_delay: ms(args.webhook_max_delay_ms.max(args.webhook_first_delay_ms)),
            lease: ms(args.webhook_timeout_ms) + chrono::Duration::seconds(1),
        },
        poll_interval: Duration::from_millis(args.webhook_poll_ms),
        worker_id: format!("opsledger-serve-{}", std::process::id()),
        link_base: args.webhook_link_base.clone(),
        ..WebhookWorkerConfig::default()
    };
    tracing::info!(poll_ms = args.webhook_poll_ms, "webhook worker running");
    Ok(Some(
        engine.start_webhook_worker(config, Arc::new(transport)),
    ))
}

fn start_scheduler(args: &ServeArgs, engine: &Arc<Engine>) -> Option<SchedulerHandle> {
    if !args.scheduler_enabled() {
        return None;
    }
    let interval = Duration::from_secs(args.tick_interval);
    tracing::info!(interval_s = args.tick_interval, "SLA scheduler running");
    Some(engine.start_scheduler_with(interval, |e| {
        tracing::warn!(code = %e.code, record = ?e.record, "scheduled tick: {}", e.message);
    }))
}

fn dispatcher(
    args: &ServeArgs,
    engine: Arc<Engine>,
    manual_clock: Option<Arc<ManualClock>>,
) -> CliResult<Dispatcher> {
    #[allow(unused_mut)]
    let mut registry: MethodRegistry = binding::registry_with_clock(engine, manual_clock);
    if args.spec_fixtures() {
        register_spec_fixtures(&mut registry)?;
    }
    let limits = Limits {
        max_request_bytes: args.max_body,
        ..Limits::default()
    };
    Ok(Dispatcher::with_limits(registry, limits))
}

#[cfg(feature = "spec-fixtures")]
fn register_spec_fixtures(registry: &mut MethodRegistry) -> CliResult {
    tracing::warn!("serving the JSON-RPC specification's example methods (conformance tests)");
    opsledger_rpc::testing::register_spec_methods(registry)
        .map(|_| ())
        .map_err(|e| CliError::usage(format!("cannot register the spec fixtures: {e}")))
}

#[cfg(not(feature = "spec-fixtures"))]
fn register_spec_fixtures(_: &mut MethodRegistry) -> CliResult {
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}

/// How far the read models may trail the log and the server still count as ready: on the
/// embedded SQLite store they never trail (one transaction); on sled they catch up within
/// moments of a write.
const READY_MAX_LAG: u64 = 1_000;

/// `GET /readyz`: the store answers, and the read models are current (within
/// [`READY_MAX_LAG`] events of the log's head).
fn readiness(engine: Arc<Engine>) -> opsledger_rpc::transport::ReadinessProbe {
    Arc::new(move || {
        let stats = engine
            .stats()
            .map_err(|e| format!("the store does not answer ({})", e.code()))?;
        let lag = stats.head.saturating_sub(stats.views_checkpoint);
        if lag > READY_MAX_LAG {
            return Err(format!("the read models are {lag} events behind the log"));
        }
        Ok(())
    })
}

/// What the HTTP server needs besides the dispatcher.
struct Http {
    events: Option<Arc<dyn opsledger_rpc::transport::EventSource>>,
    readiness: opsledger_rpc::transport::ReadinessProbe,
    metrics: opsledger_rpc::transport::MetricsSource,
    tokens: TokenStore,
    tls: Option<TlsReloader>,
}

async fn serve_http(
    dispatcher: Arc<Dispatcher>,
    http: Http,
    args: &ServeArgs,
) -> Result<(), (CliError, bool)> {
    let tls = http.tls.clone();
    let config = HttpConfig {
        listen: args.listen,
        tokens: http.tokens,
        max_body_bytes: args.max_body,
        max_concurrent_requests: args.max_concurrency,
        max_connections: args.max_connections,
        max_connections_per_client: args.max_connections_per_client,
        request_timeout: Duration::from_millis(args.timeout_ms),
        event_poll_timeout: EVENT_POLL,
        metrics_route: args.metrics_listen.is_none(),
        cors_allowed_origins: args.cors_origins.clone(),
        allowed_hosts: args.allowed_hosts.clone(),
        tls: http.tls,
        ..HttpConfig::default()
    };
    let server = HttpServer::bind(dispatcher, http.events, config)
        .await
        .map_err(|e| match e {
            HttpError::NonLoopbackWithoutTokens(_)
            | HttpError::InvalidConfig(_)
            | HttpError::InvalidOrigin(_) => CliError::usage(e.to_string()),
            HttpError::Bind { .. } => CliError::transport(e.to_string()),
        })
        .map_err(|e| (e, false))?;
    server.set_readiness(http.readiness);
    let metrics = server.metrics();
    metrics.add_source(http.metrics);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let metrics_server = match args.metrics_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                (
                    CliError::transport(format!("cannot listen on {addr} for metrics: {e}")),
                    false,
                )
            })?;
            let bound = listener.local_addr().unwrap_or(addr);
            let mut stop = stop_rx.clone();
            let task = tokio::spawn(opsledger_rpc::transport::serve_metrics(
                listener,
                metrics,
                async move {
                    let _ = stop.wait_for(|stopped| *stopped).await;
                },
            ));
            Some((bound, task))
        }
        None => None,
    };
    let reloads = tokio::spawn(reload_on_hangup(
        args.token_file.clone(),
        server.token_reloader(),
        tls.clone(),
        stop_rx,
    ));
    let addr = server.local_addr();
    {
        let mut out = std::io::stdout().lock();
        let listening = if tls.is_some() {
            LISTENING_TLS
        } else {
            LISTENING
        };
        let _ = writeln!(out, "{listening}{addr}");
        if let Some((bound, _)) = &metrics_server {
            let _ = writeln!(out, "{METRICS_LISTENING}{bound}");
        }
        let _ = out.flush();
    }
    let served = server.serve(shutdown_signal()).await;
    let _ = stop_tx.send(true);
    if let Some((_, task)) = metrics_server {
        let _ = task.await;
    }
    let _ = reloads.await;
    served.map_err(|e| {
        (
            CliError::transport(format!("the HTTP server failed: {e}")),
            true,
        )
    })?;
    tracing::info!("HTTP server stopped");
    Ok(())
}

/// On SIGHUP: reads the tokens file and the TLS certificate and key again. A file that does
/// not load leaves what is in force, and the log says why.
async fn reload_on_hangup(
    token_file: Option<PathBuf>,
    tokens: TokenReloader,
    tls: Option<TlsReloader>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(hangup) => hangup,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGHUP: tokens and certificates will not reload");
                return;
            }
        };
        loop {
            tokio::select! {
                _ = hangup.recv() => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            tracing::info!("SIGHUP: reloading the tokens and the TLS certificate");
            if let Some(path) = &token_file {
                reload_tokens(path, &tokens);
            }
            if let Some(tls) = &tls {
                match tls.reload() {
                    Ok(()) => {
                        tracing::info!(cert = %tls.files().cert.display(), "TLS certificate reloaded")
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "TLS certificate not reloaded; the one in force stays")
                    }
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (token_file, tokens, tls);
        let _ = stop.wait_for(|stopped| *stopped).await;
    }
}

fn reload_tokens(path: &Path, tokens: &TokenReloader) {
    warn_if_readable_by_others(path);
    match TokenStore::load(path) {
        Ok(store) => match tokens.replace(store) {
            Ok(count) => tracing::info!(file = %path.display(), tokens = count, "tokens reloaded"),
            Err(e) => tracing::error!(file = %path.display(), "tokens not reloaded: {e}"),
        },
        Err(e) => tracing::error!(
            file = %path.display(),
            "tokens not reloaded; the tokens in force stay: {e}"
        ),
    }
}

/// What the engine adds to every scrape: the log's head, the read models' lag, the store's
/// size on disk, the scheduler's and the webhook worker's counters. Each is a counter the
/// engine keeps or a `stat` of the data directory's files, never a read of the log.
fn metrics_source(
    engine: Arc<Engine>,
    data: PathBuf,
    scheduler: Shared<SchedulerHandle>,
    webhooks: Shared<WebhookWorker>,
) -> opsledger_rpc::transport::MetricsSource {
    let started = std::time::Instant::now();
    Arc::new(move || {
        let mut samples = vec![Sample::gauge(
            "opsledger_uptime_seconds",
            "Seconds since the server started",
            started.elapsed().as_secs_f64(),
        )];
        if let Ok(stats) = engine.stats() {
            samples.extend([
                Sample::gauge(
                    "opsledger_log_head_position",
                    "Position of the last event in the log (events appended, all time)",
                    stats.head as f64,
                ),
                Sample::counter(
                    "opsledger_events_appended_total",
                    "Events appended since the server started",
                    stats.head.saturating_sub(stats.open.head) as f64,
                ),
                Sample::gauge(
                    "opsledger_projection_lag_events",
                    "Events in the log that the read models do not reflect yet",
                    stats.head.saturating_sub(stats.views_checkpoint) as f64,
                ),
                Sample::gauge(
                    "opsledger_process_manager_lag_events",
                    "Events in the log the process managers (follow-ups) have not run for",
                    stats.head.saturating_sub(stats.process_checkpoint) as f64,
                ),
                Sample::counter(
                    "opsledger_write_conflicts_retried_total",
                    "Commands decided again because another writer changed the record first",
                    stats.conflicts_retried as f64,
                ),
                Sample::gauge(
                    "opsledger_cached_records",
                    "Record states held in the engine's cache",
                    stats.cached_records as f64,
                ),
                Sample::counter(
                    "opsledger_store_commits_total",
                    "Store transactions that stored events (appends), acknowledged",
                    stats.store_io.commits as f64,
                ),
                Sample::counter(
                    "opsledger_store_syncs_total",
                    "Disk syncs run to make acknowledged writes durable (commits per sync: the group-commit batch)",
                    stats.store_io.syncs as f64,
                ),
            ]);
        }
        samples.push(Sample::gauge(
            "opsledger_store_size_bytes",
            "Bytes on disk of the data directory's files (log, read models, write-ahead log)",
            dir_size(&data) as f64,
        ));
        if let Some(stats) = scheduler
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(SchedulerHandle::stats)
        {
            samples.extend([
                Sample::counter(
                    "opsledger_sla_ticks_total",
                    "SLA scheduler ticks run",
                    stats.ticks as f64,
                ),
                Sample::counter(
                    "opsledger_sla_ticks_failed_total",
                    "SLA scheduler ticks that failed",
                    stats.failed_ticks as f64,
                ),
                Sample::counter(
                    "opsledger_sla_standby_total",
                    "SLA scheduler intervals skipped because another replica holds the scheduler lease",
                    stats.standby as f64,
                ),
                Sample::counter(
                    "opsledger_sla_tick_seconds_total",
                    "Seconds spent in SLA ticks (divide by ticks for the mean)",
                    stats.tick_time.as_secs_f64(),
                ),
                Sample::gauge(
                    "opsledger_sla_last_tick_seconds",
                    "How long the last SLA tick took",
                    stats.last_tick_time.as_secs_f64(),
                ),
                Sample::counter(
                    "opsledger_sla_breaches_recorded_total",
                    "SLA breaches the scheduler recorded",
                    stats.breaches_recorded as f64,
                ),
                Sample::counter(
                    "opsledger_sla_warnings_recorded_total",
                    "SLA warning thresholds the scheduler recorded",
                    stats.thresholds_recorded as f64,
                ),
            ]);
        }
        if let Some(totals) = webhooks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(WebhookWorker::totals)
        {
            samples.extend([
                Sample::counter(
                    "opsledger_webhook_attempts_total",
                    "Webhook delivery attempts made",
                    totals.attempted as f64,
                ),
                Sample::counter(
                    "opsledger_webhook_deliveries_total",
                    "Webhook deliveries the receiver accepted",
                    totals.succeeded as f64,
                ),
                Sample::counter(
                    "opsledger_webhook_failures_total",
                    "Webhook attempts that failed (retried later)",
                    totals.failed as f64,
                ),
                Sample::counter(
                    "opsledger_webhook_dead_lettered_total",
                    "Webhook deliveries given up after their last attempt",
                    totals.dead_lettered as f64,
                ),
            ]);
        }
        samples
    })
}

/// Bytes of the files directly in `dir` and one level below (SQLite's file and its `-wal`,
/// sled's `log/` and `views.sqlite3`).
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => std::fs::read_dir(entry.path())
                .map(|inner| {
                    inner
                        .flatten()
                        .filter_map(|e| e.metadata().ok())
                        .filter(std::fs::Metadata::is_file)
                        .map(|m| m.len())
                        .sum()
                })
                .unwrap_or(0),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

async fn serve_stdio(dispatcher: Arc<Dispatcher>, args: &ServeArgs) -> CliResult {
    let options = StdioOptions {
        max_line_bytes: Some(args.max_body),
        ..StdioOptions::default()
    };
    let stdio = tokio::task::spawn_blocking(move || {
        let stdin = std::io::stdin();
        let stdout = std::io::stdout();
        serve_stdio_with(&dispatcher, &options, stdin.lock(), stdout.lock())
    });
    tokio::select! {
        done = stdio => match done {
            Ok(Ok(lines)) => {
                tracing::info!(lines, "end of input");
                Ok(())
            }
            Ok(Err(e)) => Err(CliError::transport(format!("stdio failed: {e}"))),
            Err(e) => Err(CliError::transport(format!("the stdio loop failed: {e}"))),
        },
        () = shutdown_signal() => Ok(()),
    }
}

fn close_engine(engine: Arc<Engine>) -> CliResult {
    // Flush first: even if another handle is still alive (a request that outlived the grace
    // period), every acknowledged event and the read models are on disk.
    engine
        .flush()
        .map_err(|e| CliError::data(format!("cannot flush the engine: {e}")))?;
    match Arc::try_unwrap(engine) {
        Ok(engine) => {
            engine
                .close()
                .map_err(|e| CliError::data(format!("cannot close the engine: {e}")))?;
            tracing::info!("engine flushed and closed");
        }
        Err(_) => tracing::info!("engine flushed (a blocked reader still holds it)"),
    }
    Ok(())
}
