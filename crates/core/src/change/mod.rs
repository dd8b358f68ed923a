//! Change enablement: standard, normal and emergency changes, approvals and schedule conflicts.

mod conflict;

pub use conflict::Conflict;
