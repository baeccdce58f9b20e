//! `[slack] teams` and `[discord] guilds`: a correctly signed request from
//! a workspace or server that is not on the list (someone added the app
//! to their own), or a Discord DM, gets a private refusal and runs
//! nothing — slash commands, mentions, button clicks and autocomplete,
//! over HTTP, Socket Mode and the gateway — while the listed ones work as
//! before. And `medic discord register` puts the commands in the listed
//! servers only. Payloads are the vendors' own (tests/fixtures).

use std::path::Path;
use std::time::Duration;

use medic_tests::fakes::socket_mode::{FakeSocketMode, fixture as socket_fixture};
use medic_tests::signing::{discord_key, slash_form};
use medic_tests::{
    CHANNEL, DISCORD_TOKEN, FakeSlack, Options, TestMedic, ephemeral_text, now_unix, services,
    spawn_medic,
};
use serde_json::{Value, json};

use crate::remediation::{ALICE, audited_events, files, wait_for_buttons};

const LIMIT: Duration = Duration::from_secs(30);
/// The workspace of the harness's slash commands: the one medic serves.
const TEAM: &str = "T1DC2JH3J";
/// Someone else's workspace, where the app was installed too.
const STRANGER_TEAM: &str = "T0STRANGER";
/// The server medic serves.
const GUILD: &str = "1290000000000000001";
/// The server of Discord's published payloads: someone else's here.
const STRANGER_GUILD: &str = "290926798626357999";
/// Alice on Discord (in `group:sre` there).
const DISCORD_ALICE: &str = "500000000000000001";
const APP_TOKEN: &str = "xapp-1-A0MEDIC-0000-fake";

/// A target whose trouble lasts (a closed port on 127.0.0.2) and an
/// action on it that Alice may run without approval: were a refused click
/// dispatched, a file would appear in `dir`.
async fn remediation(dir: &Path) -> (String, String) {
    let port = services::dead_port().await;
    (
        format!(
            "[targets.svc]\nkind = \"tcp\"\naddress = \"127.0.0.2:{port}\"\ntimeout = \"2s\"\n"
        ),
        format!(
            "[groups]\nsre = [\"{ALICE}\", \"{DISCORD_ALICE}\"]\n\
             [actions.mark]\ntitle = \"Mark a run\"\nkind = \"command\"\nrun = [\"mktemp\", \"-p\", \"{}\"]\n\
             offered_on = [\"svc\"]\nmay_request = [\"group:sre\"]\nmay_approve = [\"group:sre\"]\napprovals = 0\n",
            dir.display()
        ),
    )
}

