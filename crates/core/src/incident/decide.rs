//! `decide`: identity, the transition tables, permissions, then fields and guards.

use super::alert_route::ServiceCorrelation;
use super::command::{IncidentCommand, IncidentCommandKind};
use super::event::{AlertOrigin, IncidentEvent, ReopenSource};
use super::evolve::evolve;
use super::state::{
    CancelReason, CloseCode, HoldReason, Incident, IncidentStatus, ResolutionSource,
};
use super::table::{MAJOR_TABLE, TABLE};
use crate::authz::Permission;
use crate::context::Context;
use crate::decider::Decider;
use crate::error::DomainError;
use crate::ids::RecordKind;
use crate::policy::Limits;
use crate::validate;
use chrono::{DateTime, Utc};

/// The incident lifecycle as a [`Decider`]. `None` is "not opened yet".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IncidentDecider;

impl Decider for IncidentDecider {
    type State = Option<Incident>;
    type Command = IncidentCommand;
    type Event = IncidentEvent;

    fn decide(
        state: &Self::State,
        cmd: &Self::Command,
        ctx: &Context,
    ) -> Result<Vec<Self::Event>, DomainError> {
        match state {
            None => decide_open(cmd, ctx),
            Some(incident) => decide_existing(incident, cmd, ctx),
        }
    }

    fn evolve(state: Self::State, event: &Self::Event) -> Self::State {
        evolve(state, event)
    }
}

/// Who may issue a command beyond holding its permission.
#[derive(Clone, Copy)]
enum Scope {
    /// Anyone holding the permission.
    Any,
    /// Whoever holds the permission, but an actor who may not work incidents (a caller or a
    /// requester) only on an incident they are the caller of.
    CallerUnlessWorker,
}

fn permission(kind: IncidentCommandKind) -> (Permission, Scope) {
    use IncidentCommandKind as K;
    use Permission as P;
    match kind {
        K::Open => (P::IncidentOpen, Scope::Any),
        K::Close => (P::IncidentClose, Scope::CallerUnlessWorker),
        K::AutoClose => (P::IncidentAutoClose, Scope::Any),
        K::Reopen | K::ReopenFromParent => (P::IncidentReopen, Scope::CallerUnlessWorker),
        K::Cancel => (P::IncidentCancel, Scope::Any),
        K::EscalateFunctional => (P::IncidentEscalateFunctional, Scope::Any),
        K::EscalateHierarchical => (P::IncidentEscalateHierarchical, Scope::Any),
        K::ProposeMajor => (P::MajorIncidentPropose, Scope::Any),
        K::AcceptMajor | K::RejectMajor => (P::MajorIncidentDecide, Scope::Any),
        K::PublishReview => (P::ReviewPublish, Scope::Any),
        K::AddComment => (P::IncidentComment, Scope::CallerUnlessWorker),
        K::Acknowledge
        | K::Assign
        | K::PutOnHold
        | K::Resume
        | K::Resolve
        | K::Reprioritize
        | K::LinkParent
        | K::LinkChild
        | K::LinkDuplicate
        | K::ResolveFromParent
        | K::ResolveFromProblem
        | K::CorrelateAlert
        | K::RecordImpactStart
        | K::RecordDetection
        | K::LinkProblem
        | K::LinkCausingChange
        | K::AddWorkNote => (P::IncidentWork, Scope::Any),
    }
}

fn authorize(
    incident: &Incident,
    kind: IncidentCommandKind,
    ctx: &Context,
) -> Result<(), DomainError> {
    let rules = &ctx.policy.authorization;
    let (needed, scope) = permission(kind);
    rules.require(&ctx.actor, needed)?;
    // Withdrawing an accepted major incident overrides a manager's decision: it takes one.
    if kind == IncidentCommandKind::Cancel && incident.major.is_accepted() {
        rules.require(&ctx.actor, Permission::MajorIncidentDecide)?;
    }
    match scope {
        Scope::Any => Ok(()),
        Scope::CallerUnlessWorker => {
            if ctx.actor.id == incident.caller || rules.allows(&ctx.actor, Permission::IncidentWork)
            {
                Ok(())
            } else {
                Err(DomainError::Forbidden {
                    actor: ctx.actor.id.clone(),
                    permission: needed,
                })
            }
        }
    }
}

