//! The reading of what the server said: rows in, findings out. Pure (the
//! thresholds and "now" are arguments), so every rule is unit-tested in
//! [`tests`] without a server, and the integration tests only have to show
//! that real rows arrive here.

use std::time::Duration;

use time::OffsetDateTime;

use crate::format::{human_age, human_bytes, human_duration, percent, utc_clock};
use crate::model::report::{Finding, Status};

#[cfg(test)]
mod tests;

/// A restart more recent than this is a warning: every client lost its
/// connection with "terminating connection due to administrator command".
pub const RECENT_RESTART: Duration = Duration::from_secs(3600);
/// Share of `max_connections` in use at which a warning is raised.
pub const WARN_RATIO: f64 = 0.80;
/// Share of `max_connections` at which it is critical: new connections are
/// about to be refused ("too many clients already").
pub const CRITICAL_RATIO: f64 = 0.95;
/// Replication lag (time) at which a replica is a warning.
pub const LAG_WARN: Duration = Duration::from_secs(30);
/// Replication lag (time) at which a replica is critical.
pub const LAG_CRITICAL: Duration = Duration::from_secs(300);
/// Unreplayed WAL at which a replica is a warning even when its time lag is
/// unknown (1 GiB: minutes of catching up on most links).
pub const LAG_BYTES_WARN: f64 = 1024.0 * 1024.0 * 1024.0;
/// How many sessions a finding lists by name before "and N more".
pub const LISTED: usize = 5;

/// What pg_stat_activity shows when medic's user may not see another
/// user's query.
const NO_PRIVILEGE: &str = "<insufficient privilege>";
/// How to let medic see other users' sessions.
const GRANT_MONITOR: &str = "Some sessions belong to other users and their queries are hidden; GRANT pg_monitor TO the medic user to see them.";

/// Version and start time of the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Uptime {
    /// `server_version`, e.g. "15.4 (Debian 15.4-1)".
    pub version: String,
    /// `pg_postmaster_start_time()` as Unix seconds.
    pub started_epoch: f64,
    /// Seconds since then, by the server's clock.
    pub uptime_secs: f64,
}

/// Version and uptime; a start within [`RECENT_RESTART`] is a warning that
/// says what clients saw.
pub fn uptime(u: &Uptime) -> Finding {
    let up = u.uptime_secs.max(0.0) as u64;
    let started = OffsetDateTime::from_unix_timestamp(u.started_epoch as i64)
        .map(utc_clock)
        .unwrap_or_else(|_| "?".into());
    if Duration::from_secs(up) < RECENT_RESTART {
        Finding::warn(
            "postgres.uptime",
            format!(
                "PostgreSQL {} restarted at {started} ({} ago)",
                short_version(&u.version),
                human_age(up)
            ),
        )
        .with_detail(
            "A restart ends every session: applications saw \"terminating connection due to administrator command\" (or \"the database system is shutting down\") and reconnected.",
        )
        .with_detail("Why it restarted: journalctl -u postgresql, the server log, and the apt history for a postgresql upgrade.")
        .at_opt(OffsetDateTime::from_unix_timestamp(u.started_epoch as i64).ok())
    } else {
        Finding::ok(
            "postgres.uptime",
            format!(
                "PostgreSQL {}, up {} (since {started})",
                short_version(&u.version),
                human_age(up)
            ),
        )
    }
}

/// "15.18" of "15.18 (Debian 15.18-0+deb12u1)": the packaging suffix is
/// noise in a one-line summary.
fn short_version(version: &str) -> &str {
    version.split_whitespace().next().unwrap_or(version)
}

/// One `GROUP BY state, application_name` row of pg_stat_activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCount {
    /// `active`, `idle`, `idle in transaction`, … (`unknown` when hidden).
    pub state: String,
    /// `application_name`, or a placeholder when unset.
    pub application: String,
    /// How many client sessions.
    pub sessions: i64,
}

