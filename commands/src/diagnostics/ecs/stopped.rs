//! Purpose: the Troubleshooting Runbook's "why did the task stop?" —
//! `aws ecs list-tasks --desired-status STOPPED` and `describe-tasks`:
//! each task stopped in the last hour with its `stoppedReason` and stop
//! code, and each container's exit code and reason, next to the memory
//! limit when memory killed it. A task replaced by a deployment or a
//! scale-in is history; one that failed (OutOfMemory, an essential
//! container that exited, a failed health check, an image that would not
//! pull) is the answer to "is it crash-looping, and why?".

use std::collections::HashMap;
use std::sync::Arc;

use time::OffsetDateTime;

use super::client::AwsError;
use super::taskdef::{Cache, TaskDef};
use super::{Described, EcsTarget, STOPPED_WINDOW, ago, short_arn, to_time};
use crate::format::utc_clock;
use crate::model::report::Finding;

/// Failed tasks in the window from which a service is crash-looping.
pub const CRASH_LOOP: usize = 3;
/// Tasks described per service at most (one ListTasks page, one
/// DescribeTasks call).
const MAX_TASKS: i32 = 100;
/// Tasks listed under a finding at most.
const SHOWN: usize = 10;

/// A stopped task, reduced.
#[derive(Debug, Clone, PartialEq)]
pub struct StoppedTask {
    /// The task id (the ARN's last part).
    pub id: String,
    /// When it stopped, when ECS says.
    pub stopped_at: Option<OffsetDateTime>,
    /// `EssentialContainerExited`, `TaskFailedToStart`,
    /// `ServiceSchedulerInitiated`, `UserInitiated`, `SpotInterruption`…
    pub stop_code: Option<String>,
    /// `stoppedReason`.
    pub reason: String,
    /// Its task definition's ARN.
    pub task_definition: Option<String>,
    /// Its containers.
    pub containers: Vec<StoppedContainer>,
}

/// A container of a stopped task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoppedContainer {
    /// Its name.
    pub name: String,
    /// Its exit code, when it ran and exited.
    pub exit_code: Option<i32>,
    /// Why it stopped, when ECS says (`OutOfMemoryError: Container killed
    /// due to memory usage`, `CannotPullContainerError: …`).
    pub reason: Option<String>,
}

impl StoppedTask {
    fn from_sdk(t: &aws_sdk_ecs::types::Task) -> StoppedTask {
        StoppedTask {
            id: short_arn(t.task_arn().unwrap_or("?")).to_string(),
            stopped_at: t.stopped_at().and_then(to_time),
            stop_code: t.stop_code().map(|c| c.as_str().to_string()),
            reason: t.stopped_reason().unwrap_or_default().to_string(),
            task_definition: t.task_definition_arn().map(str::to_string),
            containers: t
                .containers()
                .iter()
                .map(|c| StoppedContainer {
                    name: c.name().unwrap_or("?").to_string(),
                    exit_code: c.exit_code(),
                    reason: c.reason().map(str::to_string),
                })
                .collect(),
        }
    }

    /// Whether the task failed, rather than being replaced or scaled in.
    pub fn failed(&self) -> bool {
        let code = self.stop_code.as_deref();
        let asked = matches!(
            code,
            Some(
                "ServiceSchedulerInitiated"
                    | "UserInitiated"
                    | "SpotInterruption"
                    | "TerminationNotice"
            )
        );
        matches!(code, Some("TaskFailedToStart" | "EssentialContainerExited"))
            || trouble(&self.reason)
            || self.containers.iter().any(|c| c.reason.as_deref().is_some_and(trouble))
            // A container killed on a stop ECS asked for exits 143 or 137;
            // that is not a crash.
            || (!asked && self.containers.iter().any(|c| c.exit_code.is_some_and(|x| x != 0)))
    }

