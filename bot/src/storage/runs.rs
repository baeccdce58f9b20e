//! `command_runs`: one row per accepted command, from "accepted" to
//! "posted" (or "failed"), holding the report that was posted.
//!
//! The state column lets a restart find work that a crash interrupted.

use medic_commands::Diagnosis;
use medic_commands::model::inbound::Platform;
use sqlx::Row;

use super::{Store, now_ms};

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Acknowledged to the user; the diagnostic has not finished.
    Accepted,
    /// The diagnostic finished; the report is stored, not yet all posted.
    Reported,
    /// Root message and thread are in the channel.
    Posted,
    /// Could not be delivered; `error` says why.
    Failed,
}

impl RunState {
    fn as_str(self) -> &'static str {
        match self {
            RunState::Accepted => "accepted",
            RunState::Reported => "reported",
            RunState::Posted => "posted",
            RunState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> RunState {
        match s {
            "reported" => RunState::Reported,
            "posted" => RunState::Posted,
            "failed" => RunState::Failed,
            _ => RunState::Accepted,
        }
    }
}

/// A command to record.
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
}

/// A stored run.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// The record number shown as `#id`.
    pub id: i64,
    /// Where it is in its life.
    pub state: RunState,
    /// Target name.
    pub target: String,
    /// Channel id.
    pub channel: String,
    /// Overall status word, once reported.
    pub status: Option<String>,
    /// The root message's ts, once posted.
    pub root_ts: Option<String>,
    /// Why delivery failed.
    pub error: Option<String>,
}

impl Store {
    /// Records an accepted command and returns its number.
    pub async fn insert_run(&self, run: &NewRun<'_>) -> sqlx::Result<i64> {
        let _turn = self.write_turn().await;
        let row = sqlx::query(
            "INSERT INTO command_runs (platform, channel, actor_id, actor_name, command, target, state, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(run.platform.as_str())
        .bind(run.channel)
        .bind(run.actor_id)
        .bind(run.actor_name)
        .bind(run.command)
        .bind(run.target)
        .bind(RunState::Accepted.as_str())
        .bind(now_ms())
        .fetch_one(self.pool())
        .await?;
        row.try_get::<i64, _>(0)
    }

    /// Stores the finished diagnosis (one report per target).
    pub async fn set_report(&self, id: i64, report: &Diagnosis) -> sqlx::Result<()> {
        self.store_report(id, None, report).await
    }

    /// Records the root message once it is in the channel, and with it the
    /// diagnosis when the root already shows the final one: one write
    /// instead of two for nearly every command.
    pub async fn set_root(
        &self,
        id: i64,
        root_ts: &str,
        report: Option<&Diagnosis>,
    ) -> sqlx::Result<()> {
        if let Some(report) = report {
            return self.store_report(id, Some(root_ts), report).await;
        }
        let _turn = self.write_turn().await;
        sqlx::query("UPDATE command_runs SET root_ts = $1 WHERE id = $2")
            .bind(root_ts)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The run's diagnosis (and root message, when given) on record.
    async fn store_report(
        &self,
        id: i64,
        root_ts: Option<&str>,
        report: &Diagnosis,
    ) -> sqlx::Result<()> {
        let json = serde_json::to_string(report).unwrap_or_default();
        let _turn = self.write_turn().await;
        sqlx::query(
            "UPDATE command_runs SET state = $1, finished_at = $2, status = $3, summary = $4, report_json = $5,
             root_ts = COALESCE($6, root_ts) WHERE id = $7",
        )
        .bind(RunState::Reported.as_str())
        .bind(now_ms())
        .bind(report.status().word())
        .bind(report.headline())
        .bind(json)
        .bind(root_ts)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Marks the run delivered, or failed with a reason.
    pub async fn finish_run(&self, id: i64, error: Option<&str>) -> sqlx::Result<()> {
        let _turn = self.write_turn().await;
        let state = if error.is_some() {
            RunState::Failed
        } else {
            RunState::Posted
        };
        sqlx::query("UPDATE command_runs SET state = $1, error = $2 WHERE id = $3")
            .bind(state.as_str())
            .bind(error)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// One run by number.
    pub async fn run(&self, id: i64) -> sqlx::Result<Option<RunRecord>> {
        let row = sqlx::query(
            "SELECT id, state, target, channel, status, root_ts, error FROM command_runs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(RunRecord {
                id: r.try_get(0)?,
                state: RunState::parse(&r.try_get::<String, _>(1)?),
                target: r.try_get(2)?,
                channel: r.try_get(3)?,
                status: r.try_get(4)?,
                root_ts: r.try_get(5)?,
                error: r.try_get(6)?,
            })
        })
        .transpose()
    }
}