/// Client sessions against `max_connections`: warning at 80 %, critical at
/// 95 % (pool exhaustion), with the split by state and by application that
/// says who holds them.
pub fn connections(rows: &[SessionCount], max_connections: i64, reserved: i64) -> Finding {
    let total: i64 = rows.iter().map(|r| r.sessions).sum();
    let max = max_connections.max(1);
    let ratio = total as f64 / max as f64;
    let status = Status::by_level(ratio, WARN_RATIO, CRITICAL_RATIO);
    let mut f = Finding::new(
        "postgres.connections",
        status,
        format!(
            "Connections {total}/{max_connections} ({})",
            percent(total.max(0) as u64, max as u64)
        ),
    );
    let by_state = ranked(rows.iter().map(|r| (r.state.clone(), r.sessions)));
    if !by_state.is_empty() {
        f = f.with_detail(format!("By state: {}", listing(&by_state)));
    }
    let by_app = ranked(rows.iter().map(|r| (r.application.clone(), r.sessions)));
    if !by_app.is_empty() {
        f = f.with_detail(format!("By application: {}", listing(&by_app)));
    }
    let hidden: i64 = rows
        .iter()
        .filter(|r| r.state == "unknown")
        .map(|r| r.sessions)
        .sum();
    if hidden > 0 {
        f = f.with_detail(format!(
            "{hidden} {} other users' and hidden from medic's role: their state and queries are not checked. GRANT pg_monitor TO the medic user to see them.",
            if hidden == 1 { "session is" } else { "sessions are" }
        ));
    }
    if status != Status::Ok {
        let ordinary = max_connections - reserved;
        f = f.with_detail(format!(
            "Ordinary users are refused past {ordinary} ({reserved} slots are reserved for superusers): \"sorry, too many clients already\", or the application's pool times out waiting."
        ));
        let idle: i64 = rows
            .iter()
            .filter(|r| r.state == "idle")
            .map(|r| r.sessions)
            .sum();
        if idle * 2 >= total {
            f = f.with_detail(format!(
                "{idle} of them are idle: pools holding connections they do not use; lower the pool sizes or put PgBouncer in front."
            ));
        }
    }
    f
}

/// Sums counts by key, largest first (ties by name).
fn ranked(items: impl Iterator<Item = (String, i64)>) -> Vec<(String, i64)> {
    let mut sums: std::collections::BTreeMap<String, i64> = Default::default();
    for (k, n) in items {
        *sums.entry(k).or_default() += n;
    }
    let mut v: Vec<(String, i64)> = sums.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

fn listing(items: &[(String, i64)]) -> String {
    let mut parts: Vec<String> = items
        .iter()
        .take(LISTED)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if items.len() > LISTED {
        let rest: i64 = items[LISTED..].iter().map(|(_, n)| n).sum();
        parts.push(format!("others {rest}"));
    }
    parts.join(", ")
}

/// A session idle inside an open transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct IdleSession {
    /// Backend pid.
    pub pid: i32,
    /// Role.
    pub usename: String,
    /// `application_name`.
    pub application: String,
    /// Client address or `local`.
    pub client: String,
    /// `idle in transaction` or `idle in transaction (aborted)`.
    pub state: String,
    /// Seconds since it went idle.
    pub idle_secs: f64,
    /// Seconds since its transaction began.
    pub xact_secs: f64,
    /// The last statement it ran (first 200 characters).
    pub query: String,
}

