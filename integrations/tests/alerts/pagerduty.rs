//! PagerDuty V3 webhooks: go-pagerduty's signature vector, the docs'
//! envelopes and event data, rotation of secrets.

use medic_commands::model::alert::{Alert, AlertSource, AlertState, Severity};
use medic_integrations::alerts::pagerduty::PagerDutyVerifier;
use medic_integrations::alerts::{Intake, IntakeError};
use serde_json::{Value, json};

use crate::support::*;

const SECRET: &str = "pd-secret-current";
const OLD_SECRET: &str = "pd-secret-previous";

fn sig(secret: &str, body: &[u8]) -> String {
    format!("v1={}", hmac_hex(secret, body))
}

fn accept(body: &[u8]) -> Result<Vec<Alert>, IntakeError> {
    let h = headers(&[
        ("X-PagerDuty-Signature", &sig(SECRET, body)),
        ("X-Webhook-Id", "b4a9b5c0-0f83-4e5a-9f6c-3d1f2e4a5b6c"),
    ]);
    PagerDutyVerifier::new([SECRET]).accept(&h, body)
}

/// The docs' `incident` event data in the envelope every incident event
/// shares (webhook_v3_event_data_incident_docs.json.source.txt).
fn incident_event(event_type: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"event": {
        "id": "01CZ8X3VPJ0Q0J1T2G0Q0Q0Q0Q",
        "event_type": event_type,
        "resource_type": "incident",
        "occurred_at": "2020-10-02T18:45:22.169Z",
        "agent": {"id": "PLH1HKV", "summary": "Tenex Engineer", "type": "user_reference"},
        "client": {"name": "PagerDuty"},
        "data": fixture_json("pagerduty/webhook_v3_event_data_incident_docs.json"),
    }}))
    .unwrap()
}

fn vector() -> (Value, Vec<u8>) {
    (
        fixture_json("pagerduty/signature_vector_go_pagerduty.json"),
        fixture("pagerduty/signature_vector_go_pagerduty_body.json"),
    )
}

#[test]
fn go_pagerduty_valid_vector_verifies_and_parses() {
    let (v, body) = vector();
    let verifier = PagerDutyVerifier::new([v["secret"].as_str().unwrap()]);
    let h = headers(&[(
        "X-PagerDuty-Signature",
        v["valid"]["X-PagerDuty-Signature"].as_str().unwrap(),
    )]);
    assert_eq!(verifier.verify(&h, &body), Ok(()));
    assert_eq!(verifier.sign(&body), v["valid"]["X-PagerDuty-Signature"]);
    let a = &verifier.accept(&h, &body).unwrap()[0];
    assert_eq!(a.source, AlertSource::PagerDuty);
    assert_eq!(a.fingerprint, "PGR0VU2");
    assert_eq!(a.title, "A little bump in the road");
    assert_eq!(a.state, AlertState::Updated);
    assert_eq!(a.severity, Severity::Error);
    assert_eq!(a.service.as_deref(), Some("API Service"));
    assert_eq!(
        a.link.as_deref(),
        Some("https://acme.pagerduty.com/incidents/PGR0VU2")
    );
    // No created_at in this body: when the event happened.
    assert_eq!(a.occurred_at, Some(at("2021-04-26T17:36:27.458Z")));
    assert_eq!(
        a.details,
        vec!["Priority changed to P1 by Tenex Engineer".to_string()]
    );
}

#[test]
fn go_pagerduty_mismatch_and_missing_header_are_unauthorized() {
    let (v, body) = vector();
    let verifier = PagerDutyVerifier::new([v["secret"].as_str().unwrap()]);
    let mismatch = v["mismatch_expect_ErrNoValidSignatures"]["X-PagerDuty-Signature"]
        .as_str()
        .unwrap();
    unauthorized(verifier.accept(&headers(&[("X-PagerDuty-Signature", mismatch)]), &body));
    let why = unauthorized(verifier.accept(&headers(&[]), &body));
    assert!(why.contains("missing"), "{why}");
}

