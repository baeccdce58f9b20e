//! Acknowledge, Resolve and Reopen, pressed on an incident's root: the
//! incident is run from its thread.
//!
//! The button carries only the incident's number; what a press may do is
//! decided here, at the press: the policy (`[incidents] may_respond`,
//! evaluated against who is on call now) and the incident's state (one
//! conditional UPDATE, so two people pressing Resolve at once resolve it
//! once). A press that changes the incident queues, in the same
//! transaction, the root's edit (its buttons follow its state) and a line
//! in its thread saying who did what; every press, refused or not, is in
//! the audit log. What only the presser should read goes privately.

use medic_commands::actions::policy::Principal;
use medic_commands::model::inbound::{ButtonClick, ClickVerb};
use medic_integrations::chat::draw;

use crate::remediation::Notifier;
use crate::state::AppState;
use crate::storage::audit::AuditEvent;
use crate::storage::incidents::{self, Response};
use crate::storage::outbox::{OutboxKind, enqueue};

/// What a verb asks of an incident, and how people say it: the verb,
/// the audit event, and the line in the thread.
fn response(verb: ClickVerb) -> Option<(Response, &'static str, &'static str, &'static str)> {
    match verb {
        ClickVerb::Acknowledge => Some((
            Response::Acknowledge,
            "acknowledge",
            "acknowledged",
            "👀 Acknowledged",
        )),
        ClickVerb::Resolve => Some((Response::Resolve, "resolve", "resolved", "✅ Resolved")),
        ClickVerb::Reopen => Some((Response::Reopen, "reopen", "reopened", "↩️ Reopened")),
        ClickVerb::Request | ClickVerb::Approve | ClickVerb::Deny | ClickVerb::Take => None,
    }
}

