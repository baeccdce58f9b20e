//! The host diagnostic over ssh against a real OpenSSH server on loopback
//! (support/sshd.rs): the checks really run on the far side of one ssh
//! connection; a changed or unknown host key, a refused login and a dead
//! port are findings; a destination that ssh would read as an option never
//! reaches ssh.
//!
//! Only 127.0.0.1 is ever contacted.

#[path = "support/sshd.rs"]
mod sshd;

use std::path::Path;
use std::time::Duration;

use medic_commands::Status;
use medic_commands::diagnostics::host::HostTarget;
use medic_commands::diagnostics::{Target, TargetSpec};
use serde_json::json;
use sshd::{Sshd, free_port};

macro_rules! sshd {
    () => {
        match Sshd::start().await {
            Some(s) => s,
            None => return,
        }
    };
}

fn spec(value: serde_json::Value) -> HostTarget {
    match serde_json::from_value(value).expect("host config parses") {
        TargetSpec::Host(h) => h,
        _ => panic!("not a host"),
    }
}

/// A target for `sshd`, with `known_hosts` and `key` (the right ones unless
/// a test swaps them).
fn target(sshd: &Sshd, known_hosts: &Path, key: &Path) -> HostTarget {
    let h = spec(json!({
        "kind": "host",
        "ssh": format!("{}@127.0.0.1", sshd.user),
        "ssh_port": sshd.port,
        "ssh_key": key,
        "ssh_known_hosts": known_hosts,
        // Generous: this catches a hang, it times nothing.
        "timeout": "20s",
    }));
    h.validate().expect("a valid ssh target");
    h
}

async fn run(h: HostTarget) -> medic_commands::Report {
    let t = Target {
        name: "remote".into(),
        spec: TargetSpec::Host(h),
    };
    tokio::time::timeout(Duration::from_secs(40), t.run())
        .await
        .expect("the report within its timeout")
}

fn one<'a>(report: &'a medic_commands::Report, check: &str) -> &'a medic_commands::Finding {
    let of: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.check == check)
        .collect();
    assert!(!of.is_empty(), "no {check} in {report:#?}");
    of[0]
}

#[tokio::test]
async fn host_checks_run_over_one_real_ssh_connection() {
    let sshd = sshd!();
    let releases = sshd.scratch().join("releases");
    std::fs::create_dir(&releases).unwrap();
    std::fs::create_dir(releases.join("20260131062000")).unwrap();
    let mut h = target(&sshd, &sshd.known_hosts, &sshd.key);
    h.releases_dir = Some(releases.clone());
    let report = run(h).await;

    let ssh = one(&report, "host.ssh");
    assert_eq!(
        ssh.status,
        Status::Ok,
        "{report:#?}\nsshd log:\n{}",
        sshd.log()
    );
    assert!(
        ssh.summary.starts_with(&format!(
            "Checked {}@127.0.0.1:{} over ssh (one connection, ",
            sshd.user, sshd.port
        )),
        "{}",
        ssh.summary
    );
    // Every check answered from what the far side sent.
    for check in [
        "host.disk",
        "host.memory",
        "host.fds",
        "host.load",
        "host.oom",
        "host.systemd",
        "host.apt",
        "host.deploys",
        "host.reloads",
        "host.unattended",
        "host.reboot",
    ] {
        one(&report, check);
    }
    assert!(
        one(&report, "host.memory").summary.starts_with("Memory "),
        "{report:#?}"
    );
    assert!(
        one(&report, "host.fds")
            .summary
            .starts_with("File descriptors ")
    );
    // The far side's core count (the same box here) came through cpuinfo.
    let cores = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    assert!(
        one(&report, "host.load")
            .summary
            .ends_with(&format!("on {cores} cores")),
        "{}",
        one(&report, "host.load").summary
    );
    let disk = one(&report, "host.disk");
    assert!(
        disk.summary.contains("/ ") && disk.summary.ends_with('%'),
        "the root filesystem's usage came over ssh: {disk:#?}"
    );
    assert!(
        one(&report, "host.deploys")
            .summary
            .contains(" 20260131062000 at "),
        "the releases directory was listed over ssh: {report:#?}"
    );
    // One login for the whole run.
    let logins = sshd.log().matches("Accepted publickey for").count();
    assert_eq!(logins, 1, "sshd log:\n{}", sshd.log());
}

