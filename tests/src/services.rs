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
