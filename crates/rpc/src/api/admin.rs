//! The `admin.*` methods: SLA tick, log verification, read-model rebuild, online backup, and
//! setting a manual clock. The engine decides who may call them (permissions `engine_tick`,
//! `engine_verify`, `engine_rebuild`, `engine_backup`, `engine_clock` in the policy's grants;
//! by default only the `admin` role); anyone else gets `forbidden` (-32005).

use super::errors::{self, engine_error};
use super::params::{ActorParam, acting_actor};
use super::results::TickResult;
use crate::{CallContext, Method, MethodError};
use chrono::{DateTime, Utc};
use opsledger::core::{Actor, Permission};
use opsledger::{Clock, Engine, ManualClock};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Params of an admin method without arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminParams {
    /// Who acts, on trusted local transports only (see the command methods).
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// `admin.tick` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TickParams {
    /// The instant to evaluate clocks at (default: the engine clock's now; not ahead of it).
    #[serde(default)]
    pub now: Option<DateTime<Utc>>,
    /// Who acts, on trusted local transports only (see the command methods).
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// What `admin.verify` found.
#[derive(Debug, Serialize, JsonSchema)]
pub struct VerifyResult {
    /// True when no fault was found.
    pub clean: bool,
    /// The head the scan covered.
    pub head: u64,
    /// Events read and checked.
    pub events_checked: u64,
    /// Distinct streams seen.
    pub streams: u64,
    /// Index entries checked.
    pub index_entries_checked: u64,
    /// Faults found in total.
    pub fault_count: u64,
    /// The faults reported (bounded), in words.
    pub faults: Vec<String>,
}

/// What `admin.rebuild` did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RebuildResult {
    /// The log's head.
    pub head: u64,
    /// The position the rebuilt read models reflect.
    pub views_checkpoint: u64,
}

/// `admin.backup` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupParams {
    /// Where the copy goes: an absolute path on the server's file system that does not exist
    /// yet, in a directory that does. It becomes a data directory of its own.
    pub to: PathBuf,
    /// Who acts, on trusted local transports only (see the command methods).
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// What `admin.backup` wrote.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BackupResult {
    /// The new data directory, as given.
    pub to: PathBuf,
    /// The last position in the copy: the copy holds the events at positions 1 to `head`.
    pub head: u64,
    /// The size of the copy's files, in bytes.
    pub bytes: u64,
}

/// `admin.set_clock` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetClockParams {
    /// The engine clock's new instant (RFC 3339): not before its current one, nor before the
    /// last recorded event.
    pub now: DateTime<Utc>,
    /// Who acts, on trusted local transports only (see the command methods).
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// The engine clock after `admin.set_clock`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ClockResult {
    /// The engine clock's instant.
    pub now: DateTime<Utc>,
}

/// The engine's manual clock, moved forward one caller at a time: the check that the new
/// instant is not behind and the move happen under one lock, so two callers can never take it
/// back between them.
struct SettableClock {
    clock: Arc<ManualClock>,
    moving: Mutex<()>,
}

impl SettableClock {
    /// `clock` if it is the one `engine` reads.
    fn of(engine: &Engine, clock: Option<Arc<ManualClock>>) -> Option<SettableClock> {
        let clock = clock?;
        let engine_clock = engine.clock();
        let same = std::ptr::addr_eq(Arc::as_ptr(&engine_clock), Arc::as_ptr(&clock));
        if !same {
            tracing::warn!(
                "the manual clock given is not the engine's clock: admin.set_clock is off"
            );
            return None;
        }
        Some(SettableClock {
            clock,
            moving: Mutex::new(()),
        })
    }

    /// Moves the clock to `to`, refusing an instant before the clock's now or the log's last
    /// recorded instant (`recorded_at` never goes back).
    fn set(&self, engine: &Engine, to: DateTime<Utc>) -> Result<DateTime<Utc>, MethodError> {
        let _one_at_a_time = self
            .moving
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = self.clock.now();
        let head = engine.head().map_err(engine_error)?;
        let last_recorded = match head {
            0 => None,
            head => engine
                .events(head, 1)
                .map_err(engine_error)?
                .first()
                .map(|e| e.recorded_at),
        };
        let floor = last_recorded.map_or(now, |t| t.max(now));
        if to < floor {
            return Err(errors::invalid_input(
                "now",
                format!(
                    "{to} is before {floor}, the engine clock's present; the clock only moves \
                     forward (the log's recorded instants never go back)"
                ),
            ));
        }
        self.clock.set(to);
        Ok(to)
    }
}

