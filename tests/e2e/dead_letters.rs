//! Dead letters and retention, on the database the suite runs on (SQLite,
//! or PostgreSQL with `MEDIC_TEST_DATABASE_URL`): a runbook job that can
//! never finish is parked after a few tries, counted on `/metrics`, shown
//! by `medic status` (which then exits 1), and holds up no job behind it;
//! and the retention sweep deletes what is over and old, keeps what is
//! not, and counts what it deleted.

use std::time::Duration;

use medic::storage::Store;
use medic::storage::retention::Swept;
use medic_commands::diagnostics::SecretUrl;
use medic_tests::db::TestDb;
use medic_tests::services;
use medic_tests::{Options, TestMedic, spawn_medic};

use super::crash::firing;

const TOKEN: &str = "am-dead-letter-t0ken";
const CHANNEL: &str = "C0DEADLETTERS";
const LIMIT: Duration = Duration::from_secs(30);

async fn medic_with_runbook(extra: &str) -> TestMedic {
    let port = services::dead_port().await;
    spawn_medic(Options {
        targets: format!(
            "[targets.svc]\nkind = \"tcp\"\naddress = \"127.0.0.2:{port}\"\ntimeout = \"2s\"\n"
        ),
        extra: format!(
            "[alertmanager]\ntoken = \"{TOKEN}\"\n\n\
             [[routes]]\nmatch = {{}}\nslack_channel = \"{CHANNEL}\"\n\n\
             [[runbooks]]\nmatch = {{}}\nrun = [\"svc\"]\n\n{extra}\n"
        ),
        ..Default::default()
    })
    .await
}

/// `medic status` against `medic`'s database: its exit code and output.
fn status(medic: &TestMedic) -> (i32, String) {
    let (code, out, err) = super::child::cli_on(medic.db.url(), &["status"]);
    (code, format!("{out}{err}"))
}

async fn metric(medic: &TestMedic, line: &str) {
    medic_tests::wait::eventually(line, LIMIT, || async {
        let metrics = medic.get("/metrics").await.1;
        if metrics.lines().any(|l| l == line) {
            Ok(())
        } else {
            Err(metrics)
        }
    })
    .await
}

#[tokio::test]
async fn a_job_that_can_never_finish_is_parked_shown_by_status_and_holds_up_nothing() {
    let medic = medic_with_runbook("").await;
    let (code, text) = status(&medic);
    assert_eq!(code, 0, "nothing dead yet: {text}");
    assert!(text.contains("Dead letters: none"), "{text}");

    // A job for an incident whose row this version cannot read (written
    // by a newer medic, say: a source it does not know). Resolved just
    // now (the retention sweep leaves it) but first seen long ago (no
    // other incident is correlated with it).
    let pool = sqlx::AnyPool::connect(medic.db.url()).await.unwrap();
    let incident: i64 = sqlx::query_scalar(
        "INSERT INTO incidents (source, fingerprint, state, title, severity, seen_count, \
         first_seen, last_seen, resolved_at, alert_json) \
         VALUES ('from-the-future', 'f', 'resolved', 'Unreadable', 'error', 1, 0, 0, $1, '{}') \
         RETURNING id",
    )
    .bind(medic_tests::now_unix() * 1000)
    .fetch_one(&pool)
    .await
    .unwrap();
    let job: i64 = sqlx::query_scalar(
        "INSERT INTO incident_jobs (incident_id, kind, payload, state, created_at) \
         VALUES ($1, 'diagnose', '{}', 'pending', 0) RETURNING id",
    )
    .bind(incident)
    .fetch_one(&pool)
    .await
    .unwrap();

    // An alert after it: its runbook runs and its report reaches the
    // thread while the stuck job is tried and parked.
    let (code, body) = medic
        .post_json(
            "/webhooks/alertmanager",
            &[("authorization", format!("Bearer {TOKEN}"))],
            firing("AfterTheStuckJob", "t", 7).into_bytes(),
        )
        .await;
    assert!((200..300).contains(&code), "{code} {body}");
    medic
        .slack
        .wait_for(LIMIT, |c| {
            c.channel() == Some(CHANNEL)
                && c.body.get("thread_ts").is_some()
                && c.body.to_string().contains("svc")
        })
        .await;

    metric(&medic, "medic_jobs_parked_total 1").await;
    let (state, attempts, error): (String, i32, Option<String>) =
        sqlx::query_as("SELECT state, attempts, error FROM incident_jobs WHERE id = $1")
            .bind(job)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((state.as_str(), attempts), ("parked", 5));
    let error = error.unwrap();
    assert!(error.starts_with("reading its incident: "), "{error}");

    let (code, text) = status(&medic);
    assert_eq!(code, 1, "a dead letter makes `medic status` exit 1: {text}");
    assert!(text.contains("1 incident jobs parked:"), "{text}");
    assert!(
        text.contains(&format!("job #{job}  incident #{incident} diagnose  "))
            && text.contains("5 attempt(s): reading its incident: "),
        "{text}"
    );
    pool.close().await;
    medic.stop().await.unwrap();
}

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Days ago, in unix ms, at the start of the test's minute (two calls
/// in one test agree).
fn days_ago(days: i64) -> i64 {
    let now = medic_tests::now_unix() / 60 * 60 * 1000;
    now - days * DAY_MS
}

