//! Remediation buttons on Discord, through the real endpoint with real
//! Ed25519 signatures and the faithful fake Discord: offers as message
//! components in a report's thread, clicks answered at once (6, or 4 with
//! flags 64), refusals naming the rule as ephemeral follow-ups, two-person
//! approval with Approve/Deny edited away once decided, exactly-once
//! runs, and nothing at all for tampered or foreign ids.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use medic_tests::fakes::discord::all_text;
use medic_tests::signing::{discord_key, discord_signature};
use medic_tests::{DISCORD_CHANNEL, Options, TestMedic, now_unix, services, spawn_medic};
use serde_json::{Value, json};

use crate::remediation::{audited_events, files};

const LIMIT: Duration = Duration::from_secs(30);
/// In `group:sre` (Discord user ids).
const ALICE: &str = "500000000000000001";
const BOB: &str = "500000000000000002";
const CAROL: &str = "500000000000000003";
/// In no group.
const MALLORY: &str = "500000000000000666";

/// The target is a closed port on 127.0.0.2: its trouble (and so the
/// offer's precondition) lasts, whereas a closed port on 127.0.0.1 can be
/// taken by any other test's listener on port 0 meanwhile.
async fn medic(dir: &Path, approvals: u32) -> TestMedic {
    medic_with(dir, approvals, "").await
}

/// [`medic`] with `more` configuration (TOML) besides.
async fn medic_with(dir: &Path, approvals: u32, more: &str) -> TestMedic {
    let port = services::dead_port().await;
    spawn_medic(Options {
        targets: format!(
            "[targets.svc]\nkind = \"tcp\"\naddress = \"127.0.0.2:{port}\"\ntimeout = \"2s\"\n"
        ),
        extra: format!(
            "[groups]\nsre = [\"{ALICE}\", \"{BOB}\", \"{CAROL}\"]\n\
             [actions.mark]\ntitle = \"Mark a run\"\nkind = \"command\"\nrun = [\"mktemp\", \"-p\", \"{}\"]\n\
             offered_on = [\"svc\"]\nmay_request = [\"group:sre\"]\nmay_approve = [\"group:sre\"]\napprovals = {approvals}\n{more}",
            dir.display()
        ),
        discord: true,
        ..Default::default()
    })
    .await
}

/// `/diag svc` from the channel; returns the report's thread id and the
/// offer button's `custom_id`.
async fn diag_with_offer(m: &TestMedic) -> (String, String) {
    let discord = m.discord();
    discord.expect_interaction("tok-diag", DISCORD_CHANNEL);
    let body = json!({
        "id": "1300000000000000099",
        "application_id": medic_tests::DISCORD_APP,
        "type": 2,
        "token": "tok-diag",
        "version": 1,
        "guild_id": "1290000000000000001",
        "channel_id": DISCORD_CHANNEL,
        "member": { "user": { "id": ALICE, "username": "alice" }, "roles": [] },
        "data": { "id": "1300000000000000001", "name": "diag", "type": 1,
                  "options": [{ "type": 3, "name": "target", "value": "svc" }] },
    });
    let (status, answer) = m.interaction(&body).await;
    assert_eq!((status, answer), (200, json!({ "type": 5 })));
    discord
        .wait_until("an offer in the report's thread", LIMIT, |d| {
            d.original("tok-diag")
                .is_some_and(|(id, _)| !d.buttons(&id, "medic.request:").is_empty())
        })
        .await;
    let (thread, _) = discord.original("tok-diag").unwrap();
    let (custom_id, _) = discord.buttons(&thread, "medic.request:").remove(0);
    (thread, custom_id)
}

/// A fresh interaction token per click, as Discord gives each one.
pub(crate) fn token() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    format!("tok-click-{}", NEXT.fetch_add(1, Ordering::SeqCst))
}

