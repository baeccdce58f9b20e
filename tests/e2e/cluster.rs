//! Per-person limits and `/diag` coalescing across replicas, through the
//! real Redis (`[redis]`): what two replicas behind a load balancer decide
//! is what one medic would, and a Redis that is down leaves each replica
//! deciding alone rather than refusing commands.

use std::time::Duration;

use medic::cluster::{Cluster, Verdict};
use medic::coalesce::RunningKey;
use medic::settings::LimitSettings;
use medic_commands::diagnostics::SecretUrl;
use medic_commands::model::inbound::Platform;
use medic_tests::db::TestDb;
use medic_tests::fakes::slack::FakeSlack;
use medic_tests::services::{dead_port, redis_cmd};
use medic_tests::signing::{post_slash, slash_form};
use medic_tests::wait::eventually;
use medic_tests::{BOT_TOKEN, redis_target, require_redis};

use super::child::{Process, replica_dirs};

/// Six commands a minute, two at once: the third within ten seconds is
/// refused.
fn limits() -> LimitSettings {
    LimitSettings {
        commands_per_minute: 6,
        command_burst: 2,
        ..LimitSettings::default()
    }
}

/// Ids no other test (or an earlier run of this one) uses.
fn unique(what: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{what}{}x{now:x}x{n}", std::process::id())
}

#[tokio::test]
async fn two_replicas_share_each_persons_budget_and_each_channels_claim() {
    let redis = require_redis!();
    let url = SecretUrl::parse(&redis).unwrap();
    let (a, b) = (
        Cluster::new(&url, &limits()).unwrap(),
        Cluster::new(&url, &limits()).unwrap(),
    );

    // One person's budget, spent at two replicas.
    let alice = unique("UALICE");
    assert_eq!(
        a.admit(Platform::Slack, &alice, None).await,
        Some(Verdict::Admitted(None))
    );
    assert_eq!(
        b.admit(Platform::Slack, &alice, None).await,
        Some(Verdict::Admitted(None))
    );
    match a.admit(Platform::Slack, &alice, None).await {
        Some(Verdict::Limited(wait)) => assert!(
            wait > Duration::from_secs(5) && wait <= Duration::from_secs(10),
            "one command every 10 s: {wait:?}"
        ),
        other => panic!("a third command at once: {other:?}"),
    }
    // Another person, and the same id on Discord, have their own.
    let bob = unique("UBOB");
    assert_eq!(
        b.admit(Platform::Slack, &bob, None).await,
        Some(Verdict::Admitted(None))
    );
    assert_eq!(
        b.admit(Platform::Discord, &alice, None).await,
        Some(Verdict::Admitted(None))
    );

    // One channel's claim on a target: the second replica joins it.
    let channel = unique("C");
    let key = RunningKey::new(Platform::Slack, &channel, "redis");
    let Some(Verdict::Admitted(Some(mut claim))) =
        a.admit(Platform::Slack, &unique("U"), Some(&key)).await
    else {
        panic!("the first /diag claims the channel");
    };
    assert_eq!(
        b.admit(Platform::Slack, &unique("U"), Some(&key)).await,
        Some(Verdict::Running(None)),
        "claimed, not yet numbered"
    );
    a.recorded(&mut claim, 42).await;
    assert_eq!(
        b.admit(Platform::Slack, &unique("U"), Some(&key)).await,
        Some(Verdict::Running(Some(42)))
    );
    // Another target, or the same target in another channel, is free.
    let other = RunningKey::new(Platform::Slack, &channel, "postgres");
    assert!(matches!(
        b.admit(Platform::Slack, &unique("U"), Some(&other)).await,
        Some(Verdict::Admitted(Some(_)))
    ));
    // A person over budget does not claim.
    let elsewhere = RunningKey::new(Platform::Slack, &unique("C"), "redis");
    assert!(matches!(
        b.admit(Platform::Slack, &alice, Some(&elsewhere)).await,
        Some(Verdict::Limited(_))
    ));
    assert!(matches!(
        a.admit(Platform::Slack, &unique("U"), Some(&elsewhere))
            .await,
        Some(Verdict::Admitted(Some(_)))
    ));

    // Released once the report is in: the next /diag runs anew.
    a.release(&claim).await;
    let Some(Verdict::Admitted(Some(again))) =
        b.admit(Platform::Slack, &unique("U"), Some(&key)).await
    else {
        panic!("released");
    };
    // A stale release (the first claim, gone) leaves the new one alone.
    a.release(&claim).await;
    assert_eq!(
        a.admit(Platform::Slack, &unique("U"), Some(&key)).await,
        Some(Verdict::Running(None))
    );
    b.release(&again).await;
    assert!(matches!(
        redis_cmd(&redis, &["EXISTS", &key.redis_key()]).await,
        Ok(redis::Value::Int(0))
    ));
}

