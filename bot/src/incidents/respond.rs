//! Acknowledge, Resolve, Reopen and a change of severity level, from an
//! incident's thread: pressed on its root, or typed (`/incident ack`,
//! see [`super::command`]). Both come here with the incident and who asks.
//!
//! What may be done is decided here, at the ask: the policy (`[incidents]
//! may_respond`, evaluated against who is on call now) and the incident's
//! state (one conditional UPDATE, so two people pressing Resolve at once
//! resolve it once). A change queues, in the same transaction, the root's
//! edit (its buttons follow its state), a line in its thread saying who
//! did what, its timeline entry and, on resolve, the postmortem draft's
//! job; every ask, refused or not, is in the audit log. What only the
//! asker should read is the [`Answer`], said to them privately.

use medic_commands::actions::policy::Principal;
use medic_commands::model::alert::AlertSource;
use medic_commands::model::inbound::{Actor, ButtonClick, ClickVerb};
use medic_commands::model::priority::Priority;
use medic_commands::model::timeline::EventKind;
use medic_integrations::chat::draw;

use crate::remediation::Notifier;
use crate::state::AppState;
use crate::storage::audit::AuditEvent;
use crate::storage::incidents::{self, IncidentRow, Response};
use crate::storage::outbox::{OutboxKind, enqueue};
use crate::storage::timeline;

/// How an ask ended, in words for the asker alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Done: the thread says so.
    Changed(String),
    /// Nothing to do (someone did it first, or it already is so).
    Unchanged(String),
    /// The policy does not allow it, or the source refused it.
    Refused(String),
    /// medic could not record it.
    Failed(String),
}

impl Answer {
    /// What the asker reads.
    pub fn text(&self) -> &str {
        match self {
            Answer::Changed(t) | Answer::Unchanged(t) | Answer::Refused(t) | Answer::Failed(t) => t,
        }
    }
}

/// What a root's button asks of its incident.
fn response(verb: ClickVerb) -> Option<Response> {
    match verb {
        ClickVerb::Acknowledge => Some(Response::Acknowledge),
        ClickVerb::Resolve => Some(Response::Resolve),
        ClickVerb::Reopen => Some(Response::Reopen),
        ClickVerb::Request | ClickVerb::Approve | ClickVerb::Deny | ClickVerb::Take => None,
    }
}

/// Handles a press of one of an incident root's buttons. The button
/// carries only the incident's number; a press changing it is said in
/// the thread, anything else to the presser alone.
pub async fn press<N: Notifier>(state: &AppState, click: &ButtonClick, notifier: &N) {
    let Some(r) = response(click.verb) else {
        return;
    };
    let Ok(id) = click.id.parse::<i64>() else {
        return notifier.ephemeral(crate::remediation::UNKNOWN).await;
    };
    let row = match state.store.incident(id).await {
        Ok(Some(row)) => row,
        Ok(None) => return notifier.ephemeral(crate::remediation::UNKNOWN).await,
        Err(error) => {
            tracing::warn!(%error, "Could not read an incident for a button.");
            return notifier.ephemeral(DATABASE_FAILING).await;
        }
    };
    // The button is on the incident's root, in its channel (on Discord a
    // click in its thread names the thread: the thread is the root's id).
    let here = row.place.as_ref().is_some_and(|(p, channel)| {
        *p == click.place.platform
            && (*channel == click.place.channel
                || row.root_ts.as_deref() == Some(&click.place.channel))
    });
    if !here {
        return notifier.ephemeral(crate::remediation::UNKNOWN).await;
    }
    match respond(state, &row, r, &click.actor).await {
        Answer::Changed(_) => {}
        other => notifier.ephemeral(other.text()).await,
    }
}

/// The answer when a change cannot be written.
const NOT_RECORDED: &str =
    "medic could not record this (its database is failing); try again in a minute.";

/// The answer when the incident cannot be read.
const DATABASE_FAILING: &str =
    "medic could not read this incident (its database is failing); try again in a minute.";

