//! The `medic` binary as a user runs it: zero set-up, configuration checks,
//! environment overrides, exit codes and graceful shutdown.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const MEDIC: &str = env!("CARGO_BIN_EXE_medic");

/// `medic` with a clean environment (no MEDIC_* from the developer's shell)
/// in `dir`.
fn medic(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(MEDIC);
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn check_config_reports_every_problem_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("medic.toml"),
        "[server]\nbind = \"nowhere\"\n[database]\nurl = \"mysql://x\"\n[slack]\nbot_token = \"xoxb-1\"\n[targets.cache]\nkind = \"memcached\"\n",
    )
    .unwrap();
    let out = medic(dir.path()).arg("check-config").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with("Configuration has 4 problem(s):"),
        "{stdout}"
    );
    for key in [
        "server.bind:",
        "database.url:",
        "slack.signing_secret:",
        "targets.cache:",
    ] {
        assert!(stdout.contains(key), "{key} missing from {stdout}");
    }
}

#[test]
fn environment_overrides_the_file_and_secrets_are_not_printed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("custom.toml");
    std::fs::write(&file, "[server]\nbind = \"127.0.0.1:9000\"\n").unwrap();
    let out = medic(dir.path())
        .args(["check-config", "--config"])
        .arg(&file)
        .env("MEDIC__SERVER__BIND", "127.0.0.1:9001")
        .env("MEDIC__SLACK__SIGNING_SECRET", "0077-signing-secret")
        .env("MEDIC__SLACK__BOT_TOKEN", "xoxb-env-token-123")
        .env("MEDIC__SLACK__TEAMS", "T0001,T0002")
        .env("MEDIC__TARGETS__CACHE__KIND", "redis")
        .env(
            "MEDIC__TARGETS__CACHE__URL",
            "redis://:hunter22@10.0.1.1:6379",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("server.bind: 127.0.0.1:9001"), "{stdout}");
    assert!(stdout.contains("slack: configured"), "{stdout}");
    assert!(
        stdout.contains("serves workspaces T0001, T0002"),
        "one variable lists the workspaces: {stdout}"
    );
    assert!(stdout.contains("cache (redis 10.0.1.1:6379)"), "{stdout}");
    for secret in ["0077-signing-secret", "xoxb-env-token-123", "hunter22"] {
        assert!(!stdout.contains(secret), "{secret} printed: {stdout}");
    }
}

#[test]
fn medic_config_names_the_file_and_a_missing_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = medic(dir.path())
        .arg("check-config")
        .env("MEDIC_CONFIG", dir.path().join("absent.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("absent.toml does not exist"));
}

#[test]
fn diag_exit_codes_follow_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let port = dead_port();
    let out = medic(dir.path())
        .args(["diag", "cache"])
        .env("MEDIC__TARGETS__CACHE__KIND", "redis")
        .env(
            "MEDIC__TARGETS__CACHE__URL",
            format!("redis://:pw-secret@127.0.0.1:{port}"),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "critical is 2: {stdout}");
    assert!(
        stdout.contains(&format!("Connection refused by 127.0.0.1:{port}")),
        "{stdout}"
    );
    assert!(!stdout.contains("pw-secret"));
    assert!(!stdout.contains("\x1b["), "no colour when not a terminal");

    let out = medic(dir.path())
        .args(["diag", "cache", "--json"])
        .env("MEDIC__TARGETS__CACHE__KIND", "redis")
        .env(
            "MEDIC__TARGETS__CACHE__URL",
            format!("redis://127.0.0.1:{port}"),
        )
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(v["status"], "critical");
    assert_eq!(v["report"]["findings"][0]["check"], "redis.reach");

    let out = medic(dir.path()).args(["diag", "nosuch"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "no target or kind named `nosuch`. Targets: host, postgres, redis; or `all`."
        )
    );
}

#[test]
fn diag_postgres_selects_the_kind_and_reports_a_dead_server() {
    let dir = tempfile::tempdir().unwrap();
    let port = dead_port();
    let out = medic(dir.path())
        .args(["diag", "postgres"])
        .env("MEDIC__TARGETS__ORDERS__KIND", "postgres")
        .env(
            "MEDIC__TARGETS__ORDERS__URL",
            format!("postgres://app:pg-secret-77@127.0.0.1:{port}/orders"),
        )
        .env("MEDIC__TARGETS__ORDERS__CONNECT_TIMEOUT", "1s")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "critical is 2: {stdout}");
    assert!(
        stdout.contains(&format!("Connection refused by 127.0.0.1:{port}")),
        "{stdout}"
    );
    assert!(!stdout.contains("pg-secret-77"), "{stdout}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("pg-secret-77"));

    let out = medic(dir.path())
        .args(["check-config"])
        .env("MEDIC__TARGETS__ORDERS__KIND", "postgres")
        .env("MEDIC__TARGETS__ORDERS__URL", "mysql://10.0.1.1/orders")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("targets.orders.url") && stdout.contains("not postgres://"),
        "{stdout}"
    );
}

#[test]
fn console_answers_typed_commands_as_a_thread() {
    let dir = tempfile::tempdir().unwrap();
    let port = dead_port();
    let mut child = medic(dir.path())
        .arg("console")
        .env("MEDIC__TARGETS__CACHE__KIND", "redis")
        .env(
            "MEDIC__TARGETS__CACHE__URL",
            format!("redis://127.0.0.1:{port}"),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "/diag cache\n/diag nope\n/quit").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    // Acknowledged to the person, then the report as a root message and
    // its thread, from the outbox, before the console stops.
    assert!(
        stdout.contains("medic › (only you) Running diagnostics for cache"),
        "{stdout}"
    );
    assert!(stdout.contains("medic › [m1] 🔴 cache"), "{stdout}");
    assert!(stdout.contains("↳ [m1] 🔴 Connection refused"), "{stdout}");
    assert!(
        stdout.contains("I don't know the target `nope`."),
        "{stdout}"
    );
}

