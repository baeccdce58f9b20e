//! Purpose: the remote half of the host target — turning `ssh = "user@host"`
//! into one ssh run of the fixed snapshot script, and its outcome into the
//! `host.ssh` finding (`ssh deploy@10.0.1.1 true` by hand, read for the
//! on-call engineer: down, or a key problem, or medic's configuration).

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use time::OffsetDateTime;

use super::{
    HostTarget, SYSLOG, apt, aptconf, journal, machine, network, oom, peers, reboot, snapshot, ssh,
    systemd, unattended, unit_journal,
};
use crate::model::report::Finding;

impl HostTarget {
    /// How to reach the host over ssh, when `ssh` is set and valid.
    pub fn ssh(&self) -> Option<Result<ssh::Ssh, String>> {
        let dest = self.ssh.as_deref()?;
        Some(ssh::Destination::parse(dest).map(|dest| ssh::Ssh {
            dest,
            port: self.ssh_port,
            key: self.ssh_key.clone(),
            known_hosts: self.ssh_known_hosts.clone(),
            // Half of a check's time for the handshake, the rest for the
            // script.
            connect_timeout: self.check_budget() / 2,
        }))
    }

    /// What the checks read on a remote host, from their own paths and
    /// argv, as of `now` (the `units`' journal in `journal_window`).
    pub(super) fn remote_plan(
        &self,
        now: OffsetDateTime,
        journal_window: &unit_journal::Window,
    ) -> snapshot::Plan {
        let start = (now - self.upgrade_window).unix_timestamp();
        let abs = |p: &str| format!("/{p}");
        let cmd = |argv: &[&str], when| snapshot::PlannedCommand {
            argv: argv.iter().map(|a| a.to_string()).collect(),
            when,
        };
        let mut files: Vec<String> = [
            "proc/mounts",
            "proc/self/mounts",
            "proc/meminfo",
            "proc/loadavg",
            "proc/cpuinfo",
            "proc/sys/fs/file-nr",
            "proc/stat",
            "proc/sys/kernel/dmesg_restrict",
            aptconf::CONF_MAIN,
        ]
        .map(abs)
        .to_vec();
        for flag in reboot::FLAG {
            files.push(abs(&format!("{flag}.pkgs")));
        }
        if !self.interfaces.is_empty() {
            files.push(abs(network::IF_INET6));
        }
        for name in &self.interfaces {
            for f in network::STATE_FILES {
                files.push(abs(&format!("{}/{name}/{f}", network::SYS_NET)));
            }
        }
        let mut commands = vec![
            cmd(&oom::DMESG_ISO, snapshot::When::Always),
            cmd(&oom::DMESG_PLAIN, snapshot::When::PreviousFailed),
            cmd(&systemd::FAILED_ARGV, snapshot::When::Systemd),
            snapshot::PlannedCommand {
                argv: oom::journal_argv(start),
                when: snapshot::When::Always,
            },
            snapshot::PlannedCommand {
                argv: journal::journal_argv(start),
                when: snapshot::When::Always,
            },
            cmd(&aptconf::TIMER_ARGV, snapshot::When::Systemd),
        ];
        if !self.interfaces.is_empty() {
            commands.push(cmd(&network::IP_ARGV, snapshot::When::Always));
        }
        // One journalctl per unit, each capped at its newest lines there.
        for unit in &self.units {
            commands.push(snapshot::PlannedCommand {
                argv: unit_journal::argv(&self.journalctl, unit, journal_window, None),
                when: snapshot::When::Always,
            });
        }
        let mut exists: Vec<String> = [systemd::SYSTEMD_DIR, reboot::FLAG[0], reboot::FLAG[1]]
            .map(abs)
            .to_vec();
        if !self.units.is_empty() {
            exists.extend(unit_journal::JOURNAL_DIRS.map(abs));
        }
        let mut dirs: Vec<String> = self
            .releases_dir
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        if !self.interfaces.is_empty() {
            dirs.push(abs(network::SYS_NET));
        }
        snapshot::Plan {
            files,
            binary: vec![abs("etc/localtime")],
            logs: [
                SYSLOG,
                oom::KERN_LOG,
                apt::HISTORY_LOG,
                apt::DPKG_LOG,
                unattended::LOG,
            ]
            .map(abs)
            .to_vec(),
            since: start,
            exists,
            dirs,
            commands,
            usage: true,
            dir_files: vec![abs(aptconf::CONF_DIR)],
            mtimes: reboot::FLAG.map(abs).to_vec(),
            peers: self
                .peers
                .iter()
                .map(|p| (p.host.clone(), p.port))
                .collect(),
            peer_secs: peers::remote_secs(self.check_budget()),
        }
    }

