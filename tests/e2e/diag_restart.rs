//! A `/diag` that medic accepted reaches its channel once, whatever stops
//! it on the way: a SIGKILL while the diagnosis runs, a SIGKILL while the
//! report waits for a Slack that is down, or Slack answering 500 for two
//! minutes. The report is in the durable outbox, or its run is found
//! unfinished at the next start and run again.

use std::path::Path;
use std::time::Duration;

use medic_tests::db::TestDb;
use medic_tests::fakes::slack::{Call, FakeSlack};
use medic_tests::services::{dead_port, silent_listener};
use medic_tests::signing::{slack_signature, slash_form};
use medic_tests::{BOT_TOKEN, Options, SIGNING_SECRET, now_unix, require_redis, spawn_medic};

use super::child::Process;

const LIMIT: Duration = Duration::from_secs(60);

/// A `medic.toml` for a child medic on `port` with `db`, posting to
/// `slack`, with `targets` (TOML).
fn config(dir: &Path, port: u16, db: &TestDb, slack: &FakeSlack, targets: &str) {
    std::fs::write(
        dir.join("medic.toml"),
        format!(
            "[server]\nbind = \"127.0.0.1:{port}\"\nshutdown_grace = \"1s\"\n\n[database]\nurl = \"{db}\"\n\n\
             [slack]\nsigning_secret = \"{SIGNING_SECRET}\"\nbot_token = \"{BOT_TOKEN}\"\napi_url = \"{api}\"\n\n\
             {targets}\n",
            db = db.url(),
            api = slack.api_url(),
        ),
    )
    .unwrap();
}

/// Types `/diag TARGET` in `channel` to the medic on `port`; returns its
/// private answer.
async fn diag(port: u16, slack: &FakeSlack, channel: &str, target: &str) -> String {
    let body = slash_form(
        "/diag",
        target,
        channel,
        "U0ALICE",
        "alice",
        &slack.response_url("r1"),
    );
    let ts = now_unix();
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/slack/commands"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header(
            "x-slack-signature",
            slack_signature(SIGNING_SECRET, ts, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .expect("medic answers")
        .json()
        .await
        .expect("JSON");
    answer["text"].as_str().unwrap_or_default().to_string()
}

/// Root messages (not thread replies) Slack accepted in `channel`.
fn roots(slack: &FakeSlack, channel: &str) -> Vec<Call> {
    slack
        .posts_in(channel)
        .into_iter()
        .filter(|c| c.thread_ts().is_none())
        .collect()
}

/// The report in `channel` is there once: one root, reading final, with
/// `needle`; no thread message twice.
async fn delivered_once(slack: &FakeSlack, channel: &str, needle: &str) {
    let (root, posts) = slack.wait_for_report(channel, LIMIT).await;
    assert!(root.contains(needle), "the final root: {root}");
    let roots = roots(slack, channel);
    assert_eq!(roots.len(), 1, "one root message: {roots:#?}");
    let thread: Vec<String> = posts
        .iter()
        .filter(|c| c.thread_ts() == roots[0].ts.as_deref())
        .map(Call::all_text)
        .collect();
    assert!(!thread.is_empty(), "the details are in its thread");
    let mut unique = thread.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        thread.len(),
        "nothing posted twice: {thread:#?}"
    );
}

/// A child medic with `targets`, Slack down, and a `/diag TARGET` it
/// acknowledged in `channel`.
struct Accepted {
    slack: FakeSlack,
    db: TestDb,
    dir: tempfile::TempDir,
    port: u16,
    medic: Process,
}

impl Accepted {
    async fn start(targets: &str, channel: &str, target: &str) -> Accepted {
        let slack = FakeSlack::start(BOT_TOKEN).await;
        // Nothing reaches Slack before the kill.
        slack.set_down(true);
        let db = TestDb::fresh().await;
        let dir = tempfile::tempdir().unwrap();
        let port = dead_port().await;
        config(dir.path(), port, &db, &slack, targets);
        let medic = Process::start(dir.path(), port, 0).await;
        let said = diag(port, &slack, channel, target).await;
        assert!(said.contains("Running diagnostics"), "{said}");
        Accepted {
            slack,
            db,
            dir,
            port,
            medic,
        }
    }

