//! The postgres diagnostic against real PostgreSQL: the shared test server
//! for what only reads, and servers of each test's own ([`pg::Cluster`])
//! for what would disturb others — connections near `max_connections`,
//! sessions idle in a transaction, a long `pg_sleep`, a row lock held by
//! one session and waited on by another, a restart, a streaming replica,
//! and pg_stat_statements present or not (and the plan of its slowest
//! query). Query health (sequential scans, dead rows, unused and duplicate
//! indexes) is made in a database of the test's own on the shared server.

#[path = "support/pg.rs"]
mod pg;

use std::time::Duration;

use medic_commands::diagnostics::postgres::{connect, explain, read};
use medic_commands::diagnostics::{Target, TargetSpec};
use medic_commands::{Finding, Report, Status};
use serde_json::json;
use sqlx::{Connection, Executor, Row};

/// Runs the diagnostic on `url` with `extra` keys, bounded generously (this
/// catches a hang; it times nothing).
async fn diagnose(url: &str, extra: serde_json::Value) -> Report {
    let mut config = json!({ "kind": "postgres", "url": url, "timeout": "10s" });
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let spec: TargetSpec = serde_json::from_value(config).expect("postgres target parses");
    let target = Target {
        name: "db".into(),
        spec,
    };
    tokio::time::timeout(Duration::from_secs(30), target.run())
        .await
        .expect("the diagnostic finishes")
}

fn find<'a>(report: &'a Report, check: &str) -> &'a Finding {
    report
        .findings
        .iter()
        .find(|f| f.check == check)
        .unwrap_or_else(|| panic!("no {check} in {report:#?}"))
}

/// `host:port` of a URL, as medic names a target's location.
fn at(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    format!("{}:{}", u.host_str().unwrap(), u.port().unwrap_or(5432))
}