/// A short name (group, person, key): required, at most `max_title_bytes`.
fn short(field: &str, value: &str, limits: &Limits) -> Result<(), DomainError> {
    validate::required_text(field, value, limits.max_title_bytes)
}

/// A backdated fact may not lie in the future of the decision.
fn not_future(field: &str, when: DateTime<Utc>, ctx: &Context) -> Result<(), DomainError> {
    if when > ctx.now {
        return Err(DomainError::validation(
            field,
            format!("{when} lies in the future (now is {})", ctx.now),
        ));
    }
    Ok(())
}

/// An alert joining through a service must name the incident's own service, with a path from
/// that service down to the alert's CI.
fn check_service_correlation(inc: &Incident, via: &ServiceCorrelation) -> Result<(), DomainError> {
    if inc.service.as_ref() != Some(&via.service.service) {
        return Err(DomainError::validation(
            "via.service.service",
            match &inc.service {
                Some(s) => format!(
                    "the incident is on service {s}, not {}",
                    via.service.service
                ),
                None => "the incident names no service".to_owned(),
            },
        ));
    }
    if !via.path_is_consistent() {
        return Err(DomainError::validation(
            "via.service.path",
            format!(
                "the path must run from service {} down to CI {}",
                via.service.service, via.ci
            ),
        ));
    }
    Ok(())
}

fn decide_open(cmd: &IncidentCommand, ctx: &Context) -> Result<Vec<IncidentEvent>, DomainError> {
    match cmd {
        IncidentCommand::Open {
            id,
            title,
            description,
            caller,
            impact,
            urgency,
            service,
            cis,
            group,
            assignee,
            alert,
        } => {
            TABLE.check(None, cmd.kind())?;
            let rules = &ctx.policy.authorization;
            rules.require(&ctx.actor, Permission::IncidentOpen)?;
            // Opening for someone else or routing at once is service-desk work, not self-service.
            if *caller != ctx.actor.id || group.is_some() || assignee.is_some() {
                rules.require(&ctx.actor, Permission::IncidentWork)?;
            }
            let limits = &ctx.policy.limits;
            validate::title("title", title, limits)?;
            validate::bounded_text("description", description, limits.max_text_bytes)?;
            short("caller", caller.as_str(), limits)?;
            if let Some(service) = service {
                short("service", service.as_str(), limits)?;
            }
            validate::links("cis", cis.len(), limits)?;
            for (i, ci) in cis.iter().enumerate() {
                short("cis", ci.as_str(), limits)?;
                if cis[..i].contains(ci) {
                    return Err(DomainError::validation(
                        "cis",
                        format!("{ci} is listed twice"),
                    ));
                }
            }
            if let Some(group) = group {
                short("group", group.as_str(), limits)?;
            }
            if let Some(assignee) = assignee {
                short("assignee", assignee.as_str(), limits)?;
            }
            let alert = match alert {
                None => None,
                Some(a) => {
                    short("alert.dedup_key", &a.dedup_key, limits)?;
                    short("alert.source", &a.source, limits)?;
                    let seen_at = a.seen_at.unwrap_or(ctx.now);
                    not_future("alert.seen_at", seen_at, ctx)?;
                    Some(AlertOrigin {
                        dedup_key: a.dedup_key.clone(),
                        source: a.source.clone(),
                        seen_at,
                    })
                }
            };
            let mut events = vec![IncidentEvent::Opened {
                id: *id,
                title: title.clone(),
                description: description.clone(),
                caller: caller.clone(),
                impact: *impact,
                urgency: *urgency,
                priority: ctx.policy.priority_matrix.priority(*impact, *urgency),
                service: service.clone(),
                cis: cis.clone(),
                group: group.clone(),
                assignee: assignee.clone(),
                alert,
                policy_version: ctx.policy.version,
                at: ctx.now,
                by: ctx.actor.id.clone(),
            }];
            // A person owning the incident means work has started.
            if assignee.is_some() {
                events.push(IncidentEvent::Acknowledged {
                    id: *id,
                    at: ctx.now,
                    by: ctx.actor.id.clone(),
                });
            }
            Ok(events)
        }
        IncidentCommand::Acknowledge { id }
        | IncidentCommand::Assign { id, .. }
        | IncidentCommand::PutOnHold { id, .. }
        | IncidentCommand::Resume { id }
        | IncidentCommand::Resolve { id, .. }
        | IncidentCommand::Reopen { id, .. }
        | IncidentCommand::Close { id }
        | IncidentCommand::AutoClose { id }
        | IncidentCommand::Cancel { id, .. }
        | IncidentCommand::Reprioritize { id, .. }
        | IncidentCommand::EscalateFunctional { id, .. }
        | IncidentCommand::EscalateHierarchical { id, .. }
        | IncidentCommand::ProposeMajor { id, .. }
        | IncidentCommand::AcceptMajor { id }
        | IncidentCommand::RejectMajor { id, .. }
        | IncidentCommand::PublishReview { id, .. }
        | IncidentCommand::LinkParent { id, .. }
        | IncidentCommand::LinkChild { id, .. }
        | IncidentCommand::LinkDuplicate { id, .. }
        | IncidentCommand::ResolveFromParent { id, .. }
        | IncidentCommand::ReopenFromParent { id, .. }
        | IncidentCommand::ResolveFromProblem { id, .. }
        | IncidentCommand::CorrelateAlert { id, .. }
        | IncidentCommand::RecordImpactStart { id, .. }
        | IncidentCommand::RecordDetection { id, .. }
        | IncidentCommand::LinkProblem { id, .. }
        | IncidentCommand::LinkCausingChange { id, .. }
        | IncidentCommand::AddWorkNote { id, .. }
        | IncidentCommand::AddComment { id, .. } => Err(DomainError::NotFound {
            kind: RecordKind::Incident,
            id: id.to_string(),
        }),
    }
}

