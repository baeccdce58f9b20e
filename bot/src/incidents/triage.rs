//! Gathers what triage decides from — the alert and its exception chain
//! (fetched from Sentry when the webhook carried none), the runbook's
//! reports, the hosts' timelines, the other incidents of the moment — and
//! turns the verdict into the thread's first message and the links between
//! correlated threads. The rules themselves are pure
//! (`medic_commands::triage`); this is the I/O around them.

use std::time::Duration;

use medic_commands::diagnostics::{Target, TargetSpec};
use medic_commands::model::alert::{Alert, AlertSource};
use medic_commands::triage::chain::{self, Link};
use medic_commands::triage::correlation::{self, Correlated, Peer};
use medic_commands::triage::timeline::{self, Event};
use medic_commands::triage::{Input, LikelyCause, Triage, decide, symptom};
use medic_commands::{Diagnosis, Report};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use time::OffsetDateTime;

use crate::state::AppState;
use crate::storage::incidents::{self, IncidentRow};

/// A `diagnose` job's payload: what to run and the alert that opened the
/// incident. Jobs queued by older versions hold only the list of words.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiagnoseJob {
    /// Target names or kinds.
    pub run: Vec<String>,
    /// The alert, for triage.
    #[serde(default)]
    pub alert: Option<Alert>,
}

impl DiagnoseJob {
    /// Reads either payload shape; anything unreadable runs nothing.
    pub fn parse(payload: &str) -> DiagnoseJob {
        if let Ok(run) = serde_json::from_str::<Vec<String>>(payload) {
            return DiagnoseJob { run, alert: None };
        }
        serde_json::from_str(payload).unwrap_or(DiagnoseJob {
            run: Vec::new(),
            alert: None,
        })
    }
}

/// The verdict and the incidents correlated with this one.
pub struct Outcome {
    /// What the thread's first message says.
    pub triage: Triage,
    /// Other incidents of the same event.
    pub correlated: Vec<Correlated>,
}

/// The exception chain: the alert's own, or the latest event's from
/// Sentry's API when the webhook carried none (an `issue` webhook).
async fn chain_of(state: &AppState, alert: &Alert) -> Vec<Link> {
    if !alert.chain.is_empty() || alert.source != AlertSource::Sentry {
        return alert.chain.clone();
    }
    let Some(api) = &state.sentry_api else {
        return Vec::new();
    };
    match api.latest_event(&alert.fingerprint).await {
        Ok(event) => chain::walk(&event),
        Err(error) => {
            tracing::warn!(%error, issue = %alert.fingerprint, "Could not fetch the Sentry event for triage; matching the title only.");
            Vec::new()
        }
    }
}

/// The hosts' changes around the first error, and restarts from uptimes.
async fn events(
    targets: &[Target],
    reports: &[Report],
    first_error: OffsetDateTime,
    window: Duration,
) -> Vec<Event> {
    let now = OffsetDateTime::now_utc();
    // Read back far enough to cover the window before the first error.
    let since_error: Duration = (now - first_error).try_into().unwrap_or_default();
    let reach = window + since_error + timeline::AFTER_GRACE;
    let hosts = targets.iter().filter_map(|t| match &t.spec {
        TargetSpec::Host(h) => Some((t.name.as_str(), h)),
        _ => None,
    });
    let mut out: Vec<Event> =
        futures::future::join_all(hosts.map(|(name, h)| h.timeline(name, now, reach)))
            .await
            .into_iter()
            .flatten()
            .collect();
    out.extend(timeline::from_reports(reports));
    out
}

fn peer_of(row: &IncidentRow) -> Peer {
    let mut hosts = Vec::new();
    if row.view.source != AlertSource::Sentry
        && let Some(h) = &row.view.host
    {
        let bare = h.rsplit_once(':').map(|(a, _)| a).unwrap_or(h);
        hosts.push(bare.to_ascii_lowercase());
    }
    correlation::hosts_in(&row.view.title, &mut hosts);
    Peer {
        id: row.id,
        source: row.view.source.as_str().to_string(),
        service: row.view.service.clone(),
        title: row.view.title.clone(),
        hosts,
        first_seen: row.view.first_seen,
    }
}

