//! The shapes of Sentry's integration-platform payloads, as far as medic
//! reads them. Required fields are the ones an alert cannot do without
//! (ids, titles, the action); everything else is optional, so a payload
//! from a newer or older Sentry still parses.

use serde::Deserialize;

use super::event::Exceptions;
use crate::alerts::json;

/// Every integration-platform payload: `{"action", "data", …}`.
#[derive(Deserialize)]
pub(super) struct Hook<D> {
    pub(super) action: String,
    pub(super) data: D,
}

#[derive(Deserialize)]
pub(super) struct IssueData {
    pub(super) issue: Issue,
}

#[derive(Deserialize)]
pub(super) struct Issue {
    #[serde(deserialize_with = "json::id_string")]
    pub(super) id: String,
    pub(super) title: String,
    #[serde(default)]
    pub(super) culprit: Option<String>,
    #[serde(default)]
    pub(super) level: Option<String>,
    #[serde(default, rename = "shortId")]
    pub(super) short_id: Option<String>,
    #[serde(default)]
    pub(super) platform: Option<String>,
    #[serde(default)]
    pub(super) project: Option<Project>,
    #[serde(default)]
    pub(super) permalink: Option<String>,
    #[serde(default, rename = "firstSeen")]
    pub(super) first_seen: Option<String>,
    #[serde(default, rename = "assignedTo")]
    pub(super) assigned_to: Option<Assignee>,
}

#[derive(Deserialize)]
pub(super) struct Project {
    #[serde(default)]
    pub(super) slug: Option<String>,
    #[serde(default)]
    pub(super) name: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Assignee {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) email: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct ErrorData {
    pub(super) error: Event,
}

#[derive(Deserialize)]
pub(super) struct EventAlertData {
    pub(super) event: Event,
    #[serde(default)]
    pub(super) triggered_rule: Option<String>,
    #[serde(default)]
    pub(super) issue_alert: Option<IssueAlert>,
}

#[derive(Deserialize)]
pub(super) struct IssueAlert {
    #[serde(default)]
    pub(super) title: Option<String>,
}

/// An event as `error` and `event_alert` webhooks carry it.
#[derive(Deserialize)]
pub(super) struct Event {
    #[serde(deserialize_with = "json::id_string")]
    pub(super) issue_id: String,
    #[serde(default)]
    pub(super) title: Option<String>,
    #[serde(default)]
    pub(super) message: Option<String>,
    #[serde(default)]
    pub(super) culprit: Option<String>,
    #[serde(default)]
    pub(super) level: Option<String>,
    #[serde(default)]
    pub(super) environment: Option<String>,
    #[serde(default)]
    pub(super) datetime: Option<String>,
    #[serde(default)]
    pub(super) web_url: Option<String>,
    #[serde(default)]
    pub(super) url: Option<String>,
    #[serde(default, deserialize_with = "json::lenient_tags")]
    pub(super) tags: Vec<(String, String)>,
    #[serde(default)]
    pub(super) exception: Exceptions,
}

#[derive(Deserialize)]
pub(super) struct MetricData {
    pub(super) metric_alert: MetricAlert,
    #[serde(default)]
    pub(super) description_text: Option<String>,
    #[serde(default)]
    pub(super) description_title: Option<String>,
    #[serde(default)]
    pub(super) web_url: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct MetricAlert {
    #[serde(deserialize_with = "json::id_string")]
    pub(super) id: String,
    #[serde(default)]
    pub(super) title: Option<String>,
    #[serde(default)]
    pub(super) alert_rule: Option<AlertRule>,
    #[serde(default)]
    pub(super) projects: Option<Vec<String>>,
    #[serde(default)]
    pub(super) date_started: Option<String>,
    #[serde(default)]
    pub(super) date_detected: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct AlertRule {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) projects: Option<Vec<String>>,
    #[serde(default)]
    pub(super) environment: Option<String>,
    #[serde(default)]
    pub(super) aggregate: Option<String>,
    #[serde(default)]
    pub(super) query: Option<String>,
}
