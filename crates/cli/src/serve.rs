//! `opsledger serve`: the engine behind JSON-RPC 2.0, over HTTP or stdio.

use crate::binding;
use crate::cli::{ClockKind, ServeArgs};
use crate::data;
use crate::error::{CliError, CliResult, Failure, data_error};
use crate::output::emit_err;
use crate::policy::{DocumentFile, report_issues};
use opsledger::core::Policy;
use opsledger::core::webhook::delivery::RetryPolicy;
use opsledger::webhooks::{HttpTransport, WebhookWorker, WebhookWorkerConfig};
use opsledger::{Engine, EngineError, ManualClock, SchedulerHandle};
use opsledger_rpc::transport::http::is_loopback;
use opsledger_rpc::transport::{
    HttpConfig, HttpError, HttpServer, StdioOptions, TokenStore, serve_stdio_with,
};
use opsledger_rpc::{Dispatcher, Limits, MethodRegistry};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// The line `serve` prints on stdout once the HTTP listener is bound (followed by the URL,
/// e.g. `opsledger listening on http://127.0.0.1:7700`). Scripts and tests wait for it.
pub const LISTENING: &str = "opsledger listening on http://";

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
    let created = !args.data.exists();
    let manual_clock = (args.clock == ClockKind::Manual).then(|| Arc::new(ManualClock::new(now())));
    let engine = open_engine(args, policy.as_ref(), manual_clock.clone(), created)?;
    let engine = Arc::new(engine);
    tracing::info!(data = %args.data.display(), head = engine.head().unwrap_or(0), "engine open");
    if let Some(clock) = &manual_clock {
        start_manual_clock(&engine, clock);
    }
    let scheduler = start_scheduler(args, &engine);
    let webhooks = start_webhooks(args, &engine)?;
    let dispatcher = Arc::new(dispatcher(args, engine.clone(), manual_clock)?);

    let (served, started) = if args.stdio {
        (runtime.block_on(serve_stdio(dispatcher, args)), true)
    } else {
        let events = binding::events(engine.clone());
        let probe = readiness(engine.clone());
        match runtime.block_on(serve_http(dispatcher, events, tokens, probe, args)) {
            Ok(()) => (Ok(()), true),
            Err((e, started)) => (Err(e), started),
        }
    };
    // Stop accepting work, then make everything durable and close.
    if let Some(scheduler) = scheduler {
        let stats = scheduler.stop();
        tracing::info!(ticks = stats.ticks, "scheduler stopped");
    }
    if let Some(worker) = webhooks {
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
    let mut config = data::engine_config();
    if let Some((_, policy)) = policy {
        config = config.with_policy(policy.clone());
    }
    if let Some(clock) = manual_clock {
        config = config.with_clock(clock);
    }
    let engine = match data::open_engine_with(&args.data, config) {
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
                (e, _) => data_error(&format!("cannot open {}", args.data.display()), &e),
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

async fn serve_http(
    dispatcher: Arc<Dispatcher>,
    events: Option<Arc<dyn opsledger_rpc::transport::EventSource>>,
    tokens: TokenStore,
    readiness: opsledger_rpc::transport::ReadinessProbe,
    args: &ServeArgs,
) -> Result<(), (CliError, bool)> {
    let config = HttpConfig {
        listen: args.listen,
        tokens,
        max_body_bytes: args.max_body,
        max_concurrent_requests: args.max_concurrency,
        request_timeout: Duration::from_millis(args.timeout_ms),
        event_poll_timeout: EVENT_POLL,
        ..HttpConfig::default()
    };
    let server = HttpServer::bind(dispatcher, events, config)
        .await
        .map_err(|e| match e {
            HttpError::NonLoopbackWithoutTokens(_) | HttpError::InvalidConfig(_) => {
                CliError::usage(e.to_string())
            }
            HttpError::Bind { .. } => CliError::transport(e.to_string()),
        })
        .map_err(|e| (e, false))?;
    server.set_readiness(readiness);
    let addr = server.local_addr();
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{LISTENING}{addr}");
        let _ = out.flush();
    }
    server.serve(shutdown_signal()).await.map_err(|e| {
        (
            CliError::transport(format!("the HTTP server failed: {e}")),
            true,
        )
    })?;
    tracing::info!("HTTP server stopped");
    Ok(())
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
