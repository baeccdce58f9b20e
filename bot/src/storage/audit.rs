//! `audit_log`: an append-only record of every offer, request, approval,
//! denial, expiry and run, each row chained to the one before by SHA-256.
//!
//! The table refuses UPDATE and DELETE (triggers), and the chain catches
//! what gets past that (someone with the database owner's rights editing
//! a row, dropping the triggers first): every row's hash covers its fields
//! and the previous row's hash, so a change anywhere breaks verification
//! from that row on. Removing rows from the *end* leaves a valid shorter
//! chain; `medic audit` prints the head hash so it can be kept elsewhere.

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{Backend, Store, now_ms};

/// The `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One event to record.
#[derive(Debug, Clone, Default)]
pub struct AuditEvent<'a> {
    /// `offered`, `requested`, `refused`, `approved`, `denied`, `expired`,
    /// `started`, `succeeded`, `failed`, `skipped`.
    pub event: &'a str,
    /// Who (a chat user id, or `medic`).
    pub actor: &'a str,
    /// The action's name.
    pub action: &'a str,
    /// The target.
    pub target: &'a str,
    /// The offer or request id.
    pub ref_id: &'a str,
    /// Redacted detail (the rule, exit status, output).
    pub detail: &'a str,
}

/// A stored row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRow {
    /// Position in the log.
    pub seq: i64,
    /// Unix milliseconds.
    pub at: i64,
    /// What happened.
    pub event: String,
    /// Who.
    pub actor: String,
    /// Which action.
    pub action: String,
    /// On which target.
    pub target: String,
    /// Offer or request id.
    pub ref_id: String,
    /// Detail.
    pub detail: String,
    /// The previous row's hash.
    pub prev_hash: String,
    /// This row's hash.
    pub hash: String,
}

/// The hash of a row: every field length-prefixed (so no two different
/// rows serialise alike), after the previous hash.
pub fn row_hash(prev: &str, at: i64, e: &AuditEvent<'_>) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &at.to_string(),
        e.event,
        e.actor,
        e.action,
        e.target,
        e.ref_id,
        e.detail,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Where verification found the chain broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The first row that does not verify.
    pub seq: i64,
    /// Why.
    pub reason: String,
}

/// Checks a chain in order; `Ok` holds the head hash.
pub fn verify(rows: &[AuditRow]) -> Result<String, Broken> {
    let mut prev = GENESIS.to_string();
    for r in rows {
        if r.prev_hash != prev {
            return Err(Broken {
                seq: r.seq,
                reason: "its prev_hash is not the previous row's hash (a row before it was removed or changed)".into(),
            });
        }
        let e = AuditEvent {
            event: &r.event,
            actor: &r.actor,
            action: &r.action,
            target: &r.target,
            ref_id: &r.ref_id,
            detail: &r.detail,
        };
        if row_hash(&prev, r.at, &e) != r.hash {
            return Err(Broken {
                seq: r.seq,
                reason: "its contents do not match its hash (the row was changed)".into(),
            });
        }
        prev = r.hash.clone();
    }
    Ok(prev)
}

impl Store {
    /// Appends one event, chained to the last. Appends are serialised
    /// (SQLite's write lock; a table lock on PostgreSQL), and `prev_hash`
    /// is UNIQUE, so two writers can never fork the chain.
    pub async fn audit(&self, e: AuditEvent<'_>) -> sqlx::Result<()> {
        let mut tx = self.begin_write().await?;
        if self.backend() == Backend::Postgres {
            sqlx::query("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
        }
        let prev: Option<String> =
            sqlx::query_scalar("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?;
        let prev = prev.unwrap_or_else(|| GENESIS.to_string());
        let at = now_ms();
        let hash = row_hash(&prev, at, &e);
        sqlx::query(
            "INSERT INTO audit_log (at, event, actor, action, target, ref_id, detail, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(at)
        .bind(e.event)
        .bind(e.actor)
        .bind(e.action)
        .bind(e.target)
        .bind(e.ref_id)
        .bind(e.detail)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// The whole log in order (verification needs every row), and the
    /// index of the first row at or after `since` (unix ms).
    pub async fn audit_rows(&self) -> sqlx::Result<Vec<AuditRow>> {
        let rows = sqlx::query(
            "SELECT seq, at, event, actor, action, target, ref_id, detail, prev_hash, hash
             FROM audit_log ORDER BY seq",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditRow {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    event: r.try_get("event")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    ref_id: r.try_get("ref_id")?,
                    detail: r.try_get("detail")?,
                    prev_hash: r.try_get("prev_hash")?,
                    hash: r.try_get("hash")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> Vec<AuditRow> {
        let mut prev = GENESIS.to_string();
        (0..n)
            .map(|i| {
                let detail = format!("row {i}");
                let e = AuditEvent {
                    event: "requested",
                    actor: "U1",
                    action: "a",
                    target: "t",
                    ref_id: "r",
                    detail: &detail,
                };
                let hash = row_hash(&prev, i as i64, &e);
                let row = AuditRow {
                    seq: i as i64 + 1,
                    at: i as i64,
                    event: "requested".into(),
                    actor: "U1".into(),
                    action: "a".into(),
                    target: "t".into(),
                    ref_id: "r".into(),
                    detail,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                row
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies_to_its_head() {
        let rows = chain(5);
        assert_eq!(verify(&rows), Ok(rows[4].hash.clone()));
        assert_eq!(verify(&[]), Ok(GENESIS.to_string()));
    }

    #[test]
    fn a_changed_or_removed_row_breaks_the_chain_there() {
        let mut rows = chain(5);
        rows[2].detail = "row 2, edited".into();
        assert_eq!(verify(&rows).unwrap_err().seq, 3);
        let mut rows = chain(5);
        rows.remove(1);
        assert_eq!(verify(&rows).unwrap_err().seq, 3);
    }

    #[test]
    fn fields_cannot_be_shifted_between_columns() {
        let a = AuditEvent {
            event: "ab",
            actor: "c",
            ..Default::default()
        };
        let b = AuditEvent {
            event: "a",
            actor: "bc",
            ..Default::default()
        };
        assert_ne!(row_hash(GENESIS, 0, &a), row_hash(GENESIS, 0, &b));
    }
}
