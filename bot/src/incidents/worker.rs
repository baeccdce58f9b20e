//! The loop that runs the runbooks of new incidents into their threads,
//! and applies the deliveries left pending.
//!
//! A delivery's incident changes normally commit with the delivery itself
//! ([`super::Applier`], in the webhooks' writer), so diagnostics running
//! here never hold up an alert storm. What is left pending — a batch whose
//! applying failed, deliveries stored by an older medic — is applied here,
//! one by one when a batch fails, so the log names the delivery that does.
//! It wakes when a batch opens an incident or is left pending, and every
//! second anyway, so work left by a crash or a failed attempt is picked up
//! without a trigger.

use std::time::Duration;

use medic_commands::Diagnosis;
use medic_commands::diagnostics;
use medic_commands::model::inbound::Place;
use medic_commands::triage::Triage;
use medic_integrations::chat::Provenance;
use medic_integrations::chat::{Correlated, draw};
use tokio_util::sync::CancellationToken;

use super::Pending;
use super::triage::DiagnoseJob;
use crate::state::AppState;
use crate::storage::dead_letters::Parkable;
use crate::storage::incidents::{self, Job, JobFailed};
use crate::storage::now_ms;
use crate::storage::outbox::{OutboxKind, enqueue};
use crate::storage::timeline;
use medic_commands::model::timeline::{self as timeline_text, EventKind};

/// Deliveries taken per transaction batch.
const DELIVERIES_PER_ROUND: i64 = 256;
/// Runbook jobs run at once.
const JOBS_PER_ROUND: i64 = 16;
/// After a round that found fewer deliveries than a full batch, how long
/// the worker lets more arrive before the next. A round has a fixed cost
/// (a handful of statements, a commit) whatever its size; in a storm,
/// rounds of one or two deliveries each spent most of medic's CPU on it.
/// An alert's thread is at most this much later.
const GATHER: Duration = Duration::from_millis(5);

/// What one round of [`deliveries`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    /// Nothing pending: wait for a webhook.
    Idle,
    /// Fewer than a full batch: gather a little before the next.
    Partial,
    /// A full batch: more are likely waiting.
    Full,
    /// The database failed: retry in a second, whatever arrives meanwhile.
    Failed,
}

/// Runs until `stop`.
pub async fn run(state: AppState, stop: CancellationToken) {
    loop {
        let round = deliveries(&state).await;
        let ran_jobs = jobs(&state).await;
        if matches!(round, Round::Partial | Round::Full) || ran_jobs {
            state.outbox.wake();
        }
        if round == Round::Full || ran_jobs {
            continue;
        }
        let pause = match round {
            Round::Partial => GATHER,
            _ => Duration::from_secs(1),
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
            // Woken by a new delivery only when idle: after a round the
            // gather pause runs out first, and after a failure the retry
            // waits its second.
            _ = state.incident_wake.notified(), if round == Round::Idle => {}
        }
    }
}

/// Applies pending deliveries.
async fn deliveries(state: &AppState) -> Round {
    let pending = match state.store.pending_deliveries(DELIVERIES_PER_ROUND).await {
        Ok(p) => p,
        Err(error) => {
            tracing::warn!(%error, "Could not read pending alert deliveries; retrying.");
            return Round::Failed;
        }
    };
    let taken = match pending.len() {
        0 => return Round::Idle,
        n if n >= DELIVERIES_PER_ROUND as usize => Round::Full,
        _ => Round::Partial,
    };
    let batch: Vec<Pending> = pending
        .into_iter()
        .map(|(id, source, json)| {
            let alerts = serde_json::from_str(&json).unwrap_or_else(|error| {
                // Written by this medic; unreadable means a newer format
                // from another version. Nothing can be done but say so.
                tracing::error!(delivery = id, %source, %error, "A stored delivery cannot be read; skipping it.");
                Vec::new()
            });
            Pending { id, alerts }
        })
        .collect();
    let settings = &state.settings.alerts;
    let platforms = super::Platforms {
        slack: state.slack.is_some(),
        discord: state.discord.is_some(),
        console: state.console.is_some(),
    };
    match super::apply_batch(&state.store, settings, platforms, &batch).await {
        Ok(changes) => {
            tracing::debug!(deliveries = batch.len(), ?changes, "Deliveries applied.");
            return taken;
        }
        Err(error) if batch.len() > 1 => {
            tracing::warn!(%error, deliveries = batch.len(), "Could not apply a batch of deliveries; applying them one by one.");
        }
        Err(_) => {}
    }
    // One by one, so that a delivery that keeps failing holds back only
    // itself and those after it, and the log names it; after
    // PARK_AFTER failures it is parked and the rest go on.
    for delivery in &batch {
        let one = std::slice::from_ref(delivery);
        if let Err(error) = super::apply_batch(&state.store, settings, platforms, one).await {
            let error = error.to_string();
            match state
                .store
                .failed(Parkable::Delivery, delivery.id, &error, PARK_AFTER)
                .await
            {
                Ok(true) => {
                    tracing::error!(
                        delivery = delivery.id,
                        %error,
                        "An alert delivery failed to apply {PARK_AFTER} times; parked (kept in `deliveries` with its error), so the ones behind it go on."
                    );
                    state.metrics.delivery_parked();
                    continue;
                }
                Ok(false) => {
                    tracing::warn!(delivery = delivery.id, %error, "Could not apply a delivery; will retry.");
                }
                Err(db) => {
                    tracing::warn!(delivery = delivery.id, %error, %db, "Could not apply a delivery nor record why; will retry.");
                }
            }
            return Round::Failed;
        }
    }
    taken
}

