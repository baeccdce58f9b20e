//! Sends the durable outbox: one lane per channel, each taking its
//! channel's oldest call, at the platform's pace (the in-memory
//! [`crate::outbox::Outbox`] paces, honours `Retry-After` and retries
//! outages), and recording the result before the next.
//!
//! A call that keeps failing past the outbox's deadline goes back to
//! pending and its lane stops; the next round starts it again. Nothing is
//! dropped except what the platform rejects outright (a bad channel), which
//! is marked failed with Slack's error code.

use std::collections::HashMap;
use std::time::Duration;

use medic_commands::model::inbound::Platform;
use medic_commands::model::incident::IncidentView;
use medic_integrations::chat::slack::client::{self, SlackApiError};
use medic_integrations::chat::slack::incident as render;
use slack_morphism::prelude::SlackMessageContent;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::storage::incidents::IncidentRow;
use crate::storage::outbox::{OutboxKind, OutboxRow};

/// Runs until `stop`; lanes in flight finish their current call.
pub async fn run(state: AppState, stop: CancellationToken) {
    let mut lanes: HashMap<(Platform, String), JoinHandle<()>> = HashMap::new();
    loop {
        lanes.retain(|_, lane| !lane.is_finished());
        match state.store.outbox_channels().await {
            Ok(channels) => {
                for key in channels {
                    if let std::collections::hash_map::Entry::Vacant(slot) = lanes.entry(key) {
                        let key = slot.key().clone();
                        slot.insert(state.tasks.spawn(lane(state.clone(), key, stop.clone())));
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "Could not read the outbox; retrying."),
        }
        let scanned = tokio::time::Instant::now();
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = state.outbox_wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        // The incident logic wakes this after every batch, hundreds of
        // times a second in a storm, and the scan reads every waiting row
        // (thousands then); a channel's lane, once started, needs no scan.
        // So at most one scan per RESCAN: a new channel's first message
        // waits that much longer, nothing else does.
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep_until(scanned + RESCAN) => {}
        }
    }
}

/// The least time between two scans for channels with calls waiting.
const RESCAN: Duration = Duration::from_millis(100);

/// Sends one channel's calls in order until none is left.
async fn lane(state: AppState, (platform, channel): (Platform, String), stop: CancellationToken) {
    while !stop.is_cancelled() {
        let row = match state.store.outbox_next(platform, &channel).await {
            Ok(Some(row)) => row,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, "Could not read the outbox; retrying.");
                return;
            }
        };
        match send(&state, &row).await {
            Sent::Done => {}
            Sent::Later => return,
        }
    }
}

pub(super) enum Sent {
    /// Recorded as sent or failed; go on with the next.
    Done,
    /// Not now (an outage past the deadline, the database); try later.
    Later,
}

