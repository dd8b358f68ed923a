//! Process managers: pure functions from an event (and read-model facts) to follow-up commands.
//!
//! The engine runs them right after a command's events are stored and projected, in the
//! caller's thread, as the system actor `<system id>:<process>` (see
//! [`EngineConfig::system_actor`](crate::EngineConfig::system_actor)). Each follow-up's events
//! carry the causing event's id as causation id and the causing request's correlation id, and
//! get deterministic ids derived from (causing event id, process, target, index). Before
//! running a follow-up the engine looks its first derived id up in the log: if it is there,
//! the follow-up already ran. So re-running the process managers over the same events (after a
//! crash, from their checkpoint) never applies anything twice.
//!
//! Reactions read the *current* read models, which may be later than their cause (a racing
//! command, the re-run at open). The parent cascades are therefore guarded on their cause
//! (see [`react_to`]): a `parent_resolution` whose parent was reopened since, a
//! `parent_reopen` whose parent was resolved or canceled since, a `parent_hold` whose parent
//! resumed, was resolved or canceled since, or a `parent_resume` whose parent went on hold
//! again since, is stale and yields nothing;
//! the engine runs each cascade (guard and follow-ups) under one lock, so an opposite cascade
//! racing it sees all of its follow-ups.
//!
//! | process | on | does |
//! |---|---|---|
//! | `parent_resolution` | `incident.resolved` of a parent | `ResolveFromParent` on each open child, with the parent's code and notes |
//! | `parent_reopen` | `incident.reopened` of a parent | `ReopenFromParent` on each resolved child |
//! | `parent_hold` | `incident.put_on_hold` of a parent | `PutOnHold` awaiting the parent on each child in progress (not a new one, not one on hold for its own reason) |
//! | `parent_resume` | `incident.resumed` of a parent | `Resume` on each child on hold awaiting this parent (never one held for its own reason) |
//! | `parent_release` | `incident.canceled` of a parent; `incident.resolved` of a parent while `resolved` is `ignore`; `incident.put_on_hold` awaiting a parent that is not on hold | a work note saying why, then `Resume`, on each child on hold awaiting that parent |
//! | `duplicate_cancel` | `incident.duplicate_linked` (the original records a duplicate) | `Cancel` of the duplicate as a duplicate of the original, unless it is resolved, closed or canceled already (its SLA clocks are canceled with it) |
//! | `problem_fix` | `problem.resolved` with `fix_applied` | `ResolveFromProblem` on each incident on hold awaiting the problem |
//! | `fix_change_outcome` | `change.closed` or `change.canceled` of a change that fixes problems | `RecordFixChangeOutcome` (closed) or `RecordFixChangeCanceled` (canceled) on each problem still waiting for it, naming the change by its number (a successful change moves the problem on, per the core's rule; a canceled one is no longer waited for) |
//! | `link_mirror` | a link recorded on one side | the same link on the other side (parent/child, duplicate, problem/incident, change/problem, change/caused incident) |
//! | `duplicate_problem` | `problem.marked_duplicate` | links the duplicate's incidents and fixing changes to the original |
//! | `hold_move` | `problem.marked_duplicate` while the original is open | `PutOnHold` awaiting the original on each incident on hold awaiting the duplicate (so the original's fix resolves them) |
//! | `hold_release` | `incident.put_on_hold` awaiting a problem that is not open, `problem.resolved` without a fix, `problem.canceled`, `problem.closed`, `problem.marked_duplicate` of a problem no longer open | a work note saying why, then `Resume`, on each incident on hold awaiting the problem: no incident waits for a problem that will not fix it |
//! | `sla_attach` | `incident.opened`, `problem.created`, `incident.reprioritized`, `problem.reprioritized` | `attach` (`reattach`) of the policy's applicable SLA definitions on the record's SLA stream (run by the engine, see `Engine::tick` for the timer half) |
//! | `sla_escalation` | `sla.breached` of an incident whose definition asks for an escalation at breach | `escalate_functional` / `escalate_hierarchical` on the incident ([`react_to_sla`]) |
//!
//! The four parent cascades each follow one key of the policy's `incident.child_sync`
//! (`on_hold`, `resumed`, `resolved`, `reopened`; `follow` or `ignore`, in force when the
//! cause was appended; docs/POLICY.md has the table). A child never closes with its parent:
//! `incident.closed` and `incident.auto_closed` of a parent call for nothing.
//!
//! Alerts are routed by the engine itself (see [`Command::Alert`]).
//! Major incidents need no process: the core refuses `Close` of an accepted major incident
//! until its review is published, and refuses `AutoClose` of it altogether.

