//! Purpose: what an on-call engineer types on a VPS whose services run in
//! containers — `docker compose ps`, `docker inspect web` (State, ExitCode,
//! RestartCount, OOMKilled, Health), `docker events --since 1h`, `docker
//! logs --tail 20 web`, `docker stats --no-stream`, `docker image inspect`
//! — done in one go and read the way the runbooks read them
//! (`seeds/production-runbook-compose.md`; the Troubleshooting Guide's
//! "CrashLoopBackOff / OOMKilled" causes): is the container crash-looping,
//! and why?
//!
//! # Layout
//!
//! [`client`] builds the Docker Engine API client from `host` (a unix
//! socket, `tcp://`, `tcp://` with TLS) and words its failures;
//! [`session`] is the run's one shared step (version, then the selected
//! containers, inspected); [`select`] decides which containers a target
//! names (pure). Each check is a file with a pure reading function and a
//! thin async shell: [`state`] (state, exit code, restarts and the last
//! hour's restarts from [`history`], OOMKilled, health, started-at, with
//! the last log lines from [`logs`] as evidence), [`stats`] (CPU and memory
//! against the limits, one sample), [`image`] (the image and when it was
//! built: a new image is a deploy).
//!
//! The selection is plain data (`containers`, `labels`, `compose_project`,
//! `services`), so a copy of a target narrowed to one container is a clone
//! with `containers` set.

pub mod client;
pub mod history;
pub mod image;
pub mod logs;
pub mod select;
pub mod session;
pub mod state;
pub mod stats;
pub mod timeline;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use time::OffsetDateTime;

use super::{Check, Diagnostic, SecretUrl};
use crate::model::report::Finding;
use crate::redact::Redactor;
use session::{Session, SharedSession};

/// Where the Docker Engine listens unless `host` says otherwise.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";
/// The label Docker Compose puts on every container of a project.
pub const COMPOSE_PROJECT_LABEL: &str = "com.docker.compose.project";
/// The label naming a container's Compose service.
pub const COMPOSE_SERVICE_LABEL: &str = "com.docker.compose.service";
/// The label Compose puts on `docker compose run` containers: one-off
/// tasks, not the service.
pub const COMPOSE_ONEOFF_LABEL: &str = "com.docker.compose.oneoff";
/// Log lines shown unless `log_lines` says otherwise: enough to see the
/// crash and what led to it, few enough to read on a phone.
pub const DEFAULT_LOG_LINES: usize = 10;
/// The most `log_lines` may ask for: evidence is read on a phone.
pub const MAX_LOG_LINES: usize = 200;
/// A start more recent than this is news: it explains a burst of errors
/// around it (connections reset, requests failing while it came up).
pub const RECENT_START: Duration = Duration::from_secs(3600);
/// How far back restarts are counted (`docker events --since 1h`).
pub const HISTORY: Duration = Duration::from_secs(3600);
/// This many restarts within [`HISTORY`] is a crash loop.
pub const CRASH_LOOP_RESTARTS: u64 = 3;
/// Share of a limit (memory, CPU) at which a warning is raised.
pub const WARN_RATIO: f64 = 0.80;
/// Share of a limit at which it is critical.
pub const CRITICAL_RATIO: f64 = 0.95;

/// `[targets.NAME] kind = "docker"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerTarget {
    /// `unix:///var/run/docker.sock` (the default), `tcp://host:2375`, or
    /// `tcp://host:2376` with the `tls_*` files. A user and password in a
    /// `tcp://` URL are sent as HTTP basic authentication (a Docker API
    /// behind an authenticating proxy).
    #[serde(default = "default_host")]
    pub host: SecretUrl,
    /// The CA that signed the daemon's certificate (`tcp://` with TLS).
    pub tls_ca: Option<PathBuf>,
    /// medic's client certificate (`tcp://` with TLS).
    pub tls_cert: Option<PathBuf>,
    /// medic's client key (`tcp://` with TLS).
    pub tls_key: Option<PathBuf>,
    /// Containers by name (`docker ps --format {{.Names}}`).
    #[serde(default)]
    pub containers: Vec<String>,
    /// Containers carrying every one of these labels with these values.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The containers of a Compose project (label
    /// `com.docker.compose.project`); one-off `run` containers are left out.
    pub compose_project: Option<String>,
    /// Only these Compose services of `compose_project` (label
    /// `com.docker.compose.service`).
    #[serde(default)]
    pub services: Vec<String>,
    /// Log lines shown for a container in trouble (default 10, at most 200).
    #[serde(default = "default_log_lines")]
    pub log_lines: usize,
    /// The most each check may take (default 5 s); checks run at once.
    #[serde(
        default = "crate::diagnostics::default_timeout",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub timeout: Duration,
}

