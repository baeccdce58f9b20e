//! `POST /slack/interactions`: button clicks. Verified exactly like slash
//! commands (same verifier, same 401), parsed into a neutral click, and
//! acknowledged at once; the click is handled in the background (a run
//! can take longer than Slack's 3 s) and answers through `response_url`
//! and the request's status message.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use medic_commands::model::inbound::ButtonClick;
use medic_integrations::chat::slack::interaction::{self, Interaction};

use super::http::{SlackSignature, refuse_unless_slack};
use crate::remediation::{Notifier, flow};
use crate::state::AppState;
use crate::telemetry::metrics::RequestKind;

/// A button click.
pub async fn interactions(
    State(state): State<AppState>,
    signed: SlackSignature,
    body: Bytes,
) -> Response {
    if let Some(refused) =
        refuse_unless_slack(&state, signed.signed(), &body, "/slack/interactions")
    {
        return refused;
    }
    match interaction::parse(&body) {
        Ok(Interaction::Click {
            click,
            response_url,
            team,
        }) => pressed(&state, click, response_url, team.as_deref()),
        Ok(Interaction::Other(kind)) => {
            tracing::debug!(
                kind,
                "Ignored an interaction that is not one of medic's buttons."
            );
        }
        Err(error) => {
            tracing::warn!(%error, "Rejected a malformed interaction.");
            return (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response();
        }
    }
    StatusCode::OK.into_response()
}

/// A press of one of medic's buttons (over HTTP or Socket Mode, already
/// acknowledged): handled in the background by the remediation flow,
/// answering privately through `response_url`. A press from a workspace
/// outside `slack.teams` runs nothing; the clicker is told so through
/// the `response_url` alone (never `chat.postEphemeral`: medic does not
/// post into a stranger's workspace).
pub(crate) fn pressed(
    state: &AppState,
    click: ButtonClick,
    response_url: Option<String>,
    team: Option<&str>,
) {
    let Some(slack) = &state.slack else {
        return;
    };
    if !slack.gate.admits(team, RequestKind::Click) {
        let Some(url) = response_url else {
            return;
        };
        let refusal = slack.gate.refusal(team);
        let job = state.clone();
        state.tasks.spawn(async move {
            let Some(slack) = &job.slack else {
                return;
            };
            if let Err(error) = slack.respond_ephemeral(&url, refusal).await {
                tracing::info!(%error, "Could not tell a refused click why.");
            }
        });
        return;
    }
    tracing::info!(actor = %click.actor.id, verb = ?click.verb, "A remediation button was pressed.");
    let task_state = state.clone();
    state.tasks.spawn(async move {
        let notifier = SlackNotifier {
            state: task_state.clone(),
            response_url,
            clicker: Some((
                click.place.channel.clone(),
                click.actor.id.clone(),
                click.place.thread.clone(),
            )),
        };
        flow::handle(&task_state, click, &notifier).await;
    });
}

/// Answers and status messages for one click, through Slack.
pub struct SlackNotifier {
    /// The app, for its Slack runtime.
    pub state: AppState,
    /// The click's `response_url`, for ephemeral answers.
    pub response_url: Option<String>,
    /// The clicker's channel, user id and thread, for `chat.postEphemeral`
    /// when the `response_url` is missing, expired or not Slack's.
    pub clicker: Option<(String, String, Option<String>)>,
}

impl Notifier for SlackNotifier {
    async fn ephemeral(&self, text: &str) {
        let Some(slack) = &self.state.slack else {
            return;
        };
        if let Some(url) = &self.response_url {
            match slack.respond_ephemeral(url, text).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::info!(%error, "A click's response_url failed; answering with chat.postEphemeral.");
                }
            }
        }
        let Some((channel, user, thread)) = &self.clicker else {
            return;
        };
        let text = medic_commands::redact::redact(text);
        let sent = slack
            .pace
            .send(channel, || {
                slack
                    .api
                    .post_ephemeral(channel, user, &text, thread.as_deref())
            })
            .await;
        if let Err(error) = sent {
            tracing::warn!(%error, "Could not answer a click privately.");
        }
    }
}
