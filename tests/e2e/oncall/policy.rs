//! `may_approve = ["oncall:db"]` means who holds the `db` pager when the
//! button is pressed: today's on-call approves, yesterday's is refused.

use medic_tests::{CHANNEL, Options, services, spawn_medic};

use super::{LIMIT, Rotation};
use crate::remediation::{ALICE, BOB, CAROL, files, groups, press, wait_for_buttons};

#[tokio::test]
async fn only_the_current_on_call_may_approve() {
    let dir = tempfile::tempdir().unwrap();
    // Handed over from alice to bob 3 h ago.
    let r = Rotation::past(3 * 3600);
    let port = services::dead_port().await;
    let m = spawn_medic(Options {
        targets: format!(
            "[targets.svc]\nkind = \"tcp\"\naddress = \"127.0.0.2:{port}\"\ntimeout = \"2s\"\n"
        ),
        extra: format!(
            "{}\n{}\n[actions.mark]\ntitle = \"Mark a run\"\nkind = \"command\"\nrun = [\"mktemp\", \"-p\", \"{}\"]\n\
             offered_on = [\"svc\"]\nmay_request = [\"group:sre\"]\nmay_approve = [\"oncall:db\"]\napprovals = 1\n",
            groups(),
            r.config("slack_channel = \"C0ONCALL\""),
            dir.path().display()
        ),
        ..Default::default()
    })
    .await;
    assert_eq!(m.slash("/diag", "svc").await.status(), 200);
    let (offer, thread) = wait_for_buttons(&m, "medic.request", 1).await.remove(0);
    press(&m, CAROL, "medic.request", &offer, &thread).await;
    let (request, _) = wait_for_buttons(&m, "medic.approve", 1).await.remove(0);

    // alice was on call yesterday: refused, naming the rule.
    press(&m, ALICE, "medic.approve", &request, &thread).await;
    let said = m.slack.wait_for_ephemerals(ALICE, 1, LIMIT).await;
    assert!(
        said[0].contains("may_approve = [\"oncall:db\"]"),
        "{said:?}"
    );
    m.idle().await;
    assert!(files(dir.path()).is_empty(), "nothing ran on alice's word");

    // bob is on call now: approved, run.
    press(&m, BOB, "medic.approve", &request, &thread).await;
    m.slack
        .wait_for_message(CHANNEL, LIMIT, |t| {
            t.contains("Mark a run") && t.contains("succeeded")
        })
        .await;
    assert_eq!(files(dir.path()).len(), 1);
    m.stop().await.unwrap();
}
