//! Alerts become incident threads: one root per fingerprint, edited as the
//! incident changes, the runbook's diagnostics in its thread, resolve and
//! reopen in the same thread. Deliveries are fed through medic's own
//! writer, as the webhook endpoints do after verifying and parsing.

use std::time::Duration;

use medic::storage::deliveries::Recorded;
use medic_commands::model::alert::{Alert, AlertSource, AlertState, Severity};
use medic_tests::{Options, TestMedic, redis_target, require_redis, spawn_medic};

const ALERTS: &str = "C0ALERTS";

fn alert(state: AlertState) -> Alert {
    Alert {
        source: AlertSource::Sentry,
        fingerprint: "1170820242".into(),
        state,
        title: "ConnectionError: Error 111 connecting to redis:6379. Connection refused.".into(),
        severity: Severity::Error,
        service: Some("api".into()),
        host: None,
        labels: vec![("environment".into(), "production".into())],
        occurred_at: None,
        link: Some("https://sentry.io/organizations/acme/issues/1170820242/".into()),
        details: vec!["Root cause: redis.exceptions.ConnectionError".into()],
        chain: Vec::new(),
    }
}

async fn deliver(medic: &TestMedic, id: &str, alert: Alert) -> Recorded {
    medic.deliver(id, alert).await
}

/// Waits until the root message of `channel` reads with `needle`.
async fn root_reads(medic: &TestMedic, needle: &str) -> String {
    let what = format!("the root reading {needle:?}");
    medic
        .slack
        .wait_until(&what, Duration::from_secs(20), |s| {
            s.root_now(ALERTS).is_some_and(|r| r.contains(needle))
        })
        .await;
    medic.slack.root_now(ALERTS).unwrap()
}

async fn replies_with(medic: &TestMedic, needle: &str) -> usize {
    let count = || {
        medic
            .slack
            .posts_in(ALERTS)
            .iter()
            .filter(|p| p.thread_ts().is_some() && p.all_text().contains(needle))
            .count()
    };
    let what = format!("a reply with {needle:?}");
    medic
        .slack
        .wait_until(&what, Duration::from_secs(20), |_| count() > 0)
        .await;
    count()
}

#[tokio::test]
async fn an_alert_opens_one_thread_that_follows_the_incident() {
    let redis = require_redis!();
    let medic = spawn_medic(Options {
        targets: redis_target("cache", &redis),
        extra: format!(
            "[[routes]]\nmatch = {{ source = \"sentry\" }}\nslack_channel = \"{ALERTS}\"\n\n\
             [[runbooks]]\nmatch = {{ title = \"(?i)redis\" }}\nrun = [\"cache\"]\n"
        ),
        ..Default::default()
    })
    .await;

    assert!(matches!(
        deliver(&medic, "d1", alert(AlertState::Firing)).await,
        Recorded::New(_)
    ));
    let root = root_reads(&medic, "ConnectionError").await;
    assert!(root.contains("seen 1×"), "{root}");
    assert!(root.contains("— api · error"), "{root}");
    // The first reply carries the root cause; the runbook's report follows.
    replies_with(&medic, "Root cause: redis.exceptions.ConnectionError").await;
    replies_with(&medic, "PING answered").await;

    // Repeats edit the root; a redelivery of the same delivery is dropped.
    deliver(&medic, "d2", alert(AlertState::Firing)).await;
    assert_eq!(
        deliver(&medic, "d2", alert(AlertState::Firing)).await,
        Recorded::Duplicate
    );
    deliver(&medic, "d3", alert(AlertState::Firing)).await;
    root_reads(&medic, "seen 3×").await;

    // A resolve edits the root and adds one line.
    deliver(&medic, "d4", alert(AlertState::Resolved)).await;
    let root = root_reads(&medic, "resolved").await;
    assert!(root.starts_with("✅"), "{root}");
    replies_with(&medic, "✅ Resolved at").await;

    // Firing again soon after reopens the same thread.
    deliver(&medic, "d5", alert(AlertState::Firing)).await;
    replies_with(&medic, "🔁 Firing again").await;
    root_reads(&medic, "seen 4×").await;

    let roots = medic
        .slack
        .posts_in(ALERTS)
        .into_iter()
        .filter(|p| p.thread_ts().is_none())
        .count();
    assert_eq!(roots, 1, "one thread for the whole incident");
    let rate_limited = medic.slack.rate_limited();
    assert_eq!(rate_limited, 0, "paced, not throttled");
    assert_eq!(medic.state.store.incidents().await.unwrap().len(), 1);
    medic.stop().await.unwrap();
}