fn vendor(path: &str) -> Value {
    let raw = std::fs::read(format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    serde_json::from_slice(&raw).unwrap()
}

async fn post_slack(m: &TestMedic, path: &str, body: &str) -> reqwest::Response {
    m.post_signed(path, body, now_unix()).await
}

/// A press of a medic button by Alice from workspace `team`: Slack's
/// published `block_actions` payload with the workspace, clicker, place
/// and button set.
fn slack_click(team: &str, value: &str, thread: &str, response_url: &str) -> String {
    let mut v = vendor("slack/block_actions_button.json");
    v["team"]["id"] = team.into();
    v["user"]["team_id"] = team.into();
    v["user"]["id"] = ALICE.into();
    v["channel"]["id"] = CHANNEL.into();
    v["container"]["channel_id"] = CHANNEL.into();
    v["container"]["thread_ts"] = thread.into();
    v["container"]["is_ephemeral"] = false.into();
    v["response_url"] = response_url.into();
    v["actions"][0]["action_id"] = "medic.request".into();
    v["actions"][0]["value"] = value.into();
    serde_urlencoded::to_string([("payload", v.to_string())]).unwrap()
}

async fn metrics(m: &TestMedic) -> String {
    m.get("/metrics").await.1
}

#[tokio::test]
async fn a_foreign_slack_workspace_is_refused_everywhere_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (targets, extra) = remediation(dir.path()).await;
    let m = spawn_medic(Options {
        targets,
        extra,
        slack_teams: vec![TEAM.into()],
        ..Default::default()
    })
    .await;

    // Slash commands: `/diag all` and the help that would list targets.
    for text in ["all", ""] {
        let body = slash_form(
            "/diag",
            text,
            CHANNEL,
            ALICE,
            "alice",
            &m.slack.response_url("x"),
        )
        .replace(
            &format!("team_id={TEAM}"),
            &format!("team_id={STRANGER_TEAM}"),
        );
        let answer = ephemeral_text(post_slack(&m, "/slack/commands", &body).await).await;
        assert_eq!(
            answer,
            "medic is not enabled for this Slack workspace; nothing was run."
        );
    }

    // A mention (Slack's published event, from the stranger's workspace).
    let mut event = vendor("slack/event_callback_app_mention.json");
    event["team_id"] = STRANGER_TEAM.into();
    event["event"]["team"] = STRANGER_TEAM.into();
    event["event"]["channel"] = CHANNEL.into();
    event["event"]["text"] = "<@U0MEDIC> diag svc".into();
    let r = post_slack(&m, "/slack/events", &event.to_string()).await;
    assert_eq!(r.status(), 200, "acknowledged, as Slack requires");

    m.idle().await;
    assert!(
        m.slack.posts_in(CHANNEL).is_empty(),
        "nothing may be posted"
    );
    assert!(m.state.store.run(1).await.unwrap().is_none(), "no run");

    // The workspace on the list works as before.
    let answer = ephemeral_text(m.slash("/diag", "svc").await).await;
    assert!(
        answer.starts_with("Running diagnostics for *svc*"),
        "{answer}"
    );
    let (offer, thread) = wait_for_buttons(&m, "medic.request", 1).await.remove(0);
    m.idle().await;
    let audited = audited_events(&m).await;

    // A press of that very button from the stranger's workspace: told
    // privately, through its response_url; nothing runs or is audited.
    let click = slack_click(
        STRANGER_TEAM,
        &offer,
        &thread,
        &m.slack.response_url("stranger"),
    );
    let r = post_slack(&m, "/slack/interactions", &click).await;
    assert_eq!(r.status(), 200);
    let said = m.slack.wait_for_ephemerals("stranger", 1, LIMIT).await;
    assert_eq!(
        said,
        ["medic is not enabled for this Slack workspace; nothing was run."]
    );
    m.idle().await;
    assert!(files(dir.path()).is_empty(), "the action ran");
    assert_eq!(audited_events(&m).await, audited, "nothing audited");

    // The same press from the listed workspace runs it.
    let click = slack_click(TEAM, &offer, &thread, &m.slack.response_url("alice"));
    assert_eq!(
        post_slack(&m, "/slack/interactions", &click).await.status(),
        200
    );
    medic_tests::wait::eventually("the action ran", LIMIT, || async {
        match files(dir.path()).len() {
            1 => Ok(()),
            n => Err(format!("{n} runs")),
        }
    })
    .await;

    let text = metrics(&m).await;
    for (kind, n) in [("command", 2), ("mention", 1), ("click", 1)] {
        let line = format!(r#"medic_chat_refused_total{{platform="slack",kind="{kind}"}} {n}"#);
        assert!(text.contains(&line), "{line} in:\n{text}");
    }
    m.stop().await.unwrap();
}

#[tokio::test]
async fn over_socket_mode_a_foreign_workspace_is_refused_the_same_way() {
    let slack = FakeSlack::start(medic_tests::BOT_TOKEN).await;
    let socket = FakeSocketMode::start().await;
    slack.enable_socket_mode(APP_TOKEN, &socket.url());
    let m = spawn_medic(Options {
        slack: Some(slack.clone()),
        slack_app_token: Some(APP_TOKEN.into()),
        slack_teams: vec![TEAM.into()],
        ..Default::default()
    })
    .await;
    socket
        .wait_until("a connection", LIMIT, |s| s.connections() == 1)
        .await;

    // Slack's envelopes come from workspace T111: not on the list.
    let mut command = socket_fixture("socket_mode_slash_commands.json");
    command["payload"]["command"] = "/diag".into();
    command["payload"]["text"] = "all".into();
    command["payload"]["channel_id"] = CHANNEL.into();
    command["payload"]["response_url"] = slack.response_url("sock-stranger").into();
    socket.send(&command);
    let said = slack.wait_for_ephemerals("sock-stranger", 1, LIMIT).await;
    assert_eq!(
        said,
        ["medic is not enabled for this Slack workspace; nothing was run."]
    );

    let mut mention = socket_fixture("socket_mode_events_api_app_mention.json");
    mention["payload"]["event"]["channel"] = CHANNEL.into();
    mention["payload"]["event"]["text"] = "<@U111> diag all".into();
    let mention_id = mention["envelope_id"].as_str().unwrap().to_string();
    socket.send(&mention);

    let click = medic_tests::fakes::socket_mode::interactive_click(
        ALICE,
        CHANNEL,
        None,
        "medic.request",
        "offer-1",
        &slack.response_url("sock-click"),
    );
    socket.send(&click);
    let said = slack.wait_for_ephemerals("sock-click", 1, LIMIT).await;
    assert_eq!(
        said,
        ["medic is not enabled for this Slack workspace; nothing was run."]
    );
    socket
        .wait_until("the mention's ack", LIMIT, |s| {
            s.acks().contains(&mention_id)
        })
        .await;
    m.idle().await;
    assert!(slack.posts_in(CHANNEL).is_empty(), "nothing posted");
    assert!(m.state.store.run(1).await.unwrap().is_none(), "no run");

    // From the listed workspace, the same connection answers.
    command["payload"]["team_id"] = TEAM.into();
    command["payload"]["text"] = "".into();
    command["payload"]["response_url"] = slack.response_url("sock-ours").into();
    command["envelope_id"] = "sock-ours-1".into();
    socket.send(&command);
    let said = slack.wait_for_ephemerals("sock-ours", 1, LIMIT).await;
    assert!(
        said[0].contains("redis"),
        "the help lists the targets: {said:?}"
    );
    m.stop().await.unwrap();
}

/// Discord's published slash-command payload, turned into `/diag
/// [target]` from `guild` (`None`: a DM, with `user` instead of
/// `member`), with interaction token `token`.
fn discord_diag(token: &str, guild: Option<&str>, target: Option<&str>) -> Value {
    let mut v = vendor("discord/application_command_slash_options_docs.json");
    v["token"] = token.into();
    v["application_id"] = medic_tests::DISCORD_APP.into();
    v["channel_id"] = medic_tests::DISCORD_CHANNEL.into();
    v["member"]["user"]["id"] = DISCORD_ALICE.into();
    v["data"]["name"] = "diag".into();
    v["data"]["options"] = match target {
        Some(t) => json!([{ "type": 3, "name": "target", "value": t }]),
        None => json!([]),
    };
    let object = v.as_object_mut().unwrap();
    match guild {
        Some(g) => {
            object.insert("guild_id".into(), g.into());
        }
        None => {
            object.remove("guild_id");
            let member = object.remove("member").unwrap();
            object.insert("user".into(), member["user"].clone());
        }
    }
    v
}

/// Discord's published autocomplete payload, typing `/diag target:` from
/// `guild`.
fn discord_autocomplete(guild: &str) -> Value {
    let mut v = vendor("discord/autocomplete_minimal_djs_test.json");
    v["guild_id"] = guild.into();
    v["data"]["name"] = "diag".into();
    v["data"]["options"] = json!([{ "type": 3, "name": "target", "value": "", "focused": true }]);
    v
}

/// The answer's text and flags, whatever else the message carries.
fn ephemeral(answer: &Value) -> (u64, &str, u64) {
    (
        answer["type"].as_u64().unwrap_or_default(),
        answer["data"]["content"].as_str().unwrap_or_default(),
        answer["data"]["flags"].as_u64().unwrap_or_default(),
    )
}

#[tokio::test]
async fn a_foreign_discord_server_and_a_dm_are_refused_and_autocomplete_lists_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (targets, extra) = remediation(dir.path()).await;
    let m = spawn_medic(Options {
        targets,
        extra,
        discord: true,
        discord_guilds: vec![GUILD.into()],
        ..Default::default()
    })
    .await;
    let discord = m.discord();

    let (status, answer) = m
        .interaction(&discord_diag(
            "tok-stranger",
            Some(STRANGER_GUILD),
            Some("all"),
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        ephemeral(&answer),
        (
            4,
            "medic is not enabled for this server; nothing was run.",
            64
        )
    );
    let (_, answer) = m
        .interaction(&discord_diag("tok-dm", None, Some("svc")))
        .await;
    assert_eq!(
        ephemeral(&answer),
        (
            4,
            "medic is not enabled in direct messages; nothing was run.",
            64
        )
    );

    // Autocomplete: a stranger's server learns no target names; ours does.
    let (_, answer) = m.interaction(&discord_autocomplete(STRANGER_GUILD)).await;
    assert_eq!(answer, json!({ "type": 8, "data": { "choices": [] } }));
    let (_, answer) = m.interaction(&discord_autocomplete(GUILD)).await;
    assert_eq!(answer["data"]["choices"][0]["name"], "svc", "{answer}");

    m.idle().await;
    assert!(discord.calls().is_empty(), "nothing reached Discord");
    assert!(m.state.store.run(1).await.unwrap().is_none(), "no run");

    // Our server: `/diag svc` runs and offers the action.
    discord.expect_interaction("tok-ours", medic_tests::DISCORD_CHANNEL);
    let (_, answer) = m
        .interaction(&discord_diag("tok-ours", Some(GUILD), Some("svc")))
        .await;
    assert_eq!(answer, json!({ "type": 5 }));
    discord
        .wait_until("an offer in the report's thread", LIMIT, |d| {
            d.original("tok-ours")
                .is_some_and(|(id, _)| !d.buttons(&id, "medic.request:").is_empty())
        })
        .await;
    let (thread, _) = discord.original("tok-ours").unwrap();
    let (offer, _) = discord.buttons(&thread, "medic.request:").remove(0);
    m.idle().await;
    let audited = audited_events(&m).await;

    // That button pressed from a stranger's server (Discord's published
    // click, whose server is not ours): refused at once, privately.
    let mut click = crate::discord_buttons::click_body("tok-c1", DISCORD_ALICE, &thread, &offer);
    assert_eq!(click["guild_id"], STRANGER_GUILD);
    let (_, answer) = m.interaction(&click).await;
    assert_eq!(
        ephemeral(&answer),
        (
            4,
            "medic is not enabled for this server; nothing was run.",
            64
        )
    );
    m.idle().await;
    assert!(files(dir.path()).is_empty(), "the action ran");
    assert_eq!(audited_events(&m).await, audited, "nothing audited");

    // From our server it runs.
    click["guild_id"] = GUILD.into();
    click["token"] = "tok-c2".into();
    discord.expect_interaction("tok-c2", &thread);
    let (_, answer) = m.interaction(&click).await;
    assert_eq!(answer, json!({ "type": 6 }));
    medic_tests::wait::eventually("the action ran", LIMIT, || async {
        match files(dir.path()).len() {
            1 => Ok(()),
            n => Err(format!("{n} runs")),
        }
    })
    .await;

    let text = metrics(&m).await;
    for (kind, n) in [("command", 2), ("autocomplete", 1), ("click", 1)] {
        let line = format!(r#"medic_chat_refused_total{{platform="discord",kind="{kind}"}} {n}"#);
        assert!(text.contains(&line), "{line} in:\n{text}");
    }
    m.stop().await.unwrap();
}

#[tokio::test]
async fn over_the_gateway_a_foreign_server_is_refused_the_same_way() {
    let m = spawn_medic(Options {
        discord_gateway: true,
        discord_guilds: vec![GUILD.into()],
        ..Default::default()
    })
    .await;
    let discord = m.discord();
    discord.gateway().wait_live(1, LIMIT).await;

    let inject = |interaction: Value| async move {
        let token = interaction["token"].as_str().unwrap().to_string();
        assert_eq!(discord.inject_interaction(&interaction), 1);
        discord
            .wait_until("the interaction's callback", LIMIT, |d| {
                !d.callbacks_to(&token).is_empty()
            })
            .await;
        discord.callbacks_to(&token)[0].body.clone()
    };
    let mut stranger = discord_diag("tok-gw-stranger", Some(STRANGER_GUILD), Some("all"));
    stranger["id"] = "1300000000000000901".into();
    assert_eq!(
        ephemeral(&inject(stranger).await),
        (
            4,
            "medic is not enabled for this server; nothing was run.",
            64
        )
    );
    let mut ours = discord_diag("tok-gw-ours", Some(GUILD), None);
    ours["id"] = "1300000000000000902".into();
    let answer = inject(ours).await;
    let (kind, text, _) = ephemeral(&answer);
    assert_eq!(kind, 4, "{answer}");
    assert!(text.contains("redis"), "the help lists the targets: {text}");
    m.idle().await;
    assert!(m.state.store.run(1).await.unwrap().is_none());
    m.stop().await.unwrap();
}

#[tokio::test]
async fn with_guilds_set_register_puts_the_commands_in_those_servers_and_none_globally() {
    use clap::Parser as _;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = medic_tests::FakeDiscord::start(DISCORD_TOKEN, medic_tests::DISCORD_APP).await;
    let dir = tempfile::tempdir().unwrap();
    let section = format!(
        "[discord]\napplication_id = \"{}\"\npublic_key = \"{}\"\nbot_token = \"{DISCORD_TOKEN}\"\napi_url = \"{}\"\n",
        medic_tests::DISCORD_APP,
        medic_tests::signing::discord_public_key(&discord_key(1)),
        fake.api_url()
    );
    let listed = dir.path().join("listed.toml");
    std::fs::write(
        &listed,
        format!("{section}guilds = [\"{GUILD}\", \"1290000000000000002\"]\ndefault_member_permissions = \"0\"\n"),
    )
    .unwrap();
    let open = dir.path().join("open.toml");
    std::fs::write(&open, &section).unwrap();
    let run = |config: &Path, args: &[&str]| {
        let mut argv = vec!["medic", "--config", config.to_str().unwrap()];
        argv.extend_from_slice(args);
        medic::cli::run(medic::cli::Cli::parse_from(argv))
    };

    assert_eq!(run(&listed, &["discord", "register"]).await, 0);
    for guild in [GUILD, "1290000000000000002"] {
        let commands = fake
            .commands(Some(guild))
            .expect("registered in the server");
        assert_eq!(commands[0]["name"], "diag");
        for c in commands.as_array().unwrap() {
            assert_eq!(c["default_member_permissions"], "0", "{c}");
        }
    }
    assert_eq!(
        fake.commands(None),
        Some(json!([])),
        "no command is left global, where any server would be offered it"
    );
    let calls = fake.calls_to("commands");
    let paths: Vec<&str> = calls.iter().map(|c| c.path.as_str()).collect();
    let app = medic_tests::DISCORD_APP;
    assert_eq!(
        paths,
        [
            format!("/applications/{app}/guilds/{GUILD}/commands"),
            format!("/applications/{app}/guilds/1290000000000000002/commands"),
            format!("/applications/{app}/commands"),
        ]
    );
    assert!(calls.iter().all(|c| c.method == "PUT"
        && c.status == 200
        && c.authorization.as_deref() == Some(&*format!("Bot {DISCORD_TOKEN}"))));

    // A server not on the list is not registered.
    assert_eq!(
        run(
            &listed,
            &["discord", "register", "--guild", "1290000000000000003"]
        )
        .await,
        64
    );
    assert_eq!(fake.calls_to("commands").len(), 3, "nothing sent");

    // Without a list: globally, for servers only (not DMs, not user
    // installs).
    assert_eq!(run(&open, &["discord", "register"]).await, 0);
    let global = fake.commands(None).unwrap();
    for c in global.as_array().unwrap() {
        assert_eq!(c["contexts"], json!([0]), "{c}");
        assert_eq!(c["integration_types"], json!([0]), "{c}");
        assert!(c.get("default_member_permissions").is_none(), "{c}");
    }
}
