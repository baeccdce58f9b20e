//! `outbox`: every chat call medic makes, durable and in order per
//! channel: incidents' roots, notes, edits and digests, `/diag` reports,
//! remediation status messages and their edits.
//!
//! Rows are written in the same transaction as the change that causes
//! them, so a crash never loses a message nor sends one for a change that
//! did not happen. The drain takes a channel's oldest row, marks it
//! `sending`, calls the platform, and marks it `sent` with the message's
//! ts. A row found `sending` at start-up was in flight when medic stopped:
//! whether it landed is asked of the platform before it is sent again.

use medic_commands::model::inbound::Platform;
use medic_commands::model::word::Word;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::script::{Script, Statement};
use super::{Backend, Store, now_ms};

/// What a row asks the platform to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxKind {
    /// Post a root message: an incident's (its ts becomes the incident's
    /// root) or a run's (the run's root).
    Root,
    /// Post into a thread: the incident's, the parent row's message's, or
    /// `thread_ts`; with none of them, into the channel.
    Reply,
    /// Replace a message: the incident's root, or the parent row's.
    Edit,
    /// Post one message for many new incidents (a storm): this row was
    /// the first of them's root; the others' roots are folded into it.
    Digest,
}

impl Word for OutboxKind {
    const SET: &'static str = "outbox kind";
    const ALL: &'static [OutboxKind] = &[
        OutboxKind::Root,
        OutboxKind::Reply,
        OutboxKind::Edit,
        OutboxKind::Digest,
    ];
    fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Root => "root",
            OutboxKind::Reply => "reply",
            OutboxKind::Edit => "edit",
            OutboxKind::Digest => "digest",
        }
    }
}

/// One chat call to make.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// Its id: also the marker that identifies the message at the platform.
    pub id: i64,
    /// Where it goes.
    pub platform: Platform,
    /// The channel.
    pub channel: String,
    /// The incident it belongs to.
    pub incident_id: Option<i64>,
    /// The `/diag` run it belongs to.
    pub run_id: Option<i64>,
    /// The row whose message it replies under or edits.
    pub parent_id: Option<i64>,
    /// The thread it posts in, when known at queueing time.
    pub thread_ts: Option<String>,
    /// The name of the thread a root starts (Discord).
    pub title: Option<String>,
    /// Not to be tried before this (unix ms): the backoff after a failed
    /// round.
    pub not_before: i64,
    /// What to do.
    pub kind: OutboxKind,
    /// The message, as the platform's JSON.
    pub body: String,
    /// `pending` or `sending`.
    pub state: String,
    /// Failed attempts so far.
    pub attempts: i64,
    /// When it was queued (unix ms).
    pub created_at: i64,
}

const COLUMNS: &str = "id, platform, channel, incident_id, kind, body, state, attempts, created_at, \
     run_id, parent_id, thread_ts, title, not_before";

fn from_row(r: &AnyRow) -> sqlx::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.try_get(0)?,
        platform: super::word(r, 1)?,
        channel: r.try_get(2)?,
        incident_id: r.try_get(3)?,
        kind: super::word(r, 4)?,
        body: r.try_get(5)?,
        state: r.try_get(6)?,
        attempts: r
            .try_get::<i32, _>(7)
            .map(i64::from)
            .or_else(|_| r.try_get(7))?,
        created_at: r.try_get(8)?,
        run_id: r.try_get(9)?,
        parent_id: r.try_get(10)?,
        thread_ts: r.try_get(11)?,
        title: r.try_get(12)?,
        not_before: r.try_get(13)?,
    })
}

/// Queues a call. An edit of an incident's root carries no body: it is
/// rendered from the incident when it is sent, so one pending edit per
/// incident is enough and a storm of repeats costs one `chat.update`, not
/// one per delivery (`body` is ignored for [`OutboxKind::Edit`]).
pub async fn enqueue(
    conn: &mut AnyConnection,
    platform: Platform,
    channel: &str,
    incident_id: i64,
    kind: OutboxKind,
    body: &str,
) -> sqlx::Result<()> {
    if kind == OutboxKind::Edit {
        let edit = Edit {
            platform,
            channel,
            incident_id,
        };
        let mut script = Script::for_conn(conn);
        script.extend(enqueue_edits(script.backend(), &[edit]));
        return script.execute(conn).await;
    }
    let now = now_ms();
    sqlx::query(
        "INSERT INTO outbox (platform, channel, incident_id, kind, body, state, attempts, not_before, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
    )
    .bind(platform.as_str())
    .bind(channel)
    .bind(incident_id)
    .bind(kind.as_str())
    .bind(body)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A row to queue that belongs to no incident: a `/diag` report's
/// messages, a request's status.
#[derive(Debug, Clone, Copy)]
pub struct NewRow<'a> {
    /// Where it goes.
    pub platform: Platform,
    /// The channel (the lane it waits in).
    pub channel: &'a str,
    /// What to do.
    pub kind: OutboxKind,
    /// The message, as the platform's JSON.
    pub body: &'a str,
    /// The `/diag` run it belongs to.
    pub run_id: Option<i64>,
    /// The row whose message it goes under (a reply) or replaces (an edit).
    pub parent_id: Option<i64>,
    /// The thread it goes in, when known now (and no parent says).
    pub thread_ts: Option<&'a str>,
    /// The name of the thread a root starts (Discord).
    pub title: Option<&'a str>,
}

