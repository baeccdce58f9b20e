//! Purpose: Discord's REST API (v10) at a configurable base URL, with
//! errors typed the way callers branch on them: rate-limited (wait
//! `retry_after`, then retry), rejected (do not retry), unreadable (it
//! probably took effect), or a transport failure (retry with backoff).
//!
//! Over reqwest rather than serenity's `Http`: serenity honours a base-URL
//! override only with its own rate limiter switched off (docs/crates.md § serenity),
//! so tests and production would run different code; its limiter also
//! sleeps through a 429 inside the call, where medic's outbox must see
//! `retry_after` to pace the channel and keep the message durable; and its
//! response structs are strict. The wire here is a handful of routes.
//!
//! Interaction tokens travel in URL paths (`/webhooks/{app}/{token}`):
//! error texts are built without URLs so a token never reaches a log.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::render::DiscordMessage;

/// The API version medic speaks.
pub const API_PATH: &str = "api/v10";

/// Why a call to Discord failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DiscordApiError {
    /// 429: wait this long, then try again.
    #[error("rate limited by Discord; retry after {retry_after:?}{}", if *global { " (global)" } else { "" })]
    RateLimited {
        /// From the JSON body's `retry_after` (seconds, fractional), else
        /// the `Retry-After` header, else 1 s.
        retry_after: Duration,
        /// The limit is on the whole bot, not the route.
        global: bool,
    },
    /// A 4xx other than 429: Discord refused the call (unknown channel,
    /// missing permission, invalid form body). Retrying will not help.
    #[error("Discord rejected the call ({status}, code {code}): {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// Discord's JSON error code (10003 unknown channel, 50001 missing
        /// access, 50035 invalid form body, 160004 thread exists…; 0 when
        /// absent).
        code: u64,
        /// Discord's message.
        message: String,
    },
    /// Discord accepted the call but its answer could not be read. The
    /// call probably took effect, so retrying could post twice.
    #[error("Discord's answer could not be read: {0}")]
    Unreadable(String),
    /// The call did not complete (network, TLS, a 5xx). Worth retrying.
    #[error("could not reach Discord: {0}")]
    Transport(String),
}

