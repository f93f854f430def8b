//! One task's completion state: what a [`Future`](super::Future) and the worker that
//! runs its task share.
//!
//! A [`Core`] is a state word, the result slot, and, allocated the first time someone
//! waits or registers a hook (most tasks never need it), the slow side: a [`WaitQueue`]
//! from the seam for the threads and async tasks waiting for the result, and a list of
//! hooks (done-callbacks and the watches of `as_completed`/`wait`/`map_unordered`) to
//! fire on completion. Keeping the slow side out of line keeps a task small: the fast
//! path (submit, run, take the value) touches two cache lines.
//!
//! # The state word
//!
//! The low two bits are the task's state, `PENDING → RUNNING → FINISHED` or
//! `PENDING → CANCELLED`; whoever moves it out of `PENDING` (the worker starting the
//! task, or a canceller) owns the task's closure from then on, and the worker that
//! moved it to `RUNNING` alone writes the result slot, before publishing `FINISHED`
//! with release ordering. Flags beside the state:
//!
//! * `WAITERS`: a thread or task may be asleep in the wait queue. Set by waiters, under
//!   the wait queue's lock, with a read-modify-write that also tells them whether the
//!   result is ready; the completer's own read-modify-write of the word is ordered with
//!   it, so either the waiter sees the result (and does not sleep) or the completer
//!   sees the flag (and wakes everyone, taking the same lock). This is the seam's
//!   `validate` protocol; the wait is an ordinary, untimed seam wait, so the deadlock
//!   detector and the checker see it.
//! * `HOOKS`: the hook list may be non-empty. Set by registrars under the hook list's
//!   lock.
//! * `NOTIFYING`: the completer is firing the hooks. Set together with the terminal
//!   state when `HOOKS` was set, and cleared under the hook list's lock once it finds
//!   the list empty, so a hook registered meanwhile is fired by the completer, never
//!   lost. While it is set the result is *done* but not *ready*: callbacks read the
//!   value by reference, so it cannot be moved out yet, and waiters are woken only
//!   after the last callback returned. A hook registered once the task is ready (done,
//!   hooks fired) fires at once, in the registering thread.
//!
//! A task that completes with nobody waiting and no hooks costs one compare-and-swap.

use std::cell::UnsafeCell;
use std::mem;
use std::panic::{self, AssertUnwindSafe, Location};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use parking_lot::Mutex;

use super::error::FutureError;
use crate::queue::Queue;
use crate::wait::{AsyncWaiter, Object, SpinWait, WaitFor, WaitQueue, WaitResult};

pub(crate) const PENDING: usize = 0;
pub(crate) const RUNNING: usize = 1;
pub(crate) const FINISHED: usize = 2;
pub(crate) const CANCELLED: usize = 3;
const STATE: usize = 3;
const WAITERS: usize = 4;
const HOOKS: usize = 8;
const NOTIFYING: usize = 16;

static CANCELLED_ERROR: FutureError = FutureError::Cancelled;
static TAKEN_ERROR: FutureError = FutureError::Taken;

/// What a task produced: its value, or why there is none.
pub(crate) type Outcome<T> = Result<T, FutureError>;

/// A done-callback: called once with the outcome, by reference.
pub(crate) type Callback<T> = Box<dyn FnOnce(Result<&T, &FutureError>) + Send>;

/// Something to fire when a task completes.
pub(crate) enum Hook<T> {
    /// A user's done-callback.
    Callback(Callback<T>),
    /// Tell a watcher that the future with this key is done.
    Watch(Arc<Watcher>, usize),
}

/// Where `as_completed`, `wait` and `map_unordered` learn which futures completed: a
/// heddle queue of keys, so waiting for "any of them" is a plain queue `get` in the
/// seam.
#[derive(Debug, Default)]
pub(crate) struct Watcher {
    pub(crate) done: Queue<usize>,
}

#[inline]
fn is_done(s: usize) -> bool {
    s & STATE >= FINISHED
}

#[inline]
fn is_ready(s: usize) -> bool {
    is_done(s) && s & NOTIFYING == 0
}

