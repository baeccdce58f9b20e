//! Purpose: what an on-call engineer does by hand for a Redis alert —
//! `nc -zv host 6379`, `redis-cli ping`, `redis-cli info`, `slowlog get`,
//! `client list` — done in one go, and read the way the runbooks read it
//! (`seeds/production-debugging-guide.md`: "`RedisClient::CannotConnectError`
//! → private network or Redis service issue"; "redis* upgrade → Redis
//! restart").
//!
//! # Layout
//!
//! [`connect`] opens the one session of a run (TCP reach, AUTH, PING, INFO)
//! and shares it; [`info`] parses INFO. Each check is a file with a pure
//! reading function (INFO or a reply in, findings out, "now" passed in),
//! tested against INFO captured from a real Redis 7.0, and a thin async
//! shell: [`slowlog`] (the slowest recent commands, arguments redacted),
//! [`fragmentation`] (RSS against used memory: fragmentation or swap),
//! [`blocked`] (clients waiting in BLPOP, WAIT, …), [`keyspace`] (keys per
//! database, TTLs against the eviction policy), [`persistence`] (failing
//! RDB/AOF writes, unsaved changes; MISCONF), [`replication`] (role, link,
//! offset lag), [`bigkeys`] (the biggest keys by SCAN and MEMORY USAGE,
//! bounded in count and time), [`latency`] (LATENCY LATEST and DOCTOR when
//! the latency monitor is on). The session check itself reports reach,
//! PING, uptime, clients, memory and evictions ([`info_findings`]).

pub mod bigkeys;
pub mod blocked;
pub mod connect;
pub mod fragmentation;
pub mod info;
pub mod keyspace;
pub mod latency;
pub mod persistence;
pub mod replication;
pub mod slowlog;

use std::future::Future;
use std::time::Duration;

use serde::Deserialize;
use time::OffsetDateTime;

use self::connect::{Session, SharedSession};
pub use self::info::Info;
use super::{Check, Diagnostic, SecretUrl};
use crate::format::{human_age, human_bytes, percent, utc_clock};
use crate::model::report::{Finding, Status};
use crate::redact::Redactor;

/// A restart more recent than this is a warning: it explains a burst of
/// connection errors ("connection reset", `CannotConnectError`) around it.
pub const RECENT_RESTART: Duration = Duration::from_secs(3600);
/// A PING slower than this is a warning: Redis answers in well under a
/// millisecond on a healthy LAN, so 100 ms means a busy server or network.
pub const SLOW_PING: Duration = Duration::from_millis(100);
/// Share of a limit (clients, memory) at which a warning is raised.
pub const WARN_RATIO: f64 = 0.80;
/// Share of a limit at which it is critical.
pub const CRITICAL_RATIO: f64 = 0.95;

/// `[targets.NAME] kind = "redis"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisTarget {
    /// `redis://[user:password@]host[:port][/db]`.
    pub url: SecretUrl,
    /// How long to wait for the TCP connection (default 2 s).
    #[serde(
        default = "default_connect_timeout",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub connect_timeout: Duration,
    /// The most each check may take (default 5 s); checks run at once.
    #[serde(
        default = "crate::diagnostics::default_timeout",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub timeout: Duration,
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(2)
}

impl RedisTarget {
    /// The zero-config target: a Redis on this machine's default port.
    pub fn local_default() -> Self {
        RedisTarget {
            url: SecretUrl::parse("redis://127.0.0.1:6379").expect("static URL parses"),
            connect_timeout: default_connect_timeout(),
            timeout: crate::diagnostics::default_timeout(),
        }
    }

    /// Checks what serde cannot: the scheme and the host.
    pub fn validate(&self) -> Result<(), String> {
        let url = self.url.url();
        match url.scheme() {
            "redis" => {}
            "rediss" => return Err("rediss:// (TLS) is not supported yet; use redis://".into()),
            other => return Err(format!("scheme `{other}` is not redis://")),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("the URL names no host".into());
        }
        Ok(())
    }

