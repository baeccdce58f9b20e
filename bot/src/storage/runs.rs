//! `command_runs`: one row per accepted command, from "accepted" to
//! "posted" (or "failed"), holding the report that was posted.
//!
//! A run is `accepted` until its diagnosis is done; then, in one
//! transaction, its report is stored, it becomes `reported` and its
//! messages are queued in the outbox; it is `posted` when the last of them
//! is sent. A restart finds the runs still `accepted` and runs them again
//! (`crate::delivery::recover`); a `reported` one only waits for the
//! outbox.

use medic_commands::Diagnosis;
use medic_commands::model::inbound::Platform;
use medic_commands::model::word::Word;
use sqlx::{AnyConnection, Row};

use super::{Store, now_ms};

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Acknowledged to the user; the diagnostic has not finished.
    Accepted,
    /// The diagnosis is stored and its messages queued, not yet all posted.
    Reported,
    /// Every message of the report is in chat.
    Posted,
    /// Could not be delivered; `error` says why.
    Failed,
}

impl Word for RunState {
    const SET: &'static str = "run state";
    const ALL: &'static [RunState] = &[
        RunState::Accepted,
        RunState::Reported,
        RunState::Posted,
        RunState::Failed,
    ];
    fn as_str(self) -> &'static str {
        match self {
            RunState::Accepted => "accepted",
            RunState::Reported => "reported",
            RunState::Posted => "posted",
            RunState::Failed => "failed",
        }
    }
}

/// A command to record, with what delivering its report needs after a
/// restart.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    /// Where it was typed.
    pub platform: Platform,
    /// Channel id.
    pub channel: &'a str,
    /// Platform user id.
    pub actor_id: &'a str,
    /// Display name.
    pub actor_name: &'a str,
    /// As typed: `/diag redis`.
    pub command: &'a str,
    /// The target name.
    pub target: &'a str,
    /// The thread the report goes in (an @mention's).
    pub thread_ts: Option<&'a str>,
    /// Slack's `response_url`, for a private answer.
    pub response_url: Option<&'a str>,
    /// Discord's interaction token, whose deferred answer becomes the root.
    pub interaction_token: Option<&'a str>,
}

/// A stored run.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// The record number shown as `#id`.
    pub id: i64,
    /// Where it is in its life.
    pub state: RunState,
    /// Where it was typed.
    pub platform: Platform,
    /// Target name.
    pub target: String,
    /// Channel id.
    pub channel: String,
    /// Who asked: id and name.
    pub actor: (String, String),
    /// As typed.
    pub command: String,
    /// Overall status word, once reported.
    pub status: Option<String>,
    /// The root message's ts, once posted.
    pub root_ts: Option<String>,
    /// Why delivery failed.
    pub error: Option<String>,
    /// The thread the report goes in (an @mention's).
    pub thread_ts: Option<String>,
    /// Slack's `response_url`.
    pub response_url: Option<String>,
    /// Discord's interaction token, until the run is posted.
    pub interaction_token: Option<String>,
    /// The diagnosis, once reported.
    pub report: Option<Diagnosis>,
    /// The replica running it (its duty holder id).
    pub runner: Option<String>,
}

const COLUMNS: &str = "id, state, platform, target, channel, actor_id, actor_name, command, status, \
     root_ts, error, thread_ts, response_url, interaction_token, report_json, runner";

fn from_row(r: &sqlx::any::AnyRow) -> sqlx::Result<RunRecord> {
    let report: Option<String> = r.try_get(14)?;
    Ok(RunRecord {
        id: r.try_get(0)?,
        state: super::word(r, 1)?,
        platform: super::word(r, 2)?,
        target: r.try_get(3)?,
        channel: r.try_get(4)?,
        actor: (r.try_get(5)?, r.try_get(6)?),
        command: r.try_get(7)?,
        status: r.try_get(8)?,
        root_ts: r.try_get(9)?,
        error: r.try_get(10)?,
        thread_ts: r.try_get(11)?,
        response_url: r.try_get(12)?,
        interaction_token: r.try_get(13)?,
        report: report.and_then(|json| serde_json::from_str(&json).ok()),
        runner: r.try_get(15)?,
    })
}

