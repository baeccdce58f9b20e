//! Purpose: what an on-call engineer types into psql when the database is
//! suspected — `pg_isready`, `SELECT 1`, `SELECT count(*), state,
//! application_name FROM pg_stat_activity GROUP BY …`, `SHOW
//! max_connections`, the lock queries, `pg_stat_replication`,
//! `pg_stat_statements ORDER BY mean_exec_time DESC` — done in one go and
//! read the way the seeds read them (`seeds/troubleshooting-runbook.md`
//! "Connection Pool Exhausted", "Lock Contention", "Replication Lag";
//! `seeds/production-debugging-guide.md`: "terminating connection due to
//! administrator command → database was restarted").
//!
//! # Layout
//!
//! [`connect`] opens the run's one connection and turns failures into
//! findings; [`queries`] holds every SQL text; [`read`] turns rows into
//! findings (pure, unit-tested). This file is the target's config and the
//! wiring: each logical check is its own [`Check`], so a hung lock query is
//! reported by name while the connection count still answers.
//!
//! Query health (Tutorial 08 "Slow Database Queries") has a file per check,
//! each with its reading and its tests: [`scans`] (big tables read by
//! sequential scans), [`indexes`] (unused and duplicate indexes), [`bloat`]
//! (dead rows and the last autovacuum), [`explain`] (the plan of the
//! slowest query of pg_stat_statements, from the statements check's read).

pub mod bloat;
pub mod connect;
pub mod explain;
pub mod indexes;
pub mod queries;
pub mod read;
pub mod scans;

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use serde::Deserialize;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::{Check, Diagnostic, SecretUrl};
use crate::model::report::Finding;
use crate::redact::Redactor;
use connect::{Plan, QueryError, Session};

/// The port PostgreSQL listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 5432;

/// `[targets.NAME] kind = "postgres"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresTarget {
    /// `postgres://user[:password]@host[:port]/database[?sslmode=…]`. A URL
    /// without a password falls back to PGPASSWORD and ~/.pgpass, as psql
    /// does.
    pub url: SecretUrl,
    /// How long the TCP connect, TLS and authentication may take (default
    /// 3 s); kept under `timeout` so a dead server is reported as such.
    #[serde(
        default = "default_connect_timeout",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub connect_timeout: Duration,
    /// The most each check may take (default 5 s); checks run at once.
    #[serde(
        default = "crate::diagnostics::default_timeout",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub timeout: Duration,
    /// A session idle inside a transaction longer than this is reported
    /// (default 1 min).
    #[serde(
        default = "default_idle_in_transaction",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub idle_in_transaction: Duration,
    /// A statement running longer than this is reported (default 30 s).
    #[serde(
        default = "default_long_query",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub long_query: Duration,
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(3)
}

fn default_idle_in_transaction() -> Duration {
    Duration::from_secs(60)
}

fn default_long_query() -> Duration {
    Duration::from_secs(30)
}

impl PostgresTarget {
    /// The zero-config target: the local server on its default port, as
    /// the `postgres` superuser over TCP (password from PGPASSWORD or
    /// ~/.pgpass when the server asks for one).
    pub fn local_default() -> Self {
        Self::at(
            SecretUrl::parse("postgres://postgres@127.0.0.1:5432/postgres")
                .expect("static URL parses"),
        )
    }

    /// A target at `url` with every other key at its default.
    pub fn at(url: SecretUrl) -> Self {
        PostgresTarget {
            url,
            connect_timeout: default_connect_timeout(),
            timeout: crate::diagnostics::default_timeout(),
            idle_in_transaction: default_idle_in_transaction(),
            long_query: default_long_query(),
        }
    }

    /// Checks what serde cannot. The error names the key at fault and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let url = self.url.url();
        match url.scheme() {
            "postgres" | "postgresql" => {}
            other => {
                return Err((
                    "url",
                    format!("scheme `{other}` is not postgres:// (or postgresql://)"),
                ));
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(("url", "the URL names no host".into()));
        }
        self.plan().map_err(|m| ("url", m))?;
        for (key, value) in [
            ("timeout", self.timeout),
            ("connect_timeout", self.connect_timeout),
            ("idle_in_transaction", self.idle_in_transaction),
            ("long_query", self.long_query),
        ] {
            if value.is_zero() {
                return Err((key, "must be longer than 0, like 5s".into()));
            }
        }
        Ok(())
    }

