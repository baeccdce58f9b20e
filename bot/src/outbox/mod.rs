//! The one durable outbox: every chat call medic makes goes through it —
//! `/diag` reports, incidents' roots, notes, edits and digests, remediation
//! status messages and their edits.
//!
//! A message is a row ([`crate::storage::outbox`]) written in the same
//! transaction as the change that causes it. [`drain`] sends the rows, one
//! lane per channel, in order, at the platform's pace ([`pace`]), through
//! the platform's sender (`crate::chat::*::send`), and records each result
//! before the next. A chat outage or a 429 delays a message; only a
//! rejection (a bad channel) or `[outbox] give_up_after` of failures marks
//! it failed, counted on `/metrics`. Nothing is posted twice after a
//! crash: a row found in flight at start-up is checked with the platform
//! (Slack: a marker searched in the channel; Discord: the row's nonce)
//! before it is sent again.
//!
//! - [`Outbox`]: this process's handle: wakes the drain, and tells those
//!   who wait on a row (a report's last message) how it ended.
//! - [`Call`], [`Outcome`]: what a platform's sender is handed, and what
//!   it answers.
//! - [`drain`]: the lanes, and the steps every platform shares.
//! - [`pace`]: each platform's pace per channel, `Retry-After`, backoff.

pub mod drain;
pub mod pace;

use std::collections::HashMap;
use std::sync::Mutex;

use medic_integrations::chat::Wire;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use crate::storage::incidents::IncidentRow;
use crate::storage::outbox::OutboxRow;
pub use crate::storage::outbox::Settled;
use crate::storage::outbox::{NewRow, push};
use crate::storage::{Store, WriteTx};

/// One row as its platform's sender gets it: what to send and where.
#[derive(Debug)]
pub struct Call<'a> {
    /// The row.
    pub row: &'a OutboxRow,
    /// What it says, in its platform's JSON.
    pub body: Wire,
    /// The thread it goes in: a reply's (the incident's, its parent's), a
    /// root's when it answers in a thread (an @mention).
    pub thread: Option<String>,
    /// The message an edit replaces.
    pub message: Option<String>,
    /// Its incident, for an incident's row.
    pub incident: Option<&'a IncidentRow>,
    /// When the pace stops retrying it for this round.
    pub give_up: Instant,
    /// It was in flight when medic last stopped (or its last attempt
    /// failed mid-call): it may have landed, which the sender checks
    /// before sending it again.
    pub resend: bool,
}

/// How a platform's sender ended a call.
#[derive(Debug)]
pub enum Outcome {
    /// The platform has it: the message's id (Slack's ts).
    Posted(String),
    /// The platform refused it; trying again cannot help.
    Rejected(String),
    /// The platform took it, but its answer could not be read: sending
    /// again could post twice, so it counts as sent, without an id.
    Unreadable(String),
    /// Not now: the platform is unreachable or still rate-limiting.
    Later(String),
}

/// How often a waiter asks the database whether its row ended elsewhere.
const ASK_AGAIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Wakes the drain, and tells waiters how rows ended.
#[derive(Debug, Default)]
pub struct Outbox {
    wake: Notify,
    waiting: Mutex<HashMap<i64, Vec<oneshot::Sender<Settled>>>>,
}

impl Outbox {
    /// A handle with nothing waiting.
    pub fn new() -> Self {
        Outbox::default()
    }

    /// Rows were queued: the drain looks now instead of at its next scan.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Commits the rows queued in `tx`, and wakes the drain.
    pub async fn commit(&self, tx: WriteTx) -> sqlx::Result<()> {
        tx.commit().await?;
        self.wake();
        Ok(())
    }

    /// Queues `row` in a transaction of its own (see [`Outbox::commit`]);
    /// its id.
    pub async fn queue(&self, store: &Store, row: &NewRow<'_>) -> sqlx::Result<i64> {
        let mut tx = store.begin_write().await?;
        let id = push(&mut tx, row).await?;
        self.commit(tx).await?;
        Ok(id)
    }

    /// Resolves when [`Outbox::wake`] is called (or was, since the last
    /// time).
    pub async fn woken(&self) {
        self.wake.notified().await
    }

    /// Waits until row `id` (committed) is sent or failed. This process's
    /// drain says so at once; another replica's drain (several medics on
    /// one database) is seen by asking the database now and then.
    pub async fn settled(&self, store: &Store, id: i64) -> Settled {
        let (tx, mut rx) = oneshot::channel();
        self.waiting
            .lock()
            .expect("outbox waiters")
            .entry(id)
            .or_default()
            .push(tx);
        loop {
            // Settled before the waiter was in place, or elsewhere.
            if let Ok(Some(done)) = store.outbox_settled(id).await {
                // Forget this waiter, not others waiting on the same row.
                drop(rx);
                let mut waiting = self.waiting.lock().expect("outbox waiters");
                if let Some(list) = waiting.get_mut(&id) {
                    list.retain(|w| !w.is_closed());
                    if list.is_empty() {
                        waiting.remove(&id);
                    }
                }
                return done;
            }
            tokio::select! {
                told = &mut rx => {
                    // A dropped sender means this process's drain is gone:
                    // shutting down.
                    return told.unwrap_or(Settled::Failed);
                }
                _ = tokio::time::sleep(ASK_AGAIN) => {}
            }
        }
    }

    /// Row `id` ended: tells whoever waits on it.
    pub(crate) fn settle(&self, id: i64, how: Settled) {
        let waiters = self.waiting.lock().expect("outbox waiters").remove(&id);
        for w in waiters.into_iter().flatten() {
            let _ = w.send(how);
        }
    }
}
