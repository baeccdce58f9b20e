//! Several targets at once (`/diag all`, `/diag KIND`), and results that
//! stream into the thread while a slow check is still running.

use std::time::Duration;

use medic_tests::services::silent_listener;
use medic_tests::{
    CHANNEL, dead_redis_target, ephemeral_text, redis_target, require_redis, spawn_with_targets,
};

#[tokio::test]
async fn a_slow_target_streams_results_and_the_root_gets_the_final_status() {
    let redis = require_redis!();
    let hung = silent_listener().await;
    let targets = format!(
        "{}{}",
        redis_target("cache", &redis),
        redis_target("queue", &format!("redis://{hung}"))
    );
    let medic = spawn_with_targets(targets).await;

    let ack = ephemeral_text(medic.slash("/diag", "all").await).await;
    assert!(
        ack.starts_with("Running diagnostics for *all* (2 targets: cache, queue)"),
        "{ack}"
    );

    let (root, posts) = medic
        .slack
        .wait_for_report(CHANNEL, Duration::from_secs(20))
        .await;
    // The root went out while `queue` was still silent, saying so…
    let first = posts[0].all_text();
    assert!(first.contains("checking…"), "{first}");
    assert!(first.contains("2 targets"), "{first}");
    // …then `cache`'s results came into the thread before `queue` timed
    // out, and `queue`'s after.
    let replies: Vec<String> = posts[1..].iter().map(|p| p.all_text()).collect();
    assert!(replies.len() >= 2, "{replies:#?}");
    assert!(
        replies[0].contains("*cache*") && replies[0].contains("PING answered"),
        "{replies:#?}"
    );
    assert!(!replies[0].contains("*queue*"), "{replies:#?}");
    let later = replies[1..].join("\n");
    assert!(
        later.contains("*queue*") && later.contains("did not answer"),
        "{replies:#?}"
    );
    for reply in &posts[1..] {
        assert_eq!(reply.thread_ts(), posts[0].ts.as_deref());
    }
    // The root now carries the outcome of the whole request, worst target
    // first. (The test Redis may itself warn, e.g. of a recent restart, so
    // the count is 1 or 2 of 2.)
    assert!(root.contains("*all* — critical · "), "{root}");
    assert!(root.contains(" of 2 targets with problems"), "{root}");
    assert!(root.contains("\nqueue: Redis at"), "{root}");
    assert_eq!(medic.slack.updates_in(CHANNEL).len(), 1, "one edit");
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn a_kind_selects_every_target_of_that_kind() {
    let redis = require_redis!();
    let targets = format!(
        "{}{}[targets.box]\nkind = \"host\"\n",
        redis_target("cache", &redis),
        dead_redis_target("sessions").await,
    );
    let medic = spawn_with_targets(targets).await;

    let ack = ephemeral_text(medic.slash("/diag", "redis").await).await;
    assert!(
        ack.contains("(2 targets: cache, sessions)"),
        "the host target is not a redis: {ack}"
    );
    // Both answer quickly, so the root is final from the start and the
    // thread holds each target under its name, the troubled one first.
    let posts = medic
        .slack
        .wait_for_posts(CHANNEL, 2, Duration::from_secs(10))
        .await;
    let root = posts[0].all_text();
    assert!(root.contains("*redis* — critical · "), "{root}");
    assert!(root.contains(" of 2 targets with problems"), "{root}");
    assert!(root.contains("\nsessions: Connection refused"), "{root}");
    let thread = posts[1].all_text();
    let sessions = thread.find("*sessions*").expect("sessions in thread");
    let cache = thread.find("*cache*").expect("cache in thread");
    assert!(sessions < cache, "troubled first: {thread}");
    assert!(
        medic.slack.updates_in(CHANNEL).is_empty(),
        "nothing to edit"
    );

    // A name still wins over a kind.
    let ack = ephemeral_text(medic.slash_in("C0OTHER", "/diag", "cache").await).await;
    assert!(
        ack.starts_with("Running diagnostics for *cache* (127.0.0.1"),
        "{ack}"
    );
    medic.stop().await.unwrap();
}
