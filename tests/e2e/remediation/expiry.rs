//! Expired offers and expired approvals run nothing, and say so.

use medic_tests::wait::eventually;
use medic_tests::{Options, services, spawn_medic};

use super::*;

async fn sql(m: &TestMedic, statement: &'static str) {
    let pool = sqlx::AnyPool::connect(m.db.url())
        .await
        .expect("connect to medic's database");
    sqlx::query(statement)
        .execute(&pool)
        .await
        .expect(statement);
    pool.close().await;
}

#[tokio::test]
async fn an_expired_offer_and_an_expired_approval_run_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = services::dead_port().await;
    let m = spawn_medic(Options {
        targets: format!("[targets.svc]\nkind = \"tcp\"\naddress = \"127.0.0.2:{port}\"\ntimeout = \"2s\"\n"),
        extra: format!(
            "{}\n[actions.mark]\ntitle = \"Mark a run\"\nkind = \"command\"\nrun = [\"mktemp\", \"-p\", \"{}\"]\n\
             offered_on = [\"svc\"]\nmay_request = [\"group:sre\"]\nmay_approve = [\"group:sre\"]\napprovals = 1\n",
            groups(),
            dir.path().display()
        ),
        ..Default::default()
    })
    .await;
    assert_eq!(m.slash("/diag", "svc").await.status(), 200);
    let (offer, thread) = wait_for_buttons(&m, "medic.request", 1).await.remove(0);

    // The offer's time is up (as if 15 minutes had passed).
    sql(&m, "UPDATE action_offers SET expires_at = 0").await;
    press(&m, ALICE, "medic.request", &offer, &thread).await;
    let said = m.slack.wait_for_ephemerals(ALICE, 1, LIMIT).await;
    assert!(said[0].contains("expired"), "{said:?}");

    // A fresh report, a fresh offer; requested, but the approval comes too late.
    assert_eq!(m.slash("/diag", "svc").await.status(), 200);
    let (offer, thread) = wait_for_buttons(&m, "medic.request", 2).await.remove(1);
    press(&m, ALICE, "medic.request", &offer, &thread).await;
    let (request, _) = wait_for_buttons(&m, "medic.approve", 1).await.remove(0);
    sql(&m, "UPDATE action_requests SET expires_at = 0").await;
    press(&m, BOB, "medic.approve", &request, &thread).await;
    let said = m.slack.wait_for_ephemerals(BOB, 1, LIMIT).await;
    assert!(said[0].contains("expired"), "{said:?}");
    // The approval message says so too.
    m.slack
        .wait_for_message(CHANNEL, LIMIT, |t| {
            t.contains("Mark a run") && t.contains("— expired")
        })
        .await;

    assert!(files(dir.path()).is_empty(), "something ran");
    let events = audited_events(&m).await;
    assert!(events.iter().any(|e| e == "expired"), "{events:?}");
    assert!(!events.iter().any(|e| e == "started"), "{events:?}");
    m.stop().await.unwrap();
}

#[tokio::test]
async fn a_run_lost_in_a_crash_is_failed_so_the_action_is_not_blocked_forever() {
    use medic::storage::now_ms;
    use medic::storage::offers::{Claim, RequestState};

    let dir = tempfile::tempdir().unwrap();
    let m = medic_marking(dir.path()).await;
    // What a medic that died mid-run leaves behind: a request `running`
    // since long before its timeout (approved just now, so that
    // housekeeping's stranded sweep leaves it to this claim).
    let store = &m.state.store;
    let request_id = approved(&m, 0, now_ms() + 60_000).await;
    assert_eq!(
        store
            .claim_run(&request_id, std::time::Duration::ZERO)
            .await
            .unwrap(),
        Claim::Won
    );
    // While it runs, the action is blocked. (Asked before the run is aged:
    // once it is, housekeeping may fail it at any moment.)
    assert!(store.run_history("mark", "svc").await.unwrap().1);
    sql(&m, "UPDATE action_requests SET started_at = 0").await;

    // Housekeeping (every 10 s) takes it for lost.
    let r = eventually("housekeeping failing the lost run", LIMIT, || async {
        let r = store.request(&request_id).await.unwrap().unwrap();
        match r.state {
            RequestState::Failed => Ok(r),
            other => Err(format!("still {other:?}")),
        }
    })
    .await;
    assert!(r.outcome.unwrap().contains("outcome unknown"));
    assert!(!store.run_history("mark", "svc").await.unwrap().1);
    m.stop().await.unwrap();
}

