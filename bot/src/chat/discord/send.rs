//! Discord's sender for the durable outbox: one row → a message created
//! in a channel or thread, an interaction's deferred answer edited, or a
//! message edited.
//!
//! A root's message id is also its thread's id: Discord gives a thread
//! started from a message that message's id. So a root starts its thread
//! right after it is posted (named by the row's `title`, or by its
//! incident or digest), and replies go to that id. A reply finding no
//! thread there (medic stopped between the root and the thread, or the
//! thread could not be made then) starts it and posts again; for a `/diag`
//! report where no thread can be made at all (a DM, no permission), it
//! follows the interaction as a follow-up, which needs no channel
//! permission.
//!
//! A `/diag` report's root is the interaction's deferred answer ("medic is
//! thinking…"), edited through its token while the token lives (15
//! minutes); after that, or for any other root, a new message.
//!
//! Remediation buttons in a reply are bound to the thread here, just
//! before the reply is posted. Offers are made (by a runbook, a vendor
//! job, a report) while the thread may not exist yet, so they are stored
//! bound to the channel; a click on a button inside a thread carries the
//! thread's id as its channel, so the sender moves the offers the message
//! carries from the channel to the thread it posts in. From then on a
//! click counts only from that thread — not from the parent channel, not
//! from another thread there — by the flow's ordinary check.
//!
//! A row found in flight after a restart is simply sent again: every
//! create carries the row's id as `nonce` with `enforce_nonce`, so Discord
//! answers with the message that already landed instead of posting twice
//! (Discord keeps nonces for a few minutes; a restart longer than that may
//! repeat one message). A digest keeps the id of the root row it was
//! folded into, so its nonce too is the same on every attempt.

use medic_commands::model::inbound::Platform;
use medic_integrations::chat::discord::client::{DiscordApiError, Posted, UNKNOWN_CHANNEL};
use medic_integrations::chat::discord::render::DiscordMessage;
use medic_integrations::chat::discord::{components, digest, incident};

use super::DiscordRuntime;
use crate::outbox::{Call, Outcome};
use crate::storage::Store;
use crate::storage::outbox::OutboxKind;

/// Sends `call` to Discord.
pub async fn send(store: &Store, discord: &DiscordRuntime, call: &Call<'_>) -> Outcome {
    let row = call.row;
    let message: DiscordMessage = match serde_json::from_str(&call.body) {
        Ok(m) => m,
        Err(e) => return Outcome::Rejected(format!("unreadable message: {e}")),
    };
    let nonce = format!("medic-{}", row.id);
    let channel = row.channel.as_str();
    let result = match row.kind {
        OutboxKind::Root | OutboxKind::Digest => {
            let token = match row.run_id {
                Some(run) => match store.run(run).await {
                    Ok(r) => r.and_then(|r| r.interaction_token),
                    Err(e) => return Outcome::Later(e.to_string()),
                },
                None => None,
            };
            let posted = match &token {
                Some(token) => {
                    let answered = discord
                        .pace
                        .send_until(channel, call.give_up, || {
                            discord.api.edit_original(token, &message)
                        })
                        .await;
                    match answered {
                        // The token expired (15 minutes): a message of its own.
                        Err(DiscordApiError::Rejected { .. }) => {
                            create(discord, call, channel, &message, &nonce).await
                        }
                        other => other,
                    }
                }
                None => create(discord, call, channel, &message, &nonce).await,
            };
            if let Ok(p) = &posted {
                // Best effort here; a reply finding no thread starts it.
                let parent = if p.channel_id.is_empty() {
                    channel
                } else {
                    p.channel_id.as_str()
                };
                let started = match thread_name(store, call).await {
                    Ok(name) => start_thread(discord, call, parent, &p.id, &name)
                        .await
                        .map_err(|e| {
                            (matches!(e, DiscordApiError::Rejected { .. }), e.to_string())
                        }),
                    Err(e) => Err((false, e.to_string())),
                };
                match started {
                    Ok(_) => {}
                    // A report's root that cannot have a thread (a DM, no
                    // permission): its replies follow the interaction.
                    Err((true, error)) if row.run_id.is_some() => {
                        tracing::info!(%error, outbox = row.id, "No thread can be started for a report; its details follow the interaction.");
                        if let Err(e) = store.outbox_without_thread(row.id).await {
                            return Outcome::Later(e.to_string());
                        }
                    }
                    Err((_, error)) => {
                        tracing::warn!(%error, outbox = row.id, "Could not start a thread from a root; will try with its first reply.");
                    }
                }
            }
            posted
        }
        OutboxKind::Reply if call.thread.as_deref() == Some("") => {
            // Its root has no thread (see above).
            no_thread(store, discord, call, channel, &message, &nonce).await
        }
        OutboxKind::Reply => {
            let target = call.thread.as_deref().unwrap_or(channel);
            let offers = components::offered_ids(&message);
            if !offers.is_empty() && target != channel {
                match store
                    .bind_offers(&offers, Platform::Discord, channel, target)
                    .await
                {
                    Ok(n) => {
                        tracing::debug!(offers = n, thread = %target, "Offers bound to a thread.")
                    }
                    Err(e) => return Outcome::Later(e.to_string()),
                }
            }
            match create(discord, call, target, &message, &nonce).await {
                Err(e) if e.code() == Some(UNKNOWN_CHANNEL) && target != channel => {
                    no_thread(store, discord, call, target, &message, &nonce).await
                }
                other => other,
            }
        }
        OutboxKind::Edit => {
            let id = call.message.as_deref().unwrap_or_default();
            discord
                .pace
                .send_until(channel, call.give_up, || {
                    discord.api.edit_message(channel, id, &message)
                })
                .await
        }
    };
    match result {
        Ok(posted) => Outcome::Posted(posted.id),
        Err(DiscordApiError::Rejected {
            status,
            code,
            message,
        }) => Outcome::Rejected(format!("discord {status} code {code}: {message}")),
        Err(DiscordApiError::Unreadable(e)) => Outcome::Unreadable(e),
        Err(e) => Outcome::Later(e.to_string()),
    }
}

