//! One scenario list, run on every way medic talks to chat: Slack over
//! HTTP, Slack over Socket Mode, and Discord over HTTP interactions. Each
//! scenario is written once against [`Chat`]; only how a command is sent
//! and where the answer is read differ per platform. (Remediation with
//! approval is covered per platform in `remediation/`, `socket_mode.rs`
//! and `discord_buttons.rs`.)

use std::time::Duration;

use medic_tests::fakes::discord::all_text as discord_text;
use medic_tests::fakes::socket_mode::{FakeSocketMode, fixture};
use medic_tests::{
    CHANNEL, DISCORD_CHANNEL, FakeSlack, Options, TestMedic, redis_target, require_redis,
    spawn_medic,
};
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(30);
const APP_TOKEN: &str = "xapp-1-A0PARITY-0000-fake";
const AM_TOKEN: &str = "am-parity-token";
/// Where alerts are routed, per platform.
const SLACK_ALERTS: &str = "C0PARITY";
const DISCORD_ALERTS: &str = "1200000000000000777";

#[derive(Debug, Clone, Copy)]
enum Via {
    SlackHttp,
    SlackSocket,
    Discord,
}

const ALL: [Via; 3] = [Via::SlackHttp, Via::SlackSocket, Via::Discord];

/// A medic speaking one platform, and how to talk to it there.
struct Chat {
    via: Via,
    medic: TestMedic,
    socket: Option<FakeSocketMode>,
}

impl Chat {
    async fn start(via: Via, targets: String, extra: &str) -> Chat {
        let route = match via {
            Via::Discord => format!("discord_channel = \"{DISCORD_ALERTS}\""),
            _ => format!("slack_channel = \"{SLACK_ALERTS}\""),
        };
        let extra = format!(
            "{extra}\n[alertmanager]\ntoken = \"{AM_TOKEN}\"\n\n[[routes]]\nmatch = {{}}\n{route}\n"
        );
        let mut opts = Options {
            targets,
            extra,
            discord: matches!(via, Via::Discord),
            ..Default::default()
        };
        let mut socket = None;
        if let Via::SlackSocket = via {
            let slack = FakeSlack::start(medic_tests::BOT_TOKEN).await;
            let s = FakeSocketMode::start().await;
            slack.enable_socket_mode(APP_TOKEN, &s.url());
            opts.slack = Some(slack);
            opts.slack_app_token = Some(APP_TOKEN.into());
            socket = Some(s);
        }
        let medic = spawn_medic(opts).await;
        if let Some(s) = &socket {
            s.wait_until("a connection", LIMIT, |s| s.connections() == 1)
                .await;
        }
        Chat { via, medic, socket }
    }

    /// `/diag <text>` as a person types it on this platform.
    async fn diag(&self, text: &str) {
        match self.via {
            Via::SlackHttp => {
                assert_eq!(self.medic.slash("/diag", text).await.status(), 200);
            }
            Via::SlackSocket => {
                let mut command = fixture("socket_mode_slash_commands.json");
                command["payload"]["command"] = "/diag".into();
                command["payload"]["text"] = text.into();
                command["payload"]["channel_id"] = CHANNEL.into();
                command["payload"]["response_url"] = self.medic.slack.response_url("parity").into();
                self.socket.as_ref().unwrap().send(&command);
            }
            Via::Discord => {
                let d = self.medic.discord();
                d.expect_interaction("tok-parity", DISCORD_CHANNEL);
                let body = json!({
                    "id": "1300000000000000099",
                    "application_id": medic_tests::DISCORD_APP,
                    "type": 2,
                    "token": "tok-parity",
                    "version": 1,
                    "guild_id": "1290000000000000001",
                    "channel_id": DISCORD_CHANNEL,
                    "member": { "user": { "id": "53908232506183680", "username": "mason" } },
                    "data": { "id": "1", "name": "diag", "type": 1,
                              "options": [{ "type": 3, "name": "target", "value": text }] },
                });
                let (status, answer) = self.medic.interaction(&body).await;
                assert_eq!((status, answer), (200, json!({ "type": 5 })));
            }
        }
    }

    /// Waits for a root in `channel` whose thread holds `needle`; returns
    /// (root text, thread text).
    async fn thread_with(&self, channel: &str, needle: &str) -> (String, String) {
        match self.via {
            Via::SlackHttp | Via::SlackSocket => {
                let slack = &self.medic.slack;
                let reply = slack
                    .wait_for(LIMIT, |c| {
                        c.channel() == Some(channel)
                            && c.thread_ts().is_some()
                            && c.all_text().contains(needle)
                    })
                    .await;
                let root_ts = reply.thread_ts().unwrap().to_string();
                let root = slack
                    .message(channel, &root_ts)
                    .map(|m| medic_tests::fakes::slack::all_text(&m))
                    .unwrap_or_default();
                (root, reply.all_text())
            }
            Via::Discord => {
                let d = self.medic.discord();
                let found = |d: &medic_tests::FakeDiscord| {
                    d.messages_in(channel).into_iter().find_map(|(id, root)| {
                        let thread: Vec<String> = d
                            .messages_in(&id)
                            .iter()
                            .map(|(_, m)| discord_text(m))
                            .collect();
                        let thread = thread.join("\n");
                        thread
                            .contains(needle)
                            .then(|| (discord_text(&root), thread))
                    })
                };
                d.wait_until("a thread with the report", LIMIT, |d| found(d).is_some())
                    .await;
                found(d).unwrap()
            }
        }
    }

    /// The channel `/diag` answers in, on this platform.
    fn command_channel(&self) -> &'static str {
        match self.via {
            Via::Discord => DISCORD_CHANNEL,
            _ => CHANNEL,
        }
    }

    /// The channel alerts are routed to, on this platform.
    fn alert_channel(&self) -> &'static str {
        match self.via {
            Via::Discord => DISCORD_ALERTS,
            _ => SLACK_ALERTS,
        }
    }
}

fn alertmanager_fixture() -> Vec<u8> {
    std::fs::read(format!(
        "{}/../integrations/tests/fixtures/alertmanager/webhook_v4_firing_2alerts_captured.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[tokio::test]
async fn diag_answers_with_a_root_and_the_report_in_its_thread_everywhere() {
    let redis = require_redis!();
    for via in ALL {
        let chat = Chat::start(via, redis_target("redis", &redis), "").await;
        chat.diag("redis").await;
        let (root, thread) = chat.thread_with(chat.command_channel(), "PING").await;
        assert!(root.contains("redis"), "{via:?}: {root}");
        assert!(thread.contains("PING"), "{via:?}: {thread}");
        chat.medic.stop().await.unwrap();
    }
}

#[tokio::test]
async fn an_alert_opens_an_incident_thread_with_its_runbook_everywhere() {
    let redis = require_redis!();
    let runbook = "[[runbooks]]\nmatch = { title = \"(?i)instancedown\" }\nrun = [\"redis\"]\n";
    for via in ALL {
        let chat = Chat::start(via, redis_target("redis", &redis), runbook).await;
        let (status, answer) = chat
            .medic
            .post_json(
                "/webhooks/alertmanager",
                &[("authorization", format!("Bearer {AM_TOKEN}"))],
                alertmanager_fixture(),
            )
            .await;
        assert_eq!(status, 202, "{via:?}: {answer}");
        let (root, thread) = chat.thread_with(chat.alert_channel(), "PING").await;
        assert!(root.contains("InstanceDown"), "{via:?}: {root}");
        assert!(thread.contains("PING"), "{via:?}: {thread}");
        chat.medic.stop().await.unwrap();
    }
}