#[tokio::test]
async fn a_redis_that_is_down_leaves_each_replica_deciding_alone() {
    let url = SecretUrl::parse(&format!("redis://127.0.0.1:{}/", dead_port().await)).unwrap();
    // Starts without Redis: it connects when asked.
    let cluster = Cluster::new(&url, &limits()).unwrap();
    let key = RunningKey::new(Platform::Slack, "C1", "redis");
    assert_eq!(cluster.admit(Platform::Slack, "U1", Some(&key)).await, None);
    // And is not asked again for a while: still no verdict, at once.
    assert_eq!(cluster.admit(Platform::Slack, "U1", None).await, None);
}

/// A signed `/diag` to the replica on `port`; its ephemeral answer.
async fn slash(port: u16, slack: &FakeSlack, channel: &str, user: &str, text: &str) -> String {
    let body = slash_form(
        "/diag",
        text,
        channel,
        user,
        user,
        &slack.response_url("r1"),
    );
    let r = post_slash(&reqwest::Client::new(), port, body)
        .await
        .expect("medic answers");
    assert_eq!(r.status(), 200);
    let answer: serde_json::Value = r.json().await.unwrap();
    answer["text"]
        .as_str()
        .expect("an answer's text")
        .to_string()
}

#[tokio::test]
async fn two_replicas_coalesce_a_channels_diag_and_limit_a_person_as_one_medic() {
    let redis = require_redis!();
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let slack = FakeSlack::start(BOT_TOKEN).await;
    // `slow` never answers (each diagnosis takes its timeout); `fast` is
    // the real Redis.
    let silent = medic_tests::services::silent_listener().await;
    let targets = format!(
        "{}{}",
        redis_target("slow", &format!("redis://{silent}/")),
        redis_target("fast", &redis)
    );
    let rest = format!(
        "[redis]\nurl = \"{redis}\"\n\n\
         [limits]\ncommands_per_minute = 6\ncommand_burst = 2\n\n{targets}"
    );
    let (dirs, ports) = replica_dirs(2, db.url(), &slack, &rest).await;
    let mut replicas = Vec::new();
    for (run, dir) in dirs.iter().enumerate() {
        replicas.push(Process::start(dir.path(), ports[run], run).await);
    }

    // Alice's /diag at one replica; Bob's, in the same channel, at the
    // other: one report, and Bob is told which.
    let channel = unique("C0COAL");
    let first = slash(ports[0], &slack, &channel, &unique("UALICE"), "slow").await;
    assert!(first.contains("Running diagnostics"), "{first}");
    let number = first
        .rsplit("(#")
        .next()
        .and_then(|n| n.strip_suffix(')'))
        .expect("the run's number")
        .to_string();
    let joined = slash(ports[1], &slack, &channel, &unique("UBOB"), "slow").await;
    assert!(
        joined.contains("already running in this channel")
            && joined.contains(&format!("#{number}")),
        "{joined}"
    );
    // The same target in another channel is its own run.
    let elsewhere = slash(ports[1], &slack, &unique("C0ELSE"), &unique("UBOB"), "slow").await;
    assert!(elsewhere.contains("Running diagnostics"), "{elsewhere}");

    // Once the report is in, the channel's claim is given up: the next
    // /diag there, at either replica, runs anew.
    let key = RunningKey::new(Platform::Slack, &channel, "slow");
    slack
        .changes()
        .wait_for(
            "the report",
            Duration::from_secs(30),
            || {
                slack
                    .posts_in(&channel)
                    .iter()
                    .any(|p| p.thread_ts().is_none())
                    .then_some(())
            },
            || format!("replica 0's log:\n{}", replicas[0].log_text()),
        )
        .await;
    eventually("the claim released", Duration::from_secs(30), || async {
        match redis_cmd(&redis, &["EXISTS", &key.redis_key()]).await {
            Ok(redis::Value::Int(0)) => Ok(()),
            other => Err(format!("EXISTS: {other:?}")),
        }
    })
    .await;
    assert_eq!(
        slack
            .posts_in(&channel)
            .iter()
            .filter(|p| p.thread_ts().is_none())
            .count(),
        1,
        "Alice's and Bob's /diag made one report"
    );
    let again = slash(ports[1], &slack, &channel, &unique("UBOB"), "slow").await;
    assert!(again.contains("Running diagnostics"), "{again}");

    // Carol's budget (two at once) is spent across both replicas: each
    // replica alone has seen one command when she is refused.
    let carol = unique("UCAROL");
    for port in [ports[0], ports[1]] {
        let ok = slash(port, &slack, &unique("C0CAROL"), &carol, "fast").await;
        assert!(ok.contains("Running diagnostics"), "{ok}");
    }
    for port in [ports[0], ports[1]] {
        let refused = slash(port, &slack, &unique("C0CAROL"), &carol, "fast").await;
        assert!(
            refused.contains("You've run a lot of commands"),
            "{refused}"
        );
    }
    drop(replicas);
    db.drop_database().await;
}
