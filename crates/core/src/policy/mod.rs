//! Policy: the rules in force, passed to `decide` as data.
//!
//! A policy is versioned; records pin the version they started under where it matters (SLAs).
//! The core never loads a policy: the engine (or a test) supplies it in the [`Context`](crate::Context).

use crate::actor::Role;
use crate::authz::AuthorizationRules;
use crate::calendar::BusinessCalendar;
use crate::error::DomainError;
use crate::ids::ActorId;
use crate::priority::PriorityMatrix;
use crate::sla::{CalendarRef, SlaPolicy};
use crate::window::NamedWindow;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

mod check;
pub mod document;

pub use check::PolicyIssue;

/// Version of a policy document; increases with every change an operator makes.
///
/// Records pin the version they were created under (`policy_version` on `incident.opened`,
/// `problem.created` and `change.requested`, and on the record). The default, `PolicyVersion(0)`,
/// means "not recorded": it is what events written before records pinned a version read as.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(transparent)]
pub struct PolicyVersion(pub u32);

impl fmt::Display for PolicyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// Everything `decide` may consult besides the record's own state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Version of this policy: set by the engine when it publishes the document (a value
    /// written in a document is replaced). 0 in a document that was never published.
    #[serde(default)]
    pub version: PolicyVersion,
    /// Impact x urgency -> priority.
    pub priority_matrix: PriorityMatrix,
    /// Role grants.
    pub authorization: AuthorizationRules,
    /// Who approves which type of change, and how many approvals are needed.
    pub approvals: ApprovalPolicy,
    /// Pre-authorised standard change templates.
    pub standard_changes: Vec<StandardChangeTemplate>,
    /// Maintenance windows: changes should be implemented inside one.
    pub maintenance_windows: Vec<NamedWindow>,
    /// Blackout (freeze) windows: no change may be implemented inside one.
    pub blackout_windows: Vec<NamedWindow>,
    /// Limits on command sizes, so that no command can make a record unboundedly large.
    pub limits: Limits,
    /// SLA definitions and business calendars, every version (records pin the ones they use).
    #[serde(default)]
    pub sla: SlaPolicy,
    /// Incident rules that are settings rather than code (the auto-close delay, the
    /// parent/child sync).
    #[serde(default)]
    pub incident: IncidentPolicy,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            version: PolicyVersion(1),
            priority_matrix: PriorityMatrix::default(),
            authorization: AuthorizationRules::default(),
            approvals: ApprovalPolicy::default(),
            standard_changes: Vec::new(),
            maintenance_windows: Vec::new(),
            blackout_windows: Vec::new(),
            limits: Limits::default(),
            sla: SlaPolicy::default(),
            incident: IncidentPolicy::default(),
        }
    }
}

/// Incident settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentPolicy {
    /// How long a resolved incident waits for its caller before the engine's timer may
    /// auto-close it (`AutoClose` is refused earlier), counted from the latest resolution as
    /// [`Policy::auto_close_due`] says: in business days of
    /// [`auto_close_calendar`](Self::auto_close_calendar) when one is set, else in calendar
    /// days of 24 hours. Default 7.
    #[serde(default = "IncidentPolicy::default_auto_close_after_days")]
    pub auto_close_after_days: u32,
    /// The business calendar (one of `sla.calendars`) whose working days count the auto-close
    /// delay; `None` counts calendar days of 24 hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_close_calendar: Option<CalendarRef>,
    /// Whether a comment by the caller on an incident on hold awaiting the caller resumes it
    /// (the comment and `incident.resumed` are recorded together). Default on.
    #[serde(default = "IncidentPolicy::default_resume_on_caller_comment")]
    pub resume_on_caller_comment: bool,
    /// How many calendar days (of 24 hours) after the latest resolution its caller may still
    /// reject it (reopen with a reason); confirming (closing) is never limited. Workers reopen
    /// at any time until the incident is closed. Default 7, the default auto-close delay, so a
    /// caller may reject for as long as the incident waits for them.
    #[serde(default = "IncidentPolicy::default_caller_reject_days")]
    pub caller_reject_days: u32,
    /// What a parent's transitions do to its children (the parent/child sync of the engine's
    /// process managers). Every key defaults to `follow`, as ServiceNow syncs children.
    #[serde(default)]
    pub child_sync: ChildSyncPolicy,
    /// Whether an incident opened on CIs without an assignment group goes to the owner group
    /// the service model records for its first CI that has one (else for its service). The
    /// group is decided when the incident is opened and recorded in `incident.opened`.
    /// Default off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub group_from_service_model: bool,
    /// Whether an alert on CIs whose dedup key no open incident holds joins an open incident
    /// of a service the outage of one of those CIs affects (per the service model as it stood
    /// when the alert fired) instead of opening a new incident. Which incident, and the
    /// service and path that led to it, are recorded in `incident.alert_correlated`; the rule
    /// is [`route_alert`](crate::incident::route_alert). Default off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub correlate_alerts_by_service: bool,
}

