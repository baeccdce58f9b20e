//! An alert from a monitoring source, normalised: what the incident logic
//! keys on (source + fingerprint), what people read (title, severity,
//! service, host, link), and what happened to it (firing, resolved, …).
//!
//! Adapters in `integrations::alerts` turn Sentry, PagerDuty and
//! Alertmanager payloads into these; nothing after them knows the vendor's
//! wire format. One webhook delivery can carry several alerts (an
//! Alertmanager group), so adapters return a list.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Where an alert came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertSource {
    /// Sentry's integration platform webhooks.
    Sentry,
    /// PagerDuty V3 webhooks.
    PagerDuty,
    /// Prometheus Alertmanager's webhook receiver (v4 payload).
    Alertmanager,
    /// A person, from chat: `/incident declare TITLE`. Its alert carries
    /// who declared it and where ([`Alert::declared`]).
    Chat,
}

impl AlertSource {
    /// The lowercase name used in config (`match = { source = "sentry" }`),
    /// storage and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSource::Sentry => "sentry",
            AlertSource::PagerDuty => "pagerduty",
            AlertSource::Alertmanager => "alertmanager",
            AlertSource::Chat => "chat",
        }
    }

    /// The product's name, as people write it ("PagerDuty").
    // NOTE: shown in chat.
    pub fn name(self) -> &'static str {
        match self {
            AlertSource::Sentry => "Sentry",
            AlertSource::PagerDuty => "PagerDuty",
            AlertSource::Alertmanager => "Alertmanager",
            AlertSource::Chat => "chat",
        }
    }
}

impl super::word::Word for AlertSource {
    const SET: &'static str = "alert source";
    const ALL: &'static [AlertSource] = &[
        AlertSource::Sentry,
        AlertSource::PagerDuty,
        AlertSource::Alertmanager,
        AlertSource::Chat,
    ];
    fn as_str(self) -> &'static str {
        AlertSource::as_str(self)
    }
}

/// How urgent the source says it is, mapped onto one scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational (Sentry `info`/`debug`, PagerDuty low urgency).
    Info,
    /// Needs attention (Sentry `warning`, Alertmanager `severity=warning`).
    Warning,
    /// Something is broken (Sentry `error`, PagerDuty high urgency).
    Error,
    /// Broken badly (Sentry `fatal`, Alertmanager `critical`/`page`).
    Critical,
}

impl super::word::Word for Severity {
    const SET: &'static str = "severity";
    const ALL: &'static [Severity] = &[
        Severity::Info,
        Severity::Warning,
        Severity::Error,
        Severity::Critical,
    ];
    fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

/// What this delivery says about the alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// It fires (created, triggered, firing, critical, warning).
    Firing,
    /// It is over (resolved).
    Resolved,
    /// Someone took it (PagerDuty acknowledged, Sentry assigned).
    Acknowledged,
    /// It fires again after an acknowledgement or an ignore.
    Reopened,
    /// Muted at the source (Sentry ignored).
    Ignored,
    /// Something else happened to it (reassigned, escalated, annotated,
    /// priority changed): worth a line in the thread, not a state change.
    Updated,
}

/// One alert, as every source is reduced to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The source.
    pub source: AlertSource,
    /// What makes two deliveries the same incident: the Sentry issue id,
    /// the PagerDuty incident id, Alertmanager's group key plus the
    /// alert's fingerprint.
    pub fingerprint: String,
    /// What this delivery says happened.
    pub state: AlertState,
    /// One line for people: "ConnectionError: Error -111 connecting to
    /// 10.0.1.1:6379. Connection refused."
    pub title: String,
    /// How urgent.
    pub severity: Severity,
    /// The service, project or job it concerns, when the source says.
    pub service: Option<String>,
    /// The host or instance, when the source says.
    pub host: Option<String>,
    /// Labels or tags, for routing and runbook matching (`alertname`,
    /// `environment`, `level` …), in the source's order.
    pub labels: Vec<(String, String)>,
    /// When it started, as the source says (not when medic heard of it).
    #[serde(with = "time::serde::rfc3339::option")]
    pub occurred_at: Option<OffsetDateTime>,
    /// A link to it at the source.
    pub link: Option<String>,
    /// Extra lines worth showing in the thread: the exception chain's
    /// innermost cause, an annotation, who acknowledged, the new priority.
    pub details: Vec<String>,
    /// The exception chain, innermost (root cause) first, when the source
    /// sent one (a Sentry event); triage matches its links first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<crate::triage::chain::Link>,
}

impl Alert {
    /// The value of a label, when present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}
