//! [`RawSemaphore`]: the counting core under [`Semaphore`](super::Semaphore) and
//! [`BoundedSemaphore`](super::BoundedSemaphore), in its own file so that the loom build
//! (`--cfg loom`), which compiles only the raw cores and the seam, can check it.
//!
//! One `AtomicUsize` holds bit 0, `WAITERS` (someone waits in the queue), and the count
//! of available permits in bits 1..; the fast paths are one compare-and-swap each. The
//! `WAITERS` bit is only set by a waiter before it validates and enqueues, and only
//! cleared under the queue lock when the queue is (or becomes) empty, so a release that
//! does not see it has nobody to wake.

use std::task::{Context, Poll};
use std::time::Instant;

use crate::wait::sys::{AtomicUsize, Ordering};
use crate::wait::{AsyncWaiter, SpinWait, WaitFor, WaitQueue, WaitResult};

/// Bit 0: someone waits in the queue. Bits 1..: available permits.
const WAITERS: usize = 1;
const ONE: usize = 2;
/// The most permits a semaphore can count.
pub(crate) const MAX_PERMITS: usize = usize::MAX >> 1;

/// The counting core shared by [`Semaphore`](super::Semaphore) and
/// [`BoundedSemaphore`](super::BoundedSemaphore).
#[derive(Debug)]
pub(crate) struct RawSemaphore {
    state: AtomicUsize,
    queue: WaitQueue,
}

impl RawSemaphore {
    #[cfg(not(loom))]
    pub(crate) const fn new(permits: usize) -> Self {
        assert!(permits <= MAX_PERMITS, "too many permits for a semaphore");
        RawSemaphore {
            state: AtomicUsize::new(permits * ONE),
            queue: WaitQueue::new(),
        }
    }

    /// Not `const` under loom: loom's atomics and mutex have no `const` constructors.
    #[cfg(loom)]
    pub(crate) fn new(permits: usize) -> Self {
        assert!(permits <= MAX_PERMITS, "too many permits for a semaphore");
        RawSemaphore {
            state: AtomicUsize::new(permits * ONE),
            queue: WaitQueue::new(),
        }
    }

    pub(crate) fn available(&self) -> usize {
        self.state.load(Ordering::Relaxed) / ONE
    }

    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        while state >= ONE {
            match self.state.compare_exchange_weak(
                state,
                state - ONE,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(s) => state = s,
            }
        }
        false
    }

    /// Take a permit, waiting until `deadline`; `false` on timeout.
    #[inline]
    #[cfg_attr(not(loom), allow(dead_code))]
    pub(crate) fn acquire_until(&self, deadline: Option<Instant>) -> bool {
        self.acquire_for(deadline, None)
    }

    /// [`acquire_until`](Self::acquire_until), saying who waits for what (reports).
    #[inline]
    pub(crate) fn acquire_for(&self, deadline: Option<Instant>, what: Option<&WaitFor>) -> bool {
        self.try_acquire() || self.acquire_slow(deadline, what)
    }

    #[cold]
    fn acquire_slow(&self, deadline: Option<Instant>, what: Option<&WaitFor>) -> bool {
        let mut spin = SpinWait::new();
        loop {
            if self.try_acquire() {
                return true;
            }
            let state = self.state.load(Ordering::Relaxed);
            if state >= ONE {
                continue;
            }
            // No permit, and the deadline has passed: nothing left to wait for.
            if passed(deadline) {
                return false;
            }
            if state & WAITERS == 0 {
                if spin.spin() {
                    continue;
                }
                if self
                    .state
                    .compare_exchange_weak(
                        state,
                        state | WAITERS,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    )
                    .is_err()
                {
                    continue;
                }
            }
            let result = self.queue.wait_on(
                what,
                0,
                || self.state.load(Ordering::Relaxed) == WAITERS,
                || {},
                deadline,
                |is_empty| {
                    if is_empty {
                        self.state.fetch_and(!WAITERS, Ordering::Relaxed);
                    }
                },
            );
            if result == WaitResult::TimedOut {
                return false;
            }
            spin.reset();
        }
    }

    /// Poll an async acquisition (see
    /// [`Semaphore::acquire_async`](super::Semaphore::acquire_async)).
    pub(crate) fn poll_acquire(&self, waiter: &mut AsyncWaiter, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.try_acquire() {
                // A notification we no longer need belongs to someone else.
                if self.queue.cancel(waiter).is_some() {
                    self.wake(1);
                }
                return Poll::Ready(());
            }
            let state = self.state.load(Ordering::Relaxed);
            if state >= ONE {
                continue;
            }
            if state & WAITERS == 0
                && self
                    .state
                    .compare_exchange_weak(
                        state,
                        state | WAITERS,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    )
                    .is_err()
            {
                continue;
            }
            match self.queue.poll_wait(waiter, cx, 0, || {
                self.state.load(Ordering::Relaxed) == WAITERS
            }) {
                Poll::Ready(_) => continue,
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Withdraw an async waiter; pass on a wake-up it received but did not use.
    pub(crate) fn cancel_async(&self, waiter: &mut AsyncWaiter) {
        if self.queue.cancel(waiter).is_some() {
            self.wake(1);
        }
    }

    /// Add `n` permits if the total stays within `limit`; `false` (and no change) if it
    /// would not.
    pub(crate) fn release_within(&self, n: usize, limit: usize) -> bool {
        if n == 0 {
            return true;
        }
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let available = state / ONE;
            if available > limit || n > limit - available {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                state + n * ONE,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(s) => state = s,
            }
        }
        if state & WAITERS != 0 {
            self.wake(n);
        }
        true
    }

    #[cold]
    fn wake(&self, n: usize) {
        self.queue.notify_n(n, |_, have_more| {
            if !have_more {
                self.state.fetch_and(!WAITERS, Ordering::Relaxed);
            }
        });
    }
}

