//! Purpose: the one read a run makes — `kubectl get deployment api` for its
//! selector, then `kubectl get pods -l …` (or each pod named) — shared by
//! every check, and the words for what goes wrong on the way: a server
//! that cannot be reached is named; a 403 says which Role medic lacks.
//!
//! The client is built from the target's kubeconfig and context, or from
//! the in-cluster service account. TLS is rustls with ring like the rest
//! of medic (docs/crates.md § kube); a kubeconfig's `http://` server is
//! spoken to in plain HTTP, as kubectl does.

use std::fmt;
use std::io::ErrorKind as IoKind;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use secrecy::ExposeSecret;

use super::{IN_CLUSTER_TOKEN, KubernetesTarget, WorkloadKind};
use crate::format::human_duration;
use crate::model::report::Finding;
use crate::redact::Redactor;

/// The Role medic needs to read a namespace, in the README's words, for a
/// 403's finding.
pub const READ_ROLE: &str = "a Role in the namespace with get, list and watch on pods, pods/log and events (\"\" API group) and on deployments, replicasets and statefulsets (apps), bound to medic's user or service account";

/// What was read once for the run.
pub struct Session {
    /// The client, for the checks' own reads (logs, events).
    pub client: Client,
    /// The API server's URL, for findings.
    pub server: String,
    /// The target's per-check limit, for timeout findings.
    pub limit: Duration,
    /// The namespace.
    pub namespace: String,
    /// The pods selected.
    pub pods: Vec<Pod>,
    /// The named workload, when the target names one.
    pub workload: Option<Workload>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("server", &self.server)
            .field("namespace", &self.namespace)
            .field("pods", &self.pods.len())
            .finish_non_exhaustive()
    }
}

/// A named workload as read.
#[derive(Debug, Clone)]
pub enum Workload {
    /// A Deployment.
    Deployment(Box<Deployment>),
    /// A StatefulSet.
    StatefulSet(Box<StatefulSet>),
}

/// What opening the session gave: its findings (for the API check), and
/// the session when the pods could be read.
#[derive(Clone)]
pub struct Opened {
    /// Reach and missing-pod findings, for the API check to report (it
    /// adds the pods' summary, `pods::summary`, when there is a session).
    pub findings: Arc<Vec<Finding>>,
    /// The session, when the pods were read.
    pub session: Option<Arc<Session>>,
}

/// The session step, started once and awaited by every check.
pub type SharedSession = Shared<BoxFuture<'static, Opened>>;

/// Why a read failed, in the terms the finding uses.
#[derive(Debug, Clone)]
pub enum Trouble {
    /// The kubeconfig (or the in-cluster environment) cannot be used.
    Config(String),
    /// Nothing answered at the server's address.
    Unreachable {
        /// The server's URL.
        server: String,
        /// The OS's words: connection refused, no route, …
        why: String,
    },
    /// The server took longer than allowed.
    TimedOut {
        /// The server's URL.
        server: String,
        /// The limit that passed.
        after: Duration,
    },
    /// 401: the credentials were refused.
    Unauthorized {
        /// The server's URL.
        server: String,
        /// The API's message.
        message: String,
    },
    /// 403: RBAC does not let medic do this.
    Forbidden {
        /// What it tried (`read`, `patch`).
        verb: &'static str,
        /// On what (`pods`, `pods/log`, `events`, `deployments`).
        resource: &'static str,
        /// The API's message.
        message: String,
    },
    /// 404: the object is not there.
    NotFound {
        /// `deployment api`.
        what: String,
    },
    /// Anything else the API or the transport said.
    Other {
        /// The server's URL.
        server: String,
        /// What it said.
        message: String,
    },
}