/// Polls `sql` (one boolean) until it is true: waits for a state the test
/// set up in other sessions to show in pg_stat_activity.
async fn wait_until(url: &str, sql: &str) {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    for _ in 0..200 {
        let done: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        if done {
            conn.close().await.unwrap();
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never true: {sql}");
}

#[tokio::test]
async fn the_shared_server_answers_every_check_and_the_password_stays_hidden() {
    let Some(url) = pg::shared_url().await else {
        return;
    };
    let report = diagnose(&url, json!({})).await;
    let reach = find(&report, "postgres.reach");
    assert_eq!(reach.status, Status::Ok, "{report:#?}");
    assert!(
        reach.summary.starts_with(&format!(
            "Connected to {} as postgres (database postgres) in",
            at(&url)
        )),
        "{}",
        reach.summary
    );
    assert!(reach.summary.contains("SELECT 1 in"), "{}", reach.summary);
    for check in [
        "postgres.uptime",
        "postgres.connections",
        "postgres.idle_in_transaction",
        "postgres.long_queries",
        "postgres.locks",
        "postgres.replication",
        "postgres.statements",
        "postgres.size",
        "postgres.seq_scans",
        "postgres.indexes",
        "postgres.bloat",
    ] {
        let f = find(&report, check);
        assert_ne!(f.status, Status::Unknown, "every query ran: {f:#?}");
    }
    assert!(
        find(&report, "postgres.uptime")
            .summary
            .contains("PostgreSQL 1"),
        "{report:#?}"
    );
    // The shared server runs with max_connections = 300 (scripts/services).
    let conns = &find(&report, "postgres.connections").summary;
    assert!(
        conns.starts_with("Connections ") && conns.contains("/300 ("),
        "{conns}"
    );
    assert!(
        find(&report, "postgres.size")
            .summary
            .starts_with("Database postgres: "),
        "{report:#?}"
    );
    let password = url::Url::parse(&url)
        .unwrap()
        .password()
        .unwrap()
        .to_string();
    let all = format!("{report:?}{}", serde_json::to_string(&report).unwrap());
    assert!(!all.contains(&password), "leaked: {all}");
    assert_eq!(report.target.location, at(&url));
}

#[tokio::test]
async fn a_wrong_password_is_unknown_and_says_what_to_fix() {
    let Some(url) = pg::shared_url().await else {
        return;
    };
    let mut wrong = url::Url::parse(&url).unwrap();
    wrong.set_password(Some("Wr0ng-pa55word")).unwrap();
    let report = diagnose(wrong.as_str(), json!({})).await;
    assert_eq!(
        report.findings.len(),
        1,
        "only the reach check speaks: {report:#?}"
    );
    let f = &report.findings[0];
    assert_eq!(f.check, "postgres.reach");
    assert_eq!(f.status, Status::Unknown, "the server is up: {f:#?}");
    assert_eq!(
        f.summary,
        format!(
            "PostgreSQL at {} refused the password of user postgres",
            at(&url)
        )
    );
    assert!(f.detail[0].contains("pg_hba.conf"), "{f:#?}");
    assert!(
        f.evidence
            .as_deref()
            .unwrap_or("")
            .contains("password authentication failed for user \"postgres\""),
        "the server's words: {f:#?}"
    );
    assert!(!format!("{report:?}").contains("Wr0ng-pa55word"));
}

#[tokio::test]
async fn connections_near_max_connections_warn_then_turn_critical() {
    let Some(cluster) = pg::Cluster::start(&["max_connections = 20"]) else {
        return;
    };
    let url = cluster.url("postgres");
    // 15 application sessions and medic's own: 16 of 20 is 80 %.
    let mut pool = Vec::new();
    for _ in 0..15 {
        pool.push(cluster.session("postgres", "checkout-api").await);
    }
    let report = diagnose(&url, json!({})).await;
    let f = find(&report, "postgres.connections");
    assert_eq!(f.status, Status::Warn, "{f:#?}");
    assert_eq!(f.summary, "Connections 16/20 (80 %)");
    assert_eq!(f.detail[0], "By state: idle 15, active 1");
    assert_eq!(f.detail[1], "By application: checkout-api 15, medic 1");
    assert!(
        f.detail.iter().any(|d| d.contains("refused past 17")),
        "{f:#?}"
    );

    // Three more: 19 of 20 is 95 %, the pool is about to be exhausted.
    for _ in 0..3 {
        pool.push(cluster.session("postgres", "checkout-api").await);
    }
    let report = diagnose(&url, json!({})).await;
    let f = find(&report, "postgres.connections");
    assert_eq!(f.status, Status::Critical, "{f:#?}");
    assert_eq!(f.summary, "Connections 19/20 (95 %)");
    assert!(
        f.detail.iter().any(|d| d.contains("18 of them are idle")),
        "{f:#?}"
    );

    // Two more take every slot, superusers' too: medic itself is refused,
    // and reports that as pool exhaustion.
    for _ in 0..2 {
        pool.push(cluster.session("postgres", "checkout-api").await);
    }
    let report = diagnose(&url, json!({})).await;
    let f = find(&report, "postgres.reach");
    assert_eq!(f.status, Status::Critical, "{report:#?}");
    assert!(f.summary.contains("too many clients"), "{f:#?}");
    drop(pool);
}

#[tokio::test]
async fn idle_transactions_long_queries_and_lock_waits_are_named_by_pid() {
    let Some(cluster) = pg::Cluster::start(&[]) else {
        return;
    };
    let url = cluster.url("postgres");
    let mut setup = cluster.session("postgres", "setup").await;
    setup
        .execute(
            "CREATE TABLE accounts (id int PRIMARY KEY, balance int); \
             INSERT INTO accounts VALUES (1, 100); \
             CREATE EXTENSION pg_stat_statements",
        )
        .await
        .unwrap();

    // The blocker: updates a row and idles in its transaction.
    let mut blocker = cluster.session("postgres", "billing-worker").await;
    let blocker_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut blocker)
        .await
        .unwrap();
    blocker.execute("BEGIN").await.unwrap();
    blocker
        .execute("UPDATE accounts SET balance = 1 WHERE id = 1")
        .await
        .unwrap();

    // The waiter: wants the same row.
    let mut waiter = cluster.session("postgres", "checkout-api").await;
    let waiter_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut waiter)
        .await
        .unwrap();
    let waiting = tokio::spawn(async move {
        let _ = waiter
            .execute("UPDATE accounts SET balance = 2 WHERE id = 1")
            .await;
        waiter
    });

    // The long query.
    let mut sleeper = cluster.session("postgres", "report-job").await;
    let sleeper_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut sleeper)
        .await
        .unwrap();
    let sleeping = tokio::spawn(async move {
        let _ = sleeper.execute("SELECT pg_sleep(60)").await;
        sleeper
    });

    wait_until(
        &url,
        &format!(
            "SELECT count(*) = 2 FROM pg_stat_activity WHERE pid IN ({waiter_pid}, {sleeper_pid}) \
             AND state = 'active' AND now() - query_start > interval '1.2 s'"
        ),
    )
    .await;
    wait_until(
        &url,
        &format!(
            "SELECT now() - state_change > interval '1.2 s' FROM pg_stat_activity WHERE pid = {blocker_pid}"
        ),
    )
    .await;

    let report = diagnose(
        &url,
        json!({ "idle_in_transaction": "1s", "long_query": "1s" }),
    )
    .await;

    let idle = find(&report, "postgres.idle_in_transaction");
    assert_eq!(idle.status, Status::Warn, "{idle:#?}");
    assert!(
        idle.summary
            .starts_with("1 session idle in a transaction for more than 1 s"),
        "{idle:#?}"
    );
    assert!(
        idle.detail[0].starts_with(&format!(
            "pid {blocker_pid} (billing-worker, postgres, 127.0.0.1): idle in transaction for"
        )),
        "{idle:#?}"
    );
    assert!(
        idle.detail[0].ends_with("last query: UPDATE accounts SET balance = 1 WHERE id = 1"),
        "{idle:#?}"
    );

    let long = find(&report, "postgres.long_queries");
    assert_eq!(long.status, Status::Warn, "{long:#?}");
    assert!(
        long.summary
            .starts_with("2 queries running longer than 1 s"),
        "{long:#?}"
    );
    assert!(
        long.detail.iter().any(|d| d
            .starts_with(&format!("pid {sleeper_pid} (report-job, postgres) for"))
            && d.ends_with("waiting on Timeout:PgSleep: SELECT pg_sleep(60)")),
        "{long:#?}"
    );
    assert!(
        long.detail
            .iter()
            .any(|d| d.starts_with(&format!("pid {waiter_pid} "))
                && d.contains("waiting on Lock:transactionid")),
        "{long:#?}"
    );

    let locks = find(&report, "postgres.locks");
    assert_eq!(locks.status, Status::Warn, "{locks:#?}");
    assert_eq!(
        locks.summary,
        format!("1 session blocked by pid {blocker_pid}")
    );
    let edge = &locks.detail[0];
    assert!(
        edge.starts_with(&format!("pid {waiter_pid} (checkout-api) has waited ")),
        "{edge}"
    );
    assert!(
        edge.contains(&format!(
            "UPDATE accounts SET balance = 2 WHERE id = 1 — blocked by pid {blocker_pid} (billing-worker, idle in transaction, transaction open"
        )),
        "{edge}"
    );
    assert!(
        locks
            .detail
            .iter()
            .any(|d| d == &format!("To release them: SELECT pg_terminate_backend({blocker_pid}); (rolls back its transaction)")),
        "{locks:#?}"
    );

    // The extension was created but the library is not preloaded.
    let st = find(&report, "postgres.statements");
    assert_eq!(st.status, Status::Ok);
    assert!(st.summary.contains("created but not loaded"), "{st:#?}");

    // The lock is released: the waiter finishes, and the report clears.
    blocker.execute("ROLLBACK").await.unwrap();
    let waiter = waiting.await.unwrap();
    let report = diagnose(&url, json!({ "long_query": "1s" })).await;
    assert_eq!(find(&report, "postgres.locks").status, Status::Ok);
    assert_eq!(
        find(&report, "postgres.idle_in_transaction").status,
        Status::Ok
    );
    sleeping.abort();
    drop(waiter);
}