/// go-pagerduty reports a malformed body here; medic checks the
/// signature first, and the signature of the real body does not sign "".
#[test]
fn go_pagerduty_empty_body_with_the_valid_signature_is_unauthorized() {
    let (v, _) = vector();
    let case = &v["empty_body_with_valid_sig_expect_ErrMalformedBody"];
    let verifier = PagerDutyVerifier::new([v["secret"].as_str().unwrap()]);
    let h = headers(&[(
        "X-PagerDuty-Signature",
        case["X-PagerDuty-Signature"].as_str().unwrap(),
    )]);
    unauthorized(verifier.accept(&h, case["body"].as_str().unwrap().as_bytes()));
}

#[test]
fn the_docs_two_signature_header_is_read_entry_by_entry() {
    let (v, body) = vector();
    let docs = v["docs_multi_signature_header_example_unverifiable"]
        .as_str()
        .unwrap();
    let verifier = PagerDutyVerifier::new([v["secret"].as_str().unwrap()]);
    // Both entries are well formed but sign something else.
    let why = unauthorized(verifier.verify(&headers(&[("X-PagerDuty-Signature", docs)]), &body));
    assert!(why.contains("none of the 2"), "{why}");
    // The valid signature as a third entry passes.
    let valid = v["valid"]["X-PagerDuty-Signature"].as_str().unwrap();
    let three = format!("{docs},{valid}");
    assert_eq!(
        verifier.verify(&headers(&[("X-PagerDuty-Signature", &three)]), &body),
        Ok(())
    );
}

#[test]
fn rotated_secrets_old_and_new_are_both_accepted() {
    let body = incident_event("incident.triggered");
    let both = PagerDutyVerifier::new([OLD_SECRET, SECRET]);
    for header in [
        sig(OLD_SECRET, &body),
        sig(SECRET, &body),
        format!("{},{}", sig(SECRET, &body), sig(OLD_SECRET, &body)),
    ] {
        assert_eq!(
            both.verify(&headers(&[("X-PagerDuty-Signature", &header)]), &body),
            Ok(())
        );
    }
    unauthorized(both.verify(
        &headers(&[("X-PagerDuty-Signature", &sig("a-third-secret", &body))]),
        &body,
    ));
    // After the rotation, the old secret no longer passes.
    let new_only = PagerDutyVerifier::new(vec![SECRET.to_string()]);
    unauthorized(new_only.verify(
        &headers(&[("X-PagerDuty-Signature", &sig(OLD_SECRET, &body))]),
        &body,
    ));
    assert_eq!(both.sign(&body).split(',').count(), 2);
}

#[test]
fn malformed_signature_headers_are_unauthorized() {
    let body = incident_event("incident.triggered");
    let verifier = PagerDutyVerifier::new([SECRET]);
    let good = hmac_hex(SECRET, &body);
    for bad in [
        String::new(),
        good.clone(),
        format!("v0={good}"),
        format!("v1={}", &good[..40]),
        "v1=zz".repeat(2),
        format!("sha256={good}"),
    ] {
        unauthorized(verifier.verify(&headers(&[("X-PagerDuty-Signature", &bad)]), &body));
    }
    // Unknown schemes and spaces around entries are skipped, not fatal.
    let mixed = format!("v2=abc, v1={good}");
    assert_eq!(
        verifier.verify(&headers(&[("X-PagerDuty-Signature", &mixed)]), &body),
        Ok(())
    );
}

#[test]
fn a_tampered_body_is_unauthorized() {
    let body = incident_event("incident.triggered");
    let h = headers(&[("X-PagerDuty-Signature", &sig(SECRET, &body))]);
    let mut tampered = body.clone();
    let at = tampered.iter().position(|b| *b == b'P').unwrap();
    tampered[at] = b'Q';
    unauthorized(PagerDutyVerifier::new([SECRET]).accept(&h, &tampered));
}

#[test]
fn without_secrets_nothing_passes() {
    let body = incident_event("incident.triggered");
    let none = PagerDutyVerifier::new(Vec::<String>::new());
    unauthorized(none.verify(
        &headers(&[("X-PagerDuty-Signature", &sig("", &body))]),
        &body,
    ));
}

