//! Buttons for the vendor built-ins in an alert incident's thread: a new
//! PagerDuty incident offers the `pagerduty.*` actions whose `offered_on`
//! says `source:pagerduty`, a new Sentry issue the `sentry.*` ones, each
//! bound to that incident's id at its source (its fingerprint).
//!
//! Opening the incident queues an `offer` job in the same transaction
//! (so a crash cannot lose the buttons); the incident worker runs it like
//! a runbook job: offers are recorded first (outside the write
//! transaction, as SQLite needs), then the message is queued into the
//! thread, on Slack or Discord alike. From the click on, it is the same flow as every other action:
//! policy, approvals, expiry, single use, audit.

use medic_commands::actions::params;
use medic_commands::actions::vendor::SOURCE_ID_PARAM;
use medic_commands::actions::view::OfferButton;
use medic_commands::model::alert::{Alert, AlertSource};
use medic_commands::model::inbound::Place;
use serde::{Deserialize, Serialize};

use crate::state::AppState;
use crate::storage::incidents::{self, Job, JobFailed};
use crate::storage::now_ms;
use crate::storage::outbox::{OutboxKind, enqueue};

/// The `incident_jobs.kind` of these jobs.
pub const JOB_KIND: &str = "offer";

/// What an offer job remembers of the alert.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    source: AlertSource,
    id: String,
}

/// The offer job's payload for a new incident of `alert`, when its source
/// has actions and its fingerprint is an id the vendor's API takes (a
/// Sentry metric alert is no issue).
pub fn job_payload(alert: &Alert, sources: &[&str]) -> Option<String> {
    let source = alert.source.as_str();
    if !sources.contains(&source) {
        return None;
    }
    let id = alert.fingerprint.as_str();
    let usable = match alert.source {
        AlertSource::PagerDuty => medic_commands::actions::vendor::plain_id(id),
        AlertSource::Sentry => !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()),
        AlertSource::Alertmanager | AlertSource::Chat => false,
    };
    usable.then(|| {
        serde_json::to_string(&Payload {
            source: alert.source,
            id: id.to_string(),
        })
        .unwrap_or_default()
    })
}

/// The offer's target: the vendor incident, so that cooldowns and the
/// one-run-at-a-time rule apply per incident (`pagerduty:PGR0VU2`).
fn target(source: &str, id: &str) -> String {
    format!("{source}:{id}")
}

/// Runs one offer job: records the offers and queues their message into
/// the incident's thread, marking the job done in the same transaction.
pub async fn run_job(state: &AppState, job: Job) -> Result<(), JobFailed> {
    let payload: Option<Payload> = serde_json::from_str(&job.payload).ok();
    let place = state
        .store
        .incident(job.incident_id)
        .await
        .map_err(|e| JobFailed::new("reading its incident", e))?
        .and_then(|row| row.place);
    let mut message = None;
    let mut offered = Vec::new();
    if let (Some(p), Some((platform, channel))) = (&payload, &place) {
        // Bound to the incident's channel; on Discord the sender moves
        // them into the incident's thread as it posts them.
        let place = Place {
            platform: *platform,
            channel: channel.clone(),
            thread: None,
        };
        let buttons = offers(state, p.source.as_str(), &p.id, &place).await;
        offered = buttons.iter().map(|b| b.offer_id.clone()).collect();
        let label = match p.source {
            AlertSource::PagerDuty => format!("PagerDuty incident {}", p.id),
            AlertSource::Sentry => format!("Sentry issue {}", p.id),
            AlertSource::Alertmanager => format!("Alertmanager alert {}", p.id),
            AlertSource::Chat => format!("incident {}", p.id),
        };
        message = crate::incidents::render::offers(*platform, &label, &buttons)
            .map(|body| (*platform, channel.clone(), body));
    }
    let queued = async {
        let mut tx = state.store.begin_write().await?;
        // What comes of them is in the incident's timeline.
        crate::storage::timeline::link_offers(&mut tx, job.incident_id, &offered).await?;
        if let Some((platform, channel, body)) = &message {
            enqueue(
                &mut tx,
                *platform,
                channel,
                job.incident_id,
                OutboxKind::Reply,
                body,
            )
            .await?;
        }
        incidents::finish_job(&mut tx, job.id, now_ms()).await?;
        tx.commit().await
    }
    .await;
    queued.map_err(|e| JobFailed::new("queueing its action buttons", e))?;
    state.outbox.wake();
    Ok(())
}

/// Records an offer of each action `source`'s incidents offer, bound to
/// the vendor id and the thread's channel.
async fn offers(state: &AppState, source: &str, id: &str, place: &Place) -> Vec<OfferButton> {
    let target = target(source, id);
    let mut out = Vec::new();
    for action in state
        .settings
        .remediation
        .actions
        .values()
        .filter(|a| a.offered_for_source(source))
    {
        let mut values = params::offer_values(&target, &action.params);
        values.insert(SOURCE_ID_PARAM.to_string(), id.to_string());
        out.extend(super::offer(state, action, &target, values, place).await);
    }
    out
}

#[cfg(test)]
mod tests {
    use medic_commands::model::alert::{AlertState, Severity};

    use super::*;

    fn alert(source: AlertSource, fingerprint: &str) -> Alert {
        Alert {
            source,
            fingerprint: fingerprint.into(),
            state: AlertState::Firing,
            title: "t".into(),
            severity: Severity::Error,
            service: None,
            host: None,
            labels: Vec::new(),
            occurred_at: None,
            link: None,
            details: Vec::new(),
            chain: Vec::new(),
        }
    }

    #[test]
    fn only_sources_with_actions_and_real_ids_get_a_job() {
        let both = ["pagerduty", "sentry"];
        let p = job_payload(&alert(AlertSource::PagerDuty, "PGR0VU2"), &both).unwrap();
        assert_eq!(p, r#"{"source":"pagerduty","id":"PGR0VU2"}"#);
        assert!(job_payload(&alert(AlertSource::Sentry, "1170820242"), &both).is_some());
        assert!(job_payload(&alert(AlertSource::Sentry, "metric_alert:7"), &both).is_none());
        assert!(job_payload(&alert(AlertSource::PagerDuty, "PGR0VU2"), &["sentry"]).is_none());
        assert!(job_payload(&alert(AlertSource::Alertmanager, "g/1"), &both).is_none());
    }
}
