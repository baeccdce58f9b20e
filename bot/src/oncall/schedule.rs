//! The on-call loop: at each handover of each rotation, the digest (and
//! the rotation's Slack user group, [`super::usergroup`]); when a
//! digest has waited `ack_within` for "I've got it", a reminder to the
//! incoming person, and after as long again one to the outgoing person
//! ("still yours until someone takes it").
//!
//! It wakes at the next handover or reminder (at least every minute, and
//! when a test moves the clock). A handover up to [`CATCH_UP`] ago whose
//! digest is not in the database is posted late rather than never: medic
//! restarted or deployed at the handover minute still hands over. The
//! database's unique index, not this loop, makes it once.

use std::collections::HashSet;
use std::time::Duration;

use jiff::Timestamp;
use medic_commands::oncall::Rotation;
use medic_integrations::chat::draw;
use tokio_util::sync::CancellationToken;

use super::digest::{self, Digest};

use crate::state::AppState;
use crate::storage::handoffs::{self, HandoffRow};
use crate::storage::outbox::{NewRow, OutboxKind, push};

/// How late a handover's digest is still posted.
pub const CATCH_UP: Duration = Duration::from_secs(60 * 60);
/// The longest the loop sleeps.
const AT_MOST: Duration = Duration::from_secs(60);

/// Runs until `stop`.
pub async fn run(state: AppState, stop: CancellationToken) {
    if state.settings.oncall.rotations.is_empty() {
        return;
    }
    // Handovers this process has seen posted (or found posted), so that
    // each is looked at once, not every minute of the catch-up window.
    let mut done: HashSet<(String, i64)> = HashSet::new();
    let mut synced = super::usergroup::Synced::new();
    loop {
        let now = state.clock.now();
        let mut next = now + AT_MOST;
        let oncall = super::live(&state);
        for rotation in oncall.rotations.values() {
            if let Some(at) = hand_over(&state, rotation, now, &mut done).await {
                next = next.min(at);
            }
        }
        super::usergroup::sync(&state, &oncall, now, &mut synced).await;
        match remind(&state).await {
            Ok(Some(at)) => {
                if let Ok(at) = Timestamp::from_millisecond(at) {
                    next = next.min(at);
                }
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, "Could not send the handoff reminders due; will retry.")
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = state.clock.sleep_until(next) => {}
        }
    }
}

/// Posts `rotation`'s digest for the handover in force at `now` when it is
/// recent and not posted yet; when its next handover is.
async fn hand_over(
    state: &AppState,
    rotation: &Rotation,
    now: Timestamp,
    done: &mut HashSet<(String, i64)>,
) -> Option<Timestamp> {
    let schedule = &rotation.schedule;
    let next = schedule.next_after(now).map(|s| s.start);
    let handover = schedule.handover_at(now)?;
    let at = handover.at();
    let key = (rotation.name.clone(), at.as_millisecond());
    let age = now.duration_since(at);
    if done.contains(&key) || age.as_secs() > CATCH_UP.as_secs() as i64 {
        return next;
    }
    let from = handover
        .outgoing
        .as_ref()
        .map_or(at, |s| s.start)
        .as_millisecond();
    let digest = Digest {
        rotation,
        handover: &handover,
        scheduled_for: Some(at.as_millisecond()),
        asked_by: None,
        window: (from, at.as_millisecond()),
    };
    match digest::post(state, digest).await {
        Ok(_) => {
            done.insert(key);
            next
        }
        Err(error) => {
            tracing::warn!(rotation = %rotation.name, %error, "Could not queue a handoff digest; will retry.");
            // Look again soon rather than at the next handover.
            Some(now + Duration::from_secs(5))
        }
    }
}

/// Sends the reminders due now; when the next one is due.
async fn remind(state: &AppState) -> sqlx::Result<Option<i64>> {
    let now = state.clock.now_ms();
    for h in state.store.reminders_due(now).await? {
        remind_one(state, &h, now).await?;
    }
    state.store.next_reminder().await
}

async fn remind_one(state: &AppState, h: &HandoffRow, now: i64) -> sqlx::Result<()> {
    let oncall = super::live(state);
    let (Some(rotation), Some(root)) = (oncall.rotations.get(&h.rotation), h.root_row) else {
        // The rotation left the config: nobody to remind.
        let mut tx = state.store.begin_write().await?;
        handoffs::reminded(&mut tx, &h.id, h.reminders + 1, None).await?;
        return tx.commit().await;
    };
    let incoming = oncall.person(&h.incoming).mention(h.platform);
    let outgoing = h
        .outgoing
        .as_deref()
        .filter(|o| *o != h.incoming)
        .map(|o| oncall.person(o).mention(h.platform));
    let sent = h.reminders + 1;
    let (text, next) = match (sent, &outgoing) {
        (1, _) => (
            Some(format!(
                "{incoming}: the *{}* pager is yours. Nobody has pressed *I've got it* yet — press it so the team knows you have it.",
                h.rotation
            )),
            outgoing
                .as_ref()
                .map(|_| now + crate::storage::millis(rotation.ack_within)),
        ),
        (_, Some(out)) => (
            Some(format!(
                "{out}: {incoming} has not taken the *{}* pager yet; it is still yours until someone takes it.",
                h.rotation
            )),
            None,
        ),
        // Nobody before them to fall back on: no more reminders.
        (_, None) => (None, None),
    };
    let mut tx = state.store.begin_write().await?;
    if !handoffs::reminded(&mut tx, &h.id, sent, next).await? {
        // Taken meanwhile, or another replica sent it.
        return tx.commit().await;
    }
    let Some(text) = text else {
        return tx.commit().await;
    };
    let body = draw(h.platform).reminder(&text);
    push(
        &mut tx,
        &NewRow {
            parent_id: Some(root),
            ..NewRow::new(h.platform, &h.channel, OutboxKind::Reply, &body)
        },
    )
    .await?;
    state.outbox.commit(tx).await?;
    tracing::info!(rotation = %h.rotation, reminder = sent, "Reminded about an untaken handoff.");
    Ok(())
}
