//! Purpose: Sentry integration-platform webhooks → [`Alert`]s.
//!
//! Wire format (docs.sentry.io, "Integration Platform → Webhooks", and
//! getsentry/sentry `AppPlatformEvent`):
//!
//! - `Sentry-Hook-Signature`: bare lower-case hex HMAC-SHA256 of the raw
//!   body under the integration's client secret. The body is Python's
//!   `json.dumps` output; it is hashed exactly as received, never
//!   re-serialised. Older and UI-component requests carry the same value
//!   in `Sentry-App-Signature`, which is accepted when the first is absent.
//!   `Sentry-Hook-Timestamp` is not signed, so it proves nothing and is not
//!   checked.
//! - `Sentry-Hook-Resource` selects the payload: `issue` (created, resolved,
//!   assigned, ignored/archived, unresolved), `error` (created),
//!   `event_alert` (triggered), `metric_alert` (critical, warning,
//!   resolved). `installation`, `comment` and any other resource is
//!   verified and then [`IntakeError::Ignored`].
//! - `Request-ID`: one uuid per delivery, the same on Sentry's retries. It
//!   is not signed, so medic does not read it (below).
//!
//! # Delivery id: a hash of the signed body
//!
//! Sentry's body carries no delivery id, and its only id, `Request-ID`, is
//! an unsigned header: keyed on it, a captured body (from a proxy log, a
//! debugging session) resent with a fresh `Request-ID` and its valid
//! signature would be a new delivery — reopening or resolving its
//! incident again, re-running its runbooks. So the delivery id is
//! [`json::content_hash`] of the exact bytes the signature covers: a retry
//! (the same bytes) is recognised, and no replay gets past it.
//!
//! The cost: two *distinct* deliveries whose bodies are byte-identical are
//! one delivery to medic, for as long as deliveries are kept for dedup (a
//! week). Which of Sentry's payloads can repeat byte for byte:
//!
//! - `error` and `event_alert` carry the whole event with its `event_id`,
//!   unique per event: never.
//! - `metric_alert` carries its metric incident with its dates and the
//!   measured value in `description_text`: only if a metric incident went
//!   back to a state with the same value it had before.
//! - `issue` carries the issue's current state (status, `count`,
//!   `lastSeen`, assignee) and the actor, but not *when* the action
//!   happened. An issue resolved, reopened by hand and resolved again by
//!   the same person with no new event in between sends the same
//!   `resolved` body twice, and the second is taken for a redelivery: the
//!   incident stays reopened in medic until the next delivery about the
//!   issue. Likewise assigned to A, to B, back to A: the second "assigned
//!   to A" adds no line to the thread (the incident is acknowledged
//!   either way). A regression reopens with a new event, so its
//!   deliveries differ.
//!
//! That rare, visible miss is preferred to a replay anyone holding one
//! body could repeat at will.
//!
//! Choices where the docs are silent (README "Alert intake"):
//!
//! - Fingerprint: the issue id for `issue`, `error` and `event_alert` (all
//!   deliveries about one issue are one incident); `metric_alert:<id>` for
//!   a metric alert incident, whose ids are a different sequence.
//! - Service: the project slug. `error`/`event_alert` payloads carry only a
//!   numeric project id, so the slug is read from the event's API `url`
//!   (`…/projects/<org>/<project>/events/…`) when it has one.
//! - Host: the event's `server_name` tag, Sentry's standard host tag.
//! - A verified empty body (Sentry sends some) is ignored, not refused.
//! - The legacy "WebHooks" plugin is unsigned and has no resource header:
//!   it is refused as unauthorised, because anyone could post it.

pub mod api;
pub mod event;
mod wire;

use medic_commands::model::alert::{Alert, AlertSource, AlertState, Severity};

use super::json::{self, header, malformed};
use super::signature::{HmacKey, decode_hex_sha256, digests_equal};
use super::{Intake, IntakeError};

