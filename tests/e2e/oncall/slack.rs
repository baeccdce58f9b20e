//! The handoff digest on the fake Slack: what alice's shift left open and
//! did, posted once at the handover in the rotation's channel; the
//! rotation's user group following the pager; reminders when bob does not
//! press "I've got it"; alice refused, bob taking it.

use std::time::Duration;

use jiff::ToSpan;
use medic_commands::model::alert::{Alert, AlertSource, AlertState, Severity};
use medic_tests::{CHANNEL, Options, TestMedic, services, spawn_medic};

use super::{LIMIT, ONCALL, Rotation};
use crate::remediation::{ALICE, BOB, audited_events, groups, press, wait_for_buttons};

fn alert(fingerprint: &str, title: &str) -> Alert {
    Alert {
        source: AlertSource::Sentry,
        fingerprint: fingerprint.into(),
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

/// medic with rotation `r` posting in [`ONCALL`], and a target `svc` (a
/// closed port) offering `hold` (needs an approval) and `mark` (runs at
/// once, making a file in `dir`).
async fn medic(r: &Rotation, dir: &std::path::Path) -> TestMedic {
    let port = services::dead_port().await;
    spawn_medic(Options {
        targets: format!(
            "[targets.svc]\nkind = \"tcp\"\naddress = \"127.0.0.2:{port}\"\ntimeout = \"2s\"\n"
        ),
        extra: format!(
            "{}\n{}\n[actions.hold]\ntitle = \"Hold the queue\"\nkind = \"command\"\nrun = [\"true\"]\n\
             offered_on = [\"svc\"]\nmay_request = [\"group:sre\"]\nmay_approve = [\"group:sre\"]\napprovals = 1\n\
             [actions.mark]\ntitle = \"Mark a run\"\nkind = \"command\"\nrun = [\"mktemp\", \"-p\", \"{}\"]\n\
             offered_on = [\"svc\"]\nmay_request = [\"group:sre\"]\n",
            groups(),
            r.config(&format!("slack_channel = \"{ONCALL}\"\nusergroup = \"S0DBONCALL\"")),
            dir.display()
        ),
        ..Default::default()
    })
    .await
}

/// The texts of the replies in the digest's thread.
fn thread_texts(m: &TestMedic, root: &str) -> Vec<String> {
    m.slack
        .posts_in(ONCALL)
        .into_iter()
        .filter(|c| c.thread_ts() == Some(root))
        .map(|c| c.all_text())
        .collect()
}

#[tokio::test]
async fn a_handover_posts_one_digest_that_only_the_incoming_person_can_take() {
    let dir = tempfile::tempdir().unwrap();
    let r = Rotation::next();
    let m = medic(&r, dir.path()).await;

    // alice's shift: two incidents still open, one action run, one
    // request waiting for approval.
    m.deliver(
        "d1",
        alert("fp-1", "DatabaseConnectionError: too many clients"),
    )
    .await;
    m.deliver("d2", alert("fp-2", "Disk 87 % full on vps-1"))
        .await;
    assert_eq!(m.slash("/diag", "svc").await.status(), 200);
    // One offer message; its buttons in name order: hold, then mark.
    let offers = wait_for_buttons(&m, "medic.request", 2).await;
    let ((hold, thread), (mark, _)) = (offers[0].clone(), offers[1].clone());
    press(&m, ALICE, "medic.request", &mark, &thread).await;
    m.slack
        .wait_for_message(CHANNEL, LIMIT, |t| {
            t.contains("Mark a run") && t.contains("succeeded")
        })
        .await;
    press(&m, ALICE, "medic.request", &hold, &thread).await;
    wait_for_buttons(&m, "medic.approve", 1).await;
    m.idle().await;
    assert!(
        m.slack.posts_in(ONCALL).is_empty(),
        "nothing before the handover"
    );
    // @oncall-db is alice's until the handover.
    m.slack
        .wait_until("the user group set to alice", LIMIT, |s| {
            s.usergroup("S0DBONCALL") == Some(vec![ALICE.to_string()])
        })
        .await;

    // The handover comes (medic's clock moves there; nobody sleeps).
    m.state.clock.set(r.handover + 1.second());
    let digest = m.slack.wait_for_posts(ONCALL, 1, LIMIT).await.remove(0);
    let root = digest.ts.clone().unwrap();
    let text = digest.all_text();
    for needle in [
        "Handoff *db*: <@U0ALICE> → <@U0BOB>",
        "Open (2)",
        "DatabaseConnectionError: too many clients",
        "Disk 87 % full on vps-1",
        "Waiting for approval (1)",
        "Hold the queue on `svc`",
        "1 action run (1 ok)",
        "Mark a run on `svc` — succeeded",
        "<@U0BOB>: press *I've got it*",
    ] {
        assert!(text.contains(needle), "{needle:?} not in {text}");
    }
    m.slack
        .wait_until("the user group moved to bob", LIMIT, |s| {
            s.usergroup("S0DBONCALL") == Some(vec![BOB.to_string()])
        })
        .await;
    let take = m.slack.buttons(ONCALL, "medic.take");
    assert_eq!(take.len(), 1, "one button");
    let button = take[0].0.clone();

    // Nobody presses: after ack_within, bob is reminded; after as long
    // again, alice ("still yours").
    m.state.clock.advance(Duration::from_secs(15 * 60));
    m.slack
        .wait_until("the first reminder", LIMIT, |_| {
            thread_texts(&m, &root).len() == 1
        })
        .await;
    let first = &thread_texts(&m, &root)[0];
    assert!(
        first.contains("<@U0BOB>") && first.contains("pager is yours"),
        "{first}"
    );
    m.state.clock.advance(Duration::from_secs(15 * 60));
    m.slack
        .wait_until("the second reminder", LIMIT, |_| {
            thread_texts(&m, &root).len() == 2
        })
        .await;
    let second = &thread_texts(&m, &root)[1];
    assert!(
        second.contains("<@U0ALICE>: <@U0BOB> has not taken") && second.contains("still yours"),
        "{second}"
    );

    // alice (outgoing) presses: refused, privately; nothing changes.
    press(&m, ALICE, "medic.take", &button, &root).await;
    let said = m.slack.wait_until("alice's refusal", LIMIT, |s| {
        s.ephemerals_to(ALICE)
            .iter()
            .any(|t| t.contains("Only <@U0BOB> can take this shift"))
    });
    said.await;
    m.idle().await;
    assert!(
        m.slack.updates_in(ONCALL).is_empty(),
        "the digest is unchanged"
    );

    // bob presses: the digest says so and loses its button.
    press(&m, BOB, "medic.take", &button, &root).await;
    let now = m
        .slack
        .wait_for_message(ONCALL, LIMIT, |t| t.contains("Taken by <@U0BOB>"))
        .await;
    assert!(now.contains("Open (2)"), "still the digest: {now}");
    let message = m.slack.message(ONCALL, &root).unwrap();
    assert!(
        !message.to_string().contains("medic.take"),
        "the button is gone: {message}"
    );
    let events = audited_events(&m).await;
    assert!(events.iter().any(|e| e == "taken"), "{events:?}");
    assert!(events.iter().any(|e| e == "refused"), "{events:?}");

    // A second press is told who has it; no more reminders come.
    press(&m, BOB, "medic.take", &button, &root).await;
    m.slack
        .wait_until("bob told it is taken", LIMIT, |s| {
            s.ephemerals_to(BOB)
                .iter()
                .any(|t| t.contains("already taken by <@U0BOB>"))
        })
        .await;
    m.state.clock.advance(Duration::from_secs(60 * 60));
    m.idle().await;
    assert_eq!(thread_texts(&m, &root).len(), 2, "no reminder after taking");
    assert_eq!(
        m.slack.posts_in(ONCALL).len(),
        3,
        "one digest, two reminders"
    );
    let handoffs = m.state.store.handoffs().await.unwrap();
    assert_eq!(handoffs.len(), 1);
    assert_eq!(handoffs[0].taken_by.as_deref(), Some(BOB));
    m.stop().await.unwrap();
}

#[tokio::test]
async fn oncall_and_handoff_answer_in_slack() {
    let dir = tempfile::tempdir().unwrap();
    let r = Rotation::past(3 * 3600);
    let m = medic(&r, dir.path()).await;

    // Now: bob since the handover 3 h ago, then alice.
    let answer = medic_tests::ephemeral_text(m.slash("/oncall", "").await).await;
    assert!(answer.starts_with("*db*: <@U0BOB> until"), "{answer}");
    assert!(answer.contains("next <@U0ALICE> until"), "{answer}");
    assert!(
        answer.contains("UTC"),
        "the rotation's zone is named: {answer}"
    );
    let unknown = medic_tests::ephemeral_text(m.slash("/oncall", "web").await).await;
    assert!(
        unknown.contains("There is no rotation `web`; there are: `db`."),
        "{unknown}"
    );

    // /handoff: the shift so far, from bob to alice (next), in the
    // rotation's channel, asked for by alice.
    let ack = medic_tests::ephemeral_text(m.slash("/handoff", "db").await).await;
    assert!(ack.contains("on its way to <#C0ONCALL>"), "{ack}");
    let digest = m.slack.wait_for_posts(ONCALL, 1, LIMIT).await.remove(0);
    let text = digest.all_text();
    assert!(text.contains("<@U0BOB> → <@U0ALICE>"), "{text}");
    assert!(text.contains("asked for by <@U0ALICE>"), "{text}");
    assert!(text.contains("Open: none"), "{text}");
    m.idle().await;
    // The scheduled digest of 3 h ago was too late to post at start-up.
    assert_eq!(m.slack.posts_in(ONCALL).len(), 1);
    m.stop().await.unwrap();
}