impl<'a> NewRow<'a> {
    /// A `kind` row with `body` into `channel`, tied to nothing yet.
    pub fn new(platform: Platform, channel: &'a str, kind: OutboxKind, body: &'a str) -> Self {
        NewRow {
            platform,
            channel,
            kind,
            body,
            run_id: None,
            parent_id: None,
            thread_ts: None,
            title: None,
        }
    }
}

/// Queues `row` and returns its id. An edit of a parent row whose last
/// edit is still waiting replaces that edit's body instead: only the
/// newest state of a message is worth sending.
pub async fn push(conn: &mut AnyConnection, row: &NewRow<'_>) -> sqlx::Result<i64> {
    if let (OutboxKind::Edit, Some(parent)) = (row.kind, row.parent_id) {
        let replaced = sqlx::query(
            "UPDATE outbox SET body = $1 WHERE parent_id = $2 AND kind = 'edit' AND state = 'pending' \
             RETURNING id",
        )
        .bind(row.body)
        .bind(parent)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(r) = replaced {
            return r.try_get(0);
        }
    }
    let now = now_ms();
    sqlx::query(
        "INSERT INTO outbox (platform, channel, kind, body, state, attempts, not_before, created_at, \
         run_id, parent_id, thread_ts, title) \
         VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(row.platform.as_str())
    .bind(row.channel)
    .bind(row.kind.as_str())
    .bind(row.body)
    .bind(now)
    .bind(row.run_id)
    .bind(row.parent_id)
    .bind(row.thread_ts)
    .bind(row.title)
    .fetch_one(conn)
    .await?
    .try_get(0)
}

/// The newest row of run `run_id`, in the caller's transaction.
pub async fn last_of_run(conn: &mut AnyConnection, run_id: i64) -> sqlx::Result<i64> {
    sqlx::query("SELECT MAX(id) FROM outbox WHERE run_id = $1")
        .bind(run_id)
        .fetch_one(conn)
        .await?
        .try_get(0)
}

/// Where a row goes that is not an incident's: the thread it posts in and
/// the message it edits, from its parent row (once that one is posted) or
/// its own `thread_ts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Anchor {
    /// The thread to post in; `None`: the channel itself.
    pub thread: Option<String>,
    /// The message an edit replaces.
    pub message: Option<String>,
    /// The parent row was not posted (it failed or was given up): what
    /// goes under it cannot go anywhere.
    pub orphaned: bool,
}

/// How a row ended, for whoever waits on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The platform has it.
    Sent,
    /// It was rejected, or given up after `[outbox] give_up_after`.
    Failed,
}

/// A root edit to queue for an incident.
#[derive(Debug, Clone)]
pub struct Edit<'a> {
    /// Its platform.
    pub platform: Platform,
    /// The incident's channel.
    pub channel: &'a str,
    /// The incident.
    pub incident_id: i64,
}

