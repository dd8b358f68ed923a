//! Policy as history: every version of the policy is an event of the `policy` stream, and the
//! engine decides every command under the version in force when the command is appended.
//!
//! - **Stream.** `policy`, one `policy.published` event per version (the whole document, its
//!   version, why; who and when are the event's actor and recorded instant). Versions are the
//!   stream's versions: 1, 2, 3... A log without the stream gets the configured policy (or the
//!   default one) as version 1 when the engine opens.
//! - **Book.** The engine keeps every version in memory ([`PolicyBook`]): the current one
//!   decides commands; [`PolicyBook::at_position`] answers "which version was in force when
//!   the event at this position was appended" for as-of views, process managers re-run at
//!   open and what-if baselines. Each version carries the SLA definition and calendar
//!   versions of the earlier ones as an archive, so a record's pins always resolve.
//! - **Order.** A command checks, under the book's read lock and inside its unit of work,
//!   that the version it was decided under is still current, and appends while holding it; a
//!   publish appends and swaps the book under the write lock inside its unit (rolling the swap
//!   back if the unit does not commit). So no command decided under version n is appended
//!   after version n+1, on any backend (within the one engine that has the data directory open).
//! - **Immutability.** A published SLA definition version or calendar version never changes:
//!   a document that gives an existing `(id, version)` other content is refused (a changed
//!   definition is a new version), so every pin keeps its meaning.

use super::Inner;
use crate::error::{EngineError, Result};
use crate::projections::queue::QueueFilter;
use crate::projections::view::RecordView;
use crate::record::RecordRef;
use chrono::{DateTime, Utc};
use opsledger_core::policy::document::{self, PolicyChange};
use opsledger_core::policy::{PolicyIssue, PolicyVersion};
use opsledger_core::sla::{SlaKey, SlaMetric, sla_status_in};
use opsledger_core::{Actor, ActorId, Permission, Policy, RecordKind};
use opsledger_store::{AppendRequest, ExpectedVersion, NewEvent, StoredEvent, StreamId, Version};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The stream of policy versions.
pub const POLICY_STREAM: &str = "policy";
/// The event type of a published version.
pub const POLICY_PUBLISHED: &str = "policy.published";
/// Most open records [`Engine::diff_policy`](crate::Engine::diff_policy) looks at.
pub const DIFF_MAX_RECORDS: usize = 10_000;

/// The payload of `policy.published`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Published {
    version: PolicyVersion,
    reason: String,
    document: Policy,
}

/// One published version of the policy.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PolicyRevision {
    /// Its version (1 is the first).
    pub version: PolicyVersion,
    /// The log position of its `policy.published` event.
    pub position: u64,
    /// When it was recorded: it is in force from then until the next version.
    pub published_at: DateTime<Utc>,
    /// Who published it.
    pub published_by: ActorId,
    /// Why, as the publisher said.
    pub reason: String,
    /// The document (with the SLA versions of earlier documents archived for pin lookups).
    #[serde(skip)]
    #[schemars(skip)]
    pub policy: Arc<Policy>,
}

/// Every version, in order; never empty once the engine is open.
#[derive(Debug, Clone)]
pub(crate) struct PolicyBook {
    revisions: Vec<PolicyRevision>,
}

impl PolicyBook {
    /// A book holding `policy` as a provisional version (before the log's versions are read).
    pub(crate) fn provisional(policy: Policy) -> Self {
        Self {
            revisions: vec![PolicyRevision {
                version: policy.version,
                position: 0,
                published_at: DateTime::<Utc>::MIN_UTC,
                published_by: ActorId::new("opsledger"),
                reason: String::new(),
                policy: Arc::new(policy),
            }],
        }
    }

    /// The version in force now.
    pub(crate) fn current(&self) -> &PolicyRevision {
        self.revisions.last().expect("a policy book is never empty")
    }

