//! The command line, as clap derive types.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The data directory used when `--data` is not given.
pub const DEFAULT_DATA_DIR: &str = "./opsledger-data";

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the operation answered no: `call` got a JSON-RPC error, `verify` found faults,
     `policy validate` found problems, `policy publish` was refused
  2  invalid command line or input (nothing was written)
  3  data directory or engine failure (missing, not empty, locked, corrupt, I/O)
  4  transport failure (server unreachable, HTTP error such as 401 or 413, cannot bind)";

/// `opsledger --version`: the program's version and the JSON-RPC API version it serves.
fn version_text() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        format!(
            "{} (JSON-RPC API {})",
            env!("CARGO_PKG_VERSION"),
            opsledger_rpc::api::API_VERSION
        )
    })
}

/// opsledger: an event-sourced ITIL workflow engine (incidents, problems, changes, SLAs, KPIs).
#[derive(Debug, Parser)]
#[command(name = "opsledger", version = version_text(), about, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve JSON-RPC 2.0 over HTTP (POST /rpc, GET /events) or stdio, on an embedded engine.
    Serve(ServeArgs),
    /// Call one JSON-RPC method, in-process on a data directory or over HTTP.
    Call(CallArgs),
    /// Check the integrity of the event log and the projections.
    Verify(DataArgs),
    /// Write every stored event as JSON Lines.
    Export(ExportArgs),
    /// Load events exported by `opsledger export` into an empty data directory.
    Import(ImportArgs),
    /// Load services, configuration items and their relations from a CSV or JSON file into
    /// the service model (the whole file is checked first; nothing is written on an error).
    ImportCmdb(ImportCmdbArgs),
    /// Rebuild the projections (read models) from the event log.
    Rebuild(DataArgs),
    /// Copy every event into a new data directory, with the same or another storage backend.
    Migrate(MigrateArgs),
    /// Write a consistent copy of a data directory, in use by a server or not, to a new
    /// directory.
    Backup(BackupArgs),
    /// Print the KPI report (MTTA, MTTR, SLA compliance, backlog, change success, ...).
    Kpi(KpiArgs),
    /// Print the state diagrams of the lifecycles (Mermaid), generated from the transition tables.
    Diagram(DiagramArgs),
    /// Print or write the JSON Schemas of commands, events and states, or the OpenRPC document.
    Schema(SchemaArgs),
    /// Read, check, compare and publish the policy (SLAs, calendars, grants, approvals,
    /// windows), on a data directory or a running server.
    Policy(PolicyArgs),
}

/// `--data DIR` or `--store URL`.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// The data directory (DIR/opsledger.db, or a sled log in DIR/log).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    pub data: PathBuf,
    /// A shared store instead of a data directory: a PostgreSQL URL (`postgres://USER@HOST/DB`,
    /// `?schema=NAME` for a schema other than `opsledger`), as for `serve --store`; servers may
    /// keep serving it. Set it in `OPSLEDGER_STORE` to keep a password off the command line.
    #[arg(
        long,
        value_name = "URL",
        env = "OPSLEDGER_STORE",
        hide_env_values = true,
        conflicts_with = "data"
    )]
    pub store: Option<String>,
}

impl DataArgs {
    /// Where the data is: `--store`, else `--data`.
    pub fn location(&self) -> crate::data::Location {
        crate::data::Location::new(&self.data, self.store.as_deref())
    }
}

