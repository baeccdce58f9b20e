//! Alertmanager v4 webhooks: the payload captured from Alertmanager 0.25,
//! the optional bearer token, groups with mixed states, and the content
//! hash that stands in for a delivery id.

use medic_commands::model::alert::{Alert, AlertSource, AlertState, Severity};
use medic_integrations::alerts::alertmanager::AlertmanagerVerifier;
use medic_integrations::alerts::{Intake, IntakeError};
use serde_json::{Value, json};

use crate::support::*;

const CAPTURED: &str = "alertmanager/webhook_v4_firing_2alerts_captured.json";
const GROUP_KEY: &str = "{}:{alertname=\"InstanceDown\", job=\"node\"}";
const TOKEN: &str = "am-bearer-token-1234";

/// The captured request's own headers (…headers.txt), as sent.
fn captured_headers() -> http::HeaderMap {
    let text = String::from_utf8(fixture(
        "alertmanager/webhook_v4_firing_2alerts_captured.headers.txt",
    ))
    .unwrap();
    let pairs: Vec<(String, String)> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    headers(&refs)
}

fn open(body: &[u8]) -> Result<Vec<Alert>, IntakeError> {
    AlertmanagerVerifier::new(None).accept(&captured_headers(), body)
}

fn captured() -> Value {
    fixture_json(CAPTURED)
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

#[test]
fn the_captured_group_becomes_one_alert_per_element() {
    let body = fixture(CAPTURED);
    assert_eq!(
        body.last(),
        Some(&b'\n'),
        "Go's encoder ends with a newline"
    );
    let alerts = open(&body).unwrap();
    assert_eq!(alerts.len(), 2);
    for (a, (host, fp)) in alerts
        .iter()
        .zip([("web-1", "20f7da56295f2463"), ("web-2", "e6898d1b2c267924")])
    {
        assert_eq!(a.source, AlertSource::Alertmanager);
        assert_eq!(a.fingerprint, format!("{GROUP_KEY}/{fp}"));
        assert_eq!(a.state, AlertState::Firing);
        assert_eq!(a.title, format!("InstanceDown: Instance {host}:9100 down"));
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.service.as_deref(), Some("node"));
        assert_eq!(a.host.as_deref(), Some(host));
        let instance = format!("{host}:9100");
        assert_eq!(
            a.labels,
            vec![
                ("alertname".to_string(), "InstanceDown".to_string()),
                ("instance".to_string(), instance.clone()),
                ("job".to_string(), "node".to_string()),
                ("severity".to_string(), "critical".to_string()),
            ]
        );
        // Nanosecond start, kept exactly.
        assert_eq!(a.occurred_at, Some(at("2026-11-23T16:12:34.020576154Z")));
        assert_eq!(
            a.link.as_deref(),
            Some(
                "http://prometheus.example:9090/graph?g0.expr=up%7Bjob%3D%22node%22%7D+%3D%3D+0&g0.tab=1"
            )
        );
        assert_eq!(
            a.details,
            vec![format!(
                "{instance} of job node has been down for more than 5 minutes."
            )]
        );
    }
}

#[test]
fn a_firing_group_may_carry_resolved_alerts() {
    let mut group = captured();
    group["alerts"][1]["status"] = json!("resolved");
    group["alerts"][1]["endsAt"] = json!("2026-11-23T16:20:04.020576154Z");
    let alerts = open(&bytes(&group)).unwrap();
    assert_eq!(group["status"], "firing");
    assert_eq!(alerts[0].state, AlertState::Firing);
    assert_eq!(alerts[1].state, AlertState::Resolved);
    assert_eq!(alerts[1].host.as_deref(), Some("web-2"));
}

#[test]
fn the_token_is_required_when_configured() {
    let body = fixture(CAPTURED);
    let v = AlertmanagerVerifier::new(Some(TOKEN));
    assert!(v.requires_token());
    for ok in [format!("Bearer {TOKEN}"), format!("bearer {TOKEN}")] {
        assert_eq!(v.verify(&headers(&[("Authorization", &ok)]), &body), Ok(()));
    }
    let why = unauthorized(v.verify(&captured_headers(), &body));
    assert!(why.contains("missing"), "{why}");
    for bad in [
        "Bearer am-bearer-token-123".to_string(),
        format!("Bearer {TOKEN}5"),
        "Bearer ".to_string(),
        TOKEN.to_string(),
        format!("Basic {TOKEN}"),
        "Bearer another-token".to_string(),
    ] {
        let why = unauthorized(v.accept(&headers(&[("Authorization", &bad)]), &body));
        assert!(!why.contains(TOKEN), "the token leaked into {why}");
    }
}

#[test]
fn without_a_token_any_request_is_accepted() {
    let body = fixture(CAPTURED);
    let v = AlertmanagerVerifier::new(None);
    assert!(!v.requires_token());
    assert_eq!(v.verify(&headers(&[]), &body), Ok(()));
    assert_eq!(
        v.verify(&headers(&[("Authorization", "Bearer anything")]), &body),
        Ok(())
    );
    // An empty configured token counts as none.
    assert!(!AlertmanagerVerifier::new(Some("")).requires_token());
}

