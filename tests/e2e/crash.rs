//! SIGKILL at any point loses nothing and posts nothing twice.
//!
//! A real `medic serve` process takes Alertmanager deliveries while it
//! stores them, opens incidents and posts their roots at Slack's pace, and
//! is killed with SIGKILL (no shutdown of any kind) three times: in the
//! middle of intake, in the middle of posting, and again while posting.
//! Each time it is started again on the same database, and — as a vendor
//! does — every delivery that got no 2xx is sent again, along with a few
//! that did (redeliveries). In the end every alert has exactly one root
//! message in Slack.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::FutureExt;
use medic::storage::Store;
use medic_commands::diagnostics::SecretUrl;
use medic_tests::db::TestDb;
use medic_tests::fakes::slack::FakeSlack;
use medic_tests::services::dead_port;
use medic_tests::wait::eventually;
use medic_tests::{BOT_TOKEN, SIGNING_SECRET, store_idle};
use tokio::task::JoinSet;

use super::child::Process;

pub(crate) const TOKEN: &str = "am-crash-t0ken";
pub(crate) const CHANNEL: &str = "C0CRASH";
/// Alerts, one delivery (one Alertmanager group) each.
const ALERTS: usize = 16;

/// The probe word in alert `i`'s title.
pub(crate) fn probe(i: usize) -> String {
    format!("CrashProbe{i:02}")
}

/// An Alertmanager v4 notification for alert `i`, alone in its group.
pub(crate) fn payload(i: usize) -> String {
    firing(&probe(i), "crash", i as u64 + 1)
}

/// An Alertmanager v4 notification of one firing alert named `name`,
/// alone in its group, labelled with `team` (what routes can match).
pub(crate) fn firing(name: &str, team: &str, fingerprint: u64) -> String {
    serde_json::json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{name}\"}}"),
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "medic",
        "groupLabels": { "alertname": name },
        "commonLabels": { "alertname": name, "severity": "critical", "team": team },
        "commonAnnotations": { "summary": format!("{name} fires") },
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{
            "status": "firing",
            "labels": { "alertname": name, "severity": "critical", "team": team, "instance": "db-1:9100" },
            "annotations": { "summary": format!("{name} fires") },
            "startsAt": "2026-11-29T20:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example:9090/graph",
            "fingerprint": format!("{fingerprint:016x}"),
        }],
    })
    .to_string()
}

/// Sends deliveries `which` at once; returns those answered with a 2xx
/// (the ones the "vendor" stops retrying).
pub(crate) fn send_all(port: u16, which: Vec<usize>) -> JoinSet<(usize, bool)> {
    let http = reqwest::Client::new();
    let mut set = JoinSet::new();
    for i in which {
        let http = http.clone();
        set.spawn(async move {
            let ok = http
                .post(format!("http://127.0.0.1:{port}/webhooks/alertmanager"))
                .bearer_auth(TOKEN)
                .header("content-type", "application/json")
                .body(payload(i))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            (i, ok)
        });
    }
    set
}

/// Root posts whose text names alert `i`.
pub(crate) fn roots_naming(slack: &FakeSlack, i: usize) -> usize {
    slack
        .posts_in(CHANNEL)
        .iter()
        .filter(|p| p.thread_ts().is_none() && p.all_text().contains(&probe(i)))
        .count()
}

