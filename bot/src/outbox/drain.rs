//! Sends the durable outbox: one lane per channel, each taking its
//! channel's next row, handing it to its platform's sender, and recording
//! the result before the next.
//!
//! What every platform shares is here: the lanes, an alert storm's roots
//! folded into one digest, marking a row in flight before it is sent, where
//! a row goes (an incident's thread, its parent row's message, its own
//! thread), what it says (a digest and an incident's root edit are drawn
//! from the incidents as they are now), giving up after `[outbox]
//! give_up_after`, and telling waiters how a row ended. What differs — the
//! calls, the check that a row in flight at the last stop did not land —
//! is each platform's `send` (`crate::chat::slack::send`,
//! `crate::chat::discord::send`).
//!
//! A row that cannot be sent now (an outage, a 429 past the pace's
//! patience) counts an attempt, goes back to its lane's head and waits for
//! the next round; nothing is dropped except what the platform rejects
//! outright (a bad channel) or what stays undeliverable past
//! `give_up_after`, both marked failed and counted on `/metrics`.

use std::collections::HashMap;
use std::time::Duration;

use medic_commands::model::inbound::Platform;
use medic_integrations::chat::{Wire, draw};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Call, Outcome, Settled};
use crate::chat::console::ConsoleRuntime;
use crate::chat::discord::DiscordRuntime;
use crate::chat::slack::SlackRuntime;
use crate::storage::Store;
use crate::storage::incidents::IncidentRow;
use crate::storage::now_ms;
use crate::storage::outbox::{OutboxKind, OutboxRow};
use crate::telemetry::metrics::Metrics;

/// What sending the outbox needs, and nothing else: the database, the
/// handle its writers wake it by, the limits it keeps, and each configured
/// platform's sender.
#[derive(Debug, Clone)]
pub struct Drain {
    /// The outbox's rows.
    pub store: Store,
    /// Wakes the drain; tells waiters how their rows ended.
    pub outbox: std::sync::Arc<super::Outbox>,
    /// `medic_outbox_failed_total`, `medic_incident_digests_total`.
    pub metrics: std::sync::Arc<Metrics>,
    /// `[outbox] give_up_after`.
    pub give_up_after: Duration,
    /// `[incidents] digest_after`.
    pub digest_after: usize,
    /// Slack's sender, when configured.
    pub slack: Option<std::sync::Arc<SlackRuntime>>,
    /// Discord's sender, when configured.
    pub discord: Option<std::sync::Arc<DiscordRuntime>>,
    /// The terminal, under `medic console`.
    pub console: Option<std::sync::Arc<ConsoleRuntime>>,
}

/// Runs until `stop`; then waits for the lanes to finish their current
/// call.
pub async fn run(drain: Drain, stop: CancellationToken) {
    let tracker = tokio_util::task::TaskTracker::new();
    send_until_stopped(&drain, &stop, &tracker).await;
    tracker.close();
    tracker.wait().await;
}

