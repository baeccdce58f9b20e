//! The alert endpoints as vendors call them: every published payload
//! (`integrations/tests/fixtures/`) through `POST /webhooks/…` with a real
//! signature or token, into an incident thread in the fake Slack;
//! redeliveries recognised (replays under a new id: replay.rs); and every refusal (401, 400, 413, 404) storing
//! nothing and posting nothing.

use std::time::Duration;

use medic_tests::signing::{pagerduty_signature, sentry_signature};
use medic_tests::{Options, TestMedic, spawn_medic};
use serde_json::{Value, json};

const ALERTS: &str = "C0ALERTS";
const SENTRY_SECRET: &str = "sentry-client-s3cret";
const PD_OLD: &str = "pd-old-s3cret";
const PD_NEW: &str = "pd-new-s3cret";
const AM_TOKEN: &str = "am-t0ken-1234";

fn fixture(path: &str) -> Vec<u8> {
    let full = format!(
        "{}/../integrations/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn sources() -> String {
    format!(
        "[sentry]\nclient_secret = \"{SENTRY_SECRET}\"\n\n\
         [pagerduty]\nwebhook_secrets = [\"{PD_OLD}\", \"{PD_NEW}\"]\n\n\
         [alertmanager]\ntoken = \"{AM_TOKEN}\"\n\n\
         [[routes]]\nmatch = {{}}\nslack_channel = \"{ALERTS}\"\n\n\
         [incidents]\ndigest_after = 0\n"
    )
}

async fn sentry(
    medic: &TestMedic,
    resource: &str,
    request_id: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let sig = sentry_signature(SENTRY_SECRET, &body);
    medic
        .post_json(
            "/webhooks/sentry",
            &[
                ("sentry-hook-resource", resource.to_string()),
                ("sentry-hook-timestamp", medic_tests::now_unix().to_string()),
                ("request-id", request_id.to_string()),
                ("sentry-hook-signature", sig),
            ],
            body,
        )
        .await
}

/// A PagerDuty V3 envelope around the docs' incident `data`.
fn pagerduty_event(event_type: &str, id: &str) -> Vec<u8> {
    let data: Value = serde_json::from_slice(&fixture(
        "pagerduty/webhook_v3_event_data_incident_docs.json",
    ))
    .unwrap();
    serde_json::to_vec(&json!({
        "event": {
            "id": id,
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": "2020-04-09T15:16:27.000Z",
            "agent": null,
            "client": null,
            "data": data,
        }
    }))
    .unwrap()
}

#[tokio::test]
async fn every_published_payload_opens_its_incident_through_the_endpoint() {
    let medic = spawn_medic(Options {
        extra: sources(),
        ..Default::default()
    })
    .await;

    // Sentry: each resource, signed over the exact bytes published.
    for (resource, file, id) in [
        ("issue", "sentry/webhook_issue_created_docs.json", "req-1"),
        ("error", "sentry/webhook_error_created_docs.json", "req-2"),
        (
            "event_alert",
            "sentry/webhook_event_alert_triggered_docs.json",
            "req-3",
        ),
        (
            "metric_alert",
            "sentry/webhook_metric_alert_resolved_docs.json",
            "req-4",
        ),
    ] {
        let (status, answer) = sentry(&medic, resource, id, fixture(file)).await;
        assert_eq!(status, 202, "{file}: {answer}");
        assert_eq!(answer["ok"], true, "{file}: {answer}");
    }
    let (status, answer) = sentry(
        &medic,
        "installation",
        "req-5",
        fixture("sentry/webhook_installation_created_docs.json"),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["ignored"].is_string(), "{answer}");

    // PagerDuty, signed with the new secret only (a rotation in progress).
    let body = pagerduty_event("incident.triggered", "01BZ0PDTRIGGERED");
    let sig = pagerduty_signature(PD_NEW, &body);
    let (status, answer) = medic
        .post_json(
            "/webhooks/pagerduty",
            &[
                ("x-pagerduty-signature", sig),
                ("x-webhook-id", "pd-delivery-1".into()),
            ],
            body,
        )
        .await;
    assert_eq!(status, 202, "{answer}");

    // Alertmanager 0.25's captured notification: one group, two alerts.
    let (status, answer) = medic
        .post_json(
            "/webhooks/alertmanager",
            &[("authorization", format!("Bearer {AM_TOKEN}"))],
            fixture("alertmanager/webhook_v4_firing_2alerts_captured.json"),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["alerts"], 2, "{answer}");

    let roots = medic
        .slack
        .wait_for_roots(
            ALERTS,
            &[
                "blooopy is not defined",
                "heck is not defined",
                "A little bump in the road",
                "web-1",
                "web-2",
            ],
            Duration::from_secs(30),
        )
        .await;
    // The Sentry issue and the error it belongs to are one incident or
    // two, but never more posts than incidents.
    let incidents = medic.state.store.incidents().await.unwrap();
    assert_eq!(roots.len(), incidents.len(), "{roots:#?}");

    // Sentry's retry (the same bytes, the same Request-ID) is recognised
    // and changes nothing.
    medic.idle().await;
    let posts = medic.slack.calls().len();
    let (status, answer) = sentry(
        &medic,
        "issue",
        "req-1",
        fixture("sentry/webhook_issue_created_docs.json"),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["duplicate"], true, "{answer}");
    // Whatever a delivery causes is queued before it is answered; once
    // that queue is empty again, anything it caused has been sent.
    medic.idle().await;
    assert_eq!(
        medic.slack.calls().len(),
        posts,
        "a redelivery posts nothing"
    );
    assert_eq!(
        medic.state.store.incidents().await.unwrap().len(),
        incidents.len()
    );
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn refused_deliveries_store_nothing_and_post_nothing() {
    let medic = spawn_medic(Options {
        extra: sources(),
        ..Default::default()
    })
    .await;
    let issue = fixture("sentry/webhook_issue_created_docs.json");
    let headers = |sig: String| {
        vec![
            ("sentry-hook-resource", "issue".to_string()),
            ("request-id", "req-x".to_string()),
            ("sentry-hook-signature", sig),
        ]
    };

    // Sentry: wrong secret, no signature, a body changed after signing.
    let wrong = sentry_signature("not-the-secret", &issue);
    let (status, _) = medic
        .post_json("/webhooks/sentry", &headers(wrong), issue.clone())
        .await;
    assert_eq!(status, 401);
    let (status, _) = medic
        .post_json(
            "/webhooks/sentry",
            &[("sentry-hook-resource", "issue".to_string())],
            issue.clone(),
        )
        .await;
    assert_eq!(status, 401);
    let mut tampered = issue.clone();
    let at = tampered.iter().position(|&b| b == b'1').unwrap();
    tampered[at] = b'2';
    let (status, _) = medic
        .post_json(
            "/webhooks/sentry",
            &headers(sentry_signature(SENTRY_SECRET, &issue)),
            tampered,
        )
        .await;
    assert_eq!(status, 401);

    // PagerDuty signed with a secret medic does not hold.
    let body = pagerduty_event("incident.triggered", "01BZ0PDX");
    let (status, _) = medic
        .post_json(
            "/webhooks/pagerduty",
            &[(
                "x-pagerduty-signature",
                pagerduty_signature("stranger", &body),
            )],
            body,
        )
        .await;
    assert_eq!(status, 401);

    // Alertmanager without its token, and with another.
    let am = fixture("alertmanager/webhook_v4_firing_2alerts_captured.json");
    let (status, _) = medic
        .post_json("/webhooks/alertmanager", &[], am.clone())
        .await;
    assert_eq!(status, 401);
    let (status, _) = medic
        .post_json(
            "/webhooks/alertmanager",
            &[("authorization", "Bearer guess".to_string())],
            am,
        )
        .await;
    assert_eq!(status, 401);

    // Signed but malformed: not JSON, then JSON without what is needed.
    for body in [
        b"{not json".to_vec(),
        br#"{"action":"created","data":{}}"#.to_vec(),
    ] {
        let sig = sentry_signature(SENTRY_SECRET, &body);
        let (status, answer) = medic
            .post_json("/webhooks/sentry", &headers(sig), body)
            .await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["field"].as_str().is_some_and(|f| !f.is_empty()),
            "the answer names the field: {answer}"
        );
    }

    // Over 1 MiB.
    let mut big = b"{\"pad\":\"".to_vec();
    big.resize(1024 * 1024 + 10, b'x');
    big.extend_from_slice(b"\"}");
    let sig = sentry_signature(SENTRY_SECRET, &big);
    let (status, _) = medic
        .post_json("/webhooks/sentry", &headers(sig), big)
        .await;
    assert_eq!(status, 413);

    medic.idle().await;
    assert!(medic.state.store.incidents().await.unwrap().is_empty());
    assert!(medic.slack.calls().is_empty(), "{:#?}", medic.slack.calls());
    let (_, metrics) = medic.get("/metrics").await;
    assert!(
        metrics
            .contains(r#"medic_alert_deliveries_total{source="sentry",outcome="unauthorized"} 3"#),
        "{metrics}"
    );
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn a_source_that_is_not_configured_is_not_found() {
    let medic = spawn_medic(Options::default()).await;
    let body = pagerduty_event("incident.triggered", "01BZ0PDY");
    let (status, answer) = medic
        .post_json(
            "/webhooks/pagerduty",
            &[("x-pagerduty-signature", pagerduty_signature(PD_NEW, &body))],
            body,
        )
        .await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("[pagerduty]")),
        "says what to configure: {answer}"
    );
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn every_sentry_mock_and_pagerduty_event_is_answered_as_its_kind() {
    let medic = spawn_medic(Options {
        extra: sources(),
        ..Default::default()
    })
    .await;

    // getsentry/integration-platform-example's mocks: each resource and
    // action Sentry sends, with the resource header it comes with.
    let mocks: serde_json::Map<String, Value> = serde_json::from_slice(&fixture(
        "sentry/integration_platform_example_mock_webhooks.json",
    ))
    .unwrap();
    for (n, (name, mock)) in mocks.iter().enumerate() {
        let resource = mock["Sentry-Hook-Resource"].as_str().unwrap();
        let body = serde_json::to_vec(&mock["body"]).unwrap();
        let (status, answer) = sentry(&medic, resource, &format!("mock-{n}"), body).await;
        let expected = match resource {
            "installation" | "comment" => 200,
            _ => 202,
        };
        assert_eq!(status, expected, "{name}: {answer}");
    }

    // PagerDuty: an incident triggers, is annotated and re-prioritised
    // (notes in its thread); a service change is acknowledged, no thread.
    let signed = |body: &[u8]| vec![("x-pagerduty-signature", pagerduty_signature(PD_OLD, body))];
    let triggered = pagerduty_event("incident.triggered", "01PDTRIGGER");
    let (status, _) = medic
        .post_json("/webhooks/pagerduty", &signed(&triggered), triggered)
        .await;
    assert_eq!(status, 202);
    let note: Value = serde_json::from_slice(&fixture(
        "pagerduty/webhook_v3_event_data_incident_note_docs.json",
    ))
    .unwrap();
    let annotated = serde_json::to_vec(&json!({"event": {
        "id": "01PDANNOTATED",
        "event_type": "incident.annotated",
        "resource_type": "incident",
        "occurred_at": "2020-04-09T15:20:00.000Z",
        "agent": null,
        "client": null,
        "data": note,
    }}))
    .unwrap();
    let (status, answer) = medic
        .post_json("/webhooks/pagerduty", &signed(&annotated), annotated)
        .await;
    assert_eq!(status, 202, "{answer}");
    for (file, expected) in [
        (
            "pagerduty/webhook_v3_incident_priority_updated_docs.json",
            202,
        ),
        ("pagerduty/webhook_v3_service_updated_docs.json", 200),
    ] {
        let body = fixture(file);
        let (status, answer) = medic
            .post_json("/webhooks/pagerduty", &signed(&body), body)
            .await;
        assert_eq!(status, expected, "{file}: {answer}");
    }

    // The PagerDuty incident's thread carries the annotation.
    medic
        .slack
        .wait_until(
            "the annotation in the thread",
            Duration::from_secs(30),
            |s| {
                s.posts_in(ALERTS)
                    .iter()
                    .any(|p| p.thread_ts().is_some() && p.all_text().contains("I sure am glad"))
            },
        )
        .await;
    let (_, metrics) = medic.get("/metrics").await;
    assert!(
        metrics.contains(r#"medic_alert_deliveries_total{source="pagerduty",outcome="ignored"} 1"#),
        "{metrics}"
    );
    medic.stop().await.unwrap();
}