    fn host_port(&self) -> (String, u16) {
        let url = self.url.url();
        let host = url.host_str().unwrap_or("127.0.0.1");
        // IPv6 literals come back bracketed; connect wants them bare.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        (host.to_string(), url.port().unwrap_or(6379))
    }

    /// The database the URL selects (`redis://host/3`), 0 by default.
    fn db(&self) -> i64 {
        self.url
            .url()
            .path()
            .trim_start_matches('/')
            .parse()
            .unwrap_or(0)
    }

    /// Every check as of `now`, sharing one session. The session check
    /// reports the connection's fate; the others say nothing when there is
    /// no session (that outage is already one finding, not seven).
    pub fn checks_at(&self, now: OffsetDateTime) -> Vec<Check> {
        let session = connect::open(self);
        let db = self.db();
        // Half the check's time: sampling is cut short with the keys it
        // has, well before the check itself would be.
        let sampling = self.timeout / 2;
        vec![
            Check::new("redis.session", "PING and INFO", {
                let session = session.clone();
                async move {
                    let opened = session.await;
                    let mut findings = opened.findings.as_ref().clone();
                    if let Some(info) = opened.session.and_then(|s| s.info) {
                        findings.extend(info_findings(&info, now));
                    }
                    findings
                }
            })
            .critical_when_silent()
            .silence_hint("A blocked server (a slow command, a fork on a big dataset) or a network dropping packets looks like this."),
            session_check(&session, "redis.slowlog", "SLOWLOG GET", move |s| {
                slowlog::check(s, now)
            }),
            session_check(&session, "redis.blocked", "CLIENT LIST", blocked::check),
            session_check(&session, "redis.persistence", "Persistence", move |s| {
                persistence::check(s, now)
            }),
            session_check(&session, "redis.fragmentation", "Memory fragmentation", |s| {
                info_only(s, fragmentation::findings)
            }),
            session_check(&session, "redis.keyspace", "The keyspace", |s| {
                info_only(s, keyspace::findings)
            }),
            session_check(&session, "redis.replication", "Replication", |s| {
                info_only(s, replication::findings)
            }),
            session_check(&session, "redis.bigkeys", "SCAN and MEMORY USAGE", move |s| {
                bigkeys::check(s, db, sampling)
            }),
            session_check(&session, "redis.latency", "LATENCY LATEST", move |s| {
                latency::check(s, now)
            }),
        ]
    }
}

/// A check that needs the session; it says nothing when there is none
/// (the session check reports why).
fn session_check<F>(
    session: &SharedSession,
    id: &'static str,
    what: &'static str,
    run: impl FnOnce(Session) -> F + Send + 'static,
) -> Check
where
    F: Future<Output = Vec<Finding>> + Send + 'static,
{
    let session = session.clone();
    Check::new(id, what, async move {
        match session.await.session {
            Some(s) => run(s).await,
            None => Vec::new(),
        }
    })
}

/// A check that only reads INFO; nothing when INFO failed (the session
/// check reports that).
fn info_only(
    session: Session,
    read: fn(&Info) -> Vec<Finding>,
) -> std::future::Ready<Vec<Finding>> {
    std::future::ready(session.info.map(|i| read(&i)).unwrap_or_default())
}

impl Diagnostic for RedisTarget {
    const KIND: &'static str = "redis";

