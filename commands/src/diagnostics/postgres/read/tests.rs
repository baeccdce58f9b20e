//! The reading rules, row by row, with rows shaped like the real views'.

use super::*;
use crate::Status;

fn count(state: &str, application: &str, sessions: i64) -> SessionCount {
    SessionCount {
        state: state.into(),
        application: application.into(),
        sessions,
    }
}

#[test]
fn an_old_server_is_ok_and_a_recent_restart_explains_terminated_connections() {
    let old = Uptime {
        version: "15.4 (Debian 15.4-1.pgdg120+1)".into(),
        started_epoch: 1_769_841_127.0 - 41.0 * 86_400.0,
        uptime_secs: 41.0 * 86_400.0,
    };
    let f = uptime(&old);
    assert_eq!(f.status, Status::Ok);
    assert_eq!(
        f.summary,
        "PostgreSQL 15.4, up 41 days (since 06:32:07 UTC)"
    );

    let fresh = Uptime {
        version: "15.4".into(),
        started_epoch: 1_769_841_127.0,
        uptime_secs: 180.0,
    };
    let f = uptime(&fresh);
    assert_eq!(f.status, Status::Warn);
    assert_eq!(
        f.summary,
        "PostgreSQL 15.4 restarted at 06:32:07 UTC (3 min ago)"
    );
    assert!(
        f.detail[0].contains("terminating connection due to administrator command"),
        "{f:?}"
    );
    // The boundary: one hour is no longer recent.
    let hour = Uptime {
        uptime_secs: 3600.0,
        ..fresh
    };
    assert_eq!(uptime(&hour).status, Status::Ok);
}

#[test]
fn connections_escalate_at_80_and_95_percent_with_who_holds_them() {
    let rows = [
        count("idle", "api", 50),
        count("active", "api", 10),
        count("idle", "worker", 19),
    ];
    let f = connections(&rows, 100, 3);
    assert_eq!(f.status, Status::Ok, "79 of 100");
    assert_eq!(f.summary, "Connections 79/100 (79 %)");
    assert_eq!(f.detail[0], "By state: idle 69, active 10");
    assert_eq!(f.detail[1], "By application: api 60, worker 19");

    let rows = [count("idle", "api", 70), count("active", "worker", 10)];
    let f = connections(&rows, 100, 3);
    assert_eq!(f.status, Status::Warn, "80 of 100");
    assert!(
        f.detail.iter().any(|d| d.contains("refused past 97")),
        "{f:?}"
    );
    assert!(
        f.detail.iter().any(|d| d.contains("70 of them are idle")),
        "{f:?}"
    );

    let rows = [count("active", "api", 95)];
    let f = connections(&rows, 100, 3);
    assert_eq!(f.status, Status::Critical, "95 of 100: pool exhaustion");
    assert!(!f.detail.iter().any(|d| d.contains("idle")), "{f:?}");
}

#[test]
fn sessions_hidden_from_medic_are_counted_and_explained() {
    let rows = [count("active", "medic", 1), count("unknown", "api", 4)];
    let f = connections(&rows, 100, 3);
    assert_eq!(f.status, Status::Ok);
    assert!(
        f.detail[2].starts_with("4 sessions are other users' and hidden from medic's role")
            && f.detail[2].ends_with("GRANT pg_monitor TO the medic user to see them."),
        "{f:#?}"
    );
}

#[test]
fn many_applications_are_summed_past_the_first_five() {
    let rows: Vec<SessionCount> = (0..8)
        .map(|i| count("idle", &format!("app{i}"), 10 - i))
        .collect();
    let f = connections(&rows, 1000, 3);
    assert_eq!(
        f.detail[1],
        "By application: app0 10, app1 9, app2 8, app3 7, app4 6, others 12"
    );
}

fn idle(pid: i32, idle_secs: f64) -> IdleSession {
    IdleSession {
        pid,
        usename: "app".into(),
        application: "api".into(),
        client: "10.0.1.5".into(),
        state: "idle in transaction".into(),
        idle_secs,
        xact_secs: idle_secs + 2.0,
        query: "UPDATE orders\n   SET state = 'paid'\n WHERE id = 7".into(),
    }
}

