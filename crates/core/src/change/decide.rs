//! `decide`: identity, the transition table, permission, then validation and guards.

use super::command::{ChangeCommand, ChangeCommandKind};
use super::conflict::{
    Capped, CiRelation, Conflict, MAX_REPORTED_CONFLICTS, ScheduledChange, each_conflict,
};
use super::event::ChangeEvent;
use super::evolve::evolve;
use super::state::{Change, ChangeStatusKind, ChangeType, CloseCode, ConflictAcceptance};
use super::table::TABLE;
use crate::actor::Actor;
use crate::authz::Permission;
use crate::context::Context;
use crate::decider::Decider;
use crate::error::DomainError;
use crate::ids::{ActorId, ChangeId, CiId, RecordKind};
use crate::policy::{ApprovalRule, Limits, Policy};
use crate::validate;
use crate::window::TimeWindow;
use std::collections::BTreeSet;

/// The change lifecycle's decider. `None` is "not requested yet".
#[derive(Debug, Clone, Copy, Default)]
pub struct ChangeDecider;

impl Decider for ChangeDecider {
    type State = Option<Change>;
    type Command = ChangeCommand;
    type Event = ChangeEvent;

    fn decide(
        state: &Option<Change>,
        cmd: &ChangeCommand,
        ctx: &Context,
    ) -> Result<Vec<ChangeEvent>, DomainError> {
        let kind = cmd.kind();
        let Some(change) = state else {
            if !kind.creates() {
                return Err(DomainError::NotFound {
                    kind: RecordKind::Change,
                    id: cmd.id().to_string(),
                });
            }
            TABLE.check(None, kind)?;
            return request(cmd, ctx);
        };
        if kind.creates() {
            return Err(DomainError::AlreadyExists {
                kind: RecordKind::Change,
                id: change.id.to_string(),
                name: None,
            });
        }
        if cmd.id() != change.id {
            return Err(DomainError::WrongRecord {
                kind: RecordKind::Change,
                command_id: cmd.id().to_string(),
                state_id: change.id.to_string(),
            });
        }
        TABLE.check(Some(change.status.kind()), kind)?;
        decide_existing(change, cmd, ctx)
    }

    fn evolve(state: Option<Change>, event: &ChangeEvent) -> Option<Change> {
        evolve(state, event)
    }
}

impl ChangeCommandKind {
    /// Whether the command creates a change (only `request` does).
    pub const fn creates(self) -> bool {
        match self {
            ChangeCommandKind::Request => true,
            ChangeCommandKind::Update
            | ChangeCommandKind::Plan
            | ChangeCommandKind::Submit
            | ChangeCommandKind::RequestAuthorization
            | ChangeCommandKind::Approve
            | ChangeCommandKind::Reject
            | ChangeCommandKind::StartImplementation
            | ChangeCommandKind::CompleteImplementation
            | ChangeCommandKind::Close
            | ChangeCommandKind::Cancel
            | ChangeCommandKind::RevertToNew
            | ChangeCommandKind::LinkFixesProblem
            | ChangeCommandKind::RecordCausedIncident
            | ChangeCommandKind::AddWorkNote => false,
        }
    }
}

fn require(ctx: &Context, permission: Permission) -> Result<(), DomainError> {
    ctx.policy.authorization.require(&ctx.actor, permission)
}

