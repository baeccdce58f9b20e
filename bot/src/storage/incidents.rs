//! `incidents` and `incident_jobs`: one open incident per alert fingerprint,
//! and the follow-up work (a runbook's diagnostics) that must survive a
//! restart.
//!
//! Every function here takes a connection, so the incident logic can run a
//! whole delivery (incidents, jobs, outbox rows, the delivery's state) in
//! one transaction: after a crash either all of it happened or none.

use medic_commands::model::alert::{Alert, AlertSource, Severity};
use medic_commands::model::inbound::Platform;
use medic_commands::model::incident::IncidentView;
use medic_commands::model::priority::Priority;
use medic_commands::model::word::Word;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::script::{Script, Statement};
use super::{Backend, Store};

/// An incident as stored.
#[derive(Debug, Clone)]
pub struct IncidentRow {
    /// Its number.
    pub id: i64,
    /// The view renderers use.
    pub view: IncidentView,
    /// Where its thread is: platform and channel, when routed.
    pub place: Option<(Platform, String)>,
    /// Its root message, once posted (a digest's, when it is in one).
    pub root_ts: Option<String>,
    /// The digest it was posted in (the outbox row that posted it), when
    /// it opened during a storm: its thread is the digest's.
    pub digest_id: Option<i64>,
    /// medic's likely cause, one line, once triage found one.
    pub likely_cause: Option<String>,
}

const COLUMNS: &str = "id, source, fingerprint, state, title, severity, service, host, link, \
     platform, channel, root_ts, seen_count, first_seen, last_seen, resolved_at, digest_id, priority, \
     likely_cause, acked_by, acked_by_name";

/// A stored time (unix milliseconds) as a time.
pub fn time_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn from_row(r: &AnyRow) -> sqlx::Result<IncidentRow> {
    let id: i64 = r.try_get(0)?;
    let platform: Option<Platform> = super::word_opt(r, 9)?;
    let channel: Option<String> = r.try_get(10)?;
    Ok(IncidentRow {
        id,
        view: IncidentView {
            id,
            source: super::word(r, 1)?,
            state: super::word(r, 3)?,
            title: r.try_get(4)?,
            severity: super::word(r, 5)?,
            service: r.try_get(6)?,
            host: r.try_get(7)?,
            link: r.try_get(8)?,
            seen_count: r.try_get(12)?,
            first_seen: time_ms(r.try_get(13)?),
            last_seen: time_ms(r.try_get(14)?),
            resolved_at: r.try_get::<Option<i64>, _>(15)?.map(time_ms),
            priority: super::word_opt(r, 17)?,
            acked_by: match (
                r.try_get::<Option<String>, _>(19)?,
                r.try_get::<Option<String>, _>(20)?,
            ) {
                (Some(id), name) => Some(medic_commands::model::inbound::Actor {
                    name: name.unwrap_or_else(|| id.clone()),
                    id,
                }),
                (None, _) => None,
            },
        },
        place: platform.zip(channel),
        root_ts: r.try_get(11)?,
        digest_id: r.try_get(16)?,
        likely_cause: r.try_get(18)?,
    })
}

/// The open incident for a fingerprint.
pub async fn open_incident(
    conn: &mut AnyConnection,
    alert: &Alert,
) -> sqlx::Result<Option<IncidentRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM incidents WHERE source = $1 AND fingerprint = $2 AND state = 'open'"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(alert.source.as_str())
        .bind(alert.fingerprint.as_str())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// What a repeat needs of an open incident: it is counted, its severity
/// may rise, and its root gets an edit in its channel.
#[derive(Debug, Clone)]
pub struct OpenIncident {
    /// Its number.
    pub id: i64,
    /// Its severity now.
    pub severity: Severity,
    /// Where its thread is: platform and channel, when routed.
    pub place: Option<(Platform, String)>,
}

/// The open incidents of several fingerprints of one source, in one
/// statement per [`MAX_ROWS`] fingerprints (a batch's incidents are read at
/// once instead of one round trip per alert), for the caller to run (with
/// other statements: [`super::script`]) and decode with
/// [`open_incident_of`]. Only the columns a repeat needs: in a storm this
/// is a row per alert, and decoding the full incident (17 columns) was
/// most of reading it.
pub fn open_incidents(
    backend: Backend,
    source: AlertSource,
    fingerprints: &[&str],
) -> Vec<Statement> {
    fingerprints
        .chunks(MAX_ROWS)
        .map(|chunk| {
            let mut m = super::Markers::for_backend(backend);
            let source_marker = m.next();
            let chunk: Vec<&&str> = super::padded(chunk).collect();
            let list = m.tuple(chunk.len());
            let mut statement = Statement::new(format!(
                "SELECT id, source, fingerprint, severity, platform, channel FROM incidents \
                 WHERE state = 'open' AND source = {source_marker} AND fingerprint IN {list}"
            ));
            statement.bind(source.as_str());
            for fingerprint in chunk {
                statement.bind(fingerprint.to_string());
            }
            statement
        })
        .collect()
}

