//! SLA definitions as data: what they attach to, what they measure, how the clock starts,
//! pauses, stops and is canceled, and what happens at thresholds and at breach.

use crate::calendar::{CalendarId, CalendarVersion};
use crate::ids::{ActorId, GroupId, RecordKind, ServiceId};
use crate::incident::HoldReason;
use crate::priority::Priority;
use chrono::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// Names one SLA definition across its versions, for example `p1-resolution`.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct SlaDefinitionId(pub String);

impl SlaDefinitionId {
    /// Wraps a caller-supplied name.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SlaDefinitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for SlaDefinitionId {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl From<String> for SlaDefinitionId {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// Version of one SLA definition. Versions are immutable once published: an edit is a new
/// version, and records keep the version they were attached under.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct SlaVersion(pub u32);

impl fmt::Display for SlaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// One exact version of one definition: what a record pins.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct SlaKey {
    /// Which definition.
    pub id: SlaDefinitionId,
    /// Which version of it.
    pub version: SlaVersion,
}

impl SlaKey {
    /// A key.
    pub fn new(id: impl Into<SlaDefinitionId>, version: u32) -> Self {
        Self {
            id: id.into(),
            version: SlaVersion(version),
        }
    }
}

impl fmt::Display for SlaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.id, self.version)
    }
}

/// One exact version of one business calendar.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct CalendarKey {
    /// Which calendar.
    pub id: CalendarId,
    /// Which version of it.
    pub version: CalendarVersion,
}

impl CalendarKey {
    /// A key.
    pub fn new(id: impl Into<CalendarId>, version: u32) -> Self {
        Self {
            id: id.into(),
            version: CalendarVersion(version),
        }
    }
}

impl fmt::Display for CalendarKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.id, self.version)
    }
}

/// The calendar a definition measures in.
///
/// With a `version`, the definition always uses exactly that version. Without one, it uses the
/// newest version in the policy *at the moment a record is attached*, and the attachment pins
/// that version: an operator can publish next year's holidays as a new calendar version without
/// re-versioning every definition, and no running or finished clock changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarRef {
    /// Which calendar.
    pub id: CalendarId,
    /// Which version, or `None` for "the newest at attach time".
    #[serde(default)]
    pub version: Option<CalendarVersion>,
}

impl CalendarRef {
    /// A reference to exactly one version.
    pub fn exact(id: impl Into<CalendarId>, version: u32) -> Self {
        Self {
            id: id.into(),
            version: Some(CalendarVersion(version)),
        }
    }

    /// A reference to the newest version at attach time.
    pub fn newest(id: impl Into<CalendarId>) -> Self {
        Self {
            id: id.into(),
            version: None,
        }
    }
}

/// What a record pins when its clock is attached: a definition version and the calendar version
/// it measures in.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct SlaPin {
    /// The definition version.
    pub definition: SlaKey,
    /// The calendar version.
    pub calendar: CalendarKey,
}

/// What an SLA measures.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SlaMetric {
    /// Time to first response: until the first acknowledgement or assignment to a person (or a
    /// resolution, which is a response too).
    Response,
    /// Time to resolution: until resolved; a reopen continues the same clock.
    Resolution,
}

impl SlaMetric {
    /// Both metrics.
    pub const ALL: [SlaMetric; 2] = [SlaMetric::Response, SlaMetric::Resolution];

    /// Stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            SlaMetric::Response => "response",
            SlaMetric::Resolution => "resolution",
        }
    }
}

impl fmt::Display for SlaMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which records a definition attaches to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaScope {
    /// The kind of record.
    pub kind: RecordKind,
    /// Priorities it applies to; empty means every priority.
    #[serde(default)]
    pub priorities: BTreeSet<Priority>,
    /// Services it applies to; empty means every record, with or without a service.
    #[serde(default)]
    pub services: BTreeSet<ServiceId>,
}

