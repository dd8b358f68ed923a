//! Prints the OpenRPC document of the JSON-RPC specification's example methods.
//!
//! `cargo run -p opsledger-rpc --features spec-fixtures --example discover`

fn main() {
    let dispatcher = opsledger_rpc::Dispatcher::new(opsledger_rpc::testing::spec_registry());
    let reply = dispatcher
        .handle(r#"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#)
        .unwrap_or_default();
    println!("{reply}");
}
