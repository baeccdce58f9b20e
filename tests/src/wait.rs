//! Waiting on events, not on time.
//!
//! - The fakes record every call and bump their [`Changes`] after each:
//!   a waiter looks at the record, then sleeps until the next bump, so it
//!   wakes the moment what it waits for is recorded, and never sooner.
//! - What only medic knows (its database, `/metrics`, its background
//!   tasks) can only be asked again: [`eventually`] asks until the answer
//!   is yes, briefly apart, within a deadline.
//!
//! Both panic at the deadline, naming what was awaited and what was last
//! seen. Deadlines are generous: they only catch a hang, and are never
//! what makes a test pass.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// How long [`eventually`] waits between two looks.
const POLL: Duration = Duration::from_millis(10);

/// A change counter, bumped by a fake each time its record changes.
#[derive(Debug, Clone)]
pub struct Changes(Arc<watch::Sender<u64>>);

impl Default for Changes {
    fn default() -> Self {
        Changes(Arc::new(watch::Sender::new(0)))
    }
}

impl Changes {
    /// Says that the record changed: wakes every waiter. Call it after
    /// the change is visible (its lock released).
    pub fn bump(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees every bump from now on (`changed()`), for a
    /// test that waits on a fake and something else at once.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }

    /// Returns `check`'s answer once it has one, looking again after every
    /// bump; panics after `limit` with `what` and `seen()` (what the
    /// record holds then).
    pub async fn wait_for<T>(
        &self,
        what: impl Display,
        limit: Duration,
        mut check: impl FnMut() -> Option<T>,
        seen: impl FnOnce() -> String,
    ) -> T {
        let deadline = Instant::now() + limit;
        let mut rx = self.subscribe();
        loop {
            // Marked seen before looking: a bump after this wakes us.
            rx.borrow_and_update();
            if let Some(t) = check() {
                return t;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                if let Some(t) = check() {
                    return t;
                }
                panic!("{what} did not happen within {limit:?}: {}", seen());
            }
        }
    }
}

/// Asks `probe` until it answers `Ok`, [`POLL`] apart; panics after
/// `limit` naming `what` and the last `Err` (what was seen instead). For
/// what only polling can observe: medic's database, `/metrics`, its
/// tasks, another process.
pub async fn eventually<T, E, F, Fut>(what: &str, limit: Duration, mut probe: F) -> T
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + limit;
    loop {
        match probe().await {
            Ok(t) => return t,
            Err(seen) if Instant::now() >= deadline => {
                panic!("{what} did not happen within {limit:?}; last seen: {seen}")
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}