/// `opsledger serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The data directory, created if missing.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    pub data: PathBuf,
    /// A shared store instead of a data directory: a PostgreSQL URL
    /// (`postgres://USER:PASSWORD@HOST/DB`, `?schema=NAME` for a schema other than
    /// `opsledger`). Several servers may serve one database at once. Set it in
    /// `OPSLEDGER_STORE` to keep a password off the command line; logs never show it.
    #[arg(
        long,
        value_name = "URL",
        env = "OPSLEDGER_STORE",
        conflicts_with = "data"
    )]
    pub store: Option<String>,
    /// Serve newline-delimited JSON-RPC on stdin/stdout (a trusted local parent process:
    /// params may name the acting actor).
    #[arg(long, conflicts_with_all = ["listen", "token_file"])]
    pub stdio: bool,
    /// The HTTP listen address, IP:PORT (e.g. `127.0.0.1:7700` or `[::1]:7700`). A non-loopback
    /// address needs --token-file. Port 0 picks a free port; the bound address is printed on
    /// stdout as `opsledger listening on http://ADDR`.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7700")]
    pub listen: SocketAddr,
    /// Bearer tokens (a JSON object: token -> {"actor", "roles"}); over HTTP the acting actor
    /// always comes from the token.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The largest request (HTTP body or stdio line), in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_body: usize,
    /// How many HTTP requests run at once (more wait).
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_concurrency: usize,
    /// The longest an HTTP request may take, in milliseconds (408 after it).
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub timeout_ms: u64,
    /// Run the background SLA scheduler (records thresholds, breaches and auto-closes as they
    /// fall due). On by default.
    #[arg(long, overrides_with = "no_scheduler")]
    pub scheduler: bool,
    /// Do not run the background SLA scheduler (`admin.tick` still works).
    #[arg(long)]
    pub no_scheduler: bool,
    /// The scheduler's interval, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub tick_interval: u64,
    /// Do not run the webhook delivery worker (subscriptions are still recorded, and their
    /// deliveries queued and sent once a server with the worker runs).
    #[arg(long)]
    pub no_webhooks: bool,
    /// How often the webhook worker looks for events to deliver, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub webhook_poll_ms: u64,
    /// The longest one webhook request may take, in milliseconds (a slower receiver is a
    /// failed attempt); an attempt's lease is this plus one second.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,
    /// Attempts per webhook delivery before it is dead-lettered.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub webhook_max_attempts: u32,
    /// The wait after a first failed attempt, in milliseconds (doubled after each further one).
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub webhook_first_delay_ms: u64,
    /// The longest wait between attempts, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 3_600_000)]
    pub webhook_max_delay_ms: u64,
    /// Base URL of record links in webhook payloads (`<base>/INC0000001`).
    #[arg(long, value_name = "URL")]
    pub webhook_link_base: Option<String>,
    /// A policy document (TOML or JSON) to put in force: published as the next version when
    /// it differs from the version in force (one line on stderr says which). An invalid
    /// document stops the server before anything is written, with every problem listed.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The engine clock. `manual` starts at the present and then moves only when an admin
    /// calls `admin.set_clock` (tests and demos: SLA targets fall due without waiting); only
    /// on a loopback address or with --stdio.
    #[arg(long, value_enum, value_name = "CLOCK", default_value = "system")]
    pub clock: ClockKind,
    /// When an acknowledged write is on disk. `per-commit`: each write is synced before it is
    /// acknowledged (nothing acknowledged is lost, even on power loss). `group-commit`:
    /// concurrent writes share one sync, each still acknowledged only once synced (same
    /// guarantee, fewer syncs when several clients write). `buffered`: acknowledged before the
    /// sync (on SQLite a crash of the process loses nothing, a power loss or kernel crash the
    /// writes since the last checkpoint, up to 40 MiB of them; on a sled directory a process
    /// crash loses what sled's flusher had not synced). docs/OPERATIONS.md has the figures.
    #[arg(long, value_enum, value_name = "MODE", default_value = "per-commit")]
    pub durability: DurabilityArg,
    /// Log lines as `text` (for people) or `json` (one object per line, for collectors).
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// Serve GET /metrics (Prometheus) on this address, without authentication, instead of on
    /// the main listener behind the tokens. Keep it on an internal network.
    #[arg(long, value_name = "ADDR", conflicts_with = "stdio")]
    pub metrics_listen: Option<SocketAddr>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key). SIGHUP reads both again.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "stdio"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_cert",
        conflicts_with = "stdio"
    )]
    pub tls_key: Option<PathBuf>,
    /// An origin whose browser pages may call the server (CORS), e.g.
    /// `https://tools.example.com` (repeatable). None by default: CORS off.
    #[arg(long = "cors-origin", value_name = "ORIGIN", conflicts_with = "stdio")]
    pub cors_origins: Vec<String>,
    /// A host name the server answers to when it runs without tokens, besides localhost and
    /// its address (repeatable). Other Host headers get 421 (DNS-rebinding protection).
    #[arg(long = "allowed-host", value_name = "NAME", conflicts_with = "stdio")]
    pub allowed_hosts: Vec<String>,
    /// The most HTTP connections open at once (one more is closed at once).
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_connections: usize,
    /// The most HTTP connections one client IP address may hold open.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_connections_per_client: usize,
    /// Also register the JSON-RPC specification's example methods (conformance tests only).
    #[cfg(feature = "spec-fixtures")]
    #[arg(long, hide = true)]
    pub spec_fixtures: bool,
}