async fn send_until_stopped(
    drain: &Drain,
    stop: &CancellationToken,
    tracker: &tokio_util::task::TaskTracker,
) {
    let mut lanes: HashMap<(Platform, String), JoinHandle<()>> = HashMap::new();
    loop {
        lanes.retain(|_, lane| !lane.is_finished());
        match drain.store.outbox_channels().await {
            Ok(channels) => {
                for key in channels {
                    if let std::collections::hash_map::Entry::Vacant(slot) = lanes.entry(key) {
                        let key = slot.key().clone();
                        slot.insert(tracker.spawn(lane(drain.clone(), key, stop.clone())));
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "Could not read the outbox; retrying."),
        }
        let scanned = Instant::now();
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = drain.outbox.woken() => {}
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
async fn lane(drain: Drain, (platform, channel): (Platform, String), stop: CancellationToken) {
    while !stop.is_cancelled() {
        let row = match drain.store.outbox_next(platform, &channel).await {
            Ok(Some(row)) => row,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, "Could not read the outbox; retrying.");
                return;
            }
        };
        // Backing off after a failed round: the channel's later rows wait
        // too, to keep its order.
        let wait = row.not_before - now_ms();
        if wait > 0 {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => continue,
            }
        }
        match send(&drain, row).await {
            Sent::Done => {}
            Sent::Later => return,
        }
    }
}

/// What became of one row.
enum Sent {
    /// Recorded as sent or failed; go on with the next.
    Done,
    /// Not now (an outage past the pace's patience, the database); the
    /// lane stops and the next round starts it again.
    Later,
}

/// Patience per round with one row: a lane does not hold up its
/// channel's later rows behind one outage for longer.
const ROUND: Duration = Duration::from_secs(60);

async fn send(drain: &Drain, mut row: OutboxRow) -> Sent {
    let give_up_after = drain.give_up_after;
    let age = Duration::from_millis((now_ms() - row.created_at).max(0) as u64);
    if row.attempts > 0 && age >= give_up_after {
        let why = format!(
            "not delivered within {} (outbox.give_up_after)",
            medic_commands::format::human_duration(give_up_after)
        );
        tracing::error!(outbox = row.id, platform = row.platform.as_str(), channel = %row.channel, "A chat message could not be delivered in time; it is marked failed.");
        return fail(drain, &row, &why, "gave_up").await;
    }
    match fold_storm(drain, &row).await {
        Ok(true) => row.kind = OutboxKind::Digest,
        Ok(false) => {}
        Err(_) => return Sent::Later,
    }
    let resend = row.state == "sending";
    if !resend {
        // Marked in flight before its body is read: an edit coalesced into
        // this row a moment ago is in the body returned, and none can be
        // coalesced into it from now on (a newer one queues after it).
        match drain.store.outbox_sending(row.id).await {
            Ok(Some(body)) => row.body = body,
            Ok(None) => return Sent::Done,
            Err(_) => return Sent::Later,
        }
    }
    let incident = match row.incident_id {
        Some(id) => match drain.store.incident(id).await {
            Ok(i) => i,
            Err(_) => return Sent::Later,
        },
        None => None,
    };
    let (thread, message) = if row.incident_id.is_some() {
        let root = incident.as_ref().and_then(|i| i.root_ts.clone());
        if !matches!(row.kind, OutboxKind::Root | OutboxKind::Digest) && root.is_none() {
            // The root went before this in the lane; without it, it failed.
            return fail(drain, &row, "the incident has no root message", "orphaned").await;
        }
        match row.kind {
            OutboxKind::Root | OutboxKind::Digest => (None, None),
            OutboxKind::Reply => (root, None),
            OutboxKind::Edit => (None, root),
        }
    } else {
        match drain.store.outbox_anchor(&row).await {
            Ok(a) if a.orphaned => {
                return fail(
                    drain,
                    &row,
                    "the message it belongs under was not posted",
                    "orphaned",
                )
                .await;
            }
            Ok(a) if row.kind == OutboxKind::Edit && a.message.is_none() => {
                return fail(
                    drain,
                    &row,
                    "the message it edits was not posted",
                    "orphaned",
                )
                .await;
            }
            Ok(a) => (a.thread, a.message),
            Err(_) => return Sent::Later,
        }
    };
    let body = match content(drain, &row, incident.as_ref()).await {
        Ok(Some(body)) => body,
        Ok(None) => return fail(drain, &row, "its message could not be read", "rejected").await,
        Err(_) => return Sent::Later,
    };
    let call = Call {
        row: &row,
        body,
        thread,
        message,
        incident: incident.as_ref(),
        give_up: Instant::now() + ROUND.min(give_up_after),
        resend,
    };
    let outcome = match row.platform {
        Platform::Slack => match &drain.slack {
            Some(slack) => crate::chat::slack::send::send(slack, &call).await,
            None => Outcome::Rejected("Slack is not configured".into()),
        },
        Platform::Discord => match &drain.discord {
            Some(discord) => crate::chat::discord::send::send(&drain.store, discord, &call).await,
            None => Outcome::Rejected("Discord is not configured".into()),
        },
        Platform::Console => match &drain.console {
            Some(console) => crate::chat::console::send::send(console, &call),
            None => Outcome::Rejected("no console is attached to this medic".into()),
        },
    };
    record(drain, &row, outcome).await
}

/// Records `outcome` for `row`, and tells its waiters.
async fn record(drain: &Drain, row: &OutboxRow, outcome: Outcome) -> Sent {
    let channel = row.channel.as_str();
    let (recorded, settled) = match outcome {
        Outcome::Posted(id) => (drain.store.outbox_sent(row, &id).await, Settled::Sent),
        Outcome::Rejected(why) => {
            tracing::warn!(channel, platform = row.platform.as_str(), error = %why, "The chat platform rejected a message.");
            return fail(drain, row, &why, "rejected").await;
        }
        Outcome::Unreadable(why) => {
            tracing::warn!(channel, error = %why, "The chat platform's answer could not be read; counted as sent.");
            (drain.store.outbox_sent(row, "").await, Settled::Sent)
        }
        Outcome::Later(why) => {
            tracing::warn!(channel, platform = row.platform.as_str(), error = %why, "Chat is unreachable; the message waits.");
            // 5 s, 10 s, 20 s … at most a minute between rounds (each
            // round retries with backoff on its own, see `pace`).
            let backoff = 5_000i64 << row.attempts.clamp(0, 4);
            let retry_at = now_ms() + backoff.min(60_000);
            if let Err(error) = drain.store.outbox_attempted(row.id, retry_at).await {
                tracing::warn!(%error, "Could not count an attempt.");
            }
            return Sent::Later;
        }
    };
    match recorded {
        Ok(()) => {
            drain.outbox.settle(row.id, settled);
            Sent::Done
        }
        Err(error) => {
            tracing::warn!(%error, "Could not record a sent message.");
            Sent::Later
        }
    }
}

/// Marks `row` failed with `why`, counts it under `reason`, and tells its
/// waiters.
async fn fail(drain: &Drain, row: &OutboxRow, why: &str, reason: &'static str) -> Sent {
    match drain.store.outbox_failed(row.id, why).await {
        Ok(()) => {
            drain.metrics.outbox_failed(row.platform, reason);
            drain.outbox.settle(row.id, Settled::Failed);
            Sent::Done
        }
        Err(error) => {
            tracing::warn!(%error, "Could not record a failed message.");
            Sent::Later
        }
    }
}

/// How long a channel stays in a storm after its last digest began: in
/// that time two waiting new incidents are enough for another digest.
/// A storm rarely arrives in one burst; without this its tail (fewer than
/// `digest_after` at a time, one paced second apart) would go out as a
/// root each, the queue of roots the digest exists to avoid.
const STORM_TAIL_MS: i64 = 60_000;

/// In a storm, folds the channel's waiting roots (at most what the
/// platform's digest can list) into one digest when more than `[incidents]
/// digest_after` wait, or two or more while the channel is still in a storm
/// (see [`STORM_TAIL_MS`]), and `row` is the first of them. True when `row`
/// is now that digest.
async fn fold_storm(drain: &Drain, row: &OutboxRow) -> sqlx::Result<bool> {
    let after = drain.digest_after;
    if after == 0
        || row.kind != OutboxKind::Root
        || row.incident_id.is_none()
        || row.state != "pending"
    {
        return Ok(false);
    }
    let max = draw(row.platform).digest_max();
    let roots = drain
        .store
        .outbox_pending_roots(row.platform, &row.channel, max)
        .await?;
    if roots.len() < 2 || roots.first() != Some(&row.id) {
        return Ok(false);
    }
    if roots.len() <= after
        && !drain
            .store
            .outbox_digest_since(row.platform, &row.channel, now_ms() - STORM_TAIL_MS)
            .await?
    {
        return Ok(false);
    }
    drain.store.outbox_fold_digest(&roots).await?;
    tracing::info!(
        channel = %row.channel,
        incidents = roots.len(),
        "Alert storm: new incidents are posted as one digest."
    );
    drain.metrics.incident_digest();
    Ok(true)
}

/// What to send for `row`: its stored message, except where a digest is
/// involved: a digest (or an edit of an incident in one) is drawn from its
/// incidents as they are now, and a note in a digest's thread is headed by
/// its incident. An incident's root edit shows the incident as it is now,
/// whatever it was when the edit was queued: the incident logic queues one
/// per incident and never rewrites it (see `storage::outbox::enqueue`).
/// `None` when a stored message is not its platform's.
async fn content(
    drain: &Drain,
    row: &OutboxRow,
    incident: Option<&IncidentRow>,
) -> sqlx::Result<Option<Wire>> {
    let draw = draw(row.platform);
    let digest_id = match row.kind {
        OutboxKind::Digest => Some(row.id),
        _ => incident.and_then(|i| i.digest_id),
    };
    if let (Some(digest), OutboxKind::Digest | OutboxKind::Edit) = (digest_id, row.kind) {
        let views: Vec<_> = drain
            .store
            .digest(digest)
            .await?
            .into_iter()
            .map(|i| i.view)
            .collect();
        return Ok(Some(draw.incident_digest(&views)));
    }
    if let (OutboxKind::Edit, Some(i)) = (row.kind, incident) {
        return Ok(Some(draw.incident_root(&i.view)));
    }
    Ok(match (incident, digest_id) {
        (Some(i), Some(_)) => draw.digest_note(&i.view, &row.body),
        _ => serde_json::from_str::<serde::de::IgnoredAny>(&row.body)
            .is_ok()
            .then(|| row.body.clone()),
    })
}
