//! Purpose: "What time did it occur? (Check against apt history) — Was there
//! a recent deploy? — What does dmesg show around that time?"
//! (`seeds/production-debugging-guide.md`, Quick Diagnostic Checklist): the
//! changes before the first error, as candidate causes ranked by how
//! specific they are to the error and how close they came before it.
//!
//! Events come from the host diagnostics' log readers (apt and dpkg
//! history, the kernel log, syslog, the releases directory; see
//! `diagnostics::host::timeline`), from uptime findings (a PostgreSQL or
//! Redis restart) and from a docker target's findings (a container's
//! restart, its OOM kill, a new image: a deploy). Ranking is pure.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::knowledge::{Category, Knowledge, Pattern};
use crate::Report;
use crate::format::human_age;

/// Events this long after the first error still count: two machines'
/// clocks, and logs with minute resolution, disagree by about that much.
pub const AFTER_GRACE: Duration = Duration::from_secs(60);

/// A service whose restart clients notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    /// PostgreSQL.
    Postgres,
    /// Redis.
    Redis,
}

/// What changed (or went wrong: a restart, a kill, a lost link).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// A package was upgraded, installed or removed.
    Package {
        /// Its name.
        name: String,
        /// `Upgrade`, `Install`, …
        action: String,
        /// The version after, when known.
        version: Option<String>,
    },
    /// A release directory appeared.
    Deploy {
        /// Its name (`20260131063000`).
        release: String,
    },
    /// A database or Redis started (from its uptime).
    Restart {
        /// Which.
        service: Service,
    },
    /// systemd reloaded or re-executed, or the journal restarted.
    Reload,
    /// The OOM killer killed a process.
    Oom {
        /// The victim.
        process: String,
    },
    /// A network interface lost its link (kernel "Link is Down", networkd
    /// "Lost carrier"): everything reached over it failed at that second.
    LinkDown {
        /// The interface (`enp7s0`).
        interface: String,
    },
    /// A container started again (a restart, a crash loop's last start, or
    /// a new container replacing the old one).
    ContainerStart {
        /// Its name.
        container: String,
    },
    /// An image new on the host (built or tagged there, or just pulled and
    /// run): on a Compose host, that is the deploy.
    Image {
        /// Its reference (`pazpaz/web:1.4`).
        image: String,
    },
}

/// One change on the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What.
    pub kind: EventKind,
    /// Where it was read: a target name (`web-1`).
    pub place: String,
    /// The line that proves it (the apt history line, the kernel line, the
    /// uptime, the release directory name).
    pub evidence: String,
}

impl Event {
    /// Whether a knowledge tag (`package:openssl`, `restart:postgres`,
    /// `reload`, `oom`, `link_down`, `deploy`) names this event.
    pub fn tagged(&self, tag: &str) -> bool {
        match (&self.kind, tag) {
            (EventKind::Package { name, .. }, t) => t
                .strip_prefix("package:")
                .is_some_and(|p| name.starts_with(p)),
            (EventKind::Deploy { .. } | EventKind::Image { .. }, "deploy") => true,
            (EventKind::ContainerStart { .. }, "restart:container") => true,
            (EventKind::Restart { service }, "restart:postgres") => *service == Service::Postgres,
            (EventKind::Restart { service }, "restart:redis") => *service == Service::Redis,
            (EventKind::Reload, "reload") => true,
            (EventKind::Oom { .. }, "oom") => true,
            (EventKind::LinkDown { .. }, "link_down") => true,
            _ => false,
        }
    }

    /// One line: "openssl upgraded to 3.0.13-0ubuntu3.5 on web-1".
    // NOTE: shown in chat.
    pub fn describe(&self) -> String {
        let what = match &self.kind {
            EventKind::Package {
                name,
                action,
                version,
            } => {
                let verb = match action.as_str() {
                    "Upgrade" => "upgraded",
                    "Install" => "installed",
                    "Remove" | "Purge" => "removed",
                    "Downgrade" => "downgraded",
                    "Reinstall" => "reinstalled",
                    _ => "changed",
                };
                match version {
                    Some(v) => format!("{name} {verb} to {v}"),
                    None => format!("{name} {verb}"),
                }
            }
            EventKind::Deploy { release } => format!("deploy of release {release}"),
            EventKind::Restart {
                service: Service::Postgres,
            } => "PostgreSQL restarted".into(),
            EventKind::Restart {
                service: Service::Redis,
            } => "Redis restarted".into(),
            EventKind::Reload => "systemd reload".into(),
            EventKind::Oom { process } => format!("OOM killer killed {process}"),
            EventKind::LinkDown { interface } => format!("interface {interface} went down"),
            EventKind::ContainerStart { container } => format!("container {container} started"),
            EventKind::Image { image } => format!("new image {image}"),
        };
        format!("{what} on {}", self.place)
    }

    /// How far before `first_error` it happened, in words ("3 min before
    /// the first error", "20 s after the first error").
    // NOTE: shown in chat.
    pub fn relative(&self, first_error: OffsetDateTime) -> String {
        self.relative_to(first_error, "the first error")
    }

