//! The PagerDuty and Sentry built-ins: a real signed webhook opens the
//! incident, its thread offers the source's actions, a real signed click
//! runs one, and the fake vendor API records exactly what medic sent.

use medic_tests::fakes::pagerduty::FakePagerDuty;
use medic_tests::fakes::sentry::FakeSentry;
use medic_tests::fakes::vendor::Trouble;
use medic_tests::signing::{pagerduty_signature, sentry_signature};
use medic_tests::{Options, TestMedic, spawn_medic};
use serde_json::{Value, json};

use super::*;

pub(crate) const PD_SECRET: &str = "pd-webhook-s3cret-vendor";
pub(crate) const PD_TOKEN: &str = "u+pdRestKey0123456789abcd";
const PD_FROM: &str = "oncall@example.com";
const SENTRY_SECRET: &str = "sentry-client-s3cret-vendor";
const SENTRY_TOKEN: &str = "sntrys_0123456789abcdefVENDOR";
const ORG: &str = "acme";
/// The incident id in PagerDuty's docs payload.
pub(crate) const PD_INCIDENT: &str = "PGR0VU2";
/// The issue id in Sentry's docs payload.
const SENTRY_ISSUE: &str = "1170820242";
/// The PagerDuty user `pd-reassign` assigns to.
const LEAD: &str = "PXPGF42";