#[tokio::test]
async fn a_lock_query_stuck_behind_a_lock_is_cancelled_and_the_other_checks_still_answer() {
    let Some(cluster) = pg::Cluster::start(&["max_connections = 50"]) else {
        return;
    };
    // Another session holds pg_locks itself: the lock query cannot start.
    let mut holder = cluster.session("postgres", "ddl-migration").await;
    holder.execute("BEGIN").await.unwrap();
    holder
        .execute("LOCK TABLE pg_catalog.pg_locks IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();

    let report = diagnose(&cluster.url("postgres"), json!({ "timeout": "2s" })).await;
    let locks = find(&report, "postgres.locks");
    assert_eq!(locks.status, Status::Unknown, "{locks:#?}");
    assert_eq!(
        locks.summary,
        "Blocked and blocking sessions: the query failed"
    );
    assert!(
        locks
            .evidence
            .as_deref()
            .unwrap_or("")
            .contains("canceling statement due to lock timeout"),
        "{locks:#?}"
    );
    assert!(locks.detail[0].contains("lock_timeout"), "{locks:#?}");
    // The same connection went on to answer everything else.
    for check in [
        "postgres.reach",
        "postgres.connections",
        "postgres.uptime",
        "postgres.idle_in_transaction",
        "postgres.long_queries",
        "postgres.replication",
        "postgres.statements",
        "postgres.size",
    ] {
        assert_ne!(find(&report, check).status, Status::Unknown, "{report:#?}");
    }
    assert_eq!(
        find(&report, "postgres.connections").summary,
        "Connections 2/50 (4 %)"
    );
    holder.execute("ROLLBACK").await.unwrap();
}

#[tokio::test]
async fn a_role_without_pg_monitor_is_told_what_it_cannot_see() {
    let Some(cluster) = pg::Cluster::start(&[]) else {
        return;
    };
    let mut admin = cluster.session("postgres", "setup").await;
    admin.execute("CREATE ROLE watcher LOGIN").await.unwrap();
    // Another user's session, idle in its transaction.
    let mut app = cluster.session("postgres", "billing-worker").await;
    app.execute("BEGIN").await.unwrap();
    app.execute("SELECT 1").await.unwrap();
    let url = format!("postgres://watcher@127.0.0.1:{}/postgres", cluster.port);
    wait_until(
        &cluster.url("postgres"),
        "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'billing-worker' \
         AND state = 'idle in transaction' AND now() - state_change > interval '1.2 s'",
    )
    .await;

    let report = diagnose(&url, json!({ "idle_in_transaction": "1s" })).await;
    let conns = find(&report, "postgres.connections");
    assert!(
        conns
            .detail
            .iter()
            .any(|d| d.starts_with("2 sessions are other users' and hidden")
                && d.contains("GRANT pg_monitor")),
        "{conns:#?}"
    );
    assert_eq!(
        find(&report, "postgres.idle_in_transaction").status,
        Status::Ok,
        "hidden from this role"
    );

    admin.execute("GRANT pg_monitor TO watcher").await.unwrap();
    let report = diagnose(&url, json!({ "idle_in_transaction": "1s" })).await;
    let idle = find(&report, "postgres.idle_in_transaction");
    assert_eq!(idle.status, Status::Warn, "{idle:#?}");
    assert!(
        idle.detail[0].contains("(billing-worker, postgres, 127.0.0.1)"),
        "{idle:#?}"
    );
    assert!(
        !find(&report, "postgres.connections")
            .detail
            .iter()
            .any(|d| d.contains("hidden")),
        "{report:#?}"
    );
}

#[tokio::test]
async fn a_restart_within_the_hour_is_a_warning_that_explains_terminated_connections() {
    let Some(cluster) = pg::Cluster::start(&[]) else {
        return;
    };
    let url = cluster.url("postgres");
    let mut app = cluster.session("postgres", "api").await;
    const START: &str = "SELECT extract(epoch FROM pg_postmaster_start_time())::float8";
    let before: f64 = sqlx::query(START).fetch_one(&mut app).await.unwrap().get(0);

    cluster.restart();

    // What the application saw: its session was ended by the restart.
    let err = sqlx::query("SELECT 1")
        .execute(&mut app)
        .await
        .expect_err("the restart ended the session");
    let said = err.to_string();
    assert!(
        said.contains("terminating connection due to administrator command")
            || said.contains("communicating with database"),
        "{said}"
    );

    let mut fresh = cluster.session("postgres", "check").await;
    let after: f64 = sqlx::query(START)
        .fetch_one(&mut fresh)
        .await
        .unwrap()
        .get(0);
    assert!(after > before, "the start time moved: {before} → {after}");

    let report = diagnose(&url, json!({})).await;
    let f = find(&report, "postgres.uptime");
    assert_eq!(f.status, Status::Warn, "{f:#?}");
    let started = time::OffsetDateTime::from_unix_timestamp(after as i64).unwrap();
    assert!(
        f.summary.starts_with("PostgreSQL 1")
            && f.summary.contains(&format!(
                " restarted at {} (",
                medic_commands::format::utc_clock(started)
            )),
        "{f:#?}"
    );
    assert!(
        f.detail[0].contains("terminating connection due to administrator command"),
        "{f:#?}"
    );
}

#[tokio::test]
async fn a_streaming_replica_is_reported_by_the_primary_and_by_itself() {
    let Some(primary) = pg::Cluster::start(&[]) else {
        return;
    };
    let replica = primary.replica(&["cluster_name = 'medic_standby'", "hot_standby = on"]);
    let mut setup = primary.session("postgres", "setup").await;
    setup
        .execute("CREATE TABLE t AS SELECT generate_series(1, 1000) AS n")
        .await
        .unwrap();
    wait_until(
        &primary.url("postgres"),
        "SELECT count(*) = 1 FROM pg_stat_replication \
         WHERE application_name = 'medic_standby' AND state = 'streaming' \
         AND replay_lsn = pg_current_wal_lsn()",
    )
    .await;

    let report = diagnose(&primary.url("postgres"), json!({})).await;
    let f = find(&report, "postgres.replication");
    assert_eq!(f.status, Status::Ok, "{f:#?}");
    assert!(
        f.summary
            .starts_with("Replica medic_standby (127.0.0.1): streaming, "),
        "{f:#?}"
    );
    assert!(
        f.summary.ends_with("caught up") || f.summary.contains(" behind"),
        "bytes (and time) of lag: {f:#?}"
    );

    let report = diagnose(&replica.url("postgres"), json!({})).await;
    let f = find(&report, "postgres.replication");
    assert_eq!(f.status, Status::Ok, "{f:#?}");
    assert!(
        f.summary
            .starts_with("Replica streaming from 127.0.0.1, caught up"),
        "{f:#?}"
    );
    assert_eq!(find(&report, "postgres.reach").status, Status::Ok);

    // Replay paused on the replica while the primary writes: both sides
    // show the WAL not yet replayed.
    let mut standby = replica.session("postgres", "setup").await;
    standby
        .execute("SELECT pg_wal_replay_pause()")
        .await
        .unwrap();
    setup
        .execute("INSERT INTO t SELECT generate_series(1, 20000)")
        .await
        .unwrap();
    wait_until(
        &primary.url("postgres"),
        "SELECT count(*) = 1 FROM pg_stat_replication \
         WHERE flush_lsn = pg_current_wal_lsn() AND replay_lsn < flush_lsn",
    )
    .await;
    let report = diagnose(&primary.url("postgres"), json!({})).await;
    let f = find(&report, "postgres.replication");
    assert!(
        f.summary
            .starts_with("Replica medic_standby (127.0.0.1): streaming, ")
            && (f.summary.contains(" KiB behind") || f.summary.contains(" MiB behind")),
        "bytes of lag on the primary: {f:#?}"
    );
    let report = diagnose(&replica.url("postgres"), json!({})).await;
    let f = find(&report, "postgres.replication");
    assert!(
        f.summary.starts_with("Replica streaming from 127.0.0.1, ")
            && f.summary
                .contains(" received but not replayed, replay lag "),
        "the replica's own lag: {f:#?}"
    );
    standby
        .execute("SELECT pg_wal_replay_resume()")
        .await
        .unwrap();
    drop(standby);

    // The primary goes away: the replica says it no longer streams.
    drop(setup);
    drop(primary);
    wait_until(
        &replica.url("postgres"),
        "SELECT count(*) = 0 FROM pg_stat_wal_receiver WHERE status = 'streaming'",
    )
    .await;
    let report = diagnose(&replica.url("postgres"), json!({})).await;
    let f = find(&report, "postgres.replication");
    assert_eq!(f.status, Status::Critical, "{f:#?}");
    assert!(f.summary.starts_with("Replica not streaming"), "{f:#?}");
}

#[tokio::test]
async fn pg_stat_statements_lists_the_slowest_where_installed_and_says_so_where_not() {
    let Some(cluster) = pg::Cluster::start(&["shared_preload_libraries = 'pg_stat_statements'"])
    else {
        return;
    };
    let mut setup = cluster.session("postgres", "setup").await;
    setup
        .execute("CREATE EXTENSION pg_stat_statements")
        .await
        .unwrap();
    setup.execute("CREATE DATABASE plain").await.unwrap();
    // From here on, the slowest statement is the sleep.
    setup
        .execute("SELECT pg_stat_statements_reset()")
        .await
        .unwrap();
    for _ in 0..2 {
        setup.execute("SELECT pg_sleep(0.3)").await.unwrap();
    }

    let report = diagnose(&cluster.url("postgres"), json!({})).await;
    let f = find(&report, "postgres.statements");
    assert_eq!(f.status, Status::Ok, "{f:#?}");
    assert!(
        f.summary.starts_with("Slowest statement by mean time: ")
            && f.summary.ends_with(" per call over 2 calls"),
        "{f:#?}"
    );
    assert!(
        f.detail[0].ends_with(": SELECT pg_sleep($1)"),
        "the slowest is the sleep: {f:#?}"
    );

    let report = diagnose(&cluster.url("plain"), json!({})).await;
    let f = find(&report, "postgres.statements");
    assert_eq!(f.status, Status::Ok);
    assert_eq!(
        f.summary,
        "pg_stat_statements is not installed in this database, so slow statements were not listed"
    );
    assert_eq!(
        find(&report, "postgres.size").summary.split(':').next(),
        Some("Database plain")
    );
}

/// A database of the test's own on the shared server, named after the
/// test and this process, dropped first if a crashed run left it behind.
async fn own_database(url: &str, name: &str) -> String {
    let db = format!("medic_{name}_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
        )))
        .await
        .unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .await
        .unwrap();
    admin.close().await.unwrap();
    let mut u = url::Url::parse(url).unwrap();
    u.set_path(&db);
    u.to_string()
}