fn default_host() -> SecretUrl {
    SecretUrl::parse(DEFAULT_HOST).expect("static URL parses")
}

fn default_log_lines() -> usize {
    DEFAULT_LOG_LINES
}

/// How the daemon is reached, from `host` and the `tls_*` files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A unix socket at this path.
    Unix(PathBuf),
    /// Plain HTTP to `host:port`.
    Tcp(String),
    /// HTTPS to `host:port` with client certificates.
    Tls {
        /// `host:port`.
        addr: String,
        /// The CA file.
        ca: PathBuf,
        /// The client certificate.
        cert: PathBuf,
        /// The client key.
        key: PathBuf,
    },
}

impl DockerTarget {
    /// Where the daemon is: the URL without its password (never with a
    /// mask percent-encoded into it).
    pub fn daemon(&self) -> String {
        let url = self.host.url();
        match (url.scheme(), url.host_str()) {
            ("tcp", Some(host)) => {
                let user = match url.username() {
                    "" => String::new(),
                    u => format!("{u}@"),
                };
                let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
                format!("tcp://{user}{host}{port}")
            }
            (scheme, _) => format!("{scheme}://{}", url.path()),
        }
    }

    /// This target narrowed to the container or Compose service an
    /// incident's alert names (cAdvisor's `name`, a `container` or
    /// `container_name` label; a `com_docker_compose_service` or
    /// `service` label), so the run reads that one's state and logs.
    /// Only what is surely the target's: a container it lists, or one
    /// named after its Compose project (`PROJECT-SERVICE-N`); a service
    /// of its project. `None` otherwise.
    pub fn focused(&self, alert: &crate::model::alert::Alert) -> Option<Self> {
        let containers = super::named(alert, &["container", "container_name", "name"]);
        // Compose names a container PROJECT-SERVICE-N (v2) or
        // PROJECT_SERVICE_N (v1).
        let of_project = |name: &str, p: &str| {
            ['-', '_'].into_iter().any(|sep| {
                name.strip_prefix(p)
                    .and_then(|rest| rest.strip_prefix(sep))
                    .is_some_and(|rest| {
                        self.services.is_empty()
                            || self.services.iter().any(|svc| {
                                rest.strip_prefix(svc.as_str())
                                    .is_some_and(|n| n.starts_with(sep))
                            })
                    })
            })
        };
        let ours = |name: &str| {
            self.containers.iter().any(|c| c == name)
                || (self.containers.is_empty()
                    && self
                        .compose_project
                        .as_deref()
                        .is_some_and(|p| of_project(name, p)))
        };
        if let Some(name) = containers.into_iter().find(|n| ours(n)) {
            if self.containers.len() == 1 {
                return None;
            }
            return Some(DockerTarget {
                containers: vec![name.to_string()],
                ..self.clone()
            });
        }
        self.compose_project.as_ref()?;
        let service = super::named(alert, &["com_docker_compose_service", "service"])
            .into_iter()
            .find(|s| self.services.is_empty() || self.services.iter().any(|x| x == s))?;
        if self.services.len() == 1 {
            return None;
        }
        Some(DockerTarget {
            services: vec![service.to_string()],
            ..self.clone()
        })
    }

    /// A target for these containers on the local socket, every other key
    /// at its default.
    pub fn local(containers: Vec<String>) -> Self {
        DockerTarget {
            host: default_host(),
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            containers,
            labels: BTreeMap::new(),
            compose_project: None,
            services: Vec::new(),
            log_lines: DEFAULT_LOG_LINES,
            timeout: crate::diagnostics::default_timeout(),
        }
    }

