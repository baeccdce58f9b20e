//! medic's Discord runtime: the verifier, the REST client and its outbox,
//! built once from `[discord]`.

use std::sync::Arc;
use std::time::Duration;

use medic_integrations::chat::discord::client::DiscordApi;
use medic_integrations::chat::discord::verify::DiscordVerifier;
use secrecy::ExposeSecret;

use crate::outbox::Outbox;
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
    /// Checks inbound interaction signatures.
    pub verifier: DiscordVerifier,
    /// The REST API.
    pub api: DiscordApi,
    /// Paces posts per channel and thread.
    pub outbox: Outbox,
}

impl DiscordRuntime {
    /// Builds the runtime from validated settings.
    pub fn new(
        settings: &DiscordSettings,
        metrics: Arc<Metrics>,
        http: reqwest::Client,
    ) -> anyhow::Result<Self> {
        let verifier = DiscordVerifier::new(&settings.public_key)
            .map_err(|e| anyhow::anyhow!("discord.public_key: {e}"))?;
        let api = DiscordApi::new(
            settings.api_url.as_str(),
            &settings.application_id,
            settings.bot_token.expose_secret(),
            http,
        );
        Ok(DiscordRuntime {
            verifier,
            api,
            outbox: Outbox::new("discord", CHANNEL_INTERVAL, DELIVERY_DEADLINE, metrics),
        })
    }
}