#[test]
fn idle_in_transaction_counts_only_sessions_past_the_threshold() {
    let limit = Duration::from_secs(60);
    let f = idle_in_transaction(&[idle(10, 59.0)], limit);
    assert_eq!(f.status, Status::Ok);
    assert_eq!(
        f.summary,
        "No session idle in a transaction for more than 1 min"
    );

    let f = idle_in_transaction(&[idle(11, 600.0), idle(12, 61.0), idle(13, 5.0)], limit);
    assert_eq!(f.status, Status::Warn);
    assert_eq!(
        f.summary,
        "2 sessions idle in a transaction for more than 1 min (longest 10 min)"
    );
    assert_eq!(
        f.detail[0],
        "pid 11 (api, app, 10.0.1.5): idle in transaction for 10 min, transaction open 10 min; last query: UPDATE orders SET state = 'paid' WHERE id = 7"
    );
    assert!(f.detail[1].starts_with("pid 12 "), "{f:?}");
    assert!(!f.detail.iter().any(|d| d.starts_with("pid 13")), "{f:?}");
}

#[test]
fn hidden_queries_suggest_pg_monitor() {
    let mut s = idle(1, 120.0);
    s.query = "<insufficient privilege>".into();
    let f = idle_in_transaction(&[s], Duration::from_secs(60));
    assert!(f.detail.iter().any(|d| d.contains("pg_monitor")), "{f:?}");
}

fn running(pid: i32, secs: f64, query: &str) -> Running {
    Running {
        pid,
        usename: "report".into(),
        application: "metabase".into(),
        secs,
        waiting_on: String::new(),
        query: query.into(),
    }
}

#[test]
fn long_queries_name_pid_duration_and_text() {
    let limit = Duration::from_secs(30);
    let f = long_queries(&[running(7, 3.0, "SELECT 1")], limit);
    assert_eq!(f.status, Status::Ok);
    assert_eq!(
        f.summary,
        "No query running longer than 30 s (1 running now)"
    );

    let mut waiting = running(8, 45.0, "UPDATE t SET x = 1");
    waiting.waiting_on = "Lock:transactionid".into();
    let f = long_queries(
        &[
            running(9, 7200.0, "SELECT * FROM big JOIN bigger USING (id)"),
            waiting,
        ],
        limit,
    );
    assert_eq!(f.status, Status::Warn);
    assert_eq!(
        f.summary,
        "2 queries running longer than 30 s (longest 2 h)"
    );
    assert_eq!(
        f.detail[0],
        "pid 9 (metabase, report) for 2 h: SELECT * FROM big JOIN bigger USING (id)"
    );
    assert_eq!(
        f.detail[1],
        "pid 8 (metabase, report) for 45 s, waiting on Lock:transactionid: UPDATE t SET x = 1"
    );
}

fn edge(blocked: i32, blocking: i32, blocking_state: &str) -> Blocked {
    Blocked {
        blocked_pid: blocked,
        blocked_application: "api".into(),
        blocked_secs: 12.0,
        blocked_query: "UPDATE accounts SET balance = 0 WHERE id = 1".into(),
        waiting_for: "ShareLock on transactionid".into(),
        blocking_pid: blocking,
        blocking_application: "psql".into(),
        blocking_state: blocking_state.into(),
        blocking_xact_secs: 300.0,
        blocking_query: "UPDATE accounts SET balance = 1 WHERE id = 1".into(),
    }
}

#[test]
fn no_waiters_is_ok() {
    let f = locks(&[]);
    assert_eq!(f.status, Status::Ok);
}

#[test]
fn a_lock_chain_names_who_blocks_whom_and_the_head_first() {
    // 300 waits on 200, which waits on 100 (idle in transaction): 100 is
    // the head of the chain.
    let edges = [
        edge(200, 100, "idle in transaction"),
        edge(300, 200, "active"),
    ];
    let f = locks(&edges);
    assert_eq!(f.status, Status::Warn);
    assert_eq!(f.summary, "2 sessions blocked by pid 100");
    assert_eq!(
        f.detail[0],
        "pid 200 (api) has waited 12 s for ShareLock on transactionid: UPDATE accounts SET balance = 0 WHERE id = 1 — blocked by pid 100 (psql, idle in transaction, transaction open 5 min): UPDATE accounts SET balance = 1 WHERE id = 1"
    );
    assert!(
        f.detail
            .iter()
            .any(|d| d.contains("idle in its transaction"))
    );
    assert_eq!(
        f.detail.last().unwrap(),
        "To release them: SELECT pg_terminate_backend(100); (rolls back its transaction)"
    );
}

#[test]
fn two_independent_blockers_are_both_named_and_a_cycle_is_said() {
    let f = locks(&[edge(2, 1, "active"), edge(4, 3, "active")]);
    assert_eq!(f.summary, "2 sessions blocked; blocking pids 1, 3");
    let f = locks(&[edge(1, 2, "active"), edge(2, 1, "active")]);
    assert_eq!(f.summary, "2 sessions waiting on locks in a cycle");
}

