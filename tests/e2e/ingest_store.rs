//! The delivery writer against a real database (SQLite, or PostgreSQL
//! under `scripts/test`): group commit keeps every delivery, and a vendor's
//! redelivery is recognised whether it lands in the same batch or later.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use medic::incidents::apply;
use medic::settings::AlertSettings;
use medic::storage::Store;
use medic::storage::deliveries::{Ingest, NewDelivery, Recorded};
use medic::storage::retention::Swept;
use medic::storage::script::{Script, Statement};
use medic_commands::diagnostics::SecretUrl;
use medic_commands::model::alert::{Alert, AlertSource, AlertState, Severity};
use medic_tests::db::TestDb;

fn delivery(id: usize) -> NewDelivery {
    NewDelivery {
        source: "sentry",
        delivery_id: format!("req-{id}"),
        alerts_json: format!(r#"[{{"n":{id}}}]"#),
        alerts: Vec::new(),
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

fn firing(n: usize) -> Alert {
    Alert {
        source: AlertSource::Sentry,
        fingerprint: format!("issue-{n}"),
        state: AlertState::Firing,
        title: format!("ReferenceError: storm_{n} is not defined"),
        severity: Severity::Error,
        service: Some("front-end".into()),
        host: None,
        labels: Vec::new(),
        occurred_at: None,
        link: None,
        details: Vec::new(),
        chain: Vec::new(),
    }
}

/// The incident logic reads, then writes, in one transaction, while the
/// delivery writer commits new deliveries all the time (an alert storm).
/// On SQLite a deferred transaction that has read cannot wait for the
/// write lock once another connection has committed: it failed at once
/// with "database is locked" and the delivery was retried in a loop. Every
/// apply must succeed here, however the two interleave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_applied_while_new_ones_keep_being_committed() {
    let db = TestDb::fresh().await;
    let store = Store::connect(&SecretUrl::parse(db.url()).unwrap())
        .await
        .expect("database");
    let ingest = Ingest::start(store.clone());
    const N: usize = 60;
    for n in 0..N {
        let recorded = ingest
            .record(NewDelivery::new(
                "sentry",
                format!("first-{n}"),
                vec![firing(n)],
            ))
            .await
            .unwrap();
        assert!(matches!(recorded, Recorded::New(_)));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (ingest, stop) = (ingest.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                ingest
                    .record(delivery(100_000 + n))
                    .await
                    .expect("recorded");
                n += 1;
            }
            n
        })
    };
    let config = AlertSettings::default();
    let pending = store.pending_deliveries(N as i64).await.unwrap();
    assert_eq!(pending.len(), N);
    for (id, _, json) in pending {
        let alerts: Vec<Alert> = serde_json::from_str(&json).unwrap();
        apply(&store, &config, Default::default(), id, &alerts)
            .await
            .unwrap_or_else(|e| {
                panic!("delivery {id} not applied ({} backend): {e}", db.backend())
            });
        // Let the writer commit between two applies.
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.await.unwrap();
    assert!(
        written > 0,
        "the writer committed while deliveries were applied"
    );
    store.close().await;
    db.drop_database().await;
}

fn alert(fingerprint: &str, state: AlertState, severity: Severity) -> Alert {
    Alert {
        fingerprint: fingerprint.into(),
        state,
        severity,
        title: format!("ConnectionError: {fingerprint}"),
        ..firing(0)
    }
}

/// Repeats of open incidents are counted in memory and written once per
/// incident at the end of a batch; a resolve between them must still see
/// the repeats before it, and a firing after the resolve reopens. Each
/// incident gets one pending root edit, whatever the number of repeats.
#[tokio::test]
async fn a_batch_of_repeats_around_a_resolve_counts_every_alert_in_order() {
    use medic::incidents::{Change, Pending, Platforms, apply_batch};
    use sqlx::Row;

    let db = TestDb::fresh().await;
    let store = Store::connect(&SecretUrl::parse(db.url()).unwrap())
        .await
        .expect("database");
    let loaded = medic::settings::Settings::load(&medic::settings::Sources::toml(
        "[[routes]]\nmatch = {}\nslack_channel = \"C0BATCH\"\n",
    ))
    .expect("config");
    let config = loaded.settings.alerts;
    let platforms = Platforms {
        slack: true,
        discord: false,
        console: false,
    };
    let pending = |id: i64, alerts: Vec<Alert>| Pending { id, alerts };
    use AlertState::{Firing, Resolved};
    use Severity::{Critical, Error, Warning};

    let opened = apply_batch(
        &store,
        &config,
        platforms,
        &[
            pending(1, vec![alert("a", Firing, Error)]),
            pending(2, vec![alert("b", Firing, Warning)]),
        ],
    )
    .await
    .unwrap();
    let (Change::Opened(a), Change::Opened(b)) = (opened[0][0], opened[1][0]) else {
        panic!("two incidents opened: {opened:?}");
    };

    let changes = apply_batch(
        &store,
        &config,
        platforms,
        &[
            pending(
                3,
                vec![alert("a", Firing, Error), alert("b", Firing, Warning)],
            ),
            pending(4, vec![alert("a", Firing, Critical)]),
            pending(
                5,
                vec![alert("b", Firing, Error), alert("a", Firing, Error)],
            ),
            pending(6, vec![alert("a", Resolved, Error)]),
            pending(7, vec![alert("a", Firing, Error)]),
            pending(8, vec![alert("b", Firing, Warning)]),
        ],
    )
    .await
    .unwrap();
    let flat: Vec<Change> = changes.into_iter().flatten().collect();
    assert_eq!(
        flat,
        vec![
            Change::Repeated(a),
            Change::Repeated(b),
            Change::Repeated(a),
            Change::Repeated(b),
            Change::Repeated(a),
            Change::Resolved(a),
            Change::Reopened(a),
            Change::Repeated(b),
        ]
    );

    let rows = store.incidents().await.unwrap();
    let of = |id: i64| rows.iter().find(|r| r.id == id).unwrap().view.clone();
    // a: opened, three repeats, resolved, fired again (a reopen counts).
    assert_eq!(of(a).seen_count, 5);
    assert_eq!(of(a).state.as_str(), "open");
    assert_eq!(of(a).severity, Critical, "severity only rises");
    // b: opened and three repeats, written once at the batch's end.
    assert_eq!(of(b).seen_count, 4);
    assert_eq!(of(b).severity, Error);

    let pool = sqlx::AnyPool::connect(db.url()).await.unwrap();
    let edits = sqlx::query(
        "SELECT incident_id, body FROM outbox WHERE kind = 'edit' AND state = 'pending' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let edit_of = |id: i64| -> Vec<String> {
        edits
            .iter()
            .filter(|r| r.get::<i64, _>(0) == id)
            .map(|r| r.get::<String, _>(1))
            .collect()
    };
    let (edit_a, edit_b) = (edit_of(a), edit_of(b));
    assert_eq!(edit_a.len(), 1, "one pending root edit for a: {edit_a:?}");
    assert_eq!(edit_b.len(), 1, "one pending root edit for b: {edit_b:?}");
    // (An edit is drawn from the incident when sent: the counts above are
    // what the channel will show.)
    let notes: Vec<String> = sqlx::query(
        "SELECT body FROM outbox WHERE kind = 'reply' AND incident_id = $1 ORDER BY id",
    )
    .bind(a)
    .fetch_all(&pool)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get::<String, _>(0))
    .collect();
    assert_eq!(
        notes.len(),
        2,
        "a resolved line and a firing-again line: {notes:?}"
    );
    assert!(notes[0].contains("Resolved"), "{}", notes[0]);
    assert!(notes[1].contains("Firing again"), "{}", notes[1]);
    pool.close().await;
    store.close().await;
    db.drop_database().await;
}

