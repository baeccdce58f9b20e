//! One scenario list, run on every way medic talks to chat: Slack over
//! HTTP, Slack over Socket Mode, and Discord over HTTP interactions. Each
//! scenario is written once against [`Chat`]; only how a command is sent
//! and where the answer is read differ per platform. (The attacks on
//! buttons are covered per platform in `remediation/`, `socket_mode.rs`
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
    /// Discord: each click's interaction token, with who clicked.
    tokens: std::sync::Mutex<Vec<(String, String)>>,
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
        Chat {
            via,
            medic,
            socket,
            tokens: Default::default(),
        }
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

impl Chat {
    /// The buttons asking `verb` (`medic.request`, `medic.approve`) in the
    /// `/diag` report's thread, as (what a click sends, the thread).
    async fn buttons(&self, verb: &str) -> Vec<(String, String)> {
        let found = || -> Vec<(String, String)> {
            match self.via {
                Via::Discord => {
                    let d = self.medic.discord();
                    let Some((thread, _)) = d.original("tok-parity") else {
                        return Vec::new();
                    };
                    d.buttons(&thread, &format!("{verb}:"))
                        .into_iter()
                        .map(|(id, _)| (id, thread.clone()))
                        .collect()
                }
                _ => self
                    .medic
                    .slack
                    .buttons(CHANNEL, verb)
                    .into_iter()
                    .map(|(value, ts, thread)| (value, thread.unwrap_or(ts)))
                    .collect(),
            }
        };
        self.wait_until(&format!("a {verb} button"), || !found().is_empty())
            .await;
        found()
    }

    /// The request buttons in the threads of the alert channel, as (what
    /// a click sends, the thread), once there are at least `n`.
    async fn incident_buttons(&self, n: usize) -> Vec<(String, String)> {
        let channel = self.alert_channel();
        let found = || -> Vec<(String, String)> {
            match self.via {
                Via::Discord => {
                    let d = self.medic.discord();
                    d.messages_in(channel)
                        .into_iter()
                        .flat_map(|(root, _)| {
                            d.buttons(&root, "medic.request:")
                                .into_iter()
                                .map(move |(id, _)| (id, root.clone()))
                        })
                        .collect()
                }
                _ => self
                    .medic
                    .slack
                    .buttons(channel, "medic.request")
                    .into_iter()
                    .map(|(value, ts, thread)| (value, thread.unwrap_or(ts)))
                    .collect(),
            }
        };
        self.wait_until("request buttons in incident threads", || found().len() >= n)
            .await;
        found()
    }

    /// Waits until `check` holds, looking again after every call this
    /// platform's fake records; panics after [`LIMIT`] naming `what`.
    async fn wait_until(&self, what: &str, check: impl Fn() -> bool) {
        let what = format!("{:?}: {what}", self.via);
        match self.via {
            Via::Discord => {
                self.medic
                    .discord()
                    .wait_until(&what, LIMIT, |_| check())
                    .await
            }
            _ => self.medic.slack.wait_until(&what, LIMIT, |_| check()).await,
        }
    }

    /// `user` presses a button (`verb`, with what it sends) in `thread`
    /// of the `/diag` channel.
    async fn press(&self, user: &str, verb: &str, button: &str, thread: &str) {
        self.press_in(self.command_channel(), user, verb, button, thread)
            .await
    }

    /// `user` presses a button in `thread` of `channel` (on Discord a
    /// thread is a channel of its own, whose parent Discord names).
    async fn press_in(&self, channel: &str, user: &str, verb: &str, button: &str, thread: &str) {
        match self.via {
            Via::SlackHttp => {
                let body = medic_tests::signing::block_actions_form(
                    user,
                    channel,
                    Some(thread),
                    verb,
                    button,
                    &self.medic.slack.response_url(user),
                );
                let r = self
                    .medic
                    .post_signed("/slack/interactions", &body, medic_tests::now_unix())
                    .await;
                assert_eq!(r.status(), 200);
            }
            Via::SlackSocket => {
                let envelope = medic_tests::fakes::socket_mode::interactive_click(
                    user,
                    channel,
                    Some(thread),
                    verb,
                    button,
                    &self.medic.slack.response_url(user),
                );
                self.socket.as_ref().unwrap().send(&envelope);
            }
            Via::Discord => {
                let token = {
                    let mut tokens = self.tokens.lock().unwrap();
                    let token = format!("tok-parity-click-{}", tokens.len());
                    tokens.push((user.to_string(), token.clone()));
                    token
                };
                let d = self.medic.discord();
                d.expect_interaction(&token, thread);
                let body = json!({
                    "id": "1300000000000000100",
                    "application_id": medic_tests::DISCORD_APP,
                    "type": 3,
                    "token": token,
                    "version": 1,
                    "channel_id": thread,
                    "channel": { "id": thread, "type": 11, "parent_id": channel },
                    "member": { "user": { "id": user, "username": user } },
                    "message": { "id": "1", "channel_id": thread },
                    "data": { "custom_id": button, "component_type": 2 },
                });
                let (status, answer) = self.medic.interaction(&body).await;
                assert_eq!((status, answer), (200, json!({ "type": 6 })));
            }
        }
    }

    /// Waits until `user` has been told `n` things privately; returns them.
    async fn private_answers(&self, user: &str, n: usize) -> Vec<String> {
        match self.via {
            Via::Discord => {
                let d = self.medic.discord();
                let said = || -> Vec<String> {
                    let tokens = self.tokens.lock().unwrap().clone();
                    tokens
                        .iter()
                        .filter(|(u, _)| u == user)
                        .flat_map(|(_, t)| d.followups_to(t))
                        .collect()
                };
                d.wait_until("private answers", LIMIT, |_| said().len() >= n)
                    .await;
                said()
            }
            _ => self.medic.slack.wait_for_ephemerals(user, n, LIMIT).await,
        }
    }

