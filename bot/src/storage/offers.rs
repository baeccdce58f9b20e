//! `action_offers`, `action_requests`, `action_approvals`: the state of
//! remediation buttons.
//!
//! Every state change is one conditional UPDATE whose WHERE names the
//! state it leaves; `rows_affected() == 1` means this caller made the
//! move. That is what makes a double click, two approvers at once or two
//! medic processes behind a load balancer run an action exactly once: the
//! database, not a lock in one process, decides who won.

use std::collections::BTreeMap;

use medic_commands::model::inbound::Platform;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, now_ms};

/// A new opaque id: 128 random bits, hex. A button carries only this; it
/// names a server-side record and cannot be guessed or composed.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS has a random source");
    hex::encode(bytes)
}

/// A button's server-side record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Opaque id (the button's value).
    pub id: String,
    /// The action's name.
    pub action: String,
    /// The target it acts on.
    pub target: String,
    /// Parameter values, bound when offered.
    pub params: BTreeMap<String, String>,
    /// `slack`, `discord`.
    pub platform: Platform,
    /// The channel the button was posted in.
    pub channel: String,
    /// The thread it was posted in.
    pub thread: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms after which a click runs nothing.
    pub expires_at: i64,
}

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestState {
    /// Waiting for approvals.
    Pending,
    /// Enough approvals; about to run.
    Approved,
    /// Running now.
    Running,
    /// Ran and did what it was asked.
    Succeeded,
    /// Ran (or tried to) and did not.
    Failed,
    /// Not run: the precondition no longer held.
    Skipped,
    /// An approver said no.
    Denied,
    /// Nobody approved in time.
    Expired,
}

impl RequestState {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Approved => "approved",
            RequestState::Running => "running",
            RequestState::Succeeded => "succeeded",
            RequestState::Failed => "failed",
            RequestState::Skipped => "skipped",
            RequestState::Denied => "denied",
            RequestState::Expired => "expired",
        }
    }

    fn parse(s: &str) -> RequestState {
        match s {
            "approved" => RequestState::Approved,
            "running" => RequestState::Running,
            "succeeded" => RequestState::Succeeded,
            "failed" => RequestState::Failed,
            "skipped" => RequestState::Skipped,
            "denied" => RequestState::Denied,
            "expired" => RequestState::Expired,
            _ => RequestState::Pending,
        }
    }

    /// Whether nothing more will happen to it.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            RequestState::Pending | RequestState::Approved | RequestState::Running
        )
    }
}

/// One press of an offer's button and everything after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Opaque id (the Approve/Deny buttons' value).
    pub id: String,
    /// The offer pressed.
    pub offer_id: String,
    /// The action.
    pub action: String,
    /// The target.
    pub target: String,
    /// Parameter values.
    pub params: BTreeMap<String, String>,
    /// Platform.
    pub platform: Platform,
    /// Channel.
    pub channel: String,
    /// Thread.
    pub thread: Option<String>,
    /// Who pressed.
    pub requester: String,
    /// Their display name.
    pub requester_name: String,
    /// Approvals needed besides the requester.
    pub approvals_needed: i64,
    /// Where it is.
    pub state: RequestState,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms after which a pending request expires.
    pub expires_at: i64,
    /// Unix ms.
    pub started_at: Option<i64>,
    /// Unix ms.
    pub finished_at: Option<i64>,
    /// Exit status or reason, in words.
    pub outcome: Option<String>,
    /// Redacted, capped output.
    pub output: Option<String>,
    /// The status message's id in chat.
    pub status_row: Option<i64>,
}

/// What claiming a run gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This caller runs it.
    Won,
    /// Someone else moved it first (or it is not approved).
    Lost,
    /// Another run of the action on the target is in progress.
    Busy,
    /// Another run of the action on the target finished within its
    /// cooldown.
    Cooling,
}

fn params_json(p: &BTreeMap<String, String>) -> String {
    serde_json::to_string(p).unwrap_or_else(|_| "{}".into())
}

