//! `POST /slack/commands`: verify, parse, acknowledge within Slack's 3 s.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use medic_commands::model::inbound::CommandInvocation;
use medic_integrations::chat::slack::parse::SlashCommand;
use medic_integrations::chat::slack::render::ephemeral;

use crate::app::AppState;
use crate::delivery::Delivery;
use crate::dispatch;

/// The two headers Slack signs a request with, taken on their own rather
/// than cloning the whole header map on every request.
pub struct SlackSignature {
    pub(super) timestamp: Option<String>,
    pub(super) signature: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for SlackSignature {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Ok(SlackSignature {
            timestamp: header("x-slack-request-timestamp"),
            signature: header("x-slack-signature"),
        })
    }
}

pub(super) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A slash command. The signature is checked on the raw bytes before
/// anything is parsed; a failure is a 401 and one log line.
pub async fn commands(
    State(state): State<AppState>,
    signed: SlackSignature,
    body: Bytes,
) -> Response {
    let Some(slack) = &state.slack else {
        tracing::warn!("A Slack request arrived, but Slack is not configured.");
        return (
            StatusCode::NOT_FOUND,
            "Slack is not configured on this medic\n",
        )
            .into_response();
    };
    let verified = slack.verifier.verify(
        signed.timestamp.as_deref(),
        signed.signature.as_deref(),
        &body,
        now_unix(),
    );
    if let Err(error) = verified {
        tracing::warn!(%error, route = "/slack/commands", "Rejected a request that is not signed by Slack.");
        return (StatusCode::UNAUTHORIZED, "invalid signature\n").into_response();
    }
    // Slack checks the certificate of a slash command's URL now and then
    // with a request that carries no command.
    if body.starts_with(b"ssl_check=") || body.windows(11).any(|w| w == b"&ssl_check=") {
        return StatusCode::OK.into_response();
    }
    let cmd = match SlashCommand::parse(&body) {
        Ok(c) => c,
        Err(error) => {
            tracing::warn!(%error, "Rejected a malformed slash command.");
            return (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response();
        }
    };
    let invocation = CommandInvocation {
        actor: cmd.actor(),
        place: cmd.place(),
        name: cmd.command.trim_start_matches('/').to_string(),
        args: cmd.text.split_whitespace().map(str::to_string).collect(),
    };
    let delivery = Delivery::Slack {
        channel: cmd.channel_id.clone(),
        response_url: cmd.response_url.clone(),
    };
    let answer = dispatch::command(&state, invocation, delivery).await;
    Json(ephemeral(&answer.text)).into_response()
}