/// Other incidents of the same event as `row`.
async fn correlated(
    conn: &mut AnyConnection,
    row: &IncidentRow,
    me: &Peer,
    window: Duration,
) -> sqlx::Result<Vec<Correlated>> {
    let at = (row.view.first_seen.unix_timestamp_nanos() / 1_000_000) as i64;
    let w = window.as_millis() as i64;
    let recorded = incidents::named_hosts_between(conn, at - w, at + w).await?;
    let others: Vec<Peer> = incidents::first_seen_between(conn, at - w, at + w)
        .await?
        .iter()
        .filter(|r| r.id != row.id)
        .map(|r| {
            let mut p = peer_of(r);
            // What the other's alert and chain named, recorded when it
            // opened (and after its own triage fetched its event).
            if let Some((_, hosts)) = recorded.iter().find(|(id, _)| *id == r.id) {
                for h in hosts {
                    if !p.hosts.contains(h) {
                        p.hosts.push(h.clone());
                    }
                }
            }
            p
        })
        .collect();
    Ok(correlation::correlate(me, &others, window))
}

/// When the incident's first error was: the opening alert's own time when
/// it carried one, else when medic first saw the incident. The timeline
/// looks back from it, and a host's `units` journal is read around it.
pub fn first_error(alert: Option<&Alert>, row: &IncidentRow) -> OffsetDateTime {
    alert
        .and_then(|a| a.occurred_at)
        .unwrap_or(row.view.first_seen)
}

/// Triage for incident `row` opened by `alert`, with the runbook's
/// `targets` and their `reports`.
pub async fn run(
    state: &AppState,
    row: &IncidentRow,
    alert: &Alert,
    targets: &[Target],
    reports: &[Report],
) -> sqlx::Result<Outcome> {
    let settings = &state.settings.alerts.triage;
    let chain = chain_of(state, alert).await;
    let first_error = first_error(Some(alert), row);
    let events = events(targets, reports, first_error, settings.timeline_window).await;
    let me = Peer {
        id: row.id,
        source: alert.source.as_str().to_string(),
        service: alert.service.clone(),
        title: alert.title.clone(),
        hosts: correlation::named_hosts(alert, &chain),
        first_seen: row.view.first_seen,
    };
    let mut conn = state.store.pool().acquire().await?;
    let correlated = correlated(&mut conn, row, &me, settings.correlation_window).await?;
    drop(conn);
    if !me.hosts.is_empty() && chain != alert.chain {
        // The fetched event named more: record it for later incidents.
        let mut tx = state.store.begin_write().await?;
        incidents::set_named_hosts(&mut tx, row.id, &me.hosts).await?;
        tx.commit().await?;
    }
    let triage = decide(&Input {
        knowledge: &settings.knowledge,
        chain: &chain,
        title: &alert.title,
        first_error,
        events: &events,
        reports,
        correlated: &correlated,
        timeline_window: settings.timeline_window,
        symptom: None,
    });
    Ok(Outcome { triage, correlated })
}

/// `/diag`'s likely cause: the same timeline a runbook's triage reads (the
/// host targets' logs, the uptimes' restarts), back `timeline_window` from
/// now, judged by [`symptom::for_diagnosis`]. `None` when triage is off,
/// when nothing the diagnosis saw needs explaining, when no change explains
/// it, or when the logs take longer than the slowest target's timeout.
pub async fn for_diagnosis(state: &AppState, diagnosis: &Diagnosis) -> Option<LikelyCause> {
    let settings = &state.settings.alerts.triage;
    if !settings.enabled {
        return None;
    }
    let targets: Vec<Target> = diagnosis
        .reports
        .iter()
        .filter_map(|r| state.targets.get(&r.target.name).cloned())
        .collect();
    let reports: Vec<Report> = diagnosis.reports.iter().map(|r| (**r).clone()).collect();
    let limit = targets
        .iter()
        .map(|t| t.spec.timeout())
        .max()
        .unwrap_or_default();
    let now = OffsetDateTime::now_utc();
    let window = settings.timeline_window;
    let events = match tokio::time::timeout(limit, events(&targets, &reports, now, window)).await {
        Ok(events) => events,
        Err(_) => {
            tracing::warn!(
                label = %diagnosis.label,
                "Reading the hosts' timeline for /diag's likely cause took too long; none is given."
            );
            return None;
        }
    };
    symptom::for_diagnosis(&settings.knowledge, &reports, &events, now, window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_payload_shapes_are_read() {
        let old = DiagnoseJob::parse(r#"["redis","host"]"#);
        assert_eq!(old.run, ["redis", "host"]);
        assert!(old.alert.is_none());
        let new = DiagnoseJob::parse(r#"{"run":["db"]}"#);
        assert_eq!(new.run, ["db"]);
        assert!(DiagnoseJob::parse("garbage").run.is_empty());
    }
}
