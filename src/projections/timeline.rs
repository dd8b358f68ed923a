//! The audit trail of a record: what happened, who did it, when (recorded and, for backdated
//! facts, when it happened), why, and what caused it or what it caused. Read from the record's
//! own stream and the stored events' metadata (actor, correlation and causation ids), plus the
//! causation index for the effects.

use crate::numbers::HumanNumber;
use crate::record::{RecordEvent, RecordRef};
use chrono::{DateTime, Utc};
use opsledger_core::change::ChangeEvent;
use opsledger_core::incident::{
    HoldReason, IncidentEvent, ReopenSource, ResolutionSource, Visibility,
};
use opsledger_core::problem::ProblemEvent;
use serde::Serialize;
use uuid::Uuid;

/// One entry of a record's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    /// Log position.
    pub position: u64,
    /// Version in the record's stream.
    pub version: u64,
    /// Event id.
    pub event_id: Uuid,
    /// Event type, for example `incident.resolved`.
    pub event_type: String,
    /// When the store recorded it.
    pub recorded_at: DateTime<Utc>,
    /// When it happened (earlier than `recorded_at` for backdated facts).
    pub occurred_at: DateTime<Utc>,
    /// Who: the actor, or `<system>:<process>` for process managers.
    pub actor: String,
    /// What happened, in words.
    pub what: String,
    /// Why: the reason, notes or comment the event carries.
    pub why: Option<String>,
    /// Who may read it: `internal` for work notes, `public` (the caller sees it) otherwise.
    pub visibility: Visibility,
    /// The request or workflow it belongs to.
    pub correlation_id: Option<Uuid>,
    /// The event that caused it (follow-ups of process managers).
    pub causation_id: Option<Uuid>,
    /// That event, resolved.
    pub caused_by: Option<EventRef>,
    /// Events this one caused on other records.
    pub caused: Vec<EventRef>,
    /// The decoded event.
    pub event: RecordEvent,
}

/// Another event, named by record and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRef {
    /// The event id.
    pub event_id: Uuid,
    /// Its position.
    pub position: u64,
    /// Its record, when it belongs to one.
    pub record: Option<RecordRef>,
    /// That record's number.
    pub number: Option<HumanNumber>,
    /// Its type.
    pub event_type: String,
}

impl std::fmt::Display for EventRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.number, &self.record) {
            (Some(n), _) => write!(f, "{n} {}", self.event_type),
            (None, Some(r)) => write!(f, "{r} {}", self.event_type),
            (None, None) => write!(f, "{} (#{})", self.event_type, self.position),
        }
    }
}

/// Snake-case label of a serde enum value (`solved_permanently`, `awaiting_caller`, ...).
pub(crate) fn label<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Object(map)) => {
            ["kind", "code", "type", "status", "conflict", "decision"]
                .iter()
                .find_map(|k| map.get(*k).and_then(|v| v.as_str()).map(str::to_owned))
                .unwrap_or_else(|| serde_json::Value::Object(map).to_string())
        }
        Ok(other) => other.to_string(),
        Err(_) => String::from("?"),
    }
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "-".to_owned(), ToString::to_string)
}

fn hold(reason: &HoldReason) -> String {
    match reason {
        HoldReason::AwaitingCaller => "awaiting caller".to_owned(),
        HoldReason::AwaitingProblem { problem } => format!("awaiting problem {problem}"),
        HoldReason::AwaitingVendor => "awaiting vendor".to_owned(),
        HoldReason::AwaitingChange { change } => format!("awaiting change {change}"),
        HoldReason::AwaitingParent { parent } => format!("awaiting parent {parent}"),
    }
}

/// (what, why) of an event, in words.
pub fn describe(event: &RecordEvent) -> (String, Option<String>) {
    match event {
        RecordEvent::Incident(e) => incident(e),
        RecordEvent::Problem(e) => problem(e),
        RecordEvent::Change(e) => change(e),
    }
}

