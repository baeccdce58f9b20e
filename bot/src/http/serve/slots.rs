//! The cap on open connections, and who gives way when it is reached.
//!
//! Every open connection holds a file descriptor and some memory, so medic
//! keeps at most `[server] max_connections` of them. When a new one
//! arrives and every slot is taken, a connection that waits on its client
//! is closed to make room and the newcomer is served: first the one that
//! has waited longest among those that have sent a request (idle since its
//! answer, or still short of its body), then, only if there are none, the
//! oldest of those that have sent nothing yet. Only when every slot is
//! running a request (medic's own work, never cut) is the newcomer closed
//! instead.
//!
//! Why evict rather than refuse the newest: a flood of slow clients that
//! got in first would otherwise hold every slot until their request
//! deadline, and a signed Slack command arriving meanwhile would be
//! refused — Slack gives up after 3 s. A real client sends its request as
//! soon as it has connected and is running within milliseconds; the
//! connections that wait longest after their headers are the ones
//! trickling a body, or idle keep-alive connections, which their owners
//! reopen. A connection that has sent nothing yet is spared while there
//! are such others: under a flood of new connections it may be Slack's,
//! a moment away from sending its command. One that never sends is closed
//! by the idle timeout anyway.
//!
//! There is no cap per peer address on purpose: behind a load balancer or
//! a proxy every peer is the balancer, so such a cap would be a smaller
//! global cap that refuses Slack and the attacker alike. Per-client limits
//! belong where the client's address is known (the balancer, a firewall).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Waiting on its client: idle, or reading a request. May be evicted.
const WAITING: u8 = 0;
/// Running a request: its body has arrived and medic is answering it.
const RUNNING: u8 = 1;
/// Chosen to make room; its task closes it.
const EVICTED: u8 = 2;

/// How many evicted connections may still be closing (their tasks not yet
/// run) before medic accepts another: under a flood the accept loop can
/// outrun them, and each holds a file descriptor until it has closed.
const CLOSING_MAX: usize = 32;

/// The open connections, at most `max` of them, and at most
/// [`CLOSING_MAX`] more on their way out.
pub(super) struct Slots {
    max: usize,
    /// Hands out the order in which connections began waiting.
    clock: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
    /// Evicted connections not yet closed.
    closing: AtomicUsize,
    /// Told whenever one of them has closed.
    closed: Notify,
}

/// One open connection's part of [`Slots`], shared with its task.
pub(super) struct Conn {
    state: AtomicU8,
    /// When it last began waiting on its client, on [`Slots`]' clock.
    waiting_since: AtomicU64,
    /// Whether it has begun a request yet.
    spoke: AtomicBool,
    evict: Notify,
}

/// What became of a new connection.
pub(super) enum Admission {
    /// It has a slot; `evicted` tells whether another connection was
    /// closed to make room.
    Admitted { slot: Slot, evicted: bool },
    /// Every slot is running a request: close the newcomer.
    Full,
}

/// A connection's hold on its slot; gives it back when dropped.
pub(super) struct Slot {
    id: u64,
    handle: SlotRef,
}

impl Slots {
    pub(super) fn new(max: usize) -> Arc<Slots> {
        Arc::new(Slots {
            max: max.max(1),
            clock: AtomicU64::new(0),
            open: Mutex::new(HashMap::with_capacity(max.min(4096))),
            closing: AtomicUsize::new(0),
            closed: Notify::new(),
        })
    }

    /// Completes once few enough evicted connections are still closing
    /// that another may be accepted: what medic holds stays bounded
    /// however fast connections arrive.
    pub(super) async fn room(&self) {
        loop {
            // Made before looking, so a close in between is not missed.
            let closed = self.closed.notified();
            if self.closing.load(Ordering::Acquire) < CLOSING_MAX {
                return;
            }
            closed.await;
        }
    }

    /// Gives a new connection a slot, evicting the connection that has
    /// waited on its client the longest if every slot is taken.
    pub(super) fn admit(self: &Arc<Self>) -> Admission {
        let now = self.tick();
        let mut open = self.open.lock().expect("slots lock");
        let mut evicted = false;
        if open.len() >= self.max {
            match evict_longest_waiting(&mut open) {
                Some(()) => {
                    self.closing.fetch_add(1, Ordering::AcqRel);
                    evicted = true;
                }
                None => return Admission::Full,
            }
        }
        let id = now;
        let conn = Arc::new(Conn {
            state: AtomicU8::new(WAITING),
            waiting_since: AtomicU64::new(now),
            spoke: AtomicBool::new(false),
            evict: Notify::new(),
        });
        open.insert(id, Arc::clone(&conn));
        Admission::Admitted {
            slot: Slot {
                id,
                handle: SlotRef {
                    slots: Arc::clone(self),
                    conn,
                },
            },
            evicted,
        }
    }

    /// How many connections hold a slot.
    #[cfg(test)]
    pub(super) fn open(&self) -> usize {
        self.open.lock().expect("slots lock").len()
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }
}

/// Evicts the waiting connection with the oldest `waiting_since`, among
/// those that have begun a request if any have; `None` when every
/// connection is running a request.
fn evict_longest_waiting(open: &mut HashMap<u64, Arc<Conn>>) -> Option<()> {
    loop {
        let (&id, conn) = open
            .iter()
            .filter(|(_, c)| c.state.load(Ordering::Acquire) == WAITING)
            .min_by_key(|(_, c)| {
                (
                    !c.spoke.load(Ordering::Relaxed),
                    c.waiting_since.load(Ordering::Relaxed),
                )
            })?;
        // It may have started running since it was looked at: then look
        // again rather than cut a request medic is answering.
        if conn
            .state
            .compare_exchange(WAITING, EVICTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            conn.evict.notify_one();
            open.remove(&id);
            return Some(());
        }
    }
}

