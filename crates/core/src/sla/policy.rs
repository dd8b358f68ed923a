//! The SLA part of a policy: every definition and calendar version ever published, so that a
//! record's pinned versions can always be looked up, and the rules for which are in force.

use super::definition::{CalendarKey, CalendarRef, SlaDefinition, SlaDefinitionId, SlaKey, SlaPin};
use crate::calendar::{BusinessCalendar, CalendarId};
use crate::error::DomainError;
use crate::ids::{RecordKind, ServiceId};
use crate::priority::Priority;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The longest target a definition may have: 366 days of business time. A longer one is
/// almost certainly a unit mistake, and no clock could breach within the calendar's search
/// horizon anyway.
pub const MAX_TARGET: chrono::Duration = chrono::Duration::days(366);

/// SLA definitions and business calendars, all versions.
///
/// Old versions stay in the policy: a record pins `(definition, version)` and
/// `(calendar, version)` when its clock is attached, and its status is always computed with
/// exactly those. "In force" (what new records get) is the newest version of each definition,
/// unless that version is retired.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicy {
    /// Every version of every definition.
    #[serde(default)]
    pub definitions: Vec<SlaDefinition>,
    /// Every version of every calendar.
    #[serde(default)]
    pub calendars: Vec<BusinessCalendar>,
    /// Versions that earlier policy documents held and this one no longer lists: exact
    /// lookups ([`SlaPolicy::definition`], [`SlaPolicy::calendar`]) fall back to them, so that
    /// a record pinned to a version keeps resolving after a newer document drops it. Never
    /// in force, not part of the document (not serialized, ignored by `==`).
    #[serde(skip)]
    #[schemars(skip)]
    archive: Archive,
}

/// See [`SlaPolicy`]'s `archive`.
#[derive(Debug, Clone, Default)]
struct Archive(Arc<(Vec<SlaDefinition>, Vec<BusinessCalendar>)>);

impl PartialEq for Archive {
    fn eq(&self, _: &Self) -> bool {
        // The archive is derived from the history, not part of the document.
        true
    }
}

/// Why an SLA policy is not usable. [`SlaPolicy::validate`] reports every problem at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, JsonSchema)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum SlaPolicyError {
    /// A definition has a blank id.
    #[error("a definition (version {version}) has a blank id")]
    BlankId {
        /// The version of the nameless definition.
        version: u32,
    },
    /// A definition has a blank name.
    #[error("{definition} has a blank name")]
    BlankName {
        /// The definition.
        definition: SlaKey,
    },
    /// Two definitions share an id and a version.
    #[error("{definition} is defined twice")]
    DuplicateDefinition {
        /// The repeated key.
        definition: SlaKey,
    },
    /// Two calendars share an id and a version.
    #[error("calendar {calendar} is defined twice")]
    DuplicateCalendar {
        /// The repeated key.
        calendar: CalendarKey,
    },
    /// A definition names a calendar (version) the policy does not hold.
    #[error("{definition} measures in calendar {calendar}{}, which the policy does not hold", version.map(|v| format!(" {v}")).unwrap_or_default())]
    DanglingCalendar {
        /// The definition.
        definition: SlaKey,
        /// The missing calendar.
        calendar: CalendarId,
        /// The missing version, if the definition names one.
        version: Option<u32>,
    },
    /// A target of zero or less: every record would breach at once.
    #[error("{definition} has an empty target")]
    EmptyTarget {
        /// The definition.
        definition: SlaKey,
    },
    /// A warning threshold outside 1..=99 percent.
    #[error("{definition} has threshold {percent}%, outside 1..=99")]
    ThresholdOutOfRange {
        /// The definition.
        definition: SlaKey,
        /// The threshold.
        percent: u8,
    },
    /// The same threshold twice.
    #[error("{definition} lists threshold {percent}% twice")]
    DuplicateThreshold {
        /// The definition.
        definition: SlaKey,
        /// The threshold.
        percent: u8,
    },
    /// A target longer than [`MAX_TARGET`] (a year of business time).
    #[error("{definition} has a target longer than a year of business time")]
    TargetTooLong {
        /// The definition.
        definition: SlaKey,
    },
    /// No signal starts the clock.
    #[error("{definition} has no start condition")]
    NoStartCondition {
        /// The definition.
        definition: SlaKey,
    },
    /// No signal stops the clock: it could never be met.
    #[error("{definition} has no stop condition")]
    NoStopCondition {
        /// The definition.
        definition: SlaKey,
    },
    /// Holds pause the clock but no signal resumes it.
    #[error("{definition} pauses on hold but has no resume condition")]
    PauseWithoutResume {
        /// The definition.
        definition: SlaKey,
    },
    /// An escalation names a blank group or person.
    #[error("{definition} escalates to a blank group or person")]
    BlankEscalationTarget {
        /// The definition.
        definition: SlaKey,
    },
}

