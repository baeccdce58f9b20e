//! The action kinds against real things: the PostgreSQL built-ins on a
//! server of the test's own (idle sessions of several applications, medic's
//! own sessions, a row lock held and waited on), and the `http` kind
//! against a loopback server that records what it got.

#[path = "support/pg.rs"]
mod pg;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use medic_commands::actions::{Action, ActionConfig};
use medic_commands::diagnostics::postgres::PostgresTarget;
use medic_commands::diagnostics::{SecretUrl, TargetSpec};
use sqlx::{Connection, Executor, Row};

/// The PostgreSQL target a built-in acts on.
fn postgres_at(url: &str) -> TargetSpec {
    TargetSpec::Postgres(PostgresTarget::at(SecretUrl::parse(url).expect("a URL")))
}

fn action(raw: ActionConfig) -> Action {
    Action::parse(
        "a",
        &ActionConfig {
            title: "A".into(),
            offered_on: vec!["db".into()],
            may_request: vec!["U1".into()],
            timeout: Some("20s".into()),
            ..raw
        },
    )
    .expect("valid action")
}

/// Polls until `sql` (a count) answers 1: a session reached the state the
/// test needs. Bounded only to catch a hang.
async fn wait_for_one(url: &str, sql: &'static str) {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    for _ in 0..400 {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap();
        if n == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never true: {sql}");
}

/// The sessions of `app` once they settle at `want`, or what is left after
/// a bounded wait. `pg_terminate_backend` only signals a backend: it
/// leaves `pg_stat_activity` a moment later, so an immediate count can
/// still see it.
async fn sessions_settle(url: &str, app: &str, want: i64) -> i64 {
    let mut n = sessions_of(url, app).await;
    for _ in 0..400 {
        if n == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        n = sessions_of(url, app).await;
    }
    n
}

async fn sessions_of(url: &str, app: &str) -> i64 {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
        .bind(app)
        .fetch_one(&mut c)
        .await
        .unwrap()
}

#[tokio::test]
async fn terminate_idle_takes_only_the_named_idle_sessions_and_never_medics() {
    let Some(cluster) = pg::Cluster::start(&[]) else {
        return;
    };
    let url = cluster.url("postgres");
    let mut held = Vec::new();
    for app in ["api", "api", "api", "worker", "medic"] {
        held.push(cluster.session("postgres", app).await);
    }
    // An "api" session busy in a statement is not idle.
    let mut busy = cluster.session("postgres", "api").await;
    let sleeping = tokio::spawn(async move {
        let _ = busy.execute("SELECT pg_sleep(60)").await;
        busy
    });
    wait_for_one(
        &url,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'api' AND state = 'active'",
    )
    .await;

    let a = action(ActionConfig {
        kind: "postgres.terminate_idle".into(),
        idle_for: Some("0s".into()),
        application_name: Some("api".into()),
        ..Default::default()
    });
    let out = a.execute(&BTreeMap::new(), Some(&postgres_at(&url))).await;
    assert!(out.success, "{out:?}");
    assert_eq!(out.status, "terminated 3 of 3 idle session(s)", "{out:?}");
    assert_eq!(out.output.lines().count(), 3, "{}", out.output);
    assert_eq!(
        sessions_settle(&url, "api", 1).await,
        1,
        "the busy one stays"
    );
    assert_eq!(sessions_of(&url, "worker").await, 1);
    assert_eq!(sessions_of(&url, "medic").await, 1);

    // Without a filter: every idle session but medic's.
    let all = action(ActionConfig {
        kind: "postgres.terminate_idle".into(),
        idle_for: Some("0s".into()),
        ..Default::default()
    });
    let out = all
        .execute(&BTreeMap::new(), Some(&postgres_at(&url)))
        .await;
    assert!(out.success, "{out:?}");
    assert_eq!(sessions_settle(&url, "worker", 0).await, 0);
    assert_eq!(
        sessions_of(&url, "medic").await,
        1,
        "medic's own session survives"
    );

    // Sessions idle for less than idle_for are left alone.
    let _fresh = cluster.session("postgres", "worker").await;
    let patient = action(ActionConfig {
        kind: "postgres.terminate_idle".into(),
        idle_for: Some("10m".into()),
        ..Default::default()
    });
    let out = patient
        .execute(&BTreeMap::new(), Some(&postgres_at(&url)))
        .await;
    assert_eq!(out.status, "terminated 0 of 0 idle session(s)", "{out:?}");
    assert_eq!(sessions_of(&url, "worker").await, 1);
    sleeping.abort();
    drop(held);
}