#[tokio::test]
async fn sigkill_at_any_point_loses_nothing_and_posts_nothing_twice() {
    let slack = FakeSlack::start(BOT_TOKEN).await;
    // Each post is in the channel 300 ms before medic hears its ts, so a
    // kill right after a post lands leaves it unrecorded: the restart must
    // find it in Slack instead of posting it again.
    slack.set_answer_delay(Duration::from_millis(300));
    let db = TestDb::fresh().await;
    let dir = tempfile::tempdir().unwrap();
    let port = dead_port().await;
    std::fs::write(
        dir.path().join("medic.toml"),
        format!(
            "[server]\nbind = \"127.0.0.1:{port}\"\n\n[database]\nurl = \"{db}\"\n\n\
             [slack]\nsigning_secret = \"{SIGNING_SECRET}\"\nbot_token = \"{BOT_TOKEN}\"\napi_url = \"{api}\"\n\n\
             [alertmanager]\ntoken = \"{TOKEN}\"\n\n\
             [[routes]]\nmatch = {{}}\nslack_channel = \"{CHANNEL}\"\n\n\
             [incidents]\ndigest_after = 0\n",
            db = db.url(),
            api = slack.api_url(),
        ),
    )
    .unwrap();

    let mut acked: BTreeSet<usize> = BTreeSet::new();
    // When each run is killed: once a third of the deliveries are
    // acknowledged (intake and incident work in progress), then twice
    // just as another root lands in Slack (landed, not yet recorded).
    let kill_when = [(ALERTS / 3, 0usize), (0, ALERTS / 4), (0, ALERTS / 2)];
    for (run, (after_acks, after_roots)) in kill_when.into_iter().enumerate() {
        let mut medic = Process::start(dir.path(), port, run).await;
        let missing: Vec<usize> = (0..ALERTS).filter(|i| !acked.contains(i)).collect();
        let mut sending = send_all(port, missing);
        let acked_before = acked.len();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        // Looked at again whenever a delivery is answered or Slack records
        // a call: the kill comes right after the point is reached.
        let mut slack_changed = slack.changes().subscribe();
        loop {
            slack_changed.borrow_and_update();
            while let Some(Some(Ok((i, ok)))) = sending.join_next().now_or_never() {
                if ok {
                    acked.insert(i);
                }
            }
            let roots = slack
                .posts_in(CHANNEL)
                .iter()
                .filter(|p| p.thread_ts().is_none())
                .count();
            if acked.len() - acked_before >= after_acks && roots >= after_roots {
                break;
            }
            tokio::select! {
                Some(Ok((i, ok))) = sending.join_next() => {
                    if ok {
                        acked.insert(i);
                    }
                }
                _ = slack_changed.changed() => {}
                () = tokio::time::sleep_until(deadline) => panic!(
                    "run {run}: never reached the kill point within 60 s: {}",
                    medic.log_text()
                ),
            }
        }
        medic.kill();
        while let Some(Ok((i, ok))) = sending.join_next().await {
            if ok {
                acked.insert(i);
            }
        }
    }

    // The last run: everything unacknowledged again, plus redeliveries of
    // a few that were acknowledged.
    let medic = Process::start(dir.path(), port, 9).await;
    let mut again: Vec<usize> = (0..ALERTS).filter(|i| !acked.contains(i)).collect();
    again.extend(acked.iter().take(4));
    let mut sending = send_all(port, again);
    while let Some(Ok((i, ok))) = sending.join_next().await {
        assert!(
            ok,
            "delivery {i} refused by a healthy medic: {}",
            medic.log_text()
        );
    }
    let unposted = || -> Vec<usize> {
        (0..ALERTS)
            .filter(|&i| roots_naming(&slack, i) == 0)
            .collect()
    };
    slack
        .changes()
        .wait_for(
            "every alert posted",
            Duration::from_secs(90),
            || unposted().is_empty().then_some(()),
            || format!("never posted: {:?}\n{}", unposted(), medic.log_text()),
        )
        .await;
    // A duplicate would come from a call still queued or in flight: once
    // medic's database holds none, every post it was going to make is in
    // the fake's record.
    let store = Store::connect(&SecretUrl::parse(db.url()).unwrap())
        .await
        .expect("open medic's database");
    eventually("medic idle", Duration::from_secs(60), || store_idle(&store)).await;
    store.close().await;
    let twice: Vec<(usize, usize)> = (0..ALERTS)
        .map(|i| (i, roots_naming(&slack, i)))
        .filter(|&(_, n)| n != 1)
        .collect();
    assert!(twice.is_empty(), "alerts posted more than once: {twice:?}");
    drop(medic);
    db.drop_database().await;
}