/// Failures after which a delivery is parked instead of tried again: a
/// few, so that a database that blinked is waited out, and a delivery
/// that can never apply holds the ones behind it for seconds, not
/// forever.
const PARK_AFTER: i32 = 5;

/// Runs pending runbook jobs at once; true when any finished. A round
/// in which every job failed is not repeated at once (the worker waits
/// its second, so a database that blinked is waited out before a job is
/// parked).
async fn jobs(state: &AppState) -> bool {
    let pending = match state.store.pending_jobs(JOBS_PER_ROUND).await {
        Ok(p) => p,
        Err(error) => {
            tracing::warn!(%error, "Could not read pending incident jobs; retrying.");
            return false;
        }
    };
    let ran = futures::future::join_all(pending.into_iter().map(|job| async move {
        let id = job.id;
        (id, run_job(state, job).await)
    }))
    .await;
    let mut finished = false;
    for (id, ran) in ran {
        match ran {
            Ok(()) => finished = true,
            Err(failed) => job_failed(state, id, &failed).await,
        }
    }
    finished
}

/// Records job `id`'s failure; parks it after [`PARK_AFTER`].
async fn job_failed(state: &AppState, id: i64, failed: &JobFailed) {
    let text = medic_commands::redact::redact(&failed.to_string());
    match state
        .store
        .failed(Parkable::Job, id, &text, PARK_AFTER)
        .await
    {
        Ok(true) => {
            state.metrics.job_parked();
            tracing::error!(
                job = id,
                error = %text,
                "An incident job failed {PARK_AFTER} times and is parked (see `medic status`)."
            );
        }
        Ok(false) => tracing::warn!(job = id, error = %text, "An incident job failed; will retry."),
        Err(error) => {
            tracing::warn!(job = id, %error, failed = %text, "An incident job failed, and so did recording it; will retry.")
        }
    }
}

/// How many later incidents of one event the first one's thread names:
/// enough to see that it is one event, few enough that a storm of
/// hundreds on one host leaves that thread readable (the later ones each
/// name the first, with a count).
const FIRST_HEARS_OF: usize = 3;

