//! [`ProcessLock`]: a lock shared by processes that a dead holder never wedges, and the
//! robust lock word under it, [`Shared`](super::Shared) and
//! [`ProcessSemaphore`](super::ProcessSemaphore).
//!
//! The word holds the owner's pid (and a "waiters" bit); waiters sleep on it with a
//! futex (shared between processes: no private flag). A waiter that finds the owner's
//! process dead (gone, or a zombie) takes the lock over and is told so: the next
//! acquirer gets [`OwnerDied`] and the data is flagged for checking until a guard calls
//! `mark_consistent`. A sleeping waiter looks at the owner again every
//! [`LIVENESS_EVERY`], so a holder killed while others wait costs them at most that.
//! Ownership is per process: the death of one thread of a live process is not seen.

use std::error::Error;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::region::{Region, Zeroable};
use super::sys;
use crate::wait::SpinWait;

/// How often a waiter checks whether the lock's owner died.
pub(crate) const LIVENESS_EVERY: Duration = Duration::from_millis(20);
const WAITERS: u32 = 1 << 31;

/// A robust lock word: 0, or the owner's pid with maybe [`WAITERS`].
#[repr(C)]
#[derive(Default)]
pub(crate) struct RawProcessLock {
    word: AtomicU32,
}

/// How an acquisition went.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Acquired {
    /// Taken from a clean release.
    Clean,
    /// Taken over from an owner whose process had died holding it.
    OwnerDied,
}

impl RawProcessLock {
    /// Take the lock, waiting until `deadline` (`None`: forever); `None` on timeout.
    pub(crate) fn lock_until(&self, deadline: Option<Instant>) -> Option<Acquired> {
        let me = sys::getpid();
        if self
            .word
            .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return Some(Acquired::Clean);
        }
        let mut spin = SpinWait::new();
        let mut checked_owner = false;
        loop {
            let w = self.word.load(Ordering::Relaxed);
            if w & !WAITERS == 0 {
                // Free: take it, keeping the waiters bit for whoever else sleeps.
                if self
                    .word
                    .compare_exchange(w, me | WAITERS, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return Some(Acquired::Clean);
                }
                continue;
            }
            if spin.spin() {
                continue;
            }
            let owner = w & !WAITERS;
            if !checked_owner || owner == me {
                checked_owner = true;
                if owner != me && sys::process_dead(owner) {
                    if self
                        .word
                        .compare_exchange(w, me | WAITERS, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        return Some(Acquired::OwnerDied);
                    }
                    continue;
                }
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return None;
            }
            if w & WAITERS == 0
                && self
                    .word
                    .compare_exchange(w, w | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            let slice = now + LIVENESS_EVERY;
            sys::futex_wait(
                &self.word,
                w | WAITERS,
                Some(deadline.map_or(slice, |d| d.min(slice))),
            );
            if Instant::now() >= slice {
                // Slept a whole slice: look at the owner again.
                checked_owner = false;
            }
        }
    }

    /// Release the lock (held by this process).
    pub(crate) fn unlock(&self) {
        if self.word.swap(0, Ordering::Release) & WAITERS != 0 {
            sys::futex_wake(&self.word, 1);
        }
    }

    /// The owner's pid, if held.
    pub(crate) fn owner(&self) -> Option<u32> {
        let w = self.word.load(Ordering::Relaxed) & !WAITERS;
        (w != 0).then_some(w)
    }
}

/// The shared part of a lock: the word and the "check the data" flag.
#[repr(C)]
pub(crate) struct LockHeader {
    pub(crate) raw: RawProcessLock,
    /// Set when a holder died; cleared by `mark_consistent`.
    pub(crate) inconsistent: AtomicU32,
}

// SAFETY: atomics only; zero is an unlocked, consistent lock.
unsafe impl Zeroable for LockHeader {}

impl LockHeader {
    /// Take the lock; whether the data must be checked (a holder died, now or before
    /// without anyone marking it consistent).
    pub(crate) fn acquire(&self, deadline: Option<Instant>) -> Option<bool> {
        let how = self.raw.lock_until(deadline)?;
        if how == Acquired::OwnerDied {
            self.inconsistent.store(1, Ordering::Relaxed);
        }
        Some(self.inconsistent.load(Ordering::Relaxed) != 0)
    }
}

/// The lock was taken over from a process that died holding it (or from one that
/// took it over and did not [`mark_consistent`](super::SharedGuard::mark_consistent)):
/// the data it protects may be half-updated. The guard is inside; the lock is held.
/// The POSIX robust mutex's `EOWNERDEAD`.
///
/// ```
/// use heddle::process::ProcessLock;
/// let lock = ProcessLock::new().unwrap();
/// let guard = match lock.lock() {
///     Ok(g) => g,
///     Err(died) => died.into_inner(), // check the data, then mark it consistent
/// };
/// drop(guard);
/// ```
pub struct OwnerDied<G> {
    guard: G,
}

impl<G> OwnerDied<G> {
    pub(crate) fn new(guard: G) -> Self {
        OwnerDied { guard }
    }

    /// The guard (the lock is held).
    ///
    /// ```
    /// let lock = heddle::process::ProcessLock::new().unwrap();
    /// let g = lock.lock().unwrap_or_else(|died| died.into_inner());
    /// drop(g);
    /// ```
    pub fn into_inner(self) -> G {
        self.guard
    }

    /// The guard, by reference.
    ///
    /// ```
    /// let lock = heddle::process::ProcessLock::new().unwrap();
    /// let result = lock.lock();
    /// if let Err(died) = &result {
    ///     let _guard = died.get_ref();
    /// }
    /// drop(result);
    /// ```
    pub fn get_ref(&self) -> &G {
        &self.guard
    }
}