fn decide_existing(
    inc: &Incident,
    cmd: &IncidentCommand,
    ctx: &Context,
) -> Result<Vec<IncidentEvent>, DomainError> {
    let kind = cmd.kind();
    if kind.is_create() {
        return Err(DomainError::AlreadyExists {
            kind: RecordKind::Incident,
            id: cmd.id().to_string(),
            name: None,
        });
    }
    if cmd.id() != inc.id {
        return Err(DomainError::WrongRecord {
            kind: RecordKind::Incident,
            command_id: cmd.id().to_string(),
            state_id: inc.id.to_string(),
        });
    }
    // Someone who may act on this incident only as its caller, and is not its caller, is
    // refused before the state is looked at: the refusal says nothing about the incident.
    if matches!(permission(kind).1, Scope::CallerUnlessWorker)
        && ctx.actor.id != inc.caller
        && !ctx
            .policy
            .authorization
            .allows(&ctx.actor, Permission::IncidentWork)
    {
        authorize(inc, kind, ctx)?;
    }
    TABLE.check(Some(inc.status.kind()), kind)?;
    if let Some(major) = kind.major() {
        MAJOR_TABLE.check(Some(inc.major.status.kind()), major)?;
    }
    authorize(inc, kind, ctx)?;

    let limits = &ctx.policy.limits;
    let at = ctx.now;
    let by = ctx.actor.id.clone();
    let id = inc.id;
    let event = match cmd {
        IncidentCommand::Open { id, .. } => {
            // Unreachable after the identity check; kept total instead of panicking.
            return Err(DomainError::AlreadyExists {
                kind: RecordKind::Incident,
                id: id.to_string(),
                name: None,
            });
        }
        IncidentCommand::Acknowledge { .. } => IncidentEvent::Acknowledged { id, at, by },
        IncidentCommand::Assign {
            group, assignee, ..
        } => return assign(inc, group.as_ref(), assignee.as_ref(), ctx),
        IncidentCommand::PutOnHold { reason, .. } => {
            if inc.status
                == (IncidentStatus::OnHold {
                    reason: reason.clone(),
                })
            {
                return Err(DomainError::validation(
                    "reason",
                    "the incident is already on hold for this reason",
                ));
            }
            // Only the linked parent is waited for: its resumption is what releases the hold.
            if let HoldReason::AwaitingParent { parent } = reason
                && inc.parent != Some(*parent)
            {
                return Err(DomainError::validation(
                    "reason.parent",
                    format!("{parent} is not this incident's parent"),
                ));
            }
            IncidentEvent::PutOnHold {
                id,
                reason: reason.clone(),
                at,
                by,
            }
        }
        IncidentCommand::Resume { .. } => IncidentEvent::Resumed { id, at, by },
        IncidentCommand::Resolve { code, notes, .. } => {
            validate::text("notes", notes, limits)?;
            IncidentEvent::Resolved {
                id,
                code: *code,
                notes: notes.clone(),
                source: ResolutionSource::Direct,
                at,
                by,
            }
        }
        IncidentCommand::Reopen { reason, .. } => {
            validate::text("reason", reason, limits)?;
            caller_may_still_reject(inc, ctx)?;
            IncidentEvent::Reopened {
                id,
                source: ReopenSource::Direct {
                    reason: reason.clone(),
                },
                at,
                by,
            }
        }
        IncidentCommand::Close { .. } => {
            // A review of an earlier resolution says nothing about why the reopen happened.
            if inc.major.is_accepted() && !inc.major.review_is_current() {
                return Err(DomainError::ReviewRequired);
            }
            IncidentEvent::Closed { id, at, by }
        }
        IncidentCommand::AutoClose { .. } => {
            // A major incident is closed by a person (after its review), never by a timer.
            if inc.major.blocks_auto_close() {
                return Err(DomainError::MajorIncidentNoAutoClose {
                    major: inc.major.status.kind(),
                });
            }
            auto_close_due(inc, ctx)?;
            IncidentEvent::AutoClosed { id, at, by }
        }
        IncidentCommand::Cancel { reason, .. } => {
            match reason {
                CancelReason::Duplicate { of } => {
                    if *of == id {
                        return Err(DomainError::validation(
                            "reason.of",
                            "an incident cannot duplicate itself",
                        ));
                    }
                }
                CancelReason::NotAnIncident => {}
                CancelReason::Other { text } => validate::text("reason.text", text, limits)?,
            }
            IncidentEvent::Canceled {
                id,
                reason: reason.clone(),
                at,
                by,
            }
        }
        IncidentCommand::Reprioritize {
            impact,
            urgency,
            reason,
            ..
        } => {
            validate::text("reason", reason, limits)?;
            if (*impact, *urgency) == (inc.impact, inc.urgency) {
                return Err(DomainError::validation(
                    "impact",
                    "impact and urgency are unchanged",
                ));
            }
            IncidentEvent::Reprioritized {
                id,
                previous_impact: inc.impact,
                previous_urgency: inc.urgency,
                previous_priority: inc.priority,
                impact: *impact,
                urgency: *urgency,
                priority: ctx.policy.priority_matrix.priority(*impact, *urgency),
                reason: reason.clone(),
                at,
                by,
            }
        }
        IncidentCommand::EscalateFunctional {
            to_group, reason, ..
        } => {
            short("to_group", to_group.as_str(), limits)?;
            validate::text("reason", reason, limits)?;
            if inc.group.as_ref() == Some(to_group) {
                return Err(DomainError::validation(
                    "to_group",
                    "the incident is already with this group",
                ));
            }
            let tier = inc.escalation.functional_tier.checked_add(1).ok_or(
                DomainError::LimitExceeded {
                    what: "functional_tier".to_owned(),
                    limit: usize::from(u8::MAX),
                },
            )?;
            IncidentEvent::EscalatedFunctionally {
                id,
                from_group: inc.group.clone(),
                to_group: to_group.clone(),
                tier,
                reason: reason.clone(),
                at,
                by,
            }
        }
        IncidentCommand::EscalateHierarchical { to, reason, .. } => {
            short("to", to.as_str(), limits)?;
            validate::text("reason", reason, limits)?;
            let level = inc.escalation.hierarchical_level.checked_add(1).ok_or(
                DomainError::LimitExceeded {
                    what: "hierarchical_level".to_owned(),
                    limit: usize::from(u8::MAX),
                },
            )?;
            IncidentEvent::EscalatedHierarchically {
                id,
                to: to.clone(),
                level,
                reason: reason.clone(),
                at,
                by,
            }
        }
        IncidentCommand::ProposeMajor { reason, .. } => {
            validate::text("reason", reason, limits)?;
            IncidentEvent::MajorProposed {
                id,
                reason: reason.clone(),
                at,
                by,
            }
        }
        IncidentCommand::AcceptMajor { .. } => IncidentEvent::MajorAccepted { id, at, by },
        IncidentCommand::RejectMajor { reason, .. } => {
            validate::text("reason", reason, limits)?;
            IncidentEvent::MajorRejected {
                id,
                reason: reason.clone(),
                at,
                by,
            }
        }
        IncidentCommand::PublishReview {
            summary,
            findings,
            action_items,
            ..
        } => {
            validate::text("summary", summary, limits)?;
            validate::bounded_text("findings", findings, limits.max_text_bytes)?;
            validate::links("action_items", action_items.len(), limits)?;
            for item in action_items {
                validate::text("action_items", item, limits)?;
            }
            let revision = inc
                .major
                .review
                .as_ref()
                .map_or(1, |r| r.revision.saturating_add(1));
            IncidentEvent::ReviewPublished {
                id,
                summary: summary.clone(),
                findings: findings.clone(),
                action_items: action_items.clone(),
                revision,
                at,
                by,
            }
        }
        IncidentCommand::LinkParent { parent, .. } => {
            if *parent == id {
                return Err(DomainError::validation(
                    "parent",
                    "an incident cannot be its own parent",
                ));
            }
            if inc.children.contains(parent) {
                return Err(DomainError::validation(
                    "parent",
                    format!("{parent} is a child of this incident"),
                ));
            }
            if let Some(current) = inc.parent {
                return Err(DomainError::validation(
                    "parent",
                    format!("the incident already has parent {current}"),
                ));
            }
            IncidentEvent::ParentLinked {
                id,
                parent: *parent,
                at,
                by,
            }
        }
        IncidentCommand::LinkChild { child, .. } => {
            if *child == id {
                return Err(DomainError::validation(
                    "child",
                    "an incident cannot be its own child",
                ));
            }
            if inc.parent == Some(*child) {
                return Err(DomainError::validation(
                    "child",
                    format!("{child} is the parent of this incident"),
                ));
            }
            if inc.children.contains(child) {
                return Err(DomainError::validation(
                    "child",
                    format!("{child} is already a child"),
                ));
            }
            validate::links("children", inc.children.len() + 1, limits)?;
            IncidentEvent::ChildLinked {
                id,
                child: *child,
                at,
                by,
            }
        }
        IncidentCommand::LinkDuplicate { duplicate, .. } => {
            if *duplicate == id {
                return Err(DomainError::validation(
                    "duplicate",
                    "an incident cannot duplicate itself",
                ));
            }
            if inc.duplicates.contains(duplicate) {
                return Err(DomainError::validation(
                    "duplicate",
                    format!("{duplicate} is already linked as a duplicate"),
                ));
            }
            validate::links("duplicates", inc.duplicates.len() + 1, limits)?;
            IncidentEvent::DuplicateLinked {
                id,
                duplicate: *duplicate,
                at,
                by,
            }
        }
        IncidentCommand::ResolveFromParent {
            parent,
            code,
            notes,
            ..
        } => {
            require_parent(inc, *parent)?;
            validate::text("notes", notes, limits)?;
            IncidentEvent::Resolved {
                id,
                code: *code,
                notes: notes.clone(),
                source: ResolutionSource::Parent { parent: *parent },
                at,
                by,
            }
        }
        IncidentCommand::ReopenFromParent { parent, .. } => {
            require_parent(inc, *parent)?;
            IncidentEvent::Reopened {
                id,
                source: ReopenSource::Parent { parent: *parent },
                at,
                by,
            }
        }
        IncidentCommand::ResolveFromProblem { problem, notes, .. } => {
            // Only an incident waiting for this fix is solved by it; one merely linked to the
            // problem may have been worked around, or may have another cause too.
            let awaits = inc.status
                == (IncidentStatus::OnHold {
                    reason: HoldReason::AwaitingProblem { problem: *problem },
                });
            if !awaits {
                return Err(DomainError::validation(
                    "problem",
                    format!("the incident does not await problem {problem}"),
                ));
            }
            validate::text("notes", notes, limits)?;
            // The problem's fix removed the cause: a permanent solution by definition.
            IncidentEvent::Resolved {
                id,
                code: CloseCode::SolvedPermanently,
                notes: notes.clone(),
                source: ResolutionSource::Problem { problem: *problem },
                at,
                by,
            }
        }
        IncidentCommand::CorrelateAlert {
            dedup_key,
            seen_at,
            via: Some(via),
            ..
        } => {
            short("dedup_key", dedup_key, &ctx.policy.limits)?;
            check_service_correlation(inc, via)?;
            not_future("seen_at", *seen_at, ctx)?;
            IncidentEvent::AlertCorrelated {
                id,
                dedup_key: dedup_key.clone(),
                seen_at: *seen_at,
                via: Some(via.clone()),
                at,
                by,
            }
        }
        IncidentCommand::CorrelateAlert {
            dedup_key,
            seen_at,
            via: None,
            ..
        } => {
            match &inc.alert {
                None => {
                    return Err(DomainError::validation(
                        "dedup_key",
                        "the incident was not opened from an alert",
                    ));
                }
                Some(alert) => {
                    if alert.dedup_key != *dedup_key {
                        return Err(DomainError::validation(
                            "dedup_key",
                            format!("the incident holds dedup key {:?}", alert.dedup_key),
                        ));
                    }
                }
            }
            not_future("seen_at", *seen_at, ctx)?;
            IncidentEvent::AlertCorrelated {
                id,
                dedup_key: dedup_key.clone(),
                seen_at: *seen_at,
                via: None,
                at,
                by,
            }
        }
        IncidentCommand::RecordImpactStart { started_at, .. } => {
            not_future("started_at", *started_at, ctx)?;
            if let Some(detected) = inc.detected_at
                && *started_at > detected
            {
                return Err(DomainError::validation(
                    "started_at",
                    format!("after the recorded detection time {detected}"),
                ));
            }
            IncidentEvent::ImpactStartRecorded {
                id,
                occurred_at: *started_at,
                at,
                by,
            }
        }
        IncidentCommand::RecordDetection { detected_at, .. } => {
            not_future("detected_at", *detected_at, ctx)?;
            // Logging an incident is noticing it: detection cannot come later (MTTD >= 0).
            if *detected_at > inc.opened_at {
                return Err(DomainError::validation(
                    "detected_at",
                    format!("after the incident was logged at {}", inc.opened_at),
                ));
            }
            if let Some(started) = inc.impact_started_at
                && *detected_at < started
            {
                return Err(DomainError::validation(
                    "detected_at",
                    format!("before the recorded impact start {started}"),
                ));
            }
            IncidentEvent::DetectionRecorded {
                id,
                occurred_at: *detected_at,
                at,
                by,
            }
        }
        IncidentCommand::LinkProblem { problem, .. } => {
            if inc.problems.contains(problem) {
                return Err(DomainError::validation(
                    "problem",
                    format!("problem {problem} is already linked"),
                ));
            }
            validate::links("problems", inc.problems.len() + 1, limits)?;
            IncidentEvent::ProblemLinked {
                id,
                problem: *problem,
                at,
                by,
            }
        }
        IncidentCommand::LinkCausingChange { change, .. } => {
            if inc.caused_by_changes.contains(change) {
                return Err(DomainError::validation(
                    "change",
                    format!("change {change} is already linked"),
                ));
            }
            validate::links("caused_by_changes", inc.caused_by_changes.len() + 1, limits)?;
            IncidentEvent::CausingChangeLinked {
                id,
                change: *change,
                at,
                by,
            }
        }
        IncidentCommand::AddWorkNote { text, .. } => {
            validate::text("text", text, limits)?;
            let count = usize::try_from(inc.work_note_count).unwrap_or(usize::MAX);
            validate::links("work_notes", count.saturating_add(1), limits)?;
            IncidentEvent::WorkNoteAdded {
                id,
                text: text.clone(),
                at,
                by,
            }
        }
        IncidentCommand::AddComment { text, .. } => return add_comment(inc, text, ctx),
    };
    Ok(vec![event])
}

