//! Asymmetric fences: a free one for fast paths, an expensive one for the threads that
//! are about to sleep.
//!
//! A lock release must not miss a waiter that is about to sleep. The classic way is a
//! read-modify-write on the release (the waiter sets a bit in the lock word, the release
//! swaps the word and sees it), which costs as much as the acquisition's
//! compare-and-swap. The pair of fences here lets the release be a plain store instead
//! (Dekker's pattern with the cost moved to one side, as in Linux userspace RCU, Folly's
//! `asymmetricHeavyBarrier` and .NET's `FlushProcessWriteBuffers`):
//!
//! ```text
//! release (fast, light):  store word = free;  light();  load waiters
//! waiter  (slow, heavy):  store waiters = 1;  heavy();  load word
//! ```
//!
//! At least one of the two loads sees the other side's store: either the release sees
//! the waiter (and wakes it) or the waiter sees the lock free (and does not sleep).
//!
//! On Linux, [`heavy`] is `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`: the kernel runs
//! a full memory barrier on every CPU that is running a thread of this process (a CPU
//! that is not has passed through a context switch, which is one), so [`light`] needs
//! only to stop the compiler from reordering. The process registers for it while it
//! loads (`register`, from the same `.init_array` hook that records the main thread),
//! before any thread can use a lock. Where that is unavailable (another OS, an old
//! kernel, a seccomp filter), both sides are a `SeqCst` fence: correct, and as costly as
//! the read-modify-write it replaces. Under Miri, which has no `membarrier`, that is the
//! mode too.
//!
//! # Refused after registration
//!
//! The kernel can still refuse the barrier later: a seccomp filter installed while the
//! program runs (`EPERM`), or no memory for the CPU mask (`ENOMEM`). Then the pair is
//! no longer sound for a release that chose the free side before it learnt of the
//! refusal, and nothing can make it so after the fact. So [`heavy`] reports it
//! ([`Paired::Unsure`]): from then on every release pays the real fence, and a waiter
//! must not sleep without a bound: it sleeps in slices and looks again (see
//! [`POLL_FIRST`]), so a wake-up missed around the switch costs at most a slice, and is
//! never lost. The process stays in that mode (a filter is not lifted).

use std::sync::atomic::{compiler_fence, fence, AtomicBool, Ordering};
use std::time::Duration;

/// Whether the light side must be a real fence (no process-wide barrier available).
/// True until registration succeeds, so a process where it never ran stays correct.
static SYMMETRIC: AtomicBool = AtomicBool::new(true);

/// Set when the kernel refused the barrier after registration: the light side has
/// become a real fence, but a release that read the old mode may still be in flight,
/// so waiters sleep in bounded slices from then on.
static REFUSED: AtomicBool = AtomicBool::new(false);

/// The first slice a waiter sleeps once the barrier was refused; each further slice of
/// the same wait doubles, up to [`POLL_LAST`].
pub(crate) const POLL_FIRST: Duration = Duration::from_millis(1);
/// The longest slice a waiter sleeps once the barrier was refused.
pub(crate) const POLL_LAST: Duration = Duration::from_millis(100);

/// What the heavy side guarantees to the waiter that ran it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub(crate) enum Paired {
    /// The pair holds: a release either saw the waiter's announcement or the waiter
    /// sees the release. The waiter may sleep until woken.
    Sound,
    /// The process-wide barrier was refused after some releases used the free side:
    /// the waiter may sleep only in bounded slices (see the module docs).
    Unsure,
}

/// The membarrier commands used here (`linux/membarrier.h`).
#[cfg(all(target_os = "linux", not(miri)))]
mod cmd {
    pub(super) const QUERY: libc::c_long = 0;
    pub(super) const PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    pub(super) const REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;
}

/// Register this process for expedited private membarriers. Called once while the
/// program loads, before `main` and before any other thread exists.
#[cfg(all(target_os = "linux", not(miri)))]
pub(crate) fn register() {
    // SAFETY: membarrier takes two integers and touches no memory of ours; a query
    // returns the supported commands as a bit mask (or -1).
    let supported = unsafe { libc::syscall(libc::SYS_membarrier, cmd::QUERY, 0) };
    let wanted = cmd::PRIVATE_EXPEDITED | cmd::REGISTER_PRIVATE_EXPEDITED;
    if supported < 0 || supported & wanted != wanted {
        return;
    }
    // SAFETY: as above.
    let registered =
        unsafe { libc::syscall(libc::SYS_membarrier, cmd::REGISTER_PRIVATE_EXPEDITED, 0) };
    if registered == 0 {
        SYMMETRIC.store(false, Ordering::Relaxed);
    }
}

