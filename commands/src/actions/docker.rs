//! Purpose: the Docker built-ins, from the Compose runbook's "restart the
//! container" step — `docker restart web`, `docker compose restart web` —
//! done through the offering docker target's own API connection.
//!
//! Each re-checks before it runs: the container must still exist and be
//! one the target selects (a parameter can never name another container on
//! the host), and its state before and after is the run's output, so the
//! status message says what the restart changed ("was exited (code 3),
//! now running since 06:40:12 UTC").

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::ListContainersOptionsBuilder;

use super::exec::Outcome;
use crate::diagnostics::docker::client::{self, within};
use crate::diagnostics::docker::select::{self, Candidate};
use crate::diagnostics::docker::state::parse_time;
use crate::diagnostics::docker::{COMPOSE_SERVICE_LABEL, DockerTarget};
use crate::format::utc_clock;

/// The parameter naming the container `docker.restart` restarts.
pub const CONTAINER_PARAM: &str = "container";
/// The parameter naming the Compose service `docker.compose_restart`
/// restarts.
pub const SERVICE_PARAM: &str = "service";

/// Which built-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `docker restart NAME`: one container.
    Restart,
    /// `docker compose -p PROJECT restart SERVICE`: every container of one
    /// service.
    ComposeRestart,
}

impl Op {
    /// The kind as written in config.
    pub fn kind(self) -> &'static str {
        match self {
            Op::Restart => "docker.restart",
            Op::ComposeRestart => "docker.compose_restart",
        }
    }
}

fn refused(started: Instant, status: String) -> Outcome {
    Outcome {
        success: false,
        status,
        output: String::new(),
        duration: started.elapsed(),
    }
}

/// Runs `op` on `target`'s daemon with the offer's `values`, within
/// `timeout`.
pub async fn run(
    op: Op,
    target: &DockerTarget,
    values: &BTreeMap<String, String>,
    timeout: Duration,
) -> Outcome {
    let started = Instant::now();
    let docker = match client::build(target) {
        Ok(d) => d,
        Err(f) => return refused(started, f.summary),
    };
    let names = match op {
        Op::Restart => match which_container(target, values) {
            Ok(name) => Ok(vec![name]),
            Err(e) => Err(e),
        },
        Op::ComposeRestart => match which_service(target, values) {
            Ok(service) => service_containers(&docker, target, &service, timeout).await,
            Err(e) => Err(e),
        },
    };
    let names = match names {
        Ok(n) => n,
        Err(e) => return refused(started, e),
    };
    // Re-checked now, not at the offer: the container must still exist and
    // still be one the target selects.
    let mut chosen = Vec::new();
    for name in &names {
        match selected(&docker, target, name, timeout).await {
            Ok(c) => chosen.push(c),
            Err(e) => return refused(started, e),
        }
    }
    let restarts = chosen.iter().map(|c| restart_one(&docker, c, timeout));
    let done = futures::future::join_all(restarts).await;
    let success = done.iter().all(|d| d.success);
    let status = match (op, done.as_slice()) {
        (Op::Restart, [one]) => one.status.clone(),
        _ => {
            let ok = done.iter().filter(|d| d.success).count();
            let service = which_service(target, values).unwrap_or_default();
            format!(
                "restarted {ok} of {} container(s) of service {service}",
                done.len()
            )
        }
    };
    Outcome {
        success,
        status,
        output: done
            .iter()
            .map(|d| d.lines.join("\n"))
            .collect::<Vec<_>>()
            .join("\n"),
        duration: started.elapsed(),
    }
}

/// The container `docker.restart` acts on: its `container` parameter, or
/// the one container the target names.
fn which_container(
    target: &DockerTarget,
    values: &BTreeMap<String, String>,
) -> Result<String, String> {
    if let Some(v) = values.get(CONTAINER_PARAM) {
        return Ok(v.clone());
    }
    match target.containers.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!(
            "refused: the target selects {}; name one container with a `{CONTAINER_PARAM}` parameter",
            select::describe(target)
        )),
    }
}

/// The service `docker.compose_restart` acts on: its `service` parameter,
/// or the one service the target names.
fn which_service(
    target: &DockerTarget,
    values: &BTreeMap<String, String>,
) -> Result<String, String> {
    let service = match (values.get(SERVICE_PARAM), target.services.as_slice()) {
        (Some(v), _) => v.clone(),
        (None, [one]) => one.clone(),
        (None, _) => {
            return Err(format!(
                "refused: name the Compose service with a `{SERVICE_PARAM}` parameter"
            ));
        }
    };
    if !target.services.is_empty() && !target.services.contains(&service) {
        return Err(format!(
            "refused: service {service} is not one the target selects ({})",
            target.services.join(", ")
        ));
    }
    Ok(service)
}