fn replica(state: &str, bytes: Option<f64>, secs: Option<f64>) -> Replica {
    Replica {
        name: "standby1".into(),
        client: "10.0.1.2".into(),
        state: state.into(),
        sync_state: "async".into(),
        lag_bytes: bytes,
        replay_lag_secs: secs,
    }
}

#[test]
fn replicas_on_a_primary_report_bytes_and_time() {
    let fs = replicas(&[]);
    assert_eq!(fs[0].status, Status::Ok);
    assert!(fs[0].summary.contains("no replica connected"));

    let fs = replicas(&[replica("streaming", Some(0.0), None)]);
    assert_eq!(fs[0].status, Status::Ok);
    assert_eq!(
        fs[0].summary,
        "Replica standby1 (10.0.1.2): streaming, caught up"
    );

    let fs = replicas(&[
        replica("streaming", Some(2048.0), Some(0.5)),
        replica("streaming", Some(10.0 * 1024.0 * 1024.0), Some(45.0)),
        replica("streaming", Some(1e9), Some(600.0)),
        replica("catchup", Some(0.0), None),
    ]);
    assert_eq!(
        fs[0].summary,
        "Replica standby1 (10.0.1.2): streaming, 2.0 KiB behind, replay lag 500 ms"
    );
    assert_eq!(
        fs.iter().map(|f| f.status).collect::<Vec<_>>(),
        [Status::Ok, Status::Warn, Status::Critical, Status::Warn]
    );
}

#[test]
fn a_replica_reads_its_own_lag_and_an_idle_primary_is_not_lag() {
    let me = ReplicaSelf {
        pending_bytes: Some(0.0),
        last_replay_secs: Some(3600.0),
        receiver: Some("streaming".into()),
        sender: Some("10.0.1.1".into()),
    };
    let f = replica_self(&me);
    assert_eq!(
        f.status,
        Status::Ok,
        "an hour-old transaction with nothing pending is a quiet primary"
    );
    assert_eq!(
        f.summary,
        "Replica streaming from 10.0.1.1, caught up: nothing left to replay (last replayed transaction 60 min 0 s ago)"
    );

    let behind = ReplicaSelf {
        pending_bytes: Some(5.0 * 1024.0 * 1024.0),
        last_replay_secs: Some(90.0),
        ..me.clone()
    };
    let f = replica_self(&behind);
    assert_eq!(f.status, Status::Warn);
    assert_eq!(
        f.summary,
        "Replica streaming from 10.0.1.1, 5.0 MiB received but not replayed, replay lag 1 min 30 s"
    );

    let cut = ReplicaSelf {
        receiver: None,
        sender: None,
        ..me
    };
    let f = replica_self(&cut);
    assert_eq!(f.status, Status::Critical);
    assert_eq!(f.summary, "Replica not streaming (no WAL receiver)");
}

#[test]
fn statements_list_the_slowest_or_say_why_not() {
    let f = statements(&Statements::NotInstalled);
    assert_eq!(f.status, Status::Ok, "a plain note");
    assert!(f.summary.contains("not installed"));
    assert!(f.detail[0].contains("CREATE EXTENSION pg_stat_statements"));
    assert!(
        statements(&Statements::NotLoaded)
            .summary
            .contains("not loaded")
    );

    let f = statements(&Statements::Top(vec![
        Statement {
            calls: 12,
            mean_ms: 2500.0,
            total_ms: 30000.0,
            query: "SELECT pg_sleep($1)".into(),
            truncated: false,
        },
        Statement {
            calls: 1000,
            mean_ms: 0.02,
            total_ms: 20.0,
            query: "SELECT $1".into(),
            truncated: false,
        },
    ]));
    assert_eq!(
        f.summary,
        "Slowest statement by mean time: 2.5 s per call over 12 calls"
    );
    assert_eq!(
        f.detail[0],
        "2.5 s mean, 12 calls, 30.0 s total: SELECT pg_sleep($1)"
    );
    assert_eq!(
        f.detail[1],
        "0.020 ms mean, 1000 calls, 20 ms total: SELECT $1"
    );
}

#[test]
fn database_size_is_in_binary_units() {
    assert_eq!(
        database_size("orders", 8 * 1024 * 1024 * 1024 + 1).summary,
        "Database orders: 8.0 GiB"
    );
}
