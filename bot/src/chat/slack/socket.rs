//! Slack Socket Mode: with `slack.app_token` (`xapp-…`) medic opens the
//! connection itself — `apps.connections.open`, then the WebSocket it
//! names — and takes slash commands and events there. No public URL.
//!
//! Every envelope is acknowledged (`{"envelope_id": …}`) the moment it is
//! read, before any work, so Slack's 3 s limit holds even when the
//! database is slow; the private answer to a slash command then goes
//! through its `response_url`. A `disconnect` envelope (Slack rotates
//! connections every few hours, and before maintenance) opens a new
//! connection at once; a dropped one is reopened with backoff. The loop
//! stops with medic's shutdown token.
//!
//! Interactions (remediation buttons, `block_actions`) arrive here too:
//! acknowledged like every envelope, then handed to the same click
//! handling as `POST /slack/interactions` (policy, approvals, single use,
//! audit), answering privately through the click's `response_url`.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use medic_integrations::chat::slack::events::Envelope;
use medic_integrations::chat::slack::interaction::{self, Interaction};
use medic_integrations::chat::slack::parse::SlashCommand;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::chat::slack::interactions::pressed;
use crate::state::AppState;

/// The longest wait between attempts to reconnect.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One frame from Slack.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Frame {
    #[serde(rename = "type")]
    kind: String,
    envelope_id: Option<String>,
    payload: Value,
    reason: Option<String>,
}

/// Why a connection ended.
enum Ended {
    /// Slack asked for a new connection.
    Disconnect,
    /// medic is stopping.
    Stopped,
}

/// Keeps a Socket Mode connection open until `stop`.
pub async fn run(state: AppState, stop: CancellationToken) {
    let Some(token) = state
        .settings
        .slack
        .as_ref()
        .and_then(|s| s.app_token.as_ref())
        .map(|t| t.expose_secret().to_string())
    else {
        return;
    };
    let mut backoff = Duration::from_millis(500);
    loop {
        match connection(&state, &token, &stop).await {
            Ok(Ended::Stopped) => return,
            Ok(Ended::Disconnect) => {
                tracing::info!("Slack asked for a new Socket Mode connection; reconnecting.");
                backoff = Duration::from_millis(500);
                continue;
            }
            Err(error) => {
                tracing::warn!(%error, backoff_ms = backoff.as_millis() as u64, "Slack Socket Mode connection lost; reconnecting.");
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// `apps.connections.open`: the WebSocket URL for one connection.
async fn open_url(state: &AppState, token: &str) -> Result<String, String> {
    let slack = state
        .settings
        .slack
        .as_ref()
        .ok_or("Slack is not configured")?;
    let url = slack
        .api_url
        .join("apps.connections.open")
        .map_err(|e| e.to_string())?;
    let answer: Value = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?
        .json()
        .await
        .map_err(|e| e.without_url().to_string())?;
    match (answer["ok"].as_bool(), answer["url"].as_str()) {
        (Some(true), Some(url)) => Ok(url.to_string()),
        _ => Err(format!(
            "apps.connections.open failed: {}",
            answer["error"].as_str().unwrap_or("no url")
        )),
    }
}

async fn connection(
    state: &AppState,
    token: &str,
    stop: &CancellationToken,
) -> Result<Ended, String> {
    let url = open_url(state, token).await?;
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .map_err(|e| format!("WebSocket: {e}"))?;
    loop {
        let message = tokio::select! {
            _ = stop.cancelled() => {
                let _ = ws.close(None).await;
                return Ok(Ended::Stopped);
            }
            m = ws.next() => m,
        };
        let text = match message {
            None => return Err("the connection closed".into()),
            Some(Err(e)) => return Err(format!("WebSocket: {e}")),
            Some(Ok(Message::Text(t))) => t.to_string(),
            Some(Ok(Message::Close(_))) => return Err("Slack closed the connection".into()),
            // Pings are answered by tungstenite itself.
            Some(Ok(_)) => continue,
        };
        let frame: Frame = match serde_json::from_str(&text) {
            Ok(f) => f,
            Err(error) => {
                tracing::warn!(%error, "An unreadable Socket Mode frame; ignored.");
                continue;
            }
        };
        if let Some(id) = &frame.envelope_id {
            let ack = serde_json::json!({ "envelope_id": id }).to_string();
            ws.send(Message::Text(ack.into()))
                .await
                .map_err(|e| format!("WebSocket: {e}"))?;
        }
        match frame.kind.as_str() {
            "hello" => tracing::info!("Slack Socket Mode connected."),
            "disconnect" => {
                tracing::info!(
                    reason = frame.reason.as_deref().unwrap_or_default(),
                    "Slack Socket Mode disconnect."
                );
                let _ = ws.close(None).await;
                return Ok(Ended::Disconnect);
            }
            "slash_commands" => slash_command(state, frame.payload),
            "events_api" => match serde_json::from_value::<Envelope>(frame.payload) {
                Ok(envelope) => crate::chat::slack::http::event_callback(state, envelope),
                Err(error) => tracing::warn!(%error, "An unreadable Slack event over Socket Mode."),
            },
            "interactive" => interactive(state, frame.payload),
            other => tracing::info!(kind = other, "A Socket Mode frame medic does not handle."),
        }
    }
}

/// A slash command's payload is the same fields as the HTTP form, as JSON.
fn slash_command(state: &AppState, payload: Value) {
    let fields: Vec<(String, String)> = payload
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let form = serde_urlencoded::to_string(&fields).unwrap_or_default();
    let job = state.clone();
    state.tasks.spawn(async move {
        let cmd = match SlashCommand::parse(form.as_bytes()) {
            Ok(c) => c,
            Err(error) => {
                tracing::warn!(%error, "A malformed slash command over Socket Mode.");
                return;
            }
        };
        let response_url = cmd.response_url.to_string();
        let answer = crate::chat::slack::http::slash(&job, cmd).await;
        if let Some(slack) = &job.slack
            && let Err(error) = slack.respond_ephemeral(&response_url, &answer).await
        {
            tracing::warn!(%error, "Could not answer a slash command privately.");
        }
    });
}

/// An interaction's payload is the JSON that `POST /slack/interactions`
/// carries in its `payload=` form field; it is parsed by the same code
/// and handled by the same flow (the envelope is already acknowledged).
fn interactive(state: &AppState, payload: Value) {
    let form = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap_or_default();
    match interaction::parse(form.as_bytes()) {
        Ok(Interaction::Click {
            click,
            response_url,
            team,
        }) => pressed(state, click, response_url, team.as_deref()),
        Ok(Interaction::Other(kind)) => {
            tracing::debug!(
                kind,
                "Ignored an interaction over Socket Mode that is not one of medic's buttons."
            );
        }
        Err(error) => {
            tracing::warn!(%error, "A malformed interaction over Socket Mode.");
        }
    }
}
