//! `decide` and `evolve` for problems.

use crate::context::Context;
use crate::decider::Decider;
use crate::error::DomainError;
use crate::ids::{ActorId, ChangeId, CiId, IncidentId, ProblemId, RecordKind};
use crate::policy::Limits;
use crate::problem::command::{ProblemCommand, ProblemCommandKind};
use crate::problem::event::ProblemEvent;
use crate::problem::state::{
    FixOutcome, KnownError, Problem, ProblemStatus, ProblemStatusKind, ResolutionCode, WorkNote,
};
use crate::problem::table::guard;
use crate::validate;
use std::collections::BTreeSet;

/// The problem lifecycle as a [`Decider`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ProblemDecider;

impl Decider for ProblemDecider {
    type State = Option<Problem>;
    type Command = ProblemCommand;
    type Event = ProblemEvent;

    fn decide(
        state: &Option<Problem>,
        cmd: &ProblemCommand,
        ctx: &Context,
    ) -> Result<Vec<ProblemEvent>, DomainError> {
        let current = identify(state.as_ref(), cmd)?;
        Problem::transitions().check(current.map(|p| p.status.kind()), cmd.kind())?;
        ctx.policy
            .authorization
            .require(&ctx.actor, cmd.kind().permission())?;
        Step { ctx }.run(current, cmd)
    }

    fn evolve(state: Option<Problem>, event: &ProblemEvent) -> Option<Problem> {
        match state {
            None => created(event),
            // Events of another record are not ours to apply.
            Some(p) if p.id != event.id() => Some(p),
            Some(p) => Some(apply(p, event)),
        }
    }
}

/// Checks identity: creating commands need no record, every other needs this one.
fn identify<'a>(
    state: Option<&'a Problem>,
    cmd: &ProblemCommand,
) -> Result<Option<&'a Problem>, DomainError> {
    let creates = cmd.kind() == ProblemCommandKind::Create;
    match (state, creates) {
        (None, true) => Ok(None),
        (None, false) => Err(not_found(cmd.id())),
        (Some(p), true) => Err(DomainError::AlreadyExists {
            kind: RecordKind::Problem,
            id: p.id.to_string(),
            name: None,
        }),
        (Some(p), false) if p.id != cmd.id() => Err(DomainError::WrongRecord {
            kind: RecordKind::Problem,
            command_id: cmd.id().to_string(),
            state_id: p.id.to_string(),
        }),
        (Some(p), false) => Ok(Some(p)),
    }
}

fn not_found(id: ProblemId) -> DomainError {
    DomainError::NotFound {
        kind: RecordKind::Problem,
        id: id.to_string(),
    }
}

/// The existing record; `identify` already guarantees it, this keeps the code panic-free.
fn existing(current: Option<&Problem>, id: ProblemId) -> Result<&Problem, DomainError> {
    current.ok_or_else(|| not_found(id))
}

/// One decision, after identity, table and permission have passed: validation, guards, events.
struct Step<'c> {
    ctx: &'c Context,
}

