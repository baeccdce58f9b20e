//! Purpose: what an on-call engineer does by hand for a Redis alert —
//! `nc -zv host 6379`, `redis-cli ping`, `redis-cli info` — done in one go,
//! and read the way the runbooks read it (`seeds/production-debugging-guide.md`:
//! "`RedisClient::CannotConnectError` → private network or Redis service
//! issue"; "redis* upgrade → Redis restart").
//!
//! The I/O shell ([`RedisTarget::run`]) reaches the server and collects INFO;
//! the reading of INFO is a pure function ([`info_findings`]) tested against
//! INFO captured from a real Redis 7.0.

use std::collections::HashMap;
use std::io::ErrorKind as IoKind;
use std::time::{Duration, Instant};

use redis::AsyncConnectionConfig;
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::net::TcpStream;

use super::{Check, Diagnostic, SecretUrl};
use crate::format::{human_age, human_bytes, human_duration, human_latency, percent, utc_clock};
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
    /// The most the whole diagnostic may take (default 5 s).
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub timeout: Duration,
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(2)
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

impl RedisTarget {
    /// The zero-config target: a Redis on this machine's default port.
    pub fn local_default() -> Self {
        RedisTarget {
            url: SecretUrl::parse("redis://127.0.0.1:6379").expect("static URL parses"),
            connect_timeout: default_connect_timeout(),
            timeout: default_timeout(),
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
        let target = self.clone();
        vec![
            Check::new("redis.session", "PING and INFO", async move {
                target.session().await
            })
            .critical_when_silent(),
        ]
    }
}

impl RedisTarget {
    /// TCP reach, then a session: AUTH from the URL, PING, INFO. Each step
    /// stops the rest when it fails, and says why in plain words.
    async fn session(&self) -> Vec<Finding> {
        let mut findings = Vec::new();
        let (host, port) = self.host_port();
        let location = self.location();

        // 1. TCP reach: separates "network/host down" from "Redis unwell".
        let started = Instant::now();
        match tokio::time::timeout(
            self.connect_timeout,
            TcpStream::connect((host.as_str(), port)),
        )
        .await
        {
            Ok(Ok(_stream)) => findings.push(Finding::ok(
                "redis.reach",
                format!(
                    "Reachable at {location}, TCP connect in {}",
                    human_latency(started.elapsed())
                ),
            )),
            Ok(Err(e)) => {
                findings.push(unreachable(&location, &e, started.elapsed()));
                return findings;
            }
            Err(_) => {
                findings.push(
                    Finding::critical(
                        "redis.reach",
                        format!(
                            "No answer from {location} after {} (connect timed out)",
                            human_duration(self.connect_timeout)
                        ),
                    )
                    .with_detail("A firewall dropping packets, a down host or a broken private network looks like this.")
                    .with_detail(format!("By hand: nc -zv {host} {port}")),
                );
                return findings;
            }
        }

        // 2. A Redis session: AUTH (from the URL), PING, INFO.
        let client = match redis::Client::open(self.url.expose()) {
            Ok(c) => c,
            Err(e) => {
                findings.push(Finding::critical(
                    "redis.connect",
                    format!("Cannot use the configured URL: {e}"),
                ));
                return findings;
            }
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.timeout));
        let mut conn = match client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                findings.push(session_failure(&location, &e));
                return findings;
            }
        };

        let started = Instant::now();
        match redis::cmd("PING").query_async::<String>(&mut conn).await {
            Ok(_) => {
                let rtt = started.elapsed();
                let summary = format!("PING answered in {}", human_latency(rtt));
                findings.push(if rtt > SLOW_PING {
                    Finding::warn("redis.ping", format!("Slow: {summary}"))
                        .with_detail("A healthy Redis answers in under a millisecond; look at the slowlog and at CPU on the host.")
                } else {
                    Finding::ok("redis.ping", summary)
                });
            }
            Err(e) => {
                findings.push(session_failure(&location, &e));
                return findings;
            }
        }

        let info = match redis::cmd("INFO").query_async::<String>(&mut conn).await {
            Ok(text) => Info::parse(&text),
            Err(e) => {
                findings.push(
                    Finding::unknown(
                        "redis.info",
                        "INFO failed, so memory, clients and replication were not checked",
                    )
                    .with_evidence(e.to_string()),
                );
                return findings;
            }
        };
        let mut info = info;
        if info.get("maxclients").is_none() {
            // Before Redis 7 INFO does not carry maxclients; CONFIG may be
            // renamed or forbidden on managed services, which is fine.
            if let Ok((_, v)) = redis::cmd("CONFIG")
                .arg("GET")
                .arg("maxclients")
                .query_async::<(String, String)>(&mut conn)
                .await
            {
                info.insert("maxclients", &v);
            }
        }
        findings.extend(info_findings(&info, OffsetDateTime::now_utc()));
        findings
    }
}

