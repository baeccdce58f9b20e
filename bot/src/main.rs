//! `medic`: parse the command line and hand over to [`medic::cli`].

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc malloc: the request path allocates small
/// buffers on one worker thread and frees them on another, which made glibc
/// take its arena locks (futex waits) on every request; see BENCHMARKS.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // One TLS crypto provider for the whole process, chosen before any
    // client is built (two in the tree would panic at the first TLS
    // handshake; CRATES.md pitfall P1).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = medic::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("medic: cannot start the async runtime: {e}");
            return ExitCode::from(70);
        }
    };
    let code = runtime.block_on(medic::cli::run(cli));
    ExitCode::from(code)
}
