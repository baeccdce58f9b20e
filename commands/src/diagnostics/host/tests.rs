//! The whole host diagnostic: against a root populated like a machine (proc
//! files, logs, a releases directory), and against this machine's own /proc.

use std::io::Write;
use std::path::Path;

use time::OffsetDateTime;

use super::*;
use crate::Status;
use crate::diagnostics::TargetSpec;

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn find<'a>(fs: &'a [Finding], check: &str) -> Vec<&'a Finding> {
    let found: Vec<&Finding> = fs.iter().filter(|f| f.check == check).collect();
    assert!(!found.is_empty(), "no {check} in {fs:#?}");
    found
}

/// 2026-01-31 06:32:07 UTC, the runbook's outage.
fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_769_841_127).unwrap()
}

fn populate(root: &Path) {
    write(
        root,
        "proc/mounts",
        "proc /proc proc rw 0 0\n/dev/sda1 / ext4 rw 0 0\n/dev/sdb1 /data ext4 rw 0 0\ntmpfs /run tmpfs rw 0 0\n",
    );
    write(
        root,
        "proc/meminfo",
        "MemTotal: 2000000 kB\nMemFree: 50000 kB\nMemAvailable: 60000 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
    );
    write(root, "proc/sys/fs/file-nr", "1024\t0\t100000\n");
    write(root, "proc/loadavg", "0.50 0.40 0.30 2/300 4242\n");
    write(root, "proc/cpuinfo", "processor\t: 0\n\nprocessor\t: 1\n");
    write(
        root,
        "var/log/kern.log",
        "Jan 31 06:20:07 web1 kernel: [62279.421192] Out of memory: Killed process 4242 (postgres) total-vm:8000000kB, anon-rss:1048576kB, file-rss:4kB\n",
    );
    write(
        root,
        "var/log/syslog",
        "Jan 31 06:20:07 web1 kernel: [62279.421192] Out of memory: Killed process 4242 (postgres) total-vm:8000000kB, anon-rss:1048576kB, file-rss:4kB\n\
         Jan 31 06:32:09 web1 systemd[1]: Reloading.\n\
         Jan 31 06:32:10 web1 systemd[1]: Stopped redis-server.service - Advanced key-value store.\n",
    );
    write(
        root,
        "var/log/apt/history.log",
        "\nStart-Date: 2026-01-31  06:32:07\nCommandline: /usr/bin/unattended-upgrade\nUpgrade: libssl3t64:arm64 (3.0.13-0ubuntu3.6, 3.0.13-0ubuntu3.7), openssl:arm64 (3.0.13-0ubuntu3.6, 3.0.13-0ubuntu3.7)\nEnd-Date: 2026-01-31  06:32:09\n",
    );
    // A month-old rotation, gzip-compressed, with a failed run in it.
    let gz = std::fs::File::create(root.join("var/log/apt/history.log.1.gz")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(gz, flate2::Compression::fast());
    gz.write_all(b"Start-Date: 2026-01-02  06:00:00\nCommandline: apt-get install redis-server\nInstall: redis-server:amd64 (5:7.0.15-1)\nError: Sub-process /usr/bin/dpkg returned an error code (1)\nEnd-Date: 2026-01-02  06:00:30\n").unwrap();
    gz.finish().unwrap();
    for r in ["20260130120000", "20260131062000", "current"] {
        std::fs::create_dir_all(root.join("home/deploy/app/releases").join(r)).unwrap();
    }
}

#[tokio::test]
async fn a_populated_root_gives_every_finding() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    let target = HostTarget {
        releases_dir: Some("/home/deploy/app/releases".into()),
        ..HostTarget::under_root(dir.path())
    };
    assert!(target.validate().is_ok());
    let fs = target.check_all(now()).await;

    // / is the temp dir's real filesystem; /data does not exist under root.
    let disk = find(&fs, "host.disk");
    assert!(
        disk.iter()
            .any(|f| f.status == Status::Unknown && f.summary.contains("/data")),
        "{disk:#?}"
    );
    assert!(
        disk.iter()
            .any(|f| f.summary.contains(" / ") || f.summary.contains(": / ")),
        "{disk:#?}"
    );
    assert!(
        !disk.iter().any(|f| f.summary.contains("/run")),
        "tmpfs is skipped"
    );

    assert_eq!(find(&fs, "host.memory")[0].status, Status::Critical);
    assert_eq!(find(&fs, "host.swap")[0].summary, "No swap configured");
    assert_eq!(
        find(&fs, "host.fds")[0].summary,
        "File descriptors 1024 open of 100000 (1 %)"
    );
    assert_eq!(
        find(&fs, "host.load")[0].summary,
        "Load 0.50 / 0.40 / 0.30 (1/5/15 min) on 2 cores"
    );

    let oom = find(&fs, "host.oom")[0];
    assert_eq!(oom.status, Status::Critical, "{oom:#?}");
    assert!(
        oom.summary
            .starts_with("1 OOM kill in the last 24 h; latest postgres (pid 4242)"),
        "{}",
        oom.summary
    );
    assert!(
        oom.detail
            .iter()
            .any(|d| d == "Read: /var/log/kern.log, /var/log/syslog"),
        "{oom:#?}"
    );

    let systemd = find(&fs, "host.systemd")[0];
    assert_eq!(systemd.status, Status::Ok);
    assert!(systemd.summary.contains("not available"));

    let apt = find(&fs, "host.apt");
    assert_eq!(
        apt.len(),
        1,
        "the month-old error is outside the window: {apt:#?}"
    );
    assert_eq!(apt[0].status, Status::Warn);
    assert!(
        apt[0].summary.contains("libssl3t64, openssl"),
        "{}",
        apt[0].summary
    );

    assert_eq!(
        find(&fs, "host.deploys")[0].summary,
        "Deployed 20260131062000 at 06:20:00 UTC (12 min ago)"
    );
    let reloads = find(&fs, "host.reloads")[0];
    assert_eq!(reloads.status, Status::Warn);
    assert_eq!(
        reloads.summary,
        "Systemd daemon-reload at 06:32:09 UTC (0 s ago)"
    );
    assert!(
        reloads
            .detail
            .iter()
            .any(|d| d.contains("redis-server.service"))
    );

    // A wider window reaches into the gz rotation and its failed run.
    let wide = HostTarget {
        upgrade_window: Duration::from_secs(40 * 86_400),
        ..HostTarget::under_root(dir.path())
    };
    let fs = wide.check_all(now()).await;
    assert!(
        fs.iter().any(|f| f.check == "host.apt"
            && f.summary.starts_with("apt failed at 2026-01-02 06:00 UTC")),
        "{fs:#?}"
    );
}

