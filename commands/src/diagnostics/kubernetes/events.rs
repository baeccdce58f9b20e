//! Purpose: `kubectl get events --field-selector type=Warning
//! --sort-by=.lastTimestamp`, kept to the objects the target watches (its
//! pods, their ReplicaSets, the Deployment or StatefulSet) and to the
//! recent past: BackOff, Unhealthy, FailedScheduling, FailedMount and the
//! image pull's own error say what the pod's state does not.
//!
//! The namespace's Warning events are read once per run and shared: the
//! containers check quotes the pull error from them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::ListParams;
use time::OffsetDateTime;

use super::KubernetesTarget;
use super::connect::{Session, SharedSession, Trouble, Workload, classify};
use crate::format::{human_age, utc_clock};
use crate::model::report::Finding;

/// Event lines shown under the finding, at most.
const SHOWN: usize = 10;

/// The namespace's Warning events, or why they could not be read (`None`
/// when there is no session: the API check says why).
pub type Warnings = Result<Arc<Vec<Event>>, Option<Trouble>>;

/// The shared read of the namespace's Warning events.
pub type SharedWarnings = Shared<BoxFuture<'static, Warnings>>;

/// Starts (lazily) the one events read of a run, once the session is up.
pub fn warnings(session: &SharedSession) -> SharedWarnings {
    let session = session.clone();
    async move {
        let Some(s) = session.await.session else {
            return Err(None);
        };
        let api: Api<Event> = Api::namespaced(s.client.clone(), &s.namespace);
        api.list(&ListParams::default().fields("type=Warning"))
            .await
            .map(|l| Arc::new(l.items))
            .map_err(|e| {
                Some(classify(
                    e,
                    &s.server,
                    "read",
                    "events",
                    || "events".into(),
                    s.limit,
                ))
            })
    }
    .boxed()
    .shared()
}

/// When the event was last seen: a series' last observation, else its
/// last timestamp, else when it happened or was first seen.
pub fn last_seen(e: &Event) -> Option<jiff::Timestamp> {
    e.series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
        .or_else(|| e.last_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// How many times the event happened.
fn count(e: &Event) -> i32 {
    e.series
        .as_ref()
        .and_then(|s| s.count)
        .or(e.count)
        .unwrap_or(1)
}

/// The names of the objects whose events count: the pods, the
/// ReplicaSets that own them, and the named workload.
pub fn watched(session: &Session) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for p in &session.pods {
        if let Some(n) = &p.metadata.name {
            names.insert(n.clone());
        }
        for owner in p.metadata.owner_references.iter().flatten() {
            names.insert(owner.name.clone());
        }
    }
    match &session.workload {
        Some(Workload::Deployment(d)) => names.extend(d.metadata.name.clone()),
        Some(Workload::StatefulSet(s)) => names.extend(s.metadata.name.clone()),
        None => {}
    }
    names
}

/// The finding for the events of `watched` objects seen within `window`
/// before `now`, newest first.
pub fn findings(
    events: &[Event],
    watched: &BTreeSet<String>,
    window: Duration,
    now: OffsetDateTime,
) -> Finding {
    let mut recent: Vec<(&Event, jiff::Timestamp)> = events
        .iter()
        .filter(|e| {
            e.type_.as_deref().unwrap_or("Warning") == "Warning"
                && e.involved_object
                    .name
                    .as_ref()
                    .is_some_and(|n| watched.contains(n))
        })
        .filter_map(|e| last_seen(e).map(|t| (e, t)))
        .filter(|(_, t)| super::secs_since(t, now) <= window.as_secs())
        .collect();
    recent.sort_by_key(|r| std::cmp::Reverse(r.1));
    let span = human_age(window.as_secs());
    if recent.is_empty() {
        return Finding::ok(
            "kubernetes.events",
            format!("No Warning events for these objects in the last {span}"),
        );
    }
    let mut reasons: Vec<String> = Vec::new();
    for (e, _) in &recent {
        let r = e.reason.clone().unwrap_or_else(|| "?".into());
        if !reasons.contains(&r) {
            reasons.push(r);
        }
    }
    let mut f = Finding::warn(
        "kubernetes.events",
        format!(
            "{} Warning event{} in the last {span}: {}",
            recent.len(),
            if recent.len() == 1 { "" } else { "s" },
            reasons.join(", ")
        ),
    )
    .at_opt(super::to_offset(&recent[0].1));
    for (e, t) in recent.iter().take(SHOWN) {
        let n = count(e);
        let times = if n > 1 {
            format!(" ×{n}")
        } else {
            String::new()
        };
        let when = super::to_offset(t).map(utc_clock).unwrap_or_default();
        f = f.with_detail(format!(
            "{when} {}{times} {}/{}: {}",
            e.reason.as_deref().unwrap_or("?"),
            e.involved_object
                .kind
                .as_deref()
                .unwrap_or("?")
                .to_lowercase(),
            e.involved_object.name.as_deref().unwrap_or("?"),
            e.message.as_deref().unwrap_or("").trim()
        ));
    }
    if recent.len() > SHOWN {
        f = f.with_detail(format!("… and {} older", recent.len() - SHOWN));
    }
    f
}

/// The events check: the shared read, kept to the target's objects.
pub fn check(
    session: &Session,
    target: &KubernetesTarget,
    read: Warnings,
    now: OffsetDateTime,
) -> Vec<Finding> {
    match read {
        Ok(events) => vec![findings(
            &events,
            &watched(session),
            target.events_window,
            now,
        )],
        Err(Some(trouble)) => {
            let mut f = trouble.finding("kubernetes.events", &target.namespace);
            // Events are context, not the outage: a refusal to read them is
            // a warning (the pods were read).
            f.status = f.status.min(crate::model::report::Status::Warn);
            vec![f]
        }
        Err(None) => Vec::new(),
    }
}