/// A storm: more new incidents in one channel than Slack's pace lets
/// through one root each. They arrive as digest messages, every incident a
/// line, their updates in the digest's thread, no 429 from Slack.
#[tokio::test]
async fn a_storm_of_new_incidents_becomes_digests_not_a_queue_of_roots() {
    const N: usize = 30;
    let medic = spawn_medic(Options {
        extra: format!(
            "[[routes]]\nmatch = {{ source = \"sentry\" }}\nslack_channel = \"{ALERTS}\"\n\n\
             [incidents]\ndigest_after = 5\n"
        ),
        ..Default::default()
    })
    .await;
    let storm = |i: usize, state| {
        let mut a = alert(state);
        a.fingerprint = format!("storm-{i}");
        a.title = format!("TimeoutError: upstream {i} timed out");
        a.details.clear();
        a
    };
    for i in 0..N {
        deliver(&medic, &format!("s{i}"), storm(i, AlertState::Firing)).await;
    }

    // Every incident is visible in a root message or a digest line.
    let titles: Vec<String> = (0..N).map(|i| format!("upstream {i} timed out")).collect();
    let needles: Vec<&str> = titles.iter().map(String::as_str).collect();
    let roots = medic
        .slack
        .wait_for_roots(ALERTS, &needles, Duration::from_secs(30))
        .await;
    let digests: Vec<&String> = roots
        .iter()
        .filter(|r| r.contains("new incidents at once"))
        .collect();
    assert!(!digests.is_empty(), "{roots:#?}");
    assert!(
        roots.len() <= 6,
        "{} top-level messages for {N} incidents: {roots:#?}",
        roots.len()
    );

    // A resolve of an incident in a digest edits its line and notes it in
    // the digest's thread, headed by the incident.
    let in_digest = (0..N)
        .rev()
        .find(|i| {
            digests
                .iter()
                .any(|d| d.contains(&format!("upstream {i} timed out")))
        })
        .expect("an incident in a digest");
    deliver(&medic, "r1", storm(in_digest, AlertState::Resolved)).await;
    let note = replies_with(&medic, "✅ Resolved at").await;
    assert_eq!(note, 1);
    medic
        .slack
        .wait_for_roots(ALERTS, &["1 resolved since"], Duration::from_secs(20))
        .await;
    let note = medic
        .slack
        .posts_in(ALERTS)
        .into_iter()
        .find(|p| p.all_text().contains("✅ Resolved at"))
        .unwrap();
    assert!(
        note.all_text()
            .contains(&format!("upstream {in_digest} timed out")),
        "the note names its incident: {}",
        note.all_text()
    );

    let incidents = medic.state.store.incidents().await.unwrap();
    assert_eq!(incidents.len(), N);
    assert!(
        incidents.iter().all(|i| i.root_ts.is_some()),
        "every incident has a thread"
    );
    let throttled = medic.slack.rate_limited();
    assert_eq!(throttled, 0, "paced, not throttled");
    medic.stop().await.unwrap();
}

