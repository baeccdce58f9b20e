//! A dedicated redis-server for one test: its own temporary directory and
//! loopback port, stopped (killed and reaped) when the guard drops, so a
//! test may reconfigure, fill, stop or kill it without touching the shared
//! Redis on 6399.
//!
//! `redis-server` comes from `scripts/services install` (apt). Without it a
//! test skips with a note, except under `CI=true`, where it fails.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use medic_commands::diagnostics::{Target, TargetSpec};
use medic_commands::{Finding, Report};
use redis::aio::MultiplexedConnection;

/// A running redis-server; killed on drop.
pub struct RedisServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The password (`requirepass`) when one was set.
    pub password: Option<String>,
    child: Option<Child>,
    /// Kept for the server's life; removed on drop.
    dir: tempfile::TempDir,
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RedisServer {
    /// Starts one with `extra` arguments (`["--slowlog-log-slower-than",
    /// "0"]`); `None` (skip) when redis-server is not installed, outside CI.
    pub async fn start(extra: &[&str]) -> Option<RedisServer> {
        Self::start_with_password(extra, None).await
    }

    /// The same, with `requirepass`.
    pub async fn start_with_password(
        extra: &[&str],
        password: Option<&str>,
    ) -> Option<RedisServer> {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .arg("--dir")
            .arg(&data)
            .arg("--logfile")
            .arg(dir.path().join("redis.log"))
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--enable-debug-command", "yes"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(p) = password {
            cmd.args(["--requirepass", p]);
        }
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !in_ci() => {
                eprintln!("SKIPPED: redis-server is not installed; run scripts/services start.");
                return None;
            }
            Err(e) => panic!("redis-server must run here (CI=true never skips): {e}"),
        };
        let server = RedisServer {
            port,
            password: password.map(str::to_string),
            child: Some(child),
            dir,
        };
        server.wait_ready().await;
        Some(server)
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut c) = self.try_conn().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .is_ok()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on {} did not answer; log: {}",
                self.port,
                std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn try_conn(&self) -> redis::RedisResult<MultiplexedConnection> {
        let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
        redis::Client::open(self.url())?
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    /// A fresh connection (no response timeout: BLPOP waits).
    pub async fn conn(&self) -> MultiplexedConnection {
        self.try_conn().await.expect("connect to the test redis")
    }

    /// Its URL, with the password when there is one.
    pub fn url(&self) -> String {
        match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}/", self.port),
            None => format!("redis://127.0.0.1:{}/", self.port),
        }
    }

    /// Its data directory (`--dir`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The process id, to stop or pause it.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Runs one command and returns its reply.
    pub async fn cmd(&self, args: &[&str]) -> redis::RedisResult<redis::Value> {
        let mut c = self.conn().await;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query_async(&mut c).await
    }

    /// One INFO field, read now.
    pub async fn info_field(&self, key: &str) -> Option<String> {
        let mut c = self.conn().await;
        let text: String = redis::cmd("INFO").query_async(&mut c).await.ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    }

    /// Waits (bounded, to catch a hang) until `pred` holds of INFO field `key`.
    pub async fn wait_for(&self, key: &str, pred: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let v = self.info_field(key).await;
            if v.as_deref().is_some_and(&pred) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "INFO {key} on {} stayed {v:?}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills it now (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A medic target for it.
    pub fn target(&self, name: &str) -> Target {
        let spec: TargetSpec = serde_json::from_value(serde_json::json!({
            "kind": "redis",
            "url": self.url(),
            "connect_timeout": "2s",
            "timeout": "5s",
        }))
        .unwrap();
        Target {
            name: name.into(),
            spec,
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The one finding of `check` in a report (panics with the report when
/// there is none or several).
pub fn finding<'a>(report: &'a Report, check: &str) -> &'a Finding {
    let mut of: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.check == check)
        .collect();
    assert_eq!(of.len(), 1, "one {check} finding expected in {report:#?}");
    of.remove(0)
}
