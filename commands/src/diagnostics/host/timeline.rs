//! Purpose: the host's changes as triage's timeline — the same logs the
//! host checks read (apt and dpkg history, kernel log and syslog, the
//! releases directory), turned into dated [`Event`]s instead of findings,
//! so that "an openssl upgrade three minutes before the first error" can be
//! said with the apt line as evidence.
//!
//! Only files are read (under `root`, or collected over ssh): commands like
//! `dmesg` and `journalctl` stay with the diagnostic, whose findings are in
//! the thread anyway.

use std::time::SystemTime;

use regex::Regex;
use time::OffsetDateTime;

use super::apt::{self, Transaction};
use super::journal::{self, EventKind as SystemdKind};
use super::{HostTarget, SYSLOG, clock, network, oom, releases};
use crate::triage::timeline::{Event, EventKind, Service};

/// The quoted entry of `package` in an apt/dpkg block: the block's date and
/// the `name:arch (old, new)` item of its list, not the whole list of fifty.
fn package_line(tx: &Transaction, package: &str, action: &str) -> String {
    let item = Regex::new(&format!(
        r"{}(?::[\w-]+)? \([^)]*\)",
        regex::escape(package)
    ))
    .ok()
    .and_then(|re| re.find(&tx.text).map(|m| m.as_str().to_string()))
    .unwrap_or_else(|| package.to_string());
    let date = tx
        .text
        .lines()
        .find(|l| l.starts_with("Start-Date:"))
        .map(|l| l.trim().to_string());
    let by = tx
        .commandline
        .as_deref()
        .map(|c| format!(" (Commandline: {c})"))
        .unwrap_or_default();
    match date {
        Some(d) => format!("{d}{by}; {action}: {item}"),
        None => format!("{action}: {item}{by}"),
    }
}

/// Package changes as events.
pub fn package_events(txs: &[Transaction], place: &str) -> Vec<Event> {
    let mut out = Vec::new();
    for tx in txs {
        let Some(at) = tx.start.or(tx.end) else {
            continue;
        };
        for c in &tx.changes {
            out.push(Event {
                at,
                kind: EventKind::Package {
                    name: c.package.clone(),
                    action: c.action.clone(),
                    version: c.to.clone(),
                },
                place: place.to_string(),
                evidence: package_line(tx, &c.package, &c.action),
            });
        }
    }
    out
}

/// Reloads, re-execs, journal restarts, and the stop of a database or
/// Redis unit, as events.
pub fn systemd_events(events: &[journal::SystemdEvent], place: &str) -> Vec<Event> {
    events
        .iter()
        .filter_map(|e| {
            let kind = match &e.kind {
                SystemdKind::DaemonReload
                | SystemdKind::Reexec(_)
                | SystemdKind::JournalRestart => EventKind::Reload,
                SystemdKind::Stopped(unit) => {
                    let u = unit.to_ascii_lowercase();
                    if u.contains("postgres") {
                        EventKind::Restart {
                            service: Service::Postgres,
                        }
                    } else if u.contains("redis") {
                        EventKind::Restart {
                            service: Service::Redis,
                        }
                    } else {
                        return None;
                    }
                }
            };
            Some(Event {
                at: e.time?,
                kind,
                place: place.to_string(),
                evidence: e.line.clone(),
            })
        })
        .collect()
}

/// OOM kills as events.
pub fn oom_events(kills: &[oom::OomKill], place: &str) -> Vec<Event> {
    kills
        .iter()
        .filter_map(|k| {
            Some(Event {
                at: k.time?,
                kind: EventKind::Oom {
                    process: format!("{} (pid {})", k.process, k.pid),
                },
                place: place.to_string(),
                evidence: k.evidence.clone(),
            })
        })
        .collect()
}

