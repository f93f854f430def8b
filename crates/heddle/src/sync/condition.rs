//! [`Condition`]: Python's `threading.Condition`, used with a [`Lock`](super::Lock) or
//! [`RLock`](super::RLock) guard.

use std::fmt;
use std::panic::{self, AssertUnwindSafe, Location};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::{Duration, Instant};

use super::lock::LockGuard;
use super::raw_lock::RawLock;
use super::rlock::RLockGuard;
use crate::wait::{deadline_after, deadline_in, Object, WaitFor, WaitQueue, WaitResult};

/// What a guard type must do for a condition wait; implemented only inside heddle.
pub(crate) mod sealed {
    use std::panic::Location;
    use std::time::Instant;

    use super::super::raw_lock::RawLock;

    /// What a condition wait saved of its lock's state, to restore once it holds the
    /// lock again.
    #[derive(Debug, Clone, Copy)]
    pub struct Saved {
        /// The hold was `TRACKED` (checker, lock-order mode).
        pub(crate) tracked: bool,
        /// An `RLock`'s depth and manual levels (0 for a `Lock`).
        pub(crate) depth: usize,
        pub(crate) manual: usize,
    }

    // `pub` only so that the public `ConditionGuard` can name it as a supertrait; the
    // module is private, so no one outside heddle can implement or call it.
    #[allow(private_interfaces)]
    pub trait Sealed {
        /// The lock the guard holds.
        fn raw_lock(&self) -> &RawLock;
        /// Release the lock completely (every level of an `RLock`) for a wait; the guard
        /// stays, holding nothing, until `relock_after_wait` succeeds.
        fn unlock_for_wait(&self) -> Saved;
        /// Take the lock back and restore what `unlock_for_wait` saved; `false` if the
        /// deadline passed first (then nothing is held).
        fn relock_after_wait(
            &self,
            saved: Saved,
            at: &'static Location<'static>,
            deadline: Option<Instant>,
        ) -> bool;
    }
}

use sealed::{Saved, Sealed};

/// A guard a [`Condition`] can wait with: a [`LockGuard`] (Python's `Condition(Lock())`)
/// or an [`RLockGuard`] (Python's `Condition(RLock())`). Implemented only by those two.
///
/// ```
/// use heddle::sync::{Condition, Lock, RLock};
/// use std::time::Duration;
///
/// let cond = Condition::new();
/// let lock = Lock::new(0);
/// let mut g = lock.lock();
/// assert!(cond.wait_timeout(&mut g, Duration::ZERO).timed_out());
///
/// let (rcond, rlock) = (Condition::new(), RLock::new(()));
/// let mut r = rlock.lock();
/// assert!(rcond.wait_timeout(&mut r, Duration::ZERO).timed_out());
/// ```
pub trait ConditionGuard: Sealed {
    /// What a [`Condition::wait_while`] predicate is given: the data (`T`) for a
    /// `LockGuard<T>`; for an `RLockGuard`, the guard itself (an `RLock` gives only
    /// shared access to its data, as other guards of the same thread may be alive).
    type Target: ?Sized;

    /// What the predicate is given (used by [`Condition::wait_while`]).
    #[doc(hidden)]
    fn target(&mut self) -> &mut Self::Target;
}

#[allow(private_interfaces)] // see `Sealed`
impl<T: ?Sized> Sealed for LockGuard<'_, T> {
    fn raw_lock(&self) -> &RawLock {
        self.lock_ref().raw()
    }

    fn unlock_for_wait(&self) -> Saved {
        Saved {
            tracked: self.lock_ref().raw().unlock_for_wait(),
            depth: 0,
            manual: 0,
        }
    }

    fn relock_after_wait(
        &self,
        saved: Saved,
        at: &'static Location<'static>,
        deadline: Option<Instant>,
    ) -> bool {
        self.lock_ref()
            .raw()
            .relock_after_wait(saved.tracked, at, deadline)
    }
}

impl<T: ?Sized> ConditionGuard for LockGuard<'_, T> {
    type Target = T;

    fn target(&mut self) -> &mut T {
        self
    }
}

impl<'a, T: ?Sized> ConditionGuard for RLockGuard<'a, T> {
    type Target = RLockGuard<'a, T>;

    fn target(&mut self) -> &mut Self {
        self
    }
}

