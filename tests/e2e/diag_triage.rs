//! `/diag`'s likely cause (#27 item 1): the same triage as an incident's
//! runbook, over a `/diag` report. A host `root` where unattended-upgrades
//! upgraded openssl and PostgreSQL restarted two minutes later answers with
//! that upgrade as the likely cause, first, with both lines as evidence; a
//! healthy real Redis answers with no "likely cause" at all.

use std::time::Duration;

use medic_tests::fakes::slack::Call;
use medic_tests::{CHANNEL, TestMedic, redis_target, require_redis, spawn_with_targets};
use time::OffsetDateTime;
use time::macros::format_description;

const LIMIT: Duration = Duration::from_secs(60);

/// A host filesystem under a temporary root, in Debian's formats: apt's
/// `history.log` block (local time; no `etc/localtime`, so UTC) for an
/// unattended openssl upgrade 5 minutes ago, and rsyslog's RFC 3339 lines
/// for PostgreSQL's unit stopping and starting 3 minutes ago.
fn upgraded_then_restarted() -> tempfile::TempDir {
    let now = OffsetDateTime::now_utc();
    let apt = format_description!("[year]-[month]-[day]  [hour]:[minute]:[second]");
    let rfc = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]+00:00"
    );
    let upgraded = now - time::Duration::minutes(5);
    let restarted = now - time::Duration::minutes(3);
    let history = format!(
        "Start-Date: {start}\n\
         Commandline: /usr/bin/unattended-upgrade\n\
         Upgrade: libssl3:amd64 (3.0.15-1~deb12u1, 3.0.16-1~deb12u1), openssl:amd64 (3.0.15-1~deb12u1, 3.0.16-1~deb12u1)\n\
         End-Date: {end}\n",
        start = upgraded.format(apt).unwrap(),
        end = (upgraded + time::Duration::seconds(8)).format(apt).unwrap(),
    );
    let stopped = restarted.format(rfc).unwrap();
    let started = (restarted + time::Duration::seconds(2))
        .format(rfc)
        .unwrap();
    let syslog = format!(
        "{stopped} db-1 systemd[1]: Stopping postgresql@15-main.service - PostgreSQL Cluster 15-main...\n\
         {stopped} db-1 systemd[1]: Stopped postgresql@15-main.service - PostgreSQL Cluster 15-main.\n\
         {started} db-1 systemd[1]: Started postgresql@15-main.service - PostgreSQL Cluster 15-main.\n"
    );
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in [
        ("var/log/apt/history.log", history),
        ("var/log/syslog", syslog),
    ] {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

/// The finished report in the channel: its root as it reads now, and its
/// thread's replies in order.
async fn report(medic: &TestMedic) -> (String, Vec<Call>) {
    let (root, posts) = medic.slack.wait_for_report(CHANNEL, LIMIT).await;
    let root_ts = posts
        .iter()
        .find(|c| c.thread_ts().is_none())
        .and_then(|c| c.ts.clone())
        .expect("a root message");
    let thread = posts
        .into_iter()
        .filter(|c| c.thread_ts() == Some(root_ts.as_str()))
        .collect();
    (root, thread)
}

#[tokio::test]
async fn diag_host_after_an_openssl_upgrade_and_a_postgres_restart_leads_with_that_upgrade() {
    let root = upgraded_then_restarted();
    let medic = spawn_with_targets(format!(
        "[targets.host]\nkind = \"host\"\nroot = \"{}\"\ntimeout = \"10s\"\n",
        root.path().display()
    ))
    .await;
    medic.slash("/diag", "host").await;
    let (root_text, thread) = report(&medic).await;

    // The root: how bad, then the likely cause instead of a finding.
    let second = root_text.lines().nth(1).unwrap_or_default().to_string();
    assert!(
        root_text.contains(
            "Likely cause: libssl3 and openssl upgraded on host, 2 min before the PostgreSQL restart"
        ),
        "{root_text}"
    );
    assert!(root_text.starts_with("🟠 *host*"), "{root_text}");
    assert!(second.starts_with("Likely cause: "), "{root_text}");

    // The thread: the likely cause is its first message (after the
    // findings only when they streamed in before the report was done),
    // with the upgrade and the restart as evidence.
    let streamed = medic
        .slack
        .posts_in(CHANNEL)
        .iter()
        .any(|c| c.thread_ts().is_none() && c.all_text().contains("checking…"));
    let at = thread
        .iter()
        .position(|c| c.all_text().contains("Likely cause"))
        .unwrap_or_else(|| panic!("no likely cause in the thread: {thread:#?}"));
    if !streamed {
        assert_eq!(at, 0, "the likely cause leads the thread");
    }
    let cause = thread[at].all_text();
    let first_line = cause
        .lines()
        .find(|l| l.contains("Likely cause"))
        .unwrap_or_default();
    assert!(
        first_line.contains("Likely cause (infrastructure):* libssl3 and openssl upgraded on host, 2 min before the PostgreSQL restart"),
        "{cause}"
    );
    assert!(
        cause.contains("Upgrade: openssl:amd64 (3.0.15-1~deb12u1, 3.0.16-1~deb12u1)"),
        "the upgrade is evidence: {cause}"
    );
    assert!(
        cause.contains("Commandline: /usr/bin/unattended-upgrade"),
        "{cause}"
    );
    assert!(
        cause.contains("PostgreSQL restarted on host: ")
            && cause.contains("Stopped postgresql@15-main.service"),
        "the restart is evidence: {cause}"
    );
    // Only one likely-cause message, and no "none found" anywhere.
    let all: Vec<String> = medic
        .slack
        .posts_in(CHANNEL)
        .iter()
        .map(Call::all_text)
        .collect();
    assert_eq!(
        all.iter().filter(|t| t.contains("🧭")).count(),
        1,
        "{all:#?}"
    );
    assert!(all.iter().all(|t| !t.contains("none found")), "{all:#?}");
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn diag_redis_on_a_healthy_redis_says_nothing_of_a_likely_cause() {
    let redis = require_redis!();
    let medic = spawn_with_targets(redis_target("redis", &redis)).await;
    medic.slash("/diag", "redis").await;
    let (root_text, thread) = report(&medic).await;
    assert!(root_text.contains("*redis*"), "{root_text}");
    let details: Vec<String> = thread.iter().map(Call::all_text).collect();
    assert!(
        details.iter().any(|t| t.contains("PING answered in")),
        "{details:#?}"
    );
    let everything = format!("{root_text}\n{}", details.join("\n"));
    assert!(
        !everything.to_lowercase().contains("likely cause"),
        "{everything}"
    );
    medic.stop().await.unwrap();
}
