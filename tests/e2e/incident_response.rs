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
    // A real mention in the message itself, not only in its fallback.
    assert_eq!(notes(&m, "&lt;@U0ALICE&gt;"), 0, "the mention is escaped");
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

/// A PagerDuty incident run from its thread: its own priority (P1) on the
/// root; PagerDuty refusing the acknowledgement leaves it unacknowledged
/// and says so; the next press acknowledges it at PagerDuty as the
/// presser (their email in `From:`) and here; PagerDuty's webhook saying
/// so back is the echo, not a second line; Resolve resolves it there too.
#[tokio::test]
async fn a_pagerduty_incident_is_acknowledged_and_resolved_at_pagerduty_too() {
    use medic_tests::fakes::pagerduty::FakePagerDuty;
    use medic_tests::fakes::vendor::Trouble;

    use crate::remediation::vendor::{PD_INCIDENT, PD_SECRET, PD_TOKEN, pagerduty_event};

    let pd = FakePagerDuty::start(PD_TOKEN).await;
    let m = spawn_medic(Options {
        extra: format!(
            "{}\n[pagerduty]\nwebhook_secrets = [\"{PD_SECRET}\"]\napi_url = \"{}\"\n\
             api_token = \"{PD_TOKEN}\"\nfrom = \"medic@example.com\"\n\
             [[routes]]\nmatch = {{}}\nslack_channel = \"{CHANNEL}\"\n\
             [oncall.people.alice]\nslack = \"{ALICE}\"\nemail = \"alice@example.com\"\n",
            groups(),
            pd.api_url()
        ),
        ..Default::default()
    })
    .await;
    pagerduty_event(&m, "incident.triggered", "pd-1").await;
    let ts = root_buttons(&m, &["medic.ack", "medic.resolve"]).await;
    assert!(m.slack.root_now(CHANNEL).unwrap().contains("P1 High"));
    let id = m.state.store.incidents().await.unwrap()[0].id.to_string();

    // PagerDuty answers 500: nothing changes here, and the thread says why.
    pd.then(Trouble::Status(500));
    press(&m, ALICE, "medic.ack", &id, &ts).await;
    m.slack
        .wait_until("the refusal in the thread", LIMIT, |_| {
            notes(&m, "PagerDuty did not acknowledge it") == 1
        })
        .await;
    m.idle().await;
    assert!(
        !m.slack
            .root_now(CHANNEL)
            .unwrap()
            .contains("acknowledged by")
    );

    press(&m, ALICE, "medic.ack", &id, &ts).await;
    root_buttons(&m, &["medic.resolve"]).await;
    let puts: Vec<_> = pd
        .calls()
        .into_iter()
        .filter(|c| c.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 2, "{puts:#?}");
    let ack = &puts[1];
    assert_eq!(ack.path, format!("/incidents/{PD_INCIDENT}"));
    assert_eq!(ack.body["incident"]["status"], "acknowledged");
    assert_eq!(
        ack.from.as_deref(),
        Some("alice@example.com"),
        "as the presser"
    );

    // PagerDuty's webhook for that acknowledgement: the echo.
    pagerduty_event(&m, "incident.acknowledged", "pd-2").await;
    m.idle().await;
    assert_eq!(
        notes(&m, "Acknowledged"),
        1,
        "one line for one acknowledgement"
    );

    press(&m, BOB, "medic.resolve", &id, &ts).await;
    root_buttons(&m, &["medic.reopen"]).await;
    let puts: Vec<_> = pd
        .calls()
        .into_iter()
        .filter(|c| c.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 3);
    assert_eq!(puts[2].body["incident"]["status"], "resolved");
    assert_eq!(
        puts[2].from.as_deref(),
        Some("medic@example.com"),
        "bob has no email here"
    );
    let root = m.slack.root_now(CHANNEL).unwrap();
    assert!(
        root.contains("resolved") && root.contains(" UTC after "),
        "{root}"
    );

    // The postmortem draft follows in the thread, its timeline in order.
    m.slack
        .wait_until("the postmortem draft", LIMIT, |_| {
            notes(&m, "Incident report") == 1
        })
        .await;
    let draft = m
        .slack
        .posts_in(CHANNEL)
        .into_iter()
        .filter(|c| c.thread_ts().is_some())
        .map(|c| c.all_text())
        .find(|t| t.contains("Incident report"))
        .unwrap();
    for fact in [
        "Incident report: #",
        "P1",
        "Time to acknowledge",
        "Time to resolve",
        "What users saw: _to fill_",
        "Action items",
    ] {
        assert!(draft.contains(fact), "{fact:?} missing from {draft}");
    }
    let at = |needle: &str| {
        draft
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing from {draft}"))
    };
    let order = [
        at("Alert from PagerDuty"),
        at("PagerDuty did not acknowledge it"),
        at("👀 Acknowledged —"),
        at("✅ Resolved —"),
    ];
    assert!(order.is_sorted(), "timeline out of order: {draft}");
    assert_eq!(
        draft.matches("Acknowledged").count(),
        1,
        "PagerDuty's echo is not a second acknowledgement: {draft}"
    );
    m.stop().await.unwrap();
}

