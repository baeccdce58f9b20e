//! Response-time reminders: an incident nobody has acknowledged within
//! its severity level's response time (P1: 15 min) mentions whoever is on
//! call in its thread, then again every `[incidents] remind_every`, at
//! most `remind_times` times; a P0's reminders also go to the escalation
//! channel. Acknowledging or resolving it stops them.
//!
//! Each reminder is one conditional UPDATE (the count it leaves) and its
//! messages, in one transaction: a restart or a second replica sends it
//! once. The loop runs on [`crate::clock::Clock`], which a test moves.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::Timestamp;
use medic_commands::format::human_age;
use medic_commands::model::inbound::Platform;
use medic_commands::model::priority::Priority;
use medic_integrations::chat::draw;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;
use crate::storage::incidents::{Unanswered, incident_reminded};
use crate::storage::outbox::{NewRow, OutboxKind, enqueue, push};
use crate::storage::timeline;
use medic_commands::model::timeline::EventKind;

/// The longest the loop sleeps.
const AT_MOST: Duration = Duration::from_secs(30);

/// Runs until `stop`.
pub async fn run(state: AppState, stop: CancellationToken) {
    if state.settings.alerts.incidents.remind_times == 0 {
        return;
    }
    loop {
        let now = state.clock.now_ms();
        let mut next = now + crate::storage::millis(AT_MOST);
        match remind_due(&state, now).await {
            Ok(Some(at)) => next = next.min(at.max(now + 1000)),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, "Could not send the incident reminders due; will retry.")
            }
        }
        let next = Timestamp::from_millisecond(next).unwrap_or_else(|_| Timestamp::now());
        tokio::select! {
            () = stop.cancelled() => return,
            () = state.clock.sleep_until(next) => {}
        }
    }
}

/// Sends the reminders due at `now`; when the next is due.
async fn remind_due(state: &AppState, now: i64) -> sqlx::Result<Option<i64>> {
    for u in state.store.reminders_due_for_incidents(now).await? {
        remind(state, &u, now).await?;
    }
    state.store.next_incident_reminder().await
}

/// Whoever is on call now, as `platform` mentions them: every rotation's
/// holder and `[oncall] users`.
fn on_call(state: &AppState, platform: Platform) -> Vec<String> {
    let oncall = crate::oncall::live(state);
    let now = state.clock.now();
    let mut out = BTreeSet::new();
    for r in oncall.rotations.values() {
        if let Some(s) = r.schedule.shift_at(now) {
            out.insert(oncall.person(&s.who).mention(platform));
        }
    }
    for id in &state.settings.remediation.directory.on_call {
        let actor = medic_commands::model::inbound::Actor {
            id: id.clone(),
            name: id.clone(),
        };
        out.insert(actor.mention(platform));
    }
    out.into_iter().collect()
}

async fn remind(state: &AppState, u: &Unanswered, now: i64) -> sqlx::Result<()> {
    let config = &state.settings.alerts.incidents;
    let row = &u.row;
    let sent = u.reminders + 1;
    let next =
        (sent < config.remind_times).then(|| now + crate::storage::millis(config.remind_every));
    let Some((platform, channel)) = &row.place else {
        // No thread to remind in: stop.
        let mut tx = state.store.begin_write().await?;
        incident_reminded(&mut tx, row.id, sent, None).await?;
        return tx.commit().await;
    };
    let level = row.view.priority.unwrap_or(Priority::P3);
    let open_for = human_age(
        u64::try_from((now - row.view.first_seen.unix_timestamp() * 1000) / 1000).unwrap_or(0),
    );
    let who = on_call(state, *platform);
    let who = if who.is_empty() {
        "nobody is on call (see `/oncall`)".to_string()
    } else {
        who.join(" ")
    };
    let text = format!(
        "⏰ {} {} and not acknowledged after {open_for} — {who}: please acknowledge it, or hand it on.",
        level.as_str(),
        level.name().to_lowercase(),
    );
    let body = draw(*platform).reminder(&text);
    let mut tx = state.store.begin_write().await?;
    if !incident_reminded(&mut tx, row.id, sent, next).await? {
        // Acknowledged meanwhile, or another replica sent it.
        return tx.commit().await;
    }
    let said = format!(
        "Reminder {sent} of {}: not acknowledged after {open_for}",
        config.remind_times
    );
    timeline::record(&mut tx, row.id, now, EventKind::Reminder, None, &said).await?;
    enqueue(
        &mut tx,
        *platform,
        channel,
        row.id,
        OutboxKind::Reply,
        &body,
    )
    .await?;
    if level == Priority::P0 {
        let escalation = [
            (Platform::Slack, &config.escalation_slack_channel),
            (Platform::Discord, &config.escalation_discord_channel),
        ];
        for (p, ch) in escalation {
            let Some(ch) = ch else { continue };
            let served = match p {
                Platform::Slack => state.slack.is_some(),
                Platform::Discord => state.discord.is_some(),
                Platform::Console => false,
            };
            if !served {
                continue;
            }
            let link = row
                .root_ts
                .as_deref()
                .filter(|_| p == *platform)
                .and_then(|root| draw(p).thread_link(channel, root))
                .map(|l| format!(" · {l}"))
                .unwrap_or_default();
            let escalated = draw(p).reminder(&format!(
                "🚨 P0 incident #{} *{}* is not acknowledged after {open_for}{link} — {}",
                row.id,
                row.view.title,
                on_call(state, p).join(" ")
            ));
            push(&mut tx, &NewRow::new(p, ch, OutboxKind::Root, &escalated)).await?;
        }
    }
    state.outbox.commit(tx).await?;
    tracing::info!(
        incident = row.id,
        reminder = sent,
        "Reminded the on-call about an unacknowledged incident."
    );
    Ok(())
}
