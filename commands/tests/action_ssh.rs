//! A `command` action with `on = "user@host"` against a real OpenSSH
//! server on loopback (support/sshd.rs): it runs on the far side with the
//! host key checked strictly and the configured key only, a wrong host key
//! runs nothing, and a run past its time is stopped on the host, not only
//! on medic's side.
//!
//! Only 127.0.0.1 is ever contacted.

#[path = "support/sshd.rs"]
mod sshd;

use std::path::Path;
use std::time::Duration;

use medic_commands::actions::exec::run_argv;
use medic_commands::diagnostics::host::ssh::{Destination, Ssh};
use sshd::Sshd;

macro_rules! sshd {
    () => {
        match Sshd::start().await {
            Some(s) => s,
            None => return,
        }
    };
}

fn to(sshd: &Sshd, known_hosts: &Path) -> Ssh {
    Ssh {
        dest: Destination::parse(&format!("{}@127.0.0.1", sshd.user)).unwrap(),
        port: Some(sshd.port),
        key: Some(sshd.key.clone()),
        known_hosts: Some(known_hosts.to_path_buf()),
        connect_timeout: Duration::from_secs(10),
    }
}

fn argv(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn a_remote_action_runs_there_and_a_wrong_host_key_or_login_runs_nothing() {
    let sshd = sshd!();
    let marker = sshd.scratch().join("ran-there");
    let run = argv(&["touch", marker.to_str().unwrap()]);
    // A changed host key, an unknown one, a key the host refuses.
    let mut refused = vec![
        to(&sshd, &sshd.wrong_known_hosts()),
        to(&sshd, &sshd.empty_known_hosts()),
    ];
    let mut stranger = to(&sshd, &sshd.known_hosts);
    stranger.key = Some(sshd.stranger_key());
    refused.push(stranger);
    for ssh in &refused {
        let out = run_argv(&run, Some(ssh), &[], Duration::from_secs(20), 4000).await;
        assert!(!out.success, "{out:?}");
        assert!(out.status.starts_with("ssh to "), "{out:?}");
        assert!(!marker.exists(), "nothing runs: {ssh:?}");
    }

    let out = run_argv(
        &run,
        Some(&to(&sshd, &sshd.known_hosts)),
        &[],
        Duration::from_secs(20),
        4000,
    )
    .await;
    assert!(out.success, "{out:?} {}", sshd.log());
    assert!(marker.exists());
}

#[tokio::test]
async fn a_remote_action_past_its_time_is_stopped_on_the_host() {
    let sshd = sshd!();
    let pid_file = sshd.scratch().join("pid");
    let script = format!("echo $$ > '{}'; exec sleep 60", pid_file.display());
    let out = run_argv(
        &argv(&["sh", "-c", &script]),
        Some(&to(&sshd, &sshd.known_hosts)),
        &[],
        Duration::from_secs(1),
        4000,
    )
    .await;
    assert!(!out.success, "{out:?}");
    assert_eq!(out.status, "timed out after 1.0 s (stopped on the host)");
    // The remote command itself is gone (sshd runs it on this machine,
    // so its pid is ours to look at): not left running for a minute.
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let proc_dir = Path::new("/proc").join(pid.trim());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while proc_dir.exists() {
        let state = std::fs::read_to_string(proc_dir.join("stat")).unwrap_or_default();
        // A zombie waiting for its parent has stopped too.
        if state.split_whitespace().nth(2) == Some("Z") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the remote command is still running: {state}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