/// A button click (type 3) as Discord sends it (its shape from the docs'
/// fixture), by `user` in `channel`, on `custom_id`.
pub(crate) fn click_body(token: &str, user: &str, channel: &str, custom_id: &str) -> Value {
    let raw = std::fs::read(format!(
        "{}/fixtures/discord/message_component_button_docs_2021.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut v: Value = serde_json::from_slice(&raw).unwrap();
    v["token"] = token.into();
    v["application_id"] = medic_tests::DISCORD_APP.into();
    v["channel_id"] = channel.into();
    v["message"]["channel_id"] = channel.into();
    v["member"]["user"]["id"] = user.into();
    v["member"]["user"]["username"] = user.into();
    v["data"]["custom_id"] = custom_id.into();
    v
}

/// Clicks; the answer must come at once and be a deferred update.
/// Returns the click's token (where its private answers go).
pub(crate) async fn click(m: &TestMedic, user: &str, channel: &str, custom_id: &str) -> String {
    let token = token();
    m.discord().expect_interaction(&token, channel);
    let (status, answer) = m
        .interaction(&click_body(&token, user, channel, custom_id))
        .await;
    assert_eq!((status, answer), (200, json!({ "type": 6 })));
    token
}

/// The status message in `thread` (the one with `text` in it), as it
/// reads now, once `pred` holds for it.
async fn wait_for_status(m: &TestMedic, thread: &str, pred: impl Fn(&str) -> bool) -> Value {
    let discord = m.discord();
    discord
        .wait_until("a status message", LIMIT, |d| {
            d.messages_in(thread)
                .iter()
                .any(|(_, b)| pred(&all_text(b)))
        })
        .await;
    discord
        .messages_in(thread)
        .into_iter()
        .map(|(_, b)| b)
        .find(|b| pred(&all_text(b)))
        .unwrap()
}

#[tokio::test]
async fn discord_refusals_name_the_rule_and_approval_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let m = medic(dir.path(), 1).await;
    let (thread, offer) = diag_with_offer(&m).await;
    let discord = m.discord();

    // Not in the group: refused privately, naming the rule.
    let t = click(&m, MALLORY, &thread, &offer).await;
    let said = discord.wait_for_followups(&t, 1, LIMIT).await;
    assert!(
        said[0].contains("may_request = [\"group:sre\"]"),
        "{said:?}"
    );

    // A changed id names nothing; nothing runs.
    let mut tampered = offer.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    let t = click(&m, ALICE, &thread, &tampered).await;
    let said = discord.wait_for_followups(&t, 1, LIMIT).await;
    assert!(said[0].contains("nothing was run"), "{said:?}");

    // The right id from another channel names nothing either.
    let t = click(&m, ALICE, DISCORD_CHANNEL, &offer).await;
    let said = discord.wait_for_followups(&t, 1, LIMIT).await;
    assert!(said[0].contains("nothing was run"), "{said:?}");

    // A forged signature does not get in at all.
    let body = serde_json::to_vec(&click_body("tok-forged", ALICE, &thread, &offer)).unwrap();
    let ts = now_unix().to_string();
    let forged = discord_signature(&discord_key(99), &ts, &body);
    let (status, _) = m
        .post_json(
            "/discord/interactions",
            &[
                ("x-signature-ed25519", forged),
                ("x-signature-timestamp", ts),
            ],
            body,
        )
        .await;
    assert_eq!(status, 401);

    // The requester asks: a status message with Approve and Deny.
    let t = click(&m, ALICE, &thread, &offer).await;
    let said = discord.wait_for_followups(&t, 1, LIMIT).await;
    assert!(said[0].contains("Requested **Mark a run**"), "{said:?}");
    let (approve, status_id) = discord
        .wait_for_buttons(&thread, "medic.approve:", LIMIT)
        .await
        .remove(0);
    assert_eq!(discord.buttons(&thread, "medic.deny:").len(), 1);

    // The requester cannot approve their own request.
    let t = click(&m, ALICE, &thread, &approve).await;
    let said = discord.wait_for_followups(&t, 1, LIMIT).await;
    assert!(said[0].contains("never counts"), "{said:?}");
    assert!(files(dir.path()).is_empty(), "ran before approval");

    // Two approvers at once: one run; the buttons are edited away.
    tokio::join!(
        click(&m, BOB, &thread, &approve),
        click(&m, CAROL, &thread, &approve)
    );
    let status = wait_for_status(&m, &thread, |t| {
        t.contains("Mark a run") && t.contains("succeeded")
    })
    .await;
    let text = all_text(&status);
    assert!(text.contains("Approved by"), "{text}");
    assert_eq!(status["components"], json!([]), "{status}");
    assert_eq!(discord.message(&status_id).unwrap(), status);

    // A replayed approval after the run changes nothing.
    let t = click(&m, BOB, &thread, &approve).await;
    let said = discord.wait_for_followups(&t, 1, LIMIT).await;
    assert!(said[0].contains("already succeeded"), "{said:?}");
    assert_eq!(files(dir.path()).len(), 1, "{:?}", files(dir.path()));

    let events = audited_events(&m).await;
    for e in ["offered", "refused", "requested", "approved", "succeeded"] {
        assert!(events.iter().any(|x| x == e), "{e} not audited: {events:?}");
    }
    assert_eq!(events.iter().filter(|e| *e == "started").count(), 1);
    // Every call medic made to Discord was accepted (limits included).
    for call in discord.calls() {
        assert_eq!(call.status, 200, "{call:?}");
    }
    m.stop().await.unwrap();
}

#[tokio::test]
async fn discord_double_click_without_approval_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let m = medic(dir.path(), 0).await;
    let (thread, offer) = diag_with_offer(&m).await;
    let (a, b) = tokio::join!(
        click(&m, ALICE, &thread, &offer),
        click(&m, ALICE, &thread, &offer)
    );
    wait_for_status(&m, &thread, |t| {
        t.contains("Mark a run") && t.contains("succeeded")
    })
    .await;
    let discord = m.discord();
    discord
        .wait_until("the second click's answer", LIMIT, |d| {
            d.followups_to(&a)
                .iter()
                .chain(d.followups_to(&b).iter())
                .any(|s| s.contains("already used"))
        })
        .await;
    assert_eq!(files(dir.path()).len(), 1, "{:?}", files(dir.path()));
    m.stop().await.unwrap();
}