/// The creating command, decided against `None` (the table check already passed).
fn request(cmd: &ChangeCommand, ctx: &Context) -> Result<Vec<ChangeEvent>, DomainError> {
    match cmd {
        ChangeCommand::Request {
            id,
            title,
            description,
            change_type,
            risk,
            cis,
            implementation_plan,
            backout_plan,
            test_plan,
            assignee,
        } => {
            require(ctx, Permission::ChangeRequest)?;
            let limits = &ctx.policy.limits;
            validate::title("title", title, limits)?;
            validate::bounded_text("description", description, limits.max_text_bytes)?;
            check_template(change_type, &ctx.policy)?;
            check_cis("cis", cis, limits)?;
            check_plans(
                Some(implementation_plan),
                Some(backout_plan),
                Some(test_plan),
                limits,
            )?;
            if let Some(assignee) = assignee {
                check_actor_id("assignee", assignee, limits)?;
            }
            Ok(vec![ChangeEvent::Requested {
                id: *id,
                title: title.clone(),
                description: description.clone(),
                change_type: change_type.clone(),
                risk: *risk,
                cis: cis.clone(),
                implementation_plan: implementation_plan.clone(),
                backout_plan: backout_plan.clone(),
                test_plan: test_plan.clone(),
                assignee: assignee.clone(),
                policy_version: ctx.policy.version,
                at: ctx.now,
                by: ctx.actor.id.clone(),
            }])
        }
        // Unreachable after the `creates()` check; answered honestly rather than panicking.
        ChangeCommand::Update { .. }
        | ChangeCommand::Plan { .. }
        | ChangeCommand::Submit { .. }
        | ChangeCommand::RequestAuthorization { .. }
        | ChangeCommand::Approve { .. }
        | ChangeCommand::Reject { .. }
        | ChangeCommand::StartImplementation { .. }
        | ChangeCommand::CompleteImplementation { .. }
        | ChangeCommand::Close { .. }
        | ChangeCommand::Cancel { .. }
        | ChangeCommand::RevertToNew { .. }
        | ChangeCommand::LinkFixesProblem { .. }
        | ChangeCommand::RecordCausedIncident { .. }
        | ChangeCommand::AddWorkNote { .. } => Err(DomainError::NotFound {
            kind: RecordKind::Change,
            id: cmd.id().to_string(),
        }),
    }
}