/// A condition variable.
///
/// A condition lets threads sleep until another thread changes the state a lock
/// protects and says so. As in std and parking_lot, the condition is separate from the
/// lock and takes the guard in `wait`: `cond.wait(&mut guard)` atomically releases the
/// lock and sleeps, and re-takes the lock before returning. The guard is a
/// [`LockGuard`] or, as Python's `Condition(RLock())` allows, an [`RLockGuard`]: the
/// wait then releases every level the thread holds (a re-entrant lock held three deep
/// is free while the thread sleeps) and restores the same depth before returning.
///
/// # Guarantees
///
/// * **No lost wake-ups**: a waiter is enqueued before its lock is released, so a
///   notification sent by a thread that took the lock after the waiter released it
///   always finds it.
/// * **Wake-up order**: FIFO: `notify_one` wakes the longest waiter.
/// * **Spurious wake-ups**: heddle never wakes a waiter without a notification or its
///   timeout, but by the time the woken thread re-takes the lock another thread may have
///   changed the state again. Check the predicate in a loop: [`Condition::wait_while`]
///   does it for you (Python's `wait_for`).
/// * **Timeouts**: `wait_timeout` reports whether it timed out; in both cases the lock
///   is held again on return.
/// * **Notify without the lock**: allowed (unlike Python, which raises), and safe; hold
///   the lock while changing the state the waiters check, or they may miss the change.
/// * **One lock per condition**: waiting on one `Condition` with a guard of a lock
///   other than the one it was first used with panics with a message naming both
///   creation sites. Locks are told apart by address while threads wait, and by
///   creation site always, so a lock and its condition may move together between
///   waits (two locks created at one line, used one after the other, are not caught).
/// * **Panics**: nothing poisons; a panic in a `wait_while` predicate propagates with the
///   lock held by the guard, which releases it as it unwinds.
/// * **The lock is held whenever the guard is**: a wait returns, and unwinds, only with
///   the lock held again, so the caller's guard never releases a lock it does not hold.
///   A deadlock report whose action panics *while the wait re-takes the lock* (say, the
///   re-take closes a lock cycle) cannot unwind at once: the action runs, the wait keeps
///   waiting for the lock (as a wait nothing reports again), and the panic continues
///   once the lock is held. A report during the sleep itself unwinds at once, after
///   re-taking the lock the same way.
///
/// ```
/// use heddle::sync::{Condition, Lock};
/// use heddle::thread::Thread;
/// use std::sync::Arc;
///
/// let pair = Arc::new((Lock::new(false), Condition::new()));
/// let pair2 = Arc::clone(&pair);
/// let t = Thread::new(move || {
///     let (ready, cond) = &*pair2;
///     *ready.lock() = true;
///     cond.notify_one();
/// })
/// .start();
/// let (ready, cond) = &*pair;
/// let mut guard = ready.lock();
/// cond.wait_while(&mut guard, |ready| !*ready);
/// assert!(*guard);
/// drop(guard);
/// t.join().unwrap();
/// ```
pub struct Condition {
    queue: WaitQueue,
    /// The lock waiters are using right now (null when nobody waits).
    bound: AtomicPtr<RawLock>,
    /// Creation site of the lock of the first wait: a lock may move between waits (its
    /// address changes), but it cannot be created anew.
    lock_site: AtomicPtr<Location<'static>>,
    site: &'static Location<'static>,
}

/// Whether a timed wait returned because its timeout elapsed.
///
/// ```
/// use heddle::sync::{Condition, Lock};
/// use std::time::Duration;
/// let (lock, cond) = (Lock::new(()), Condition::new());
/// let mut g = lock.lock();
/// assert!(cond.wait_timeout(&mut g, Duration::from_millis(1)).timed_out());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// `true` if the wait ended because the timeout elapsed.
    ///
    /// ```
    /// # use heddle::sync::{Condition, Lock};
    /// # use std::time::Duration;
    /// # let (lock, cond) = (Lock::new(()), Condition::new());
    /// # let mut g = lock.lock();
    /// let r = cond.wait_timeout(&mut g, Duration::ZERO);
    /// assert!(r.timed_out());
    /// ```
    pub fn timed_out(self) -> bool {
        self.0
    }
}

impl Condition {
    /// A new condition, not yet bound to a lock.
    ///
    /// ```
    /// static READY: heddle::sync::Condition = heddle::sync::Condition::new();
    /// assert_eq!(READY.notify_all(), 0);
    /// ```
    #[track_caller]
    pub const fn new() -> Self {
        Condition {
            queue: WaitQueue::new(),
            bound: AtomicPtr::new(ptr::null_mut()),
            lock_site: AtomicPtr::new(ptr::null_mut()),
            site: Location::caller(),
        }
    }