/// Lost links of the target's `interfaces` as events ("Link is Down",
/// "Lost carrier"); the interface coming back up or its unit's lines are
/// the network check's findings, not changes that explain an error.
pub fn link_events(events: &[network::LinkEvent], place: &str) -> Vec<Event> {
    events
        .iter()
        .filter(|e| e.kind == network::EventKind::LinkDown)
        .filter_map(|e| {
            Some(Event {
                at: e.time?,
                kind: EventKind::LinkDown {
                    interface: e.interface.clone(),
                },
                place: place.to_string(),
                evidence: e.line.clone(),
            })
        })
        .collect()
}

/// Deploys as events.
pub fn deploy_events(rs: &[releases::Release], dir: &str, place: &str) -> Vec<Event> {
    rs.iter()
        .map(|r| Event {
            at: r.time,
            kind: EventKind::Deploy {
                release: r.name.clone(),
            },
            place: place.to_string(),
            evidence: format!("{}/{}", dir.trim_end_matches('/'), r.name),
        })
        .collect()
}

impl HostTarget {
    /// The changes on this host in `window` before `now`, as triage's
    /// events; `place` is the target's name. Unreadable logs give fewer
    /// events, never an error (the diagnostic's findings say what is not
    /// readable).
    pub async fn timeline(
        &self,
        place: &str,
        now: OffsetDateTime,
        window: std::time::Duration,
    ) -> Vec<Event> {
        // Files only: the units' journal stays with the diagnostic.
        let files_only = HostTarget {
            units: Vec::new(),
            ..self.clone()
        };
        let journal_window = super::unit_journal::Window::new(now, None);
        let Some(machine) = files_only.machine(now, &journal_window).await.0 else {
            return Vec::new();
        };
        let clock = clock::LogClock::load(&machine, now).await;
        let since = Some(SystemTime::from(now - window));
        let mut txs = Vec::new();
        for f in machine.read_rotated(apt::HISTORY_LOG, since).await {
            if let Ok(t) = &f.text {
                txs.extend(apt::parse_history(t, &clock));
            }
        }
        let mut from_dpkg = Vec::new();
        for f in machine.read_rotated(apt::DPKG_LOG, since).await {
            if let Ok(t) = &f.text {
                from_dpkg.extend(super::dpkg::parse_dpkg_log(t, &clock));
            }
        }
        let extra = super::dpkg::dpkg_only(&txs, from_dpkg);
        txs.extend(extra);
        let mut out = package_events(&txs, place);

        let syslog = machine.read_rotated(SYSLOG, since).await;
        let kern = machine.read_rotated(oom::KERN_LOG, since).await;
        let mut kills = Vec::new();
        for f in kern.iter().chain(syslog.iter()) {
            if let Ok(t) = &f.text {
                kills.push(oom::parse_kills(t, &clock));
            }
        }
        out.extend(oom_events(&oom::merge(kills), place));
        for f in &syslog {
            if let Ok(t) = &f.text {
                out.extend(systemd_events(&journal::parse_events(t, &clock), place));
                if !self.interfaces.is_empty() {
                    let links = network::parse_events(t, &self.interfaces, &clock);
                    out.extend(link_events(&links, place));
                }
            }
        }
        if let Some(dir) = &self.releases_dir
            && let Ok(names) = machine.list_dir(dir).await
        {
            let rs = releases::parse_releases(names.iter().map(String::as_str));
            out.extend(deploy_events(&rs, &dir.display().to_string(), place));
        }
        let from = now - window;
        out.retain(|e| e.at >= from);
        out.sort_by_key(|e| e.at);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use time::macros::datetime;

    const HISTORY: &str = "\
Start-Date: 2026-01-31  06:30:01
Commandline: /usr/bin/unattended-upgrade
Upgrade: libssl3t64:amd64 (3.0.13-0ubuntu3.4, 3.0.13-0ubuntu3.5), openssl:amd64 (3.0.13-0ubuntu3.4, 3.0.13-0ubuntu3.5)
End-Date: 2026-01-31  06:30:09
";

    #[tokio::test]
    async fn a_host_root_gives_dated_events_with_their_lines() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("var/log/apt")).unwrap();
        std::fs::write(root.join("var/log/apt/history.log"), HISTORY).unwrap();
        std::fs::write(
            root.join("var/log/syslog"),
            "2026-01-31T06:31:10.000000+00:00 web-1 systemd[1]: Reloading.\n\
             2026-01-31T06:31:40.000000+00:00 web-1 systemd[1]: Stopped redis-server.service - Advanced key-value store.\n\
             2026-01-31T06:32:00.000000+00:00 web-1 kernel: [123.4] Out of memory: Killed process 4242 (ruby) total-vm:100kB, anon-rss:50kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:10kB oom_score_adj:0\n",
        )
        .unwrap();
        std::fs::create_dir_all(root.join("srv/app/releases/20260131062000")).unwrap();
        std::fs::create_dir_all(root.join("srv/app/releases/20260101000000")).unwrap();
        let mut target = HostTarget::under_root(root);
        target.releases_dir = Some("/srv/app/releases".into());
        let now = datetime!(2026-01-31 06:35:00 UTC);
        let events = target
            .timeline("web-1", now, Duration::from_secs(3600))
            .await;
        let shown: Vec<String> = events.iter().map(|e| e.describe()).collect();
        assert_eq!(
            shown,
            [
                "deploy of release 20260131062000 on web-1",
                "libssl3t64 upgraded to 3.0.13-0ubuntu3.5 on web-1",
                "openssl upgraded to 3.0.13-0ubuntu3.5 on web-1",
                "systemd reload on web-1",
                "Redis restarted on web-1",
                "OOM killer killed ruby (pid 4242) on web-1",
            ],
            "{events:#?}"
        );
        assert_eq!(
            events[2].evidence,
            "Start-Date: 2026-01-31  06:30:01 (Commandline: /usr/bin/unattended-upgrade); Upgrade: openssl:amd64 (3.0.13-0ubuntu3.4, 3.0.13-0ubuntu3.5)"
        );
        assert_eq!(events[0].evidence, "/srv/app/releases/20260131062000");
        assert!(events[3].evidence.ends_with("systemd[1]: Reloading."));
    }

    #[tokio::test]
    async fn a_named_interface_losing_its_link_is_an_event() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("var/log")).unwrap();
        std::fs::write(
            root.join("var/log/syslog"),
            "2026-01-31T06:31:59.000000+00:00 db-1 kernel: [8123.4] e1000e 0000:00:1f.6 enp7s0: NIC Link is Down\n\
             2026-01-31T06:31:59.500000+00:00 db-1 systemd-networkd[612]: enp7s0f1: Lost carrier\n\
             2026-01-31T06:32:03.000000+00:00 db-1 kernel: [8127.4] e1000e 0000:00:1f.6 enp7s0: NIC Link is Up 1000 Mbps Full Duplex\n",
        )
        .unwrap();
        let mut target = HostTarget::under_root(root);
        let now = datetime!(2026-01-31 06:35:00 UTC);
        let window = Duration::from_secs(3600);
        assert!(
            target.timeline("db-1", now, window).await.is_empty(),
            "without `interfaces`, no link is read"
        );
        target.interfaces = vec!["enp7s0".into()];
        let events = target.timeline("db-1", now, window).await;
        assert_eq!(events.len(), 1, "{events:#?}");
        assert_eq!(events[0].describe(), "interface enp7s0 went down on db-1");
        assert!(events[0].tagged("link_down"));
        assert!(events[0].evidence.ends_with("enp7s0: NIC Link is Down"));
    }

    #[tokio::test]
    async fn nothing_readable_is_no_events() {
        let dir = tempfile::tempdir().unwrap();
        let target = HostTarget::under_root(dir.path());
        let events = target
            .timeline("h", OffsetDateTime::now_utc(), Duration::from_secs(600))
            .await;
        assert!(events.is_empty());
    }
}
