//! `handoffs`: the digests posted at shift changes, who took them and the
//! reminders sent; and the reads a digest is made of (open incidents, the
//! shift's counts, approvals waiting, actions run).
//!
//! A scheduled digest is inserted once per (rotation, platform, handover)
//! by a unique index: whoever inserts it queues its message in the same
//! transaction, so a restart or a second replica at the handover minute
//! neither skips nor doubles it. Taking it and each reminder are one
//! conditional UPDATE, so two presses or two replicas move it once.

use medic_commands::model::alert::Severity;
use medic_commands::model::inbound::Platform;
use medic_commands::model::priority::Priority;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::Store;

/// A handoff to insert.
#[derive(Debug, Clone)]
pub struct NewHandoff<'a> {
    /// Its opaque id (the button's value).
    pub id: &'a str,
    /// The rotation.
    pub rotation: &'a str,
    /// Where it is posted.
    pub platform: Platform,
    /// The channel.
    pub channel: &'a str,
    /// The handover instant (unix ms) of a scheduled digest; `None` for
    /// one asked for with `/handoff`.
    pub scheduled_for: Option<i64>,
    /// Who hands over (a person's name).
    pub outgoing: Option<&'a str>,
    /// Who takes over.
    pub incoming: &'a str,
    /// The digest, JSON.
    pub view: &'a str,
    /// Unix ms.
    pub created_at: i64,
    /// When the first reminder is due (unix ms).
    pub remind_at: i64,
}

/// A stored handoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffRow {
    /// Its id.
    pub id: String,
    /// The rotation.
    pub rotation: String,
    /// Where it was posted.
    pub platform: Platform,
    /// The channel.
    pub channel: String,
    /// The handover instant of a scheduled digest.
    pub scheduled_for: Option<i64>,
    /// Who handed over.
    pub outgoing: Option<String>,
    /// Who takes over.
    pub incoming: String,
    /// The digest, JSON.
    pub view: String,
    /// Its outbox row (the digest's message).
    pub root_row: Option<i64>,
    /// Unix ms.
    pub created_at: i64,
    /// When the next reminder is due; `None` once taken or done reminding.
    pub remind_at: Option<i64>,
    /// Reminders sent.
    pub reminders: i64,
    /// Who pressed "I've got it" (a chat user id).
    pub taken_by: Option<String>,
    /// When.
    pub taken_at: Option<i64>,
}

const COLUMNS: &str = "id, rotation, platform, channel, scheduled_for, outgoing, incoming, view, \
     root_row, created_at, remind_at, reminders, taken_by, taken_at";

fn from_row(r: &AnyRow) -> sqlx::Result<HandoffRow> {
    Ok(HandoffRow {
        id: r.try_get(0)?,
        rotation: r.try_get(1)?,
        platform: super::word(r, 2)?,
        channel: r.try_get(3)?,
        scheduled_for: r.try_get(4)?,
        outgoing: r.try_get(5)?,
        incoming: r.try_get(6)?,
        view: r.try_get(7)?,
        root_row: r.try_get(8)?,
        created_at: r.try_get(9)?,
        remind_at: r.try_get(10)?,
        reminders: r.try_get(11)?,
        taken_by: r.try_get(12)?,
        taken_at: r.try_get(13)?,
    })
}

/// Inserts `h`; `false` when a scheduled digest for that handover is
/// already there (another replica, or this one before a restart).
pub async fn insert(conn: &mut AnyConnection, h: &NewHandoff<'_>) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO handoffs (id, rotation, platform, channel, scheduled_for, outgoing, incoming, \
         view, created_at, remind_at, reminders) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0) \
         ON CONFLICT (rotation, platform, scheduled_for) DO NOTHING",
    )
    .bind(h.id)
    .bind(h.rotation)
    .bind(h.platform.as_str())
    .bind(h.channel)
    .bind(h.scheduled_for)
    .bind(h.outgoing)
    .bind(h.incoming)
    .bind(h.view)
    .bind(h.created_at)
    .bind(h.remind_at)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records which outbox row is the digest's message.
pub async fn set_root_row(conn: &mut AnyConnection, id: &str, row: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE handoffs SET root_row = $1 WHERE id = $2")
        .bind(row)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Marks `id` taken by `by`, with the digest redrawn as `view`; `false`
/// when it was taken already.
pub async fn take(
    conn: &mut AnyConnection,
    id: &str,
    by: &str,
    at: i64,
    view: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE handoffs SET taken_by = $1, taken_at = $2, view = $3, remind_at = NULL \
         WHERE id = $4 AND taken_at IS NULL",
    )
    .bind(by)
    .bind(at)
    .bind(view)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Counts reminder `sent` (the first is 1) and sets when the next is due
/// (`None`: no more); `false` when another replica sent it.
pub async fn reminded(
    conn: &mut AnyConnection,
    id: &str,
    sent: i64,
    next: Option<i64>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE handoffs SET reminders = $1, remind_at = $2 \
         WHERE id = $3 AND reminders = $4 AND taken_at IS NULL",
    )
    .bind(sent)
    .bind(next)
    .bind(id)
    .bind(sent - 1)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// An open incident, as a digest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRow {
    /// Its number.
    pub id: i64,
    /// Its severity.
    pub severity: Severity,
    /// Its P-level.
    pub priority: Option<Priority>,
    /// Its title.
    pub title: String,
    /// Unix ms.
    pub first_seen: i64,
    /// medic's likely cause, one line.
    pub likely_cause: Option<String>,
    /// Its place and root message.
    pub place: Option<(Platform, String)>,
    /// Its root message's id.
    pub root_ts: Option<String>,
}