/// Whether children follow one transition of their parent.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ChildSync {
    /// The children follow their parent (see [`ChildSyncPolicy`] for which children, and how).
    #[default]
    Follow,
    /// The parent's transition leaves its children as they are.
    Ignore,
}

impl ChildSync {
    /// Whether the children follow.
    pub const fn follows(self) -> bool {
        matches!(self, ChildSync::Follow)
    }
}

/// What a parent incident's transitions do to its children (the engine's process managers send
/// the commands, as the system actor). A child never closes with its parent: its own caller
/// confirms it, or its own auto-close timer closes it.
///
/// | parent event | child effect (`follow`) | which children |
/// |---|---|---|
/// | put on hold (`on_hold`) | put on hold `awaiting_parent` | in progress (a new child has no work to pause; one on hold already keeps its own reason) |
/// | resumed (`resumed`) | resumed | on hold `awaiting_parent` of this parent (never one held for its own reason) |
/// | resolved (`resolved`) | resolved with the parent's code and notes | open (new, in progress, on hold) |
/// | reopened (`reopened`) | reopened | resolved (not closed) |
///
/// Whatever the settings, a child on hold awaiting a parent that is canceled, or resolved
/// while `resolved` is `ignore`, is resumed with a work note: nothing else would release it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ChildSyncPolicy {
    /// The parent is put on hold. Default `follow`.
    pub on_hold: ChildSync,
    /// The parent resumes work after a hold. Default `follow`.
    pub resumed: ChildSync,
    /// The parent is resolved. Default `follow`.
    pub resolved: ChildSync,
    /// The parent is reopened. Default `follow`.
    pub reopened: ChildSync,
}

impl IncidentPolicy {
    fn default_auto_close_after_days() -> u32 {
        7
    }

    fn default_resume_on_caller_comment() -> bool {
        true
    }

    fn default_caller_reject_days() -> u32 {
        7
    }

    /// The end of the window in which the caller may reject a resolution recorded at
    /// `resolved_at` (`None` when the instant overflows: never ends).
    pub fn caller_reject_until(&self, resolved_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        Duration::try_days(i64::from(self.caller_reject_days))
            .and_then(|window| resolved_at.checked_add_signed(window))
    }
}

impl Default for IncidentPolicy {
    fn default() -> Self {
        Self {
            auto_close_after_days: Self::default_auto_close_after_days(),
            auto_close_calendar: None,
            resume_on_caller_comment: Self::default_resume_on_caller_comment(),
            caller_reject_days: Self::default_caller_reject_days(),
            child_sync: ChildSyncPolicy::default(),
            group_from_service_model: false,
            correlate_alerts_by_service: false,
        }
    }
}