impl Trouble {
    /// The finding `check` reports for this trouble in `namespace`.
    pub fn finding(&self, check: &str, namespace: &str) -> Finding {
        match self {
            Trouble::Config(why) => {
                Finding::critical(check, format!("Cannot reach the cluster: {why}"))
            }
            Trouble::Unreachable { server, why } => Finding::critical(
                check,
                format!("Kubernetes API server {server} is unreachable: {why}"),
            )
            .with_detail("Is the address in the kubeconfig right, and is the API server (or the network to it) up? By hand: kubectl cluster-info"),
            Trouble::TimedOut { server, after } => Finding::critical(
                check,
                format!(
                    "Kubernetes API server {server} did not answer within {}",
                    human_duration(*after)
                ),
            )
            .with_detail("An overloaded API server, or a firewall dropping packets, looks like this. By hand: kubectl cluster-info"),
            Trouble::Unauthorized { server, message } => Finding::critical(
                check,
                format!("Kubernetes API server {server} refused medic's credentials (401)"),
            )
            .with_detail("The token or client certificate in the kubeconfig is expired or wrong.")
            .with_evidence(message.clone()),
            Trouble::Forbidden {
                verb,
                resource,
                message,
            } => {
                let mut f = Finding::critical(
                    check,
                    format!("medic may not {verb} {resource} in {namespace}"),
                )
                .with_evidence(message.clone());
                if *verb == "read" {
                    f = f.with_detail(format!("It needs {READ_ROLE} (README, \"Kubernetes targets\")."));
                } else {
                    f = f.with_detail(format!(
                        "The action needs `{verb}` on {resource} in {namespace}, on top of the read-only Role (README, \"Kubernetes targets\")."
                    ));
                }
                f
            }
            Trouble::NotFound { what } => {
                Finding::critical(check, format!("No {what} in namespace {namespace}"))
            }
            Trouble::Other { server, message } => Finding::critical(
                check,
                format!("Kubernetes API server {server} answered with an error"),
            )
            .with_evidence(message.clone()),
        }
    }
}

impl fmt::Display for Trouble {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The same words as the finding's summary, namespace aside.
        f.write_str(&self.finding("", "the namespace").summary)
    }
}

/// Reads a kubeconfig file, naming the file in the error.
pub fn read_kubeconfig(path: &Path) -> Result<Kubeconfig, String> {
    Kubeconfig::read_from(path).map_err(|e| match e {
        kube::config::KubeconfigError::ReadConfig(io, _) => {
            format!("cannot read {}: {io}", path.display())
        }
        other => format!("{} is not a usable kubeconfig: {other}", path.display()),
    })
}

/// The context a target uses: the one named, else the current-context.
pub fn pick_context(config: &Kubeconfig, wanted: Option<&str>) -> Result<String, String> {
    let name = match wanted.or(config.current_context.as_deref()) {
        Some(n) => n,
        None => {
            return Err(
                "the kubeconfig has no current-context; name one with context = \"…\"".into(),
            );
        }
    };
    if config.contexts.iter().any(|c| c.name == name) {
        Ok(name.to_string())
    } else {
        let known: Vec<&str> = config.contexts.iter().map(|c| c.name.as_str()).collect();
        Err(format!(
            "no context `{name}` in the kubeconfig (it has: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))
    }
}

/// The server URL of the context, without any user or password.
pub fn server_of(config: &Kubeconfig, wanted: Option<&str>) -> Result<String, String> {
    let name = pick_context(config, wanted)?;
    let cluster_name = config
        .contexts
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
        .ok_or_else(|| format!("context `{name}` is empty"))?;
    let server = config
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .ok_or_else(|| format!("cluster `{cluster_name}` has no server"))?;
    Ok(without_userinfo(&server))
}

fn without_userinfo(server: &str) -> String {
    match url::Url::parse(server) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.as_str().trim_end_matches('/').to_string()
        }
        Err(_) => server.to_string(),
    }
}

/// The secrets a target's kubeconfig (or service account) holds: tokens,
/// passwords and private keys, masked wherever an error might echo them.
pub fn secrets(target: &KubernetesTarget) -> Redactor {
    let mut r = Redactor::new();
    let token_file = |r: &mut Redactor, path: &str| {
        if let Ok(t) = std::fs::read_to_string(path) {
            r.add_secret(t.trim());
        }
    };
    match &target.kubeconfig {
        Some(path) => {
            let Ok(config) = Kubeconfig::read_from(path) else {
                return r;
            };
            for user in config
                .auth_infos
                .iter()
                .filter_map(|u| u.auth_info.as_ref())
            {
                for secret in [&user.token, &user.password, &user.client_key_data]
                    .into_iter()
                    .flatten()
                {
                    r.add_secret(secret.expose_secret());
                }
                if let Some(f) = &user.token_file {
                    token_file(&mut r, f);
                }
            }
        }
        None => token_file(&mut r, IN_CLUSTER_TOKEN),
    }
    r
}