/// A comment the caller sees; the caller's own comment on an incident awaiting them resumes it
/// when the policy says so (both events in one decision).
fn add_comment(
    inc: &Incident,
    text: &str,
    ctx: &Context,
) -> Result<Vec<IncidentEvent>, DomainError> {
    let limits = &ctx.policy.limits;
    validate::text("text", text, limits)?;
    let count = usize::try_from(inc.comment_count).unwrap_or(usize::MAX);
    validate::links("comments", count.saturating_add(1), limits)?;
    let (id, at, by) = (inc.id, ctx.now, ctx.actor.id.clone());
    let resumes = ctx.policy.incident.resume_on_caller_comment
        && ctx.actor.id == inc.caller
        && inc.status
            == (IncidentStatus::OnHold {
                reason: HoldReason::AwaitingCaller,
            });
    let mut events = vec![IncidentEvent::CommentAdded {
        id,
        text: text.to_owned(),
        at,
        by: by.clone(),
    }];
    if resumes {
        events.push(IncidentEvent::Resumed { id, at, by });
    }
    Ok(events)
}

/// The caller's window to reject a resolution: an actor who may not work incidents (the
/// caller, a requester) reopens only within `policy.incident.caller_reject_days` of the
/// latest resolution; workers are not limited.
fn caller_may_still_reject(inc: &Incident, ctx: &Context) -> Result<(), DomainError> {
    let incident_policy = &ctx.policy.incident;
    if ctx
        .policy
        .authorization
        .allows(&ctx.actor, Permission::IncidentWork)
    {
        return Ok(());
    }
    let Some(resolved_at) = inc.resolved_at else {
        return Ok(());
    };
    match incident_policy.caller_reject_until(resolved_at) {
        Some(until) if ctx.now > until => Err(DomainError::RejectWindowClosed {
            days: incident_policy.caller_reject_days,
            resolved_at,
            window_ended_at: until,
        }),
        Some(_) | None => Ok(()),
    }
}

