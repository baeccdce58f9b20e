//! A handoff digest, made from what the database knows at the handover —
//! open incidents with their likely cause, approvals waiting, what the
//! shift saw and ran — and queued with its `handoffs` row in one
//! transaction: a scheduled one is inserted once per handover (the unique
//! index decides between replicas and restarts), and only the inserter
//! queues the message.

use medic_commands::format::human_age;
use medic_commands::model::inbound::{Actor, Platform};
use medic_commands::oncall::handoff::{
    ActionRun, HandoffView, OpenIncident, PendingApproval, ShiftCounts,
};
use medic_commands::oncall::{Handover, Rotation, local};
use medic_integrations::chat::draw;

use crate::state::AppState;
use crate::storage::handoffs::{self, NewHandoff};
use crate::storage::offers::new_id;
use crate::storage::outbox::{NewRow, OutboxKind, push};

/// Where `rotation`'s digests go in this medic: the console's channel
/// under `medic console`; else its Slack and its Discord channel, each on
/// a platform this medic serves.
pub fn places(state: &AppState, rotation: &Rotation) -> Vec<(Platform, String)> {
    if state.console.is_some() {
        return vec![(Platform::Console, crate::chat::console::CHANNEL.to_string())];
    }
    let mut out = Vec::new();
    if let (Some(c), Some(_)) = (&rotation.slack_channel, &state.slack) {
        out.push((Platform::Slack, c.clone()));
    }
    if let (Some(c), Some(_)) = (&rotation.discord_channel, &state.discord) {
        out.push((Platform::Discord, c.clone()));
    }
    out
}

/// One digest to post.
#[derive(Debug, Clone, Copy)]
pub struct Digest<'a> {
    /// The rotation.
    pub rotation: &'a Rotation,
    /// Who hands over to whom, and when.
    pub handover: &'a Handover,
    /// The handover instant (unix ms) for a scheduled digest; `None` for
    /// one asked for with `/handoff`.
    pub scheduled_for: Option<i64>,
    /// Who asked for it.
    pub asked_by: Option<&'a Actor>,
    /// The shift it looks back on: from, until (unix ms).
    pub window: (i64, i64),
}

/// Queues `d` in each of its rotation's places; how many were queued (a
/// scheduled digest already there is not queued again).
pub async fn post(state: &AppState, d: Digest<'_>) -> sqlx::Result<usize> {
    let mut queued = 0;
    for (platform, channel) in places(state, d.rotation) {
        let id = new_id();
        let view = view(state, &d, platform, &id).await?;
        let draw = draw(platform);
        let body = draw.handoff(&view);
        let overflow = draw.handoff_overflow(&view);
        let json = serde_json::to_string(&view).unwrap_or_default();
        let now = state.clock.now_ms();
        let remind_at = now + crate::storage::millis(d.rotation.ack_within);
        let mut tx = state.store.begin_write().await?;
        let inserted = handoffs::insert(
            &mut tx,
            &NewHandoff {
                id: &id,
                rotation: &d.rotation.name,
                platform,
                channel: &channel,
                scheduled_for: d.scheduled_for,
                outgoing: d.handover.outgoing.as_ref().map(|s| s.who.as_str()),
                incoming: &d.handover.incoming.who,
                view: &json,
                created_at: now,
                remind_at,
            },
        )
        .await?;
        if !inserted {
            // Another replica, or this medic before a restart, has it.
            continue;
        }
        let title = format!("Handoff {}", d.rotation.name);
        let root = push(
            &mut tx,
            &NewRow {
                title: Some(&title),
                ..NewRow::new(platform, &channel, OutboxKind::Root, &body)
            },
        )
        .await?;
        handoffs::set_root_row(&mut tx, &id, root).await?;
        if let Some(more) = &overflow {
            push(
                &mut tx,
                &NewRow {
                    parent_id: Some(root),
                    ..NewRow::new(platform, &channel, OutboxKind::Reply, more)
                },
            )
            .await?;
        }
        state.outbox.commit(tx).await?;
        tracing::info!(
            rotation = %d.rotation.name,
            platform = platform.as_str(),
            incoming = %d.handover.incoming.who,
            "Queued a handoff digest."
        );
        queued += 1;
    }
    Ok(queued)
}

/// The digest of `d` as `platform` shows it, its button carrying `id`.
async fn view(
    state: &AppState,
    d: &Digest<'_>,
    platform: Platform,
    id: &str,
) -> sqlx::Result<HandoffView> {
    let oncall = &state.settings.oncall;
    let zone = &d.rotation.schedule.zone;
    let now = state.clock.now_ms();
    let draw = draw(platform);
    let open = state
        .store
        .open_for_handoff()
        .await?
        .into_iter()
        .map(|o| {
            let link = match (&o.place, &o.root_ts) {
                (Some((p, channel)), Some(root)) if *p == platform => {
                    draw.thread_link(channel, root)
                }
                _ => None,
            };
            OpenIncident {
                id: o.id,
                severity: o.severity,
                priority: o.priority,
                title: o.title,
                age: human_age(u64::try_from((now - o.first_seen) / 1000).unwrap_or(0)),
                cause: o.likely_cause,
                link,
            }
        })
        .collect();
    let title_of = |action: &str| {
        state
            .settings
            .remediation
            .actions
            .get(action)
            .map_or_else(|| action.to_string(), |a| a.title.clone())
    };
    let pending = state
        .store
        .pending_for_handoff(now)
        .await?
        .into_iter()
        .map(|r| PendingApproval {
            title: title_of(&r.action),
            target: r.target,
            requester: r.requester,
            expires: time_of_day(r.expires_at, zone),
        })
        .collect();
    let (from, until) = d.window;
    let shift = state.store.shift_rows(from, until).await?;
    let actions = shift
        .actions
        .into_iter()
        .map(|r| ActionRun {
            title: title_of(&r.action),
            target: r.target,
            outcome: r.state,
            requester: r.requester,
        })
        .collect();
    Ok(HandoffView {
        rotation: d.rotation.name.clone(),
        button: id.to_string(),
        outgoing: d
            .handover
            .outgoing
            .as_ref()
            .map(|s| oncall.person(&s.who).mention(platform)),
        incoming: oncall.person(&d.handover.incoming.who).mention(platform),
        when: local(d.handover.at(), zone),
        asked_by: d.asked_by.map(|a| a.mention(platform)),
        open,
        pending,
        actions,
        shift: ShiftCounts {
            alerts: shift.sources.iter().map(|(_, n)| n).sum(),
            opened: shift.opened,
            resolved: shift.resolved,
            sources: shift.sources.into_iter().take(3).collect(),
        },
        taken: None,
    })
}

/// `HH:MM` of unix ms `at` in `zone`.
pub fn time_of_day(at: i64, zone: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_millisecond(at)
        .map(|t| t.to_zoned(zone.clone()).strftime("%H:%M").to_string())
        .unwrap_or_default()
}

/// A channel as a message on `platform` names it.
pub fn channel_name(platform: Platform, channel: &str) -> String {
    match platform {
        Platform::Slack | Platform::Discord => format!("<#{channel}>"),
        Platform::Console => "this console".to_string(),
    }
}