#[test]
fn priority_updated_docs_envelope() {
    let a = &accept(&fixture(
        "pagerduty/webhook_v3_incident_priority_updated_docs.json",
    ))
    .unwrap()[0];
    assert_eq!(a.fingerprint, "PGR0VU2");
    assert_eq!(a.title, "A little bump in the road");
    assert_eq!(a.state, AlertState::Updated);
    assert_eq!(a.occurred_at, Some(at("2020-04-09T15:16:27Z")));
    assert_eq!(a.label("priority"), Some("P1"));
    assert_eq!(a.label("urgency"), Some("high"));
    assert_eq!(a.label("team"), Some("Engineering"));
    assert_eq!(a.label("escalation_policy"), Some("Default"));
    assert_eq!(a.label("incident_number"), Some("2"));
}

#[test]
fn incident_event_types_map_to_states() {
    for (event_type, state, detail) in [
        ("incident.triggered", AlertState::Firing, None),
        (
            "incident.acknowledged",
            AlertState::Acknowledged,
            Some("Acknowledged by Tenex Engineer"),
        ),
        (
            "incident.unacknowledged",
            AlertState::Reopened,
            Some("Unacknowledged: the acknowledgement timed out"),
        ),
        (
            "incident.reopened",
            AlertState::Reopened,
            Some("Reopened by Tenex Engineer"),
        ),
        (
            "incident.resolved",
            AlertState::Resolved,
            Some("Resolved by Tenex Engineer"),
        ),
        (
            "incident.reassigned",
            AlertState::Updated,
            Some("Reassigned to User 123 by Tenex Engineer"),
        ),
        (
            "incident.escalated",
            AlertState::Updated,
            Some("Escalated to User 123 by Tenex Engineer"),
        ),
        (
            "incident.delegated",
            AlertState::Updated,
            Some("Delegated to escalation policy Default by Tenex Engineer"),
        ),
        (
            "incident.incident_type.changed",
            AlertState::Updated,
            Some("PagerDuty: incident incident_type.changed by Tenex Engineer"),
        ),
    ] {
        let alerts = accept(&incident_event(event_type)).unwrap();
        let a = &alerts[0];
        assert_eq!(a.state, state, "{event_type}");
        assert_eq!(a.fingerprint, "PGR0VU2", "{event_type}");
        assert_eq!(
            a.details.first().map(String::as_str),
            detail,
            "{event_type}"
        );
    }
}

#[test]
fn low_urgency_is_info() {
    let mut event: Value = serde_json::from_slice(&incident_event("incident.triggered")).unwrap();
    event["event"]["data"]["urgency"] = json!("low");
    let a = &accept(&serde_json::to_vec(&event).unwrap()).unwrap()[0];
    assert_eq!(a.severity, Severity::Info);
}

#[test]
fn annotated_is_a_note_on_its_incident() {
    let body = serde_json::to_vec(&json!({"event": {
        "id": "01CZ8X3VPJ0Q0J1T2G0Q0Q0Q0R",
        "event_type": "incident.annotated",
        "resource_type": "incident",
        "occurred_at": "2020-10-02T18:50:00.000Z",
        "agent": {"id": "PLH1HKV", "summary": "Tenex Engineer", "type": "user_reference"},
        "client": null,
        "data": fixture_json("pagerduty/webhook_v3_event_data_incident_note_docs.json"),
    }}))
    .unwrap();
    let a = &accept(&body).unwrap()[0];
    assert_eq!(a.fingerprint, "PGR0VU2");
    assert_eq!(a.state, AlertState::Updated);
    assert_eq!(a.title, "A little bump in the road");
    assert_eq!(
        a.link.as_deref(),
        Some("https://acme.pagerduty.com/incidents/PGR0VU2")
    );
    assert_eq!(
        a.details,
        vec!["Note by Tenex Engineer: I sure am glad we are using PagerDuty!".to_string()]
    );
}

