//! `medic`: parse the command line and hand over to [`medic::cli`].

use std::process::ExitCode;

/// The system's malloc by default: measured against mimalloc v3 on the
/// slash-command bench (BENCHMARKS.md, stop 16) it was as fast and held
/// 1.3-2 MB less under load, and heap profilers that replace malloc
/// (valgrind's massif) see every allocation. `--features mimalloc` brings
/// mimalloc back for comparison.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    medic::cli::main()
}