fn fixture(path: &str) -> Vec<u8> {
    let full = format!(
        "{}/../integrations/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// `[pagerduty]`, `[sentry]`, a route to [`CHANNEL`], and the five
/// vendor actions, for `sre` without approval.
fn config(pd: &FakePagerDuty, sentry: &FakeSentry, pd_token: &str) -> String {
    format!(
        "[pagerduty]\nwebhook_secrets = [\"{PD_SECRET}\"]\napi_url = \"{pd_url}\"\n\
         api_token = \"{pd_token}\"\nfrom = \"{PD_FROM}\"\n\n\
         [sentry]\nclient_secret = \"{SENTRY_SECRET}\"\napi_url = \"{sentry_url}\"\n\
         auth_token = \"{SENTRY_TOKEN}\"\norganization = \"{ORG}\"\n\n\
         [[routes]]\nmatch = {{}}\nslack_channel = \"{CHANNEL}\"\n\n{groups}\n\
         [actions.pd-ack]\ntitle = \"Acknowledge\"\nkind = \"pagerduty.acknowledge\"\n\
         offered_on = [\"source:pagerduty\"]\nmay_request = [\"group:sre\"]\n\n\
         [actions.pd-resolve]\ntitle = \"Resolve in PagerDuty\"\nkind = \"pagerduty.resolve\"\n\
         offered_on = [\"source:pagerduty\"]\nmay_request = [\"group:sre\"]\n\n\
         [actions.pd-reassign]\ntitle = \"Reassign to the lead\"\nkind = \"pagerduty.reassign\"\n\
         assign_to = \"{LEAD}\"\noffered_on = [\"source:pagerduty\"]\nmay_request = [\"group:sre\"]\n\n\
         [actions.sentry-resolve]\ntitle = \"Resolve in Sentry\"\nkind = \"sentry.resolve\"\n\
         offered_on = [\"source:sentry\"]\nmay_request = [\"group:sre\"]\n\n\
         [actions.sentry-ignore]\ntitle = \"Ignore in Sentry\"\nkind = \"sentry.ignore\"\n\
         offered_on = [\"source:sentry\"]\nmay_request = [\"group:sre\"]\n",
        pd_url = pd.api_url(),
        sentry_url = sentry.api_url(),
        groups = groups(),
    )
}

async fn start(pd_token: &str) -> (TestMedic, FakePagerDuty, FakeSentry) {
    let pd = FakePagerDuty::start(PD_TOKEN).await;
    let sentry = FakeSentry::start(SENTRY_TOKEN, ORG).await;
    let m = spawn_medic(Options {
        extra: config(&pd, &sentry, pd_token),
        ..Default::default()
    })
    .await;
    (m, pd, sentry)
}

/// PagerDuty's docs incident, triggered, through the signed webhook.
async fn pagerduty_triggered(m: &TestMedic) {
    pagerduty_event(m, "incident.triggered", "pd-vendor-1").await;
}

/// PagerDuty's docs incident, with `event_type`, through the signed
/// webhook as event `id`: the signed `event.id` a delivery is recognised
/// by (sent as its `X-Webhook-Id` too, which medic does not read).
pub(crate) async fn pagerduty_event(m: &TestMedic, event_type: &str, id: &str) {
    let data: Value = serde_json::from_slice(&fixture(
        "pagerduty/webhook_v3_event_data_incident_docs.json",
    ))
    .unwrap();
    assert_eq!(data["id"], PD_INCIDENT);
    let body = serde_json::to_vec(&json!({"event": {
        "id": id,
        "event_type": event_type,
        "resource_type": "incident",
        "occurred_at": "2020-04-09T15:16:27.000Z",
        "agent": null,
        "client": null,
        "data": data,
    }}))
    .unwrap();
    let sig = pagerduty_signature(PD_SECRET, &body);
    let (status, answer) = m
        .post_json(
            "/webhooks/pagerduty",
            &[("x-pagerduty-signature", sig), ("x-webhook-id", id.into())],
            body,
        )
        .await;
    assert_eq!(status, 202, "{answer}");
}

/// Sentry's docs issue, created, through the signed webhook.
async fn sentry_issue_created(m: &TestMedic) {
    let body = fixture("sentry/webhook_issue_created_docs.json");
    let sig = sentry_signature(SENTRY_SECRET, &body);
    let (status, answer) = m
        .post_json(
            "/webhooks/sentry",
            &[
                ("sentry-hook-resource", "issue".to_string()),
                ("sentry-hook-timestamp", medic_tests::now_unix().to_string()),
                ("request-id", "sentry-vendor-1".into()),
                ("sentry-hook-signature", sig),
            ],
            body,
        )
        .await;
    assert!(status == 200 || status == 202, "{status} {answer}");
}

/// The offer button labelled `title`, once `n` buttons are offered:
/// (value, thread).
async fn offer_titled(m: &TestMedic, title: &str, n: usize) -> (String, String) {
    let buttons = wait_for_buttons(m, "medic.request", n).await;
    let calls = m.slack.calls();
    let value = calls
        .iter()
        .flat_map(|c| c.body["blocks"].as_array().cloned().unwrap_or_default())
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .find(|e| e["action_id"] == "medic.request" && e["text"]["text"] == title)
        .and_then(|e| e["value"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no {title} button: {calls:#?}"));
    buttons
        .into_iter()
        .find(|(v, _)| *v == value)
        .unwrap_or_else(|| panic!("no thread for {title}"))
}

/// Waits for the request status message to say `word` about `title`.
async fn status_says(m: &TestMedic, title: &str, word: &str) -> String {
    m.slack
        .wait_for_message(CHANNEL, LIMIT, |t| t.contains(title) && t.contains(word))
        .await
}

#[tokio::test]
async fn a_pagerduty_thread_acknowledges_its_incident_once() {
    let (m, pd, sentry) = start(PD_TOKEN).await;
    pagerduty_triggered(&m).await;
    // PagerDuty's own priority (P1 in its documented example) is the
    // incident's severity level, on its root.
    m.slack
        .wait_until("the root at P1", LIMIT, |s| {
            s.root_now(CHANNEL)
                .is_some_and(|r| r.contains("P1 High: respond within 15 min"))
        })
        .await;
    // The three PagerDuty actions offered, none of Sentry's.
    let (offer, thread) = offer_titled(&m, "Acknowledge", 3).await;
    let texts: String = m.slack.calls().iter().map(|c| c.all_text()).collect();
    assert!(
        texts.contains(&format!("PagerDuty incident {PD_INCIDENT}")),
        "{texts}"
    );
    assert!(!texts.contains("Ignore in Sentry"), "{texts}");

    press(&m, MALLORY, "medic.request", &offer, &thread).await;
    let said = m.slack.wait_for_ephemerals(MALLORY, 1, LIMIT).await;
    assert!(said[0].contains("may_request"), "{said:?}");
    assert!(pd.calls().is_empty(), "a refused click calls nothing");

    press(&m, ALICE, "medic.request", &offer, &thread).await;
    status_says(&m, "Acknowledge", "succeeded").await;
    // The same button again runs nothing.
    press(&m, BOB, "medic.request", &offer, &thread).await;
    let said = m.slack.wait_for_ephemerals(BOB, 1, LIMIT).await;
    assert!(said[0].contains("already used"), "{said:?}");

    let calls = pd.calls();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    let call = &calls[0];
    assert_eq!(call.method, "PUT");
    assert_eq!(call.path, format!("/incidents/{PD_INCIDENT}"));
    assert_eq!(call.status, 200);
    assert_eq!(
        call.authorization.as_deref(),
        Some(format!("Token token={PD_TOKEN}").as_str())
    );
    assert_eq!(call.from.as_deref(), Some(PD_FROM));
    assert_eq!(
        call.body,
        json!({"incident": {"type": "incident_reference", "status": "acknowledged"}})
    );
    assert!(sentry.calls().is_empty());
    let events = audited_events(&m).await;
    for e in ["offered", "requested", "started", "succeeded"] {
        assert!(events.iter().any(|x| x == e), "{e} missing: {events:?}");
    }
    // The incident's timeline says what was asked and what came of it
    // (not the refused press, not each offer).
    let row = m.state.store.incidents().await.unwrap().remove(0);
    let actions: Vec<String> = m
        .state
        .store
        .timeline(&row)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == medic_commands::model::timeline::EventKind::Action)
        .map(|e| e.headline())
        .collect();
    assert_eq!(actions.len(), 2, "{actions:#?}");
    assert!(
        actions[0].contains(&format!(
            "pd-ack on pagerduty:{PD_INCIDENT}: requested — {ALICE}"
        )),
        "{actions:#?}"
    );
    assert!(actions[1].contains("succeeded"), "{actions:#?}");
    m.stop().await.unwrap();
}

#[tokio::test]
async fn a_sentry_thread_resolves_its_issue_once() {
    let (m, pd, sentry) = start(PD_TOKEN).await;
    sentry_issue_created(&m).await;
    let (offer, thread) = offer_titled(&m, "Resolve in Sentry", 2).await;
    press(&m, ALICE, "medic.request", &offer, &thread).await;
    status_says(&m, "Resolve in Sentry", "succeeded").await;
    let calls = sentry.calls();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(
        calls[0].path,
        format!("/api/0/organizations/{ORG}/issues/{SENTRY_ISSUE}/")
    );
    assert_eq!(
        calls[0].authorization.as_deref(),
        Some(format!("Bearer {SENTRY_TOKEN}").as_str())
    );
    assert_eq!(calls[0].body, json!({"status": "resolved"}));
    assert_eq!(calls[0].status, 200);
    assert!(pd.calls().is_empty());
    m.stop().await.unwrap();
}

#[tokio::test]
async fn a_vendor_error_is_a_failed_run_with_a_redacted_message() {
    let (m, _pd, sentry) = start(PD_TOKEN).await;
    sentry_issue_created(&m).await;
    sentry.then(Trouble::Status(500));
    let (offer, thread) = offer_titled(&m, "Ignore in Sentry", 2).await;
    press(&m, ALICE, "medic.request", &offer, &thread).await;
    let text = status_says(&m, "Ignore in Sentry", "failed").await;
    assert!(text.contains("Sentry answered HTTP 500"), "{text}");
    assert!(!text.contains(SENTRY_TOKEN), "{text}");
    assert_eq!(sentry.calls().len(), 1);
    let events = audited_events(&m).await;
    assert!(events.iter().any(|e| e == "failed"), "{events:?}");
    m.stop().await.unwrap();
}

#[tokio::test]
async fn a_refused_token_fails_and_never_shows_the_token() {
    // medic holds a token PagerDuty does not accept.
    let wrong = "u+pdWrongKey9876543210zyxw";
    let (m, pd, _sentry) = start(wrong).await;
    pagerduty_triggered(&m).await;
    let (offer, thread) = offer_titled(&m, "Resolve in PagerDuty", 3).await;
    press(&m, ALICE, "medic.request", &offer, &thread).await;
    let text = status_says(&m, "Resolve in PagerDuty", "failed").await;
    assert!(text.contains("refused the token (HTTP 401)"), "{text}");
    let calls = pd.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].status, 401);
    for c in m.slack.calls() {
        assert!(!c.body.to_string().contains(wrong), "token in chat: {c:?}");
    }
    let rows = m.state.store.audit_rows().await.unwrap();
    assert!(
        !format!("{rows:?}").contains(wrong),
        "token in the audit log"
    );
    m.stop().await.unwrap();
}

#[tokio::test]
async fn a_rate_limited_call_is_retried_after_retry_after() {
    let (m, pd, _sentry) = start(PD_TOKEN).await;
    pagerduty_triggered(&m).await;
    pd.then(Trouble::RateLimited { seconds: 1 });
    let (offer, thread) = offer_titled(&m, "Acknowledge", 3).await;
    press(&m, ALICE, "medic.request", &offer, &thread).await;
    status_says(&m, "Acknowledge", "succeeded").await;
    let statuses: Vec<u16> = pd.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![429, 200]);
    m.stop().await.unwrap();
}

#[tokio::test]
async fn reassign_sends_the_configured_user_as_the_assignee() {
    let (m, pd, _sentry) = start(PD_TOKEN).await;
    pagerduty_triggered(&m).await;
    let (offer, thread) = offer_titled(&m, "Reassign to the lead", 3).await;
    press(&m, CAROL, "medic.request", &offer, &thread).await;
    status_says(&m, "Reassign to the lead", "succeeded").await;
    let calls = pd.calls();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(
        calls[0].body,
        json!({"incident": {"type": "incident_reference", "assignments": [
            {"assignee": {"id": LEAD, "type": "user_reference"}}
        ]}})
    );
    m.stop().await.unwrap();
}