/// Every non-creating command, decided against an existing change whose status the table
/// accepts the command in.
fn decide_existing(
    change: &Change,
    cmd: &ChangeCommand,
    ctx: &Context,
) -> Result<Vec<ChangeEvent>, DomainError> {
    let limits = &ctx.policy.limits;
    let id = change.id;
    let at = ctx.now;
    let by = ctx.actor.id.clone();
    match cmd {
        ChangeCommand::Request { .. } => Err(DomainError::AlreadyExists {
            kind: RecordKind::Change,
            id: id.to_string(),
            name: None,
        }),

        ChangeCommand::Update {
            id: _,
            title,
            description,
            change_type,
            risk,
            cis,
            implementation_plan,
            backout_plan,
            test_plan,
        } => {
            require(ctx, Permission::ChangeRequest)?;
            require_own_unless_worker(change, ctx, Permission::ChangeRequest)?;
            let nothing = title.is_none()
                && description.is_none()
                && change_type.is_none()
                && risk.is_none()
                && cis.is_none()
                && implementation_plan.is_none()
                && backout_plan.is_none()
                && test_plan.is_none();
            if nothing {
                return Err(DomainError::validation(
                    "update",
                    "names no field to change",
                ));
            }
            if let Some(title) = title {
                validate::title("title", title, limits)?;
            }
            if let Some(description) = description {
                validate::bounded_text("description", description, limits.max_text_bytes)?;
            }
            if let Some(new_type) = change_type {
                if *new_type != change.change_type && change.status.kind() != ChangeStatusKind::New
                {
                    return Err(DomainError::validation(
                        "change_type",
                        "the type can change only while the change is New",
                    ));
                }
                check_template(new_type, &ctx.policy)?;
            }
            if let Some(cis) = cis {
                check_cis("cis", cis, limits)?;
            }
            check_plans(
                implementation_plan.as_ref(),
                backout_plan.as_ref(),
                test_plan.as_ref(),
                limits,
            )?;
            Ok(vec![ChangeEvent::Updated {
                id,
                title: title.clone(),
                description: description.clone(),
                change_type: change_type.clone(),
                risk: *risk,
                cis: cis.clone(),
                implementation_plan: implementation_plan.clone(),
                backout_plan: backout_plan.clone(),
                test_plan: test_plan.clone(),
                at,
                by,
            }])
        }

        ChangeCommand::Plan {
            id: _,
            window,
            assignee,
            calendar,
            ci_relations,
            accept_conflicts,
        } => {
            require(ctx, Permission::ChangeWork)?;
            check_schedule_input(ctx, calendar, ci_relations, accept_conflicts.as_deref())?;
            if !window.is_valid() {
                return Err(DomainError::validation(
                    "window",
                    "must start before it ends",
                ));
            }
            if window.end <= ctx.now {
                return Err(DomainError::validation("window", "must end after now"));
            }
            if let Some(assignee) = assignee {
                check_actor_id("assignee", assignee, limits)?;
            }
            let effective_assignee = assignee.clone().or_else(|| change.assignee.clone());
            // A new plan starts a fresh check: what was accepted for the old window is void.
            let checked = check_schedule(
                change,
                ScheduleRequest {
                    window: *window,
                    assignee: effective_assignee,
                    calendar,
                    ci_relations,
                    accept_conflicts: accept_conflicts.as_deref(),
                    keep_accepted: false,
                },
                ctx,
            )?;
            Ok(vec![ChangeEvent::Planned {
                id,
                window: *window,
                assignee: assignee.clone(),
                warnings: checked.warnings,
                warnings_omitted: checked.warnings_omitted,
                accepted: checked.accepted,
                at,
                by,
            }])
        }

        ChangeCommand::Submit {
            id: _,
            calendar,
            ci_relations,
            accept_conflicts,
        } => {
            require(ctx, Permission::ChangeRequest)?;
            require_own_unless_worker(change, ctx, Permission::ChangeRequest)?;
            check_schedule_input(ctx, calendar, ci_relations, accept_conflicts.as_deref())?;
            let submitted = ChangeEvent::Submitted {
                id,
                at,
                by: by.clone(),
            };
            match &change.change_type {
                ChangeType::Normal => Ok(vec![submitted]),
                ChangeType::Emergency => {
                    ready(change)?;
                    check_quorum_reachable(&ctx.policy.approvals.emergency, &change.requester)?;
                    Ok(vec![submitted])
                }
                ChangeType::Standard { .. } => {
                    check_template(&change.change_type, &ctx.policy)?;
                    let window = ready(change)?;
                    check_not_ended(window, ctx)?;
                    let checked = check_schedule(
                        change,
                        ScheduleRequest {
                            window,
                            assignee: change.assignee.clone(),
                            calendar,
                            ci_relations,
                            accept_conflicts: accept_conflicts.as_deref(),
                            keep_accepted: true,
                        },
                        ctx,
                    )?;
                    Ok(vec![submitted, checked.scheduled(id, window, ctx)])
                }
            }
        }

        ChangeCommand::RequestAuthorization { id: _ } => {
            require(ctx, Permission::ChangeWork)?;
            ready(change)?;
            let rule = approval_rule(change, &ctx.actor, &ctx.policy)?;
            check_quorum_reachable(rule, &change.requester)?;
            Ok(vec![ChangeEvent::AuthorizationRequested { id, at, by }])
        }

        ChangeCommand::Approve {
            id: _,
            comment,
            calendar,
            ci_relations,
            accept_conflicts,
        } => {
            require(ctx, Permission::ChangeApprove)?;
            check_schedule_input(ctx, calendar, ci_relations, accept_conflicts.as_deref())?;
            if let Some(comment) = comment {
                validate::bounded_text("comment", comment, limits.max_text_bytes)?;
            }
            let rule = approval_rule(change, &ctx.actor, &ctx.policy)?;
            check_voter(change, rule, &ctx.actor)?;
            let round = change.approval_round;
            let mut events = vec![ChangeEvent::Approved {
                id,
                round,
                comment: comment.clone(),
                at,
                by: by.clone(),
            }];
            let mut approvers: BTreeSet<ActorId> = change.approvers().into_iter().collect();
            approvers.insert(by.clone());
            let count = u32::try_from(approvers.len()).unwrap_or(u32::MAX);
            if count >= rule.required_approvals(&change.requester) {
                let window = ready(change)?;
                check_not_ended(window, ctx)?;
                let checked = check_schedule(
                    change,
                    ScheduleRequest {
                        window,
                        assignee: change.assignee.clone(),
                        calendar,
                        ci_relations,
                        accept_conflicts: accept_conflicts.as_deref(),
                        keep_accepted: true,
                    },
                    ctx,
                )?;
                events.push(ChangeEvent::Authorized {
                    id,
                    round,
                    approvers: approvers.into_iter().collect(),
                    at,
                    by,
                });
                events.push(checked.scheduled(id, window, ctx));
            }
            Ok(events)
        }

        ChangeCommand::Reject { id: _, reason } => {
            require(ctx, Permission::ChangeApprove)?;
            validate::text("reason", reason, limits)?;
            let rule = approval_rule(change, &ctx.actor, &ctx.policy)?;
            check_voter(change, rule, &ctx.actor)?;
            Ok(vec![ChangeEvent::Rejected {
                id,
                round: change.approval_round,
                reason: reason.clone(),
                at,
                by,
            }])
        }

        ChangeCommand::StartImplementation { id: _ } => {
            require(ctx, Permission::ChangeWork)?;
            let needs_authorization = match change.change_type {
                ChangeType::Standard { .. } => false,
                ChangeType::Normal | ChangeType::Emergency => true,
            };
            if needs_authorization && change.authorized_at.is_none() {
                return Err(DomainError::validation(
                    "approvals",
                    "the change was never authorised in its current round",
                ));
            }
            let Some(window) = change.approved_window else {
                return Err(DomainError::validation(
                    "approved_window",
                    "the change has no approved window",
                ));
            };
            if !window.contains(ctx.now) {
                return Err(DomainError::OutsideApprovedWindow {
                    now: ctx.now,
                    window,
                });
            }
            check_freezes(change, TimeWindow::new(ctx.now, window.end), ctx)?;
            Ok(vec![ChangeEvent::ImplementationStarted { id, at, by }])
        }

        ChangeCommand::CompleteImplementation { id: _ } => {
            require(ctx, Permission::ChangeWork)?;
            Ok(vec![ChangeEvent::Implemented { id, at, by }])
        }

        ChangeCommand::Close { id: _, code, notes } => {
            require(ctx, Permission::ChangeClose)?;
            validate::text("notes", notes, limits)?;
            match code {
                CloseCode::Successful | CloseCode::SuccessfulWithIssues => {}
                CloseCode::Unsuccessful { backout } => {
                    validate::text("code.backout.notes", &backout.notes, limits)?;
                }
            }
            Ok(vec![ChangeEvent::Closed {
                id,
                code: code.clone(),
                notes: notes.clone(),
                fixes_problems: change.fixes_problems.clone(),
                caused_incidents: change.caused_incidents.clone(),
                at,
                by,
            }])
        }

        ChangeCommand::Cancel { id: _, reason } => {
            require(ctx, Permission::ChangeCancel)?;
            validate::text("reason", reason, limits)?;
            Ok(vec![ChangeEvent::Canceled {
                id,
                reason: reason.clone(),
                fixes_problems: change.fixes_problems.clone(),
                caused_incidents: change.caused_incidents.clone(),
                at,
                by,
            }])
        }

        ChangeCommand::RevertToNew { id: _, reason } => {
            require(ctx, Permission::ChangeRevert)?;
            validate::text("reason", reason, limits)?;
            Ok(vec![ChangeEvent::RevertedToNew {
                id,
                round: change.approval_round,
                canceled_approvals: change.approvals.keys().cloned().collect(),
                reason: reason.clone(),
                at,
                by,
            }])
        }

        ChangeCommand::LinkFixesProblem { id: _, problem } => {
            require(ctx, Permission::ChangeWork)?;
            if change.fixes_problems.contains(problem) {
                return Ok(Vec::new());
            }
            validate::links("fixes_problems", change.fixes_problems.len() + 1, limits)?;
            Ok(vec![ChangeEvent::ProblemLinked {
                id,
                problem: *problem,
                at,
                by,
            }])
        }

        ChangeCommand::RecordCausedIncident { id: _, incident } => {
            require(ctx, Permission::ChangeWork)?;
            if change.implement_started_at.is_none() {
                return Err(DomainError::validation(
                    "incident",
                    "a change whose implementation never started cannot have caused an incident",
                ));
            }
            if change.caused_incidents.contains(incident) {
                return Ok(Vec::new());
            }
            validate::links(
                "caused_incidents",
                change.caused_incidents.len() + 1,
                limits,
            )?;
            Ok(vec![ChangeEvent::CausedIncidentRecorded {
                id,
                incident: *incident,
                at,
                by,
            }])
        }

        ChangeCommand::AddWorkNote { id: _, note } => {
            require(ctx, Permission::ChangeWork)?;
            validate::text("note", note, limits)?;
            validate::links("work_notes", change.work_notes.len() + 1, limits)?;
            Ok(vec![ChangeEvent::WorkNoteAdded {
                id,
                note: note.clone(),
                at,
                by,
            }])
        }
    }
}

