//! Purpose: what an on-call engineer types for a pod that pages —
//! `kubectl get pods -l app=api`, `kubectl describe pod`, `kubectl logs
//! --previous`, `kubectl get events --sort-by=.lastTimestamp`, `kubectl
//! rollout status deployment/api` — done in one go and read the way the
//! Troubleshooting Guide reads them: CrashLoopBackOff → the previous run's
//! last error; ImagePullBackOff → the image and the pull error; OOMKilled →
//! the memory limit (exit 137); a rollout that stopped progressing.
//!
//! # Layout
//!
//! [`connect`] builds the client (a kubeconfig and its context, or the
//! in-cluster service account), reads the workload and its pods once per
//! run, and turns API failures into findings (an unreachable server, a
//! 403 naming the Role medic needs). Each check is a file with a pure
//! reading function tested against objects in the API reference's shape,
//! and a thin async shell: [`pods`] (phase, container states and reasons,
//! restarts, readiness, with requests and limits next to the reason),
//! [`logs`] (the previous container's last lines for a crashed one),
//! [`events`] (the namespace's recent Warning events for those objects),
//! [`rollout`] (desired / updated / available, a stuck rollout).
//!
//! The selection is plain data (`pods`, a list of names) so that an
//! incident whose alert names one pod can run a narrowed copy of the
//! target.

pub mod connect;
pub mod events;
pub mod logs;
pub mod pods;
pub mod rollout;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use time::OffsetDateTime;

use self::connect::{Session, SharedSession};
use super::{Check, Diagnostic};
use crate::model::report::Finding;
use crate::redact::Redactor;

/// Where a pod's service account finds its token when medic runs in the
/// cluster; its content is a secret like a kubeconfig's token.
pub const IN_CLUSTER_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// The variable the kubelet sets in every pod; without it there is no
/// in-cluster configuration to fall back on.
pub const IN_CLUSTER_ENV: &str = "KUBERNETES_SERVICE_HOST";

/// `[targets.NAME] kind = "kubernetes"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesTarget {
    /// A kubeconfig file; without it, the in-cluster service account.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig's context (default: its current-context).
    #[serde(default)]
    pub context: Option<String>,
    /// The namespace of the workload (required: the Role is per namespace).
    pub namespace: String,
    /// A label selector (`app=api`), as `kubectl get pods -l` takes it.
    #[serde(default)]
    pub selector: Option<String>,
    /// A Deployment: its pods (by its selector) and its rollout.
    #[serde(default)]
    pub deployment: Option<String>,
    /// A StatefulSet: its pods and its rollout.
    #[serde(default)]
    pub statefulset: Option<String>,
    /// Only these pods, by name (an incident's alert names one).
    #[serde(default)]
    pub pods: Vec<String>,
    /// Lines of a crashed container's previous log to read (default 20).
    #[serde(default = "default_log_lines")]
    pub log_lines: u32,
    /// How far back Warning events count (default 1 h).
    #[serde(
        default = "default_events_window",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub events_window: Duration,
    /// A rollout with fewer updated than desired replicas and no progress
    /// for this long is stuck, even before its progress deadline (default
    /// 10 min).
    #[serde(
        default = "default_stuck_after",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub stuck_after: Duration,
    /// How long the TCP connect to the API server may take (default 2 s).
    #[serde(
        default = "default_connect_timeout",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub connect_timeout: Duration,
    /// The most each check may take (default 5 s); checks run at once.
    #[serde(
        default = "crate::diagnostics::default_timeout",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub timeout: Duration,
}

fn default_log_lines() -> u32 {
    20
}

fn default_events_window() -> Duration {
    Duration::from_secs(3600)
}

fn default_stuck_after() -> Duration {
    Duration::from_secs(600)
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(2)
}

/// The most previous-log lines a target may ask for: a chat thread shows
/// a tail, not a log.
pub const MAX_LOG_LINES: u32 = 200;

/// What the target watches, as `kubectl` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    /// `deployment/NAME`.
    Deployment,
    /// `statefulset/NAME`.
    StatefulSet,
}

impl WorkloadKind {
    /// The word `kubectl` uses (`deployment`, `statefulset`).
    pub fn word(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployment",
            WorkloadKind::StatefulSet => "statefulset",
        }
    }
}

