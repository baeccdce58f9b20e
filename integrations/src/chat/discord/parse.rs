//! Interaction JSON → [`Interaction`], leniently.
//!
//! Our own structs, every field defaulted: serenity's are strict (a payload
//! without `entitlements` or `attachment_size_limit` fails to parse,
//! docs/crates.md § serenity), and Discord adds and drops fields over time. Only
//! `type` is required; what a handler needs and does not find is its own
//! decision (an answer "this command has no target"), never a parse error.

use medic_commands::model::inbound::{Actor, Place, Platform};
use serde::Deserialize;

/// What kind of interaction Discord sent (`type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InteractionKind {
    /// 1: Discord checking the endpoint.
    Ping,
    /// 2: a slash command or a context-menu command.
    Command,
    /// 3: a button or select menu.
    Component,
    /// 4: the user is typing an option that has autocomplete.
    Autocomplete,
    /// 5: a modal was submitted.
    ModalSubmit,
    /// A type this version does not know.
    Other(u64),
}

impl InteractionKind {
    fn from_code(code: u64) -> Self {
        match code {
            1 => InteractionKind::Ping,
            2 => InteractionKind::Command,
            3 => InteractionKind::Component,
            4 => InteractionKind::Autocomplete,
            5 => InteractionKind::ModalSubmit,
            n => InteractionKind::Other(n),
        }
    }
}

/// A Discord user, as much as medic uses.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct User {
    /// Snowflake.
    pub id: String,
    /// The unique username.
    pub username: String,
    /// The display name, when set.
    pub global_name: Option<String>,
}

/// A guild member: the user plus their server nickname.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Member {
    /// The user (always present in interactions, but not required here).
    pub user: Option<User>,
    /// The server nickname.
    pub nick: Option<String>,
}

/// A command option as sent: a value, or sub-options for subcommands.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CommandOption {
    /// The option's name.
    pub name: String,
    /// Its value: a string for string options, a number or bool otherwise.
    pub value: Option<serde_json::Value>,
    /// Nested options of a subcommand.
    pub options: Vec<CommandOption>,
    /// Whether the user is typing this one (autocomplete).
    pub focused: bool,
}

impl CommandOption {
    /// The value as text (numbers and booleans printed).
    pub fn text(&self) -> Option<String> {
        match self.value.as_ref()? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }
    }
}

/// `data`: what was invoked or clicked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct InteractionData {
    /// The command's name (commands, autocomplete).
    pub name: String,
    /// The options typed (commands, autocomplete).
    pub options: Vec<CommandOption>,
    /// The component's `custom_id` (components, modals).
    pub custom_id: Option<String>,
    /// The component's type (2 button, 3 select…).
    pub component_type: Option<u64>,
}

/// The message a component belongs to.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MessageRef {
    /// Snowflake.
    pub id: String,
    /// Its channel.
    pub channel_id: Option<String>,
}

/// The channel, as newer payloads send it (`channel` beside `channel_id`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ChannelRef {
    /// Snowflake.
    pub id: String,
}

/// One interaction. See the module docs for why everything is optional.
#[derive(Debug, Clone, Deserialize)]
pub struct Interaction {
    /// `type`.
    #[serde(rename = "type", deserialize_with = "kind")]
    pub kind: InteractionKind,
    /// Snowflake of the interaction.
    #[serde(default)]
    pub id: String,
    /// The application it is for.
    #[serde(default)]
    pub application_id: Option<String>,
    /// The token for the response and follow-ups (valid 15 minutes).
    #[serde(default)]
    pub token: String,
    /// The server, absent in DMs.
    #[serde(default)]
    pub guild_id: Option<String>,
    /// The channel it came from.
    #[serde(default)]
    pub channel_id: Option<String>,
    /// The channel object (newer payloads).
    #[serde(default)]
    pub channel: Option<ChannelRef>,
    /// The member, in a server.
    #[serde(default)]
    pub member: Option<Member>,
    /// The user, in a DM.
    #[serde(default)]
    pub user: Option<User>,
    /// What was invoked.
    #[serde(default)]
    pub data: Option<InteractionData>,
    /// The message of a component.
    #[serde(default)]
    pub message: Option<MessageRef>,
}

fn kind<'de, D: serde::Deserializer<'de>>(d: D) -> Result<InteractionKind, D::Error> {
    u64::deserialize(d).map(InteractionKind::from_code)
}

/// The body is not an interaction at all (not JSON, or no numeric `type`).
#[derive(Debug, thiserror::Error)]
#[error("not a Discord interaction: {0}")]
pub struct ParseError(String);

