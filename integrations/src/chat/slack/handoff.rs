//! The handoff digest in Block Kit: the headline, one section per part
//! (at most [`MAX_LINES`] lines each, the rest "in the thread"), who
//! should take it, and the "I've got it" button while nobody has.
//!
//! Slack's limits: 50 blocks (this uses at most 6) and 3000 characters a
//! section (each part is shortened to it).

use medic_commands::model::inbound::ClickVerb;
use medic_commands::oncall::handoff::HandoffView;
use slack_morphism::prelude::*;

use super::buttons::button;
use super::render::{MAX_SECTION_TEXT, context, escape, section};
use crate::chat::shorten;

/// Lines a part shows before "and N more".
pub const MAX_LINES: usize = 10;

fn link(url: &str, text: &str) -> String {
    format!("<{url}|{text}>")
}

/// The digest message.
pub fn handoff(view: &HandoffView) -> SlackMessageContent {
    let v = view.escaped(&escape);
    let mut blocks = vec![section(v.headline())];
    for part in v.parts(MAX_LINES, &link) {
        let mut text = format!("*{}*", part.heading);
        for line in &part.lines {
            text.push('\n');
            text.push_str(line);
        }
        if part.more > 0 {
            text.push_str(&format!("\n_…and {} more in the thread_", part.more));
        }
        blocks.push(section(shorten(&text, MAX_SECTION_TEXT).0));
    }
    blocks.push(context(v.footer()));
    if v.open_for_taking() {
        blocks.push(
            SlackActionsBlock::new(vec![button(
                ClickVerb::Take.action_id(),
                "I've got it",
                &v.button,
                Some(SlackBlockButtonStyle::Primary),
            )])
            .into(),
        );
    }
    SlackMessageContent::new()
        .with_text(shorten(&v.headline().replace('*', ""), 3000).0)
        .with_blocks(blocks)
}

/// The lines the digest left out, for its thread; `None` when all fit.
pub fn overflow(view: &HandoffView) -> Option<SlackMessageContent> {
    let v = view.escaped(&escape);
    let lines = v.overflow(MAX_LINES, &link);
    if lines.is_empty() {
        return None;
    }
    let text = shorten(&lines.join("\n"), MAX_SECTION_TEXT).0;
    Some(
        SlackMessageContent::new()
            .with_text(format!("Handoff {}, continued", v.rotation))
            .with_blocks(vec![section(text)]),
    )
}

/// A note that mentions people and should notify them (a reminder):
/// Slack notifies for `<@U…>` in a posted message's text.
pub fn reminder(text: &str) -> SlackMessageContent {
    SlackMessageContent::new()
        .with_text(shorten(text, 3000).0)
        .with_blocks(vec![section(shorten(text, MAX_SECTION_TEXT).0)])
}
