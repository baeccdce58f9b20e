//! A `command` action: each run creates one file (mktemp), so the files
//! left in a temporary directory count the runs.

use medic_tests::{Options, services, spawn_medic};

use super::*;

/// A template with shell syntax in it: a shell would run `touch pwned`
/// and `id`; as one argv element it is only a strange file name.
const HOSTILE: &str = "run;$(touch pwned) `id`XXXXXX";

async fn medic(dir: &Path, approvals: u32) -> TestMedic {
    medic_on(dir, approvals, services::dead_port().await).await
}

/// medic whose target `svc` is a closed port on 127.0.0.2: its trouble, and
/// so the offer's precondition, lasts until the test opens it. On 127.0.0.1
/// another test's listener could be given the same released port.
async fn medic_on(dir: &Path, approvals: u32, port: u16) -> TestMedic {
    spawn_medic(options(dir, approvals, port)).await
}

fn options(dir: &Path, approvals: u32, port: u16) -> Options {
    Options {
        targets: format!(
            "[targets.svc]\nkind = \"tcp\"\naddress = \"127.0.0.2:{port}\"\ntimeout = \"2s\"\n"
        ),
        extra: format!(
            "{}\n[actions.mark]\ntitle = \"Mark a run\"\nkind = \"command\"\nrun = [\"mktemp\", \"-p\", \"{}\", \"{{tmpl}}\"]\n\
             offered_on = [\"svc\"]\nmay_request = [\"group:sre\"]\nmay_approve = [\"group:sre\"]\napprovals = {approvals}\n\
             [actions.mark.params.tmpl]\nregex = '[^/]*XXXXXX'\ndefault = '{HOSTILE}'\n",
            groups(),
            dir.display()
        ),
        ..Default::default()
    }
}

#[tokio::test]
async fn an_approved_command_runs_once_and_every_attack_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let m = medic(dir.path(), 1).await;
    assert_eq!(m.slash("/diag", "svc").await.status(), 200);
    let (offer, thread) = wait_for_buttons(&m, "medic.request", 1).await.remove(0);

    // Not in the group: refused, naming the rule.
    press(&m, MALLORY, "medic.request", &offer, &thread).await;
    let said = m.slack.wait_for_ephemerals(MALLORY, 1, LIMIT).await;
    assert!(
        said[0].contains("may_request = [\"group:sre\"]"),
        "{said:?}"
    );

    // A value changed on the way names nothing.
    let mut tampered = offer.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    press(&m, ALICE, "medic.request", &tampered, &thread).await;
    let said = m.slack.wait_for_ephemerals(ALICE, 1, LIMIT).await;
    assert!(said[0].contains("nothing was run"), "{said:?}");

    // A forged signature does not get in at all.
    let body = medic_tests::signing::block_actions_form(
        ALICE,
        CHANNEL,
        Some(&thread),
        "medic.request",
        &offer,
        &m.slack.response_url(ALICE),
    );
    let forged = m
        .post_raw(
            "/slack/interactions",
            body.into_bytes(),
            Some(medic_tests::now_unix().to_string()),
            Some("v0=0000000000000000000000000000000000000000000000000000000000000000".into()),
        )
        .await;
    assert_eq!(forged.status(), 401);

    // The requester asks; an approval message appears.
    press(&m, ALICE, "medic.request", &offer, &thread).await;
    let (request, _) = wait_for_buttons(&m, "medic.approve", 1).await.remove(0);
    m.slack.wait_for_ephemerals(ALICE, 2, LIMIT).await;
    // A double click is refused: the offer is single use.
    press(&m, ALICE, "medic.request", &offer, &thread).await;
    let said = m.slack.wait_for_ephemerals(ALICE, 3, LIMIT).await;
    assert!(said[2].contains("already used"), "{said:?}");
    // The requester cannot approve their own request.
    press(&m, ALICE, "medic.approve", &request, &thread).await;
    let said = m.slack.wait_for_ephemerals(ALICE, 4, LIMIT).await;
    assert!(said[3].contains("never counts"), "{said:?}");
    assert!(files(dir.path()).is_empty(), "ran before approval");

    // Two approvers at once: one run.
    let (a, b) = tokio::join!(
        m.click(BOB, "medic.approve", &request, Some(&thread)),
        m.click(CAROL, "medic.approve", &request, Some(&thread)),
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let status = m
        .slack
        .wait_for_message(CHANNEL, LIMIT, |t| {
            t.contains("Mark a run") && t.contains("succeeded")
        })
        .await;
    assert!(status.contains("Approved by"), "{status}");
    assert!(status.contains("exit 0"), "{status}");

    // A replayed approval after the run changes nothing.
    press(&m, BOB, "medic.approve", &request, &thread).await;
    let said = m.slack.wait_for_ephemerals(BOB, 1, LIMIT).await;
    assert!(
        said.iter().any(|s| s.contains("already succeeded")),
        "{said:?}"
    );

    // Exactly one run, and the hostile template stayed one argv element.
    let made = files(dir.path());
    assert_eq!(made.len(), 1, "{made:?}");
    assert!(made[0].starts_with("run;$(touch pwned) `id`"), "{made:?}");
    assert!(!dir.path().join("pwned").exists());

    let events = audited_events(&m).await;
    for e in [
        "offered",
        "refused",
        "requested",
        "approved",
        "started",
        "succeeded",
    ] {
        assert!(events.iter().any(|x| x == e), "{e} not audited: {events:?}");
    }
    assert_eq!(events.iter().filter(|e| *e == "started").count(), 1);
    m.stop().await.unwrap();
}