/// Creates `message` in `target` (a channel or thread) with the row's
/// nonce.
async fn create(
    discord: &DiscordRuntime,
    call: &Call<'_>,
    target: &str,
    message: &DiscordMessage,
    nonce: &str,
) -> Result<Posted, DiscordApiError> {
    discord
        .pace
        .send_until(target, call.give_up, || {
            discord.api.create_message(target, message, Some(nonce))
        })
        .await
}

/// A reply whose thread does not exist. An incident's: start the thread
/// from its root and post again. A `/diag` report's: its root could not
/// start one (a DM, no permission to create threads), so the details
/// follow the interaction as follow-ups, which need no channel permission
/// (or, once its token has expired, go in the channel).
async fn no_thread(
    store: &Store,
    discord: &DiscordRuntime,
    call: &Call<'_>,
    root: &str,
    message: &DiscordMessage,
    nonce: &str,
) -> Result<Posted, DiscordApiError> {
    let channel = call.row.channel.as_str();
    let Some(run) = call.row.run_id else {
        let name = thread_name(store, call)
            .await
            .map_err(|e| DiscordApiError::Transport(e.to_string()))?;
        start_thread(discord, call, channel, root, &name).await?;
        return create(discord, call, root, message, nonce).await;
    };
    let token = store
        .run(run)
        .await
        .map_err(|e| DiscordApiError::Transport(e.to_string()))?
        .and_then(|r| r.interaction_token);
    match token {
        Some(token) => {
            discord
                .pace
                .send_until(&token, call.give_up, || {
                    discord.api.followup(&token, message)
                })
                .await
        }
        None => create(discord, call, channel, message, nonce).await,
    }
}

/// The name of the thread `call`'s root starts: the row's own title, or
/// its incident's, or its digest's.
async fn thread_name(store: &Store, call: &Call<'_>) -> sqlx::Result<String> {
    if let Some(title) = &call.row.title {
        return Ok(title.clone());
    }
    let Some(i) = call.incident else {
        // A reply of a report: its root's title.
        let parent = match call.row.parent_id {
            Some(p) => store.outbox_title(p).await?,
            None => None,
        };
        return Ok(parent.unwrap_or_else(|| "medic".to_string()));
    };
    let digest_id = match call.row.kind {
        OutboxKind::Digest => Some(call.row.id),
        _ => i.digest_id,
    };
    Ok(match digest_id {
        Some(d) => {
            let views: Vec<_> = store.digest(d).await?.into_iter().map(|i| i.view).collect();
            digest::digest_thread_name(&views)
        }
        None => incident::thread_name(&i.view),
    })
}

async fn start_thread(
    discord: &DiscordRuntime,
    call: &Call<'_>,
    channel: &str,
    message_id: &str,
    name: &str,
) -> Result<String, DiscordApiError> {
    discord
        .pace
        .send_until(channel, call.give_up, || {
            discord.api.start_thread(channel, message_id, name)
        })
        .await
}
