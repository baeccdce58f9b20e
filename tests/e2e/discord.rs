//! Discord over HTTP interactions: real Ed25519 signatures, the vendor's
//! interaction payloads, `/diag` deferred and answered in a thread through
//! a faithful fake Discord, and its 429s waited out.

use std::time::Duration;

use medic_tests::fakes::discord::all_text;
use medic_tests::signing::{discord_key, discord_signature};
use medic_tests::{
    DISCORD_CHANNEL, DISCORD_TOKEN, Options, TestMedic, dead_redis_target, now_unix, redis_target,
    require_redis, spawn_medic,
};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(20);

async fn spawn(targets: String) -> TestMedic {
    spawn_medic(Options {
        targets,
        discord: true,
        ..Default::default()
    })
    .await
}

/// A `/diag` interaction as Discord sends it from a server channel.
fn diag(token: &str, target: Option<&str>) -> Value {
    diag_in(token, target, DISCORD_CHANNEL)
}

/// [`diag`] from `channel`.
fn diag_in(token: &str, target: Option<&str>, channel: &str) -> Value {
    let options: Vec<Value> = target
        .map(|t| json!({ "type": 3, "name": "target", "value": t }))
        .into_iter()
        .collect();
    json!({
        "id": "1300000000000000099",
        "application_id": medic_tests::DISCORD_APP,
        "type": 2,
        "token": token,
        "version": 1,
        "guild_id": "1290000000000000001",
        "channel_id": channel,
        "member": {
            "user": { "id": "53908232506183680", "username": "mason", "global_name": "Mason" },
            "nick": null,
            "roles": []
        },
        "data": { "id": "1300000000000000001", "name": "diag", "type": 1, "options": options },
        "locale": "en-US"
    })
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/fixtures/discord/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

async fn post_signed_raw(medic: &TestMedic, body: Vec<u8>, ts: &str, sig: String) -> u16 {
    medic
        .post_json(
            "/discord/interactions",
            &[
                ("x-signature-ed25519", sig),
                ("x-signature-timestamp", ts.to_string()),
            ],
            body,
        )
        .await
        .0
}

#[tokio::test]
async fn ping_is_answered_and_anything_unsigned_is_401() {
    let medic = spawn(String::new()).await;
    let body = fixture("ping_djs_test.json");
    let (status, answer) = medic
        .interaction(&serde_json::from_slice(&body).unwrap())
        .await;
    assert_eq!((status, answer), (200, json!({ "type": 1 })));

    let ts = now_unix().to_string();
    // Signed by another key: Discord's own probe.
    let forged = discord_signature(&discord_key(8), &ts, &body);
    assert_eq!(
        post_signed_raw(&medic, body.clone(), &ts, forged).await,
        401
    );
    // Signed, then altered.
    let sig = discord_signature(&discord_key(medic_tests::DISCORD_KEY_SEED), &ts, &body);
    let mut altered = body.clone();
    altered.push(b' ');
    assert_eq!(post_signed_raw(&medic, altered, &ts, sig).await, 401);
    // Signed long ago: a replay.
    let old = (now_unix() - 3600).to_string();
    let sig = discord_signature(&discord_key(medic_tests::DISCORD_KEY_SEED), &old, &body);
    assert_eq!(post_signed_raw(&medic, body.clone(), &old, sig).await, 401);
    // No headers at all.
    let (status, _) = medic.post_json("/discord/interactions", &[], body).await;
    assert_eq!(status, 401);
    // Over 1 MiB, refused before it is read.
    let huge = vec![b' '; 1024 * 1024 + 10];
    let ts = now_unix().to_string();
    let sig = discord_signature(&discord_key(medic_tests::DISCORD_KEY_SEED), &ts, &huge);
    assert_eq!(post_signed_raw(&medic, huge, &ts, sig).await, 413);
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn every_vendor_interaction_payload_gets_a_valid_answer() {
    let medic = spawn(String::new()).await;
    let dir = format!("{}/fixtures/discord", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !name.ends_with(".json") || name.starts_with("signature_vector") {
            continue;
        }
        let body: Value = serde_json::from_slice(&fixture(&name)).unwrap();
        let (status, answer) = medic.interaction(&body).await;
        assert_eq!(status, 200, "{name}: {answer}");
        let kind = answer["type"].as_u64().unwrap_or_default();
        assert!([1, 4, 5, 8].contains(&kind), "{name}: {answer}");
        if kind == 4 {
            assert_eq!(
                answer["data"]["flags"], 64,
                "{name}: only its author sees it"
            );
        }
        seen += 1;
    }
    assert_eq!(seen, 8);
    // None of them is a /diag: nothing was posted.
    assert!(medic.discord().calls().is_empty());
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn diag_defers_then_answers_with_a_root_and_the_report_in_its_thread() {
    let redis = require_redis!();
    let medic = spawn(redis_target("redis", &redis)).await;
    let discord = medic.discord();
    discord.expect_interaction("tok-diag", DISCORD_CHANNEL);

    let (status, answer) = medic.interaction(&diag("tok-diag", Some("redis"))).await;
    assert_eq!(
        (status, answer),
        (200, json!({ "type": 5 })),
        "deferred at once"
    );

    discord
        .wait_until("a report in a thread", LIMIT, |d| {
            d.original("tok-diag")
                .is_some_and(|(id, _)| !d.messages_in(&id).is_empty())
        })
        .await;
    let (root_id, root) = discord.original("tok-diag").unwrap();
    let root_text = all_text(&root);
    assert!(root_text.contains("redis (127.0.0.1:"), "{root_text}");
    assert!(root_text.contains("/diag redis by Mason"), "{root_text}");
    let (parent, name) = discord.thread(&root_id).expect("a thread on the answer");
    assert_eq!(parent, DISCORD_CHANNEL);
    assert!(name.contains("redis"), "{name}");
    let thread = discord.messages_in(&root_id);
    let details: String = thread.iter().map(|(_, m)| all_text(m)).collect();
    assert!(details.contains("PING"), "{details}");

    // The answer goes through the interaction webhook, without the bot
    // token; everything else carries it.
    for call in discord.calls() {
        match call.route {
            "edit_original" | "followup" => assert_eq!(call.authorization, None),
            _ => assert_eq!(
                call.authorization.as_deref(),
                Some(format!("Bot {DISCORD_TOKEN}").as_str()),
                "{}",
                call.path
            ),
        }
        assert_eq!(call.status, 200, "{call:?}");
    }
    let run = medic
        .state
        .store
        .run(1)
        .await
        .unwrap()
        .expect("run #1 recorded");
    assert_eq!(run.channel, DISCORD_CHANNEL);
    assert_eq!(run.root_ts.as_deref(), Some(root_id.as_str()));
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn an_unknown_target_or_none_gets_ephemeral_help() {
    let medic = spawn(dead_redis_target("cache").await).await;
    let (status, answer) = medic.interaction(&diag("tok-x", Some("nope"))).await;
    assert_eq!(status, 200);
    assert_eq!(answer["type"], 4);
    assert_eq!(answer["data"]["flags"], 64);
    let text = answer["data"]["content"].as_str().unwrap();
    assert!(text.contains("I don't know the target `nope`"), "{text}");
    assert!(text.contains("cache"), "the help lists the targets: {text}");

    let (_, answer) = medic.interaction(&diag("tok-y", None)).await;
    assert_eq!(answer["data"]["flags"], 64);
    assert!(
        answer["data"]["content"]
            .as_str()
            .unwrap()
            .contains("cache")
    );
    assert!(medic.discord().calls().is_empty(), "nothing posted");
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn autocomplete_offers_the_configured_targets() {
    let targets = format!(
        "{}{}{}",
        dead_redis_target("cache").await,
        dead_redis_target("sessions-cache").await,
        dead_redis_target("queue").await
    );
    let medic = spawn(targets).await;
    let typing = |text: &str| {
        json!({
            "id": "1", "type": 4, "token": "t", "version": 1,
            "channel_id": DISCORD_CHANNEL,
            "data": { "id": "2", "name": "diag", "type": 1,
                      "options": [{ "type": 3, "name": "target", "value": text, "focused": true }] }
        })
    };
    let names = |answer: &Value| -> Vec<String> {
        assert_eq!(answer["type"], 8, "{answer}");
        answer["data"]["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["value"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, answer) = medic.interaction(&typing("cach")).await;
    assert_eq!(
        names(&answer),
        ["cache", "sessions-cache"],
        "prefix matches first"
    );
    let (_, answer) = medic.interaction(&typing("")).await;
    assert_eq!(names(&answer), ["cache", "queue", "sessions-cache", "all"]);
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn a_rate_limited_thread_waits_out_retry_after_and_the_report_still_arrives() {
    let medic = spawn(dead_redis_target("redis").await).await;
    let discord = medic.discord();
    discord.expect_interaction("tok-429", DISCORD_CHANNEL);
    discord.rate_limit("create_message", 2, 0.4);

    let (_, answer) = medic.interaction(&diag("tok-429", Some("redis"))).await;
    assert_eq!(answer, json!({ "type": 5 }));
    discord
        .wait_until("the report in its thread", LIMIT, |d| {
            d.original("tok-429")
                .is_some_and(|(id, _)| !d.messages_in(&id).is_empty())
        })
        .await;
    let (root_id, root) = discord.original("tok-429").unwrap();
    assert!(all_text(&root).contains("critical"), "{root}");
    let posts = discord.calls_to("create_message");
    let statuses: Vec<u16> = posts.iter().map(|c| c.status).collect();
    assert_eq!(&statuses[..3], [429, 429, 200]);
    for pair in posts.windows(2).take(2) {
        assert!(
            pair[1].at.duration_since(pair[0].at) >= Duration::from_millis(400),
            "retried before retry_after"
        );
    }
    let thread = discord.messages_in(&root_id);
    assert!(all_text(&thread[0].1).contains("refused"), "{:?}", thread);
    let metrics = medic.get("/metrics").await.1;
    assert!(
        metrics.contains(r#"medic_chat_posts_total{platform="discord",outcome="rate_limited"} 2"#),
        "{metrics}"
    );
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn where_no_thread_can_be_started_the_details_follow_as_replies() {
    let medic = spawn(dead_redis_target("redis").await).await;
    let discord = medic.discord();
    discord.expect_interaction("tok-dm", DISCORD_CHANNEL);
    discord.refuse("start_thread", 1);
    let (_, answer) = medic.interaction(&diag("tok-dm", Some("redis"))).await;
    assert_eq!(answer, json!({ "type": 5 }));
    discord
        .wait_until("a follow-up", LIMIT, |d| !d.calls_to("followup").is_empty())
        .await;
    let followup = &discord.calls_to("followup")[0];
    assert_eq!(followup.status, 200);
    assert!(
        all_text(&followup.body).contains("refused"),
        "{:?}",
        followup.body
    );
    assert!(discord.calls_to("create_message").is_empty());
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn discord_register_overwrites_the_commands_globally_or_in_a_guild() {
    use clap::Parser as _;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = medic_tests::FakeDiscord::start(DISCORD_TOKEN, medic_tests::DISCORD_APP).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("medic.toml");
    std::fs::write(
        &config,
        format!(
            "[discord]\napplication_id = \"{}\"\npublic_key = \"{}\"\nbot_token = \"{DISCORD_TOKEN}\"\napi_url = \"{}\"\n",
            medic_tests::DISCORD_APP,
            medic_tests::signing::discord_public_key(&discord_key(1)),
            fake.api_url()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut argv = vec!["medic", "--config", config.to_str().unwrap()];
        argv.extend_from_slice(args);
        medic::cli::run(medic::cli::Cli::parse_from(argv))
    };
    assert_eq!(
        run(&["discord", "register", "--guild", "1290000000000000001"]).await,
        0
    );
    let guild = fake
        .commands(Some("1290000000000000001"))
        .expect("guild commands");
    assert_eq!(guild[0]["name"], "diag");
    assert_eq!(guild[0]["options"][0]["name"], "target");
    assert_eq!(guild[0]["options"][0]["autocomplete"], true);
    assert!(fake.commands(None).is_none(), "not global");

    assert_eq!(run(&["discord", "register"]).await, 0);
    assert_eq!(fake.commands(None).unwrap()[0]["name"], "diag");
    let calls = fake.calls_to("commands");
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| c.method == "PUT"
        && c.authorization.as_deref() == Some(&*format!("Bot {DISCORD_TOKEN}"))));

    assert_eq!(run(&["discord", "register", "--guild", "nope"]).await, 64);
    assert_eq!(
        fake.calls_to("commands").len(),
        2,
        "a bad guild id is not sent"
    );
}

mod incidents {
    use medic_commands::model::alert::{Alert, AlertSource, AlertState, Severity};

    use super::*;

    const ALERTS: &str = "1200000000000000777";

    fn alert(state: AlertState) -> Alert {
        Alert {
            source: AlertSource::Sentry,
            fingerprint: "1170820242".into(),
            state,
            title: "ConnectionError: Error 111 connecting to redis:6379. Connection refused."
                .into(),
            severity: Severity::Error,
            service: Some("api".into()),
            host: None,
            labels: vec![],
            occurred_at: None,
            link: Some("https://sentry.io/organizations/acme/issues/1170820242/".into()),
            details: vec!["Root cause: redis.exceptions.ConnectionError".into()],
            chain: vec![],
        }
    }

    async fn deliver(medic: &TestMedic, id: &str, alert: Alert) {
        medic.deliver(id, alert).await;
    }

    /// The channel's only root, as it reads now.
    fn root(d: &medic_tests::FakeDiscord) -> Option<(String, String)> {
        let roots = d.messages_in(ALERTS);
        assert!(roots.len() <= 1, "one root per incident: {roots:#?}");
        roots.first().map(|(id, m)| (id.clone(), all_text(m)))
    }

    fn thread_text(d: &medic_tests::FakeDiscord) -> String {
        root(d)
            .map(|(id, _)| d.messages_in(&id))
            .unwrap_or_default()
            .iter()
            .map(|(_, m)| all_text(m))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn an_alert_routed_to_discord_gets_a_root_and_a_thread_that_follow_it() {
        let redis = require_redis!();
        let medic = spawn_medic(Options {
            targets: redis_target("cache", &redis),
            // The route names a Slack channel too; this medic's Slack is
            // configured, so only a Discord-only route goes to Discord.
            extra: format!(
                "[[routes]]\nmatch = {{ source = \"sentry\" }}\ndiscord_channel = \"{ALERTS}\"\n\n\
                 [[runbooks]]\nmatch = {{ title = \"(?i)redis\" }}\nrun = [\"cache\"]\n"
            ),
            discord: true,
            ..Default::default()
        })
        .await;
        let d = medic.discord();
        // Discord is busy when the root goes out: it waits and is sent.
        d.rate_limit("create_message", 1, 0.3);

        deliver(&medic, "d1", alert(AlertState::Firing)).await;
        d.wait_until("the runbook's report in the thread", LIMIT, |d| {
            thread_text(d).contains("PING answered")
        })
        .await;
        let (root_id, text) = root(d).unwrap();
        assert!(text.contains("ConnectionError"), "{text}");
        assert!(text.contains("seen 1×"), "{text}");
        let (parent, name) = d.thread(&root_id).expect("a thread on the root");
        assert_eq!(parent, ALERTS);
        assert!(name.starts_with("#1 ConnectionError"), "{name}");
        assert!(thread_text(d).contains("Root cause: redis.exceptions.ConnectionError"));

        // Repeats edit the root; a resolve edits it and adds a line.
        deliver(&medic, "d2", alert(AlertState::Firing)).await;
        d.wait_until("seen 2×", LIMIT, |d| {
            root(d).is_some_and(|(_, t)| t.contains("seen 2×"))
        })
        .await;
        deliver(&medic, "d3", alert(AlertState::Resolved)).await;
        d.wait_until("resolved", LIMIT, |d| {
            root(d).is_some_and(|(_, t)| t.starts_with("✅"))
                && thread_text(d).contains("✅ Resolved at")
        })
        .await;

        let creates = d.calls_to("create_message");
        assert_eq!(creates[0].status, 429);
        assert!(creates[1].at.duration_since(creates[0].at) >= Duration::from_millis(300));
        assert!(
            creates.iter().all(|c| c.body["nonce"]
                .as_str()
                .is_some_and(|n| n.starts_with("medic-"))),
            "every create carries its outbox nonce"
        );
        assert!(
            d.calls().iter().all(|c| c.status == 200 || c.status == 429),
            "{:#?}",
            d.calls()
        );
        assert_eq!(medic.state.store.outbox_count("failed").await.unwrap(), 0);
        assert!(medic.slack.calls().is_empty(), "nothing went to Slack");
        medic.stop().await.unwrap();
    }

    #[tokio::test]
    async fn a_note_finding_no_thread_starts_it() {
        let medic = spawn_medic(Options {
            extra: format!(
                "[[routes]]\nmatch = {{ source = \"sentry\" }}\ndiscord_channel = \"{ALERTS}\"\n"
            ),
            discord: true,
            ..Default::default()
        })
        .await;
        let d = medic.discord();
        // The thread cannot be started with the root (a permission
        // granted a moment later): the first note starts it.
        d.refuse("start_thread", 1);
        deliver(&medic, "d1", alert(AlertState::Firing)).await;
        d.wait_until("the note in the thread", LIMIT, |d| {
            thread_text(d).contains("Root cause")
        })
        .await;
        let starts: Vec<u16> = d
            .calls_to("start_thread")
            .iter()
            .map(|c| c.status)
            .collect();
        assert_eq!(starts, [403, 200]);
        let posts: Vec<u16> = d
            .calls_to("create_message")
            .iter()
            .map(|c| c.status)
            .collect();
        assert_eq!(
            posts,
            [200, 404, 200],
            "root, the note into no thread, the note again"
        );
        assert_eq!(medic.state.store.outbox_count("failed").await.unwrap(), 0);
        medic.stop().await.unwrap();
    }
}

#[tokio::test]
async fn a_global_429_holds_every_channel_until_it_has_passed() {
    let redis = require_redis!();
    let medic = spawn(redis_target("redis", &redis)).await;
    let discord = medic.discord();
    const OTHER: &str = "1200000000000000002";
    // The first report's answer meets Discord's global limit for 2 s.
    discord.rate_limit_globally("edit_original", 2.0);
    discord.expect_interaction("tok-global-a", DISCORD_CHANNEL);
    medic
        .interaction(&diag_in("tok-global-a", Some("redis"), DISCORD_CHANNEL))
        .await;
    discord
        .wait_until("the global 429", LIMIT, |d| {
            d.calls_to("edit_original").iter().any(|c| c.status == 429)
        })
        .await;
    // A report for another channel, ready within the window: its lane
    // waits too, instead of earning another 429.
    discord.expect_interaction("tok-global-b", OTHER);
    medic
        .interaction(&diag_in("tok-global-b", Some("redis"), OTHER))
        .await;
    discord
        .wait_until("both reports answered", LIMIT, |d| {
            d.original("tok-global-a").is_some() && d.original("tok-global-b").is_some()
        })
        .await;
    assert_eq!(
        discord.global_violations(),
        0,
        "no call while the global limit held: {:#?}",
        discord.calls()
    );
    medic.stop().await.unwrap();
}