    /// How far before `at` it happened, `at` being `what` ("3 min before
    /// the PostgreSQL restart").
    // NOTE: shown in chat.
    pub fn relative_to(&self, at: OffsetDateTime, what: &str) -> String {
        let secs = (at - self.at).whole_seconds();
        // Minutes to the nearest: 2 min 59 s reads "3 min", as people say it.
        let words = |s: u64| match s {
            0..60 => format!("{s} s"),
            60..3600 => format!("{} min", (s + 30) / 60),
            _ => human_age(s),
        };
        if secs >= 0 {
            format!("{} before {what}", words(secs as u64))
        } else {
            format!("{} after {what}", words(secs.unsigned_abs()))
        }
    }

    /// The event as what a diagnosis saw go wrong, for [`Event::relative_to`]:
    /// "the PostgreSQL restart".
    // NOTE: shown in chat.
    pub fn as_symptom(&self) -> String {
        match &self.kind {
            EventKind::Restart {
                service: Service::Postgres,
            } => "the PostgreSQL restart".into(),
            EventKind::Restart {
                service: Service::Redis,
            } => "the Redis restart".into(),
            EventKind::ContainerStart { container } => format!("the start of {container}"),
            _ => format!("\"{}\"", self.describe()),
        }
    }
}

/// Events read from the findings of a runbook's reports: restarts from
/// uptimes (`postgres.uptime`, `redis.uptime` carry the start time), and a
/// docker target's container starts (`docker.started`,
/// `docker.crash_loop`), OOM kills (`docker.oom`) and new images
/// (`docker.image`), and a kubernetes workload's rollout of its current
/// revision (`kubernetes.revision`), a deploy.
pub fn from_reports(reports: &[Report]) -> Vec<Event> {
    use crate::diagnostics::docker::timeline as docker;
    let mut out = Vec::new();
    for r in reports {
        for f in &r.findings {
            let Some(at) = f.at else { continue };
            let kind = match f.check.as_str() {
                "postgres.uptime" => EventKind::Restart {
                    service: Service::Postgres,
                },
                "redis.uptime" => EventKind::Restart {
                    service: Service::Redis,
                },
                "docker.started" | "docker.crash_loop" => match docker::container(f) {
                    Some(container) => EventKind::ContainerStart { container },
                    None => continue,
                },
                "docker.oom" => match docker::container(f) {
                    Some(c) => EventKind::Oom {
                        process: format!("container {c}"),
                    },
                    None => continue,
                },
                "docker.image" => match docker::image(f) {
                    Some(image) => EventKind::Image { image },
                    None => continue,
                },
                // A workload's current revision is a deploy, at its rollout.
                "kubernetes.revision" => EventKind::Deploy {
                    release: f
                        .summary
                        .trim_start_matches("deployment ")
                        .split(" rolled out")
                        .next()
                        .unwrap_or("")
                        .to_string(),
                },
                _ => continue,
            };
            out.push(Event {
                at,
                kind,
                place: r.target.name.clone(),
                evidence: f.summary.clone(),
            });
        }
    }
    out
}

/// A candidate cause, ranked.
#[derive(Debug, Clone)]
pub struct Ranked<'e> {
    /// The event.
    pub event: &'e Event,
    /// 3: the matched pattern names this kind of event; 2: a change that
    /// takes services down (high-impact package, restart, reload, OOM kill,
    /// a lost link)
    /// or, for an application error, a deploy.
    pub specificity: u8,
    /// Time from the event to the first error (zero when after).
    pub gap: Duration,
}

/// How specific `event` is to the error `pattern` describes; 0 means it is
/// no candidate at all.
fn specificity(knowledge: &Knowledge, pattern: Option<&Pattern>, event: &Event) -> u8 {
    if let Some(p) = pattern
        && p.explained_by.iter().any(|t| event.tagged(t))
    {
        return 3;
    }
    let application =
        pattern.is_some_and(|p| matches!(p.category, Category::Application | Category::Deploy));
    match &event.kind {
        EventKind::Deploy { .. } | EventKind::Image { .. } => {
            if application || pattern.is_none() {
                2
            } else {
                1
            }
        }
        // An application bug is never blamed on the machine.
        _ if application => 0,
        EventKind::Package { name, .. } => {
            if knowledge.package_impact(name).is_some() {
                2
            } else {
                0
            }
        }
        EventKind::Restart { .. }
        | EventKind::ContainerStart { .. }
        | EventKind::Reload
        | EventKind::Oom { .. }
        | EventKind::LinkDown { .. } => 2,
    }
}

