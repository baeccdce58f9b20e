//! Purpose: `kubectl logs POD -c CONTAINER --previous --tail=20` for each
//! crashed container — the Troubleshooting Guide's first step for a
//! CrashLoopBackOff: the run that died says why it died, usually in its
//! last error line ("could not connect to server", "FATAL: …").
//!
//! One read per container name (the replicas of a Deployment crash the
//! same way), at most [`MAX_READS`], each bounded in lines and bytes. The
//! lines are redacted (by the run, with the target's secrets and the
//! secret shapes) and capped before they reach a report.

use std::sync::{Arc, LazyLock};

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::Api;
use kube::api::LogParams;
use regex_lite::Regex;

use super::KubernetesTarget;
use super::connect::{Session, classify};
use crate::model::report::Finding;

/// Containers whose log one run reads, at most.
pub const MAX_READS: usize = 3;
/// Bytes asked of the API server per log, at most.
const LIMIT_BYTES: i64 = 64 * 1024;
/// Characters kept of one log line.
const LINE_CAP: usize = 300;
/// Characters of log kept in one finding's evidence (its end).
const EVIDENCE_CAP: usize = 3000;

/// A line that reads like the reason a process died.
static ERROR_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)error|fatal|panic|exception|traceback|refused|denied|failed|failure|cannot|can't|could not|unable to|timed? ?out|killed|no such|not found|too many",
    )
    .expect("the error-line pattern compiles")
});

/// Which log of a container to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// The pod.
    pub pod: String,
    /// The container.
    pub container: String,
    /// The previous instance's log (it restarted) rather than the
    /// current one (it exited and stays so).
    pub previous: bool,
}

/// The containers whose log says why they died: crash-looping or
/// recently restarted ones (their previous run), and ones that exited
/// with an error and were not restarted (their own run). One per
/// container name, the most restarted first.
pub fn wanted(pods: &[Pod], now: time::OffsetDateTime) -> Vec<Wanted> {
    let mut found: Vec<(i32, Wanted)> = Vec::new();
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let Some(status) = &pod.status else { continue };
        let all = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten());
        for cs in all {
            if let Some(previous) = crashed(cs, now) {
                found.push((
                    cs.restart_count,
                    Wanted {
                        pod: name.clone(),
                        container: cs.name.clone(),
                        previous,
                    },
                ));
            }
        }
    }
    found.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.pod.cmp(&b.1.pod)));
    let mut out: Vec<Wanted> = Vec::new();
    for (_, w) in found {
        if !out.iter().any(|o| o.container == w.container) {
            out.push(w);
        }
    }
    out.truncate(MAX_READS);
    out
}

/// `Some(previous)` when the container crashed: `true` to read its
/// previous run, `false` for its own (exited) run.
fn crashed(cs: &ContainerStatus, now: time::OffsetDateTime) -> Option<bool> {
    let state = cs.state.as_ref()?;
    let last = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    if let Some(w) = &state.waiting
        && w.reason.as_deref() == Some("CrashLoopBackOff")
        && cs.restart_count > 0
    {
        return Some(true);
    }
    if state.running.is_some()
        && cs.restart_count > 0
        && last
            .and_then(|t| t.finished_at.as_ref())
            .is_some_and(|f| super::secs_since(&f.0, now) < super::pods::RECENT_RESTART_SECS)
    {
        return Some(true);
    }
    if let Some(t) = &state.terminated
        && t.exit_code != 0
    {
        return Some(false);
    }
    None
}

/// The line that most likely says why the process died: the last one
/// that reads like an error, else the last one.
pub fn last_error_line(log: &str) -> Option<&str> {
    let lines: Vec<&str> = log
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines
        .iter()
        .rev()
        .find(|l| ERROR_LINE.is_match(l))
        .or(lines.last())
        .copied()
}

/// The finding for one container's log: its last error line in the
/// summary, its tail (capped) as evidence.
pub fn finding(ns: &str, w: &Wanted, log: &str) -> Finding {
    let whose = format!("{}/{}", w.pod, w.container);
    let when = if w.previous {
        "before its last restart"
    } else {
        "(exited)"
    };
    match last_error_line(log) {
        Some(line) => Finding::warn(
            "kubernetes.previous_logs",
            format!("Log of {whose} {when}: {}", cap_line(line.trim())),
        )
        .with_evidence(tail(log))
        .with_detail(format!(
            "By hand: kubectl logs -n {ns} {} -c {}{}",
            w.pod,
            w.container,
            if w.previous { " --previous" } else { "" }
        )),
        None => Finding::warn(
            "kubernetes.previous_logs",
            format!("Log of {whose} {when} is empty"),
        )
        .with_detail(
            "The process wrote nothing before it exited: check its command, entrypoint and probes.",
        ),
    }
}

fn cap_line(line: &str) -> String {
    match line.char_indices().nth(LINE_CAP) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

/// The end of the log, each line capped, at most [`EVIDENCE_CAP`]
/// characters.
fn tail(log: &str) -> String {
    let lines: Vec<String> = log.lines().map(cap_line).collect();
    let mut kept: Vec<&str> = Vec::new();
    let mut size = 0;
    for l in lines.iter().rev() {
        size += l.chars().count() + 1;
        if size > EVIDENCE_CAP && !kept.is_empty() {
            break;
        }
        kept.push(l);
    }
    kept.reverse();
    kept.join("\n")
}

/// Reads the logs [`wanted`] names; one finding each.
pub async fn check(session: Arc<Session>, target: Arc<KubernetesTarget>) -> Vec<Finding> {
    let now = time::OffsetDateTime::now_utc();
    let api: Api<Pod> = Api::namespaced(session.client.clone(), &session.namespace);
    let mut out = Vec::new();
    for w in wanted(&session.pods, now) {
        let params = LogParams {
            container: Some(w.container.clone()),
            previous: w.previous,
            tail_lines: Some(i64::from(target.log_lines)),
            limit_bytes: Some(LIMIT_BYTES),
            ..Default::default()
        };
        match api.logs(&w.pod, &params).await {
            Ok(log) => out.push(finding(&session.namespace, &w, &log)),
            Err(kube::Error::Api(status)) if status.code == 400 => out.push(
                Finding::unknown(
                    "kubernetes.previous_logs",
                    format!("No log kept of {}/{}'s previous run", w.pod, w.container),
                )
                .with_evidence(status.message.clone()),
            ),
            Err(e) => {
                let trouble = classify(
                    e,
                    &session.server,
                    "read",
                    "pods/log",
                    || format!("pod {}", w.pod),
                    target.timeout,
                );
                out.push(trouble.finding("kubernetes.previous_logs", &session.namespace));
                // One refusal says it for every pod.
                break;
            }
        }
    }
    out
}
