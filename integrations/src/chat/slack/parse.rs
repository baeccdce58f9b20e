//! Purpose: Slack's wire formats → medic's neutral types, after
//! verification. A malformed body is an error that names the field, so the
//! 400 a caller gets says what is wrong.

use medic_commands::model::inbound::{Actor, Place, Platform};
use serde::Deserialize;

/// A slash command as Slack posts it (form-encoded). Only the fields medic
/// uses are read; Slack adds fields over time and they are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SlashCommand {
    /// Workspace id.
    pub team_id: String,
    /// Channel the command was typed in.
    pub channel_id: String,
    /// Who typed it.
    pub user_id: String,
    /// Their handle (display only).
    #[serde(default)]
    pub user_name: String,
    /// The command as registered, with its slash: `/diag`.
    pub command: String,
    /// What followed the command; empty when nothing did.
    #[serde(default)]
    pub text: String,
    /// Where delayed answers may be posted (30 min, 5 uses).
    pub response_url: String,
    /// Lets the app open a modal within 3 s.
    #[serde(default)]
    pub trigger_id: String,
}

/// A body that is not a slash command, naming what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed slash command: {0}")]
pub struct ParseError(pub String);

impl SlashCommand {
    /// Parses a form body.
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(body));
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            if path == "." || path.is_empty() {
                ParseError(inner)
            } else {
                ParseError(format!("{path}: {inner}"))
            }
        })
    }

    /// Who typed it.
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.user_id.clone(),
            name: self.user_name.clone(),
        }
    }

    /// Where it was typed.
    pub fn place(&self) -> Place {
        Place {
            platform: Platform::Slack,
            channel: self.channel_id.clone(),
            thread: None,
        }
    }
}

fn form_urlencoded_parse(body: &[u8]) -> url::form_urlencoded::Parse<'_> {
    url::form_urlencoded::parse(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCS: &str = include_str!("../../../../tests/fixtures/slack/slash_command_docs.form.txt");
    const BOLT: &str = include_str!("../../../../tests/fixtures/slack/slash_command_bolt.form.txt");

    #[test]
    fn parses_slacks_documented_example() {
        let cmd = SlashCommand::parse(DOCS.as_bytes()).unwrap();
        assert_eq!(cmd.command, "/webhook-collect");
        assert_eq!(cmd.text, "");
        assert_eq!(cmd.channel_id, "G8PSS9T3V");
        assert_eq!(cmd.user_id, "U2CERLKJA");
        assert!(
            cmd.response_url
                .starts_with("https://hooks.slack.com/commands/")
        );
    }

    #[test]
    fn parses_bolts_enterprise_example() {
        let cmd = SlashCommand::parse(BOLT.as_bytes()).unwrap();
        assert_eq!(cmd.command, "/hello-world");
        assert_eq!(cmd.text, "Hi");
        assert_eq!(cmd.user_name, "primary-owner");
    }

    #[test]
    fn a_missing_field_is_named() {
        let err = SlashCommand::parse(b"team_id=T1&user_id=U1&command=%2Fdiag&response_url=x")
            .unwrap_err();
        assert!(err.0.contains("channel_id"), "{err}");
    }

    #[test]
    fn plus_and_percent_spaces_both_decode() {
        let cmd = SlashCommand::parse(
            b"team_id=T&channel_id=C&user_id=U&command=%2Fmedic&text=diag+redis&response_url=x",
        )
        .unwrap();
        assert_eq!(cmd.text, "diag redis");
        let cmd = SlashCommand::parse(
            b"team_id=T&channel_id=C&user_id=U&command=%2Fmedic&text=diag%20redis&response_url=x",
        )
        .unwrap();
        assert_eq!(cmd.text, "diag redis");
    }
}
