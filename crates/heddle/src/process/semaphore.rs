//! [`ProcessSemaphore`]: a counting semaphore shared by processes that reclaims the
//! permits of a holder that died.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::lock::{RawProcessLock, LIVENESS_EVERY};
use super::region::{Region, Zeroable};
use super::sys;

/// How many processes can hold permits at once (each may hold many).
const HOLDERS: usize = 64;

#[repr(C)]
struct Header {
    /// Guards `count` and `holders`.
    lock: RawProcessLock,
    /// Free permits.
    count: AtomicU32,
    /// Bumped by every release (futex word for waiters).
    seq: AtomicU32,
    /// Who holds how many permits: (pid, n).
    holders: [(AtomicU32, AtomicU32); HOLDERS],
}

// SAFETY: atomics only; zero is a semaphore with no permits and no holders.
unsafe impl Zeroable for Header {}

/// How an acquisition went.
///
/// ```
/// use heddle::process::{Acquisition, ProcessSemaphore};
/// let s = ProcessSemaphore::new(1).unwrap();
/// assert_eq!(s.acquire(), Ok(Acquisition::Clean));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Acquisition {
    /// A permit that was free.
    Clean,
    /// A permit reclaimed from a process that died holding it: whatever it was
    /// guarding may be half-done; check it.
    OwnerDied,
}

/// Why a timed or non-blocking acquire got no permit.
///
/// ```
/// use heddle::process::{NoPermit, ProcessSemaphore};
/// let s = ProcessSemaphore::new(0).unwrap();
/// assert_eq!(s.try_acquire(), Err(NoPermit));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoPermit;

impl fmt::Display for NoPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no permit was free (before the timeout)")
    }
}

impl std::error::Error for NoPermit {}

/// A counting semaphore shared by processes: Python's `multiprocessing.Semaphore`,
/// robust: it remembers which process holds how many permits, and when no permit is
/// free, a waiter reclaims those of processes that died holding them (and is told:
/// [`Acquisition::OwnerDied`]) instead of waiting forever.
///
/// `acquire` takes a permit (waiting as long as needed), `release` gives one back
/// (Python's semantics: any process may release, and releasing more than acquired
/// raises the count). Waiters are woken one per release, in no particular order; a
/// waiter also wakes every few milliseconds to look for dead holders.
///
/// ```
/// use heddle::process::{Acquisition, Process, ProcessSemaphore};
///
/// fn take_and_die(s: ProcessSemaphore) {
///     s.acquire().unwrap();
///     // SAFETY: killing this process while it holds the permit.
///     unsafe { libc::raise(libc::SIGKILL) };
/// }
/// heddle::process::register!(take_and_die);
///
/// # fn main() {
/// let s = ProcessSemaphore::new(1).unwrap();
/// let _ = Process::new(take_and_die, s.clone()).start().unwrap().join();
/// assert_eq!(s.acquire(), Ok(Acquisition::OwnerDied)); // reclaimed, not a hang
/// # }
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct ProcessSemaphore {
    region: Region<Header>,
}

impl ProcessSemaphore {
    /// A semaphore with `permits` free permits.
    ///
    /// # Errors
    ///
    /// The system's error if shared memory could not be made.
    ///
    /// ```
    /// let s = heddle::process::ProcessSemaphore::new(2).unwrap();
    /// assert_eq!(s.available(), 2);
    /// ```
    pub fn new(permits: u32) -> std::io::Result<Self> {
        let region = Region::<Header>::new("semaphore", 0)?;
        region.header().count.store(permits, Ordering::Relaxed);
        Ok(ProcessSemaphore { region })
    }

    fn h(&self) -> &Header {
        self.region.header()
    }

    /// Take a permit, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// None today: the `Result` leaves room for a closed semaphore. The `Ok` says
    /// whether the permit came from a dead holder.
    ///
    /// ```
    /// let s = heddle::process::ProcessSemaphore::new(1).unwrap();
    /// s.acquire().unwrap();
    /// s.release();
    /// ```
    pub fn acquire(&self) -> Result<Acquisition, NoPermit> {
        self.acquire_until(None)
    }

