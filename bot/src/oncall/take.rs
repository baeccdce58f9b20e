//! "I've got it": the incoming person (or whoever holds the rotation's
//! pager now, by an override) takes the shift from the digest. The press
//! is recorded in the audit log, the digest is edited to say who took it
//! and when (the button goes), and the reminders stop. Anyone else is
//! told privately who may take it; a second press is told who already
//! did.

use medic_commands::model::inbound::ButtonClick;
use medic_commands::oncall::handoff::{HandoffView, Taken};
use medic_integrations::chat::draw;

use super::digest::time_of_day;
use crate::remediation::Notifier;
use crate::state::AppState;
use crate::storage::audit::AuditEvent;
use crate::storage::handoffs;
use crate::storage::outbox::{NewRow, OutboxKind, push};

/// What a press came to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// Taken by the presser.
    Taken,
    /// Not theirs to take: the private answer.
    Refused(String),
}

/// Handles a press of "I've got it"; what only the presser should read
/// goes through `notifier`.
pub async fn press<N: Notifier>(state: &AppState, click: &ButtonClick, notifier: &N) {
    match decide(state, click).await {
        Ok(Verdict::Taken) => {}
        Ok(Verdict::Refused(why)) => notifier.ephemeral(&why).await,
        Err(error) => {
            tracing::warn!(%error, "Could not record a handoff being taken.");
            notifier
                .ephemeral("medic could not record this (its database is failing); press again in a minute.")
                .await;
        }
    }
}

async fn decide(state: &AppState, click: &ButtonClick) -> sqlx::Result<Verdict> {
    let Some(h) = state.store.handoff(&click.id).await? else {
        return Ok(Verdict::Refused(
            "medic does not know this handoff; nothing was recorded.".into(),
        ));
    };
    let oncall = super::live(state);
    let incoming = oncall.person(&h.incoming);
    let mention = incoming.mention(h.platform);
    let zone = oncall
        .rotations
        .get(&h.rotation)
        .map_or(jiff::tz::TimeZone::UTC, |r| r.schedule.zone.clone());
    let mut view: HandoffView = match serde_json::from_str(&h.view) {
        Ok(v) => v,
        Err(error) => {
            tracing::warn!(%error, handoff = %h.id, "A stored handoff digest could not be read.");
            return Ok(Verdict::Refused(
                "medic could not read this digest back; nothing was recorded.".into(),
            ));
        }
    };
    if let Some(t) = &view.taken {
        return Ok(Verdict::Refused(format!(
            "This shift was already taken by {} at {}.",
            t.by, t.at
        )));
    }
    let actor = click.actor.id.as_str();
    let holds_now = oncall
        .holders_at(state.clock.now())
        .get(&h.rotation)
        .is_some_and(|ids| ids.contains(actor));
    let is_incoming = incoming.ids().any(|id| id == actor);
    // An override makes someone else the holder; the outgoing person,
    // who may still hold it before the handover, never takes their own.
    let is_outgoing = h
        .outgoing
        .as_deref()
        .is_some_and(|o| o != h.incoming && oncall.person(o).ids().any(|id| id == actor));
    let by_override = holds_now && !is_outgoing;
    if !(is_incoming || by_override) {
        let why = format!(
            "Only {mention} can take this shift (or whoever holds the *{}* pager now).",
            h.rotation
        );
        audit(state, "refused", click, &h.rotation, &why).await;
        return Ok(Verdict::Refused(why));
    }

    let now = state.clock.now_ms();
    view.taken = Some(Taken {
        by: click.actor.mention(h.platform),
        at: time_of_day(now, &zone),
    });
    let json = serde_json::to_string(&view).unwrap_or_default();
    let body = draw(h.platform).handoff(&view);
    let mut tx = state.store.begin_write().await?;
    if !handoffs::take(&mut tx, &h.id, actor, now, &json).await? {
        tx.commit().await?;
        return Ok(Verdict::Refused(
            "Someone took this shift a moment before you.".into(),
        ));
    }
    if let Some(root) = h.root_row {
        push(
            &mut tx,
            &NewRow {
                parent_id: Some(root),
                ..NewRow::new(h.platform, &h.channel, OutboxKind::Edit, &body)
            },
        )
        .await?;
    }
    state.outbox.commit(tx).await?;
    audit(state, "taken", click, &h.rotation, "").await;
    tracing::info!(rotation = %h.rotation, actor, "A handoff was taken.");
    Ok(Verdict::Taken)
}

/// Records `event` of this press in the audit log
/// ([`crate::remediation::audit`], which redacts the detail).
async fn audit(state: &AppState, event: &str, click: &ButtonClick, rotation: &str, detail: &str) {
    crate::remediation::audit(
        state,
        AuditEvent {
            event,
            actor: &click.actor.id,
            action: "handoff",
            target: rotation,
            ref_id: &click.id,
            detail,
        },
    )
    .await;
}