#[test]
fn serve_starts_with_zero_setup_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = medic(dir.path())
        .arg("serve")
        // Port 0 only so that parallel test runs cannot collide on 8080.
        .env("MEDIC__SERVER__BIND", "127.0.0.1:0")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("medic logs its address");
        log.push(line.clone());
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let text = log.join("\n");
    assert!(text.contains("Slack: not configured"), "{text}");
    assert!(
        text.contains("MEDIC__SLACK__BOT_TOKEN"),
        "says how to add Slack: {text}"
    );
    assert!(
        text.contains("Targets (defaults): host → host this machine, postgres → postgres 127.0.0.1:5432, redis → redis 127.0.0.1:6379"),
        "{text}"
    );
    assert!(
        dir.path().join("medic.db").exists(),
        "the SQLite file is created in the working directory"
    );

    let get = |path: &str| -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    assert!(get("/healthz").starts_with("HTTP/1.1 200"));
    assert!(get("/readyz").starts_with("HTTP/1.1 200"));

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        assert!(
            Instant::now() < deadline,
            "medic did not stop within 20 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(0));
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("medic stopped.")),
        "{rest:?}"
    );
}

const POLICY: &str = r#"
[database]
url = "sqlite://medic.db"
[targets.db]
kind = "postgres"
url = "postgres://medic@127.0.0.1/app"
[groups]
sre = ["U1", "U2"]
[oncall]
users = ["U9"]
[actions.kill-idle]
title = "Terminate idle connections"
kind = "postgres.terminate_idle"
offered_on = ["db"]
may_request = ["group:sre", "oncall"]
may_approve = ["group:sre"]
approvals = 1
cooldown = "5m"
"#;

#[test]
fn policy_check_answers_like_a_button_would() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("medic.toml"), POLICY).unwrap();
    let out = medic(dir.path())
        .args(["policy", "check", "U9", "kill-idle", "--target", "db"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("by the rule \"oncall\""), "{stdout}");
    assert!(
        stdout.contains("needs 1 approval(s) from [group:sre]"),
        "{stdout}"
    );

    let out = medic(dir.path())
        .args(["policy", "check", "U7", "kill-idle"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("may_request = [\"group:sre\", \"oncall\"]` does not include you"),
        "{stdout}"
    );

    let out = medic(dir.path())
        .args(["policy", "check", "U1", "kill-idle", "--target", "cache"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("not offered for `cache`"), "{stdout}");

    let out = medic(dir.path())
        .args(["policy", "check", "U1", "restart"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));

    // An empty audit log verifies.
    let out = medic(dir.path()).arg("audit").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("Audit chain verified: 0 row(s)"),
        "{stdout}"
    );
}

const ROTATION: &str = r#"
[oncall.people.alice]
slack = "U0ALICE"
[oncall.people.bob]
slack = "U0BOB"
[[oncall.rotations]]
name = "db"
members = ["alice", "bob"]
length = "daily"
handover = "09:00"
time_zone = "Europe/Berlin"
start = "2026-12-01"
slack_channel = "C0DB"
[actions.restart]
title = "Restart the worker"
kind = "command"
run = ["true"]
offered_on = ["db"]
may_request = ["oncall:db"]
"#;

#[test]
fn oncall_and_policy_check_answer_for_a_moment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("medic.toml"),
        format!("[targets.db]\nkind = \"postgres\"\nurl = \"postgres://medic@127.0.0.1/app\"\n{ROTATION}"),
    )
    .unwrap();
    // 2026-12-02 is bob's day (alice had the 1st); 10:00 CET.
    let at = "2026-12-02T10:00:00+01:00";
    let out = medic(dir.path())
        .args(["oncall", "--at", at])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(
        stdout.trim(),
        "db: @bob until Thu 3 Dec 09:00 CET · next @alice until Fri 4 Dec 09:00 CET"
    );
    let out = medic(dir.path()).args(["oncall", "web"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no rotation web"));

    // The same rule, the day the person holds the pager and the day before.
    let ask = |user: &str, at: &str| {
        medic(dir.path())
            .args(["policy", "check", user, "restart", "--at", at])
            .output()
            .unwrap()
    };
    let out = ask("U0BOB", at);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("by the rule \"oncall:db\""), "{stdout}");
    assert_eq!(
        ask("U0BOB", "2026-12-01T10:00:00+01:00").status.code(),
        Some(1)
    );
    assert_eq!(
        ask("U0ALICE", "2026-12-01T10:00:00+01:00").status.code(),
        Some(0)
    );
    assert_eq!(ask("U0ALICE", "not a time").status.code(), Some(64));
}

#[test]
fn slack_manifest_prints_the_app_for_http_or_socket_mode() {
    let dir = tempfile::tempdir().unwrap();
    let out = medic(dir.path())
        .args(["slack-manifest", "--url", "https://ops.example.org"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(
        yaml.contains("request_url: \"https://ops.example.org/slack/events\""),
        "{yaml}"
    );
    assert!(yaml.contains("  - command: /diag\n"), "{yaml}");
    assert!(yaml.contains("socket_mode_enabled: false"), "{yaml}");

    let out = medic(dir.path())
        .args(["slack-manifest", "--socket-mode"])
        .output()
        .unwrap();
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(yaml.contains("socket_mode_enabled: true"), "{yaml}");
    assert!(!yaml.contains("url:"), "{yaml}");
}

#[test]
fn discord_register_without_discord_configured_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = medic(dir.path())
        .args(["discord", "register"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[discord] is not configured"));
}