#[tokio::test]
async fn interfaces_peers_and_updates_are_read_on_the_far_side() {
    let sshd = sshd!();
    // A peer that listens and one where nothing does, both on loopback:
    // the far side (this same machine) makes the connects.
    let live = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (live_addr, dead_addr) = (live.local_addr().unwrap(), dead.local_addr().unwrap());
    drop(dead);
    let mut h = target(&sshd, &sshd.known_hosts, &sshd.key);
    h.interfaces = vec!["lo".into(), "medic-none0".into()];
    h.peers = [live_addr, dead_addr]
        .iter()
        .map(|a| serde_json::from_value(json!(a.to_string())).unwrap())
        .collect();
    h.validate().unwrap();
    let report = run(h).await;
    assert_eq!(
        one(&report, "host.ssh").status,
        Status::Ok,
        "{report:#?}\nsshd log:\n{}",
        sshd.log()
    );

    let net: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.check == "host.network")
        .collect();
    let lo = net.iter().find(|f| f.summary.contains(" lo ")).unwrap();
    assert_eq!(lo.status, Status::Ok, "{lo:#?}");
    if which("ip") {
        // ip -j ran over there: IPv4 too.
        assert!(lo.summary.contains("127.0.0.1/8"), "{lo:#?}");
    }
    let none = net
        .iter()
        .find(|f| f.summary.contains("medic-none0"))
        .unwrap();
    assert_eq!(none.status, Status::Critical);
    assert_eq!(none.summary, "Interface medic-none0 does not exist here");
    assert!(none.detail[0].contains("lo"), "{none:#?}");

    let peers: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.check == "host.peers")
        .collect();
    assert_eq!(peers.len(), 2, "{report:#?}");
    if which("bash") && which("timeout") {
        let of = |addr: std::net::SocketAddr| {
            peers
                .iter()
                .find(|f| f.summary.contains(&addr.to_string()))
                .unwrap_or_else(|| panic!("no finding for {addr}: {peers:#?}"))
        };
        assert_eq!(
            of(live_addr).summary,
            format!("{live_addr} reachable from the host (TCP connect within 4 s)"),
            "{peers:#?}"
        );
        assert_eq!(of(dead_addr).status, Status::Critical);
        assert_eq!(
            of(dead_addr).summary,
            format!("Connection refused by {dead_addr} (from the host)")
        );
    }
    one(&report, "host.unattended");
    one(&report, "host.reboot");
    // Still one login for the whole run.
    let logins = sshd.log().matches("Accepted publickey for").count();
    assert_eq!(logins, 1, "sshd log:\n{}", sshd.log());
    drop(live);
}

/// Whether the far side (this machine) has a tool.
fn which(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
        || Path::new("/usr/bin").join(tool).is_file()
}

#[tokio::test]
async fn a_changed_host_key_is_a_critical_finding_and_nothing_runs() {
    let sshd = sshd!();
    let report = run(target(&sshd, &sshd.wrong_known_hosts(), &sshd.key)).await;
    assert_eq!(report.findings.len(), 1, "{report:#?}");
    let f = &report.findings[0];
    assert_eq!(f.check, "host.ssh");
    assert_eq!(f.status, Status::Critical);
    assert!(
        f.summary.ends_with("refused: the host key has CHANGED"),
        "{}",
        f.summary
    );
    assert!(
        !sshd.log().contains("Accepted publickey"),
        "no login happened"
    );
}

#[tokio::test]
async fn an_unknown_host_key_or_a_refused_login_is_reported_not_guessed() {
    let sshd = sshd!();
    let report = run(target(&sshd, &sshd.empty_known_hosts(), &sshd.key)).await;
    let f = one(&report, "host.ssh");
    assert_eq!(f.status, Status::Unknown, "{f:#?}");
    assert!(
        f.summary.ends_with("refused: the host key is not known"),
        "{}",
        f.summary
    );
    assert_eq!(report.findings.len(), 1);

    let report = run(target(&sshd, &sshd.known_hosts, &sshd.stranger_key())).await;
    let f = one(&report, "host.ssh");
    assert_eq!(f.status, Status::Unknown, "{f:#?}");
    assert!(
        f.summary.ends_with(": the login was refused"),
        "{}",
        f.summary
    );
    assert!(f.detail[0].contains("authorized_keys"), "{f:#?}");
    assert_eq!(report.findings.len(), 1);
}

#[tokio::test]
async fn a_dead_port_is_a_critical_finding() {
    let sshd = sshd!();
    let mut h = target(&sshd, &sshd.known_hosts, &sshd.key);
    h.ssh_port = Some(free_port());
    let report = run(h).await;
    assert_eq!(report.findings.len(), 1, "{report:#?}");
    let f = &report.findings[0];
    assert_eq!(f.status, Status::Critical);
    assert!(f.summary.ends_with(": connection refused"), "{}", f.summary);
}

#[tokio::test]
async fn an_option_disguised_as_a_destination_never_reaches_ssh() {
    let dir = tempfile::tempdir().unwrap();
    let pwned = dir.path().join("pwned");
    let h = spec(json!({
        "kind": "host",
        "ssh": format!("-oProxyCommand=touch {}", pwned.display()),
        "timeout": "5s",
    }));
    let (key, _) = h.validate().unwrap_err();
    assert_eq!(key, "ssh");
    // Even run without validation, it is refused, not passed on.
    let report = run(h).await;
    assert_eq!(report.findings.len(), 1, "{report:#?}");
    assert_eq!(report.findings[0].status, Status::Critical);
    assert!(
        report.findings[0]
            .summary
            .starts_with("Not checked: must be user@host")
    );
    assert!(!pwned.exists(), "ssh ran the ProxyCommand");
}

