//! [`RLock<T>`]: a re-entrant lock, Python's `threading.RLock` with the data inside.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::panic::Location;
use std::time::Duration;

use super::raw_lock::RawLock;
use crate::wait::{deadline_after, local};

/// A re-entrant lock protecting a `T`.
///
/// The thread that holds an `RLock` may take it again; it is released when every guard
/// (every acquisition) has been dropped. Other threads wait as for a [`Lock`](super::Lock).
///
/// # Guarantees
///
/// * **Fast path**: first acquisition is one compare-and-swap that also records the
///   owner, the last release a plain store (see [`Lock`](super::Lock)); re-entry is a
///   relaxed load and a counter increment, with no atomic read-modify-write.
/// * **Shared access only**: guards give `&T` (several may be alive in one thread at
///   once), so mutate through a `Cell`/`RefCell` inside, as with parking_lot's
///   `ReentrantMutex`.
/// * **Fairness, timeouts, spurious wake-ups**: as for [`Lock`](super::Lock): unfair
///   (barging) with FIFO wake-ups; `try_lock` never blocks; `lock_timeout` gives up at the
///   deadline; `lock` returns only holding the lock.
/// * **Panics**: no poisoning; guards dropped while unwinding release their level.
/// * **Misuse**: [`RLock::release`] by a thread that does not hold the lock returns
///   [`RLockError::NotOwner`] (Python raises `RuntimeError`); re-entry deeper than
///   `usize::MAX` panics.
///
/// ```
/// use heddle::sync::RLock;
/// use std::cell::Cell;
///
/// let lock = RLock::new(Cell::new(0));
/// let outer = lock.lock();
/// let inner = lock.lock(); // the same thread may take it again
/// inner.set(inner.get() + 1);
/// drop(inner);
/// drop(outer); // released only now
/// assert_eq!(lock.lock().get(), 1);
/// ```
pub struct RLock<T: ?Sized> {
    raw: RawLock,
    /// Acquisitions held by the owner; only the owning thread reads or writes it.
    depth: Cell<usize>,
    data: T,
}

// SAFETY: only the owning thread can reach `data` (through guards) or `depth`, one
// thread at a time, so sharing needs only that `T` may move between threads.
unsafe impl<T: ?Sized + Send> Sync for RLock<T> {}
// SAFETY: sending the lock sends the `T` inside it.
unsafe impl<T: ?Sized + Send> Send for RLock<T> {}

/// What went wrong with a manual [`RLock::release`].
///
/// ```
/// use heddle::sync::{RLock, RLockError};
///
/// let lock = RLock::new(());
/// // Python raises RuntimeError("cannot release un-acquired lock") here.
/// assert_eq!(lock.release(), Err(RLockError::NotOwner));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RLockError {
    /// The calling thread does not hold the lock: release it from the thread that took
    /// it, once per acquisition.
    NotOwner,
}

impl fmt::Display for RLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RLockError::NotOwner => f.write_str(
                "cannot release an RLock this thread does not hold \
                 (release it from the thread that acquired it, once per acquisition)",
            ),
        }
    }
}

impl std::error::Error for RLockError {}

impl<T> RLock<T> {
    /// A new unlocked re-entrant lock holding `value`.
    ///
    /// ```
    /// static R: heddle::sync::RLock<()> = heddle::sync::RLock::new(());
    /// let _g = R.lock();
    /// ```
    #[track_caller]
    pub const fn new(value: T) -> Self {
        RLock {
            raw: RawLock::new("RLock"),
            depth: Cell::new(0),
            data: value,
        }
    }

    /// Consume the lock and return the data.
    ///
    /// ```
    /// assert_eq!(heddle::sync::RLock::new(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        self.data
    }
}

