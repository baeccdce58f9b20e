//! Purpose: PagerDuty V3 webhooks → [`Alert`]s.
//!
//! Wire format (developer.pagerduty.com, "V3 Webhooks": Overview,
//! Behavior, Signatures; and go-pagerduty's `webhookv3`):
//!
//! - `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]` — HMAC-SHA256 of the raw
//!   body, one signature per active secret of the subscription while a
//!   secret is being rotated. The secret is used as its ASCII bytes (it
//!   looks like base64 but is not decoded). The delivery passes when any
//!   configured secret ([`PagerDutyVerifier::new`] takes several, for
//!   rotation on medic's side too) matches any listed `v1` signature.
//!   Entries of other schemes are skipped, as PagerDuty's own client does.
//! - Delivery id: the body's `event.id`, as `event:<id>`. The docs call it
//!   "the unique id of the event"; it is inside the signed body, so a
//!   retry (the same bytes) carries it again and nobody can change it
//!   without the secret. PagerDuty also sends `X-Webhook-Id` ("unique to
//!   the webhook but repeated for each delivery attempt"), but headers are
//!   not signed: a captured body resent under a new `X-Webhook-Id` would
//!   pass as a new delivery (re-flip its incident, re-run its runbooks),
//!   so the header is not read. Keying on the event also folds the same
//!   event arriving through two subscriptions that both point at medic
//!   into one delivery. A body without a readable `event.id` (never seen
//!   from PagerDuty) is keyed on a hash of its bytes.
//! - Body: `{"event": {id, event_type, resource_type, occurred_at, agent,
//!   client, data}}`. Every `incident.*` event whose `data.type` is
//!   `incident` carries the whole incident; `incident.annotated` carries an
//!   `incident_note` that names its incident.
//!
//! Mapping: fingerprint = the incident id. `triggered` → Firing,
//! `acknowledged` → Acknowledged, `unacknowledged` (the acknowledgement
//! timed out) and `reopened` → Reopened, `resolved` → Resolved; every
//! other incident event (reassigned, escalated, delegated,
//! priority_updated, annotated, …) → Updated with a line for the thread.
//! Urgency high → Error, low → Info (PagerDuty has no finer severity on
//! incidents). `pagey.ping`, `service.*` and every non-incident event are
//! verified and then [`IntakeError::Ignored`].

use medic_commands::model::alert::{Alert, AlertSource, AlertState, Severity};
use serde::Deserialize;

use super::json::{self, header, malformed};
use super::signature::{HmacKey, decode_hex_sha256, digests_equal};
use super::{Intake, IntakeError};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-pagerduty-signature";
/// The header PagerDuty names each webhook with. Unsigned, so medic does
/// not read it: the delivery id comes from the signed body (module doc).
pub const WEBHOOK_ID_HEADER: &str = "x-webhook-id";

/// Verifies and reads PagerDuty V3 webhooks with one or more secrets.
#[derive(Clone)]
pub struct PagerDutyVerifier {
    secrets: Vec<HmacKey>,
}

impl std::fmt::Debug for PagerDutyVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PagerDutyVerifier({} secrets, ••••)", self.secrets.len())
    }
}

impl PagerDutyVerifier {
    /// A verifier accepting a signature by any of `secrets`
    /// (`pagerduty.webhook_secrets`): during a rotation, list the old and
    /// the new one. Empty secrets are dropped; with none left, every
    /// delivery is refused.
    pub fn new(secrets: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        PagerDutyVerifier {
            secrets: secrets
                .into_iter()
                .filter(|s| !s.as_ref().is_empty())
                .map(|s| HmacKey::new(s.as_ref().as_bytes()))
                .collect(),
        }
    }

