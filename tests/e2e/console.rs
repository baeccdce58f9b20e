//! `medic console` driven through its stdin, as a person at a terminal
//! would: the third chat platform, on a real database, through the same
//! dispatch, incident logic, outbox and remediation flow as Slack and
//! Discord.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use medic_tests::services::dead_port;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::Notify;

/// medic itself, built in this package.
const MEDIC: &str = env!("CARGO_BIN_EXE_medic-child");
const LIMIT: Duration = Duration::from_secs(60);

/// A running `medic console` and what it printed.
struct Console {
    child: Child,
    stdin: ChildStdin,
    out: Arc<Mutex<String>>,
    printed: Arc<Notify>,
    /// How far [`Console::expect`] has read.
    seen: usize,
}

impl Console {
    async fn start(config: &std::path::Path, user: &str) -> Console {
        let mut child = Command::new(MEDIC)
            .args(["console", "--config"])
            .arg(config)
            .args(["--as", user])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start medic console");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        let printed = Arc::new(Notify::new());
        let (o, p) = (out.clone(), printed.clone());
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut out = o.lock().unwrap();
                out.push_str(&line);
                out.push('\n');
                p.notify_waiters();
            }
        });
        Console {
            child,
            stdin,
            out,
            printed,
            seen: 0,
        }
    }

    async fn type_line(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// Waits until what is printed after the last expectation contains
    /// `needle`; returns that output up to the end of `needle`'s line,
    /// and reads on from there.
    async fn expect(&mut self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            let printed = self.printed.notified();
            {
                let out = self.out.lock().unwrap();
                if let Some(at) = out[self.seen..].find(needle) {
                    let start = self.seen;
                    let end = out[start + at..]
                        .find('\n')
                        .map_or(out.len(), |e| start + at + e + 1);
                    self.seen = end;
                    return out[start..end].to_string();
                }
            }
            if tokio::time::timeout_at(deadline, printed).await.is_err() {
                let out = self.out.lock().unwrap();
                panic!(
                    "the console did not print {needle:?}; after the last match it printed:\n{}",
                    &out[self.seen..]
                );
            }
        }
    }

    /// The number of the button labelled `label` in `text`.
    fn button(text: &str, label: &str) -> usize {
        let at = text
            .find(&format!("] {label}"))
            .unwrap_or_else(|| panic!("no {label} button in {text}"));
        let open = text[..at].rfind('[').unwrap();
        text[open + 1..at].parse().unwrap()
    }
}