/// Other incident events (responders, status updates, …) carry an
/// incident reference: a line in that incident's thread.
#[test]
fn other_incident_events_are_a_line_in_the_thread() {
    let body = serde_json::to_vec(&json!({"event": {
        "id": "01CZ8X3VPJ0Q0J1T2G0Q0Q0Q0S",
        "event_type": "incident.status_update_published",
        "resource_type": "incident",
        "occurred_at": "2020-10-02T19:00:00.000Z",
        "agent": {"id": "PLH1HKV", "summary": "Tenex Engineer", "type": "user_reference"},
        "data": {
            "type": "incident_status_update",
            "incident": fixture_json("pagerduty/webhook_v3_event_data_incident_note_docs.json")["incident"],
            "message": "Mitigated; watching.",
        },
    }}))
    .unwrap();
    let a = &accept(&body).unwrap()[0];
    assert_eq!(a.fingerprint, "PGR0VU2");
    assert_eq!(a.state, AlertState::Updated);
    assert_eq!(a.title, "A little bump in the road");
    assert_eq!(
        a.details,
        vec!["PagerDuty: incident.status_update_published by Tenex Engineer".to_string()]
    );
}

#[test]
fn service_updated_and_ping_are_ignored() {
    let why = ignored(accept(&fixture(
        "pagerduty/webhook_v3_service_updated_docs.json",
    )));
    assert_eq!(why, "service.updated event");
    let ping = br#"{"event":{"id":"01","event_type":"pagey.ping","resource_type":"pagey","occurred_at":"2021-12-08T22:15:16.062Z","agent":null,"client":null,"data":{"message":"Hello from your friend Pagey!","type":"ping"}}}"#;
    assert_eq!(ignored(accept(ping)), "pagey.ping event");
    // An incident event whose data names no incident says nothing medic can use.
    let odd = br#"{"event":{"id":"02","event_type":"incident.workflow.started","data":{"type":"incident_workflow_instance"}}}"#;
    ignored(accept(odd));
}

#[test]
fn missing_required_fields_are_named() {
    let mut event: Value = serde_json::from_slice(&incident_event("incident.triggered")).unwrap();
    event["event"]["data"].as_object_mut().unwrap().remove("id");
    let body = serde_json::to_vec(&event).unwrap();
    assert_eq!(malformed_field(accept(&body)), "event.data.id");

    let mut event: Value = serde_json::from_slice(&incident_event("incident.triggered")).unwrap();
    event["event"]["data"]["title"] = json!(42);
    let body = serde_json::to_vec(&event).unwrap();
    assert_eq!(malformed_field(accept(&body)), "event.data.title");

    let mut event: Value = serde_json::from_slice(&incident_event("incident.triggered")).unwrap();
    event["event"].as_object_mut().unwrap().remove("event_type");
    let body = serde_json::to_vec(&event).unwrap();
    assert_eq!(malformed_field(accept(&body)), "event.event_type");

    assert_eq!(malformed_field(accept(b"{\"messages\": []}")), "event");
    assert_eq!(malformed_field(accept(b"{\"event\": ")), "event");
    assert_eq!(malformed_field(accept(b"")), "body");
}

#[test]
fn the_delivery_id_is_the_signed_event_id_never_x_webhook_id() {
    let body = fixture("pagerduty/webhook_v3_incident_priority_updated_docs.json");
    let v = PagerDutyVerifier::new([SECRET]);
    let event = "event:5ac64822-4adc-4fda-ade0-410becf0de4f";
    // Whatever the unsigned header says (a replay under a new id), or
    // without it: the event's id.
    for h in [
        headers(&[("X-Webhook-Id", "b4a9b5c0-0f83-4e5a-9f6c-3d1f2e4a5b6c")]),
        headers(&[("X-Webhook-Id", "replayed-under-a-new-id")]),
        headers(&[]),
    ] {
        assert_eq!(v.delivery_id(&h, &body), event);
    }
    assert!(
        v.delivery_id(&headers(&[]), b"not json")
            .starts_with("sha256:")
    );
}
