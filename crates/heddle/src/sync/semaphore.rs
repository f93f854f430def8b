//! [`Semaphore`]: Python's `threading.Semaphore`, a counter of permits.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::raw_semaphore::{RawSemaphore, MAX_PERMITS};
use crate::wait::{deadline_after, observe, AsyncWaiter, Object, WaitFor};

/// A counting semaphore.
///
/// `acquire` takes a permit, waiting while there are none; dropping the returned
/// [`SemaphorePermit`] (or calling [`Semaphore::release`]) gives one back. The same core
/// (a raw semaphore word) also serves [`BoundedSemaphore`](super::BoundedSemaphore).
///
/// # Guarantees
///
/// * **Fast path**: acquire and release are one atomic operation each when nobody
///   waits.
/// * **Never more than the count**: at no moment do more callers hold permits than were
///   created plus released.
/// * **Fairness**: waiters are woken in FIFO order, one per released permit, but a
///   thread arriving at that moment may take the permit first (barging), as in Python.
/// * **Timeouts**: `acquire_timeout` gives up at the deadline; `try_acquire` never
///   blocks. A waiter that times out just as it was woken passes the wake-up on, so no
///   permit is ever stranded.
/// * **Spurious wake-ups**: none visible; `acquire` returns only with a permit.
/// * **Panics**: a permit dropped while unwinding is released.
/// * **Async**: [`Semaphore::acquire_async`] waits in the same FIFO as threads, on any
///   executor. Dropping the future before it completes is safe: if it had already been
///   woken for a permit, it passes the wake-up to the next waiter.
///
/// ```
/// use heddle::sync::Semaphore;
///
/// let slots = Semaphore::new(2);
/// let a = slots.acquire();
/// let b = slots.acquire();
/// assert!(slots.try_acquire().is_none()); // both permits are out
/// drop(a);
/// assert!(slots.try_acquire().is_some());
/// # drop(b);
/// ```
pub struct Semaphore {
    raw: RawSemaphore,
    site: &'static Location<'static>,
    /// Created with one permit: in lock-order mode its holder's permit is a gate (see
    /// `deadlock::enable_lock_order`).
    binary: bool,
}

impl Semaphore {
    /// A schedule point under the checker; returns the description of the wait.
    #[inline]
    fn op(&self, what: &'static str, at: &'static Location<'static>) -> WaitFor {
        let object = Object::new("Semaphore", self, Some(self.site));
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

    /// A semaphore with `permits` permits (Python's `Semaphore(value)`).
    ///
    /// # Panics
    ///
    /// If `permits` exceeds `usize::MAX / 2`.
    ///
    /// ```
    /// static POOL: heddle::sync::Semaphore = heddle::sync::Semaphore::new(4);
    /// assert_eq!(POOL.available_permits(), 4);
    /// ```
    #[track_caller]
    pub const fn new(permits: usize) -> Self {
        Semaphore {
            raw: RawSemaphore::new(permits),
            site: Location::caller(),
            binary: permits == 1,
        }
    }

    /// Take a permit, waiting while none is available.
    ///
    /// ```
    /// let s = heddle::sync::Semaphore::new(1);
    /// let permit = s.acquire();
    /// assert_eq!(s.available_permits(), 0);
    /// drop(permit);
    /// assert_eq!(s.available_permits(), 1);
    /// ```
    #[inline]
    #[track_caller]
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        let what = self.op("acquire", Location::caller());
        self.raw.acquire_for(None, Some(&what));
        self.gate(true, 1);
        SemaphorePermit { sem: self }
    }