impl SlaScope {
    /// Every record of `kind`.
    pub fn all(kind: RecordKind) -> Self {
        Self {
            kind,
            priorities: BTreeSet::new(),
            services: BTreeSet::new(),
        }
    }

    /// Builder: restricts to these priorities.
    pub fn with_priorities(mut self, priorities: impl IntoIterator<Item = Priority>) -> Self {
        self.priorities.extend(priorities);
        self
    }

    /// Builder: restricts to these services.
    pub fn with_services(mut self, services: impl IntoIterator<Item = ServiceId>) -> Self {
        self.services.extend(services);
        self
    }

    /// Whether a record of `kind` with `priority` and `service` is in scope.
    pub fn matches(
        &self,
        kind: RecordKind,
        priority: Priority,
        service: Option<&ServiceId>,
    ) -> bool {
        kind == self.kind
            && (self.priorities.is_empty() || self.priorities.contains(&priority))
            && (self.services.is_empty() || service.is_some_and(|s| self.services.contains(s)))
    }
}

/// A record signal an SLA condition can name (see [`SlaSignal`](super::SlaSignal)).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SlaTrigger {
    /// The record was logged.
    Opened,
    /// Work started (first response).
    Acknowledged,
    /// A person was assigned (at or after logging).
    AssignedToPerson,
    /// The record was put on hold, or its hold reason changed.
    PutOnHold,
    /// Work resumed after a hold.
    Resumed,
    /// The record was resolved.
    Resolved,
    /// A resolved record went back to work.
    Reopened,
    /// The record was closed.
    Closed,
    /// The record was canceled (or, for problems, closed as a duplicate).
    Canceled,
}

impl SlaTrigger {
    /// Every trigger, in declaration order.
    pub const ALL: [SlaTrigger; 9] = [
        SlaTrigger::Opened,
        SlaTrigger::Acknowledged,
        SlaTrigger::AssignedToPerson,
        SlaTrigger::PutOnHold,
        SlaTrigger::Resumed,
        SlaTrigger::Resolved,
        SlaTrigger::Reopened,
        SlaTrigger::Closed,
        SlaTrigger::Canceled,
    ];
}

/// A hold reason without its data, for configuring which holds pause a clock.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum HoldReasonKind {
    /// [`HoldReason::AwaitingCaller`].
    AwaitingCaller,
    /// [`HoldReason::AwaitingProblem`].
    AwaitingProblem,
    /// [`HoldReason::AwaitingVendor`].
    AwaitingVendor,
    /// [`HoldReason::AwaitingChange`].
    AwaitingChange,
    /// [`HoldReason::AwaitingParent`].
    AwaitingParent,
}

impl HoldReasonKind {
    /// Every kind, in declaration order.
    pub const ALL: [HoldReasonKind; 5] = [
        HoldReasonKind::AwaitingCaller,
        HoldReasonKind::AwaitingProblem,
        HoldReasonKind::AwaitingVendor,
        HoldReasonKind::AwaitingChange,
        HoldReasonKind::AwaitingParent,
    ];

    /// The kind of a hold reason.
    pub fn of(reason: &HoldReason) -> Self {
        match reason {
            HoldReason::AwaitingCaller => HoldReasonKind::AwaitingCaller,
            HoldReason::AwaitingProblem { .. } => HoldReasonKind::AwaitingProblem,
            HoldReason::AwaitingVendor => HoldReasonKind::AwaitingVendor,
            HoldReason::AwaitingChange { .. } => HoldReasonKind::AwaitingChange,
            HoldReason::AwaitingParent { .. } => HoldReasonKind::AwaitingParent,
        }
    }
}

