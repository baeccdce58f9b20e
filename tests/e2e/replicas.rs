//! Two `medic serve` processes on one PostgreSQL database, as behind a
//! load balancer: each duty (the incident worker, the outbox, reminders,
//! handoffs, housekeeping) is held by one of them, and when its holder is
//! killed with SIGKILL the other takes it over and posts what arrives.

use std::time::{Duration, Instant};

use medic_tests::BOT_TOKEN;
use medic_tests::db::TestDb;
use medic_tests::fakes::slack::FakeSlack;
use medic_tests::wait::eventually;

use super::child::{Process, replica_dirs};
use super::crash::{CHANNEL, TOKEN, roots_naming, send_all};

/// The alerts (as numbered in [`super::crash`]): one before the kill,
/// one after.
const FIRST: usize = 1;
const SECOND: usize = 2;

/// The duties with work here (no rotation is configured: nobody holds
/// `handoffs`, whose work ends at once).
const DUTIES: [&str; 4] = ["housekeeping", "incidents", "outbox", "reminders"];
const LIMIT: Duration = Duration::from_secs(30);

/// Sends alert `i` to the replica on `port`; it must be taken (2xx).
async fn send(port: u16, i: usize) {
    let (_, ok) = send_all(port, vec![i]).join_next().await.unwrap().unwrap();
    assert!(ok, "alert {i} refused");
}

/// The duties a replica says it holds (`/readyz`).
pub(crate) async fn duties(port: u16) -> Vec<String> {
    let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await else {
        return Vec::new();
    };
    r.text()
        .await
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("duty: ").map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_killed_replicas_duties_are_taken_over_by_the_other() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let slack = FakeSlack::start(BOT_TOKEN).await;
    let rest = format!(
        "[alertmanager]\ntoken = \"{TOKEN}\"\n\n[[routes]]\nmatch = {{}}\nslack_channel = \"{CHANNEL}\"\n"
    );
    let (dirs, ports) = replica_dirs(2, db.url(), &slack, &rest).await;
    let mut replicas = Vec::new();
    for (run, dir) in dirs.iter().enumerate() {
        replicas.push(Some(Process::start(dir.path(), ports[run], run).await));
    }

    // Each duty held by exactly one of the two.
    let held = || async {
        let (a, b) = (duties(ports[0]).await, duties(ports[1]).await);
        let mut all: Vec<String> = a.iter().chain(&b).cloned().collect();
        all.sort();
        (a, b, all)
    };
    eventually("every duty held once", LIMIT, || async {
        let (a, b, all) = held().await;
        if all == DUTIES {
            Ok(())
        } else {
            Err(format!("replica 0 holds {a:?}, replica 1 {b:?}"))
        }
    })
    .await;
    let (a, _, _) = held().await;
    let holder = usize::from(!a.contains(&"outbox".to_string()));
    let other = 1 - holder;

    // An alert sent to the replica without the outbox: the holder posts it.
    send(ports[other], FIRST).await;
    slack
        .changes()
        .wait_for(
            "the first root",
            LIMIT,
            || (roots_naming(&slack, FIRST) == 1).then_some(()),
            || "never posted".to_string(),
        )
        .await;

    // SIGKILL the outbox's holder; an alert right after, to the other.
    replicas[holder].take().unwrap().kill();
    let killed = Instant::now();
    send(ports[other], SECOND).await;
    let survivor = replicas[other].as_ref().unwrap();
    slack
        .changes()
        .wait_for(
            "the second root, posted by the survivor",
            LIMIT,
            || (roots_naming(&slack, SECOND) == 1).then_some(()),
            || format!("never posted; the survivor's log:\n{}", survivor.log_text()),
        )
        .await;
    eprintln!(
        "the survivor posted the alert sent after the kill {} ms after it",
        killed.elapsed().as_millis()
    );
    eventually("every duty on the survivor", LIMIT, || async {
        let mut mine = duties(ports[other]).await;
        mine.sort();
        if mine == DUTIES {
            Ok(())
        } else {
            Err(format!("the survivor holds {mine:?}"))
        }
    })
    .await;
    assert_eq!(roots_naming(&slack, FIRST), 1, "not posted again");
    assert_eq!(roots_naming(&slack, SECOND), 1);
    drop(replicas);
    db.drop_database().await;
}

/// `/diag` accepted by a replica that is then killed mid-run is run again
/// and answered by the other, once; the other's own `/diag`, running at
/// the same time, is not run a second time.
#[tokio::test]
async fn a_diag_on_a_killed_replica_is_answered_once_by_the_other() {
    use medic_commands::diagnostics::SecretUrl;
    use medic_tests::signing::{post_slash, slash_form};
    use medic_tests::{redis_target, store_idle};

    const DIAGS: &str = "C0REPLICADIAG";
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let slack = FakeSlack::start(BOT_TOKEN).await;
    // Redis targets that never answer: each diagnosis takes its timeout.
    let silent = medic_tests::services::silent_listener().await;
    let targets = format!(
        "{}{}",
        redis_target("slowa", &format!("redis://{silent}/")),
        redis_target("slowb", &format!("redis://{silent}/"))
    );
    let (dirs, ports) = replica_dirs(2, db.url(), &slack, &targets).await;
    let mut replicas = Vec::new();
    for (run, dir) in dirs.iter().enumerate() {
        replicas.push(Some(Process::start(dir.path(), ports[run], run).await));
    }
    let diag = |port: u16, target: &'static str| {
        let body = slash_form(
            "/diag",
            target,
            DIAGS,
            "U0ALICE",
            "alice",
            &slack.response_url("r1"),
        );
        async move {
            let r = post_slash(&reqwest::Client::new(), port, body)
                .await
                .expect("medic answers");
            assert_eq!(r.status(), 200);
            let text = r.text().await.unwrap();
            assert!(text.contains("Running diagnostics"), "{text}");
        }
    };
    diag(ports[0], "slowa").await;
    diag(ports[1], "slowb").await;
    // Replica 0 dies while its diagnosis runs.
    replicas[0].take().unwrap().kill();

    let roots = |target: &str| {
        slack
            .posts_in(DIAGS)
            .iter()
            .filter(|p| p.thread_ts().is_none() && p.all_text().contains(target))
            .count()
    };
    let survivor = replicas[1].as_ref().unwrap();
    slack
        .changes()
        .wait_for(
            "both reports",
            Duration::from_secs(60),
            || (roots("slowa") >= 1 && roots("slowb") >= 1).then_some(()),
            || format!("the survivor's log:\n{}", survivor.log_text()),
        )
        .await;
    let store = medic::storage::Store::connect(&SecretUrl::parse(db.url()).unwrap())
        .await
        .expect("open medic's database");
    eventually("medic idle", LIMIT, || store_idle(&store)).await;
    store.close().await;
    assert_eq!(roots("slowa"), 1, "the killed replica's /diag, once");
    assert_eq!(roots("slowb"), 1, "the survivor's own /diag, once");
    drop(replicas);
    db.drop_database().await;
}