use crate::command::Command;
use crate::error::Result;
use crate::projections::view::RecordView;
use crate::record::{RecordEvent, RecordRef, RecordStatus};
use opsledger_core::change::{ChangeCommand, ChangeEvent, CloseCode as ChangeCloseCode};
use opsledger_core::incident::{
    CancelReason, HoldReason, IncidentCommand, IncidentEvent, IncidentStatusKind,
};
use opsledger_core::policy::ChildSyncPolicy;
use opsledger_core::problem::{ProblemCommand, ProblemEvent, ResolutionCode};
use opsledger_core::sla::{BreachEscalation, SlaEvent};
use opsledger_core::{ChangeId, IncidentId, ProblemId, RecordKind};
use uuid::Uuid;

/// Namespace of derived follow-up event ids.
const FOLLOW_UP_NAMESPACE: Uuid = Uuid::from_u128(0x9d0b_7c61_52e8_4a3f_a1c4_6e7b_2f08_d5a9);

/// A follow-up command and the process that wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reaction {
    /// The process manager.
    pub process: &'static str,
    /// The command to run.
    pub command: Command,
}

/// What process managers may know besides the event: the read models.
pub trait Facts {
    /// The current view of a record.
    fn view(&self, record: RecordRef) -> Result<Option<RecordView>>;
    /// Incidents on hold awaiting `problem`.
    fn incidents_awaiting(&self, problem: ProblemId) -> Result<Vec<IncidentId>>;
    /// The events of `record`'s stream after stream version `version`, decoded (used to tell
    /// whether a cascade's cause was superseded). The default knows no later events, which
    /// leaves only the current-status guard of [`react_to`].
    fn events_after(&self, record: RecordRef, version: u64) -> Result<Vec<RecordEvent>> {
        let _ = (record, version);
        Ok(Vec::new())
    }
}

/// The deterministic id of event `index` of the follow-up `process` runs on `target` because
/// of the event `cause`.
pub fn follow_up_event_id(cause: Uuid, process: &str, target: RecordRef, index: u32) -> Uuid {
    let mut name = Vec::with_capacity(64);
    name.extend_from_slice(cause.as_bytes());
    name.extend_from_slice(process.as_bytes());
    name.push(0);
    name.extend_from_slice(target.stream_name().as_bytes());
    name.push(0);
    name.extend_from_slice(&index.to_be_bytes());
    Uuid::new_v5(&FOLLOW_UP_NAMESPACE, &name)
}

/// Like [`follow_up_event_id`], for a reaction that shares its cause, process and target with
/// other reactions (e.g. `duplicate_problem` linking several incidents to one problem): the
/// `discriminator` (see [`reaction_discriminator`]) keeps their event ids apart. `None` gives
/// exactly [`follow_up_event_id`].
pub fn follow_up_event_id_with(
    cause: Uuid,
    process: &str,
    target: RecordRef,
    discriminator: Option<Uuid>,
    index: u32,
) -> Uuid {
    let Some(d) = discriminator else {
        return follow_up_event_id(cause, process, target, index);
    };
    let mut name = Vec::with_capacity(96);
    name.extend_from_slice(cause.as_bytes());
    name.extend_from_slice(process.as_bytes());
    name.push(0);
    name.extend_from_slice(target.stream_name().as_bytes());
    name.push(0);
    name.extend_from_slice(d.as_bytes());
    name.extend_from_slice(&index.to_be_bytes());
    Uuid::new_v5(&FOLLOW_UP_NAMESPACE, &name)
}

/// A stable discriminator of a reaction's command (a hash of its serialized form), for
/// [`follow_up_event_id_with`]. Stable across re-runs, unlike the reaction's ordinal (earlier
/// reactions may be gone on a re-run because they already applied).
pub fn reaction_discriminator(command: &Command) -> Uuid {
    let bytes = serde_json::to_vec(command).unwrap_or_default();
    Uuid::new_v5(&FOLLOW_UP_NAMESPACE, &bytes)
}

fn incident_view(facts: &dyn Facts, id: IncidentId) -> Result<Option<RecordView>> {
    facts.view(RecordRef::incident(id))
}

/// A parent's transition whose cascade reaches its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cascade {
    /// `incident.resolved`: `parent_resolution` (or `parent_release` under `ignore`).
    Resolved,
    /// `incident.reopened`: `parent_reopen`.
    Reopened,
    /// `incident.put_on_hold`: `parent_hold`.
    Held,
    /// `incident.resumed`: `parent_resume`.
    Resumed,
}