#[tokio::test]
async fn an_approval_stranded_by_a_crash_runs_once_or_is_said_to_have_expired() {
    use medic::storage::now_ms;
    use medic::storage::offers::RequestState;

    let dir = tempfile::tempdir().unwrap();
    let m = medic_marking(dir.path()).await;
    // A request `approved` a minute ago and never claimed; and one whose
    // approval has expired since.
    let store = &m.state.store;
    let now = now_ms();
    let live = approved(&m, 60_000, now + 600_000).await;
    let expired = approved(&m, 60_000, now - 1_000).await;

    // Housekeeping (every 10 s) finds both.
    let state_of = |id: String| async move { store.request(&id).await.unwrap().unwrap() };
    eventually("housekeeping settling both", LIMIT, || async {
        let (a, b) = (
            state_of(live.clone()).await,
            state_of(expired.clone()).await,
        );
        match (a.state, b.state) {
            (RequestState::Succeeded, RequestState::Skipped) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(
        state_of(expired.clone())
            .await
            .outcome
            .unwrap()
            .contains("expired since")
    );
    assert_eq!(files(dir.path()).len(), 1, "the live one ran, once");
    // The audit rows follow each move.
    eventually("both audited", LIMIT, || async {
        let events = audited_events(&m).await;
        let count = |what: &str| events.iter().filter(|e| *e == what).count();
        if (count("started"), count("succeeded"), count("skipped")) == (1, 1, 1) {
            Ok(())
        } else {
            Err(format!("{events:?}"))
        }
    })
    .await;
    m.stop().await.unwrap();
}

/// Records a request of `mark` on `svc` approved `age_ms` ago (with its
/// offer), never claimed, expiring at `expires_at`: what a medic that
/// died between an approval and its run leaves, once old enough. Its id.
async fn approved(m: &TestMedic, age_ms: i64, expires_at: i64) -> String {
    use std::collections::BTreeMap;

    use medic::storage::now_ms;
    use medic::storage::offers::{Offer, Request, RequestState, new_id};

    let store = &m.state.store;
    let now = now_ms();
    let offer = Offer {
        id: new_id(),
        action: "mark".into(),
        target: "svc".into(),
        params: BTreeMap::new(),
        platform: medic_commands::model::inbound::Platform::Slack,
        channel: CHANNEL.into(),
        thread: None,
        created_at: now - age_ms,
        expires_at,
    };
    store.create_offer(&offer).await.unwrap();
    let request = Request {
        id: new_id(),
        offer_id: offer.id.clone(),
        action: "mark".into(),
        target: "svc".into(),
        params: BTreeMap::new(),
        platform: medic_commands::model::inbound::Platform::Slack,
        channel: CHANNEL.into(),
        thread: None,
        requester: ALICE.into(),
        requester_name: "alice".into(),
        approvals_needed: 0,
        state: RequestState::Approved,
        created_at: now - age_ms,
        expires_at,
        started_at: None,
        finished_at: None,
        outcome: None,
        output: None,
        status_row: None,
    };
    assert!(store.create_request(&request).await.unwrap());
    request.id
}

/// A medic with the `mark` action (it makes a file in `dir`) on a dead
/// `svc`, so its precondition holds.
async fn medic_marking(dir: &std::path::Path) -> TestMedic {
    let port = services::dead_port().await;
    spawn_medic(Options {
        targets: format!("[targets.svc]\nkind = \"tcp\"\naddress = \"127.0.0.2:{port}\"\ntimeout = \"2s\"\n"),
        extra: format!(
            "{}\n[actions.mark]\ntitle = \"Mark a run\"\nkind = \"command\"\nrun = [\"mktemp\", \"-p\", \"{}\"]\n\
             offered_on = [\"svc\"]\nmay_request = [\"group:sre\"]\n",
            groups(),
            dir.display()
        ),
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn nothing_runs_that_the_audit_log_does_not_show_started() {
    let dir = tempfile::tempdir().unwrap();
    let m = medic_marking(dir.path()).await;
    // The audit log refuses the "started" row (a full disk, a revoked
    // grant), and only that row.
    let refuse = if m.db.url().starts_with("postgres") {
        vec![
            "CREATE FUNCTION refuse_started() RETURNS trigger AS $$ BEGIN \
             IF NEW.event = 'started' THEN RAISE EXCEPTION 'audit disk full'; END IF; \
             RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_started BEFORE INSERT ON audit_log \
             FOR EACH ROW EXECUTE FUNCTION refuse_started()",
        ]
    } else {
        vec![
            "CREATE TRIGGER refuse_started BEFORE INSERT ON audit_log \
             WHEN NEW.event = 'started' BEGIN SELECT RAISE(ABORT, 'audit disk full'); END",
        ]
    };
    for statement in refuse {
        sql(&m, statement).await;
    }
    let id = approved(&m, 60_000, medic::storage::now_ms() + 600_000).await;
    let store = &m.state.store;
    let r = eventually("housekeeping taking the request", LIMIT, || async {
        let r = store.request(&id).await.unwrap().unwrap();
        match r.state {
            medic::storage::offers::RequestState::Failed => Ok(r),
            other => Err(format!("still {other:?}")),
        }
    })
    .await;
    assert!(r.outcome.unwrap().contains("audit log"));
    assert!(files(dir.path()).is_empty(), "it ran unrecorded");
    m.stop().await.unwrap();
}