    /// Waits for a message in the `/diag` report's thread matching `pred`.
    async fn message_in(&self, thread: &str, pred: impl Fn(&str) -> bool) -> String {
        self.message_in_channel(self.command_channel(), thread, pred)
            .await
    }

    /// Waits for a message in `thread` of `channel` matching `pred`.
    async fn message_in_channel(
        &self,
        channel: &str,
        thread: &str,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        match self.via {
            Via::Discord => {
                let d = self.medic.discord();
                let find = |d: &medic_tests::FakeDiscord| {
                    d.messages_in(thread)
                        .iter()
                        .map(|(_, m)| discord_text(m))
                        .find(|t| pred(t))
                };
                d.wait_until("a status message", LIMIT, |d| find(d).is_some())
                    .await;
                find(d).unwrap()
            }
            _ => {
                self.medic
                    .slack
                    .wait_for_message(channel, LIMIT, pred)
                    .await
            }
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

#[tokio::test]
async fn a_remediation_with_approval_runs_once_everywhere() {
    const ALICE: &str = "510000000000000001";
    const BOB: &str = "510000000000000002";
    for via in ALL {
        let dir = tempfile::tempdir().unwrap();
        // A closed port on 127.0.0.2 stays closed until the approval.
        let port = medic_tests::services::dead_port().await;
        let chat = Chat::start(
            via,
            format!("[targets.svc]\nkind = \"tcp\"\naddress = \"127.0.0.2:{port}\"\ntimeout = \"2s\"\n"),
            &format!(
                "[groups]\nsre = [\"{ALICE}\", \"{BOB}\"]\n\
                 [actions.mark]\ntitle = \"Mark a run\"\nkind = \"command\"\nrun = [\"mktemp\", \"-p\", \"{}\"]\n\
                 offered_on = [\"svc\"]\nmay_request = [\"group:sre\"]\nmay_approve = [\"group:sre\"]\napprovals = 1\n",
                dir.path().display()
            ),
        )
        .await;
        chat.diag("svc").await;
        let (offer, thread) = chat.buttons("medic.request").await.remove(0);
        chat.press(ALICE, "medic.request", &offer, &thread).await;
        let (approve, _) = chat.buttons("medic.approve").await.remove(0);
        chat.private_answers(ALICE, 1).await;
        // The requester's own approval never counts.
        chat.press(ALICE, "medic.approve", &approve, &thread).await;
        let said = chat.private_answers(ALICE, 2).await;
        assert!(said[1].contains("never counts"), "{via:?}: {said:?}");
        // Another approver: it runs, once, even when approved twice.
        chat.press(BOB, "medic.approve", &approve, &thread).await;
        chat.press(BOB, "medic.approve", &approve, &thread).await;
        let status = chat
            .message_in(&thread, |t| {
                t.contains("Mark a run") && t.contains("succeeded")
            })
            .await;
        assert!(status.contains("Approved by"), "{via:?}: {status}");
        chat.private_answers(BOB, 1).await;
        let runs = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(runs, 1, "{via:?}");
        chat.medic.stop().await.unwrap();
    }
}

#[tokio::test]
async fn an_incident_thread_offers_a_remediation_that_runs_once_everywhere() {
    const ALICE: &str = "510000000000000011";
    const BOB: &str = "510000000000000012";
    for via in ALL {
        let dir = tempfile::tempdir().unwrap();
        let port = medic_tests::services::dead_port().await;
        let chat = Chat::start(
            via,
            format!("[targets.svc]\nkind = \"tcp\"\naddress = \"127.0.0.2:{port}\"\ntimeout = \"2s\"\n"),
            &format!(
                "[[runbooks]]\nmatch = {{ title = \"(?i)instancedown\" }}\nrun = [\"svc\"]\n\n\
                 [groups]\nsre = [\"{ALICE}\", \"{BOB}\"]\n\
                 [actions.mark]\ntitle = \"Mark a run\"\nkind = \"command\"\nrun = [\"mktemp\", \"-p\", \"{}\"]\n\
                 offered_on = [\"svc\"]\nmay_request = [\"group:sre\"]\n",
                dir.path().display()
            ),
        )
        .await;
        let (status, answer) = chat
            .medic
            .post_json(
                "/webhooks/alertmanager",
                &[("authorization", format!("Bearer {AM_TOKEN}"))],
                alertmanager_fixture(),
            )
            .await;
        assert_eq!(status, 202, "{via:?}: {answer}");
        // Both incidents of the group offer the action in their thread.
        let buttons = chat.incident_buttons(2).await;
        let (offer, thread) = buttons[0].clone();
        let channel = chat.alert_channel();
        chat.press_in(channel, ALICE, "medic.request", &offer, &thread)
            .await;
        let status = chat
            .message_in_channel(channel, &thread, |t| {
                t.contains("Mark a run") && t.contains("succeeded")
            })
            .await;
        assert!(status.contains("Mark a run"), "{via:?}: {status}");
        // The same button again runs nothing.
        chat.press_in(channel, BOB, "medic.request", &offer, &thread)
            .await;
        let said = chat.private_answers(BOB, 1).await;
        assert!(said[0].contains("already used"), "{via:?}: {said:?}");
        let runs = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(runs, 1, "{via:?}");
        chat.medic.stop().await.unwrap();
    }
}
