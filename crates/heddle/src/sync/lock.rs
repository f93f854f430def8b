//! [`Lock<T>`]: mutual exclusion, Python's `threading.Lock` with the data inside.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::time::Duration;

use super::raw_lock::RawLock;
use crate::wait::deadline_after;

/// A mutual-exclusion lock protecting a `T`.
///
/// # Guarantees
///
/// * **Fast path**: an uncontended `lock` is one compare-and-swap (which also records the
///   owner's id) and the unlock a plain store and a load: one atomic read-modify-write
///   per lock + unlock where std's `Mutex` and parking_lot's use two. A thread about to
///   sleep pays instead, with a process-wide memory barrier (`membarrier` on Linux; a
///   fence elsewhere, where the unlock pays a fence too), so no wake-up is missed; the
///   barrier is paid by the first thread to queue, not by every one.
/// * **Fairness**: eventual, not strict. Waiters are woken in FIFO order, but an
///   arriving thread may take the lock before the woken one ("barging"), which keeps
///   throughput high; barging is bounded: about every half millisecond of contention,
///   an unlock hands the lock straight to the longest-queued waiter (parking_lot's
///   "eventual fairness"). Use a [`Semaphore`](super::Semaphore) or a queue if you need
///   strict turn-taking.
/// * **Timeouts**: [`Lock::lock_timeout`] gives up at the deadline and returns `None`;
///   a zero timeout is a try, as Python's `acquire(timeout=0)`; [`Lock::try_lock`]
///   never blocks.
/// * **Panics**: no poisoning (as in Python and parking_lot). A guard dropped while
///   unwinding releases the lock; the data is whatever the panicking code left.
/// * **Spurious wake-ups**: none are visible; `lock` returns only holding the lock.
/// * **Re-entry**: a `Lock` is not re-entrant. `lock` on a `Lock` the calling thread
///   already holds can never succeed, and heddle's deadlock detector reports it at once
///   as a wait-for cycle of one thread: with the default
///   [`Action::Panic`](crate::deadlock::Action::Panic) that second `lock` panics with
///   the [`DeadlockReport`](crate::deadlock::DeadlockReport) (the first guard then
///   releases as it unwinds); with `Log`, or a `Callback` that returns, the thread then
///   blocks forever (Python's behaviour). `try_lock` returns `None` and `lock_timeout`
///   waits out its timeout (a timed wait is never reported). Use
///   [`RLock`](super::RLock) for re-entrant locking.
///
/// ```
/// use heddle::sync::Lock;
///
/// let balance = Lock::new(100);
/// {
///     let mut b = balance.lock();
///     *b -= 30;
/// } // released here
/// assert_eq!(*balance.lock(), 70);
/// ```
pub struct Lock<T: ?Sized> {
    raw: RawLock,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands out `&mut T` to one thread at a time, so sharing the `Lock`
// only requires that `T` can move between threads, exactly as for std's `Mutex`.
unsafe impl<T: ?Sized + Send> Sync for Lock<T> {}
// SAFETY: sending the lock sends the `T` inside it.
unsafe impl<T: ?Sized + Send> Send for Lock<T> {}

impl<T> Lock<T> {
    /// A new unlocked lock holding `value`. The call site is remembered for deadlock
    /// reports.
    ///
    /// ```
    /// static COUNTER: heddle::sync::Lock<u32> = heddle::sync::Lock::new(0);
    /// *COUNTER.lock() += 1;
    /// assert_eq!(*COUNTER.lock(), 1);
    /// ```
    #[track_caller]
    pub const fn new(value: T) -> Self {
        Lock {
            raw: RawLock::new("Lock"),
            data: UnsafeCell::new(value),
        }
    }

