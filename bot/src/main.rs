//! `medic`: parse the command line and hand over to [`medic::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    medic::cli::main()
}