async fn drop_database(url: &str, db_url: &str) {
    let db = url::Url::parse(db_url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_string();
    let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
        )))
        .await
        .unwrap();
}

#[tokio::test]
async fn seq_scanned_and_bloated_tables_and_unused_and_duplicate_indexes_are_named() {
    let Some(url) = pg::shared_url().await else {
        return;
    };
    let db_url = own_database(&url, "query_health").await;
    let mut setup = sqlx::PgConnection::connect(&db_url).await.unwrap();
    setup
        .execute(
            "CREATE TABLE seq_heavy (id int, v int); \
             INSERT INTO seq_heavy SELECT g, g % 1000 FROM generate_series(1, 20000) g; \
             DO $$ BEGIN FOR i IN 1..150 LOOP PERFORM count(*) FROM seq_heavy WHERE v = i; END LOOP; END $$; \
             CREATE TABLE churn (id int, v int) WITH (autovacuum_enabled = off); \
             INSERT INTO churn SELECT g, 0 FROM generate_series(1, 20000) g; \
             UPDATE churn SET v = v + 1; \
             CREATE TABLE lookup (id int, code text); \
             INSERT INTO lookup SELECT g, md5(g::text) FROM generate_series(1, 50000) g; \
             CREATE INDEX lookup_code_idx ON lookup (code); \
             CREATE INDEX lookup_code_idx_dup ON lookup (code);",
        )
        .await
        .unwrap();
    // A session's statistics reach the server when it ends.
    setup.close().await.unwrap();
    wait_until(
        &db_url,
        "SELECT coalesce((SELECT seq_scan >= 150 FROM pg_stat_user_tables WHERE relname = 'seq_heavy'), false) \
         AND coalesce((SELECT n_dead_tup >= 20000 FROM pg_stat_user_tables WHERE relname = 'churn'), false)",
    )
    .await;

    let report = diagnose(&db_url, json!({})).await;

    let scans = find(&report, "postgres.seq_scans");
    assert_eq!(scans.status, Status::Warn, "{scans:#?}");
    assert!(
        scans
            .summary
            .starts_with("Table public.seq_heavy is read by sequential scans: "),
        "{scans:#?}"
    );
    assert!(
        scans.detail[0].starts_with("public.seq_heavy: ")
            && scans.detail[0].ends_with("20 000 live rows, no index at all"),
        "{scans:#?}"
    );

    let bloat = find(&report, "postgres.bloat");
    assert_eq!(bloat.status, Status::Warn, "{bloat:#?}");
    assert!(
        bloat.summary.starts_with(
            "Table public.churn is bloated: 20 000 dead rows (50 % of its rows), never autovacuumed"
        ),
        "{bloat:#?}"
    );
    assert!(
        bloat.detail[0].ends_with("autovacuum is off for this table (autovacuum_enabled = off)"),
        "{bloat:#?}"
    );

    let indexes: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.check == "postgres.indexes")
        .collect();
    assert_eq!(indexes.len(), 2, "{indexes:#?}");
    assert!(
        indexes[0].summary.starts_with(
            "Duplicate index: public.lookup_code_idx_dup is the same as public.lookup_code_idx ("
        ),
        "{indexes:#?}"
    );
    assert!(
        indexes[1].summary.starts_with("2 unused indexes ("),
        "{indexes:#?}"
    );
    assert!(
        indexes[1].detail[..2]
            .iter()
            .all(|d| d.contains("public.lookup_code_idx") && d.contains("USING btree (code)")),
        "{indexes:#?}"
    );
    // Without pg_stat_statements, the plan check says nothing.
    assert!(
        report.findings.iter().all(|f| f.check != "postgres.plan"),
        "{report:#?}"
    );
    drop_database(&url, &db_url).await;
}