    /// The connect budget: `connect_timeout`, but always under `timeout`,
    /// so that a server that never answers is reported by the reach check
    /// itself ("connect timed out") rather than as silence from every check.
    fn connect_budget(&self) -> Duration {
        self.connect_timeout.min(self.timeout.mul_f64(0.8))
    }

    /// Each statement's server-side limit: a share of the check timeout,
    /// so a query stuck behind a lock is cancelled while later checks still
    /// have time on the shared connection.
    fn statement_budget(&self) -> Duration {
        self.timeout.mul_f64(0.4).max(Duration::from_millis(50))
    }

    fn plan(&self) -> Result<Plan, String> {
        Plan::new(
            self.url.expose(),
            self.location(),
            self.connect_budget(),
            self.statement_budget(),
        )
    }
}

/// The run's connection, opened once and awaited by every check; the error
/// is the reach finding, reported by the reach check alone.
type SharedSession = Shared<BoxFuture<'static, Result<Arc<Session>, Finding>>>;

impl Diagnostic for PostgresTarget {
    const KIND: &'static str = "postgres";

    fn location(&self) -> String {
        let url = self.url.url();
        let host = url.host_str().unwrap_or("?");
        format!("{host}:{}", url.port().unwrap_or(DEFAULT_PORT))
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn redactor(&self) -> Redactor {
        self.url.redactor()
    }

    fn checks(&self) -> Vec<Check> {
        let plan = match self.plan() {
            Ok(plan) => plan,
            Err(msg) => {
                return vec![Check::new("postgres.reach", "The URL", async move {
                    vec![Finding::critical("postgres.reach", msg)]
                })];
            }
        };
        let session: SharedSession = async move { connect::connect(&plan).await }
            .boxed()
            .shared();
        // pg_stat_statements, read once for the statements list and the
        // plan of the slowest; `None` when there is no session.
        let top: SharedStatements = {
            let session = session.clone();
            async move {
                match session.await {
                    Ok(s) => Some(statements(s).await),
                    Err(_) => None,
                }
            }
            .boxed()
            .shared()
        };
        let idle_limit = self.idle_in_transaction;
        let long_limit = self.long_query;

        /// A check that runs once the shared session is open, and says
        /// nothing when it could not be (the reach check says why).
        macro_rules! check {
            ($id:literal, $what:literal, |$s:ident| $body:expr) => {{
                let session = session.clone();
                Check::new($id, $what, async move {
                    match session.await {
                        Ok($s) => $body.await,
                        Err(_) => Vec::new(),
                    }
                })
                .silence_hint(SILENCE_HINT)
            }};
        }

        let reach = {
            let session = session.clone();
            Check::new("postgres.reach", "Connect and SELECT 1", async move {
                vec![match session.await {
                    Ok(s) => s.reach.clone(),
                    Err(failure) => failure,
                }]
            })
            .critical_when_silent()
            .silence_hint("The server accepts TCP but does not complete the start-up: overloaded, stuck in recovery, or not PostgreSQL.")
        };
        vec![
            reach,
            check!("postgres.connections", "Connections by state", |s| {
                connections(s)
            }),
            check!("postgres.uptime", "Version and uptime", |s| uptime(s)),
            check!(
                "postgres.idle_in_transaction",
                "Idle-in-transaction sessions",
                |s| { idle_in_transaction(s, idle_limit) }
            ),
            check!("postgres.long_queries", "Long-running queries", |s| {
                long_queries(s, long_limit)
            }),
            check!("postgres.locks", "The lock query", |s| locks(s)),
            check!("postgres.replication", "Replication", |s| replication(s)),
            Check::new("postgres.statements", "pg_stat_statements", {
                let read = top.clone();
                async move {
                    match read.await {
                        Some(Ok((st, _))) => vec![read::statements(&st)],
                        Some(Err(failure)) => vec![failure],
                        None => Vec::new(),
                    }
                }
            })
            .silence_hint(SILENCE_HINT),
            check!("postgres.size", "Database size", |s| size(s)),
            check!("postgres.seq_scans", "Sequential scans", |s| {
                scans::check(s)
            }),
            check!("postgres.indexes", "Index usage", |s| { indexes::check(s) }),
            check!("postgres.bloat", "Dead rows", |s| { bloat::check(s) }),
            {
                let session = session.clone();
                Check::new(
                    "postgres.plan",
                    "EXPLAIN of the slowest query",
                    async move {
                        // Nothing when pg_stat_statements gave no statements:
                        // the statements check says why.
                        match (session.await, top.await) {
                            (Ok(s), Some(Ok((read::Statements::Top(rows), num)))) => {
                                explain::check(s, &rows, num).await
                            }
                            _ => Vec::new(),
                        }
                    },
                )
                .silence_hint(SILENCE_HINT)
            },
        ]
    }
}

/// pg_stat_statements as read once per run, with the server's version
/// number: what the statements list and the plan check start from. The
/// error is the statements check's finding; `None` when there was no
/// session.
type SharedStatements =
    Shared<BoxFuture<'static, Option<Result<(read::Statements, i32), Finding>>>>;

/// What silence from a check after a successful connect usually means.
const SILENCE_HINT: &str =
    "The server is slow to answer statistics queries: heavy load, or a catalog lock held by DDL.";

/// Decodes rows with `map`; a decoding error is a failed query.
fn decode<T>(
    rows: Result<Vec<PgRow>, QueryError>,
    map: impl Fn(&PgRow) -> Result<T, sqlx::Error>,
) -> Result<Vec<T>, QueryError> {
    rows?
        .iter()
        .map(|r| map(r).map_err(|e| QueryError::Failed(connect::error_text(&e))))
        .collect()
}

fn one<T>(rows: Result<Vec<T>, QueryError>) -> Result<T, QueryError> {
    rows?
        .into_iter()
        .next()
        .ok_or_else(|| QueryError::Failed("no row returned".into()))
}

async fn uptime(s: Arc<Session>) -> Vec<Finding> {
    let rows = decode(s.fetch_all(queries::UPTIME).await, |r| {
        Ok(read::Uptime {
            version: r.try_get("version")?,
            started_epoch: r.try_get("started_epoch")?,
            uptime_secs: r.try_get("uptime_secs")?,
        })
    });
    vec![match one(rows) {
        Ok(u) => read::uptime(&u),
        Err(e) => e.finding("postgres.uptime", "Version and uptime"),
    }]
}

async fn connections(s: Arc<Session>) -> Vec<Finding> {
    let limits = decode(s.fetch_all(queries::LIMITS).await, |r| {
        Ok((
            r.try_get::<i64, _>("max_connections")?,
            r.try_get::<i64, _>("reserved")?,
        ))
    });
    let (max, reserved) = match one(limits) {
        Ok(l) => l,
        Err(e) => return vec![e.finding("postgres.connections", "max_connections")],
    };
    let rows = decode(s.fetch_all(queries::CONNECTIONS).await, |r| {
        Ok(read::SessionCount {
            state: r.try_get("state")?,
            application: r.try_get("application")?,
            sessions: r.try_get("sessions")?,
        })
    });
    vec![match rows {
        Ok(rows) => read::connections(&rows, max, reserved),
        Err(e) => e.finding("postgres.connections", "Connections by state"),
    }]
}

async fn idle_in_transaction(s: Arc<Session>, limit: Duration) -> Vec<Finding> {
    let rows = decode(s.fetch_all(queries::IDLE_IN_TRANSACTION).await, |r| {
        Ok(read::IdleSession {
            pid: r.try_get("pid")?,
            usename: r.try_get("usename")?,
            application: r.try_get("application")?,
            client: r.try_get("client")?,
            state: r.try_get("state")?,
            idle_secs: r.try_get("idle_secs")?,
            xact_secs: r.try_get("xact_secs")?,
            query: r.try_get("query")?,
        })
    });
    vec![match rows {
        Ok(rows) => read::idle_in_transaction(&rows, limit),
        Err(e) => e.finding(
            "postgres.idle_in_transaction",
            "Idle-in-transaction sessions",
        ),
    }]
}

async fn long_queries(s: Arc<Session>, limit: Duration) -> Vec<Finding> {
    let rows = decode(s.fetch_all(queries::RUNNING).await, |r| {
        Ok(read::Running {
            pid: r.try_get("pid")?,
            usename: r.try_get("usename")?,
            application: r.try_get("application")?,
            secs: r.try_get("secs")?,
            waiting_on: r.try_get("waiting_on")?,
            query: r.try_get("query")?,
        })
    });
    vec![match rows {
        Ok(rows) => read::long_queries(&rows, limit),
        Err(e) => e.finding("postgres.long_queries", "Long-running queries"),
    }]
}

async fn locks(s: Arc<Session>) -> Vec<Finding> {
    let rows = decode(s.fetch_all(queries::BLOCKING).await, |r| {
        Ok(read::Blocked {
            blocked_pid: r.try_get("blocked_pid")?,
            blocked_application: r.try_get("blocked_application")?,
            blocked_secs: r.try_get("blocked_secs")?,
            blocked_query: r.try_get("blocked_query")?,
            waiting_for: r.try_get("waiting_for")?,
            blocking_pid: r.try_get("blocking_pid")?,
            blocking_application: r.try_get("blocking_application")?,
            blocking_state: r.try_get("blocking_state")?,
            blocking_xact_secs: r.try_get("blocking_xact_secs")?,
            blocking_query: r.try_get("blocking_query")?,
        })
    });
    vec![match rows {
        Ok(rows) => read::locks(&rows),
        Err(e) => e.finding("postgres.locks", "Blocked and blocking sessions"),
    }]
}

async fn replication(s: Arc<Session>) -> Vec<Finding> {
    let in_recovery = one(decode(s.fetch_all(queries::IN_RECOVERY).await, |r| {
        r.try_get::<bool, _>("in_recovery")
    }));
    match in_recovery {
        Err(e) => vec![e.finding("postgres.replication", "Replication")],
        Ok(true) => {
            let me = one(decode(s.fetch_all(queries::REPLICA_SELF).await, |r| {
                Ok(read::ReplicaSelf {
                    pending_bytes: r.try_get("pending_bytes")?,
                    last_replay_secs: r.try_get("last_replay_secs")?,
                    receiver: r.try_get("receiver")?,
                    sender: r.try_get("sender")?,
                })
            }));
            vec![match me {
                Ok(me) => read::replica_self(&me),
                Err(e) => e.finding("postgres.replication", "Replica lag"),
            }]
        }
        Ok(false) => {
            let rows = decode(s.fetch_all(queries::REPLICAS).await, |r| {
                Ok(read::Replica {
                    name: r.try_get("name")?,
                    client: r.try_get("client")?,
                    state: r.try_get("state")?,
                    sync_state: r.try_get("sync_state")?,
                    lag_bytes: r.try_get("lag_bytes")?,
                    replay_lag_secs: r.try_get("replay_lag_secs")?,
                })
            });
            match rows {
                Ok(rows) => read::replicas(&rows),
                Err(e) => vec![e.finding("postgres.replication", "pg_stat_replication")],
            }
        }
    }
}

/// Reads pg_stat_statements: not installed, not loaded, or the top
/// statements by mean time, with the version number they were read for.
async fn statements(s: Arc<Session>) -> Result<(read::Statements, i32), Finding> {
    let num = one(decode(s.fetch_all(queries::VERSION_NUM).await, |r| {
        r.try_get::<i32, _>("num")
    }))
    .map_err(|e| e.finding("postgres.statements", "The server version"))?;
    let schema = decode(s.fetch_all(queries::STATEMENTS_SCHEMA).await, |r| {
        r.try_get::<String, _>("schema")
    })
    .map_err(|e| e.finding("postgres.statements", "pg_stat_statements"))?;
    let Some(schema) = schema.into_iter().next() else {
        return Ok((read::Statements::NotInstalled, num));
    };
    // The one query built at run time: the schema is the server's own
    // quote_ident() of pg_extension's namespace, the version a number.
    let sql = sqlx::AssertSqlSafe(queries::top_statements(&schema, num));
    let rows = decode(s.fetch_all(sql).await, |r| {
        Ok(read::Statement {
            calls: r.try_get("calls")?,
            mean_ms: r.try_get("mean_ms")?,
            total_ms: r.try_get("total_ms")?,
            query: r.try_get("query")?,
            truncated: r.try_get("truncated")?,
        })
    });
    match rows {
        Ok(rows) => Ok((read::Statements::Top(rows), num)),
        Err(QueryError::Failed(e)) if e.contains("shared_preload_libraries") => {
            Ok((read::Statements::NotLoaded, num))
        }
        Err(e) => Err(e.finding("postgres.statements", "pg_stat_statements")),
    }
}

async fn size(s: Arc<Session>) -> Vec<Finding> {
    let row = one(decode(s.fetch_all(queries::DATABASE_SIZE).await, |r| {
        Ok((
            r.try_get::<String, _>("name")?,
            r.try_get::<i64, _>("bytes")?,
        ))
    }));
    vec![match row {
        Ok((name, bytes)) => read::database_size(&name, bytes),
        Err(e) => e.finding("postgres.size", "Database size"),
    }]
}