/// Whether the cascade caused by a parent's `cascade` event at stream version `cause_version`
/// is stale: the parent's current status is no longer one the cause produced, or (with a known
/// version) a later event of the parent's stream undid it (a reopen after the resolution; a
/// resolution or cancellation after the reopen; a resumption, resolution or cancellation after
/// the hold; a hold after the resumption), even if a still later event restored the status.
fn cascade_is_stale(
    facts: &dyn Facts,
    parent: &RecordView,
    cascade: Cascade,
    cause_version: Option<u64>,
) -> Result<bool> {
    use IncidentStatusKind as K;
    let RecordStatus::Incident(status) = parent.status else {
        return Ok(true);
    };
    let current_ok = match cascade {
        Cascade::Resolved => matches!(status, K::Resolved | K::Closed),
        Cascade::Reopened => !matches!(status, K::Resolved | K::Closed | K::Canceled),
        Cascade::Held => status == K::OnHold,
        Cascade::Resumed => status != K::OnHold,
    };
    if !current_ok {
        return Ok(true);
    }
    let Some(version) = cause_version else {
        return Ok(false);
    };
    if parent.version <= version {
        return Ok(false);
    }
    Ok(facts
        .events_after(parent.record, version)?
        .iter()
        .any(|later| {
            let RecordEvent::Incident(later) = later else {
                return false;
            };
            match cascade {
                Cascade::Resolved => matches!(later, IncidentEvent::Reopened { .. }),
                Cascade::Reopened => matches!(
                    later,
                    IncidentEvent::Resolved { .. } | IncidentEvent::Canceled { .. }
                ),
                Cascade::Held => matches!(
                    later,
                    IncidentEvent::Resumed { .. }
                        | IncidentEvent::Resolved { .. }
                        | IncidentEvent::Canceled { .. }
                ),
                Cascade::Resumed => matches!(later, IncidentEvent::PutOnHold { .. }),
            }
        }))
}

/// The parent `id`'s view when its `cascade` is not stale, else `None`.
fn live_parent(
    facts: &dyn Facts,
    id: IncidentId,
    cascade: Cascade,
    cause_version: Option<u64>,
) -> Result<Option<RecordView>> {
    match incident_view(facts, id)? {
        Some(parent) if !cascade_is_stale(facts, &parent, cascade, cause_version)? => {
            Ok(Some(parent))
        }
        Some(_) | None => Ok(None),
    }
}

/// The children of a parent's view, each with its current view.
fn children_of(facts: &dyn Facts, parent: &RecordView) -> Result<Vec<(IncidentId, RecordView)>> {
    let mut out = Vec::new();
    for child in parent
        .incident()
        .map(|d| d.children.clone())
        .unwrap_or_default()
    {
        if let Some(view) = incident_view(facts, child)? {
            out.push((child, view));
        }
    }
    Ok(out)
}

/// Whether `view` is an incident on hold awaiting its parent `parent`.
fn awaits_parent(view: &RecordView, parent: IncidentId) -> bool {
    view.incident()
        .is_some_and(|d| d.hold == Some(HoldReason::AwaitingParent { parent }))
}

/// An incident's human number (its id when it has none yet).
fn incident_number(facts: &dyn Facts, id: IncidentId) -> Result<String> {
    Ok(incident_view(facts, id)?
        .and_then(|v| v.number)
        .map_or_else(|| id.to_string(), |n| n.to_string()))
}

/// A work note saying why, then `Resume`, on each child of `parent` on hold awaiting it
/// (`parent_release`): a parent that will not resume releases its children.
fn release_children(
    facts: &dyn Facts,
    parent: &RecordView,
    id: IncidentId,
    why: &str,
    out: &mut Vec<Reaction>,
) -> Result<()> {
    let waiting: Vec<IncidentId> = children_of(facts, parent)?
        .into_iter()
        .filter(|(_, v)| awaits_parent(v, id))
        .map(|(child, _)| child)
        .collect();
    if waiting.is_empty() {
        return Ok(());
    }
    let note = format!(
        "parent {} {why}, so nothing will release this hold; work resumes here",
        incident_number(facts, id)?
    );
    for child in waiting {
        out.push(Reaction {
            process: PARENT_RELEASE,
            command: Command::Incident(IncidentCommand::AddWorkNote {
                id: child,
                text: note.clone(),
            }),
        });
        out.push(Reaction {
            process: PARENT_RELEASE,
            command: Command::Incident(IncidentCommand::Resume { id: child }),
        });
    }
    Ok(())
}