/// Sessions idle in a transaction for longer than `threshold`: they hold
/// their locks and keep VACUUM from cleaning up while nobody works.
pub fn idle_in_transaction(rows: &[IdleSession], threshold: Duration) -> Finding {
    let over: Vec<&IdleSession> = rows
        .iter()
        .filter(|r| r.idle_secs >= threshold.as_secs_f64())
        .collect();
    let limit = limit_words(threshold);
    if over.is_empty() {
        return Finding::ok(
            "postgres.idle_in_transaction",
            format!("No session idle in a transaction for more than {limit}"),
        );
    }
    let mut f = Finding::warn(
        "postgres.idle_in_transaction",
        format!(
            "{} {} idle in a transaction for more than {limit} (longest {})",
            over.len(),
            if over.len() == 1 {
                "session"
            } else {
                "sessions"
            },
            human_age(over[0].idle_secs as u64)
        ),
    );
    for r in over.iter().take(LISTED) {
        f = f.with_detail(format!(
            "pid {} ({}, {}, {}): {} for {}, transaction open {}; last query: {}",
            r.pid,
            or_dash(&r.application),
            or_dash(&r.usename),
            r.client,
            r.state,
            human_age(r.idle_secs as u64),
            human_age(r.xact_secs as u64),
            one_line(&r.query)
        ));
    }
    if over.len() > LISTED {
        f = f.with_detail(format!("and {} more", over.len() - LISTED));
    }
    f = f.with_detail("They hold their locks and block VACUUM. An application that BEGINs and then waits on something else (an HTTP call, a queue) does this; idle_in_transaction_session_timeout ends them.");
    if over.iter().any(|r| r.query == NO_PRIVILEGE) {
        f = f.with_detail(GRANT_MONITOR);
    }
    f
}

/// A statement running now.
#[derive(Debug, Clone, PartialEq)]
pub struct Running {
    /// Backend pid.
    pub pid: i32,
    /// Role.
    pub usename: String,
    /// `application_name`.
    pub application: String,
    /// Seconds since the statement began.
    pub secs: f64,
    /// `Lock:transactionid`, `Timeout:PgSleep`, or empty when on CPU.
    pub waiting_on: String,
    /// The statement (first 200 characters).
    pub query: String,
}

/// Statements running longer than `threshold`: pid, duration and the
/// first 200 characters of each.
pub fn long_queries(rows: &[Running], threshold: Duration) -> Finding {
    let over: Vec<&Running> = rows
        .iter()
        .filter(|r| r.secs >= threshold.as_secs_f64())
        .collect();
    let limit = limit_words(threshold);
    if over.is_empty() {
        return Finding::ok(
            "postgres.long_queries",
            format!(
                "No query running longer than {limit} ({} running now)",
                rows.len()
            ),
        );
    }
    let mut f = Finding::warn(
        "postgres.long_queries",
        format!(
            "{} {} running longer than {limit} (longest {})",
            over.len(),
            if over.len() == 1 { "query" } else { "queries" },
            human_age(over[0].secs as u64)
        ),
    );
    for r in over.iter().take(LISTED) {
        let waiting = if r.waiting_on.is_empty() {
            String::new()
        } else {
            format!(", waiting on {}", r.waiting_on)
        };
        f = f.with_detail(format!(
            "pid {} ({}, {}) for {}{waiting}: {}",
            r.pid,
            or_dash(&r.application),
            or_dash(&r.usename),
            human_age(r.secs as u64),
            one_line(&r.query)
        ));
    }
    if over.len() > LISTED {
        f = f.with_detail(format!("and {} more", over.len() - LISTED));
    }
    f = f.with_detail("To stop one: SELECT pg_cancel_backend(pid); pg_terminate_backend(pid) also ends its session.");
    if over.iter().any(|r| r.query == NO_PRIVILEGE) {
        f = f.with_detail(GRANT_MONITOR);
    }
    f
}

/// One "blocked by" edge of the lock graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Blocked {
    /// The waiting session.
    pub blocked_pid: i32,
    /// Its `application_name`.
    pub blocked_application: String,
    /// Seconds its statement has run (mostly waiting).
    pub blocked_secs: f64,
    /// Its statement.
    pub blocked_query: String,
    /// The lock it waits for: `ShareLock on transactionid`, `RowExclusiveLock on orders`.
    pub waiting_for: String,
    /// The session in its way.
    pub blocking_pid: i32,
    /// Its `application_name`.
    pub blocking_application: String,
    /// Its state: often `idle in transaction`.
    pub blocking_state: String,
    /// Seconds its transaction has been open.
    pub blocking_xact_secs: f64,
    /// Its current or last statement.
    pub blocking_query: String,
}