use event::summarize;
use wire::{ErrorData, Event, EventAlertData, Hook, IssueData, MetricData};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "sentry-hook-signature";
/// The signature header of older and UI-component requests.
pub const LEGACY_SIGNATURE_HEADER: &str = "sentry-app-signature";
/// The header naming the payload's resource.
pub const RESOURCE_HEADER: &str = "sentry-hook-resource";
/// The header Sentry names each delivery with. Unsigned, so medic does
/// not read it: the delivery id is a hash of the body (module doc).
pub const REQUEST_ID_HEADER: &str = "request-id";

/// Verifies and reads Sentry webhooks with one client secret.
#[derive(Clone)]
pub struct SentryVerifier {
    /// `None` for an empty secret: anyone can sign under an empty key.
    key: Option<HmacKey>,
}

impl std::fmt::Debug for SentryVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SentryVerifier(••••)")
    }
}

impl SentryVerifier {
    /// A verifier for the integration's client secret (`sentry.client_secret`).
    /// With an empty secret every delivery is refused.
    pub fn new(client_secret: &str) -> Self {
        SentryVerifier {
            key: (!client_secret.is_empty()).then(|| HmacKey::new(client_secret.as_bytes())),
        }
    }

    /// The signature Sentry would send for `body`: lower-case hex. For tests
    /// and the benchmark; never used on inbound requests.
    pub fn sign(&self, body: &[u8]) -> String {
        let key = self.key.clone().unwrap_or_else(|| HmacKey::new(b""));
        hex::encode(key.tag(&[body]))
    }
}

impl Intake for SentryVerifier {
    fn source(&self) -> AlertSource {
        AlertSource::Sentry
    }

    fn verify(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<(), IntakeError> {
        // Anyone can compute an HMAC under an empty key: refuse rather
        // than accept everything (settings reject a blank secret too).
        let Some(key) = &self.key else {
            return Err(IntakeError::Unauthorized(
                "no Sentry client secret is configured".into(),
            ));
        };
        let given = header(headers, SIGNATURE_HEADER)
            .or_else(|| header(headers, LEGACY_SIGNATURE_HEADER))
            .ok_or_else(|| IntakeError::Unauthorized("missing Sentry-Hook-Signature".into()))?;
        let given = decode_hex_sha256(given).ok_or_else(|| {
            IntakeError::Unauthorized("Sentry-Hook-Signature is not 64 hex digits".into())
        })?;
        if digests_equal(&key.tag(&[body]), &given) {
            Ok(())
        } else {
            Err(IntakeError::Unauthorized(
                "Sentry-Hook-Signature does not match the body".into(),
            ))
        }
    }

    fn parse(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<Vec<Alert>, IntakeError> {
        let resource = header(headers, RESOURCE_HEADER)
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| malformed("Sentry-Hook-Resource", "missing header"))?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(IntakeError::Ignored(format!("empty {resource} body")));
        }
        match resource {
            "issue" => issue(json::parse(body)?).map(|a| vec![a]),
            "error" => {
                let hook: Hook<ErrorData> = json::parse(body)?;
                Ok(vec![event_alert(hook.action, hook.data.error, None)])
            }
            "event_alert" => {
                let hook: Hook<EventAlertData> = json::parse(body)?;
                let rule = hook
                    .data
                    .triggered_rule
                    .or(hook.data.issue_alert.and_then(|a| a.title));
                Ok(vec![event_alert(hook.action, hook.data.event, rule)])
            }
            "metric_alert" => Ok(vec![metric_alert(json::parse(body)?)]),
            other => Err(IntakeError::Ignored(format!("{other} event"))),
        }
    }

    /// A hash of the signed body; `Request-ID` is ignored (module doc).
    fn delivery_id(&self, _headers: &http::HeaderMap, body: &[u8]) -> String {
        json::content_hash([body])
    }
}