/// A row of [`open_incidents`]: its source, fingerprint and what a repeat
/// needs.
pub fn open_incident_of(row: &AnyRow) -> sqlx::Result<(AlertSource, String, OpenIncident)> {
    let platform: Option<Platform> = super::word_opt(row, 4)?;
    let channel: Option<String> = row.try_get(5)?;
    let open = OpenIncident {
        id: row.try_get(0)?,
        severity: super::word(row, 3)?,
        place: platform.zip(channel),
    };
    Ok((super::word(row, 1)?, row.try_get(2)?, open))
}

/// Rows per generated multi-row statement: far below both databases'
/// limits on bound parameters (SQLite 32,766; PostgreSQL 65,535).
const MAX_ROWS: usize = 200;

/// One incident's repeats within a batch, to be written at once.
#[derive(Debug, Clone)]
pub struct Repeats {
    /// The incident.
    pub id: i64,
    /// How many more times it was seen.
    pub count: i64,
    /// When it was last seen (unix ms).
    pub last_seen: i64,
    /// Its severity after them (it only rises).
    pub severity: Severity,
}

/// Counts the repeats of several open incidents in one statement per
/// [`MAX_ROWS`] incidents (what [`seen_again`] does one at a time), for the
/// caller to run.
pub fn seen_again_many(backend: Backend, repeats: &[Repeats]) -> Vec<Statement> {
    repeats
        .chunks(MAX_ROWS)
        .map(|chunk| {
            let mut m = super::Markers::for_backend(backend);
            // Repeated rows are equal: the UPDATE uses one of them.
            let chunk: Vec<&Repeats> = super::padded(chunk).collect();
            let values: Vec<String> = chunk.iter().map(|_| m.tuple(4)).collect();
            let values = values.join(", ");
            // A CTE rather than `FROM (VALUES …) AS v(…)`: SQLite has no
            // column list on a derived table; both accept this form.
            let mut statement = Statement::new(format!(
                "WITH v (id, n, last_seen, severity) AS (VALUES {values}) \
                 UPDATE incidents SET seen_count = incidents.seen_count + v.n, \
                 last_seen = v.last_seen, severity = v.severity \
                 FROM v WHERE incidents.id = v.id"
            ));
            for r in chunk {
                statement
                    .bind(r.id)
                    .bind(r.count)
                    .bind(r.last_seen)
                    .bind(r.severity.as_str());
            }
            statement
        })
        .collect()
}