impl Slot {
    /// Completes when the connection is evicted to make room for another.
    pub(super) async fn evicted(&self) {
        self.handle.conn.evict.notified().await;
    }

    /// What the connection's requests hold of the slot.
    pub(super) fn handle(&self) -> SlotRef {
        self.handle.clone()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let slots = &self.handle.slots;
        // Only eviction takes a connection out of `open` (under the same
        // lock); ids are never reused.
        let evicted = slots
            .open
            .lock()
            .expect("slots lock")
            .remove(&self.id)
            .is_none();
        if evicted {
            slots.closing.fetch_sub(1, Ordering::AcqRel);
            slots.closed.notify_waiters();
        }
    }
}

/// What a connection's requests hold of its slot: enough to mark it
/// running.
#[derive(Clone)]
pub(super) struct SlotRef {
    slots: Arc<Slots>,
    conn: Arc<Conn>,
}

impl SlotRef {
    /// The connection has begun a request: its headers have arrived.
    pub(super) fn spoke(&self) {
        self.conn.spoke.store(true, Ordering::Relaxed);
    }

    /// The request's body has arrived and medic starts answering it: from
    /// now until [`Running`] is dropped the connection is not evicted.
    /// `None` when it was evicted already (its task is closing it).
    pub(super) fn run(&self) -> Option<Running> {
        self.conn
            .state
            .compare_exchange(WAITING, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        Some(Running {
            slots: Arc::clone(&self.slots),
            conn: Arc::clone(&self.conn),
        })
    }
}

/// A request being answered; when dropped the connection waits on its
/// client again, and counts as having begun waiting now.
pub(super) struct Running {
    slots: Arc<Slots>,
    conn: Arc<Conn>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.conn
            .waiting_since
            .store(self.slots.tick(), Ordering::Relaxed);
        let _ =
            self.conn
                .state
                .compare_exchange(RUNNING, WAITING, Ordering::AcqRel, Ordering::Acquire);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(slots: &Arc<Slots>) -> (Slot, bool) {
        match slots.admit() {
            Admission::Admitted { slot, evicted } => (slot, evicted),
            Admission::Full => panic!("refused"),
        }
    }

    #[tokio::test]
    async fn a_full_house_evicts_the_connection_waiting_longest() {
        let slots = Slots::new(3);
        let (oldest, _) = admitted(&slots);
        let (served, _) = admitted(&slots);
        let (third, _) = admitted(&slots);
        for slot in [&oldest, &served, &third] {
            slot.handle().spoke();
        }
        // The oldest connection was served a request after the others
        // arrived: the one accepted second has now waited longest.
        drop(oldest.handle().run().unwrap());
        let (_newcomer, evicted) = admitted(&slots);
        assert!(evicted);
        served.evicted().await;
        assert_eq!(slots.open(), 3);
        drop((oldest, third));
    }

    #[tokio::test]
    async fn a_running_request_is_never_evicted_and_a_full_house_of_them_refuses() {
        let slots = Slots::new(2);
        let (a, _) = admitted(&slots);
        let (b, _) = admitted(&slots);
        let _ra = a.handle().run().unwrap();
        let _rb = b.handle().run().unwrap();
        assert!(matches!(slots.admit(), Admission::Full));
        assert_eq!(slots.open(), 2);
        drop(_rb);
        let (_c, evicted) = admitted(&slots);
        assert!(evicted);
        b.evicted().await;
        assert!(
            b.handle().run().is_none(),
            "an evicted connection runs nothing"
        );
    }

    #[tokio::test]
    async fn no_more_is_accepted_while_too_many_evicted_connections_are_closing() {
        let slots = Slots::new(1);
        let (mut current, _) = admitted(&slots);
        let mut closing = Vec::new();
        for _ in 0..CLOSING_MAX {
            slots.room().await;
            let (next, evicted) = admitted(&slots);
            assert!(evicted);
            closing.push(std::mem::replace(&mut current, next));
        }
        let room = slots.room();
        tokio::pin!(room);
        assert!(
            futures::poll!(room.as_mut()).is_pending(),
            "{CLOSING_MAX} connections are still closing"
        );
        drop(closing.pop());
        room.await;
        drop(current);
    }

    #[tokio::test]
    async fn a_connection_that_has_sent_nothing_yet_goes_after_those_that_have() {
        let slots = Slots::new(2);
        let (silent, _) = admitted(&slots);
        let (trickling, _) = admitted(&slots);
        trickling.handle().spoke();
        let (newcomer, evicted) = admitted(&slots);
        assert!(evicted);
        trickling.evicted().await;
        // Now only connections that have sent nothing: the oldest goes.
        let (_latest, evicted) = admitted(&slots);
        assert!(evicted);
        silent.evicted().await;
        drop(newcomer);
    }

    #[test]
    fn a_closed_connection_gives_its_slot_back() {
        let slots = Slots::new(1);
        let (a, _) = admitted(&slots);
        drop(a);
        let (_b, evicted) = admitted(&slots);
        assert!(!evicted);
        assert_eq!(slots.open(), 1);
    }
}
