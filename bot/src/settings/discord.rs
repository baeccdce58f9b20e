//! `[discord]`: Discord over HTTP interactions, or over the gateway.
//!
//! ```toml
//! [discord]
//! application_id = "…"   # required: interaction webhooks and commands are named by it
//! public_key = "…"       # hex; required for HTTP interactions, optional with gateway = true
//! bot_token = "…"        # required: the REST API, and the gateway's IDENTIFY
//! api_url = "https://discord.com"   # tests point this at a fake; the gateway URL is asked here too
//! gateway = false        # true: take interactions over a gateway connection instead
//! guilds = ["…"]         # the servers medic serves; empty: any server, and DMs (a warning)
//! default_member_permissions = "0"  # optional: who may see the commands until admins change it
//! ```

use std::fmt;

use config::Value;
use medic_integrations::chat::discord::verify::DiscordVerifier;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{IdList, Reader, is_loopback, problem};

/// `[discord]`: present when the application id, bot token and (for HTTP
/// interactions) the public key are.
#[derive(Clone)]
pub struct DiscordSettings {
    /// The application's id (Developer Portal → General Information);
    /// names the interaction webhooks and the registered commands.
    pub application_id: String,
    /// The application's Ed25519 public key, hex (General Information →
    /// Public Key): verifies `POST /discord/interactions`. Checked to be a
    /// valid key at load time. Optional in gateway mode, where nothing
    /// arrives over HTTP.
    pub public_key: Option<String>,
    /// The bot's token (Bot → Token), for the REST API.
    pub bot_token: SecretString,
    /// The REST API's base URL (`https://discord.com`; tests point it at a
    /// fake). `/api/v10` is appended.
    pub api_url: url::Url,
    /// Take interactions over a gateway WebSocket (serenity) instead of
    /// `POST /discord/interactions`: for teams without a public HTTPS
    /// endpoint. The WebSocket URL is what `GET {api_url}/api/v10/gateway`
    /// names, so a fake API also fakes the gateway.
    pub gateway: bool,
    /// The servers (guild ids) whose interactions medic serves, and where
    /// `medic discord register` puts the commands; empty: every server
    /// the bot is in, and DMs (a start-up warning says so). See
    /// [`crate::chat::allow`].
    pub guilds: Vec<String>,
    /// The commands' `default_member_permissions` (a permission bit set in
    /// decimal; `"0"`: administrators only until a server's admins grant
    /// them in Server Settings → Integrations). `None`: everyone.
    pub default_member_permissions: Option<String>,
}

impl fmt::Debug for DiscordSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordSettings")
            .field("application_id", &self.application_id)
            .field("public_key", &self.public_key)
            .field("bot_token", &"••••")
            .field("api_url", &self.api_url.as_str())
            .field("gateway", &self.gateway)
            .field("guilds", &self.guilds)
            .field(
                "default_member_permissions",
                &self.default_member_permissions,
            )
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
            gateway: bool,
            guilds: Option<IdList>,
            default_member_permissions: Option<String>,
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
        if application_id.is_none() && public_key.is_none() && token.is_none() && !raw.gateway {
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
            // Nothing arrives over HTTP in gateway mode: no key to check with.
            None if raw.gateway => {}
            None => self.problems.push(problem(
                "discord.public_key",
                "missing: interactions cannot be verified without it (Developer Portal → General Information → Public Key; or set gateway = true)",
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
                if raw.gateway {
                    "missing: the gateway connection identifies with it, and medic cannot post without it (Developer Portal → Bot → Token)"
                } else {
                    "missing: medic cannot post without it (Developer Portal → Bot → Token)"
                },
            ));
        }
        let snowflake =
            |id: &str| !id.is_empty() && id.len() <= 20 && id.chars().all(|c| c.is_ascii_digit());
        let guilds = self.id_list(
            "discord.guilds",
            raw.guilds,
            snowflake,
            "is not a Discord server id (its number: Server Settings → Widget → Server ID, or Copy Server ID in Developer Mode)",
        );
        let permissions = text(&raw.default_member_permissions);
        if permissions
            .as_deref()
            .is_some_and(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
        {
            self.problems.push(problem(
                "discord.default_member_permissions",
                "must be a permission bit set in decimal (\"0\": administrators only, until a server grants more)",
            ));
        }
        if self.problems.len() > before {
            return None;
        }
        let guilds = guilds?;
        if guilds.is_empty() {
            self.warnings.push(problem(
                "discord.guilds",
                "not set: any Discord server the bot is added to, and anyone who can DM it, can use medic (run /diag, read reports); set guilds = [\"…\"] to serve only yours",
            ));
        }
        Some(Some(DiscordSettings {
            application_id: application_id?,
            public_key,
            bot_token: token?,
            api_url: api_url?,
            gateway: raw.gateway,
            guilds,
            default_member_permissions: permissions,
        }))
    }
}