/// When the clock starts, pauses, stops, continues and is canceled. Every field left out (or
/// `None`) takes the metric's default, so a definition states only what it changes; the
/// effective sets are [`SlaDefinition::conditions`].
///
/// Defaults:
/// - `start`: `opened`.
/// - `pause_on_hold`: `awaiting_caller`, `awaiting_vendor` (waiting on the customer or a
///   supplier; waiting on our own problem or change management, or on the parent incident,
///   does not stop our clock).
/// - `resume`: `resumed`.
/// - `stop`: response: `acknowledged`, `assigned_to_person`, `resolved`, `closed`;
///   resolution: `resolved`, `closed`.
/// - `reopen`: response: none (the first response happened, whatever follows); resolution:
///   `reopened` (the clock continues from the elapsed time it stopped at).
/// - `cancel`: `canceled`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaConditions {
    /// Signals that start the clock (the first one does; later ones are ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<BTreeSet<SlaTrigger>>,
    /// Hold reasons that pause the clock while the record is on hold for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_on_hold: Option<BTreeSet<HoldReasonKind>>,
    /// Signals that end a pause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<BTreeSet<SlaTrigger>>,
    /// Signals that stop the clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<BTreeSet<SlaTrigger>>,
    /// Signals that take a stopped clock back to running, continuing its elapsed time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reopen: Option<BTreeSet<SlaTrigger>>,
    /// Signals that cancel the clock (for good: it counts neither as met nor as breached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel: Option<BTreeSet<SlaTrigger>>,
}

/// The effective conditions of a definition, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EffectiveConditions {
    /// Signals that start the clock.
    pub start: BTreeSet<SlaTrigger>,
    /// Hold reasons that pause it.
    pub pause_on_hold: BTreeSet<HoldReasonKind>,
    /// Signals that end a pause.
    pub resume: BTreeSet<SlaTrigger>,
    /// Signals that stop it.
    pub stop: BTreeSet<SlaTrigger>,
    /// Signals that take a stopped clock back to running.
    pub reopen: BTreeSet<SlaTrigger>,
    /// Signals that cancel it.
    pub cancel: BTreeSet<SlaTrigger>,
}

impl EffectiveConditions {
    /// The defaults for `metric` (see [`SlaConditions`]).
    pub fn defaults(metric: SlaMetric) -> Self {
        use SlaTrigger as T;
        let set = |items: &[SlaTrigger]| items.iter().copied().collect::<BTreeSet<_>>();
        let (stop, reopen) = match metric {
            SlaMetric::Response => (
                set(&[T::Acknowledged, T::AssignedToPerson, T::Resolved, T::Closed]),
                BTreeSet::new(),
            ),
            SlaMetric::Resolution => (set(&[T::Resolved, T::Closed]), set(&[T::Reopened])),
        };
        Self {
            start: set(&[T::Opened]),
            pause_on_hold: [
                HoldReasonKind::AwaitingCaller,
                HoldReasonKind::AwaitingVendor,
            ]
            .into_iter()
            .collect(),
            resume: set(&[T::Resumed]),
            stop,
            reopen,
            cancel: set(&[T::Canceled]),
        }
    }

    /// Whether a hold for `reason` pauses the clock.
    pub fn pauses(&self, reason: &HoldReason) -> bool {
        self.pause_on_hold.contains(&HoldReasonKind::of(reason))
    }
}

/// A warning threshold or a percentage of the target, from 1 to 99 for thresholds (100 % is the
/// breach, recorded on its own).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct Percent(pub u8);

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

/// Who an escalation at breach goes to; the engine turns it into the record's own escalation
/// command (for incidents `escalate_functional` / `escalate_hierarchical`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub enum BreachEscalation {
    /// Hand over to another group.
    Functional {
        /// The receiving group.
        to_group: GroupId,
    },
    /// Raise to a manager.
    Hierarchical {
        /// The manager.
        to: ActorId,
    },
}

/// What happens at breach. An `sla.breached` event is always recorded; the escalation, if any,
/// travels in it so that the process manager needs no policy lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreachAction {
    /// Escalate the record at breach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<BreachEscalation>,
}