/// The client for `target`, and the server it speaks to. Reads stop
/// short of the check's own limit, so a silent server is reported by the
/// API check as such rather than as every check's silence.
pub async fn client(target: &KubernetesTarget) -> Result<(Client, String), Trouble> {
    let mut config = match &target.kubeconfig {
        Some(path) => {
            let kubeconfig = read_kubeconfig(path).map_err(Trouble::Config)?;
            let context = pick_context(&kubeconfig, target.context.as_deref())
                .map_err(|e| Trouble::Config(format!("{}: {e}", path.display())))?;
            // Only the kubeconfig's own proxy-url: an HTTPS_PROXY meant for
            // the internet must not reroute the cluster's API.
            let proxy = kubeconfig
                .contexts
                .iter()
                .find(|c| c.name == context)
                .and_then(|c| c.context.as_ref())
                .and_then(|c| kubeconfig.clusters.iter().find(|k| k.name == c.cluster))
                .and_then(|k| k.cluster.as_ref())
                .and_then(|k| k.proxy_url.as_deref())
                .and_then(|p| p.parse().ok());
            let options = KubeConfigOptions {
                context: Some(context),
                ..Default::default()
            };
            let mut config = Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| Trouble::Config(format!("{}: {e}", path.display())))?;
            config.proxy_url = proxy;
            config
        }
        None => Config::incluster().map_err(|e| {
            Trouble::Config(format!(
                "no kubeconfig, and the in-cluster configuration fails: {e}"
            ))
        })?,
    };
    let server = without_userinfo(&config.cluster_url.to_string());
    config.connect_timeout = Some(target.connect_timeout.min(target.timeout));
    config.read_timeout = Some(read_budget(target.timeout));
    let client = Client::try_from(config).map_err(|e| Trouble::Config(e.to_string()))?;
    Ok((client, server))
}

/// Most of the check's limit: a read that gets no answer in this time
/// fails with a timeout the check can report, before the check's own
/// bound cuts it short.
fn read_budget(limit: Duration) -> Duration {
    limit.mul_f64(0.8)
}

/// Names a failed call: what kind of trouble, for a resource and a verb.
pub fn classify(
    e: kube::Error,
    server: &str,
    verb: &'static str,
    resource: &'static str,
    what: impl FnOnce() -> String,
    limit: Duration,
) -> Trouble {
    match e {
        kube::Error::Api(status) => match status.code {
            401 => Trouble::Unauthorized {
                server: server.to_string(),
                message: status.message.clone(),
            },
            403 => Trouble::Forbidden {
                verb,
                resource,
                message: status.message.clone(),
            },
            404 => Trouble::NotFound { what: what() },
            code => Trouble::Other {
                server: server.to_string(),
                message: format!("HTTP {code} {}: {}", status.reason, status.message),
            },
        },
        other => transport(&other, server, limit),
    }
}

/// A transport failure, by the innermost I/O error's kind when there is
/// one: refused, timed out, no route, a name that does not resolve.
fn transport(e: &(dyn std::error::Error + 'static), server: &str, limit: Duration) -> Trouble {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut words = Vec::new();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            let why = match io.kind() {
                IoKind::TimedOut => {
                    return Trouble::TimedOut {
                        server: server.to_string(),
                        after: read_budget(limit),
                    };
                }
                IoKind::ConnectionRefused => "connection refused".to_string(),
                IoKind::ConnectionReset => "connection reset".to_string(),
                IoKind::HostUnreachable => "no route to host".to_string(),
                IoKind::NetworkUnreachable => "network unreachable".to_string(),
                _ => io.to_string(),
            };
            return Trouble::Unreachable {
                server: server.to_string(),
                why,
            };
        }
        let text = s.to_string();
        if !words.iter().any(|w: &String| w.contains(&text)) {
            words.push(text);
        }
        source = s.source();
    }
    let message = words.join(": ");
    if message.contains("dns error") || message.contains("failed to lookup address") {
        return Trouble::Unreachable {
            server: server.to_string(),
            why: format!("the name does not resolve ({message})"),
        };
    }
    Trouble::Other {
        server: server.to_string(),
        message,
    }
}

/// Starts (lazily) the one session of a run.
pub fn open(target: &KubernetesTarget) -> SharedSession {
    let target = target.clone();
    async move { open_now(&target).await }.boxed().shared()
}

