// `sqlx::migrate!` embeds migration files at compile time; a *new* file is
// only seen when Cargo knows to look again (CRATES.md, sqlx caveat 5).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    pack_relative_relocs();
    order_symbols();
}

/// Lays out the functions medic runs (start-up, webhooks, the outbox, slash
/// commands) together at the start of `.text`, in a release build linked by
/// rust-lld. The kernel maps the 64 KiB around every page of the binary a
/// process touches (fault-around), and those pages count in its RSS: with
/// the 3,500 functions medic runs spread over 18 MB of code, start-up
/// alone made 12–13 MB of the binary resident (BENCHMARKS.md, stop 15).
/// `medic.order` lists them (mangled names, from callgrind:
/// `scripts/orderfile` regenerates it). A name no longer in the binary is
/// skipped, so a stale list costs only memory, never correctness.
fn order_symbols() {
    println!("cargo:rerun-if-changed=medic.order");
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    if env("PROFILE") != "release" || env("CARGO_CFG_TARGET_OS") != "linux" {
        return;
    }
    let path = std::path::Path::new(&env("CARGO_MANIFEST_DIR")).join("medic.order");
    if path.exists() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            path.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// Packed relative relocations (DT_RELR) for medic's binaries. The dynamic
/// loader reads every relocation at start-up, so the 0.8 MB `.rela.dyn` of
/// a PIE this size stayed resident for the life of the process; packed,
/// the same relocations take a few kB (BENCHMARKS.md, stop 14).
///
/// Only for a native glibc build on glibc >= 2.36, the first to load
/// DT_RELR: the binary then refuses to start on an older glibc
/// ("GLIBC_ABI_DT_RELR not found"), so a binary built here and copied to
/// a host with glibc 2.34–2.35 (RHEL 9, Ubuntu 22.04) needs a rebuild there.
/// Cross builds and other C libraries keep the plain relocations. The
/// linker is rustc's own rust-lld (the default for this target since Rust
/// 1.90), which has the option and adds that version check.
fn pack_relative_relocs() {
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    if env("CARGO_CFG_TARGET_OS") != "linux"
        || env("CARGO_CFG_TARGET_ENV") != "gnu"
        || env("HOST") != env("TARGET")
    {
        return;
    }
    // "glibc 2.36"
    let Ok(out) = std::process::Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
    else {
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut version = text
        .trim()
        .trim_start_matches("glibc ")
        .split('.')
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (version.next().unwrap_or(0), version.next().unwrap_or(0));
    if (major, minor) >= (2, 36) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