/// `actor` acknowledges, resolves or reopens incident `row`.
pub async fn respond(state: &AppState, row: &IncidentRow, r: Response, actor: &Actor) -> Answer {
    if let Err(why) = allowed(state, row, r.verb(), actor).await {
        return Answer::Refused(why);
    }
    let Some((platform, channel)) = row.place.clone() else {
        return Answer::Unchanged(format!(
            "*{}* has no thread medic can change.",
            row.view.title
        ));
    };
    // The source first: nothing is marked acknowledged or resolved here
    // that the source still has open.
    if let Err(why) = tell_the_source(state, row, r, actor).await {
        let text = format!("⚠️ {why}; *{}* stays as it was in medic.", row.view.title);
        audit(state, "failed", actor, row, &why).await;
        let note = draw(platform).incident_note(&text.replace('*', ""));
        let queued = async {
            let mut tx = state.store.begin_write().await?;
            let now = crate::storage::now_ms();
            timeline::record(&mut tx, row.id, now, EventKind::Note, Some(actor), &why).await?;
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
        return Answer::Refused(text);
    }
    let now = crate::storage::now_ms();
    let note = draw(platform).incident_note_by(r.said(), actor);
    let changed: sqlx::Result<bool> = async {
        let mut tx = state.store.begin_write().await?;
        if !incidents::respond(&mut tx, row.id, r, actor, now).await? {
            tx.commit().await?;
            return Ok(false);
        }
        let said = Said {
            kind: r.event(),
            text: r.title(),
            note: &note,
        };
        announce(&mut tx, row, actor, now, said).await?;
        if r == Response::Resolve {
            incidents::insert_job(&mut tx, row.id, super::postmortem::JOB_KIND, "", now).await?;
        }
        state.outbox.commit(tx).await?;
        Ok(true)
    }
    .await;
    match changed {
        Ok(true) => {
            audit(state, r.done(), actor, row, "").await;
            if r == Response::Resolve {
                state.incident_wake.notify_one();
            }
            tracing::info!(incident = row.id, actor = %actor.id, "An incident was {} from its thread.", r.done());
            Answer::Changed(format!("*{}* {}.", row.view.title, r.done()))
        }
        Ok(false) => {
            let now = match state.store.incident(row.id).await {
                Ok(Some(i)) if i.view.acked_by.is_some() => "is already acknowledged".to_string(),
                Ok(Some(i)) => format!("is {}", i.view.state.as_str()),
                _ => "has changed".to_string(),
            };
            Answer::Unchanged(format!("*{}* {now}; nothing was changed.", row.view.title))
        }
        Err(error) => {
            tracing::warn!(%error, incident = row.id, "Could not record a response to an incident.");
            Answer::Failed(NOT_RECORDED.into())
        }
    }
}

/// `actor` changes incident `row`'s severity level to `level`: its root
/// shows the new level, its thread and timeline say who changed it, and
/// its response-time reminder follows the new level's response time.
pub async fn set_level(
    state: &AppState,
    row: &IncidentRow,
    level: Priority,
    actor: &Actor,
) -> Answer {
    if let Err(why) = allowed(state, row, "change the severity of", actor).await {
        return Answer::Refused(why);
    }
    let was = row.view.priority;
    if was == Some(level) {
        return Answer::Unchanged(format!(
            "*{}* is {} already.",
            row.view.title,
            level.as_str()
        ));
    }
    let Some((platform, _)) = row.place.clone() else {
        return Answer::Unchanged(format!(
            "*{}* has no thread medic can change.",
            row.view.title
        ));
    };
    let was_text = was.map_or("--", Priority::as_str);
    let line = format!(
        "Severity {was_text} → {} ({})",
        level.as_str(),
        level.name()
    );
    let arrow = match was {
        Some(w) if w < level => "🔻",
        _ => EventKind::Severity.symbol(),
    };
    let note = draw(platform).incident_note_by(&format!("{arrow} {line}"), actor);
    // The response time counts from when it opened: raised to P1 after 20
    // minutes, it is late already, and reminded at once.
    let now = crate::storage::now_ms();
    let opened = row.view.first_seen.unix_timestamp() * 1000;
    let remind_at =
        (opened + crate::storage::millis(level.respond_within())).max(state.clock.now_ms());
    let changed: sqlx::Result<bool> = async {
        let mut tx = state.store.begin_write().await?;
        if !incidents::set_priority(&mut tx, row.id, level, remind_at).await? {
            tx.commit().await?;
            return Ok(false);
        }
        let said = Said {
            kind: EventKind::Severity,
            text: &line,
            note: &note,
        };
        announce(&mut tx, row, actor, now, said).await?;
        state.outbox.commit(tx).await?;
        Ok(true)
    }
    .await;
    match changed {
        Ok(true) => {
            audit(state, "severity", actor, row, &line).await;
            Answer::Changed(format!("*{}* is {} now.", row.view.title, level.as_str()))
        }
        Ok(false) => Answer::Unchanged(format!(
            "*{}* is resolved or already {}; nothing was changed.",
            row.view.title,
            level.as_str()
        )),
        Err(error) => {
            tracing::warn!(%error, incident = row.id, "Could not change an incident's level.");
            Answer::Failed(NOT_RECORDED.into())
        }
    }
}

/// What a change says: its timeline entry and its note in the thread.
struct Said<'a> {
    kind: EventKind,
    text: &'a str,
    note: &'a str,
}