/// With the incident logic as its applier, the writer commits a delivery
/// and what it changed together: when `record` returns (when the webhook
/// answers 2xx) the incident is there, nothing is left pending for the
/// worker, and a redelivery changes nothing.
#[tokio::test]
async fn an_applying_writer_commits_the_incident_with_its_delivery() {
    use medic::incidents::{Applier, Platforms};
    use sqlx::Row;
    use tokio::sync::Notify;

    let db = TestDb::fresh().await;
    let store = Store::connect(&SecretUrl::parse(db.url()).unwrap())
        .await
        .expect("database");
    let (incident_wake, outbox) = (
        Arc::new(Notify::new()),
        Arc::new(medic::outbox::Outbox::new()),
    );
    let loaded = medic::settings::Settings::load(&medic::settings::Sources::toml(
        "[[routes]]\nmatch = {}\nslack_channel = \"C0APPLY\"\n",
    ))
    .expect("config");
    let platforms = Platforms {
        slack: true,
        discord: false,
        console: false,
    };
    let applier = Applier::new(
        loaded.settings.alerts,
        platforms,
        incident_wake.clone(),
        outbox.clone(),
    );
    let ingest = Ingest::start_applying(store.clone(), Arc::new(applier));

    // Ten incidents, then 30 repeats of them at once: concurrent
    // deliveries share batches, so repeats are counted in memory and
    // written together.
    for n in 0..10 {
        let opened = ingest
            .record(NewDelivery::new(
                "sentry",
                format!("d-{n}"),
                vec![firing(n)],
            ))
            .await
            .unwrap();
        assert!(matches!(opened, Recorded::New(_)));
    }
    let results = futures::future::join_all((10..40).map(|n| {
        let ingest = ingest.clone();
        async move {
            ingest
                .record(NewDelivery::new(
                    "sentry",
                    format!("d-{n}"),
                    vec![firing(n % 10)],
                ))
                .await
                .expect("recorded")
        }
    }))
    .await;
    assert!(results.iter().all(|r| matches!(r, Recorded::New(_))));
    let rows = store.incidents().await.unwrap();
    assert_eq!(
        rows.len(),
        10,
        "one incident per fingerprint ({} backend)",
        db.backend()
    );
    assert_eq!(rows.iter().map(|r| r.view.seen_count).sum::<i64>(), 40);
    assert!(store.pending_deliveries(100).await.unwrap().is_empty());
    // Generated statements repeat their last row up to a power of two
    // (storage::padded): no repeat may count twice, and each incident has
    // one root and at most one pending edit, however its repeats were
    // batched.
    let pool = sqlx::AnyPool::connect(db.url()).await.unwrap();
    let per_incident: Vec<(i64, i64, i64)> = sqlx::query(
        "SELECT incident_id, SUM(CASE WHEN kind = 'root' THEN 1 ELSE 0 END), \
         SUM(CASE WHEN kind = 'edit' THEN 1 ELSE 0 END) FROM outbox GROUP BY incident_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect();
    assert_eq!(per_incident.len(), 10, "{per_incident:?}");
    for (incident, roots, edits) in &per_incident {
        assert_eq!(*roots, 1, "incident {incident}: {per_incident:?}");
        assert!(*edits <= 1, "incident {incident}: {per_incident:?}");
    }
    pool.close().await;
    // Both were woken: the outbox for the changes, the worker for the
    // runbook jobs new incidents may have queued.
    tokio::time::timeout(std::time::Duration::from_secs(1), outbox.woken())
        .await
        .expect("outbox woken");
    tokio::time::timeout(std::time::Duration::from_secs(1), incident_wake.notified())
        .await
        .expect("worker woken");

    assert_eq!(
        ingest
            .record(NewDelivery::new("sentry", "d-0".into(), vec![firing(0)]))
            .await
            .unwrap(),
        Recorded::Duplicate
    );
    let rows = store.incidents().await.unwrap();
    assert_eq!(rows.iter().map(|r| r.view.seen_count).sum::<i64>(), 40);
    store.close().await;
    db.drop_database().await;
}

/// An applier that writes, then fails: a bug or a constraint in the
/// incident logic must not cost the delivery. The writer rolls back what
/// the applier wrote, stores the batch as pending for the worker (which
/// retries one by one and logs the one that fails), and still answers New.
/// It fails either while it applies or in the tail it leaves the writer
/// to send with the COMMIT.
struct WritesThenFails {
    in_tail: bool,
}

impl medic::storage::deliveries::Apply for WritesThenFails {
    fn reads(
        &self,
        _backend: medic::storage::Backend,
        _alerts: &mut dyn Iterator<Item = &Alert>,
    ) -> Vec<Statement> {
        vec![Statement::new("SELECT COUNT(*) FROM incidents".into())]
    }

    fn apply<'c>(
        &'c self,
        conn: &'c mut sqlx::AnyConnection,
        _batch: &'c [medic::incidents::Pending],
        read: Vec<Vec<sqlx::any::AnyRow>>,
        tail: &'c mut Script,
    ) -> futures::future::BoxFuture<'c, sqlx::Result<()>> {
        Box::pin(async move {
            assert_eq!(read.len(), 1, "one row set per statement of reads()");
            let write = "INSERT INTO deliveries (source, delivery_id, received_at, alerts_json, state) \
                 VALUES ('sentry', 'written-by-a-failed-apply', 0, '[]', 'done')";
            let fail = "SELECT no_such_column FROM deliveries";
            if self.in_tail {
                tail.push(Statement::new(write.into()));
                tail.push(Statement::new(fail.into()));
                return Ok(());
            }
            sqlx::query(write).execute(&mut *conn).await?;
            sqlx::query(fail).execute(&mut *conn).await?;
            Ok(())
        })
    }

    fn committed(&self, _applied: bool) {}
}

