//! Purpose: the Troubleshooting Guide's two Kubernetes remediations, done
//! the way kubectl does them so that `kubectl rollout history` reads the
//! same afterwards:
//!
//! - `kubernetes.rollout_restart` is `kubectl rollout restart`: a
//!   strategic merge patch of the pod template's
//!   `kubectl.kubernetes.io/restartedAt` annotation, which makes the
//!   controller replace every pod, one by one.
//! - `kubernetes.rollback` is `kubectl rollout undo`: the ReplicaSet with
//!   the previous `deployment.kubernetes.io/revision` gives its pod
//!   template back to the Deployment, in one JSON patch replacing
//!   `/spec/template` and `/metadata/annotations` (kubectl's
//!   `getDeploymentPatch`, with its list of annotations kept).
//!
//! Each reads the workload again before it acts (a paused Deployment, no
//! previous revision, a template that already matches: nothing is sent),
//! and its outcome shows the revision and the replica counts before and
//! after.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

use super::exec::Outcome;
use crate::diagnostics::kubernetes::connect::{self, Trouble, classify};
use crate::diagnostics::kubernetes::rollout::{Counts, REVISION, revision_of};
use crate::diagnostics::kubernetes::{KubernetesTarget, WorkloadKind};

/// The annotation `kubectl rollout restart` sets on the pod template.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// The label the Deployment controller adds to a ReplicaSet's template;
/// never copied back into the Deployment.
const HASH_LABEL: &str = "pod-template-hash";

/// Deployment annotations a rollback keeps rather than copying from the
/// ReplicaSet (kubectl's `annotationsToSkip`).
const KEPT_ANNOTATIONS: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

/// The field manager medic's patches are recorded under.
const FIELD_MANAGER: &str = "medic";

/// How long to wait, at most, for the controller to take up the change
/// before reading "after".
const SETTLE: Duration = Duration::from_secs(10);

/// Which built-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `kubectl rollout restart`.
    RolloutRestart,
    /// `kubectl rollout undo`.
    Rollback,
}

impl Op {
    /// The kind as written in config.
    pub fn kind(self) -> &'static str {
        match self {
            Op::RolloutRestart => "kubernetes.rollout_restart",
            Op::Rollback => "kubernetes.rollback",
        }
    }

    /// The checks whose trouble offers it by default: the pods (ready
    /// counts) for a restart; the rollout too for a rollback.
    pub fn offered_when(self) -> &'static [&'static str] {
        match self {
            Op::RolloutRestart => &["kubernetes.pods"],
            Op::Rollback => &["kubernetes.rollout", "kubernetes.pods"],
        }
    }

    /// Whether it can act on `target`; why not, in config's words.
    pub fn fits(self, target: &KubernetesTarget) -> Result<(), String> {
        match (self, target.workload()) {
            (Op::RolloutRestart, Some(_)) => Ok(()),
            (Op::Rollback, Some((WorkloadKind::Deployment, _))) => Ok(()),
            (Op::Rollback, Some((WorkloadKind::StatefulSet, _))) => Err(
                "kubernetes.rollback rolls back a Deployment; this target names a StatefulSet"
                    .into(),
            ),
            (_, None) => Err(format!(
                "{} acts on the target's workload; the target names none (set deployment = \"…\")",
                self.kind()
            )),
        }
    }
}

fn failed(started: Instant, status: String) -> Outcome {
    Outcome {
        success: false,
        status,
        output: String::new(),
        duration: started.elapsed(),
    }
}

/// Runs `op` on `target`'s workload within `timeout`.
pub async fn run(op: Op, target: &KubernetesTarget, timeout: Duration) -> Outcome {
    let started = Instant::now();
    if let Err(e) = op.fits(target) {
        return failed(started, format!("refused: {e}"));
    }
    match tokio::time::timeout(timeout, run_now(op, target, timeout, started)).await {
        Ok(outcome) => outcome,
        Err(_) => failed(started, "timed out".into()),
    }
}

async fn run_now(
    op: Op,
    target: &KubernetesTarget,
    timeout: Duration,
    started: Instant,
) -> Outcome {
    let (client, server) = match connect::client(target).await {
        Ok(c) => c,
        Err(t) => return failed(started, t.to_string()),
    };
    let ns = target.namespace.as_str();
    let say = |t: Trouble| failed(started, t.finding("", ns).summary);
    let result = match (op, target.workload()) {
        (Op::RolloutRestart, Some((WorkloadKind::Deployment, name))) => {
            restart_deployment(&client, &server, ns, name, timeout).await
        }
        (Op::RolloutRestart, Some((WorkloadKind::StatefulSet, name))) => {
            restart_statefulset(&client, &server, ns, name, timeout).await
        }
        (Op::Rollback, Some((WorkloadKind::Deployment, name))) => {
            rollback(&client, &server, ns, name, timeout).await
        }
        (Op::Rollback, Some((WorkloadKind::StatefulSet, _))) | (_, None) => {
            unreachable!("checked by fits")
        }
    };
    match result {
        Ok(Done::Changed {
            status,
            before,
            after,
        }) => Outcome {
            success: true,
            status,
            output: format!("Before: {before}\nAfter: {after}"),
            duration: started.elapsed(),
        },
        Ok(Done::Refused(why)) => failed(started, format!("not run: {why}")),
        Err(t) => say(t),
    }
}