fn incident(e: &IncidentEvent) -> (String, Option<String>) {
    use IncidentEvent as E;
    match e {
        E::Opened {
            title,
            priority,
            caller,
            group,
            assignee,
            alert,
            ..
        } => (
            format!(
                "opened {priority} \"{title}\" for {caller} (group {}, assignee {}){}",
                opt(group),
                opt(assignee),
                alert
                    .as_ref()
                    .map(|a| format!(" from alert {} ({})", a.dedup_key, a.source))
                    .unwrap_or_default()
            ),
            None,
        ),
        E::Acknowledged { .. } => ("acknowledged: work started".to_owned(), None),
        E::Assigned {
            group, assignee, ..
        } => (
            format!(
                "assigned to group {}, assignee {}",
                opt(group),
                opt(assignee)
            ),
            None,
        ),
        E::Reassigned {
            group,
            assignee,
            previous_group,
            previous_assignee,
            ..
        } => (
            format!(
                "reassigned from {}/{} to {}/{}",
                opt(previous_group),
                opt(previous_assignee),
                opt(group),
                opt(assignee)
            ),
            None,
        ),
        E::PutOnHold { reason, .. } => (format!("put on hold, {}", hold(reason)), None),
        E::Resumed { .. } => ("resumed".to_owned(), None),
        E::Resolved {
            code,
            notes,
            source,
            ..
        } => (
            format!(
                "resolved ({}){}",
                label(code),
                match source {
                    ResolutionSource::Direct => String::new(),
                    ResolutionSource::Parent { parent } => format!(" with its parent {parent}"),
                    ResolutionSource::Problem { problem } =>
                        format!(" by the fix of problem {problem}"),
                }
            ),
            Some(notes.clone()),
        ),
        E::Reopened { source, .. } => match source {
            ReopenSource::Direct { reason } => ("reopened".to_owned(), Some(reason.clone())),
            ReopenSource::Parent { parent } => (format!("reopened with its parent {parent}"), None),
        },
        E::Closed { .. } => ("closed".to_owned(), None),
        E::AutoClosed { .. } => ("closed automatically".to_owned(), None),
        E::Canceled { reason, .. } => (
            format!("canceled ({})", label(reason)),
            match reason {
                opsledger_core::incident::CancelReason::Duplicate { of } => {
                    Some(format!("duplicate of {of}"))
                }
                opsledger_core::incident::CancelReason::NotAnIncident => None,
                opsledger_core::incident::CancelReason::Other { text } => Some(text.clone()),
            },
        ),
        E::Reprioritized {
            previous_priority,
            priority,
            reason,
            ..
        } => (
            format!("reprioritised {previous_priority} -> {priority}"),
            Some(reason.clone()),
        ),
        E::EscalatedFunctionally {
            to_group,
            tier,
            reason,
            ..
        } => (
            format!("escalated to group {to_group} (tier {tier})"),
            Some(reason.clone()),
        ),
        E::EscalatedHierarchically {
            to, level, reason, ..
        } => (
            format!("escalated to {to} (level {level})"),
            Some(reason.clone()),
        ),
        E::MajorProposed { reason, .. } => (
            "proposed as a major incident".to_owned(),
            Some(reason.clone()),
        ),
        E::MajorAccepted { .. } => ("accepted as a major incident".to_owned(), None),
        E::MajorRejected { reason, .. } => (
            "major-incident proposal rejected".to_owned(),
            Some(reason.clone()),
        ),
        E::ReviewPublished {
            revision,
            summary,
            action_items,
            ..
        } => (
            format!(
                "post-incident review published (revision {revision}, {} action items)",
                action_items.len()
            ),
            Some(summary.clone()),
        ),
        E::ParentLinked { parent, .. } => (format!("became a child of {parent}"), None),
        E::ChildLinked { child, .. } => (format!("{child} linked as a child"), None),
        E::DuplicateLinked { duplicate, .. } => {
            (format!("{duplicate} recorded as a duplicate"), None)
        }
        E::AlertCorrelated {
            dedup_key,
            seen_at,
            via: None,
            ..
        } => (format!("alert {dedup_key} fired again at {seen_at}"), None),
        E::AlertCorrelated {
            dedup_key,
            seen_at,
            via: Some(via),
            ..
        } => (
            format!(
                "alert {dedup_key} from {} fired at {seen_at} and joined through the service: {via}",
                via.source
            ),
            None,
        ),
        E::ImpactStartRecorded { occurred_at, .. } => {
            (format!("impact started at {occurred_at}"), None)
        }
        E::DetectionRecorded { occurred_at, .. } => (format!("detected at {occurred_at}"), None),
        E::ProblemLinked { problem, .. } => (format!("linked to problem {problem}"), None),
        E::CausingChangeLinked { change, .. } => (format!("caused by change {change}"), None),
        E::WorkNoteAdded { text, .. } => ("work note".to_owned(), Some(text.clone())),
        E::CommentAdded { text, .. } => ("comment".to_owned(), Some(text.clone())),
    }
}

