//! Purpose: `kubectl rollout status deployment/api` and `kubectl rollout
//! history`, read the way Tutorial 08 reads a bad deploy: desired,
//! updated, ready and available replicas at the current revision, and a
//! rollout that stopped — the Deployment's own verdict (`Progressing`
//! false with `ProgressDeadlineExceeded`), or fewer updated replicas than
//! desired with no progress for `stuck_after`.
//!
//! A Deployment's current revision also says when it rolled out (its
//! ReplicaSet's creation) and with which images: a crash loop that began
//! minutes after it is the deploy's (`kubernetes.revision`, a deploy on
//! the incident's timeline).
//!
//! Pure readings of the workload read by the session and of its
//! ReplicaSets; a selector-only target has no rollout to report.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use kube::Api;
use kube::api::ListParams;
use time::OffsetDateTime;

use super::connect::{Session, Workload, classify, selector_text};
use super::{KubernetesTarget, secs_since, to_offset};
use crate::format::{human_age, utc_clock};
use crate::model::report::{Finding, Status};

/// The annotation the Deployment controller keeps the revision in.
pub const REVISION: &str = "deployment.kubernetes.io/revision";

/// The rollout findings for the session's workload, if it has one: its
/// status, and for a Deployment when its current revision rolled out.
pub async fn check(
    session: &Session,
    target: &KubernetesTarget,
    now: OffsetDateTime,
) -> Vec<Finding> {
    match &session.workload {
        Some(Workload::Deployment(d)) => {
            let mut out = vec![deployment(d, target.stuck_after.as_secs(), now)];
            let selector = d
                .spec
                .as_ref()
                .and_then(|s| selector_text(&s.selector))
                .unwrap_or_default();
            let api: Api<ReplicaSet> = Api::namespaced(session.client.clone(), &session.namespace);
            match api.list(&ListParams::default().labels(&selector)).await {
                Ok(list) => out.extend(revision(d, &list.items, now)),
                Err(e) => {
                    let t = classify(
                        e,
                        &session.server,
                        "read",
                        "replicasets",
                        || "replicasets".into(),
                        session.limit,
                    );
                    let mut f = t.finding("kubernetes.revision", &session.namespace);
                    // History is context: a refusal to read it is a warning.
                    f.status = f.status.min(Status::Warn);
                    out.push(f);
                }
            }
            out
        }
        Some(Workload::StatefulSet(s)) => vec![statefulset(s)],
        None => Vec::new(),
    }
}

/// When the Deployment's current revision rolled out: its ReplicaSet's
/// creation, with the images it runs. `None` when no owned ReplicaSet
/// carries the revision (the controller has not caught up).
pub fn revision(d: &Deployment, sets: &[ReplicaSet], now: OffsetDateTime) -> Option<Finding> {
    let current = revision_of(&d.metadata)?;
    let uid = d.metadata.uid.as_ref();
    let rs = sets.iter().find(|rs| {
        revision_of(&rs.metadata) == Some(current)
            && rs
                .metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| Some(&o.uid) == uid)
    })?;
    let created = rs.metadata.creation_timestamp.as_ref()?;
    let at = to_offset(&created.0)?;
    let name = d.metadata.name.as_deref().unwrap_or("?");
    let images: Vec<String> = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.spec.as_ref())
        .map(|s| {
            s.containers
                .iter()
                .map(|c| format!("{}={}", c.name, c.image.as_deref().unwrap_or("?")))
                .collect()
        })
        .unwrap_or_default();
    Some(
        Finding::ok(
            "kubernetes.revision",
            format!(
                "deployment {name} revision {current} ({}) rolled out at {} ({} ago)",
                images.join(", "),
                utc_clock(at),
                human_age(secs_since(&created.0, now))
            ),
        )
        .at(at),
    )
}

/// The revision a Deployment (or ReplicaSet) carries, when it has one.
pub fn revision_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<i64> {
    meta.annotations.as_ref()?.get(REVISION)?.parse().ok()
}

/// Desired, updated, ready and available replicas of a Deployment, as
/// numbers (absent counts are 0, as `kubectl` shows them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// `spec.replicas` (1 when unset).
    pub desired: i32,
    /// `status.updatedReplicas`.
    pub updated: i32,
    /// `status.readyReplicas`.
    pub ready: i32,
    /// `status.availableReplicas`.
    pub available: i32,
}

impl Counts {
    /// The counts of `d`.
    pub fn of(d: &Deployment) -> Counts {
        let s = d.status.clone().unwrap_or_default();
        Counts {
            desired: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            updated: s.updated_replicas.unwrap_or(0),
            ready: s.ready_replicas.unwrap_or(0),
            available: s.available_replicas.unwrap_or(0),
        }
    }