#[tokio::test]
async fn cancel_blocking_cancels_the_statement_that_holds_the_lock() {
    let Some(cluster) = pg::Cluster::start(&[]) else {
        return;
    };
    let url = cluster.url("postgres");
    let mut setup = cluster.session("postgres", "setup").await;
    setup
        .execute("CREATE TABLE t (id int primary key, v int); INSERT INTO t VALUES (1, 0)")
        .await
        .unwrap();
    // The blocker updates the row and then sleeps inside its statement, so
    // a cancel ends the statement (and its transaction, releasing the lock).
    let mut blocker = cluster.session("postgres", "blocker").await;
    let holding = tokio::spawn(async move {
        blocker
            .execute("WITH u AS (UPDATE t SET v = 1 WHERE id = 1 RETURNING 1) SELECT pg_sleep(30) FROM u")
            .await
    });
    wait_for_one(
        &url,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'blocker' AND query LIKE '%pg_sleep%' AND state = 'active'",
    )
    .await;
    let mut waiter = cluster.session("postgres", "waiter").await;
    let waiting =
        tokio::spawn(async move { waiter.execute("UPDATE t SET v = 2 WHERE id = 1").await });
    wait_for_one(
        &url,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'waiter' AND wait_event_type = 'Lock'",
    )
    .await;
    let a = action(ActionConfig {
        kind: "postgres.cancel_blocking".into(),
        blocked_for: Some("0s".into()),
        ..Default::default()
    });
    let out = a.execute(&BTreeMap::new(), Some(&postgres_at(&url))).await;
    assert!(out.success, "{out:?}");
    assert_eq!(
        out.status, "cancelled the statements of 1 blocking session(s)",
        "{out:?}"
    );
    assert!(out.output.contains("(blocker, active)"), "{}", out.output);
    let blocked = tokio::time::timeout(Duration::from_secs(20), holding)
        .await
        .expect("the blocker's statement ended")
        .unwrap();
    let err = blocked.expect_err("cancelled");
    assert!(
        err.to_string()
            .contains("canceling statement due to user request"),
        "{err}"
    );
    tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("the waiter went on")
        .unwrap()
        .expect("the waiter's update succeeded");
    let v: i32 = setup
        .fetch_one("SELECT v FROM t WHERE id = 1")
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 2);
}

#[tokio::test]
async fn http_sends_headers_from_the_environment_and_an_escaped_body() {
    type Seen = Arc<Mutex<Vec<(Option<String>, String)>>>;
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route(
            "/rollback",
            axum::routing::post(
                |axum::extract::State(seen): axum::extract::State<Seen>,
                 headers: axum::http::HeaderMap,
                 body: String| async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    seen.lock().unwrap().push((auth.clone(), body));
                    format!("rolled back (you sent {})", auth.unwrap_or_default())
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    // SAFETY: set before anything reads it; no other test uses this name.
    unsafe { std::env::set_var("MEDIC_TEST_ROLLBACK_TOKEN", "Bearer s3cr3t-t0ken") };
    let a = action(ActionConfig {
        kind: "http".into(),
        url: Some(format!("http://{addr}/rollback")),
        headers: BTreeMap::from([("Authorization".into(), "MEDIC_TEST_ROLLBACK_TOKEN".into())]),
        body: Some(r#"{"service":"{target}"}"#.into()),
        ..Default::default()
    });
    let values = BTreeMap::from([("target".to_string(), "api\",\"all\":\"true".to_string())]);
    let out = a.execute(&values, None).await;
    assert!(out.success, "{out:?}");
    assert_eq!(out.status, "HTTP 200");
    // The endpoint echoed the token; it does not reach the output.
    assert_eq!(out.output, "rolled back (you sent ••••)");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0.as_deref(), Some("Bearer s3cr3t-t0ken"));
    let body: serde_json::Value = serde_json::from_str(&seen[0].1).unwrap();
    assert_eq!(body, serde_json::json!({"service": "api\",\"all\":\"true"}));

    // A missing variable fails before any request is made.
    let missing = action(ActionConfig {
        kind: "http".into(),
        url: Some(format!("http://{addr}/rollback")),
        headers: BTreeMap::from([("Authorization".into(), "MEDIC_TEST_NO_SUCH_VAR".into())]),
        ..Default::default()
    });
    let out = missing.execute(&BTreeMap::new(), None).await;
    assert!(!out.success);
    assert!(
        out.status.contains("MEDIC_TEST_NO_SUCH_VAR is not set"),
        "{out:?}"
    );
}