impl Step<'_> {
    fn limits(&self) -> &Limits {
        &self.ctx.policy.limits
    }

    fn by(&self) -> ActorId {
        self.ctx.actor.id.clone()
    }

    fn run(
        &self,
        current: Option<&Problem>,
        cmd: &ProblemCommand,
    ) -> Result<Vec<ProblemEvent>, DomainError> {
        let at = self.ctx.now;
        let by = self.by();
        let limits = *self.limits();
        match cmd {
            ProblemCommand::Create {
                id,
                title,
                description,
                impact,
                urgency,
                service,
                cis,
            } => {
                if current.is_some() {
                    return Err(DomainError::AlreadyExists {
                        kind: RecordKind::Problem,
                        id: id.to_string(),
                        name: None,
                    });
                }
                validate::title("title", title, &limits)?;
                validate::bounded_text("description", description, limits.max_text_bytes)?;
                if let Some(service) = service {
                    validate::required_text("service", service.as_str(), limits.max_title_bytes)?;
                }
                validate_cis("cis", cis, &limits)?;
                Ok(vec![ProblemEvent::Created {
                    id: *id,
                    title: title.clone(),
                    description: description.clone(),
                    impact: *impact,
                    urgency: *urgency,
                    priority: self.ctx.policy.priority_matrix.priority(*impact, *urgency),
                    service: service.clone(),
                    cis: cis.clone(),
                    policy_version: self.ctx.policy.version,
                    at,
                    by,
                }])
            }
            ProblemCommand::Assign {
                id,
                group,
                assignee,
            } => {
                let p = existing(current, *id)?;
                validate::required_text("group", group.as_str(), limits.max_title_bytes)?;
                if let Some(assignee) = assignee {
                    validate::required_text("assignee", assignee.as_str(), limits.max_title_bytes)?;
                }
                if p.group.as_ref() == Some(group) && p.assignee == *assignee {
                    return Err(DomainError::validation(
                        "assignee",
                        "the problem is already assigned so",
                    ));
                }
                Ok(vec![ProblemEvent::Assigned {
                    id: *id,
                    group: group.clone(),
                    assignee: assignee.clone(),
                    at,
                    by,
                }])
            }
            ProblemCommand::Reprioritize {
                id,
                impact,
                urgency,
                reason,
            } => {
                let p = existing(current, *id)?;
                validate::text("reason", reason, &limits)?;
                if p.impact == *impact && p.urgency == *urgency {
                    return Err(DomainError::validation(
                        "impact",
                        "impact and urgency are unchanged",
                    ));
                }
                Ok(vec![ProblemEvent::Reprioritized {
                    id: *id,
                    impact: *impact,
                    urgency: *urgency,
                    priority: self.ctx.policy.priority_matrix.priority(*impact, *urgency),
                    reason: reason.clone(),
                    at,
                    by,
                }])
            }
            ProblemCommand::Assess { id } => {
                let p = existing(current, *id)?;
                if p.assignee.is_none() {
                    return Err(unmet("assignee", guard::ASSIGNEE_SET));
                }
                Ok(vec![ProblemEvent::Assessed { id: *id, at, by }])
            }
            ProblemCommand::StartAnalysis { id } => {
                existing(current, *id)?;
                Ok(vec![ProblemEvent::AnalysisStarted { id: *id, at, by }])
            }
            ProblemCommand::RecordRootCause { id, cause } => {
                existing(current, *id)?;
                validate::text("cause", cause, &limits)?;
                Ok(vec![ProblemEvent::RootCauseRecorded {
                    id: *id,
                    cause: cause.clone(),
                    at,
                    by,
                }])
            }
            ProblemCommand::MarkKnownError {
                id,
                symptom,
                root_cause,
                workaround,
                affected_cis,
            } => {
                let p = existing(current, *id)?;
                refuse_withdrawn(p)?;
                if p.known_error.is_some() {
                    return Err(DomainError::validation(
                        "known_error",
                        "a known error is already published; use update_known_error",
                    ));
                }
                let draft = Draft {
                    symptom,
                    root_cause,
                    workaround,
                    affected_cis,
                };
                draft.validate(&limits)?;
                Ok(vec![self.publish(p, draft.known_error(at, at, 1))])
            }
            ProblemCommand::UpdateKnownError {
                id,
                symptom,
                root_cause,
                workaround,
                affected_cis,
            } => {
                let p = existing(current, *id)?;
                refuse_withdrawn(p)?;
                let Some(previous) = &p.known_error else {
                    return Err(DomainError::validation(
                        "known_error",
                        "no known error is published yet; use mark_known_error",
                    ));
                };
                let draft = Draft {
                    symptom,
                    root_cause,
                    workaround,
                    affected_cis,
                };
                draft.validate(&limits)?;
                let revision =
                    previous
                        .revision
                        .checked_add(1)
                        .ok_or(DomainError::LimitExceeded {
                            what: "known_error.revision".to_owned(),
                            limit: u32::MAX as usize,
                        })?;
                Ok(vec![self.publish(
                    p,
                    draft.known_error(previous.published_at, at, revision),
                )])
            }
            ProblemCommand::StartFix { id, fix_notes } => {
                let p = existing(current, *id)?;
                validate::text("fix_notes", fix_notes, &limits)?;
                if p.cause_notes.is_none() {
                    return Err(unmet("cause_notes", guard::ROOT_CAUSE_RECORDED));
                }
                Ok(vec![ProblemEvent::FixStarted {
                    id: *id,
                    fix_notes: fix_notes.clone(),
                    at,
                    by,
                }])
            }
            ProblemCommand::ResolveFixed { id, notes } => {
                let p = existing(current, *id)?;
                validate::text("notes", notes, &limits)?;
                Ok(vec![self.resolved(
                    p,
                    ResolutionCode::FixApplied,
                    notes.clone(),
                )])
            }
            ProblemCommand::AcceptRisk { id, reason } => {
                let p = existing(current, *id)?;
                validate::text("reason", reason, &limits)?;
                // Accepting a risk nobody has identified is closing the problem unanalysed.
                if p.cause_notes.is_none() {
                    return Err(unmet("cause_notes", guard::ROOT_CAUSE_RECORDED));
                }
                Ok(vec![self.resolved(
                    p,
                    ResolutionCode::RiskAccepted,
                    reason.clone(),
                )])
            }
            ProblemCommand::MarkDuplicate { id, of } => {
                let p = existing(current, *id)?;
                if of == id {
                    return Err(DomainError::validation(
                        "of",
                        "a problem cannot duplicate itself",
                    ));
                }
                Ok(vec![ProblemEvent::MarkedDuplicate {
                    id: *id,
                    of: *of,
                    linked_incidents: p.incidents.clone(),
                    fixing_changes: p.fixing_changes.clone(),
                    at,
                    by,
                }])
            }
            ProblemCommand::Cancel { id, reason } => {
                existing(current, *id)?;
                validate::text("reason", reason, &limits)?;
                Ok(vec![ProblemEvent::Canceled {
                    id: *id,
                    reason: reason.clone(),
                    at,
                    by,
                }])
            }
            ProblemCommand::Close { id } => {
                let p = existing(current, *id)?;
                let code = resolved_code(p)?;
                Ok(vec![ProblemEvent::Closed {
                    id: *id,
                    code,
                    at,
                    by,
                }])
            }
            ProblemCommand::Reanalyze { id, reason } => {
                let p = existing(current, *id)?;
                validate::text("reason", reason, &limits)?;
                refuse_duplicate(p)?;
                let previous_code = p.status.code().cloned().ok_or_else(|| {
                    DomainError::validation(
                        "status",
                        "only a resolved or closed problem is re-analysed",
                    )
                })?;
                Ok(vec![ProblemEvent::Reanalyzed {
                    id: *id,
                    reason: reason.clone(),
                    previous_code,
                    at,
                    by,
                }])
            }
            ProblemCommand::LinkIncident { id, incident } => {
                let p = existing(current, *id)?;
                refuse_duplicate(p)?;
                if p.incidents.contains(incident) {
                    return Err(DomainError::validation(
                        "incident",
                        format!("incident {incident} is already linked"),
                    ));
                }
                validate::links("incidents", p.incidents.len() + 1, &limits)?;
                Ok(vec![ProblemEvent::IncidentLinked {
                    id: *id,
                    incident: *incident,
                    at,
                    by,
                }])
            }
            ProblemCommand::UnlinkIncident { id, incident } => {
                let p = existing(current, *id)?;
                if !p.incidents.contains(incident) {
                    return Err(not_linked_incident(*incident));
                }
                Ok(vec![ProblemEvent::IncidentUnlinked {
                    id: *id,
                    incident: *incident,
                    at,
                    by,
                }])
            }
            ProblemCommand::LinkFixingChange { id, change } => {
                let p = existing(current, *id)?;
                if p.fixing_changes.contains_key(change) {
                    return Err(DomainError::validation(
                        "change",
                        format!("change {change} is already linked"),
                    ));
                }
                validate::links("fixing_changes", p.fixing_changes.len() + 1, &limits)?;
                Ok(vec![ProblemEvent::FixingChangeLinked {
                    id: *id,
                    change: *change,
                    at,
                    by,
                }])
            }
            ProblemCommand::RecordFixChangeOutcome {
                id,
                change,
                successful,
                change_name,
            } => {
                let p = existing(current, *id)?;
                let outcome = if *successful {
                    FixOutcome::Successful
                } else {
                    FixOutcome::Unsuccessful
                };
                self.fix_change_outcome(p, *change, change_name.as_deref(), outcome)
            }
            ProblemCommand::RecordFixChangeCanceled {
                id,
                change,
                change_name,
            } => {
                let p = existing(current, *id)?;
                self.fix_change_outcome(p, *change, change_name.as_deref(), FixOutcome::Canceled)
            }
            ProblemCommand::AddWorkNote { id, text } => {
                let p = existing(current, *id)?;
                validate::text("text", text, &limits)?;
                validate::links("work_notes", p.work_notes.len() + 1, &limits)?;
                Ok(vec![ProblemEvent::WorkNoteAdded {
                    id: *id,
                    text: text.clone(),
                    at,
                    by,
                }])
            }
        }
    }

    fn publish(&self, p: &Problem, known_error: KnownError) -> ProblemEvent {
        ProblemEvent::KnownErrorPublished {
            id: p.id,
            title: p.title.clone(),
            service: p.service.clone(),
            priority: p.priority,
            known_error,
            at: self.ctx.now,
            by: self.by(),
        }
    }

    fn resolved(&self, p: &Problem, code: ResolutionCode, notes: String) -> ProblemEvent {
        ProblemEvent::Resolved {
            id: p.id,
            code,
            notes,
            linked_incidents: p.incidents.clone(),
            at: self.ctx.now,
            by: self.by(),
        }
    }

    /// Records a fixing change's outcome (or its cancellation). In Fix in Progress, the fix is
    /// in once no fixing change is pending and one succeeded during this fix: the success of
    /// the last pending change, or the cancellation of the last pending change after another
    /// one succeeded, moves the problem on to Resolved (FixApplied). A failure never does.
    fn fix_change_outcome(
        &self,
        p: &Problem,
        change: ChangeId,
        change_name: Option<&str>,
        outcome: FixOutcome,
    ) -> Result<Vec<ProblemEvent>, DomainError> {
        if let Some(name) = change_name {
            // A change's human number, nothing else: the text goes into resolution notes.
            let digits = name.strip_prefix("CHG").unwrap_or_default();
            if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(DomainError::validation(
                    "change_name",
                    "must be a change number such as CHG0000001",
                ));
            }
        }
        match p.fixing_changes.get(&change) {
            None => {
                return Err(DomainError::validation(
                    "change",
                    format!("change {change} is not linked as a fix"),
                ));
            }
            Some(recorded) if !recorded.is_pending() => {
                return Err(DomainError::validation(
                    "change",
                    format!("the outcome of change {change} is already recorded"),
                ));
            }
            Some(_) => {}
        }
        let mut events = vec![ProblemEvent::FixChangeOutcomeRecorded {
            id: p.id,
            change,
            outcome,
            at: self.ctx.now,
            by: self.by(),
        }];
        let others_pending = p
            .fixing_changes
            .iter()
            .any(|(c, o)| *c != change && o.is_pending());
        let named = change_name.map_or_else(|| change.to_string(), str::to_owned);
        let notes = match outcome {
            FixOutcome::Successful => Some(format!(
                "fixing change {named} closed successfully; no fixing change pending"
            )),
            FixOutcome::Canceled if p.fix_succeeded_at.is_some() => Some(format!(
                "fixing change {named} was canceled; an earlier fixing change succeeded and \
                 no fixing change is pending"
            )),
            FixOutcome::Canceled | FixOutcome::Unsuccessful | FixOutcome::Pending => None,
        };
        if let Some(notes) = notes
            && !others_pending
            && p.status.kind() == ProblemStatusKind::FixInProgress
        {
            events.push(self.resolved(p, ResolutionCode::FixApplied, notes));
        }
        Ok(events)
    }
}

