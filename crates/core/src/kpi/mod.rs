//! KPIs as pure functions over event histories, never over current-state columns.
//!
//! The engine keeps a [`KpiInput`]: one [`RecordHistory`] of small facts per incident and per
//! change (appended as events are committed, see [`KpiInput::push_incident_event`]) and the
//! [`SlaOutcome`]s of SLA instances. [`compute`] folds each record once and answers a
//! [`KpiQuery`] with a [`KpiReport`]. Nothing here reads a clock: "now" is `as_of`, or the
//! latest instant in the input.
//!
//! # Instants, windows and "as of"
//!
//! - A fact's instant is the instant its event was recorded (decided) at. Backdated facts
//!   (impact start, detection) also carry when they occurred; only MTTD reads that.
//! - The **horizon** `H` is `as_of`, or else [`KpiInput::latest`]: the latest instant of any
//!   event fed (even one no KPI reads, such as a work note) or SLA outcome. Only facts
//!   recorded at or before `H` are read, and SLA outcomes are read as of `H`
//!   ([`SlaOutcome::as_of`]). Every history is read through [`RecordHistory::visible`], so
//!   computing with `as_of = T` is, by construction, computing on
//!   [`KpiInput::truncated`]`(T)`: the report a dashboard showed at `T` can be reproduced
//!   exactly later.
//! - The **window** `[start, end)` selects, per figure, the records whose *defining event*
//!   (below) lies in it. Flows (MTTx, rates) are judged with everything known at `H`: an
//!   incident resolved in January and reopened in February is no longer in January's MTTR as
//!   of March, but is as of January 31st.
//! - The **backlog** is measured at `min(window end, H)`, from the facts recorded at or before
//!   that instant.
//! - A **mature cohort** is used where an outcome needs time to become known (reopens within
//!   N days, PIR deadlines): only members whose observation period ended by `H` enter the
//!   ratio; the others are reported as `pending`. Counting them would bias the rate (reopen
//!   rate low, on-time PIRs high) for recent periods.
//!
//! # Formulas (reference: itsm-anchors.md section 3)
//!
//! `D(a, b)` is the duration of `[a, b)` on the query's clock ([`TimeBasis`]: wall clock, or
//! business time under one calendar via
//! [`BusinessCalendar::business_duration_between`](crate::BusinessCalendar::business_duration_between)),
//! truncated to whole milliseconds per sample. With `exclude_on_hold`, time on hold is
//! subtracted from time to resolve and backlog ages (`D(a, b) - Σ D(hold ∩ [a, b))`, every hold
//! reason alike). Reopen windows and PIR deadlines are wall-clock (calendar promises).
//!
//! | Figure | Population (defining event in the window) | Value |
//! |---|---|---|
//! | MTTA | incidents whose **first acknowledgement** is in the window (acknowledging, or assigning a person to a New incident; a group alone is not a response; a child resolved with its parent from New and reopened is back in New, and its first acknowledgement comes after the reopen) | mean `D(opened, first ack)` |
//! | MTTR (resolve) | incidents **resolved at `H`** whose **standing resolution** (the latest, not reopened since) is in the window | mean `D(opened, standing resolution)`, less holds if asked; time spent resolved before a reopen counts |
//! | MTTD | incidents with a recorded **impact start** whose **detection** (the recorded detection, else the opening) occurred in the window; left out when detection precedes the impact start (only possible with the fallback) | mean `D(impact start, detection)` from the latest recorded values |
//! | SLA compliance | SLA instances, not canceled at `H`, **decided** in the window: breached (at the breach instant) or met (stopped without breach, at the stop instant); per metric and attached priority; each reattached cycle is its own instance | met / decided |
//! | Breaches, time over target | instances breached in the window | count; `Σ max(0, business elapsed - target)` over those stopped by `H` (business time from the SLA module); still-running breaches counted apart |
//! | Reopen rate | every **resolution** in the window (an incident resolved twice counts twice), mature when `resolution + N days <= H` | reopened within N days / mature |
//! | Reassignment rate | the MTTR population | reassignments (reassignments + functional escalations) recorded before the standing resolution: mean, and share with `>= threshold` (default 3) |
//! | First-contact resolution | the MTTR population, mature when `standing resolution + N days <= H` | never reopened, `<= max_reassignments` (default 0), resolved directly (not from a parent or problem) unless `direct_only` is off, and optionally within M minutes / mature |
//! | Backlog | incidents New, InProgress or OnHold at the backlog instant | size; ages `D(opened, backlog instant)`: mean, nearest-rank median and P90, buckets 0-1 d, 1-7 d, 7-30 d, over 30 d (24 h of the query's clock per day) |
//! | Change success | changes whose **first close** is in the window (canceled changes never close) | successful (+ with issues, by default) / closed; closed changes recorded as causing an incident counted beside |
//! | Emergency-change ratio | changes **requested** in the window, canceled ones included | emergency (type at `H`) / requested |
//! | Unauthorised changes | changes whose **implementation started** in the window | started while not authorised in the current round (authorised, and not since rejected or reverted); standard changes are pre-authorised and never count / implemented |
//! | PIR on time | **accepted** major incidents (at `H`) in the MTTR population, mature when `standing resolution + H hours <= H` | first review published at most H hours (default 72) after the standing resolution (before it counts as on time) / mature |
//!
//! # Grouping
//!
//! A record is put in the group its attributes had **at the figure's defining event** (the
//! acknowledgement for MTTA, the resolution for MTTR, reassignment, FCR, reopen and PIR, the
//! latest impact-start or detection fact for MTTD, the backlog instant for the backlog), not
//! the group it has now: an incident reprioritised to P1 after resolving stays in its
//! resolution's priority. SLA instances carry their own priority, group and service. Changes
//! have no priority, group or service, so with grouping they fall in the "no value" row. Each
//! member lands in exactly one group, so the groups of a figure add up to the ungrouped figure.
//!
//! Problem KPIs (time to RCA, KE reuse) are not in this set.

mod compute;
mod input;
mod query;
mod report;
mod summary;
mod trace;

pub use compute::{
    DurationTotal, GroupTotals, KpiInput, MatureTotal, SlaTotal, compute, nearest_rank,
};
pub use input::{
    ChangeFact, ChangeHistory, ChangeKind, ChangeOutcome, IncidentFact, IncidentHistory,
    RecordHistory, RecordRef, Recorded, ResolutionKind, SlaMetric, SlaOutcome, SlaStop,
};
pub use query::{FcrDefinition, GroupBy, KpiQuery, TimeBasis};
pub use report::{
    AgeBuckets, AgeFigure, BacklogFigure, ChangeSuccessFigure, DurationFigure, GroupKey,
    GroupReport, KpiReport, MatureRatio, Ratio, ReassignmentFigure, RunbookFigure, SlaFigure,
};
pub use summary::{
    BacklogSample, ChangeSummary, Detection, IncidentSummary, ResolutionRecord, Routing,
    StandingResolution,
};