impl DiscordApiError {
    /// Whether trying the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            DiscordApiError::RateLimited { .. } | DiscordApiError::Transport(_)
        )
    }

    /// Discord's JSON error code, when it rejected the call.
    pub fn code(&self) -> Option<u64> {
        match self {
            DiscordApiError::Rejected { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Unknown Channel: also what posting into a thread that was never
/// started answers.
pub const UNKNOWN_CHANNEL: u64 = 10003;
/// A thread has already been created for this message.
pub const THREAD_EXISTS: u64 = 160004;

/// A created or edited message's coordinates.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct Posted {
    /// Its id; a thread started from it has the same id.
    pub id: String,
    /// Its channel.
    pub channel_id: String,
}

/// Discord's REST API for one application and bot.
#[derive(Clone)]
pub struct DiscordApi {
    base: String,
    application_id: String,
    authorization: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for DiscordApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordApi")
            .field("base", &self.base)
            .field("application_id", &self.application_id)
            .field("authorization", &"Bot ••••")
            .finish()
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ErrorBody {
    code: u64,
    message: String,
    retry_after: Option<f64>,
    global: bool,
}

impl DiscordApi {
    /// A client for `api_url` (`https://discord.com`; tests give a fake).
    pub fn new(
        api_url: &str,
        application_id: &str,
        bot_token: &str,
        http: reqwest::Client,
    ) -> DiscordApi {
        DiscordApi {
            base: format!("{}/{API_PATH}", api_url.trim_end_matches('/')),
            application_id: application_id.to_string(),
            authorization: format!("Bot {bot_token}"),
            http,
        }
    }

    /// The application this client speaks for.
    pub fn application_id(&self) -> &str {
        &self.application_id
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        bot: bool,
    ) -> Result<Value, DiscordApiError> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .json(body);
        if bot {
            req = req.header("authorization", &self.authorization);
        }
        let response = req
            .send()
            .await
            .map_err(|e| DiscordApiError::Transport(e.without_url().to_string()))?;
        let status = response.status();
        let header_wait = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok());
        let bytes = response
            .bytes()
            .await
            .map_err(|e| DiscordApiError::Transport(e.without_url().to_string()))?;
        if status.is_success() {
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes)
                .map_err(|e| DiscordApiError::Unreadable(e.to_string()));
        }
        let error: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
        if status.as_u16() == 429 {
            let secs = error.retry_after.or(header_wait).unwrap_or(1.0);
            return Err(DiscordApiError::RateLimited {
                retry_after: crate::chat::wait_of_secs(secs),
                global: error.global,
            });
        }
        if status.is_server_error() {
            return Err(DiscordApiError::Transport(format!("HTTP {status}")));
        }
        Err(DiscordApiError::Rejected {
            status: status.as_u16(),
            code: error.code,
            message: error.message,
        })
    }

    fn posted(v: Value) -> Result<Posted, DiscordApiError> {
        serde_json::from_value(v).map_err(|e| DiscordApiError::Unreadable(e.to_string()))
    }

    /// Posts a message into a channel or thread. With a `nonce`, Discord
    /// drops a second message with the same nonce sent within minutes
    /// (`enforce_nonce`): what makes a retry after a crash safe.
    pub async fn create_message(
        &self,
        channel: &str,
        message: &DiscordMessage,
        nonce: Option<&str>,
    ) -> Result<Posted, DiscordApiError> {
        let mut body = serde_json::to_value(message).unwrap_or_default();
        if let (Some(n), Some(map)) = (nonce, body.as_object_mut()) {
            map.insert("nonce".into(), json!(n));
            map.insert("enforce_nonce".into(), json!(true));
        }
        let v = self
            .call(
                reqwest::Method::POST,
                &format!("/channels/{channel}/messages"),
                &body,
                true,
            )
            .await?;
        Self::posted(v)
    }

    /// Replaces a message the bot posted.
    pub async fn edit_message(
        &self,
        channel: &str,
        id: &str,
        message: &DiscordMessage,
    ) -> Result<Posted, DiscordApiError> {
        let body = serde_json::to_value(message).unwrap_or_default();
        let v = self
            .call(
                reqwest::Method::PATCH,
                &format!("/channels/{channel}/messages/{id}"),
                &body,
                true,
            )
            .await?;
        Self::posted(v)
    }

    /// Starts a thread from a message; the thread's id is the message's.
    /// A thread that already exists counts as started.
    pub async fn start_thread(
        &self,
        channel: &str,
        message_id: &str,
        name: &str,
    ) -> Result<String, DiscordApiError> {
        let body = json!({ "name": name, "auto_archive_duration": 1440 });
        match self
            .call(
                reqwest::Method::POST,
                &format!("/channels/{channel}/messages/{message_id}/threads"),
                &body,
                true,
            )
            .await
        {
            Ok(v) => Ok(v["id"].as_str().unwrap_or(message_id).to_string()),
            Err(e) if e.code() == Some(THREAD_EXISTS) => Ok(message_id.to_string()),
            Err(e) => Err(e),
        }
    }

    /// Replaces the deferred answer to an interaction ("medic is
    /// thinking…") with `message`. Interaction webhooks take no bot token.
    pub async fn edit_original(
        &self,
        token: &str,
        message: &DiscordMessage,
    ) -> Result<Posted, DiscordApiError> {
        let body = serde_json::to_value(message).unwrap_or_default();
        let v = self
            .call(
                reqwest::Method::PATCH,
                &format!(
                    "/webhooks/{}/{token}/messages/@original",
                    self.application_id
                ),
                &body,
                false,
            )
            .await?;
        Self::posted(v)
    }

    /// Answers an interaction that came over the gateway with `response`
    /// (the JSON an HTTP interaction gets as its body: type 4, 5, 6, 8…).
    /// Once per interaction, within 3 s of it; like the interaction
    /// webhooks it takes no bot token. Discord answers 204.
    pub async fn interaction_callback(
        &self,
        interaction_id: &str,
        token: &str,
        response: &Value,
    ) -> Result<(), DiscordApiError> {
        self.call(
            reqwest::Method::POST,
            &format!("/interactions/{interaction_id}/{token}/callback"),
            response,
            false,
        )
        .await
        .map(|_| ())
    }

    /// Sends a follow-up message to an interaction (within 15 minutes).
    pub async fn followup(
        &self,
        token: &str,
        message: &DiscordMessage,
    ) -> Result<Posted, DiscordApiError> {
        let body = serde_json::to_value(message).unwrap_or_default();
        let v = self
            .call(
                reqwest::Method::POST,
                &format!("/webhooks/{}/{token}", self.application_id),
                &body,
                false,
            )
            .await?;
        Self::posted(v)
    }

    /// Replaces every application command, globally or in one guild (a
    /// guild's appear at once; global ones can take a while to spread).
    /// Returns how many Discord now has.
    pub async fn overwrite_commands(
        &self,
        guild: Option<&str>,
        commands: &Value,
    ) -> Result<usize, DiscordApiError> {
        let path = match guild {
            Some(g) => format!("/applications/{}/guilds/{g}/commands", self.application_id),
            None => format!("/applications/{}/commands", self.application_id),
        };
        let v = self
            .call(reqwest::Method::PUT, &path, commands, true)
            .await?;
        Ok(v.as_array().map_or(0, Vec::len))
    }
}
