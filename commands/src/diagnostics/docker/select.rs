//! Purpose: which containers a target names — `docker ps -a --filter
//! name=…`, `--filter label=…`, `docker compose -p PROJECT ps -a` — decided
//! by one pure rule so the diagnostic and the restart actions agree on it.
//!
//! A container is selected when it matches every selector the target gives:
//! its name is in `containers`, it carries every `labels` pair, it belongs
//! to `compose_project`, and its Compose service is in `services`. Compose's
//! one-off containers (`docker compose run`) are never part of a project's
//! service.

use std::collections::HashMap;

use bollard::models::ContainerSummary;

use super::{COMPOSE_ONEOFF_LABEL, COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL, DockerTarget};

/// What the selection needs to know of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its id.
    pub id: String,
    /// Its name, without Docker's leading `/`.
    pub name: String,
    /// Its labels.
    pub labels: HashMap<String, String>,
}

impl Candidate {
    /// From a `GET /containers/json` entry; `None` without an id or name.
    pub fn from_summary(s: &ContainerSummary) -> Option<Candidate> {
        let name = s
            .names
            .as_ref()?
            .first()?
            .trim_start_matches('/')
            .to_string();
        Some(Candidate {
            id: s.id.clone()?,
            name,
            labels: s.labels.clone().unwrap_or_default(),
        })
    }

    /// Its Compose service, when Compose made it.
    pub fn service(&self) -> Option<&str> {
        self.labels.get(COMPOSE_SERVICE_LABEL).map(String::as_str)
    }
}

/// The label filters to send with `GET /containers/json` (the daemon ANDs
/// them): every `labels` pair and the Compose project. Names and services
/// are matched here, exactly.
pub fn label_filters(target: &DockerTarget) -> Vec<String> {
    let mut out: Vec<String> = target
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if let Some(p) = &target.compose_project {
        out.push(format!("{COMPOSE_PROJECT_LABEL}={p}"));
    }
    out
}

/// Whether `target` selects `c`.
pub fn selects(target: &DockerTarget, c: &Candidate) -> bool {
    let label = |k: &str| c.labels.get(k).map(String::as_str);
    (target.containers.is_empty() || target.containers.iter().any(|n| n == &c.name))
        && target
            .labels
            .iter()
            .all(|(k, v)| label(k) == Some(v.as_str()))
        && match &target.compose_project {
            None => true,
            Some(p) => {
                label(COMPOSE_PROJECT_LABEL) == Some(p.as_str())
                    && !label(COMPOSE_ONEOFF_LABEL).is_some_and(|o| o.eq_ignore_ascii_case("true"))
            }
        }
        && (target.services.is_empty()
            || c.service()
                .is_some_and(|s| target.services.iter().any(|w| w == s)))
}

/// The selected candidates in name order, and the names in `containers`
/// that no container has (each one a finding: the container is gone).
pub fn choose<'a>(
    target: &DockerTarget,
    all: &'a [Candidate],
) -> (Vec<&'a Candidate>, Vec<String>) {
    let mut chosen: Vec<&Candidate> = all.iter().filter(|c| selects(target, c)).collect();
    chosen.sort_by(|a, b| a.name.cmp(&b.name));
    let missing = target
        .containers
        .iter()
        .filter(|n| !all.iter().any(|c| &c.name == *n))
        .cloned()
        .collect();
    (chosen, missing)
}

/// The selection in words, for findings: "Compose project pazpaz
/// (services web, worker)", "containers web, db", "labels app=web".
// NOTE: shown in chat.
pub fn describe(target: &DockerTarget) -> String {
    let mut parts = Vec::new();
    if let Some(p) = &target.compose_project {
        match target.services.as_slice() {
            [] => parts.push(format!("Compose project {p}")),
            [one] => parts.push(format!("Compose service {one} of project {p}")),
            many => parts.push(format!(
                "Compose services {} of project {p}",
                many.join(", ")
            )),
        }
    }
    match target.containers.as_slice() {
        [] => {}
        [one] => parts.push(format!("container {one}")),
        many => parts.push(format!("containers {}", many.join(", "))),
    }
    if !target.labels.is_empty() {
        let labels: Vec<String> = target
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        parts.push(format!("labels {}", labels.join(", ")));
    }
    parts.join(", ")
}
