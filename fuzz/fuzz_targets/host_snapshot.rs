//! A remote host's snapshot: the one script medic runs over SSH answers in
//! marked sections (`@@medic-<nonce>@@ <kind> <arg>` … `end <rc> <err>`),
//! and `Snapshot::parse` reads them back; every accessor the host checks
//! use is then asked for the paths the seeds name (files, hex, logs with
//! rotations, exists, directory files, mtimes, directories, peers, planned
//! commands, filesystem usage). The host is outside input: whatever it
//! prints (a log holding a fake marker, a cut-off answer, garbage numbers)
//! must not panic medic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medic_commands::diagnostics::host::snapshot::Snapshot;

/// The nonce of the seeds (fuzz/seeds/host_snapshot).
const NONCE: &str = "0123456789abcdef0123456789abcdef";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let commands = vec![
        vec!["systemctl".to_string(), "--failed".to_string()],
        vec!["ip".to_string(), "-j".to_string(), "addr".to_string()],
    ];
    let s = Snapshot::parse(text, NONCE, commands);
    let _ = (s.len(), s.is_empty());
    for path in [
        "proc/meminfo",
        "/proc/mounts",
        "etc/localtime",
        "srv/app/releases",
    ] {
        let _ = s.file(path);
        let _ = s.bytes(path);
        let _ = s.exists(path);
        let _ = s.modified(path);
        let _ = s.dir(path);
        let _ = s.dir_files(path);
    }
    for log in ["var/log/syslog", "var/log/apt/history.log"] {
        for f in s.log(log) {
            let _ = f.text.map(|t| t.len());
        }
    }
    let _ = s.dir_files("etc/apt/apt.conf.d");
    for i in 0..4 {
        let _ = s.peer(i);
    }
    let _ = s.command(&["systemctl", "--failed"]);
    let _ = s.command(&["ip", "-j", "addr"]);
    let _ = s.command(&["missing"]);
    for point in ["/", "/var/lib/docker"] {
        let _ = s.usage(point);
    }
});
