//! Purpose: remediation buttons as Discord message components — the offer
//! message in a report's thread (one button per offered action) and a
//! request's status message (edited as it moves; Approve and Deny while
//! pending) — and a component click back into a neutral [`ButtonClick`].
//!
//! A button's `custom_id` is `<verb>:<opaque id>` (e.g.
//! `medic.request:3f9c…`, 46 characters; Discord allows 100). It never
//! carries what to run: the id names a server-side offer or request, and
//! the server checks who clicked. Discord allows at most 5 action rows of
//! 5 buttons; offers past 25 are left out (and the message says so).

use medic_commands::actions::view::{APPROVE, DENY, OfferButton, REQUEST, StatusView};
use medic_commands::model::inbound::{ButtonClick, ClickVerb};
use serde_json::{Value, json};

use super::parse::Interaction;
use super::render::{DiscordMessage, MAX_CONTENT};
use crate::chat::shorten;

/// Characters of a `custom_id`.
pub const MAX_CUSTOM_ID: usize = 100;
/// Characters of a button's label.
pub const MAX_LABEL: usize = 80;
/// Buttons in one action row.
pub const MAX_PER_ROW: usize = 5;
/// Action rows in one message.
pub const MAX_ROWS: usize = 5;

/// Button styles (Discord's numbers).
pub(crate) const PRIMARY: u64 = 1;
const SECONDARY: u64 = 2;
const SUCCESS: u64 = 3;
const DANGER: u64 = 4;

/// The `custom_id` of a button asking for `verb` (one of
/// [`REQUEST`], [`APPROVE`], [`DENY`]) on the offer or request `id`.
pub fn custom_id(verb: &str, id: &str) -> String {
    format!("{verb}:{id}")
}

/// A `custom_id` back into what it asks; `None` for anything that is not
/// one of medic's buttons (another app's, or a garbled one).
pub fn parse_custom_id(custom_id: &str) -> Option<(ClickVerb, String)> {
    let (verb, id) = custom_id.split_once(':')?;
    let verb = ClickVerb::from_action_id(verb)?;
    (!id.is_empty()).then(|| (verb, id.to_string()))
}

/// A click on one of medic's buttons, in medic's terms. The place is the
/// channel the button's message is in (a thread's own id, for a button in
/// a thread): offers are bound to it.
pub fn click(i: &Interaction) -> Option<ButtonClick> {
    let (verb, id) = parse_custom_id(i.custom_id()?)?;
    Some(ButtonClick {
        actor: i.actor(),
        place: i.place(),
        verb,
        id,
    })
}

/// Interaction response 6: "received", the message stays as it is; what
/// follows is an edit of a status message or an ephemeral follow-up.
pub fn deferred_update() -> Value {
    json!({ "type": 6 })
}

pub(crate) fn button(style: u64, label: &str, custom_id: String) -> Value {
    json!({
        "type": 2,
        "style": style,
        "label": shorten(label, MAX_LABEL).0,
        "custom_id": custom_id,
    })
}

pub(crate) fn rows(buttons: Vec<Value>) -> Vec<Value> {
    buttons
        .chunks(MAX_PER_ROW)
        .take(MAX_ROWS)
        .map(|row| json!({ "type": 1, "components": row }))
        .collect()
}

/// The message offering `buttons` for `target`, posted in the report's
/// thread; `expires` is e.g. "in 15 min".
pub fn offer_message(target: &str, buttons: &[OfferButton], expires: &str) -> DiscordMessage {
    let max = MAX_PER_ROW * MAX_ROWS;
    let components = buttons
        .iter()
        .take(max)
        .map(|b| button(PRIMARY, &b.title, custom_id(REQUEST, &b.offer_id)))
        .collect();
    let needs_approval = buttons.iter().any(|b| b.approvals > 0);
    let mut text = format!(
        "**Remediations for** `{}`\nButtons expire {expires}; each runs once, for people the policy allows{}.",
        target.replace('`', "'"),
        if needs_approval {
            ", some after approval"
        } else {
            ""
        }
    );
    if buttons.len() > max {
        text.push_str(&format!(
            "\n{} more offered action(s) do not fit in one Discord message.",
            buttons.len() - max
        ));
    }
    let mut m = DiscordMessage::text(&shorten(&text, MAX_CONTENT).0);
    m.components = rows(components);
    m
}

/// The offer ids of the request buttons `message` carries (the inverse
/// of [`offer_message`]): the sender binds them to the channel it posts
/// the message in, which for an incident's thread is known only then.
pub fn offered_ids(message: &DiscordMessage) -> Vec<String> {
    message
        .components
        .iter()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|b| parse_custom_id(b["custom_id"].as_str()?))
        .filter(|(verb, _)| *verb == ClickVerb::Request)
        .map(|(_, id)| id)
        .collect()
}

/// A request's status message: headline, lines and output as content
/// (within 2000 characters), Approve and Deny while pending. Once
/// decided, `components` is empty, which on an edit removes the buttons.
pub fn status_message(view: &StatusView) -> DiscordMessage {
    let mut text = bold(&view.headline);
    for line in &view.lines {
        text.push('\n');
        text.push_str(&bold(line));
    }
    if let Some(out) = &view.output {
        let room = MAX_CONTENT.saturating_sub(text.chars().count() + 9);
        if room > 20 {
            let out = out.replace("```", "'''");
            text.push_str(&format!("\n```\n{}\n```", shorten(&out, room).0));
        }
    }
    let mut m = DiscordMessage::text(&shorten(&text, MAX_CONTENT).0);
    if view.decision_buttons {
        m.components = rows(vec![
            button(SUCCESS, "Approve", custom_id(APPROVE, &view.request_id)),
            button(DANGER, "Deny", custom_id(DENY, &view.request_id)),
        ]);
    }
    m
}

