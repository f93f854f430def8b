//! Per-thread facts the fast paths need in about a nanosecond: the thread's heddle id
//! (recorded as the owner of every lock it takes) and whether it runs under the checker.
//!
//! Both live in one `const`-initialised thread-local without a destructor, so reading
//! them is a single `fs`-relative load on Linux: no lazy-registration branch.

use std::cell::Cell;
// The counter stays std's even under loom: it only has to hand out distinct ids, and
// loom has no `const` atomics for a `static`.
use std::sync::atomic::{AtomicU64, Ordering};

/// Ids start at 1; 0 means "nobody" in owner words.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

#[cfg(not(loom))]
thread_local! {
    static ID: Cell<u64> = const { Cell::new(0) };
}

// Under loom, a loom thread-local (see `sys`): loom's model threads share one OS thread
// and must still get distinct ids, which RawLock's owner word depends on. Spelled out
// rather than through `sys::thread_local!` because loom's macro takes no `const` block.
#[cfg(loom)]
loom::thread_local! {
    static ID: Cell<u64> = Cell::new(0);
}

/// The calling thread's heddle id: unique for the life of the process, never 0, small
/// enough to fit in the upper bits of a lock word (62 bits).
#[inline]
pub(crate) fn thread_id() -> u64 {
    let id = ID.with(Cell::get);
    if id != 0 {
        id
    } else {
        assign_id()
    }
}

#[cold]
fn assign_id() -> u64 {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    ID.with(|c| c.set(id));
    #[cfg(not(loom))]
    LIVE_GUARD.with(|_| {});
    id
}

/// Stand in for another thread: the checker runs every checked thread on one OS
/// thread and switches the id with the coroutine.
pub(crate) fn set_thread_id(id: u64) {
    ID.with(|c| c.set(id));
}

/// Threads alive that have a heddle id: a cheap lower bound of the process's thread
/// count, so the all-asleep detector reads `/proc` only when it could matter.
static LIVE: AtomicU64 = AtomicU64::new(0);

#[cfg(not(loom))]
struct LiveGuard;

#[cfg(not(loom))]
impl Drop for LiveGuard {
    fn drop(&mut self) {
        // SeqCst: see `Parker::set_watching` (store-buffering with a new watcher).
        LIVE.fetch_sub(1, Ordering::SeqCst);
        // The threads left may all be asleep now; a blocked one re-checks.
        if super::observe::blocked_count() > 0 {
            super::parker::Parker::poke_a_watcher();
        }
    }
}

#[cfg(not(loom))]
thread_local! {
    static LIVE_GUARD: LiveGuard = {
        LIVE.fetch_add(1, Ordering::SeqCst);
        LiveGuard
    };
}

/// The calling thread's heddle id if it has one yet (0 if not); never assigns one.
#[cfg(not(loom))]
pub(crate) fn thread_id_if_any() -> u64 {
    ID.with(Cell::get)
}

/// In a child made by `fork()`: the forking thread is the only one alive; it counts if
/// it has a heddle id (its live guard then decrements on exit). An atomic store only.
#[cfg(not(loom))]
pub(crate) fn reset_live_after_fork() {
    let me = u64::from(thread_id_if_any() != 0);
    LIVE.store(me, Ordering::SeqCst);
}

/// How many threads with a heddle id are alive.
#[allow(dead_code)]
pub(crate) fn live_threads() -> u64 {
    LIVE.load(Ordering::SeqCst)
}
