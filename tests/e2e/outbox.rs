//! The outbox's own rules, on the real database (SQLite or PostgreSQL, as
//! the run says).

use medic::storage::Store;
use medic::storage::outbox::{NewRow, OutboxKind, enqueue, push};
use medic_commands::diagnostics::SecretUrl;
use medic_commands::model::inbound::Platform;
use medic_tests::db::TestDb;

#[tokio::test]
async fn a_storm_folds_incident_roots_but_never_a_reports_root() {
    let db = TestDb::fresh().await;
    let store = Store::connect(&SecretUrl::parse(db.url()).unwrap())
        .await
        .expect("database");
    let mut tx = store.begin_write().await.unwrap();
    for incident in 1..=3 {
        enqueue(
            &mut tx,
            Platform::Slack,
            "C1",
            incident,
            OutboxKind::Root,
            "{}",
        )
        .await
        .unwrap();
    }
    // Someone types /diag in the incident channel during the storm.
    let report = push(
        &mut tx,
        &NewRow {
            run_id: Some(1),
            ..NewRow::new(Platform::Slack, "C1", OutboxKind::Root, "{}")
        },
    )
    .await
    .unwrap();
    enqueue(&mut tx, Platform::Slack, "C1", 4, OutboxKind::Root, "{}")
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let roots = store
        .outbox_pending_roots(Platform::Slack, "C1", 40)
        .await
        .unwrap();
    assert_eq!(roots.len(), 4, "the four incident roots: {roots:?}");
    assert!(!roots.contains(&report), "the report's root stays its own");
    store.close().await;
    db.drop_database().await;
}
