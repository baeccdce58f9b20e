//! `medic`: parse the command line and hand over to [`medic::cli`].

use std::process::ExitCode;

/// mimalloc instead of glibc malloc: the request path allocates small
/// buffers on one worker thread and frees them on another, which made glibc
/// take its arena locks (futex waits) on every request; see BENCHMARKS.md.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    medic::cli::main()
}
