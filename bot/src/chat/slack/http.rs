//! `POST /slack/commands` and `POST /slack/events`: verify, parse,
//! acknowledge within Slack's 3 s.

use std::borrow::Cow;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use medic_commands::model::inbound::Platform;
use medic_integrations::chat::slack::events::{Envelope, Event};
use medic_integrations::chat::slack::parse::SlashCommand;
use medic_integrations::chat::slack::render::ephemeral;

use crate::delivery::Delivery;
use crate::dispatch::{self, Typed};
use crate::state::AppState;
use crate::storage::outbox::{NewRow, OutboxKind};
use crate::telemetry::metrics::{AckOutcome, RequestKind};

/// The two headers Slack signs a request with, as the request holds them.
#[derive(Clone, Copy)]
pub(super) struct Signed<'a> {
    timestamp: Option<&'a str>,
    signature: Option<&'a str>,
}

impl<'a> Signed<'a> {
    /// `X-Slack-Request-Timestamp` and `X-Slack-Signature`, when present
    /// and visible ASCII.
    pub(super) fn from_headers(headers: &'a HeaderMap) -> Self {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        Signed {
            timestamp: header("x-slack-request-timestamp"),
            signature: header("x-slack-signature"),
        }
    }
}

/// [`Signed`] as an extractor for the router's Slack routes: the two
/// headers taken on their own rather than cloning the whole header map on
/// every request.
pub struct SlackSignature {
    timestamp: Option<String>,
    signature: Option<String>,
}