async fn send(state: &AppState, row: &OutboxRow) -> Sent {
    match row.platform {
        Platform::Slack => {}
        // Its own sender: Discord's messages and threads, and a nonce
        // instead of a search to make a resend after a crash safe; storms
        // fold into digests there too.
        Platform::Discord => return super::discord::send(state, row).await,
        Platform::Console => {
            let _ = state
                .store
                .outbox_failed(row.id, "the console is not attached to this medic")
                .await;
            return Sent::Done;
        }
    }
    let Some(slack) = &state.slack else {
        let _ = state
            .store
            .outbox_failed(row.id, "Slack is not configured")
            .await;
        return Sent::Done;
    };
    let mut row = row.clone();
    match fold_storm(state, &row, render::DIGEST_MAX).await {
        Ok(true) => row.kind = OutboxKind::Digest,
        Ok(false) => {}
        Err(_) => return Sent::Later,
    }
    if row.state == "pending" {
        // Marked in flight before its body is read: an edit coalesced into
        // this row a moment ago is in the body returned, and none can be
        // coalesced into it from now on (a newer one queues after it).
        match state.store.outbox_sending(row.id).await {
            Ok(Some(body)) => row.body = body,
            Ok(None) => return Sent::Done,
            Err(_) => return Sent::Later,
        }
    }
    let row = &row;
    let incident = match row.incident_id {
        Some(id) => match state.store.incident(id).await {
            Ok(i) => i,
            Err(_) => return Sent::Later,
        },
        None => None,
    };
    let root_ts = incident.as_ref().and_then(|i| i.root_ts.clone());
    if !matches!(row.kind, OutboxKind::Root | OutboxKind::Digest) && root_ts.is_none() {
        // The root went before this in the lane; without it, it failed.
        let _ = state
            .store
            .outbox_failed(row.id, "the incident has no root message")
            .await;
        return Sent::Done;
    }
    let content: SlackMessageContent = match content(state, row, incident.as_ref()).await {
        Ok(Some(c)) => c,
        Ok(None) => return Sent::Done,
        Err(_) => return Sent::Later,
    };
    if row.state == "sending" && row.kind != OutboxKind::Edit {
        // In flight when medic stopped (or gave up): ask Slack whether it
        // landed before sending it again. Edits need no asking: sending
        // the same edit twice changes nothing.
        let oldest = slack_ts(row.created_at - 60_000);
        let thread = match row.kind {
            OutboxKind::Reply => root_ts.as_deref(),
            _ => None,
        };
        match slack
            .api
            .find_marked(&row.channel, thread, &oldest, row.id)
            .await
        {
            Ok(Some(ts)) => {
                tracing::info!(
                    outbox = row.id,
                    "A message in flight at the last stop had landed; recorded, not resent."
                );
                return match state.store.outbox_sent(row, &ts).await {
                    Ok(()) => Sent::Done,
                    Err(_) => Sent::Later,
                };
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "Could not ask Slack whether a message landed; will ask again.");
                return Sent::Later;
            }
        }
    }
    let content = client::mark(content, row.id);
    let channel = row.channel.as_str();
    let result = match row.kind {
        OutboxKind::Root | OutboxKind::Digest => {
            slack
                .outbox
                .send(channel, || {
                    slack.api.post_message(channel, content.clone(), None)
                })
                .await
        }
        OutboxKind::Reply => {
            slack
                .outbox
                .send(channel, || {
                    slack
                        .api
                        .post_message(channel, content.clone(), root_ts.as_deref())
                })
                .await
        }
        OutboxKind::Edit => {
            let ts = root_ts.as_deref().unwrap_or_default();
            slack
                .outbox
                .send(channel, || {
                    slack.api.update_message(channel, ts, content.clone())
                })
                .await
        }
    };
    let recorded = match result {
        Ok(posted) => state.store.outbox_sent(row, &posted.ts).await,
        Err(SlackApiError::Rejected { code }) => {
            tracing::warn!(channel, %code, "Slack rejected an incident message.");
            state.store.outbox_failed(row.id, &code).await
        }
        Err(SlackApiError::Unreadable(e)) => {
            // Slack took it; its answer was garbled. Sending again could
            // post twice, so it counts as sent, without a ts.
            tracing::warn!(channel, error = %e, "Slack's answer could not be read.");
            state.store.outbox_sent(row, "").await
        }
        Err(e) => {
            tracing::warn!(channel, error = %e, "Chat is unreachable; the message waits.");
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

/// In a storm, folds the channel's waiting roots (at most `max`, what the
/// platform's digest can list) into one digest when more than
/// `[incidents] digest_after` wait and `row` is the first of them. True
/// when `row` is now that digest. Slack's and Discord's senders both call
/// it before marking `row` in flight.
pub(super) async fn fold_storm(
    state: &AppState,
    row: &OutboxRow,
    max: usize,
) -> sqlx::Result<bool> {
    let after = state.settings.alerts.incidents.digest_after;
    if after == 0 || row.kind != OutboxKind::Root || row.state != "pending" {
        return Ok(false);
    }
    let roots = state
        .store
        .outbox_pending_roots(row.platform, &row.channel, max)
        .await?;
    if roots.len() <= after || roots.first() != Some(&row.id) {
        return Ok(false);
    }
    state.store.outbox_fold_digest(&roots).await?;
    tracing::info!(
        channel = %row.channel,
        incidents = roots.len(),
        "Alert storm: new incidents are posted as one digest."
    );
    state.metrics.incident_digest();
    Ok(true)
}

/// How a platform draws an incident's messages, so that one [`content`]
/// decides for both senders what a row sends.
pub(super) trait Drawn: serde::de::DeserializeOwned {
    /// A digest of several new incidents.
    fn digest(views: &[IncidentView]) -> Self;
    /// An incident's root as it stands.
    fn root(view: &IncidentView) -> Self;
    /// A note in a digest's thread, headed by its incident.
    fn digest_note(view: &IncidentView, note: Self) -> Self;
}

impl Drawn for SlackMessageContent {
    fn digest(views: &[IncidentView]) -> Self {
        render::incident_digest(views)
    }
    fn root(view: &IncidentView) -> Self {
        render::incident_root(view)
    }
    fn digest_note(view: &IncidentView, note: Self) -> Self {
        render::digest_note(view, note)
    }
}

/// What to send for `row`: its stored message, except where a digest is
/// involved: a digest (or an edit of an incident in one) is rendered from
/// its incidents as they are now, and a note in a digest's thread is
/// headed by its incident. An edit shows the incident as it is now,
/// whatever it was when the edit was queued: the incident logic queues one
/// per incident and never rewrites it (see `storage::outbox::enqueue`).
/// `None` when the row was settled here.
pub(super) async fn content<M: Drawn>(
    state: &AppState,
    row: &OutboxRow,
    incident: Option<&IncidentRow>,
) -> sqlx::Result<Option<M>> {
    let digest_id = match row.kind {
        OutboxKind::Digest => Some(row.id),
        _ => incident.and_then(|i| i.digest_id),
    };
    if let (Some(digest), OutboxKind::Digest | OutboxKind::Edit) = (digest_id, row.kind) {
        let views: Vec<_> = state
            .store
            .digest(digest)
            .await?
            .into_iter()
            .map(|i| i.view)
            .collect();
        return Ok(Some(M::digest(&views)));
    }
    if let (OutboxKind::Edit, Some(i)) = (row.kind, incident) {
        return Ok(Some(M::root(&i.view)));
    }
    let stored: M = match serde_json::from_str(&row.body) {
        Ok(c) => c,
        Err(e) => {
            state
                .store
                .outbox_failed(row.id, &format!("unreadable message: {e}"))
                .await?;
            return Ok(None);
        }
    };
    Ok(Some(match (incident, digest_id) {
        (Some(i), Some(_)) => M::digest_note(&i.view, stored),
        _ => stored,
    }))
}

/// A Slack ts (seconds.micros) for a unix-ms time.
fn slack_ts(ms: i64) -> String {
    let ms = ms.max(0);
    format!("{}.{:06}", ms / 1000, (ms % 1000) * 1000)
}