impl<T: ?Sized> RLock<T> {
    /// Take the lock, waiting if another thread holds it; re-entry never waits.
    ///
    /// ```
    /// let lock = heddle::sync::RLock::new(1);
    /// let a = lock.lock();
    /// let b = lock.lock();
    /// assert_eq!(*a + *b, 2);
    /// ```
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> RLockGuard<'_, T> {
        let me = local::thread_id();
        if self.raw.owner() == me {
            self.deepen();
        } else {
            self.raw.acquire_as(me, Location::caller(), None);
            self.depth.set(1);
        }
        RLockGuard::new(self)
    }

    /// Take the lock if this thread holds it already or nobody does; never blocks.
    ///
    /// ```
    /// let lock = heddle::sync::RLock::new(());
    /// let _a = lock.try_lock().unwrap();
    /// assert!(lock.try_lock().is_some()); // re-entry
    /// ```
    #[inline]
    #[track_caller]
    pub fn try_lock(&self) -> Option<RLockGuard<'_, T>> {
        if self.reenter() {
            return Some(RLockGuard::new(self));
        }
        self.raw.try_acquire(Location::caller()).then(|| {
            self.depth.set(1);
            RLockGuard::new(self)
        })
    }

    /// Like [`lock`](Self::lock), but give up after `timeout` and return `None`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = heddle::sync::RLock::new(());
    /// assert!(lock.lock_timeout(Duration::from_millis(1)).is_some());
    /// ```
    #[track_caller]
    pub fn lock_timeout(&self, timeout: Duration) -> Option<RLockGuard<'_, T>> {
        if self.reenter() {
            return Some(RLockGuard::new(self));
        }
        self.raw
            .acquire(Location::caller(), deadline_after(timeout))
            .then(|| {
                self.depth.set(1);
                RLockGuard::new(self)
            })
    }

    /// Whether the calling thread holds the lock (Python's `_is_owned()`).
    ///
    /// ```
    /// let lock = heddle::sync::RLock::new(());
    /// assert!(!lock.is_owned_by_current_thread());
    /// let _g = lock.lock();
    /// assert!(lock.is_owned_by_current_thread());
    /// ```
    pub fn is_owned_by_current_thread(&self) -> bool {
        self.raw.owner() == local::thread_id()
    }

    /// Whether some thread holds the lock right now; a snapshot.
    ///
    /// ```
    /// let lock = heddle::sync::RLock::new(());
    /// assert!(!lock.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// How many times the calling thread holds the lock (0 if it does not).
    ///
    /// ```
    /// let lock = heddle::sync::RLock::new(());
    /// let _a = lock.lock();
    /// let _b = lock.lock();
    /// assert_eq!(lock.depth(), 2);
    /// ```
    pub fn depth(&self) -> usize {
        if self.is_owned_by_current_thread() {
            self.depth.get()
        } else {
            0
        }
    }

    /// Mutable access without locking: `&mut self` proves no one else can hold it.
    ///
    /// ```
    /// let mut lock = heddle::sync::RLock::new(1);
    /// *lock.get_mut() += 1;
    /// assert_eq!(*lock.lock(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.data
    }

    /// Re-enter if this thread is the owner. The owner word is exact (set and cleared in
    /// the same CAS as the lock bit), so reading our own id there proves ownership.
    #[inline]
    fn reenter(&self) -> bool {
        if self.raw.owner() != local::thread_id() {
            return false;
        }
        self.deepen();
        true
    }

    #[inline]
    fn deepen(&self) {
        let depth = self
            .depth
            .get()
            .checked_add(1)
            .expect("RLock re-entered more than usize::MAX times");
        self.depth.set(depth);
    }

    /// Release one level held by a guard (which proves ownership).
    #[inline]
    fn release_owned(&self) {
        let depth = self
            .depth
            .get()
            .checked_sub(1)
            .expect("RLock guard dropped after its level was released manually: release() only levels taken with acquire()");
        self.depth.set(depth);
        if depth == 0 {
            self.raw.release();
        }
    }

    fn release_level(&self) -> Result<(), RLockError> {
        if !self.is_owned_by_current_thread() || self.depth.get() == 0 {
            return Err(RLockError::NotOwner);
        }
        self.release_owned();
        Ok(())
    }
}

impl RLock<()> {
    /// Python-style manual acquisition: take one level without a guard. Pair it with
    /// [`release`](Self::release). Only on `RLock<()>`, where there is no data a
    /// guard-less holder could reach.
    ///
    /// ```
    /// let lock = heddle::sync::RLock::new(());
    /// lock.acquire();
    /// lock.acquire();
    /// lock.release().unwrap();
    /// lock.release().unwrap();
    /// assert!(!lock.is_locked());
    /// ```
    #[track_caller]
    pub fn acquire(&self) {
        std::mem::forget(self.lock());
    }

    /// Release one level taken by [`acquire`](Self::acquire) (or leaked from a guard).
    ///
    /// # Errors
    ///
    /// [`RLockError::NotOwner`] if the calling thread does not hold the lock, as Python's
    /// `RuntimeError: cannot release un-acquired lock`.
    ///
    /// ```
    /// use heddle::sync::{RLock, RLockError};
    /// let lock = RLock::new(());
    /// assert_eq!(lock.release(), Err(RLockError::NotOwner));
    /// ```
    pub fn release(&self) -> Result<(), RLockError> {
        self.release_level()
    }
}

impl<T: Default> Default for RLock<T> {
    #[track_caller]
    fn default() -> Self {
        RLock::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RLock");
        match self.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.field("created", &format_args!("{}", self.raw.site()))
            .finish()
    }
}

/// One level of a held [`RLock`]; dropping it releases that level.
///
/// ```
/// let lock = heddle::sync::RLock::new(String::from("x"));
/// let g = lock.lock();
/// assert_eq!(g.len(), 1);
/// ```
#[must_use = "the level is released as soon as the guard is dropped"]
pub struct RLockGuard<'a, T: ?Sized> {
    lock: &'a RLock<T>,
    _not_send: PhantomData<*const ()>,
}

impl<'a, T: ?Sized> RLockGuard<'a, T> {
    fn new(lock: &'a RLock<T>) -> Self {
        RLockGuard {
            lock,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for RLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.lock.data
    }
}

impl<T: ?Sized> Drop for RLockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.release_owned();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RLockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
