//! `incident_events`: an incident's timeline as it happens, and the read
//! that puts it together with its remediations' audit rows and its
//! repeats (see [`medic_commands::model::timeline`]).

use medic_commands::model::inbound::Actor;
use medic_commands::model::timeline::{Entry, EventKind, in_order};
use sqlx::{AnyConnection, Row};

use super::Store;
use super::incidents::{IncidentRow, time_ms};

/// Records an event of incident `id`, inside the caller's transaction (the
/// change it records commits with it, or neither does). `text` is
/// redacted here: it may quote an alert or a command's output.
pub async fn record(
    conn: &mut AnyConnection,
    id: i64,
    at_ms: i64,
    kind: EventKind,
    actor: Option<&Actor>,
    text: &str,
) -> sqlx::Result<()> {
    use medic_commands::model::word::Word;
    sqlx::query(
        "INSERT INTO incident_events (incident_id, at, kind, actor, actor_name, text) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(at_ms)
    .bind(kind.as_str())
    .bind(actor.map(|a| a.id.clone()))
    .bind(actor.map(|a| a.name.clone()))
    .bind(medic_commands::redact::redact(text))
    .execute(conn)
    .await?;
    Ok(())
}

/// Says that the offers `ids` were made in incident `id`'s thread, so
/// that what comes of them is in its timeline.
pub async fn link_offers(conn: &mut AnyConnection, id: i64, ids: &[String]) -> sqlx::Result<()> {
    for offer in ids {
        sqlx::query("UPDATE action_offers SET incident_id = $1 WHERE id = $2")
            .bind(id)
            .bind(offer)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

impl Store {
    /// Incident `row`'s timeline, in order: its recorded events, one line
    /// for the repeats of its alert, and its remediations' steps.
    pub async fn timeline(&self, row: &IncidentRow) -> sqlx::Result<Vec<Entry>> {
        let mut entries = Vec::new();
        let events = sqlx::query(
            "SELECT at, kind, actor, actor_name, text FROM incident_events \
             WHERE incident_id = $1 ORDER BY id",
        )
        .bind(row.id)
        .fetch_all(self.pool())
        .await?;
        for r in &events {
            let actor: Option<String> = r.try_get(2)?;
            let name: Option<String> = r.try_get(3)?;
            entries.push(Entry {
                at: time_ms(r.try_get(0)?),
                kind: super::word(r, 1)?,
                actor: actor.map(|id| Actor {
                    name: name.unwrap_or_else(|| id.clone()),
                    id,
                }),
                text: r.try_get(4)?,
            });
        }
        if row.view.seen_count > 1 {
            entries.push(Entry {
                at: row.view.last_seen,
                kind: EventKind::Repeats,
                actor: None,
                text: format!(
                    "Alert seen {}× in all, the last time now",
                    row.view.seen_count
                ),
            });
        }
        // The audit events of a remediation that belong in its incident's
        // timeline: what was asked, decided and came of it (not each offer,
        // not each refused press).
        let actions = sqlx::query(
            "SELECT a.at, a.event, a.actor, a.action, a.target, a.detail FROM audit_log a \
             WHERE a.ref_id IN (SELECT r.id FROM action_requests r \
             JOIN action_offers o ON o.id = r.offer_id WHERE o.incident_id = $1) \
             AND a.event IN ('requested', 'approved', 'denied', 'expired', 'succeeded', 'failed') \
             ORDER BY a.seq",
        )
        .bind(row.id)
        .fetch_all(self.pool())
        .await?;
        for r in &actions {
            let actor: String = r.try_get(2)?;
            let event: String = r.try_get(1)?;
            let action: String = r.try_get(3)?;
            let target: String = r.try_get(4)?;
            let detail: String = r.try_get(5)?;
            let mut text = format!("{action} on {target}: {event}");
            if matches!(event.as_str(), "failed" | "denied")
                && let Some(why) = detail.lines().find(|l| !l.trim().is_empty())
            {
                text.push_str(&format!(
                    " ({})",
                    medic_integrations::chat::shorten(why.trim(), 120).0
                ));
            }
            entries.push(Entry {
                at: time_ms(r.try_get(0)?),
                kind: EventKind::Action,
                actor: (actor != "medic").then(|| Actor {
                    name: actor.clone(),
                    id: actor,
                }),
                text,
            });
        }
        Ok(in_order(entries))
    }
}