impl ServeArgs {
    /// Whether the scheduler runs (the last of --scheduler / --no-scheduler wins; on by
    /// default).
    pub fn scheduler_enabled(&self) -> bool {
        !self.no_scheduler
    }

    /// Whether the spec fixtures were asked for (always false without the feature).
    pub fn spec_fixtures(&self) -> bool {
        #[cfg(feature = "spec-fixtures")]
        {
            self.spec_fixtures
        }
        #[cfg(not(feature = "spec-fixtures"))]
        {
            false
        }
    }
}

/// `serve --durability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DurabilityArg {
    /// Each write synced before it is acknowledged.
    PerCommit,
    /// Concurrent writes share a sync; each acknowledged once synced.
    GroupCommit,
    /// Acknowledged before the sync.
    Buffered,
}

/// `serve --log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Which clock the engine of `serve` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClockKind {
    /// The operating system's clock.
    System,
    /// A clock that starts at the present and moves only with `admin.set_clock`.
    Manual,
}

/// `opsledger call`.
#[derive(Debug, Args)]
pub struct CallArgs {
    /// Where to call: a data directory in process (created if missing; a trusted local caller)
    /// or a running server.
    #[command(flatten)]
    pub target: Target,
    /// The acting actor, added to the params as `"actor": {"id", "roles"}` unless they name
    /// one (in-process only: over HTTP the token decides who acts).
    #[arg(long, value_name = "ID", conflicts_with = "url")]
    pub actor: Option<String>,
    /// A role of --actor (repeatable).
    #[arg(long = "role", value_name = "ROLE", requires = "actor")]
    pub roles: Vec<String>,
    /// The method, e.g. `incident.open`, `query.kpis`, `rpc.discover`.
    #[arg(value_name = "METHOD")]
    pub method: String,
    /// The params as JSON (an object or an array); `-` reads them from stdin.
    #[arg(value_name = "PARAMS_JSON")]
    pub params: Option<String>,
}

/// `opsledger export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Where the data is.
    #[command(flatten)]
    pub source: DataArgs,
    /// Where to write (`-`: stdout). A file is written whole or not at all.
    #[arg(long, value_name = "FILE", default_value = "-")]
    pub out: PathBuf,
}

/// `opsledger import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The data directory to create (it must not exist, or be empty).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    pub data: PathBuf,
    /// A PostgreSQL URL to import into instead (`postgres://USER@HOST/DB`, `?schema=NAME`):
    /// the schema (default `opsledger`) must not exist; it is written as `NAME_partial` and
    /// renamed once complete. Also read from `OPSLEDGER_STORE`.
    #[arg(
        long,
        value_name = "URL",
        env = "OPSLEDGER_STORE",
        hide_env_values = true,
        conflicts_with = "data"
    )]
    pub store: Option<String>,
    /// The JSON Lines file written by `opsledger export`.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// `opsledger import-cmdb`.
#[derive(Debug, Args)]
pub struct ImportCmdbArgs {
    /// The data directory (created when missing).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    pub data: PathBuf,
    /// Who the changes are recorded as (acting with the admin role).
    #[arg(long, value_name = "ID", default_value = "cmdb-import")]
    pub actor: String,
    /// The file: `.csv` (a header line, then one row per service, CI or relation) or `.json`
    /// (an array of rows with the same keys).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// A storage backend for a new data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// SQLite: the log and the projections in one file, DIR/opsledger.db (the default).
    Sqlite,
    /// sled: the log in DIR/log, the projections in DIR/views.sqlite3.
    Sled,
    /// PostgreSQL: the log and the projections in a schema of a shared database (`--to` is a
    /// `postgres://` URL; such a target is always PostgreSQL).
    Postgres,
}