/// The latest incident for a fingerprint resolved at or after `since_ms`.
pub async fn resolved_since(
    conn: &mut AnyConnection,
    alert: &Alert,
    since_ms: i64,
) -> sqlx::Result<Option<IncidentRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM incidents WHERE source = $1 AND fingerprint = $2 \
         AND state = 'resolved' AND resolved_at >= $3 ORDER BY id DESC LIMIT 1"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(alert.source.as_str())
        .bind(alert.fingerprint.as_str())
        .bind(since_ms)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Incidents first seen between `from_ms` and `to_ms` (triage's
/// correlation candidates), oldest first, at most 200.
pub async fn first_seen_between(
    conn: &mut AnyConnection,
    from_ms: i64,
    to_ms: i64,
) -> sqlx::Result<Vec<IncidentRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM incidents WHERE first_seen >= $1 AND first_seen <= $2 \
         ORDER BY id LIMIT 200"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Records the hosts an incident's alert names (triage's correlation).
pub async fn set_named_hosts(
    conn: &mut AnyConnection,
    id: i64,
    hosts: &[String],
) -> sqlx::Result<()> {
    let json = serde_json::to_string(hosts).unwrap_or_else(|_| "[]".into());
    sqlx::query("UPDATE incidents SET named_hosts = $1 WHERE id = $2")
        .bind(json)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The recorded named hosts of incidents first seen between `from_ms` and
/// `to_ms`, by incident id.
pub async fn named_hosts_between(
    conn: &mut AnyConnection,
    from_ms: i64,
    to_ms: i64,
) -> sqlx::Result<Vec<(i64, Vec<String>)>> {
    let rows = sqlx::query(
        "SELECT id, named_hosts FROM incidents WHERE first_seen >= $1 AND first_seen <= $2 \
         AND named_hosts IS NOT NULL ORDER BY id LIMIT 200",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let text: String = r.try_get(1)?;
            Ok((
                r.try_get(0)?,
                serde_json::from_str(&text).unwrap_or_default(),
            ))
        })
        .collect()
}

/// One incident by number.
pub async fn incident(conn: &mut AnyConnection, id: i64) -> sqlx::Result<Option<IncidentRow>> {
    let sql = format!("SELECT {COLUMNS} FROM incidents WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Opens a new incident for `alert`, routed to `place` (or nowhere).
pub async fn insert_incident(
    conn: &mut AnyConnection,
    alert: &Alert,
    place: Option<(Platform, &str)>,
    priority: Priority,
    now_ms: i64,
) -> sqlx::Result<i64> {
    let row = sqlx::query(
        "INSERT INTO incidents (source, fingerprint, state, title, severity, service, host, link, \
         platform, channel, seen_count, first_seen, last_seen, alert_json, priority, remind_at) \
         VALUES ($1, $2, 'open', $3, $4, $5, $6, $7, $8, $9, 1, $10, $10, $11, $12, $13) RETURNING id",
    )
    .bind(alert.source.as_str())
    .bind(alert.fingerprint.as_str())
    .bind(alert.title.as_str())
    .bind(alert.severity.as_str())
    .bind(alert.service.clone())
    .bind(alert.host.clone())
    .bind(alert.link.clone())
    .bind(place.map(|p| p.0.as_str()))
    .bind(place.map(|p| p.1.to_string()))
    .bind(now_ms)
    .bind(serde_json::to_string(alert).unwrap_or_default())
    .bind(priority.as_str())
    .bind(now_ms + crate::storage::millis(priority.respond_within()))
    .fetch_one(conn)
    .await?;
    row.try_get(0)
}

/// Counts one more firing of an open incident; the severity only rises.
/// (`alert_json` keeps the alert that opened it: a repeat of a storm need
/// not rewrite it.)
pub async fn seen_again(
    conn: &mut AnyConnection,
    row: &IncidentRow,
    alert: &Alert,
    now_ms: i64,
) -> sqlx::Result<()> {
    let repeat = Repeats {
        id: row.id,
        count: 1,
        last_seen: now_ms,
        severity: row.view.severity.max(alert.severity),
    };
    let mut script = Script::for_conn(conn);
    script.extend(seen_again_many(script.backend(), &[repeat]));
    script.execute(conn).await
}

/// Marks an incident resolved.
pub async fn resolve(conn: &mut AnyConnection, id: i64, now_ms: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE incidents SET state = 'resolved', resolved_at = $1, acked_at = NULL, \
         acked_by = NULL, acked_by_name = NULL, remind_at = NULL WHERE id = $2",
    )
    .bind(now_ms)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Opens a resolved incident again (it fired within the reopen window).
pub async fn reopen(conn: &mut AnyConnection, id: i64, now_ms: i64) -> sqlx::Result<()> {
    let sql = format!(
        "UPDATE incidents SET state = 'open', resolved_at = NULL, seen_count = seen_count + 1, \
         last_seen = $1, acked_at = NULL, acked_by = NULL, acked_by_name = NULL, \
         remind_at = $1 + {}, reminders = 0 WHERE id = $2",
        respond_within_sql()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now_ms)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sets open incident `id`'s severity level to `level` when it is another;
/// `false` when it was already `level` or is resolved. An incident nobody
/// has been reminded about yet is reminded at `remind_at` (its response
/// time under the new level, counted from when it opened); one already
/// reminded keeps its schedule.
pub async fn set_priority(
    conn: &mut AnyConnection,
    id: i64,
    level: Priority,
    remind_at: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE incidents SET priority = $1, \
         remind_at = CASE WHEN acked_at IS NULL AND reminders = 0 THEN $2 ELSE remind_at END \
         WHERE id = $3 AND state = 'open' AND (priority IS NULL OR priority <> $1)",
    )
    .bind(level.as_str())
    .bind(remind_at)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// SQL for the response time (ms) of the incident's `priority` column:
/// a reopened incident is reminded about after it again. Incidents with
/// no level are given a day.
fn respond_within_sql() -> String {
    use medic_commands::model::word::Word;
    let arms: String = Priority::ALL
        .iter()
        .map(|p| {
            format!(
                " WHEN '{}' THEN {}",
                p.as_str(),
                crate::storage::millis(p.respond_within())
            )
        })
        .collect();
    format!("(CASE priority{arms} ELSE 86400000 END)")
}

/// An open incident nobody has acknowledged, due a reminder.
#[derive(Debug, Clone)]
pub struct Unanswered {
    /// The incident.
    pub row: IncidentRow,
    /// Reminders sent so far.
    pub reminders: i64,
}

impl Store {
    /// Open, unacknowledged incidents whose reminder is due at `now`.
    pub async fn reminders_due_for_incidents(&self, now: i64) -> sqlx::Result<Vec<Unanswered>> {
        let sql = format!(
            "SELECT {COLUMNS}, reminders FROM incidents WHERE remind_at IS NOT NULL \
             AND remind_at <= $1 AND state = 'open' AND acked_at IS NULL ORDER BY remind_at"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Unanswered {
                    row: from_row(r)?,
                    reminders: r.try_get(21)?,
                })
            })
            .collect()
    }

    /// When the next incident reminder is due.
    pub async fn next_incident_reminder(&self) -> sqlx::Result<Option<i64>> {
        sqlx::query_scalar(
            "SELECT MIN(remind_at) FROM incidents WHERE remind_at IS NOT NULL \
             AND state = 'open' AND acked_at IS NULL",
        )
        .fetch_one(self.pool())
        .await
    }
}

/// Counts reminder `sent` of incident `id` and sets the next (`None`: no
/// more); `false` when another replica sent it, or it was acknowledged.
pub async fn incident_reminded(
    conn: &mut AnyConnection,
    id: i64,
    sent: i64,
    next: Option<i64>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE incidents SET reminders = $1, remind_at = $2 \
         WHERE id = $3 AND reminders = $4 AND state = 'open' AND acked_at IS NULL",
    )
    .bind(sent)
    .bind(next)
    .bind(id)
    .bind(sent - 1)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub use medic_commands::model::incident::Response;

/// Applies `r` by `actor` to incident `id` when its state allows it
/// (acknowledge: open and not acknowledged; resolve: open; reopen:
/// resolved); `false` when it did not (someone did it first).
pub async fn respond(
    conn: &mut AnyConnection,
    id: i64,
    r: Response,
    actor: &medic_commands::model::inbound::Actor,
    now_ms: i64,
) -> sqlx::Result<bool> {
    // `actor` is recorded by an acknowledgement; every response is also
    // in the audit log.
    let done = match r {
        Response::Acknowledge => {
            sqlx::query(
                "UPDATE incidents SET acked_at = $1, acked_by = $2, acked_by_name = $3, \
                 remind_at = NULL WHERE id = $4 AND state = 'open' AND acked_at IS NULL",
            )
            .bind(now_ms)
            .bind(actor.id.as_str())
            .bind(actor.name.as_str())
            .bind(id)
            .execute(conn)
            .await?
        }
        Response::Resolve => {
            sqlx::query(
                "UPDATE incidents SET state = 'resolved', resolved_at = $1, acked_at = NULL, \
                 acked_by = NULL, acked_by_name = NULL, remind_at = NULL \
                 WHERE id = $2 AND state = 'open'",
            )
            .bind(now_ms)
            .bind(id)
            .execute(conn)
            .await?
        }
        Response::Reopen => {
            let sql = format!(
                "UPDATE incidents SET state = 'open', resolved_at = NULL, last_seen = $1, \
                 remind_at = $1 + {}, reminders = 0 WHERE id = $2 AND state = 'resolved'",
                respond_within_sql()
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(now_ms)
                .bind(id)
                .execute(conn)
                .await?
        }
    };
    Ok(done.rows_affected() == 1)
}

/// Records where an incident's root message is.
/// Keeps the likely cause medic found (its first line, redacted like the
/// message that says it), for the handoff digest.
pub async fn set_likely_cause(conn: &mut AnyConnection, id: i64, cause: &str) -> sqlx::Result<()> {
    let line = cause.lines().next().unwrap_or_default();
    let line = medic_commands::redact::redact(line);
    sqlx::query("UPDATE incidents SET likely_cause = $1 WHERE id = $2")
        .bind(line)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn set_root(conn: &mut AnyConnection, id: i64, ts: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE incidents SET root_ts = $1 WHERE id = $2")
        .bind(ts)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The incidents a digest lists, in order.
pub async fn digest_incidents(
    conn: &mut AnyConnection,
    digest_id: i64,
) -> sqlx::Result<Vec<IncidentRow>> {
    let sql = format!("SELECT {COLUMNS} FROM incidents WHERE digest_id = $1 ORDER BY id");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(digest_id)
        .fetch_all(conn)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// A follow-up to run for an incident.
#[derive(Debug, Clone)]
pub struct Job {
    /// Its id.
    pub id: i64,
    /// The incident.
    pub incident_id: i64,
    /// `diagnose`.
    pub kind: String,
    /// For `diagnose`: the words to run, as JSON.
    pub payload: String,
}

/// Why a job did not finish this round. It is recorded on the job's row
/// and the job runs again next round, until it has failed a few
/// times: then it is parked, a dead letter for `medic status`, and the
/// jobs behind it go on.
#[derive(Debug)]
pub struct JobFailed {
    /// What the job was doing, for the log and the row.
    pub doing: &'static str,
    /// The error.
    pub error: String,
}

impl JobFailed {
    /// A failure while `doing`.
    pub fn new(doing: &'static str, error: impl std::fmt::Display) -> JobFailed {
        JobFailed {
            doing,
            error: error.to_string(),
        }
    }
}

impl std::fmt::Display for JobFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.doing, self.error)
    }
}

/// Queues a follow-up.
pub async fn insert_job(
    conn: &mut AnyConnection,
    incident_id: i64,
    kind: &str,
    payload: &str,
    now_ms: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO incident_jobs (incident_id, kind, payload, state, created_at) \
         VALUES ($1, $2, $3, 'pending', $4)",
    )
    .bind(incident_id)
    .bind(kind)
    .bind(payload)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks a follow-up done.
pub async fn finish_job(conn: &mut AnyConnection, id: i64, now_ms: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE incident_jobs SET state = 'done', done_at = $1 WHERE id = $2")
        .bind(now_ms)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

impl Store {
    /// Follow-ups not yet done, oldest first.
    pub async fn pending_jobs(&self, limit: i64) -> sqlx::Result<Vec<Job>> {
        let rows = sqlx::query(
            "SELECT id, incident_id, kind, payload FROM incident_jobs \
             WHERE state = 'pending' ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Job {
                    id: r.try_get(0)?,
                    incident_id: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    payload: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// One incident by number.
    pub async fn incident(&self, id: i64) -> sqlx::Result<Option<IncidentRow>> {
        let mut conn = self.pool().acquire().await?;
        incident(&mut conn, id).await
    }

    /// The incidents a digest lists.
    pub async fn digest(&self, digest_id: i64) -> sqlx::Result<Vec<IncidentRow>> {
        let mut conn = self.pool().acquire().await?;
        digest_incidents(&mut conn, digest_id).await
    }

    /// The fingerprint of incident `id`: its id at its source (PagerDuty's
    /// incident id, Sentry's issue id).
    pub async fn incident_fingerprint(&self, id: i64) -> sqlx::Result<String> {
        sqlx::query_scalar("SELECT fingerprint FROM incidents WHERE id = $1")
            .bind(id)
            .fetch_one(self.pool())
            .await
    }

    /// The incident whose thread has root `root` on `platform` (a
    /// digest's thread holds several: then none).
    pub async fn incident_by_root(
        &self,
        platform: Platform,
        root: &str,
    ) -> sqlx::Result<Option<IncidentRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM incidents WHERE platform = $1 AND root_ts = $2 \
             ORDER BY id LIMIT 2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(platform.as_str())
            .bind(root)
            .fetch_all(self.pool())
            .await?;
        match rows.as_slice() {
            [one] => Ok(Some(from_row(one)?)),
            _ => Ok(None),
        }
    }

    /// The open incidents whose threads are in `channel` on `platform`,
    /// oldest first.
    pub async fn open_in_channel(
        &self,
        platform: Platform,
        channel: &str,
    ) -> sqlx::Result<Vec<IncidentRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM incidents WHERE platform = $1 AND channel = $2 \
             AND state = 'open' ORDER BY id LIMIT 20"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(platform.as_str())
            .bind(channel)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Every incident, newest first (operators and tests).
    pub async fn incidents(&self) -> sqlx::Result<Vec<IncidentRow>> {
        let sql = format!("SELECT {COLUMNS} FROM incidents ORDER BY id DESC");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }
}