    fn location(&self) -> String {
        let url = self.url.url();
        let host = url.host_str().unwrap_or("?");
        format!("{host}:{}", url.port().unwrap_or(6379))
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn redactor(&self) -> Redactor {
        self.url.redactor()
    }

    fn checks(&self) -> Vec<Check> {
        self.checks_at(OffsetDateTime::now_utc())
    }
}

fn by_ratio(check: &str, used: u64, limit: u64, summary: String) -> Finding {
    let ratio = used as f64 / limit as f64;
    Finding::new(
        check,
        Status::by_level(ratio, WARN_RATIO, CRITICAL_RATIO),
        summary,
    )
}

/// The session check's reading of INFO: uptime, clients, memory against
/// maxmemory, evictions. Pure: `now` is passed in so that restart times are
/// testable.
pub fn info_findings(info: &Info, now: OffsetDateTime) -> Vec<Finding> {
    let mut out = Vec::new();

    // Version and uptime: a recent restart explains connection errors.
    let version = info.get("redis_version").unwrap_or("?");
    if let Some(up) = info.num("uptime_in_seconds") {
        if Duration::from_secs(up) < RECENT_RESTART {
            // Only a recent restart has a time to show: an uptime of any
            // size (a server can report anything) never goes past the
            // start of time (found by fuzzing: redis_replies).
            let restarted = now - time::Duration::seconds(up as i64);
            out.push(
                Finding::warn(
                    "redis.uptime",
                    format!(
                        "Redis restarted at {} ({} ago)",
                        utc_clock(restarted),
                        human_age(up)
                    ),
                )
                .with_detail(format!("Redis {version}. Every client lost its connection at the restart; connection errors around then are explained by it."))
                .with_detail("Why it restarted: journalctl -u redis-server, and the apt history for a redis upgrade.")
                .at(restarted),
            );
        } else {
            out.push(Finding::ok(
                "redis.uptime",
                format!("Redis {version}, up {}", human_age(up)),
            ));
        }
    }

    // Clients against maxclients.
    if let Some(clients) = info.num("connected_clients") {
        match info.num("maxclients").filter(|&m| m > 0) {
            Some(max) => {
                let summary = format!("Clients {clients}/{max} ({})", percent(clients, max));
                let mut f = by_ratio("redis.clients", clients, max, summary);
                if f.status != Status::Ok {
                    f = f.with_detail("New connections are refused at maxclients; look for a client leaking connections (CLIENT LIST).");
                }
                out.push(f);
            }
            None => out.push(Finding::ok(
                "redis.clients",
                format!("Clients {clients} (maxclients unknown)"),
            )),
        }
    }
    if let Some(rejected) = info.num("rejected_connections").filter(|&r| r > 0) {
        out.push(
            Finding::warn(
                "redis.rejected",
                format!("{rejected} connections rejected since start (maxclients reached)"),
            )
            .with_detail("Clients saw \"max number of clients reached\"."),
        );
    }

    // Memory against maxmemory.
    if let Some(used) = info.num("used_memory") {
        let policy = info.get("maxmemory_policy").unwrap_or("?");
        match info.num("maxmemory").filter(|&m| m > 0) {
            Some(max) => {
                let summary = format!(
                    "Memory {} of {} maxmemory ({}), policy {policy}",
                    human_bytes(used),
                    human_bytes(max),
                    percent(used, max)
                );
                let mut f = by_ratio("redis.memory", used, max, summary);
                if policy != "noeviction" && f.status == Status::Critical {
                    // A cache at its limit evicts; that is its job, not an outage.
                    f.status = Status::Warn;
                    f = f.with_detail(format!("At maxmemory, {policy} evicts keys to make room."));
                } else if policy == "noeviction" && f.status != Status::Ok {
                    f = f.with_detail(
                        "With noeviction, writes fail with OOM errors once maxmemory is reached.",
                    );
                }
                out.push(f);
            }
            None => {
                let mut summary = format!("Memory {}, no maxmemory set", human_bytes(used));
                if let Some(total) = info.num("total_system_memory").filter(|&t| t > 0) {
                    summary.push_str(&format!(
                        " ({} of the host's {})",
                        percent(used, total),
                        human_bytes(total)
                    ));
                    out.push(by_ratio("redis.memory", used, total, summary));
                } else {
                    out.push(Finding::ok("redis.memory", summary));
                }
            }
        }
    }
    if let Some(evicted) = info.num("evicted_keys").filter(|&e| e > 0) {
        let policy = info.get("maxmemory_policy").unwrap_or("?");
        out.push(
            Finding::warn(
                "redis.evictions",
                format!("{evicted} keys evicted since start (policy {policy})"),
            )
            .with_detail("Data is being dropped to stay under maxmemory; fine for a cache, data loss for anything else."),
        );
    }
    out
}

#[cfg(test)]
mod tests;
