//! Purpose: `aws ecs describe-services` read the runbook's way — are the
//! tasks running (desired / running / pending), is a deployment rolling
//! out, failed, or stuck for more than 30 minutes, and what did ECS say
//! last (the last 10 service events: "unable to place a task", "is
//! unhealthy in target-group", "has reached a steady state").

use time::OffsetDateTime;

use super::client::{AwsError, Clients};
use super::{EVENTS_SHOWN, EcsTarget, STUCK_AFTER, ago, short_arn, to_time};
use crate::format::utc_clock;
use crate::model::report::Finding;

/// Events older than this are history: shown, never a warning.
const RECENT_EVENT: time::Duration = time::Duration::hours(1);

/// One service as DescribeServices describes it, reduced to what the
/// checks read.
#[derive(Debug, Clone, PartialEq)]
pub struct Svc {
    /// Its name.
    pub name: String,
    /// `ACTIVE`, `DRAINING` or `INACTIVE`.
    pub status: String,
    /// Tasks wanted.
    pub desired: i32,
    /// Tasks running.
    pub running: i32,
    /// Tasks starting.
    pub pending: i32,
    /// The current task definition's ARN.
    pub task_definition: Option<String>,
    /// Its deployments, PRIMARY first as ECS lists them.
    pub deployments: Vec<Deployment>,
    /// Its events, newest first as ECS lists them.
    pub events: Vec<Event>,
}

/// One deployment of a service.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// `ecs-svc/…`.
    pub id: String,
    /// `PRIMARY` (the newest) or `ACTIVE` (one being replaced).
    pub status: String,
    /// `COMPLETED`, `IN_PROGRESS`, `FAILED`; absent for services not on
    /// the ECS deployment controller.
    pub rollout_state: Option<String>,
    /// Why it is in that state.
    pub rollout_reason: Option<String>,
    /// Its task definition's ARN.
    pub task_definition: Option<String>,
    /// Tasks wanted, running, starting, and failed to start or run.
    pub desired: i32,
    /// Running.
    pub running: i32,
    /// Starting.
    pub pending: i32,
    /// Failed.
    pub failed: i32,
    /// When it began.
    pub created_at: Option<OffsetDateTime>,
}

/// One service event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When.
    pub at: Option<OffsetDateTime>,
    /// What ECS said.
    pub message: String,
}

impl Svc {
    /// Reads the SDK's service.
    pub fn from_sdk(s: &aws_sdk_ecs::types::Service) -> Svc {
        Svc {
            name: s.service_name().unwrap_or("?").to_string(),
            status: s.status().unwrap_or("?").to_string(),
            desired: s.desired_count(),
            running: s.running_count(),
            pending: s.pending_count(),
            task_definition: s.task_definition().map(str::to_string),
            deployments: s
                .deployments()
                .iter()
                .map(|d| Deployment {
                    id: d.id().unwrap_or("?").to_string(),
                    status: d.status().unwrap_or("?").to_string(),
                    rollout_state: d.rollout_state().map(|r| r.as_str().to_string()),
                    rollout_reason: d.rollout_state_reason().map(str::to_string),
                    task_definition: d.task_definition().map(str::to_string),
                    desired: d.desired_count(),
                    running: d.running_count(),
                    pending: d.pending_count(),
                    failed: d.failed_tasks(),
                    created_at: d.created_at().and_then(to_time),
                })
                .collect(),
            events: s
                .events()
                .iter()
                .map(|e| Event {
                    at: e.created_at().and_then(to_time),
                    message: e.message().unwrap_or_default().to_string(),
                })
                .collect(),
        }
    }
}