/// The acting actor, if the engine's policy grants it `permission` (by default admins only).
fn admin(
    engine: &Engine,
    ctx: &CallContext,
    claimed: Option<ActorParam>,
    permission: Permission,
) -> Result<Actor, MethodError> {
    let actor = acting_actor(ctx, claimed)?;
    engine.authorize(&actor, permission).map_err(engine_error)?;
    Ok(actor)
}

/// The `admin.*` methods; `admin.set_clock` moves `manual_clock` if it is the engine's clock.
pub(super) fn methods(engine: &Arc<Engine>, manual_clock: Option<Arc<ManualClock>>) -> Vec<Method> {
    let doc = |m: Method| {
        let mut m = m.by_name_only();
        for code in ["forbidden", "unknown_role", "store", "views"] {
            if let Some(row) = errors::error_code(code) {
                m = m.error(row.code, format!("{}: {}", row.domain_code, row.meaning));
            }
        }
        m
    };
    let tick = {
        let engine = engine.clone();
        doc(Method::new(
            "admin.tick",
            move |ctx: &CallContext, p: TickParams| -> Result<TickResult, MethodError> {
                admin(&engine, ctx, p.actor, Permission::EngineTick)?;
                let now = p.now.unwrap_or_else(|| engine.clock().now());
                engine
                    .tick(now)
                    .map(|r| TickResult::from(&r))
                    .map_err(engine_error)
            },
        ))
        .summary("Records due SLA thresholds and breaches; auto-closes resolved incidents")
        .description("Runs the engine's tick at `now` (default: the engine clock): thresholds and breaches that became due are recorded, the escalations breached definitions ask for are carried out, and resolved incidents past the auto-close delay are closed, each exactly once. Needs the `engine_tick` permission (by default: the `admin` role).")
    };
    let verify = {
        let engine = engine.clone();
        doc(Method::new(
            "admin.verify",
            move |ctx: &CallContext, p: AdminParams| -> Result<VerifyResult, MethodError> {
                admin(&engine, ctx, p.actor, Permission::EngineVerify)?;
                let r = engine.verify().map_err(engine_error)?;
                Ok(VerifyResult {
                    clean: r.is_clean(),
                    head: r.head.0,
                    events_checked: r.events_checked,
                    streams: r.streams,
                    index_entries_checked: r.index_entries_checked,
                    fault_count: r.fault_count,
                    faults: r.faults.iter().map(ToString::to_string).collect(),
                })
            },
        ))
        .summary("Checks the whole log and its indexes")
        .description("Reads every stored event, checks checksums, density of positions and versions, and the indexes. Needs the `engine_verify` permission (by default: the `admin` role).")
    };
    let rebuild = {
        let engine = engine.clone();
        doc(Method::new(
            "admin.rebuild",
            move |ctx: &CallContext, p: AdminParams| -> Result<RebuildResult, MethodError> {
                admin(&engine, ctx, p.actor, Permission::EngineRebuild)?;
                engine.rebuild_views().map_err(engine_error)?;
                let s = engine.stats().map_err(engine_error)?;
                Ok(RebuildResult {
                    head: s.head,
                    views_checkpoint: s.views_checkpoint,
                })
            },
        ))
        .summary("Rebuilds the read models from the log")
        .description("Wipes the read models (a cache) and projects the whole log again. Needs the `engine_rebuild` permission (by default: the `admin` role).")
    };
    let backup = {
        let engine = engine.clone();
        doc(Method::new(
            "admin.backup",
            move |ctx: &CallContext, p: BackupParams| -> Result<BackupResult, MethodError> {
                admin(&engine, ctx, p.actor, Permission::EngineBackup)?;
                check_backup_target(&p.to)?;
                engine.backup(&p.to).map_err(engine_error)?;
                let head = head_of_copy(&p.to)?;
                let bytes = bytes_under(&p.to).map_err(|e| {
                    MethodError::internal(format!("cannot measure {}: {e}", p.to.display()))
                })?;
                Ok(BackupResult {
                    to: p.to,
                    head,
                    bytes,
                })
            },
        ))
        .summary("Writes a consistent copy of the log and read models to a new directory")
        .description("Copies the engine's data (the log and the read models, as of one instant) into `to`, a new directory on the server, while the server keeps serving. The copy is written beside `to` and renamed into place when complete, so `to` is either a whole copy or absent. It is a data directory: `opsledger serve --data <to>` opens it. `to` must be an absolute path that does not exist yet (nor `<to>.partial`), in an existing directory; otherwise -32602. A backend that cannot copy itself while in use answers `store`. Needs the `engine_backup` permission (by default: the `admin` role).")
    };
    let set_clock = {
        let engine = engine.clone();
        let clock = SettableClock::of(&engine, manual_clock);
        let mut m = Method::new(
            "admin.set_clock",
            move |ctx: &CallContext, p: SetClockParams| -> Result<ClockResult, MethodError> {
                admin(&engine, ctx, p.actor, Permission::EngineClock)?;
                let Some(clock) = &clock else {
                    return Err(errors::not_supported(
                        "admin.set_clock",
                        "this server runs on the system clock; start it with `--clock manual` \
                         to set its time",
                    ));
                };
                clock.set(&engine, p.now).map(|now| ClockResult { now })
            },
        )
        .by_name_only()
        .summary("Moves a manual engine clock forward (tests and demos)")
        .description("Sets the engine clock, which stamps every recorded event and which `admin.tick` and the SLA scheduler read, to `now`. Only on a server started with a manual clock (`opsledger serve --clock manual`); otherwise `not_supported`. The clock only moves forward: an instant before its present (or before the last recorded event) is refused with `invalid_input` and nothing changes. Needs the `engine_clock` permission (by default: the `admin` role).");
        for code in [
            "forbidden",
            "unknown_role",
            "not_supported",
            "invalid_input",
        ] {
            if let Some(row) = errors::error_code(code) {
                m = m.error(row.code, format!("{}: {}", row.domain_code, row.meaning));
            }
        }
        m
    };
    vec![tick, verify, rebuild, backup, set_clock]
}

