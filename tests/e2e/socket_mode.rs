//! Slack over Socket Mode: medic opens the connection itself, acknowledges
//! every envelope, runs slash commands and mentions from it, and
//! reconnects on `disconnect` and on a dropped connection. Slack's own
//! envelopes (fixtures/slack/socket_mode_*.json), with the channel, text
//! and URLs pointed at the fakes.

use std::time::Duration;

use medic_tests::fakes::socket_mode::{FakeSocketMode, fixture};
use medic_tests::{CHANNEL, FakeSlack, Options, redis_target, require_redis, spawn_medic};

const APP_TOKEN: &str = "xapp-1-A0MEDIC-0000-fake";
const LIMIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn commands_and_mentions_arrive_over_socket_mode_across_reconnects() {
    let redis = require_redis!();
    let slack = FakeSlack::start(medic_tests::BOT_TOKEN).await;
    let socket = FakeSocketMode::start().await;
    slack.enable_socket_mode(APP_TOKEN, &socket.url());
    let medic = spawn_medic(Options {
        targets: redis_target("redis", &redis),
        slack: Some(slack.clone()),
        slack_app_token: Some(APP_TOKEN.into()),
        ..Default::default()
    })
    .await;
    socket
        .wait_until("a connection", LIMIT, |s| s.connections() == 1)
        .await;

    // A slash command: acknowledged, run, its private answer sent to the
    // response_url, its report posted in the channel.
    let mut command = fixture("socket_mode_slash_commands.json");
    command["payload"]["command"] = "/diag".into();
    command["payload"]["text"] = "redis".into();
    command["payload"]["channel_id"] = CHANNEL.into();
    command["payload"]["response_url"] = slack.response_url("sock-1").into();
    let envelope = command["envelope_id"].as_str().unwrap().to_string();
    socket.send(&command);
    socket
        .wait_until("the command's ack", LIMIT, |s| s.acks().contains(&envelope))
        .await;
    let (root, _) = slack.wait_for_report(CHANNEL, LIMIT).await;
    assert!(root.contains("*redis*"), "{root}");
    let answer = slack.wait_for(LIMIT, |c| c.method == "response_url").await;
    assert!(
        answer
            .all_text()
            .contains("Running diagnostics for *redis*"),
        "{answer:?}"
    );

    // Slack rotates the connection: medic opens a new one at once.
    socket.send(&fixture("socket_mode_disconnect.json"));
    socket
        .wait_until("a second connection", LIMIT, |s| s.connections() == 2)
        .await;

    // A mention over the new connection answers in its thread. (Once the
    // first report is done: until then the same diagnosis in the same
    // channel is joined to it, not run again.)
    medic.idle().await;
    let mut mention = fixture("socket_mode_events_api_app_mention.json");
    let ts = "1700000000.000300";
    slack.user_says(CHANNEL, ts, "<@U0MEDIC> diag redis");
    let event = &mut mention["payload"]["event"];
    event["channel"] = CHANNEL.into();
    event["text"] = "<@U0MEDIC> diag redis".into();
    event["ts"] = ts.into();
    if let Some(map) = event.as_object_mut() {
        map.remove("thread_ts");
        map.remove("bot_id");
    }
    mention["payload"]["event_id"] = "Ev0SOCKET1".into();
    let envelope = mention["envelope_id"].as_str().unwrap().to_string();
    socket.send(&mention);
    socket
        .wait_until("the mention's ack", LIMIT, |s| s.acks().contains(&envelope))
        .await;
    slack
        .wait_for(LIMIT, |c| {
            c.thread_ts() == Some(ts) && c.all_text().contains("PING")
        })
        .await;

    // A dropped connection (no close frame) is reopened.
    socket.drop_connection();
    socket
        .wait_until("a third connection", LIMIT, |s| s.connections() == 3)
        .await;
    // Every connection was opened with the app-level token.
    let opens: Vec<_> = slack
        .calls()
        .into_iter()
        .filter(|c| c.method == "apps.connections.open")
        .collect();
    assert!(opens.len() >= 3, "{opens:#?}");
    assert!(
        opens
            .iter()
            .all(|c| c.authorization.as_deref() == Some(&*format!("Bearer {APP_TOKEN}")))
    );
    medic.stop().await.unwrap();
}