fn issue(hook: Hook<IssueData>) -> Result<Alert, IntakeError> {
    let issue = hook.data.issue;
    let state = match hook.action.as_str() {
        "created" => AlertState::Firing,
        "resolved" => AlertState::Resolved,
        "assigned" => AlertState::Acknowledged,
        "ignored" | "archived" => AlertState::Ignored,
        "unresolved" => AlertState::Reopened,
        _ => AlertState::Updated,
    };
    let service = issue
        .project
        .as_ref()
        .and_then(|p| p.slug.clone().or_else(|| p.name.clone()));
    let mut labels = Vec::new();
    push_label(&mut labels, "project", service.as_deref());
    push_label(&mut labels, "level", issue.level.as_deref());
    push_label(&mut labels, "platform", issue.platform.as_deref());
    push_label(&mut labels, "short_id", issue.short_id.as_deref());
    let mut details = Vec::new();
    if let Some(culprit) = nonempty(issue.culprit.as_deref()) {
        details.push(format!("Culprit: {culprit}"));
    }
    if state == AlertState::Acknowledged
        && let Some(who) = issue
            .assigned_to
            .as_ref()
            .and_then(|a| nonempty(a.name.as_deref()).or(nonempty(a.email.as_deref())))
    {
        details.push(format!("Assigned to {who}"));
    }
    if state == AlertState::Updated {
        details.push(format!("Sentry: issue {}", hook.action));
    }
    Ok(Alert {
        source: AlertSource::Sentry,
        fingerprint: issue.id,
        state,
        title: issue.title,
        severity: level_severity(issue.level.as_deref()),
        service,
        host: None,
        labels,
        occurred_at: json::rfc3339_lenient(issue.first_seen.as_deref()),
        link: issue.permalink.filter(|l| !l.is_empty()),
        details,
        chain: Vec::new(),
    })
}

/// An `error` or `event_alert` event: one firing of the event's issue.
fn event_alert(action: String, event: Event, rule: Option<String>) -> Alert {
    let summary = summarize(&event.exception);
    let chain = event::chain(&event.exception);
    let title = nonempty(event.title.as_deref())
        .map(str::to_string)
        .or_else(|| summary.as_ref().map(|s| s.headline.clone()))
        .or_else(|| nonempty(event.message.as_deref()).map(str::to_string))
        .unwrap_or_else(|| format!("Sentry issue {}", event.issue_id));
    let service = event.url.as_deref().and_then(project_from_api_url);
    let mut labels = Vec::new();
    push_label(&mut labels, "project", service.as_deref());
    if !event.tags.iter().any(|(k, _)| k == "environment") {
        push_label(&mut labels, "environment", event.environment.as_deref());
    }
    labels.extend(event.tags.iter().cloned());
    if !labels.iter().any(|(k, _)| k == "level") {
        push_label(&mut labels, "level", event.level.as_deref());
    }
    let host = event
        .tags
        .iter()
        .find(|(k, _)| k == "server_name")
        .map(|(_, v)| v.clone());
    let mut details = Vec::new();
    if let Some(rule) = nonempty(rule.as_deref()) {
        details.push(format!("Alert rule: {rule}"));
    }
    if let Some(culprit) = nonempty(event.culprit.as_deref()) {
        details.push(format!("Culprit: {culprit}"));
    }
    if let Some(summary) = &summary {
        details.extend(summary.detail_lines());
    }
    let state = match action.as_str() {
        "created" | "triggered" => AlertState::Firing,
        _ => {
            details.push(format!("Sentry: event {action}"));
            AlertState::Updated
        }
    };
    Alert {
        source: AlertSource::Sentry,
        fingerprint: event.issue_id,
        state,
        title,
        severity: level_severity(event.level.as_deref()),
        service,
        host,
        labels,
        occurred_at: json::rfc3339_lenient(event.datetime.as_deref()),
        link: event.web_url.filter(|l| !l.is_empty()),
        details,
        chain,
    }
}

