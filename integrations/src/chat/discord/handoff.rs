//! The handoff digest on Discord: the headline as content (so the
//! incoming person is pinged, and only them), the parts as embed fields
//! (at most [`MAX_LINES`] lines and 1024 characters each), who should
//! take it in the footer, and the "I've got it" button while nobody has.
//!
//! Discord's limits: 10 embeds and 6000 characters across them (this
//! uses one embed of at most 4 fields), 1024 characters a field value.

use medic_commands::model::inbound::ClickVerb;
use medic_commands::oncall::handoff::HandoffView;
use serde_json::json;

use super::components::{PRIMARY, bold, button, custom_id, rows};
use super::render::{DiscordMessage, Embed, EmbedField, Footer, MAX_CONTENT};
use crate::chat::shorten;

/// Lines a part shows before "and N more".
pub const MAX_LINES: usize = 10;
/// Characters of an embed field's value.
const MAX_FIELD: usize = 1024;
/// The embed's side bar: blue, neither good nor bad news.
const COLOUR: u32 = 0x3b82f6;

fn link(url: &str, text: &str) -> String {
    format!("[{text}]({url})")
}

/// The user ids in `<@id>` mentions of `texts`: the people a message may
/// ping.
fn mentioned(texts: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for t in texts {
        let mut rest = *t;
        while let Some(at) = rest.find("<@") {
            rest = &rest[at + 2..];
            let Some(end) = rest.find('>') else { break };
            let id = &rest[..end];
            if !id.is_empty()
                && id.chars().all(|c| c.is_ascii_digit())
                && !ids.iter().any(|i| i == id)
            {
                ids.push(id.to_string());
            }
            rest = &rest[end..];
        }
    }
    ids
}

/// The digest message.
pub fn handoff(view: &HandoffView) -> DiscordMessage {
    let mut m = DiscordMessage::text(&shorten(&bold(&view.headline()), MAX_CONTENT).0);
    let fields = view
        .parts(MAX_LINES, &link)
        .into_iter()
        .map(|part| {
            let mut value = part.lines.join("\n");
            if part.more > 0 {
                value.push_str(&format!("\n*…and {} more in the thread*", part.more));
            }
            if value.is_empty() {
                value = "—".to_string();
            }
            EmbedField {
                name: part.heading,
                value: shorten(&value, MAX_FIELD).0,
                inline: false,
            }
        })
        .collect();
    m.embeds = vec![Embed {
        color: Some(COLOUR),
        fields,
        footer: Some(Footer {
            text: view.footer().replace('*', ""),
        }),
        ..Embed::default()
    }];
    if view.open_for_taking() {
        m.components = rows(vec![button(
            PRIMARY,
            "I've got it",
            custom_id(ClickVerb::Take.action_id(), &view.button),
        )]);
    }
    // The incoming person is pinged; the outgoing one is only named.
    m.allowed_mentions = json!({ "parse": [], "users": mentioned(&[&view.incoming]) });
    m
}

/// The lines the digest left out, for its thread; `None` when all fit.
pub fn overflow(view: &HandoffView) -> Option<DiscordMessage> {
    let lines = view.overflow(MAX_LINES, &link);
    (!lines.is_empty()).then(|| DiscordMessage::text(&shorten(&lines.join("\n"), MAX_CONTENT).0))
}

/// A note that pings the people it mentions (a reminder), and nobody else.
pub fn reminder(text: &str) -> DiscordMessage {
    let mut m = DiscordMessage::text(&shorten(&bold(text), MAX_CONTENT).0);
    m.allowed_mentions = json!({ "parse": [], "users": mentioned(&[text]) });
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_user_mentions_are_pinged() {
        assert_eq!(
            mentioned(&["<@123> and <@456>, not <@&789> nor <#42>, <@123> once"]),
            vec!["123", "456"]
        );
    }
}