#[tokio::test]
async fn the_slowest_query_of_pg_stat_statements_is_explained_without_running_it() {
    let Some(cluster) = pg::Cluster::start(&["shared_preload_libraries = 'pg_stat_statements'"])
    else {
        return;
    };
    let mut setup = cluster.session("postgres", "setup").await;
    setup
        .execute(
            "CREATE EXTENSION pg_stat_statements; \
             CREATE TABLE orders (id int PRIMARY KEY, customer int, note text); \
             INSERT INTO orders SELECT g, g, 'n' || g FROM generate_series(1, 20000) g; \
             ANALYZE orders",
        )
        .await
        .unwrap();
    setup
        .execute("SELECT pg_stat_statements_reset()")
        .await
        .unwrap();
    // The slowest by far: it sleeps 0.4 s for the one matching row, found
    // by a sequential scan (no index on customer). Bound as $1 and $2.
    for _ in 0..2 {
        sqlx::query("SELECT o.id, pg_sleep($2) FROM orders o WHERE o.customer = $1")
            .bind(7_i32)
            .bind(0.4_f64)
            .fetch_all(&mut setup)
            .await
            .unwrap();
    }
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&mut setup)
        .await
        .unwrap();

    let report = diagnose(&cluster.url("postgres"), json!({})).await;
    let f = find(&report, "postgres.plan");
    assert_eq!(f.status, Status::Ok, "{f:#?}");
    assert!(
        f.summary.starts_with("Plan of the slowest query (")
            && f.summary.ends_with(" mean): Seq Scan on orders o"),
        "{f:#?}"
    );
    assert_eq!(
        f.detail[0],
        "Statement: SELECT o.id, pg_sleep($2) FROM orders o WHERE o.customer = $1"
    );
    let plan = f.evidence.as_deref().unwrap_or("");
    assert!(plan.contains("Filter: (customer = $1)"), "{plan}");

    // Nothing ran: the table is as it was.
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&mut setup)
        .await
        .unwrap();
    assert_eq!(before, after);
    for check in [
        "postgres.statements",
        "postgres.size",
        "postgres.bloat",
        "postgres.indexes",
    ] {
        assert_ne!(find(&report, check).status, Status::Unknown, "{report:#?}");
    }

    // On one session, twice: the plan leaves nothing prepared (a second
    // PREPARE of the same name would fail) and no transaction open, and
    // a write is refused by the read-only transaction, not run.
    let plan = connect::Plan::new(
        &cluster.url("postgres"),
        "db".into(),
        Duration::from_secs(3),
        Duration::from_secs(3),
    )
    .unwrap();
    let session = connect::connect(&plan).await.unwrap();
    let slow = read::Statement {
        calls: 2,
        mean_ms: 200.0,
        total_ms: 400.0,
        query: "SELECT o.id, pg_sleep($2) FROM orders o WHERE o.customer = $1".into(),
        truncated: false,
    };
    for _ in 0..2 {
        let f = &explain::check(session.clone(), std::slice::from_ref(&slow), 150_000).await[0];
        assert!(f.summary.ends_with(": Seq Scan on orders o"), "{f:#?}");
    }
    let left = session
        .fetch_all(
            "SELECT (SELECT count(*) FROM pg_prepared_statements WHERE name = 'medic_plan') = 0 \
             AND NOT current_setting('transaction_read_only')::bool \
             AND current_setting('plan_cache_mode') = 'auto' AS clean",
        )
        .await
        .unwrap();
    assert!(left[0].get::<bool, _>("clean"), "nothing left behind");
    let insert = read::Statement {
        query: "INSERT INTO orders (id, customer) VALUES ($1, $2)".into(),
        ..slow
    };
    let f = &explain::check(session.clone(), &[insert], 150_000).await[0];
    assert!(
        f.summary.ends_with(": Insert on orders"),
        "planned, not run: {f:#?}"
    );
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&mut setup)
        .await
        .unwrap();
    assert_eq!(before, after);
}

#[test]
fn a_dedicated_server_is_stopped_even_when_its_test_panics() {
    let (tx, rx) = std::sync::mpsc::channel();
    let outcome = std::thread::spawn(move || {
        let Some(cluster) = pg::Cluster::start(&[]) else {
            return;
        };
        tx.send(cluster.port).unwrap();
        panic!("a failing test while its server runs");
    })
    .join();
    let Ok(port) = rx.try_recv() else {
        return; // skipped: PostgreSQL is not installed (outside CI)
    };
    assert!(outcome.is_err(), "the thread panicked");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens on {port} any more"
    );
}