/// Handles a press of one of an incident root's buttons.
pub async fn press<N: Notifier>(state: &AppState, click: &ButtonClick, notifier: &N) {
    let Some((r, verb, done, said)) = response(click.verb) else {
        return;
    };
    let Ok(id) = click.id.parse::<i64>() else {
        return notifier.ephemeral(crate::remediation::flow::UNKNOWN).await;
    };
    let row = match state.store.incident(id).await {
        Ok(Some(row)) => row,
        Ok(None) => return notifier.ephemeral(crate::remediation::flow::UNKNOWN).await,
        Err(error) => {
            tracing::warn!(%error, "Could not read an incident for a button.");
            return notifier
                .ephemeral("medic could not read this incident (its database is failing); press again in a minute.")
                .await;
        }
    };
    let name = format!("incident #{}", row.id);
    // The button is on the incident's root, in its channel (on Discord a
    // click in its thread names the thread: the thread is the root's id).
    let here = row.place.as_ref().is_some_and(|(p, channel)| {
        *p == click.place.platform
            && (*channel == click.place.channel
                || row.root_ts.as_deref() == Some(&click.place.channel))
    });
    if !here {
        return notifier.ephemeral(crate::remediation::flow::UNKNOWN).await;
    }
    let rules = &state.settings.alerts.incidents.may_respond;
    if !rules.is_empty() {
        let dir = crate::oncall::directory_now(state);
        if dir.first_match(rules, &click.actor.id).is_none() {
            let why = format!(
                "you may not {verb} *{}*: `may_respond = [{}]` does not include you",
                row.view.title,
                rules
                    .iter()
                    .map(|p: &Principal| format!("\"{p}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            audit(state, "refused", click, &name, &why).await;
            return notifier.ephemeral(&why).await;
        }
    }
    let now = crate::storage::now_ms();
    let Some((platform, channel)) = row.place.clone() else {
        return;
    };
    // The source first: nothing is marked acknowledged or resolved here
    // that the source still has open.
    if let Err(why) = tell_the_source(state, &row, r, click).await {
        let text = format!("⚠️ {why}; *{}* stays as it was in medic.", row.view.title);
        audit(state, "failed", click, &name, &why).await;
        let note = draw(platform).incident_note(&text.replace('*', ""));
        let queued = async {
            let mut tx = state.store.begin_write().await?;
            enqueue(
                &mut tx,
                platform,
                &channel,
                row.id,
                OutboxKind::Reply,
                &note,
            )
            .await?;
            state.outbox.commit(tx).await
        }
        .await;
        if let Err(error) = queued {
            tracing::warn!(%error, "Could not queue a note.");
        }
        return notifier.ephemeral(&text).await;
    }
    let note =
        draw(platform).incident_note(&format!("{said} by {}", click.actor.mention(platform)));
    let changed: sqlx::Result<bool> = async {
        let mut tx = state.store.begin_write().await?;
        if !incidents::respond(&mut tx, row.id, r, &click.actor, now).await? {
            tx.commit().await?;
            return Ok(false);
        }
        enqueue(&mut tx, platform, &channel, row.id, OutboxKind::Edit, "").await?;
        enqueue(
            &mut tx,
            platform,
            &channel,
            row.id,
            OutboxKind::Reply,
            &note,
        )
        .await?;
        state.outbox.commit(tx).await?;
        Ok(true)
    }
    .await;
    match changed {
        Ok(true) => {
            audit(state, done, click, &name, "").await;
            tracing::info!(incident = row.id, actor = %click.actor.id, "An incident was {done} from its thread.");
        }
        Ok(false) => {
            let now = match state.store.incident(row.id).await {
                Ok(Some(i)) if i.view.acked_by.is_some() => "is already acknowledged".to_string(),
                Ok(Some(i)) => format!("is {}", i.view.state.as_str()),
                _ => "has changed".to_string(),
            };
            notifier
                .ephemeral(&format!("*{}* {now}; nothing was changed.", row.view.title))
                .await;
        }
        Err(error) => {
            tracing::warn!(%error, incident = row.id, "Could not record a response to an incident.");
            notifier
                .ephemeral("medic could not record this (its database is failing); press again in a minute.")
                .await;
        }
    }
}

/// Tells the incident's source of an acknowledgement or resolve made
/// here, when medic can: PagerDuty's REST API (`PUT /incidents/{id}`, as
/// the presser when `[oncall.people]` knows their email, else as
/// `[pagerduty] from`). `Err` says what the source answered.
async fn tell_the_source(
    state: &AppState,
    row: &crate::storage::incidents::IncidentRow,
    r: Response,
    click: &ButtonClick,
) -> Result<(), String> {
    use medic_commands::actions::pagerduty::{Op, request};
    use medic_commands::model::alert::AlertSource;
    let op = match r {
        Response::Acknowledge => Op::Acknowledge,
        Response::Resolve => Op::Resolve,
        // PagerDuty has no "unresolve": a reopened incident is medic's.
        Response::Reopen => return Ok(()),
    };
    match row.view.source {
        AlertSource::PagerDuty => {}
        // Sentry and Alertmanager are told by their own buttons
        // (`sentry.resolve`) or not at all (Alertmanager resolves itself).
        AlertSource::Sentry | AlertSource::Alertmanager => return Ok(()),
    }
    let Some(mut api) = state.settings.alerts.vendor_apis().pagerduty else {
        return Ok(());
    };
    let fingerprint = match state.store.incident_fingerprint(row.id).await {
        Ok(f) => f,
        Err(e) => return Err(format!("medic could not read the incident ({e})")),
    };
    if let Some(email) = state
        .settings
        .oncall
        .people
        .values()
        .find(|p| p.ids().any(|id| id == click.actor.id))
        .and_then(|p| p.email.clone())
    {
        api.from = email;
    }
    let verb = match r {
        Response::Acknowledge => "acknowledge",
        Response::Resolve | Response::Reopen => "resolve",
    };
    let req = request(&api, &op, &fingerprint).map_err(|e| format!("PagerDuty: {e}"))?;
    let outcome = medic_commands::actions::vendor::send(
        "PagerDuty",
        req,
        std::time::Duration::from_secs(10),
        500,
    )
    .await;
    if outcome.success {
        Ok(())
    } else {
        Err(format!("PagerDuty did not {verb} it: {}", outcome.status))
    }
}

/// Records `event` of this press in the audit log
/// ([`crate::remediation::audit`], which redacts the detail).
async fn audit(state: &AppState, event: &str, click: &ButtonClick, incident: &str, detail: &str) {
    crate::remediation::audit(
        state,
        AuditEvent {
            event,
            actor: &click.actor.id,
            action: "incident",
            target: incident,
            ref_id: &click.id,
            detail,
        },
    )
    .await;
}
