//! The `parley` command line, built in this package so that process-level tests can run it.

use std::process::ExitCode;

fn main() -> ExitCode {
    parley_homeserver::cli::main()
}