/// One task's completion state; see the module docs.
///
/// `repr(C)`, in this order: what taking a finished task's value reads (the state, the
/// slow side's pointer, the slot) shares a cache line with the cell's header.
#[repr(C)]
pub(crate) struct Core<T> {
    state: AtomicUsize,
    /// The slow side, allocated on first use; null until then.
    slow: AtomicPtr<Slow<T>>,
    result: UnsafeCell<Option<Outcome<T>>>,
    /// Where the task was submitted: names the future in traces and deadlock reports.
    site: &'static Location<'static>,
}

/// What only waiting and hooks need.
struct Slow<T> {
    waiters: WaitQueue,
    hooks: Mutex<Vec<Hook<T>>>,
}

// SAFETY: the only unsynchronized field is `result`. It is written once, by the thread
// that moved the state to RUNNING (the only one that can), before it publishes
// FINISHED with release ordering; it is read by reference only after a load that
// observed FINISHED with acquire ordering, and moved out only by the future's owner
// through `&mut`/by value (`take`), after the state is ready (NOTIFYING clear: no
// callback holds a reference any more). Values of `T` therefore move between threads
// (`T: Send`) but are never read by two threads at once, except through callbacks,
// which require `T: Sync` where they are registered (`Future::add_done_callback`).
unsafe impl<T: Send> Sync for Core<T> {}

impl<T> Core<T> {
    pub(crate) const fn new(site: &'static Location<'static>) -> Self {
        Core {
            state: AtomicUsize::new(PENDING),
            slow: AtomicPtr::new(ptr::null_mut()),
            result: UnsafeCell::new(None),
            site,
        }
    }

    /// The slow side, allocating it if nobody has.
    fn slow(&self) -> &Slow<T> {
        let mut p = self.slow.load(Ordering::Acquire);
        if p.is_null() {
            let fresh = Box::into_raw(Box::new(Slow {
                waiters: WaitQueue::new(),
                hooks: Mutex::new(Vec::new()),
            }));
            p = match self.slow.compare_exchange(
                ptr::null_mut(),
                fresh,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => fresh,
                Err(winner) => {
                    // SAFETY: `fresh` came from `Box::into_raw` above and was never
                    // published.
                    drop(unsafe { Box::from_raw(fresh) });
                    winner
                }
            };
        }
        // SAFETY: a non-null `slow` points to a `Slow` published with release ordering
        // (acquired above) that lives until the core is dropped.
        unsafe { &*p }
    }

    /// The slow side if it exists.
    fn slow_if_any(&self) -> Option<&Slow<T>> {
        let p = self.slow.load(Ordering::Acquire);
        // SAFETY: as in `slow`.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// The future as the checker's traces and the deadlock detector name it.
    pub(crate) fn object(&self) -> Object {
        Object::new("Future", self as *const Self, Some(self.site))
    }

    /// A schedule point under the checker (an operation `what` on this future, called
    /// at `at`); returns the description of a wait there.
    #[inline]
    pub(crate) fn op(&self, what: &'static str, at: &'static Location<'static>) -> WaitFor {
        let object = self.object();
        crate::check::op(what, object, at);
        WaitFor { what, object, at }
    }

    /// The state (`PENDING`, `RUNNING`, `FINISHED`, `CANCELLED`), with acquire ordering.
    #[inline]
    pub(crate) fn state(&self) -> usize {
        self.state.load(Ordering::Acquire) & STATE
    }

    /// Whether the task finished or was cancelled (callbacks may still be running).
    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        is_done(self.state.load(Ordering::Acquire))
    }

    /// Whether the outcome can be taken now (done, and no callback is running).
    #[inline]
    pub(crate) fn is_ready(&self) -> bool {
        is_ready(self.state.load(Ordering::Acquire))
    }