/// Slack down for a while, then slower than medic's pace (429 with
/// Retry-After): every incident still ends in exactly one root, with its
/// note in its thread; nothing is dropped, nothing doubled.
#[tokio::test]
async fn the_outbox_waits_out_an_outage_and_429s_and_loses_nothing() {
    const N: usize = 4;
    // A channel that takes one message every 2 s: medic's 1/s pace meets
    // 429s and must honour Retry-After.
    let slack =
        medic_tests::FakeSlack::start_with_interval(medic_tests::BOT_TOKEN, Duration::from_secs(2))
            .await;
    slack.set_down(true);
    let medic = spawn_medic(Options {
        extra: format!(
            "[[routes]]\nmatch = {{}}\nslack_channel = \"{ALERTS}\"\n\n[incidents]\ndigest_after = 0\n"
        ),
        slack: Some(slack),
        ..Default::default()
    })
    .await;
    for i in 0..N {
        let mut a = alert(AlertState::Firing);
        a.fingerprint = format!("outage-{i}");
        a.title = format!("OutageProbe{i} fires");
        a.details = vec![format!("note for OutageProbe{i}")];
        deliver(&medic, &format!("o{i}"), a).await;
    }
    // Slack is down: calls fail with 503 and wait; nothing is lost. Two
    // refused calls: medic tried, and tried again, during the outage.
    let refused = |s: &medic_tests::FakeSlack| s.calls().iter().filter(|c| c.status == 503).count();
    medic
        .slack
        .wait_until("a retry during the outage", Duration::from_secs(10), |s| {
            refused(s) >= 2
        })
        .await;
    assert!(medic.slack.posts_in(ALERTS).is_empty());
    let failed = refused(&medic.slack);
    assert!(failed > 0, "medic tried during the outage");
    medic.slack.set_down(false);

    medic
        .slack
        .wait_until("every note in its thread", Duration::from_secs(60), |s| {
            let posts = s.posts_in(ALERTS);
            (0..N).all(|i| {
                posts.iter().any(|p| {
                    p.thread_ts().is_some()
                        && p.all_text().contains(&format!("note for OutageProbe{i}"))
                })
            })
        })
        .await;
    let posts = medic.slack.posts_in(ALERTS);
    for i in 0..N {
        let roots = posts
            .iter()
            .filter(|p| {
                p.thread_ts().is_none() && p.all_text().contains(&format!("OutageProbe{i} fires"))
            })
            .count();
        let notes = posts
            .iter()
            .filter(|p| p.all_text().contains(&format!("note for OutageProbe{i}")))
            .count();
        assert_eq!((roots, notes), (1, 1), "probe {i}: {posts:#?}");
    }
    let throttled = medic.slack.rate_limited();
    assert!(throttled > 0, "the slow channel answered 429 at least once");
    medic.stop().await.unwrap();
}

/// `medic incident list|show`, run as a command against the database of
/// a running medic: the open incident at its severity level, with where
/// its thread is.
#[tokio::test]
async fn the_command_line_lists_and_shows_incidents() {
    let medic = spawn_medic(Options {
        extra: format!(
            "[[routes]]\nmatch = {{ source = \"sentry\" }}\nslack_channel = \"{ALERTS}\"\n"
        ),
        ..Default::default()
    })
    .await;
    deliver(&medic, "d1", alert(AlertState::Firing)).await;
    root_reads(&medic, "P2").await;
    medic.idle().await;

    let run = |args: &[&str]| {
        let args: Vec<&str> = ["incident"].iter().chain(args).copied().collect();
        super::child::cli_on(medic.db.url(), &args)
    };
    let (code, text, _) = run(&["list"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.starts_with("Open (1):"), "{text}");
    assert!(text.contains("P2  open"), "{text}");
    assert!(text.contains("ConnectionError: Error 111"), "{text}");
    let id = medic.state.store.incidents().await.unwrap()[0]
        .id
        .to_string();
    let (code, text, _) = run(&["show", &id]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("P2 Medium: respond within 1 h"), "{text}");
    assert!(
        text.contains(&format!(
            "thread: slack {ALERTS} · https://slack.com/archives/{ALERTS}/p"
        )),
        "{text}"
    );
    assert!(text.contains("timeline:"), "{text}");
    assert!(
        text.contains("🚨 Alert from Sentry: ConnectionError"),
        "{text}"
    );

    // The postmortem draft, as Markdown for a wiki.
    let (code, text, _) = run(&["show", &id, "--markdown"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.starts_with(&format!("# Incident report: #{id} P2 ")),
        "{text}"
    );
    for heading in [
        "## Summary",
        "## Timeline",
        "## Root cause",
        "## Impact",
        "## Resolution",
        "## Action items",
    ] {
        assert!(text.contains(heading), "{heading} missing: {text}");
    }
    assert!(text.contains("**Time to resolve**: not resolved"), "{text}");
    assert!(text.contains("- `"), "timeline lines: {text}");
    assert_eq!(run(&["show", "999999"]).0, 64);
    medic.stop().await.unwrap();
}
