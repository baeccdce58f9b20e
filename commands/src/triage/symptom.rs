//! Purpose: `/diag`'s likely cause. There is no alert to explain: what a
//! diagnosis saw go wrong is a service restart on its targets' timeline
//! (a PostgreSQL or Redis unit stopped, an uptime of minutes), and the
//! question the runbooks ask of it is the same — "what changed just
//! before?" (`seeds/production-debugging-guide.md`, Quick Diagnostic
//! Checklist). The verdict is [`decide`]'s, with the restart as its
//! symptom; when no change explains a restart, there is no likely cause,
//! and a `/diag` says nothing about one.

use std::time::Duration;

use time::OffsetDateTime;

use super::cause::{Input, LikelyCause, Triage, decide};
use super::knowledge::Knowledge;
use super::timeline::{self, Event, EventKind};
use crate::model::report::Report;

fn is_restart(e: &Event) -> bool {
    matches!(
        e.kind,
        EventKind::Restart { .. } | EventKind::ContainerStart { .. }
    )
}

/// The likely cause of the first restart within `window` before `now`
/// that a change on the timeline explains, or `None`.
///
/// `events` are the targets' timelines and the restarts of their uptime
/// findings ([`timeline::from_reports`]). A restart is explained only by
/// what came before it: restarts at or after it are symptoms of the same
/// moment, never its cause.
pub fn for_diagnosis(
    knowledge: &Knowledge,
    reports: &[Report],
    events: &[Event],
    now: OffsetDateTime,
    window: Duration,
) -> Option<LikelyCause> {
    let from = now - window;
    let until = now + timeline::AFTER_GRACE;
    let mut restarts: Vec<&Event> = events
        .iter()
        .filter(|e| is_restart(e) && e.at >= from && e.at <= until)
        .collect();
    restarts.sort_by_key(|e| e.at);
    for symptom in restarts {
        let candidates: Vec<Event> = events
            .iter()
            .filter(|e| !(is_restart(e) && e.at >= symptom.at))
            .cloned()
            .collect();
        if timeline::rank(knowledge, None, &candidates, symptom.at, window).is_empty() {
            continue;
        }
        let title = symptom.describe();
        let verdict = decide(&Input {
            knowledge,
            chain: &[],
            title: &title,
            first_error: symptom.at,
            events: &candidates,
            reports,
            correlated: &[],
            timeline_window: window,
            symptom: Some(symptom),
        });
        if let Triage::Likely(cause) = verdict {
            return Some(cause);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triage::timeline::Service;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-01-31 06:40:00 UTC);
    const WINDOW: Duration = Duration::from_secs(1800);

    fn ev(at: OffsetDateTime, kind: EventKind, evidence: &str) -> Event {
        Event {
            at,
            kind,
            place: "web-1".into(),
            evidence: evidence.into(),
        }
    }

    fn openssl(at: OffsetDateTime) -> Event {
        ev(
            at,
            EventKind::Package {
                name: "openssl".into(),
                action: "Upgrade".into(),
                version: Some("3.0.13-0ubuntu3.5".into()),
            },
            "Start-Date: 2026-01-31  06:30:01; Upgrade: openssl:amd64 (3.0.13-0ubuntu3.4, 3.0.13-0ubuntu3.5)",
        )
    }

    fn restart(at: OffsetDateTime, service: Service) -> Event {
        ev(
            at,
            EventKind::Restart { service },
            "systemd[1]: Stopped postgresql@15-main.service - PostgreSQL Cluster 15-main.",
        )
    }

    fn cause(events: &[Event]) -> Option<LikelyCause> {
        for_diagnosis(&Knowledge::builtin(), &[], events, NOW, WINDOW)
    }

    #[test]
    fn a_restart_after_an_upgrade_is_that_upgrade_with_both_lines() {
        let events = [
            openssl(datetime!(2026-01-31 06:30:01 UTC)),
            restart(datetime!(2026-01-31 06:32:00 UTC), Service::Postgres),
        ];
        let c = cause(&events).expect("a likely cause");
        assert_eq!(
            c.cause,
            "openssl upgraded to 3.0.13-0ubuntu3.5 on web-1, 2 min before the PostgreSQL restart"
        );
        assert_eq!(c.evidence.len(), 2, "{:?}", c.evidence);
        assert!(
            c.evidence[0].contains("Upgrade: openssl:amd64"),
            "{:?}",
            c.evidence
        );
        assert!(c.evidence[1].starts_with("PostgreSQL restarted on web-1: "));
        assert!(c.evidence[1].contains("Stopped postgresql@15-main.service"));
        assert_eq!(c.confidence, crate::triage::Confidence::Medium);
        assert!(
            c.why.contains("ends every open SSL/TLS connection"),
            "{}",
            c.why
        );
    }

    #[test]
    fn packages_of_one_upgrade_are_named_together() {
        let at = datetime!(2026-01-31 06:30:01 UTC);
        let mut libssl = openssl(at);
        libssl.kind = EventKind::Package {
            name: "libssl3t64".into(),
            action: "Upgrade".into(),
            version: Some("3.0.13-0ubuntu3.5".into()),
        };
        libssl.evidence = "Upgrade: libssl3t64:amd64 (3.0.13-0ubuntu3.4, 3.0.13-0ubuntu3.5)".into();
        let events = [
            openssl(at),
            libssl,
            restart(datetime!(2026-01-31 06:32:00 UTC), Service::Postgres),
        ];
        let c = cause(&events).expect("a likely cause");
        assert_eq!(
            c.cause,
            "libssl3t64 and openssl upgraded on web-1, 2 min before the PostgreSQL restart"
        );
        assert_eq!(c.evidence.len(), 3, "both upgrade lines and the restart");
        assert!(c.evidence[2].starts_with("PostgreSQL restarted"));
    }

    #[test]
    fn nothing_wrong_or_nothing_before_it_is_no_cause() {
        // An upgrade and no restart: nothing to explain.
        assert!(cause(&[openssl(datetime!(2026-01-31 06:30:01 UTC))]).is_none());
        // A restart and no change before it: nothing explains it.
        assert!(cause(&[restart(datetime!(2026-01-31 06:32:00 UTC), Service::Redis)]).is_none());
        // The upgrade came after the restart (beyond the clock grace).
        let late = [
            restart(datetime!(2026-01-31 06:20:00 UTC), Service::Redis),
            openssl(datetime!(2026-01-31 06:30:01 UTC)),
        ];
        assert!(cause(&late).is_none());
        // A restart older than the window is not what this /diag saw.
        let old = [
            openssl(datetime!(2026-01-31 05:00:00 UTC)),
            restart(datetime!(2026-01-31 05:02:00 UTC), Service::Postgres),
        ];
        assert!(cause(&old).is_none());
    }

    #[test]
    fn restarts_of_one_moment_do_not_explain_each_other() {
        // Redis and PostgreSQL restarted in the same second: neither is the
        // other's cause, and with no change before them there is none.
        let at = datetime!(2026-01-31 06:32:00 UTC);
        let events = [restart(at, Service::Postgres), restart(at, Service::Redis)];
        assert!(cause(&events).is_none());
    }

    #[test]
    fn redis_and_postgres_down_at_one_second_are_the_interface_going_down() {
        let at = datetime!(2026-01-31 06:32:00 UTC);
        let link = ev(
            datetime!(2026-01-31 06:31:59 UTC),
            EventKind::LinkDown {
                interface: "enp7s0".into(),
            },
            "kernel: [8123.4] e1000e 0000:00:1f.6 enp7s0: NIC Link is Down",
        );
        let events = [
            restart(at, Service::Postgres),
            restart(at, Service::Redis),
            link,
        ];
        let c = cause(&events).expect("a likely cause");
        assert_eq!(
            c.cause,
            "interface enp7s0 went down on web-1, 1 s before the PostgreSQL restart"
        );
        assert!(
            c.evidence[0].contains("enp7s0: NIC Link is Down"),
            "{:?}",
            c.evidence
        );
    }

    #[test]
    fn a_later_restart_is_explained_when_the_first_is_not() {
        let events = [
            restart(datetime!(2026-01-31 06:12:00 UTC), Service::Redis),
            openssl(datetime!(2026-01-31 06:30:01 UTC)),
            restart(datetime!(2026-01-31 06:31:00 UTC), Service::Postgres),
        ];
        let c = cause(&events).expect("a likely cause");
        assert!(c.cause.starts_with("openssl upgraded"), "{}", c.cause);
        assert!(
            c.cause.ends_with("59 s before the PostgreSQL restart"),
            "{}",
            c.cause
        );
    }
}