/// DescribeServices for the target's services: those found, in the
/// target's order, and those not (name, ECS's reason).
pub async fn describe(
    clients: &Clients,
    target: &EcsTarget,
) -> Result<(Vec<Svc>, Vec<(String, String)>), AwsError> {
    let out = clients
        .ecs
        .describe_services()
        .cluster(&target.cluster)
        .set_services(Some(target.services.clone()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ecs:DescribeServices", e))?;
    let found: Vec<Svc> = out.services().iter().map(Svc::from_sdk).collect();
    let mut services = Vec::new();
    let mut missing = Vec::new();
    for name in &target.services {
        match found
            .iter()
            .find(|s| &s.name == name || name.ends_with(&format!("/{}", s.name)))
        {
            Some(s) => services.push(s.clone()),
            None => {
                let reason = out
                    .failures()
                    .iter()
                    .find(|f| f.arn().is_some_and(|a| a.ends_with(name.as_str())))
                    .and_then(|f| f.reason())
                    .unwrap_or("not returned")
                    .to_string();
                missing.push((name.clone(), reason));
            }
        }
    }
    Ok((services, missing))
}

/// Desired, running and pending tasks of each service; a service that
/// does not exist, or is draining, says so.
pub fn counts(services: &[Svc], missing: &[(String, String)]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, reason) in missing {
        out.push(
            Finding::critical(
                "ecs.service",
                format!("{name}: no such service in the cluster ({reason})"),
            )
            .with_detail("Check the name in `services` and the cluster; a deleted service is INACTIVE for a while, then gone."),
        );
    }
    for s in services {
        let counts = format!(
            "{}/{} tasks running{}",
            s.running,
            s.desired,
            if s.pending > 0 {
                format!(", {} pending", s.pending)
            } else {
                String::new()
            }
        );
        let f = if s.status != "ACTIVE" {
            Finding::critical(
                "ecs.service",
                format!("{}: the service is {} ({counts})", s.name, s.status),
            )
            .with_detail(
                "A DRAINING or INACTIVE service is being deleted: nothing replaces its tasks.",
            )
        } else if s.desired > 0 && s.running == 0 {
            Finding::critical("ecs.service", format!("{}: {counts}", s.name)).with_detail(
                "No task is running: the service is down. The stopped tasks below say why.",
            )
        } else if s.running < s.desired {
            Finding::warn("ecs.service", format!("{}: {counts}", s.name))
        } else {
            Finding::ok("ecs.service", format!("{}: {counts}", s.name))
        };
        out.push(f);
    }
    out
}

/// Whether `d` is rolling out: its rollout state says so or, for services
/// without one, an older deployment is still being replaced.
fn in_progress(d: &Deployment, deployments: usize) -> bool {
    match d.rollout_state.as_deref() {
        Some(state) => state == "IN_PROGRESS",
        None => d.status == "PRIMARY" && deployments > 1,
    }
}

fn deployment_line(d: &Deployment, now: OffsetDateTime) -> String {
    let mut line = format!(
        "{} {} ({}): {}, {}/{} running",
        d.status,
        d.id,
        d.task_definition.as_deref().map(short_arn).unwrap_or("?"),
        d.rollout_state.as_deref().unwrap_or("no rollout state"),
        d.running,
        d.desired
    );
    if d.pending > 0 {
        line.push_str(&format!(", {} pending", d.pending));
    }
    if d.failed > 0 {
        line.push_str(&format!(", {} failed", d.failed));
    }
    if let Some(at) = d.created_at {
        line.push_str(&format!(
            ", started {} ({} ago)",
            utc_clock(at),
            ago(at, now)
        ));
    }
    line
}

/// Each service's deployments: a rollout that failed, one in progress for
/// more than [`STUCK_AFTER`] (stuck), one in progress, or all done.
pub fn deployments(services: &[Svc], now: OffsetDateTime) -> Vec<Finding> {
    services
        .iter()
        .map(|s| {
            let lines: Vec<String> = s
                .deployments
                .iter()
                .map(|d| deployment_line(d, now))
                .collect();
            let n = s.deployments.len();
            let failed = s
                .deployments
                .iter()
                .find(|d| d.rollout_state.as_deref() == Some("FAILED"));
            let rolling = s.deployments.iter().find(|d| in_progress(d, n));
            let mut f = if let Some(d) = failed {
                Finding::critical(
                    "ecs.deployments",
                    format!("{}: deployment {} failed", s.name, d.id),
                )
                .with_evidence(d.rollout_reason.clone().unwrap_or_default())
            } else if let Some(d) = rolling {
                let age = d.created_at.map(|at| now - at);
                match age {
                    Some(age) if age > STUCK_AFTER => Finding::critical(
                        "ecs.deployments",
                        format!(
                            "{}: deployment {} stuck: in progress for {} ({}/{} running)",
                            s.name,
                            d.id,
                            crate::format::human_age(age.whole_seconds().max(0) as u64),
                            d.running,
                            d.desired
                        ),
                    )
                    .with_detail("New tasks are not becoming healthy: see the stopped tasks and the events. Roll back to the previous task definition, or fix and deploy again.")
                    .at_opt(d.created_at),
                    _ => Finding::ok(
                        "ecs.deployments",
                        format!(
                            "{}: deployment {} rolling out ({}/{} running)",
                            s.name, d.id, d.running, d.desired
                        ),
                    )
                    .at_opt(d.created_at),
                }
            } else if n == 0 {
                Finding::ok("ecs.deployments", format!("{}: no deployment", s.name))
            } else {
                let primary = &s.deployments[0];
                Finding::ok(
                    "ecs.deployments",
                    format!(
                        "{}: deployment {} completed ({})",
                        s.name,
                        primary.id,
                        primary
                            .task_definition
                            .as_deref()
                            .map(short_arn)
                            .unwrap_or("?")
                    ),
                )
            };
            f.detail.extend(lines);
            f
        })
        .collect()
}

/// Words in a service event that mean trouble (ECS's own phrasing:
/// "was unable to place a task", "is unhealthy in target-group", "failed
/// container health checks", "insufficient memory").
fn troubled(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "unable to",
        "unhealthy",
        "failed",
        "insufficient",
        "error",
        "denied",
        "throttl",
    ]
    .iter()
    .any(|w| m.contains(w))
}

/// Each service's last [`EVENTS_SHOWN`] events; a warning when one of the
/// last hour is trouble, quoting the newest such.
pub fn events(services: &[Svc], now: OffsetDateTime) -> Vec<Finding> {
    services
        .iter()
        .map(|s| {
            let shown = &s.events[..s.events.len().min(EVENTS_SHOWN)];
            let recent_trouble = shown
                .iter()
                .find(|e| troubled(&e.message) && e.at.is_none_or(|at| now - at <= RECENT_EVENT));
            let mut f = match (recent_trouble, shown.first()) {
                (Some(e), _) => Finding::warn(
                    "ecs.events",
                    format!(
                        "{}: ECS reported trouble{}",
                        s.name,
                        e.at.map(|at| format!(" {} ago", ago(at, now)))
                            .unwrap_or_default()
                    ),
                )
                .with_evidence(e.message.clone())
                .at_opt(e.at),
                (None, Some(e)) => Finding::ok(
                    "ecs.events",
                    format!(
                        "{}: last event{}: {}",
                        s.name,
                        e.at.map(|at| format!(" {} ago", ago(at, now)))
                            .unwrap_or_default(),
                        crate::diagnostics::http::snippet(&e.message)
                    ),
                ),
                (None, None) => Finding::ok("ecs.events", format!("{}: no events", s.name)),
            };
            f.detail.extend(shown.iter().map(|e| {
                let when =
                    e.at.map(|at| format!("{} ", utc_clock(at)))
                        .unwrap_or_default();
                format!("{when}{}", crate::diagnostics::http::snippet(&e.message))
            }));
            f
        })
        .collect()
}
