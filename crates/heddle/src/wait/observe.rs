//! The one flag the fast paths read to know whether anything is watching.
//!
//! Lock-order checking and the checker both need every acquisition to take an
//! instrumented path; everything else must not pay for them. So the fast paths read one
//! global byte (a relaxed load, shared read-only in every core's cache) and branch.
//! `UNINIT` makes the very first acquisition of the process take the instrumented path
//! once, to read `HEDDLE_LOCK_ORDER` from the environment.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

const LOCK_ORDER: u8 = 1;
const CHECKING: u8 = 2;
const UNINIT: u8 = 4;
/// `debug::track_holds`: acquisitions record what each thread holds, for the dump.
const HOLDS: u8 = 8;

static FLAGS: AtomicU8 = AtomicU8::new(UNINIT);
static CHECKERS: AtomicUsize = AtomicUsize::new(0);
/// Set once lock-order mode has been on: from then on a dropped lock must leave the
/// lock-order graph (it may be named there by address).
static LOCK_ORDER_EVER: AtomicBool = AtomicBool::new(false);

/// Whether lock-order mode was ever on in this process.
#[inline]
pub(crate) fn lock_order_ever() -> bool {
    LOCK_ORDER_EVER.load(Ordering::Relaxed)
}

/// Whether any acquisition must take the instrumented path.
#[inline(always)]
pub(crate) fn instrumented() -> bool {
    FLAGS.load(Ordering::Relaxed) != 0
}

#[cold]
fn init() {
    if FLAGS.load(Ordering::Relaxed) & UNINIT != 0 {
        let from_env = std::env::var_os("HEDDLE_LOCK_ORDER").is_some_and(|v| v == "1");
        if from_env {
            LOCK_ORDER_EVER.store(true, Ordering::Relaxed);
            FLAGS.fetch_or(LOCK_ORDER, Ordering::Relaxed);
        }
        FLAGS.fetch_and(!UNINIT, Ordering::Relaxed);
    }
}

/// Whether lock-order checking is on (reads the environment the first time).
#[inline]
pub(crate) fn lock_order() -> bool {
    if FLAGS.load(Ordering::Relaxed) & UNINIT != 0 {
        init();
    }
    FLAGS.load(Ordering::Relaxed) & LOCK_ORDER != 0
}

pub(crate) fn set_lock_order(on: bool) {
    init();
    if on {
        LOCK_ORDER_EVER.store(true, Ordering::Relaxed);
        FLAGS.fetch_or(LOCK_ORDER, Ordering::Relaxed);
    } else {
        FLAGS.fetch_and(!LOCK_ORDER, Ordering::Relaxed);
    }
}

/// An exploration started: acquisitions everywhere take the instrumented path (where
/// threads that are not checked find nothing to do and carry on).
pub(crate) fn checker_started() {
    init();
    if CHECKERS.fetch_add(1, Ordering::Relaxed) == 0 {
        FLAGS.fetch_or(CHECKING, Ordering::Relaxed);
    }
}

pub(crate) fn checker_finished() {
    if CHECKERS.fetch_sub(1, Ordering::Relaxed) == 1 {
        FLAGS.fetch_and(!CHECKING, Ordering::Relaxed);
    }
}

/// Whether the thread dump records every thread's held locks (`debug::track_holds`).
#[inline]
pub(crate) fn tracking_holds() -> bool {
    FLAGS.load(Ordering::Relaxed) & HOLDS != 0
}

/// Turn hold tracking for the thread dump on or off (debug hook).
pub(crate) fn set_tracking_holds(on: bool) {
    init();
    if on {
        FLAGS.fetch_or(HOLDS, Ordering::Relaxed);
    } else {
        FLAGS.fetch_and(!HOLDS, Ordering::Relaxed);
    }
}

/// Threads in an untimed seam wait that no notifier has taken off their queue yet.
static BLOCKED: AtomicUsize = AtomicUsize::new(0);

/// Adjust the count of blocked threads (+1 on enqueue, -1 when notified or withdrawn).
#[inline]
pub(crate) fn blocked(delta: isize) {
    if delta > 0 {
        BLOCKED.fetch_add(delta.unsigned_abs(), Ordering::SeqCst);
    } else {
        BLOCKED.fetch_sub(delta.unsigned_abs(), Ordering::SeqCst);
    }
}

/// How many threads are blocked with no timeout and no wake-up coming.
pub(crate) fn blocked_count() -> usize {
    BLOCKED.load(Ordering::SeqCst)
}

/// Threads between enqueueing an untimed wait and finishing `before_sleep` (a condition
/// releasing its lock): one of them may be about to free a thread counted as blocked,
/// so nobody may conclude that all are asleep meanwhile.
static RELEASING: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn releasing(start: bool) {
    if start {
        RELEASING.fetch_add(1, Ordering::SeqCst);
    } else {
        RELEASING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether some thread is inside that window.
pub(crate) fn someone_releasing() -> bool {
    RELEASING.load(Ordering::SeqCst) != 0
}

/// In a child made by `fork()`: only the forking thread exists, and it is running, so
/// nobody is blocked or releasing (the parent's counts named threads the child lacks).
/// Atomic stores only: safe in an atfork child handler.
#[cfg(not(loom))]
pub(crate) fn reset_after_fork() {
    BLOCKED.store(0, Ordering::SeqCst);
    RELEASING.store(0, Ordering::SeqCst);
}