impl KubernetesTarget {
    /// This target narrowed to the pod an incident's alert names
    /// (kube-state-metrics' `namespace` and `pod` labels, as
    /// `KubePodCrashLooping` carries them), so the run reads that pod's
    /// previous log and events. Only a pod surely the target's: one it
    /// lists, or, in its namespace, one named as its Deployment's pods are
    /// (`api-7d9c5b-x2k4p`) or its StatefulSet's (`db-0`). `None`
    /// otherwise, or when the target is that one pod already.
    pub fn focused(&self, alert: &crate::model::alert::Alert) -> Option<Self> {
        if alert.label("namespace") != Some(self.namespace.as_str()) {
            return None;
        }
        let pod = alert.label("pod")?;
        let after = |owner: &Option<String>| {
            owner
                .as_deref()
                .and_then(|o| pod.strip_prefix(o)?.strip_prefix('-'))
        };
        let ours = if self.pods.is_empty() {
            after(&self.deployment).is_some_and(|rest| rest.split('-').count() == 2)
                || after(&self.statefulset).is_some_and(|rest| {
                    !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())
                })
        } else {
            self.pods.len() > 1 && self.pods.iter().any(|p| p == pod)
        };
        ours.then(|| KubernetesTarget {
            pods: vec![pod.to_string()],
            ..self.clone()
        })
    }

    /// The named workload, when the target names one.
    pub fn workload(&self) -> Option<(WorkloadKind, &str)> {
        match (&self.deployment, &self.statefulset) {
            (Some(d), _) => Some((WorkloadKind::Deployment, d.as_str())),
            (None, Some(s)) => Some((WorkloadKind::StatefulSet, s.as_str())),
            (None, None) => None,
        }
    }

    /// What the target selects, in words: "deployment api", "pods app=api",
    /// "pod api-7d9c-x".
    pub fn selection(&self) -> String {
        if !self.pods.is_empty() {
            let noun = if self.pods.len() == 1 { "pod" } else { "pods" };
            return format!("{noun} {}", self.pods.join(", "));
        }
        match (self.workload(), &self.selector) {
            (Some((kind, name)), _) => format!("{} {name}", kind.word()),
            (None, Some(s)) => format!("pods {s}"),
            (None, None) => "no pods".into(),
        }
    }

    /// Checks what serde cannot: one way of selecting pods, a namespace, a
    /// kubeconfig that reads and has the context, or the in-cluster
    /// environment when there is no kubeconfig.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !valid_name(&self.namespace) {
            return Err((
                "namespace",
                format!(
                    "`{}` is not a namespace name (lowercase letters, digits and -)",
                    self.namespace
                ),
            ));
        }
        let named = [
            ("selector", self.selector.is_some()),
            ("deployment", self.deployment.is_some()),
            ("statefulset", self.statefulset.is_some()),
        ];
        let set: Vec<&str> = named.iter().filter(|(_, s)| *s).map(|(k, _)| *k).collect();
        if set.len() > 1 {
            return Err((
                set[1],
                format!(
                    "set one of selector, deployment or statefulset, not {}",
                    set.join(" and ")
                ),
            ));
        }
        if set.is_empty() && self.pods.is_empty() {
            return Err((
                "selector",
                "missing: which pods to check (selector = \"app=api\", deployment = \"api\", statefulset = \"db\" or pods = [\"…\"])".into(),
            ));
        }
        for (key, value) in [
            ("deployment", &self.deployment),
            ("statefulset", &self.statefulset),
        ] {
            if let Some(v) = value
                && !valid_name(v)
            {
                return Err((key, format!("`{v}` is not a Kubernetes object name")));
            }
        }
        if let Some(s) = &self.selector
            && s.trim().is_empty()
        {
            return Err(("selector", "is empty: write app=api".into()));
        }
        for p in &self.pods {
            if !valid_name(p) {
                return Err(("pods", format!("`{p}` is not a pod name")));
            }
        }
        if self.log_lines == 0 || self.log_lines > MAX_LOG_LINES {
            return Err(("log_lines", format!("must be 1 to {MAX_LOG_LINES}")));
        }
        for (key, value) in [
            ("timeout", self.timeout),
            ("connect_timeout", self.connect_timeout),
            ("events_window", self.events_window),
            ("stuck_after", self.stuck_after),
        ] {
            if value.is_zero() {
                return Err((key, "must be longer than 0, like 5s".into()));
            }
        }
        match &self.kubeconfig {
            Some(path) => {
                let config = connect::read_kubeconfig(path).map_err(|e| ("kubeconfig", e))?;
                connect::pick_context(&config, self.context.as_deref())
                    .map(|_| ())
                    .map_err(|e| ("context", e))
            }
            None if self.context.is_some() => Err((
                "context",
                "only means something with kubeconfig = \"/path\"".into(),
            )),
            None if std::env::var_os(IN_CLUSTER_ENV).is_none() => Err((
                "kubeconfig",
                format!(
                    "missing: medic is not running in a cluster ({IN_CLUSTER_ENV} is not set), so it needs kubeconfig = \"/path\""
                ),
            )),
            None => Ok(()),
        }
    }

    /// The API server's URL, free of credentials, as the kubeconfig (or
    /// the in-cluster environment) names it.
    pub fn server(&self) -> Result<String, String> {
        match &self.kubeconfig {
            Some(path) => {
                let config = connect::read_kubeconfig(path)?;
                connect::server_of(&config, self.context.as_deref())
            }
            None => {
                let host = std::env::var(IN_CLUSTER_ENV)
                    .map_err(|_| format!("{IN_CLUSTER_ENV} is not set"))?;
                let port =
                    std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host
                };
                Ok(format!("https://{host}:{port}"))
            }
        }
    }

    /// Every check as of `now`, sharing one session: the API check reports
    /// reaching the server and reading the pods; the others say nothing
    /// when there is no session (that outage is one finding, not five).
    pub fn checks_at(&self, now: OffsetDateTime) -> Vec<Check> {
        let session = connect::open(self);
        let warnings = events::warnings(&session);
        let target = Arc::new(self.clone());
        vec![
            Check::new("kubernetes.api", "Reading the pods from the API server", {
                let session = session.clone();
                let target = target.clone();
                async move {
                    let opened = session.await;
                    let mut findings = opened.findings.as_ref().clone();
                    if let Some(s) = &opened.session {
                        findings.push(pods::summary(&target, s.workload.as_ref(), &s.pods));
                    }
                    findings
                }
            })
            .critical_when_silent()
            .silence_hint("An API server that accepts connections and never answers (overloaded, or a proxy in the way) looks like this."),
            session_check(&session, "kubernetes.containers", "Container states", {
                let warnings = warnings.clone();
                move |s| async move {
                    let events = warnings.await.ok();
                    pods::findings(&s.pods, events.as_deref().map(Vec::as_slice), now)
                }
            }),
            session_check(&session, "kubernetes.previous_logs", "Previous logs of crashed containers", {
                let target = target.clone();
                move |s| logs::check(s, target)
            }),
            session_check(&session, "kubernetes.events", "Warning events", {
                let target = target.clone();
                move |s| async move { events::check(&s, &target, warnings.await, now) }
            }),
            session_check(&session, "kubernetes.rollout", "Rollout status", {
                let target = target.clone();
                move |s| async move { rollout::check(&s, &target, now).await }
            }),
        ]
    }
}

