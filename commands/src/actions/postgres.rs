//! Purpose: the PostgreSQL built-ins, from the runbook's "too many
//! connections" and "blocked queries" steps: terminate sessions idle past
//! a limit, cancel the queries that block others.
//!
//! medic's own sessions are never touched: not the one running the
//! statement (`pg_backend_pid()`), nor any with an `application_name`
//! starting with `medic` (the diagnostics and medic's store set it).

use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Row};

use super::exec::Outcome;

async fn connect(url: &str, timeout: Duration) -> Result<PgConnection, String> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| format!("not a usable PostgreSQL URL ({e})"))?
        .application_name("medic-action");
    match tokio::time::timeout(timeout, options.connect()).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(format!("cannot connect: {e}")),
        Err(_) => Err("cannot connect: timed out".into()),
    }
}

fn failed(started: Instant, status: String) -> Outcome {
    Outcome {
        success: false,
        status,
        output: String::new(),
        duration: started.elapsed(),
    }
}

/// Terminates client sessions idle for at least `idle_for` (only those of
/// `application_name` when given). Succeeds when the statement ran, even
/// if nothing was idle: "nothing to do" is a fine answer.
pub async fn terminate_idle(
    url: &str,
    idle_for: Duration,
    application_name: Option<&str>,
    timeout: Duration,
) -> Outcome {
    let started = Instant::now();
    let mut conn = match connect(url, timeout).await {
        Ok(c) => c,
        Err(e) => return failed(started, e),
    };
    let sql = "SELECT pid, coalesce(application_name, '') AS app, coalesce(usename, '') AS who,
                      pg_terminate_backend(pid) AS done
               FROM pg_stat_activity
               WHERE backend_type = 'client backend' AND state = 'idle'
                 AND pid <> pg_backend_pid()
                 AND coalesce(application_name, '') NOT LIKE 'medic%'
                 AND state_change <= now() - make_interval(secs => $1)
                 AND ($2::text IS NULL OR application_name = $2)
               ORDER BY pid";
    let run = sqlx::query(sql)
        .bind(idle_for.as_secs_f64())
        .bind(application_name)
        .fetch_all(&mut conn);
    let rows = match tokio::time::timeout(timeout, run).await {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => return failed(started, format!("the statement failed: {e}")),
        Err(_) => return failed(started, "timed out".into()),
    };
    let mut lines = Vec::new();
    let mut done = 0;
    for r in &rows {
        let pid: i32 = r.try_get("pid").unwrap_or_default();
        let app: String = r.try_get("app").unwrap_or_default();
        let who: String = r.try_get("who").unwrap_or_default();
        let ok: bool = r.try_get("done").unwrap_or(false);
        done += usize::from(ok);
        lines.push(format!(
            "pid {pid} ({who}, {}): {}",
            if app.is_empty() {
                "no application_name"
            } else {
                &app
            },
            if ok { "terminated" } else { "not terminated" }
        ));
    }
    let _ = sqlx::Connection::close(conn).await;
    Outcome {
        success: true,
        status: format!("terminated {done} of {} idle session(s)", rows.len()),
        output: lines.join("\n"),
        duration: started.elapsed(),
    }
}

/// Cancels the statements of sessions that block a query waiting for a
/// lock longer than `blocked_for`.
pub async fn cancel_blocking(url: &str, blocked_for: Duration, timeout: Duration) -> Outcome {
    let started = Instant::now();
    let mut conn = match connect(url, timeout).await {
        Ok(c) => c,
        Err(e) => return failed(started, e),
    };
    let sql = "WITH blockers AS (
                 SELECT DISTINCT bp.pid
                 FROM pg_stat_activity w, unnest(pg_blocking_pids(w.pid)) AS bp(pid)
                 WHERE w.wait_event_type = 'Lock'
                   AND w.query_start <= now() - make_interval(secs => $1)
               )
               SELECT b.pid, coalesce(a.state, '') AS state, coalesce(a.application_name, '') AS app,
                      pg_cancel_backend(b.pid) AS done
               FROM blockers b JOIN pg_stat_activity a ON a.pid = b.pid
               WHERE b.pid <> pg_backend_pid() AND coalesce(a.application_name, '') NOT LIKE 'medic%'
               ORDER BY b.pid";
    let run = sqlx::query(sql)
        .bind(blocked_for.as_secs_f64())
        .fetch_all(&mut conn);
    let rows = match tokio::time::timeout(timeout, run).await {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => return failed(started, format!("the statement failed: {e}")),
        Err(_) => return failed(started, "timed out".into()),
    };
    let mut lines = Vec::new();
    for r in &rows {
        let pid: i32 = r.try_get("pid").unwrap_or_default();
        let state: String = r.try_get("state").unwrap_or_default();
        let app: String = r.try_get("app").unwrap_or_default();
        let note = if state.starts_with("idle in transaction") {
            " — idle in transaction: a cancel does not release its locks; terminate the session"
        } else {
            ""
        };
        lines.push(format!("pid {pid} ({app}, {state}): cancel sent{note}"));
    }
    let _ = sqlx::Connection::close(conn).await;
    Outcome {
        success: true,
        status: format!(
            "cancelled the statements of {} blocking session(s)",
            rows.len()
        ),
        output: lines.join("\n"),
        duration: started.elapsed(),
    }
}
