//! Which alerts go where, and what to diagnose for them: the `[[routes]]`
//! and `[[runbooks]]` of config, as data with one matching rule.
//!
//! A match names only what it cares about; every named field must hold.
//! `source`, `service` and `host` compare exactly, `severity` is a minimum
//! (`"warning"` also takes errors and criticals), `title` is a regular
//! expression searched in the title, and `labels` must all be present with
//! those values. An empty match takes every alert (a catch-all route).

use std::collections::BTreeMap;

use regex::Regex;
use serde::{Deserialize, Deserializer};

use crate::model::alert::{Alert, AlertSource, Severity};

/// The `match = { … }` of a route or runbook.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertMatch {
    /// `sentry`, `pagerduty` or `alertmanager`.
    pub source: Option<AlertSource>,
    /// The service, project or job, exactly.
    pub service: Option<String>,
    /// The host or instance, exactly.
    pub host: Option<String>,
    /// The least severity taken.
    pub severity: Option<Severity>,
    /// A regular expression searched in the title (`(?i)redis|timeout`).
    pub title: Option<Pattern>,
    /// Labels that must be present with these values.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl AlertMatch {
    /// Whether `alert` satisfies every named condition.
    pub fn matches(&self, alert: &Alert) -> bool {
        self.source.is_none_or(|s| s == alert.source)
            && self
                .service
                .as_deref()
                .is_none_or(|s| alert.service.as_deref() == Some(s))
            && self
                .host
                .as_deref()
                .is_none_or(|h| alert.host.as_deref() == Some(h))
            && self.severity.is_none_or(|s| alert.severity >= s)
            && self
                .title
                .as_ref()
                .is_none_or(|p| p.0.is_match(&alert.title))
            && self
                .labels
                .iter()
                .all(|(k, v)| alert.label(k) == Some(v.as_str()))
    }
}

/// A compiled regular expression from config; a bad one is a config error
/// naming the problem.
#[derive(Debug, Clone)]
pub struct Pattern(pub Regex);

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Regex::new(&text)
            .map(Pattern)
            .map_err(|e| serde::de::Error::custom(format!("not a valid regular expression: {e}")))
    }
}

/// `[[routes]]`: where the incidents of matching alerts are posted. The
/// first matching route wins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Which alerts.
    #[serde(rename = "match", default)]
    pub matcher: AlertMatch,
    /// The Slack channel id (`C0ALERTS`).
    pub slack_channel: Option<String>,
    /// The Discord channel id (served with Discord).
    pub discord_channel: Option<String>,
}

/// `[[runbooks]]`: what to diagnose when an alert opens an incident. Every
/// matching runbook contributes its targets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runbook {
    /// Which alerts.
    #[serde(rename = "match", default)]
    pub matcher: AlertMatch,
    /// Target names or kinds, as `/diag` takes them.
    pub run: Vec<String>,
}

/// The first route that takes `alert`.
pub fn route<'a>(routes: &'a [Route], alert: &Alert) -> Option<&'a Route> {
    routes.iter().find(|r| r.matcher.matches(alert))
}

/// The words to diagnose for `alert`: every matching runbook's `run`, in
/// order, without repeats.
pub fn runbook_targets(runbooks: &[Runbook], alert: &Alert) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in runbooks.iter().filter(|r| r.matcher.matches(alert)) {
        for word in &r.run {
            if !out.contains(word) {
                out.push(word.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::alert::AlertState;

    fn alert() -> Alert {
        Alert {
            source: AlertSource::Sentry,
            fingerprint: "1170820242".into(),
            state: AlertState::Firing,
            title: "ConnectionError: Error 111 connecting to 10.0.1.1:6379".into(),
            severity: Severity::Error,
            service: Some("api".into()),
            host: None,
            labels: vec![("environment".into(), "production".into())],
            occurred_at: None,
            link: None,
            details: vec![],
            chain: Vec::new(),
        }
    }

    fn parse<T: serde::de::DeserializeOwned>(json: &str) -> T {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn every_named_condition_must_hold() {
        let a = alert();
        let m: AlertMatch = parse(r#"{"source":"sentry","service":"api"}"#);
        assert!(m.matches(&a));
        let m: AlertMatch = parse(r#"{"source":"pagerduty"}"#);
        assert!(!m.matches(&a));
        let m: AlertMatch = parse(r#"{"severity":"warning","title":"(?i)connectionerror"}"#);
        assert!(m.matches(&a), "severity is a minimum");
        let m: AlertMatch = parse(r#"{"severity":"critical"}"#);
        assert!(!m.matches(&a));
        let m: AlertMatch = parse(r#"{"labels":{"environment":"staging"}}"#);
        assert!(!m.matches(&a));
        assert!(AlertMatch::default().matches(&a), "empty takes all");
    }

    #[test]
    fn first_route_wins_and_runbooks_add_up() {
        let routes: Vec<Route> = parse(
            r#"[{"match":{"service":"api"},"slack_channel":"C0API"},
                {"slack_channel":"C0ALL"}]"#,
        );
        assert_eq!(
            route(&routes, &alert()).unwrap().slack_channel.as_deref(),
            Some("C0API")
        );
        let runbooks: Vec<Runbook> = parse(
            r#"[{"match":{"title":"(?i)redis|6379"},"run":["redis","host"]},
                {"match":{"service":"api"},"run":["api","host"]},
                {"match":{"service":"web"},"run":["web"]}]"#,
        );
        assert_eq!(
            runbook_targets(&runbooks, &alert()),
            ["redis", "host", "api"]
        );
    }

    #[test]
    fn a_bad_pattern_or_key_is_a_config_error() {
        let e = serde_json::from_str::<AlertMatch>(r#"{"title":"(unclosed"}"#).unwrap_err();
        assert!(
            e.to_string().contains("not a valid regular expression"),
            "{e}"
        );
        let e = serde_json::from_str::<AlertMatch>(r#"{"servce":"api"}"#).unwrap_err();
        assert!(e.to_string().contains("servce"), "{e}");
    }
}
