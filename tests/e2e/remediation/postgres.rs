//! `postgres.terminate_idle` against real idle sessions: a server of the
//! test's own near `max_connections` (pool exhaustion) offers the button;
//! a member of the group requests, another approves, the idle sessions
//! are gone from pg_stat_activity, and `medic audit` verifies the chain —
//! until a row is altered.

use std::process::Command;

use medic_tests::{Options, spawn_medic};
use sqlx::Connection;

use super::*;

use crate::pg;

const MEDIC: &str = env!("CARGO_BIN_EXE_medic-child");

fn audit_cli(url: &str) -> (i32, String) {
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(MEDIC)
        .arg("audit")
        .current_dir(cwd.path())
        .env("MEDIC__DATABASE__URL", url)
        .env_remove("MEDIC_CONFIG")
        .output()
        .expect("run medic audit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

async fn idle_api_sessions(url: &str) -> i64 {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'api'")
        .fetch_one(&mut c)
        .await
        .unwrap()
}

#[tokio::test]
async fn terminate_idle_ends_the_idle_sessions_once_approved() {
    let Some(cluster) = pg::Cluster::start(&["max_connections = 20"]) else {
        return;
    };
    // 17 idle sessions of "api" on a server of 20: pool exhaustion.
    let mut held = Vec::new();
    for _ in 0..17 {
        held.push(cluster.session("postgres", "api").await);
    }
    let url = cluster.url("postgres");
    assert_eq!(idle_api_sessions(&url).await, 17);
    let m = spawn_medic(Options {
        targets: format!("[targets.db]\nkind = \"postgres\"\nurl = \"{url}\"\n"),
        extra: format!(
            "{}\n[actions.kill-idle]\ntitle = \"Terminate idle connections\"\nkind = \"postgres.terminate_idle\"\n\
             idle_for = \"0s\"\napplication_name = \"api\"\noffered_on = [\"db\"]\n\
             may_request = [\"group:sre\"]\nmay_approve = [\"group:sre\"]\napprovals = 1\n",
            groups()
        ),
        ..Default::default()
    })
    .await;
    assert_eq!(m.slash("/diag", "db").await.status(), 200);
    let (offer, thread) = wait_for_buttons(&m, "medic.request", 1).await.remove(0);

    press(&m, MALLORY, "medic.request", &offer, &thread).await;
    let said = m.slack.wait_for_ephemerals(MALLORY, 1, LIMIT).await;
    assert!(said[0].contains("may_request"), "{said:?}");

    press(&m, ALICE, "medic.request", &offer, &thread).await;
    let (request, _) = wait_for_buttons(&m, "medic.approve", 1).await.remove(0);
    press(&m, BOB, "medic.approve", &request, &thread).await;
    let status = m
        .slack
        .wait_for_message(CHANNEL, LIMIT, |t| {
            t.contains("Terminate idle connections")
                && (t.contains("succeeded") || t.contains("failed"))
        })
        .await;
    assert!(
        status.contains("terminated 17 of 17 idle session(s)"),
        "{status}"
    );
    assert!(
        status.contains("Before:") && status.contains("After:"),
        "{status}"
    );
    assert_eq!(idle_api_sessions(&url).await, 0);
    drop(held);

    let events = audited_events(&m).await;
    assert!(events.iter().any(|e| e == "succeeded"), "{events:?}");

    // The CLI verifies the same chain; altering a row breaks it there.
    let db_url = m.db.url().to_string();
    let backend = m.db.backend();
    let (code, out) = audit_cli(&db_url);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Audit chain verified"), "{out}");
    let pool = sqlx::AnyPool::connect(&db_url).await.unwrap();
    let unguard = if backend == "sqlite" {
        "DROP TRIGGER audit_log_no_update"
    } else {
        "DROP TRIGGER audit_log_no_change ON audit_log"
    };
    // The table refuses edits until its guard is dropped.
    assert!(
        sqlx::query("UPDATE audit_log SET actor = 'U0MALLORY' WHERE event = 'approved'")
            .execute(&pool)
            .await
            .is_err()
    );
    sqlx::query(unguard).execute(&pool).await.unwrap();
    sqlx::query("UPDATE audit_log SET actor = 'U0MALLORY' WHERE event = 'approved'")
        .execute(&pool)
        .await
        .unwrap();
    let seq: i64 = sqlx::query_scalar("SELECT seq FROM audit_log WHERE event = 'approved'")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    let (code, out) = audit_cli(&db_url);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("BROKEN at row #{seq}")), "{out}");
    m.stop().await.unwrap();
}