#[tokio::test]
async fn an_empty_root_is_findings_not_errors() {
    let dir = tempfile::tempdir().unwrap();
    let target = HostTarget {
        releases_dir: Some("/srv/releases".into()),
        ..HostTarget::under_root(dir.path())
    };
    let fs = target.check_all(now()).await;
    for check in [
        "host.disk",
        "host.memory",
        "host.fds",
        "host.load",
        "host.oom",
        "host.deploys",
    ] {
        assert_eq!(
            find(&fs, check)[0].status,
            Status::Unknown,
            "{check}: {fs:#?}"
        );
    }
    for check in ["host.systemd", "host.apt", "host.reloads"] {
        assert_eq!(
            find(&fs, check)[0].status,
            Status::Ok,
            "{check} is a note: {fs:#?}"
        );
    }
    assert!(
        find(&fs, "host.oom")[0]
            .summary
            .starts_with("No kernel log here")
    );
}

#[tokio::test]
async fn this_machine_gives_sane_findings() {
    let target = HostTarget::local_default();
    let fs = target.check_all(OffsetDateTime::now_utc()).await;
    for check in [
        "host.disk",
        "host.memory",
        "host.fds",
        "host.load",
        "host.oom",
        "host.systemd",
        "host.apt",
        "host.reloads",
    ] {
        find(&fs, check);
    }
    let memory = find(&fs, "host.memory")[0];
    assert!(memory.summary.starts_with("Memory "), "{memory:#?}");
    assert!(find(&fs, "host.load")[0].summary.starts_with("Load "));
    assert!(!fs.iter().any(|f| f.summary.is_empty()));
    // Whatever this machine allows (dmesg may be restricted), the kernel
    // log check says something an engineer can act on.
    let oom = find(&fs, "host.oom")[0];
    assert!(
        oom.status != Status::Unknown
            || oom.summary.contains("dmesg")
            || oom.summary.contains("kernel log"),
        "{oom:#?}"
    );
}

