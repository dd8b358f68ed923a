//! `opsledger`: see the crate README or `opsledger --help`.

fn main() -> std::process::ExitCode {
    opsledger_cli::main()
}
