//! Purpose: remediation buttons as Block Kit — the offer message under a
//! report (one button per offered action, its value an opaque offer id)
//! and a request's status message (edited as it moves; Approve and Deny
//! while pending).

use medic_commands::actions::view::{APPROVE, DENY, OfferButton, REQUEST, StatusView};
use slack_morphism::prelude::*;

use super::render::{MAX_SECTION_TEXT, context, escape, section};
use crate::chat::shorten;

/// Buttons in one actions block (Slack: at most 25 elements).
const MAX_BUTTONS: usize = 25;

pub(crate) fn button(
    action_id: &str,
    label: &str,
    value: &str,
    style: Option<SlackBlockButtonStyle>,
) -> SlackActionBlockElement {
    let (label, _) = shorten(label, 75);
    let mut b = SlackBlockButtonElement::new(label.as_str().into())
        .with_action_id(SlackActionId(action_id.to_string()))
        .with_value(value.to_string());
    if let Some(s) = style {
        b = b.with_style(s);
    }
    SlackActionBlockElement::Button(b)
}

/// The message offering `buttons` for `target`, posted in its thread.
pub fn offer_message(target: &str, buttons: &[OfferButton], expires: &str) -> SlackMessageContent {
    let elements = buttons
        .iter()
        .take(MAX_BUTTONS)
        .map(|b| button(REQUEST, &b.title, &b.offer_id, None))
        .collect();
    let needs_approval = buttons.iter().any(|b| b.approvals > 0);
    let note = format!(
        "Buttons expire {expires}; each runs once, for people the policy allows{}.",
        if needs_approval {
            ", some after approval"
        } else {
            ""
        }
    );
    SlackMessageContent::new()
        .with_text(format!("Remediations offered for {target}"))
        .with_blocks(vec![
            section(format!("*Remediations for* `{}`", escape(target))),
            SlackActionsBlock::new(elements).into(),
            context(note),
        ])
}

/// A request's status message.
pub fn status_message(view: &StatusView) -> SlackMessageContent {
    let mut blocks = vec![section(shorten(&view.headline, MAX_SECTION_TEXT).0)];
    let lines = view.lines.join("\n");
    if !lines.is_empty() {
        blocks.push(section(shorten(&escape_lines(&lines), MAX_SECTION_TEXT).0));
    }
    if let Some(out) = &view.output {
        let (text, _) = shorten(&escape(out), MAX_SECTION_TEXT - 8);
        blocks.push(section(format!("```{text}```")));
    }
    if view.decision_buttons {
        blocks.push(
            SlackActionsBlock::new(vec![
                button(
                    APPROVE,
                    "Approve",
                    &view.request_id,
                    Some(SlackBlockButtonStyle::Primary),
                ),
                button(
                    DENY,
                    "Deny",
                    &view.request_id,
                    Some(SlackBlockButtonStyle::Danger),
                ),
            ])
            .into(),
        );
    }
    SlackMessageContent::new()
        .with_text(shorten(&view.headline, 3000).0)
        .with_blocks(blocks)
}

/// Lines may carry user mentions (`<@U1>`), which must stay markup;
/// everything else is escaped.
fn escape_lines(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("<@") {
        out.push_str(&escape(&rest[..i]));
        match rest[i..].find('>') {
            Some(j)
                if rest[i + 2..i + j]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric()) =>
            {
                out.push_str(&rest[i..=i + j]);
                rest = &rest[i + j + 1..];
            }
            _ => {
                out.push_str("&lt;");
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(&escape(rest));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_carry_only_the_opaque_id() {
        let m = offer_message(
            "db",
            &[OfferButton {
                title: "Terminate idle".into(),
                offer_id: "ab12".into(),
                approvals: 1,
                expires_in: std::time::Duration::from_secs(900),
            }],
            "in 15 min",
        );
        let v = serde_json::to_value(&m).unwrap();
        let b = &v["blocks"][1]["elements"][0];
        assert_eq!(b["type"], "button");
        assert_eq!(b["action_id"], REQUEST);
        assert_eq!(b["value"], "ab12");
    }

    #[test]
    fn pending_status_has_approve_and_deny_and_mentions_survive() {
        let view = StatusView {
            request_id: "r1".into(),
            headline: "⏳ x".into(),
            lines: vec!["Requested by <@U1> <script>".into()],
            output: None,
            decision_buttons: true,
        };
        let v = serde_json::to_value(status_message(&view)).unwrap();
        assert_eq!(
            v["blocks"][1]["text"]["text"],
            "Requested by <@U1> &lt;script&gt;"
        );
        assert_eq!(v["blocks"][2]["elements"][0]["action_id"], APPROVE);
        assert_eq!(v["blocks"][2]["elements"][1]["value"], "r1");
    }
}