#[test]
fn config_parses_and_ssh_keys_are_validated() {
    let spec: TargetSpec = serde_json::from_str(
        r#"{"kind":"host","root":"/host","releases_dir":"/home/deploy/app/releases","upgrade_window":"6h","timeout":"3s"}"#,
    )
    .unwrap();
    let TargetSpec::Host(h) = spec else {
        panic!("not a host")
    };
    assert_eq!(h.upgrade_window, Duration::from_secs(6 * 3600));
    assert_eq!(h.location(), "this machine, files under /host");
    assert!(h.validate().is_ok());

    let spec: TargetSpec = serde_json::from_str(r#"{"kind":"host"}"#).unwrap();
    let TargetSpec::Host(h) = spec else {
        panic!("not a host")
    };
    assert_eq!(h.root, Path::new("/"));
    assert_eq!(h.location(), "this machine");

    // Parsing and validating never connects anywhere.
    let host = |json: &str| -> HostTarget {
        match serde_json::from_str::<TargetSpec>(json).unwrap() {
            TargetSpec::Host(h) => h,
            _ => panic!("not a host"),
        }
    };
    let h = host(
        r#"{"kind":"host","ssh":"deploy@10.0.1.1","ssh_port":2222,"ssh_key":"/etc/medic/id_ed25519","ssh_known_hosts":"/etc/medic/known_hosts"}"#,
    );
    assert!(h.validate().is_ok(), "{:?}", h.validate());
    assert_eq!(h.location(), "deploy@10.0.1.1:2222 over ssh");
    assert!(!h.is_local());

    // Option injection and shell words are refused by the key at fault.
    for bad in [
        r#"{"kind":"host","ssh":"-oProxyCommand=touch /tmp/pwned"}"#,
        r#"{"kind":"host","ssh":"deploy@-oProxyCommand=sh"}"#,
        r#"{"kind":"host","ssh":"deploy@host;reboot"}"#,
        r#"{"kind":"host","ssh":"deploy"}"#,
    ] {
        assert_eq!(host(bad).validate().unwrap_err().0, "ssh", "{bad}");
    }
    let problems = [
        (
            r#"{"kind":"host","ssh":"a@b","ssh_key":"id_rsa"}"#,
            "ssh_key",
        ),
        (
            r#"{"kind":"host","ssh":"a@b","ssh_known_hosts":"/my hosts"}"#,
            "ssh_known_hosts",
        ),
        (r#"{"kind":"host","ssh":"a@b","ssh_port":0}"#, "ssh_port"),
        (r#"{"kind":"host","ssh":"a@b","root":"/host"}"#, "root"),
        (r#"{"kind":"host","ssh_port":22}"#, "ssh_port"),
    ];
    for (json, key) in problems {
        assert_eq!(host(json).validate().unwrap_err().0, key, "{json}");
    }

    let err = serde_json::from_str::<TargetSpec>(r#"{"kind":"host","rooot":"/"}"#).unwrap_err();
    assert!(err.to_string().contains("rooot"), "{err}");
    let h = HostTarget {
        root: "relative".into(),
        ..HostTarget::local_default()
    };
    assert_eq!(h.validate().unwrap_err().0, "root");
}

#[tokio::test]
async fn ssh_is_never_silently_this_machine() {
    // Loopback only: a port where nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let h = HostTarget {
        ssh: Some("deploy@127.0.0.1".into()),
        ssh_port: Some(port),
        ..HostTarget::local_default()
    };
    let fs = h.check_all(now()).await;
    assert_eq!(fs.len(), 1, "{fs:#?}");
    assert_eq!(fs[0].check, "host.ssh");
    assert_eq!(fs[0].status, Status::Critical);
    assert_eq!(
        fs[0].summary,
        format!("ssh to deploy@127.0.0.1:{port}: connection refused")
    );
}

#[tokio::test]
async fn log_lines_quoted_as_evidence_are_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let hour_ago = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let start = format!(
        "{:04}-{:02}-{:02}  {:02}:{:02}:{:02}",
        hour_ago.year(),
        hour_ago.month() as u8,
        hour_ago.day(),
        hour_ago.hour(),
        hour_ago.minute(),
        hour_ago.second()
    );
    write(
        dir.path(),
        "var/log/apt/history.log",
        &format!(
            "Start-Date: {start}\nCommandline: apt-get install -y -o Acquire::http::Proxy=http://ops:hunter22@proxy:3128 postgresql-16\nInstall: postgresql-16:amd64 (16.4-1)\nEnd-Date: {start}\n"
        ),
    );
    let target = crate::diagnostics::Target {
        name: "host".into(),
        spec: TargetSpec::Host(HostTarget::under_root(dir.path())),
    };
    let report = target.run().await;
    let apt = report
        .findings
        .iter()
        .find(|f| f.check == "host.apt")
        .unwrap();
    assert_eq!(apt.status, Status::Warn, "{apt:#?}");
    assert!(
        apt.evidence.as_deref().unwrap().contains("ops:••••@proxy"),
        "{apt:#?}"
    );
    assert!(
        !format!("{report:?}").contains("hunter"),
        "not even a cut piece"
    );
}

/// The runbook's "Both Redis and PostgreSQL fail simultaneously" morning
/// on a prepared root: the private interface lost its carrier and its unit
/// failed, unattended-upgrades upgraded openssl and wants a reboot that it
/// will do itself, one peer listens and one does not.
#[tokio::test]
async fn network_and_automatic_updates_on_a_prepared_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "sys/class/net/enp7s0/operstate", "down\n");
    write(root, "sys/class/net/enp7s0/carrier", "0\n");
    write(root, "sys/class/net/enp7s0/flags", "0x1003\n");
    write(root, "sys/class/net/enp7s0/carrier_down_count", "3\n");
    write(root, "sys/class/net/lo/operstate", "unknown\n");
    write(root, "sys/class/net/lo/carrier", "1\n");
    write(root, "sys/class/net/lo/flags", "0x9\n");
    write(
        root,
        "proc/net/if_inet6",
        "00000000000000000000000000000001 01 80 10 80       lo\n",
    );
    write(
        root,
        "var/log/syslog",
        "Jan 31 06:31:58 web1 kernel: [8123.100000] virtio_net virtio2 enp7s0: Link is Down\n\
         Jan 31 06:31:59 web1 systemd[1]: hc-net-ifup@enp7s0.service: Failed with result 'exit-code'.\n",
    );
    write(
        root,
        "var/log/unattended-upgrades/unattended-upgrades.log",
        "2026-01-31 06:31:40,118 INFO Starting unattended upgrades script\n\
         2026-01-31 06:31:40,119 INFO Allowed origins are: o=Ubuntu,a=noble, o=Ubuntu,a=noble-security\n\
         2026-01-31 06:32:05,123 INFO Packages that will be upgraded: libssl3t64 openssl\n\
         2026-01-31 06:32:05,124 INFO Writing dpkg log to /var/log/unattended-upgrades/unattended-upgrades-dpkg.log\n\
         2026-01-31 06:32:10,870 INFO All upgrades installed\n",
    );
    // Last week's rotation, compressed, with a failed run: outside 24 h.
    let gz = std::fs::File::create(
        root.join("var/log/unattended-upgrades/unattended-upgrades.log.1.gz"),
    )
    .unwrap();
    let mut gz = flate2::write::GzEncoder::new(gz, flate2::Compression::fast());
    gz.write_all(
        b"2026-01-25 06:10:01,001 INFO Starting unattended upgrades script\n\
          2026-01-25 06:10:09,442 INFO Packages that will be upgraded: systemd libsystemd0\n\
          2026-01-25 06:10:30,052 ERROR Installing the upgrades failed!\n\
          2026-01-25 06:10:30,062 ERROR error message: 'installArchives() failed'\n",
    )
    .unwrap();
    gz.finish().unwrap();
    write(
        root,
        "etc/apt/apt.conf.d/20auto-upgrades",
        "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n",
    );
    write(
        root,
        "etc/apt/apt.conf.d/50unattended-upgrades",
        "//Unattended-Upgrade::Automatic-Reboot \"false\";\nUnattended-Upgrade::Automatic-Reboot \"false\";\n",
    );
    write(
        root,
        "etc/apt/apt.conf.d/52unattended-upgrades-local",
        "Unattended-Upgrade::Automatic-Reboot \"true\";\nUnattended-Upgrade::Automatic-Reboot-Time \"02:00\";\n",
    );
    write(
        root,
        "var/run/reboot-required",
        "*** System restart required ***\n",
    );
    write(
        root,
        "var/run/reboot-required.pkgs",
        "libssl3t64\nlinux-image-6.8.0-51-generic\nlibssl3t64\n",
    );
    std::fs::File::options()
        .write(true)
        .open(root.join("var/run/reboot-required"))
        .unwrap()
        .set_modified(std::time::SystemTime::from(
            now() + time::Duration::seconds(3),
        ))
        .unwrap();
    let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (live_addr, dead_addr) = (live.local_addr().unwrap(), dead.local_addr().unwrap());
    drop(dead);

    let spec: TargetSpec = serde_json::from_value(serde_json::json!({
        "kind": "host",
        "root": root,
        "interfaces": ["enp7s0", "lo"],
        "peers": [live_addr.to_string(), dead_addr.to_string()],
    }))
    .unwrap();
    let TargetSpec::Host(target) = spec else {
        panic!("not a host")
    };
    target.validate().unwrap();
    let fs = target.check_all(now() + time::Duration::seconds(20)).await;

    let net = find(&fs, "host.network");
    assert_eq!(net.len(), 2, "{net:#?}");
    let enp = net.iter().find(|f| f.summary.contains("enp7s0")).unwrap();
    assert_eq!(enp.status, Status::Critical, "{enp:#?}");
    assert!(
        enp.summary
            .starts_with("Interface enp7s0 is down: no carrier (operstate down)"),
        "{}",
        enp.summary
    );
    assert!(
        enp.detail.iter().any(|d| d
            == "In the last 24 h: 06:31:59 UTC (28 s ago) its unit failed; 06:31:58 UTC (29 s ago) its link went down"),
        "{enp:#?}"
    );
    assert!(
        enp.detail
            .iter()
            .any(|d| d.starts_with("IPv4 addresses not read: files under")),
        "{enp:#?}"
    );
    assert!(
        enp.evidence
            .as_deref()
            .unwrap()
            .contains("hc-net-ifup@enp7s0.service: Failed with result 'exit-code'.")
    );
    let lo = net.iter().find(|f| f.summary.contains(" lo ")).unwrap();
    assert_eq!(lo.status, Status::Ok, "{lo:#?}");
    assert_eq!(lo.summary, "Interface lo is up: carrier on, ::1/128");

    let peers = find(&fs, "host.peers");
    assert_eq!(peers.len(), 2);
    assert!(
        peers
            .iter()
            .any(|f| f.status != Status::Critical && f.summary.contains(&live_addr.to_string())),
        "{peers:#?}"
    );
    assert!(
        peers.iter().any(|f| f.status == Status::Critical
            && f.summary == format!("Connection refused by {dead_addr}")),
        "{peers:#?}"
    );

    let uu = find(&fs, "host.unattended")[0];
    assert_eq!(uu.status, Status::Ok, "{uu:#?}");
    assert_eq!(
        uu.summary,
        "unattended-upgrades upgraded 2 packages in the last 24 h; latest run at 06:31:40 UTC (46 s ago)"
    );
    assert!(
        uu.detail.iter().any(|d| d
            == "Automatic reboot: on at 02:00 host time (Unattended-Upgrade::Automatic-Reboot in /etc/apt/apt.conf.d/52unattended-upgrades-local)"),
        "{uu:#?}"
    );
    assert!(
        !uu.detail.iter().any(|d| d.contains("failed")),
        "last week's failure is outside the window: {uu:#?}"
    );
    let reboot = find(&fs, "host.reboot")[0];
    assert_eq!(reboot.status, Status::Warn, "{reboot:#?}");
    assert_eq!(
        reboot.summary,
        "Reboot pending since 06:32:10 UTC (17 s ago) for libssl3t64, linux-image-6.8.0-51-generic: unattended-upgrades will reboot the host after its next run"
    );

    // A wider window reaches into the gz rotation and its failed run.
    let wide = HostTarget {
        upgrade_window: Duration::from_secs(10 * 86_400),
        ..target
    };
    let fs = wide.check_all(now() + time::Duration::seconds(20)).await;
    let uu = find(&fs, "host.unattended")[0];
    assert!(
        uu.detail.iter().any(|d| d.starts_with(
            "2026-01-25 06:10 UTC (6 days ago): failed: Installing the upgrades failed!"
        )),
        "{uu:#?}"
    );
    drop(live);
}

#[test]
fn bad_network_keys_are_refused_by_name() {
    let host = |json: serde_json::Value| -> HostTarget {
        match serde_json::from_value::<TargetSpec>(json).unwrap() {
            TargetSpec::Host(h) => h,
            _ => panic!("not a host"),
        }
    };
    let bad_iface = host(serde_json::json!({"kind": "host", "interfaces": ["../etc"]}));
    assert_eq!(bad_iface.validate().unwrap_err().0, "interfaces");
    let bad_peer = host(serde_json::json!({"kind": "host", "peers": ["a/b:80"]}));
    assert_eq!(bad_peer.validate().unwrap_err().0, "peers");
    let many =
        host(serde_json::json!({"kind": "host", "peers": vec!["10.0.1.2:6379"; MAX_PEERS + 1]}));
    assert_eq!(many.validate().unwrap_err().0, "peers");
    // A peer without a port is refused while parsing, naming it.
    let err = serde_json::from_value::<TargetSpec>(
        serde_json::json!({"kind": "host", "peers": ["10.0.1.2"]}),
    )
    .unwrap_err();
    assert!(err.to_string().contains("has no port"), "{err}");
}

/// A stand-in for `journalctl`: records its arguments (one run a line) and
/// prints `redis-server`'s entries as `journalctl -o json` does; nothing
/// for any other unit. Returns the script's path and the arguments file.
fn fake_journalctl(dir: &Path) -> (String, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let line = |secs: i64, fields: &str| {
        format!(
            r#"{{"__CURSOR":"s=1;i=2","__REALTIME_TIMESTAMP":"{secs}000000","__MONOTONIC_TIMESTAMP":"1","_BOOT_ID":"9e2d",{fields}}}"#
        )
    };
    let t = now().unix_timestamp();
    let entries = [
        line(
            t - 5,
            r#""PRIORITY":"3","SYSLOG_IDENTIFIER":"redis-server","_PID":"812","_SYSTEMD_UNIT":"redis-server.service","MESSAGE":"812:M Error connecting to master redis://replica:s3cr3t-hunter@10.0.1.2:6379""#,
        ),
        line(
            t + 3,
            r#""PRIORITY":"5","SYSLOG_IDENTIFIER":"systemd","_PID":"1","_SYSTEMD_UNIT":"init.scope","UNIT":"redis-server.service","MESSAGE":"redis-server.service: Main process exited, code=killed, status=9/KILL""#,
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

/// The journal around the first alert under a prepared root (a host
/// mounted at /host): `journalctl --directory=ROOT/var/log/journal`, the
/// window around the alert, one finding per unit, the secret masked; and
/// without a journal, one quiet note and nothing run.
#[tokio::test]
async fn the_units_journal_around_the_alert_under_a_prepared_root() {
    let dir = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("var/log/journal/9e2d0b6a4c8f4e8c")).unwrap();
    let (journalctl, args) = fake_journalctl(bin.path());
    let spec: TargetSpec = serde_json::from_value(serde_json::json!({
        "kind": "host",
        "root": root,
        "units": ["redis-server", "postgresql@15-main"],
    }))
    .unwrap();
    let TargetSpec::Host(mut target) = spec else {
        panic!("not a host")
    };
    target.validate().unwrap();
    target.journalctl = journalctl;
    // Through the run an incident's runbook starts: the alert's instant
    // goes in, the other checks still describe now.
    let t = crate::diagnostics::Target {
        name: "web1".into(),
        spec: TargetSpec::Host(target.clone()),
    };
    let report = {
        use futures::StreamExt;
        let fs: Vec<Finding> = t
            .start_around(Some(now()))
            .results
            .flat_map(|d| futures::stream::iter(d.findings))
            .collect()
            .await;
        fs
    };
    let journal = find(&report, "host.journal");
    assert_eq!(journal.len(), 2, "{journal:#?}");
    let redis = journal
        .iter()
        .find(|f| f.summary.starts_with("redis-server"))
        .unwrap();
    assert_eq!(redis.status, Status::Warn, "{redis:#?}");
    assert_eq!(
        redis.summary,
        "redis-server stopped or died at 06:32:10 UTC (3 s after the first alert); 1 error"
    );
    let evidence = redis.evidence.as_deref().unwrap();
    assert!(
        evidence.contains(
            "redis-server[812]: 812:M Error connecting to master redis://replica:••••@10.0.1.2:6379"
        ),
        "{evidence}"
    );
    assert!(!format!("{report:?}").contains("hunter"));
    let pg = journal
        .iter()
        .find(|f| f.summary.starts_with("postgresql@15-main"))
        .unwrap();
    assert_eq!(pg.status, Status::Ok);
    assert!(
        pg.summary
            .contains(": nothing in the journal from 06:02:07 to 06:37:07 UTC")
    );

    let ran = std::fs::read_to_string(&args).unwrap();
    let runs: Vec<&str> = ran.lines().collect();
    assert_eq!(runs.len(), 2, "one journalctl per unit: {ran}");
    let dir_arg = format!("--directory={}/var/log/journal", root.display());
    for run in &runs {
        assert!(run.contains(&dir_arg), "{run}");
        assert!(run.contains("-o json"), "{run}");
        assert!(
            run.contains("--since=@1769839327 --until=@1769841427"),
            "{run}"
        );
    }

    // /diag (no alert): the window ends now.
    std::fs::remove_file(&args).unwrap();
    let fs = target.check_all(now() + time::Duration::hours(2)).await;
    assert_eq!(find(&fs, "host.journal").len(), 2);
    let ran = std::fs::read_to_string(&args).unwrap();
    assert!(ran.contains("--until=@1769848327"), "{ran}");

    // No journal under the root: one quiet note, and journalctl never ran.
    std::fs::remove_file(&args).unwrap();
    std::fs::remove_dir_all(root.join("var/log/journal")).unwrap();
    let fs = target.check_all_around(now(), Some(now())).await;
    let journal = find(&fs, "host.journal");
    assert_eq!(journal.len(), 1, "{journal:#?}");
    assert_eq!(journal[0].status, Status::Ok);
    assert_eq!(
        journal[0].summary,
        format!(
            "No journal under {}: the units' logs not read (not available)",
            root.display()
        )
    );
    assert!(!args.exists(), "nothing ran");
}

#[test]
fn bad_units_are_refused_by_name() {
    let host = |json: serde_json::Value| -> HostTarget {
        match serde_json::from_value::<TargetSpec>(json).unwrap() {
            TargetSpec::Host(h) => h,
            _ => panic!("not a host"),
        }
    };
    let ok =
        host(serde_json::json!({"kind": "host", "units": ["redis-server", "postgresql@15-main"]}));
    assert!(ok.validate().is_ok());
    let bad = host(serde_json::json!({"kind": "host", "units": ["redis; reboot"]}));
    assert_eq!(bad.validate().unwrap_err().0, "units");
    let option = host(serde_json::json!({"kind": "host", "units": ["--file=/etc/shadow"]}));
    assert_eq!(option.validate().unwrap_err().0, "units");
    let many = host(serde_json::json!({
        "kind": "host",
        "units": vec!["redis-server"; unit_journal::MAX_UNITS + 1],
    }));
    assert_eq!(many.validate().unwrap_err().0, "units");
    // The stand-in program is not a config key.
    let err = serde_json::from_value::<TargetSpec>(
        serde_json::json!({"kind": "host", "journalctl": "/tmp/evil"}),
    )
    .unwrap_err();
    assert!(err.to_string().contains("journalctl"), "{err}");
}
