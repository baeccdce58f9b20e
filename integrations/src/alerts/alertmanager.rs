//! Purpose: Prometheus Alertmanager's webhook (payload version 4) →
//! [`Alert`]s, one per element of `alerts[]`.
//!
//! Wire format (prometheus.io "Configuration → `<webhook_config>`", and a
//! capture from Alertmanager 0.25): `{version, groupKey, truncatedAlerts,
//! status, receiver, groupLabels, commonLabels, commonAnnotations,
//! externalURL, alerts: [{status, labels, annotations, startsAt, endsAt,
//! generatorURL, fingerprint}]}`. The group's `status` is `firing` while any
//! alert fires, so each alert's own `status` decides its state: a firing
//! group may carry resolved alerts.
//!
//! Alertmanager signs nothing. Its `http_config.authorization` sends
//! `Authorization: Bearer <credentials>`; when `alertmanager.token` is set
//! that header must match it (constant time). Without a token every
//! delivery is accepted, and the route warns at start-up.
//!
//! Mapping:
//!
//! - fingerprint = `<groupKey>/<alert fingerprint>`: DESIGN keys incidents
//!   on the group key; the alert's own fingerprint keeps two instances of
//!   one group (web-1 and web-2 down) apart, so one resolving does not
//!   close the other's incident.
//! - title = `<alertname>: <summary annotation>` (either alone when the
//!   other is missing), so runbook regexes can match the alert's name.
//! - severity from the `severity` label: critical/page/fatal/emergency →
//!   Critical, error/high/major → Error, warning/warn/medium/minor →
//!   Warning, info/low/none/debug → Info; absent or unknown → Warning (an
//!   unlabelled alert still wants a look).
//! - service = the `service` label, else `job`; host = `instance` (else
//!   `host`, `hostname`, `node`) without its port (`web-1:9100` → `web-1`);
//!   the full values stay in the labels.
//! - details: the `description` annotation, then the other annotations
//!   (`runbook_url: …`), then a note when `truncatedAlerts` > 0.

use medic_commands::model::alert::{Alert, AlertSource, AlertState, Severity};
use serde::Deserialize;

use super::json::{self, header, malformed};
use super::signature::secrets_equal;
use super::{Intake, IntakeError};

/// Verifies (optionally) and reads Alertmanager webhooks.
#[derive(Clone)]
pub struct AlertmanagerVerifier {
    token: Option<Vec<u8>>,
}

impl std::fmt::Debug for AlertmanagerVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let token = if self.token.is_some() {
            "••••"
        } else {
            "none"
        };
        write!(f, "AlertmanagerVerifier(token: {token})")
    }
}

impl AlertmanagerVerifier {
    /// A verifier requiring `Authorization: Bearer <token>` when `token` is
    /// given (`alertmanager.token`); with `None` (or an empty token) every
    /// delivery is accepted.
    pub fn new(token: Option<&str>) -> Self {
        AlertmanagerVerifier {
            token: token
                .filter(|t| !t.is_empty())
                .map(|t| t.as_bytes().to_vec()),
        }
    }

    /// Whether deliveries must carry the bearer token.
    pub fn requires_token(&self) -> bool {
        self.token.is_some()
    }
}

impl Intake for AlertmanagerVerifier {
    fn source(&self) -> AlertSource {
        AlertSource::Alertmanager
    }

