//! [`BoundedSemaphore`]: Python's `threading.BoundedSemaphore`, a semaphore that refuses
//! to be released above its initial count.

use std::fmt;
use std::panic::Location;
use std::time::Duration;

use super::raw_semaphore::RawSemaphore;
use crate::wait::{deadline_after, observe, Object, WaitFor};

/// A semaphore whose count never exceeds its initial value.
///
/// Releasing more often than acquiring is almost always a bug (a permit given back
/// twice); Python raises `ValueError`, heddle returns [`TooManyReleases`]. Everything
/// else (fast path, FIFO wake-ups with barging, timeouts, panics) is as for
/// [`Semaphore`](super::Semaphore): both share one core.
///
/// ```
/// use heddle::sync::BoundedSemaphore;
///
/// let connections = BoundedSemaphore::new(2);
/// let c = connections.acquire();
/// drop(c); // released back to 2
/// assert!(connections.release().is_err()); // a third permit would be a bug
/// ```
pub struct BoundedSemaphore {
    raw: RawSemaphore,
    site: &'static Location<'static>,
    /// Created with one permit: in lock-order mode its holder's permit is a gate (see
    /// `deadlock::enable_lock_order`).
    binary: bool,
    limit: usize,
}

/// A release that would raise a [`BoundedSemaphore`] above its initial count.
///
/// ```
/// let s = heddle::sync::BoundedSemaphore::new(1);
/// let err = s.release().unwrap_err();
/// assert_eq!(err.limit, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyReleases {
    /// The semaphore's initial (and maximum) count.
    pub limit: usize,
    /// How many permits the refused call tried to add.
    pub released: usize,
}

impl fmt::Display for TooManyReleases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BoundedSemaphore released too many times: releasing {} would exceed its \
             initial count of {} (release only permits you acquired)",
            self.released, self.limit
        )
    }
}

impl std::error::Error for TooManyReleases {}

impl BoundedSemaphore {
    /// A schedule point under the checker; returns the description of the wait.
    #[inline]
    fn op(&self, what: &'static str, at: &'static Location<'static>) -> WaitFor {
        let object = Object::new("BoundedSemaphore", self, Some(self.site));
        crate::check::op(what, object, at);
        WaitFor { what, object, at }
    }

    /// Lock-order mode: a binary semaphore's permit taken (`taken`) or `n` given back
    /// by this thread. One load of the observe byte when nothing watches.
    #[inline(always)]
    fn gate(&self, taken: bool, n: usize) {
        if self.binary && observe::instrumented() {
            crate::deadlock::binary_permit(self as *const Self as usize, taken, n);
        }
    }

    /// A bounded semaphore with `permits` permits, which is also its maximum.
    ///
    /// # Panics
    ///
    /// If `permits` exceeds `usize::MAX / 2`.
    ///
    /// ```
    /// let s = heddle::sync::BoundedSemaphore::new(3);
    /// assert_eq!(s.available_permits(), 3);
    /// ```
    #[track_caller]
    pub const fn new(permits: usize) -> Self {
        BoundedSemaphore {
            raw: RawSemaphore::new(permits),
            site: Location::caller(),
            binary: permits == 1,
            limit: permits,
        }
    }