/// The four known-error fields of a command, before publication.
struct Draft<'a> {
    symptom: &'a String,
    root_cause: &'a String,
    workaround: &'a Option<String>,
    affected_cis: &'a BTreeSet<CiId>,
}

impl Draft<'_> {
    fn validate(&self, limits: &Limits) -> Result<(), DomainError> {
        validate::text("symptom", self.symptom, limits)?;
        validate::text("root_cause", self.root_cause, limits)?;
        if let Some(workaround) = self.workaround {
            // "No workaround" is said with None; a blank one would read as a workaround.
            validate::text("workaround", workaround, limits)?;
        }
        validate_cis("affected_cis", self.affected_cis, limits)
    }

    fn known_error(
        &self,
        published_at: chrono::DateTime<chrono::Utc>,
        revised_at: chrono::DateTime<chrono::Utc>,
        revision: u32,
    ) -> KnownError {
        KnownError {
            symptom: self.symptom.clone(),
            root_cause: self.root_cause.clone(),
            workaround: self.workaround.clone(),
            affected_cis: self.affected_cis.clone(),
            published_at,
            revised_at,
            revision,
        }
    }
}

fn validate_cis(field: &str, cis: &BTreeSet<CiId>, limits: &Limits) -> Result<(), DomainError> {
    validate::links(field, cis.len(), limits)?;
    for ci in cis {
        validate::required_text(field, ci.as_str(), limits.max_title_bytes)?;
    }
    Ok(())
}

