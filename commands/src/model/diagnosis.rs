//! What one request diagnosed: a single target's [`Report`], or several
//! (`/diag all`, a kind with several targets, an alert's runbook). Chat
//! shows one root message for the whole request, so the overall status,
//! counts and headline are derived here, once, for every renderer.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::report::{Report, Status};
use crate::triage::LikelyCause;

/// The reports of one request, in the order the targets were selected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// What was asked for, as typed: `redis`, `postgres` (a kind), `all`.
    pub label: String,
    /// One report per target. Shared: a run's report is the same for
    /// every command that joined the run, and a report waiting for the
    /// channel's pace should not be copied once per command.
    pub reports: Vec<Arc<Report>>,
    /// What triage makes of the reports and their hosts' timeline, when a
    /// change explains something they saw (`triage::symptom`): shown
    /// first, in the root and as the thread's first message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<LikelyCause>,
}

impl Diagnosis {
    /// The diagnosis `label` of `reports`, in the order given.
    pub fn new(label: impl Into<String>, reports: impl IntoIterator<Item = Report>) -> Self {
        Diagnosis {
            label: label.into(),
            reports: reports.into_iter().map(Arc::new).collect(),
            cause: None,
        }
    }

    /// The single report when only one target was diagnosed.
    pub fn single(&self) -> Option<&Report> {
        match self.reports.as_slice() {
            [only] => Some(only.as_ref()),
            _ => None,
        }
    }

    /// The worst status of any report; unknown when nothing ran.
    pub fn status(&self) -> Status {
        self.reports
            .iter()
            .map(|r| r.status())
            .max()
            .unwrap_or(Status::Unknown)
    }

    /// The longest report: the targets ran at once, so this is how long the
    /// whole request took.
    pub fn elapsed(&self) -> Duration {
        self.reports
            .iter()
            .map(|r| r.elapsed)
            .max()
            .unwrap_or_default()
    }

    /// Every report, worst first; reports of the same status keep the
    /// targets' order.
    pub fn worst_first(&self) -> Vec<&Report> {
        let mut reports: Vec<&Report> = self.reports.iter().map(Arc::as_ref).collect();
        reports.sort_by_key(|r| std::cmp::Reverse(r.status()));
        reports
    }

    /// Reports that are not ok, worst first.
    pub fn troubled(&self) -> Vec<&Report> {
        let mut bad = self.worst_first();
        bad.retain(|r| r.status() != Status::Ok);
        bad
    }

    /// The count line: a single report's own ("1 problem, 4 checks ok"),
    /// or "2 of 20 targets with problems".
    // NOTE: shown in chat.
    pub fn counts(&self) -> String {
        if let Some(r) = self.single() {
            return r.counts();
        }
        let n = self.reports.len();
        match self.troubled().len() {
            0 => format!("{n} targets ok"),
            1 => format!("1 of {n} targets with problems"),
            k => format!("{k} of {n} targets with problems"),
        }
    }

    /// The one-line summary: the likely cause when triage found one
    /// ("Likely cause: openssl upgraded … 2 min before the PostgreSQL
    /// restart"), else a single report's own headline, or the troubled
    /// targets' worst findings ("postgres: Connection refused …; api: HTTP
    /// 502"), or a plain all-clear.
    // NOTE: shown in chat.
    pub fn headline(&self) -> String {
        if let Some(c) = &self.cause {
            return format!("Likely cause: {}", c.cause);
        }
        if let Some(r) = self.single() {
            return r.headline();
        }
        let troubled = self.troubled();
        if self.reports.is_empty() {
            return "No targets to check.".into();
        }
        if troubled.is_empty() {
            return format!("All {} targets passed every check.", self.reports.len());
        }
        let mut parts: Vec<String> = troubled
            .iter()
            .take(3)
            .map(|r| {
                let worst = r
                    .findings
                    .first()
                    .map(|f| f.summary.as_str())
                    .unwrap_or("no checks ran");
                format!("{}: {worst}", r.target.name)
            })
            .collect();
        if troubled.len() > 3 {
            parts.push(format!("and {} more", troubled.len() - 3));
        }
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Finding, TargetRef};

    fn report(name: &str, findings: Vec<Finding>, ms: u64) -> Report {
        Report::new(
            TargetRef {
                name: name.into(),
                kind: "redis".into(),
                location: "127.0.0.1:6379".into(),
            },
            findings,
            Duration::from_millis(ms),
        )
    }

    #[test]
    fn one_target_reads_like_its_report() {
        let d = Diagnosis::new(
            "redis",
            vec![report("redis", vec![Finding::warn("a", "Slow PING")], 5)],
        );
        assert_eq!(d.headline(), "Slow PING");
        assert_eq!(d.counts(), "1 problem, 0 checks ok");
        assert_eq!(d.status(), Status::Warn);
    }

    #[test]
    fn a_likely_cause_is_the_headline() {
        let mut d = Diagnosis::new(
            "host",
            vec![report(
                "host",
                vec![Finding::warn("a", "openssl upgraded")],
                5,
            )],
        );
        d.cause = Some(crate::triage::LikelyCause {
            cause: "openssl upgraded on web-1, 2 min before the PostgreSQL restart".into(),
            category: None,
            rule: None,
            evidence: vec![],
            confidence: crate::triage::Confidence::Medium,
            why: String::new(),
            self_healing: true,
            next_check: String::new(),
            actions: vec![],
        });
        assert_eq!(
            d.headline(),
            "Likely cause: openssl upgraded on web-1, 2 min before the PostgreSQL restart"
        );
    }

    #[test]
    fn several_targets_name_the_troubled_ones_worst_first() {
        let d = Diagnosis::new(
            "all",
            vec![
                report("cache", vec![Finding::ok("a", "fine")], 3),
                report("api", vec![Finding::warn("h", "HTTP 429 in 80 ms")], 90),
                report(
                    "db",
                    vec![Finding::critical(
                        "p",
                        "Connection refused by 10.0.0.5:5432",
                    )],
                    2000,
                ),
            ],
        );
        assert_eq!(d.status(), Status::Critical);
        assert_eq!(d.counts(), "2 of 3 targets with problems");
        assert_eq!(
            d.headline(),
            "db: Connection refused by 10.0.0.5:5432; api: HTTP 429 in 80 ms"
        );
        assert_eq!(d.elapsed(), Duration::from_secs(2));
    }

    #[test]
    fn all_clear_over_several_targets() {
        let d = Diagnosis::new(
            "all",
            vec![
                report("a", vec![Finding::ok("x", "ok")], 1),
                report("b", vec![Finding::ok("y", "ok")], 1),
            ],
        );
        assert_eq!(d.headline(), "All 2 targets passed every check.");
        assert_eq!(d.counts(), "2 targets ok");
    }
}
