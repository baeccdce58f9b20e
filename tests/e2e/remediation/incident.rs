//! An alert's runbook report offers the same buttons as `/diag`, in the
//! incident's thread, and a click there runs the action.

use medic_commands::model::alert::{Alert, AlertSource, AlertState, Severity};
use medic_tests::{Options, services, spawn_medic};

use super::*;

#[tokio::test]
async fn an_incident_thread_offers_and_runs_a_remediation() {
    let dir = tempfile::tempdir().unwrap();
    let port = services::dead_port().await;
    let m = spawn_medic(Options {
        targets: format!("[targets.svc]\nkind = \"tcp\"\naddress = \"127.0.0.2:{port}\"\ntimeout = \"2s\"\n"),
        extra: format!(
            "[[routes]]\nmatch = {{ source = \"sentry\" }}\nslack_channel = \"{CHANNEL}\"\n\n\
             [[runbooks]]\nmatch = {{ title = \"(?i)svc\" }}\nrun = [\"svc\"]\n\n{}\n\
             [actions.mark]\ntitle = \"Mark a run\"\nkind = \"command\"\nrun = [\"mktemp\", \"-p\", \"{}\"]\n\
             offered_on = [\"svc\"]\nmay_request = [\"group:sre\"]\n",
            groups(),
            dir.path().display()
        ),
        ..Default::default()
    })
    .await;
    let alert = Alert {
        source: AlertSource::Sentry,
        fingerprint: "42".into(),
        state: AlertState::Firing,
        title: "svc refuses connections".into(),
        severity: Severity::Error,
        service: Some("api".into()),
        host: None,
        labels: Vec::new(),
        occurred_at: None,
        link: None,
        details: Vec::new(),
        chain: vec![],
    };
    m.deliver("d1", alert).await;

    let (offer, thread) = wait_for_buttons(&m, "medic.request", 1).await.remove(0);
    press(&m, MALLORY, "medic.request", &offer, &thread).await;
    let said = m.slack.wait_for_ephemerals(MALLORY, 1, LIMIT).await;
    assert!(said[0].contains("may_request"), "{said:?}");
    press(&m, ALICE, "medic.request", &offer, &thread).await;
    m.slack
        .wait_for_message(CHANNEL, LIMIT, |t| {
            t.contains("Mark a run") && t.contains("succeeded")
        })
        .await;
    assert_eq!(files(dir.path()).len(), 1);
    m.stop().await.unwrap();
}