    /// Release the guard's lock, sleep until notified, and re-take the lock.
    ///
    /// # Panics
    ///
    /// If this condition was used before with a different lock.
    ///
    /// ```
    /// use heddle::sync::{Condition, Lock};
    /// use std::sync::Arc;
    /// let state = Arc::new((Lock::new(0), Condition::new()));
    /// let s2 = Arc::clone(&state);
    /// let t = heddle::thread::Thread::new(move || {
    ///     *s2.0.lock() = 1;
    ///     s2.1.notify_all();
    /// })
    /// .start();
    /// let mut g = state.0.lock();
    /// while *g == 0 {
    ///     state.1.wait(&mut g);
    /// }
    /// drop(g);
    /// t.join().unwrap();
    /// ```
    #[track_caller]
    pub fn wait<G: ConditionGuard>(&self, guard: &mut G) {
        self.wait_until(guard, None, Location::caller());
    }

    /// Like [`wait`](Self::wait), but give up after `timeout`.
    ///
    /// ```
    /// use heddle::sync::{Condition, Lock};
    /// use std::time::Duration;
    /// let (lock, cond) = (Lock::new(()), Condition::new());
    /// let mut g = lock.lock();
    /// let r = cond.wait_timeout(&mut g, Duration::from_millis(1));
    /// assert!(r.timed_out());
    /// ```
    #[track_caller]
    pub fn wait_timeout<G: ConditionGuard>(
        &self,
        guard: &mut G,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        WaitTimeoutResult(!self.wait_until(guard, deadline_after(timeout), Location::caller()))
    }

    /// Wait while `condition` holds (Python's `wait_for(lambda: not condition)`): the
    /// predicate is checked first and after every wake-up, with the lock held.
    ///
    /// ```
    /// use heddle::sync::{Condition, Lock};
    /// let (lock, cond) = (Lock::new(3), Condition::new());
    /// let mut g = lock.lock();
    /// cond.wait_while(&mut g, |n| *n == 0); // returns at once: 3 != 0
    /// ```
    ///
    /// With an [`RLock`](super::RLock) the predicate gets the guard (shared access):
    ///
    /// ```
    /// use heddle::sync::{Condition, RLock};
    /// use std::cell::Cell;
    /// let (lock, cond) = (RLock::new(Cell::new(3)), Condition::new());
    /// let _outer = lock.lock();
    /// let mut g = lock.lock(); // two levels deep
    /// cond.wait_while(&mut g, |g| g.get() == 0); // returns at once
    /// assert_eq!(lock.depth(), 2);
    /// ```
    #[track_caller]
    pub fn wait_while<G: ConditionGuard>(
        &self,
        guard: &mut G,
        mut condition: impl FnMut(&mut G::Target) -> bool,
    ) {
        let at = Location::caller();
        while condition(guard.target()) {
            self.wait_until(guard, None, at);
        }
    }

    /// [`wait_while`](Self::wait_while) with an overall timeout. Returns whether the
    /// timeout elapsed with the condition still holding.
    ///
    /// ```
    /// use heddle::sync::{Condition, Lock};
    /// use std::time::Duration;
    /// let (lock, cond) = (Lock::new(0), Condition::new());
    /// let mut g = lock.lock();
    /// let r = cond.wait_while_timeout(&mut g, Duration::from_millis(1), |n| *n == 0);
    /// assert!(r.timed_out());
    /// ```
    #[track_caller]
    pub fn wait_while_timeout<G: ConditionGuard>(
        &self,
        guard: &mut G,
        timeout: Duration,
        mut condition: impl FnMut(&mut G::Target) -> bool,
    ) -> WaitTimeoutResult {
        let at = Location::caller();
        let deadline = deadline_after(timeout);
        while condition(guard.target()) {
            if !self.wait_until(guard, deadline, at) {
                return WaitTimeoutResult(condition(guard.target()));
            }
        }
        WaitTimeoutResult(false)
    }

    /// Wake the longest-waiting thread, if any; returns whether one was woken.
    ///
    /// ```
    /// let cond = heddle::sync::Condition::new();
    /// assert!(!cond.notify_one()); // nobody waits
    /// ```
    #[track_caller]
    pub fn notify_one(&self) -> bool {
        crate::check::op("notify_one", self.object(), Location::caller());
        self.queue.notify_one(|_, more| self.unbind_if(!more)) == 1
    }