fn problem(e: &ProblemEvent) -> (String, Option<String>) {
    use ProblemEvent as E;
    match e {
        E::Created {
            title, priority, ..
        } => (format!("created {priority} \"{title}\""), None),
        E::Assigned {
            group, assignee, ..
        } => (
            format!("assigned to group {group}, coordinator {}", opt(assignee)),
            None,
        ),
        E::Reprioritized {
            priority, reason, ..
        } => (format!("reprioritised to {priority}"), Some(reason.clone())),
        E::Assessed { .. } => ("assessment started".to_owned(), None),
        E::AnalysisStarted { .. } => ("root cause analysis started".to_owned(), None),
        E::RootCauseRecorded { cause, .. } => {
            ("root cause recorded".to_owned(), Some(cause.clone()))
        }
        E::KnownErrorPublished { known_error, .. } => (
            format!(
                "known error published to the KEDB (revision {})",
                known_error.revision
            ),
            Some(known_error.symptom.clone()),
        ),
        E::FixStarted { fix_notes, .. } => ("fix started".to_owned(), Some(fix_notes.clone())),
        E::Resolved {
            code,
            notes,
            linked_incidents,
            ..
        } => (
            format!(
                "resolved ({}), {} linked incident(s)",
                code.name(),
                linked_incidents.len()
            ),
            Some(notes.clone()),
        ),
        E::MarkedDuplicate { of, .. } => (format!("closed as a duplicate of {of}"), None),
        E::Canceled { reason, .. } => ("canceled".to_owned(), Some(reason.clone())),
        E::Closed { code, .. } => (format!("closed ({})", code.name()), None),
        E::Reanalyzed {
            reason,
            previous_code,
            ..
        } => (
            format!("re-analysis started (was {})", previous_code.name()),
            Some(reason.clone()),
        ),
        E::IncidentLinked { incident, .. } => (format!("incident {incident} linked"), None),
        E::IncidentUnlinked { incident, .. } => (format!("incident {incident} unlinked"), None),
        E::FixingChangeLinked { change, .. } => (format!("change {change} linked as a fix"), None),
        E::FixChangeOutcomeRecorded {
            change, outcome, ..
        } => (
            format!("fixing change {change} closed: {}", label(outcome)),
            None,
        ),
        E::WorkNoteAdded { text, .. } => ("work note".to_owned(), Some(text.clone())),
    }
}

