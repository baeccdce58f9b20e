//! `POST /discord/interactions`: verify, parse, answer within Discord's
//! 3 s. What the answer is — the same as over the gateway — is
//! [`crate::chat::discord::interactions::answer`]; here it becomes the response
//! body.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use medic_integrations::chat::discord::parse::Interaction;

use crate::chat::discord::ack::Acked;
use crate::chat::discord::interactions;
use crate::state::AppState;

/// The two headers Discord signs a request with.
pub struct DiscordSignature {
    timestamp: Option<String>,
    signature: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for DiscordSignature {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Ok(DiscordSignature {
            timestamp: header("x-signature-timestamp"),
            signature: header("x-signature-ed25519"),
        })
    }
}

/// An interaction. The signature is checked on the raw bytes before
/// anything is parsed; a failure is a 401 and one log line.
pub async fn interactions(
    State(state): State<AppState>,
    signed: DiscordSignature,
    body: Bytes,
) -> Response {
    let Some(discord) = &state.discord else {
        tracing::warn!("A Discord interaction arrived, but Discord is not configured.");
        return (
            StatusCode::NOT_FOUND,
            "Discord is not configured on this medic\n",
        )
            .into_response();
    };
    let Some(verifier) = &discord.verifier else {
        // Gateway mode without a public key: nothing is taken over HTTP,
        // and an unverifiable request is refused like a forged one.
        tracing::warn!(
            "A Discord interaction arrived over HTTP, but discord.public_key is not set (gateway mode)."
        );
        return (StatusCode::UNAUTHORIZED, "invalid request signature\n").into_response();
    };
    let verified = verifier.verify(
        signed.timestamp.as_deref(),
        signed.signature.as_deref(),
        &body,
        crate::chat::now_unix(),
    );
    if let Err(error) = verified {
        tracing::warn!(%error, route = "/discord/interactions", "Rejected a request that is not signed by Discord.");
        return (StatusCode::UNAUTHORIZED, "invalid request signature\n").into_response();
    }
    let interaction = match Interaction::parse(&body) {
        Ok(i) => i,
        Err(error) => {
            tracing::warn!(%error, "Rejected a malformed Discord interaction.");
            return (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response();
        }
    };
    let answer = interactions::answer(&state, &interaction, Acked::already()).await;
    Json(answer).into_response()
}