fn check_template(change_type: &ChangeType, policy: &Policy) -> Result<(), DomainError> {
    match change_type {
        ChangeType::Normal | ChangeType::Emergency => Ok(()),
        ChangeType::Standard { template } => {
            if policy.standard_changes.iter().any(|t| &t.id == template) {
                Ok(())
            } else {
                Err(DomainError::validation(
                    "change_type.template",
                    format!("no standard change template `{template}` in the catalogue"),
                ))
            }
        }
    }
}

fn check_cis(field: &str, cis: &BTreeSet<CiId>, limits: &Limits) -> Result<(), DomainError> {
    validate::links(field, cis.len(), limits)?;
    for ci in cis {
        validate::required_text(field, ci.as_str(), limits.max_title_bytes)?;
    }
    Ok(())
}

fn check_actor_id(field: &str, actor: &ActorId, limits: &Limits) -> Result<(), DomainError> {
    validate::required_text(field, actor.as_str(), limits.max_title_bytes)
}

fn check_plans(
    implementation: Option<&String>,
    backout: Option<&String>,
    test: Option<&String>,
    limits: &Limits,
) -> Result<(), DomainError> {
    let plans = [
        ("implementation_plan", implementation),
        ("backout_plan", backout),
        ("test_plan", test),
    ];
    for (field, plan) in plans {
        if let Some(plan) = plan {
            validate::bounded_text(field, plan, limits.max_text_bytes)?;
        }
    }
    Ok(())
}

