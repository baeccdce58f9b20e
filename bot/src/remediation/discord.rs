//! Remediation buttons on Discord: the [`Notifier`] the neutral flow uses
//! for a click (over HTTP interactions or the gateway), and the
//! offer messages posted in a report's thread.
//!
//! A click is answered at once with a deferred update (type 6: "received",
//! the message stays). Everything the flow says to the clicker alone
//! (refusals naming the rule, "requested, waiting for approval") goes as an
//! ephemeral follow-up (flags 64) through the click's interaction token,
//! which Discord honours for 15 minutes — a run's result is shown by
//! editing the status message, not privately, so a long run does not
//! outlive the token. The status message is posted in the channel or
//! thread the offer was bound to, through the per-channel outbox.

use std::sync::Arc;

use medic_commands::Report;
use medic_commands::actions::view::StatusView;
use medic_commands::model::inbound::{Place, Platform};
use medic_integrations::chat::discord::components;

use super::{Notifier, make_offers};
use crate::app::AppState;
use crate::discord::ack::Acked;
use crate::storage::offers::Request;

/// Answers and status messages for one Discord click.
pub struct DiscordNotifier {
    /// The app, for its Discord runtime.
    pub state: AppState,
    /// The click's interaction token, for ephemeral follow-ups.
    pub token: String,
    /// Resolves once the click has been answered: follow-ups before that
    /// are refused by Discord.
    pub acked: Acked,
}

impl Notifier for DiscordNotifier {
    async fn ephemeral(&self, text: &str) {
        let Some(discord) = &self.state.discord else {
            return;
        };
        if !self.acked.wait().await {
            tracing::warn!("A Discord click was never answered; its private reply is dropped.");
            return;
        }
        let text = medic_commands::redact::redact(text);
        let message = components::ephemeral_followup(&text);
        // Follow-ups go to the interaction's webhook, not a channel: their
        // own lane, keyed by the token.
        let sent = discord
            .outbox
            .send(&self.token, || discord.api.followup(&self.token, &message))
            .await;
        if let Err(error) = sent {
            tracing::warn!(%error, "Could not answer a Discord click privately.");
        }
    }

    async fn post_status(&self, request: &Request, view: &StatusView) -> Option<String> {
        let discord = self.state.discord.as_ref()?;
        let message = components::status_message(view);
        let posted = discord
            .outbox
            .send(&request.channel, || {
                discord.api.create_message(&request.channel, &message, None)
            })
            .await;
        match posted {
            Ok(p) => Some(p.id),
            Err(error) => {
                tracing::warn!(%error, "Could not post a request's status message on Discord.");
                None
            }
        }
    }

    async fn update_status(&self, request: &Request, message: &str, view: &StatusView) {
        let Some(discord) = self.state.discord.as_ref() else {
            return;
        };
        let content = components::status_message(view);
        let result = discord
            .outbox
            .send(&request.channel, || {
                discord
                    .api
                    .edit_message(&request.channel, message, &content)
            })
            .await;
        if let Err(error) = result {
            tracing::warn!(%error, "Could not edit a request's status message on Discord.");
        }
    }
}

/// Posts, in `channel` (a report's thread, or the channel itself where no
/// thread could be started), the buttons of the actions `reports` offer,
/// each offer bound to that channel: a click from anywhere else names
/// nothing.
pub async fn offer(state: &AppState, channel: &str, reports: &[Arc<Report>]) -> Result<(), String> {
    let Some(discord) = &state.discord else {
        return Ok(());
    };
    let place = Place {
        platform: Platform::Discord,
        channel: channel.to_string(),
        thread: None,
    };
    for report in reports {
        let buttons = make_offers(state, report, &place).await;
        let Some(expires) = buttons.iter().map(|b| b.expires_in).min() else {
            continue;
        };
        let note = format!("in {}", medic_commands::format::human_duration(expires));
        let message = components::offer_message(&report.target.name, &buttons, &note);
        discord
            .outbox
            .send(channel, || {
                discord.api.create_message(channel, &message, None)
            })
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