/// What an action did.
enum Done {
    /// It patched; its outcome line, and the workload before and after.
    Changed {
        status: String,
        before: String,
        after: String,
    },
    /// The re-check found it must not run.
    Refused(String),
}

fn deployment_state(d: &Deployment) -> String {
    let revision = revision_of(&d.metadata)
        .map(|r| format!("revision {r}"))
        .unwrap_or_else(|| "no revision yet".into());
    format!("{revision}, {}", Counts::of(d).words())
}

fn images(t: Option<&PodTemplateSpec>) -> String {
    let list: Vec<String> = t
        .and_then(|t| t.spec.as_ref())
        .map(|s| {
            s.containers
                .iter()
                .map(|c| format!("{}={}", c.name, c.image.as_deref().unwrap_or("?")))
                .collect()
        })
        .unwrap_or_default();
    list.join(", ")
}

/// Reads the Deployment until its controller has seen the latest change
/// (`observedGeneration` caught up), or [`SETTLE`] (within `timeout`) has
/// passed; the last read either way.
async fn settled_deployment(
    api: &Api<Deployment>,
    name: &str,
    timeout: Duration,
) -> Option<Deployment> {
    let deadline = Instant::now() + SETTLE.min(timeout / 2);
    loop {
        let d = api.get(name).await.ok()?;
        let generation = d.metadata.generation.unwrap_or(0);
        let observed = d
            .status
            .as_ref()
            .and_then(|s| s.observed_generation)
            .unwrap_or(0);
        if observed >= generation || Instant::now() >= deadline {
            return Some(d);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn restart_patch() -> serde_json::Value {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    let at = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at}}}}})
}

fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}

async fn restart_deployment(
    client: &Client,
    server: &str,
    ns: &str,
    name: &str,
    timeout: Duration,
) -> Result<Done, Trouble> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let what = || format!("deployment {name}");
    let d = api
        .get(name)
        .await
        .map_err(|e| classify(e, server, "read", "deployments", what, timeout))?;
    if d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false) {
        return Ok(Done::Refused(format!(
            "deployment {name} is paused: a restart would not roll out (kubectl rollout resume deployment/{name} first)"
        )));
    }
    let before = deployment_state(&d);
    api.patch(name, &patch_params(), &Patch::Strategic(restart_patch()))
        .await
        .map_err(|e| classify(e, server, "patch", "deployments", what, timeout))?;
    let after = settled_deployment(&api, name, timeout)
        .await
        .map(|d| deployment_state(&d))
        .unwrap_or_else(|| "could not be read back".into());
    Ok(Done::Changed {
        status: format!("restarted deployment {name} in {ns}"),
        before,
        after: format!(
            "{after} (the pods are replaced one by one: kubectl rollout status -n {ns} deployment/{name})"
        ),
    })
}

fn statefulset_state(s: &StatefulSet) -> String {
    let desired = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let st = s.status.clone().unwrap_or_default();
    format!(
        "revision {}, {}/{desired} updated, {}/{desired} ready",
        st.update_revision.as_deref().unwrap_or("?"),
        st.updated_replicas.unwrap_or(0),
        st.ready_replicas.unwrap_or(0)
    )
}

async fn restart_statefulset(
    client: &Client,
    server: &str,
    ns: &str,
    name: &str,
    timeout: Duration,
) -> Result<Done, Trouble> {
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    let what = || format!("statefulset {name}");
    let s = api
        .get(name)
        .await
        .map_err(|e| classify(e, server, "read", "statefulsets", what, timeout))?;
    let before = statefulset_state(&s);
    let patched = api
        .patch(name, &patch_params(), &Patch::Strategic(restart_patch()))
        .await
        .map_err(|e| classify(e, server, "patch", "statefulsets", what, timeout))?;
    Ok(Done::Changed {
        status: format!("restarted statefulset {name} in {ns}"),
        before,
        after: format!(
            "{} (the pods are replaced in order: kubectl rollout status -n {ns} statefulset/{name})",
            statefulset_state(&patched)
        ),
    })
}

/// The owned ReplicaSets of `d`, by revision, newest first.
fn by_revision(d: &Deployment, sets: Vec<ReplicaSet>) -> Vec<(i64, ReplicaSet)> {
    let uid = d.metadata.uid.clone();
    let mut owned: Vec<(i64, ReplicaSet)> = sets
        .into_iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.controller == Some(true) && Some(&o.uid) == uid.as_ref())
        })
        .filter_map(|rs| revision_of(&rs.metadata).map(|r| (r, rs)))
        .collect();
    owned.sort_by_key(|o| std::cmp::Reverse(o.0));
    owned
}

/// A template without the controller's hash label, to compare and to
/// give back.
fn without_hash(t: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = t.clone();
    if let Some(meta) = t.metadata.as_mut()
        && let Some(labels) = meta.labels.as_mut()
    {
        labels.remove(HASH_LABEL);
    }
    t
}