    /// Claim the task for running: `PENDING → RUNNING`. `false` if it was cancelled (or
    /// already claimed).
    #[inline]
    pub(crate) fn try_start(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & STATE != PENDING {
                return false;
            }
            match self.state.compare_exchange_weak(
                s,
                (s & !STATE) | RUNNING,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => s = actual,
            }
        }
    }

    /// Store the outcome and publish `FINISHED`: fire the hooks, wake the waiters.
    ///
    /// # Safety
    ///
    /// The caller moved the state to `RUNNING` with [`try_start`](Self::try_start) and
    /// has not finished it yet.
    #[inline]
    pub(crate) unsafe fn finish(&self, outcome: Outcome<T>) {
        // SAFETY: the caller owns the RUNNING state, so nobody else touches the slot
        // until FINISHED is published below (see the `Sync` impl).
        unsafe { *self.result.get() = Some(outcome) };
        let done = self.complete(RUNNING, FINISHED);
        debug_assert!(done, "finish() without a successful try_start()");
    }

    /// Cancel if the task has not started: `PENDING → CANCELLED`, firing hooks and
    /// waking waiters. `true` only for the caller that made the change, who then owns
    /// the closure (and must drop it).
    pub(crate) fn try_cancel(&self) -> bool {
        self.complete(PENDING, CANCELLED)
    }

    /// Move from `from` to the terminal state `to`; `false` if the state was not `from`.
    fn complete(&self, from: usize, to: usize) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & STATE != from {
                return false;
            }
            let new = if s & HOOKS != 0 { to | NOTIFYING } else { to };
            match self
                .state
                .compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        let mut waiters = s & WAITERS != 0;
        if s & HOOKS != 0 {
            waiters |= self.fire_hooks(to) & WAITERS != 0;
        }
        if waiters {
            // WAITERS is set only after the slow side exists (under its queue's lock).
            self.slow().waiters.notify_all(|_, _| {});
        }
        true
    }

    /// Fire every hook, including those registered while firing; then clear
    /// `NOTIFYING` (under the list's lock, with the list empty). Returns the state
    /// word from just before the flag was cleared.
    #[cold]
    fn fire_hooks(&self, terminal: usize) -> usize {
        let slow = self.slow();
        loop {
            let mut hooks = slow.hooks.lock();
            if hooks.is_empty() {
                return self.state.fetch_and(!NOTIFYING, Ordering::AcqRel);
            }
            let batch = mem::take(&mut *hooks);
            drop(hooks);
            for hook in batch {
                self.fire(hook, terminal);
            }
        }
    }

    /// Run one hook for a task in the terminal state `terminal`. A panicking callback
    /// is caught (the panic hook has already printed it, as Python logs a callback's
    /// exception) and the others still run.
    fn fire(&self, hook: Hook<T>, terminal: usize) {
        match hook {
            Hook::Watch(watcher, key) => {
                // An unbounded queue: never blocks, fails only if shut down (never).
                let _ = watcher.done.put(key);
            }
            Hook::Callback(callback) => {
                let outcome = if terminal == CANCELLED {
                    Err(&CANCELLED_ERROR)
                } else {
                    // SAFETY: the state is FINISHED (acquired by our caller, or written
                    // by this thread), and the value cannot be moved out while the
                    // callback runs: either NOTIFYING is set (the completer fires), or
                    // the registrar holds a shared borrow of the only future, which
                    // excludes `take` (see `add_hook`). Two registrars sharing the
                    // future may read it at once: `add_done_callback` requires
                    // `T: Sync`.
                    match unsafe { &*self.result.get() } {
                        Some(Ok(value)) => Ok(value),
                        Some(Err(err)) => Err(err),
                        None => Err(&TAKEN_ERROR),
                    }
                };
                let _ = panic::catch_unwind(AssertUnwindSafe(move || callback(outcome)));
            }
        }
    }

    /// Register a hook; fire it at once (in the calling thread) if the task is already
    /// done and its hooks have been fired.
    ///
    /// The caller holds a shared borrow of the task's future (or owns it): that is
    /// what keeps the value from being moved out while a callback fired here reads it.
    pub(crate) fn add_hook(&self, hook: Hook<T>) {
        let mut hooks = self.slow().hooks.lock();
        let s = self.state.fetch_or(HOOKS, Ordering::AcqRel);
        if is_ready(s) {
            drop(hooks);
            self.fire(hook, s & STATE);
        } else {
            // Not done: the completer's state change comes after our `fetch_or`, sees
            // HOOKS, and drains the list once we release its lock. Done but still
            // firing: the completer drains the list again before it clears NOTIFYING
            // (under this lock), so the hook runs after those added before it.
            hooks.push(hook);
        }
    }

    /// Remove the watches of `watcher` that have not fired.
    pub(crate) fn remove_watch(&self, watcher: &Arc<Watcher>) {
        let Some(slow) = self.slow_if_any() else {
            return;
        };
        slow.hooks.lock().retain(|hook| match hook {
            Hook::Watch(w, _) => !Arc::ptr_eq(w, watcher),
            Hook::Callback(_) => true,
        });
    }

    /// For `Debug`: `None` unless finished; else whether the value is there
    /// (`Ok(true)`) or was taken (`Ok(false)`), or the error.
    pub(crate) fn peek(&self) -> Option<Result<bool, &FutureError>> {
        if self.state() != FINISHED {
            return None;
        }
        // SAFETY: FINISHED was acquired above; the slot is only moved out of by the
        // future's owner through `&mut`, which our caller's shared borrow excludes.
        Some(match unsafe { &*self.result.get() } {
            Some(Ok(_)) => Ok(true),
            Some(Err(err)) => Err(err),
            None => Ok(false),
        })
    }

    /// Whether the task finished by panicking (or failed because the pool broke).
    pub(crate) fn is_panicked(&self) -> bool {
        if self.state() != FINISHED {
            return false;
        }
        // SAFETY: FINISHED was acquired above; the slot is only moved out of by the
        // future's owner through `&mut`, which our caller's borrow excludes.
        matches!(unsafe { &*self.result.get() }, Some(Err(e)) if e.is_panic())
    }

    /// Take the outcome. A value moves out (later calls give `Taken`); an error stays
    /// and is returned again.
    ///
    /// # Safety
    ///
    /// The state is ready ([`is_ready`](Self::is_ready) returned `true`, or a wait
    /// said so), and the caller has exclusive access to the task's only future.
    pub(crate) unsafe fn take(&self) -> Outcome<T> {
        if self.state.load(Ordering::Acquire) & STATE == CANCELLED {
            return Err(FutureError::Cancelled);
        }
        // SAFETY: ready means FINISHED with no callback running; the caller's exclusive
        // access means no other thread reads the slot.
        let slot = unsafe { &mut *self.result.get() };
        match slot {
            Some(Ok(_)) => match slot.take() {
                Some(Ok(value)) => Ok(value),
                _ => unreachable!("the slot held a value"),
            },
            Some(Err(err)) => Err(err.clone()),
            None => Err(FutureError::Taken),
        }
    }

    /// Block until the outcome is ready or `deadline` passes; `true` if ready. Spins
    /// briefly, then sleeps in the seam (an untimed wait without a deadline), as `what`.
    pub(crate) fn wait_until(&self, deadline: Option<Instant>, what: &WaitFor) -> bool {
        let mut spin = SpinWait::new();
        loop {
            if self.is_ready() {
                return true;
            }
            if deadline.is_some_and(|d| crate::wait::now() >= d) {
                return false;
            }
            if spin.spin() {
                continue;
            }
            let result = self.slow().waiters.wait_on(
                Some(what),
                0,
                || !is_ready(self.state.fetch_or(WAITERS, Ordering::AcqRel)),
                || {},
                deadline,
                |_| {},
            );
            if result == WaitResult::TimedOut {
                return self.is_ready();
            }
        }
    }

    /// The async form of [`wait_until`](Self::wait_until) without a deadline.
    pub(crate) fn poll_ready(&self, waiter: &mut AsyncWaiter, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.is_ready() {
                // Withdraw (a notification we may hold needs no passing on: completion
                // wakes every waiter).
                self.cancel_waiter(waiter);
                return Poll::Ready(());
            }
            match self.slow().waiters.poll_wait(waiter, cx, 0, || {
                !is_ready(self.state.fetch_or(WAITERS, Ordering::AcqRel))
            }) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(_) => continue,
            }
        }
    }

    /// Withdraw an async waiter whose future is dropped.
    pub(crate) fn cancel_waiter(&self, waiter: &mut AsyncWaiter) {
        if waiter.is_registered() {
            self.slow().waiters.cancel(waiter);
        }
    }
}

impl<T> Drop for Core<T> {
    fn drop(&mut self) {
        let p = *self.slow.get_mut();
        if !p.is_null() {
            // SAFETY: allocated by `slow` with `Box::into_raw`; we are the last user.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}
