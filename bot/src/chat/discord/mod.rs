//! medic's Discord runtime: the verifier, the REST client and its outbox,
//! built once from `[discord]`; and the two transports interactions come
//! by, which share one handler.
//!
//! - [`interactions`]: an interaction → the response Discord is to get,
//!   whichever way it came (the one place `/diag`, autocomplete and
//!   buttons are handled).
//! - [`ack`]: lets background work wait until that response has reached
//!   Discord (over the gateway it is a separate call that can lose a race
//!   with a fast report).
//! - [`gateway`]: gateway mode — a serenity client, held by one replica.
//! - [`http`]: `POST /discord/interactions`.
//! - [`remediation`]: remediation buttons' answers and offers.
//! - [`send`]: the durable outbox's rows, sent to Discord.

pub mod ack;
pub mod gateway;
pub mod http;
pub mod interactions;
pub mod remediation;
pub mod send;

use std::sync::Arc;
use std::time::Duration;

use medic_commands::model::inbound::Platform;
use medic_integrations::chat::discord::client::DiscordApi;
use medic_integrations::chat::discord::verify::DiscordVerifier;
use secrecy::ExposeSecret;

use crate::chat::allow::Gate;
use crate::outbox::pace::Pacer;
use crate::settings::DiscordSettings;
use crate::telemetry::metrics::Metrics;

/// The pace for posting into one channel or thread. Discord's per-channel
/// bucket allows about five messages in five seconds; one a second stays
/// inside it without reading the bucket headers, and a 429 (with its
/// `retry_after`) is honoured anyway.
pub const CHANNEL_INTERVAL: Duration = Duration::from_secs(1);
/// How long a report keeps trying to reach Discord through an outage. An
/// interaction token lives 15 minutes, so longer would not help `/diag`.
pub const DELIVERY_DEADLINE: Duration = Duration::from_secs(14 * 60);

/// Everything medic needs to speak Discord.
#[derive(Debug)]
pub struct DiscordRuntime {
    /// Checks inbound interaction signatures; `None` in gateway mode
    /// without a public key (nothing is taken over HTTP then).
    pub verifier: Option<DiscordVerifier>,
    /// The REST API.
    pub api: DiscordApi,
    /// Paces posts per channel and thread.
    pub pace: Pacer,
    /// `discord.guilds`: every interaction asks it first.
    pub gate: Gate,
}

impl DiscordRuntime {
    /// Builds the runtime from validated settings.
    pub fn new(
        settings: &DiscordSettings,
        metrics: Arc<Metrics>,
        http: reqwest::Client,
    ) -> anyhow::Result<Self> {
        let verifier = match &settings.public_key {
            Some(key) => Some(
                DiscordVerifier::new(key)
                    .map_err(|e| anyhow::anyhow!("discord.public_key: {e}"))?,
            ),
            None => None,
        };
        let api = DiscordApi::new(
            settings.api_url.as_str(),
            &settings.application_id,
            settings.bot_token.expose_secret(),
            http,
        );
        Ok(DiscordRuntime {
            verifier,
            api,
            gate: Gate::new(Platform::Discord, &settings.guilds, metrics.clone()),
            pace: Pacer::new(
                Platform::Discord,
                CHANNEL_INTERVAL,
                DELIVERY_DEADLINE,
                metrics,
            ),
        })
    }
}