fn change(e: &ChangeEvent) -> (String, Option<String>) {
    use ChangeEvent as E;
    match e {
        E::Requested {
            title,
            change_type,
            risk,
            ..
        } => (
            format!(
                "requested {} change \"{title}\" (risk {})",
                label(change_type),
                label(risk)
            ),
            None,
        ),
        E::Updated { .. } => ("updated".to_owned(), None),
        E::Planned {
            window,
            warnings,
            accepted,
            ..
        } => (
            format!(
                "planned for {window}{}{}",
                if warnings.is_empty() {
                    String::new()
                } else {
                    format!(", {} warning(s)", warnings.len())
                },
                if accepted.is_some() {
                    ", conflicts accepted"
                } else {
                    ""
                }
            ),
            accepted.as_ref().map(|a| a.reason.clone()),
        ),
        E::Submitted { .. } => ("submitted".to_owned(), None),
        E::AuthorizationRequested { .. } => {
            ("authorisation requested from the CAB".to_owned(), None)
        }
        E::Approved { round, comment, .. } => {
            (format!("approved (round {round})"), comment.clone())
        }
        E::Authorized { approvers, .. } => (
            format!(
                "authorised by {}",
                approvers
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None,
        ),
        E::Scheduled {
            window, accepted, ..
        } => (
            format!("scheduled for {window}"),
            accepted.as_ref().map(|a| a.reason.clone()),
        ),
        E::Rejected { round, reason, .. } => {
            (format!("rejected (round {round})"), Some(reason.clone()))
        }
        E::RevertedToNew {
            reason,
            canceled_approvals,
            ..
        } => (
            format!(
                "reverted to new, {} approval(s) canceled",
                canceled_approvals.len()
            ),
            Some(reason.clone()),
        ),
        E::ImplementationStarted { .. } => ("implementation started".to_owned(), None),
        E::Implemented { .. } => ("implemented".to_owned(), None),
        E::Closed { code, notes, .. } => (format!("closed ({})", label(code)), Some(notes.clone())),
        E::Canceled { reason, .. } => ("canceled".to_owned(), Some(reason.clone())),
        E::ProblemLinked { problem, .. } => (format!("fixes problem {problem}"), None),
        E::CausedIncidentRecorded { incident, .. } => (format!("caused incident {incident}"), None),
        E::WorkNoteAdded { note, .. } => ("work note".to_owned(), Some(note.clone())),
    }
}

/// The most causes one [`effects`] statement asks about. A chunk is padded (with lookups of
/// NULL) to the next power of two, so six prepared statements serve every page.
const EFFECTS_CHUNK: usize = 32;

/// The events each of `causes` caused, with positions up to `bound`, in log order: the entry
/// for `causes[i]` is `out[i]`. One statement per [`EFFECTS_CHUNK`] causes, so a timeline page
/// is a handful of lookups in the small `timeline_effects` table (only follow-ups and SLA
/// events have a row there), not one read transaction per event.
///
/// The statement is one equality lookup per cause joined by `UNION ALL`, each tagged with its
/// cause's slot, rather than `cause IN (...)`: SQLite builds a temporary table for an `IN`
/// list of parameters on every run (a pager and a page cache of its own, allocated and freed
/// each time) and sorts for the `ORDER BY` the list needed; these lookups need neither (each
/// slot is put in log order here), and no id is parsed back to find its slot.
pub(crate) fn effects(
    tables: &super::tables::Tables,
    causes: &[Uuid],
    bound: u64,
) -> crate::error::Result<Vec<Vec<EventRef>>> {
    use opsledger_store::SqlValue;
    // `SQL[k]` asks about 2^k causes.
    static SQL: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        (0..=EFFECTS_CHUNK.trailing_zeros())
            .map(|k| {
                let lookups: Vec<String> = (0..1usize << k)
                    .map(|i| {
                        format!(
                            "SELECT {i}, e.position, e.record, e.kind, e.event_type, r.number, \
                             e.event_id FROM timeline_effects e LEFT JOIN records r ON r.id = \
                             e.record WHERE e.cause = ?{} AND e.position <= ?1",
                            i + 2
                        )
                    })
                    .collect();
                lookups.join(" UNION ALL ")
            })
            .collect()
    });
    let mut out: Vec<Vec<EventRef>> = vec![Vec::new(); causes.len()];
    let mut malformed = false;
    for (chunk_index, chunk) in causes.chunks(EFFECTS_CHUNK).enumerate() {
        let first = chunk_index * EFFECTS_CHUNK;
        let width = chunk.len().next_power_of_two();
        let mut params = Vec::with_capacity(width + 1);
        params.push(SqlValue::Integer(i64::try_from(bound).unwrap_or(i64::MAX)));
        // Written into a buffer and copied once (`to_string` grows its string four times).
        params.extend(chunk.iter().map(|c| {
            SqlValue::Text(
                c.hyphenated()
                    .encode_lower(&mut Uuid::encode_buffer())
                    .to_owned(),
            )
        }));
        // The unused lookups compare with NULL, which matches nothing.
        params.resize(width + 1, SqlValue::Null);
        let sql = &SQL[width.trailing_zeros() as usize];
        tables.sql.query(sql, &params, &mut |row| {
            let text = |i: usize| match row.get(i) {
                Some(SqlValue::Text(t)) => Some(t.as_str()),
                Some(_) | None => None,
            };
            let slot = row
                .first()
                .and_then(SqlValue::as_i64)
                .and_then(|i| usize::try_from(i).ok())
                .filter(|i| *i < chunk.len())
                .map(|i| first + i);
            let position = row.get(1).and_then(SqlValue::as_i64);
            let event_id = text(6).and_then(|t| Uuid::parse_str(t).ok());
            let (Some(slot), Some(position), Some(event_type), Some(event_id)) =
                (slot, position, text(4), event_id)
            else {
                malformed = true;
                return Ok(opsledger_store::RowFlow::Stop);
            };
            let effect = text(2)
                .zip(text(3))
                .and_then(|(id, kind)| RecordRef::from_stream(&format!("{kind}-{id}")));
            out[slot].push(EventRef {
                event_id,
                position: position as u64,
                record: effect,
                number: text(5).and_then(|n| n.parse().ok()),
                event_type: event_type.to_owned(),
            });
            Ok(opsledger_store::RowFlow::Continue)
        })?;
        if malformed {
            return Err(crate::error::EngineError::Views(
                "a malformed timeline_effects row".into(),
            ));
        }
    }
    for caused in &mut out {
        caused.sort_by_key(|e| e.position);
    }
    Ok(out)
}
