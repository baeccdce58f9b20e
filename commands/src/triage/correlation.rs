//! Purpose: "Both errors at same timestamp → infrastructure event" and
//! "Check Sentry for error clustering — multiple errors at same timestamp =
//! infrastructure" (`seeds/production-debugging-guide.md`): incidents that
//! name the same host or IP within a short window are one event on that
//! host, not several application bugs.
//!
//! Choices (README "Triage"): the hosts an incident names are the IPv4
//! addresses and `name:port` hosts in its title, exception chain and
//! details, plus the alert's host for Alertmanager and PagerDuty (their
//! `instance` is the machine in trouble); Sentry's `server_name` is where
//! the application runs, not what failed, so it does not count. Two
//! incidents correlate when they are distinct (another fingerprint) and
//! differ in source, service or title — two different failures — within
//! the window of each other's first alert.

use std::sync::LazyLock;
use std::time::Duration;

use regex_lite::Regex;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::chain::Link;
use crate::model::alert::{Alert, AlertSource};

static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b((?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3})\b").unwrap()
});
static HOST_PORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b([a-z][a-z0-9-]*(?:\.[a-z0-9-]+)+):\d{2,5}\b").unwrap());

/// The hosts and IPs named in `text`, lower-case, in order, without repeats.
pub fn hosts_in(text: &str, out: &mut Vec<String>) {
    for c in IPV4.captures_iter(text) {
        push(out, &c[1]);
    }
    for c in HOST_PORT.captures_iter(text) {
        push(out, &c[1]);
    }
}

fn push(out: &mut Vec<String>, host: &str) {
    let h = host.to_ascii_lowercase();
    if !out.contains(&h) {
        out.push(h);
    }
}

/// Every host `alert` (and its exception chain) names; see the module docs.
pub fn named_hosts(alert: &Alert, chain: &[Link]) -> Vec<String> {
    let mut out = Vec::new();
    if alert.source != AlertSource::Sentry
        && let Some(h) = &alert.host
    {
        // `instance` is often `host:port`; the host is what other alerts name.
        let bare = match h.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => h.as_str(),
        };
        push(&mut out, bare);
    }
    hosts_in(&alert.title, &mut out);
    for l in chain {
        hosts_in(&l.message, &mut out);
    }
    for d in &alert.details {
        hosts_in(d, &mut out);
    }
    out
}

/// An incident as correlation sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// medic's incident number.
    pub id: i64,
    /// `sentry`, `pagerduty`, `alertmanager`.
    pub source: String,
    /// Service or project.
    pub service: Option<String>,
    /// The title.
    pub title: String,
    /// The hosts it names.
    pub hosts: Vec<String>,
    /// Its first alert.
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
}

/// Another incident that is the same event as this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correlated {
    /// The other incident.
    pub peer: Peer,
    /// The host both name.
    pub host: String,
    /// Time between their first alerts.
    pub apart: Duration,
}

/// The incidents among `others` that are one event with `me`, closest
/// first.
pub fn correlate(me: &Peer, others: &[Peer], window: Duration) -> Vec<Correlated> {
    let mut out: Vec<Correlated> = others
        .iter()
        .filter(|o| o.id != me.id)
        .filter(|o| o.source != me.source || o.service != me.service || o.title != me.title)
        .filter_map(|o| {
            let apart: Duration = (me.first_seen - o.first_seen).abs().try_into().ok()?;
            if apart > window {
                return None;
            }
            let host = me.hosts.iter().find(|h| o.hosts.contains(h))?;
            Some(Correlated {
                peer: o.clone(),
                host: host.clone(),
                apart,
            })
        })
        .collect();
    out.sort_by_key(|c| (c.apart, c.peer.id));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn peer(id: i64, service: &str, title: &str, at: OffsetDateTime) -> Peer {
        let mut hosts = Vec::new();
        hosts_in(title, &mut hosts);
        Peer {
            id,
            source: "sentry".into(),
            service: Some(service.into()),
            title: title.into(),
            hosts,
            first_seen: at,
        }
    }

    #[test]
    fn hosts_are_read_from_text() {
        let mut h = Vec::new();
        hosts_in(
            "Error connecting to 10.0.1.1:6379 and DB.internal:5432; 10.0.1.1 again; version 1.2.3",
            &mut h,
        );
        assert_eq!(h, ["10.0.1.1", "db.internal"]);
    }

    #[test]
    fn redis_and_postgres_failing_against_one_host_correlate() {
        let redis = peer(
            1,
            "web",
            "RedisClient::CannotConnectError: Connection refused - connect(2) for 10.0.1.1:6379",
            datetime!(2026-01-31 06:33:02 UTC),
        );
        let pg = peer(
            2,
            "worker",
            "ActiveRecord::DatabaseConnectionError: connection to server at \"10.0.1.1\", port 5432 failed",
            datetime!(2026-01-31 06:33:10 UTC),
        );
        let far = peer(
            3,
            "api",
            "Timeout talking to 10.0.1.1:9200",
            datetime!(2026-01-31 07:33:10 UTC),
        );
        let elsewhere = peer(
            4,
            "api",
            "Connection refused 10.0.9.9:6379",
            datetime!(2026-01-31 06:33:05 UTC),
        );
        let c = correlate(
            &pg,
            &[redis.clone(), far, elsewhere],
            Duration::from_secs(120),
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].peer.id, 1);
        assert_eq!(c[0].host, "10.0.1.1");
        assert_eq!(c[0].apart, Duration::from_secs(8));
    }

    #[test]
    fn the_same_failure_again_is_no_correlation() {
        let a = peer(
            1,
            "web",
            "Error 10.0.1.1:6379",
            datetime!(2026-01-31 06:33:02 UTC),
        );
        let mut b = a.clone();
        b.id = 2;
        assert!(correlate(&a, &[b], Duration::from_secs(120)).is_empty());
    }

    #[test]
    fn sentry_server_name_is_not_a_failing_host() {
        let alert = Alert {
            source: AlertSource::Sentry,
            fingerprint: "1".into(),
            state: crate::model::alert::AlertState::Firing,
            title: "TypeError: x is undefined".into(),
            severity: crate::model::alert::Severity::Error,
            service: Some("web".into()),
            host: Some("web-1".into()),
            labels: vec![],
            occurred_at: None,
            link: None,
            details: vec![],
            chain: Vec::new(),
        };
        assert!(named_hosts(&alert, &[]).is_empty());
        let am = Alert {
            source: AlertSource::Alertmanager,
            host: Some("10.0.1.1:9100".into()),
            ..alert
        };
        assert_eq!(named_hosts(&am, &[]), ["10.0.1.1"]);
    }
}