/// The process that puts in-progress children on hold with their parent.
pub(crate) const PARENT_HOLD: &str = "parent_hold";
/// The process that resumes the children held for their parent when it resumes.
pub(crate) const PARENT_RESUME: &str = "parent_resume";
/// The process that resumes children held for a parent that was canceled (or resolved
/// without them): nothing else would.
pub(crate) const PARENT_RELEASE: &str = "parent_release";
/// The process that cancels an open incident its original recorded as a duplicate.
pub(crate) const DUPLICATE_CANCEL: &str = "duplicate_cancel";

fn react_incident(
    e: &IncidentEvent,
    cause_version: Option<u64>,
    sync: &ChildSyncPolicy,
    facts: &dyn Facts,
) -> Result<Vec<Reaction>> {
    use IncidentEvent as E;
    let mut out = Vec::new();
    match e {
        E::PutOnHold { id, reason, .. } => {
            if let HoldReason::AwaitingProblem { problem } = reason {
                // The incident decider cannot see the problem: a hold on a problem that is no
                // longer open (or does not exist) would never be released, so it is released now.
                let awaited = facts.view(RecordRef::problem(*problem))?;
                let still_held = incident_view(facts, *id)?.is_some_and(|v| {
                    v.incident().is_some_and(|d| {
                        d.hold == Some(HoldReason::AwaitingProblem { problem: *problem })
                    })
                });
                if still_held && !awaited.as_ref().is_some_and(|v| v.open) {
                    let state = awaited.map_or_else(
                        || "does not exist".to_owned(),
                        |v| format!("is {}", v.status.name().replace('_', " ")),
                    );
                    let note = format!(
                        "{} {state}, so nothing will release this hold; work resumes here",
                        problem_number(facts, *problem)?
                    );
                    release(&[*id], &note, &mut out);
                }
            }
            // A hold awaiting a parent that is not on hold (placed by hand, or racing the
            // parent's resumption) would never be released: it is released now.
            if let HoldReason::AwaitingParent { parent } = reason {
                let held = incident_view(facts, *parent)?.is_some_and(|v| {
                    v.status == RecordStatus::Incident(IncidentStatusKind::OnHold)
                });
                let still_held =
                    incident_view(facts, *id)?.is_some_and(|v| awaits_parent(&v, *parent));
                if still_held && !held {
                    let note = format!(
                        "parent {} is not on hold, so nothing will release this hold; work resumes here",
                        incident_number(facts, *parent)?
                    );
                    out.push(Reaction {
                        process: PARENT_RELEASE,
                        command: Command::Incident(IncidentCommand::AddWorkNote {
                            id: *id,
                            text: note,
                        }),
                    });
                    out.push(Reaction {
                        process: PARENT_RELEASE,
                        command: Command::Incident(IncidentCommand::Resume { id: *id }),
                    });
                }
            }
            // A parent on hold holds its children in progress (a new child has no work to
            // pause; one already on hold keeps its own reason).
            if sync.on_hold.follows()
                && let Some(parent) = live_parent(facts, *id, Cascade::Held, cause_version)?
            {
                for (child, view) in children_of(facts, &parent)? {
                    if view.status == RecordStatus::Incident(IncidentStatusKind::InProgress) {
                        out.push(Reaction {
                            process: PARENT_HOLD,
                            command: Command::Incident(IncidentCommand::PutOnHold {
                                id: child,
                                reason: HoldReason::AwaitingParent { parent: *id },
                            }),
                        });
                    }
                }
            }
        }
        E::Resumed { id, .. } => {
            // Only the children held for this parent resume, never one held for its own reason.
            if sync.resumed.follows() {
                if let Some(parent) = live_parent(facts, *id, Cascade::Resumed, cause_version)? {
                    for (child, view) in children_of(facts, &parent)? {
                        if awaits_parent(&view, *id) {
                            out.push(Reaction {
                                process: PARENT_RESUME,
                                command: Command::Incident(IncidentCommand::Resume { id: child }),
                            });
                        }
                    }
                }
            } else if let Some(parent) = live_parent(facts, *id, Cascade::Resumed, cause_version)? {
                // `resumed = ignore` (which the policy allows only with `on_hold = ignore`):
                // children held for this parent under an earlier version would wait forever.
                release_children(
                    facts,
                    &parent,
                    *id,
                    "resumed and the policy does not resume its children",
                    &mut out,
                )?;
            }
        }
        E::Canceled { id, reason, .. } => {
            // A canceled parent never resumes: the children held for it go back to work.
            if let Some(parent) = incident_view(facts, *id)? {
                release_children(facts, &parent, *id, "was canceled", &mut out)?;
            }
            if let CancelReason::Duplicate { of } = reason {
                let linked = incident_view(facts, *of)?
                    .and_then(|v| v.incident().map(|d| d.duplicates.contains(id)));
                if linked == Some(false) {
                    out.push(mirror(Command::Incident(IncidentCommand::LinkDuplicate {
                        id: *of,
                        duplicate: *id,
                    })));
                }
            }
        }
        E::DuplicateLinked { id, duplicate, .. } => {
            // The duplicate leaves the backlog: canceled as a duplicate of this incident (its
            // SLA clocks are canceled with it), unless it is already resolved, closed or
            // canceled.
            let open = incident_view(facts, *duplicate)?.is_some_and(|v| {
                matches!(
                    v.status,
                    RecordStatus::Incident(
                        IncidentStatusKind::New
                            | IncidentStatusKind::InProgress
                            | IncidentStatusKind::OnHold
                    )
                )
            });
            // An original that is itself canceled (two incidents recorded as duplicates of each
            // other) keeps nothing open: the duplicate stays.
            let original_canceled = incident_view(facts, *id)?
                .is_some_and(|v| v.status == RecordStatus::Incident(IncidentStatusKind::Canceled));
            if open && !original_canceled {
                out.push(Reaction {
                    process: DUPLICATE_CANCEL,
                    command: Command::Incident(IncidentCommand::Cancel {
                        id: *duplicate,
                        reason: CancelReason::Duplicate { of: *id },
                    }),
                });
            }
        }
        E::Resolved {
            id, code, notes, ..
        } => {
            if let Some(parent) = live_parent(facts, *id, Cascade::Resolved, cause_version)? {
                if !sync.resolved.follows() {
                    // The children stay as they are, but none waits for a resolved parent.
                    release_children(facts, &parent, *id, "was resolved", &mut out)?;
                    return Ok(out);
                }
                for (child, view) in children_of(facts, &parent)? {
                    if view.open {
                        out.push(Reaction {
                            process: "parent_resolution",
                            command: Command::Incident(IncidentCommand::ResolveFromParent {
                                id: child,
                                parent: *id,
                                code: *code,
                                notes: notes.clone(),
                            }),
                        });
                    }
                }
            }
        }
        E::Reopened { id, .. } => {
            if sync.reopened.follows()
                && let Some(parent) = live_parent(facts, *id, Cascade::Reopened, cause_version)?
            {
                for (child, view) in children_of(facts, &parent)? {
                    if view.status == RecordStatus::Incident(IncidentStatusKind::Resolved) {
                        out.push(Reaction {
                            process: "parent_reopen",
                            command: Command::Incident(IncidentCommand::ReopenFromParent {
                                id: child,
                                parent: *id,
                            }),
                        });
                    }
                }
            }
        }
        E::ParentLinked { id, parent, .. } => {
            let linked = incident_view(facts, *parent)?
                .and_then(|v| v.incident().map(|d| d.children.contains(id)));
            if linked == Some(false) {
                out.push(mirror(Command::Incident(IncidentCommand::LinkChild {
                    id: *parent,
                    child: *id,
                })));
            }
        }
        E::ChildLinked { id, child, .. } => {
            let parent = incident_view(facts, *child)?.and_then(|v| v.incident().map(|d| d.parent));
            if parent == Some(None) {
                out.push(mirror(Command::Incident(IncidentCommand::LinkParent {
                    id: *child,
                    parent: *id,
                })));
            }
        }
        E::ProblemLinked { id, problem, .. } => {
            let linked = facts
                .view(RecordRef::problem(*problem))?
                .and_then(|v| v.problem().map(|d| d.incidents.contains(id)));
            if linked == Some(false) {
                out.push(mirror(Command::Problem(ProblemCommand::LinkIncident {
                    id: *problem,
                    incident: *id,
                })));
            }
        }
        E::CausingChangeLinked { id, change, .. } => {
            let linked = facts
                .view(RecordRef::change(*change))?
                .and_then(|v| v.change().map(|d| d.caused_incidents.contains(id)));
            if linked == Some(false) {
                out.push(mirror(Command::Change(
                    ChangeCommand::RecordCausedIncident {
                        id: *change,
                        incident: *id,
                    },
                )));
            }
        }
        // A child never closes with its parent: closing (or auto-closing) a parent does
        // nothing to its children.
        E::Opened { .. }
        | E::Acknowledged { .. }
        | E::Assigned { .. }
        | E::Reassigned { .. }
        | E::Closed { .. }
        | E::AutoClosed { .. }
        | E::Reprioritized { .. }
        | E::EscalatedFunctionally { .. }
        | E::EscalatedHierarchically { .. }
        | E::MajorProposed { .. }
        | E::MajorAccepted { .. }
        | E::MajorRejected { .. }
        | E::ReviewPublished { .. }
        | E::AlertCorrelated { .. }
        | E::ImpactStartRecorded { .. }
        | E::DetectionRecorded { .. }
        | E::WorkNoteAdded { .. }
        | E::CommentAdded { .. } => {}
    }
    Ok(out)
}

