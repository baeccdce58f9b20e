//! The state machine and the audit chain straight on the database, with
//! two stores on one database standing in for two medic processes. Runs
//! on SQLite, and on PostgreSQL when `MEDIC_TEST_DATABASE_URL` names one
//! (scripts/test does both).

use std::collections::BTreeMap;
use std::time::Duration;

use medic::storage::Store;
use medic::storage::audit::{AuditEvent, verify};
use medic::storage::now_ms;
use medic::storage::offers::{Claim, Offer, Request, RequestState, new_id};
use medic_commands::diagnostics::SecretUrl;
use medic_tests::db::TestDb;

fn request(offer: &str, requester: &str, approvals: i64) -> Request {
    let now = now_ms();
    Request {
        id: new_id(),
        offer_id: offer.to_string(),
        action: "mark".into(),
        target: "svc".into(),
        params: BTreeMap::new(),
        platform: medic_commands::model::inbound::Platform::Slack,
        channel: "C1".into(),
        thread: None,
        requester: requester.into(),
        requester_name: requester.to_lowercase(),
        approvals_needed: approvals,
        state: if approvals == 0 {
            RequestState::Approved
        } else {
            RequestState::Pending
        },
        created_at: now,
        expires_at: now + 60_000,
        started_at: None,
        finished_at: None,
        outcome: None,
        output: None,
        status_row: None,
    }
}

async fn offer(store: &Store) -> String {
    let now = now_ms();
    let o = Offer {
        id: new_id(),
        action: "mark".into(),
        target: "svc".into(),
        params: BTreeMap::from([("target".into(), "svc".into())]),
        platform: medic_commands::model::inbound::Platform::Slack,
        channel: "C1".into(),
        thread: Some("1.2".into()),
        created_at: now,
        expires_at: now + 60_000,
    };
    store.create_offer(&o).await.unwrap();
    assert_eq!(store.offer(&o.id).await.unwrap().as_ref(), Some(&o));
    o.id
}

#[tokio::test]
async fn two_processes_move_each_request_once() {
    let db = TestDb::fresh().await;
    let url = SecretUrl::parse(db.url()).unwrap();
    let (a, b) = (
        Store::connect(&url).await.unwrap(),
        Store::connect(&url).await.unwrap(),
    );

    // One press per offer, however many arrive at once.
    let offer_id = offer(&a).await;
    let (r1, r2) = (request(&offer_id, "U1", 2), request(&offer_id, "U1", 2));
    let (x, y) = tokio::join!(a.create_request(&r1), b.create_request(&r2));
    assert_eq!([x.unwrap(), y.unwrap()].iter().filter(|w| **w).count(), 1);
    let id = if a.request(&r1.id).await.unwrap().is_some() {
        r1.id
    } else {
        r2.id
    };

    // The requester's approval never counts towards the two needed.
    assert!(a.add_approval(&id, "U1", "u1").await.unwrap());
    assert!(a.add_approval(&id, "U2", "u2").await.unwrap());
    assert!(
        !a.add_approval(&id, "U2", "u2").await.unwrap(),
        "same approver twice"
    );
    assert!(!a.mark_approved(&id).await.unwrap());
    assert!(b.add_approval(&id, "U3", "u3").await.unwrap());
    let (x, y) = tokio::join!(a.mark_approved(&id), b.mark_approved(&id));
    assert_eq!([x.unwrap(), y.unwrap()].iter().filter(|w| **w).count(), 1);

    // Exactly one process claims the run.
    let (x, y) = tokio::join!(
        a.claim_run(&id, Duration::ZERO),
        b.claim_run(&id, Duration::ZERO)
    );
    let mut claims = [x.unwrap(), y.unwrap()];
    claims.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(claims, [Claim::Lost, Claim::Won]);
    let running = b.running_requests().await.unwrap();
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].id, id);

    // While it runs, another request of the same action on the same
    // target cannot start.
    let other = request(&offer(&a).await, "U2", 0);
    assert!(a.create_request(&other).await.unwrap());
    assert_eq!(a.run_history("mark", "svc").await.unwrap(), (None, true));
    assert_eq!(
        b.claim_run(&other.id, Duration::ZERO).await.unwrap(),
        Claim::Busy
    );

    assert!(
        a.finish_request(
            &id,
            RequestState::Running,
            RequestState::Succeeded,
            "exit 0",
            Some("ok")
        )
        .await
        .unwrap()
    );
    assert!(
        !b.finish_request(&id, RequestState::Running, RequestState::Failed, "x", None)
            .await
            .unwrap()
    );
    let (last, running) = a.run_history("mark", "svc").await.unwrap();
    assert!(last.is_some() && !running);
    // Approved at the same time as `other`, a third request meets the
    // action's cooldown in the claim itself, whatever a check before it
    // said.
    let third = request(&offer(&a).await, "U3", 0);
    assert!(a.create_request(&third).await.unwrap());
    assert_eq!(
        b.claim_run(&third.id, Duration::from_secs(3600))
            .await
            .unwrap(),
        Claim::Cooling
    );
    assert_eq!(
        b.claim_run(&other.id, Duration::ZERO).await.unwrap(),
        Claim::Won
    );

    // Expiry takes only pending requests past their time.
    let late = request(&offer(&a).await, "U1", 1);
    let late = Request {
        expires_at: 0,
        ..late
    };
    assert!(a.create_request(&late).await.unwrap());
    let expired = b.expire_due().await.unwrap();
    assert_eq!(
        expired.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [late.id.as_str()]
    );
    assert_eq!(expired[0].state, RequestState::Expired);
    assert!(!a.mark_approved(&late.id).await.unwrap());

    // Old unpressed offers go; pressed ones stay with their requests.
    let stale = Offer {
        id: new_id(),
        action: "mark".into(),
        target: "svc".into(),
        params: BTreeMap::new(),
        platform: medic_commands::model::inbound::Platform::Slack,
        channel: "C1".into(),
        thread: None,
        created_at: 0,
        expires_at: 1,
    };
    a.create_offer(&stale).await.unwrap();
    sqlx_age_offers(&db).await;
    assert_eq!(a.forget_old_offers(1000).await.unwrap(), 1);
    assert!(a.offer(&stale.id).await.unwrap().is_none());
    assert!(a.offer(&offer_id).await.unwrap().is_some());

    a.close().await;
    b.close().await;
    db.drop_database().await;
}

/// Makes every offer look long expired.
async fn sqlx_age_offers(db: &TestDb) {
    let pool = sqlx::AnyPool::connect(db.url()).await.unwrap();
    sqlx::query("UPDATE action_offers SET expires_at = 1")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

#[tokio::test]
async fn concurrent_appends_from_two_processes_keep_one_chain() {
    let db = TestDb::fresh().await;
    let url = SecretUrl::parse(db.url()).unwrap();
    let (a, b) = (
        Store::connect(&url).await.unwrap(),
        Store::connect(&url).await.unwrap(),
    );
    let write = |s: Store, who: &'static str| async move {
        for i in 0..20 {
            let detail = format!("{who} {i}");
            s.audit(AuditEvent {
                event: "requested",
                actor: who,
                action: "mark",
                target: "svc",
                ref_id: "r",
                detail: &detail,
            })
            .await
            .unwrap();
        }
    };
    tokio::join!(write(a.clone(), "U1"), write(b.clone(), "U2"));
    let rows = a.audit_rows().await.unwrap();
    assert_eq!(rows.len(), 40);
    let head = verify(&rows).expect("one unbroken chain");
    assert_eq!(head, rows[39].hash);
    a.close().await;
    b.close().await;
    db.drop_database().await;
}
