//! Slack's sender for the durable outbox: one row → `chat.postMessage`
//! (a root, or a reply with `thread_ts`) or `chat.update` (an edit).
//!
//! Every message carries its row's id in Slack's message metadata
//! (`client::mark`). A row found in flight after a restart is looked for
//! in its channel (or thread) by that marker before it is sent again, so a
//! crash between Slack's answer and medic's record never posts twice. An
//! edit needs no looking: sending the same edit twice changes nothing.

use medic_integrations::chat::slack::client::{self, SlackApiError};
use slack_morphism::prelude::SlackMessageContent;

use super::SlackRuntime;
use crate::outbox::{Call, Outcome};
use crate::storage::outbox::OutboxKind;

/// Sends `call` to Slack.
pub async fn send(slack: &SlackRuntime, call: &Call<'_>) -> Outcome {
    let row = call.row;
    let content: SlackMessageContent = match serde_json::from_str(&call.body) {
        Ok(c) => c,
        Err(e) => return Outcome::Rejected(format!("unreadable message: {e}")),
    };
    let channel = row.channel.as_str();
    let thread = call.thread.as_deref();
    if call.resend && row.kind != OutboxKind::Edit {
        // In flight when medic stopped (or when a call failed mid-way):
        // ask Slack whether it landed before sending it again.
        let oldest = slack_ts(row.created_at - 60_000);
        match slack
            .api
            .find_marked(channel, thread, &oldest, row.id)
            .await
        {
            Ok(Some(ts)) => {
                tracing::info!(
                    outbox = row.id,
                    "A message in flight at the last stop had landed; recorded, not resent."
                );
                return Outcome::Posted(ts);
            }
            Ok(None) => {}
            Err(e) => return Outcome::Later(format!("could not ask Slack whether it landed: {e}")),
        }
    }
    let content = client::mark(content, row.id);
    let result = match row.kind {
        OutboxKind::Root | OutboxKind::Digest | OutboxKind::Reply => {
            slack
                .pace
                .send_until(channel, call.give_up, || {
                    slack.api.post_message(channel, content.clone(), thread)
                })
                .await
        }
        OutboxKind::Edit => {
            let ts = call.message.as_deref().unwrap_or_default();
            slack
                .pace
                .send_until(channel, call.give_up, || {
                    slack.api.update_message(channel, ts, content.clone())
                })
                .await
        }
    };
    match result {
        Ok(posted) => Outcome::Posted(posted.ts),
        Err(SlackApiError::Rejected { code }) => Outcome::Rejected(code),
        Err(SlackApiError::Unreadable(e)) => Outcome::Unreadable(e),
        Err(e) => Outcome::Later(e.to_string()),
    }
}

/// A Slack ts (seconds.micros) for a unix-ms time.
fn slack_ts(ms: i64) -> String {
    let ms = ms.max(0);
    format!("{}.{:06}", ms / 1000, (ms % 1000) * 1000)
}
