//! Purpose: the one connection a run makes — `nc -zv host 6379`, then
//! `redis-cli ping` and `redis-cli info` — shared by every check, so a
//! `/diag redis` opens one session however many checks read from it.
//!
//! The step's findings (reach, PING, a failed INFO) belong to the session
//! check alone; the other checks get the connection or nothing, so an
//! outage is reported once, not once per check.

use std::io::ErrorKind as IoKind;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use tokio::net::TcpStream;

use super::info::Info;
use super::{RedisTarget, SLOW_PING};
use crate::diagnostics::Diagnostic;
use crate::format::{human_duration, human_latency};
use crate::model::report::Finding;

/// A live session: the connection, and INFO when it could be read.
#[derive(Clone)]
pub struct Session {
    /// The connection; cheap to clone, commands are pipelined over it.
    pub conn: MultiplexedConnection,
    /// INFO (all sections) as read once at the start of the run.
    pub info: Option<Arc<Info>>,
}

/// What opening the session gave: its findings, and the session when it
/// got as far as PING.
#[derive(Clone)]
pub struct Opened {
    /// Reach, PING and INFO findings, for the session check to report.
    pub findings: Arc<Vec<Finding>>,
    /// The session, when the server answered PING.
    pub session: Option<Session>,
}

/// The connection step, started once and awaited by every check.
pub type SharedSession = Shared<BoxFuture<'static, Opened>>;

/// Starts (lazily) the one session of a run.
pub fn open(target: &RedisTarget) -> SharedSession {
    let target = target.clone();
    async move { target.open().await }.boxed().shared()
}

impl RedisTarget {
    /// The most one reply may take: 90 % of `timeout`, so that a server
    /// that accepts and then stays silent is named by this step ("accepted
    /// the connection but did not answer") instead of racing the check's
    /// own cut-off at `timeout` and its generic "no answer" (issue #3's
    /// bench showed either one leading the report, round to round).
    fn reply_budget(&self) -> Duration {
        self.timeout.mul_f64(0.9)
    }

    /// The most the connection may take: `connect_timeout`, but always
    /// inside the reply budget, for the same reason.
    fn connect_budget(&self) -> Duration {
        self.connect_timeout.min(self.reply_budget())
    }

    /// TCP reach, then a session: AUTH from the URL, PING, INFO. Each step
    /// stops the rest when it fails, and says why in plain words.
    pub(super) async fn open(&self) -> Opened {
        let mut findings = Vec::new();
        let session = self.open_into(&mut findings).await;
        Opened {
            findings: Arc::new(findings),
            session,
        }
    }

    async fn open_into(&self, findings: &mut Vec<Finding>) -> Option<Session> {
        let (host, port) = self.host_port();
        let location = self.location();

        // 1. TCP reach: separates "network/host down" from "Redis unwell".
        let started = Instant::now();
        match tokio::time::timeout(
            self.connect_budget(),
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
                return None;
            }
            Err(_) => {
                findings.push(
                    Finding::critical(
                        "redis.reach",
                        format!(
                            "No answer from {location} after {} (connect timed out)",
                            human_duration(self.connect_budget())
                        ),
                    )
                    .with_detail("A firewall dropping packets, a down host or a broken private network looks like this.")
                    .with_detail(format!("By hand: nc -zv {host} {port}")),
                );
                return None;
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
                return None;
            }
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_budget()))
            .set_response_timeout(Some(self.reply_budget()));
        let mut conn = match client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                findings.push(self.session_failure_heard(&location, &e).await);
                return None;
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
            // A master that cannot save refuses PING as well as writes
            // (so that health checks notice); the session still reads.
            Err(e) if e.code() == Some("MISCONF") => findings.push(
                Finding::critical(
                    "redis.ping",
                    "PING refused with MISCONF: Redis cannot save, so it refuses writes and PING",
                )
                .with_detail("Health checks that PING see this server as down; see the persistence finding for why.")
                .with_evidence(e.to_string()),
            ),
            Err(e) => {
                findings.push(self.session_failure_heard(&location, &e).await);
                return None;
            }
        }

        let info = match redis::cmd("INFO").query_async::<String>(&mut conn).await {
            Ok(text) => {
                let mut info = Info::parse(&text);
                if info.get("maxclients").is_none() {
                    // Before Redis 7 INFO does not carry maxclients; CONFIG
                    // may be renamed or forbidden on managed services,
                    // which is fine.
                    if let Some(v) = config_get(&mut conn, "maxclients").await {
                        info.insert("maxclients", &v);
                    }
                }
                Some(Arc::new(info))
            }
            Err(e) => {
                findings.push(
                    Finding::unknown(
                        "redis.info",
                        "INFO failed, so memory, clients, keyspace, persistence and replication were not checked",
                    )
                    .with_evidence(e.to_string()),
                );
                None
            }
        };
        Some(Session { conn, info })
    }
}

/// `CONFIG GET name`, or `None` when CONFIG is renamed, forbidden or the
/// parameter unknown: callers then fall back to Redis's default and say so.
pub async fn config_get(conn: &mut MultiplexedConnection, name: &str) -> Option<String> {
    redis::cmd("CONFIG")
        .arg("GET")
        .arg(name)
        .query_async::<Vec<String>>(conn)
        .await
        .ok()
        .and_then(|kv| kv.into_iter().nth(1))
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

impl RedisTarget {
    /// [`session_failure`], except when Redis hung up: then a bare
    /// connection hears what it says to newcomers before it hangs up ("-ERR
    /// max number of clients reached"), which the client library, busy
    /// writing its first command, never reads.
    async fn session_failure_heard(&self, location: &str, e: &redis::RedisError) -> Finding {
        // Not after a timeout: a silent server has nothing to say, and the
        // check's own time is nearly spent.
        if !e.is_timeout() && (e.is_connection_dropped() || e.is_io_error()) {
            let (host, port) = self.host_port();
            let wait = self.connect_timeout.min(Duration::from_millis(300));
            if let Some(line) = greeting(&host, port, wait).await
                && let Some(said) = line.strip_prefix('-')
            {
                let said = said.strip_prefix("ERR ").unwrap_or(said).trim();
                let mut f = Finding::critical(
                    "redis.session",
                    format!("Redis at {location} turns new connections away: {said}"),
                );
                if said.contains("max number of clients") {
                    f = f.with_detail(
                        "Every slot up to maxclients is taken, so new clients (and medic) are refused: find who holds them (CLIENT LIST from an open session, ss -tnp on the server) and raise maxclients if the load is real.",
                    );
                }
                return f.with_evidence(line);
            }
        }
        session_failure(location, e)
    }
}

/// The first line a server sends on a fresh connection within `wait`, if
/// any (Redis sends nothing unless it is refusing the client).
async fn greeting(host: &str, port: u16, wait: Duration) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let read = async {
        let mut stream = TcpStream::connect((host, port)).await.ok()?;
        let mut buf = vec![0u8; 512];
        let n = stream.read(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        text.lines().next().map(str::to_string)
    };
    tokio::time::timeout(wait, read).await.ok().flatten()
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
            "Grant the user what the checks read (e.g. ACL SETUSER medic +@connection +info +config|get +slowlog|get +client|list +scan +memory|usage +type +dbsize +latency|latest +latency|doctor).",
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
