//! The one connection a run uses, and the failures on the way to it read as
//! the runbooks read them (`pg_isready -h 10.0.1.1`; "`DatabaseConnectionError`
//! to 10.0.1.1 → private network or PostgreSQL service issue").
//!
//! One connection, not a pool: a server at `max_connections` is exactly
//! when medic is needed, and it should take one slot, not several. The
//! checks take turns on it ([`Session::fetch_all`]); each statement has a
//! server-side `statement_timeout`, so one slow query is cancelled by the
//! server and the next check still gets its turn. If a check is abandoned
//! mid-query (its own timeout), the connection is dropped with it and the
//! checks after it say so, instead of waiting on a connection in an unknown
//! state.

use std::io::ErrorKind as IoKind;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use tokio::sync::Mutex;

use crate::format::{human_duration, human_latency};
use crate::model::report::Finding;

/// A `SELECT 1` slower than this is a warning: on a LAN it takes well under
/// a millisecond, so 100 ms means a saturated server or network.
pub const SLOW_SELECT_1: Duration = Duration::from_millis(100);

/// An open session and what connecting taught.
pub struct Session {
    /// `None` once a check was abandoned mid-query.
    conn: Mutex<Option<PgConnection>>,
    /// The finding about reaching the server (`postgres.reach`).
    pub reach: Finding,
}

/// Why a query on the shared session gave nothing.
#[derive(Debug, Clone)]
pub enum QueryError {
    /// An earlier check was abandoned mid-query, and the connection with it.
    Lost,
    /// The server answered with an error, or the connection broke.
    Failed(String),
}

impl QueryError {
    /// The finding for a check whose query failed: unknown, since the check
    /// could not tell, with the server's words as evidence.
    pub fn finding(&self, check: &'static str, what: &str) -> Finding {
        match self {
            QueryError::Lost => Finding::unknown(
                check,
                format!(
                    "{what}: not checked, the connection was dropped after an earlier query did not answer in time"
                ),
            ),
            QueryError::Failed(e) => {
                let mut f = Finding::unknown(check, format!("{what}: the query failed"))
                    .with_evidence(e.clone());
                if e.contains("permission denied") || e.contains("must be superuser") {
                    f = f.with_detail(
                        "GRANT pg_monitor TO the medic user: it reads every statistics view medic needs.",
                    );
                } else if e.contains("statement timeout") || e.contains("lock timeout") {
                    f = f.with_detail(
                        "The server cancelled it at medic's statement_timeout / lock_timeout: a statistics view is locked (DDL, a LOCK TABLE) or the server is overloaded.",
                    );
                }
                f
            }
        }
    }
}

impl Session {
    /// Runs one statement on the shared connection and returns its rows.
    pub async fn fetch_all(&self, sql: impl sqlx::SqlSafeStr) -> Result<Vec<PgRow>, QueryError> {
        let mut slot = self.conn.lock().await;
        // Taken out while in use: if this future is dropped mid-query, the
        // connection goes with it and later checks see `Lost`.
        let mut conn = slot.take().ok_or(QueryError::Lost)?;
        let result = sqlx::query(sql).fetch_all(&mut conn).await;
        match &result {
            // The connection survives a server-side error (a cancelled or
            // refused statement); not a broken socket.
            Err(sqlx::Error::Io(_)) | Err(sqlx::Error::Protocol(_)) => {}
            _ => *slot = Some(conn),
        }
        result.map_err(|e| QueryError::Failed(error_text(&e)))
    }
}

/// Why [`Session::run_steps`] stopped.
#[derive(Debug, Clone)]
pub enum StepFailure {
    /// An earlier check was abandoned mid-query, and the connection with it.
    Lost,
    /// The step at `step` failed with `error` (the server's words), or the
    /// connection broke there.
    Failed {
        /// Index of the failed step in `steps`.
        step: usize,
        /// The error, with its causes.
        error: String,
    },
}