/// Who blocks whom. Any blocked session is a warning; the sessions that
/// block others but wait on nobody (the heads of the chains) are named
/// first, since ending them releases the rest.
pub fn locks(edges: &[Blocked]) -> Finding {
    if edges.is_empty() {
        return Finding::ok("postgres.locks", "No session is waiting on another's lock");
    }
    let mut blocked: Vec<i32> = edges.iter().map(|e| e.blocked_pid).collect();
    blocked.sort_unstable();
    blocked.dedup();
    let mut heads: Vec<&Blocked> = edges
        .iter()
        .filter(|e| !blocked.contains(&e.blocking_pid))
        .collect();
    heads.sort_by_key(|e| e.blocking_pid);
    heads.dedup_by_key(|e| e.blocking_pid);
    let head_pids: Vec<String> = heads.iter().map(|e| e.blocking_pid.to_string()).collect();
    let summary = match head_pids.as_slice() {
        [] => format!(
            "{} {} waiting on locks in a cycle",
            blocked.len(),
            if blocked.len() == 1 {
                "session"
            } else {
                "sessions"
            }
        ),
        [one] => format!(
            "{} {} blocked by pid {one}",
            blocked.len(),
            if blocked.len() == 1 {
                "session"
            } else {
                "sessions"
            }
        ),
        many => format!(
            "{} sessions blocked; blocking pids {}",
            blocked.len(),
            many.join(", ")
        ),
    };
    let mut f = Finding::warn("postgres.locks", summary);
    for e in edges.iter().take(LISTED * 2) {
        let lock = if e.waiting_for.is_empty() {
            String::new()
        } else {
            format!(" for {}", e.waiting_for)
        };
        f = f.with_detail(format!(
            "pid {} ({}) has waited {}{lock}: {} — blocked by pid {} ({}, {}, transaction open {}): {}",
            e.blocked_pid,
            or_dash(&e.blocked_application),
            human_age(e.blocked_secs as u64),
            one_line(&e.blocked_query),
            e.blocking_pid,
            or_dash(&e.blocking_application),
            or_dash(&e.blocking_state),
            human_age(e.blocking_xact_secs as u64),
            one_line(&e.blocking_query)
        ));
    }
    if edges.len() > LISTED * 2 {
        f = f.with_detail(format!("and {} more", edges.len() - LISTED * 2));
    }
    if heads
        .iter()
        .any(|e| e.blocking_state.starts_with("idle in transaction"))
    {
        f = f.with_detail("A blocker is idle in its transaction: it holds the lock while doing nothing; the application forgot to COMMIT, or waits on something else.");
    }
    if let Some(head) = heads.first() {
        f = f.with_detail(format!(
            "To release them: SELECT pg_terminate_backend({}); (rolls back its transaction)",
            head.blocking_pid
        ));
    }
    f
}

/// One row of pg_stat_replication, on a primary.
#[derive(Debug, Clone, PartialEq)]
pub struct Replica {
    /// Its `application_name` (the standby's `cluster_name`, or `walreceiver`).
    pub name: String,
    /// Its address.
    pub client: String,
    /// `streaming`, `catchup`, `backup`, …
    pub state: String,
    /// `async`, `sync`, `potential`, `quorum`.
    pub sync_state: String,
    /// WAL written here but not yet replayed there; `None` before it reports.
    pub lag_bytes: Option<f64>,
    /// Replay lag in seconds; `None` once it has caught up and gone idle.
    pub replay_lag_secs: Option<f64>,
}