/// Refuses a backup target the caller cannot have meant: relative (to the server's working
/// directory), already there, a leftover `.partial` beside it (the store would replace it), or
/// in a directory that does not exist.
fn check_backup_target(to: &Path) -> Result<(), MethodError> {
    let refuse = |reason: String| Err(MethodError::invalid_params_at("to", reason));
    if !to.is_absolute() {
        return refuse(format!(
            "{} is not an absolute path; give the full path on the server",
            to.display()
        ));
    }
    if to.exists() {
        return refuse(format!(
            "{} exists already; a backup goes to a new directory",
            to.display()
        ));
    }
    let Some(name) = to.file_name() else {
        return refuse(format!("{} names no directory", to.display()));
    };
    let mut partial = name.to_owned();
    partial.push(".partial");
    let partial = to.with_file_name(partial);
    if partial.exists() {
        return refuse(format!(
            "{} exists (left over from an interrupted backup?); remove it first",
            partial.display()
        ));
    }
    match to.parent() {
        Some(parent) if parent.is_dir() => Ok(()),
        _ => refuse(format!(
            "the parent directory of {} does not exist",
            to.display()
        )),
    }
}

/// The head of the copy at `to`, read from the copy itself (the engine's own head may have
/// moved on since the copy's instant). Opened for writing (nothing is written): only a
/// writer's close leaves no `-wal`/`-shm` files beside the copy.
fn head_of_copy(to: &Path) -> Result<u64, MethodError> {
    let storage = opsledger::open_storage(to, opsledger::store::StoreConfig::default(), false)
        .map_err(engine_error)?;
    let head = storage.log().head();
    let closed = storage.close(0);
    let head = head.map_err(|e| engine_error(e.into()))?;
    closed.map_err(|e| engine_error(e.into()))?;
    Ok(head.0)
}

/// The total size of the files under `dir`.
fn bytes_under(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            bytes_under(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}