/// A remediation request, as a digest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine {
    /// The action's name.
    pub action: String,
    /// The target.
    pub target: String,
    /// Its state's word.
    pub state: String,
    /// Who asked (their name).
    pub requester: String,
    /// When it expires (unix ms).
    pub expires_at: i64,
}

fn request_line(r: &AnyRow) -> sqlx::Result<RequestLine> {
    Ok(RequestLine {
        action: r.try_get(0)?,
        target: r.try_get(1)?,
        state: r.try_get(2)?,
        requester: r.try_get(3)?,
        expires_at: r.try_get(4)?,
    })
}

/// What a shift saw, between two instants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShiftRows {
    /// Alert deliveries per source, most first.
    pub sources: Vec<(String, i64)>,
    /// Incidents opened.
    pub opened: i64,
    /// Incidents resolved.
    pub resolved: i64,
    /// Requests that finished running.
    pub actions: Vec<RequestLine>,
}

impl Store {
    /// One handoff by id.
    pub async fn handoff(&self, id: &str) -> sqlx::Result<Option<HandoffRow>> {
        let sql = format!("SELECT {COLUMNS} FROM handoffs WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// Every handoff, oldest first (tests and operators).
    pub async fn handoffs(&self) -> sqlx::Result<Vec<HandoffRow>> {
        let sql = format!("SELECT {COLUMNS} FROM handoffs ORDER BY created_at, id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Handoffs whose next reminder is due at `now`.
    pub async fn reminders_due(&self, now: i64) -> sqlx::Result<Vec<HandoffRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM handoffs WHERE remind_at IS NOT NULL AND remind_at <= $1 \
             ORDER BY remind_at"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// When the next reminder of any handoff is due.
    pub async fn next_reminder(&self) -> sqlx::Result<Option<i64>> {
        sqlx::query_scalar("SELECT MIN(remind_at) FROM handoffs WHERE remind_at IS NOT NULL")
            .fetch_one(self.pool())
            .await
    }

    /// Open incidents, most urgent first, then oldest.
    pub async fn open_for_handoff(&self) -> sqlx::Result<Vec<OpenRow>> {
        let rows = sqlx::query(
            "SELECT id, severity, title, first_seen, likely_cause, platform, channel, root_ts, priority \
             FROM incidents WHERE state = 'open' ORDER BY first_seen, id",
        )
        .fetch_all(self.pool())
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                let platform: Option<Platform> = super::word_opt(r, 5)?;
                let channel: Option<String> = r.try_get(6)?;
                Ok(OpenRow {
                    id: r.try_get(0)?,
                    severity: super::word(r, 1)?,
                    title: r.try_get(2)?,
                    first_seen: r.try_get(3)?,
                    likely_cause: r.try_get(4)?,
                    place: platform.zip(channel),
                    root_ts: r.try_get(7)?,
                    priority: super::word_opt(r, 8)?,
                })
            })
            .collect::<sqlx::Result<Vec<_>>>()?;
        // The most urgent first: by P-level (unknown last), then the
        // source's severity.
        out.sort_by_key(|o| {
            (
                o.priority.unwrap_or(Priority::P3),
                std::cmp::Reverse(o.severity),
            )
        });
        Ok(out)
    }

    /// Requests waiting for approval that have not expired at `now`.
    pub async fn pending_for_handoff(&self, now: i64) -> sqlx::Result<Vec<RequestLine>> {
        let rows = sqlx::query(
            "SELECT action, target, state, requester_name, expires_at FROM action_requests \
             WHERE state = 'pending' AND expires_at > $1 ORDER BY expires_at",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(request_line).collect()
    }

    /// What happened between `from` and `until` (unix ms).
    pub async fn shift_rows(&self, from: i64, until: i64) -> sqlx::Result<ShiftRows> {
        let sources = sqlx::query(
            "SELECT source, COUNT(*) FROM deliveries WHERE received_at >= $1 AND received_at < $2 \
             GROUP BY source ORDER BY COUNT(*) DESC, source",
        )
        .bind(from)
        .bind(until)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<sqlx::Result<Vec<(String, i64)>>>()?;
        let opened: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM incidents WHERE first_seen >= $1 AND first_seen < $2",
        )
        .bind(from)
        .bind(until)
        .fetch_one(self.pool())
        .await?;
        let resolved: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM incidents WHERE resolved_at >= $1 AND resolved_at < $2",
        )
        .bind(from)
        .bind(until)
        .fetch_one(self.pool())
        .await?;
        let actions = sqlx::query(
            "SELECT action, target, state, requester_name, expires_at FROM action_requests \
             WHERE started_at IS NOT NULL AND finished_at >= $1 AND finished_at < $2 \
             ORDER BY finished_at",
        )
        .bind(from)
        .bind(until)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(request_line)
        .collect::<sqlx::Result<Vec<_>>>()?;
        Ok(ShiftRows {
            sources,
            opened,
            resolved,
            actions,
        })
    }
}