fn params_from(text: &str) -> BTreeMap<String, String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn offer_from(r: &AnyRow) -> sqlx::Result<Offer> {
    Ok(Offer {
        id: r.try_get("id")?,
        action: r.try_get("action")?,
        target: r.try_get("target")?,
        params: params_from(&r.try_get::<String, _>("params")?),
        platform: super::word(r, "platform")?,
        channel: r.try_get("channel")?,
        thread: r.try_get("thread")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

fn request_from(r: &AnyRow) -> sqlx::Result<Request> {
    Ok(Request {
        id: r.try_get("id")?,
        offer_id: r.try_get("offer_id")?,
        action: r.try_get("action")?,
        target: r.try_get("target")?,
        params: params_from(&r.try_get::<String, _>("params")?),
        platform: super::word(r, "platform")?,
        channel: r.try_get("channel")?,
        thread: r.try_get("thread")?,
        requester: r.try_get("requester")?,
        requester_name: r.try_get("requester_name")?,
        approvals_needed: r.try_get("approvals_needed")?,
        state: RequestState::parse(&r.try_get::<String, _>("state")?),
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        outcome: r.try_get("outcome")?,
        output: r.try_get("output")?,
        status_row: r.try_get("status_row")?,
    })
}

/// The columns [`request_from`] reads; a macro so that queries stay
/// literal (`concat!`) strings.
macro_rules! request_columns {
    () => {
        "id, offer_id, action, target, params, platform, channel, thread, requester, requester_name, approvals_needed, state, created_at, expires_at, started_at, finished_at, outcome, output, status_row"
    };
}

impl Store {
    /// Stores an offer.
    pub async fn create_offer(&self, o: &Offer) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO action_offers (id, action, target, params, platform, channel, thread, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&o.id)
        .bind(&o.action)
        .bind(&o.target)
        .bind(params_json(&o.params))
        .bind(o.platform.as_str())
        .bind(&o.channel)
        .bind(&o.thread)
        .bind(o.created_at)
        .bind(o.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The offer with this id, if any.
    pub async fn offer(&self, id: &str) -> sqlx::Result<Option<Offer>> {
        sqlx::query("SELECT id, action, target, params, platform, channel, thread, created_at, expires_at FROM action_offers WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(offer_from)
            .transpose()
    }

    /// Moves offers still bound to `platform`'s channel `from` to the
    /// channel `to` they are about to be posted in (a Discord thread whose
    /// id was not known when they were made); returns how many moved.
    /// Only offers bound to `from` move, so a message can carry an offer
    /// only from where it was made to that place's own thread, never from
    /// elsewhere. Moving again is a no-op, which makes a resend safe.
    pub async fn bind_offers(
        &self,
        ids: &[String],
        platform: Platform,
        from: &str,
        to: &str,
    ) -> sqlx::Result<u64> {
        let mut moved = 0;
        for id in ids {
            moved += sqlx::query(
                "UPDATE action_offers SET channel = $1 WHERE id = $2 AND platform = $3 AND channel = $4",
            )
            .bind(to)
            .bind(id)
            .bind(platform.as_str())
            .bind(from)
            .execute(self.pool())
            .await?
            .rows_affected();
        }
        Ok(moved)
    }

    /// Records a press of `offer`. `false`: the offer was already used
    /// (the request's `offer_id` is UNIQUE, so of two presses at once
    /// exactly one is recorded).
    pub async fn create_request(&self, r: &Request) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO action_requests (id, offer_id, action, target, params, platform, channel, thread,
                requester, requester_name, approvals_needed, state, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (offer_id) DO NOTHING",
        )
        .bind(&r.id)
        .bind(&r.offer_id)
        .bind(&r.action)
        .bind(&r.target)
        .bind(params_json(&r.params))
        .bind(r.platform.as_str())
        .bind(&r.channel)
        .bind(&r.thread)
        .bind(&r.requester)
        .bind(&r.requester_name)
        .bind(r.approvals_needed)
        .bind(r.state.as_str())
        .bind(r.created_at)
        .bind(r.expires_at)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether offer `id`'s button has been pressed (it has a request).
    pub async fn offer_used(&self, id: &str) -> sqlx::Result<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM action_requests WHERE offer_id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?
                .is_some(),
        )
    }

    /// The request with this id.
    pub async fn request(&self, id: &str) -> sqlx::Result<Option<Request>> {
        sqlx::query(concat!(
            "SELECT ",
            request_columns!(),
            " FROM action_requests WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(request_from)
        .transpose()
    }

    /// Records an approval; `false` when this approver had already given
    /// one.
    pub async fn add_approval(
        &self,
        request: &str,
        approver: &str,
        name: &str,
    ) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO action_approvals (request_id, approver, approver_name, at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (request_id, approver) DO NOTHING",
        )
        .bind(request)
        .bind(approver)
        .bind(name)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Who approved, as (id, name), in order.
    pub async fn approvers(&self, request: &str) -> sqlx::Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT approver, approver_name FROM action_approvals WHERE request_id = $1 ORDER BY at, approver",
        )
        .bind(request)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("approver")?, r.try_get("approver_name")?)))
            .collect()
    }

    /// pending → approved, when enough approvals other than the
    /// requester's are in and it has not expired. `true`: this call made
    /// the move.
    pub async fn mark_approved(&self, id: &str) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "UPDATE action_requests SET state = 'approved'
             WHERE id = $1 AND state = 'pending' AND expires_at > $2
               AND (SELECT count(*) FROM action_approvals a
                    WHERE a.request_id = action_requests.id
                      AND a.approver <> action_requests.requester) >= approvals_needed",
        )
        .bind(id)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// approved → running. At most one caller wins; a run of the same
    /// action on the same target in progress makes it [`Claim::Busy`]
    /// (the partial unique index refuses a second `running` row), and one
    /// that finished less than `cooldown` ago [`Claim::Cooling`]: the
    /// cooldown is decided in the claim's own statement, so two requests
    /// approved at once cannot both pass it.
    pub async fn claim_run(&self, id: &str, cooldown: std::time::Duration) -> sqlx::Result<Claim> {
        let now = now_ms();
        let result = sqlx::query(
            "UPDATE action_requests SET state = 'running', started_at = $2 \
             WHERE id = $1 AND state = 'approved' AND NOT EXISTS ( \
               SELECT 1 FROM action_requests done \
               WHERE done.action = action_requests.action AND done.target = action_requests.target \
                 AND done.state IN ('succeeded', 'failed') AND done.finished_at > $3)",
        )
        .bind(id)
        .bind(now)
        .bind(now - cooldown.as_millis() as i64)
        .execute(self.pool())
        .await;
        match result {
            Ok(done) if done.rows_affected() == 1 => Ok(Claim::Won),
            // Not claimed: taken by someone else, or still approved and
            // held back by the cooldown.
            Ok(_) => match self.request(id).await? {
                Some(r) if r.state == RequestState::Approved && !cooldown.is_zero() => {
                    Ok(Claim::Cooling)
                }
                _ => Ok(Claim::Lost),
            },
            Err(e)
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()) =>
            {
                Ok(Claim::Busy)
            }
            Err(e) => Err(e),
        }
    }

    /// `from` → `to` (a final state), with the outcome. `true`: this call
    /// made the move.
    pub async fn finish_request(
        &self,
        id: &str,
        from: RequestState,
        to: RequestState,
        outcome: &str,
        output: Option<&str>,
    ) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "UPDATE action_requests SET state = $3, finished_at = $4, outcome = $5, output = $6
             WHERE id = $1 AND state = $2",
        )
        .bind(id)
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(now_ms())
        .bind(outcome)
        .bind(output)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// pending → expired for every request past its expiry; returns them.
    pub async fn expire_due(&self) -> sqlx::Result<Vec<Request>> {
        let rows = sqlx::query(concat!(
            "UPDATE action_requests SET state = 'expired', finished_at = $1, outcome = 'expired before enough approvals'
             WHERE state = 'pending' AND expires_at <= $1 RETURNING ",
            request_columns!()
        ))
        .bind(now_ms())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(request_from).collect()
    }

    /// Forgets offers that expired more than `age_ms` ago and were never
    /// pressed (a pressed offer stays with its request). A click on one
    /// then reads "unknown" instead of "expired"; either runs nothing.
    pub async fn forget_old_offers(&self, age_ms: i64) -> sqlx::Result<u64> {
        let done = sqlx::query(
            "DELETE FROM action_offers WHERE expires_at < $1
               AND NOT EXISTS (SELECT 1 FROM action_requests r WHERE r.offer_id = action_offers.id)",
        )
        .bind(now_ms() - age_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Requests in the `running` state.
    /// Requests approved before `before_ms` (their creation and every
    /// approval) and still not claimed: a crash came between the last
    /// approval and the run, which otherwise follows it at once.
    pub async fn stranded_requests(&self, before_ms: i64) -> sqlx::Result<Vec<Request>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            request_columns!(),
            " FROM action_requests WHERE state = 'approved' AND created_at < $1 \
              AND NOT EXISTS (SELECT 1 FROM action_approvals a \
                              WHERE a.request_id = action_requests.id AND a.at >= $1)"
        ))
        .bind(before_ms)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(request_from).collect()
    }

    /// Requests a run is under way for (or was, when medic stopped).
    pub async fn running_requests(&self) -> sqlx::Result<Vec<Request>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            request_columns!(),
            " FROM action_requests WHERE state = 'running'"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(request_from).collect()
    }

    /// When the last run of `action` on `target` finished (unix ms), and
    /// whether one is running now.
    pub async fn run_history(
        &self,
        action: &str,
        target: &str,
    ) -> sqlx::Result<(Option<i64>, bool)> {
        let last: Option<i64> = sqlx::query_scalar(
            "SELECT max(finished_at) FROM action_requests
             WHERE action = $1 AND target = $2 AND state IN ('succeeded', 'failed')",
        )
        .bind(action)
        .bind(target)
        .fetch_one(self.pool())
        .await?;
        let running: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM action_requests WHERE action = $1 AND target = $2 AND state = 'running'",
        )
        .bind(action)
        .bind(target)
        .fetch_one(self.pool())
        .await?;
        Ok((last, running > 0))
    }
}

/// Remembers which outbox row is `request`'s status message.
pub async fn set_status_row(
    conn: &mut sqlx::AnyConnection,
    request: &str,
    row: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE action_requests SET status_row = $2 WHERE id = $1")
        .bind(request)
        .bind(row)
        .execute(conn)
        .await?;
    Ok(())
}
