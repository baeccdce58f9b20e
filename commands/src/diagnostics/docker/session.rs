//! Purpose: the one shared step of a run — `docker version`, then `docker
//! ps -a` with the target's filters and `docker inspect` of each selected
//! container — so a `/diag` asks the daemon once however many checks read
//! the containers.
//!
//! The step's findings (reach, selection) belong to the session check
//! alone; the other checks get the containers or nothing, so an outage is
//! reported once, not once per check.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::ListContainersOptionsBuilder;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

use super::client::{self, Failed, within};
use super::select::{self, Candidate};
use super::{COMPOSE_SERVICE_LABEL, DockerTarget};
use crate::format::human_latency;
use crate::model::report::Finding;

/// One selected container, as inspected at the start of the run.
#[derive(Debug, Clone)]
pub struct Container {
    /// Its name, without Docker's leading `/`.
    pub name: String,
    /// Its Compose service, when Compose made it.
    pub service: Option<String>,
    /// `GET /containers/{id}/json`.
    pub inspect: ContainerInspectResponse,
}

impl Container {
    /// From an inspect answer.
    pub fn from_inspect(inspect: ContainerInspectResponse) -> Container {
        let name = inspect
            .name
            .as_deref()
            .unwrap_or("?")
            .trim_start_matches('/')
            .to_string();
        let service = inspect
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .and_then(|l| l.get(COMPOSE_SERVICE_LABEL))
            .cloned();
        Container {
            name,
            service,
            inspect,
        }
    }

    /// Its id (what every API call is made with: a name can be reused by
    /// the time a second call runs, an id cannot).
    pub fn id(&self) -> &str {
        self.inspect.id.as_deref().unwrap_or(&self.name)
    }

    /// How findings name it: `web`, or `pazpaz-web-1 (service web)`.
    // NOTE: shown in chat.
    pub fn label(&self) -> String {
        match &self.service {
            Some(s) if s != &self.name => format!("{} (service {s})", self.name),
            _ => self.name.clone(),
        }
    }
}

/// A live session: the client, and the selected containers.
#[derive(Clone)]
pub struct Session {
    /// The client; cheap to clone.
    pub docker: Docker,
    /// The selected containers in name order, inspected once.
    pub containers: Arc<Vec<Container>>,
    /// The most one API call may take.
    pub budget: Duration,
}

/// What opening the session gave: its findings, and the session when the
/// daemon answered.
#[derive(Clone)]
pub struct Opened {
    /// Reach and selection findings, for the session check to report.
    pub findings: Arc<Vec<Finding>>,
    /// The session, when there is one.
    pub session: Option<Session>,
}

/// The session, shared by every check of a run.
pub type SharedSession = Shared<BoxFuture<'static, Opened>>;

/// Starts opening the session for `target`; every check awaits the same.
pub fn open(target: &DockerTarget) -> SharedSession {
    let target = target.clone();
    async move {
        let mut findings = Vec::new();
        let session = open_into(&target, &mut findings).await;
        Opened {
            findings: Arc::new(findings),
            session,
        }
    }
    .boxed()
    .shared()
}

/// The most one call may take: under the check's time, so a slow daemon
/// is reported with what was asked rather than by the check's silence.
pub fn budget(target: &DockerTarget) -> Duration {
    target.timeout.mul_f64(0.9)
}

async fn open_into(target: &DockerTarget, findings: &mut Vec<Finding>) -> Option<Session> {
    let location = target.daemon();
    let budget = budget(target);
    let docker = match client::build(target) {
        Ok(d) => d,
        Err(f) => {
            findings.push(f);
            return None;
        }
    };

    // 1. The daemon answers: `docker version`.
    let started = Instant::now();
    match within(budget, docker.version()).await {
        Ok(v) => findings.push(Finding::ok(
            "docker.reach",
            format!(
                "Docker {} (API {}) at {location} answered in {}",
                v.version.as_deref().unwrap_or("?"),
                v.api_version.as_deref().unwrap_or("?"),
                human_latency(started.elapsed())
            ),
        )),
        Err(e) => {
            findings.push(client::unreachable(&location, &e));
            return None;
        }
    }

    // 2. The containers the target names: `docker ps -a` with its labels.
    let filters = HashMap::from([("label".to_string(), select::label_filters(target))]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let listed = match within(budget, docker.list_containers(Some(options))).await {
        Ok(l) => l,
        Err(e) => {
            findings.push(api_failed(
                "docker.select",
                "Listing the containers (docker ps -a)",
                &e,
            ));
            return None;
        }
    };
    let candidates: Vec<Candidate> = listed.iter().filter_map(Candidate::from_summary).collect();
    let (chosen, missing) = select::choose(target, &candidates);
    let what = select::describe(target);
    for name in &missing {
        findings.push(
            Finding::critical("docker.select", format!("Container {name} does not exist"))
                .with_detail(format!("`docker ps -a` on {location} shows no container named {name}: removed, renamed, or never created (a Compose project names its containers PROJECT-SERVICE-N)."))
        );
    }
    if chosen.is_empty() {
        if missing.is_empty() {
            findings.push(
                Finding::critical("docker.select", format!("No container matches {what}"))
                    .with_detail(match &target.compose_project {
                        Some(p) => format!("No container on {location} belongs to it: the project is down (docker compose -p {p} ps -a), or the target names the wrong project."),
                        None => format!("No container on {location} carries those labels: they were removed, or the target's labels are wrong."),
                    }),
            );
        }
        return None;
    }

    // 3. Each one inspected, at once.
    let inspected = futures::future::join_all(
        chosen
            .iter()
            .map(|c| within(budget, docker.inspect_container(&c.id, None))),
    )
    .await;
    let mut containers = Vec::new();
    for (c, result) in chosen.iter().zip(inspected) {
        match result {
            Ok(i) => containers.push(Container::from_inspect(i)),
            // Removed between the list and the inspect.
            Err(e) if e.status() == Some(404) => findings.push(Finding::unknown(
                "docker.select",
                format!(
                    "Container {} disappeared while it was being inspected",
                    c.name
                ),
            )),
            Err(e) => findings.push(api_failed(
                "docker.select",
                &format!("Inspecting {}", c.name),
                &e,
            )),
        }
    }
    let names: Vec<String> = containers.iter().map(Container::label).collect();
    let count = match containers.len() {
        1 => "1 container".to_string(),
        n => format!("{n} containers"),
    };
    // Selected by name only, the names say it all.
    let of = if target.labels.is_empty() && target.compose_project.is_none() {
        String::new()
    } else {
        format!(" of {what}")
    };
    findings.push(Finding::ok(
        "docker.select",
        format!("{count}{of}: {}", names.join(", ")),
    ));
    Some(Session {
        docker,
        containers: Arc::new(containers),
        budget,
    })
}

/// A call that failed once the daemon was known to answer.
pub fn api_failed(check: &str, what: &str, e: &Failed) -> Finding {
    let summary = match e {
        Failed::Timeout(_) => format!("{what}: {}", e.text()),
        Failed::Api(_) => match e.status() {
            Some(403) | Some(401) => format!(
                "{what}: refused by the Docker API ({})",
                e.status().unwrap_or_default()
            ),
            _ => format!("{what} failed"),
        },
    };
    let f = Finding::unknown(check, summary);
    match e {
        Failed::Timeout(_) => f,
        Failed::Api(_) => f.with_evidence(e.text()),
    }
}
