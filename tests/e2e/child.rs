//! medic as a real `medic serve` process, for the tests that kill it with
//! SIGKILL: no signal handler runs, nothing is flushed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use medic_tests::fakes::slack::FakeSlack;
use medic_tests::services::dead_port;
use medic_tests::wait::eventually;
use medic_tests::{BOT_TOKEN, SIGNING_SECRET};

/// medic itself, built in this package (`tests/src/bin/medic_child.rs`).
const MEDIC: &str = env!("CARGO_BIN_EXE_medic-child");

/// `medic ARGS --config FILE` where FILE names only `database_url`, with
/// nothing of this process's environment: the CLI's answer for what a
/// test's medic wrote. Returns the exit code, stdout and stderr.
pub fn cli_on(database_url: &str, args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("medic.toml");
    std::fs::write(&config, format!("[database]\nurl = \"{database_url}\"\n")).unwrap();
    let out = Command::new(MEDIC)
        .args(args)
        .arg("--config")
        .arg(&config)
        .env_clear()
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One `medic serve` process with `dir/medic.toml`; killed with SIGKILL
/// when dropped.
pub struct Process {
    child: Option<Child>,
    log: PathBuf,
}

impl Process {
    /// Starts run number `run` (its log is `dir/medic-{run}.log`) and
    /// waits until it answers `/readyz` on `port`.
    pub async fn start(dir: &Path, port: u16, run: usize) -> Process {
        let log = dir.join(format!("medic-{run}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(MEDIC)
            .args(["serve", "--config"])
            .arg(dir.join("medic.toml"))
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("start medic");
        let p = Process {
            child: Some(child),
            log,
        };
        let http = reqwest::Client::new();
        // Another process: only asking again tells when it is ready.
        eventually("medic started", Duration::from_secs(30), || async {
            let up = http
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if up {
                Ok(())
            } else {
                Err(format!("not ready; its log:\n{}", p.log_text()))
            }
        })
        .await;
        p
    }

    /// SIGKILL: no signal handler runs, nothing is flushed.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Its process id, for `/proc` and resource limits.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("medic is running").id()
    }

    /// What it logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `n` replicas of one medic on the database at `db`, posting to `slack`:
/// each its own directory (`medic.toml`, logs) and port, not yet started.
/// Each config is `[server]` on its port, `[database]`, `[slack]` at the
/// fake, then `rest`.
pub async fn replica_dirs(
    n: usize,
    db: &str,
    slack: &FakeSlack,
    rest: &str,
) -> (Vec<tempfile::TempDir>, Vec<u16>) {
    let mut dirs = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..n {
        let dir = tempfile::tempdir().unwrap();
        let port = dead_port().await;
        std::fs::write(
            dir.path().join("medic.toml"),
            format!(
                "[server]\nbind = \"127.0.0.1:{port}\"\n\n[database]\nurl = \"{db}\"\n\n\
                 [slack]\nsigning_secret = \"{SIGNING_SECRET}\"\nbot_token = \"{BOT_TOKEN}\"\napi_url = \"{api}\"\n\n\
                 {rest}",
                api = slack.api_url(),
            ),
        )
        .unwrap();
        dirs.push(dir);
        ports.push(port);
    }
    (dirs, ports)
}