#[test]
fn the_delivery_id_ignores_what_moves_but_not_what_changes() {
    let v = AlertmanagerVerifier::new(None);
    let h = captured_headers();
    let base = v.delivery_id(&h, &fixture(CAPTURED));
    assert!(base.starts_with("sha256:"), "{base}");
    assert_eq!(
        base,
        v.delivery_id(&h, &bytes(&captured())),
        "re-encoded, same content"
    );

    // A retry or a repeat_interval re-notification with endsAt and
    // annotations moved is the same delivery…
    let mut moved = captured();
    moved["alerts"][0]["endsAt"] = json!("2026-11-23T16:30:00Z");
    moved["alerts"][0]["annotations"]["summary"] = json!("reworded");
    moved["alerts"].as_array_mut().unwrap().reverse();
    assert_eq!(base, v.delivery_id(&h, &bytes(&moved)));

    // …but a state change, a new alert or a new firing never is.
    let mut resolved = captured();
    resolved["alerts"][1]["status"] = json!("resolved");
    let mut refired = captured();
    refired["alerts"][0]["startsAt"] = json!("2026-11-23T18:00:00Z");
    let mut fewer = captured();
    fewer["alerts"].as_array_mut().unwrap().pop();
    let mut other_group = captured();
    other_group["groupKey"] = json!("{}:{alertname=\"InstanceDown\", job=\"db\"}");
    for changed in [resolved, refired, fewer, other_group] {
        assert_ne!(base, v.delivery_id(&h, &bytes(&changed)));
    }
}

/// Breaks one field of a group.
type Breaker = fn(&mut Value);

#[test]
fn missing_and_wrong_fields_are_named() {
    let cases: [(&str, Breaker); 7] = [
        ("groupKey", |g| {
            g.as_object_mut().unwrap().remove("groupKey");
        }),
        ("alerts", |g| {
            g.as_object_mut().unwrap().remove("alerts");
        }),
        ("alerts[1].status", |g| {
            g["alerts"][1].as_object_mut().unwrap().remove("status");
        }),
        ("alerts[0].status", |g| {
            g["alerts"][0]["status"] = json!("pending")
        }),
        ("alerts[0].startsAt", |g| {
            g["alerts"][0]["startsAt"] = json!("yesterday")
        }),
        ("alerts[1].labels", |g| {
            g["alerts"][1].as_object_mut().unwrap().remove("labels");
        }),
        ("alerts[0].labels.severity", |g| {
            g["alerts"][0]["labels"]["severity"] = json!(3)
        }),
    ];
    for (field, break_it) in cases {
        let mut group = captured();
        break_it(&mut group);
        assert_eq!(malformed_field(open(&bytes(&group))), field);
    }
    assert_eq!(malformed_field(open(b"{\"alerts\": [")), "alerts");
    assert_eq!(malformed_field(open(b"")), "body");
}

#[test]
fn an_empty_group_is_ignored() {
    let mut group = captured();
    group["alerts"] = json!([]);
    ignored(open(&bytes(&group)));
}

#[test]
fn truncated_alerts_are_mentioned() {
    let mut group = captured();
    group["truncatedAlerts"] = json!(3);
    let alerts = open(&bytes(&group)).unwrap();
    assert!(
        alerts[0]
            .details
            .contains(&"3 more alerts of this group were left out by max_alerts".to_string()),
        "{:?}",
        alerts[0].details
    );
}

#[test]
fn labels_and_annotations_decide_the_rest() {
    let mut group = captured();
    let a = &mut group["alerts"][0];
    a["labels"] = json!({"alertname": "RedisDown", "service": "cache", "instance": "10.0.1.1:6379", "severity": "warning"});
    a["annotations"] = json!({"runbook_url": "https://runbooks.example/redis"});
    a["generatorURL"] = json!("");
    a.as_object_mut().unwrap().remove("fingerprint");
    let alerts = open(&bytes(&group)).unwrap();
    let a = &alerts[0];
    assert_eq!(a.title, "RedisDown");
    assert_eq!(a.severity, Severity::Warning);
    assert_eq!(a.service.as_deref(), Some("cache"));
    assert_eq!(a.host.as_deref(), Some("10.0.1.1"));
    assert_eq!(
        a.details,
        vec!["runbook_url: https://runbooks.example/redis".to_string()]
    );
    // No generator: the Alertmanager's own page.
    assert_eq!(a.link.as_deref(), Some("http://127.0.0.1:19093"));
    // No fingerprint from the sender: one derived from the labels.
    assert!(
        a.fingerprint.starts_with(&format!("{GROUP_KEY}/labels:")),
        "{}",
        a.fingerprint
    );
}
