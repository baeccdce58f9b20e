//! The Slack Events API: the URL check, `@medic diag redis` answered in
//! the mention's thread, and Slack's retries of one event run once.

use std::time::Duration;

use medic_tests::{CHANNEL, TestMedic, now_unix, redis_target, require_redis, spawn_with_targets};
use serde_json::{Value, json};

fn mention(event_id: &str, ts: &str, text: &str) -> Value {
    json!({
        "token": "verification_token",
        "team_id": "T111",
        "api_app_id": "A0MEDIC",
        "event": {
            "client_msg_id": "9cbd4c5b-7ddf-4ede-b479-ad21fca66d63",
            "type": "app_mention",
            "text": text,
            "user": "U0ALICE",
            "ts": ts,
            "team": "T111",
            "channel": CHANNEL,
            "event_ts": ts
        },
        "type": "event_callback",
        "event_id": event_id,
        "event_time": now_unix(),
        "authed_users": ["U0MEDIC"]
    })
}

async fn post_event(medic: &TestMedic, body: &Value, retry: Option<u32>) -> (u16, String) {
    let body = serde_json::to_string(body).unwrap();
    let ts = now_unix();
    let sig =
        medic_tests::signing::slack_signature(medic_tests::SIGNING_SECRET, ts, body.as_bytes());
    let mut req = medic
        .http
        .post(medic.url("/slack/events"))
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sig)
        .body(body);
    if let Some(n) = retry {
        req = req
            .header("x-slack-retry-num", n.to_string())
            .header("x-slack-retry-reason", "http_timeout");
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn url_verification_echoes_the_challenge_and_unsigned_is_401() {
    let medic = spawn_with_targets(String::new()).await;
    let fixture: Value = serde_json::from_slice(
        &std::fs::read(format!(
            "{}/fixtures/slack/url_verification.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let (status, body) = post_event(&medic, &fixture, None).await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["challenge"], fixture["challenge"]);

    let (status, _) = medic
        .post_json("/slack/events", &[], serde_json::to_vec(&fixture).unwrap())
        .await;
    assert_eq!(status, 401);
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn a_mention_runs_diag_in_its_thread_once_despite_retries() {
    let redis = require_redis!();
    let medic = spawn_with_targets(redis_target("redis", &redis)).await;
    let ts = "1700000000.000100";
    medic.slack.user_says(CHANNEL, ts, "<@U0MEDIC> diag redis");
    let event = mention("Ev0MEDIC1", ts, "<@U0MEDIC> diag redis");

    assert_eq!(post_event(&medic, &event, None).await.0, 200);
    // Slack retries (it thought we were slow): acknowledged, not rerun.
    assert_eq!(post_event(&medic, &event, Some(1)).await.0, 200);
    assert_eq!(post_event(&medic, &event, Some(2)).await.0, 200);

    let posts = medic
        .slack
        .wait_for_posts(CHANNEL, 2, Duration::from_secs(20))
        .await;
    assert!(
        posts.iter().all(|p| p.thread_ts() == Some(ts)),
        "everything in the mention's thread: {posts:#?}"
    );
    let text: String = posts.iter().map(|p| p.all_text()).collect();
    assert!(text.contains("*redis*"), "{text}");
    assert!(text.contains("PING"), "{text}");
    // Each delivery is claimed (or dropped as a repeat) in a task of its
    // own; once none is running, a duplicate run would be on record.
    medic.idle().await;
    assert!(medic.state.store.run(1).await.unwrap().is_some());
    assert!(
        medic.state.store.run(2).await.unwrap().is_none(),
        "one run for three deliveries"
    );
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn a_mention_without_a_known_target_gets_help_in_its_thread() {
    let medic = spawn_with_targets(medic_tests::dead_redis_target("cache").await).await;
    let ts = "1700000000.000200";
    medic.slack.user_says(CHANNEL, ts, "<@U0MEDIC> diag nope");
    let event = mention("Ev0MEDIC2", ts, "<@U0MEDIC> diag nope");
    assert_eq!(post_event(&medic, &event, None).await.0, 200);
    let posts = medic
        .slack
        .wait_for_posts(CHANNEL, 1, Duration::from_secs(20))
        .await;
    assert_eq!(posts[0].thread_ts(), Some(ts));
    let text = posts[0].all_text();
    assert!(text.contains("I don't know the target `nope`"), "{text}");
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn a_mention_echoing_a_broadcast_pings_nobody() {
    let medic = spawn_with_targets(medic_tests::dead_redis_target("cache").await).await;
    let ts = "1700000000.000300";
    medic
        .slack
        .user_says(CHANNEL, ts, "<@U0MEDIC> diag <!channel>");
    let event = mention("Ev0MEDIC3", ts, "<@U0MEDIC> diag <!channel>");
    assert_eq!(post_event(&medic, &event, None).await.0, 200);
    let posts = medic
        .slack
        .wait_for_posts(CHANNEL, 1, Duration::from_secs(20))
        .await;
    // The answer quotes what was typed, escaped: shown, never a ping.
    let sent = posts[0].body.to_string();
    assert!(sent.contains("&lt;!channel&gt;"), "{sent}");
    assert!(!sent.contains("<!channel>"), "{sent}");
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn a_retry_that_reaches_another_replica_is_not_run_again() {
    let redis = require_redis!();
    let first = spawn_with_targets(redis_target("redis", &redis)).await;
    // A second medic on the same database and the same Slack workspace,
    // as behind a load balancer.
    let second = medic_tests::spawn_medic(medic_tests::Options {
        targets: redis_target("redis", &redis),
        slack: Some(first.slack.clone()),
        shared_database: Some(first.db.url().to_string()),
        ..Default::default()
    })
    .await;
    let ts = "1700000000.000300";
    first.slack.user_says(CHANNEL, ts, "<@U0MEDIC> diag redis");
    let event = mention("Ev0REPLICA", ts, "<@U0MEDIC> diag redis");

    assert_eq!(post_event(&first, &event, None).await.0, 200);
    // Slack thought the first answer was slow; its retry lands elsewhere.
    assert_eq!(post_event(&second, &event, Some(1)).await.0, 200);

    first
        .slack
        .wait_for_posts(CHANNEL, 2, Duration::from_secs(20))
        .await;
    // Once neither replica has a task running, a duplicate run would be
    // on record (both replicas write their runs into the one database).
    first.idle().await;
    second.idle().await;
    assert!(first.state.store.run(1).await.unwrap().is_some());
    assert!(
        first.state.store.run(2).await.unwrap().is_none(),
        "one run for the event and its retry on two replicas"
    );
    second.stop().await.unwrap();
    first.stop().await.unwrap();
}