/// A connect error, in the words of the runbook.
fn unreachable(location: &str, e: &std::io::Error, after: Duration) -> Finding {
    let after = human_duration(after);
    let (summary, hint) = match e.kind() {
        IoKind::ConnectionRefused => (
            format!("Connection refused by {location} after {after}"),
            "Nothing listens on that port: is redis-server running? (systemctl status redis-server)",
        ),
        IoKind::TimedOut => (
            format!("Connection to {location} timed out after {after}"),
            "A firewall, a down host or a broken private network looks like this.",
        ),
        _ if e.to_string().contains("failed to lookup address") => (
            format!("Cannot resolve the host of {location}"),
            "The name does not resolve from medic's host; check DNS or use the IP.",
        ),
        _ => (
            format!("Cannot reach {location}: {e}"),
            "Check the network path from medic's host to Redis.",
        ),
    };
    Finding::critical("redis.reach", summary)
        .with_detail(hint)
        .with_evidence(e.to_string())
}

/// A failure once TCP worked: authentication, protocol, loading, timeouts.
fn session_failure(location: &str, e: &redis::RedisError) -> Finding {
    let auth_failed = e.kind() == redis::ErrorKind::AuthenticationFailed;
    let code = match e.code() {
        Some(c) => c,
        None if auth_failed => "WRONGPASS",
        None => "",
    };
    let text = e.to_string();
    let (summary, hint) = match code {
        "WRONGPASS" | "NOAUTH" => (
            format!("Authentication failed at {location} ({code})"),
            "Check the user and password in the target's URL against the server's ACL or requirepass.",
        ),
        "NOPERM" => (
            format!("medic's Redis user lacks permission at {location}"),
            "Grant the user +ping +info +config|get (e.g. ACL SETUSER medic +@connection +info +config|get).",
        ),
        "LOADING" => (
            format!("Redis at {location} is loading its dataset into memory"),
            "It restarted and is reading the RDB/AOF; commands fail until it finishes.",
        ),
        _ if e.is_timeout() => (
            format!("Redis at {location} accepted the connection but did not answer"),
            "A blocked server (a slow command, a fork on a big dataset) or a proxy in the way.",
        ),
        _ if e.is_connection_dropped() || e.is_io_error() => (
            format!("Redis at {location} dropped the connection"),
            "maxclients reached, a TLS-only server, or something other than Redis on that port.",
        ),
        _ => (
            format!("Redis at {location} answered with an error"),
            "See the evidence for the server's words.",
        ),
    };
    Finding::critical("redis.session", summary)
        .with_detail(hint)
        .with_evidence(text)
}

/// Parsed `INFO` output: `key:value` lines, sections ignored.
#[derive(Debug, Clone, Default)]
pub struct Info(HashMap<String, String>);

impl Info {
    /// Parses INFO text; tolerant of `\r\n`, comments and blank lines.
    pub fn parse(text: &str) -> Self {
        let map = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Info(map)
    }

    /// A raw value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A value as an unsigned number; absent or negative is `None`.
    pub fn num(&self, key: &str) -> Option<u64> {
        self.get(key)?.parse().ok()
    }

    /// A value as a signed number (some counters use -1 for "never").
    pub fn signed(&self, key: &str) -> Option<i64> {
        self.get(key)?.parse().ok()
    }