impl SlackSignature {
    pub(super) fn signed(&self) -> Signed<'_> {
        Signed {
            timestamp: self.timestamp.as_deref(),
            signature: self.signature.as_deref(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SlackSignature {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let signed = Signed::from_headers(&parts.headers);
        Ok(SlackSignature {
            timestamp: signed.timestamp.map(str::to_string),
            signature: signed.signature.map(str::to_string),
        })
    }
}

/// The one gate every Slack route passes before it reads a byte of the
/// body: Slack must be configured here (404 otherwise) and the request
/// signed by Slack (401 and one log line otherwise). One function, so a
/// new Slack route cannot forget half of it. `None` means it may go on.
pub(super) fn refuse_unless_slack(
    state: &AppState,
    signed: Signed<'_>,
    body: &[u8],
    route: &str,
) -> Option<Response> {
    let Some(slack) = &state.slack else {
        tracing::warn!(
            route,
            "A Slack request arrived, but Slack is not configured."
        );
        return Some(
            (
                StatusCode::NOT_FOUND,
                "Slack is not configured on this medic\n",
            )
                .into_response(),
        );
    };
    let verified = slack.verifier.verify(
        signed.timestamp,
        signed.signature,
        body,
        crate::chat::now_unix(),
    );
    if let Err(error) = verified {
        tracing::warn!(%error, route, "Rejected a request that is not signed by Slack.");
        return Some((StatusCode::UNAUTHORIZED, "invalid signature\n").into_response());
    }
    None
}

/// `POST /slack/commands`.
pub async fn commands(
    State(state): State<AppState>,
    signed: SlackSignature,
    body: Bytes,
) -> Response {
    command(&state, signed.signed(), &body).await
}

/// A slash command. The signature is checked on the raw bytes before
/// anything is parsed; a failure is a 401 and one log line.
pub(super) async fn command(state: &AppState, signed: Signed<'_>, body: &[u8]) -> Response {
    if let Some(refused) = refuse_unless_slack(state, signed, body, "/slack/commands") {
        return refused;
    }
    // Slack checks the certificate of a slash command's URL now and then
    // with a request that carries no command.
    if body
        .split(|b| *b == b'&')
        .any(|pair| pair.starts_with(b"ssl_check="))
    {
        return StatusCode::OK.into_response();
    }
    let cmd = match SlashCommand::parse(body) {
        Ok(c) => c,
        Err(error) => {
            tracing::warn!(%error, "Rejected a malformed slash command.");
            return (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response();
        }
    };
    let answer = slash(state, cmd).await;
    Json(ephemeral(&answer)).into_response()
}

/// Runs a slash command (over HTTP or Socket Mode); returns the text of
/// the private answer. Nothing is copied out of the command unless it is
/// accepted: this runs for every command of a flood. A command from a
/// workspace outside `slack.teams` is answered with the refusal and
/// dispatched no further.
pub(crate) async fn slash(state: &AppState, cmd: SlashCommand<'_>) -> Cow<'static, str> {
    if let Some(slack) = &state.slack
        && !slack
            .gate
            .admits(Some(cmd.team_id.as_ref()), RequestKind::Command)
    {
        return Cow::Borrowed(slack.gate.refusal(Some(cmd.team_id.as_ref())));
    }
    let typed = Typed {
        platform: Platform::Slack,
        channel: &cmd.channel_id,
        thread: None,
        actor_id: &cmd.user_id,
        actor_name: &cmd.user_name,
        name: &cmd.command,
        text: &cmd.text,
    };
    let delivery = || Delivery::Slack {
        channel: cmd.channel_id.to_string(),
        response_url: cmd.response_url.to_string(),
        thread_ts: None,
    };
    dispatch::command(state, typed, delivery).await.text
}

/// The Events API: Slack's URL check, and `@medic diag redis` mentions,
/// which run like `/diag redis` and answer in the mention's thread.
/// Slack's retries of an event (`X-Slack-Retry-Num`) carry the same
/// `event_id` and are acknowledged without running it again.
pub async fn events(
    State(state): State<AppState>,
    signed: SlackSignature,
    body: Bytes,
) -> Response {
    if let Some(refused) = refuse_unless_slack(&state, signed.signed(), &body, "/slack/events") {
        return refused;
    }
    let envelope = match Envelope::parse(&body) {
        Ok(e) => e,
        Err(error) => {
            tracing::warn!(%error, "Rejected a malformed Slack event.");
            return (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response();
        }
    };
    match envelope.kind.as_str() {
        "url_verification" => {
            Json(serde_json::json!({ "challenge": envelope.challenge.unwrap_or_default() }))
                .into_response()
        }
        "event_callback" => {
            event_callback(&state, envelope);
            StatusCode::OK.into_response()
        }
        other => {
            tracing::info!(
                kind = other,
                "A Slack event of a kind medic does not handle."
            );
            StatusCode::OK.into_response()
        }
    }
}

/// An event (over HTTP or Socket Mode): an `app_mention` runs in the
/// background, so the event is acknowledged at once and a slow database
/// never makes Slack retry. Slack retries an event it thinks was lost
/// (`X-Slack-Retry-Num`) with the same `event_id`, and the retry may reach
/// another replica: the id is claimed in the database first, and only the
/// medic that claims it runs the event. When the database cannot say, the
/// mention runs anyway: answering twice beats not answering.
///
/// A mention from a workspace outside `slack.teams` is dropped before
/// any of that: an event cannot be answered privately, and an answer in
/// a stranger's channel would tell them medic is here.
pub(crate) fn event_callback(state: &AppState, envelope: Envelope) {
    let Some(slack) = &state.slack else {
        return;
    };
    let Some(event) = envelope.event else { return };
    if event.kind != "app_mention" || event.bot_id.is_some() {
        return;
    }
    if !slack
        .gate
        .admits(envelope.team_id.as_deref(), RequestKind::Mention)
    {
        return;
    }
    let job = state.clone();
    let event_id = envelope.event_id;
    state.tasks.spawn(async move {
        if let Some(id) = event_id.as_deref() {
            match job.store.claim_event("slack", id).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!(event_id = id, "Dropped a repeated Slack event.");
                    return;
                }
                Err(error) => {
                    tracing::warn!(event_id = id, %error, "Could not record a Slack event id; handling it anyway.");
                }
            }
        }
        mention(&job, event).await
    });
}

/// `@medic diag redis`: dispatched like the slash command; what would be
/// an ephemeral answer (help, a limit) is a reply in the mention's thread,
/// since an event cannot be answered privately.
async fn mention(state: &AppState, event: Event) {
    if state.slack.is_none() {
        return;
    }
    let (name, args) = event.command();
    let thread = event.answer_thread().to_string();
    let user = event.user.clone().unwrap_or_default();
    let text = args.join(" ");
    let typed = Typed {
        platform: Platform::Slack,
        channel: &event.channel,
        thread: Some(&thread),
        actor_id: &user,
        actor_name: &user,
        name: &name,
        text: &text,
    };
    let delivery = || Delivery::Slack {
        channel: event.channel.clone(),
        response_url: String::new(),
        thread_ts: Some(thread.clone()),
    };
    let ack = dispatch::command(state, typed, delivery).await;
    if ack.outcome == AckOutcome::Accepted {
        return;
    }
    // An event cannot be answered privately: the answer goes in the
    // mention's thread, through the outbox like every message. Escaped
    // whole: it may echo what was typed (`@medic diag <!channel>` answers
    // "I don't know … `<!channel>`"), which in a channel would ping it.
    let text = medic_integrations::chat::slack::render::escape(&ack.text);
    let content = slack_morphism::prelude::SlackMessageContent::new().with_text(text);
    let body = medic_integrations::chat::wire(&content);
    let answer = NewRow {
        thread_ts: Some(&thread),
        ..NewRow::new(Platform::Slack, &event.channel, OutboxKind::Reply, &body)
    };
    if let Err(error) = state.outbox.queue(&state.store, &answer).await {
        tracing::warn!(%error, "Could not answer a mention.");
    }
}
