//! Once, whatever happens at the handover minute: a SIGKILL (the digest
//! queued before the kill is posted once after the restart, and the
//! restarted medic, which sees the same handover, does not queue another),
//! or two replicas on one database reaching it together.

use std::time::Duration;

use medic_tests::db::TestDb;
use medic_tests::fakes::slack::FakeSlack;
use medic_tests::services::dead_port;
use medic_tests::wait::eventually;
use medic_tests::{BOT_TOKEN, SIGNING_SECRET, store_idle};

use super::{LIMIT, Rotation};
use crate::child::Process;

const HANDOFFS: &str = "C0KILLHAND";

#[tokio::test]
async fn a_medic_killed_at_the_handover_minute_posts_one_digest() {
    let slack = FakeSlack::start(BOT_TOKEN).await;
    // Nothing reaches Slack before the kill.
    slack.set_down(true);
    let db = TestDb::fresh().await;
    let dir = tempfile::tempdir().unwrap();
    let port = dead_port().await;
    // The handover was at the start of this minute.
    let r = Rotation::past(0);
    std::fs::write(
        dir.path().join("medic.toml"),
        format!(
            "[server]\nbind = \"127.0.0.1:{port}\"\nshutdown_grace = \"1s\"\n\n[database]\nurl = \"{db}\"\n\n\
             [slack]\nsigning_secret = \"{SIGNING_SECRET}\"\nbot_token = \"{BOT_TOKEN}\"\napi_url = \"{api}\"\n\n{oncall}",
            db = db.url(),
            api = slack.api_url(),
            oncall = r.config(&format!("slack_channel = \"{HANDOFFS}\"")),
        ),
    )
    .unwrap();
    let mut first = Process::start(dir.path(), port, 0).await;
    // The digest is queued and tried against a Slack that is down.
    slack
        .wait_for(LIMIT, |c| {
            c.method == "chat.postMessage" && c.channel() == Some(HANDOFFS) && c.status == 503
        })
        .await;
    first.kill();

    slack.set_down(false);
    let second = Process::start(dir.path(), port, 1).await;
    let posted = slack.wait_for_posts(HANDOFFS, 1, LIMIT).await;
    assert!(posted[0].all_text().contains("<@U0ALICE> → <@U0BOB>"));
    let store = medic::storage::Store::connect(
        &medic_commands::diagnostics::SecretUrl::parse(db.url()).unwrap(),
    )
    .await
    .unwrap();
    eventually("the outbox empty", Duration::from_secs(30), || {
        store_idle(&store)
    })
    .await;
    drop(second);
    assert_eq!(slack.posts_in(HANDOFFS).len(), 1, "one digest");
    assert_eq!(store.handoffs().await.unwrap().len(), 1, "one handoff");
    store.close().await;
    db.drop_database().await;
}

/// Two replicas on one database reach the handover together: one digest.
#[tokio::test]
async fn two_replicas_at_the_handover_post_one_digest() {
    use jiff::ToSpan;
    use medic_tests::{Options, spawn_medic};

    let r = Rotation::next();
    let extra = r.config(&format!("slack_channel = \"{HANDOFFS}\""));
    let first = spawn_medic(Options {
        extra: extra.clone(),
        ..Default::default()
    })
    .await;
    let second = spawn_medic(Options {
        extra,
        slack: Some(first.slack.clone()),
        shared_database: Some(first.db.url().to_string()),
        ..Default::default()
    })
    .await;
    let at = r.handover + 1.second();
    first.state.clock.set(at);
    second.state.clock.set(at);
    first.slack.wait_for_posts(HANDOFFS, 1, LIMIT).await;
    first.idle().await;
    second.idle().await;
    assert_eq!(first.slack.posts_in(HANDOFFS).len(), 1, "one digest");
    assert_eq!(first.state.store.handoffs().await.unwrap().len(), 1);
    second.stop().await.unwrap();
    first.stop().await.unwrap();
}