/// Runs one incident's runbook and queues, into its thread, the likely
/// cause first (triage), then the alert's detail lines, then the report;
/// the job is marked done in the same transaction. Correlated incidents
/// get a line in each other's thread, written by the later incident's job
/// only, so two jobs never post the pair twice ([`FIRST_HEARS_OF`]).
async fn run_job(state: &AppState, job: Job) -> Result<(), JobFailed> {
    if job.kind == crate::remediation::vendor::JOB_KIND {
        return crate::remediation::vendor::run_job(state, job).await;
    }
    if job.kind == super::postmortem::JOB_KIND {
        return super::postmortem::run_job(state, job).await;
    }
    let job_spec = DiagnoseJob::parse(&job.payload);
    let words = &job_spec.run;
    let mut selected: Vec<diagnostics::Target> = Vec::new();
    for word in words {
        for t in diagnostics::select(&state.targets, word).unwrap_or_default() {
            if !selected.iter().any(|s| s.name == t.name) {
                selected.push(t.clone());
            }
        }
    }
    let row = state
        .store
        .incident(job.incident_id)
        .await
        .map_err(|e| JobFailed::new("reading its incident", e))?;
    // The first error, as triage's timeline takes it: a host's `units`
    // journal is read around it.
    let around = row
        .as_ref()
        .map(|r| super::triage::first_error(job_spec.alert.as_ref(), r));
    // Narrowed to the pod or container the alert names, where the kind
    // can be: its logs and events are the ones that matter.
    if let Some(alert) = &job_spec.alert {
        selected = selected.iter().map(|t| t.for_alert(alert)).collect();
    }
    let reports = futures::future::join_all(selected.iter().map(|t| async move {
        state
            .diagnostics
            .report_around(t, around)
            .await
            .as_ref()
            .clone()
    }))
    .await;
    let outcome = match (&row, &job_spec.alert) {
        (Some(row), Some(alert)) if state.settings.alerts.triage.enabled => Some(
            super::triage::run(state, row, alert, &selected, &reports)
                .await
                .map_err(|e| JobFailed::new("triaging its incident", e))?,
        ),
        _ => None,
    };
    let diagnosis = Diagnosis::new(words.join(", "), reports);
    let prov = Provenance {
        command: format!("runbook: {}", words.join(", ")),
        actor: None,
        reference: Some(job.incident_id),
    };
    // Buttons for the remediations the reports offer, bound to the
    // incident's channel (its thread may not be posted yet; on Discord the
    // sender moves them into the thread as it posts them, see
    // `super::discord`). Made before the write transaction: on SQLite a
    // write from another connection inside it would wait for it.
    let mut offer_ids = Vec::new();
    let offers = match state.store.incident(job.incident_id).await {
        Ok(Some(row)) => match &row.place {
            Some((platform, channel)) => {
                let place = Place {
                    platform: *platform,
                    channel: channel.clone(),
                    thread: None,
                };
                let mut messages = Vec::new();
                for report in &diagnosis.reports {
                    let buttons = crate::remediation::make_offers(state, report, &place).await;
                    offer_ids.extend(buttons.iter().map(|b| b.offer_id.clone()));
                    messages.extend(super::render::offers(
                        *platform,
                        &report.target.name,
                        &buttons,
                    ));
                }
                messages
            }
            None => Vec::new(),
        },
        _ => Vec::new(),
    };
    let queued = async {
        let mut tx = state.store.begin_write().await?;
        if let Some(row) = incidents::incident(&mut tx, job.incident_id).await?
            && let Some((platform, channel)) = &row.place
        {
            let (platform, draw) = (*platform, draw(*platform));
            let now = now_ms();
            timeline::record(
                &mut tx,
                row.id,
                now,
                EventKind::Runbook,
                None,
                &timeline_text::runbook(&diagnosis.reports),
            )
            .await?;
            timeline::link_offers(&mut tx, row.id, &offer_ids).await?;
            let mut bodies = Vec::new();
            if let Some(o) = &outcome {
                bodies.push(draw.likely_cause(&o.triage));
                if let Triage::Likely(likely) = &o.triage {
                    incidents::set_likely_cause(&mut tx, row.id, &likely.cause).await?;
                    let text = likely.timeline_text();
                    timeline::record(&mut tx, row.id, now, EventKind::Cause, None, &text).await?;
                }
                // Deferred from the incident's opening, so the likely cause
                // leads the thread (see `super::queue_messages`).
                if let Some(alert) = &job_spec.alert
                    && !alert.details.is_empty()
                {
                    bodies.push(draw.incident_note(&alert.details.join("\n")));
                }
            }
            bodies.extend(super::render::report(platform, &diagnosis, &prov));
            bodies.extend(offers);
            for body in bodies {
                enqueue(&mut tx, platform, channel, row.id, OutboxKind::Reply, &body).await?;
            }
            // One event, many incidents (a storm on one host): this
            // thread names the event's first incident, with a count of
            // the others before it; the first one's thread hears of the
            // next few only. Each thread gets at most a line or two,
            // never one per pair.
            let earlier: Vec<_> = outcome
                .iter()
                .flat_map(|o| &o.correlated)
                .filter(|c| c.peer.id < row.id)
                .collect();
            if let Some(first) = earlier.iter().min_by_key(|c| c.peer.id)
                && let Some(peer) = incidents::incident(&mut tx, first.peer.id).await?
                && let Some((p_platform, p_channel)) = &peer.place
            {
                let more = earlier.len() - 1;
                let to_me = draw.correlation(Correlated {
                    id: peer.id,
                    title: &peer.view.title,
                    host: &first.host,
                    channel: p_channel,
                    root: peer.root_ts.as_deref(),
                    more,
                });
                enqueue(
                    &mut tx,
                    platform,
                    channel,
                    row.id,
                    OutboxKind::Reply,
                    &to_me,
                )
                .await?;
                if more < FIRST_HEARS_OF {
                    let to_peer =
                        medic_integrations::chat::draw(*p_platform).correlation(Correlated {
                            id: row.id,
                            title: &row.view.title,
                            host: &first.host,
                            channel,
                            root: row.root_ts.as_deref(),
                            more: 0,
                        });
                    enqueue(
                        &mut tx,
                        *p_platform,
                        p_channel,
                        peer.id,
                        OutboxKind::Reply,
                        &to_peer,
                    )
                    .await?;
                }
            }
        }
        incidents::finish_job(&mut tx, job.id, now_ms()).await?;
        tx.commit().await
    }
    .await;
    queued.map_err(|e| JobFailed::new("queueing its runbook report", e))
}
