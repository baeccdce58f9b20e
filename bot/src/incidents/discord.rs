//! Sends one durable outbox row to Discord: an incident's root message
//! (and the thread started from it), a note in that thread, or an edit of
//! the root.
//!
//! The incident's `root_ts` holds the root message's id, which is also
//! its thread's id: Discord gives a thread started from a message that
//! message's id. Posting a note into a thread that was never started
//! (medic stopped between the root and the thread, or the thread could
//! not be made then) starts it and posts again.
//!
//! A row found `sending` after a restart is simply sent again: every
//! create carries the row's id as `nonce` with `enforce_nonce`, so Discord
//! answers with the message that already landed instead of posting twice
//! (Discord keeps nonces for a few minutes; a restart longer than that
//! may repeat one message).

use medic_integrations::chat::discord::client::{DiscordApiError, Posted, UNKNOWN_CHANNEL};
use medic_integrations::chat::discord::incident::thread_name;
use medic_integrations::chat::discord::render::DiscordMessage;

use super::drain::Sent;
use crate::app::AppState;
use crate::discord::DiscordRuntime;
use crate::storage::incidents::IncidentRow;
use crate::storage::outbox::{OutboxKind, OutboxRow};

/// Sends `row` (platform `discord`) and records the result.
pub(super) async fn send(state: &AppState, row: &OutboxRow) -> Sent {
    let Some(discord) = &state.discord else {
        let _ = state
            .store
            .outbox_failed(row.id, "Discord is not configured")
            .await;
        return Sent::Done;
    };
    let mut row = row.clone();
    if row.state == "pending" {
        // In flight from now on: no edit is coalesced into it any more.
        match state.store.outbox_sending(row.id).await {
            Ok(Some(body)) => row.body = body,
            Ok(None) => return Sent::Done,
            Err(_) => return Sent::Later,
        }
    }
    let incident = match row.incident_id {
        Some(id) => match state.store.incident(id).await {
            Ok(i) => i,
            Err(_) => return Sent::Later,
        },
        None => None,
    };
    let root = incident.as_ref().and_then(|i| i.root_ts.clone());
    if row.kind != OutboxKind::Root && root.is_none() {
        let _ = state
            .store
            .outbox_failed(row.id, "the incident has no root message")
            .await;
        return Sent::Done;
    }
    let message: DiscordMessage = match serde_json::from_str(&row.body) {
        Ok(m) => m,
        Err(e) => {
            let _ = state
                .store
                .outbox_failed(row.id, &format!("unreadable message: {e}"))
                .await;
            return Sent::Done;
        }
    };
    let nonce = format!("medic-{}", row.id);
    let channel = row.channel.as_str();
    let root = root.unwrap_or_default();
    let result = match row.kind {
        OutboxKind::Root | OutboxKind::Digest => {
            let posted = discord
                .outbox
                .send(channel, || {
                    discord.api.create_message(channel, &message, Some(&nonce))
                })
                .await;
            if let (Ok(p), Some(i)) = (&posted, &incident) {
                // Best effort here; a note finding no thread starts it.
                if let Err(error) = start_thread(discord, channel, &p.id, i).await {
                    tracing::warn!(%error, incident = i.id, "Could not start an incident's thread; will try with its first note.");
                }
            }
            posted
        }
        OutboxKind::Reply => {
            let post = || async {
                discord
                    .outbox
                    .send(&root, || {
                        discord.api.create_message(&root, &message, Some(&nonce))
                    })
                    .await
            };
            match post().await {
                Err(e) if e.code() == Some(UNKNOWN_CHANNEL) => match &incident {
                    Some(i) => match start_thread(discord, channel, &root, i).await {
                        Ok(_) => post().await,
                        Err(e) => Err(e),
                    },
                    None => Err(e),
                },
                other => other,
            }
        }
        OutboxKind::Edit => {
            discord
                .outbox
                .send(channel, || {
                    discord.api.edit_message(channel, &root, &message)
                })
                .await
        }
    };
    record(state, &row, result).await
}

async fn start_thread(
    discord: &DiscordRuntime,
    channel: &str,
    message_id: &str,
    incident: &IncidentRow,
) -> Result<String, DiscordApiError> {
    let name = thread_name(&incident.view);
    discord
        .outbox
        .send(channel, || {
            discord.api.start_thread(channel, message_id, &name)
        })
        .await
}

async fn record(
    state: &AppState,
    row: &OutboxRow,
    result: Result<Posted, DiscordApiError>,
) -> Sent {
    let recorded = match result {
        Ok(posted) => state.store.outbox_sent(row, &posted.id).await,
        Err(DiscordApiError::Rejected {
            status,
            code,
            message,
        }) => {
            tracing::warn!(channel = %row.channel, status, code, %message, "Discord rejected an incident message.");
            state
                .store
                .outbox_failed(row.id, &format!("discord {status} code {code}: {message}"))
                .await
        }
        Err(DiscordApiError::Unreadable(e)) => {
            // Discord took it; its answer was garbled. Sending again could
            // post twice, so it counts as sent, without an id.
            tracing::warn!(channel = %row.channel, error = %e, "Discord's answer could not be read.");
            state.store.outbox_sent(row, "").await
        }
        Err(e) => {
            tracing::warn!(channel = %row.channel, error = %e, "Discord is unreachable; the message waits.");
            return Sent::Later;
        }
    };
    match recorded {
        Ok(()) => Sent::Done,
        Err(error) => {
            tracing::warn!(%error, "Could not record a sent message.");
            Sent::Later
        }
    }
}