/// Where a clock attached by a reattachment starts measuring.
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
pub enum ReattachStart {
    /// From the record's own start (retroactive, as JSM goals and ServiceNow's "retroactive
    /// start" do): the new clock replays every pause of the record's history, so no pause time
    /// is lost by the change (GLPI #6902, #15605).
    #[default]
    RecordStart,
    /// From the reattachment: the new clock measures only what happens after it.
    Reattachment,
}

/// One version of one SLA definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaDefinition {
    /// Which definition.
    pub id: SlaDefinitionId,
    /// Which version.
    pub version: SlaVersion,
    /// Human name, for example "P1 resolution (4 business hours)".
    pub name: String,
    /// Which records it attaches to.
    pub applies_to: SlaScope,
    /// What it measures.
    pub metric: SlaMetric,
    /// Business time allowed. On the wire a text of hours, minutes and seconds (`"4h"`,
    /// `"1h30m"`, `"90s"`), or the exact `[seconds, nanoseconds]` pair.
    #[serde(with = "target_text")]
    #[schemars(with = "target_text::TargetRepr")]
    pub target: Duration,
    /// The business calendar it measures in.
    pub calendar: CalendarRef,
    /// Start, pause, resume, stop, reopen and cancel conditions (defaults per metric).
    #[serde(default)]
    pub conditions: SlaConditions,
    /// Whether a backdated impact start (recorded on the record) moves the clock's start back
    /// to it. Without this, a backdated fact never moves a clock.
    #[serde(default)]
    pub start_at_impact: bool,
    /// Where a clock attached by a reattachment starts measuring.
    #[serde(default)]
    pub reattach_start: ReattachStart,
    /// Warning thresholds, in percent of the target (1 to 99, each at most once).
    #[serde(default)]
    pub thresholds: Vec<Percent>,
    /// What happens at breach.
    #[serde(default)]
    pub on_breach: BreachAction,
    /// A retired definition is never attached to new records; attached records keep it.
    #[serde(default)]
    pub retired: bool,
}

impl SlaDefinition {
    /// A definition with the metric's default conditions, no thresholds, no escalation.
    pub fn new(
        key: SlaKey,
        name: impl Into<String>,
        applies_to: SlaScope,
        metric: SlaMetric,
        target: Duration,
        calendar: CalendarRef,
    ) -> Self {
        Self {
            id: key.id,
            version: key.version,
            name: name.into(),
            applies_to,
            metric,
            target,
            calendar,
            conditions: SlaConditions::default(),
            start_at_impact: false,
            reattach_start: ReattachStart::default(),
            thresholds: Vec::new(),
            on_breach: BreachAction::default(),
            retired: false,
        }
    }

    /// Builder: warning thresholds in percent.
    pub fn with_thresholds(mut self, percents: impl IntoIterator<Item = u8>) -> Self {
        self.thresholds = percents.into_iter().map(Percent).collect();
        self
    }

    /// Builder: conditions.
    pub fn with_conditions(mut self, conditions: SlaConditions) -> Self {
        self.conditions = conditions;
        self
    }

    /// Builder: measure from a backdated impact start.
    pub fn starting_at_impact(mut self) -> Self {
        self.start_at_impact = true;
        self
    }

    /// Builder: where a reattached clock starts.
    pub fn with_reattach_start(mut self, start: ReattachStart) -> Self {
        self.reattach_start = start;
        self
    }

    /// Builder: escalation at breach.
    pub fn escalating_to(mut self, escalation: BreachEscalation) -> Self {
        self.on_breach.escalation = Some(escalation);
        self
    }

    /// Its key.
    pub fn key(&self) -> SlaKey {
        SlaKey {
            id: self.id.clone(),
            version: self.version,
        }
    }