    /// The header PagerDuty would send for `body`: `v1=<hex>` per secret,
    /// comma-separated. For tests and the benchmark.
    pub fn sign(&self, body: &[u8]) -> String {
        self.secrets
            .iter()
            .map(|key| format!("v1={}", hex::encode(key.tag(&[body]))))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Intake for PagerDutyVerifier {
    fn source(&self) -> AlertSource {
        AlertSource::PagerDuty
    }

    fn verify(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<(), IntakeError> {
        let value = header(headers, SIGNATURE_HEADER)
            .ok_or_else(|| IntakeError::Unauthorized("missing X-PagerDuty-Signature".into()))?;
        let given: Vec<[u8; 32]> = value
            .split(',')
            .filter_map(|entry| entry.trim().strip_prefix("v1="))
            .filter_map(decode_hex_sha256)
            .collect();
        if given.is_empty() {
            return Err(IntakeError::Unauthorized(
                "X-PagerDuty-Signature has no v1=<64 hex digits> entry".into(),
            ));
        }
        if self.secrets.is_empty() {
            return Err(IntakeError::Unauthorized(
                "no PagerDuty webhook secret is configured".into(),
            ));
        }
        // Every pair is compared (no early exit), each in constant time.
        let mut matched = false;
        for key in &self.secrets {
            let expected = key.tag(&[body]);
            for sig in &given {
                matched |= digests_equal(&expected, sig);
            }
        }
        if matched {
            Ok(())
        } else {
            Err(IntakeError::Unauthorized(format!(
                "none of the {} X-PagerDuty-Signature entries matches a configured secret",
                given.len()
            )))
        }
    }

    fn parse(&self, _headers: &http::HeaderMap, body: &[u8]) -> Result<Vec<Alert>, IntakeError> {
        let envelope: Envelope = json::parse(body)?;
        let event = envelope.event;
        let kind = event.event_type.as_str();
        if !kind.starts_with("incident.") {
            return Err(IntakeError::Ignored(format!("{kind} event")));
        }
        let data_type = event
            .data
            .get("type")
            .and_then(|t| t.as_str())
            .unwrap_or("");
        let alert = match data_type {
            "incident" => incident(&event)?,
            "incident_note" => annotated(&event)?,
            _ => match other(&event)? {
                Some(alert) => alert,
                None => return Err(IntakeError::Ignored(format!("{kind} event"))),
            },
        };
        Ok(vec![alert])
    }

    /// `event:<event.id>` from the signed body; `X-Webhook-Id` is ignored
    /// (module doc).
    fn delivery_id(&self, _headers: &http::HeaderMap, body: &[u8]) -> String {
        serde_json::from_slice::<IdOnly>(body)
            .ok()
            .map(|b| format!("event:{}", b.event.id))
            .unwrap_or_else(|| json::content_hash([body]))
    }
}

#[derive(Deserialize)]
struct IdOnly {
    event: IdOnlyEvent,
}

#[derive(Deserialize)]
struct IdOnlyEvent {
    #[serde(deserialize_with = "json::id_string")]
    id: String,
}

#[derive(Deserialize)]
struct Envelope {
    event: Event,
}

#[derive(Deserialize)]
struct Event {
    event_type: String,
    #[serde(default)]
    occurred_at: Option<String>,
    #[serde(default)]
    agent: Option<Reference>,
    /// Read per `data.type` below, so its field errors are named
    /// `event.data.…` by hand.
    data: serde_json::Value,
}

/// A PagerDuty reference (`user_reference`, `service_reference`, …).
#[derive(Deserialize, Clone)]
struct Reference {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct Incident {
    #[serde(deserialize_with = "json::id_string")]
    id: String,
    title: String,
    #[serde(default)]
    number: Option<u64>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    urgency: Option<String>,
    #[serde(default)]
    service: Option<Reference>,
    #[serde(default)]
    assignees: Option<Vec<Reference>>,
    #[serde(default)]
    escalation_policy: Option<Reference>,
    #[serde(default)]
    teams: Option<Vec<Reference>>,
    #[serde(default)]
    priority: Option<Reference>,
    #[serde(default)]
    resolve_reason: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Note {
    incident: IncidentRef,
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct IncidentRef {
    #[serde(deserialize_with = "json::id_string")]
    id: String,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct MaybeIncidentRef {
    #[serde(default)]
    incident: Option<IncidentRef>,
}

/// Reads `event.data` as `T`, naming a bad field `event.data.<path>`.
fn data<T: serde::de::DeserializeOwned>(event: &Event) -> Result<T, IntakeError> {
    let text = serde_json::to_vec(&event.data).unwrap_or_default();
    json::parse(&text).map_err(|e| match e {
        IntakeError::Malformed { field, reason } => {
            let field = if field == "body" {
                "event.data".to_string()
            } else {
                format!("event.data.{field}")
            };
            malformed(field, reason)
        }
        other => other,
    })
}

fn incident(event: &Event) -> Result<Alert, IntakeError> {
    let inc: Incident = data(event)?;
    let verb = event
        .event_type
        .strip_prefix("incident.")
        .unwrap_or(&event.event_type);
    let by = agent_name(event);
    let mut details = Vec::new();
    let state = match verb {
        "triggered" => AlertState::Firing,
        "acknowledged" => {
            details.push(format!("Acknowledged{by}"));
            AlertState::Acknowledged
        }
        "unacknowledged" => {
            details.push("Unacknowledged: the acknowledgement timed out".to_string());
            AlertState::Reopened
        }
        "reopened" => {
            details.push(format!("Reopened{by}"));
            AlertState::Reopened
        }
        "resolved" => {
            let reason = inc
                .resolve_reason
                .as_ref()
                .and_then(|r| r.get("type").and_then(|t| t.as_str()).or(r.as_str()))
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            details.push(format!("Resolved{by}{reason}"));
            AlertState::Resolved
        }
        "priority_updated" => {
            let p = summary_of(inc.priority.as_ref()).unwrap_or("none");
            details.push(format!("Priority changed to {p}{by}"));
            AlertState::Updated
        }
        "reassigned" | "escalated" => {
            let to = names(inc.assignees.as_deref());
            details.push(format!(
                "{} to {}{by}",
                if verb == "reassigned" {
                    "Reassigned"
                } else {
                    "Escalated"
                },
                if to.is_empty() { "nobody" } else { &to }
            ));
            AlertState::Updated
        }
        "delegated" => {
            let to = summary_of(inc.escalation_policy.as_ref()).unwrap_or("?");
            details.push(format!("Delegated to escalation policy {to}{by}"));
            AlertState::Updated
        }
        "service_updated" => {
            let to = summary_of(inc.service.as_ref()).unwrap_or("?");
            details.push(format!("Moved to service {to}{by}"));
            AlertState::Updated
        }
        other => {
            details.push(format!("PagerDuty: incident {other}{by}"));
            AlertState::Updated
        }
    };
    let mut labels = Vec::new();
    push(&mut labels, "service", summary_of(inc.service.as_ref()));
    push(&mut labels, "urgency", inc.urgency.as_deref());
    push(&mut labels, "priority", summary_of(inc.priority.as_ref()));
    push(&mut labels, "status", inc.status.as_deref());
    push(
        &mut labels,
        "escalation_policy",
        summary_of(inc.escalation_policy.as_ref()),
    );
    for team in inc.teams.iter().flatten() {
        push(&mut labels, "team", team.summary.as_deref());
    }
    if let Some(n) = inc.number {
        labels.push(("incident_number".into(), n.to_string()));
    }
    Ok(Alert {
        source: AlertSource::PagerDuty,
        fingerprint: inc.id,
        state,
        title: inc.title,
        severity: urgency_severity(inc.urgency.as_deref()),
        service: summary_of(inc.service.as_ref()).map(str::to_string),
        host: None,
        labels,
        occurred_at: json::rfc3339_lenient(
            inc.created_at.as_deref().or(event.occurred_at.as_deref()),
        ),
        link: inc
            .html_url
            .or_else(|| inc.service.as_ref().and_then(|s| s.html_url.clone())),
        details,
        chain: Vec::new(),
    })
}

/// `incident.annotated`: a note on an incident, one line in its thread.
fn annotated(event: &Event) -> Result<Alert, IntakeError> {
    let note: Note = data(event)?;
    let by = agent_name(event);
    let content = note.content.as_deref().unwrap_or("").trim();
    Ok(reference_update(
        event,
        note.incident,
        format!("Note{by}: {content}"),
    ))
}

/// Another `incident.*` event (responder added, status update published,
/// …): a line in the thread when it names its incident, else nothing.
fn other(event: &Event) -> Result<Option<Alert>, IntakeError> {
    let Ok(found) = serde_json::from_value::<MaybeIncidentRef>(event.data.clone()) else {
        return Ok(None);
    };
    let by = agent_name(event);
    Ok(found
        .incident
        .map(|inc| reference_update(event, inc, format!("PagerDuty: {}{by}", event.event_type))))
}

fn reference_update(event: &Event, inc: IncidentRef, line: String) -> Alert {
    let title = inc
        .summary
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| format!("PagerDuty incident {}", inc.id));
    Alert {
        source: AlertSource::PagerDuty,
        fingerprint: inc.id,
        state: AlertState::Updated,
        title,
        severity: Severity::Info,
        service: None,
        host: None,
        labels: Vec::new(),
        occurred_at: json::rfc3339_lenient(event.occurred_at.as_deref()),
        link: inc.html_url,
        details: vec![line],
        chain: Vec::new(),
    }
}

/// ` by <agent>` when the event names who did it.
fn agent_name(event: &Event) -> String {
    event
        .agent
        .as_ref()
        .and_then(|a| a.summary.as_deref().or(a.id.as_deref()))
        .map(|n| format!(" by {n}"))
        .unwrap_or_default()
}

fn urgency_severity(urgency: Option<&str>) -> Severity {
    match urgency {
        Some("low") => Severity::Info,
        _ => Severity::Error,
    }
}

fn summary_of(r: Option<&Reference>) -> Option<&str> {
    r.and_then(|r| r.summary.as_deref())
        .filter(|s| !s.trim().is_empty())
}

fn names(refs: Option<&[Reference]>) -> String {
    refs.unwrap_or_default()
        .iter()
        .filter_map(|r| r.summary.as_deref())
        .collect::<Vec<_>>()
        .join(", ")
}

fn push(labels: &mut Vec<(String, String)>, key: &str, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
        labels.push((key.to_string(), v.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_secrets() {
        let v = PagerDutyVerifier::new(["old-secret-aaa", "new-secret-bbb"]);
        let shown = format!("{v:?}");
        assert!(!shown.contains("secret-aaa") && !shown.contains("secret-bbb"));
        assert!(shown.contains("2 secrets"));
    }

    #[test]
    fn empty_secrets_are_dropped() {
        let v = PagerDutyVerifier::new(["", "x"]);
        assert_eq!(v.secrets.len(), 1);
    }
}
