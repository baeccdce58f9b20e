//! Dead letters: work medic gave up on, kept with its last error for an
//! operator (`medic status`) instead of being retried forever or dropped.
//!
//! Three kinds, each parked by its own loop after a few failures so the
//! work behind it goes on: an alert delivery the incident logic could not
//! apply (`deliveries.state = 'parked'`), a runbook or follow-up job that
//! kept failing (`incident_jobs.state = 'parked'`), and a chat message the
//! platform refused or that stayed undeliverable for `[outbox]
//! give_up_after` (`outbox.state = 'failed'`). The retention sweep deletes
//! them with the rest of their table once they are old.

use sqlx::Row;

use super::Store;

/// What a dead letter was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dead {
    /// An alert delivery (a webhook's body, normalised).
    Delivery,
    /// A job that follows an incident (its runbook, its buttons, its
    /// postmortem draft).
    Job,
    /// A chat message.
    Message,
}

impl Dead {
    /// Every kind, in the order `medic status` lists them.
    pub const ALL: [Dead; 3] = [Dead::Delivery, Dead::Job, Dead::Message];

    /// The word `medic status` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Dead::Delivery => "delivery",
            Dead::Job => "job",
            Dead::Message => "message",
        }
    }
}

/// Work that is tried again after a failure and parked after a few: an
/// alert delivery the incident logic could not apply, an incident job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parkable {
    /// A row of `deliveries`.
    Delivery,
    /// A row of `incident_jobs`.
    Job,
}

impl Parkable {
    fn table(self) -> &'static str {
        match self {
            Parkable::Delivery => "deliveries",
            Parkable::Job => "incident_jobs",
        }
    }
}

/// One parked piece of work.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Its kind.
    pub kind: Dead,
    /// Its row id in its table.
    pub id: i64,
    /// When it was received or queued (unix ms).
    pub at_ms: i64,
    /// What it was, in a few words (`sentry`, `incident #12 diagnose`,
    /// `slack C0123 reply`).
    pub what: String,
    /// Failures before it was parked (messages: rounds tried).
    pub attempts: i64,
    /// The last error.
    pub error: Option<String>,
}

impl Store {
    /// Records that `work` row `id` failed, with why; parks it once it has
    /// failed `park_after` times. `true` when it is parked now.
    pub async fn failed(
        &self,
        work: Parkable,
        id: i64,
        error: &str,
        park_after: i32,
    ) -> sqlx::Result<bool> {
        let _turn = self.write_turn().await;
        // The table comes from a closed set, never from input.
        let sql = format!(
            "UPDATE {} SET attempts = attempts + 1, error = $2, \
             state = CASE WHEN attempts + 1 >= $3 THEN 'parked' ELSE state END \
             WHERE id = $1 RETURNING state",
            work.table()
        );
        let state: String = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(error)
            .bind(park_after)
            .fetch_one(self.pool())
            .await?
            .try_get(0)?;
        Ok(state == "parked")
    }

    /// How many dead letters of `kind` there are.
    pub async fn dead_letter_count(&self, kind: Dead) -> sqlx::Result<i64> {
        let sql = match kind {
            Dead::Delivery => "SELECT COUNT(*) FROM deliveries WHERE state = 'parked'",
            Dead::Job => "SELECT COUNT(*) FROM incident_jobs WHERE state = 'parked'",
            Dead::Message => "SELECT COUNT(*) FROM outbox WHERE state = 'failed'",
        };
        sqlx::query(sql).fetch_one(self.pool()).await?.try_get(0)
    }

    /// The latest `limit` dead letters of `kind`, newest first.
    pub async fn dead_letters(&self, kind: Dead, limit: i64) -> sqlx::Result<Vec<DeadLetter>> {
        let sql = match kind {
            Dead::Delivery => {
                "SELECT id, received_at, source, attempts, error FROM deliveries \
                 WHERE state = 'parked' ORDER BY id DESC LIMIT $1"
            }
            Dead::Job => {
                "SELECT id, created_at, 'incident #' || incident_id || ' ' || kind, attempts, error \
                 FROM incident_jobs WHERE state = 'parked' ORDER BY id DESC LIMIT $1"
            }
            Dead::Message => {
                "SELECT id, created_at, platform || ' ' || channel || ' ' || kind, attempts, error \
                 FROM outbox WHERE state = 'failed' ORDER BY id DESC LIMIT $1"
            }
        };
        let rows = sqlx::query(sql).bind(limit).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(DeadLetter {
                    kind,
                    id: r.try_get(0)?,
                    at_ms: r.try_get(1)?,
                    what: r.try_get(2)?,
                    attempts: r.try_get::<i32, _>(3).map(i64::from)?,
                    error: r.try_get(4)?,
                })
            })
            .collect()
    }
}

/// What waits its turn now: the other half of "is medic keeping up?"
/// (`medic status`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Backlog {
    /// Alert deliveries not applied yet.
    pub deliveries: i64,
    /// Incident jobs not run yet.
    pub jobs: i64,
    /// Chat messages not sent yet.
    pub messages: i64,
    /// When the oldest of those messages was queued (unix ms).
    pub oldest_message_ms: Option<i64>,
}

impl Store {
    /// What is waiting now.
    pub async fn backlog(&self) -> sqlx::Result<Backlog> {
        let count = |sql: &'static str| async move {
            sqlx::query(sql)
                .fetch_one(self.pool())
                .await?
                .try_get::<i64, _>(0)
        };
        let oldest: Option<i64> =
            sqlx::query("SELECT MIN(created_at) FROM outbox WHERE state IN ('pending', 'sending')")
                .fetch_one(self.pool())
                .await?
                .try_get(0)?;
        Ok(Backlog {
            deliveries: count("SELECT COUNT(*) FROM deliveries WHERE state = 'pending'").await?,
            jobs: count("SELECT COUNT(*) FROM incident_jobs WHERE state = 'pending'").await?,
            messages: count("SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')")
                .await?,
            oldest_message_ms: oldest,
        })
    }
}
