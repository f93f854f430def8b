//! One direction of waiting on a queue: the getters' side (waiting for an item) or the
//! putters' side (waiting for room), plus the `join` side.
//!
//! A [`Side`] is a state word, a [`WaitQueue`] from the seam, and a list of
//! [`Signal`]s registered by [`Select`](super::Select)s watching this side. The state
//! word is what keeps the fast path off the seam: a producer that has just put an item
//! reads the getters' state with one load and only takes the slow path (the waiter
//! list's lock) when it is non-zero.
//!
//! # Why no wake-up is lost
//!
//! A waiter sets `SLEEPERS` and then re-checks the queue (`blocked`), both under the
//! wait queue's lock, with sequentially consistent operations; a producer makes its
//! item visible with a sequentially consistent read-modify-write (the cores' index
//! CAS, or a mutex) and then loads the state. In the single total order of those
//! operations one of the two comes second and sees the other: either the waiter sees
//! the item and does not sleep, or the producer sees `SLEEPERS` and notifies. The bit
//! is cleared under the same lock when the last waiter leaves, so it can be stale only
//! in the harmless direction (set with nobody asleep: one extra trip to the lock).
//!
//! The state word and the watchers' lock come from the seam's `sys`, so the loom models
//! in `loom_tests.rs` check this protocol together with the cores.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::wait::sys::{AtomicBool, AtomicUsize, Mutex};
use crate::wait::{AsyncWaiter, WaitFor, WaitQueue, WaitResult};

/// Nothing in a normal build; under loom, a SeqCst fence between the two halves of the
/// store-buffering pattern above (publish with a SeqCst read-modify-write, then read
/// the other side with a SeqCst load). The C11 total order of SeqCst operations already
/// forbids both halves reading stale values, but loom models SeqCst accesses as
/// AcqRel (its README; tokio-rs/loom#180) and would report lost wake-ups that cannot
/// happen, while it models SeqCst fences faithfully. So loom checks the rest of the
/// protocol (the bit, the lock, validate and notify) assuming what C11 guarantees.
#[inline(always)]
pub(super) fn loom_seq_cst() {
    #[cfg(loom)]
    crate::wait::sys::fence(SeqCst);
}

/// Bit 0 of the state: someone may sleep in the wait queue.
const SLEEPERS: usize = 1;
/// Each select watching this side adds this to the state.
const WATCHER: usize = 2;

pub(super) struct Side {
    state: AtomicUsize,
    queue: WaitQueue,
    watchers: Mutex<Vec<Arc<Signal>>>,
}

impl Side {
    pub(super) fn new() -> Self {
        Side {
            state: AtomicUsize::new(0),
            queue: WaitQueue::new(),
            watchers: Mutex::new(Vec::new()),
        }
    }

    /// Whether a thread or task may be asleep here (stale only towards `true`).
    #[inline]
    pub(super) fn has_sleepers(&self) -> bool {
        loom_seq_cst();
        self.state.load(SeqCst) & SLEEPERS != 0
    }

    /// Wake one sleeper and every watching select, if there are any. One load when
    /// there are none.
    #[inline]
    pub(super) fn notify_one(&self) {
        loom_seq_cst();
        if self.state.load(SeqCst) != 0 {
            self.notify_slow(false);
        }
    }

    /// Wake every sleeper and every watching select (shutdown). Always takes the lock,
    /// so a waiter that validated before the caller's state change is woken.
    pub(super) fn notify_all(&self) {
        self.notify_slow(true);
    }

    #[cold]
    #[inline(never)]
    fn notify_slow(&self, all: bool) {
        let state = self.state.load(SeqCst);
        if all || state & SLEEPERS != 0 {
            let done = |_, have_more: bool| {
                if !have_more {
                    self.state.fetch_and(!SLEEPERS, SeqCst);
                }
            };
            if all {
                self.queue.notify_all(done);
            } else {
                self.queue.notify_one(done);
            }
        }
        if all || state >= WATCHER {
            self.fire_watchers_now();
        }
    }

    /// Wake the selects watching this side (not the sleepers).
    #[inline]
    pub(super) fn fire_watchers(&self) {
        loom_seq_cst();
        if self.state.load(SeqCst) >= WATCHER {
            self.fire_watchers_now();
        }
    }

