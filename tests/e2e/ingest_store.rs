//! The delivery writer against a real database (SQLite, or PostgreSQL
//! under `scripts/test`): group commit keeps every delivery, and a vendor's
//! redelivery is recognised whether it lands in the same batch or later.

use std::collections::HashSet;

use medic::storage::Store;
use medic::storage::deliveries::{Ingest, NewDelivery, Recorded};
use medic_commands::diagnostics::SecretUrl;
use medic_tests::db::TestDb;

fn delivery(id: usize) -> NewDelivery {
    NewDelivery {
        source: "sentry",
        delivery_id: format!("req-{id}"),
        alerts_json: format!(r#"[{{"n":{id}}}]"#),
    }
}

#[tokio::test]
async fn concurrent_deliveries_are_all_kept_and_redeliveries_dropped() {
    let db = TestDb::fresh().await;
    let store = Store::connect(&SecretUrl::parse(db.url()).unwrap())
        .await
        .expect("database");
    let ingest = Ingest::start(store.clone());

    // 300 deliveries at once, 30 % of them repeats of earlier ids, so some
    // repeats share a batch with their original and some come later.
    let ids: Vec<usize> = (0..300)
        .map(|i| if i % 10 < 3 { i / 2 } else { i })
        .collect();
    let unique: HashSet<usize> = ids.iter().copied().collect();
    let results = futures::future::join_all(ids.iter().map(|&id| {
        let ingest = ingest.clone();
        async move { ingest.record(delivery(id)).await.expect("recorded") }
    }))
    .await;
    let new: Vec<i64> = results
        .iter()
        .filter_map(|r| match r {
            Recorded::New(id) => Some(*id),
            Recorded::Duplicate => None,
        })
        .collect();
    assert_eq!(new.len(), unique.len(), "{} backend", db.backend());
    assert_eq!(
        new.iter().collect::<HashSet<_>>().len(),
        new.len(),
        "row ids are distinct"
    );
    assert_eq!(
        store.count_deliveries("sentry").await.unwrap() as usize,
        unique.len()
    );

    // A retry after the fact is a duplicate too, and writes nothing.
    assert_eq!(
        ingest.record(delivery(0)).await.unwrap(),
        Recorded::Duplicate
    );
    assert_eq!(
        store.pending_deliveries(1000).await.unwrap().len(),
        unique.len()
    );
    store.close().await;
    db.drop_database().await;
}
