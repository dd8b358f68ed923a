//! The delivery of one event to one webhook, as a state machine over the delivery's own
//! stream: queued, then attempt sequences (started, then succeeded or failed with the next
//! attempt's instant), dead-lettered after the last attempt, and manual redelivery, which
//! starts a new sequence.
//!
//! Starting an attempt is a claim: the worker appends `attempt_started` at the stream version
//! it read, so of several workers (threads, replicas, a restarted process) exactly one gets
//! each attempt. The claim carries a lease: an attempt without an outcome (the worker was
//! killed mid-request) counts as failed once its lease ran out, and the next attempt follows.

use crate::decider::DomainEvent;
use crate::error::DomainError;
use crate::ids::{ActorId, DeliveryId, WebhookId};
use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest error text kept in a failure event, in bytes.
pub const MAX_ERROR_BYTES: usize = 512;

/// How attempts are spaced and bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per sequence before the delivery is dead-lettered (>= 1).
    pub max_attempts: u32,
    /// Wait after the first failure; doubled after each further one.
    pub first_delay: Duration,
    /// Longest wait between attempts.
    pub max_delay: Duration,
    /// How long a started attempt is its worker's: after it, an attempt without an outcome
    /// counts as failed (longer than the transport's total timeout).
    pub lease: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts, 30 s doubling to at most 1 h (about 1 h 34 min in all), 2 min lease.
    fn default() -> Self {
        Self {
            max_attempts: 8,
            first_delay: Duration::seconds(30),
            max_delay: Duration::hours(1),
            lease: Duration::minutes(2),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based): `first_delay * 2^(attempt-1)`,
    /// capped at `max_delay`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1i32
            .checked_shl(attempt.saturating_sub(1).min(30))
            .unwrap_or(i32::MAX);
        self.first_delay
            .checked_mul(factor)
            .map_or(self.max_delay, |d| d.min(self.max_delay))
    }
}

/// What happened to a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum DeliveryEvent {
    /// The event matched the webhook: the delivery is due.
    #[serde(rename = "webhook.delivery_queued")]
    Queued {
        /// The delivery.
        delivery: DeliveryId,
        /// The webhook.
        webhook: WebhookId,
        /// The event to deliver.
        event_id: Uuid,
        /// Its log position.
        position: u64,
        /// Its type.
        event_type: String,
        /// When the event was recorded.
        at: DateTime<Utc>,
    },
    /// A worker claimed an attempt.
    #[serde(rename = "webhook.delivery_attempt_started")]
    AttemptStarted {
        /// The delivery.
        delivery: DeliveryId,
        /// Which sequence (1, then one more per redelivery).
        sequence: u32,
        /// Which attempt of the sequence (1-based).
        attempt: u32,
        /// Started at.
        at: DateTime<Utc>,
        /// The attempt is the worker's until then.
        lease_until: DateTime<Utc>,
        /// Which worker.
        worker: String,
    },
    /// The receiver answered 2xx.
    #[serde(rename = "webhook.delivery_succeeded")]
    Succeeded {
        /// The delivery.
        delivery: DeliveryId,
        /// Which sequence.
        sequence: u32,
        /// Which attempt.
        attempt: u32,
        /// Recorded at.
        at: DateTime<Utc>,
        /// The HTTP status.
        status: u16,
    },
    /// The attempt failed: a non-2xx answer, a timeout, a refused connection or address.
    #[serde(rename = "webhook.delivery_failed")]
    Failed {
        /// The delivery.
        delivery: DeliveryId,
        /// Which sequence.
        sequence: u32,
        /// Which attempt.
        attempt: u32,
        /// Recorded at.
        at: DateTime<Utc>,
        /// The HTTP status, if the receiver answered.
        status: Option<u16>,
        /// What went wrong.
        error: String,
        /// When the next attempt is due (`None`: none follows; a dead letter comes next).
        retry_at: Option<DateTime<Utc>>,
    },
    /// No attempt follows until someone asks for a redelivery.
    #[serde(rename = "webhook.delivery_dead_lettered")]
    DeadLettered {
        /// The delivery.
        delivery: DeliveryId,
        /// Which sequence.
        sequence: u32,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Why.
        reason: String,
    },
    /// Someone asked for the event to be sent again: a new sequence starts.
    #[serde(rename = "webhook.delivery_redelivery_requested")]
    RedeliveryRequested {
        /// The delivery.
        delivery: DeliveryId,
        /// The new sequence.
        sequence: u32,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Who asked.
        by: ActorId,
    },
}

