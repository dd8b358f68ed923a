//! Every problem of a policy document, each with the path of the value at fault.
//!
//! [`Policy::issues`] is the one list of rules; [`Policy::validate`] reports its first entry as
//! a [`DomainError`], and the document parser ([`super::document`]) reports the problems of
//! the text (unknown keys, wrong types, unknown zones) in the same shape.

use super::{ApprovalRule, Policy, Quorum};
use crate::error::DomainError;
use crate::window::{CiScope, NamedWindow, TimeWindow};
use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// One problem of a policy document: where (a path into the document, such as
/// `sla.definitions[2].target`; empty for the document itself) and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyIssue {
    /// Path of the value at fault: keys joined with `.`, list positions in `[n]`.
    pub path: String,
    /// What is wrong with it, for a person.
    pub message: String,
}

impl PolicyIssue {
    /// An issue at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for PolicyIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl From<PolicyIssue> for DomainError {
    fn from(issue: PolicyIssue) -> Self {
        DomainError::validation(issue.path, issue.message)
    }
}

/// How far from a reference week overlapping weekly windows are looked for: one year, so that
/// windows in different zones are compared across both clock changes.
const OVERLAP_PROBE_DAYS: i64 = 371;

impl Policy {
    /// Every problem of the document, in document order (empty: none). The rules:
    /// - approvals (normal and emergency): at least one approver role; `min_approvals` at
    ///   least 1 and at most the board's size; `majority` and `all` need a board; board
    ///   members neither blank nor repeated;
    /// - maintenance and blackout windows: a name, exactly one of `window` (which must start
    ///   before it ends) and `weekly` (at least one day, `start` different from `end`), a scope
    ///   naming at least one CI, names unique within the list, and no two windows of the same
    ///   list with a CI in common that overlap;
    /// - standard changes: id and name neither blank nor repeated;
    /// - limits: at least 1;
    /// - SLA definitions and calendars: see [`SlaPolicy::problems`](crate::sla::SlaPolicy::problems)
    ///   (targets between zero and a year, thresholds 1 to 99 %, known calendars...);
    /// - `incident.auto_close_calendar`: one of the SLA calendars.
    ///
    /// It cannot check that board members hold an approver role: roles come from the identity
    /// system with each command. A member without one is refused when voting.
    pub fn issues(&self) -> Vec<PolicyIssue> {
        let mut out = Vec::new();
        approval_issues(&self.approvals.normal, "approvals.normal", &mut out);
        approval_issues(&self.approvals.emergency, "approvals.emergency", &mut out);
        for (field, windows) in [
            ("maintenance_windows", &self.maintenance_windows),
            ("blackout_windows", &self.blackout_windows),
        ] {
            window_issues(field, windows, &mut out);
        }
        let sync = &self.incident.child_sync;
        if sync.on_hold.follows() && !sync.resumed.follows() {
            out.push(PolicyIssue::new(
                "incident.child_sync.resumed",
                "must be `follow` while `on_hold` is `follow`: children put on hold with their \
                 parent would wait for a resume that never comes",
            ));
        }
        let mut ids = BTreeSet::new();
        let mut names = BTreeSet::new();
        for (i, t) in self.standard_changes.iter().enumerate() {
            let at = |f: &str| format!("standard_changes[{i}].{f}");
            if t.id.trim().is_empty() {
                out.push(PolicyIssue::new(at("id"), "must not be empty"));
            } else if !ids.insert(t.id.as_str()) {
                out.push(PolicyIssue::new(
                    at("id"),
                    format!("template `{}` is listed twice", t.id),
                ));
            }
            if t.name.trim().is_empty() {
                out.push(PolicyIssue::new(at("name"), "must not be empty"));
            } else if !names.insert(t.name.trim()) {
                out.push(PolicyIssue::new(
                    at("name"),
                    format!("the name `{}` is used by another template", t.name),
                ));
            }
        }
        for (field, value) in [
            ("limits.max_title_bytes", self.limits.max_title_bytes),
            ("limits.max_text_bytes", self.limits.max_text_bytes),
            ("limits.max_links", self.limits.max_links),
        ] {
            if value == 0 {
                out.push(PolicyIssue::new(field, "must be at least 1"));
            }
        }
        for (path, problem) in self.sla.problems() {
            out.push(PolicyIssue::new(format!("sla.{path}"), problem.to_string()));
        }
        if let Some(reference) = &self.incident.auto_close_calendar
            && self.sla.resolve_calendar(reference).is_none()
        {
            out.push(PolicyIssue::new(
                "incident.auto_close_calendar",
                format!("calendar `{}` is not among sla.calendars", reference.id),
            ));
        }
        out
    }
}

