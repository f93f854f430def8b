//! [`Condition`]: Python's `threading.Condition`, used with a [`Lock`](super::Lock) guard.

use std::fmt;
use std::panic::{self, AssertUnwindSafe, Location};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::{Duration, Instant};

use super::lock::LockGuard;
use super::raw_lock::RawLock;
use crate::wait::{deadline_after, Object, WaitFor, WaitQueue, WaitResult};

/// A condition variable.
///
/// A condition lets threads sleep until another thread changes the state a lock
/// protects and says so. As in std and parking_lot, the condition is separate from the
/// lock and takes the guard in `wait`: `cond.wait(&mut guard)` atomically releases the
/// lock and sleeps, and re-takes the lock before returning.
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
    pub fn wait<T: ?Sized>(&self, guard: &mut LockGuard<'_, T>) {
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
    pub fn wait_timeout<T: ?Sized>(
        &self,
        guard: &mut LockGuard<'_, T>,
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
    #[track_caller]
    pub fn wait_while<T: ?Sized>(
        &self,
        guard: &mut LockGuard<'_, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) {
        let at = Location::caller();
        while condition(&mut **guard) {
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
    pub fn wait_while_timeout<T: ?Sized>(
        &self,
        guard: &mut LockGuard<'_, T>,
        timeout: Duration,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> WaitTimeoutResult {
        let at = Location::caller();
        let deadline = deadline_after(timeout);
        while condition(&mut **guard) {
            if !self.wait_until(guard, deadline, at) {
                return WaitTimeoutResult(condition(&mut **guard));
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

    /// Returns `false` on timeout. The lock is held again in both cases.
    fn wait_until<T: ?Sized>(
        &self,
        guard: &mut LockGuard<'_, T>,
        deadline: Option<Instant>,
        at: &'static Location<'static>,
    ) -> bool {
        let raw = guard.lock_ref().raw();
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
        // The guard's lock is released in the seam once we are queued, and must be held
        // again when we return, even if the wait unwinds (a deadlock report): the
        // caller's guard will release it.
        let mut tracked = false;
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            self.queue.wait_on(
                Some(&what),
                0,
                validate,
                || tracked = raw.unlock_for_wait(),
                deadline,
                |is_empty| self.unbind_if(is_empty),
            )
        }));
        match result {
            Ok(WaitResult::Invalid) => {
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
            Ok(result) => {
                raw.relock_after_wait(tracked, at);
                result != WaitResult::TimedOut
            }
            Err(payload) => {
                raw.relock_after_wait(tracked, at);
                panic::resume_unwind(payload)
            }
        }
    }

    /// The last waiter left: forget the lock (runs under the queue lock).
    fn unbind_if(&self, is_empty: bool) {
        if is_empty {
            self.bound.store(ptr::null_mut(), Ordering::Relaxed);
        }
    }
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