    /// Wake up to `n` waiters (Python's `notify(n)`); returns how many were woken.
    ///
    /// ```
    /// let cond = heddle::sync::Condition::new();
    /// assert_eq!(cond.notify(3), 0);
    /// ```
    #[track_caller]
    pub fn notify(&self, n: usize) -> usize {
        crate::check::op("notify", self.object(), Location::caller());
        self.queue.notify_n(n, |_, more| self.unbind_if(!more))
    }

    /// Wake every waiter; returns how many were woken.
    ///
    /// ```
    /// let cond = heddle::sync::Condition::new();
    /// assert_eq!(cond.notify_all(), 0);
    /// ```
    #[track_caller]
    pub fn notify_all(&self) -> usize {
        crate::check::op("notify_all", self.object(), Location::caller());
        self.queue.notify_all(|_, more| self.unbind_if(!more))
    }

    fn object(&self) -> Object {
        Object::new("Condition", self, Some(self.site))
    }

    /// Returns `false` on timeout. The lock is held again in every case, including an
    /// unwind.
    fn wait_until<G: ConditionGuard>(
        &self,
        guard: &mut G,
        deadline: Option<Instant>,
        at: &'static Location<'static>,
    ) -> bool {
        let guard: &G = guard;
        let raw = guard.raw_lock();
        let what = WaitFor {
            what: "wait",
            object: self.object(),
            at,
        };
        crate::check::op("wait", what.object, at);
        let wanted = raw as *const RawLock as *mut RawLock;
        let mut other = None;
        // Bind to the lock under the queue lock, for as long as anyone waits (so a
        // Lock and Condition may move together between waits, as parking_lot allows).
        let site = raw.site() as *const Location<'static> as *mut Location<'static>;
        let validate = || {
            let first_site = match self.lock_site.compare_exchange(
                ptr::null_mut(),
                site,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => site,
                Err(s) => s,
            };
            match self.bound.load(Ordering::Relaxed) {
                p if (p.is_null() || p == wanted) && first_site == site => {
                    self.bound.store(wanted, Ordering::Relaxed);
                    true
                }
                _ => {
                    // SAFETY: sites are `&'static Location`s.
                    other = Some(unsafe { &*first_site });
                    false
                }
            }
        };
        // The guard's lock is released in the seam once we are queued (`released` says
        // it was), and must be held again whenever we leave, even by an unwind (a
        // deadlock report): the caller's guard will release it.
        let mut released: Option<Saved> = None;
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            self.queue.wait_on(
                Some(&what),
                0,
                validate,
                || released = Some(guard.unlock_for_wait()),
                deadline,
                |is_empty| self.unbind_if(is_empty),
            )
        }));
        let relock_panic = released.and_then(|saved| retake(guard, saved, at));
        // A report during the sleep came first; one while re-taking is then dropped.
        let result = result.unwrap_or_else(|payload| panic::resume_unwind(payload));
        if let Some(payload) = relock_panic {
            panic::resume_unwind(payload);
        }
        if result == WaitResult::Invalid {
            let site = other.unwrap_or(raw.site());
            panic!(
                "Condition (created at {}) was used with two different Locks \
                 (created at {} and at {}). A Condition protects the state of one \
                 Lock: create one Condition per Lock",
                self.site,
                site,
                raw.site()
            );
        }
        result != WaitResult::TimedOut
    }

    /// The last waiter left: forget the lock (runs under the queue lock).
    fn unbind_if(&self, is_empty: bool) {
        if is_empty {
            self.bound.store(ptr::null_mut(), Ordering::Relaxed);
        }
    }
}

/// Take the guard's lock back after a wait and restore its state. If that unwinds (a
/// deadlock report whose action panics, say the re-take closes a lock cycle), the lock
/// is not held, and the caller's guard must not be left holding nothing: take it again
/// as a timed wait with the furthest deadline (which the deadlock detectors do not
/// report again), and return the panic for the caller to continue once the lock is held.
fn retake<G: ConditionGuard>(
    guard: &G,
    saved: Saved,
    at: &'static Location<'static>,
) -> Option<Box<dyn std::any::Any + Send>> {
    let payload = panic::catch_unwind(AssertUnwindSafe(|| {
        guard.relock_after_wait(saved, at, None);
    }))
    .err()?;
    let far = deadline_in(Duration::MAX);
    while !guard.relock_after_wait(saved, at, Some(far)) {}
    Some(payload)
}

impl Default for Condition {
    #[track_caller]
    fn default() -> Self {
        Condition::new()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("created", &format_args!("{}", self.site))
            .finish_non_exhaustive()
    }
}
