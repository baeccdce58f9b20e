//! A captured delivery replayed: the exact bytes Sentry or PagerDuty
//! signed, posted again with a fresh `Request-ID` / `X-Webhook-Id` (the
//! headers are not signed, so anyone who saw the body once can do this).
//! medic answers it as the redelivery it is — 200 `duplicate` — and the
//! incident, which was resolved since, is neither reopened nor opened
//! again, and its runbook does not run a second time.
//!
//! `reopen_window = "0s"`: a firing alert after a resolve would open a
//! new incident and run the runbook again, the loudest thing a replay
//! could cause.

use std::time::Duration;

use medic_commands::model::incident::IncidentState;
use medic_tests::signing::{pagerduty_signature, sentry_signature};
use medic_tests::{Options, TestMedic, services, spawn_medic};
use serde_json::{Value, json};

const ALERTS: &str = "C0REPLAY";
const SENTRY_SECRET: &str = "sentry-replay-s3cret";
const PD_SECRET: &str = "pd-replay-s3cret";
/// The runbook's target: its name is in the runbook's report.
const TARGET: &str = "ledgerdb";
const LIMIT: Duration = Duration::from_secs(30);

fn fixture(path: &str) -> Value {
    let full = format!(
        "{}/../integrations/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))).unwrap()
}

async fn medic() -> TestMedic {
    let port = services::dead_port().await;
    spawn_medic(Options {
        targets: format!(
            "[targets.{TARGET}]\nkind = \"tcp\"\naddress = \"127.0.0.2:{port}\"\ntimeout = \"2s\"\n"
        ),
        extra: format!(
            "[sentry]\nclient_secret = \"{SENTRY_SECRET}\"\n\n\
             [pagerduty]\nwebhook_secrets = [\"{PD_SECRET}\"]\n\n\
             [[routes]]\nmatch = {{}}\nslack_channel = \"{ALERTS}\"\n\n\
             [[runbooks]]\nmatch = {{}}\nrun = [\"{TARGET}\"]\n\n\
             [incidents]\ndigest_after = 0\nreopen_window = \"0s\"\n"
        ),
        ..Default::default()
    })
    .await
}

#[derive(Clone, Copy)]
enum Source {
    Sentry,
    PagerDuty,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Sentry => "sentry",
            Source::PagerDuty => "pagerduty",
        }
    }

    /// Posts `body`, validly signed, as the vendor does, with `id` in the
    /// vendor's (unsigned) delivery id header.
    async fn send(self, medic: &TestMedic, id: &str, body: &[u8]) -> (u16, Value) {
        let headers = match self {
            Source::Sentry => vec![
                ("sentry-hook-resource", "issue".to_string()),
                ("sentry-hook-timestamp", medic_tests::now_unix().to_string()),
                ("request-id", id.to_string()),
                (
                    "sentry-hook-signature",
                    sentry_signature(SENTRY_SECRET, body),
                ),
            ],
            Source::PagerDuty => vec![
                ("x-webhook-id", id.to_string()),
                (
                    "x-pagerduty-signature",
                    pagerduty_signature(PD_SECRET, body),
                ),
            ],
        };
        medic
            .post_json(
                &format!("/webhooks/{}", self.name()),
                &headers,
                body.to_vec(),
            )
            .await
    }

    /// The bodies of the incident opening and then resolving.
    fn opened_and_resolved(self) -> (Vec<u8>, Vec<u8>) {
        match self {
            Source::Sentry => {
                let created = fixture("sentry/webhook_issue_created_docs.json");
                let mut resolved = created.clone();
                resolved["action"] = json!("resolved");
                resolved["data"]["issue"]["status"] = json!("resolved");
                (
                    serde_json::to_vec(&created).unwrap(),
                    serde_json::to_vec(&resolved).unwrap(),
                )
            }
            Source::PagerDuty => {
                let data = fixture("pagerduty/webhook_v3_event_data_incident_docs.json");
                let event = |id: &str, kind: &str| {
                    serde_json::to_vec(&json!({"event": {
                        "id": id,
                        "event_type": kind,
                        "resource_type": "incident",
                        "occurred_at": "2020-04-09T15:16:27.000Z",
                        "agent": null,
                        "client": null,
                        "data": data,
                    }}))
                    .unwrap()
                };
                (
                    event("01REPLAYTRIGGERED", "incident.triggered"),
                    event("01REPLAYRESOLVED", "incident.resolved"),
                )
            }
        }
    }
}

/// The posts of runbook reports (and lines quoting them) in threads.
fn runbook_reports(medic: &TestMedic) -> usize {
    medic
        .slack
        .posts_in(ALERTS)
        .iter()
        .filter(|p| p.thread_ts().is_some() && p.all_text().contains(TARGET))
        .count()
}

async fn delivery_rows(medic: &TestMedic, source: Source) -> i64 {
    let pool = sqlx::AnyPool::connect(medic.db.url()).await.unwrap();
    let n = sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE source = $1")
        .bind(source.name())
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

async fn a_replay_under_a_new_id_is_a_duplicate(source: Source) {
    let medic = medic().await;
    let (opened, resolved) = source.opened_and_resolved();

    let (status, answer) = source.send(&medic, "delivery-1", &opened).await;
    assert_eq!(status, 202, "{answer}");
    medic
        .slack
        .wait_until("the runbook's report in the thread", LIMIT, |_| {
            runbook_reports(&medic) > 0
        })
        .await;
    let (status, answer) = source.send(&medic, "delivery-2", &resolved).await;
    assert_eq!(status, 202, "{answer}");
    medic.idle().await;
    let incidents = medic.state.store.incidents().await.unwrap();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].view.state, IncidentState::Resolved);
    let posts = medic.slack.calls().len();
    let reports = runbook_reports(&medic);

    // The opening delivery's exact bytes and signature, under a new id.
    let (status, answer) = source.send(&medic, "replayed-3", &opened).await;
    assert_eq!(
        (status, &answer["duplicate"]),
        (200, &json!(true)),
        "a replayed {} body is a duplicate: {answer}",
        source.name()
    );
    medic.idle().await;
    let incidents = medic.state.store.incidents().await.unwrap();
    assert_eq!(incidents.len(), 1, "no incident opened again");
    assert_eq!(
        incidents[0].view.state,
        IncidentState::Resolved,
        "not reopened"
    );
    assert_eq!(
        runbook_reports(&medic),
        reports,
        "the runbook did not run again"
    );
    assert_eq!(
        medic.slack.calls().len(),
        posts,
        "the replay posted nothing: {:#?}",
        &medic.slack.calls()[posts..]
    );
    assert_eq!(
        delivery_rows(&medic, source).await,
        2,
        "opened and resolved, no row for the replay"
    );
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn a_sentry_body_replayed_under_a_new_request_id_is_a_duplicate() {
    a_replay_under_a_new_id_is_a_duplicate(Source::Sentry).await;
}

#[tokio::test]
async fn a_pagerduty_body_replayed_under_a_new_webhook_id_is_a_duplicate() {
    a_replay_under_a_new_id_is_a_duplicate(Source::PagerDuty).await;
}
