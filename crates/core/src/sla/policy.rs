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

/// SLA definitions and business calendars, all versions.
///
/// Old versions stay in the policy: a record pins `(definition, version)` and
/// `(calendar, version)` when its clock is attached, and its status is always computed with
/// exactly those. "In force" (what new records get) is the newest version of each definition,
/// unless that version is retired.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SlaPolicy {
    /// Every version of every definition.
    #[serde(default)]
    pub definitions: Vec<SlaDefinition>,
    /// Every version of every calendar.
    #[serde(default)]
    pub calendars: Vec<BusinessCalendar>,
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
        }
    }

    /// Checks every definition and calendar and reports every problem found (empty list: none),
    /// in the order of the definitions.
    pub fn validate(&self) -> Result<(), Vec<SlaPolicyError>> {
        let mut errors = Vec::new();
        let mut calendars = BTreeSet::new();
        for calendar in &self.calendars {
            let key = CalendarKey {
                id: calendar.id().clone(),
                version: calendar.version(),
            };
            if !calendars.insert(key.clone()) {
                errors.push(SlaPolicyError::DuplicateCalendar { calendar: key });
            }
        }
        let mut keys = BTreeSet::new();
        for def in &self.definitions {
            let key = def.key();
            if def.id.as_str().trim().is_empty() {
                errors.push(SlaPolicyError::BlankId {
                    version: def.version.0,
                });
            }
            if !keys.insert(key.clone()) {
                errors.push(SlaPolicyError::DuplicateDefinition {
                    definition: key.clone(),
                });
            }
            if def.name.trim().is_empty() {
                errors.push(SlaPolicyError::BlankName {
                    definition: key.clone(),
                });
            }
            if self.resolve_calendar(&def.calendar).is_none() {
                errors.push(SlaPolicyError::DanglingCalendar {
                    definition: key.clone(),
                    calendar: def.calendar.id.clone(),
                    version: def.calendar.version.map(|v| v.0),
                });
            }
            if def.target <= chrono::Duration::zero() {
                errors.push(SlaPolicyError::EmptyTarget {
                    definition: key.clone(),
                });
            }
            let mut seen = BTreeSet::new();
            for p in &def.thresholds {
                if !(1..=99).contains(&p.0) {
                    errors.push(SlaPolicyError::ThresholdOutOfRange {
                        definition: key.clone(),
                        percent: p.0,
                    });
                }
                if !seen.insert(*p) {
                    errors.push(SlaPolicyError::DuplicateThreshold {
                        definition: key.clone(),
                        percent: p.0,
                    });
                }
            }
            let conditions = def.conditions();
            if conditions.start.is_empty() {
                errors.push(SlaPolicyError::NoStartCondition {
                    definition: key.clone(),
                });
            }
            if conditions.stop.is_empty() {
                errors.push(SlaPolicyError::NoStopCondition {
                    definition: key.clone(),
                });
            }
            if !conditions.pause_on_hold.is_empty() && conditions.resume.is_empty() {
                errors.push(SlaPolicyError::PauseWithoutResume {
                    definition: key.clone(),
                });
            }
            let blank_target = match &def.on_breach.escalation {
                None => false,
                Some(super::BreachEscalation::Functional { to_group }) => {
                    to_group.as_str().trim().is_empty()
                }
                Some(super::BreachEscalation::Hierarchical { to }) => to.as_str().trim().is_empty(),
            };
            if blank_target {
                errors.push(SlaPolicyError::BlankEscalationTarget { definition: key });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Exactly one version of one definition.
    pub fn definition(&self, key: &SlaKey) -> Option<&SlaDefinition> {
        self.definitions
            .iter()
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
