//! The result of a diagnostic run, in the terms an on-call engineer reads:
//! how bad (a [`Status`]), what was found ([`Finding`]s, worst first), and
//! how long it took. Renderers for Slack, Discord and the terminal all start
//! from this one type, so what a user sees is the same on every platform.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How bad something is. The order is the order of concern, so the worst of
/// several statuses is simply their maximum: an unknown (a check that could
/// not tell) outranks ok but not a real warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Checked and healthy.
    Ok,
    /// Could not be checked; says nothing either way.
    Unknown,
    /// Degraded or heading for trouble.
    Warn,
    /// Broken now.
    Critical,
}

impl Status {
    /// Where `value` stands against two thresholds: critical at or above
    /// `critical_at`, warning at or above `warn_at`, ok below. The one rule
    /// every gauge check (memory, clients, disk, load) uses.
    pub fn by_level(value: f64, warn_at: f64, critical_at: f64) -> Status {
        if value >= critical_at {
            Status::Critical
        } else if value >= warn_at {
            Status::Warn
        } else {
            Status::Ok
        }
    }

    /// The symbol that leads every line about this status. Colour alone never
    /// carries meaning (UX.md), so the symbol is always paired with a word.
    pub fn symbol(self) -> &'static str {
        match self {
            Status::Ok => "🟢",
            Status::Unknown => "⚪",
            Status::Warn => "🟠",
            Status::Critical => "🔴",
        }
    }

    /// The word for this status, as printed next to its symbol.
    // NOTE: shown in chat.
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Unknown => "unknown",
            Status::Warn => "warning",
            Status::Critical => "critical",
        }
    }

    /// Process exit code for `medic diag`: 0 ok, 1 warning, 2 critical, and 3
    /// for unknown (the Nagios convention, which monitoring wrappers expect).
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Ok => 0,
            Status::Warn => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }
}

/// One thing a check found: a line an engineer can act on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable id of the check that produced it (`redis.memory`), for tests,
    /// metrics and later triage rules; never shown as the headline.
    pub check: String,
    /// How bad this one thing is.
    pub status: Status,
    /// One line in plain words, numbers with their limits:
    /// "Memory 1.9 GiB of 2 GiB maxmemory (95 %)".
    pub summary: String,
    /// Further lines shown under the summary in the thread.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detail: Vec<String>,
    /// Verbatim evidence (an error text, a log line), shown as code and
    /// shortened by renderers to their platform's limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// When the thing this finding reports happened (a restart, from an
    /// uptime), so that triage can put it on the incident's timeline.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub at: Option<time::OffsetDateTime>,
}

impl Finding {
    /// A finding with a status and a summary line.
    pub fn new(check: impl Into<String>, status: Status, summary: impl Into<String>) -> Self {
        Finding {
            check: check.into(),
            status,
            summary: summary.into(),
            detail: Vec::new(),
            evidence: None,
            at: None,
        }
    }

    /// Shorthand for a healthy finding.
    pub fn ok(check: impl Into<String>, summary: impl Into<String>) -> Self {
        Self::new(check, Status::Ok, summary)
    }

    /// Shorthand for a warning.
    pub fn warn(check: impl Into<String>, summary: impl Into<String>) -> Self {
        Self::new(check, Status::Warn, summary)
    }

    /// Shorthand for a critical finding.
    pub fn critical(check: impl Into<String>, summary: impl Into<String>) -> Self {
        Self::new(check, Status::Critical, summary)
    }

    /// Shorthand for a check that could not tell.
    pub fn unknown(check: impl Into<String>, summary: impl Into<String>) -> Self {
        Self::new(check, Status::Unknown, summary)
    }

    /// Adds a detail line.
    pub fn with_detail(mut self, line: impl Into<String>) -> Self {
        self.detail.push(line.into());
        self
    }

    /// Says when the reported event happened.
    pub fn at(mut self, at: time::OffsetDateTime) -> Self {
        self.at = Some(at);
        self
    }

    /// [`Finding::at`] when the time is known.
    pub fn at_opt(mut self, at: Option<time::OffsetDateTime>) -> Self {
        self.at = at.or(self.at);
        self
    }

    /// Attaches verbatim evidence.
    pub fn with_evidence(mut self, evidence: impl Into<String>) -> Self {
        self.evidence = Some(evidence.into());
        self
    }
}

