//! `[discord]`: Discord over HTTP interactions.

use std::fmt;

use config::Value;
use medic_integrations::chat::discord::verify::DiscordVerifier;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{Reader, is_loopback, problem};

/// `[discord]`: present when the application id, public key and bot token
/// all are.
#[derive(Clone)]
pub struct DiscordSettings {
    /// The application's id (Developer Portal → General Information);
    /// names the interaction webhooks and the registered commands.
    pub application_id: String,
    /// The application's Ed25519 public key, hex (General Information →
    /// Public Key): verifies `POST /discord/interactions`. Checked to be a
    /// valid key at load time.
    pub public_key: String,
    /// The bot's token (Bot → Token), for the REST API.
    pub bot_token: SecretString,
    /// The REST API's base URL (`https://discord.com`; tests point it at a
    /// fake). `/api/v10` is appended.
    pub api_url: url::Url,
}

impl fmt::Debug for DiscordSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordSettings")
            .field("application_id", &self.application_id)
            .field("public_key", &self.public_key)
            .field("bot_token", &"••••")
            .field("api_url", &self.api_url.as_str())
            .finish()
    }
}

impl Reader {
    /// `Some(None)`: not configured; `None`: configured with problems.
    pub(super) fn discord(&mut self, value: Option<Value>) -> Option<Option<DiscordSettings>> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Raw {
            application_id: Option<String>,
            public_key: Option<String>,
            bot_token: Option<SecretString>,
            api_url: Option<String>,
        }
        let Some(value) = value else {
            return Some(None);
        };
        let raw: Raw = self.section("discord", Some(value))?;
        let text = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let application_id = text(&raw.application_id);
        let public_key = text(&raw.public_key);
        let token = raw
            .bot_token
            .filter(|t| !t.expose_secret().trim().is_empty());
        if application_id.is_none() && public_key.is_none() && token.is_none() {
            return Some(None);
        }
        let before = self.problems.len();
        let api_text = raw.api_url.unwrap_or_else(|| "https://discord.com".into());
        let api_url = match url::Url::parse(&api_text) {
            Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && is_loopback(&u)) => Some(u),
            Ok(_) => {
                self.problems.push(problem(
                    "discord.api_url",
                    "must be https:// (plain http is allowed only for a loopback address, for tests)",
                ));
                None
            }
            Err(e) => {
                self.problems
                    .push(problem("discord.api_url", format!("not a valid URL ({e})")));
                None
            }
        };
        match &application_id {
            None => self.problems.push(problem(
                "discord.application_id",
                "missing: follow-ups and command registration need it (Developer Portal → General Information → Application ID)",
            )),
            Some(id) if !id.chars().all(|c| c.is_ascii_digit()) => self.problems.push(problem(
                "discord.application_id",
                "must be the numeric Application ID",
            )),
            Some(_) => {}
        }
        match &public_key {
            None => self.problems.push(problem(
                "discord.public_key",
                "missing: interactions cannot be verified without it (Developer Portal → General Information → Public Key)",
            )),
            Some(k) => {
                if let Err(e) = DiscordVerifier::new(k) {
                    self.problems.push(problem("discord.public_key", e.to_string()));
                }
            }
        }
        if token.is_none() {
            self.problems.push(problem(
                "discord.bot_token",
                "missing: medic cannot post without it (Developer Portal → Bot → Token)",
            ));
        }
        if self.problems.len() > before {
            return None;
        }
        Some(Some(DiscordSettings {
            application_id: application_id?,
            public_key: public_key?,
            bot_token: token?,
            api_url: api_url?,
        }))
    }
}
