//! `/diag` from Slack: verified, acknowledged at once, answered in a thread
//! with a report from a real Redis.

use std::time::{Duration, Instant};

use std::sync::atomic::Ordering;

use medic_tests::services::{
    counting_silent_listener, dead_port, redis_url_with_password, silent_listener,
};
use medic_tests::wait::eventually;
use medic_tests::{
    CHANNEL, Options, dead_redis_target, ephemeral_text, now_unix, redis_target, require_redis,
    spawn_medic, spawn_with_targets,
};

#[tokio::test]
async fn diag_redis_acks_at_once_then_posts_a_root_message_and_a_threaded_report() {
    let redis = require_redis!();
    let medic = spawn_with_targets(redis_target("redis", &redis)).await;

    let started = Instant::now();
    let response = medic.slash("/diag", "redis").await;
    let acked_in = started.elapsed();
    let ack = ephemeral_text(response).await;
    assert!(ack.starts_with("Running diagnostics for *redis*"), "{ack}");
    assert!(
        acked_in < Duration::from_secs(3),
        "Slack drops answers after 3 s; took {acked_in:?}"
    );

    let posts = medic
        .slack
        .wait_for_posts(CHANNEL, 2, Duration::from_secs(10))
        .await;
    let root = &posts[0];
    assert_eq!(
        root.thread_ts(),
        None,
        "the root message goes into the channel"
    );
    assert_eq!(
        root.authorization.as_deref(),
        Some("Bearer xoxb-test-0000-medic")
    );
    let root_text = root.all_text();
    assert!(root_text.contains("*redis*"), "{root_text}");
    assert!(
        root_text.contains("/diag redis by <@U0ALICE>"),
        "{root_text}"
    );

    let thread = &posts[1];
    let run = medic
        .state
        .store
        .run(1)
        .await
        .unwrap()
        .expect("run #1 recorded");
    assert_eq!(
        thread.thread_ts(),
        run.root_ts.as_deref(),
        "details go into the root's thread"
    );
    let details = thread.all_text();
    assert!(details.contains("PING answered in"), "{details}");
    assert!(details.contains("Redis 7"), "{details}");
    assert!(details.contains("Clients "), "{details}");

    // The run is on record, delivered.
    assert_eq!(run.target, "redis");
    assert_eq!(run.channel, CHANNEL);
    eventually(
        "run #1 recorded without an error",
        Duration::from_secs(5),
        || async {
            match medic.state.store.run(1).await.unwrap().unwrap().error {
                None => Ok(()),
                Some(error) => Err(error),
            }
        },
    )
    .await;
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn bad_signature_and_stale_timestamp_are_401_and_nothing_runs() {
    let medic = spawn_medic(Options::default()).await;
    let body =
        medic_tests::signing::slash_form("/diag", "redis", CHANNEL, "U1", "mallory", "http://x/");

    // Signed with another secret.
    let ts = now_unix();
    let forged = medic_tests::signing::slack_signature("not-the-secret", ts, body.as_bytes());
    let r = medic
        .post_raw(
            "/slack/commands",
            body.clone().into_bytes(),
            Some(ts.to_string()),
            Some(forged),
        )
        .await;
    assert_eq!(r.status(), 401);

    // Correctly signed, but ten minutes old: a replay.
    let r = medic
        .post_signed("/slack/commands", &body, now_unix() - 600)
        .await;
    assert_eq!(r.status(), 401);

    // No signature at all.
    let r = medic
        .post_raw("/slack/commands", body.into_bytes(), None, None)
        .await;
    assert_eq!(r.status(), 401);

    // A refused request starts nothing: were anything started, medic
    // would not be idle until it had posted.
    medic.idle().await;
    assert!(medic.slack.calls().is_empty(), "nothing may reach Slack");
    assert!(
        medic.state.store.run(1).await.unwrap().is_none(),
        "nothing may be recorded"
    );
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn a_stopped_redis_is_reported_unreachable() {
    let port = dead_port().await;
    let medic =
        spawn_with_targets(redis_target("cache", &format!("redis://127.0.0.1:{port}"))).await;
    ephemeral_text(medic.slash("/diag", "cache").await).await;
    let posts = medic
        .slack
        .wait_for_posts(CHANNEL, 2, Duration::from_secs(10))
        .await;
    let root = posts[0].all_text();
    assert!(
        root.contains("🔴 *cache*") && root.contains("— critical"),
        "{root}"
    );
    assert!(
        root.contains(&format!("Connection refused by 127.0.0.1:{port}")),
        "{root}"
    );
    let details = posts[1].all_text();
    assert!(details.contains("is redis-server running?"), "{details}");
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn a_password_in_the_target_url_reaches_no_chat_message() {
    let redis = require_redis!();
    let secret = "s3cret-Pa55word";
    let good = redis_url_with_password(&redis, "medic-e2e", secret).await;
    let port = dead_port().await;
    let targets = format!(
        "{}{}{}",
        redis_target("good", &good),
        redis_target("wrong", &good.replace(secret, &format!("{secret}-wrong"))),
        redis_target(
            "dead",
            &format!("redis://medic:{secret}@127.0.0.1:{port}/0")
        )
    );
    let medic = spawn_medic(Options {
        targets,
        ..Default::default()
    })
    .await;
    let mut acks = String::new();
    for target in ["good", "wrong", "dead"] {
        acks.push_str(&ephemeral_text(medic.slash("/diag", target).await).await);
    }
    // Three reports of two messages each, in one channel, paced at 1/s.
    let posts = medic
        .slack
        .wait_for_posts(CHANNEL, 6, Duration::from_secs(20))
        .await;
    let everything: String = medic
        .slack
        .calls()
        .iter()
        .map(|c| c.body.to_string())
        .chain([acks])
        .collect();
    assert!(
        !everything.contains(secret),
        "the password leaked: {everything}"
    );
    let all_text: String = posts.iter().map(|p| p.all_text()).collect();
    assert!(
        all_text.contains("Authentication failed"),
        "the wrong password is named as such: {all_text}"
    );
    assert!(
        all_text.contains("PING answered"),
        "the right password gets a full report: {all_text}"
    );
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_targets_and_commands_get_ephemeral_help() {
    let medic = spawn_with_targets(redis_target("cache", "redis://127.0.0.1:6379")).await;
    let text = ephemeral_text(medic.slash("/diag", "mongo").await).await;
    assert!(
        text.starts_with("I don't know the target `mongo`."),
        "{text}"
    );
    assert!(
        text.contains("Targets here: `cache` (redis 127.0.0.1:6379)"),
        "{text}"
    );

    let text = ephemeral_text(medic.slash("/medic", "reboot prod").await).await;
    assert!(
        text.starts_with("I don't know the command `reboot`."),
        "{text}"
    );

    let text = ephemeral_text(medic.slash("/diag", "").await).await;
    assert!(text.contains("needs a target"), "{text}");

    let text = ephemeral_text(medic.slash("/medic", "help").await).await;
    assert!(text.contains("`/diag TARGET`"), "{text}");

    medic.idle().await;
    assert!(
        medic.slack.calls().is_empty(),
        "help is ephemeral: nothing posted"
    );
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn the_same_diag_typed_twice_in_a_channel_runs_once() {
    let hung = silent_listener().await;
    let medic = spawn_with_targets(redis_target("hung", &format!("redis://{hung}"))).await;
    let first = ephemeral_text(medic.slash("/diag", "hung").await).await;
    assert!(first.starts_with("Running diagnostics"), "{first}");
    let second = ephemeral_text(medic.slash("/diag", "hung").await).await;
    assert!(
        second.contains("already running in this channel (#1)"),
        "{second}"
    );

    let (root, _) = medic
        .slack
        .wait_for_report(CHANNEL, Duration::from_secs(15))
        .await;
    assert!(
        root.contains("critical"),
        "a silent server is critical: {root}"
    );
    // A second run would still be running, or would have posted, when
    // medic is idle.
    medic.idle().await;
    assert_eq!(
        medic.slack.posts_in(CHANNEL).len(),
        2,
        "one report, not two"
    );
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn channels_asking_about_the_same_target_at_once_share_one_probe() {
    let (hung, probes) = counting_silent_listener().await;
    let medic = spawn_with_targets(redis_target("hung", &format!("redis://{hung}"))).await;
    let (a, b) = tokio::join!(
        medic.slash_in("C0FIRST", "/diag", "hung"),
        medic.slash_in("C0SECOND", "/diag", "hung"),
    );
    for ack in [ephemeral_text(a).await, ephemeral_text(b).await] {
        assert!(ack.starts_with("Running diagnostics"), "{ack}");
    }
    // Each channel gets its own report, from the one run.
    for channel in ["C0FIRST", "C0SECOND"] {
        let (root, _) = medic
            .slack
            .wait_for_report(channel, Duration::from_secs(15))
            .await;
        assert!(root.contains("critical"), "{channel}: {root}");
    }
    let shared = probes.load(Ordering::SeqCst);
    let (_, metrics) = medic.get("/metrics").await;
    assert!(
        metrics.contains(
            r#"medic_diagnostic_duration_seconds_count{kind="redis",status="critical"} 1"#
        ),
        "one diagnostic run for two commands:\n{metrics}"
    );

    // A later command starts a fresh run: that is what one run costs the
    // target, and the two commands above together cost no more.
    ephemeral_text(medic.slash_in("C0THIRD", "/diag", "hung").await).await;
    medic
        .slack
        .wait_for_report("C0THIRD", Duration::from_secs(15))
        .await;
    let one_run = probes.load(Ordering::SeqCst) - shared;
    assert!(one_run >= 1, "the diagnostic connects to its target");
    assert_eq!(shared, one_run, "two channels, one probe of the target");
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn past_the_pending_limit_commands_are_answered_busy_until_reports_go_out() {
    let hung = silent_listener().await;
    let medic = spawn_medic(Options {
        targets: redis_target("hung", &format!("redis://{hung}")),
        extra: "[limits]\npending_commands = 1\n".into(),
        ..Default::default()
    })
    .await;
    let first = ephemeral_text(medic.slash_in("C0FIRST", "/diag", "hung").await).await;
    assert!(first.starts_with("Running diagnostics"), "{first}");
    let second = ephemeral_text(medic.slash_in("C0SECOND", "/diag", "hung").await).await;
    assert!(second.starts_with("medic is busy"), "{second}");
    assert!(
        medic.slack.posts_in("C0SECOND").is_empty(),
        "a busy answer starts nothing"
    );

    // Once the first report is out, there is room again.
    medic
        .slack
        .wait_for_report("C0FIRST", Duration::from_secs(15))
        .await;
    // The first command holds its slot until its delivery task ends.
    medic.idle().await;
    let again = ephemeral_text(medic.slash_in("C0SECOND", "/diag", "hung").await).await;
    assert!(
        again.starts_with("Running diagnostics"),
        "still busy: {again}: {:#?}",
        medic.slack.calls()
    );
    let (_, metrics) = medic.get("/metrics").await;
    assert!(
        metrics.contains(r#"medic_slash_command_acks_total{platform="slack",outcome="busy"} "#),
        "{metrics}"
    );
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn a_person_over_the_command_limit_is_told_when_to_retry() {
    let medic = spawn_medic(Options {
        targets: dead_redis_target("cache").await,
        extra: "[limits]\ncommands_per_minute = 2\ncommand_burst = 2\n".into(),
        ..Default::default()
    })
    .await;
    for _ in 0..2 {
        ephemeral_text(medic.slash("/medic", "help").await).await;
    }
    let text = ephemeral_text(medic.slash("/diag", "cache").await).await;
    // Help is free; two diag commands pass, the third waits.
    assert!(text.starts_with("Running"), "{text}");
    let _ = medic.slash("/diag", "cache").await;
    let text = ephemeral_text(medic.slash("/diag", "cache").await).await;
    assert!(text.contains("try again in"), "{text}");
    medic.stop().await.unwrap();
}

/// Holds the database so that recording a command waits: on SQLite
/// medic's own write turn, on PostgreSQL a lock on `command_runs`.
enum HeldWrites {
    Sqlite(#[allow(dead_code)] medic::storage::WriteTx),
    Postgres(#[allow(dead_code)] sqlx::Transaction<'static, sqlx::Postgres>),
}

async fn hold_writes(m: &medic_tests::TestMedic) -> HeldWrites {
    if m.db.url().starts_with("postgres") {
        let pool = sqlx::PgPool::connect(m.db.url()).await.unwrap();
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("LOCK TABLE command_runs IN EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .unwrap();
        HeldWrites::Postgres(tx)
    } else {
        HeldWrites::Sqlite(m.state.store.begin_write().await.unwrap())
    }
}

#[tokio::test]
async fn a_diag_dropped_while_it_is_recorded_leaves_nothing_running() {
    // Slack hangs up after 3 s; the request's future is dropped wherever
    // it was, here while medic records the command.
    let m = spawn_with_targets(dead_redis_target("cache").await).await;
    let held = hold_writes(&m).await;
    let typed = medic::dispatch::Typed {
        platform: medic_commands::model::inbound::Platform::Slack,
        channel: CHANNEL,
        thread: None,
        actor_id: "U0ALICE",
        actor_name: "alice",
        name: "/diag",
        text: "cache",
    };
    let delivery = || medic::delivery::Delivery::Slack {
        channel: CHANNEL.to_string(),
        response_url: String::new(),
        thread_ts: None,
    };
    // It cannot finish while the database is held: the bound only says
    // when to stop waiting for it.
    let dropped = tokio::time::timeout(
        Duration::from_millis(300),
        medic::dispatch::command(&m.state, typed, delivery),
    )
    .await;
    assert!(dropped.is_err(), "recording waited on the held database");
    drop(held);
    // The channel's place was given up with the request: a new /diag
    // runs, rather than "already running" until medic restarts.
    let ack = ephemeral_text(m.slash("/diag", "cache").await).await;
    assert!(ack.starts_with("Running diagnostics for *cache*"), "{ack}");
    m.stop().await.unwrap();
}