fn mirror(command: Command) -> Reaction {
    Reaction {
        process: "link_mirror",
        command,
    }
}

fn react_problem(e: &ProblemEvent, facts: &dyn Facts) -> Result<Vec<Reaction>> {
    use ProblemEvent as E;
    let mut out = Vec::new();
    match e {
        E::Resolved {
            id,
            code: ResolutionCode::FixApplied,
            notes,
            ..
        } => {
            let number = facts
                .view(RecordRef::problem(*id))?
                .and_then(|v| v.number)
                .map_or_else(|| id.to_string(), |n| n.to_string());
            for incident in facts.incidents_awaiting(*id)? {
                out.push(Reaction {
                    process: "problem_fix",
                    command: Command::Incident(IncidentCommand::ResolveFromProblem {
                        id: incident,
                        problem: *id,
                        notes: format!("Fixed by problem {number}: {notes}"),
                    }),
                });
            }
        }
        E::IncidentLinked { id, incident, .. } => {
            let linked = incident_view(facts, *incident)?
                .and_then(|v| v.incident().map(|d| d.problems.contains(id)));
            if linked == Some(false) {
                out.push(mirror(Command::Incident(IncidentCommand::LinkProblem {
                    id: *incident,
                    problem: *id,
                })));
            }
        }
        E::FixingChangeLinked { id, change, .. } => {
            let linked = facts
                .view(RecordRef::change(*change))?
                .and_then(|v| v.change().map(|d| d.fixes_problems.contains(id)));
            if linked == Some(false) {
                out.push(mirror(Command::Change(ChangeCommand::LinkFixesProblem {
                    id: *change,
                    problem: *id,
                })));
            }
        }
        E::MarkedDuplicate {
            id,
            of,
            linked_incidents,
            fixing_changes,
            ..
        } => {
            let original = facts.view(RecordRef::problem(*of))?;
            // The incidents waiting for the duplicate wait for the original from now on (one
            // `incident.put_on_hold` each says so); if the original is no longer open, nothing
            // will fix them: they go back to work.
            let waiting = facts.incidents_awaiting(*id)?;
            match original.as_ref().filter(|v| v.open) {
                Some(_) => {
                    for incident in &waiting {
                        out.push(Reaction {
                            process: HOLD_MOVE,
                            command: Command::Incident(IncidentCommand::PutOnHold {
                                id: *incident,
                                reason: HoldReason::AwaitingProblem { problem: *of },
                            }),
                        });
                    }
                }
                None => {
                    let note = format!(
                        "{} was marked a duplicate of {}, which is no longer open; work resumes here",
                        problem_number(facts, *id)?,
                        problem_number(facts, *of)?
                    );
                    release(&waiting, &note, &mut out);
                }
            }
            let Some(detail) = original.as_ref().and_then(|v| v.problem()) else {
                return Ok(out);
            };
            for incident in linked_incidents {
                if !detail.incidents.contains(incident) {
                    out.push(Reaction {
                        process: "duplicate_problem",
                        command: Command::Problem(ProblemCommand::LinkIncident {
                            id: *of,
                            incident: *incident,
                        }),
                    });
                }
            }
            for change in fixing_changes.keys() {
                if !detail.fixing_changes.contains_key(change) {
                    out.push(Reaction {
                        process: "duplicate_problem",
                        command: Command::Problem(ProblemCommand::LinkFixingChange {
                            id: *of,
                            change: *change,
                        }),
                    });
                }
            }
        }
        E::Resolved {
            id, code, notes, ..
        } => {
            let note = format!(
                "{} was resolved without a fix ({}): {notes}; work resumes here",
                problem_number(facts, *id)?,
                code.name().replace('_', " ")
            );
            release(&facts.incidents_awaiting(*id)?, &note, &mut out);
        }
        E::Canceled { id, reason, .. } => {
            let note = format!(
                "{} was canceled: {reason}; work resumes here",
                problem_number(facts, *id)?
            );
            release(&facts.incidents_awaiting(*id)?, &note, &mut out);
        }
        E::Closed { id, .. } => {
            // Normally nobody waits any more (resolution released them); a hold placed on a
            // resolved problem is released at its close.
            let note = format!(
                "{} was closed; work resumes here",
                problem_number(facts, *id)?
            );
            release(&facts.incidents_awaiting(*id)?, &note, &mut out);
        }
        E::Created { .. }
        | E::Assigned { .. }
        | E::Reprioritized { .. }
        | E::Assessed { .. }
        | E::AnalysisStarted { .. }
        | E::RootCauseRecorded { .. }
        | E::KnownErrorPublished { .. }
        | E::FixStarted { .. }
        | E::Reanalyzed { .. }
        | E::IncidentUnlinked { .. }
        | E::FixChangeOutcomeRecorded { .. }
        | E::WorkNoteAdded { .. } => {}
    }
    Ok(out)
}