    /// The effective conditions: what the definition states, the metric's defaults elsewhere.
    pub fn conditions(&self) -> EffectiveConditions {
        let d = EffectiveConditions::defaults(self.metric);
        let c = &self.conditions;
        EffectiveConditions {
            start: c.start.clone().unwrap_or(d.start),
            pause_on_hold: c.pause_on_hold.clone().unwrap_or(d.pause_on_hold),
            resume: c.resume.clone().unwrap_or(d.resume),
            stop: c.stop.clone().unwrap_or(d.stop),
            reopen: c.reopen.clone().unwrap_or(d.reopen),
            cancel: c.cancel.clone().unwrap_or(d.cancel),
        }
    }

    /// The thresholds, ascending and without repeats (the order a clock crosses them in).
    pub fn sorted_thresholds(&self) -> Vec<Percent> {
        let set: BTreeSet<Percent> = self.thresholds.iter().copied().collect();
        set.into_iter().collect()
    }
}

/// A target as people read it and as documents write it (`4h`, `1h30m`, `90s`); fractions of
/// a second are left out.
pub fn format_target(target: Duration) -> String {
    target_text::format(target.num_seconds().max(0))
}

/// The wire form of [`SlaDefinition::target`]: `"4h"`, `"1h30m"`, `"45m"`, `"90s"`, or the exact
/// `[seconds, nanoseconds]` pair (what a sub-second target is written as).
pub(crate) mod target_text {
    use chrono::Duration;
    use schemars::JsonSchema;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// A target as written.
    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(untagged)]
    pub(crate) enum TargetRepr {
        /// Hours, minutes and seconds: `4h`, `1h30m`, `90s`.
        Text(#[schemars(regex(pattern = r"^([0-9]+h)?([0-9]+m)?([0-9]+s)?$"))] String),
        /// Exact seconds and nanoseconds.
        Exact((i64, i32)),
    }

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        if d.subsec_nanos() != 0 || d.num_seconds() < 0 {
            return TargetRepr::Exact((d.num_seconds(), d.subsec_nanos())).serialize(s);
        }
        TargetRepr::Text(format(d.num_seconds())).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        use serde::de::Error;
        match TargetRepr::deserialize(d).map_err(|_| {
            D::Error::custom("a target is a text such as \"4h\", \"1h30m\" or \"90s\"")
        })? {
            TargetRepr::Text(text) => parse(&text).map_err(D::Error::custom),
            TargetRepr::Exact((secs, nanos)) => u32::try_from(nanos)
                .ok()
                .and_then(|n| Duration::new(secs, n))
                .ok_or_else(|| D::Error::custom("the target is out of range")),
        }
    }

    /// `4h`, `1h30m`, `0s`.
    pub(crate) fn format(mut secs: i64) -> String {
        if secs == 0 {
            return "0s".to_owned();
        }
        let mut out = String::new();
        for (unit, size) in [("h", 3600), ("m", 60), ("s", 1)] {
            let n = secs / size;
            secs %= size;
            if n > 0 {
                out.push_str(&format!("{n}{unit}"));
            }
        }
        out
    }

    /// Reads `[<n>h][<n>m][<n>s]`, at least one part, units in that order.
    pub(crate) fn parse(text: &str) -> Result<Duration, String> {
        let bad = || {
            format!(
                "`{text}` is not a duration: write hours, minutes and seconds as in \"4h\", \"1h30m\" or \"90s\" (a business day is whatever the calendar says, so there is no day unit)"
            )
        };
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(bad());
        }
        let mut total: i64 = 0;
        for (unit, size) in [('h', 3600i64), ('m', 60), ('s', 1)] {
            if let Some(at) = rest.find(unit) {
                let digits = &rest[..at];
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                let n: i64 = digits.parse().map_err(|_| bad())?;
                total = n
                    .checked_mul(size)
                    .and_then(|v| total.checked_add(v))
                    .ok_or_else(bad)?;
                rest = &rest[at + 1..];
            }
        }
        if !rest.is_empty() {
            return Err(bad());
        }
        Duration::try_seconds(total).ok_or_else(bad)
    }
}