impl<G> fmt::Debug for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OwnerDied { .. }")
    }
}

impl<G> fmt::Display for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a process died holding this lock: the lock is yours, but check the data it \
             protects, then call mark_consistent()",
        )
    }
}

impl<G> Error for OwnerDied<G> {}

/// Why a `lock` with a timeout failed (or succeeded with a warning).
///
/// ```
/// use heddle::process::{LockTimeoutError, Shared};
/// use std::time::Duration;
/// let v = Shared::new(0u8).unwrap();
/// let _g = v.lock().unwrap();
/// assert!(matches!(v.lock_timeout(Duration::ZERO), Err(LockTimeoutError::TimedOut)));
/// ```
pub enum LockTimeoutError<G> {
    /// The lock was not free before the timeout.
    TimedOut,
    /// Taken, but a holder had died: see [`OwnerDied`].
    OwnerDied(OwnerDied<G>),
}

impl<G> fmt::Debug for LockTimeoutError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockTimeoutError::TimedOut => f.write_str("TimedOut"),
            LockTimeoutError::OwnerDied(_) => f.write_str("OwnerDied(..)"),
        }
    }
}

impl<G> fmt::Display for LockTimeoutError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockTimeoutError::TimedOut => f.write_str("timed out waiting for the lock"),
            LockTimeoutError::OwnerDied(d) => d.fmt(f),
        }
    }
}

impl<G> Error for LockTimeoutError<G> {}

/// A lock shared between processes that a dead holder never wedges: Python's
/// `multiprocessing.Lock`, robust.
///
/// If a process dies holding it (killed, crashed), the next acquirer takes it over and
/// gets [`OwnerDied`] instead of waiting forever; later acquirers get it too until a
/// guard calls [`mark_consistent`](super::SharedGuard::mark_consistent). To protect
/// data in shared memory, [`Shared`](super::Shared) and
/// [`SharedArray`](super::SharedArray) carry their own lock.
///
/// * Not re-entrant (a process that takes it twice waits for itself, as Python's
///   `Lock`); no fairness between waiters; no poisoning on panic (the guard releases).
/// * Waits spin briefly, then sleep on a futex; `try_lock` never waits;
///   `lock_timeout` gives up at its deadline.
///
/// ```
/// use heddle::process::{Process, ProcessLock};
///
/// fn hold_and_die(lock: ProcessLock) {
///     let _guard = lock.lock().unwrap();
///     // SAFETY: killing this very process, mid-critical-section.
///     unsafe { libc::raise(libc::SIGKILL) };
/// }
/// heddle::process::register!(hold_and_die);
///
/// # fn main() {
/// let lock = ProcessLock::new().unwrap();
/// let mut child = Process::new(hold_and_die, lock.clone()).start().unwrap();
/// let _ = child.join();
/// let died = lock.lock().unwrap_err(); // not a hang: the holder is dead
/// let guard = died.into_inner();
/// guard.mark_consistent();
/// drop(guard);
/// assert!(lock.lock().is_ok());
/// # }
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct ProcessLock {
    inner: super::Shared<()>,
}

impl ProcessLock {
    /// A new, unlocked lock.
    ///
    /// # Errors
    ///
    /// The system's error if shared memory could not be made.
    ///
    /// ```
    /// let lock = heddle::process::ProcessLock::new().unwrap();
    /// assert!(!lock.locked());
    /// ```
    pub fn new() -> std::io::Result<ProcessLock> {
        Ok(ProcessLock {
            inner: super::Shared::new(())?,
        })
    }

    /// Take the lock, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`] (holding the guard) if a holder died; see the type's docs.
    ///
    /// ```
    /// let lock = heddle::process::ProcessLock::new().unwrap();
    /// let g = lock.lock().unwrap();
    /// assert!(lock.locked());
    /// drop(g);
    /// ```
    pub fn lock(
        &self,
    ) -> Result<super::SharedGuard<'_, ()>, OwnerDied<super::SharedGuard<'_, ()>>> {
        self.inner.lock()
    }

    /// Take the lock only if it is free now (`None` if not).
    ///
    /// ```
    /// let lock = heddle::process::ProcessLock::new().unwrap();
    /// let g = lock.try_lock().unwrap().unwrap();
    /// assert!(lock.try_lock().is_none());
    /// drop(g);
    /// ```
    #[allow(clippy::type_complexity)]
    pub fn try_lock(
        &self,
    ) -> Option<Result<super::SharedGuard<'_, ()>, OwnerDied<super::SharedGuard<'_, ()>>>> {
        self.inner.try_lock()
    }

    /// Take the lock, waiting at most `timeout`.
    ///
    /// ```
    /// use heddle::process::{LockTimeoutError, ProcessLock};
    /// use std::time::Duration;
    /// let lock = ProcessLock::new().unwrap();
    /// let g = lock.lock().unwrap();
    /// assert!(matches!(lock.lock_timeout(Duration::from_millis(1)), Err(LockTimeoutError::TimedOut)));
    /// drop(g);
    /// ```
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<super::SharedGuard<'_, ()>, LockTimeoutError<super::SharedGuard<'_, ()>>> {
        self.inner.lock_timeout(timeout)
    }

    /// Whether some process holds the lock right now.
    ///
    /// ```
    /// assert!(!heddle::process::ProcessLock::new().unwrap().locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.inner.header().raw.owner().is_some()
    }
}

impl fmt::Debug for ProcessLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessLock")
            .field("owner", &self.inner.header().raw.owner())
            .finish()
    }
}

/// The region type under `Shared`.
pub(crate) type LockRegion = Region<LockHeader>;