/// The target's candidates on the daemon now.
async fn candidates(
    docker: &Docker,
    target: &DockerTarget,
    budget: Duration,
) -> Result<Vec<Candidate>, String> {
    let filters = HashMap::from([("label".to_string(), select::label_filters(target))]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let listed = within(budget, docker.list_containers(Some(options)))
        .await
        .map_err(|e| format!("cannot list the containers: {}", e.text()))?;
    Ok(listed.iter().filter_map(Candidate::from_summary).collect())
}

/// The containers of `service` in the target's project, now.
async fn service_containers(
    docker: &Docker,
    target: &DockerTarget,
    service: &str,
    budget: Duration,
) -> Result<Vec<String>, String> {
    let Some(project) = &target.compose_project else {
        return Err("refused: the target names no compose_project".into());
    };
    let mut names: Vec<String> = candidates(docker, target, budget)
        .await?
        .into_iter()
        .filter(|c| {
            // `selects` leaves out one-off `run` containers.
            select::selects(target, c)
                && c.labels.get(COMPOSE_SERVICE_LABEL).map(String::as_str) == Some(service)
        })
        .map(|c| c.name)
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(format!(
            "refused: no container of service {service} in Compose project {project}"
        ));
    }
    Ok(names)
}

/// A container to restart, checked to exist and to be the target's.
struct Chosen {
    name: String,
    id: String,
    before: ContainerInspectResponse,
}

async fn selected(
    docker: &Docker,
    target: &DockerTarget,
    name: &str,
    budget: Duration,
) -> Result<Chosen, String> {
    let all = candidates(docker, target, budget).await?;
    let Some(c) = all.iter().find(|c| c.name == name) else {
        return Err(format!(
            "refused: no container named {name} among the target's ({})",
            select::describe(target)
        ));
    };
    if !select::selects(target, c) {
        return Err(format!(
            "refused: {name} is not one of the target's containers ({})",
            select::describe(target)
        ));
    }
    let before = within(budget, docker.inspect_container(&c.id, None))
        .await
        .map_err(|e| format!("cannot inspect {name}: {}", e.text()))?;
    Ok(Chosen {
        name: name.to_string(),
        id: c.id.clone(),
        before,
    })
}

/// How one container's restart went.
struct Done {
    success: bool,
    status: String,
    lines: Vec<String>,
}

/// "exited (code 3) since 06:32:07 UTC, started 06:32:07 UTC, 5 restarts".
// NOTE: shown in chat.
fn describe(i: &ContainerInspectResponse) -> String {
    let s = i.state.clone().unwrap_or_default();
    let status = s
        .status
        .map(|s| s.to_string())
        .unwrap_or_else(|| "?".into());
    let started = parse_time(s.started_at.as_deref());
    let finished = parse_time(s.finished_at.as_deref());
    let mut text = match (s.running, status.as_str()) {
        (Some(true), _) => format!(
            "running since {}",
            started.map(utc_clock).unwrap_or_else(|| "?".into())
        ),
        (_, "exited") => format!(
            "exited (code {}) at {}",
            s.exit_code.unwrap_or(0),
            finished.map(utc_clock).unwrap_or_else(|| "?".into())
        ),
        _ => status,
    };
    if let Some(h) = s.health.as_ref().and_then(|h| h.status) {
        text.push_str(&format!(", health {h}"));
    }
    match i.restart_count.unwrap_or(0) {
        0 => {}
        1 => text.push_str(", 1 restart"),
        n => text.push_str(&format!(", {n} restarts")),
    }
    text
}

async fn restart_one(docker: &Docker, c: &Chosen, budget: Duration) -> Done {
    let before = describe(&c.before);
    let before_start = c
        .before
        .state
        .as_ref()
        .and_then(|s| parse_time(s.started_at.as_deref()));
    if let Err(e) = within(budget, docker.restart_container(&c.id, None)).await {
        return Done {
            success: false,
            status: format!("restart of {} failed: {}", c.name, e.text()),
            lines: vec![format!(
                "{}: before: {before}; not restarted: {}",
                c.name,
                e.text()
            )],
        };
    }
    let after = within(budget, docker.inspect_container(&c.id, None)).await;
    let (after_text, started_again) = match &after {
        Ok(i) => {
            let start = i
                .state
                .as_ref()
                .and_then(|s| parse_time(s.started_at.as_deref()));
            (describe(i), start.is_some() && start != before_start)
        }
        Err(e) => (format!("not known ({})", e.text()), false),
    };
    let status = if started_again {
        format!("restarted {}: was {before}; now {after_text}", c.name)
    } else {
        format!("{} did not start again: now {after_text}", c.name)
    };
    Done {
        success: started_again,
        status,
        lines: vec![
            format!("{}: before: {before}", c.name),
            format!("{}: after: {after_text}", c.name),
        ],
    }
}