impl Session {
    /// Runs `steps` one after another with the simple query protocol, which
    /// takes a statement text with `$1` placeholders as it is (the extended
    /// protocol, used by [`Session::fetch_all`], would expect values bound to
    /// them). The connection is held throughout, so no other check's
    /// statement runs between the steps (inside their transaction). Stops at
    /// the first failing step; then `cleanup(failed step)` gives the
    /// statements that put the session back as it was (ROLLBACK, DEALLOCATE),
    /// run whatever happened, their errors ignored. Returns the last step's
    /// rows.
    pub async fn run_steps(
        &self,
        steps: &[String],
        cleanup: impl FnOnce(Option<usize>) -> Vec<&'static str>,
    ) -> Result<Vec<PgRow>, StepFailure> {
        let mut slot = self.conn.lock().await;
        // Taken out while in use, as in fetch_all.
        let mut conn = slot.take().ok_or(StepFailure::Lost)?;
        let mut outcome = Ok(Vec::new());
        for (i, step) in steps.iter().enumerate() {
            match sqlx::raw_sql(sqlx::AssertSqlSafe(step.clone()))
                .fetch_all(&mut conn)
                .await
            {
                Ok(rows) => outcome = Ok(rows),
                Err(e) => {
                    let broken = matches!(e, sqlx::Error::Io(_) | sqlx::Error::Protocol(_));
                    let failure = StepFailure::Failed {
                        step: i,
                        error: error_text(&e),
                    };
                    if broken {
                        return Err(failure);
                    }
                    outcome = Err(failure);
                    break;
                }
            }
        }
        let failed = match &outcome {
            Err(StepFailure::Failed { step, .. }) => Some(*step),
            _ => None,
        };
        for sql in cleanup(failed) {
            if let Err(sqlx::Error::Io(_) | sqlx::Error::Protocol(_)) =
                sqlx::raw_sql(sql).execute(&mut conn).await
            {
                return outcome;
            }
        }
        *slot = Some(conn);
        outcome
    }
}

impl Drop for Session {
    /// Says goodbye to the server (a Terminate message) instead of cutting
    /// the socket, which PostgreSQL would log as an unexpected EOF.
    fn drop(&mut self) {
        if let (Some(conn), Ok(rt)) = (
            self.conn.get_mut().take(),
            tokio::runtime::Handle::try_current(),
        ) {
            rt.spawn(async move {
                let _ = conn.close().await;
            });
        }
    }
}

/// What a run needs to connect.
#[derive(Clone)]
pub struct Plan {
    /// Parsed from the target's URL, with medic's session settings.
    pub options: PgConnectOptions,
    /// `host:port`, for messages.
    pub location: String,
    /// The user, for messages.
    pub user: String,
    /// The database, for messages.
    pub database: String,
    /// How long the TCP connect, TLS and authentication may take.
    pub connect_timeout: Duration,
    /// `statement_timeout` for each query of the run.
    pub statement_timeout: Duration,
}

impl Plan {
    /// Parses `url` and adds medic's session settings: `application_name`
    /// (so DBAs see medic in pg_stat_activity), a statement and lock
    /// timeout (so no diagnostic query waits behind a lock for long).
    pub fn new(
        url: &str,
        location: String,
        connect_timeout: Duration,
        statement_timeout: Duration,
    ) -> Result<Self, String> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| format!("not a usable PostgreSQL URL ({})", error_text(&e)))?;
        // A wait for a lock gives up first, so the finding says "lock
        // timeout" (someone holds what the query needs) rather than the
        // vaguer statement timeout.
        let statement_ms = statement_timeout.as_millis().max(2);
        let lock_ms = statement_ms / 2;
        let options = options.application_name("medic").options([
            ("statement_timeout", statement_ms),
            ("lock_timeout", lock_ms),
        ]);
        Ok(Plan {
            user: options.get_username().to_string(),
            database: options
                .get_database()
                .unwrap_or(options.get_username())
                .to_string(),
            options,
            location,
            connect_timeout,
            statement_timeout,
        })
    }
}

/// Connects and runs `SELECT 1`. A failure is the `postgres.reach` finding
/// that says why, in the runbook's words.
pub async fn connect(plan: &Plan) -> Result<Arc<Session>, Finding> {
    let started = Instant::now();
    let conn = match tokio::time::timeout(
        plan.connect_timeout,
        PgConnection::connect_with(&plan.options),
    )
    .await
    {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return Err(connect_failure(plan, &e, started.elapsed())),
        Err(_) => {
            return Err(Finding::critical(
                "postgres.reach",
                format!(
                    "No answer from {} after {} (connect timed out)",
                    plan.location,
                    human_duration(plan.connect_timeout)
                ),
            )
            .with_detail("A firewall dropping packets, a down host, a broken private network, or a server too busy to accept looks like this.")
            .with_detail(format!("By hand: pg_isready -h {}", host_arg(&plan.location))));
        }
    };
    let connected = started.elapsed();
    let mut conn = conn;
    let started = Instant::now();
    let select_1 = sqlx::query_scalar::<_, i32>(super::queries::SELECT_1)
        .fetch_one(&mut conn)
        .await;
    let rtt = started.elapsed();
    let reach = match select_1 {
        Ok(1) => {
            let summary = format!(
                "Connected to {} as {} (database {}) in {}; SELECT 1 in {}",
                plan.location,
                plan.user,
                plan.database,
                human_latency(connected),
                human_latency(rtt)
            );
            if rtt > SLOW_SELECT_1 {
                Finding::warn("postgres.reach", format!("Slow: {summary}"))
                    .with_detail("SELECT 1 should take under a millisecond on a LAN: the server is saturated (CPU, I/O) or the network is.")
            } else {
                Finding::ok("postgres.reach", summary)
            }
        }
        Ok(other) => Finding::critical(
            "postgres.reach",
            format!("SELECT 1 at {} returned {other}", plan.location),
        ),
        Err(e) => {
            return Err(Finding::critical(
                "postgres.reach",
                format!("Connected to {} but SELECT 1 failed", plan.location),
            )
            .with_evidence(error_text(&e)));
        }
    };
    Ok(Arc::new(Session {
        conn: Mutex::new(Some(conn)),
        reach,
    }))
}