#[tokio::test]
async fn the_retention_sweep_deletes_what_is_over_and_old_and_keeps_the_rest() {
    // Rows of every kind a day past a 2-day retention, as many a day
    // short of it, and rows that must stay whatever their age.
    let db = TestDb::fresh().await;
    let store = Store::connect(&SecretUrl::parse(db.url()).unwrap())
        .await
        .unwrap();
    let pool = sqlx::AnyPool::connect(db.url()).await.unwrap();
    let old = days_ago(3);
    let recent = days_ago(1);
    let exec = |sql: String| {
        let pool = pool.clone();
        async move {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap()
        }
    };
    let incident = |state: &str, resolved: Option<i64>| {
        format!(
            "INSERT INTO incidents (source, fingerprint, state, title, severity, seen_count, \
             first_seen, last_seen, resolved_at, alert_json) VALUES ('alertmanager', \
             '{state}-{}', '{state}', 'T', 'error', 1, {old}, {old}, {}, '{{}}') RETURNING id",
            resolved.unwrap_or(0),
            resolved.map_or("NULL".into(), |r| r.to_string())
        )
    };
    let id_of = |sql: String| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let gone = id_of(incident("resolved", Some(old))).await;
    let resolved_lately = id_of(incident("resolved", Some(recent))).await;
    let open = id_of(incident("open", None)).await;
    for i in [gone, resolved_lately, open] {
        exec(format!(
            "INSERT INTO incident_jobs (incident_id, kind, payload, state, created_at, done_at) \
             VALUES ({i}, 'diagnose', '{{}}', 'done', {old}, {old})"
        ))
        .await;
        exec(format!(
            "INSERT INTO incident_events (incident_id, at, kind, text) VALUES ({i}, {old}, 'opened', 'x')"
        ))
        .await;
        // Its thread's root: sent long ago. An open incident's stays (an
        // edit may still come); the others' go.
        exec(format!(
            "INSERT INTO outbox (platform, channel, incident_id, kind, body, state, attempts, \
             not_before, created_at, sent_ts) \
             VALUES ('slack', 'C0OLD', {i}, 'root', '{{}}', 'sent', 0, 0, {old}, '1.0')"
        ))
        .await;
    }
    // A message still waiting, however old, is never deleted.
    exec(format!(
        "INSERT INTO outbox (platform, channel, kind, body, state, attempts, not_before, created_at) \
         VALUES ('slack', 'C0OLD', 'reply', '{{}}', 'pending', 0, {}, {old})",
        days_ago(-1)
    ))
    .await;
    for (id, state, at) in [
        ("old-done", "done", old),
        ("old-parked", "parked", old),
        ("old-pending", "pending", old),
        ("new-done", "done", recent),
    ] {
        exec(format!(
            "INSERT INTO deliveries (source, delivery_id, received_at, alerts_json, state) \
             VALUES ('retention-test', '{id}', {at}, '[]', '{state}')"
        ))
        .await;
    }
    for (state, at) in [
        ("posted", old),
        ("failed", old),
        ("accepted", old),
        ("posted", recent),
    ] {
        exec(format!(
            "INSERT INTO command_runs (platform, channel, actor_id, actor_name, command, target, \
             state, received_at) VALUES ('slack', 'C0OLD', 'U1', 'alice', 'diag', 'svc', '{state}', {at})"
        ))
        .await;
    }
    for (id, state, at) in [
        ("req-old-done", "succeeded", old),
        ("req-old-pending", "pending", old),
        ("req-new-done", "denied", recent),
    ] {
        exec(format!(
            "INSERT INTO action_requests (id, offer_id, action, target, params, platform, channel, \
             requester, requester_name, approvals_needed, state, created_at, expires_at) \
             VALUES ('{id}', 'offer-{id}', 'a', 't', '{{}}', 'slack', 'C0OLD', 'U1', 'alice', 1, \
             '{state}', {at}, {at})"
        ))
        .await;
        exec(format!(
            "INSERT INTO action_approvals (request_id, approver, approver_name, at) \
             VALUES ('{id}', 'U2', 'bob', {at})"
        ))
        .await;
    }
    let audit_before: i64 = id_of("SELECT COUNT(*) FROM audit_log".into()).await;

    let mut deleted = Vec::new();
    for what in Swept::ALL {
        deleted.push((what.as_str(), store.sweep(what, 2 * DAY_MS).await.unwrap()));
    }
    assert_eq!(
        deleted,
        [
            ("deliveries", 2),
            ("outbox", 2),
            ("command_runs", 2),
            ("incidents", 1),
            ("requests", 1)
        ]
    );
    // Nothing is left over for a second pass.
    for what in Swept::ALL {
        assert_eq!(store.sweep(what, 2 * DAY_MS).await.unwrap(), 0, "{what:?}");
    }
    let count = |sql: &'static str| id_of(sql.to_string());
    let left: Vec<i64> = sqlx::query_scalar("SELECT id FROM incidents ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, vec![resolved_lately, open]);
    for table in ["incident_jobs", "incident_events"] {
        let of: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT incident_id FROM {table} ORDER BY incident_id"
        )))
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(of, vec![resolved_lately, open], "{table}");
    }
    let outbox: Vec<(String, Option<i64>)> =
        sqlx::query_as("SELECT state, incident_id FROM outbox WHERE channel = 'C0OLD' ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        outbox,
        vec![
            ("sent".to_string(), Some(open)),
            ("pending".to_string(), None)
        ]
    );
    let deliveries: Vec<String> = sqlx::query_scalar(
        "SELECT delivery_id FROM deliveries WHERE source = 'retention-test' ORDER BY delivery_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(deliveries, vec!["new-done", "old-pending"]);
    let runs: Vec<(String, i64)> = sqlx::query_as(
        "SELECT state, received_at FROM command_runs WHERE channel = 'C0OLD' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        runs,
        vec![
            ("accepted".to_string(), old),
            ("posted".to_string(), recent)
        ]
    );
    let requests: Vec<String> = sqlx::query_scalar("SELECT id FROM action_requests ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(requests, vec!["req-new-done", "req-old-pending"]);
    let approvals: Vec<String> =
        sqlx::query_scalar("SELECT request_id FROM action_approvals ORDER BY request_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(approvals, vec!["req-new-done", "req-old-pending"]);
    assert_eq!(
        count("SELECT COUNT(*) FROM audit_log").await,
        audit_before,
        "the audit log is never swept"
    );
    pool.close().await;
    store.close().await;
    db.drop_database().await;
}

#[tokio::test]
async fn medic_sweeps_with_its_retention_settings_and_counts_what_went() {
    let db = TestDb::fresh().await;
    let store = Store::connect(&SecretUrl::parse(db.url()).unwrap())
        .await
        .unwrap();
    let pool = sqlx::AnyPool::connect(db.url()).await.unwrap();
    // A finished command three days old and one a day old: a 2-day
    // retention (the default is 30 days) deletes the first only.
    for at in [days_ago(3), days_ago(1)] {
        sqlx::query(
            "INSERT INTO command_runs (platform, channel, actor_id, actor_name, command, target, \
             state, received_at) VALUES ('slack', 'C0OLD', 'U1', 'alice', 'diag', 'svc', 'posted', $1)",
        )
        .bind(at)
        .execute(&pool)
        .await
        .unwrap();
    }
    store.close().await;
    let medic = spawn_medic(Options {
        extra: "[retention]\ncommand_runs = \"2d\"\n".into(),
        shared_database: Some(db.url().to_string()),
        ..Default::default()
    })
    .await;
    metric(
        &medic,
        "medic_retention_deleted_total{table=\"command_runs\"} 1",
    )
    .await;
    let left: Vec<i64> = sqlx::query_scalar("SELECT received_at FROM command_runs")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, vec![days_ago(1)]);
    pool.close().await;
    medic.stop().await.unwrap();
    db.drop_database().await;
}
