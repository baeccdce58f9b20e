//! Discord in gateway mode: medic's real serenity client against the fake
//! gateway of the fake Discord — IDENTIFY with the bot token and no
//! privileged intent, heartbeats, interactions injected as
//! INTERACTION_CREATE and answered through the callback (then the same
//! report and button flow as over HTTP), and one connection among
//! replicas through the lock in the real Redis.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use medic_tests::fakes::discord::all_text;
use medic_tests::fakes::discord_gateway::PRIVILEGED_INTENTS;
use medic_tests::{
    DISCORD_CHANNEL, DISCORD_TOKEN, FakeDiscord, Options, TestMedic, redis_target, require_redis,
    services, spawn_medic,
};
use serde_json::{Value, json};

use crate::remediation::{audited_events, files};

const LIMIT: Duration = Duration::from_secs(30);
/// In `group:sre`.
const ALICE: &str = "500000000000000001";
/// In no group.
const MALLORY: &str = "500000000000000666";

/// A fresh number per call: interaction ids and tokens, application ids.
fn next() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

/// A fake Discord for an application of this test's own: the gateway lock
/// is per application, and tests run in parallel against one Redis.
async fn own_discord() -> FakeDiscord {
    let app = format!("11{:08}{:08}", std::process::id(), next());
    FakeDiscord::start(DISCORD_TOKEN, &app).await
}

async fn gateway_medic(targets: String, extra: String, redis: Option<String>) -> TestMedic {
    spawn_medic(Options {
        targets,
        extra,
        discord_fake: Some(own_discord().await),
        discord_gateway: true,
        redis,
        ..Default::default()
    })
    .await
}

/// `/diag <target>` by Alice with every field Discord sends today, so
/// serenity reads it with its own structs.
fn diag(m: &TestMedic, target: &str) -> Value {
    let n = next();
    json!({
        "id": format!("13000000000{n:08}"),
        "application_id": m.discord().application_id(),
        "type": 2,
        "token": format!("tok-gw-diag-{n}"),
        "version": 1,
        "guild_id": "1290000000000000001",
        "channel_id": DISCORD_CHANNEL,
        "channel": { "id": DISCORD_CHANNEL, "type": 0, "name": "incidents" },
        "member": {
            "user": { "id": ALICE, "username": "alice", "global_name": "Alice", "discriminator": "0", "avatar": null },
            "nick": null, "roles": [], "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "deaf": false, "mute": false, "flags": 0, "pending": false, "permissions": "2147483647"
        },
        "data": { "id": "1300000000000000001", "name": "diag", "type": 1,
                  "options": [{ "type": 3, "name": "target", "value": target }] },
        "app_permissions": "2147483647",
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": { "0": "1290000000000000001" },
        "context": 0,
        "attachment_size_limit": 26214400
    })
}

