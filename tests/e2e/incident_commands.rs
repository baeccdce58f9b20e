//! `/incident …` on the fake Slack: an incident run by typing, as by its
//! root's buttons (same policy, same lines in the thread, same audit), its
//! severity changed, its timeline shown, its Sentry issue resolved at
//! Sentry, and an incident declared from chat with its matching runbook.

use std::time::Duration;

use medic_commands::model::alert::{Alert, AlertSource, AlertState, Severity};
use medic_commands::model::timeline::EventKind;
use medic_tests::fakes::sentry::FakeSentry;
use medic_tests::fakes::vendor::Trouble;
use medic_tests::{
    CHANNEL, Options, TestMedic, ephemeral_text, redis_target, require_redis, spawn_medic,
};

use crate::remediation::{ALICE, MALLORY, audited_events, groups};

const LIMIT: Duration = Duration::from_secs(30);
const SENTRY_TOKEN: &str = "sntrys_0123456789abcdefCOMMANDS";

fn sentry_alert(issue: &str, title: &str) -> Alert {
    Alert {
        source: AlertSource::Sentry,
        fingerprint: issue.into(),
        state: AlertState::Firing,
        title: title.into(),
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

/// Types `/incident TEXT` in [`CHANNEL`] as `user`; the private answer.
async fn incident(m: &TestMedic, user: &str, text: &str) -> String {
    let name = user.trim_start_matches("U0").to_lowercase();
    let r = m.slash_as(user, &name, CHANNEL, "/incident", text).await;
    assert_eq!(r.status(), 200);
    ephemeral_text(r).await
}

/// The thread replies under `root` that contain `needle`.
fn in_thread(m: &TestMedic, root: &str, needle: &str) -> Vec<String> {
    m.slack
        .posts_in(CHANNEL)
        .into_iter()
        .filter(|c| c.thread_ts() == Some(root))
        .map(|c| c.all_text())
        .filter(|t| t.contains(needle))
        .collect()
}

/// The ts of the root whose text (as it reads now) contains `needle`.
async fn root_of(m: &TestMedic, needle: &str) -> String {
    m.slack
        .wait_until(&format!("a root about {needle:?}"), LIMIT, |s| {
            s.roots_now(CHANNEL).iter().any(|r| r.contains(needle))
        })
        .await;
    m.slack
        .posts_in(CHANNEL)
        .into_iter()
        .filter(|c| c.thread_ts().is_none())
        .filter_map(|c| c.ts)
        .find(|ts| {
            m.slack
                .message(CHANNEL, ts)
                .is_some_and(|v| v.to_string().contains(needle))
        })
        .unwrap()
}

fn root_now(m: &TestMedic, ts: &str) -> String {
    m.slack.message(CHANNEL, ts).unwrap().to_string()
}

#[tokio::test]
async fn an_incident_is_run_by_typing_in_its_channel() {
    let sentry = FakeSentry::start(SENTRY_TOKEN, "acme").await;
    let m = spawn_medic(Options {
        extra: format!(
            "{}\n[[routes]]\nmatch = {{}}\nslack_channel = \"{CHANNEL}\"\n\
             [incidents]\nmay_respond = [\"group:sre\"]\n\
             [sentry]\nclient_secret = \"unused\"\napi_url = \"{}\"\n\
             auth_token = \"{SENTRY_TOKEN}\"\norganization = \"acme\"\n",
            groups(),
            sentry.api_url()
        ),
        ..Default::default()
    })
    .await;
    m.deliver("d1", sentry_alert("9001", "Checkout: too many clients"))
        .await;
    m.deliver("d2", sentry_alert("9002", "Search: timeouts"))
        .await;
    let checkout = root_of(&m, "Checkout: too many clients").await;
    let search = root_of(&m, "Search: timeouts").await;
    let incidents = m.state.store.incidents().await.unwrap();
    let number = |title: &str| {
        incidents
            .iter()
            .find(|i| i.view.title.starts_with(title))
            .unwrap()
            .id
    };
    let (c, s) = (number("Checkout"), number("Search"));

    // Two are open in the channel, and a slash command has no thread.
    let said = incident(&m, ALICE, "ack").await;
    assert!(said.starts_with("Which incident? Add its number"), "{said}");
    assert!(said.contains(&format!("`#{c}` Checkout")), "{said}");

    // Raised to P1: the root, the thread and the answer say so.
    assert!(root_now(&m, &checkout).contains("P2"));
    let said = incident(&m, ALICE, &format!("sev P1 #{c}")).await;
    assert!(said.contains("is P1 now"), "{said}");
    m.slack
        .wait_until("the root at P1", LIMIT, |_| {
            root_now(&m, &checkout).contains("P1")
        })
        .await;
    m.slack
        .wait_until("the severity line", LIMIT, |_| {
            in_thread(&m, &checkout, "Severity P2 → P1 (High) by <@U0ALICE>").len() == 1
        })
        .await;

    // Not in group:sre: refused, privately, and nothing changes.
    let said = incident(&m, MALLORY, &format!("resolve #{c}")).await;
    assert!(said.contains("you may not resolve"), "{said}");
    assert!(said.contains("may_respond = [\"group:sre\"]"), "{said}");

    let said = incident(&m, ALICE, &format!("ack #{c}")).await;
    assert!(said.contains("acknowledged"), "{said}");
    m.slack
        .wait_until("the root acknowledged", LIMIT, |_| {
            root_now(&m, &checkout).contains("acknowledged by <@U0ALICE>")
        })
        .await;

    // The timeline, in order, privately.
    let said = incident(&m, ALICE, &format!("timeline #{c}")).await;
    let at = |needle: &str| {
        said.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing from {said}"))
    };
    let order = [
        at("Alert from Sentry: Checkout"),
        at("Severity P2 → P1"),
        at("Acknowledged — <@U0ALICE>"),
    ];
    assert!(order.is_sorted(), "{said}");
    assert!(!said.contains("Resolved"), "{said}");

    // Resolved here and at Sentry; the postmortem draft follows.
    let said = incident(&m, ALICE, &format!("resolve #{c}")).await;
    assert!(said.contains("resolved"), "{said}");
    m.slack
        .wait_until("the postmortem draft", LIMIT, |_| {
            in_thread(&m, &checkout, "Incident report").len() == 1
        })
        .await;
    let draft = in_thread(&m, &checkout, "Incident report").remove(0);
    assert!(draft.contains("P1 (High)"), "{draft}");
    let puts: Vec<_> = sentry
        .calls()
        .into_iter()
        .filter(|c| c.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 1, "{puts:#?}");
    assert_eq!(puts[0].path, "/api/0/organizations/acme/issues/9001/");
    assert_eq!(puts[0].body["status"], "resolved");

    // Sentry failing: said, and the incident stays open.
    sentry.then(Trouble::Status(500));
    let said = incident(&m, ALICE, &format!("resolve #{s}")).await;
    assert!(said.contains("Sentry did not resolve it"), "{said}");
    m.slack
        .wait_until("the refusal in the thread", LIMIT, |_| {
            in_thread(&m, &search, "Sentry did not resolve it").len() == 1
        })
        .await;
    m.idle().await;
    assert!(!root_now(&m, &search).contains("resolved"));
    assert!(in_thread(&m, &search, "Incident report").is_empty());

    let events = audited_events(&m).await;
    for e in ["severity", "refused", "acknowledged", "resolved", "failed"] {
        assert!(events.iter().any(|x| x == e), "{e} not audited: {events:?}");
    }
    m.stop().await.unwrap();
}

#[tokio::test]
async fn a_declared_incident_opens_its_own_thread_and_runs_its_runbook() {
    let redis = require_redis!();
    let m = spawn_medic(Options {
        targets: redis_target("cache", &redis),
        extra: "[[runbooks]]\nmatch = { title = \"(?i)checkout\" }\nrun = [\"cache\"]\n".into(),
        ..Default::default()
    })
    .await;
    let said = incident(&m, ALICE, "declare \"Checkout slow\" P2").await;
    assert!(said.contains("Declared *Checkout slow* as P2"), "{said}");

    // No route names this channel: a declared incident is where it was
    // declared.
    let root = root_of(&m, "Checkout slow").await;
    let text = root_now(&m, &root);
    assert!(text.contains("P2"), "{text}");
    m.slack
        .wait_until("the runbook's report in the thread", LIMIT, |_| {
            !in_thread(&m, &root, "PING answered").is_empty()
        })
        .await;

    let row = m.state.store.incidents().await.unwrap().remove(0);
    let timeline = m.state.store.timeline(&row).await.unwrap();
    assert_eq!(timeline[0].kind, EventKind::Declared);
    assert_eq!(timeline[0].actor.as_ref().unwrap().id, ALICE);
    assert!(
        timeline.iter().any(|e| e.kind == EventKind::Runbook),
        "{timeline:#?}"
    );

    // Run like any other: resolved from chat, with its draft.
    let said = incident(&m, ALICE, "resolve").await;
    assert!(said.contains("resolved"), "{said}");
    m.slack
        .wait_until("the postmortem draft", LIMIT, |_| {
            !in_thread(&m, &root, "Incident report").is_empty()
        })
        .await;
    let draft = in_thread(&m, &root, "Incident report").remove(0);
    assert!(draft.contains("declared in chat"), "{draft}");
    m.stop().await.unwrap();
}