/// A check that needs the session; it says nothing when there is none
/// (the API check reports why).
fn session_check<F>(
    session: &SharedSession,
    id: &'static str,
    what: &'static str,
    run: impl FnOnce(Arc<Session>) -> F + Send + 'static,
) -> Check
where
    F: Future<Output = Vec<Finding>> + Send + 'static,
{
    let session = session.clone();
    Check::new(id, what, async move {
        match session.await.session {
            Some(s) => run(s).await,
            None => Vec::new(),
        }
    })
}

/// A DNS-1123 name, as namespaces, Deployments and pods are named.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !name.starts_with(['-', '.'])
        && !name.ends_with(['-', '.'])
}

impl Diagnostic for KubernetesTarget {
    const KIND: &'static str = "kubernetes";

    /// The server and namespace, and the one pod a run was narrowed to
    /// ([`KubernetesTarget::focused`]).
    fn location(&self) -> String {
        let pod = match self.pods.as_slice() {
            [one] => format!("pod {one}, "),
            _ => String::new(),
        };
        match self.server() {
            Ok(server) => format!("{server}, {pod}namespace {}", self.namespace),
            Err(_) => format!("{pod}namespace {}", self.namespace),
        }
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn redactor(&self) -> Redactor {
        connect::secrets(self)
    }

    fn checks(&self) -> Vec<Check> {
        self.checks_at(OffsetDateTime::now_utc())
    }
}

/// A Kubernetes timestamp as the report's time type.
pub(crate) fn to_offset(t: &jiff::Timestamp) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(t.as_nanosecond()).ok()
}

/// How long ago `t` was, in whole seconds (0 for the future).
pub(crate) fn secs_since(t: &jiff::Timestamp, now: OffsetDateTime) -> u64 {
    to_offset(t)
        .map(|t| (now - t).whole_seconds().max(0) as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