impl DomainEvent for DeliveryEvent {
    fn event_type(&self) -> &'static str {
        match self {
            DeliveryEvent::Queued { .. } => "webhook.delivery_queued",
            DeliveryEvent::AttemptStarted { .. } => "webhook.delivery_attempt_started",
            DeliveryEvent::Succeeded { .. } => "webhook.delivery_succeeded",
            DeliveryEvent::Failed { .. } => "webhook.delivery_failed",
            DeliveryEvent::DeadLettered { .. } => "webhook.delivery_dead_lettered",
            DeliveryEvent::RedeliveryRequested { .. } => "webhook.delivery_redelivery_requested",
        }
    }

    fn schema_version(&self) -> u16 {
        1
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum DeliveryStatus {
    /// Due now (queued, or redelivery requested).
    Pending,
    /// An attempt runs (or its worker died: see `lease_until`).
    InFlight {
        /// After this the attempt counts as failed.
        lease_until: DateTime<Utc>,
    },
    /// The last attempt failed; the next one is due then.
    RetryScheduled {
        /// When.
        retry_at: DateTime<Utc>,
    },
    /// Delivered (2xx).
    Succeeded,
    /// Given up on; a redelivery starts a new sequence.
    DeadLettered,
}

/// One delivery, folded from its stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Delivery {
    /// Its id (also the `Opsledger-Delivery` header).
    pub id: DeliveryId,
    /// The webhook.
    pub webhook: WebhookId,
    /// The event delivered.
    pub event_id: Uuid,
    /// Its log position.
    pub position: u64,
    /// Its type.
    pub event_type: String,
    /// When the event was recorded.
    pub queued_at: DateTime<Utc>,
    /// The current sequence (1, then one more per redelivery).
    pub sequence: u32,
    /// Attempts started in the current sequence.
    pub attempts: u32,
    /// Attempts started in all sequences.
    pub total_attempts: u32,
    /// Where it stands.
    #[serde(flatten)]
    pub status: DeliveryStatus,
    /// The last HTTP status received.
    pub last_status: Option<u16>,
    /// The last error (or dead-letter reason).
    pub last_error: Option<String>,
    /// When the last event of the delivery was recorded.
    pub updated_at: DateTime<Utc>,
}

/// What a worker should do with a delivery now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing until then.
    WaitUntil(DateTime<Utc>),
    /// Start this attempt of the current sequence.
    Attempt(u32),
    /// Give up: the last attempt's lease ran out without an outcome.
    DeadLetter(String),
    /// Finished (delivered or dead-lettered).
    Done,
}

/// How an attempt ended, as the transport saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// A 2xx answer.
    Delivered {
        /// The status.
        status: u16,
    },
    /// Anything else.
    Failed {
        /// The status, if the receiver answered.
        status: Option<u16>,
        /// What went wrong.
        error: String,
        /// Whether retrying cannot help (a refused address): dead-letter at once.
        permanent: bool,
    },
}

