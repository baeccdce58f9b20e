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
//! multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING`, in a transaction
//! that also applies them ([`Apply`]), taking its turn at SQLite's write
//! lock like every other writer ([`Store::write_turn`]); each caller waits
//! for its own batch. Under light load a
//! batch is one row and costs what a plain INSERT costs; under a storm the
//! batch grows with the queue, so commits per second stay flat while rows
//! per second grow. No timer: nothing waits for a batch to fill.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::future::BoxFuture;
use medic_commands::model::alert::Alert;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use tokio::sync::{mpsc, oneshot};

use super::script::{Script, Statement};
use super::{Backend, Store, now_ms};

/// Most rows in one statement: 6 parameters a row stays far below SQLite's
/// 32,766 and PostgreSQL's 65,535 bound parameters.
pub const MAX_BATCH: usize = 512;

/// A delivery to record.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// `sentry`, `pagerduty`, `alertmanager`.
    pub source: &'static str,
    /// The vendor's delivery id, or a content hash when it sends none.
    pub delivery_id: String,
    /// The normalised alerts, as JSON: what is stored.
    pub alerts_json: String,
    /// The same alerts, parsed: what an [`Apply`] is handed, so that the
    /// incident logic neither reads back nor re-parses what it was just
    /// given.
    pub alerts: Vec<Alert>,
}

impl NewDelivery {
    /// A delivery of `alerts`, serialised here (in the webhook's own task,
    /// not in the writer every webhook waits for).
    pub fn new(source: &'static str, delivery_id: String, mut alerts: Vec<Alert>) -> NewDelivery {
        alerts.iter_mut().for_each(clean);
        let alerts_json = serde_json::to_string(&alerts).unwrap_or_default();
        NewDelivery {
            source,
            delivery_id,
            alerts_json,
            alerts,
        }
    }
}

/// What enters with an alert is cleaned where it enters, once, so that
/// neither the database nor any message made from it later holds what it
/// must not:
///
/// - U+0000, valid JSON and a valid Rust string, which PostgreSQL's text
///   columns refuse (an alert carrying one could never be stored as an
///   incident), becomes U+FFFD in every string;
/// - secrets are masked by the one redactor ([`medic_commands::redact`]) in
///   every text shown or matched on — title, detail lines, exception chain,
///   label values, link, service, host: an exception message quoting a DSN
///   or a token, or an annotation holding one, reaches no chat.
///
/// The fingerprint is the source's own id for the alert: only its NULs
/// are replaced, so that an incident keeps its identity whatever the
/// redactor learns. The destructuring is exhaustive: a new field of
/// [`Alert`] has to be placed here.
fn clean(alert: &mut Alert) {
    let Alert {
        source: _,
        fingerprint,
        state: _,
        title,
        severity: _,
        service,
        host,
        labels,
        occurred_at: _,
        link,
        details,
        chain,
    } = alert;
    no_nul(fingerprint);
    let texts = [title]
        .into_iter()
        .chain(service.iter_mut())
        .chain(host.iter_mut())
        .chain(link.iter_mut())
        .chain(details.iter_mut())
        .chain(labels.iter_mut().map(|(name, value)| {
            no_nul(name);
            value
        }))
        .chain(chain.iter_mut().flat_map(|l| [&mut l.kind, &mut l.message]));
    for text in texts {
        no_nul(text);
        let redacted = medic_commands::redact::redact(text);
        if redacted != *text {
            *text = redacted;
        }
    }
}

/// Replaces U+0000 with U+FFFD.
fn no_nul(text: &mut String) {
    const NUL: char = '\0';
    if text.contains(NUL) {
        *text = text.replace(NUL, "\u{FFFD}");
    }
}

/// A stored delivery for the incident logic: from the writer's batch in
/// memory, or read back from `deliveries` when it is still pending.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Its row id in `deliveries`.
    pub id: i64,
    /// Its normalised alerts.
    pub alerts: Vec<Alert>,
}

