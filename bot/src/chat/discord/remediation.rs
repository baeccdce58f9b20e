//! Remediation buttons on Discord: the [`Notifier`] the neutral flow uses
//! for a click (over HTTP interactions or the gateway).
//!
//! A click is answered at once with a deferred update (type 6: "received",
//! the message stays). Everything the flow says to the clicker alone
//! (refusals naming the rule, "requested, waiting for approval") goes as an
//! ephemeral follow-up (flags 64) through the click's interaction token,
//! which Discord honours for 15 minutes — a run's result is shown by
//! editing the status message, not privately, so a long run does not
//! outlive the token. The status message is posted in the channel or
//! thread the offer was bound to, through the durable outbox
//! (`crate::remediation::status`).

use medic_integrations::chat::discord::components;

use crate::chat::discord::ack::Acked;
use crate::remediation::Notifier;
use crate::state::AppState;

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
            .pace
            .send(&self.token, || discord.api.followup(&self.token, &message))
            .await;
        if let Err(error) = sent {
            tracing::warn!(%error, "Could not answer a Discord click privately.");
        }
    }
}