fn approval_issues(rule: &ApprovalRule, field: &str, out: &mut Vec<PolicyIssue>) {
    if rule.approver_roles.is_empty() {
        out.push(PolicyIssue::new(
            format!("{field}.approver_roles"),
            "names no role: nobody could ever approve, whoever is on the board",
        ));
    }
    if rule.min_approvals == 0 {
        out.push(PolicyIssue::new(
            format!("{field}.min_approvals"),
            "must be at least 1",
        ));
    }
    if matches!(rule.quorum, Quorum::Majority | Quorum::All) && rule.board.is_empty() {
        out.push(PolicyIssue::new(
            format!("{field}.quorum"),
            "majority and all count the members of a board; name the board or use any",
        ));
    }
    let mut members = BTreeSet::new();
    for (i, member) in rule.board.iter().enumerate() {
        if member.as_str().trim().is_empty() {
            out.push(PolicyIssue::new(
                format!("{field}.board[{i}]"),
                "a member id is blank",
            ));
        } else if !members.insert(member) {
            out.push(PolicyIssue::new(
                format!("{field}.board[{i}]"),
                format!("{member} is listed twice"),
            ));
        }
    }
    let size = u32::try_from(members.len()).unwrap_or(u32::MAX);
    if !rule.board.is_empty() && rule.min_approvals > size {
        out.push(PolicyIssue::new(
            format!("{field}.min_approvals"),
            format!(
                "{} approvals can never be reached by a board of {size}",
                rule.min_approvals
            ),
        ));
    }
}

fn window_issues(field: &str, windows: &[NamedWindow], out: &mut Vec<PolicyIssue>) {
    let mut names = BTreeSet::new();
    let mut well_formed = Vec::new();
    for (i, w) in windows.iter().enumerate() {
        let at = |f: &str| format!("{field}[{i}]{f}");
        let before = out.len();
        if w.name.trim().is_empty() {
            out.push(PolicyIssue::new(at(".name"), "must not be empty"));
        } else if !names.insert(w.name.trim()) {
            out.push(PolicyIssue::new(
                at(".name"),
                format!("`{}` names another window of this list", w.name),
            ));
        }
        match (&w.window, &w.weekly) {
            (Some(_), Some(_)) => out.push(PolicyIssue::new(
                at(""),
                "has both `window` and `weekly`; a window happens once or every week",
            )),
            (None, None) => out.push(PolicyIssue::new(
                at(""),
                "has neither `window` nor `weekly`: say when it is",
            )),
            (Some(once), None) => {
                if !once.is_valid() {
                    out.push(PolicyIssue::new(at(".window"), "must start before it ends"));
                }
            }
            (None, Some(weekly)) => {
                if weekly.days.is_empty() {
                    out.push(PolicyIssue::new(
                        at(".weekly.days"),
                        "names no day: the window would never open",
                    ));
                }
                if weekly.start == weekly.end {
                    out.push(PolicyIssue::new(
                        at(".weekly.end"),
                        "equals the start: a weekly window lasts less than a day",
                    ));
                }
            }
        }
        if let CiScope::Only(cis) = &w.scope
            && cis.is_empty()
        {
            out.push(PolicyIssue::new(
                at(".scope"),
                "names no CI; use scope `all` for every CI",
            ));
        }
        if out.len() == before {
            well_formed.push((i, w));
        }
    }
    for (n, (i, a)) in well_formed.iter().enumerate() {
        for (j, b) in &well_formed[n + 1..] {
            if a.scope.intersects(&b.scope)
                && let Some(at) = first_overlap(a, b)
            {
                out.push(PolicyIssue::new(
                    format!("{field}[{j}]"),
                    format!(
                        "overlaps `{}` ({field}[{i}]) on a CI they share, from {}; merge them \
                         or make them disjoint",
                        a.name,
                        at.format("%Y-%m-%d %H:%M UTC")
                    ),
                ));
            }
        }
    }
}

/// The start of the first instant two well-formed windows share, if they share one: one-off
/// windows are compared exactly; a weekly window is expanded over a year from the other's
/// occurrence (or, for two weekly windows, from 2024-01-01, a year with both clock changes).
fn first_overlap(a: &NamedWindow, b: &NamedWindow) -> Option<DateTime<Utc>> {
    let probe = match (&a.window, &b.window) {
        (Some(x), Some(y)) => return x.overlaps(y).then(|| x.start.max(y.start)),
        (Some(x), None) | (None, Some(x)) => *x,
        (None, None) => {
            let start = DateTime::<Utc>::from_timestamp(1_704_067_200, 0)?;
            TimeWindow::new(start, start + Duration::days(OVERLAP_PROBE_DAYS))
        }
    };
    let xs = a.occurrences(&probe);
    let ys = b.occurrences(&probe);
    // Both lists are sorted by start and their items do not overlap each other: a sweep finds
    // the first shared instant in one pass.
    let (mut i, mut j) = (0, 0);
    while let (Some(x), Some(y)) = (xs.get(i), ys.get(j)) {
        if x.overlaps(y) {
            return Some(x.start.max(y.start));
        }
        if x.end <= y.end {
            i += 1;
        } else {
            j += 1;
        }
    }
    None
}