/// The auto-close guard: the policy's auto-close delay ([`Policy::auto_close_due`]) has
/// passed since the (latest) resolution.
///
/// [`Policy::auto_close_due`]: crate::Policy::auto_close_due
fn auto_close_due(inc: &Incident, ctx: &Context) -> Result<(), DomainError> {
    let days = ctx.policy.incident.auto_close_after_days;
    let unit = if ctx.policy.incident.auto_close_calendar.is_some() {
        "business"
    } else {
        "calendar"
    };
    let due = inc
        .resolved_at
        .and_then(|resolved| ctx.policy.auto_close_due(resolved));
    match due {
        Some(due) if ctx.now >= due => Ok(()),
        Some(due) => Err(DomainError::validation(
            "auto_close",
            format!(
                "requires: {days} {unit} day(s) since the resolution (due at {due}, now is {})",
                ctx.now
            ),
        )),
        None => Err(DomainError::validation(
            "auto_close",
            format!("requires: {days} {unit} day(s) since the resolution"),
        )),
    }
}

fn require_parent(inc: &Incident, parent: crate::ids::IncidentId) -> Result<(), DomainError> {
    if inc.parent == Some(parent) {
        Ok(())
    } else {
        Err(DomainError::validation(
            "parent",
            format!("{parent} is not this incident's parent"),
        ))
    }
}