    /// SIGKILL, Slack back, a fresh medic on the same database: the report
    /// arrives in `channel` once, naming `needle`.
    async fn kill_and_restart(mut self, channel: &str, needle: &str) {
        self.medic.kill();
        self.slack.set_down(false);
        let _second = Process::start(self.dir.path(), self.port, 1).await;
        delivered_once(&self.slack, channel, needle).await;
        self.db.drop_database().await;
    }
}

#[tokio::test]
async fn a_diag_killed_while_its_diagnosis_runs_is_run_again_and_posted_once() {
    let hung = silent_listener().await;
    let targets =
        format!("[targets.cache]\nkind = \"redis\"\nurl = \"redis://{hung}\"\ntimeout = \"3s\"\n");
    let run = Accepted::start(&targets, "C0KILLRUN", "cache").await;
    // Within its 3 s timeout the diagnosis is still running: nothing posted.
    assert!(roots(&run.slack, "C0KILLRUN").is_empty());
    run.kill_and_restart("C0KILLRUN", "cache").await;
}

#[tokio::test]
async fn a_diag_killed_while_slack_is_down_is_posted_once_after_the_restart() {
    let redis = require_redis!();
    let targets = format!("[targets.redis]\nkind = \"redis\"\nurl = \"{redis}\"\n");
    let run = Accepted::start(&targets, "C0KILLOUT", "redis").await;
    // The report is done and queued: its root has been tried, and refused.
    run.slack
        .wait_for(LIMIT, |c| {
            c.method == "chat.postMessage" && c.channel() == Some("C0KILLOUT") && c.status == 503
        })
        .await;
    run.kill_and_restart("C0KILLOUT", "redis").await;
}

#[tokio::test]
async fn a_report_waits_out_two_minutes_of_slack_errors_and_is_posted_once() {
    let redis = require_redis!();
    let slack = FakeSlack::start(BOT_TOKEN).await;
    slack.fail_for(Duration::from_secs(120));
    let m = spawn_medic(Options {
        slack: Some(slack.clone()),
        targets: format!("[targets.redis]\nkind = \"redis\"\nurl = \"{redis}\"\n"),
        ..Options::default()
    })
    .await;
    let answer = m.slash("/diag", "redis").await;
    assert_eq!(answer.status(), 200);
    let (root, _) = slack
        .wait_for_report(medic_tests::CHANNEL, Duration::from_secs(300))
        .await;
    assert!(root.contains("redis"), "{root}");
    let failed = slack.calls().iter().filter(|c| c.status == 500).count();
    assert!(failed >= 2, "Slack refused it for a while: {failed} calls");
    assert_eq!(
        roots(&slack, medic_tests::CHANNEL).len(),
        1,
        "posted once, not once per attempt"
    );
    m.idle().await;
    let metrics = m.get("/metrics").await.1;
    assert!(
        metrics.contains(r#"medic_reports_total{platform="slack",outcome="delivered"} 1"#),
        "{metrics}"
    );
    assert!(!metrics.contains("medic_outbox_failed_total{"), "{metrics}");
    m.stop().await.unwrap();
}

#[tokio::test]
async fn a_second_diag_joins_a_report_still_waiting_for_slack() {
    let redis = require_redis!();
    let slack = FakeSlack::start(BOT_TOKEN).await;
    slack.set_down(true);
    let m = spawn_medic(Options {
        slack: Some(slack.clone()),
        targets: format!("[targets.redis]\nkind = \"redis\"\nurl = \"{redis}\"\n"),
        ..Options::default()
    })
    .await;
    let text = |v: serde_json::Value| v["text"].as_str().unwrap_or_default().to_string();
    let first = text(m.slash("/diag", "redis").await.json().await.unwrap());
    assert!(first.contains("Running diagnostics"), "{first}");
    // The diagnosis is done and its report queued: Slack refused its root.
    slack
        .wait_for(LIMIT, |c| c.method == "chat.postMessage" && c.status == 503)
        .await;
    // Until the report is in the channel, asking again joins it.
    let second = text(m.slash("/diag", "redis").await.json().await.unwrap());
    assert!(
        second.contains("already running in this channel (#1)"),
        "{second}"
    );
    slack.set_down(false);
    delivered_once(&slack, medic_tests::CHANNEL, "redis").await;
    m.stop().await.unwrap();
}