#[tokio::test]
async fn a_console_session_diagnoses_triages_an_alert_and_runs_an_approved_action_once() {
    // A Redis that is down: the report has trouble, so the remediation
    // is offered under it.
    let redis = format!("redis://127.0.0.1:{}", dead_port().await);
    let dir = tempfile::tempdir().unwrap();
    let host = tempfile::tempdir().unwrap();
    let ran = tempfile::tempdir().unwrap();
    let config = dir.path().join("medic.toml");
    std::fs::write(
        &config,
        format!(
            "[targets.redis]\nkind = \"redis\"\nurl = \"{redis}\"\n\n\
             [targets.host]\nkind = \"host\"\nroot = \"{host}\"\n\n\
             [[runbooks]]\nmatch = {{}}\nrun = [\"host\"]\n\n\
             [groups]\nsre = [\"alice\", \"bob\"]\n\n\
             [actions.mark]\ntitle = \"Mark a run\"\nkind = \"command\"\n\
             run = [\"mktemp\", \"-p\", \"{ran}\", \"runXXXXXX\"]\n\
             offered_on = [\"redis\"]\nmay_request = [\"group:sre\"]\nmay_approve = [\"group:sre\"]\napprovals = 1\n",
            host = host.path().display(),
            ran = ran.path().display(),
        ),
    )
    .unwrap();
    let alert = dir.path().join("sentry-error.json");
    std::fs::write(
        &alert,
        json!({
            "action": "created",
            "data": {"error": {
                "issue_id": "5301",
                "title": "Errno::ENOSPC: No space left on device @ io_write - /var/app/log/production.log",
                "level": "error",
                "datetime": "2026-11-29T06:29:07Z",
                "url": "https://sentry.io/api/0/projects/acme/web/events/e5301/",
                "tags": [["server_name", "web-1"]],
                "exception": {"values": [{
                    "type": "Errno::ENOSPC",
                    "value": "No space left on device @ io_write - /var/app/log/production.log",
                    "stacktrace": {"frames": null}
                }]}
            }},
            "installation": {"uuid": "7a485448-a9e2-4c85-8a3c-4f44175783c9"}
        })
        .to_string(),
    )
    .unwrap();

    let mut c = Console::start(&config, "alice").await;

    // A diagnosis: acknowledged, then a root with its thread, then the
    // remediation's button.
    c.type_line("/diag redis").await;
    c.expect("(only you) Running diagnostics for redis").await;
    let root = c.expect("medic › [m").await;
    assert!(root.contains("🔴 redis"), "{root}");
    c.expect("↳ [").await;
    let offer = c.expect("] Mark a run").await;
    let request = Console::button(&offer, "Mark a run");

    // An alert from a file: an incident thread that leads with its cause.
    c.type_line(&format!("/alert sentry {}", alert.display()))
        .await;
    c.expect("1 alert(s) from sentry received").await;
    c.expect("Errno::ENOSPC").await;
    let cause = c.expect("Likely cause").await;
    assert!(cause.contains("A disk is full"), "{cause}");

    // Alice asks; she cannot approve her own request; Bob can, once.
    c.type_line(&format!("click {request}")).await;
    c.expect("(only you) Requested").await;
    let status = c.expect("] Approve").await;
    let approve = Console::button(&status, "Approve");
    c.type_line(&format!("approve {approve}")).await;
    c.expect("never counts").await;
    assert_eq!(
        std::fs::read_dir(ran.path()).unwrap().count(),
        0,
        "ran before approval"
    );
    c.type_line("/as bob").await;
    c.expect("You are bob now.").await;
    c.type_line(&format!("approve {approve}")).await;
    c.expect("succeeded").await;
    c.type_line(&format!("approve {approve}")).await;
    c.expect("(only you)").await;
    assert_eq!(
        std::fs::read_dir(ran.path()).unwrap().count(),
        1,
        "the action ran once"
    );

    c.type_line("/quit").await;
    let status = tokio::time::timeout(LIMIT, c.child.wait())
        .await
        .expect("the console stops")
        .unwrap();
    assert!(status.success(), "{status}");
    // Each message once: one report, one incident.
    let out = c.out.lock().unwrap().clone();
    let roots = |needle: &str| {
        out.lines()
            .filter(|l| l.starts_with("medic › [m") && l.contains(needle))
            .count()
    };
    assert_eq!(roots("🔴 redis ("), 1, "{out}");
    assert_eq!(roots("Errno::ENOSPC"), 1, "{out}");
}

#[tokio::test]
async fn a_console_session_asks_who_is_on_call_and_takes_a_handoff() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("medic.toml");
    // Handed over from alice to bob 3 h ago; alice is next.
    let rotation = crate::oncall::Rotation::past(3 * 3600);
    std::fs::write(&config, rotation.config("")).unwrap();
    let mut c = Console::start(&config, "bob").await;

    c.type_line("/oncall").await;
    let now = c.expect("(only you) db: @bob until").await;
    assert!(now.contains("next @alice"), "{now}");

    // bob hands over early; the digest's button is alice's to press.
    c.type_line("/handoff").await;
    c.expect("handoff digest is on its way to this console")
        .await;
    c.expect("Handoff db: @bob → @alice").await;
    let button = c.expect("] I've got it").await;
    let take = Console::button(&button, "I've got it");
    c.type_line(&format!("click {take}")).await;
    c.expect("Only @alice can take this shift").await;
    c.type_line("/as alice").await;
    c.expect("You are alice now.").await;
    c.type_line(&format!("click {take}")).await;
    c.expect("Taken by @alice").await;
    c.type_line("/quit").await;
    let status = tokio::time::timeout(LIMIT, c.child.wait())
        .await
        .expect("the console quits")
        .unwrap();
    assert!(status.success());
}