/// Replication seen from a primary: one finding per replica, with its lag
/// in bytes and time; "no replicas" when none is connected.
pub fn replicas(rows: &[Replica]) -> Vec<Finding> {
    if rows.is_empty() {
        return vec![Finding::ok(
            "postgres.replication",
            "Primary, no replica connected (pg_stat_replication is empty)",
        )];
    }
    rows.iter()
        .map(|r| {
            let bytes = r.lag_bytes.map(|b| b.max(0.0));
            let lag = match (bytes, r.replay_lag_secs) {
                (Some(b), Some(s)) => format!(
                    "{} behind, replay lag {}",
                    human_bytes(b as u64),
                    human_secs(s)
                ),
                (Some(0.0), None) => "caught up".to_string(),
                (Some(b), None) => format!("{} behind", human_bytes(b as u64)),
                (None, Some(s)) => format!("replay lag {}", human_secs(s)),
                (None, None) => "lag not reported yet".to_string(),
            };
            let mut status = match r.replay_lag_secs {
                Some(s) => Status::by_level(
                    s,
                    LAG_WARN.as_secs_f64(),
                    LAG_CRITICAL.as_secs_f64(),
                ),
                None => Status::Ok,
            };
            if bytes.is_some_and(|b| b >= LAG_BYTES_WARN) {
                status = status.max(Status::Warn);
            }
            if r.state != "streaming" {
                status = status.max(Status::Warn);
            }
            let mut f = Finding::new(
                "postgres.replication",
                status,
                format!(
                    "Replica {} ({}): {}, {lag}",
                    r.name,
                    r.client,
                    or_dash(&r.state)
                ),
            )
            .with_detail(format!("sync_state {}", or_dash(&r.sync_state)));
            if r.state != "streaming" {
                f = f.with_detail("Not streaming yet: it is catching up or taking a base backup, and serves stale data meanwhile.");
            }
            if status != Status::Ok {
                f = f.with_detail("A lagging replica serves stale reads; look at its disk and CPU, the network, and long queries on it (hot_standby_feedback, max_standby_streaming_delay).");
            }
            f
        })
        .collect()
}

/// A replica's view of itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaSelf {
    /// WAL received but not yet replayed.
    pub pending_bytes: Option<f64>,
    /// Seconds since the last replayed transaction committed on the primary.
    pub last_replay_secs: Option<f64>,
    /// The WAL receiver's status (`streaming`), `None` when none runs.
    pub receiver: Option<String>,
    /// The primary it streams from.
    pub sender: Option<String>,
}

/// Replication seen from a replica: whether it streams, and its replay lag.
/// When nothing is pending, the age of the last replayed transaction is
/// only how long the primary has been quiet, not lag, and is shown as such.
pub fn replica_self(r: &ReplicaSelf) -> Finding {
    let from = r
        .sender
        .as_deref()
        .map(|s| format!(" from {s}"))
        .unwrap_or_default();
    let pending = r.pending_bytes.unwrap_or(0.0).max(0.0);
    let streaming = r.receiver.as_deref() == Some("streaming");
    if !streaming {
        let status = r.receiver.as_deref().unwrap_or("no WAL receiver");
        return Finding::critical(
            "postgres.replication",
            format!("Replica not streaming{from} ({status})"),
        )
        .with_detail("It serves data as of its last replayed transaction and falls further behind; check the primary, primary_conninfo and the network between them.")
        .with_detail(match r.last_replay_secs {
            Some(s) => format!("Last replayed transaction committed {} ago.", human_secs(s)),
            None => "No transaction replayed since it started.".into(),
        });
    }
    if pending == 0.0 {
        let quiet = r
            .last_replay_secs
            .map(|s| format!(" (last replayed transaction {} ago)", human_secs(s)))
            .unwrap_or_default();
        return Finding::ok(
            "postgres.replication",
            format!("Replica streaming{from}, caught up: nothing left to replay{quiet}"),
        );
    }
    let lag = r.last_replay_secs.unwrap_or(0.0);
    let mut status = Status::by_level(lag, LAG_WARN.as_secs_f64(), LAG_CRITICAL.as_secs_f64());
    if pending >= LAG_BYTES_WARN {
        status = status.max(Status::Warn);
    }
    let mut f = Finding::new(
        "postgres.replication",
        status,
        format!(
            "Replica streaming{from}, {} received but not replayed, replay lag {}",
            human_bytes(pending as u64),
            human_secs(lag)
        ),
    );
    if status != Status::Ok {
        f = f.with_detail("Replay is behind: long queries on this replica can hold it back (max_standby_streaming_delay), or its disk is too slow.");
    }
    f
}