    /// Whether memory killed it.
    fn out_of_memory(&self) -> bool {
        let oom = |s: &str| s.contains("OutOfMemory") || s.contains("memory usage");
        oom(&self.reason)
            || self
                .containers
                .iter()
                .any(|c| c.reason.as_deref().is_some_and(oom))
    }
}

/// Reasons that mean the task failed: ECS's own wording in stopped
/// reasons and container reasons (API reference, "Stopped tasks error
/// messages").
fn trouble(reason: &str) -> bool {
    [
        "OutOfMemory",
        "Essential container in task exited",
        "health check",
        "CannotPull",
        "CannotStart",
        "CannotCreate",
        "ResourceInitializationError",
        "Error",
        "failed",
    ]
    .iter()
    .any(|w| reason.contains(w))
}

/// What an exit code usually means, for the finding's detail.
fn exit_meaning(code: i32) -> Option<&'static str> {
    Some(match code {
        1 => "1: the application exited with an error (its last log lines say which)",
        126 => "126: the command could not be executed (permissions, not executable)",
        127 => "127: the command was not found in the image",
        137 => {
            "137: killed by SIGKILL — the memory limit (OutOfMemoryError), or a stop that outlived stopTimeout"
        }
        139 => "139: a segmentation fault",
        143 => "143: stopped by SIGTERM",
        _ => return None,
    })
}

/// The stopped tasks of each service within [`STOPPED_WINDOW`] before
/// `now`.
pub async fn check(
    target: &EcsTarget,
    described: &Described,
    task_defs: &Cache,
    now: OffsetDateTime,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in &described.services {
        let tasks = match stopped_tasks(target, described, &s.name).await {
            Ok(t) => t,
            Err(e) => {
                out.push(e.finding("ecs.stopped", target));
                continue;
            }
        };
        let mut defs = HashMap::new();
        for arn in tasks
            .iter()
            .filter(|t| t.failed())
            .filter_map(|t| t.task_definition.as_deref())
        {
            if defs.contains_key(arn) {
                continue;
            }
            // Without it the finding lacks only the memory limit.
            if let Ok(d) = task_defs.get(&described.clients, arn).await {
                defs.insert(arn.to_string(), d);
            }
        }
        out.push(findings(&s.name, tasks, &defs, now));
    }
    out
}

