//! An incident as people see it: what fires, how often, since when, and
//! whether it is over. Renderers build the root message from this, so every
//! edit of the root ("seen 37×", resolved) reads the same on every platform.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::alert::{AlertSource, Severity};

/// What a person does to an incident from its thread (a button on its
/// root, or `/incident ack|resolve|reopen`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    /// Someone is on it.
    Acknowledge,
    /// It is over.
    Resolve,
    /// It is not over after all.
    Reopen,
}

impl Response {
    /// The verb, as in "you may not acknowledge …".
    // NOTE: shown in chat.
    pub fn verb(self) -> &'static str {
        match self {
            Response::Acknowledge => "acknowledge",
            Response::Resolve => "resolve",
            Response::Reopen => "reopen",
        }
    }

    /// The past tense, as the audit log and the log say it.
    pub fn done(self) -> &'static str {
        match self {
            Response::Acknowledge => "acknowledged",
            Response::Resolve => "resolved",
            Response::Reopen => "reopened",
        }
    }

    /// What happened, as its timeline line says it.
    // NOTE: shown in chat.
    pub fn title(self) -> &'static str {
        match self {
            Response::Acknowledge => "Acknowledged",
            Response::Resolve => "Resolved",
            Response::Reopen => "Reopened",
        }
    }

    /// Its kind of timeline event.
    pub fn event(self) -> super::timeline::EventKind {
        use super::timeline::EventKind;
        match self {
            Response::Acknowledge => EventKind::Acknowledged,
            Response::Resolve => EventKind::Resolved,
            Response::Reopen => EventKind::Reopened,
        }
    }

    /// The line in the thread, before who did it.
    // NOTE: shown in chat.
    pub fn said(self) -> &'static str {
        match self {
            Response::Acknowledge => "👀 Acknowledged",
            Response::Resolve => "✅ Resolved",
            Response::Reopen => "↩️ Reopened",
        }
    }
}

/// Whether an incident is still going on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentState {
    /// Firing (or acknowledged but not resolved).
    Open,
    /// The source said it is over.
    Resolved,
}

impl IncidentState {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Resolved => "resolved",
        }
    }
}

impl super::word::Word for IncidentState {
    const SET: &'static str = "incident state";
    const ALL: &'static [IncidentState] = &[IncidentState::Open, IncidentState::Resolved];
    fn as_str(self) -> &'static str {
        IncidentState::as_str(self)
    }
}

/// One incident, for rendering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentView {
    /// medic's incident number.
    pub id: i64,
    /// Where its alerts come from.
    pub source: AlertSource,
    /// Open or resolved.
    pub state: IncidentState,
    /// The alert's title.
    pub title: String,
    /// The worst severity seen.
    pub severity: Severity,
    /// Service, project or job.
    pub service: Option<String>,
    /// Host or instance.
    pub host: Option<String>,
    /// The incident at its source.
    pub link: Option<String>,
    /// Deliveries that fired it.
    pub seen_count: i64,
    /// The first of them.
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    /// The latest.
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
    /// When the source said it was over.
    #[serde(with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
    /// Its severity level, P0–P3 (`None` for incidents opened before
    /// medic kept one).
    #[serde(default)]
    pub priority: Option<super::priority::Priority>,
    /// Who acknowledged it from its thread, while it is open.
    #[serde(default)]
    pub acked_by: Option<super::inbound::Actor>,
}

impl IncidentView {
    /// How long it lasted, once resolved: "5 min 38 s".
    // NOTE: shown in chat.
    pub fn lasted(&self) -> Option<String> {
        self.resolved_at
            .map(|end| crate::format::human_span(self.first_seen, end))
    }

    /// `P1 ` before its title, when it has a P-level.
    // NOTE: shown in chat.
    pub fn level_prefix(&self) -> String {
        self.priority
            .map(|p| format!("{} ", p.as_str()))
            .unwrap_or_default()
    }

    /// `P1 High: respond within 15 min`, when it has a P-level.
    // NOTE: shown in chat.
    pub fn level_line(&self) -> Option<String> {
        self.priority.map(|p| {
            let within = p.respond_within();
            let when = if within.is_zero() {
                "respond now".to_string()
            } else {
                format!(
                    "respond within {}",
                    crate::format::human_age(within.as_secs())
                )
            };
            format!("{} {}: {when}", p.as_str(), p.name())
        })
    }
}

impl IncidentView {
    /// The buttons its root offers, as it stands: Acknowledge (until
    /// someone has) and Resolve while open; Reopen once resolved.
    pub fn responses(&self) -> Vec<(&'static str, super::inbound::ClickVerb)> {
        use super::inbound::ClickVerb;
        match self.state {
            IncidentState::Open if self.acked_by.is_none() => vec![
                ("Acknowledge", ClickVerb::Acknowledge),
                ("Resolve", ClickVerb::Resolve),
            ],
            IncidentState::Open => vec![("Resolve", ClickVerb::Resolve)],
            IncidentState::Resolved => vec![("Reopen", ClickVerb::Reopen)],
        }
    }
}