/// An incident root's buttons: Acknowledge and Resolve while open,
/// Reopen once resolved (custom_id `medic.ack:<incident>` …).
pub fn responses(v: &medic_commands::model::incident::IncidentView) -> Vec<Value> {
    rows(
        v.responses()
            .into_iter()
            .map(|(label, verb)| {
                let style = if verb == ClickVerb::Acknowledge {
                    PRIMARY
                } else {
                    SECONDARY
                };
                button(style, label, custom_id(verb.action_id(), &v.id.to_string()))
            })
            .collect(),
    )
}

/// A private answer to a click, as an ephemeral follow-up (flags 64).
pub fn ephemeral_followup(text: &str) -> DiscordMessage {
    let mut m = DiscordMessage::text(&shorten(&bold(text), MAX_CONTENT).0);
    m.flags = Some(super::render::EPHEMERAL);
    m
}

/// The flow's texts are written in Slack's mrkdwn, where `*x*` is bold;
/// in Discord it is italic and `**x**` is bold. Code spans are kept.
pub fn bold(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut in_code = false;
    for c in text.chars() {
        match c {
            '`' => {
                in_code = !in_code;
                out.push(c);
            }
            '*' if !in_code => out.push_str("**"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn slack_bold_becomes_discord_bold_outside_code() {
        assert_eq!(bold("Running *redis* — `a*b`"), "Running **redis** — `a*b`");
    }

    fn offer(n: usize) -> OfferButton {
        OfferButton {
            title: format!("Action {n} with a very long title {}", "x".repeat(100)),
            offer_id: format!("{n:032x}"),
            approvals: 1,
            expires_in: Duration::from_secs(900),
        }
    }

    #[test]
    fn offers_fit_discords_component_limits() {
        let buttons: Vec<OfferButton> = (0..27).map(offer).collect();
        let v = serde_json::to_value(offer_message("db", &buttons, "in 15 min")).unwrap();
        let rows = v["components"].as_array().unwrap();
        assert_eq!(rows.len(), MAX_ROWS);
        for row in rows {
            assert_eq!(row["type"], 1);
            let b = row["components"].as_array().unwrap();
            assert!(b.len() <= MAX_PER_ROW);
            for b in b {
                assert!(b["custom_id"].as_str().unwrap().len() <= MAX_CUSTOM_ID);
                assert!(b["label"].as_str().unwrap().chars().count() <= MAX_LABEL);
            }
        }
        assert_eq!(
            rows[0]["components"][0]["custom_id"],
            format!("medic.request:{:032x}", 0)
        );
        assert!(v["content"].as_str().unwrap().contains("2 more"));
        let ids = offered_ids(&offer_message("db", &buttons, "in 15 min"));
        assert_eq!(ids.len(), MAX_PER_ROW * MAX_ROWS, "only the buttons sent");
        assert_eq!(ids[0], format!("{:032x}", 0));
        let status = status_message(&StatusView {
            request_id: "r1".into(),
            headline: "h".into(),
            lines: Vec::new(),
            output: None,
            decision_buttons: true,
        });
        assert!(
            offered_ids(&status).is_empty(),
            "Approve/Deny name no offer"
        );
    }

    #[test]
    fn custom_ids_round_trip_and_strangers_are_not_ours() {
        let id = custom_id(APPROVE, "ab12");
        assert_eq!(
            parse_custom_id(&id),
            Some((ClickVerb::Approve, "ab12".into()))
        );
        assert_eq!(parse_custom_id("click_one"), None);
        assert_eq!(parse_custom_id("medic.run:ab12"), None);
        assert_eq!(parse_custom_id("medic.deny:"), None);
    }

    #[test]
    fn pending_status_has_approve_and_deny_and_a_decided_one_none() {
        let mut view = StatusView {
            request_id: "r1".into(),
            headline: "⏳ *Restart* on `svc`".into(),
            lines: vec!["Requested by <@42>".into()],
            output: Some("x".repeat(5000)),
            decision_buttons: true,
        };
        let m = status_message(&view);
        assert!(m.content.as_deref().unwrap().starts_with("⏳ **Restart**"));
        assert!(m.content.as_deref().unwrap().chars().count() <= MAX_CONTENT);
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(
            v["components"][0]["components"][0]["custom_id"],
            "medic.approve:r1"
        );
        assert_eq!(
            v["components"][0]["components"][1]["custom_id"],
            "medic.deny:r1"
        );
        view.decision_buttons = false;
        let v = serde_json::to_value(status_message(&view)).unwrap();
        assert_eq!(
            v["components"],
            json!([]),
            "an edit must remove the buttons"
        );
    }

    #[test]
    fn a_click_on_the_docs_button_is_not_ours_but_a_medic_one_is() {
        let path = format!(
            "{}/../tests/fixtures/discord/message_component_button_docs_2021.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let raw = std::fs::read_to_string(path).unwrap();
        let i = Interaction::parse(raw.as_bytes()).unwrap();
        assert_eq!(click(&i), None);
        let raw = raw.replace("\"click_one\"", "\"medic.request:ab12\"");
        let c = click(&Interaction::parse(raw.as_bytes()).unwrap()).unwrap();
        assert_eq!(c.verb, ClickVerb::Request);
        assert_eq!(c.id, "ab12");
        assert_eq!(c.actor.id, "53908232506183680");
        assert_eq!(c.place.channel, "345626669114982999");
    }
}