/// Whether `deadline` has passed (never for no deadline, nor under loom: see
/// `raw_lock::passed`).
#[inline]
fn passed(deadline: Option<Instant>) -> bool {
    #[cfg(not(loom))]
    if let Some(deadline) = deadline {
        return crate::wait::now() >= deadline;
    }
    #[cfg(loom)]
    let _ = deadline;
    false
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! Models of the permit word and its slow paths; see `wait::loom_tests` for how to run
    //! them. Spinning is off under loom, so a thread that finds no permit sets `WAITERS`
    //! and sleeps in the seam at once.

    use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
    use std::sync::Arc;
    use std::task::Context;

    use loom::thread;

    use super::*;
    use crate::wait::loom_tests::{block_on, dead_waker, expired, model};

    /// How many permits a semaphore holds, with no waiter bit left behind.
    fn assert_idle(sem: &RawSemaphore, permits: usize) {
        assert_eq!(sem.state.load(Ordering::Relaxed), permits * ONE);
        assert_eq!(sem.queue.len(), 0);
    }

    /// Hold a permit: count the holders (a plain std counter: loom runs one model thread
    /// at a time, so it is exact at every step) and check there are never more than
    /// `limit`.
    fn hold(holders: &StdAtomicUsize, limit: usize) {
        let now = holders.fetch_add(1, StdOrdering::Relaxed) + 1;
        assert!(now <= limit, "{now} holders of {limit} permits");
        holders.fetch_sub(1, StdOrdering::Relaxed);
    }

    /// Two permits, three threads: never more than two holders, the third parks and is
    /// woken by a release, and every permit comes back.
    #[test]
    fn loom_raw_semaphore_three_threads_two_permits() {
        model(|| {
            let sem = Arc::new(RawSemaphore::new(2));
            let holders = Arc::new(StdAtomicUsize::new(0));
            let worker = |sem: Arc<RawSemaphore>, holders: Arc<StdAtomicUsize>| {
                move || {
                    assert!(sem.acquire_until(None));
                    hold(&holders, 2);
                    assert!(sem.release_within(1, MAX_PERMITS));
                }
            };
            let others: Vec<_> = (0..2)
                .map(|_| thread::spawn(worker(sem.clone(), holders.clone())))
                .collect();
            worker(sem.clone(), holders.clone())();
            for t in others {
                t.join().unwrap();
            }
            assert_idle(&sem, 2);
        });
    }

    /// A release wakes a thread parked for a permit, and a waiter whose deadline passes
    /// as the permit arrives either takes it or leaves it to the other waiter: the
    /// blocking waiter always gets a permit (none is stranded by the timed-out one).
    #[test]
    fn loom_raw_semaphore_release_wakes_despite_timeout() {
        model(|| {
            let sem = Arc::new(RawSemaphore::new(0));
            let timed = {
                let sem = sem.clone();
                thread::spawn(move || {
                    let got = sem.acquire_until(expired());
                    if got {
                        assert!(sem.release_within(1, MAX_PERMITS));
                    }
                })
            };
            let blocking = {
                let sem = sem.clone();
                thread::spawn(move || assert!(sem.acquire_until(None)))
            };
            assert!(sem.release_within(1, MAX_PERMITS));
            timed.join().unwrap();
            blocking.join().unwrap();
            assert_idle(&sem, 0);
        });
    }

    /// The async acquirer is first in line when the permit is released, and its future
    /// is dropped just then: the wake-up it was sent passes to the thread behind it
    /// (tokio#3892), which always gets the permit.
    #[test]
    fn loom_raw_semaphore_async_cancel_passes_on() {
        model(|| {
            let sem = Arc::new(RawSemaphore::new(0));
            let mut waiter = AsyncWaiter::default();
            let first = sem.poll_acquire(&mut waiter, &mut Context::from_waker(&dead_waker()));
            assert!(first.is_pending());
            let blocking = {
                let sem = sem.clone();
                thread::spawn(move || assert!(sem.acquire_until(None)))
            };
            let releaser = {
                let sem = sem.clone();
                thread::spawn(move || assert!(sem.release_within(1, MAX_PERMITS)))
            };
            sem.cancel_async(&mut waiter);
            releaser.join().unwrap();
            blocking.join().unwrap();
            assert_eq!(sem.available(), 0);
            assert_eq!(sem.queue.len(), 0);
        });
    }

    /// An async acquirer on a minimal executor is woken by a release and completes.
    #[test]
    fn loom_raw_semaphore_async_acquire() {
        model(|| {
            let sem = Arc::new(RawSemaphore::new(0));
            let acquirer = {
                let sem = sem.clone();
                thread::spawn(move || {
                    let mut waiter = AsyncWaiter::default();
                    block_on(|cx| sem.poll_acquire(&mut waiter, cx));
                    assert!(!waiter.is_registered());
                })
            };
            assert!(sem.release_within(1, MAX_PERMITS));
            acquirer.join().unwrap();
            assert_idle(&sem, 0);
        });
    }
}