    /// The version in force when the event at `position` was appended (the first version for
    /// positions before it: what the log was written under before versions were recorded).
    pub(crate) fn at_position(&self, position: u64) -> &PolicyRevision {
        let after = self.revisions.partition_point(|r| r.position <= position);
        &self.revisions[after.saturating_sub(1)]
    }

    /// One version.
    pub(crate) fn version(&self, version: PolicyVersion) -> Option<&PolicyRevision> {
        self.revisions.iter().find(|r| r.version == version)
    }

    /// Every version, oldest first.
    pub(crate) fn revisions(&self) -> &[PolicyRevision] {
        &self.revisions
    }

    /// Whether the versions were read from the log (false: the provisional one only).
    fn recorded(&self) -> bool {
        self.revisions.iter().any(|r| r.position > 0)
    }

    /// Adds a version read from (or just appended to) the log, archiving the SLA versions of
    /// the one before.
    fn push(&mut self, event: &StoredEvent, published: Published) {
        let mut document = published.document;
        document.version = published.version;
        if let Some(previous) = self.revisions.iter().rev().find(|r| r.position > 0) {
            document.sla = document.sla.with_archive_of(&previous.policy.sla);
        }
        self.revisions.retain(|r| r.position > 0);
        self.revisions.push(PolicyRevision {
            version: published.version,
            position: event.position.0,
            published_at: event.recorded_at,
            published_by: ActorId::new(event.actor.clone()),
            reason: published.reason,
            policy: Arc::new(document),
        });
    }
}

/// What [`Engine::publish_policy`](crate::Engine::publish_policy) is asked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PublishPolicy {
    /// Publish only if this is still the current version (`None`: whatever it is). Two
    /// editors who started from the same version cannot both publish: the second gets a
    /// conflict and can diff against the new current version.
    #[serde(default)]
    pub expected_version: Option<PolicyVersion>,
    /// Why, for the history (for example the change record that approved it).
    #[serde(default)]
    pub reason: String,
}

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyPublished {
    /// The version now in force.
    pub version: PolicyVersion,
    /// False when the document equals the current version: nothing was written.
    pub changed: bool,
    /// The log position of the new version's event (`None` when nothing changed).
    pub position: Option<u64>,
}

/// What publishing a document would change.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PolicyDiff {
    /// The version compared against (the current one).
    pub from_version: PolicyVersion,
    /// Every changed setting (see [`document::diff`]).
    pub changes: Vec<PolicyChange>,
    /// Open records whose SLA targets would move if they were pinned again under the
    /// document (their running clocks keep their pins: publishing moves nothing by itself).
    pub moved_targets: Vec<MovedTarget>,
    /// Whether more than [`DIFF_MAX_RECORDS`] open records exist (the rest were not looked at).
    pub records_truncated: bool,
}

/// One open record's clock that would measure differently under a proposed policy.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct MovedTarget {
    /// The record.
    pub record: RecordRef,
    /// Its human number (`INC0000042`).
    pub number: Option<String>,
    /// What is measured.
    pub metric: SlaMetric,
    /// Today's clock (`None`: the record has no clock of this metric).
    pub current: Option<TargetAt>,
    /// The clock under the document (`None`: no definition of the document applies).
    pub proposed: Option<TargetAt>,
}

/// A clock's definition, target and due instant.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct TargetAt {
    /// The definition version.
    pub definition: SlaKey,
    /// Its name.
    pub name: String,
    /// Business time allowed, as text (`4h`).
    pub target: String,
    /// When it is (or was) due, if the clock runs or breached.
    pub due_at: Option<DateTime<Utc>>,
}

fn policy_stream() -> StreamId {
    StreamId::new(POLICY_STREAM)
        .unwrap_or_else(|_| unreachable!("a fixed ASCII name is a valid stream id"))
}

impl Inner {
    /// The current version's policy.
    pub(crate) fn policy(&self) -> Arc<Policy> {
        self.policies.read().current().policy.clone()
    }

