//! [`RLock<T>`]: a re-entrant lock, Python's `threading.RLock` with the data inside.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::condition::sealed::{Saved, Sealed};
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
///   [`RLockError::NotOwner`] (Python raises `RuntimeError`); it only ever releases
///   levels taken by [`RLock::acquire`], never one a guard holds
///   ([`RLockError::HeldByGuards`]), so a guard always releases a level its own thread
///   holds. Re-entry deeper than `usize::MAX` panics.
/// * **Conditions**: a [`Condition`](super::Condition) can wait with an [`RLockGuard`]
///   (Python's `Condition(RLock())`): the wait releases every level the thread holds
///   and restores the same depth before it returns.
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
    /// Acquisitions held by the owner; only the owning thread writes it (a plain load
    /// and store), so other threads may read it for `Debug`.
    depth: AtomicUsize,
    /// How many of those levels were taken by `acquire` (no guard); only the owning
    /// thread reads or writes it. `release` may only give back these.
    manual: Cell<usize>,
    data: T,
}

// SAFETY: only the owning thread can reach `data` (through guards) or `depth`, one
// thread at a time, so sharing needs only that `T` may move between threads.
unsafe impl<T: ?Sized + Send> Sync for RLock<T> {}
// SAFETY: sending the lock sends the `T` inside it.
unsafe impl<T: ?Sized + Send> Send for RLock<T> {}

/// What went wrong with a manual [`RLock::release`].
///
/// Each variant's message says what to do instead.
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
    /// The calling thread holds the lock only through guards: `release` gives back
    /// levels taken by [`RLock::acquire`]; a guard's level is released by dropping the
    /// guard.
    HeldByGuards,
}

impl fmt::Display for RLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RLockError::NotOwner => f.write_str(
                "cannot release an RLock this thread does not hold \
                 (release it from the thread that acquired it, once per acquisition)",
            ),
            RLockError::HeldByGuards => f.write_str(
                "this thread holds the RLock only through guards: release() gives back \
                 levels taken by acquire(); drop the guard to release its level",
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
            depth: AtomicUsize::new(0),
            manual: Cell::new(0),
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
            self.set_depth(1);
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
            self.set_depth(1);
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
                self.set_depth(1);
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
            self.depth_now()
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

    /// The depth as the owner sees it (only the owner writes it, so a relaxed load
    /// reads its own last store).
    #[inline]
    fn depth_now(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    #[inline]
    fn set_depth(&self, depth: usize) {
        self.depth.store(depth, Ordering::Relaxed);
    }

    #[inline]
    fn deepen(&self) {
        let depth = self
            .depth_now()
            .checked_add(1)
            .expect("RLock re-entered more than usize::MAX times");
        self.set_depth(depth);
    }

    /// Release one level held by the calling thread, which owns the lock: a guard (its
    /// existence proves it) or a manual level (`release_level` checked it). Levels a
    /// guard holds are never released by anything but that guard, so the count cannot
    /// reach 0 while a guard is alive.
    #[inline]
    fn release_owned(&self) {
        let depth = self.depth_now() - 1;
        self.set_depth(depth);
        if depth == 0 {
            self.raw.release();
        }
    }

    fn release_level(&self) -> Result<(), RLockError> {
        if !self.is_owned_by_current_thread() {
            return Err(RLockError::NotOwner);
        }
        let manual = self.manual.get();
        if manual == 0 {
            return Err(RLockError::HeldByGuards);
        }
        self.manual.set(manual - 1);
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
        // We own the lock now: the count is ours to change.
        self.manual.set(self.manual.get() + 1);
    }

    /// Release one level taken by [`acquire`](Self::acquire).
    ///
    /// Levels held by guards are not this call's to release: a guard always gives back
    /// its own level when dropped, so a thread can never release a hold through a guard
    /// after the lock has passed to another thread. (A guard leaked with
    /// `mem::forget` keeps its level for good.)
    ///
    /// # Errors
    ///
    /// [`RLockError::NotOwner`] if the calling thread does not hold the lock, as Python's
    /// `RuntimeError: cannot release un-acquired lock`; [`RLockError::HeldByGuards`] if
    /// it holds it only through guards.
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

/// Shows the data (if the lock is free or held by the caller), the owner's thread
/// ident (see [`ThreadInfo::ident`](crate::thread::ThreadInfo::ident)) and its depth,
/// and where the lock was created. Owner and depth are a snapshot.
///
/// ```
/// let lock = heddle::sync::RLock::new(7);
/// assert!(format!("{lock:?}").contains("owner: None, depth: 0"));
/// let _g = lock.lock();
/// let me = heddle::thread::current().ident();
/// assert!(format!("{lock:?}").contains(&format!("owner: Some({me}), depth: 1")));
/// ```
impl<T: ?Sized + fmt::Debug> fmt::Debug for RLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Read before `try_lock`, which re-enters (one more level) when we own it.
        let owner = self.raw.owner();
        let depth = if owner == 0 { 0 } else { self.depth_now() };
        let mut d = f.debug_struct("RLock");
        match self.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.field("owner", &(owner != 0).then_some(owner))
            .field("depth", &depth)
            .field("created", &format_args!("{}", self.raw.site()))
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

#[allow(private_interfaces)] // see `Sealed`
impl<T: ?Sized> Sealed for RLockGuard<'_, T> {
    fn raw_lock(&self) -> &RawLock {
        &self.lock.raw
    }

    fn unlock_for_wait(&self) -> Saved {
        let lock = self.lock;
        // The guard proves we own the lock: depth and manual count are ours.
        let saved = Saved {
            tracked: false,
            depth: lock.depth_now(),
            manual: lock.manual.replace(0),
        };
        lock.set_depth(0);
        Saved {
            tracked: lock.raw.unlock_for_wait(),
            ..saved
        }
    }

    fn relock_after_wait(
        &self,
        saved: Saved,
        at: &'static Location<'static>,
        deadline: Option<Instant>,
    ) -> bool {
        let lock = self.lock;
        if !lock.raw.relock_after_wait(saved.tracked, at, deadline) {
            return false;
        }
        lock.set_depth(saved.depth);
        lock.manual.set(saved.manual);
        true
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