/// What the writer does with a batch's new deliveries inside the
/// transaction that stores them (the incident logic:
/// `crate::incidents::Applier`). A delivery and what it changed then
/// commit together, so there is nothing to mark done, nothing to read back
/// and no second turn at SQLite's write lock.
///
/// The batch's transaction is two scripts when nothing new opens: the
/// first begins, inserts and runs [`Apply::reads`]; the second runs what
/// [`Apply::apply`] left in its tail, and commits ([`super::script`]).
pub trait Apply: Send + Sync + 'static {
    /// Statements reading what applying deliveries of `alerts` needs (the
    /// open incidents they name), sent with the batch's INSERT. `alerts`
    /// are those of the whole batch, redeliveries included: which of them
    /// are new is known only once the INSERT has run.
    fn reads(&self, backend: Backend, alerts: &mut dyn Iterator<Item = &Alert>) -> Vec<Statement>;

    /// Applies `batch`, in order, on `conn` (inside the writer's
    /// transaction; do not commit), given the rows of each of
    /// [`Apply::reads`]'s statements, in order. Writes that nothing after
    /// them reads go in `tail`, which the writer sends with the COMMIT. An
    /// error rolls the transaction back: the deliveries are then stored as
    /// pending for the incident worker, which retries them one by one.
    fn apply<'c>(
        &'c self,
        conn: &'c mut AnyConnection,
        batch: &'c [Pending],
        read: Vec<Vec<AnyRow>>,
        tail: &'c mut Script,
    ) -> BoxFuture<'c, sqlx::Result<()>>;

    /// Called after every commit: `applied` says whether the batch's
    /// changes were committed with it (wake the outbox), or the deliveries
    /// were left pending (wake the incident worker).
    fn committed(&self, applied: bool);
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
    /// Starts the writer task on `store`, storing deliveries as pending
    /// for the incident worker. It stops when every handle is dropped,
    /// after writing what it has.
    pub fn start(store: Store) -> Ingest {
        Ingest::spawn(store, None)
    }

    /// Starts the writer task on `store`, applying each batch with `apply`
    /// in the transaction that stores it.
    pub fn start_applying(store: Store, apply: Arc<dyn Apply>) -> Ingest {
        Ingest::spawn(store, Some(apply))
    }

    fn spawn(store: Store, apply: Option<Arc<dyn Apply>>) -> Ingest {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(writer(store, apply, rx));
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

/// The writer keeps one connection of the pool while it works: a batch is
/// a chain of round trips to SQLite's thread (begin, insert, the incident
/// logic's statements, commit) that every webhook of the batch waits for,
/// and taking a connection from the pool for each batch added one, and
/// a cold page cache. After a failure the connection is closed and a
/// fresh one taken for the next batch.
async fn writer(store: Store, apply: Option<Arc<dyn Apply>>, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut held = None;
    loop {
        tokio::select! {
            biased;
            // Closing the store waits for every connection to come back.
            () = store.closing(), if held.is_some() => {
                held = None;
                continue;
            }
            n = rx.recv_many(&mut batch, MAX_BATCH) => if n == 0 {
                break;
            },
        }
        let conn = match &mut held {
            Some(conn) => conn,
            None => match store.hold().await {
                Ok(mut conn) => {
                    // Dropped after a failure or at close: closed, never
                    // handed to anyone else (see `insert_and_apply`).
                    conn.close_on_drop();
                    held.insert(conn)
                }
                Err(e) => {
                    let outcomes = failed(&batch, &e);
                    answer(&mut batch, outcomes);
                    continue;
                }
            },
        };
        let outcomes = match &apply {
            Some(apply) => {
                store
                    .insert_and_apply(conn, &mut batch, apply.as_ref())
                    .await
            }
            None => store.insert_pending(conn, &batch).await,
        };
        if outcomes.iter().any(Result::is_err) {
            held = None;
        }
        answer(&mut batch, outcomes);
    }
}

/// Tells each job of `batch` its outcome, emptying it.
fn answer(batch: &mut Vec<Job>, outcomes: Vec<Result<Recorded, IngestError>>) {
    for (job, outcome) in batch.drain(..).zip(outcomes) {
        let _ = job.done.send(outcome);
    }
}

/// A batch's rows to insert: the first of several equal keys is the
/// delivery, the others are its redeliveries (also within the batch).
struct Rows {
    /// Index in the batch of each row to insert: the first job of each
    /// key, in batch order.
    rows: Vec<usize>,
}

impl Rows {
    fn of(batch: &[Job]) -> Rows {
        let mut seen = HashSet::with_capacity(batch.len());
        let rows = (0..batch.len())
            .filter(|&i| {
                let d = &batch[i].delivery;
                seen.insert((d.source, d.delivery_id.as_str()))
            })
            .collect();
        Rows { rows }
    }

    /// One multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING`, rows
    /// stored in `state` (only placeholders are generated; every value is
    /// bound).
    fn insert(&self, backend: Backend, batch: &[Job], state: &'static str) -> Statement {
        let mut sql = String::from(
            "INSERT INTO deliveries (source, delivery_id, received_at, alerts_json, state, processed_at) VALUES ",
        );
        let mut m = super::Markers::for_backend(backend);
        let rows: Vec<usize> = super::padded(&self.rows).copied().collect();
        for n in 0..rows.len() {
            if n > 0 {
                sql.push_str(", ");
            }
            let (source, delivery, at, alerts, st, done) =
                (m.next(), m.next(), m.next(), m.next(), m.next(), m.next());
            sql.push_str(&format!(
                "({source}, {delivery}, {at}, {alerts}, {st}, {done})"
            ));
        }
        sql.push_str(
            " ON CONFLICT (source, delivery_id) DO NOTHING RETURNING id, source, delivery_id",
        );
        let now = now_ms();
        // Applied in the transaction that stores it: processed as it arrived.
        let processed = (state == "done").then_some(now);
        let mut statement = Statement::new(sql);
        // A repeated last row conflicts with itself: DO NOTHING.
        for &i in &rows {
            let d = &batch[i].delivery;
            statement
                .bind(d.source)
                .bind(d.delivery_id.clone())
                .bind(now)
                .bind(d.alerts_json.clone())
                .bind(state)
                .bind(processed);
        }
        statement
    }

    /// Each job's outcome, in batch order, from the rows the INSERT
    /// returned (a conflict returns nothing: a redelivery).
    fn outcomes(&self, batch: &[Job], returned: &[AnyRow]) -> Vec<Recorded> {
        let mut ids: HashMap<(&str, &str), i64> = HashMap::with_capacity(returned.len());
        for row in returned {
            if let (Ok(id), Ok(source), Ok(delivery)) = (
                row.try_get::<i64, _>(0),
                row.try_get::<&str, _>(1),
                row.try_get::<&str, _>(2),
            ) {
                ids.insert((source, delivery), id);
            }
        }
        let mut outcomes = vec![Recorded::Duplicate; batch.len()];
        for &i in &self.rows {
            let d = &batch[i].delivery;
            if let Some(id) = ids.get(&(d.source, d.delivery_id.as_str())) {
                outcomes[i] = Recorded::New(*id);
            }
        }
        outcomes
    }
}

/// Why [`Store::insert_and_apply`]'s transaction did not commit.
enum Failure {
    /// Storing failed: the webhooks are answered 503 and vendors retry.
    Store(sqlx::Error),
    /// The incident logic failed: the deliveries are stored as pending.
    Apply(sqlx::Error),
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Failure {
        Failure::Store(e)
    }
}

/// Ends a failed transaction on `conn`. Nothing to roll back when BEGIN or
/// COMMIT was what failed: that error says nothing more.
async fn rollback(conn: &mut AnyConnection) {
    let _ = sqlx::query("ROLLBACK").execute(conn).await;
}

fn failed(batch: &[Job], e: &sqlx::Error) -> Vec<Result<Recorded, IngestError>> {
    let msg = e.to_string();
    batch
        .iter()
        .map(|_| Err(IngestError::Database(msg.clone())))
        .collect()
}

impl Store {
    /// Writes a batch as pending deliveries in one statement and says, for
    /// each job in order, whether it was new or a redelivery.
    async fn insert_pending(
        &self,
        conn: &mut AnyConnection,
        batch: &[Job],
    ) -> Vec<Result<Recorded, IngestError>> {
        let rows = Rows::of(batch);
        let backend = self.backend();
        // An explicit transaction, although one statement is all or
        // nothing on its own: after a failed batch, a BEGIN that fails
        // because a transaction is still open on this connection answers
        // 503, where a bare INSERT would join that transaction and be
        // answered 2xx uncommitted.
        let mut script = Script::new(backend);
        script.push(Statement::begin_write(backend));
        script.push(rows.insert(backend, batch, "pending"));
        script.push(Statement::commit());
        let inserted = async {
            let _turn = self.write_turn().await;
            let inserted = script.run(&mut *conn).await;
            if inserted.is_err() {
                rollback(conn).await;
            }
            inserted
        }
        .await;
        match inserted {
            Ok(results) => rows
                .outcomes(batch, &results[1])
                .into_iter()
                .map(Ok)
                .collect(),
            Err(e) => failed(batch, &e),
        }
    }

    /// Writes a batch as done and applies its new deliveries, in one
    /// transaction. When applying fails, the transaction is rolled back
    /// and the batch stored as pending instead (the incident worker
    /// retries it, one delivery at a time, and logs the one that fails).
    ///
    /// The writer runs the transaction itself, with `BEGIN` and `COMMIT` in
    /// its scripts beside the statements they enclose ([`Apply`]).
    /// Whatever fails, it rolls back before it answers; the
    /// held connection closes instead of going back to the pool when it is
    /// dropped ([`writer`]), so a transaction left open by a failed
    /// rollback cannot reach anyone else.
    async fn insert_and_apply(
        &self,
        conn: &mut AnyConnection,
        batch: &mut [Job],
        apply: &dyn Apply,
    ) -> Vec<Result<Recorded, IngestError>> {
        let backend = self.backend();
        let rows = Rows::of(batch);
        let turn = self.write_turn().await;
        let attempt = async {
            let mut first = Script::new(backend);
            first.push(Statement::begin_write(backend));
            first.push(rows.insert(backend, batch, "done"));
            first.extend(apply.reads(
                backend,
                &mut batch.iter().flat_map(|job| &job.delivery.alerts),
            ));
            let mut results = first.run(&mut *conn).await?;
            let read = results.split_off(2);
            let outcomes = rows.outcomes(batch, &results[1]);
            // The alerts move to the incident logic: nothing reads them
            // from the batch after this.
            let new: Vec<Pending> = outcomes
                .iter()
                .zip(batch.iter_mut())
                .filter_map(|(o, job)| match o {
                    Recorded::New(id) => Some(Pending {
                        id: *id,
                        alerts: std::mem::take(&mut job.delivery.alerts),
                    }),
                    Recorded::Duplicate => None,
                })
                .collect();
            let mut tail = Script::new(backend);
            if !new.is_empty() {
                apply
                    .apply(&mut *conn, &new, read, &mut tail)
                    .await
                    .map_err(Failure::Apply)?;
            }
            tail.push(Statement::commit());
            // A failing tail is the incident logic's UPDATE or INSERT, or
            // the COMMIT: stored as pending, the batch is retried apart.
            tail.run(&mut *conn).await.map_err(Failure::Apply)?;
            Ok::<_, Failure>(outcomes)
        };
        let attempt = attempt.await;
        if attempt.is_err() {
            rollback(conn).await;
        }
        drop(turn);
        match attempt {
            Ok(outcomes) => {
                apply.committed(true);
                outcomes.into_iter().map(Ok).collect()
            }
            Err(Failure::Store(e)) => failed(batch, &e),
            Err(Failure::Apply(error)) => {
                tracing::warn!(%error, deliveries = batch.len(), "Could not apply a batch of deliveries as they were stored; storing them as pending.");
                let outcomes = self.insert_pending(conn, batch).await;
                apply.committed(false);
                outcomes
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
        let ids: Vec<&i64> = super::padded(chunk).collect();
        let list = m.tuple(ids.len());
        let sql =
            format!("UPDATE deliveries SET state = 'done', processed_at = {at} WHERE id IN {list}");
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(now_ms());
        for id in ids {
            query = query.bind(*id);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}