#[tokio::test]
async fn without_approvals_a_double_click_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let m = medic(dir.path(), 0).await;
    assert_eq!(m.slash("/diag", "svc").await.status(), 200);
    let (offer, thread) = wait_for_buttons(&m, "medic.request", 1).await.remove(0);
    let (a, b) = tokio::join!(
        m.click(ALICE, "medic.request", &offer, Some(&thread)),
        m.click(ALICE, "medic.request", &offer, Some(&thread)),
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    m.slack
        .wait_for_message(CHANNEL, LIMIT, |t| {
            t.contains("Mark a run") && t.contains("succeeded")
        })
        .await;
    let said = m.slack.wait_for_ephemerals(ALICE, 1, LIMIT).await;
    assert!(said[0].contains("already used"), "{said:?}");
    assert_eq!(files(dir.path()).len(), 1);
    m.stop().await.unwrap();
}

#[tokio::test]
async fn trouble_gone_before_approval_means_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let port = services::dead_port().await;
    let m = medic_on(dir.path(), 1, port).await;
    assert_eq!(m.slash("/diag", "svc").await.status(), 200);
    let (offer, thread) = wait_for_buttons(&m, "medic.request", 1).await.remove(0);
    press(&m, ALICE, "medic.request", &offer, &thread).await;
    let (request, _) = wait_for_buttons(&m, "medic.approve", 1).await.remove(0);
    // The service comes back before anyone approves.
    let _up = tokio::net::TcpListener::bind(("127.0.0.2", port))
        .await
        .expect("the dead port is free again");
    press(&m, BOB, "medic.approve", &request, &thread).await;
    let status = m
        .slack
        .wait_for_message(CHANNEL, LIMIT, |t| {
            t.contains("Mark a run") && t.contains("not run")
        })
        .await;
    assert!(status.contains("precondition no longer holds"), "{status}");
    assert!(files(dir.path()).is_empty());
    let events = audited_events(&m).await;
    assert!(events.iter().any(|e| e == "skipped"), "{events:?}");
    m.stop().await.unwrap();
}

#[tokio::test]
async fn without_a_usable_response_url_the_refusal_goes_by_post_ephemeral() {
    let dir = tempfile::tempdir().unwrap();
    let m = medic(dir.path(), 1).await;
    assert_eq!(m.slash("/diag", "svc").await.status(), 200);
    let (offer, thread) = wait_for_buttons(&m, "medic.request", 1).await.remove(0);
    // Not Slack's address: medic must not call it, and answers another way.
    let body = medic_tests::signing::block_actions_form(
        MALLORY,
        CHANNEL,
        Some(&thread),
        "medic.request",
        &offer,
        "https://hooks.example.invalid/actions/1",
    );
    let r = m
        .post_signed("/slack/interactions", &body, medic_tests::now_unix())
        .await;
    assert_eq!(r.status(), 200);
    let call = m
        .slack
        .wait_for(LIMIT, |c| c.method == "chat.postEphemeral")
        .await;
    assert_eq!(call.status, 200);
    assert_eq!(call.error, None);
    assert_eq!(call.body["user"], MALLORY);
    assert_eq!(call.body["channel"], CHANNEL);
    assert!(
        call.body["text"].as_str().unwrap().contains("may_request"),
        "{}",
        call.body
    );
    assert!(files(dir.path()).is_empty());
    m.stop().await.unwrap();
}

#[tokio::test]
async fn a_denied_request_never_runs() {
    let dir = tempfile::tempdir().unwrap();
    let m = medic(dir.path(), 1).await;
    assert_eq!(m.slash("/diag", "svc").await.status(), 200);
    let (offer, thread) = wait_for_buttons(&m, "medic.request", 1).await.remove(0);
    press(&m, ALICE, "medic.request", &offer, &thread).await;
    let (request, _) = wait_for_buttons(&m, "medic.deny", 1).await.remove(0);
    // Someone outside the policy cannot deny either.
    press(&m, MALLORY, "medic.deny", &request, &thread).await;
    let said = m.slack.wait_for_ephemerals(MALLORY, 1, LIMIT).await;
    assert!(said[0].contains("may_approve"), "{said:?}");
    press(&m, BOB, "medic.deny", &request, &thread).await;
    let status = m
        .slack
        .wait_for_message(CHANNEL, LIMIT, |t| {
            t.contains("Mark a run") && t.contains("— denied")
        })
        .await;
    assert!(status.contains("denied by <@U0BOB>"), "{status}");
    // Approving afterwards changes nothing.
    press(&m, CAROL, "medic.approve", &request, &thread).await;
    let said = m.slack.wait_for_ephemerals(CAROL, 1, LIMIT).await;
    assert!(said[0].contains("already denied"), "{said:?}");
    assert!(files(dir.path()).is_empty());
    let events = audited_events(&m).await;
    assert!(events.iter().any(|e| e == "denied"), "{events:?}");
    m.stop().await.unwrap();
}

