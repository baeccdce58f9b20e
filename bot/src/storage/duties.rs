//! `duties`: which replica holds each duty, until when (see
//! [`crate::duty`]; several replicas share a PostgreSQL database only, so
//! SQLite never reads or writes these rows).

use super::Store;

impl Store {
    /// Takes or renews duty `name` for `holder` until `until` (unix ms),
    /// when it is free, expired at `now`, or already `holder`'s; `false`
    /// when another replica holds it. One statement, so two replicas
    /// asking at once cannot both get it.
    pub async fn take_duty(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO duties (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE duties.holder = excluded.holder OR duties.expires_at < $4",
        )
        .bind(name)
        .bind(holder)
        .bind(until)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives duty `name` up, if `holder` still holds it: another replica
    /// takes it at its next try instead of after the expiry.
    pub async fn release_duty(&self, name: &str, holder: &str) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM duties WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Every duty held now: (name, holder), by name.
    pub async fn duty_holders(&self, now: i64) -> sqlx::Result<Vec<(String, String)>> {
        sqlx::query_as("SELECT name, holder FROM duties WHERE expires_at >= $1 ORDER BY name")
            .bind(now)
            .fetch_all(self.pool())
            .await
    }
}