#[tokio::test]
async fn a_failing_applier_is_rolled_back_and_its_deliveries_left_pending() {
    a_failing_applier(false).await;
}

#[tokio::test]
async fn an_applier_failing_in_its_tail_is_rolled_back_and_its_deliveries_left_pending() {
    a_failing_applier(true).await;
}

async fn a_failing_applier(in_tail: bool) {
    let db = TestDb::fresh().await;
    let store = Store::connect(&SecretUrl::parse(db.url()).unwrap())
        .await
        .expect("database");
    let ingest = Ingest::start_applying(store.clone(), Arc::new(WritesThenFails { in_tail }));
    let results = futures::future::join_all((0..20).map(|n| {
        let ingest = ingest.clone();
        async move { ingest.record(delivery(n % 15)).await }
    }))
    .await;
    let new = results
        .iter()
        .filter(|r| matches!(r, Ok(Recorded::New(_))))
        .count();
    let duplicates = results
        .iter()
        .filter(|r| matches!(r, Ok(Recorded::Duplicate)))
        .count();
    assert_eq!(
        (new, duplicates),
        (15, 5),
        "{results:?} ({} backend)",
        db.backend()
    );
    assert_eq!(store.pending_deliveries(100).await.unwrap().len(), 15);
    assert_eq!(
        store.count_deliveries("sentry").await.unwrap(),
        15,
        "the failed applier's own write was rolled back"
    );
    store.close().await;
    db.drop_database().await;
}

