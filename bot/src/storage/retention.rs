//! The retention sweep (`[retention]`): what medic no longer needs is
//! deleted by age, in small batches, so that the database stops growing
//! with every alert, message and command.
//!
//! Only what is over is deleted: a delivery applied or parked, a message
//! sent, failed or folded into a digest, a command reported, an incident
//! resolved, a request finished. What is still under way is kept whatever
//! its age, and the audit log is never swept (it is the record of who ran
//! what, and its hash chain would break).

use sqlx::Row;

use super::{Store, now_ms};

/// What the sweep deletes; one counter label each on `/metrics`
/// (`medic_retention_deleted_total{table}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swept {
    /// `deliveries`: alert deliveries applied (or parked). Kept at least
    /// as long as vendors retry, so redelivery dedup loses nothing.
    Deliveries,
    /// `outbox`: chat messages sent, failed or digested. A message an
    /// edit may still follow is kept: an open incident's, a remediation
    /// request's status while it is not finished, a handoff digest not
    /// taken yet.
    Outbox,
    /// `command_runs`: `/diag` and friends once reported, with their
    /// report.
    CommandRuns,
    /// `incidents` resolved that long ago, with their jobs, timeline
    /// events and offers; handoff digests as old.
    Incidents,
    /// `action_requests` finished that long ago, with their approvals
    /// (their audit rows stay).
    Requests,
}

impl Swept {
    /// Every kind, in sweep order.
    pub const ALL: [Swept; 5] = [
        Swept::Deliveries,
        Swept::Outbox,
        Swept::CommandRuns,
        Swept::Incidents,
        Swept::Requests,
    ];

    /// The metric label and the `[retention]` key.
    pub fn as_str(self) -> &'static str {
        match self {
            Swept::Deliveries => "deliveries",
            Swept::Outbox => "outbox",
            Swept::CommandRuns => "command_runs",
            Swept::Incidents => "incidents",
            Swept::Requests => "requests",
        }
    }
}

/// Rows deleted per statement: small enough that SQLite's single writer
/// and PostgreSQL's locks are held for moments, not while a year of rows
/// goes.
pub const BATCH: i64 = 500;

impl Store {
    /// Deletes up to [`BATCH`] rows of `what` that are over and older
    /// than `older_than_ms`; returns how many went. Call again while it
    /// returns a full batch.
    pub async fn sweep(&self, what: Swept, older_than_ms: i64) -> sqlx::Result<u64> {
        let cutoff = now_ms() - older_than_ms;
        match what {
            Swept::Deliveries => {
                self.delete(
                    "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries \
                     WHERE state IN ('done', 'parked') AND received_at < $1 ORDER BY id LIMIT $2)",
                    cutoff,
                )
                .await
            }
            Swept::Outbox => {
                self.delete(
                    "DELETE FROM outbox WHERE id IN (SELECT o.id FROM outbox o \
                     WHERE o.state IN ('sent', 'failed', 'digested') AND o.created_at < $1 \
                     AND NOT EXISTS (SELECT 1 FROM incidents i \
                         WHERE i.id = o.incident_id AND i.state = 'open') \
                     AND NOT EXISTS (SELECT 1 FROM action_requests r WHERE r.status_row = o.id \
                         AND r.state IN ('pending', 'approved', 'running')) \
                     AND NOT EXISTS (SELECT 1 FROM handoffs h \
                         WHERE h.root_row = o.id AND h.taken_at IS NULL AND h.remind_at IS NOT NULL) \
                     ORDER BY o.id LIMIT $2)",
                    cutoff,
                )
                .await
            }
            Swept::CommandRuns => {
                self.delete(
                    "DELETE FROM command_runs WHERE id IN (SELECT id FROM command_runs \
                     WHERE state IN ('posted', 'failed') AND received_at < $1 ORDER BY id LIMIT $2)",
                    cutoff,
                )
                .await
            }
            Swept::Incidents => self.sweep_incidents(cutoff).await,
            Swept::Requests => self.sweep_requests(cutoff).await,
        }
    }

    /// One batch of a single-statement sweep.
    async fn delete(&self, sql: &'static str, cutoff: i64) -> sqlx::Result<u64> {
        let _turn = self.write_turn().await;
        let done = sqlx::query(sql)
            .bind(cutoff)
            .bind(BATCH)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Resolved incidents and what hangs off them, in one transaction per
    /// batch; then handoff digests as old.
    async fn sweep_incidents(&self, cutoff: i64) -> sqlx::Result<u64> {
        let mut tx = self.begin_write().await?;
        let ids: Vec<i64> = sqlx::query(
            "SELECT id FROM incidents WHERE state = 'resolved' AND resolved_at < $1 \
             ORDER BY id LIMIT $2",
        )
        .bind(cutoff)
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<sqlx::Result<_>>()?;
        for id in &ids {
            for sql in [
                "DELETE FROM incident_jobs WHERE incident_id = $1",
                "DELETE FROM incident_events WHERE incident_id = $1",
                "DELETE FROM action_offers WHERE incident_id = $1 \
                 AND NOT EXISTS (SELECT 1 FROM action_requests r WHERE r.offer_id = action_offers.id)",
                "DELETE FROM incidents WHERE id = $1",
            ] {
                sqlx::query(sql).bind(id).execute(&mut *tx).await?;
            }
        }
        let handoffs = sqlx::query(
            "DELETE FROM handoffs WHERE id IN (SELECT id FROM handoffs \
             WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
        )
        .bind(cutoff)
        .bind(BATCH)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(ids.len() as u64 + handoffs)
    }

    /// Finished requests and their approvals, in one transaction.
    async fn sweep_requests(&self, cutoff: i64) -> sqlx::Result<u64> {
        let mut tx = self.begin_write().await?;
        let ids: Vec<String> = sqlx::query(
            "SELECT id FROM action_requests \
             WHERE state IN ('succeeded', 'failed', 'skipped', 'denied', 'expired') \
             AND created_at < $1 ORDER BY created_at LIMIT $2",
        )
        .bind(cutoff)
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<sqlx::Result<_>>()?;
        for id in &ids {
            for sql in [
                "DELETE FROM action_approvals WHERE request_id = $1",
                "DELETE FROM action_requests WHERE id = $1",
            ] {
                sqlx::query(sql).bind(id).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(ids.len() as u64)
    }

    /// How many rows of `what` there are, over or not (`medic status`).
    pub async fn rows_of(&self, what: Swept) -> sqlx::Result<i64> {
        let sql = match what {
            Swept::Deliveries => "SELECT COUNT(*) FROM deliveries",
            Swept::Outbox => "SELECT COUNT(*) FROM outbox",
            Swept::CommandRuns => "SELECT COUNT(*) FROM command_runs",
            Swept::Incidents => "SELECT COUNT(*) FROM incidents",
            Swept::Requests => "SELECT COUNT(*) FROM action_requests",
        };
        sqlx::query(sql).fetch_one(self.pool()).await?.try_get(0)
    }
}