fn assign(
    inc: &Incident,
    group: Option<&crate::ids::GroupId>,
    assignee: Option<&crate::ids::ActorId>,
    ctx: &Context,
) -> Result<Vec<IncidentEvent>, DomainError> {
    let limits = &ctx.policy.limits;
    if group.is_none() && assignee.is_none() {
        return Err(DomainError::validation(
            "assignee",
            "give a group, an assignee or both",
        ));
    }
    if let Some(group) = group {
        short("group", group.as_str(), limits)?;
    }
    if let Some(assignee) = assignee {
        short("assignee", assignee.as_str(), limits)?;
    }
    if group == inc.group.as_ref() && assignee == inc.assignee.as_ref() {
        return Err(DomainError::validation(
            "assignee",
            "the assignment does not change",
        ));
    }
    // Filling an empty slot is routing; replacing a set one is the ping-pong KPIs count.
    let group_changed = inc.group.is_some() && group != inc.group.as_ref();
    let assignee_changed = inc.assignee.is_some() && assignee != inc.assignee.as_ref();
    let (id, at, by) = (inc.id, ctx.now, ctx.actor.id.clone());
    let group = group.cloned();
    let assignee = assignee.cloned();
    let previous_group = inc.group.clone();
    let previous_assignee = inc.assignee.clone();
    let starts_work = inc.status == IncidentStatus::New && assignee.is_some();
    let mut events = vec![if group_changed || assignee_changed {
        IncidentEvent::Reassigned {
            id,
            group,
            assignee,
            previous_group,
            previous_assignee,
            at,
            by: by.clone(),
        }
    } else {
        IncidentEvent::Assigned {
            id,
            group,
            assignee,
            previous_group,
            previous_assignee,
            at,
            by: by.clone(),
        }
    }];
    if starts_work {
        events.push(IncidentEvent::Acknowledged { id, at, by });
    }
    Ok(events)
}