/// A change is ready for authorisation (or, if standard, for scheduling) once its window is
/// planned, it names at least one affected CI and its implementation and backout plans are
/// written. Returns the planned window.
fn ready(change: &Change) -> Result<TimeWindow, DomainError> {
    let Some(window) = change.planned_window else {
        return Err(DomainError::validation(
            "planned_window",
            "plan the implementation window first",
        ));
    };
    // Without CIs no conflict check could ever find a clash: the CAB would approve blind.
    if change.cis.is_empty() {
        return Err(DomainError::validation(
            "cis",
            "name at least one affected CI before authorisation or scheduling",
        ));
    }
    if change.implementation_plan.trim().is_empty() {
        return Err(DomainError::validation(
            "implementation_plan",
            "required before authorisation or scheduling",
        ));
    }
    if change.backout_plan.trim().is_empty() {
        return Err(DomainError::validation(
            "backout_plan",
            "required before authorisation or scheduling",
        ));
    }
    Ok(window)
}

fn check_not_ended(window: TimeWindow, ctx: &Context) -> Result<(), DomainError> {
    if window.end <= ctx.now {
        return Err(DomainError::validation(
            "planned_window",
            "the planned window has already ended; revert to New and plan a new one",
        ));
    }
    Ok(())
}

/// The approval rule for the change's type. Standard changes take no votes.
fn approval_rule<'p>(
    change: &Change,
    actor: &Actor,
    policy: &'p Policy,
) -> Result<&'p ApprovalRule, DomainError> {
    change
        .change_type
        .approval_rule(policy)
        .ok_or_else(|| DomainError::NotAnApprover {
            actor: actor.id.clone(),
            reason: "standard changes are pre-authorised and take no approvals".to_owned(),
        })
}