/// The process that moves a duplicate's waiting incidents to the original problem.
pub(crate) const HOLD_MOVE: &str = "hold_move";
/// The process that returns incidents waiting for a problem that will not fix them to work.
pub(crate) const HOLD_RELEASE: &str = "hold_release";

/// A problem's human number (its id when it has none yet).
fn problem_number(facts: &dyn Facts, id: ProblemId) -> Result<String> {
    Ok(facts
        .view(RecordRef::problem(id))?
        .and_then(|v| v.number)
        .map_or_else(|| id.to_string(), |n| n.to_string()))
}

/// A work note saying why, then `Resume`, on each incident of `waiting`.
fn release(waiting: &[IncidentId], note: &str, out: &mut Vec<Reaction>) {
    for incident in waiting {
        out.push(Reaction {
            process: HOLD_RELEASE,
            command: Command::Incident(IncidentCommand::AddWorkNote {
                id: *incident,
                text: note.to_owned(),
            }),
        });
        out.push(Reaction {
            process: HOLD_RELEASE,
            command: Command::Incident(IncidentCommand::Resume { id: *incident }),
        });
    }
}

fn react_change(e: &ChangeEvent, facts: &dyn Facts) -> Result<Vec<Reaction>> {
    use ChangeEvent as E;
    let mut out = Vec::new();
    match e {
        E::Closed { id, code, .. } => {
            let successful = match code {
                ChangeCloseCode::Successful | ChangeCloseCode::SuccessfulWithIssues => true,
                ChangeCloseCode::Unsuccessful { .. } => false,
            };
            fix_outcomes(*id, facts, &mut out, |problem, change_name| {
                ProblemCommand::RecordFixChangeOutcome {
                    id: problem,
                    change: *id,
                    successful,
                    change_name,
                }
            })?;
        }
        E::Canceled { id, .. } => {
            fix_outcomes(*id, facts, &mut out, |problem, change_name| {
                ProblemCommand::RecordFixChangeCanceled {
                    id: problem,
                    change: *id,
                    change_name,
                }
            })?;
        }
        E::ProblemLinked { id, problem, .. } => {
            let linked = facts
                .view(RecordRef::problem(*problem))?
                .and_then(|v| v.problem().map(|d| d.fixing_changes.contains_key(id)));
            if linked == Some(false) {
                out.push(mirror(Command::Problem(ProblemCommand::LinkFixingChange {
                    id: *problem,
                    change: *id,
                })));
            }
        }
        E::CausedIncidentRecorded { id, incident, .. } => {
            let linked = incident_view(facts, *incident)?
                .and_then(|v| v.incident().map(|d| d.caused_by_changes.contains(id)));
            if linked == Some(false) {
                out.push(mirror(Command::Incident(
                    IncidentCommand::LinkCausingChange {
                        id: *incident,
                        change: *id,
                    },
                )));
            }
        }
        E::Requested { .. }
        | E::Updated { .. }
        | E::Planned { .. }
        | E::Submitted { .. }
        | E::AuthorizationRequested { .. }
        | E::Approved { .. }
        | E::Authorized { .. }
        | E::Scheduled { .. }
        | E::Rejected { .. }
        | E::RevertedToNew { .. }
        | E::ImplementationStarted { .. }
        | E::Implemented { .. }
        | E::WorkNoteAdded { .. } => {}
    }
    Ok(out)
}