/// A guard of the table that does not hold.
fn unmet(field: &str, guard: &str) -> DomainError {
    DomainError::validation(field, format!("requires: {guard}"))
}

fn not_linked_incident(incident: IncidentId) -> DomainError {
    DomainError::validation("incident", format!("incident {incident} is not linked"))
}

/// Knowledge of a problem closed as a duplicate lives in its original; a canceled problem was
/// not a problem, so it has none to publish (re-analyse it first if that changed).
fn refuse_withdrawn(p: &Problem) -> Result<(), DomainError> {
    refuse_duplicate(p)?;
    match p.status {
        ProblemStatus::Closed {
            code: ResolutionCode::Canceled,
        } => Err(DomainError::validation(
            "status",
            "closed as canceled: not a problem, so nothing for the KEDB; re-analyse it first",
        )),
        ProblemStatus::New
        | ProblemStatus::Assess
        | ProblemStatus::RootCauseAnalysis
        | ProblemStatus::FixInProgress
        | ProblemStatus::Resolved { .. }
        | ProblemStatus::Closed { .. } => Ok(()),
    }
}

/// A duplicate lives on in its original: knowledge and incidents go there, and re-analysis
/// happens there.
fn refuse_duplicate(p: &Problem) -> Result<(), DomainError> {
    match p.duplicate_of() {
        Some(of) => Err(DomainError::validation(
            "status",
            format!("closed as a duplicate of problem {of}; work on that problem instead"),
        )),
        None => Ok(()),
    }
}