    /// Take a permit only if one is free now (or reclaimable from a dead holder).
    ///
    /// ```
    /// let s = heddle::process::ProcessSemaphore::new(1).unwrap();
    /// assert!(s.try_acquire().is_ok());
    /// assert!(s.try_acquire().is_err());
    /// ```
    pub fn try_acquire(&self) -> Result<Acquisition, NoPermit> {
        self.acquire_until(Some(Instant::now()))
    }

    /// Take a permit, waiting at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = heddle::process::ProcessSemaphore::new(0).unwrap();
    /// assert!(s.acquire_timeout(Duration::from_millis(1)).is_err());
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<Acquisition, NoPermit> {
        self.acquire_until(Instant::now().checked_add(timeout))
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> Result<Acquisition, NoPermit> {
        let h = self.h();
        let me = sys::getpid();
        loop {
            let seq = h.seq.load(Ordering::Acquire);
            h.lock.lock_until(None);
            let mut how = None;
            if h.count.load(Ordering::Relaxed) > 0 {
                how = Some(Acquisition::Clean);
            } else if self.reclaim_dead() > 0 {
                how = Some(Acquisition::OwnerDied);
            }
            if let Some(how) = how {
                h.count.fetch_sub(1, Ordering::Relaxed);
                self.add_holding(me, 1);
                h.lock.unlock();
                return Ok(how);
            }
            h.lock.unlock();
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(NoPermit);
            }
            let slice = now + LIVENESS_EVERY;
            sys::futex_wait(&h.seq, seq, Some(deadline.map_or(slice, |d| d.min(slice))));
        }
    }

    /// Give permits of dead holders back to the count (under the lock); how many.
    fn reclaim_dead(&self) -> u32 {
        let mut total = 0;
        for (pid, n) in &self.h().holders {
            let p = pid.load(Ordering::Relaxed);
            if p != 0 && sys::process_dead(p) {
                total += n.swap(0, Ordering::Relaxed);
                pid.store(0, Ordering::Relaxed);
            }
        }
        self.h().count.fetch_add(total, Ordering::Relaxed);
        total
    }

    /// Record that `me` holds `delta` more (or fewer) permits (under the lock).
    fn add_holding(&self, me: u32, delta: i32) {
        let holders = &self.h().holders;
        if let Some((_, n)) = holders
            .iter()
            .find(|(p, _)| p.load(Ordering::Relaxed) == me)
        {
            let v = n.load(Ordering::Relaxed) as i64 + i64::from(delta);
            n.store(v.max(0) as u32, Ordering::Relaxed);
            return;
        }
        if delta > 0 {
            if let Some((p, n)) = holders.iter().find(|(p, _)| p.load(Ordering::Relaxed) == 0) {
                p.store(me, Ordering::Relaxed);
                n.store(delta as u32, Ordering::Relaxed);
            }
            // Table full: this holding is not tracked (its permit is not reclaimable).
        }
    }

    /// Give a permit back and wake one waiter: Python's `release()`.
    ///
    /// ```
    /// let s = heddle::process::ProcessSemaphore::new(0).unwrap();
    /// s.release();
    /// assert_eq!(s.available(), 1);
    /// ```
    pub fn release(&self) {
        let h = self.h();
        h.lock.lock_until(None);
        h.count.fetch_add(1, Ordering::Relaxed);
        self.add_holding(sys::getpid(), -1);
        h.seq.fetch_add(1, Ordering::Release);
        h.lock.unlock();
        sys::futex_wake(&h.seq, 1);
    }

    /// Free permits right now (other processes may change it at once).
    ///
    /// ```
    /// assert_eq!(heddle::process::ProcessSemaphore::new(3).unwrap().available(), 3);
    /// ```
    pub fn available(&self) -> u32 {
        self.h().count.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for ProcessSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessSemaphore")
            .field("available", &self.available())
            .finish()
    }
}