impl std::fmt::Display for StoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoreKind::Sqlite => "sqlite",
            StoreKind::Sled => "sled",
            StoreKind::Postgres => "postgres",
        })
    }
}

/// `opsledger migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The data directory to copy (either backend; an SQLite one may be in use by a server),
    /// or a PostgreSQL URL (`postgres://USER@HOST/DB`, `?schema=NAME`; servers may keep
    /// serving it).
    #[arg(long, value_name = "DIR|URL")]
    pub from: PathBuf,
    /// The data directory to create (it must not exist, or be empty), written as
    /// `DIR.partial` and renamed once copied and checked; or a PostgreSQL URL whose schema
    /// (default `opsledger`) must not exist, written as schema `NAME_partial` and renamed.
    #[arg(long, value_name = "DIR|URL")]
    pub to: PathBuf,
    /// The storage backend of the new directory.
    #[arg(long, value_enum, value_name = "BACKEND", default_value = "sqlite")]
    pub store: StoreKind,
}

/// `opsledger backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The data directory to copy (a server may be using it).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    pub data: PathBuf,
    /// A PostgreSQL URL to back up instead (`postgres://USER@HOST/DB`, `?schema=NAME`; servers
    /// may keep serving it): its log as of one commit, copied and checked into a new SQLite
    /// data directory. Also read from `OPSLEDGER_STORE`.
    #[arg(
        long,
        value_name = "URL",
        env = "OPSLEDGER_STORE",
        hide_env_values = true,
        conflicts_with = "data"
    )]
    pub store: Option<String>,
    /// The directory to create with the copy (it must not exist). It is a data directory:
    /// `opsledger serve --data OUT` opens it.
    #[arg(value_name = "OUT")]
    pub out: PathBuf,
}

/// How KPIs are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupByArg {
    /// By priority.
    Priority,
    /// By assignment group.
    Group,
    /// By affected service.
    Service,
}

/// `opsledger kpi`.
#[derive(Debug, Args)]
pub struct KpiArgs {
    /// Where the data is.
    #[command(flatten)]
    pub source: DataArgs,
    /// Start of the reporting window (RFC 3339; default: the beginning of time).
    #[arg(long, value_name = "RFC3339")]
    pub from: Option<String>,
    /// End of the reporting window, exclusive (RFC 3339; default: now, or --as-of).
    #[arg(long, value_name = "RFC3339")]
    pub to: Option<String>,
    /// Split the figures by priority, assignment group or service.
    #[arg(long, value_name = "BY")]
    pub group_by: Option<GroupByArg>,
    /// Answer as of this recorded instant (RFC 3339): later facts are ignored.
    #[arg(long, value_name = "RFC3339")]
    pub as_of: Option<String>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Which lifecycle to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiagramWhich {
    /// The incident lifecycle and the major-incident overlay.
    Incident,
    /// The problem lifecycle.
    Problem,
    /// The change lifecycle.
    Change,
    /// The SLA instance.
    Sla,
    /// All of them.
    All,
}

/// Output format of `diagram`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiagramFormat {
    /// Mermaid `stateDiagram-v2` text only.
    Mermaid,
    /// Markdown: a title, the Mermaid block and the transition table.
    Markdown,
}

/// `opsledger diagram`.
#[derive(Debug, Args)]
pub struct DiagramArgs {
    /// Which lifecycle.
    #[arg(value_enum, default_value = "all")]
    pub which: DiagramWhich,
    /// Mermaid text, or Markdown with the transition table.
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: DiagramFormat,
}