async fn stopped_tasks(
    target: &EcsTarget,
    described: &Described,
    service: &str,
) -> Result<Vec<StoppedTask>, AwsError> {
    let ecs = &described.clients.ecs;
    let listed = ecs
        .list_tasks()
        .cluster(&target.cluster)
        .service_name(service)
        .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
        .max_results(MAX_TASKS)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ecs:ListTasks", e))?;
    if listed.task_arns().is_empty() {
        return Ok(Vec::new());
    }
    let out = ecs
        .describe_tasks()
        .cluster(&target.cluster)
        .set_tasks(Some(listed.task_arns().to_vec()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ecs:DescribeTasks", e))?;
    let group = format!("service:{service}");
    Ok(out
        .tasks()
        .iter()
        // A service's tasks are in the group `service:NAME`: ECS filters
        // by service already; this keeps an emulator that does not honest.
        .filter(|t| t.group().is_none_or(|g| g == group))
        .map(StoppedTask::from_sdk)
        .collect())
}

/// One container as a detail line: its exit code and reason, and the
/// memory limit when memory is the question.
fn container_line(c: &StoppedContainer, task: &StoppedTask, def: Option<&Arc<TaskDef>>) -> String {
    let mut line = match c.exit_code {
        Some(code) => format!("{} exit {code}", c.name),
        None => format!("{} did not exit (never started)", c.name),
    };
    if let Some(r) = &c.reason {
        line.push_str(&format!(" ({})", crate::diagnostics::http::snippet(r)));
    }
    let memory_question = c.exit_code == Some(137) || task.out_of_memory();
    if memory_question && let Some(limit) = def.and_then(|d| d.memory_limit_mib(&c.name)) {
        line.push_str(&format!(", memory limit {limit} MiB"));
    }
    line
}

/// The finding for one service's stopped tasks: none, only replaced ones
/// (ok), some failed (warning), a crash loop (critical).
pub fn findings(
    service: &str,
    mut tasks: Vec<StoppedTask>,
    defs: &HashMap<String, Arc<TaskDef>>,
    now: OffsetDateTime,
) -> Finding {
    let window = time::Duration::try_from(STOPPED_WINDOW).unwrap_or(time::Duration::HOUR);
    // ECS lists stopped tasks for about an hour; one without a stop time
    // (an emulator) counts as recent.
    tasks.retain(|t| t.stopped_at.is_none_or(|at| now - at <= window));
    tasks.sort_by_key(|t| std::cmp::Reverse(t.stopped_at.unwrap_or(now)));
    if tasks.is_empty() {
        return Finding::ok(
            "ecs.stopped",
            format!("{service}: no task stopped in the last hour"),
        );
    }
    let failed: Vec<&StoppedTask> = tasks.iter().filter(|t| t.failed()).collect();
    let describe = |t: &StoppedTask| -> String {
        let def = t.task_definition.as_deref().and_then(|a| defs.get(a));
        let containers: Vec<String> = t
            .containers
            .iter()
            .map(|c| container_line(c, t, def))
            .collect();
        let when = t
            .stopped_at
            .map(|at| format!(" {} ({} ago)", utc_clock(at), ago(at, now)))
            .unwrap_or_default();
        format!(
            "task {}{} stopped{when}{}: {} — {}",
            t.id.chars().take(8).collect::<String>(),
            t.task_definition
                .as_deref()
                .map(|a| format!(" ({})", short_arn(a)))
                .unwrap_or_default(),
            t.stop_code
                .as_deref()
                .map(|c| format!(", {c}"))
                .unwrap_or_default(),
            if t.reason.is_empty() {
                "no reason given"
            } else {
                &t.reason
            },
            if containers.is_empty() {
                "no containers".to_string()
            } else {
                containers.join("; ")
            }
        )
    };
    let Some(last) = failed.first() else {
        let mut f = Finding::ok(
            "ecs.stopped",
            format!(
                "{service}: {} task(s) stopped in the last hour, none failed (replaced by a deployment or scaled in)",
                tasks.len()
            ),
        );
        f.detail.extend(tasks.iter().take(SHOWN).map(describe));
        return f;
    };
    let def = last.task_definition.as_deref().and_then(|a| defs.get(a));
    let culprit = last
        .containers
        .iter()
        .find(|c| c.exit_code.is_some_and(|x| x != 0) || c.reason.is_some())
        .or(last.containers.first());
    let summary = format!(
        "{service}: {} task(s) failed in the last hour; the last{}: {}{}",
        failed.len(),
        last.stopped_at
            .map(|at| format!(" {} ago", ago(at, now)))
            .unwrap_or_default(),
        if last.reason.is_empty() {
            "no reason given"
        } else {
            &last.reason
        },
        culprit
            .map(|c| format!(" ({})", container_line(c, last, def)))
            .unwrap_or_default()
    );
    let mut f = if failed.len() >= CRASH_LOOP {
        Finding::critical("ecs.stopped", summary).with_detail(format!(
            "{} failed tasks in an hour: the service is crash-looping.",
            failed.len()
        ))
    } else {
        Finding::warn("ecs.stopped", summary)
    };
    if let Some(meaning) = culprit.and_then(|c| c.exit_code).and_then(exit_meaning) {
        f = f.with_detail(format!("Exit code {meaning}."));
    }
    f.detail.extend(tasks.iter().take(SHOWN).map(describe));
    let evidence = match culprit.and_then(|c| c.reason.as_ref().map(|r| (c, r))) {
        Some((c, r)) if *r != last.reason => format!("{} — {}: {r}", last.reason, c.name),
        _ => last.reason.clone(),
    };
    f.with_evidence(evidence).at_opt(last.stopped_at)
}
