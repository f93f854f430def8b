//! The raw mutual-exclusion word under [`Lock`](super::Lock) and [`RLock`](super::RLock).
//!
//! One `AtomicU64` holds everything: bit 0 is `LOCKED`, bit 1 is `PARKED` (someone waits
//! in the seam), bits 2.. are the owner's heddle thread id. Recording the owner costs
//! nothing extra on the fast path, since it is part of the same compare-and-swap that
//! takes the lock, and it is always exact (set and cleared atomically with the lock
//! bit), which is what the deadlock detector and `RLock` re-entry rely on.
//!
//! Fairness: unfair by design, like std's and parking_lot's mutexes: an unlocking thread
//! wakes the first waiter in FIFO order, but a thread arriving at that moment may take
//! the lock first ("barging"), which is what keeps throughput high under contention. The
//! woken waiter then re-queues.

use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::wait::{local, SpinWait, WaitQueue, WaitResult};

const LOCKED: u64 = 1;
const PARKED: u64 = 2;
const OWNER_SHIFT: u32 = 2;

/// A word-sized lock that records its owner.
#[derive(Debug)]
pub(crate) struct RawLock {
    state: AtomicU64,
    queue: WaitQueue,
    site: &'static Location<'static>,
}

impl RawLock {
    #[track_caller]
    pub(crate) const fn new() -> Self {
        RawLock {
            state: AtomicU64::new(0),
            queue: WaitQueue::new(),
            site: Location::caller(),
        }
    }

    /// Where the lock was created (for reports).
    pub(crate) fn site(&self) -> &'static Location<'static> {
        self.site
    }

    /// Heddle id of the owning thread, or 0.
    #[inline]
    pub(crate) fn owner(&self) -> u64 {
        self.state.load(Ordering::Relaxed) >> OWNER_SHIFT
    }

    /// Whether some thread holds it.
    #[inline]
    pub(crate) fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }

    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        let me = local::thread_id() << OWNER_SHIFT | LOCKED;
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                state | me,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(s) => state = s,
            }
        }
    }

    /// Take the lock, waiting until `deadline` (forever if `None`); `false` on timeout.
    #[inline]
    pub(crate) fn lock_until(&self, deadline: Option<Instant>) -> bool {
        let me = local::thread_id() << OWNER_SHIFT | LOCKED;
        if self
            .state
            .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return true;
        }
        self.lock_slow(me, deadline)
    }

    #[cold]
    fn lock_slow(&self, me: u64, deadline: Option<Instant>) -> bool {
        let mut spin = SpinWait::new();
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED == 0 {
                // Keep PARKED: others may still be queued.
                match self.state.compare_exchange_weak(
                    state,
                    (state & PARKED) | me,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(s) => state = s,
                }
                continue;
            }
            if state & PARKED == 0 && spin.spin() {
                state = self.state.load(Ordering::Relaxed);
                continue;
            }
            if state & PARKED == 0 {
                if let Err(s) = self.state.compare_exchange_weak(
                    state,
                    state | PARKED,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    state = s;
                    continue;
                }
            }
            let result = self.queue.wait(
                0,
                || self.state.load(Ordering::Relaxed) & (LOCKED | PARKED) == LOCKED | PARKED,
                || {},
                deadline,
                |is_empty| {
                    if is_empty {
                        self.state.fetch_and(!PARKED, Ordering::Relaxed);
                    }
                },
            );
            if result == WaitResult::TimedOut {
                return false;
            }
            spin.reset();
            state = self.state.load(Ordering::Relaxed);
        }
    }

    /// Release. The caller must hold the lock (the guard types guarantee it).
    #[inline]
    pub(crate) fn unlock(&self) {
        let me = local::thread_id() << OWNER_SHIFT | LOCKED;
        if self
            .state
            .compare_exchange(me, 0, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        self.unlock_slow();
    }

    #[cold]
    fn unlock_slow(&self) {
        // We hold LOCKED, so nobody else changes the word until we store below; storing
        // under the queue lock means no waiter can enqueue on a stale PARKED bit.
        self.queue.notify_one(|_, have_more| {
            let next = if have_more { PARKED } else { 0 };
            self.state.store(next, Ordering::Release);
        });
    }
}
