//! The `parley` binary: see [`parley_homeserver::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    parley_homeserver::cli::main()
}
