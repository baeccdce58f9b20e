//! `seen_events`: which platform event ids some medic has already taken,
//! so that a platform's retry of an event runs once across every replica
//! on the database, and across a restart.

use super::{Store, now_ms};

impl Store {
    /// Claims `event_id` of `source` (`slack`) for this process: true the
    /// first time any medic on this database claims it, false for a
    /// repeat. One `INSERT … ON CONFLICT DO NOTHING`: two replicas that
    /// claim at the same instant cannot both win.
    pub async fn claim_event(&self, source: &str, event_id: &str) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO seen_events (source, event_id, seen_at) VALUES ($1, $2, $3) \
             ON CONFLICT (source, event_id) DO NOTHING",
        )
        .bind(source)
        .bind(event_id)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets event ids claimed more than `older_than_ms` ago (platforms
    /// retry within minutes: Slack three times within about an hour).
    pub async fn forget_old_events(&self, older_than_ms: i64) -> sqlx::Result<u64> {
        let done = sqlx::query("DELETE FROM seen_events WHERE seen_at < $1")
            .bind(now_ms() - older_than_ms)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
