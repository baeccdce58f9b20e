//! Getting a report into Slack whatever Slack does: rate limits, outages,
//! channels medic was not invited to, and a shutdown in the middle.

use std::time::Duration;

use medic_tests::services::silent_listener;
use medic_tests::{
    BOT_TOKEN, CHANNEL, FakeSlack, Options, dead_redis_target, redis_target, spawn_medic,
    spawn_with_targets,
};

#[tokio::test]
async fn a_429_is_waited_out_and_the_thread_still_arrives() {
    // A Slack stricter than medic's pacing: 3 s per channel.
    let slack = FakeSlack::start_with_interval(BOT_TOKEN, Duration::from_secs(3)).await;
    let medic = spawn_medic(Options {
        targets: dead_redis_target("cache").await,
        slack: Some(slack),
        ..Default::default()
    })
    .await;
    medic.slash("/diag", "cache").await;
    let posts = medic
        .slack
        .wait_for_posts(CHANNEL, 2, Duration::from_secs(15))
        .await;
    let limited: Vec<_> = medic
        .slack
        .calls()
        .into_iter()
        .filter(|c| c.status == 429)
        .collect();
    assert!(!limited.is_empty(), "the fake must have pushed back");
    let gap = posts[1].at.duration_since(posts[0].at);
    assert!(
        gap >= Duration::from_secs(3),
        "medic waited for Retry-After (gap {gap:?})"
    );
    let metrics = medic.get("/metrics").await.1;
    assert!(
        metrics.contains(r#"medic_chat_posts_total{platform="slack",outcome="rate_limited"}"#),
        "{metrics}"
    );
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn pacing_keeps_medic_under_slacks_limit() {
    let medic = spawn_with_targets(dead_redis_target("cache").await).await;
    medic.slash("/diag", "cache").await;
    medic
        .slack
        .wait_for_posts(CHANNEL, 2, Duration::from_secs(10))
        .await;
    let limited = medic
        .slack
        .calls()
        .into_iter()
        .filter(|c| c.status == 429)
        .count();
    assert_eq!(
        limited, 0,
        "at one message per second per channel, Slack never has to say 429"
    );
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn a_slack_outage_delays_the_report_but_does_not_lose_it() {
    let medic = spawn_with_targets(dead_redis_target("cache").await).await;
    medic.slack.set_down(true);
    medic.slash("/diag", "cache").await;
    // Two refused calls: medic tried, and tried again, while Slack was
    // down.
    medic
        .slack
        .wait_until("a retry during the outage", Duration::from_secs(10), |s| {
            s.calls().len() >= 2
        })
        .await;
    assert!(medic.slack.posts_in(CHANNEL).is_empty());
    let failures = medic.slack.calls().len();
    assert!(
        failures >= 2,
        "medic kept trying during the outage ({failures} calls)"
    );
    medic.slack.set_down(false);
    let posts = medic
        .slack
        .wait_for_posts(CHANNEL, 2, Duration::from_secs(15))
        .await;
    assert!(posts[0].all_text().contains("cache"));
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn a_channel_medic_is_not_in_gets_the_report_privately() {
    let medic = spawn_with_targets(dead_redis_target("cache").await).await;
    medic.slack.remove_bot_from(CHANNEL);
    medic.slash("/diag", "cache").await;
    let private = medic
        .slack
        .wait_for(Duration::from_secs(10), |c| c.method == "response_url")
        .await;
    assert_eq!(private.body["response_type"], "ephemeral");
    assert_eq!(
        private.authorization, None,
        "response_url calls carry no token"
    );
    let text = private.all_text();
    assert!(text.contains("invite me with `/invite @medic`"), "{text}");
    assert!(
        text.contains("Connection refused"),
        "the report itself is there: {text}"
    );
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_waits_for_a_running_diagnostic_to_reach_chat() {
    let hung = silent_listener().await;
    let medic = spawn_with_targets(redis_target("cache", &format!("redis://{hung}"))).await;
    medic.slash("/diag", "cache").await;
    let slack = medic.slack.clone();
    // Stop at once, while the diagnostic is still waiting on the hung server.
    medic.stop().await.unwrap();
    let posts = slack.posts_in(CHANNEL);
    assert_eq!(
        posts.len(),
        2,
        "root and thread were delivered before medic exited"
    );
    let root = slack.root_now(CHANNEL).unwrap();
    assert!(root.contains("critical"), "the root was edited: {root}");
}