/// What was diagnosed, as shown to people: the configured name and a
/// secret-free description of where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRef {
    /// The name users type (`redis` in `/diag redis`).
    pub name: String,
    /// The diagnostic kind (`redis`, `postgres`, …).
    pub kind: String,
    /// Where it is, without credentials: `127.0.0.1:6379`.
    pub location: String,
}

/// The result of diagnosing one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// What was diagnosed.
    pub target: TargetRef,
    /// Findings, worst first (see [`Report::new`]).
    pub findings: Vec<Finding>,
    /// Wall-clock time the diagnostic took.
    #[serde(with = "duration_ms")]
    pub elapsed: Duration,
}

impl Report {
    /// Builds a report, ordering findings worst first so that every renderer
    /// leads with what matters; findings of equal status keep check order.
    pub fn new(target: TargetRef, mut findings: Vec<Finding>, elapsed: Duration) -> Self {
        findings.sort_by_key(|f| std::cmp::Reverse(f.status));
        Report {
            target,
            findings,
            elapsed,
        }
    }

    /// The overall status: the worst finding's, or unknown when nothing was
    /// found at all (an empty report proves nothing).
    pub fn status(&self) -> Status {
        self.findings
            .iter()
            .map(|f| f.status)
            .max()
            .unwrap_or(Status::Unknown)
    }

    /// Findings that are not ok: the problems a reader must see first.
    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.status != Status::Ok)
    }

    /// The count line of the root message: "2 problems, 5 checks ok".
    // NOTE: shown in chat.
    pub fn counts(&self) -> String {
        let problems = self.problems().count();
        let ok = self.findings.len() - problems;
        let checks = plural(ok, "check", "checks");
        match problems {
            0 => format!("{ok} {checks} ok"),
            1 => format!("1 problem, {ok} {checks} ok"),
            n => format!("{n} problems, {ok} {checks} ok"),
        }
    }

    /// The one-line summary under the root line: the worst findings'
    /// summaries, or a plain all-clear.
    // NOTE: shown in chat.
    pub fn headline(&self) -> String {
        let problems: Vec<&str> = self.problems().map(|f| f.summary.as_str()).collect();
        match problems.as_slice() {
            [] if self.findings.is_empty() => "No checks ran.".to_string(),
            [] => format!(
                "All {} {} passed.",
                self.findings.len(),
                plural(self.findings.len(), "check", "checks")
            ),
            [only] => (*only).to_string(),
            [first, second] => format!("{first}; {second}"),
            [first, second, rest @ ..] => {
                format!("{first}; {second}; and {} more", rest.len())
            }
        }
    }
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> TargetRef {
        TargetRef {
            name: "redis".into(),
            kind: "redis".into(),
            location: "127.0.0.1:6379".into(),
        }
    }

    #[test]
    fn worst_finding_sets_status_and_leads() {
        let report = Report::new(
            target(),
            vec![
                Finding::ok("redis.ping", "PING 1 ms"),
                Finding::warn("redis.uptime", "Restarted 3 min ago"),
                Finding::critical("redis.memory", "Memory 99 %"),
            ],
            Duration::from_millis(12),
        );
        assert_eq!(report.status(), Status::Critical);
        assert_eq!(report.findings[0].check, "redis.memory");
        assert_eq!(report.counts(), "2 problems, 1 check ok");
        assert_eq!(report.headline(), "Memory 99 %; Restarted 3 min ago");
    }

    #[test]
    fn empty_report_is_unknown_not_ok() {
        let report = Report::new(target(), vec![], Duration::ZERO);
        assert_eq!(report.status(), Status::Unknown);
        assert_eq!(report.headline(), "No checks ran.");
    }

    #[test]
    fn all_clear_headline() {
        let report = Report::new(
            target(),
            vec![Finding::ok("a", "x"), Finding::ok("b", "y")],
            Duration::ZERO,
        );
        assert_eq!(report.status(), Status::Ok);
        assert_eq!(report.headline(), "All 2 checks passed.");
        assert_eq!(report.counts(), "2 checks ok");
    }

    #[test]
    fn many_problems_are_summarised() {
        let findings = (0..5)
            .map(|i| Finding::warn(format!("c{i}"), format!("p{i}")))
            .collect();
        let report = Report::new(target(), findings, Duration::ZERO);
        assert_eq!(report.headline(), "p0; p1; and 3 more");
    }

    #[test]
    fn exit_codes_follow_the_contract() {
        assert_eq!(Status::Ok.exit_code(), 0);
        assert_eq!(Status::Warn.exit_code(), 1);
        assert_eq!(Status::Critical.exit_code(), 2);
    }
}