/// Writes in `tx` what a change to `row` by `actor` leaves behind: its
/// timeline entry, the root's edit (it shows the incident as it now is)
/// and the note in its thread.
async fn announce(
    tx: &mut sqlx::AnyConnection,
    row: &IncidentRow,
    actor: &Actor,
    now: i64,
    said: Said<'_>,
) -> sqlx::Result<()> {
    timeline::record(tx, row.id, now, said.kind, Some(actor), said.text).await?;
    let Some((platform, channel)) = &row.place else {
        return Ok(());
    };
    enqueue(tx, *platform, channel, row.id, OutboxKind::Edit, "").await?;
    enqueue(tx, *platform, channel, row.id, OutboxKind::Reply, said.note).await
}

/// Whether `actor` may `verb` incident `row` under `[incidents]
/// may_respond`; a refusal is audited and says which rule.
async fn allowed(
    state: &AppState,
    row: &IncidentRow,
    verb: &str,
    actor: &Actor,
) -> Result<(), String> {
    let rules = &state.settings.alerts.incidents.may_respond;
    if rules.is_empty() {
        return Ok(());
    }
    let dir = crate::oncall::directory_now(state);
    if dir.first_match(rules, &actor.id).is_some() {
        return Ok(());
    }
    let why = format!(
        "you may not {verb} *{}*: `may_respond = [{}]` does not include you",
        row.view.title,
        rules
            .iter()
            .map(|p: &Principal| format!("\"{p}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    audit(state, "refused", actor, row, &why).await;
    Err(why)
}

/// Tells the incident's source of an acknowledgement or resolve made
/// here, when medic can: PagerDuty's REST API (`PUT /incidents/{id}`, as
/// the asker when `[oncall.people]` knows their email, else as
/// `[pagerduty] from`); Sentry's issue API for a resolve (`PUT
/// …/issues/{id}/`, as `[sentry] auth_token`). `Err` says what the source
/// answered.
async fn tell_the_source(
    state: &AppState,
    row: &IncidentRow,
    r: Response,
    actor: &Actor,
) -> Result<(), String> {
    use medic_commands::actions::{pagerduty, sentry};
    let apis = state.settings.alerts.vendor_apis();
    let (vendor, req) = match (row.view.source, r) {
        // Reopen stays medic's: PagerDuty has no "unresolve", and a Sentry
        // issue reopens itself on its next event.
        (_, Response::Reopen) => return Ok(()),
        (AlertSource::PagerDuty, _) => {
            let Some(mut api) = apis.pagerduty else {
                return Ok(());
            };
            if let Some(email) = state
                .settings
                .oncall
                .people
                .values()
                .find(|p| p.ids().any(|id| id == actor.id))
                .and_then(|p| p.email.clone())
            {
                api.from = email;
            }
            let op = match r {
                Response::Acknowledge => pagerduty::Op::Acknowledge,
                Response::Resolve | Response::Reopen => pagerduty::Op::Resolve,
            };
            let id = fingerprint(state, row).await?;
            let req = pagerduty::request(&api, &op, &id).map_err(|e| format!("PagerDuty: {e}"))?;
            ("PagerDuty", req)
        }
        // Sentry has no acknowledgement.
        (AlertSource::Sentry, Response::Acknowledge) => return Ok(()),
        (AlertSource::Sentry, Response::Resolve) => {
            let Some(api) = apis.sentry else {
                return Ok(());
            };
            let id = fingerprint(state, row).await?;
            // A metric alert's incident is not an issue: nothing to tell.
            if !id.chars().all(|c| c.is_ascii_digit()) {
                return Ok(());
            }
            let req = sentry::request(&api, sentry::Op::Resolve, &id)
                .map_err(|e| format!("Sentry: {e}"))?;
            ("Sentry", req)
        }
        // Alertmanager resolves itself when the condition clears; a
        // declared incident is medic's own.
        (AlertSource::Alertmanager | AlertSource::Chat, _) => return Ok(()),
    };
    let outcome =
        medic_commands::actions::vendor::send(vendor, req, std::time::Duration::from_secs(10), 500)
            .await;
    if outcome.success {
        Ok(())
    } else {
        Err(format!(
            "{vendor} did not {} it: {}",
            r.verb(),
            outcome.status
        ))
    }
}

/// The incident's id at its source.
async fn fingerprint(state: &AppState, row: &IncidentRow) -> Result<String, String> {
    state
        .store
        .incident_fingerprint(row.id)
        .await
        .map_err(|e| format!("medic could not read the incident ({e})"))
}

/// Records `event` of an ask about `row` in the audit log
/// ([`crate::remediation::audit`], which redacts the detail).
async fn audit(state: &AppState, event: &str, actor: &Actor, row: &IncidentRow, detail: &str) {
    crate::remediation::audit(
        state,
        AuditEvent {
            event,
            actor: &actor.id,
            action: "incident",
            target: &format!("incident #{}", row.id),
            ref_id: &row.id.to_string(),
            detail,
        },
    )
    .await;
}
