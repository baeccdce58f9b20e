//! An incident's severity level, P0–P3, as the runbooks run incidents
//! (Tutorial 08):
//!
//! | | means | respond within |
//! |---|---|---|
//! | P0 Critical | complete outage, data loss or corruption, security breach | immediately |
//! | P1 High | partial degradation, error rate > 5 %, users affected | 15 minutes |
//! | P2 Medium | minor functionality, non-critical feature failures | 1 hour |
//! | P3 Low | minor bugs, cosmetic | 1 day |
//!
//! People call it the incident's severity (`[incidents.severity]` in
//! config, "P1" in chat); the code calls it [`Priority`] because
//! [`Severity`] is already the alert's own level as its source said it
//! (Sentry's `level`, Alertmanager's `severity` label, PagerDuty's
//! urgency), from which the P-level is mapped ([`PriorityMap`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::alert::{Alert, AlertSource, Severity};

/// P0 (worst) to P3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Priority {
    /// Complete outage, data loss or corruption, security breach.
    P0,
    /// Partial degradation, users affected.
    P1,
    /// Minor functionality, non-critical failures.
    P2,
    /// Minor bugs, cosmetic.
    P3,
}

impl Priority {
    /// Parses `P1` or `p1`.
    pub fn parse(text: &str) -> Option<Priority> {
        <Priority as super::word::Word>::ALL
            .iter()
            .copied()
            .find(|p| p.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// `P1`.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P0 => "P0",
            Priority::P1 => "P1",
            Priority::P2 => "P2",
            Priority::P3 => "P3",
        }
    }

    /// `High`.
    // NOTE: shown in chat.
    pub fn name(self) -> &'static str {
        match self {
            Priority::P0 => "Critical",
            Priority::P1 => "High",
            Priority::P2 => "Medium",
            Priority::P3 => "Low",
        }
    }

    /// How soon someone should be on it (zero: at once).
    pub fn respond_within(self) -> Duration {
        match self {
            Priority::P0 => Duration::ZERO,
            Priority::P1 => Duration::from_secs(15 * 60),
            Priority::P2 => Duration::from_secs(60 * 60),
            Priority::P3 => Duration::from_secs(24 * 60 * 60),
        }
    }
}

impl super::word::Word for Priority {
    const SET: &'static str = "incident severity";
    const ALL: &'static [Priority] = &[Priority::P0, Priority::P1, Priority::P2, Priority::P3];
    fn as_str(self) -> &'static str {
        Priority::as_str(self)
    }
}

/// From each source's alert level to a P-level: `[incidents.severity]`.
/// Indexed by source, then by medic's [`Severity`]; every cell is set, so
/// every incident gets a P-level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriorityMap {
    by_source: [[Priority; 4]; 4],
}

fn source_index(s: AlertSource) -> usize {
    match s {
        AlertSource::Sentry => 0,
        AlertSource::PagerDuty => 1,
        AlertSource::Alertmanager => 2,
        AlertSource::Chat => 3,
    }
}

fn severity_index(s: Severity) -> usize {
    match s {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Error => 2,
        Severity::Critical => 3,
    }
}

impl Default for PriorityMap {
    /// Sentry: fatal → P1, error → P2, warning and info → P3.
    /// PagerDuty: high urgency → P1, low → P3 (a PagerDuty priority named
    /// P0–P3 wins; P4 and P5 are P3). Alertmanager: critical/page → P1,
    /// error → P2, warning and info → P3. P0 is a person's call, or
    /// config's: nothing maps there by default.
    fn default() -> Self {
        use Priority::*;
        // Columns: info, warning, error, critical.
        PriorityMap {
            by_source: [
                [P3, P3, P2, P1], // Sentry
                [P3, P3, P1, P1], // PagerDuty (urgency low → info, high → error)
                [P3, P3, P2, P1], // Alertmanager
                [P3, P3, P2, P1], // chat (a declared incident names its level)
            ],
        }
    }
}

impl PriorityMap {
    /// Maps `severity` of `source` to `priority`.
    pub fn set(&mut self, source: AlertSource, severity: Severity, priority: Priority) {
        self.by_source[source_index(source)][severity_index(severity)] = priority;
    }

    /// The P-level `alert` opens its incident at. A PagerDuty incident's
    /// own priority, when it is named P0–P5, is taken as it is (P4 and P5
    /// as P3); so is the level an incident was declared at.
    pub fn of(&self, alert: &Alert) -> Priority {
        if matches!(alert.source, AlertSource::PagerDuty | AlertSource::Chat)
            && let Some((_, named)) = alert.labels.iter().find(|(k, _)| k == "priority")
        {
            let named = named.trim();
            if let Some(p) = Priority::parse(named) {
                return p;
            }
            if named.eq_ignore_ascii_case("P4") || named.eq_ignore_ascii_case("P5") {
                return Priority::P3;
            }
        }
        self.by_source[source_index(alert.source)][severity_index(alert.severity)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::alert::AlertState;

    fn alert(source: AlertSource, severity: Severity, labels: &[(&str, &str)]) -> Alert {
        Alert {
            source,
            fingerprint: "f".into(),
            state: AlertState::Firing,
            title: "t".into(),
            severity,
            service: None,
            host: None,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            occurred_at: None,
            link: None,
            details: Vec::new(),
            chain: Vec::new(),
        }
    }

    #[test]
    fn defaults_map_each_source_and_pagerduty_priorities_win() {
        let m = PriorityMap::default();
        assert_eq!(
            m.of(&alert(AlertSource::Sentry, Severity::Critical, &[])),
            Priority::P1
        );
        assert_eq!(
            m.of(&alert(AlertSource::Sentry, Severity::Error, &[])),
            Priority::P2
        );
        assert_eq!(
            m.of(&alert(AlertSource::Alertmanager, Severity::Warning, &[])),
            Priority::P3
        );
        assert_eq!(
            m.of(&alert(AlertSource::PagerDuty, Severity::Error, &[])),
            Priority::P1
        );
        assert_eq!(
            m.of(&alert(AlertSource::PagerDuty, Severity::Info, &[])),
            Priority::P3
        );
        let named = |p| alert(AlertSource::PagerDuty, Severity::Info, &[("priority", p)]);
        assert_eq!(m.of(&named("P0")), Priority::P0);
        assert_eq!(m.of(&named("p2")), Priority::P2);
        assert_eq!(m.of(&named("P5")), Priority::P3);
        assert_eq!(
            m.of(&named("SEV-1")),
            Priority::P3,
            "unknown names fall back to urgency"
        );
    }

    #[test]
    fn config_overrides_a_cell_and_words_read_back() {
        let mut m = PriorityMap::default();
        m.set(AlertSource::Sentry, Severity::Critical, Priority::P0);
        assert_eq!(
            m.of(&alert(AlertSource::Sentry, Severity::Critical, &[])),
            Priority::P0
        );
        assert_eq!(Priority::parse(" p1 "), Some(Priority::P1));
        assert_eq!(Priority::parse("P4"), None);
        assert_eq!(Priority::P1.respond_within(), Duration::from_secs(900));
        assert!(Priority::P0 < Priority::P3, "P0 sorts first: worst first");
    }
}