fn resolved_code(p: &Problem) -> Result<ResolutionCode, DomainError> {
    match &p.status {
        ProblemStatus::Resolved { code } => Ok(code.clone()),
        ProblemStatus::New
        | ProblemStatus::Assess
        | ProblemStatus::RootCauseAnalysis
        | ProblemStatus::FixInProgress
        | ProblemStatus::Closed { .. } => Err(DomainError::validation(
            "status",
            "only a resolved problem is closed",
        )),
    }
}

/// `evolve` for the state before creation: only the creating event applies.
fn created(event: &ProblemEvent) -> Option<Problem> {
    match event {
        ProblemEvent::Created {
            id,
            title,
            description,
            impact,
            urgency,
            priority,
            service,
            cis,
            policy_version,
            at,
            by,
        } => Some(Problem {
            id: *id,
            title: title.clone(),
            description: description.clone(),
            impact: *impact,
            urgency: *urgency,
            priority: *priority,
            service: service.clone(),
            cis: cis.clone(),
            status: ProblemStatus::New,
            opened_by: by.clone(),
            group: None,
            assignee: None,
            cause_notes: None,
            fix_notes: None,
            resolution_notes: None,
            known_error: None,
            incidents: BTreeSet::new(),
            fixing_changes: Default::default(),
            work_notes: Vec::new(),
            opened_at: *at,
            policy_version: *policy_version,
            assessed_at: None,
            rca_started_at: None,
            fix_started_at: None,
            fix_succeeded_at: None,
            resolved_at: None,
            closed_at: None,
            reanalysis_count: 0,
        }),
        ProblemEvent::Assigned { .. }
        | ProblemEvent::Reprioritized { .. }
        | ProblemEvent::Assessed { .. }
        | ProblemEvent::AnalysisStarted { .. }
        | ProblemEvent::RootCauseRecorded { .. }
        | ProblemEvent::KnownErrorPublished { .. }
        | ProblemEvent::FixStarted { .. }
        | ProblemEvent::Resolved { .. }
        | ProblemEvent::MarkedDuplicate { .. }
        | ProblemEvent::Canceled { .. }
        | ProblemEvent::Closed { .. }
        | ProblemEvent::Reanalyzed { .. }
        | ProblemEvent::IncidentLinked { .. }
        | ProblemEvent::IncidentUnlinked { .. }
        | ProblemEvent::FixingChangeLinked { .. }
        | ProblemEvent::FixChangeOutcomeRecorded { .. }
        | ProblemEvent::WorkNoteAdded { .. } => None,
    }
}