impl From<SlaPolicyError> for DomainError {
    fn from(error: SlaPolicyError) -> Self {
        DomainError::validation("policy.sla", error.to_string())
    }
}

impl SlaPolicy {
    /// A policy; see [`SlaPolicy::validate`].
    pub fn new(definitions: Vec<SlaDefinition>, calendars: Vec<BusinessCalendar>) -> Self {
        Self {
            definitions,
            calendars,
            archive: Archive::default(),
        }
    }

    /// This policy with `earlier`'s versions (and its archive) kept for exact lookups: every
    /// definition and calendar version `earlier` can resolve that this policy does not list.
    /// The engine chains the published documents this way, so that pins outlive the document
    /// that introduced them.
    pub fn with_archive_of(mut self, earlier: &SlaPolicy) -> Self {
        let mut definitions = Vec::new();
        let mut calendars = Vec::new();
        let older_definitions = earlier.definitions.iter().chain(&earlier.archive.0.0);
        for d in older_definitions {
            let key = d.key();
            if self.definition(&key).is_none()
                && !definitions.iter().any(|x: &SlaDefinition| x.key() == key)
            {
                definitions.push(d.clone());
            }
        }
        for c in earlier.calendars.iter().chain(&earlier.archive.0.1) {
            let key = CalendarKey {
                id: c.id().clone(),
                version: c.version(),
            };
            if self.calendar(&key).is_none()
                && !calendars
                    .iter()
                    .any(|x: &BusinessCalendar| x.id() == &key.id && x.version() == key.version)
            {
                calendars.push(c.clone());
            }
        }
        self.archive = Archive(Arc::new((definitions, calendars)));
        self
    }

    /// The archived versions (see [`SlaPolicy::with_archive_of`]): definitions, calendars.
    pub fn archived(&self) -> (&[SlaDefinition], &[BusinessCalendar]) {
        (&self.archive.0.0, &self.archive.0.1)
    }