    /// Checks what serde cannot. The error names the key at fault and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        self.endpoint()?;
        if self.containers.is_empty() && self.labels.is_empty() && self.compose_project.is_none() {
            return Err((
                "containers",
                "name the containers to check: `containers = [\"web\"]`, `labels = { app = \"web\" }` or `compose_project = \"NAME\"`".into(),
            ));
        }
        if self.containers.iter().any(|c| c.trim().is_empty()) {
            return Err(("containers", "a container name is empty".into()));
        }
        if self
            .compose_project
            .as_deref()
            .is_some_and(|p| p.trim().is_empty())
        {
            return Err(("compose_project", "is empty".into()));
        }
        if !self.services.is_empty() && self.compose_project.is_none() {
            return Err((
                "services",
                "names Compose services, so it needs `compose_project`".into(),
            ));
        }
        if self.log_lines > MAX_LOG_LINES {
            return Err((
                "log_lines",
                format!("at most {MAX_LOG_LINES}: the lines are evidence, read on a phone"),
            ));
        }
        Ok(())
    }

    /// How to reach the daemon; the error names the key at fault.
    pub fn endpoint(&self) -> Result<Endpoint, (&'static str, String)> {
        let url = self.host.url();
        let tls = [&self.tls_ca, &self.tls_cert, &self.tls_key];
        let addr = || -> Result<String, (&'static str, String)> {
            let host = url
                .host_str()
                .filter(|h| !h.is_empty())
                .ok_or(("host", "the URL names no host".to_string()))?;
            let port = url.port().ok_or((
                "host",
                "give the port: tcp://HOST:2375 (or 2376 with TLS)".to_string(),
            ))?;
            Ok(format!("{host}:{port}"))
        };
        match url.scheme() {
            "unix" => {
                if tls.iter().any(|f| f.is_some()) {
                    return Err(("tls_ca", "TLS files only mean something with tcp://".into()));
                }
                if url.password().is_some() || !url.username().is_empty() {
                    return Err(("host", "a unix socket takes no user or password".into()));
                }
                let path = url.path();
                if path.is_empty() || path == "/" {
                    return Err((
                        "host",
                        "give the socket's path: unix:///var/run/docker.sock".into(),
                    ));
                }
                Ok(Endpoint::Unix(PathBuf::from(path)))
            }
            "tcp" => match tls {
                [None, None, None] => Ok(Endpoint::Tcp(addr()?)),
                [Some(ca), Some(cert), Some(key)] => Ok(Endpoint::Tls {
                    addr: addr()?,
                    ca: ca.clone(),
                    cert: cert.clone(),
                    key: key.clone(),
                }),
                _ => Err((
                    "tls_ca",
                    "TLS needs all three of tls_ca, tls_cert and tls_key".into(),
                )),
            },
            other => Err(("host", format!("scheme `{other}` is not unix:// or tcp://"))),
        }
    }

    /// Every check as of `now`, sharing one session. The session check
    /// reports reach and selection; the others say nothing when there is
    /// no session (that outage is already one finding).
    pub fn checks_at(&self, now: OffsetDateTime) -> Vec<Check> {
        let session = session::open(self);
        let log_lines = self.log_lines;
        vec![
            Check::new("docker.session", "The Docker API and the containers' inspect", {
                let session = session.clone();
                async move { session.await.findings.as_ref().clone() }
            })
            .critical_when_silent()
            .silence_hint("A Docker daemon that accepts the connection and does not answer is hung or overloaded (dockerd's log, `systemctl status docker`)."),
            session_check(&session, "docker.state", "Container states, restarts and logs", move |s| {
                state::check(s, now, log_lines)
            }),
            session_check(&session, "docker.stats", "CPU and memory (docker stats)", stats::check),
            session_check(&session, "docker.image", "The containers' images", move |s| {
                image::check(s, now)
            }),
        ]
    }
}

/// A check that needs the session; it says nothing when there is none
/// (the session check reports why).
fn session_check<F>(
    session: &SharedSession,
    id: &'static str,
    what: &'static str,
    run: impl FnOnce(Session) -> F + Send + 'static,
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

impl Diagnostic for DockerTarget {
    const KIND: &'static str = "docker";

    /// The daemon, and the one container or Compose service a run was
    /// narrowed to ([`DockerTarget::focused`]).
    fn location(&self) -> String {
        match (self.containers.as_slice(), self.services.as_slice()) {
            ([one], _) => format!("container {one} on {}", self.daemon()),
            ([], [one]) => format!("service {one} on {}", self.daemon()),
            _ => self.daemon(),
        }
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn redactor(&self) -> Redactor {
        self.host.redactor()
    }

    fn checks(&self) -> Vec<Check> {
        self.checks_at(OffsetDateTime::now_utc())
    }
}

#[cfg(test)]
mod tests;