#[tokio::test]
async fn clicks_on_discord_spend_the_persons_command_budget() {
    // Mallory (in no group) presses a button in a loop: the first presses
    // are refused by the policy (and audited); past the burst, each is
    // refused at once for the rate, runs nothing and writes nothing.
    let dir = tempfile::tempdir().unwrap();
    let m = medic_with(
        dir.path(),
        0,
        "[limits]\ncommands_per_minute = 1\ncommand_burst = 2\n",
    )
    .await;
    let (thread, offer) = diag_with_offer(&m).await;
    let mut said = Vec::new();
    for _ in 0..4 {
        let t = click(&m, MALLORY, &thread, &offer).await;
        said.push(m.discord().wait_for_followups(&t, 1, LIMIT).await.remove(0));
    }
    assert!(said[0].contains("may_request"), "{said:?}");
    assert!(said[1].contains("may_request"), "{said:?}");
    for s in &said[2..] {
        assert!(
            s.contains("Too many requests from you just now; nothing was run"),
            "{said:?}"
        );
    }
    let refused = audited_events(&m)
        .await
        .into_iter()
        .filter(|e| e == "refused")
        .count();
    assert_eq!(refused, 2, "a limited click is not an audit row");
    assert!(files(dir.path()).is_empty());
    m.stop().await.unwrap();
}

#[tokio::test]
async fn a_button_that_is_not_medics_gets_an_ephemeral_no() {
    let dir = tempfile::tempdir().unwrap();
    let m = medic(dir.path(), 0).await;
    let (thread, _) = diag_with_offer(&m).await;
    let (status, answer) = m
        .interaction(&click_body(&token(), ALICE, &thread, "click_one"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["type"], 4);
    assert_eq!(answer["data"]["flags"], 64);
    assert!(
        answer["data"]["content"]
            .as_str()
            .unwrap()
            .contains("nothing was run")
    );
    assert!(files(dir.path()).is_empty());
    m.stop().await.unwrap();
}
