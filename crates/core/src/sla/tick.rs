//! The pure half of the engine's timers: what a tick records for an instance, and the status
//! of an instance looked up through its pins.

use super::command::SlaCommand;
use super::explain::{ExplainSpan, evaluate_in};
use super::policy::SlaPolicy;
use super::signal::SlaSource;
use super::state::{SlaInstance, SlaRecord};
use super::status::{SlaStatus, sla_status_in};
use chrono::{DateTime, Utc};

/// What a tick should send for one instance whose status it just computed: a
/// `record_threshold` for every crossed threshold not yet recorded (ascending), then a
/// `record_breach` if it breached and that is not recorded yet. Empty when nothing is due.
///
/// The engine's tick, for each instance whose indexed [`DueMark`](super::DueMark) is due:
/// compute the status, send these commands (each is idempotent, so a tick that runs twice or
/// after a restart records nothing twice), then index the status's `next_due`.
pub fn due_commands(
    record: &SlaRecord,
    instance: &SlaInstance,
    status: &SlaStatus,
) -> Vec<SlaCommand> {
    let mut commands: Vec<SlaCommand> = status
        .thresholds_crossed
        .iter()
        .filter(|c| instance.thresholds.contains(&c.percent))
        .filter(|c| !instance.threshold_recorded(c.percent))
        .map(|c| SlaCommand::RecordThreshold {
            record: record.record,
            instance: instance.number,
            percent: c.percent,
            crossed_at: c.at,
        })
        .collect();
    if let Some(breached_at) = status
        .breached
        .filter(|_| instance.breach_recorded.is_none())
    {
        commands.push(SlaCommand::RecordBreach {
            record: record.record,
            instance: instance.number,
            breached_at,
        });
    }
    commands
}

impl SlaPolicy {
    /// The status of an instance, with the definition and calendar versions it pinned; `None`
    /// if the policy no longer holds them.
    pub fn status_of<E: SlaSource>(
        &self,
        instance: &SlaInstance,
        events: &[E],
        now: DateTime<Utc>,
    ) -> Option<SlaStatus> {
        let (definition, calendar) = self.resolve(&instance.pin)?;
        Some(sla_status_in(
            definition,
            calendar,
            events,
            &instance.window(),
            now,
        ))
    }

    /// The status and explanation of an instance (see [`SlaPolicy::status_of`]).
    pub fn explain_of<E: SlaSource>(
        &self,
        instance: &SlaInstance,
        events: &[E],
        now: DateTime<Utc>,
    ) -> Option<(SlaStatus, Vec<ExplainSpan>)> {
        let (definition, calendar) = self.resolve(&instance.pin)?;
        Some(evaluate_in(
            definition,
            calendar,
            events,
            &instance.window(),
            now,
        ))
    }
}