    /// "1/3 updated, 1/3 ready, 1/3 available".
    pub fn words(&self) -> String {
        let d = self.desired;
        format!(
            "{}/{d} updated, {}/{d} ready, {}/{d} available",
            self.updated, self.ready, self.available
        )
    }
}

/// The Deployment's rollout, read against `stuck_after` seconds.
pub fn deployment(d: &Deployment, stuck_after: u64, now: OffsetDateTime) -> Finding {
    let name = d.metadata.name.as_deref().unwrap_or("?");
    let ns = d.metadata.namespace.as_deref().unwrap_or("default");
    let counts = Counts::of(d);
    let revision = revision_of(&d.metadata)
        .map(|r| format!(" revision {r}"))
        .unwrap_or_default();
    let head = format!("deployment {name}{revision}");
    let conditions = d
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let progressing = conditions.iter().find(|c| c.type_ == "Progressing");
    let since_progress = progressing
        .and_then(|c| c.last_update_time.as_ref())
        .map(|t| secs_since(&t.0, now));
    let at = progressing
        .and_then(|c| c.last_update_time.as_ref())
        .and_then(|t| to_offset(&t.0));
    let undo = format!(
        "To go back: kubectl rollout undo -n {ns} deployment/{name}; to watch: kubectl rollout status -n {ns} deployment/{name}"
    );
    let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);

    if let Some(c) = progressing
        .filter(|c| c.status == "False" && c.reason.as_deref() == Some("ProgressDeadlineExceeded"))
    {
        let mut f = Finding::critical(
            "kubernetes.rollout",
            format!(
                "Rollout of {head} is stuck (ProgressDeadlineExceeded): {}",
                counts.words()
            ),
        )
        .at_opt(at)
        .with_detail(undo);
        if let Some(m) = &c.message {
            f = f.with_evidence(m.clone());
        }
        return f;
    }
    if paused {
        return Finding::warn(
            "kubernetes.rollout",
            format!("Rollout of {head} is paused: {}", counts.words()),
        )
        .with_detail(format!(
            "kubectl rollout resume -n {ns} deployment/{name} continues it."
        ));
    }
    if counts.updated < counts.desired {
        if let Some(secs) = since_progress.filter(|&s| s >= stuck_after) {
            return Finding::critical(
                "kubernetes.rollout",
                format!(
                    "Rollout of {head} is stuck: no progress for {}, {}",
                    human_age(secs),
                    counts.words()
                ),
            )
            .at_opt(at)
            .with_detail("New pods do not become available: their containers' state and the Warning events say why.")
            .with_detail(undo);
        }
        return Finding::warn(
            "kubernetes.rollout",
            format!("Rollout of {head} in progress: {}", counts.words()),
        )
        .at_opt(at);
    }
    let status = if counts.available == 0 && counts.desired > 0 {
        Status::Critical
    } else if counts.available < counts.desired {
        Status::Warn
    } else {
        Status::Ok
    };
    Finding::new(
        "kubernetes.rollout",
        status,
        format!("{head}: {}", counts.words()),
    )
}

/// The StatefulSet's rollout: its current and update revisions, ready
/// replicas.
pub fn statefulset(s: &StatefulSet) -> Finding {
    let name = s.metadata.name.as_deref().unwrap_or("?");
    let ns = s.metadata.namespace.as_deref().unwrap_or("default");
    let desired = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let st = s.status.clone().unwrap_or_default();
    let ready = st.ready_replicas.unwrap_or(0);
    let updated = st.updated_replicas.unwrap_or(0);
    let counts = format!("{updated}/{desired} updated, {ready}/{desired} ready");
    let rolling = match (&st.current_revision, &st.update_revision) {
        (Some(c), Some(u)) => c != u,
        _ => false,
    };
    let revision = st
        .update_revision
        .as_deref()
        .map(|r| format!(" revision {r}"))
        .unwrap_or_default();
    if rolling {
        return Finding::warn(
            "kubernetes.rollout",
            format!("Rollout of statefulset {name} to{revision} in progress: {counts}"),
        )
        .with_detail(format!(
            "To watch: kubectl rollout status -n {ns} statefulset/{name}"
        ));
    }
    let status = if ready == 0 && desired > 0 {
        Status::Critical
    } else if ready < desired {
        Status::Warn
    } else {
        Status::Ok
    };
    Finding::new(
        "kubernetes.rollout",
        status,
        format!("statefulset {name}{revision}: {counts}"),
    )
}