    /// Checks every definition and calendar and reports every problem found (empty list: none),
    /// in the order of the definitions.
    pub fn validate(&self) -> Result<(), Vec<SlaPolicyError>> {
        let errors: Vec<SlaPolicyError> = self.problems().into_iter().map(|(_, e)| e).collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Every problem [`SlaPolicy::validate`] reports, each with the path of the value at fault
    /// relative to the SLA policy (`definitions[2].target`, `calendars[0]`).
    pub fn problems(&self) -> Vec<(String, SlaPolicyError)> {
        let mut errors = Vec::new();
        let mut calendars = BTreeSet::new();
        for (i, calendar) in self.calendars.iter().enumerate() {
            let key = CalendarKey {
                id: calendar.id().clone(),
                version: calendar.version(),
            };
            if !calendars.insert(key.clone()) {
                errors.push((
                    format!("calendars[{i}]"),
                    SlaPolicyError::DuplicateCalendar { calendar: key },
                ));
            }
        }
        let mut keys = BTreeSet::new();
        for (i, def) in self.definitions.iter().enumerate() {
            let at = |field: &str| format!("definitions[{i}]{field}");
            let key = def.key();
            if def.id.as_str().trim().is_empty() {
                errors.push((
                    at(".id"),
                    SlaPolicyError::BlankId {
                        version: def.version.0,
                    },
                ));
            }
            if !keys.insert(key.clone()) {
                errors.push((
                    at(""),
                    SlaPolicyError::DuplicateDefinition {
                        definition: key.clone(),
                    },
                ));
            }
            if def.name.trim().is_empty() {
                errors.push((
                    at(".name"),
                    SlaPolicyError::BlankName {
                        definition: key.clone(),
                    },
                ));
            }
            if self.resolve_calendar(&def.calendar).is_none() {
                errors.push((
                    at(".calendar"),
                    SlaPolicyError::DanglingCalendar {
                        definition: key.clone(),
                        calendar: def.calendar.id.clone(),
                        version: def.calendar.version.map(|v| v.0),
                    },
                ));
            }
            if def.target <= chrono::Duration::zero() {
                errors.push((
                    at(".target"),
                    SlaPolicyError::EmptyTarget {
                        definition: key.clone(),
                    },
                ));
            } else if def.target > MAX_TARGET {
                errors.push((
                    at(".target"),
                    SlaPolicyError::TargetTooLong {
                        definition: key.clone(),
                    },
                ));
            }
            let mut seen = BTreeSet::new();
            for (j, p) in def.thresholds.iter().enumerate() {
                if !(1..=99).contains(&p.0) {
                    errors.push((
                        at(&format!(".thresholds[{j}]")),
                        SlaPolicyError::ThresholdOutOfRange {
                            definition: key.clone(),
                            percent: p.0,
                        },
                    ));
                }
                if !seen.insert(*p) {
                    errors.push((
                        at(&format!(".thresholds[{j}]")),
                        SlaPolicyError::DuplicateThreshold {
                            definition: key.clone(),
                            percent: p.0,
                        },
                    ));
                }
            }
            let conditions = def.conditions();
            if conditions.start.is_empty() {
                errors.push((
                    at(".conditions.start"),
                    SlaPolicyError::NoStartCondition {
                        definition: key.clone(),
                    },
                ));
            }
            if conditions.stop.is_empty() {
                errors.push((
                    at(".conditions.stop"),
                    SlaPolicyError::NoStopCondition {
                        definition: key.clone(),
                    },
                ));
            }
            if !conditions.pause_on_hold.is_empty() && conditions.resume.is_empty() {
                errors.push((
                    at(".conditions.resume"),
                    SlaPolicyError::PauseWithoutResume {
                        definition: key.clone(),
                    },
                ));
            }
            let blank_target = match &def.on_breach.escalation {
                None => false,
                Some(super::BreachEscalation::Functional { to_group }) => {
                    to_group.as_str().trim().is_empty()
                }
                Some(super::BreachEscalation::Hierarchical { to }) => to.as_str().trim().is_empty(),
            };
            if blank_target {
                errors.push((
                    at(".on_breach.escalation"),
                    SlaPolicyError::BlankEscalationTarget { definition: key },
                ));
            }
        }
        errors
    }

    /// Exactly one version of one definition.
    pub fn definition(&self, key: &SlaKey) -> Option<&SlaDefinition> {
        self.definitions
            .iter()
            .chain(&self.archive.0.0)
            .find(|d| d.id == key.id && d.version == key.version)
    }

    /// The newest version of a definition, retired or not.
    pub fn newest(&self, id: &SlaDefinitionId) -> Option<&SlaDefinition> {
        self.definitions
            .iter()
            .filter(|d| &d.id == id)
            .max_by_key(|d| d.version)
    }

    /// The definitions new records get: the newest version of each id, unless retired; ordered
    /// by id.
    pub fn in_force(&self) -> Vec<&SlaDefinition> {
        let ids: BTreeSet<&SlaDefinitionId> = self.definitions.iter().map(|d| &d.id).collect();
        ids.into_iter()
            .filter_map(|id| self.newest(id))
            .filter(|d| !d.retired)
            .collect()
    }

    /// The definitions in force that apply to a record of `kind` with `priority` and `service`
    /// (every one that matches is attached: a response and a resolution clock, typically).
    pub fn applicable(
        &self,
        kind: RecordKind,
        priority: Priority,
        service: Option<&ServiceId>,
    ) -> Vec<&SlaDefinition> {
        self.in_force()
            .into_iter()
            .filter(|d| d.applies_to.matches(kind, priority, service))
            .collect()
    }

    /// Exactly one version of one calendar.
    pub fn calendar(&self, key: &CalendarKey) -> Option<&BusinessCalendar> {
        self.calendars
            .iter()
            .chain(&self.archive.0.1)
            .find(|c| c.id() == &key.id && c.version() == key.version)
    }

    /// What a calendar reference means today: its exact version, or the newest one.
    pub fn resolve_calendar(&self, reference: &CalendarRef) -> Option<&BusinessCalendar> {
        match reference.version {
            Some(version) => self.calendar(&CalendarKey {
                id: reference.id.clone(),
                version,
            }),
            None => self
                .calendars
                .iter()
                .filter(|c| c.id() == &reference.id)
                .max_by_key(|c| c.version()),
        }
    }

    /// What a record attached now to `definition` pins; `None` if its calendar is missing.
    pub fn pin(&self, definition: &SlaDefinition) -> Option<SlaPin> {
        let calendar = self.resolve_calendar(&definition.calendar)?;
        Some(SlaPin {
            definition: definition.key(),
            calendar: CalendarKey {
                id: calendar.id().clone(),
                version: calendar.version(),
            },
        })
    }

    /// The pins of every applicable definition (see [`SlaPolicy::applicable`]): what the engine
    /// puts in an `attach` or `reattach` command. Definitions whose calendar is missing are
    /// left out ([`SlaPolicy::validate`] reports them).
    pub fn pins_for(
        &self,
        kind: RecordKind,
        priority: Priority,
        service: Option<&ServiceId>,
    ) -> Vec<SlaPin> {
        self.applicable(kind, priority, service)
            .into_iter()
            .filter_map(|d| self.pin(d))
            .collect()
    }

    /// The definition and calendar a pin names, if the policy holds both.
    pub fn resolve(&self, pin: &SlaPin) -> Option<(&SlaDefinition, &BusinessCalendar)> {
        Some((
            self.definition(&pin.definition)?,
            self.calendar(&pin.calendar)?,
        ))
    }
}