/// Two replicas on one PostgreSQL database: two approvers click at the
/// same instant, each on another replica, and the action runs once.
#[tokio::test]
async fn two_approvals_on_two_replicas_run_once() {
    let Some(db) = medic_tests::db::TestDb::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = services::dead_port().await;
    let first = spawn_medic(Options {
        shared_database: Some(db.url().to_string()),
        ..options(dir.path(), 1, port)
    })
    .await;
    let second = spawn_medic(Options {
        shared_database: Some(db.url().to_string()),
        slack: Some(first.slack.clone()),
        ..options(dir.path(), 1, port)
    })
    .await;
    assert_eq!(first.slash("/diag", "svc").await.status(), 200);
    let (offer, thread) = wait_for_buttons(&first, "medic.request", 1).await.remove(0);
    press(&second, ALICE, "medic.request", &offer, &thread).await;
    let (request, _) = wait_for_buttons(&first, "medic.approve", 1).await.remove(0);

    let (a, b) = tokio::join!(
        first.click(BOB, "medic.approve", &request, Some(&thread)),
        second.click(CAROL, "medic.approve", &request, Some(&thread)),
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    first
        .slack
        .wait_for_message(CHANNEL, LIMIT, |t| {
            t.contains("Mark a run") && t.contains("succeeded")
        })
        .await;
    first.idle().await;
    second.idle().await;
    assert_eq!(files(dir.path()).len(), 1, "{:?}", files(dir.path()));
    let events = audited_events(&first).await;
    assert_eq!(
        events.iter().filter(|e| *e == "started").count(),
        1,
        "{events:?}"
    );
    second.stop().await.unwrap();
    first.stop().await.unwrap();
    db.drop_database().await;
}

/// A configured secret with no secret's shape (it looks like words), so
/// that only knowing it can mask it.
const PLAIN_SECRET: &str = "amber-lantern-river-stone";

#[tokio::test]
async fn a_script_that_prints_its_environment_and_a_configured_secret_posts_neither() {
    let dir = tempfile::tempdir().unwrap();
    // What the script prints: its whole environment, then a file that
    // holds the Alertmanager token (a config copied where it should not
    // be, say).
    let leaked = dir.path().join("leaked.txt");
    std::fs::write(&leaked, format!("the word is {PLAIN_SECRET}\n")).unwrap();
    let script = dir.path().join("show.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nenv\ncat '{}'\n", leaked.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // SAFETY: set before medic starts; no other test reads this name.
    unsafe { std::env::set_var("DEPLOY_NOTE_FOR_ACTION", "on-the-list") };
    let port = services::dead_port().await;
    let m = spawn_medic(Options {
        targets: format!(
            "[targets.svc]\nkind = \"tcp\"\naddress = \"127.0.0.2:{port}\"\ntimeout = \"2s\"\n"
        ),
        extra: format!(
            "{}\n[alertmanager]\ntoken = \"{PLAIN_SECRET}\"\n\n\
             [actions.show]\ntitle = \"Show the environment\"\nkind = \"command\"\nrun = [\"{}\"]\n\
             env = [\"DEPLOY_NOTE_FOR_ACTION\"]\n\
             offered_on = [\"svc\"]\nmay_request = [\"group:sre\"]\nmay_approve = [\"group:sre\"]\napprovals = 0\n",
            groups(),
            script.display()
        ),
        ..Default::default()
    })
    .await;
    assert_eq!(m.slash("/diag", "svc").await.status(), 200);
    let (offer, thread) = wait_for_buttons(&m, "medic.request", 1).await.remove(0);
    press(&m, ALICE, "medic.request", &offer, &thread).await;
    let text = m
        .slack
        .wait_for_message(CHANNEL, LIMIT, |t| {
            t.contains("Show the environment") && t.contains("succeeded")
        })
        .await;
    assert!(
        text.contains("DEPLOY_NOTE_FOR_ACTION=on-the-list"),
        "{text}"
    );
    assert!(text.contains("the word is ••••"), "{text}");
    assert!(!text.contains(PLAIN_SECRET), "{text}");
    // medic's own environment (cargo's, here; a deployment's MEDIC__*)
    // stays out.
    assert!(!text.contains("CARGO_PKG_NAME"), "{text}");
    m.stop().await.unwrap();
}
