pub use opsledger_core as core;