    /// Take a permit if one is available right now; never blocks.
    ///
    /// ```
    /// let s = heddle::sync::Semaphore::new(0);
    /// assert!(s.try_acquire().is_none());
    /// ```
    #[inline]
    #[track_caller]
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.op("try_acquire", Location::caller());
        self.raw.try_acquire().then(|| {
            self.gate(true, 1);
            SemaphorePermit { sem: self }
        })
    }

    /// Like [`acquire`](Self::acquire), but give up after `timeout`. A zero timeout
    /// is a non-blocking try (Python's `acquire(timeout=0)`); a timeout that runs out
    /// while waiting does not spin or sleep any further.
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = heddle::sync::Semaphore::new(0);
    /// assert!(s.acquire_timeout(Duration::from_millis(1)).is_none());
    /// ```
    #[inline]
    #[track_caller]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        let what = self.op("acquire_timeout", Location::caller());
        if self.raw.try_acquire() {
            self.gate(true, 1);
            return Some(SemaphorePermit { sem: self });
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
    fn acquire_timeout_slow(
        &self,
        timeout: Duration,
        what: &WaitFor,
    ) -> Option<SemaphorePermit<'_>> {
        self.raw
            .acquire_for(deadline_after(timeout), Some(what))
            .then(|| {
                self.gate(true, 1);
                SemaphorePermit { sem: self }
            })
    }

    /// A future that resolves to a permit; waits beside threads in the same FIFO.
    ///
    /// Cancel-safe: dropping the future never loses a permit or a wake-up.
    ///
    /// ```
    /// use std::future::Future;
    /// let s = heddle::sync::Semaphore::new(1);
    /// let waker = std::task::Waker::noop();
    /// let mut cx = std::task::Context::from_waker(&waker);
    /// let mut fut = std::pin::pin!(s.acquire_async());
    /// match fut.as_mut().poll(&mut cx) {
    ///     std::task::Poll::Ready(permit) => drop(permit),
    ///     std::task::Poll::Pending => unreachable!("a permit was free"),
    /// }
    /// assert_eq!(s.available_permits(), 1);
    /// ```
    pub fn acquire_async(&self) -> Acquire<'_> {
        Acquire {
            sem: self,
            waiter: AsyncWaiter::default(),
        }
    }

    /// Add one permit, waking a waiter if any. Any thread may release, as in Python.
    ///
    /// # Panics
    ///
    /// If the count would exceed `usize::MAX / 2`.
    ///
    /// ```
    /// let s = heddle::sync::Semaphore::new(0);
    /// s.release();
    /// assert_eq!(s.available_permits(), 1);
    /// ```
    #[inline]
    #[track_caller]
    pub fn release(&self) {
        self.op("release", Location::caller());
        self.gate(false, 1);
        self.raw_release(1);
    }

    /// Add `n` permits, waking up to `n` waiters (Python's `release(n)`).
    ///
    /// # Panics
    ///
    /// If `n` is 0 (Python raises `ValueError: n must be one or more`: releasing
    /// nothing is a bug in the caller, not a no-op), or if the count would exceed
    /// `usize::MAX / 2`. Nothing changes in either case.
    ///
    /// ```
    /// let s = heddle::sync::Semaphore::new(0);
    /// s.release_n(3);
    /// assert_eq!(s.available_permits(), 3);
    /// ```
    ///
    /// ```should_panic
    /// heddle::sync::Semaphore::new(0).release_n(0); // panics: n must be one or more
    /// ```
    #[track_caller]
    pub fn release_n(&self, n: usize) {
        assert!(
            n > 0,
            "Semaphore::release_n(0): n must be one or more (as in Python's \
             Semaphore.release(n)); release at least one permit"
        );
        self.op("release_n", Location::caller());
        self.gate(false, n);
        self.raw_release(n);
    }

    fn raw_release(&self, n: usize) {
        assert!(
            self.raw.release_within(n, MAX_PERMITS),
            "Semaphore::release_n({n}) would overflow the permit count"
        );
    }

    /// Permits available right now; a snapshot.
    ///
    /// ```
    /// assert_eq!(heddle::sync::Semaphore::new(5).available_permits(), 5);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.raw.available()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.available_permits())
            .finish()
    }
}

/// Future returned by [`Semaphore::acquire_async`].
///
/// ```
/// let s = heddle::sync::Semaphore::new(0);
/// drop(s.acquire_async()); // cancelling is always safe
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Acquire<'a> {
    sem: &'a Semaphore,
    waiter: AsyncWaiter,
}

impl<'a> Future for Acquire<'a> {
    type Output = SemaphorePermit<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SemaphorePermit<'a>> {
        let this = self.get_mut();
        let sem = this.sem;
        sem.raw
            .poll_acquire(&mut this.waiter, cx)
            .map(|()| SemaphorePermit { sem })
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        self.sem.raw.cancel_async(&mut self.waiter);
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire").finish_non_exhaustive()
    }
}

/// A permit taken from a [`Semaphore`]; dropping it releases the permit.
///
/// ```
/// let s = heddle::sync::Semaphore::new(1);
/// {
///     let _permit = s.acquire();
///     assert_eq!(s.available_permits(), 0);
/// }
/// assert_eq!(s.available_permits(), 1);
/// ```
#[must_use = "the permit is released as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl SemaphorePermit<'_> {
    /// Keep the permit taken without releasing it (Python's `acquire()` with no matching
    /// `release()`); give it back later with [`Semaphore::release`].
    ///
    /// ```
    /// let s = heddle::sync::Semaphore::new(1);
    /// s.acquire().forget();
    /// assert_eq!(s.available_permits(), 0);
    /// s.release();
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.release();
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}