/// Housekeeping forgets applied deliveries past their age and keeps
/// pending ones however old: a delivery not yet applied is work, not
/// history.
#[tokio::test]
async fn old_applied_deliveries_are_forgotten_and_pending_ones_kept() {
    use medic::incidents::{Applier, Platforms};
    use tokio::sync::Notify;

    let db = TestDb::fresh().await;
    let store = Store::connect(&SecretUrl::parse(db.url()).unwrap())
        .await
        .expect("database");
    let applier = Applier::new(
        AlertSettings::default(),
        Platforms::default(),
        Arc::new(Notify::new()),
        Arc::new(medic::outbox::Outbox::new()),
    );
    let applying = Ingest::start_applying(store.clone(), Arc::new(applier));
    let pending = Ingest::start(store.clone());
    for n in 0..3 {
        let r = applying
            .record(NewDelivery::new(
                "sentry",
                format!("applied-{n}"),
                vec![firing(n)],
            ))
            .await
            .unwrap();
        assert!(matches!(r, Recorded::New(_)));
    }
    for n in 0..2 {
        pending.record(delivery(1_000 + n)).await.unwrap();
    }
    // Nothing is old enough yet.
    assert_eq!(store.sweep(Swept::Deliveries, 60_000).await.unwrap(), 0);
    // Everything received before now is "old" once the millisecond clock
    // has moved past the last delivery's `received_at` (taken before
    // this): then only the applied go.
    let recorded = medic::storage::now_ms();
    while medic::storage::now_ms() <= recorded {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        store.sweep(Swept::Deliveries, 0).await.unwrap(),
        3,
        "{} backend",
        db.backend()
    );
    assert_eq!(store.count_deliveries("sentry").await.unwrap(), 2);
    assert_eq!(store.pending_deliveries(10).await.unwrap().len(), 2);
    store.close().await;
    db.drop_database().await;
}

