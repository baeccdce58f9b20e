//! Sends one durable outbox row to Discord: an incident's root message
//! (and the thread started from it), a note in that thread, an edit of
//! the root, or, in an alert storm, one digest for many new incidents.
//!
//! The incident's `root_ts` holds the root message's id, which is also
//! its thread's id: Discord gives a thread started from a message that
//! message's id. Posting a note into a thread that was never started
//! (medic stopped between the root and the thread, or the thread could
//! not be made then) starts it and posts again.
//!
//! Storms fold exactly as on Slack ([`super::drain::fold_storm`], the same
//! `outbox_fold_digest` and `digest_id`): the digest is rendered from its
//! incidents as they are now, an edit of one of them re-renders the
//! digest, and a note goes into the digest's thread headed by its
//! incident.
//!
//! Remediation buttons in a note are bound to the thread here, just
//! before the note is posted. An incident's offers are made (by its
//! runbook or vendor job) while its thread may not exist yet, so they are
//! stored bound to the incident's channel; a click on a button inside a
//! thread carries the thread's id as its channel, so the sender moves the
//! offers the message carries from that channel to the thread it posts
//! in (`root`). From then on a click counts only from that thread — not
//! from the parent channel, not from another thread there — by the flow's
//! ordinary check, and the status message of a request lands in the
//! thread. (Accepting any click whose `channel.parent_id` is the offer's
//! channel was the other way; it would let a button count from every
//! thread of the channel.)
//!
//! A row found `sending` after a restart is simply sent again: every
//! create carries the row's id as `nonce` with `enforce_nonce`, so Discord
//! answers with the message that already landed instead of posting twice
//! (Discord keeps nonces for a few minutes; a restart longer than that
//! may repeat one message). A digest keeps the id of the root row it was
//! folded into, so its nonce too is the same on every attempt.

use medic_commands::model::inbound::Platform;
use medic_commands::model::incident::IncidentView;
use medic_integrations::chat::discord::client::{DiscordApiError, Posted, UNKNOWN_CHANNEL};
use medic_integrations::chat::discord::render::DiscordMessage;
use medic_integrations::chat::discord::{components, digest, incident};

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
    match super::drain::fold_storm(state, &row, digest::DIGEST_MAX).await {
        Ok(true) => row.kind = OutboxKind::Digest,
        Ok(false) => {}
        Err(_) => return Sent::Later,
    }
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
    if !matches!(row.kind, OutboxKind::Root | OutboxKind::Digest) && root.is_none() {
        let _ = state
            .store
            .outbox_failed(row.id, "the incident has no root message")
            .await;
        return Sent::Done;
    }
    let message: DiscordMessage = match super::drain::content(state, &row, incident.as_ref()).await
    {
        Ok(Some(m)) => m,
        Ok(None) => return Sent::Done,
        Err(_) => return Sent::Later,
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
                let started = match thread_name(state, &row, i).await {
                    Ok(name) => start_thread(discord, channel, &p.id, &name)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                if let Err(error) = started {
                    tracing::warn!(%error, incident = i.id, "Could not start an incident's thread; will try with its first note.");
                }
            }
            posted
        }
        OutboxKind::Reply => {
            let offers = components::offered_ids(&message);
            if !offers.is_empty() {
                match state
                    .store
                    .bind_offers(&offers, Platform::Discord, channel, &root)
                    .await
                {
                    Ok(n) => {
                        tracing::debug!(offers = n, thread = %root, "Offers bound to an incident's thread.")
                    }
                    Err(_) => return Sent::Later,
                }
            }
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
                    Some(i) => {
                        let started = match thread_name(state, &row, i).await {
                            Ok(name) => start_thread(discord, channel, &root, &name).await,
                            Err(_) => return Sent::Later,
                        };
                        match started {
                            Ok(_) => post().await,
                            Err(e) => Err(e),
                        }
                    }
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

impl super::drain::Drawn for DiscordMessage {
    fn digest(views: &[IncidentView]) -> Self {
        digest::incident_digest(views)
    }
    fn root(view: &IncidentView) -> Self {
        incident::incident_root(view)
    }
    fn digest_note(view: &IncidentView, note: Self) -> Self {
        digest::digest_note(view, note)
    }
}

/// The name of the thread `row` posts into or starts: the incident's own,
/// or its digest's.
async fn thread_name(state: &AppState, row: &OutboxRow, i: &IncidentRow) -> sqlx::Result<String> {
    let digest_id = match row.kind {
        OutboxKind::Digest => Some(row.id),
        _ => i.digest_id,
    };
    Ok(match digest_id {
        Some(d) => {
            let views: Vec<_> = state
                .store
                .digest(d)
                .await?
                .into_iter()
                .map(|i| i.view)
                .collect();
            digest::digest_thread_name(&views)
        }
        None => incident::thread_name(&i.view),
    })
}

async fn start_thread(
    discord: &DiscordRuntime,
    channel: &str,
    message_id: &str,
    name: &str,
) -> Result<String, DiscordApiError> {
    discord
        .outbox
        .send(channel, || {
            discord.api.start_thread(channel, message_id, name)
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
