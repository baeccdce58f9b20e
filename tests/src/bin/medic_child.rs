//! `medic` itself, built in this package so that end-to-end tests can run
//! it as a real process and kill it (Cargo gives an integration test the
//! path of its own package's binaries only, `CARGO_BIN_EXE_medic-child`).
//! The same entry as `bot/src/main.rs`, so the same program, always as
//! fresh as the test that runs it.

fn main() -> std::process::ExitCode {
    medic::cli::main()
}