impl Delivery {
    /// Folds a delivery's events (`None` before its `queued` event).
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a DeliveryEvent>) -> Option<Delivery> {
        events.into_iter().fold(None, Delivery::evolve)
    }

    /// Applies one event (total: an event out of place leaves what it cannot apply to).
    pub fn evolve(state: Option<Delivery>, event: &DeliveryEvent) -> Option<Delivery> {
        if let DeliveryEvent::Queued {
            delivery,
            webhook,
            event_id,
            position,
            event_type,
            at,
        } = event
        {
            return Some(Delivery {
                id: *delivery,
                webhook: *webhook,
                event_id: *event_id,
                position: *position,
                event_type: event_type.clone(),
                queued_at: *at,
                sequence: 1,
                attempts: 0,
                total_attempts: 0,
                status: DeliveryStatus::Pending,
                last_status: None,
                last_error: None,
                updated_at: *at,
            });
        }
        let mut d = state?;
        match event {
            DeliveryEvent::Queued { .. } => {}
            DeliveryEvent::AttemptStarted {
                attempt,
                at,
                lease_until,
                ..
            } => {
                d.attempts = *attempt;
                d.total_attempts += 1;
                d.status = DeliveryStatus::InFlight {
                    lease_until: *lease_until,
                };
                d.updated_at = *at;
            }
            DeliveryEvent::Succeeded { at, status, .. } => {
                d.status = DeliveryStatus::Succeeded;
                d.last_status = Some(*status);
                d.last_error = None;
                d.updated_at = *at;
            }
            DeliveryEvent::Failed {
                at,
                status,
                error,
                retry_at,
                ..
            } => {
                d.last_status = *status;
                d.last_error = Some(error.clone());
                if let Some(retry_at) = retry_at {
                    d.status = DeliveryStatus::RetryScheduled {
                        retry_at: *retry_at,
                    };
                }
                d.updated_at = *at;
            }
            DeliveryEvent::DeadLettered { at, reason, .. } => {
                d.status = DeliveryStatus::DeadLettered;
                d.last_error = Some(reason.clone());
                d.updated_at = *at;
            }
            DeliveryEvent::RedeliveryRequested { sequence, at, .. } => {
                d.sequence = *sequence;
                d.attempts = 0;
                d.status = DeliveryStatus::Pending;
                d.updated_at = *at;
            }
        }
        Some(d)
    }

    /// What to do at `now`.
    pub fn next_step(&self, now: DateTime<Utc>, policy: &RetryPolicy) -> Step {
        match self.status {
            DeliveryStatus::Succeeded | DeliveryStatus::DeadLettered => Step::Done,
            DeliveryStatus::Pending => Step::Attempt(self.attempts + 1),
            DeliveryStatus::RetryScheduled { retry_at } if now < retry_at => {
                Step::WaitUntil(retry_at)
            }
            DeliveryStatus::RetryScheduled { .. } => Step::Attempt(self.attempts + 1),
            DeliveryStatus::InFlight { lease_until } if now < lease_until => {
                Step::WaitUntil(lease_until)
            }
            DeliveryStatus::InFlight { .. } if self.attempts >= policy.max_attempts.max(1) => {
                Step::DeadLetter(format!(
                    "attempt {} had no recorded outcome before its lease ran out, and it was the last",
                    self.attempts
                ))
            }
            DeliveryStatus::InFlight { .. } => Step::Attempt(self.attempts + 1),
        }
    }

    /// The claim of attempt `attempt`.
    pub fn start(
        &self,
        attempt: u32,
        now: DateTime<Utc>,
        policy: &RetryPolicy,
        worker: &str,
    ) -> DeliveryEvent {
        DeliveryEvent::AttemptStarted {
            delivery: self.id,
            sequence: self.sequence,
            attempt,
            at: now,
            lease_until: now + policy.lease,
            worker: worker.chars().take(128).collect(),
        }
    }

    /// The events recording how attempt `attempt` ended: success, or a failure with the next
    /// attempt's instant, followed by a dead letter after the last attempt or a permanent error.
    pub fn outcome(
        &self,
        attempt: u32,
        result: AttemptResult,
        now: DateTime<Utc>,
        policy: &RetryPolicy,
    ) -> Vec<DeliveryEvent> {
        match result {
            AttemptResult::Delivered { status } => vec![DeliveryEvent::Succeeded {
                delivery: self.id,
                sequence: self.sequence,
                attempt,
                at: now,
                status,
            }],
            AttemptResult::Failed {
                status,
                error,
                permanent,
            } => {
                let mut error = error;
                if error.len() > MAX_ERROR_BYTES {
                    let mut cut = MAX_ERROR_BYTES;
                    while !error.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    error.truncate(cut);
                }
                let last = permanent || attempt >= policy.max_attempts.max(1);
                let retry_at = (!last).then(|| now + policy.backoff(attempt));
                let mut events = vec![DeliveryEvent::Failed {
                    delivery: self.id,
                    sequence: self.sequence,
                    attempt,
                    at: now,
                    status,
                    error: error.clone(),
                    retry_at,
                }];
                if last {
                    let reason = if permanent {
                        format!("attempt {attempt} failed and retrying cannot help: {error}")
                    } else {
                        format!("{attempt} attempts failed; the last: {error}")
                    };
                    events.push(DeliveryEvent::DeadLettered {
                        delivery: self.id,
                        sequence: self.sequence,
                        at: now,
                        reason,
                    });
                }
                events
            }
        }
    }

    /// A manual redelivery: only once the current sequence is finished (delivered or
    /// dead-lettered), so that two sequences never run at once.
    pub fn redeliver(
        &self,
        by: &ActorId,
        now: DateTime<Utc>,
    ) -> Result<DeliveryEvent, DomainError> {
        match self.status {
            DeliveryStatus::Succeeded | DeliveryStatus::DeadLettered => {
                Ok(DeliveryEvent::RedeliveryRequested {
                    delivery: self.id,
                    sequence: self.sequence + 1,
                    at: now,
                    by: by.clone(),
                })
            }
            DeliveryStatus::Pending
            | DeliveryStatus::InFlight { .. }
            | DeliveryStatus::RetryScheduled { .. } => Err(DomainError::Validation {
                field: "delivery".into(),
                reason: format!(
                    "delivery {} is still being attempted; redeliver once it succeeded or was dead-lettered",
                    self.id
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).expect("instant")
    }

    fn queued() -> Delivery {
        Delivery::fold(&[DeliveryEvent::Queued {
            delivery: DeliveryId(Uuid::from_u128(1)),
            webhook: WebhookId(Uuid::from_u128(2)),
            event_id: Uuid::from_u128(3),
            position: 9,
            event_type: "incident.opened".into(),
            at: t(0),
        }])
        .expect("queued")
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            first_delay: Duration::seconds(10),
            max_delay: Duration::seconds(25),
            lease: Duration::seconds(60),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = policy();
        assert_eq!(p.backoff(1), Duration::seconds(10));
        assert_eq!(p.backoff(2), Duration::seconds(20));
        assert_eq!(p.backoff(3), Duration::seconds(25));
        assert_eq!(p.backoff(60), Duration::seconds(25));
    }

    #[test]
    fn failures_retry_then_dead_letter_then_redeliver() {
        let p = policy();
        let mut d = queued();
        let mut now = t(0);
        for attempt in 1..=3 {
            assert_eq!(d.next_step(now, &p), Step::Attempt(attempt));
            let started = d.start(attempt, now, &p, "w");
            d = Delivery::evolve(Some(d), &started).expect("state");
            assert!(matches!(d.next_step(now, &p), Step::WaitUntil(_)));
            let failed = AttemptResult::Failed {
                status: Some(503),
                error: "503".into(),
                permanent: false,
            };
            for e in d.outcome(attempt, failed, now, &p) {
                d = Delivery::evolve(Some(d), &e).expect("state");
            }
            if let Step::WaitUntil(at) = d.next_step(now, &p) {
                assert_eq!(at - now, p.backoff(attempt));
                now = at;
            }
        }
        assert_eq!(d.status, DeliveryStatus::DeadLettered);
        assert_eq!(d.next_step(now, &p), Step::Done);
        let again = d.redeliver(&ActorId::new("ops"), now).expect("redeliver");
        d = Delivery::evolve(Some(d), &again).expect("state");
        assert_eq!((d.sequence, d.attempts), (2, 0));
        assert_eq!(d.next_step(now, &p), Step::Attempt(1));
        assert!(d.redeliver(&ActorId::new("ops"), now).is_err());
    }

    #[test]
    fn an_attempt_without_outcome_counts_once_its_lease_ran_out() {
        let p = policy();
        let d = queued();
        let started = d.start(1, t(0), &p, "killed");
        let d = Delivery::evolve(Some(d), &started).expect("state");
        assert_eq!(d.next_step(t(59), &p), Step::WaitUntil(t(60)));
        assert_eq!(d.next_step(t(60), &p), Step::Attempt(2));
    }
}
