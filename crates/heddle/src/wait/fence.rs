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
//! the read-modify-write it replaces.

use std::sync::atomic::{compiler_fence, fence, AtomicBool, Ordering};

/// Whether the light side must be a real fence (no process-wide barrier available).
/// True until registration succeeds, so a process where it never ran stays correct.
static SYMMETRIC: AtomicBool = AtomicBool::new(true);

/// Register this process for expedited private membarriers. Called once while the
/// program loads, before `main` and before any other thread exists.
#[cfg(target_os = "linux")]
pub(crate) fn register() {
    // Miri has no `membarrier`: stay symmetric (a `SeqCst` fence on both sides).
    if cfg!(miri) {
        return;
    }
    const MEMBARRIER_CMD_QUERY: libc::c_long = 0;
    const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;
    // SAFETY: membarrier takes two integers and touches no memory of ours; a query
    // returns the supported commands as a bit mask (or -1).
    let supported = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_QUERY, 0) };
    let wanted = MEMBARRIER_CMD_PRIVATE_EXPEDITED | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED;
    if supported < 0 || supported & wanted != wanted {
        return;
    }
    // SAFETY: as above.
    let registered = unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
            0,
        )
    };
    if registered == 0 {
        SYMMETRIC.store(false, Ordering::Relaxed);
    }
}

/// The fast side: free when the heavy side is a process-wide barrier.
#[inline(always)]
pub(crate) fn light() {
    if SYMMETRIC.load(Ordering::Relaxed) {
        fence(Ordering::SeqCst);
    } else {
        compiler_fence(Ordering::SeqCst);
    }
}

/// The slow side: a full barrier on every CPU running a thread of this process.
#[cold]
pub(crate) fn heavy() {
    #[cfg(target_os = "linux")]
    if !SYMMETRIC.load(Ordering::Relaxed) {
        const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
        // SAFETY: membarrier takes two integers and touches no memory of ours.
        let done =
            unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0) };
        // It cannot fail once registered; if it somehow did, the lock would lose a
        // wake-up, so stop rather than risk that.
        assert_eq!(done, 0, "membarrier failed after registration");
        return;
    }
    fence(Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both sides run in whichever mode this machine allows (the lock tests exercise
    /// the protocol itself).
    #[test]
    fn both_sides_run() {
        if SYMMETRIC.load(Ordering::Relaxed) {
            eprintln!("note: no process-wide barrier here; both sides are SeqCst fences");
        }
        light();
        heavy();
    }
}
