//! An incident run from its thread on the fake Slack: Acknowledge, Resolve
//! and Reopen on the root, for the people `[incidents] may_respond`
//! allows; refused privately (and audited) for anyone else; once, however
//! many press.

use std::time::Duration;

use medic_commands::model::alert::{Alert, AlertSource, AlertState, Severity};
use medic_tests::{CHANNEL, Options, TestMedic, spawn_medic};
use serde_json::Value;

use crate::remediation::{ALICE, BOB, MALLORY, audited_events, groups, press};

const LIMIT: Duration = Duration::from_secs(30);

fn alert() -> Alert {
    Alert {
        source: AlertSource::Sentry,
        fingerprint: "9001".into(),
        state: AlertState::Firing,
        title: "DatabaseConnectionError: too many clients".into(),
        severity: Severity::Error,
        service: Some("api".into()),
        host: None,
        labels: Vec::new(),
        occurred_at: None,
        link: None,
        details: Vec::new(),
        chain: Vec::new(),
    }
}

/// The root's ts and the action ids of its buttons, as it reads now.
fn root(m: &TestMedic) -> Option<(String, Vec<String>)> {
    let post = m
        .slack
        .posts_in(CHANNEL)
        .into_iter()
        .find(|c| c.thread_ts().is_none())?;
    let ts = post.ts.clone()?;
    let now = m.slack.message(CHANNEL, &ts)?;
    let ids = now["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .filter_map(|e: Value| e["action_id"].as_str().map(str::to_string))
        .collect();
    Some((ts, ids))
}

async fn root_buttons(m: &TestMedic, want: &[&str]) -> String {
    let what = format!("the root offering {want:?}");
    m.slack
        .wait_until(&what, LIMIT, |_| {
            root(m).is_some_and(|(_, ids)| ids == want)
        })
        .await;
    root(m).unwrap().0
}

/// The thread's replies that contain `needle`.
fn notes(m: &TestMedic, needle: &str) -> usize {
    m.slack
        .posts_in(CHANNEL)
        .iter()
        .filter(|c| c.thread_ts().is_some() && c.all_text().contains(needle))
        .count()
}

#[tokio::test]
async fn an_incident_is_acknowledged_resolved_and_reopened_from_its_root() {
    let m = spawn_medic(Options {
        extra: format!(
            "{}\n[[routes]]\nmatch = {{}}\nslack_channel = \"{CHANNEL}\"\n\
             [incidents]\nmay_respond = [\"group:sre\"]\n",
            groups()
        ),
        ..Default::default()
    })
    .await;
    m.deliver("d1", alert()).await;
    let ts = root_buttons(&m, &["medic.ack", "medic.resolve"]).await;
    let id = m.state.store.incidents().await.unwrap()[0].id.to_string();

    // Not in group:sre: refused privately, audited, nothing changes.
    press(&m, MALLORY, "medic.resolve", &id, &ts).await;
    let said = m.slack.wait_for_ephemerals(MALLORY, 1, LIMIT).await;
    assert!(
        said[0].contains("may_respond = [\"group:sre\"]"),
        "{said:?}"
    );
    m.idle().await;
    assert!(m.slack.root_now(CHANNEL).unwrap().contains("P2"));
    assert!(!m.slack.root_now(CHANNEL).unwrap().contains("resolved"));
    assert!(
        m.slack.updates_in(CHANNEL).is_empty(),
        "the root is unchanged"
    );

    // alice acknowledges: the root says so and offers only Resolve.
    press(&m, ALICE, "medic.ack", &id, &ts).await;
    root_buttons(&m, &["medic.resolve"]).await;
    assert!(
        m.slack
            .root_now(CHANNEL)
            .unwrap()
            .contains("acknowledged by <@U0ALICE>"),
        "{:?}",
        m.slack.root_now(CHANNEL)
    );
    m.slack
        .wait_until("the acknowledgement in the thread", LIMIT, |_| {
            notes(&m, "Acknowledged by <@U0ALICE>") == 1
        })
        .await;
    // A second Acknowledge (a stale button) changes nothing.
    press(&m, BOB, "medic.ack", &id, &ts).await;
    let said = m.slack.wait_for_ephemerals(BOB, 1, LIMIT).await;
    assert!(said[0].contains("is already acknowledged"), "{said:?}");

    // Two people resolve at once: resolved once.
    let (a, b) = tokio::join!(
        m.click(ALICE, "medic.resolve", &id, Some(&ts)),
        m.click(BOB, "medic.resolve", &id, Some(&ts)),
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    root_buttons(&m, &["medic.reopen"]).await;
    m.idle().await;
    assert!(m.slack.root_now(CHANNEL).unwrap().contains("resolved"));
    assert_eq!(notes(&m, "Resolved by"), 1, "resolved once");

    // And reopened.
    press(&m, BOB, "medic.reopen", &id, &ts).await;
    root_buttons(&m, &["medic.ack", "medic.resolve"]).await;
    m.slack
        .wait_until("the reopening in the thread", LIMIT, |_| {
            notes(&m, "Reopened by <@U0BOB>") == 1
        })
        .await;

    let events = audited_events(&m).await;
    for e in ["refused", "acknowledged", "resolved", "reopened"] {
        assert!(events.iter().any(|x| x == e), "{e} not audited: {events:?}");
    }
    assert_eq!(events.iter().filter(|e| *e == "resolved").count(), 1);
    m.stop().await.unwrap();
}
