//! `deliveries`: alert webhooks, committed before medic answers 2xx, with
//! redeliveries recognised by `(source, delivery_id)`.
//!
//! # Group commit
//!
//! A commit is a disk flush (PostgreSQL's WAL, SQLite's WAL under
//! `synchronous = NORMAL` at checkpoints) and, on SQLite, the single writer
//! lock: one transaction per webhook would cap an alert storm at the
//! database's commit rate. So one writer task takes every delivery that
//! arrived while the previous commit ran and writes them with one
//! multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING` (one statement,
//! so one implicit transaction: no BEGIN/COMMIT round trips), taking its
//! turn at SQLite's write lock like every other writer
//! ([`Store::write_turn`]); each caller waits for its own batch. Under light load a
//! batch is one row and costs what a plain INSERT costs; under a storm the
//! batch grows with the queue, so commits per second stay flat while rows
//! per second grow. No timer: nothing waits for a batch to fill.

use std::collections::HashMap;

use sqlx::{AssertSqlSafe, Row};
use tokio::sync::{mpsc, oneshot};

use super::{Store, now_ms};

/// Most rows in one statement: 5 parameters a row stays far below SQLite's
/// 32,766 and PostgreSQL's 65,535 bound parameters.
pub const MAX_BATCH: usize = 512;

/// A delivery to record.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// `sentry`, `pagerduty`, `alertmanager`.
    pub source: &'static str,
    /// The vendor's delivery id, or a content hash when it sends none.
    pub delivery_id: String,
    /// The normalised alerts, as JSON.
    pub alerts_json: String,
}

/// What recording a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// A new delivery, with its row id.
    New(i64),
    /// Seen before (a vendor retry): nothing was written.
    Duplicate,
}

/// Why a delivery could not be recorded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    /// The database refused or failed; the caller answers 5xx so that the
    /// vendor retries later.
    #[error("the database failed: {0}")]
    Database(String),
    /// medic is shutting down.
    #[error("medic is shutting down")]
    Closed,
}

struct Job {
    delivery: NewDelivery,
    done: oneshot::Sender<Result<Recorded, IngestError>>,
}

/// The handle webhooks record through; cheap to clone.
#[derive(Debug, Clone)]
pub struct Ingest {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("source", &self.delivery.source)
            .finish_non_exhaustive()
    }
}

impl Ingest {
    /// Starts the writer task on `store`. It stops when every handle is
    /// dropped, after writing what it has.
    pub fn start(store: Store) -> Ingest {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(writer(store, rx));
        Ingest { jobs }
    }

    /// Records one delivery; returns once it is committed (or recognised
    /// as a redelivery).
    pub async fn record(&self, delivery: NewDelivery) -> Result<Recorded, IngestError> {
        let (done, rx) = oneshot::channel();
        self.jobs
            .send(Job { delivery, done })
            .await
            .map_err(|_| IngestError::Closed)?;
        rx.await.map_err(|_| IngestError::Closed)?
    }
}

async fn writer(store: Store, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let outcomes = store.insert_deliveries(&batch).await;
        for (job, outcome) in batch.drain(..).zip(outcomes) {
            let _ = job.done.send(outcome);
        }
    }
}

impl Store {
    /// Writes a batch in one transaction and says, for each job in order,
    /// whether it was new or a redelivery (also within the batch itself).
    async fn insert_deliveries(&self, batch: &[Job]) -> Vec<Result<Recorded, IngestError>> {
        // Within a batch, the first of several equal keys is the delivery;
        // the others are its redeliveries.
        let mut first: HashMap<(&str, &str), usize> = HashMap::new();
        let mut rows = Vec::new();
        for (i, job) in batch.iter().enumerate() {
            let d = &job.delivery;
            if let std::collections::hash_map::Entry::Vacant(slot) =
                first.entry((d.source, d.delivery_id.as_str()))
            {
                slot.insert(i);
                rows.push(i);
            }
        }
        let now = now_ms();
        let mut sql = String::from(
            "INSERT INTO deliveries (source, delivery_id, received_at, alerts_json, state) VALUES ",
        );
        let mut m = super::Markers::for_backend(self.backend());
        for (n, _) in rows.iter().enumerate() {
            if n > 0 {
                sql.push_str(", ");
            }
            let (source, delivery, at, alerts) = (m.next(), m.next(), m.next(), m.next());
            sql.push_str(&format!(
                "({source}, {delivery}, {at}, {alerts}, 'pending')"
            ));
        }
        sql.push_str(
            " ON CONFLICT (source, delivery_id) DO NOTHING RETURNING id, source, delivery_id",
        );
        // Only placeholders are generated; every value is bound.
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for &i in &rows {
            let d = &batch[i].delivery;
            query = query
                .bind(d.source)
                .bind(d.delivery_id.as_str())
                .bind(now)
                .bind(d.alerts_json.as_str());
        }
        // One statement commits on its own: no BEGIN and COMMIT round
        // trips around it (it is all or nothing either way).
        let inserted = async {
            let _turn = self.write_turn().await;
            query.fetch_all(self.pool()).await
        }
        .await;
        match inserted {
            Ok(returned) => {
                let mut ids: HashMap<(String, String), i64> = HashMap::new();
                for row in returned {
                    if let (Ok(id), Ok(source), Ok(delivery)) = (
                        row.try_get::<i64, _>(0),
                        row.try_get::<String, _>(1),
                        row.try_get::<String, _>(2),
                    ) {
                        ids.insert((source, delivery), id);
                    }
                }
                batch
                    .iter()
                    .enumerate()
                    .map(|(i, job)| {
                        let d = &job.delivery;
                        let key = (d.source, d.delivery_id.as_str());
                        match ids.get(&(d.source.to_string(), d.delivery_id.clone())) {
                            Some(id) if first.get(&key) == Some(&i) => Ok(Recorded::New(*id)),
                            _ => Ok(Recorded::Duplicate),
                        }
                    })
                    .collect()
            }
            Err(e) => {
                let msg = e.to_string();
                batch
                    .iter()
                    .map(|_| Err(IngestError::Database(msg.clone())))
                    .collect()
            }
        }
    }

    /// Deliveries not yet taken by the incident logic, oldest first.
    pub async fn pending_deliveries(&self, limit: i64) -> sqlx::Result<Vec<(i64, String, String)>> {
        let rows = sqlx::query(
            "SELECT id, source, alerts_json FROM deliveries WHERE state = 'pending' ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// How many deliveries are stored for `source`.
    pub async fn count_deliveries(&self, source: &str) -> sqlx::Result<i64> {
        sqlx::query("SELECT COUNT(*) FROM deliveries WHERE source = $1")
            .bind(source)
            .fetch_one(self.pool())
            .await?
            .try_get(0)
    }
}

/// Marks deliveries taken by the incident logic (inside its transaction),
/// in one statement.
pub async fn deliveries_done(conn: &mut sqlx::AnyConnection, ids: &[i64]) -> sqlx::Result<()> {
    for chunk in ids.chunks(MAX_BATCH) {
        let mut m = super::Markers::for_conn(conn);
        let at = m.next();
        let list = m.tuple(chunk.len());
        let sql =
            format!("UPDATE deliveries SET state = 'done', processed_at = {at} WHERE id IN {list}");
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(now_ms());
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}