async fn open_now(target: &KubernetesTarget) -> Opened {
    let ns = target.namespace.as_str();
    let failed = |t: Trouble| Opened {
        findings: Arc::new(vec![t.finding("kubernetes.api", ns)]),
        session: None,
    };
    let (client, server) = match client(target).await {
        Ok(c) => c,
        Err(t) => return failed(t),
    };
    let limit = target.timeout;
    let mut findings = Vec::new();
    let workload = match target.workload() {
        Some((kind, name)) => match read_workload(&client, ns, kind, name).await {
            Ok(w) => Some(w),
            Err(e) => {
                let resource = match kind {
                    WorkloadKind::Deployment => "deployments",
                    WorkloadKind::StatefulSet => "statefulsets",
                };
                return failed(classify(
                    e,
                    &server,
                    "read",
                    resource,
                    || format!("{} {name}", kind.word()),
                    limit,
                ));
            }
        },
        None => None,
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let read = if !target.pods.is_empty() {
        let mut found = Vec::new();
        for name in &target.pods {
            match pods.get_opt(name).await {
                Ok(Some(p)) => found.push(p),
                Ok(None) => findings.push(Finding::warn(
                    "kubernetes.pods",
                    format!("No pod {name} in namespace {ns} (gone, or replaced by a new one)"),
                )),
                Err(e) => {
                    return failed(classify(
                        e,
                        &server,
                        "read",
                        "pods",
                        || format!("pod {name}"),
                        limit,
                    ));
                }
            }
        }
        Ok(found)
    } else {
        let selector = match (&workload, &target.selector) {
            (Some(w), _) => w.selector(),
            (None, Some(s)) => Some(s.clone()),
            (None, None) => None,
        };
        match selector {
            Some(sel) => pods
                .list(&ListParams::default().labels(&sel))
                .await
                .map(|l| l.items),
            None => Ok(Vec::new()),
        }
    };
    let pods = match read {
        Ok(p) => p,
        Err(e) => {
            return failed(classify(
                e,
                &server,
                "read",
                "pods",
                || "pods".into(),
                limit,
            ));
        }
    };
    Opened {
        findings: Arc::new(findings),
        session: Some(Arc::new(Session {
            client,
            server,
            limit,
            namespace: ns.to_string(),
            pods,
            workload,
        })),
    }
}

async fn read_workload(
    client: &Client,
    ns: &str,
    kind: WorkloadKind,
    name: &str,
) -> Result<Workload, kube::Error> {
    Ok(match kind {
        WorkloadKind::Deployment => {
            let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
            Workload::Deployment(Box::new(api.get(name).await?))
        }
        WorkloadKind::StatefulSet => {
            let api: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
            Workload::StatefulSet(Box::new(api.get(name).await?))
        }
    })
}

impl Workload {
    /// Its pod selector as `kubectl -l` text.
    pub fn selector(&self) -> Option<String> {
        let selector = match self {
            Workload::Deployment(d) => d.spec.as_ref().map(|s| &s.selector),
            Workload::StatefulSet(s) => s.spec.as_ref().map(|s| &s.selector),
        }?;
        selector_text(selector)
    }

    /// `deployment api`.
    pub fn describe(&self) -> String {
        match self {
            Workload::Deployment(d) => {
                format!("deployment {}", d.metadata.name.as_deref().unwrap_or("?"))
            }
            Workload::StatefulSet(s) => {
                format!("statefulset {}", s.metadata.name.as_deref().unwrap_or("?"))
            }
        }
    }

    /// The replicas it asks for (1 when unset, as the API defaults it).
    pub fn desired(&self) -> i32 {
        match self {
            Workload::Deployment(d) => d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            Workload::StatefulSet(s) => s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        }
    }
}

/// A label selector as the `labelSelector` query parameter writes it
/// (`app=api,tier in (web,edge)`); `None` when it selects nothing.
pub fn selector_text(selector: &LabelSelector) -> Option<String> {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for r in selector.match_expressions.iter().flatten() {
        let values = r.values.clone().unwrap_or_default().join(",");
        parts.push(match r.operator.as_str() {
            "In" => format!("{} in ({values})", r.key),
            "NotIn" => format!("{} notin ({values})", r.key),
            "Exists" => r.key.clone(),
            "DoesNotExist" => format!("!{}", r.key),
            other => format!("{} {other} ({values})", r.key),
        });
    }
    (!parts.is_empty()).then(|| parts.join(","))
}