/// The delivery writer's scripts: on SQLite one round trip for several
/// statements, on PostgreSQL one statement after another. Either way each
/// statement's rows come back apart, in order, values bind in marker
/// order across statements, and the first failure ends the script.
#[tokio::test]
async fn a_script_returns_each_statements_rows_and_stops_at_the_first_failure() {
    let db = TestDb::fresh().await;
    let store = Store::connect(&SecretUrl::parse(db.url()).unwrap())
        .await
        .expect("database");
    let backend = store.backend();
    let pool = sqlx::AnyPool::connect(db.url()).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let marker = |n: usize| match backend {
        medic::storage::Backend::Sqlite => "?".to_string(),
        medic::storage::Backend::Postgres => format!("${n}"),
    };
    let insert = |id: &str| {
        let mut s = Statement::new(format!(
            "INSERT INTO deliveries (source, delivery_id, received_at, alerts_json, state) \
             VALUES ({}, {}, 0, '[]', 'done')",
            marker(1),
            marker(2)
        ));
        s.bind("sentry").bind(id.to_string());
        s
    };
    let select = |limit: i64| {
        let mut s = Statement::new(format!(
            "SELECT delivery_id FROM deliveries WHERE source = {} ORDER BY delivery_id LIMIT {}",
            marker(1),
            marker(2)
        ));
        s.bind("sentry").bind(limit);
        s
    };
    let mut script = Script::new(backend);
    script.push(insert("a"));
    script.push(select(10));
    script.push(insert("b"));
    script.push(select(1));
    script.push(select(10));
    let rows = script.run(&mut conn).await.expect("script");
    let ids = |set: &Vec<sqlx::any::AnyRow>| -> Vec<String> {
        use sqlx::Row;
        set.iter().map(|r| r.get::<String, _>(0)).collect()
    };
    assert_eq!(rows.len(), 5, "one row set per statement");
    assert!(rows[0].is_empty() && rows[2].is_empty());
    assert_eq!(ids(&rows[1]), ["a"]);
    assert_eq!(
        ids(&rows[3]),
        ["a"],
        "LIMIT bound from the 4th statement's values"
    );
    assert_eq!(ids(&rows[4]), ["a", "b"]);

    let mut failing = Script::new(backend);
    failing.push(insert("c"));
    failing.push(Statement::new(
        "SELECT no_such_column FROM deliveries".into(),
    ));
    failing.push(insert("d"));
    assert!(failing.run(&mut conn).await.is_err());
    assert_eq!(
        store.count_deliveries("sentry").await.unwrap(),
        3,
        "the statement before the failure ran, the one after it did not"
    );
    drop(conn);
    pool.close().await;
    store.close().await;
    db.drop_database().await;
}