/// The process that records a fixing change's outcome on the problems it fixes.
pub(crate) const FIX_CHANGE_OUTCOME: &str = "fix_change_outcome";

/// `command(problem, change's number)` for each problem that waits for the outcome of `change`
/// (its fix is still pending there).
fn fix_outcomes(
    change: ChangeId,
    facts: &dyn Facts,
    out: &mut Vec<Reaction>,
    command: impl Fn(ProblemId, Option<String>) -> ProblemCommand,
) -> Result<()> {
    let view = facts.view(RecordRef::change(change))?;
    let name = view.as_ref().and_then(|v| v.number).map(|n| n.to_string());
    for problem in view
        .and_then(|v| v.change().map(|d| d.fixes_problems.clone()))
        .unwrap_or_default()
    {
        let pending = facts.view(RecordRef::problem(problem))?.and_then(|v| {
            v.problem().map(|d| {
                d.fixing_changes.get(&change) == Some(&opsledger_core::problem::FixOutcome::Pending)
            })
        });
        if pending == Some(true) {
            out.push(Reaction {
                process: FIX_CHANGE_OUTCOME,
                command: Command::Problem(command(problem, name.clone())),
            });
        }
    }
    Ok(())
}

/// The process that carries out an SLA definition's escalation at breach.
pub const SLA_ESCALATION: &str = "sla_escalation";