    /// The machine of a run and, over ssh, the finding saying how it was
    /// reached (or why not).
    pub(super) fn machine(
        &self,
        now: OffsetDateTime,
        journal_window: &unit_journal::Window,
    ) -> SharedMachine {
        let root = self.root.clone();
        let Some(ssh) = self.ssh() else {
            return futures::future::ready((Some(machine::Machine::Local { root }), None))
                .boxed()
                .shared();
        };
        let plan = self.remote_plan(now, journal_window);
        let limit = self.check_budget();
        async move {
            let ssh = match ssh {
                Ok(ssh) => ssh,
                Err(e) => {
                    return (
                        None,
                        Some(Finding::critical("host.ssh", format!("Not checked: {e}"))),
                    );
                }
            };
            let started = std::time::Instant::now();
            let nonce = snapshot::nonce();
            match ssh.run(&snapshot::script(&plan, &nonce), limit).await {
                Ok(out) => {
                    let text = String::from_utf8_lossy(&out);
                    let commands = plan.commands.iter().map(|c| c.argv.clone()).collect();
                    let snap = snapshot::Snapshot::parse(&text, &nonce, commands);
                    let f = reached(&ssh, &snap, started.elapsed());
                    let m = (!snap.is_empty()).then(|| machine::Machine::Remote(Arc::new(snap)));
                    (m, Some(f))
                }
                Err(e) => (None, Some(ssh_failure(&ssh, &e, limit))),
            }
        }
        .boxed()
        .shared()
    }
}

/// The machine of a run (none when ssh failed) and the ssh finding.
pub(super) type SharedMachine = futures::future::Shared<
    futures::future::BoxFuture<'static, (Option<machine::Machine>, Option<Finding>)>,
>;

/// The ssh check's finding when the script ran.
fn reached(ssh: &ssh::Ssh, snap: &snapshot::Snapshot, took: Duration) -> Finding {
    let shown = ssh.shown();
    if snap.is_empty() {
        return Finding::unknown(
            "host.ssh",
            format!("Logged in to {shown} over ssh, but the check script printed nothing"),
        )
        .with_detail(
            "medic runs `sh -s` there: the login shell must be able to start a POSIX sh.",
        );
    }
    let mut f = Finding::ok(
        "host.ssh",
        format!(
            "Checked {shown} over ssh (one connection, {})",
            crate::format::human_duration(took)
        ),
    );
    if snap.truncated {
        f = f.with_detail("The answer was cut short (size cap or a dropped connection): what is missing reads as not found.");
    }
    f
}

/// The ssh check's finding when ssh failed: unreachable is critical; a key
/// or login problem is medic's configuration, so the host is unknown.
fn ssh_failure(ssh: &ssh::Ssh, e: &ssh::SshError, limit: Duration) -> Finding {
    use ssh::SshError as E;
    let shown = ssh.shown();
    let by_hand = format!("By hand: ssh {}", shown_command(ssh));
    let (f, hint) = match e {
        E::Refused => (
            Finding::critical("host.ssh", format!("ssh to {shown}: connection refused")),
            "Nothing listens on the ssh port: the host is down or rebooting, or sshd is stopped.".to_string(),
        ),
        E::Timeout => (
            Finding::critical(
                "host.ssh",
                format!("ssh to {shown}: no answer within {}", crate::format::human_duration(limit)),
            ),
            "A down host, a firewall dropping packets or a broken private network looks like this.".into(),
        ),
        E::Unreachable | E::Resolve => (
            Finding::critical("host.ssh", format!("ssh to {shown}: {e}")),
            "Check the network path (and DNS) from medic's host.".into(),
        ),
        E::HostKeyChanged => (
            Finding::critical(
                "host.ssh",
                format!("ssh to {shown} refused: the host key has CHANGED"),
            ),
            "Either the host was reinstalled, or something is impersonating it. Verify the new key out of band before updating ssh_known_hosts.".into(),
        ),
        E::HostKeyUnknown => (
            Finding::unknown("host.ssh", format!("ssh to {shown} refused: the host key is not known")),
            "Add the host's key to the file named by ssh_known_hosts (ssh-keyscan, verified out of band); medic never accepts an unknown key.".into(),
        ),
        E::AuthDenied => (
            Finding::unknown("host.ssh", format!("ssh to {shown}: the login was refused")),
            "Put the public half of ssh_key in that user's ~/.ssh/authorized_keys; medic never types a password.".into(),
        ),
        E::Missing => (
            Finding::unknown("host.ssh", e.to_string()),
            "Install openssh-client in medic's image.".into(),
        ),
        E::Other(_) => (
            Finding::unknown("host.ssh", format!("ssh to {shown} failed")),
            "sshd closed the connection (MaxStartups, AllowUsers, a firewall) or something else listens there.".into(),
        ),
    };
    let f = f.with_detail(hint).with_detail(by_hand);
    match e {
        E::Other(words) => f.with_evidence(words.clone()),
        _ => f,
    }
}

/// The ssh command an engineer would type to try the same.
fn shown_command(ssh: &ssh::Ssh) -> String {
    let mut parts = Vec::new();
    if let Some(p) = ssh.port {
        parts.push(format!("-p {p}"));
    }
    if let Some(k) = &ssh.key {
        parts.push(format!("-i {}", k.display()));
    }
    parts.push(ssh.dest.to_string());
    parts.push("true".into());
    parts.join(" ")
}