/// 2026-01-31 06:32:07 UTC: the first alert of the runbook's outage.
const ALERT: i64 = 1_769_841_127;

/// A stand-in `journalctl` in `dir`: records each run's arguments and
/// prints two `journalctl -o json` entries for redis-server (one with a
/// password in it), nothing for any other unit.
fn fake_journalctl(dir: &Path) -> (String, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let entries = [
        format!(
            r#"{{"__REALTIME_TIMESTAMP":"{}000000","PRIORITY":"3","SYSLOG_IDENTIFIER":"redis-server","_PID":"812","_SYSTEMD_UNIT":"redis-server.service","MESSAGE":"812:M Error connecting to master redis://replica:s3cr3t-hunter@10.0.1.2:6379"}}"#,
            ALERT - 5
        ),
        format!(
            r#"{{"__REALTIME_TIMESTAMP":"{}000000","PRIORITY":"4","SYSLOG_IDENTIFIER":"systemd","_PID":"1","UNIT":"redis-server.service","MESSAGE":"redis-server.service: Failed with result 'signal'."}}"#,
            ALERT + 3
        ),
    ];
    let json = dir.join("redis.json");
    std::fs::write(&json, entries.join("\n") + "\n").unwrap();
    let args = dir.join("args");
    let script = dir.join("journalctl");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\ncase \"$*\" in *--unit=redis-server*) cat '{}';; esac\n",
            args.display(),
            json.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script.display().to_string(), args)
}

/// A run for an incident whose first alert was at [`ALERT`].
async fn run_around(h: HostTarget) -> Vec<medic_commands::Finding> {
    use futures::StreamExt;
    let t = Target {
        name: "remote".into(),
        spec: TargetSpec::Host(h),
    };
    let at = time::OffsetDateTime::from_unix_timestamp(ALERT).unwrap();
    tokio::time::timeout(
        Duration::from_secs(40),
        t.start_around(Some(at))
            .results
            .flat_map(|d| futures::stream::iter(d.findings))
            .collect::<Vec<_>>(),
    )
    .await
    .expect("the findings within the timeout")
}

#[tokio::test]
async fn the_units_journal_around_the_alert_is_read_on_the_far_side() {
    let sshd = sshd!();
    let (journalctl, args) = fake_journalctl(sshd.scratch());
    let mut h = target(&sshd, &sshd.known_hosts, &sshd.key);
    h.units = vec!["redis-server".into(), "postgresql@15-main".into()];
    h.validate().unwrap();
    h.journalctl = journalctl;
    let fs = run_around(h.clone()).await;
    let ssh = fs.iter().find(|f| f.check == "host.ssh").unwrap();
    assert_eq!(ssh.status, Status::Ok, "{fs:#?}\nsshd log:\n{}", sshd.log());
    let journal: Vec<_> = fs.iter().filter(|f| f.check == "host.journal").collect();
    assert_eq!(journal.len(), 2, "{fs:#?}");
    let redis = journal
        .iter()
        .find(|f| f.summary.starts_with("redis-server"))
        .unwrap();
    assert_eq!(redis.status, Status::Warn, "{redis:#?}");
    assert_eq!(
        redis.summary,
        "redis-server stopped or died at 06:32:10 UTC (3 s after the first alert); 1 error"
    );
    assert_eq!(
        redis.evidence.as_deref(),
        Some(
            "06:32:02 redis-server[812]: 812:M Error connecting to master redis://replica:••••@10.0.1.2:6379\n\
             06:32:10 systemd[1]: redis-server.service: Failed with result 'signal'."
        )
    );
    assert!(!format!("{fs:?}").contains("hunter"));
    // The far side ran one journalctl per unit, in the alert's window, on
    // its own journal (no --directory).
    let ran = std::fs::read_to_string(&args).unwrap();
    let runs: Vec<&str> = ran.lines().collect();
    assert_eq!(runs.len(), 2, "{ran}");
    for run in runs {
        assert!(
            run.contains("--since=@1769839327 --until=@1769841427"),
            "{run}"
        );
        assert!(!run.contains("--directory"), "{run}");
    }
    // Still one login for the whole run.
    let logins = sshd.log().matches("Accepted publickey for").count();
    assert_eq!(logins, 1, "sshd log:\n{}", sshd.log());

    // The far side's real journalctl: without a journal there, one quiet
    // note; with one, a finding per unit (this machine may have either).
    h.journalctl = "journalctl".into();
    let fs = run_around(h).await;
    let journal: Vec<_> = fs.iter().filter(|f| f.check == "host.journal").collect();
    let no_journal =
        !Path::new("/var/log/journal").exists() && !Path::new("/run/log/journal").exists();
    if no_journal && which("journalctl") {
        assert_eq!(journal.len(), 1, "{journal:#?}");
        assert_eq!(
            journal[0].summary,
            "No journal on this host: the units' logs not read (not available)"
        );
        assert_eq!(journal[0].status, Status::Ok);
    } else {
        assert!(!journal.is_empty(), "{fs:#?}");
    }
}
