#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// The pure domain: lifecycles, policies, calendars.
pub use opsledger_core as core;