    #[cold]
    fn fire_watchers_now(&self) {
        for signal in self.watchers.lock().iter() {
            signal.fire();
        }
    }

    /// Hand something to the first sleeper: `grant(tag)` runs under the waiter list's
    /// lock for the front waiters (see `WaitQueue::notify_with`).
    pub(super) fn notify_with(&self, grant: impl FnMut(u64) -> Option<usize>) -> usize {
        self.queue.notify_with(grant, |_, have_more| {
            if !have_more {
                self.state.fetch_and(!SLEEPERS, SeqCst);
            }
        })
    }

    /// Sleep until notified, unless `blocked()` (run under the waiter list's lock after
    /// `SLEEPERS` is set) says the caller can make progress.
    pub(super) fn wait(
        &self,
        what: Option<&WaitFor>,
        tag: u64,
        blocked: impl FnOnce() -> bool,
        before_sleep: impl FnOnce(),
        deadline: Option<Instant>,
    ) -> WaitResult {
        self.queue.wait_on(
            what,
            tag,
            || {
                self.state.fetch_or(SLEEPERS, SeqCst);
                loom_seq_cst();
                blocked()
            },
            before_sleep,
            deadline,
            |is_empty| {
                if is_empty {
                    self.state.fetch_and(!SLEEPERS, SeqCst);
                }
            },
        )
    }

    /// The async form of [`wait`](Self::wait).
    pub(super) fn poll_wait(
        &self,
        waiter: &mut AsyncWaiter,
        cx: &mut Context<'_>,
        tag: u64,
        blocked: impl FnOnce() -> bool,
    ) -> Poll<WaitResult> {
        self.queue.poll_wait(waiter, cx, tag, || {
            self.state.fetch_or(SLEEPERS, SeqCst);
            loom_seq_cst();
            blocked()
        })
    }

    /// Withdraw an async waiter; `Some(token)` if it had been notified and did not use
    /// the notification (the caller passes it on).
    pub(super) fn cancel(&self, waiter: &mut AsyncWaiter) -> Option<usize> {
        self.queue.cancel(waiter)
    }

    /// Register a select's signal; it fires on every notification of this side.
    pub(super) fn watch(&self, signal: &Arc<Signal>) {
        self.watchers.lock().push(Arc::clone(signal));
        self.state.fetch_add(WATCHER, SeqCst);
    }

    /// Remove a registration made by [`watch`](Self::watch). Once this returns, no
    /// notifier of this side touches the signal any more.
    pub(super) fn unwatch(&self, signal: &Arc<Signal>) {
        let mut watchers = self.watchers.lock();
        if let Some(i) = watchers.iter().position(|s| Arc::ptr_eq(s, signal)) {
            watchers.swap_remove(i);
            self.state.fetch_sub(WATCHER, SeqCst);
        }
    }
}

/// What a selecting thread sleeps on: fired by any side it watches.
pub(super) struct Signal {
    fired: AtomicBool,
    queue: WaitQueue,
}

impl Signal {
    pub(super) fn new() -> Self {
        Signal {
            fired: AtomicBool::new(false),
            queue: WaitQueue::new(),
        }
    }

    pub(super) fn fire(&self) {
        if !self.fired.swap(true, SeqCst) {
            self.queue.notify_all(|_, _| {});
        }
    }

    /// Re-arm for another round. Only after every side has un-watched it.
    pub(super) fn reset(&self) {
        self.fired.store(false, SeqCst);
    }

    /// Sleep until fired or `deadline`; `false` on timeout. Spins briefly first (a
    /// rendezvous partner often arrives within microseconds).
    pub(super) fn wait(&self, deadline: Option<Instant>) -> bool {
        let mut spin = crate::wait::SpinWait::new();
        while !self.fired.load(SeqCst) {
            if !spin.spin() {
                break;
            }
        }
        match self
            .queue
            .wait(0, || !self.fired.load(SeqCst), || {}, deadline, |_| {})
        {
            WaitResult::TimedOut => self.fired.load(SeqCst),
            WaitResult::Notified(_) | WaitResult::Invalid => true,
        }
    }
}