/// The events within `window` before `first_error` (and [`AFTER_GRACE`]
/// after) that could explain it, most specific first, then closest.
pub fn rank<'e>(
    knowledge: &Knowledge,
    pattern: Option<&Pattern>,
    events: &'e [Event],
    first_error: OffsetDateTime,
    window: Duration,
) -> Vec<Ranked<'e>> {
    let from = first_error - window;
    let until = first_error + AFTER_GRACE;
    let mut out: Vec<Ranked> = events
        .iter()
        .filter(|e| e.at >= from && e.at <= until)
        .filter_map(|e| {
            let s = specificity(knowledge, pattern, e);
            (s > 0).then(|| Ranked {
                event: e,
                specificity: s,
                gap: (first_error - e.at).try_into().unwrap_or(Duration::ZERO),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.specificity
            .cmp(&a.specificity)
            .then(a.gap.cmp(&b.gap))
            .then(a.event.evidence.cmp(&b.event.evidence))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn ev(at: OffsetDateTime, kind: EventKind) -> Event {
        Event {
            at,
            kind,
            place: "web-1".into(),
            evidence: format!("{at}"),
        }
    }

    fn pkg(name: &str) -> EventKind {
        EventKind::Package {
            name: name.into(),
            action: "Upgrade".into(),
            version: Some("2".into()),
        }
    }

    const FIRST: OffsetDateTime = datetime!(2026-01-31 06:33:00 UTC);

    #[test]
    fn the_explaining_upgrade_outranks_a_closer_generic_change() {
        let k = Knowledge::builtin();
        let ssl = k.pattern("ssl-closed-unexpectedly");
        let events = [
            ev(datetime!(2026-01-31 06:30:00 UTC), pkg("libssl3t64")),
            ev(datetime!(2026-01-31 06:32:30 UTC), EventKind::Reload),
            ev(datetime!(2026-01-31 06:31:00 UTC), pkg("curl")),
        ];
        let r = rank(&k, ssl, &events, FIRST, Duration::from_secs(1800));
        assert_eq!(r.len(), 2, "curl is no candidate");
        assert_eq!(r[0].specificity, 3);
        assert!(matches!(r[0].event.kind, EventKind::Package { .. }));
        assert_eq!(r[0].gap, Duration::from_secs(180));
        assert_eq!(r[1].event.kind, EventKind::Reload);
    }

    #[test]
    fn closeness_breaks_ties_and_the_window_bounds() {
        let k = Knowledge::builtin();
        let events = [
            ev(datetime!(2026-01-31 06:00:00 UTC), EventKind::Reload),
            ev(datetime!(2026-01-31 06:20:00 UTC), pkg("openssl")),
            ev(datetime!(2026-01-31 05:00:00 UTC), pkg("systemd")),
            ev(datetime!(2026-01-31 06:40:00 UTC), pkg("redis-server")),
        ];
        let r = rank(&k, None, &events, FIRST, Duration::from_secs(3600));
        let kinds: Vec<&EventKind> = r.iter().map(|r| &r.event.kind).collect();
        assert_eq!(kinds, [&pkg("openssl"), &EventKind::Reload]);
    }

    #[test]
    fn an_application_error_ignores_the_machine_but_not_the_deploy() {
        let k = Knowledge::builtin();
        let bug = k.pattern("application-bug");
        let events = [
            ev(datetime!(2026-01-31 06:31:00 UTC), pkg("openssl")),
            ev(datetime!(2026-01-31 06:32:00 UTC), EventKind::Reload),
            ev(
                datetime!(2026-01-31 06:10:00 UTC),
                EventKind::Deploy {
                    release: "20260131061000".into(),
                },
            ),
        ];
        let r = rank(&k, bug, &events, FIRST, Duration::from_secs(1800));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].specificity, 3);
        assert!(r[0].event.tagged("deploy"));
    }

    #[test]
    fn tags_name_events() {
        let e = ev(FIRST, pkg("postgresql-16"));
        assert!(e.tagged("package:postgresql"));
        assert!(!e.tagged("package:redis"));
        assert!(!e.tagged("reload"));
        let r = ev(
            FIRST,
            EventKind::Restart {
                service: Service::Redis,
            },
        );
        assert!(r.tagged("restart:redis") && !r.tagged("restart:postgres"));
        assert_eq!(
            ev(datetime!(2026-01-31 06:30:00 UTC), pkg("openssl")).relative(FIRST),
            "3 min before the first error"
        );
    }

    #[test]
    fn restarts_come_from_uptime_findings() {
        use crate::{Finding, TargetRef};
        let report = Report::new(
            TargetRef {
                name: "db".into(),
                kind: "postgres".into(),
                location: "x".into(),
            },
            vec![
                Finding::warn(
                    "postgres.uptime",
                    "PostgreSQL 16 restarted at 06:32:10 (50 s ago)",
                )
                .at(datetime!(2026-01-31 06:32:10 UTC)),
                Finding::ok("postgres.reach", "SELECT 1 in 2 ms"),
            ],
            Duration::ZERO,
        );
        let events = from_reports(&[report]);
        assert_eq!(events.len(), 1);
        assert!(events[0].tagged("restart:postgres"));
        assert_eq!(events[0].place, "db");
    }
}