/// A connect error, in plain words. A server that refuses or cannot be
/// reached is critical (it is down for the applications too); a refusal of
/// medic's own credentials is unknown (it says nothing about the server's
/// health), with what to fix.
fn connect_failure(plan: &Plan, e: &sqlx::Error, after: Duration) -> Finding {
    let loc = &plan.location;
    let after = human_duration(after);
    let evidence = error_text(e);
    let finding = match e {
        sqlx::Error::Io(io) => match io.kind() {
            IoKind::ConnectionRefused => Finding::critical(
                "postgres.reach",
                format!("Connection refused by {loc} after {after}"),
            )
            .with_detail("Nothing listens on that port: is PostgreSQL running? (systemctl status postgresql; pg_isready)"),
            IoKind::TimedOut => Finding::critical(
                "postgres.reach",
                format!("Connection to {loc} timed out after {after}"),
            )
            .with_detail("A firewall, a down host or a broken private network looks like this."),
            _ if evidence.contains("failed to lookup address") => Finding::critical(
                "postgres.reach",
                format!("Cannot resolve the host of {loc}"),
            )
            .with_detail("The name does not resolve from medic's host; check DNS or use the IP."),
            _ => Finding::critical(
                "postgres.reach",
                format!("Connection to {loc} failed after {after}"),
            )
            .with_detail("The server closed the connection during start-up: it is restarting, out of connections, or not PostgreSQL."),
        },
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            match code.as_str() {
                // invalid_password
                "28P01" => Finding::unknown(
                    "postgres.reach",
                    format!("PostgreSQL at {loc} refused the password of user {}", plan.user),
                )
                .with_detail("The server is up; medic's credentials are wrong. Check the password in the target's URL (or PGPASSWORD / ~/.pgpass) against the role, and the auth method in pg_hba.conf."),
                // invalid_authorization_specification: no pg_hba.conf line, or a role that may not log in
                "28000" => Finding::unknown(
                    "postgres.reach",
                    format!("PostgreSQL at {loc} refused user {} (pg_hba.conf or role)", plan.user),
                )
                .with_detail("The server is up but will not let medic in: add a pg_hba.conf line for medic's host, user and database (then SELECT pg_reload_conf()), or check that the role exists and may LOGIN."),
                // invalid_catalog_name
                "3D000" => Finding::unknown(
                    "postgres.reach",
                    format!("Database {} does not exist at {loc}", plan.database),
                )
                .with_detail("The server is up; fix the database name in the target's URL."),
                // too_many_connections
                "53300" => Finding::critical(
                    "postgres.reach",
                    format!("PostgreSQL at {loc} refused a new connection: too many clients (max_connections reached)"),
                )
                .with_detail("Pool exhaustion: applications are refused too. Find who holds the connections (pg_stat_activity by application) from a superuser session, which has reserved slots."),
                // cannot_connect_now
                "57P03" => Finding::critical(
                    "postgres.reach",
                    format!("PostgreSQL at {loc} is not accepting connections yet"),
                )
                .with_detail("It is starting up, shutting down or in crash recovery: a restart is in progress."),
                _ => Finding::critical(
                    "postgres.reach",
                    format!("PostgreSQL at {loc} refused the connection ({code})"),
                ),
            }
        }
        sqlx::Error::Tls(_) => Finding::critical(
            "postgres.reach",
            format!("TLS with {loc} failed"),
        )
        .with_detail("Check sslmode in the URL and the server's certificate."),
        _ => Finding::critical(
            "postgres.reach",
            format!("Cannot talk to PostgreSQL at {loc}"),
        )
        .with_detail("The server's answer did not make sense: is this port PostgreSQL?"),
    };
    finding.with_evidence(evidence)
}

/// An error's text with its causes, as evidence. sqlx errors never carry
/// the password; the target's redactor still runs over every finding.
pub fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// The host part of `host:port`, for a `pg_isready -h` hint.
fn host_arg(location: &str) -> &str {
    location
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(location)
}