/// A remediation over Socket Mode only: the buttons' clicks arrive as
/// `interactive` envelopes, are acknowledged, and go through the same
/// policy, approval and single-use rules as `POST /slack/interactions`.
#[tokio::test]
async fn remediation_buttons_work_over_socket_mode() {
    use crate::remediation::{ALICE, BOB, MALLORY, files, groups, wait_for_buttons};
    use medic_tests::fakes::socket_mode::interactive_click;

    let dir = tempfile::tempdir().unwrap();
    let slack = FakeSlack::start(medic_tests::BOT_TOKEN).await;
    let socket = FakeSocketMode::start().await;
    slack.enable_socket_mode(APP_TOKEN, &socket.url());
    let port = medic_tests::services::dead_port().await;
    let medic = spawn_medic(Options {
        targets: format!(
            "[targets.svc]\nkind = \"tcp\"\naddress = \"127.0.0.2:{port}\"\ntimeout = \"2s\"\n"
        ),
        extra: format!(
            "{}\n[actions.mark]\ntitle = \"Mark a run\"\nkind = \"command\"\nrun = [\"mktemp\", \"-p\", \"{}\"]\n\
             offered_on = [\"svc\"]\nmay_request = [\"group:sre\"]\nmay_approve = [\"group:sre\"]\napprovals = 1\n",
            groups(),
            dir.path().display()
        ),
        slack: Some(slack.clone()),
        slack_app_token: Some(APP_TOKEN.into()),
        ..Default::default()
    })
    .await;
    socket
        .wait_until("a connection", LIMIT, |s| s.connections() == 1)
        .await;
    let mut command = fixture("socket_mode_slash_commands.json");
    command["payload"]["command"] = "/diag".into();
    command["payload"]["text"] = "svc".into();
    command["payload"]["channel_id"] = CHANNEL.into();
    command["payload"]["response_url"] = slack.response_url("sock-diag").into();
    socket.send(&command);
    let (offer, thread) = wait_for_buttons(&medic, "medic.request", 1).await.remove(0);

    let click = |user: &str, action: &str, value: &str| {
        let envelope = interactive_click(
            user,
            CHANNEL,
            Some(&thread),
            action,
            value,
            &slack.response_url(user),
        );
        socket.send(&envelope);
        envelope["envelope_id"].as_str().unwrap().to_string()
    };

    // Not allowed: refused privately, naming the rule; acknowledged anyway.
    let envelope = click(MALLORY, "medic.request", &offer);
    socket
        .wait_until("the click's ack", LIMIT, |s| s.acks().contains(&envelope))
        .await;
    let said = slack.wait_for_ephemerals(MALLORY, 1, LIMIT).await;
    assert!(
        said[0].contains("may_request = [\"group:sre\"]"),
        "{said:?}"
    );

    // The requester asks; the approval message appears; self-approval is
    // refused.
    click(ALICE, "medic.request", &offer);
    let (request, _) = wait_for_buttons(&medic, "medic.approve", 1).await.remove(0);
    slack.wait_for_ephemerals(ALICE, 1, LIMIT).await;
    click(ALICE, "medic.approve", &request);
    let said = slack.wait_for_ephemerals(ALICE, 2, LIMIT).await;
    assert!(said[1].contains("never counts"), "{said:?}");
    assert!(files(dir.path()).is_empty(), "ran before approval");

    // A double click on Approve, both delivered: one run.
    let first = click(BOB, "medic.approve", &request);
    let second = click(BOB, "medic.approve", &request);
    let status = slack
        .wait_for_message(CHANNEL, LIMIT, |t| {
            t.contains("Mark a run") && t.contains("succeeded")
        })
        .await;
    assert!(status.contains("Approved by"), "{status}");
    socket
        .wait_until("both acks", LIMIT, |s| {
            s.acks().contains(&first) && s.acks().contains(&second)
        })
        .await;
    slack.wait_for_ephemerals(BOB, 1, LIMIT).await;
    assert_eq!(files(dir.path()).len(), 1, "{:?}", files(dir.path()));
    medic.stop().await.unwrap();
}
