//! Purpose: `cat /var/run/reboot-required /var/run/reboot-required.pkgs` —
//! an upgrade (a kernel, libc, openssl) that takes effect only after a
//! reboot, and whether unattended-upgrades will do that reboot by itself
//! (`seeds/production-debugging-guide.md`: "`linux-image*` — Requires
//! reboot (won't auto-reboot by default)").
//!
//! The files are written by the packages' hooks (update-notifier-common)
//! and live in `/run`; `/var/run` is a link to it on current systems. Both
//! are tried, `/run` first: under a mounted root, `/var/run` is usually an
//! absolute link that would point at medic's own `/run`.

use time::OffsetDateTime;

use super::aptconf::{AptConf, Timer, when_next};
use super::clock::when;
use super::machine::Machine;
use crate::model::report::Finding;

/// Where the flag file may be, in the order tried.
pub const FLAG: [&str; 2] = ["run/reboot-required", "var/run/reboot-required"];
/// A reboot pending this long is a warning: the security updates installed
/// since (a kernel, openssl) are not in effect, and the longer it waits the
/// more a reboot will change at once.
pub const OVERDUE: time::Duration = time::Duration::days(7);
/// How many package names the finding lists.
const SHOWN_PACKAGES: usize = 8;

/// A pending reboot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The flag file, as the host names it.
    pub file: String,
    /// When it was written (its modification time).
    pub since: Option<OffsetDateTime>,
    /// The packages that asked (`reboot-required.pkgs`), unique, in order.
    pub packages: Vec<String>,
}

/// Reads the flag file and its package list, if any.
pub async fn read(machine: &Machine) -> Option<Pending> {
    for flag in FLAG {
        if !machine.exists(flag).await {
            continue;
        }
        let since = machine.modified(flag).await.ok().map(OffsetDateTime::from);
        let mut packages: Vec<String> = Vec::new();
        if let Ok(text) = machine.read_small(&format!("{flag}.pkgs")).await {
            for p in text.split_whitespace() {
                if !packages.iter().any(|q| q == p) {
                    packages.push(p.to_string());
                }
            }
        }
        return Some(Pending {
            file: format!("/{flag}"),
            since,
            packages,
        });
    }
    None
}

/// The `host.reboot` finding: none pending is ok; pending is a warning
/// when unattended-upgrades will reboot by itself (an outage is scheduled)
/// or when it has waited past [`OVERDUE`]; otherwise a note.
pub fn finding(
    pending: Option<&Pending>,
    conf: &AptConf,
    timer: Option<&Timer>,
    now: OffsetDateTime,
) -> Finding {
    let Some(p) = pending else {
        return Finding::ok("host.reboot", "No reboot pending");
    };
    let since = p
        .since
        .map(|t| format!(" since {}", when(t, now)))
        .unwrap_or_default();
    let pkgs = if p.packages.is_empty() {
        String::new()
    } else {
        let mut list = p.packages[..p.packages.len().min(SHOWN_PACKAGES)].join(", ");
        if p.packages.len() > SHOWN_PACKAGES {
            list.push_str(&format!(" and {} more", p.packages.len() - SHOWN_PACKAGES));
        }
        format!(" for {list}")
    };
    let summary = format!("Reboot pending{since}{pkgs}");
    let overdue = p.since.is_some_and(|t| now - t > OVERDUE);
    let mut f = if conf.reboots() {
        let next = timer
            .and_then(|t| t.next)
            .map(|t| format!(" after its next run, {}", when_next(t, now)))
            .unwrap_or_else(|| " after its next run".into());
        Finding::warn(
            "host.reboot",
            format!("{summary}: unattended-upgrades will reboot the host{next}"),
        )
        .with_detail(
            "Every service on the host stops then; plan it, or reboot now at a time you choose.",
        )
    } else if overdue {
        Finding::warn("host.reboot", format!("{summary}: overdue"))
            .with_detail(format!(
                "The updates that asked for it are not in effect until the host reboots (more than {} days).",
                OVERDUE.whole_days()
            ))
    } else {
        Finding::ok("host.reboot", summary)
            .with_detail("The updates that asked for it take effect at the next reboot; nothing reboots by itself.")
    };
    f = f.with_detail(conf.reboot_words());
    f.with_evidence(format!("{} present", p.file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;
    use crate::diagnostics::host::aptconf::{self, Setting};

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    #[test]
    fn pending_reboots_by_what_happens_next() {
        let now = at(1_796_538_331);
        assert_eq!(
            finding(None, &AptConf::default(), None, now).status,
            Status::Ok
        );
        let p = Pending {
            file: "/run/reboot-required".into(),
            since: Some(now - time::Duration::hours(2)),
            packages: vec!["linux-image-6.8.0-51-generic".into(), "libssl3t64".into()],
        };
        let f = finding(Some(&p), &AptConf::default(), None, now);
        assert_eq!(f.status, Status::Ok);
        assert_eq!(
            f.summary,
            "Reboot pending since 04:25:31 UTC (2 h ago) for linux-image-6.8.0-51-generic, libssl3t64"
        );
        let on = aptconf::parse(&[(
            "/etc/apt/apt.conf.d/52local".to_string(),
            "Unattended-Upgrade::Automatic-Reboot \"true\";".to_string(),
        )]);
        let timer = Timer {
            next: Some(now + time::Duration::hours(20)),
            last: None,
            active: "active".into(),
        };
        let f = finding(Some(&p), &on, Some(&timer), now);
        assert_eq!(f.status, Status::Warn);
        assert!(
            f.summary.ends_with(": unattended-upgrades will reboot the host after its next run, 02:25:31 UTC (in 20 h)"),
            "{}",
            f.summary
        );
        let old = Pending {
            since: Some(now - time::Duration::days(9)),
            ..p
        };
        let off = AptConf {
            auto_reboot: Some(Setting {
                value: "false".into(),
                file: "/etc/apt/apt.conf.d/50unattended-upgrades".into(),
            }),
            ..AptConf::default()
        };
        let f = finding(Some(&old), &off, None, now);
        assert_eq!(f.status, Status::Warn);
        assert!(f.summary.ends_with(": overdue"), "{}", f.summary);
    }
}