fn metric_alert(hook: Hook<MetricData>) -> Alert {
    let data = hook.data;
    let metric = data.metric_alert;
    let rule = metric.alert_rule;
    let (state, severity) = match hook.action.as_str() {
        "critical" => (AlertState::Firing, Severity::Critical),
        "warning" => (AlertState::Firing, Severity::Warning),
        "resolved" => (AlertState::Resolved, Severity::Info),
        _ => (AlertState::Updated, Severity::Warning),
    };
    let title = rule
        .as_ref()
        .and_then(|r| nonempty(r.name.as_deref()))
        .or(nonempty(metric.title.as_deref()))
        .or(nonempty(data.description_title.as_deref()))
        .map(str::to_string)
        .unwrap_or_else(|| format!("Sentry metric alert {}", metric.id));
    let project = rule
        .as_ref()
        .and_then(|r| r.projects.as_ref())
        .or(metric.projects.as_ref())
        .and_then(|p| p.first())
        .cloned();
    let mut labels = Vec::new();
    push_label(
        &mut labels,
        "alert_rule",
        rule.as_ref().and_then(|r| r.name.as_deref()),
    );
    push_label(&mut labels, "project", project.as_deref());
    if let Some(rule) = &rule {
        push_label(&mut labels, "environment", rule.environment.as_deref());
        push_label(&mut labels, "aggregate", rule.aggregate.as_deref());
        push_label(&mut labels, "query", rule.query.as_deref());
    }
    let mut details = Vec::new();
    if let Some(t) = nonempty(data.description_title.as_deref()) {
        details.push(t.to_string());
    }
    // The docs' sample carries a literal backslash-n where a line break is
    // meant; both are line breaks here.
    if let Some(text) = data.description_text.as_deref() {
        details.extend(
            text.replace("\\n", "\n")
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string),
        );
    }
    Alert {
        source: AlertSource::Sentry,
        fingerprint: format!("metric_alert:{}", metric.id),
        state,
        title,
        severity,
        service: project,
        host: None,
        labels,
        occurred_at: json::rfc3339_lenient(
            metric
                .date_started
                .as_deref()
                .or(metric.date_detected.as_deref()),
        ),
        link: data.web_url.filter(|l| !l.is_empty()),
        details,
        chain: Vec::new(),
    }
}

/// Sentry's levels onto medic's scale; an event without one is an error,
/// which is what Sentry assumes.
fn level_severity(level: Option<&str>) -> Severity {
    match level.map(str::to_ascii_lowercase).as_deref() {
        Some("fatal") => Severity::Critical,
        Some("warning") => Severity::Warning,
        Some("info") | Some("debug") | Some("sample") => Severity::Info,
        _ => Severity::Error,
    }
}

/// The project slug in an event's API url:
/// `https://sentry.io/api/0/projects/<org>/<project>/events/<id>/`.
fn project_from_api_url(url: &str) -> Option<String> {
    let mut parts = url.split('/').skip_while(|p| *p != "projects").skip(1);
    let _org = parts.next()?;
    let project = parts.next()?;
    (!project.is_empty() && parts.next() == Some("events")).then(|| project.to_string())
}

fn push_label(labels: &mut Vec<(String, String)>, key: &str, value: Option<&str>) {
    if let Some(v) = nonempty(value) {
        labels.push((key.to_string(), v.to_string()));
    }
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_slug_comes_from_the_event_api_url() {
        assert_eq!(
            project_from_api_url(
                "https://sentry.io/api/0/projects/test-org/front-end/events/bb78c1407cea4519aa397afc059c793d/"
            )
            .as_deref(),
            Some("front-end")
        );
        assert_eq!(
            project_from_api_url("https://sentry.io/api/0/issues/1/"),
            None
        );
    }

    #[test]
    fn levels_map_onto_medics_scale() {
        assert_eq!(level_severity(Some("fatal")), Severity::Critical);
        assert_eq!(level_severity(Some("error")), Severity::Error);
        assert_eq!(level_severity(Some("warning")), Severity::Warning);
        assert_eq!(level_severity(Some("info")), Severity::Info);
        assert_eq!(level_severity(None), Severity::Error);
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let v = SentryVerifier::new("hunter2-secret");
        assert!(!format!("{v:?}").contains("hunter2"));
    }
}