/// `opsledger schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The OpenRPC document of the JSON-RPC API (what `rpc.discover` returns) instead of the
    /// JSON Schemas.
    #[arg(long)]
    pub openrpc: bool,
    /// Write one file per document into DIR (created if missing) instead of printing.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `opsledger policy`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// What to do with the policy.
    #[command(subcommand)]
    pub command: PolicyCommand,
}

/// The `policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print a published version's document (TOML by default).
    Get(PolicyGetArgs),
    /// Check a document without publishing it: every problem, `path: message` (exit 1 when
    /// there is one).
    Validate(PolicyFileArgs),
    /// What publishing a document would change: settings, and the SLA targets of open
    /// records.
    Diff(PolicyFileArgs),
    /// Publish a document as the next version (an admin's permission by default).
    Publish(PolicyPublishArgs),
    /// The published versions, oldest first.
    History(Target),
}

/// Where a subcommand acts: a data directory in process, or a running server.
#[derive(Debug, Args)]
pub struct Target {
    /// The data directory, opened in process (default ./opsledger-data). While a server holds
    /// it, go through the server with --url.
    #[arg(long, value_name = "DIR", conflicts_with = "url")]
    pub data: Option<PathBuf>,
    /// A running server, e.g. http://127.0.0.1:7700 (`/rpc` is added when the URL has no
    /// path).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The bearer token for --url.
    #[arg(
        long,
        env = "OPSLEDGER_TOKEN",
        hide_env_values = true,
        requires = "url"
    )]
    pub token: Option<String>,
}

/// The notation of a policy document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyFormatArg {
    /// TOML.
    Toml,
    /// JSON.
    Json,
}

/// `opsledger policy get`.
#[derive(Debug, Args)]
pub struct PolicyGetArgs {
    /// Where the policy lives.
    #[command(flatten)]
    pub target: Target,
    /// This version (1 is the first) instead of the one in force.
    #[arg(long, value_name = "N", conflicts_with = "as_of")]
    pub version: Option<u32>,
    /// The version in force at this recorded instant (RFC 3339) instead.
    #[arg(long, value_name = "RFC3339")]
    pub as_of: Option<String>,
    /// How to print the document.
    #[arg(long, value_enum, default_value = "toml")]
    pub format: PolicyFormatArg,
}

/// `opsledger policy validate|diff FILE`.
#[derive(Debug, Args)]
pub struct PolicyFileArgs {
    /// Where the policy lives (its history is checked too).
    #[command(flatten)]
    pub target: Target,
    /// The document (`-`: stdin).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The document's notation (default: from the file name, `.toml` or `.json`, else JSON
    /// when the text starts with `{`, else TOML).
    #[arg(long, value_enum)]
    pub format: Option<PolicyFormatArg>,
}

/// `opsledger policy publish FILE`.
#[derive(Debug, Args)]
pub struct PolicyPublishArgs {
    /// The document and where the policy lives.
    #[command(flatten)]
    pub document: PolicyFileArgs,
    /// Why, for the history (for example the change that approved it).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Publish only if this is still the version in force (two editors who started from the
    /// same version cannot both publish).
    #[arg(long, value_name = "N")]
    pub expected_version: Option<u32>,
    /// Who publishes, on a data directory (over --url the token decides).
    #[arg(long, value_name = "ID", conflicts_with = "url")]
    pub actor: Option<String>,
    /// A role of --actor (repeatable); publishing needs `policy_publish`, by default the
    /// `admin` role's.
    #[arg(long = "role", value_name = "ROLE", requires = "actor")]
    pub roles: Vec<String>,
}

macro_rules! location_of {
    ($($args:ty),*) => {$(
        impl $args {
            /// Where the data is: `--store`, else `--data`.
            pub fn location(&self) -> crate::data::Location {
                crate::data::Location::new(&self.data, self.store.as_deref())
            }
        }
    )*};
}

location_of!(ImportArgs, BackupArgs);

impl ExportArgs {
    /// Where the data is: `--store`, else `--data`.
    pub fn location(&self) -> crate::data::Location {
        self.source.location()
    }
}

impl KpiArgs {
    /// Where the data is: `--store`, else `--data`.
    pub fn location(&self) -> crate::data::Location {
        self.source.location()
    }
}