/// A P1 nobody acknowledges for 15 minutes (on medic's clock, moved by the
/// test) gets one reminder in its thread mentioning who is on call; one
/// acknowledged at minute 14 gets none.
#[tokio::test]
async fn an_unacknowledged_p1_reminds_the_on_call_at_fifteen_minutes() {
    // bob has held the db pager for 3 h.
    let rotation = crate::oncall::Rotation::past(3 * 3600);
    let m = spawn_medic(Options {
        extra: format!(
            "[[routes]]\nmatch = {{}}\nslack_channel = \"{CHANNEL}\"\n{}",
            rotation.config("slack_channel = \"C0ONCALL\"")
        ),
        ..Default::default()
    })
    .await;
    let p1 = |fingerprint: &str, title: &str| Alert {
        fingerprint: fingerprint.into(),
        title: title.into(),
        severity: Severity::Critical,
        ..alert()
    };
    m.deliver("d1", p1("a", "Checkout is down")).await;
    m.deliver("d2", p1("b", "Search is slow")).await;
    m.slack
        .wait_until("two roots", LIMIT, |s| s.roots_now(CHANNEL).len() == 2)
        .await;
    let roots: Vec<String> = m
        .slack
        .posts_in(CHANNEL)
        .into_iter()
        .filter(|c| c.thread_ts().is_none())
        .filter_map(|c| c.ts)
        .collect();
    let in_thread = |root: &str, needle: &str| {
        m.slack
            .posts_in(CHANNEL)
            .iter()
            .filter(|c| c.thread_ts() == Some(root) && c.all_text().contains(needle))
            .count()
    };
    let incidents = m.state.store.incidents().await.unwrap();
    let search = incidents
        .iter()
        .find(|i| i.view.title == "Search is slow")
        .unwrap();

    m.state.clock.advance(Duration::from_secs(14 * 60));
    press(&m, ALICE, "medic.ack", &search.id.to_string(), &roots[1]).await;
    m.slack
        .wait_until("search acknowledged", LIMIT, |s| {
            s.roots_now(CHANNEL)
                .iter()
                .any(|r| r.contains("Search is slow") && r.contains("acknowledged by"))
        })
        .await;
    m.idle().await;
    assert_eq!(in_thread(&roots[0], "⏰"), 0, "not yet at minute 14");

    m.state.clock.advance(Duration::from_secs(60 + 5));
    m.slack
        .wait_until("the reminder", LIMIT, |_| in_thread(&roots[0], "⏰") == 1)
        .await;
    let reminder = m
        .slack
        .posts_in(CHANNEL)
        .into_iter()
        .find(|c| c.thread_ts() == Some(roots[0].as_str()) && c.all_text().contains("⏰"))
        .unwrap()
        .all_text();
    assert!(
        reminder.contains("P1 high and not acknowledged after 15 min"),
        "{reminder}"
    );
    assert!(
        reminder.contains("<@U0BOB>"),
        "the on-call is mentioned: {reminder}"
    );
    m.idle().await;
    assert_eq!(in_thread(&roots[0], "⏰"), 1, "one reminder");
    assert_eq!(
        in_thread(&roots[1], "⏰"),
        0,
        "none for the acknowledged one"
    );
    m.stop().await.unwrap();
}