/// Queues root edits of several incidents, as [`enqueue`] does for one
/// with [`OutboxKind::Edit`], in one statement per 200, for the caller to
/// run: an incident that already has an edit waiting gets nothing more (the
/// edit is rendered when it is sent), so in a storm a repeat writes nothing
/// to the outbox.
pub fn enqueue_edits(backend: Backend, edits: &[Edit<'_>]) -> Vec<Statement> {
    const ROWS: usize = 200;
    let now = now_ms();
    edits
        .chunks(ROWS)
        .map(|chunk| {
            let mut m = super::Markers::for_backend(backend);
            // DISTINCT: a repeated row must not queue a second edit.
            let chunk: Vec<&Edit> = super::padded(chunk).collect();
            let values: Vec<String> = chunk.iter().map(|_| m.tuple(4)).collect();
            let mut statement = Statement::new(format!(
                "WITH v (platform, channel, incident_id, at) AS (VALUES {}) \
                 INSERT INTO outbox (platform, channel, incident_id, kind, body, state, attempts, not_before, created_at) \
                 SELECT DISTINCT v.platform, v.channel, v.incident_id, 'edit', '', 'pending', 0, v.at, v.at FROM v \
                 WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.incident_id = v.incident_id \
                 AND o.kind = 'edit' AND o.state = 'pending')",
                values.join(", ")
            ));
            for e in chunk {
                statement
                    .bind(e.platform.as_str())
                    .bind(e.channel.to_string())
                    .bind(e.incident_id)
                    .bind(now);
            }
            statement
        })
        .collect()
}

impl Store {
    /// Channels with calls waiting.
    pub async fn outbox_channels(&self) -> sqlx::Result<Vec<(Platform, String)>> {
        let rows = sqlx::query(
            "SELECT DISTINCT platform, channel FROM outbox WHERE state IN ('pending', 'sending')",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((super::word(r, 0)?, r.try_get(1)?)))
            .collect()
    }

    /// A channel's next call: one in flight at the last stop first, then
    /// the oldest new root, then the oldest of the rest. Roots go before
    /// other incidents' notes so that a new incident is never stuck
    /// behind a busy thread; each incident's own calls keep their order
    /// (its root is older than its notes and edits).
    pub async fn outbox_next(
        &self,
        platform: Platform,
        channel: &str,
    ) -> sqlx::Result<Option<OutboxRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM outbox WHERE platform = $1 AND channel = $2 \
             AND state IN ('pending', 'sending') \
             ORDER BY CASE WHEN state = 'sending' THEN 0 WHEN kind IN ('root', 'digest') THEN 1 ELSE 2 END, id \
             LIMIT 1"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(platform.as_str())
            .bind(channel)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// Marks a call as in flight, before it is made, and returns its body
    /// as it is at that moment (`None` when the row is gone). From then on
    /// no pending edit is coalesced into it, so what is sent is the latest.
    pub async fn outbox_sending(&self, id: i64) -> sqlx::Result<Option<String>> {
        sqlx::query("UPDATE outbox SET state = 'sending' WHERE id = $1 RETURNING body")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .map(|r| r.try_get(0))
            .transpose()
    }

    /// Marks a call done; for a root, records the incident's root message in
    /// the same transaction.
    pub async fn outbox_sent(&self, row: &OutboxRow, ts: &str) -> sqlx::Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE outbox SET state = 'sent', sent_ts = $1 WHERE id = $2")
            .bind(ts)
            .bind(row.id)
            .execute(&mut *tx)
            .await?;
        match (row.kind, row.incident_id) {
            (OutboxKind::Root, Some(incident)) => {
                super::incidents::set_root(&mut tx, incident, ts).await?;
            }
            (OutboxKind::Digest, _) => {
                sqlx::query("UPDATE incidents SET root_ts = $1 WHERE digest_id = $2")
                    .bind(ts)
                    .bind(row.id)
                    .execute(&mut *tx)
                    .await?;
            }
            _ => {}
        }
        if let Some(run) = row.run_id {
            if row.kind == OutboxKind::Root {
                sqlx::query("UPDATE command_runs SET root_ts = $1 WHERE id = $2")
                    .bind(ts)
                    .bind(run)
                    .execute(&mut *tx)
                    .await?;
            }
            super::runs::posted_if_done(&mut tx, run).await?;
        }
        tx.commit().await
    }

    /// The ids of a channel's incident roots waiting to be posted, oldest
    /// first, at most `limit` (a `/diag` report's root is never folded into
    /// a storm's digest).
    pub async fn outbox_pending_roots(
        &self,
        platform: Platform,
        channel: &str,
        limit: usize,
    ) -> sqlx::Result<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT id FROM outbox WHERE platform = $1 AND channel = $2 AND kind = 'root' \
             AND state = 'pending' AND incident_id IS NOT NULL ORDER BY id LIMIT $3",
        )
        .bind(platform.as_str())
        .bind(channel)
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| r.try_get(0)).collect()
    }

    /// Whether a digest for `channel` began (its first incident was queued)
    /// at or after `since_ms`: the channel is still in a storm.
    pub async fn outbox_digest_since(
        &self,
        platform: Platform,
        channel: &str,
        since_ms: i64,
    ) -> sqlx::Result<bool> {
        let found = sqlx::query(
            "SELECT 1 FROM outbox WHERE platform = $1 AND channel = $2 AND kind = 'digest' \
             AND created_at >= $3 LIMIT 1",
        )
        .bind(platform.as_str())
        .bind(channel)
        .bind(since_ms)
        .fetch_optional(self.pool())
        .await?;
        Ok(found.is_some())
    }

    /// Folds waiting roots into one digest: the first (`roots[0]`, the
    /// lane's next row) becomes the digest, the rest are marked
    /// `digested`, and each incident records the digest it is in, all in
    /// one transaction, so a crash leaves either the single roots or the
    /// digest, never a mix.
    pub async fn outbox_fold_digest(&self, roots: &[i64]) -> sqlx::Result<()> {
        let Some(&first) = roots.first() else {
            return Ok(());
        };
        let mut tx = self.begin_write().await?;
        for &id in roots {
            let state = if id == first { "pending" } else { "digested" };
            sqlx::query(
                "UPDATE outbox SET kind = CASE WHEN id = $1 THEN 'digest' ELSE kind END, \
                 state = $2 WHERE id = $3 AND state = 'pending' AND kind = 'root'",
            )
            .bind(first)
            .bind(state)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE incidents SET digest_id = $1 \
                 WHERE id = (SELECT incident_id FROM outbox WHERE id = $2)",
            )
            .bind(first)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// Where `row` goes, when it belongs to no incident: see [`Anchor`].
    pub async fn outbox_anchor(&self, row: &OutboxRow) -> sqlx::Result<Anchor> {
        let Some(parent) = row.parent_id else {
            return Ok(Anchor {
                thread: row.thread_ts.clone(),
                ..Anchor::default()
            });
        };
        let found = sqlx::query("SELECT thread_ts, sent_ts, state FROM outbox WHERE id = $1")
            .bind(parent)
            .fetch_optional(self.pool())
            .await?;
        let Some(r) = found else {
            return Ok(Anchor {
                orphaned: true,
                ..Anchor::default()
            });
        };
        let (thread, sent, state): (Option<String>, Option<String>, String) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        let sent = sent.filter(|ts| !ts.is_empty());
        Ok(Anchor {
            // Threads do not nest: under a message that is itself in a
            // thread, the reply goes in that thread. ("" is a root that
            // could have no thread.)
            thread: thread.or_else(|| sent.clone()),
            message: sent,
            orphaned: state == "failed",
        })
    }

    /// The root row queued for run `run_id`, if any.
    pub async fn outbox_root_of_run(&self, run_id: i64) -> sqlx::Result<Option<i64>> {
        sqlx::query("SELECT id FROM outbox WHERE run_id = $1 AND kind = 'root' ORDER BY id LIMIT 1")
            .bind(run_id)
            .fetch_optional(self.pool())
            .await?
            .map(|r| r.try_get(0))
            .transpose()
    }

    /// Records that root row `id`'s message has no thread (one could not
    /// be started): its replies' thread is then `""`, which the platform's
    /// sender takes as "none".
    pub async fn outbox_without_thread(&self, id: i64) -> sqlx::Result<()> {
        let _turn = self.write_turn().await;
        sqlx::query("UPDATE outbox SET thread_ts = '' WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Row `id`'s thread title.
    pub async fn outbox_title(&self, id: i64) -> sqlx::Result<Option<String>> {
        Ok(sqlx::query("SELECT title FROM outbox WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .map(|r| r.try_get::<Option<String>, _>(0))
            .transpose()?
            .flatten())
    }

    /// How row `id` ended; `None` while it waits.
    pub async fn outbox_settled(&self, id: i64) -> sqlx::Result<Option<Settled>> {
        let state: Option<String> = sqlx::query("SELECT state FROM outbox WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        Ok(match state.as_deref() {
            Some("sent") => Some(Settled::Sent),
            Some("failed" | "digested") | None => Some(Settled::Failed),
            Some(_) => None,
        })
    }

    /// Counts a failed round at row `id` (an outage, a 429 past the
    /// lane's patience); it is not tried again before `retry_at` (unix ms).
    pub async fn outbox_attempted(&self, id: i64, retry_at: i64) -> sqlx::Result<()> {
        let _turn = self.write_turn().await;
        sqlx::query("UPDATE outbox SET attempts = attempts + 1, not_before = $2 WHERE id = $1")
            .bind(id)
            .bind(retry_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Gives up on a call (the platform rejected it; retrying cannot help).
    /// A run it belongs to failed with it (its report did not all reach
    /// chat), with `error` as the reason.
    pub async fn outbox_failed(&self, id: i64, error: &str) -> sqlx::Result<()> {
        let mut tx = self.begin_write().await?;
        let run: Option<Option<i64>> = sqlx::query(
            "UPDATE outbox SET state = 'failed', error = $1 WHERE id = $2 RETURNING run_id",
        )
        .bind(error)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
        if let Some(Some(run)) = run {
            super::runs::failed(&mut tx, run, error).await?;
        }
        tx.commit().await
    }

    /// Counts calls by state (metrics, tests).
    pub async fn outbox_count(&self, state: &str) -> sqlx::Result<i64> {
        sqlx::query("SELECT COUNT(*) FROM outbox WHERE state = $1")
            .bind(state)
            .fetch_one(self.pool())
            .await?
            .try_get(0)
    }
}