    /// The policy in force when the event at `position` was appended (`None`: now).
    pub(crate) fn policy_at(&self, position: Option<u64>) -> Arc<Policy> {
        let book = self.policies.read();
        match position {
            None => book.current().policy.clone(),
            Some(p) => book.at_position(p).policy.clone(),
        }
    }

    /// Reads the policy stream into the book.
    pub(super) fn load_policies(&self) -> Result<()> {
        let events = self.stream_events(&policy_stream(), None, usize::MAX)?;
        let mut book = self.policies.write();
        for e in &events {
            book.push(e, decode(e)?);
        }
        Ok(())
    }

    /// Reads the policy versions another process published since the book was read (a
    /// shared log); whether there were any.
    pub(super) fn refresh_policies(&self) -> Result<bool> {
        let recorded = self
            .policies
            .read()
            .revisions()
            .iter()
            .filter(|r| r.position > 0)
            .count() as u64;
        let stored = self.store().stream_version(&policy_stream())?.0;
        if stored <= recorded {
            return Ok(false);
        }
        let events = self.store().read_stream(
            &policy_stream(),
            Version(recorded + 1),
            usize::try_from(stored - recorded).map_or(1_000, |n| n.min(1_000)),
        )?;
        let mut book = self.policies.write();
        let known = book.revisions().iter().filter(|r| r.position > 0).count() as u64;
        for e in events.iter().filter(|e| e.version.0 > known) {
            book.push(e, decode(e)?);
        }
        Ok(true)
    }

    /// At open: records the configured policy (or the default one) as version 1 of a log
    /// without versions, and publishes a configured policy that differs from the current one.
    pub(super) fn settle_policy(&self) -> Result<()> {
        let recorded = self.policies.read().recorded();
        let configured = self.config.policy.clone();
        let actor = self.config.system_actor.clone();
        let (document, reason) = match (recorded, configured) {
            (false, configured) => (configured.unwrap_or_default(), "initial policy"),
            (true, Some(configured)) => (configured, "configured when the engine opened"),
            (true, None) => return Ok(()),
        };
        self.publish_checked(&actor, document, None, reason.to_owned())
            .map(|_| ())
    }

    /// Every problem of `document`, its own ([`Policy::issues`]) and against the history (an
    /// SLA definition or calendar version published before with other content).
    pub(crate) fn policy_issues(&self, document: &Policy) -> Vec<PolicyIssue> {
        let mut issues = document.issues();
        let current = self.policy();
        for (i, d) in document.sla.definitions.iter().enumerate() {
            if let Some(old) = current.sla.definition(&d.key())
                && old != d
            {
                issues.push(PolicyIssue::new(
                    format!("sla.definitions[{i}]"),
                    format!(
                        "{} was published before with other content; records may be pinned to \
                         it, so a changed definition needs a new version",
                        d.key()
                    ),
                ));
            }
        }
        for (i, c) in document.sla.calendars.iter().enumerate() {
            let key = opsledger_core::sla::CalendarKey {
                id: c.id().clone(),
                version: c.version(),
            };
            if let Some(old) = current.sla.calendar(&key)
                && old.spec() != c.spec()
            {
                issues.push(PolicyIssue::new(
                    format!("sla.calendars[{i}]"),
                    format!(
                        "calendar {key} was published before with other content; clocks may be \
                         pinned to it, so a changed calendar needs a new version"
                    ),
                ));
            }
        }
        issues
    }

    /// Publishes `document` for `actor`: authorised, validated, idempotent, optionally pinned
    /// to an expected current version.
    pub(crate) fn publish_policy(
        &self,
        actor: &Actor,
        document: Policy,
        request: PublishPolicy,
    ) -> Result<PolicyPublished> {
        self.policy()
            .authorization
            .require(actor, Permission::PolicyPublish)?;
        if request.reason.len() > self.policy().limits.max_text_bytes {
            return Err(EngineError::LimitExceeded {
                what: "the reason".into(),
                limit: self.policy().limits.max_text_bytes as u64,
            });
        }
        self.publish_checked(actor, document, request.expected_version, request.reason)
    }