impl Policy {
    /// When a resolved incident's auto-close becomes due, for a resolution at `resolved_at`:
    /// - without [`IncidentPolicy::auto_close_calendar`]: `auto_close_after_days` days of 24
    ///   hours after the resolution;
    /// - with one: at the end (local midnight, in the calendar's zone) of the
    ///   `auto_close_after_days`-th business day after the day of the resolution, a business
    ///   day being a local date with working time (not a holiday nor a closed weekday). Resolved
    ///   on a Friday afternoon under a Monday-to-Friday calendar with 2 days, it is due when
    ///   Tuesday ends. 0 days means at once.
    ///
    /// `None` when it can never be due: the calendar is not in the policy, has no working day
    /// within ten years, or the instant overflows.
    pub fn auto_close_due(&self, resolved_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let days = self.incident.auto_close_after_days;
        let Some(reference) = &self.incident.auto_close_calendar else {
            return Duration::try_days(i64::from(days))
                .and_then(|delay| resolved_at.checked_add_signed(delay));
        };
        if days == 0 {
            return Some(resolved_at);
        }
        let calendar = self.sla.resolve_calendar(reference)?;
        let mut date = calendar.local_datetime(resolved_at).date();
        let mut counted = 0u32;
        // Bounded: a calendar with no working day would otherwise never end the walk.
        for _ in 0..3_660 {
            date = date.succ_opt()?;
            if is_business_day(calendar, date)? {
                counted += 1;
                if counted == days {
                    return local_midnight(calendar, date.succ_opt()?);
                }
            }
        }
        None
    }

    /// Checks that the policy makes sense before an engine puts it in force: the first of
    /// [`Policy::issues`] (which lists the rules), as a [`DomainError::Validation`] naming its
    /// path. `decide` never calls this (a decision works with whatever policy it is given); the
    /// engine validates a policy before it publishes it.
    pub fn validate(&self) -> Result<(), DomainError> {
        match self.issues().into_iter().next() {
            None => Ok(()),
            Some(issue) => Err(issue.into()),
        }
    }
}

/// Hard limits on what one command may carry. Exceeding one is a validation error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Longest title, in bytes.
    pub max_title_bytes: usize,
    /// Longest free text (description, notes, reason, workaround), in bytes.
    pub max_text_bytes: usize,
    /// Most links (children, incidents, changes, CIs) one record may hold per kind.
    pub max_links: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_title_bytes: 512,
            max_text_bytes: 64 * 1024,
            max_links: 10_000,
        }
    }
}

/// How many of the eligible approvers must approve.
///
/// "Eligible" is the board minus the change's requester (separation of duties: the requester
/// never approves, so the requester never counts towards the quorum either). With `n` eligible
/// board members, the approvals required are:
///
/// | quorum | board not empty | board empty (anyone with an approver role) |
/// |---|---|---|
/// | `Any` | 1 | 1 |
/// | `Majority` | `n / 2 + 1` (more than half) | 1 |
/// | `All` | `n` | 1 |
///
/// and never fewer than [`ApprovalRule::min_approvals`] (itself at least 1). See
/// [`ApprovalRule::required_approvals`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Quorum {
    /// One approval is enough.
    Any,
    /// More than half of the board (the requester excluded) must approve.
    Majority,
    /// Every member of the board (the requester excluded) must approve.
    All,
}

/// Who may approve a type of change and how many must.
///
/// An approval (or a rejection) counts only from an actor who holds one of `approver_roles`
/// and, when `board` is not empty, is on the board. [`Role::Admin`] is not an implicit approver:
/// an approval is a governance act of a named role, not a technical permission.
///
/// The board names actor ids; the core cannot know which roles those actors will hold. A
/// board member must **also** hold one of `approver_roles` when voting, or the vote is refused
/// (`NotAnApprover`): keep the board and the role grants of the identity system in step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRule {
    /// An approval counts only from an actor holding one of these roles.
    pub approver_roles: BTreeSet<Role>,
    /// The named board (CAB). When empty, anyone with an approver role counts (and only
    /// `Quorum::Any` makes sense: [`Policy::validate`] refuses `Majority`/`All` without a
    /// board). Each member must also hold one of `approver_roles` when voting. Default: none.
    #[serde(default)]
    pub board: Vec<ActorId>,
    /// How many must approve. Default `any`.
    #[serde(default = "Quorum::any")]
    pub quorum: Quorum,
    /// Lower bound on approvals, whatever the quorum says (at least 1). Default 1.
    #[serde(default = "ApprovalRule::one")]
    pub min_approvals: u32,
}