impl Interaction {
    /// Parses a request body.
    pub fn parse(body: &[u8]) -> Result<Interaction, ParseError> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(de).map_err(|e| ParseError(e.to_string()))
    }

    /// Who acted: the member's user in a server, the user in a DM.
    pub fn actor(&self) -> Actor {
        let member = self.member.as_ref();
        let user = member.and_then(|m| m.user.as_ref()).or(self.user.as_ref());
        let name = member
            .and_then(|m| m.nick.clone())
            .or_else(|| user.and_then(|u| u.global_name.clone()))
            .or_else(|| user.map(|u| u.username.clone()))
            .unwrap_or_default();
        Actor {
            id: user.map(|u| u.id.clone()).unwrap_or_default(),
            name,
        }
    }

    /// The channel it came from, from whichever field carries it.
    pub fn channel(&self) -> Option<&str> {
        self.channel_id
            .as_deref()
            .or(self.channel.as_ref().map(|c| c.id.as_str()))
            .or(self.message.as_ref().and_then(|m| m.channel_id.as_deref()))
            .filter(|c| !c.is_empty())
    }

    /// Where it happened, in medic's terms.
    pub fn place(&self) -> Place {
        Place {
            platform: Platform::Discord,
            channel: self.channel().unwrap_or_default().to_string(),
            thread: None,
        }
    }

    /// The command's name (`diag`), empty when there is none.
    pub fn command_name(&self) -> &str {
        self.data.as_ref().map_or("", |d| d.name.as_str())
    }

    /// The options typed, flattened through subcommands, as (name, text).
    pub fn options(&self) -> Vec<(String, String)> {
        fn walk(list: &[CommandOption], out: &mut Vec<(String, String)>) {
            for o in list {
                if let Some(v) = o.text() {
                    out.push((o.name.clone(), v));
                }
                walk(&o.options, out);
            }
        }
        let mut out = Vec::new();
        if let Some(d) = &self.data {
            walk(&d.options, &mut out);
        }
        out
    }

    /// The option being typed (autocomplete): its name and text so far.
    pub fn focused(&self) -> Option<(String, String)> {
        fn walk(list: &[CommandOption]) -> Option<(String, String)> {
            list.iter().find_map(|o| {
                if o.focused {
                    Some((o.name.clone(), o.text().unwrap_or_default()))
                } else {
                    walk(&o.options)
                }
            })
        }
        walk(&self.data.as_ref()?.options)
    }

    /// A component's `custom_id`.
    pub fn custom_id(&self) -> Option<&str> {
        self.data.as_ref()?.custom_id.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Interaction {
        let path = format!(
            "{}/../tests/fixtures/discord/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        Interaction::parse(&body).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn every_interaction_fixture_parses() {
        let dir = format!("{}/../tests/fixtures/discord", env!("CARGO_MANIFEST_DIR"));
        let mut parsed = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".json") && !name.starts_with("signature_vector") {
                fixture(&name);
                parsed += 1;
            }
        }
        assert_eq!(parsed, 8, "the eight interaction fixtures");
    }

    #[test]
    fn ping_is_a_ping() {
        assert_eq!(fixture("ping_djs_test.json").kind, InteractionKind::Ping);
    }

    #[test]
    fn slash_command_options_and_member() {
        let i = fixture("application_command_slash_options_docs.json");
        assert_eq!(i.kind, InteractionKind::Command);
        assert_eq!(i.command_name(), "cardsearch");
        assert_eq!(
            i.options(),
            vec![("cardname".to_string(), "The Gitrog Monster".to_string())]
        );
        assert_eq!(i.actor().id, "53908232506183680");
        assert_eq!(i.actor().name, "Mason");
        assert_eq!(i.channel(), Some("645027906669510667"));
        assert_eq!(i.token, "A_UNIQUE_TOKEN");
    }

    #[test]
    fn a_minimal_command_without_member_or_channel_still_parses() {
        let i = fixture("application_command_minimal_djs_test.json");
        assert_eq!(i.command_name(), "test");
        assert_eq!(i.channel(), None);
        assert_eq!(i.actor().id, "");
    }

    #[test]
    fn autocomplete_names_the_focused_option() {
        let i = fixture("autocomplete_minimal_djs_test.json");
        assert_eq!(i.kind, InteractionKind::Autocomplete);
        assert_eq!(
            i.focused(),
            Some(("option".to_string(), "first_option".to_string()))
        );
    }

    #[test]
    fn components_carry_their_custom_id_and_message() {
        let i = fixture("message_component_button_docs_2021.json");
        assert_eq!(i.kind, InteractionKind::Component);
        assert_eq!(i.custom_id(), Some("click_one"));
        assert_eq!(i.message.as_ref().unwrap().id, "844397162624450620");
        assert_eq!(
            i.channel(),
            Some("345626669114982999"),
            "the interaction's own channel_id wins"
        );
        let i = fixture("message_component_minimal_djs_test.json");
        assert_eq!(i.custom_id(), Some("test"));
    }

    #[test]
    fn context_menu_commands_parse_and_unknown_types_are_kept() {
        let i = fixture("application_command_user_context_docs.json");
        assert_eq!(i.command_name(), "context-menu-user-2");
        let i = Interaction::parse(br#"{"type": 99}"#).unwrap();
        assert_eq!(i.kind, InteractionKind::Other(99));
        assert!(Interaction::parse(b"{}").is_err());
        assert!(Interaction::parse(b"not json").is_err());
    }
}