/// kubectl's annotations for a rollback: the Deployment's own for the
/// kept keys, the ReplicaSet's for the rest.
fn rollback_annotations(d: &Deployment, rs: &ReplicaSet) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if KEPT_ANNOTATIONS.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    for (k, v) in rs.metadata.annotations.iter().flatten() {
        if !KEPT_ANNOTATIONS.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

async fn rollback(
    client: &Client,
    server: &str,
    ns: &str,
    name: &str,
    timeout: Duration,
) -> Result<Done, Trouble> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let what = || format!("deployment {name}");
    let d = api
        .get(name)
        .await
        .map_err(|e| classify(e, server, "read", "deployments", what, timeout))?;
    if d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false) {
        return Ok(Done::Refused(format!(
            "deployment {name} is paused: kubectl rollout resume deployment/{name} first"
        )));
    }
    let selector = d
        .spec
        .as_ref()
        .and_then(|s| connect::selector_text(&s.selector))
        .unwrap_or_default();
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
    let owned = sets
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| {
            classify(
                e,
                server,
                "read",
                "replicasets",
                || "replicasets".into(),
                timeout,
            )
        })?
        .items;
    let history = by_revision(&d, owned);
    let Some((revision, previous)) = history.get(1) else {
        return Ok(Done::Refused(format!(
            "no rollout history found for deployment {name}: no earlier ReplicaSet to go back to"
        )));
    };
    let Some(template) = previous.spec.as_ref().and_then(|s| s.template.as_ref()) else {
        return Ok(Done::Refused(format!(
            "the ReplicaSet of revision {revision} has no pod template"
        )));
    };
    let template = without_hash(template);
    let current = d.spec.as_ref().map(|s| without_hash(&s.template));
    if current.as_ref() == Some(&template) {
        return Ok(Done::Refused(format!(
            "the current template already matches revision {revision}"
        )));
    }
    let before = format!(
        "{} ({})",
        deployment_state(&d),
        images(d.spec.as_ref().map(|s| &s.template))
    );
    let ops = json!([
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": rollback_annotations(&d, previous)},
    ]);
    let request = http::Request::builder()
        .method(http::Method::PATCH)
        .uri(format!(
            "/apis/apps/v1/namespaces/{ns}/deployments/{name}?fieldManager={FIELD_MANAGER}"
        ))
        .header(http::header::CONTENT_TYPE, "application/json-patch+json")
        .header(http::header::ACCEPT, "application/json")
        .body(serde_json::to_vec(&ops).unwrap_or_default())
        .map_err(|e| Trouble::Other {
            server: server.to_string(),
            message: e.to_string(),
        })?;
    client
        .request::<Deployment>(request)
        .await
        .map_err(|e| classify(e, server, "patch", "deployments", what, timeout))?;
    let after = settled_deployment(&api, name, timeout)
        .await
        .map(|a| {
            format!(
                "{} ({})",
                deployment_state(&a),
                images(a.spec.as_ref().map(|s| &s.template))
            )
        })
        .unwrap_or_else(|| "could not be read back".into());
    Ok(Done::Changed {
        status: format!(
            "rolled deployment {name} in {ns} back to the template of revision {revision}"
        ),
        before,
        after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(toml: &str) -> KubernetesTarget {
        toml::from_str(&format!(
            "namespace = \"shop\"\nkubeconfig = \"/k\"\n{toml}"
        ))
        .unwrap()
    }

    #[test]
    fn each_op_fits_the_workloads_kubectl_does_it_on() {
        let d = target("deployment = \"api\"");
        let s = target("statefulset = \"db\"");
        let sel = target("selector = \"app=api\"");
        assert!(Op::RolloutRestart.fits(&d).is_ok());
        assert!(Op::RolloutRestart.fits(&s).is_ok());
        assert!(Op::Rollback.fits(&d).is_ok());
        assert!(Op::Rollback.fits(&s).unwrap_err().contains("StatefulSet"));
        assert!(
            Op::Rollback
                .fits(&sel)
                .unwrap_err()
                .contains("set deployment")
        );
    }

    #[test]
    fn a_rollback_keeps_the_deployments_bookkeeping_and_takes_the_rest() {
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "api", "annotations": {
                REVISION: "5",
                "kubectl.kubernetes.io/last-applied-configuration": "{…}",
                "team": "shop"
            }}
        }))
        .unwrap();
        let rs: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "api-4", "annotations": {
                REVISION: "4",
                "deployment.kubernetes.io/desired-replicas": "3",
                "kubernetes.io/change-cause": "deploy 2.4.0"
            }}
        }))
        .unwrap();
        let a = rollback_annotations(&d, &rs);
        assert_eq!(a.get(REVISION).map(String::as_str), Some("5"));
        assert_eq!(
            a.get("kubernetes.io/change-cause").map(String::as_str),
            Some("deploy 2.4.0")
        );
        assert!(a.contains_key("kubectl.kubernetes.io/last-applied-configuration"));
        assert!(!a.contains_key("team"), "kubectl replaces the map: {a:?}");
        assert!(!a.contains_key("deployment.kubernetes.io/desired-replicas"));
    }
}