/// The follow-up commands an SLA event calls for: the escalation a breached definition asks
/// for, when the record is an incident (problems and changes have no escalation commands: for
/// them the breach event is the whole action). The escalation travels in the `sla.breached`
/// event, so no policy lookup happens here, and a later policy change never alters it.
pub fn react_to_sla(event: &SlaEvent) -> Vec<Reaction> {
    let SlaEvent::Breached {
        record,
        definition,
        metric,
        breached_at,
        escalation: Some(escalation),
        ..
    } = event
    else {
        return Vec::new();
    };
    if record.kind() != RecordKind::Incident {
        return Vec::new();
    }
    let id = IncidentId(record.uuid());
    let reason = format!(
        "SLA {definition} ({}) breached at {}",
        metric.as_str(),
        breached_at.to_rfc3339()
    );
    let command = match escalation {
        BreachEscalation::Functional { to_group } => IncidentCommand::EscalateFunctional {
            id,
            to_group: to_group.clone(),
            reason,
        },
        BreachEscalation::Hierarchical { to } => IncidentCommand::EscalateHierarchical {
            id,
            to: to.clone(),
            reason,
        },
    };
    vec![Reaction {
        process: SLA_ESCALATION,
        command: Command::Incident(command),
    }]
}

/// The follow-up commands `event` calls for, given the read models, under the default
/// parent/child sync. The cause's stream version is unknown here: cascades are guarded on the
/// parent's current status only; prefer [`react_to`].
pub fn react(event: &RecordEvent, facts: &dyn Facts) -> Result<Vec<Reaction>> {
    react_to(event, None, &ChildSyncPolicy::default(), facts)
}

/// The follow-up commands `event`, stored at stream version `cause_version`, calls for, given
/// the read models.
///
/// Process managers read *current* read models, which may be later than the cause (racing
/// commands, or the re-run at open). The cascades `parent_resolution`, `parent_reopen`,
/// `parent_hold` and `parent_resume` are therefore guarded on their cause: they yield nothing
/// (the reaction is stale) unless the parent is still resolved (or closed) / still open / still
/// on hold / not on hold, and, with `cause_version`, no later event of the parent's stream
/// ([`Facts::events_after`]) reopened it / resolved or canceled it / resumed, resolved or
/// canceled it / put it on hold. The newer event has its own reaction. `sync` is the policy's
/// `incident.child_sync` in force when the cause was appended.
pub fn react_to(
    event: &RecordEvent,
    cause_version: Option<u64>,
    sync: &ChildSyncPolicy,
    facts: &dyn Facts,
) -> Result<Vec<Reaction>> {
    match event {
        RecordEvent::Incident(e) => react_incident(e, cause_version, sync, facts),
        RecordEvent::Problem(e) => react_problem(e, facts),
        RecordEvent::Change(e) => react_change(e, facts),
    }
}
