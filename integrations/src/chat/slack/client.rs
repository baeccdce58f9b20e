//! Purpose: Slack's Web API (`chat.postMessage`) at a configurable base URL,
//! with errors typed the way callers branch on them: rate-limited (wait
//! `retry_after`, then retry), rejected by Slack (do not retry), or a
//! transport failure (retry with backoff).
//!
//! The base URL is configurable (`slack.api_url`) so tests run against a
//! fake; plain `http://` is accepted only because config validation allows
//! it for loopback addresses alone (a bot token never crosses a network in
//! clear text).

use std::sync::Arc;
use std::time::Duration;

use medic_commands::redact::redact;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

/// Why a call to Slack failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackApiError {
    /// Slack said 429: wait this long, then try again.
    #[error("rate limited by Slack; retry after {retry_after:?}")]
    RateLimited {
        /// From the `Retry-After` header (1 s when absent).
        retry_after: Duration,
    },
    /// Slack answered `ok: false` with this error code (`channel_not_found`,
    /// `invalid_auth`, `invalid_blocks` …). Retrying will not help.
    #[error("Slack rejected the call: {code}")]
    Rejected {
        /// Slack's error code.
        code: String,
    },
    /// Slack accepted the call but its answer could not be read. The call
    /// probably took effect, so retrying could post the message twice.
    #[error("Slack's answer could not be read: {0}")]
    Unreadable(String),
    /// The call did not complete (network, TLS, a 5xx). Worth retrying.
    #[error("could not reach Slack: {0}")]
    Transport(String),
}

impl SlackApiError {
    /// Whether trying the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            SlackApiError::Rejected { .. } | SlackApiError::Unreadable(_)
        )
    }
}

impl From<SlackClientError> for SlackApiError {
    fn from(e: SlackClientError) -> Self {
        match e {
            SlackClientError::RateLimitError(r) => SlackApiError::RateLimited {
                retry_after: r
                    .retry_after
                    .unwrap_or(Duration::from_secs(1))
                    .min(crate::chat::LONGEST_WAIT),
            },
            SlackClientError::ApiError(a) => SlackApiError::Rejected { code: a.code },
            SlackClientError::ProtocolError(p) => SlackApiError::Unreadable(redact(&p.to_string())),
            // Error texts from the HTTP stack may hold URLs; scrub them.
            other => SlackApiError::Transport(redact(&other.to_string())),
        }
    }
}

/// A posted message's coordinates, for threading and later edits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// The channel it landed in.
    pub channel: String,
    /// Its timestamp id; a thread's replies name it as `thread_ts`.
    pub ts: String,
}

/// The Slack Web API with one bot token.
#[derive(Clone)]
pub struct SlackApi {
    client: Arc<SlackHyperClient>,
    token: SlackApiToken,
}

impl std::fmt::Debug for SlackApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlackApi { token: •••• }")
    }
}

impl SlackApi {
    /// A client for `api_url` (e.g. `https://slack.com/api/`) and a bot token.
    pub fn new(api_url: &str, bot_token: &str) -> Result<Self, String> {
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        // The system's CA store when there is one, Mozilla's roots otherwise
        // (slim containers often ship without ca-certificates).
        let https = match builder.with_native_roots() {
            Ok(b) => b.https_or_http().enable_http1().enable_http2().build(),
            Err(_) => hyper_rustls::HttpsConnectorBuilder::new()
                .with_webpki_roots()
                .https_or_http()
                .enable_http1()
                .enable_http2()
                .build(),
        };
        let connector = SlackClientHyperConnector::with_connector(https)
            .with_slack_api_url(api_url.trim_end_matches('/'));
        Ok(SlackApi {
            client: Arc::new(SlackClient::new(connector)),
            token: SlackApiToken::new(SlackApiTokenValue(bot_token.to_string())),
        })
    }

    /// Posts a message into a channel, or into a thread when `thread_ts` is
    /// given.
    pub async fn post_message(
        &self,
        channel: &str,
        content: SlackMessageContent,
        thread_ts: Option<&str>,
    ) -> Result<Posted, SlackApiError> {
        let mut request =
            SlackApiChatPostMessageRequest::new(SlackChannelId(channel.to_string()), content);
        if let Some(ts) = thread_ts {
            request = request.with_thread_ts(SlackTs(ts.to_string()));
        }
        let session = self.client.open_session(&self.token);
        let response = session.chat_post_message(&request).await?;
        Ok(Posted {
            channel: response.channel.0,
            ts: response.ts.0,
        })
    }