    fn verify(&self, headers: &http::HeaderMap, _body: &[u8]) -> Result<(), IntakeError> {
        let Some(expected) = &self.token else {
            return Ok(());
        };
        let value = header(headers, "authorization")
            .ok_or_else(|| IntakeError::Unauthorized("missing Authorization header".into()))?;
        let (scheme, given) = value.trim().split_once(' ').ok_or_else(|| {
            IntakeError::Unauthorized("Authorization is not `Bearer <token>`".into())
        })?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(IntakeError::Unauthorized(
                "Authorization scheme is not Bearer".into(),
            ));
        }
        if secrets_equal(given.trim().as_bytes(), expected) {
            Ok(())
        } else {
            Err(IntakeError::Unauthorized(
                "bearer token does not match alertmanager.token".into(),
            ))
        }
    }

    fn parse(&self, _headers: &http::HeaderMap, body: &[u8]) -> Result<Vec<Alert>, IntakeError> {
        let group: Group = json::parse(body)?;
        if group.alerts.is_empty() {
            return Err(IntakeError::Ignored("a group without alerts".into()));
        }
        group
            .alerts
            .iter()
            .enumerate()
            .map(|(i, a)| alert(&group, i, a))
            .collect()
    }

    /// A hash of what makes this notification news: the group key and, for
    /// each alert (sorted), its fingerprint, status and start time.
    /// Alertmanager has no delivery id, and this makes its retries of a
    /// failed notification (same content) recognised as one delivery, while
    /// any real change — an alert resolving, a new alert in the group, the
    /// same alert firing again later — is a new delivery and never lost.
    ///
    /// The cost, chosen knowingly: an identical re-notification after
    /// `repeat_interval` is deduplicated too, so the thread does not count
    /// it as "seen again". Annotations and `endsAt` are left out because
    /// Prometheus moves `endsAt` forward on every evaluation.
    fn delivery_id(&self, _headers: &http::HeaderMap, body: &[u8]) -> String {
        let Ok(group) = serde_json::from_slice::<Group>(body) else {
            return json::content_hash([body]);
        };
        let mut keys: Vec<(String, &str, &str)> = group
            .alerts
            .iter()
            .map(|a| {
                (
                    alert_fingerprint(a),
                    a.status.as_str(),
                    a.starts_at.as_str(),
                )
            })
            .collect();
        keys.sort();
        let mut parts: Vec<&[u8]> = vec![group.group_key.as_bytes()];
        for (fp, status, starts) in &keys {
            parts.extend([fp.as_bytes(), status.as_bytes(), starts.as_bytes()]);
        }
        json::content_hash(parts)
    }
}

#[derive(Deserialize)]
struct Group {
    #[serde(rename = "groupKey")]
    group_key: String,
    #[serde(default, rename = "truncatedAlerts")]
    truncated_alerts: u64,
    #[serde(default, rename = "externalURL")]
    external_url: Option<String>,
    alerts: Vec<WireAlert>,
}

#[derive(Deserialize)]
struct WireAlert {
    status: String,
    #[serde(deserialize_with = "json::ordered_strings")]
    labels: Vec<(String, String)>,
    #[serde(default, deserialize_with = "json::ordered_strings")]
    annotations: Vec<(String, String)>,
    #[serde(rename = "startsAt")]
    starts_at: String,
    #[serde(default, rename = "generatorURL")]
    generator_url: Option<String>,
    #[serde(default)]
    fingerprint: Option<String>,
}

