//! The same digest and button on the fake Discord: the headline pings the
//! incoming person only, alice is refused privately, bob's press edits
//! the digest and takes its button away.

use jiff::ToSpan;
use medic_tests::fakes::discord::all_text;
use medic_tests::{DISCORD_CHANNEL, Options, spawn_medic};

use super::{ALICE_DISCORD, BOB_DISCORD, LIMIT, Rotation};
use crate::discord_buttons::click;

#[tokio::test]
async fn the_digest_and_its_button_on_discord() {
    let r = Rotation::next();
    let m = spawn_medic(Options {
        extra: r.config(&format!("discord_channel = \"{DISCORD_CHANNEL}\"")),
        discord: true,
        ..Default::default()
    })
    .await;
    let discord = m.discord();
    m.state.clock.set(r.handover + 1.second());
    let buttons = discord
        .wait_for_buttons(DISCORD_CHANNEL, "medic.take:", LIMIT)
        .await;
    let (custom_id, message) = buttons[0].clone();
    let body = discord.message(&message).unwrap();
    assert_eq!(
        body["content"],
        format!(
            "Handoff **db**: <@{ALICE_DISCORD}> → <@{BOB_DISCORD}> · {}",
            {
                let z = r.handover.to_zoned(jiff::tz::TimeZone::UTC);
                z.strftime("%a %-d %b %H:%M UTC").to_string()
            }
        )
    );
    let posted = discord
        .calls_to("create_message")
        .into_iter()
        .find(|c| all_text(&c.body).contains("Handoff"))
        .expect("the digest's call");
    assert_eq!(
        posted.body["allowed_mentions"],
        serde_json::json!({ "parse": [], "users": [BOB_DISCORD] }),
        "only the incoming person is pinged"
    );
    let text = all_text(&body);
    assert!(text.contains("Open: none"), "{text}");
    assert!(text.contains("press I've got it"), "{text}");
    // The digest starts a thread named after the rotation.
    discord
        .wait_until("the digest's thread", LIMIT, |d| {
            d.thread(&message)
                .is_some_and(|(_, name)| name == "Handoff db")
        })
        .await;

    let t = click(&m, ALICE_DISCORD, DISCORD_CHANNEL, &custom_id).await;
    let said = discord.wait_for_followups(&t, 1, LIMIT).await;
    assert!(
        said[0].contains(&format!("Only <@{BOB_DISCORD}> can take this shift")),
        "{said:?}"
    );

    click(&m, BOB_DISCORD, DISCORD_CHANNEL, &custom_id).await;
    discord
        .wait_until("the digest taken", LIMIT, |d| {
            d.message(&message)
                .is_some_and(|b| all_text(&b).contains(&format!("Taken by <@{BOB_DISCORD}>")))
        })
        .await;
    assert!(
        discord.buttons(DISCORD_CHANNEL, "medic.take:").is_empty(),
        "the button is gone"
    );
    m.stop().await.unwrap();
}
