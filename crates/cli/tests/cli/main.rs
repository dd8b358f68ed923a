//! End-to-end tests of the `opsledger` binary (one harness): the binary is run as a user would,
//! on temporary data directories and ephemeral loopback ports.

mod abuse;
mod backup;
mod caller;
mod cmdb;
mod common;
mod conformance;
mod docs;
mod migrate;
mod operations;
mod policy;
mod replicas;
mod story;
mod tools_on_postgres;
mod transfer;
mod webhooks;