    /// Consume the lock and return the data.
    ///
    /// ```
    /// let lock = heddle::sync::Lock::new(vec![1, 2]);
    /// assert_eq!(lock.into_inner(), vec![1, 2]);
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Lock<T> {
    /// Block until the lock is free, take it, and return a guard that releases it when
    /// dropped.
    ///
    /// ```
    /// let lock = heddle::sync::Lock::new(String::new());
    /// lock.lock().push_str("hello");
    /// assert_eq!(*lock.lock(), "hello");
    /// ```
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> LockGuard<'_, T> {
        self.raw.acquire(Location::caller(), None);
        LockGuard::new(self)
    }

    /// Take the lock if it is free right now; never blocks.
    ///
    /// ```
    /// let lock = heddle::sync::Lock::new(1);
    /// let held = lock.lock();
    /// assert!(lock.try_lock().is_none());
    /// drop(held);
    /// assert!(lock.try_lock().is_some());
    /// ```
    #[inline]
    #[track_caller]
    pub fn try_lock(&self) -> Option<LockGuard<'_, T>> {
        self.raw
            .try_acquire(Location::caller())
            .then(|| LockGuard::new(self))
    }

    /// Like [`lock`](Self::lock), but give up after `timeout` and return `None`.
    ///
    /// A zero timeout is a non-blocking try (Python's `acquire(timeout=0)`): it costs
    /// what [`try_lock`](Self::try_lock) costs. Nor does a timeout that runs out while
    /// waiting spin or sleep any further.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = heddle::sync::Lock::new(());
    /// let _held = lock.lock();
    /// assert!(lock.lock_timeout(Duration::from_millis(1)).is_none());
    /// assert!(lock.lock_timeout(Duration::ZERO).is_none());
    /// ```
    #[inline]
    #[track_caller]
    pub fn lock_timeout(&self, timeout: Duration) -> Option<LockGuard<'_, T>> {
        if timeout.is_zero() {
            return self.try_lock();
        }
        self.raw
            .acquire(Location::caller(), deadline_after(timeout))
            .then(|| LockGuard::new(self))
    }

    /// Whether some thread holds the lock right now (Python's `locked()`); a snapshot.
    ///
    /// ```
    /// let lock = heddle::sync::Lock::new(());
    /// assert!(!lock.is_locked());
    /// let _g = lock.lock();
    /// assert!(lock.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// Mutable access without locking: `&mut self` proves no one else can hold it.
    ///
    /// ```
    /// let mut lock = heddle::sync::Lock::new(1);
    /// *lock.get_mut() = 2;
    /// assert_eq!(*lock.lock(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    pub(crate) fn raw(&self) -> &RawLock {
        &self.raw
    }
}

impl<T: Default> Default for Lock<T> {
    #[track_caller]
    fn default() -> Self {
        Lock::new(T::default())
    }
}

impl<T> From<T> for Lock<T> {
    #[track_caller]
    fn from(value: T) -> Self {
        Lock::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Lock");
        match self.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        // (try_lock above is a schedule point under the checker, like any other use.)
        d.field("created", &format_args!("{}", self.raw.site()))
            .finish()
    }
}

/// Proof that the current thread holds a [`Lock`]; releases it on drop.
///
/// Not `Send`: a lock is released by the thread that took it.
///
/// ```
/// let lock = heddle::sync::Lock::new(5);
/// let mut guard = lock.lock();
/// *guard += 1;
/// drop(guard);
/// assert_eq!(*lock.lock(), 6);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a, T: ?Sized> {
    lock: &'a Lock<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard only gives `&T`, so sharing it across threads needs `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for LockGuard<'_, T> {}

impl<'a, T: ?Sized> LockGuard<'a, T> {
    fn new(lock: &'a Lock<T>) -> Self {
        LockGuard {
            lock,
            _not_send: PhantomData,
        }
    }

    /// The lock this guard holds (used by [`Condition`](super::Condition)).
    pub(crate) fn lock_ref(&self) -> &'a Lock<T> {
        self.lock
    }
}

impl<T: ?Sized> Deref for LockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for LockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard exists only while this thread holds the lock, and `&mut self`
        // means no other reference through this guard is alive.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for LockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.raw.release();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