    /// Take a permit, waiting while none is available.
    ///
    /// ```
    /// let s = heddle::sync::BoundedSemaphore::new(1);
    /// let p = s.acquire();
    /// assert_eq!(s.available_permits(), 0);
    /// drop(p);
    /// ```
    #[inline]
    #[track_caller]
    pub fn acquire(&self) -> BoundedPermit<'_> {
        let what = self.op("acquire", Location::caller());
        self.raw.acquire_for(None, Some(&what));
        self.gate(true, 1);
        BoundedPermit { sem: self }
    }

    /// Take a permit if one is available right now; never blocks.
    ///
    /// ```
    /// let s = heddle::sync::BoundedSemaphore::new(1);
    /// let _p = s.try_acquire().unwrap();
    /// assert!(s.try_acquire().is_none());
    /// ```
    #[track_caller]
    pub fn try_acquire(&self) -> Option<BoundedPermit<'_>> {
        self.op("try_acquire", Location::caller());
        self.raw.try_acquire().then(|| {
            self.gate(true, 1);
            BoundedPermit { sem: self }
        })
    }

    /// Like [`acquire`](Self::acquire), but give up after `timeout`. A zero timeout
    /// is a non-blocking try (Python's `acquire(timeout=0)`); a timeout that runs out
    /// while waiting does not spin or sleep any further.
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = heddle::sync::BoundedSemaphore::new(0);
    /// assert!(s.acquire_timeout(Duration::from_millis(1)).is_none());
    /// ```
    #[inline]
    #[track_caller]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<BoundedPermit<'_>> {
        let what = self.op("acquire_timeout", Location::caller());
        if self.raw.try_acquire() {
            self.gate(true, 1);
            return Some(BoundedPermit { sem: self });
        }
        if timeout.is_zero() {
            // A zero timeout is a try (Python's `acquire(timeout=0)`): never wait.
            return None;
        }
        self.acquire_timeout_slow(timeout, &what)
    }

    /// The waiting part of [`acquire_timeout`](Self::acquire_timeout), out of line so
    /// that a zero timeout costs what `try_acquire` costs.
    #[cold]
    #[inline(never)]
    fn acquire_timeout_slow(&self, timeout: Duration, what: &WaitFor) -> Option<BoundedPermit<'_>> {
        self.raw
            .acquire_for(deadline_after(timeout), Some(what))
            .then(|| {
                self.gate(true, 1);
                BoundedPermit { sem: self }
            })
    }

    /// Give back one permit (taken with [`BoundedPermit::forget`]).
    ///
    /// # Errors
    ///
    /// [`TooManyReleases`] if that would exceed the initial count; nothing changes.
    ///
    /// ```
    /// let s = heddle::sync::BoundedSemaphore::new(1);
    /// s.acquire().forget();
    /// assert!(s.release().is_ok());
    /// assert!(s.release().is_err());
    /// ```
    #[track_caller]
    pub fn release(&self) -> Result<(), TooManyReleases> {
        self.op("release", Location::caller());
        self.gate(false, 1);
        self.raw_release(1)
    }

    /// Give back `n` permits at once, all or none.
    ///
    /// # Errors
    ///
    /// [`TooManyReleases`] if that would exceed the initial count; nothing changes.
    ///
    /// # Panics
    ///
    /// If `n` is 0, as [`Semaphore::release_n`](super::Semaphore::release_n) (Python
    /// raises `ValueError`).
    ///
    /// ```
    /// let s = heddle::sync::BoundedSemaphore::new(2);
    /// s.acquire().forget();
    /// assert!(s.release_n(2).is_err());
    /// assert!(s.release_n(1).is_ok());
    /// ```
    #[track_caller]
    pub fn release_n(&self, n: usize) -> Result<(), TooManyReleases> {
        assert!(
            n > 0,
            "BoundedSemaphore::release_n(0): n must be one or more (as in Python's \
             Semaphore.release(n)); release at least one permit"
        );
        self.op("release_n", Location::caller());
        self.gate(false, n);
        self.raw_release(n)
    }

    fn raw_release(&self, n: usize) -> Result<(), TooManyReleases> {
        if self.raw.release_within(n, self.limit) {
            Ok(())
        } else {
            Err(TooManyReleases {
                limit: self.limit,
                released: n,
            })
        }
    }

    /// Permits available right now; a snapshot.
    ///
    /// ```
    /// assert_eq!(heddle::sync::BoundedSemaphore::new(2).available_permits(), 2);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.raw.available()
    }

    /// The initial (and maximum) count.
    ///
    /// ```
    /// assert_eq!(heddle::sync::BoundedSemaphore::new(2).limit(), 2);
    /// ```
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("available", &self.available_permits())
            .field("limit", &self.limit)
            .finish()
    }
}

/// A permit taken from a [`BoundedSemaphore`]; dropping it releases the permit.
///
/// ```
/// let s = heddle::sync::BoundedSemaphore::new(1);
/// drop(s.acquire());
/// assert_eq!(s.available_permits(), 1);
/// ```
#[must_use = "the permit is released as soon as it is dropped"]
pub struct BoundedPermit<'a> {
    sem: &'a BoundedSemaphore,
}

impl BoundedPermit<'_> {
    /// Keep the permit taken; give it back later with [`BoundedSemaphore::release`].
    ///
    /// ```
    /// let s = heddle::sync::BoundedSemaphore::new(1);
    /// s.acquire().forget();
    /// assert_eq!(s.available_permits(), 0);
    /// s.release().unwrap();
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for BoundedPermit<'_> {
    fn drop(&mut self) {
        // The permit was taken from this semaphore, so giving it back cannot exceed the
        // limit unless someone else over-released, which their own call reported.
        self.sem.op("release", Location::caller());
        self.sem.gate(false, 1);
        let _ = self.sem.raw.release_within(1, self.sem.limit);
    }
}

impl fmt::Debug for BoundedPermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedPermit").finish_non_exhaustive()
    }
}
