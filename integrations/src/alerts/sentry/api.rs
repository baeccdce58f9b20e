//! Purpose: fetch what a webhook left out. An `issue` webhook carries the
//! issue, not its event, so the exception chain triage needs is read from
//! Sentry's API: `GET {api_url}issues/{issue_id}/events/latest/` with
//! `Authorization: Bearer {auth_token}` (an internal integration's token
//! with `event:read`). The answer's exceptions sit under `entries[]` with
//! `type = "exception"`; `medic_commands::triage::chain::walk` reads both
//! shapes.

use std::time::Duration;

use serde_json::Value;

/// A client for the few Sentry API calls medic makes.
#[derive(Clone)]
pub struct SentryApi {
    base: url::Url,
    token: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for SentryApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SentryApi({}, token ••••)", self.base)
    }
}

/// The most of an event medic reads: Sentry's own ingest limit for an
/// event is 1 MiB compressed, and its API answers with the event as
/// stored, frames and breadcrumbs included, rarely past a few MiB.
const EVENT_CAP: usize = 8 << 20;

/// Why an event could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum SentryApiError {
    /// The issue id is not Sentry's numeric id (a metric alert's, say).
    #[error("`{0}` is not a Sentry issue id")]
    NotAnIssue(String),
    /// Sentry answered with an error status (401: the token; 404: no such
    /// issue or no event kept).
    #[error("Sentry answered HTTP {0}")]
    Status(u16),
    /// No answer (connection, timeout).
    #[error("Sentry did not answer: {0}")]
    Transport(String),
    /// The answer is not JSON.
    #[error("Sentry's answer is not JSON: {0}")]
    Body(String),
}

impl SentryApi {
    /// A client for `base` (`https://sentry.io/api/0/`, with its trailing
    /// slash) with `token`, sharing `http`'s connection pool.
    pub fn new(base: url::Url, token: String, http: reqwest::Client) -> Self {
        SentryApi { base, token, http }
    }

    /// The latest event of issue `issue_id`, as JSON.
    pub async fn latest_event(&self, issue_id: &str) -> Result<Value, SentryApiError> {
        // The id goes into a path: digits only, nothing that could walk it.
        if issue_id.is_empty() || !issue_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SentryApiError::NotAnIssue(issue_id.to_string()));
        }
        let url = self
            .base
            .join(&format!("issues/{issue_id}/events/latest/"))
            .map_err(|e| SentryApiError::Transport(e.to_string()))?;
        let resp = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| SentryApiError::Transport(e.without_url().to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(SentryApiError::Status(status.as_u16()));
        }
        let body = medic_commands::http_body::read_capped(resp, EVENT_CAP)
            .await
            .map_err(|e| SentryApiError::Transport(e.without_url().to_string()))?;
        if body.truncated {
            return Err(SentryApiError::Body(format!(
                "longer than {} MiB",
                EVENT_CAP >> 20
            )));
        }
        serde_json::from_slice(&body.bytes).map_err(|e| SentryApiError::Body(e.to_string()))
    }
}