impl Store {
    /// Records an accepted command, run by replica `runner`, and returns
    /// its number.
    pub async fn insert_run(&self, run: &NewRun<'_>, runner: &str) -> sqlx::Result<i64> {
        let _turn = self.write_turn().await;
        let row = sqlx::query(
            "INSERT INTO command_runs (platform, channel, actor_id, actor_name, command, target, state, \
             received_at, thread_ts, response_url, interaction_token, runner) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(run.platform.as_str())
        .bind(run.channel)
        .bind(run.actor_id)
        .bind(run.actor_name)
        .bind(run.command)
        .bind(run.target)
        .bind(RunState::Accepted.as_str())
        .bind(now_ms())
        .bind(run.thread_ts)
        .bind(run.response_url.filter(|u| !u.is_empty()))
        .bind(run.interaction_token)
        .bind(runner)
        .fetch_one(self.pool())
        .await?;
        row.try_get::<i64, _>(0)
    }

    /// One run by number.
    pub async fn run(&self, id: i64) -> sqlx::Result<Option<RunRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM command_runs WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// Runs accepted since `since_ms` whose diagnosis never finished and
    /// whose runner is gone: not `me`, and not a replica present at `now`
    /// ([`crate::duty::presence`]). A stop or a crash interrupted them.
    pub async fn orphaned_runs(
        &self,
        since_ms: i64,
        me: &str,
        now: i64,
    ) -> sqlx::Result<Vec<RunRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM command_runs WHERE state = 'accepted' AND received_at >= $1 \
             AND (runner IS NULL OR (runner <> $2 AND runner NOT IN \
             (SELECT holder FROM duties WHERE name = 'replica:' || holder AND expires_at >= $3))) \
             ORDER BY id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(since_ms)
            .bind(me)
            .bind(now)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Takes run `run` over for `me` from its gone runner; `false` when
    /// another replica took it first (or it finished meanwhile).
    pub async fn take_run(&self, run: &RunRecord, me: &str) -> sqlx::Result<bool> {
        let _turn = self.write_turn().await;
        let done = match &run.runner {
            Some(gone) => {
                sqlx::query(
                    "UPDATE command_runs SET runner = $1 WHERE id = $2 AND state = 'accepted' \
                     AND runner = $3",
                )
                .bind(me)
                .bind(run.id)
                .bind(gone)
                .execute(self.pool())
                .await?
            }
            None => {
                sqlx::query(
                    "UPDATE command_runs SET runner = $1 WHERE id = $2 AND state = 'accepted' \
                     AND runner IS NULL",
                )
                .bind(me)
                .bind(run.id)
                .execute(self.pool())
                .await?
            }
        };
        Ok(done.rows_affected() == 1)
    }

    /// Runs accepted before `before_ms` and never finished: too old to be
    /// worth running again after a restart. Marked failed, and counted.
    pub async fn abandon_runs(&self, before_ms: i64) -> sqlx::Result<u64> {
        let _turn = self.write_turn().await;
        Ok(sqlx::query(
            "UPDATE command_runs SET state = 'failed', error = 'medic stopped before it finished, too long ago to run again' \
             WHERE state = 'accepted' AND received_at < $1",
        )
        .bind(before_ms)
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    /// Marks a run delivered privately (to its requester, where medic may
    /// not post in the channel).
    pub async fn run_delivered_privately(&self, id: i64) -> sqlx::Result<()> {
        let _turn = self.write_turn().await;
        sqlx::query(
            "UPDATE command_runs SET state = 'posted', error = NULL, interaction_token = NULL WHERE id = $1",
        )
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Marks a run failed outside the outbox (its diagnosis could not be
    /// stored or queued).
    pub async fn fail_run(&self, id: i64, error: &str) -> sqlx::Result<()> {
        let mut tx = self.begin_write().await?;
        failed(&mut tx, id, error).await?;
        tx.commit().await
    }
}

/// Stores a run's diagnosis and marks it reported, in the caller's
/// transaction (which queues its messages).
pub async fn store_report(
    conn: &mut AnyConnection,
    id: i64,
    report: &Diagnosis,
) -> sqlx::Result<()> {
    let json = serde_json::to_string(report).unwrap_or_default();
    sqlx::query(
        "UPDATE command_runs SET state = CASE WHEN state = 'accepted' THEN $1 ELSE state END, \
         finished_at = $2, status = $3, summary = $4, report_json = $5 WHERE id = $6",
    )
    .bind(RunState::Reported.as_str())
    .bind(now_ms())
    .bind(report.status().word())
    .bind(report.headline())
    .bind(json)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks a reported run posted when none of its messages waits any more;
/// its interaction token, of no further use, is forgotten.
pub(crate) async fn posted_if_done(conn: &mut AnyConnection, id: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE command_runs SET state = 'posted', interaction_token = NULL \
         WHERE id = $1 AND state = 'reported' AND NOT EXISTS \
         (SELECT 1 FROM outbox WHERE run_id = $1 AND state IN ('pending', 'sending'))",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks a run failed with `error` (the first error wins).
pub(crate) async fn failed(conn: &mut AnyConnection, id: i64, error: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE command_runs SET state = 'failed', error = $1, interaction_token = NULL \
         WHERE id = $2 AND state IN ('accepted', 'reported')",
    )
    .bind(error)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}
