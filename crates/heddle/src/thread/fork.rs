//! What a child made by `fork()` (without `exec`) inherits from heddle, and what heddle
//! resets in it (see the "Forking" section of the [`thread`](super) module docs).
//!
//! A child of `fork()` has a copy of the parent's memory but only one thread, the one
//! that forked. heddle's process-wide books would otherwise still count the parent's
//! other threads: the threads blocked in untimed waits (so the child's first untimed
//! wait could be reported as "all asleep", naming parent threads it does not have),
//! the live threads, the waiters registered with the lock-cycle detector, and the
//! registry behind `enumerate`, `active_count` and `heddle::main`'s wait for non-daemon
//! threads. An atfork handler, registered while the program loads, resets them in the
//! child, keeping only the forking thread.
//!
//! The tables behind mutexes are held across the `fork()` (the prepare handler locks
//! them, both sides unlock), so the child never inherits one half-updated or locked by
//! a thread it does not have; the counters are atomics, reset by plain stores.

/// Register the handlers (once, while the program loads, from `info::RECORD_MAIN`).
#[cfg(target_os = "linux")]
pub(super) fn register() {
    // SAFETY: the three handlers are `extern "C"` functions that live as long as the
    // program; `pthread_atfork` only records them.
    let failed = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
    if failed != 0 {
        // Only ENOMEM is possible: the child of a fork would keep the parent's counts.
        eprintln!("heddle: could not register fork handlers (pthread_atfork: {failed})");
    }
}

#[cfg(not(target_os = "linux"))]
pub(super) fn register() {}

/// In the parent, just before `fork()`: hold the tables (in one order, which no other
/// code nests differently: each is taken alone elsewhere).
#[cfg(target_os = "linux")]
extern "C" fn prepare() {
    super::registry::fork_prepare();
    crate::deadlock::cycle_fork_prepare();
    crate::wait::parker::Parker::fork_prepare();
}

/// In the parent, after `fork()`: let go, in reverse order.
#[cfg(target_os = "linux")]
extern "C" fn parent() {
    crate::wait::parker::Parker::fork_parent();
    crate::deadlock::cycle_fork_parent();
    super::registry::fork_parent();
}

/// In the child, after `fork()`: only this thread exists. Reset the counts, forget the
/// other threads, let go of the tables.
#[cfg(target_os = "linux")]
extern "C" fn child() {
    let me = crate::wait::local::thread_id_if_any();
    crate::wait::observe::reset_after_fork();
    crate::wait::local::reset_live_after_fork();
    crate::wait::parker::Parker::fork_child(me);
    crate::deadlock::cycle_fork_child();
    super::registry::fork_child(me);
}