/// One row of pg_stat_statements.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// How many times it ran.
    pub calls: i64,
    /// Mean time per call in milliseconds.
    pub mean_ms: f64,
    /// Total time in milliseconds.
    pub total_ms: f64,
    /// The normalized statement, whole up to
    /// [`super::queries::STATEMENT_TEXT_MAX`] characters.
    pub query: String,
    /// Whether `query` is cut short of the statement's text.
    pub truncated: bool,
}

/// The most characters of a statement shown in the list.
pub const STATEMENT_CHARS: usize = 200;

/// What pg_stat_statements could tell.
#[derive(Debug, Clone, PartialEq)]
pub enum Statements {
    /// The extension is not created in this database.
    NotInstalled,
    /// Created, but the library is not in `shared_preload_libraries`.
    NotLoaded,
    /// The top statements by mean time.
    Top(Vec<Statement>),
}

/// The slowest statements by mean time, or a plain note saying why there
/// are none. Informational: a slow statement is a lead, not an outage.
pub fn statements(s: &Statements) -> Finding {
    match s {
        Statements::NotInstalled => Finding::ok(
            "postgres.statements",
            "pg_stat_statements is not installed in this database, so slow statements were not listed",
        )
        .with_detail("To enable it: shared_preload_libraries = 'pg_stat_statements' (restart), then CREATE EXTENSION pg_stat_statements;"),
        Statements::NotLoaded => Finding::ok(
            "postgres.statements",
            "pg_stat_statements is created but not loaded, so slow statements were not listed",
        )
        .with_detail("Add it to shared_preload_libraries and restart PostgreSQL."),
        Statements::Top(rows) if rows.is_empty() => Finding::ok(
            "postgres.statements",
            "pg_stat_statements has no statements for this database yet",
        ),
        Statements::Top(rows) => {
            let mut f = Finding::ok(
                "postgres.statements",
                format!(
                    "Slowest statement by mean time: {} per call over {}",
                    human_ms(rows[0].mean_ms),
                    calls(rows[0].calls)
                ),
            );
            for r in rows {
                f = f.with_detail(format!(
                    "{} mean, {}, {} total: {}",
                    human_ms(r.mean_ms),
                    calls(r.calls),
                    human_ms(r.total_ms),
                    one_line(&r.query.chars().take(STATEMENT_CHARS).collect::<String>())
                ));
            }
            f
        }
    }
}

/// The size of the connected database.
pub fn database_size(name: &str, bytes: i64) -> Finding {
    Finding::ok(
        "postgres.size",
        format!("Database {name}: {}", human_bytes(bytes.max(0) as u64)),
    )
}

/// A configured limit as it was most likely written: "1 min", "30 s",
/// "500 ms", "2 h".
fn limit_words(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_nanos() != 0 || secs == 0 {
        human_duration(d)
    } else if secs.is_multiple_of(3600) {
        format!("{} h", secs / 3600)
    } else if secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

fn calls(n: i64) -> String {
    if n == 1 {
        "1 call".into()
    } else {
        format!("{n} calls")
    }
}

fn human_secs(secs: f64) -> String {
    human_duration(Duration::from_secs_f64(secs.max(0.0)))
}

pub(super) fn human_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.3} ms")
    } else {
        human_duration(Duration::from_secs_f64(ms.max(0.0) / 1000.0))
    }
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

/// A statement on one line, whitespace runs collapsed: queries arrive with
/// newlines and indentation that would break a chat line.
pub fn one_line(query: &str) -> String {
    query.split_whitespace().collect::<Vec<_>>().join(" ")
}
