//! Purpose: Slack's interaction payloads (`POST /slack/interactions`, a
//! form field `payload=` holding JSON) → a neutral
//! [`ButtonClick`], after the request's signature was verified.
//!
//! Only `block_actions` from medic's own buttons (action ids
//! `medic.request`, `medic.approve`, `medic.deny`) become clicks; other
//! interaction types are answered 200 and ignored, as Slack expects.

use medic_commands::model::inbound::{Actor, ButtonClick, ClickVerb, Place, Platform};
use serde::Deserialize;

use super::parse::form_decode;

/// A body that is not an interaction payload, naming what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed interaction: {0}")]
pub struct InteractionError(pub String);

#[derive(Debug, Deserialize)]
struct Wire {
    #[serde(rename = "type")]
    kind: String,
    user: Option<WireUser>,
    #[serde(default)]
    team: Option<WireId>,
    channel: Option<WireId>,
    container: Option<WireContainer>,
    message: Option<WireMessage>,
    response_url: Option<String>,
    #[serde(default)]
    actions: Vec<WireAction>,
}

#[derive(Debug, Deserialize)]
struct WireUser {
    id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireId {
    id: String,
}

#[derive(Debug, Deserialize)]
struct WireContainer {
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    thread_ts: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    #[serde(default)]
    thread_ts: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireAction {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

/// A parsed interaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interaction {
    /// A press of one of medic's buttons.
    Click {
        /// The neutral click.
        click: ButtonClick,
        /// Where ephemeral answers go (30 min, 5 uses).
        response_url: Option<String>,
        /// The workspace it came from (`team.id`, or the clicker's
        /// `user.team_id` when Slack sends no team), for `slack.teams`.
        team: Option<String>,
    },
    /// Anything else (another app's button, a shortcut, a modal): ignored.
    Other(String),
}

/// Parses a form body `payload=<JSON>`.
pub fn parse(body: &[u8]) -> Result<Interaction, InteractionError> {
    let raw = body
        .split(|b| *b == b'&')
        .find_map(|pair| pair.strip_prefix(b"payload="))
        .ok_or_else(|| InteractionError("missing form field `payload`".into()))?;
    let json = form_decode(raw);
    let de = &mut serde_json::Deserializer::from_str(&json);
    let wire: Wire = serde_path_to_error::deserialize(de)
        .map_err(|e| InteractionError(format!("payload.{}: {}", e.path(), e.inner())))?;
    if wire.kind != "block_actions" {
        return Ok(Interaction::Other(wire.kind));
    }
    let Some(action) = wire.actions.first() else {
        return Err(InteractionError("payload.actions is empty".into()));
    };
    let Some(verb) = ClickVerb::from_action_id(&action.action_id) else {
        return Ok(Interaction::Other(format!(
            "block_actions {}",
            action.action_id
        )));
    };
    let user = wire
        .user
        .ok_or_else(|| InteractionError("missing field `payload.user`".into()))?;
    let channel = wire
        .channel
        .map(|c| c.id)
        .or_else(|| wire.container.as_ref().and_then(|c| c.channel_id.clone()))
        .ok_or_else(|| InteractionError("missing field `payload.channel`".into()))?;
    let thread = wire
        .container
        .as_ref()
        .and_then(|c| c.thread_ts.clone())
        .or_else(|| wire.message.and_then(|m| m.thread_ts));
    let id = action
        .value
        .clone()
        .ok_or_else(|| InteractionError("missing field `payload.actions[0].value`".into()))?;
    let team = wire.team.map(|t| t.id).or(user.team_id);
    let name = user
        .username
        .or(user.name)
        .unwrap_or_else(|| user.id.clone());
    Ok(Interaction::Click {
        click: ButtonClick {
            actor: Actor { id: user.id, name },
            place: Place {
                platform: Platform::Slack,
                channel,
                thread,
            },
            verb,
            id,
        },
        response_url: wire.response_url,
        team,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: &str =
        include_str!("../../../../tests/fixtures/slack/block_actions_button.form.txt");

    #[test]
    fn bolts_fixture_is_parsed_and_ignored_as_not_ours() {
        // Bolt's button has action_id "a": a block action, not medic's.
        assert_eq!(
            parse(FORM.trim().as_bytes()),
            Ok(Interaction::Other("block_actions a".into()))
        );
    }

    #[test]
    fn medics_button_becomes_a_click() {
        let json = include_str!("../../../../tests/fixtures/slack/block_actions_button.json")
            .replace("\"action_id\": \"a\"", "\"action_id\": \"medic.approve\"");
        let body = format!("payload={}", urlencode(&json));
        let Interaction::Click {
            click,
            response_url,
            team,
        } = parse(body.as_bytes()).unwrap()
        else {
            panic!("not a click");
        };
        assert_eq!(team.as_deref(), Some("T111"));
        assert_eq!(click.verb, ClickVerb::Approve);
        assert_eq!(click.id, "click_me_123");
        assert_eq!(click.actor.id, "W111");
        assert_eq!(click.place.channel, "C111");
        assert_eq!(
            response_url.as_deref(),
            Some("https://hooks.slack.com/actions/T111/111/random-value")
        );
    }

    #[test]
    fn malformed_payloads_name_the_field() {
        assert!(parse(b"x=1").unwrap_err().0.contains("payload"));
        let err = parse(b"payload=%7B%22type%22%3A1%7D").unwrap_err();
        assert!(err.0.contains("payload.type"), "{err}");
    }

    fn urlencode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
}
