//! The time medic's schedules run on: handovers, handoff reminders, who is
//! on call at a click.
//!
//! It is the system clock, plus an offset only a test moves
//! ([`Clock::advance`]): an end-to-end test reaches next Monday's handover
//! or a reminder 15 minutes on without sleeping, and the loops that wait
//! for a moment ([`Clock::sleep_until`]) wake when it jumps.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;

/// A handle to the clock; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Milliseconds added to the system time.
    offset_ms: AtomicI64,
    moved: Notify,
}

impl Clock {
    /// Now.
    pub fn now(&self) -> Timestamp {
        let ms = self.now_ms();
        Timestamp::from_millisecond(ms).unwrap_or_else(|_| Timestamp::now())
    }

    /// Now, in unix milliseconds (what the database stores).
    pub fn now_ms(&self) -> i64 {
        crate::storage::now_ms() + self.inner.offset_ms.load(Ordering::Relaxed)
    }

    /// Moves the clock forward by `by` and wakes whoever waits for a
    /// moment. Tests only: production never moves it.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.inner.offset_ms.fetch_add(ms, Ordering::Relaxed);
        self.inner.moved.notify_waiters();
    }

    /// Sets the clock so that now is `at`. Tests only.
    pub fn set(&self, at: Timestamp) {
        let offset = at.as_millisecond() - crate::storage::now_ms();
        self.inner.offset_ms.store(offset, Ordering::Relaxed);
        self.inner.moved.notify_waiters();
    }

    /// Sleeps until `at` on this clock, or returns early when the clock is
    /// moved (the caller looks again at what is due).
    pub async fn sleep_until(&self, at: Timestamp) {
        // Registered before the time left is read, so that a move between
        // the two is not missed.
        let moved = self.inner.moved.notified();
        tokio::pin!(moved);
        moved.as_mut().enable();
        let left = at.as_millisecond() - self.now_ms();
        if left <= 0 {
            return;
        }
        let left = Duration::from_millis(u64::try_from(left).unwrap_or(0));
        tokio::select! {
            () = tokio::time::sleep(left) => {}
            () = moved => {}
        }
    }
}