    /// Validates (under the publish lock, against the history as it is then) and publishes.
    fn publish_checked(
        &self,
        actor: &Actor,
        mut document: Policy,
        expected: Option<PolicyVersion>,
        reason: String,
    ) -> Result<PolicyPublished> {
        let _one_at_a_time = self.publishing.lock();
        // A stale expected version first: the editor must look at what was published since,
        // whatever else is wrong with the document.
        let current_version = self.policies.read().current().version;
        if let Some(expected) = expected
            && expected != current_version
        {
            return Err(EngineError::Conflict {
                record: POLICY_STREAM.to_owned(),
                expected: u64::from(expected.0),
                actual: u64::from(current_version.0),
            });
        }
        let issues = self.policy_issues(&document);
        if !issues.is_empty() {
            return Err(EngineError::InvalidPolicy { issues });
        }
        let (current_version, unchanged, stream_version) = {
            let book = self.policies.read();
            let current = book.current();
            document.version = current.version;
            let unchanged = book.recorded() && *current.policy == document;
            let stream_version = if book.recorded() {
                u64::from(current.version.0)
            } else {
                0
            };
            (current.version, unchanged, stream_version)
        };
        if unchanged {
            return Ok(PolicyPublished {
                version: current_version,
                changed: false,
                position: None,
            });
        }
        let version = PolicyVersion(
            u32::try_from(stream_version + 1)
                .map_err(|_| EngineError::invalid("policy", "too many versions"))?,
        );
        document.version = version;
        let published = Published {
            version,
            reason,
            document,
        };
        let payload = serde_json::to_vec(&published)
            .map_err(|e| EngineError::invalid("policy", e.to_string()))?;
        let new = NewEvent {
            event_id: self.config.ids.new_id(),
            event_type: POLICY_PUBLISHED.to_owned(),
            schema_version: 1,
            occurred_at: self.config.clock.now(),
            actor: actor.id.as_str().to_owned(),
            correlation_id: None,
            causation_id: None,
            payload,
        };
        let expect = if stream_version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(Version(stream_version))
        };
        let request = AppendRequest::new(policy_stream(), expect, vec![new.clone()]);
        let previous = self.policies.read().clone();
        // Put back only what is not stored: on a transactional backend, whatever fails inside
        // the unit rolls the append back too; elsewhere, once the append succeeded the version
        // is in the log and the book must keep it, whatever fails after.
        let undo = || *self.policies.write() = previous.clone();
        let position = self.in_unit_or(
            || {
                let mut book = self.policies.write();
                let outcome = self.store().append_multi(vec![request])?;
                let position = outcome.first().map_or(0, |o| o.last_position.0);
                let stored = match self
                    .store()
                    .read_all(opsledger_store::Position(position), 1)
                {
                    Ok(mut events) if !events.is_empty() => events.remove(0),
                    // The event is stored; only its recorded instant is not known here.
                    Ok(_) | Err(_) => StoredEvent {
                        position: opsledger_store::Position(position),
                        stream: policy_stream(),
                        version: Version(stream_version + 1),
                        event_id: new.event_id,
                        event_type: new.event_type.clone(),
                        schema_version: new.schema_version,
                        occurred_at: new.occurred_at,
                        recorded_at: new.occurred_at,
                        actor: new.actor.clone(),
                        correlation_id: None,
                        causation_id: None,
                        payload: Vec::new(),
                        checksum: 0,
                    },
                };
                book.push(&stored, published.clone());
                drop(book);
                if self.storage().transactional_units() {
                    self.project_to(position, std::slice::from_ref(&stored))?;
                }
                Ok(position)
            },
            undo,
        )?;
        let _ = self.project_to(position, &[]);
        Ok(PolicyPublished {
            version,
            changed: true,
            position: Some(position),
        })
    }

    /// What publishing `document` would change: the settings, and the open records whose
    /// clocks would measure against another definition if they were pinned again.
    pub(crate) fn diff_policy(&self, document: &Policy) -> Result<PolicyDiff> {
        let (from_version, current) = {
            let book = self.policies.read();
            (book.current().version, book.current().policy.clone())
        };
        let changes = document::diff(&current, document);
        let proposed = {
            let mut p = document.clone();
            p.sla = p.sla.with_archive_of(&current.sla);
            p
        };
        self.catch_up()?;
        let now = self.config.clock.now();
        let mut moved_targets = Vec::new();
        let mut seen = 0usize;
        let mut records_truncated = false;
        'kinds: for kind in [RecordKind::Incident, RecordKind::Problem] {
            let mut cursor = None;
            loop {
                let mut filter = QueueFilter::new(kind).open();
                filter.limit = 500;
                filter.cursor = cursor.take();
                let page = crate::projections::queue::query(
                    &self.tables,
                    &filter,
                    now,
                    self.config.limits.max_page_size.max(500),
                    self.config.limits.max_scan,
                )?;
                for view in &page.items {
                    if seen == DIFF_MAX_RECORDS {
                        records_truncated = true;
                        break 'kinds;
                    }
                    seen += 1;
                    self.moved_targets_of(view, &current, &proposed, now, &mut moved_targets)?;
                }
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        Ok(PolicyDiff {
            from_version,
            changes,
            moved_targets,
            records_truncated,
        })
    }

    fn moved_targets_of(
        &self,
        view: &RecordView,
        current: &Policy,
        proposed: &Policy,
        now: DateTime<Utc>,
        out: &mut Vec<MovedTarget>,
    ) -> Result<()> {
        let record = view.record;
        let Some(priority) = view.priority else {
            return Ok(());
        };
        let service = view.service.clone();
        let signals = self.sla_signals(record, None)?;
        let (_, sla) = self.sla_record(record, None)?;
        let active: Vec<_> = sla
            .iter()
            .flat_map(|s| s.instances.iter())
            .filter(|i| i.is_active())
            .collect();
        let pins = proposed
            .sla
            .pins_for(record.kind, priority, service.as_ref());
        for metric in SlaMetric::ALL {
            let now_instance = active.iter().find(|i| i.metric == metric);
            let pin = pins.iter().find(|p| {
                proposed
                    .sla
                    .definition(&p.definition)
                    .is_some_and(|d| d.metric == metric)
            });
            if now_instance.map(|i| &i.pin) == pin {
                continue;
            }
            let current_at = now_instance.and_then(|i| {
                let status = current.sla.status_of(i, &signals, now)?;
                Some(TargetAt {
                    definition: i.pin.definition.clone(),
                    name: i.name.clone(),
                    target: opsledger_core::sla::format_target(i.target),
                    due_at: status.due_at.or(status.breached),
                })
            });
            let proposed_at = pin.and_then(|p| {
                let (definition, calendar) = proposed.sla.resolve(p)?;
                let window = now_instance.map(|i| i.window()).unwrap_or_default();
                let status = sla_status_in(definition, calendar, &signals, &window, now);
                Some(TargetAt {
                    definition: definition.key(),
                    name: definition.name.clone(),
                    target: opsledger_core::sla::format_target(definition.target),
                    due_at: status.due_at.or(status.breached),
                })
            });
            if current_at.is_none() && proposed_at.is_none() {
                continue;
            }
            out.push(MovedTarget {
                record,
                number: view.number.map(|n| n.to_string()),
                metric,
                current: current_at,
                proposed: proposed_at,
            });
        }
        Ok(())
    }
}

fn decode(e: &StoredEvent) -> Result<Published> {
    serde_json::from_slice(&e.payload).map_err(|err| EngineError::Decode {
        position: e.position.0,
        reason: format!("policy version: {err}"),
    })
}