    /// Shows `text` to `user` alone in `channel` (or a thread of it):
    /// the fallback for a click whose `response_url` cannot be used.
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
        thread_ts: Option<&str>,
    ) -> Result<(), SlackApiError> {
        let mut request = SlackApiChatPostEphemeralRequest::new(
            SlackChannelId(channel.to_string()),
            SlackUserId(user.to_string()),
            SlackMessageContent::new().with_text(text.to_string()),
        );
        if let Some(ts) = thread_ts {
            request = request.with_thread_ts(SlackTs(ts.to_string()));
        }
        let session = self.client.open_session(&self.token);
        session.chat_post_ephemeral(&request).await?;
        Ok(())
    }

    /// Replaces the text and blocks of a message medic posted: the root
    /// message gets its final status once every check has answered.
    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        content: SlackMessageContent,
    ) -> Result<Posted, SlackApiError> {
        let request = SlackApiChatUpdateRequest::new(
            SlackChannelId(channel.to_string()),
            content,
            SlackTs(ts.to_string()),
        );
        let session = self.client.open_session(&self.token);
        let response = session.chat_update(&request).await?;
        Ok(Posted {
            channel: response.channel.0,
            ts: response.ts.0,
        })
    }

    /// Makes `users` the members of user group `usergroup` (`S0…`), so that
    /// `@oncall-db` notifies whoever holds the pager
    /// (`usergroups.users.update`, scope `usergroups:write`).
    pub async fn set_usergroup_users(
        &self,
        usergroup: &str,
        users: &[&str],
    ) -> Result<(), SlackApiError> {
        let request = serde_json::json!({ "usergroup": usergroup, "users": users.join(",") });
        let session = self.client.open_session(&self.token);
        let _: serde_json::Value = session
            .http_session_api
            .http_post("usergroups.users.update", &request, None)
            .await?;
        Ok(())
    }

    /// Looks for the message medic posted for outbox row `outbox_id` (see
    /// [`mark`]) in `channel` since `oldest` (a Slack ts), or in the thread
    /// of `thread_ts`. Returns its ts when it landed. Asked after a crash
    /// left a post in flight: the answer decides between "record it" and
    /// "send it", so a post is never made twice. Looks at the latest 200
    /// messages, which covers the seconds around one post.
    pub async fn find_marked(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        oldest: &str,
        outbox_id: i64,
    ) -> Result<Option<String>, SlackApiError> {
        let channel = channel.to_string();
        let oldest = oldest.to_string();
        let yes = "true".to_string();
        let limit = "200".to_string();
        let thread = thread_ts.map(str::to_string);
        let mut params = vec![
            ("channel", Some(&channel)),
            ("oldest", Some(&oldest)),
            ("include_all_metadata", Some(&yes)),
            ("limit", Some(&limit)),
        ];
        let method = match &thread {
            Some(ts) => {
                params.push(("ts", Some(ts)));
                "conversations.replies"
            }
            None => "conversations.history",
        };
        let session = self.client.open_session(&self.token);
        let answer: serde_json::Value = session
            .http_session_api
            .http_get(method, &params, None)
            .await?;
        let wanted = outbox_id.to_string();
        let found = answer["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| {
                m["metadata"]["event_type"] == MARKER_EVENT
                    && m["metadata"]["event_payload"]["outbox_id"] == wanted.as_str()
            })
            .and_then(|m| m["ts"].as_str().map(str::to_string));
        Ok(found)
    }
}

/// The metadata event type on messages medic posts from its outbox.
pub const MARKER_EVENT: &str = "medic_outbox";

/// Marks a message as outbox row `outbox_id`'s, in Slack message metadata
/// (invisible to people, returned by `conversations.history` with
/// `include_all_metadata`).
pub fn mark(content: SlackMessageContent, outbox_id: i64) -> SlackMessageContent {
    let payload =
        std::collections::HashMap::from([("outbox_id".to_string(), outbox_id.to_string())]);
    content.with_metadata(SlackMessageMetadata {
        event_type: MARKER_EVENT.to_string(),
        event_payload: Some(payload),
    })
}