/// `evolve` for an existing record. Trusts the event: `decide` validated it when it was new.
fn apply(mut p: Problem, event: &ProblemEvent) -> Problem {
    match event {
        // A second creation of the same record is a replay artefact: the first one stands.
        ProblemEvent::Created { .. } => {}
        ProblemEvent::Assigned {
            group, assignee, ..
        } => {
            p.group = Some(group.clone());
            p.assignee = assignee.clone();
        }
        ProblemEvent::Reprioritized {
            impact,
            urgency,
            priority,
            ..
        } => {
            p.impact = *impact;
            p.urgency = *urgency;
            p.priority = *priority;
        }
        ProblemEvent::Assessed { at, .. } => {
            p.status = ProblemStatus::Assess;
            p.assessed_at = Some(*at);
        }
        ProblemEvent::AnalysisStarted { at, .. } => {
            p.status = ProblemStatus::RootCauseAnalysis;
            p.rca_started_at = Some(*at);
        }
        ProblemEvent::RootCauseRecorded { cause, .. } => {
            p.cause_notes = Some(cause.clone());
        }
        ProblemEvent::KnownErrorPublished { known_error, .. } => {
            p.known_error = Some(known_error.clone());
        }
        ProblemEvent::FixStarted { fix_notes, at, .. } => {
            p.status = ProblemStatus::FixInProgress;
            p.fix_notes = Some(fix_notes.clone());
            p.fix_started_at = Some(*at);
            p.fix_succeeded_at = None;
        }
        ProblemEvent::Resolved {
            code, notes, at, ..
        } => {
            p.status = ProblemStatus::Resolved { code: code.clone() };
            p.resolution_notes = Some(notes.clone());
            p.resolved_at = Some(*at);
        }
        ProblemEvent::MarkedDuplicate { of, at, .. } => {
            p.status = ProblemStatus::Closed {
                code: ResolutionCode::Duplicate { of: *of },
            };
            p.closed_at = Some(*at);
        }
        ProblemEvent::Canceled { reason, at, .. } => {
            p.status = ProblemStatus::Closed {
                code: ResolutionCode::Canceled,
            };
            p.resolution_notes = Some(reason.clone());
            p.closed_at = Some(*at);
        }
        ProblemEvent::Closed { code, at, .. } => {
            p.status = ProblemStatus::Closed { code: code.clone() };
            p.closed_at = Some(*at);
        }
        ProblemEvent::Reanalyzed { at, .. } => {
            p.status = ProblemStatus::RootCauseAnalysis;
            p.reanalysis_count = p.reanalysis_count.saturating_add(1);
            p.rca_started_at = Some(*at);
            p.fix_started_at = None;
            p.fix_succeeded_at = None;
            p.resolved_at = None;
            p.closed_at = None;
            p.resolution_notes = None;
        }
        ProblemEvent::IncidentLinked { incident, .. } => {
            p.incidents.insert(*incident);
        }
        ProblemEvent::IncidentUnlinked { incident, .. } => {
            p.incidents.remove(incident);
        }
        ProblemEvent::FixingChangeLinked { change, .. } => {
            p.fixing_changes
                .entry(*change)
                .or_insert(FixOutcome::Pending);
        }
        ProblemEvent::FixChangeOutcomeRecorded {
            change,
            outcome,
            at,
            ..
        } => {
            if *outcome == FixOutcome::Successful
                && p.status.kind() == ProblemStatusKind::FixInProgress
            {
                p.fix_succeeded_at = Some(*at);
            }
            p.fixing_changes.insert(*change, *outcome);
        }
        ProblemEvent::WorkNoteAdded { text, at, by, .. } => {
            p.work_notes.push(WorkNote {
                text: text.clone(),
                at: *at,
                by: by.clone(),
            });
        }
    }
    p
}
