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
        Console::start_with(config, &["--as", user]).await
    }

    /// `medic console --config CONFIG ARGS…`.
    async fn start_with(config: &std::path::Path, args: &[&str]) -> Console {
        let mut child = Command::new(MEDIC)
            .args(["console", "--config"])
            .arg(config)
            .args(args)
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

    /// Waits until what is printed after the last expectation holds, for
    /// each of `wanted`, a whole message ([`messages`]) that it accepts,
    /// in any order; returns the first such message for each, and reads
    /// on from the end of what was printed.
    async fn expect_messages(&mut self, wanted: &[&dyn Fn(&str) -> bool]) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            let printed = self.printed.notified();
            {
                let out = self.out.lock().unwrap();
                let now = messages(&out[self.seen..]);
                let found: Vec<Option<&String>> = wanted
                    .iter()
                    .map(|w| now.iter().find(|m| w(m.as_str())))
                    .collect();
                if found.iter().all(Option::is_some) {
                    self.seen = out.len();
                    return found.into_iter().flatten().cloned().collect();
                }
            }
            if tokio::time::timeout_at(deadline, printed).await.is_err() {
                let out = self.out.lock().unwrap();
                panic!(
                    "the console did not print the messages wanted; after the last match it printed:\n{}",
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

/// The messages in printed `text`, each whole: a line that is not
/// indented begins one (a root, an edit, a reply in a thread, what only
/// the typist sees, the typed line echoed), and the indented lines after
/// it are its own.
fn messages(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        match out.last_mut() {
            Some(m) if line.starts_with("        ") => {
                m.push('\n');
                m.push_str(line);
            }
            _ => out.push(line.to_string()),
        }
    }
    out
}

/// The labels of the buttons under a message (its last line, `[3] Resolve
/// [4] Reopen`), in order; none when its last line is not buttons.
fn labels(message: &str) -> Vec<String> {
    let last = message.lines().last().unwrap_or_default().trim();
    if !last.starts_with('[') || message.lines().count() < 2 {
        return Vec::new();
    }
    last.split("   ")
        .map(|b| {
            b.split_once("] ")
                .filter(|(n, _)| n.trim_start_matches('[').parse::<usize>().is_ok())
                .map(|(_, label)| label.to_string())
        })
        .collect::<Option<Vec<_>>>()
        .unwrap_or_default()
}

/// A Sentry error webhook's body, written to `dir`: disk full on web-1.
fn sentry_error(dir: &std::path::Path) -> std::path::PathBuf {
    let alert = dir.join("sentry-error.json");
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
    alert
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
    let alert = sentry_error(dir.path());
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
    // In any order: the drain may print the root (and its cause) before
    // the session says "received", since the incident commits with the
    // delivery, before `record` returns.
    let cause = c
        .expect_messages(&[
            &|m: &str| m.contains("1 alert(s) from sentry received"),
            &|m: &str| m.contains("Errno::ENOSPC"),
            &|m: &str| m.contains("Likely cause"),
        ])
        .await
        .remove(2);
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

/// An incident run from its root on the console, as on Slack
/// (incident_response.rs): Acknowledge, Resolve and Reopen pressed by
/// number, each editing the root (its buttons follow the incident's
/// state) and saying who did what in its thread; someone `[incidents]
/// may_respond` does not name is told privately and nothing changes; every
/// press is in the audit log, which `medic audit` verifies.
#[tokio::test]
async fn a_console_incident_is_acknowledged_resolved_and_reopened_from_its_root() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("medic.toml");
    std::fs::write(
        &config,
        "[groups]\nsre = [\"alice\", \"bob\"]\n\n[incidents]\nmay_respond = [\"group:sre\"]\n",
    )
    .unwrap();
    let alert = sentry_error(dir.path());
    let database = format!("sqlite://{}", dir.path().join("console.db").display());
    let mut c = Console::start_with(&config, &["--as", "alice", "--database", &database]).await;

    // The alert's incident: a root offering Acknowledge and Resolve.
    c.type_line(&format!("/alert sentry {}", alert.display()))
        .await;
    // In any order: the root may be printed before "received" (see
    // above).
    let root = c
        .expect_messages(&[
            &|m: &str| m.contains("1 alert(s) from sentry received"),
            &|m: &str| {
                m.starts_with("medic › [m")
                    && m.contains("Errno::ENOSPC")
                    && labels(m) == ["Acknowledge", "Resolve"]
            },
        ])
        .await
        .remove(1);
    let id = root["medic › [".len()..root.find(']').unwrap()].to_string();
    assert!(root.contains("· error\n"), "{root}");
    let edited = format!("medic › [{id} now reads] ");
    let in_thread = |line: &str| format!("   ↳ [{id}] {line}");
    let first_ack = Console::button(&root, "Acknowledge");
    let first_resolve = Console::button(&root, "Resolve");

    // mallory is not in group:sre: told privately; nothing changes.
    c.type_line("/as mallory").await;
    c.expect("You are mallory now.").await;
    c.type_line(&format!("click {first_resolve}")).await;
    let refused = c.expect("(only you) you may not resolve").await;
    assert!(
        refused.contains("`may_respond = [\"group:sre\"]` does not include you"),
        "{refused}"
    );

    // alice acknowledges: the root says so and offers only Resolve; the
    // thread says who.
    c.type_line("/as alice").await;
    c.expect("You are alice now.").await;
    c.type_line(&format!("click {first_ack}")).await;
    let acked = in_thread("👀 Acknowledged by @alice");
    let now = c
        .expect_messages(&[
            &|m: &str| m.starts_with(&edited) && labels(m) == ["Resolve"],
            &|m: &str| m == acked,
        ])
        .await
        .remove(0);
    assert!(now.contains("acknowledged by @alice"), "{now}");
    assert!(now.contains("🔴"), "{now}");
    let resolve = Console::button(&now, "Resolve");

    // The old Acknowledge again, by bob: already done, nothing changes.
    c.type_line("/as bob").await;
    c.expect("You are bob now.").await;
    c.type_line(&format!("click {first_ack}")).await;
    let again = c.expect("(only you)").await;
    assert!(
        again.contains("is already acknowledged; nothing was changed"),
        "{again}"
    );

    // alice resolves: the root reads resolved and offers Reopen.
    c.type_line("/as alice").await;
    c.expect("You are alice now.").await;
    c.type_line(&format!("click {resolve}")).await;
    let resolved = in_thread("✅ Resolved by @alice");
    let now = c
        .expect_messages(&[
            &|m: &str| m.starts_with(&edited) && labels(m) == ["Reopen"],
            &|m: &str| m == resolved,
        ])
        .await
        .remove(0);
    assert!(now.starts_with(&format!("{edited}✅ ")), "{now}");
    assert!(now.contains("· resolved\n"), "{now}");
    assert!(!now.contains("acknowledged by"), "{now}");
    let reopen = Console::button(&now, "Reopen");

    // bob reopens: open again, with Acknowledge and Resolve.
    c.type_line("/as bob").await;
    c.expect("You are bob now.").await;
    c.type_line(&format!("click {reopen}")).await;
    let reopened = in_thread("↩️ Reopened by @bob");
    let now = c
        .expect_messages(&[
            &|m: &str| m.starts_with(&edited) && labels(m) == ["Acknowledge", "Resolve"],
            &|m: &str| m == reopened,
        ])
        .await
        .remove(0);
    assert!(now.starts_with(&format!("{edited}🔴 ")), "{now}");

    // Typed: the console's one open incident, raised to P1; its timeline
    // in order.
    c.type_line("/incident sev P1").await;
    c.expect(&in_thread("🔺 Severity P2 → P1 (High) by @bob"))
        .await;
    c.type_line("/incident timeline").await;
    c.expect("Timeline of incident #").await;
    for line in [
        "🚨 Alert from Sentry",
        "👀 Acknowledged — @alice",
        "✅ Resolved — @alice",
        "↩️ Reopened — @bob",
        "🔺 Severity P2 → P1 (High) — @bob",
    ] {
        c.expect(line).await;
    }

    c.type_line("/quit").await;
    let status = tokio::time::timeout(LIMIT, c.child.wait())
        .await
        .expect("the console stops")
        .unwrap();
    assert!(status.success(), "{status}");

    // Each press that changed the incident edited its root once, with
    // that state's buttons (mallory's, before alice's, changed nothing),
    // and said so once in its thread.
    let out = c.out.lock().unwrap().clone();
    let all = messages(&out);
    let mut edits: Vec<Vec<String>> = all
        .iter()
        .filter(|m| m.starts_with(&edited))
        .map(|m| labels(m))
        .collect();
    edits.dedup();
    assert_eq!(
        edits,
        [
            vec!["Resolve"],
            vec!["Reopen"],
            vec!["Acknowledge", "Resolve"]
        ],
        "{out}"
    );
    for line in [&acked, &resolved, &reopened] {
        assert_eq!(
            all.iter().filter(|m| *m == line).count(),
            1,
            "{line}\n{out}"
        );
    }
    let thread = format!("   ↳ [{id}] ");
    assert!(
        !all.iter()
            .any(|m| (m.starts_with(&edited) || m.starts_with(&thread)) && m.contains("mallory")),
        "mallory's press shows nowhere but to mallory: {out}"
    );

    // The audit log, as `medic audit` reads it from the console's database.
    let cwd = tempfile::tempdir().unwrap();
    let audit = std::process::Command::new(MEDIC)
        .arg("audit")
        .current_dir(cwd.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("MEDIC__DATABASE__URL", &database)
        .output()
        .expect("run medic audit");
    let log = String::from_utf8_lossy(&audit.stdout);
    assert!(audit.status.success(), "{log}");
    let incident = root
        .lines()
        .find_map(|l| l.trim().strip_prefix("incident #"))
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("no incident number in {root}"))
        .to_string();
    let pressed: Vec<(&str, &str)> = log
        .lines()
        .filter(|l| l.contains(&format!(" action=incident target=incident #{incident} ")))
        .filter_map(|l| {
            let mut words = l.split(' ');
            let event = words.nth(2)?;
            let actor = words.next()?.strip_prefix("actor=")?;
            Some((event, actor))
        })
        .collect();
    assert_eq!(
        pressed,
        [
            ("refused", "mallory"),
            ("acknowledged", "alice"),
            ("resolved", "alice"),
            ("reopened", "bob"),
            ("severity", "bob"),
        ],
        "{log}"
    );
    assert!(log.contains("Audit chain verified"), "{log}");
}