impl Quorum {
    fn any() -> Self {
        Quorum::Any
    }
}

impl ApprovalRule {
    fn one() -> u32 {
        1
    }

    /// The board members who may vote on a change raised by `requester` (duplicates removed,
    /// the requester excluded). Empty when the rule names no board.
    pub fn eligible_board<'a>(&'a self, requester: &ActorId) -> BTreeSet<&'a ActorId> {
        self.board.iter().filter(|m| *m != requester).collect()
    }

    /// How many approvals a change raised by `requester` needs (see [`Quorum`]).
    pub fn required_approvals(&self, requester: &ActorId) -> u32 {
        let floor = self.min_approvals.max(1);
        if self.board.is_empty() {
            return floor;
        }
        let eligible = u32::try_from(self.eligible_board(requester).len()).unwrap_or(u32::MAX);
        let by_quorum = match self.quorum {
            Quorum::Any => 1,
            Quorum::Majority => eligible / 2 + 1,
            Quorum::All => eligible,
        };
        by_quorum.max(floor)
    }

    /// Whether enough distinct actors could ever approve a change raised by `requester`: false
    /// when no role may approve, or when the board (requester excluded) is smaller than
    /// [`ApprovalRule::required_approvals`]. With no board the answer is true, because the
    /// core cannot know how many actors hold an approver role.
    pub fn quorum_reachable(&self, requester: &ActorId) -> bool {
        if self.approver_roles.is_empty() {
            return false;
        }
        if self.board.is_empty() {
            return true;
        }
        let eligible = u32::try_from(self.eligible_board(requester).len()).unwrap_or(u32::MAX);
        self.required_approvals(requester) <= eligible
    }
}

/// Approval rules per change type. Standard changes are pre-authorised and need none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalPolicy {
    /// Normal changes: the CAB.
    pub normal: ApprovalRule,
    /// Emergency changes: the emergency CAB.
    pub emergency: ApprovalRule,
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        Self {
            normal: ApprovalRule {
                approver_roles: [Role::CabMember, Role::ChangeManager].into_iter().collect(),
                board: Vec::new(),
                quorum: Quorum::Any,
                min_approvals: 1,
            },
            emergency: ApprovalRule {
                approver_roles: [Role::ChangeManager].into_iter().collect(),
                board: Vec::new(),
                quorum: Quorum::Any,
                min_approvals: 1,
            },
        }
    }
}

/// A pre-authorised standard change from the catalogue. A change of type
/// `Standard { template }` must name the `id` of a template in
/// [`Policy::standard_changes`] when it is requested and again when it is submitted (a
/// template withdrawn from the catalogue no longer pre-authorises anything).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StandardChangeTemplate {
    /// Stable template id, referenced by `ChangeType::Standard { template }`.
    pub id: String,
    /// Human name.
    pub name: String,
}

/// Whether `date` (local to the calendar) has working time.
fn is_business_day(calendar: &BusinessCalendar, date: NaiveDate) -> Option<bool> {
    let start = local_midnight(calendar, date)?;
    let end = local_midnight(calendar, date.succ_opt()?)?;
    Some(calendar.business_duration_between(start, end) > Duration::zero())
}

/// The first instant of `date` in the calendar's zone (the end of a DST gap when midnight
/// does not exist that day).
fn local_midnight(calendar: &BusinessCalendar, date: NaiveDate) -> Option<DateTime<Utc>> {
    let tz = calendar.time_zone().tz();
    let midnight = date.and_hms_opt(0, 0, 0)?;
    (0..=4)
        .find_map(|hour| {
            tz.from_local_datetime(&(midnight + Duration::hours(hour)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}
