//! opsledger-rpc's test harness: one binary, shared fixtures in `common`.

mod common;
mod fuzz_properties;
mod http;
mod http_ops;
mod openrpc;
mod parity;
mod protocol;
mod spec_examples;
mod stdio;