fn check_quorum_reachable(rule: &ApprovalRule, requester: &ActorId) -> Result<(), DomainError> {
    if rule.quorum_reachable(requester) {
        return Ok(());
    }
    let reason = if rule.approver_roles.is_empty() {
        "the approval policy names no approver role, so nobody could approve".to_owned()
    } else {
        format!(
            "the approval policy needs {} approval(s) but only {} board member(s) other than \
             the requester can vote",
            rule.required_approvals(requester),
            rule.eligible_board(requester).len()
        )
    };
    Err(DomainError::validation("approvals", reason))
}

/// Separation of duties first (the requester never votes, whatever their roles), then
/// eligibility under the rule, then one decision per approver per round.
fn check_voter(change: &Change, rule: &ApprovalRule, actor: &Actor) -> Result<(), DomainError> {
    if actor.id == change.requester {
        return Err(DomainError::SeparationOfDuties {
            actor: actor.id.clone(),
        });
    }
    if !rule.approver_roles.iter().any(|r| actor.has_role(*r)) {
        let roles: Vec<&str> = rule.approver_roles.iter().map(|r| r.as_str()).collect();
        return Err(DomainError::NotAnApprover {
            actor: actor.id.clone(),
            reason: format!("holds none of the approver roles [{}]", roles.join(", ")),
        });
    }
    if !rule.board.is_empty() && !rule.board.contains(&actor.id) {
        return Err(DomainError::NotAnApprover {
            actor: actor.id.clone(),
            reason: "not on the approval board".to_owned(),
        });
    }
    if change.approvals.contains_key(&actor.id) {
        return Err(DomainError::AlreadyDecided {
            actor: actor.id.clone(),
        });
    }
    Ok(())
}

/// Permission and size checks on the scheduling inputs every schedule-carrying command has.
fn check_schedule_input(
    ctx: &Context,
    calendar: &[ScheduledChange],
    ci_relations: &[CiRelation],
    accept_conflicts: Option<&str>,
) -> Result<(), DomainError> {
    if let Some(reason) = accept_conflicts {
        require(ctx, Permission::ChangeSchedule)?;
        validate::text("accept_conflicts", reason, &ctx.policy.limits)?;
    }
    let limits = &ctx.policy.limits;
    validate::links("calendar", calendar.len(), limits)?;
    for entry in calendar {
        validate::links("calendar.cis", entry.cis.len(), limits)?;
    }
    validate::links("ci_relations", ci_relations.len(), limits)?;
    for edge in ci_relations {
        validate::bounded_text("ci_relations", edge.parent.as_str(), limits.max_title_bytes)?;
        validate::bounded_text("ci_relations", edge.child.as_str(), limits.max_title_bytes)?;
    }
    Ok(())
}

struct ScheduleRequest<'a> {
    window: TimeWindow,
    assignee: Option<ActorId>,
    calendar: &'a [ScheduledChange],
    ci_relations: &'a [CiRelation],
    accept_conflicts: Option<&'a str>,
    /// Whether conflicts accepted earlier for the same planned window stay accepted.
    keep_accepted: bool,
}

