//! Purpose: the error text the diagnostics themselves quote, for an alert
//! that carries none. An Alertmanager `KubePodCrashLooping` (or a
//! cAdvisor container alert, or a CloudWatch alarm on an ECS service) says
//! only that something crash-loops; the reason is in what the runbook's
//! target read — the crashed container's last log lines ("could not
//! connect to server: Connection refused … port 5432"), or its
//! termination reason (OOMKilled against its memory limit, ECS's
//! `stoppedReason`). Triage reads those the way it reads an exception
//! chain: after the chain, before the title.
//!
//! Only findings that are trouble (warning or worse) are quoted, and only
//! of the checks listed here: a check's id says what its text is.

use crate::model::report::{Report, Status};

/// Checks whose finding states a container's cause in its summary
/// (`Container api in pod x was OOMKilled (exit code 137): memory limit
/// 256Mi`, `web was OOMKilled: memory limit 64 MiB, exit 137`, `api: 3
/// task(s) failed in the last hour; the last 2 min ago: OutOfMemoryError:
/// Container killed due to memory usage (…)`); read before any log, since
/// the cause is a fact, not a line.
pub const CAUSE_CHECKS: &[&str] = &[
    "kubernetes.oom_killed",
    "kubernetes.image_pull",
    "docker.oom",
    "ecs.stopped",
];

/// Checks whose finding quotes a log: the chosen last error line in its
/// summary (a pod's previous log; a docker crash loop's "last error: …"),
/// the log's tail as its evidence.
pub const LOG_CHECKS: &[&str] = &["kubernetes.previous_logs", "docker.crash_loop"];

/// One quoted text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// What a pattern reads.
    pub text: String,
    /// The evidence line when it matches: `TARGET: …`.
    pub shown: String,
    /// A second evidence line: the finding's own evidence (an image
    /// pull's error), when it has one.
    pub also: Option<String>,
}

/// Every quote of `reports`, in the order triage tries them: causes
/// first; then each log's chosen line (its finding's summary), then the
/// rest of its tail, newest line first.
pub fn quotes(reports: &[Report]) -> Vec<Quote> {
    let troubled = |ids: &'static [&'static str]| {
        reports.iter().flat_map(move |r| {
            r.findings
                .iter()
                .filter(move |f| f.status >= Status::Warn && ids.contains(&f.check.as_str()))
                .map(move |f| (r.target.name.as_str(), f))
        })
    };
    let mut out: Vec<Quote> = troubled(CAUSE_CHECKS)
        .map(|(target, f)| Quote {
            text: f.summary.clone(),
            shown: format!("{target}: {}", f.summary),
            also: f
                .evidence
                .as_ref()
                .map(|e| format!("{target}: {}", e.trim())),
        })
        .collect();
    for (target, f) in troubled(LOG_CHECKS) {
        out.push(Quote {
            text: f.summary.clone(),
            shown: format!("{target}: {}", f.summary),
            also: None,
        });
        for line in f.evidence.iter().flat_map(|e| e.lines().rev()) {
            let line = line.trim();
            if line.is_empty() || f.summary.ends_with(line) {
                continue;
            }
            out.push(Quote {
                text: line.to_string(),
                shown: format!("{target}: {line}"),
                also: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::report::{Finding, TargetRef};

    fn report(findings: Vec<Finding>) -> Report {
        let target = TargetRef {
            name: "shop-k8s".into(),
            kind: "kubernetes".into(),
            location: "https://10.0.0.1:6443, namespace shop".into(),
        };
        Report::new(target, findings, Duration::from_millis(3))
    }

    #[test]
    fn causes_come_before_logs_and_a_log_is_read_from_its_end() {
        let log = Finding::warn(
            "kubernetes.previous_logs",
            "Log of api-1/api before its last restart: ERROR boom",
        )
        .with_evidence("INFO start\nWARN slow disk\nERROR boom");
        let oom = Finding::critical(
            "kubernetes.oom_killed",
            "Container api in pod api-1 was OOMKilled (exit code 137): memory limit 256Mi",
        );
        let fine = Finding::ok("kubernetes.pods", "deployment api in shop: 3/3 ready");
        let texts: Vec<String> = quotes(&[report(vec![log, fine, oom])])
            .into_iter()
            .map(|q| q.text)
            .collect();
        assert_eq!(
            texts,
            [
                "Container api in pod api-1 was OOMKilled (exit code 137): memory limit 256Mi",
                "Log of api-1/api before its last restart: ERROR boom",
                "WARN slow disk",
                "INFO start",
            ]
        );
    }

    #[test]
    fn docker_and_ecs_causes_and_a_docker_crash_loops_log_are_quoted() {
        let oom = Finding::critical(
            "docker.oom",
            "web was OOMKilled: memory limit 64 MiB, exit 137",
        );
        let crash = Finding::critical(
            "docker.crash_loop",
            "worker is crash-looping: 5 restarts in the last hour, last exit code 3 — last error: FATAL: could not connect to db:5432",
        )
        .with_evidence("listening on :8080\nFATAL: could not connect to db:5432");
        let stopped = Finding::critical(
            "ecs.stopped",
            "api: 3 task(s) failed in the last hour; the last 2 min ago: OutOfMemoryError: Container killed due to memory usage (api exit 137)",
        );
        let texts: Vec<String> = quotes(&[report(vec![crash, oom, stopped])])
            .into_iter()
            .map(|q| q.text)
            .collect();
        assert_eq!(
            texts,
            [
                "web was OOMKilled: memory limit 64 MiB, exit 137",
                "api: 3 task(s) failed in the last hour; the last 2 min ago: OutOfMemoryError: Container killed due to memory usage (api exit 137)",
                "worker is crash-looping: 5 restarts in the last hour, last exit code 3 — last error: FATAL: could not connect to db:5432",
                "listening on :8080",
            ]
        );
    }

    #[test]
    fn only_trouble_is_quoted() {
        let log = Finding::ok("kubernetes.previous_logs", "Log of a/b: ERROR old news");
        assert!(quotes(&[report(vec![log])]).is_empty());
    }
}