fn alert(group: &Group, i: usize, a: &WireAlert) -> Result<Alert, IntakeError> {
    let state = match a.status.as_str() {
        "firing" => AlertState::Firing,
        "resolved" => AlertState::Resolved,
        other => {
            return Err(malformed(
                format!("alerts[{i}].status"),
                format!("expected firing or resolved, got {other:?}"),
            ));
        }
    };
    let occurred_at = json::rfc3339(&format!("alerts[{i}].startsAt"), &a.starts_at)?;
    let label = |k: &str| {
        a.labels
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let annotation = |k: &str| {
        a.annotations
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let title = match (label("alertname"), annotation("summary")) {
        (Some(name), Some(summary)) => format!("{name}: {summary}"),
        (Some(name), None) => name.to_string(),
        (None, Some(summary)) => summary.to_string(),
        (None, None) => "Alertmanager alert".to_string(),
    };
    let host = ["instance", "host", "hostname", "node"]
        .into_iter()
        .find_map(label)
        .map(without_port);
    let mut details = Vec::new();
    if let Some(d) = annotation("description") {
        details.push(d.to_string());
    }
    for (k, v) in &a.annotations {
        if k != "summary" && k != "description" && !v.trim().is_empty() {
            details.push(format!("{k}: {}", v.trim()));
        }
    }
    if group.truncated_alerts > 0 {
        details.push(format!(
            "{} more alerts of this group were left out by max_alerts",
            group.truncated_alerts
        ));
    }
    let link = a
        .generator_url
        .clone()
        .filter(|u| !u.is_empty())
        .or_else(|| group.external_url.clone().filter(|u| !u.is_empty()));
    Ok(Alert {
        source: AlertSource::Alertmanager,
        fingerprint: format!("{}/{}", group.group_key, alert_fingerprint(a)),
        state,
        title,
        severity: severity(label("severity")),
        service: label("service").or(label("job")).map(str::to_string),
        host,
        labels: a.labels.clone(),
        occurred_at: Some(occurred_at),
        link,
        details,
        chain: Vec::new(),
    })
}

/// The alert's fingerprint as Alertmanager computed it; for a sender that
/// leaves it out, a hash of the sorted labels (what Alertmanager hashes).
fn alert_fingerprint(a: &WireAlert) -> String {
    if let Some(fp) = a.fingerprint.as_deref().filter(|f| !f.is_empty()) {
        return fp.to_string();
    }
    let mut labels: Vec<&(String, String)> = a.labels.iter().collect();
    labels.sort();
    let parts = labels
        .iter()
        .flat_map(|(k, v)| [k.as_bytes(), v.as_bytes()]);
    let hash = json::content_hash(parts);
    format!("labels:{}", &hash["sha256:".len().."sha256:".len() + 16])
}

fn severity(label: Option<&str>) -> Severity {
    match label.map(str::to_ascii_lowercase).as_deref() {
        Some("critical" | "crit" | "page" | "fatal" | "emergency" | "alert" | "p1") => {
            Severity::Critical
        }
        Some("error" | "err" | "high" | "major" | "p2") => Severity::Error,
        Some("info" | "informational" | "low" | "none" | "debug" | "notice" | "p4" | "p5") => {
            Severity::Info
        }
        _ => Severity::Warning,
    }
}

/// `web-1:9100` → `web-1`, `[::1]:9100` → `::1`; anything else as it is.
fn without_port(instance: &str) -> String {
    if let Some(rest) = instance.strip_prefix('[')
        && let Some((ip, _)) = rest.split_once(']')
    {
        return ip.to_string();
    }
    match instance.rsplit_once(':') {
        Some((host, port))
            if !host.is_empty()
                && !host.contains(':')
                && !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            host.to_string()
        }
        _ => instance.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_lose_their_port() {
        assert_eq!(without_port("web-1:9100"), "web-1");
        assert_eq!(without_port("10.0.1.1:6379"), "10.0.1.1");
        assert_eq!(without_port("[::1]:9100"), "::1");
        assert_eq!(without_port("fe80::1"), "fe80::1");
        assert_eq!(without_port("db-1"), "db-1");
    }

    #[test]
    fn severity_labels_map_onto_medics_scale() {
        assert_eq!(severity(Some("critical")), Severity::Critical);
        assert_eq!(severity(Some("page")), Severity::Critical);
        assert_eq!(severity(Some("Warning")), Severity::Warning);
        assert_eq!(severity(Some("info")), Severity::Info);
        assert_eq!(severity(Some("error")), Severity::Error);
        assert_eq!(severity(None), Severity::Warning);
        assert_eq!(severity(Some("whatever")), Severity::Warning);
    }

    #[test]
    fn debug_output_hides_the_token() {
        let v = AlertmanagerVerifier::new(Some("tok-123456"));
        assert!(!format!("{v:?}").contains("tok-123456"));
    }
}