/// What a schedule check let through: the warnings (capped) and any acceptance.
struct Checked {
    warnings: Vec<Conflict>,
    warnings_omitted: usize,
    accepted: Option<ConflictAcceptance>,
}

impl Checked {
    fn scheduled(self, id: ChangeId, window: TimeWindow, ctx: &Context) -> ChangeEvent {
        ChangeEvent::Scheduled {
            id,
            window,
            warnings: self.warnings,
            warnings_omitted: self.warnings_omitted,
            accepted: self.accepted,
            at: ctx.now,
            by: ctx.actor.id.clone(),
        }
    }
}

/// Runs the conflict check: returns the warnings and, when blocking conflicts were accepted,
/// the acceptance; refuses with the blocking conflicts not accepted otherwise. Reports are
/// capped at [`MAX_REPORTED_CONFLICTS`] with a total, and more blocking conflicts than that
/// cannot be accepted wholesale (narrow the window or the CIs instead).
fn check_schedule(
    change: &Change,
    request: ScheduleRequest<'_>,
    ctx: &Context,
) -> Result<Checked, DomainError> {
    let candidate = change.schedule_candidate(
        request.window,
        request.assignee,
        request.ci_relations.to_vec(),
    );
    let mut open = Capped::new(MAX_REPORTED_CONFLICTS);
    let mut warnings = Capped::new(MAX_REPORTED_CONFLICTS);
    each_conflict(&candidate, request.calendar, &ctx.policy, |c| {
        if !c.is_blocking() {
            warnings.push(c);
        } else if !(request.keep_accepted && change.is_accepted(&c)) {
            open.push(c);
        }
    });
    let warnings = warnings.finish();
    let warnings_omitted = warnings.omitted();
    let checked = |accepted| Checked {
        warnings: warnings.conflicts,
        warnings_omitted,
        accepted,
    };
    if open.total() == 0 {
        return Ok(checked(None));
    }
    let open = open.finish();
    match request.accept_conflicts {
        None => Err(DomainError::ScheduleConflict {
            conflicts: open.conflicts,
            total: open.total,
        }),
        Some(_) if open.omitted() > 0 => Err(DomainError::LimitExceeded {
            what: format!("accept_conflicts ({} blocking conflicts)", open.total),
            limit: MAX_REPORTED_CONFLICTS,
        }),
        Some(reason) => Ok(checked(Some(ConflictAcceptance {
            conflicts: open.conflicts,
            reason: reason.to_owned(),
            by: ctx.actor.id.clone(),
            at: ctx.now,
        }))),
    }
}

/// Freezes bind until the work is done: a blackout declared after scheduling that overlaps
/// what is left of the approved window (`remaining`) and covers one of the change's CIs (or
/// every CI) refuses the start, unless that conflict was accepted for this window.
fn check_freezes(change: &Change, remaining: TimeWindow, ctx: &Context) -> Result<(), DomainError> {
    let candidate = change.schedule_candidate(remaining, None, Vec::new());
    let mut open = Capped::new(MAX_REPORTED_CONFLICTS);
    each_conflict(&candidate, &[], &ctx.policy, |c| {
        if c.is_blocking() && !change.is_accepted(&c) {
            open.push(c);
        }
    });
    if open.total() == 0 {
        return Ok(());
    }
    let open = open.finish();
    Err(DomainError::ScheduleConflict {
        conflicts: open.conflicts,
        total: open.total,
    })
}

/// A requester (an actor who may not work changes) edits and submits only the changes they
/// raised, as a requester confirms only their own incident's resolution.
fn require_own_unless_worker(
    change: &Change,
    ctx: &Context,
    needed: Permission,
) -> Result<(), DomainError> {
    let rules = &ctx.policy.authorization;
    if ctx.actor.id == change.requester || rules.allows(&ctx.actor, Permission::ChangeWork) {
        Ok(())
    } else {
        Err(DomainError::Forbidden {
            actor: ctx.actor.id.clone(),
            permission: needed,
        })
    }
}