fn fixture(name: &str) -> Value {
    let raw = std::fs::read(format!(
        "{}/fixtures/discord/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

/// Injects `interaction` into the one live connection and returns its
/// single callback's body.
async fn inject(m: &TestMedic, interaction: &Value) -> Value {
    let discord = m.discord();
    assert_eq!(discord.inject_interaction(interaction), 1, "one connection");
    let token = interaction["token"].as_str().unwrap().to_string();
    discord
        .wait_until("the interaction's callback", LIMIT, |d| {
            !d.callbacks_to(&token).is_empty()
        })
        .await;
    let calls = discord.callbacks_to(&token);
    assert_eq!(calls.len(), 1, "answered once: {calls:?}");
    assert_eq!(calls[0].status, 204, "{calls:?}");
    assert_eq!(calls[0].authorization, None, "callbacks take no bot token");
    calls[0].body.clone()
}

#[tokio::test]
async fn gateway_mode_identifies_with_the_bot_token_and_no_privileged_intent() {
    let m = gateway_medic(String::new(), String::new(), None).await;
    let gateway = m.discord().gateway().clone();
    gateway.wait_live(1, LIMIT).await;
    let session = gateway.identified().remove(0);
    let identify = session.identify.clone().unwrap();
    let token = identify["token"].as_str().unwrap();
    assert_eq!(token.strip_prefix("Bot ").unwrap_or(token), DISCORD_TOKEN);
    let intents = identify["intents"].as_u64().unwrap();
    assert_eq!(intents, 1, "GUILDS only");
    assert_eq!(intents & PRIVILEGED_INTENTS, 0);
    assert!(session.path.contains("v=10"), "{}", session.path);
    assert!(
        !m.discord().calls_to("gateway").is_empty(),
        "the URL came from GET /gateway of discord.api_url"
    );
    // Heartbeats are answered, and the connection stays up through them.
    gateway
        .wait_until("two heartbeats", LIMIT, |g| g.sessions()[0].heartbeats >= 2)
        .await;
    assert_eq!(gateway.live(), 1);
    assert_eq!(gateway.sessions().len(), 1, "no reconnects");

    // No public key in gateway mode: nothing is taken over HTTP.
    let (status, _) = m
        .interaction(&fixture("application_command_slash_options_docs.json"))
        .await;
    assert_eq!(status, 401);

    // Stopping medic closes the connection cleanly.
    m.stop().await.unwrap();
    let s = gateway.sessions().remove(0);
    assert!(s.ended, "{s:?}");
    assert_eq!(s.closed, Some(1000), "{s:?}");
}

#[tokio::test]
async fn a_dropped_connection_is_reopened_and_interactions_still_answered() {
    let m = gateway_medic(String::new(), String::new(), None).await;
    let gateway = m.discord().gateway().clone();
    gateway.wait_live(1, LIMIT).await;
    assert_eq!(gateway.drop_connections(4000), 1);
    // The fake knows no session to resume: serenity identifies anew.
    gateway
        .wait_until("a second identified session", LIMIT, |g| {
            g.identified().len() == 2 && g.live() == 1
        })
        .await;
    let mut v = fixture("autocomplete_minimal_djs_test.json");
    v["id"] = json!("1340000000000000001");
    v["token"] = json!("tok-after-reconnect");
    assert_eq!(inject(&m, &v).await["type"], 8);
    m.stop().await.unwrap();
}

#[tokio::test]
async fn diag_over_the_gateway_is_deferred_by_callback_then_reported_in_a_thread() {
    let redis = require_redis!();
    let m = gateway_medic(redis_target("redis", &redis), String::new(), None).await;
    let discord = m.discord();
    discord.gateway().wait_live(1, LIMIT).await;

    let interaction = diag(&m, "redis");
    let token = interaction["token"].as_str().unwrap().to_string();
    assert_eq!(inject(&m, &interaction).await, json!({ "type": 5 }));

    discord
        .wait_until("a report in a thread", LIMIT, |d| {
            d.original(&token)
                .is_some_and(|(id, _)| !d.messages_in(&id).is_empty())
        })
        .await;
    let (root_id, root) = discord.original(&token).unwrap();
    let root_text = all_text(&root);
    assert!(root_text.contains("redis (127.0.0.1:"), "{root_text}");
    assert!(root_text.contains("/diag redis by Alice"), "{root_text}");
    let (parent, _) = discord.thread(&root_id).expect("a thread on the answer");
    assert_eq!(parent, DISCORD_CHANNEL);
    let details: String = discord
        .messages_in(&root_id)
        .iter()
        .map(|(_, m)| all_text(m))
        .collect();
    assert!(details.contains("PING"), "{details}");
    // The callback came first: every later call through the token was
    // accepted (the fake refuses them before it).
    for call in discord.calls() {
        assert!(call.status == 200 || call.status == 204, "{call:?}");
    }
    m.stop().await.unwrap();
}

#[tokio::test]
async fn every_vendor_interaction_payload_over_the_gateway_gets_one_valid_callback() {
    let m = gateway_medic(String::new(), String::new(), None).await;
    m.discord().gateway().wait_live(1, LIMIT).await;
    let dir = format!("{}/fixtures/discord", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        // Discord sends PING only to HTTP endpoints.
        if !name.ends_with(".json")
            || name.starts_with("signature_vector")
            || name.starts_with("ping")
        {
            continue;
        }
        // Most of these lack fields serenity insists on: they take medic's
        // own parser. Several share a token; Discord's are unique.
        let mut v = fixture(&name);
        let n = next();
        v["id"] = json!(format!("13100000000{n:08}"));
        v["token"] = json!(format!("tok-fixture-{n}"));
        let answer = inject(&m, &v).await;
        let kind = answer["type"].as_u64().unwrap_or_default();
        assert!([4, 5, 8].contains(&kind), "{name}: {answer}");
        if kind == 4 {
            assert_eq!(
                answer["data"]["flags"], 64,
                "{name}: only its author sees it"
            );
        }
        seen += 1;
    }
    assert_eq!(seen, 7);
    m.stop().await.unwrap();
}

#[tokio::test]
async fn a_button_over_the_gateway_runs_the_same_policy_and_audit_as_over_http() {
    let redis = require_redis!();
    let dir = tempfile::tempdir().unwrap();
    let port = services::dead_port().await;
    let m = gateway_medic(
        format!("[targets.svc]\nkind = \"tcp\"\naddress = \"127.0.0.2:{port}\"\ntimeout = \"2s\"\n"),
        format!(
            "[groups]\nsre = [\"{ALICE}\"]\n\
             [actions.mark]\ntitle = \"Mark a run\"\nkind = \"command\"\nrun = [\"mktemp\", \"-p\", \"{}\"]\n\
             offered_on = [\"svc\"]\nmay_request = [\"group:sre\"]\nmay_approve = [\"group:sre\"]\napprovals = 0\n",
            dir.path().display()
        ),
        // With the lock: this medic must take it before it connects.
        Some(redis),
    )
    .await;
    let discord = m.discord();
    discord.gateway().wait_live(1, LIMIT).await;

    let interaction = diag(&m, "svc");
    let token = interaction["token"].as_str().unwrap().to_string();
    assert_eq!(inject(&m, &interaction).await, json!({ "type": 5 }));
    discord
        .wait_until("an offer in the report's thread", LIMIT, |d| {
            d.original(&token)
                .is_some_and(|(id, _)| !d.buttons(&id, "medic.request:").is_empty())
        })
        .await;
    let (thread, _) = discord.original(&token).unwrap();
    let (offer, _) = discord.buttons(&thread, "medic.request:").remove(0);

    // A click as Discord's docs show one (serenity cannot read it; medic's
    // parser does), by `user` in the thread.
    let click = |user: &str| {
        let mut v = fixture("message_component_button_docs_2021.json");
        let n = next();
        v["id"] = json!(format!("13200000000{n:08}"));
        v["token"] = json!(format!("tok-gw-click-{n}"));
        v["application_id"] = json!(discord.application_id());
        v["channel_id"] = json!(thread);
        v["message"]["channel_id"] = json!(thread);
        v["member"]["user"]["id"] = json!(user);
        v["member"]["user"]["username"] = json!(user);
        v["data"]["custom_id"] = json!(offer);
        v
    };

    // Not in the group: a deferred update, then a private refusal naming
    // the rule.
    let refused = click(MALLORY);
    assert_eq!(inject(&m, &refused).await, json!({ "type": 6 }));
    let said = discord
        .wait_for_followups(refused["token"].as_str().unwrap(), 1, LIMIT)
        .await;
    assert!(
        said[0].contains("may_request = [\"group:sre\"]"),
        "{said:?}"
    );
    assert!(files(dir.path()).is_empty());

    // Alice may, and no approval is needed: it runs once.
    let ok = click(ALICE);
    assert_eq!(inject(&m, &ok).await, json!({ "type": 6 }));
    discord
        .wait_until("the run's status message", LIMIT, |d| {
            d.messages_in(&thread).iter().any(|(_, b)| {
                let t = all_text(b);
                t.contains("Mark a run") && t.contains("succeeded")
            })
        })
        .await;
    assert_eq!(files(dir.path()).len(), 1);
    let events = audited_events(&m).await;
    for e in ["offered", "refused", "requested", "succeeded"] {
        assert!(events.iter().any(|x| x == e), "{e} not audited: {events:?}");
    }
    m.stop().await.unwrap();
}

#[tokio::test]
async fn with_redis_one_replica_holds_the_gateway_and_another_takes_over_when_it_stops() {
    let redis = require_redis!();
    let discord = own_discord().await;
    let key = format!("medic:discord:gateway:{}", discord.application_id());
    let spawn = || {
        spawn_medic(Options {
            discord_fake: Some(discord.clone()),
            discord_gateway: true,
            redis: Some(redis.clone()),
            ..Default::default()
        })
    };
    let first = spawn().await;
    let gateway = discord.gateway().clone();
    gateway.wait_live(1, LIMIT).await;

    // The second replica's first try at the lock (SET NX) shows in Redis:
    // it tried while the first holds it, so it waits.
    let monitor = services::RedisMonitor::start(&redis).await;
    let second = spawn().await;
    let tried = monitor
        .wait_for("the second replica's try at the lock", LIMIT, |l| {
            l.contains(&format!("\"SET\" \"{key}\""))
        })
        .await;
    drop(monitor);
    assert_eq!(gateway.identified().len(), 1, "{:#?}", gateway.sessions());
    let holder = services::redis_cmd(&redis, &["GET", &key]).await.unwrap();
    assert!(matches!(holder, redis::Value::BulkString(_)), "{holder:?}");
    let redis::Value::BulkString(first_id) = &holder else {
        panic!("{holder:?}")
    };
    assert!(
        !tried.contains(&format!("\"{}\"", String::from_utf8_lossy(first_id))),
        "the try came from the second replica, not the holder: {tried}"
    );
    // Each says whether it holds the connection, as it says its duties.
    const HELD: &str = "duty: discord-gateway";
    assert!(first.get("/readyz").await.1.contains(HELD));
    assert!(!second.get("/readyz").await.1.contains(HELD));
    assert!(
        first
            .get("/metrics")
            .await
            .1
            .contains("medic_duty_held{duty=\"discord-gateway\"} 1")
    );
    // An interaction reaches one medic and is answered once.
    let mut v = fixture("autocomplete_minimal_djs_test.json");
    v["id"] = json!("1330000000000000001");
    v["token"] = json!("tok-lock-1");
    assert_eq!(discord.inject_interaction(&v), 1);
    discord
        .wait_until("its callback", LIMIT, |d| {
            !d.callbacks_to("tok-lock-1").is_empty()
        })
        .await;

    // The holder stops: its connection closes, its lock is released, and
    // the other medic connects without waiting out the TTL.
    first.stop().await.unwrap();
    assert_eq!(gateway.sessions()[0].closed, Some(1000));
    gateway
        .wait_until(
            "the second medic identified",
            Duration::from_secs(10),
            |g| g.identified().len() == 2 && g.live() == 1,
        )
        .await;
    let new_holder = services::redis_cmd(&redis, &["GET", &key]).await.unwrap();
    assert_ne!(new_holder, holder, "the lock changed hands");
    assert!(second.get("/readyz").await.1.contains(HELD));

    second.stop().await.unwrap();
    let gone = services::redis_cmd(&redis, &["EXISTS", &key])
        .await
        .unwrap();
    assert_eq!(gone, redis::Value::Int(0), "released on shutdown");
}