/// No process-wide barrier here (another OS, or Miri): both sides stay `SeqCst` fences.
#[cfg(not(all(target_os = "linux", not(miri))))]
pub(crate) fn register() {}

/// The fast side: free when the heavy side is a process-wide barrier.
#[inline(always)]
pub(crate) fn light() {
    if SYMMETRIC.load(Ordering::Relaxed) {
        fence(Ordering::SeqCst);
    } else {
        compiler_fence(Ordering::SeqCst);
    }
}

/// The slow side: a full barrier on every CPU running a thread of this process. Says
/// whether the waiter may sleep without a bound.
#[cold]
pub(crate) fn heavy() -> Paired {
    #[cfg(all(target_os = "linux", not(miri)))]
    if !SYMMETRIC.load(Ordering::Relaxed) {
        // SAFETY: membarrier takes two integers and touches no memory of ours.
        let done = unsafe { libc::syscall(libc::SYS_membarrier, cmd::PRIVATE_EXPEDITED, 0) };
        #[cfg(all(test, not(loom)))]
        let done = if tests::REFUSE.load(Ordering::Relaxed) {
            -1
        } else {
            done
        };
        if done == 0 {
            return Paired::Sound;
        }
        refused();
    }
    fence(Ordering::SeqCst);
    if REFUSED.load(Ordering::Relaxed) {
        Paired::Unsure
    } else {
        Paired::Sound
    }
}

/// The barrier was refused (`EPERM` from a seccomp filter, `ENOMEM`): switch every
/// release to the real fence, and every waiter to bounded sleeps.
#[cold]
#[cfg(all(target_os = "linux", not(miri)))]
fn refused() {
    REFUSED.store(true, Ordering::SeqCst);
    SYMMETRIC.store(true, Ordering::SeqCst);
}

/// Whether the barrier was refused after registration (waiters sleep in slices).
#[allow(dead_code)]
pub(crate) fn was_refused() -> bool {
    REFUSED.load(Ordering::Relaxed)
}

#[cfg(all(test, not(loom)))]
pub(crate) mod tests {
    use super::*;

    /// Test-only switch: make the next barriers fail as a seccomp filter would. Once
    /// tripped, the process stays in the refused mode (as a real one does), so only the
    /// test below sets it; the other tests of this binary run correctly either way.
    pub(crate) static REFUSE: AtomicBool = AtomicBool::new(false);

    /// Both sides run in whichever mode this machine allows (the lock tests exercise
    /// the protocol itself).
    #[test]
    fn both_sides_run() {
        if SYMMETRIC.load(Ordering::Relaxed) {
            eprintln!("note: no process-wide barrier here; both sides are SeqCst fences");
        }
        light();
        let _ = heavy();
    }

    /// A barrier refused after registration degrades the pair instead of panicking:
    /// the releases switch to the real fence, waiters are told to sleep in slices, and
    /// contending threads (which park, so run the heavy side) all finish with an exact
    /// count. (The seccomp test in `tests/fence_refused.rs` does the same with a real
    /// filter, in a child process.)
    #[test]
    // Under Miri there is no membarrier to refuse: what is left is 16,000 contended
    // lock round trips, minutes of interpretation (tests/miri.rs covers the lock word).
    #[cfg_attr(miri, ignore = "no membarrier under Miri; nothing to refuse")]
    fn refusal_degrades_to_bounded_sleeps() {
        REFUSE.store(true, Ordering::Relaxed);
        let registered = !SYMMETRIC.load(Ordering::Relaxed) || was_refused();
        let lock = std::sync::Arc::new(crate::sync::Lock::new(0u64));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for _ in 0..2_000 {
                        let mut g = lock.lock();
                        *g += 1;
                        if *g % 64 == 0 {
                            // Hold it across a yield now and then, so others park.
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*lock.lock(), 16_000);
        if registered {
            assert_eq!(heavy(), Paired::Unsure);
            assert!(
                SYMMETRIC.load(Ordering::Relaxed),
                "releases still skip the fence"
            );
        } else {
            eprintln!("note: membarrier unavailable here; refusal cannot be simulated");
        }
    }
}