    fn insert(&mut self, key: &str, value: &str) {
        self.0.insert(key.to_string(), value.to_string());
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

/// Reads INFO the way an experienced engineer does. Pure: `now` is passed
/// in so that restart times are testable.
pub fn info_findings(info: &Info, now: OffsetDateTime) -> Vec<Finding> {
    let mut out = Vec::new();

    // Version and uptime: a recent restart explains connection errors.
    let version = info.get("redis_version").unwrap_or("?");
    if let Some(up) = info.num("uptime_in_seconds") {
        let restarted = now - time::Duration::seconds(up as i64);
        if Duration::from_secs(up) < RECENT_RESTART {
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
                .with_detail("Why it restarted: journalctl -u redis-server, and the apt history for a redis upgrade."),
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
                if f.status != crate::Status::Ok {
                    f = f.with_detail("New connections are refused at maxclients; look for a client leaking connections (CLIENT LIST).");
                }
                if let Some(blocked) = info.num("blocked_clients").filter(|&b| b > 0) {
                    f = f.with_detail(format!(
                        "{blocked} clients blocked in BLPOP/BRPOP/WAIT and similar"
                    ));
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
                if policy != "noeviction" && f.status == crate::Status::Critical {
                    // A cache at its limit evicts; that is its job, not an outage.
                    f.status = crate::Status::Warn;
                    f = f.with_detail(format!("At maxmemory, {policy} evicts keys to make room."));
                } else if policy == "noeviction" && f.status != crate::Status::Ok {
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

    // Replication.
    match info.get("role") {
        Some("master") => {
            let replicas = info.num("connected_slaves").unwrap_or(0);
            out.push(Finding::ok(
                "redis.replication",
                match replicas {
                    0 => "Role master, no replicas".to_string(),
                    1 => "Role master, 1 replica connected".to_string(),
                    n => format!("Role master, {n} replicas connected"),
                },
            ));
        }
        Some("slave") => {
            let master = format!(
                "{}:{}",
                info.get("master_host").unwrap_or("?"),
                info.get("master_port").unwrap_or("?")
            );
            if info.get("master_link_status") == Some("up") {
                let io = info.signed("master_last_io_seconds_ago").unwrap_or(-1);
                out.push(Finding::ok(
                    "redis.replication",
                    format!("Replica of {master}, link up (last I/O {io} s ago)"),
                ));
            } else {
                let down = match info.signed("master_link_down_since_seconds") {
                    Some(s) if s >= 0 => format!("down for {}", human_age(s as u64)),
                    _ => "down, never synced since start".to_string(),
                };
                let mut f = Finding::critical(
                    "redis.replication",
                    format!("Replica of {master}: link {down}"),
                )
                .with_detail("This replica serves stale data (or none); check the master and the network between them.");
                if info.num("master_sync_in_progress") == Some(1) {
                    f = f.with_detail("A full sync is in progress.");
                }
                out.push(f);
            }
        }
        _ => {}
    }

    // Persistence: a failing save makes Redis refuse writes
    // (stop-writes-on-bgsave-error), which looks like an app bug from outside.
    let mut persistence = Vec::new();
    if let Some(status) = info.get("rdb_last_bgsave_status").filter(|s| *s != "ok") {
        persistence.push(
            Finding::critical("redis.persistence", format!("Last RDB save failed ({status})"))
                .with_detail("With stop-writes-on-bgsave-error (the default) Redis refuses writes: MISCONF errors. Check disk space and the Redis log."),
        );
    }
    if info.num("aof_enabled") == Some(1) {
        if let Some(status) = info.get("aof_last_write_status").filter(|s| *s != "ok") {
            persistence.push(
                Finding::critical("redis.persistence", format!("AOF write failing ({status})"))
                    .with_detail("Writes are refused while the append-only file cannot be written. Check disk space."),
            );
        }
        if let Some(status) = info.get("aof_last_bgrewrite_status").filter(|s| *s != "ok") {
            persistence.push(Finding::warn(
                "redis.persistence",
                format!("Last AOF rewrite failed ({status})"),
            ));
        }
    }
    if persistence.is_empty() {
        let aof = if info.num("aof_enabled") == Some(1) {
            "AOF on"
        } else {
            "AOF off"
        };
        let last = info
            .num("rdb_last_save_time")
            .map(|t| now.unix_timestamp().saturating_sub(t as i64).max(0) as u64)
            .map(|ago| format!("last RDB save {} ago", human_age(ago)))
            .unwrap_or_else(|| "no RDB save yet".into());
        out.push(Finding::ok(
            "redis.persistence",
            format!("Persistence ok: {last}, {aof}"),
        ));
    }
    out.extend(persistence);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    const MASTER: &str = include_str!("testdata/redis_info_7.0_master.txt");
    const REPLICA_DOWN: &str = include_str!("testdata/redis_info_7.0_replica_link_down.txt");

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_769_841_127).unwrap()
    }

    fn with(base: &str, overrides: &[(&str, &str)]) -> Info {
        let mut info = Info::parse(base);
        for (k, v) in overrides {
            info.insert(k, v);
        }
        info
    }

    fn find<'a>(fs: &'a [Finding], check: &str) -> &'a Finding {
        fs.iter()
            .find(|f| f.check == check)
            .unwrap_or_else(|| panic!("no {check} in {fs:#?}"))
    }

    #[test]
    fn a_healthy_master_is_all_ok() {
        let info = with(MASTER, &[("uptime_in_seconds", "3542400")]);
        let fs = info_findings(&info, now());
        assert!(fs.iter().all(|f| f.status == Status::Ok), "{fs:#?}");
        assert_eq!(
            find(&fs, "redis.uptime").summary,
            "Redis 7.0.15, up 41 days"
        );
        assert_eq!(find(&fs, "redis.clients").summary, "Clients 1/10000 (0 %)");
        assert_eq!(
            find(&fs, "redis.replication").summary,
            "Role master, no replicas"
        );
    }

    #[test]
    fn a_recent_restart_is_a_warning_with_its_time() {
        let info = with(MASTER, &[("uptime_in_seconds", "180")]);
        let f = find(&info_findings(&info, now()), "redis.uptime").clone();
        assert_eq!(f.status, Status::Warn);
        assert_eq!(f.summary, "Redis restarted at 06:29:07 UTC (3 min ago)");
    }

    #[test]
    fn clients_near_maxclients_escalate() {
        let info = with(
            MASTER,
            &[
                ("connected_clients", "9600"),
                ("uptime_in_seconds", "99999"),
            ],
        );
        let f = find(&info_findings(&info, now()), "redis.clients").clone();
        assert_eq!(f.status, Status::Critical);
        assert_eq!(f.summary, "Clients 9600/10000 (96 %)");
        let info = with(MASTER, &[("connected_clients", "8100")]);
        assert_eq!(
            find(&info_findings(&info, now()), "redis.clients").status,
            Status::Warn
        );
    }

    #[test]
    fn memory_at_maxmemory_depends_on_the_policy() {
        let full = [("used_memory", "1030000000"), ("maxmemory", "1073741824")];
        let info = with(MASTER, &full);
        let f = find(&info_findings(&info, now()), "redis.memory").clone();
        assert_eq!(
            f.status,
            Status::Critical,
            "noeviction at the limit refuses writes"
        );
        assert!(
            f.summary.contains("of 1.0 GiB maxmemory (96 %)"),
            "{}",
            f.summary
        );

        let info = with(
            MASTER,
            &[full[0], full[1], ("maxmemory_policy", "allkeys-lru")],
        );
        let f = find(&info_findings(&info, now()), "redis.memory").clone();
        assert_eq!(f.status, Status::Warn, "a cache at its limit evicts");
    }

    #[test]
    fn evictions_and_rejections_are_reported() {
        let info = with(
            MASTER,
            &[("evicted_keys", "1234"), ("rejected_connections", "7")],
        );
        let fs = info_findings(&info, now());
        assert_eq!(
            find(&fs, "redis.evictions").summary,
            "1234 keys evicted since start (policy noeviction)"
        );
        assert_eq!(find(&fs, "redis.rejected").status, Status::Warn);
    }

    #[test]
    fn a_replica_with_its_link_down_is_critical() {
        let fs = info_findings(&Info::parse(REPLICA_DOWN), now());
        let f = find(&fs, "redis.replication");
        assert_eq!(f.status, Status::Critical);
        assert_eq!(
            f.summary,
            "Replica of 127.0.0.1:6391: link down, never synced since start"
        );

        let info = with(REPLICA_DOWN, &[("master_link_down_since_seconds", "125")]);
        let f = find(&info_findings(&info, now()), "redis.replication").clone();
        assert_eq!(f.summary, "Replica of 127.0.0.1:6391: link down for 2 min");
    }

    #[test]
    fn a_failed_save_is_critical_and_says_writes_are_refused() {
        let info = with(MASTER, &[("rdb_last_bgsave_status", "err")]);
        let f = find(&info_findings(&info, now()), "redis.persistence").clone();
        assert_eq!(f.status, Status::Critical);
        assert!(f.detail[0].contains("MISCONF"));
    }

    #[test]
    fn urls_are_validated() {
        let t = |u: &str| RedisTarget {
            url: SecretUrl::parse(u).unwrap(),
            ..RedisTarget::local_default()
        };
        assert!(t("redis://10.0.1.1:6379").validate().is_ok());
        assert!(
            t("rediss://10.0.1.1:6379")
                .validate()
                .unwrap_err()
                .contains("TLS")
        );
        assert!(t("http://10.0.1.1").validate().is_err());
        assert_eq!(t("redis://:pw@10.0.1.1").location(), "10.0.1.1:6379");
    }

    #[tokio::test]
    async fn a_dead_port_is_a_finding_not_an_error() {
        // Port 1 on loopback: nothing listens there on any sane machine.
        let target = RedisTarget {
            url: SecretUrl::parse("redis://:topsecret@127.0.0.1:1").unwrap(),
            ..RedisTarget::local_default()
        };
        let fs = target.session().await;
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].status, Status::Critical);
        assert!(
            fs[0]
                .summary
                .starts_with("Connection refused by 127.0.0.1:1 after"),
            "{}",
            fs[0].summary
        );
        assert!(!format!("{fs:?}").contains("topsecret"));
    }
}
