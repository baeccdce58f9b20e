//! The real servers tests need. Their addresses come from the environment
//! (`MEDIC_TEST_REDIS_URL`, `MEDIC_TEST_DATABASE_URL`), as set by
//! `scripts/test`. Under `CI=true` a missing server fails the test; a
//! developer without one sees the test skip with a note saying how to run
//! it.

use std::time::Duration;

/// Where tests expect Redis unless told otherwise (scripts/test starts it).
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6399/";

/// Whether this is a CI run, where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The test Redis URL, verified to answer PING; `None` (skip) only
/// outside CI.
pub async fn redis_url() -> Option<String> {
    let url = std::env::var("MEDIC_TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.into());
    let ping = async {
        let client = redis::Client::open(url.as_str()).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .ok()
    };
    match tokio::time::timeout(Duration::from_secs(2), ping).await {
        Ok(Some(_)) => Some(url),
        _ if in_ci() => panic!(
            "Redis is required at {url} (CI=true: tests never skip). Start it with scripts/test."
        ),
        _ => {
            eprintln!("SKIPPED: no Redis at {url}; run scripts/test to start one.");
            None
        }
    }
}

/// Returns early from a test when Redis is missing outside CI.
#[macro_export]
macro_rules! require_redis {
    () => {
        match $crate::services::redis_url().await {
            Some(url) => url,
            None => return,
        }
    };
}

/// Runs a Redis command against the test server.
pub async fn redis_cmd(url: &str, args: &[&str]) -> redis::RedisResult<redis::Value> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query_async(&mut conn).await
}

/// The test Redis URL with an ACL user that has `password`, so reports run
/// the whole way through an authenticated session.
pub async fn redis_url_with_password(base: &str, user: &str, password: &str) -> String {
    redis_cmd(
        base,
        &[
            "ACL",
            "SETUSER",
            user,
            "on",
            &format!(">{password}"),
            "~*",
            "&*",
            "+@all",
        ],
    )
    .await
    .expect("ACL SETUSER on the test Redis");
    let mut url = url::Url::parse(base).expect("test Redis URL parses");
    url.set_username(user).expect("set user");
    url.set_password(Some(password)).expect("set password");
    url.to_string()
}

/// A TCP server on loopback that accepts connections and never answers:
/// what a hung Redis (or a proxy in front of a dead one) looks like.
/// Returns its address; it lives as long as the test's runtime.
pub async fn silent_listener() -> std::net::SocketAddr {
    counting_silent_listener().await.0
}

/// A [`silent_listener`] that also counts the connections it accepted, so
/// a test can tell how often a target was probed.
pub async fn counting_silent_listener() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind silent listener");
    let addr = listener.local_addr().expect("address");
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(stream);
        }
    });
    (addr, accepted)
}

/// A loopback port with nothing listening (bound, then released).
pub async fn dead_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    port
}

/// Every command the test Redis runs from the moment [`RedisMonitor::start`]
/// returns (Redis's `MONITOR`), one line each: for a test that must see a
/// command medic sent when nothing else shows it (a lease it tried and
/// did not get).
#[derive(Debug)]
pub struct RedisMonitor {
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    changes: crate::wait::Changes,
    reader: tokio::task::JoinHandle<()>,
}

impl RedisMonitor {
    /// Opens a connection of its own to the Redis at `url` and starts
    /// `MONITOR` on it.
    pub async fn start(url: &str) -> RedisMonitor {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

        let parsed = url::Url::parse(url).expect("test Redis URL parses");
        let addr = format!(
            "{}:{}",
            parsed.host_str().unwrap_or("127.0.0.1"),
            parsed.port().unwrap_or(6379)
        );
        let stream = tokio::net::TcpStream::connect(&addr)
            .await
            .unwrap_or_else(|e| panic!("MONITOR: cannot reach Redis at {addr}: {e}"));
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        let mut line = String::new();
        if let Some(password) = parsed.password() {
            let auth = match parsed.username() {
                "" => format!("AUTH {password}\r\n"),
                user => format!("AUTH {user} {password}\r\n"),
            };
            write.write_all(auth.as_bytes()).await.expect("AUTH");
            read.read_line(&mut line).await.expect("AUTH answer");
            assert!(line.starts_with("+OK"), "MONITOR: AUTH refused: {line}");
            line.clear();
        }
        write.write_all(b"MONITOR\r\n").await.expect("MONITOR");
        read.read_line(&mut line).await.expect("MONITOR answer");
        assert!(line.starts_with("+OK"), "MONITOR refused: {line}");
        let lines: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
        let changes = crate::wait::Changes::default();
        let reader = tokio::spawn({
            let (lines, changes) = (std::sync::Arc::clone(&lines), changes.clone());
            async move {
                // Kept open while monitoring: Redis ends MONITOR with the
                // connection.
                let _write = write;
                let mut line = String::new();
                while read.read_line(&mut line).await.is_ok_and(|n| n > 0) {
                    lines.lock().unwrap().push(line.trim_end().to_string());
                    changes.bump();
                    line.clear();
                }
            }
        });
        RedisMonitor {
            lines,
            changes,
            reader,
        }
    }

    /// Waits for a command line (`+1700000000.000001 [0 127.0.0.1:5000]
    /// "SET" "key" …`) matching `pred`; returns it. Panics after `limit`
    /// naming `what`.
    pub async fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        self.changes
            .wait_for(
                format!("Redis MONITOR: {what}"),
                limit,
                || self.lines.lock().unwrap().iter().find(|l| pred(l)).cloned(),
                || format!("{} command(s) seen", self.lines.lock().unwrap().len()),
            )
            .await
    }
}

impl Drop for RedisMonitor {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
