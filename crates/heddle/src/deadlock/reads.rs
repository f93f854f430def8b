//! The calling thread's `RwLock` read holds, for the cycle detector.
//!
//! A read hold has no owner word to record it in (any number of threads share it), so
//! each thread keeps its own read holds in a small thread-local table: two plain stores
//! when a read lock is taken, a short scan when it is released, no atomics and no
//! shared cache line. Nobody reads another thread's table. Only a thread that is about
//! to block can be part of a wait-for cycle, so a thread publishes its read holds when
//! it registers a lock wait ([`snapshot`], under the detector's mutex), and a writer
//! waiting for readers follows the blocked threads that published that lock.
//!
//! The table holds [`SLOTS`] holds; more at once (rare: nested read locks) are counted
//! but not recorded, so a cycle through one of those is left to the all-asleep detector.

use std::cell::UnsafeCell;
use std::panic::Location;

/// Read holds recorded per thread.
const SLOTS: usize = 8;

struct ReadHolds {
    len: usize,
    addr: [usize; SLOTS],
    at: [Option<&'static Location<'static>>; SLOTS],
    /// Holds taken while the table was full, not recorded.
    unrecorded: usize,
}

thread_local! {
    // `const` and without a destructor: each access is one `fs`-relative address.
    static READS: UnsafeCell<ReadHolds> = const {
        UnsafeCell::new(ReadHolds {
            len: 0,
            addr: [0; SLOTS],
            at: [None; SLOTS],
            unrecorded: 0,
        })
    };
}

/// Run `f` on this thread's table.
#[inline(always)]
fn with<R>(f: impl FnOnce(&mut ReadHolds) -> R) -> R {
    // SAFETY: the table is only reached through this function, and no caller re-enters
    // it from `f`, so the reference is exclusive while `f` runs.
    READS.with(|r| f(unsafe { &mut *r.get() }))
}

/// This thread took a read lock on the `RwLock` at `addr`, at `at`.
#[inline]
pub(crate) fn add(addr: usize, at: &'static Location<'static>) {
    with(|r| {
        if r.len < SLOTS {
            r.addr[r.len] = addr;
            r.at[r.len] = Some(at);
            r.len += 1;
        } else {
            r.unrecorded += 1;
        }
    });
}

/// This thread released a read lock on the `RwLock` at `addr`.
#[inline]
pub(crate) fn remove(addr: usize) {
    with(|r| {
        // Nearly always the last one taken (read locks nest).
        if r.len > 0 && r.addr[r.len - 1] == addr {
            r.len -= 1;
            return;
        }
        remove_slow(r, addr);
    });
}

#[cold]
fn remove_slow(r: &mut ReadHolds, addr: usize) {
    if let Some(i) = r.addr[..r.len].iter().rposition(|&a| a == addr) {
        r.addr.copy_within(i + 1..r.len, i);
        r.at.copy_within(i + 1..r.len, i);
        r.len -= 1;
    } else {
        // Taken while the table was full.
        r.unrecorded = r.unrecorded.saturating_sub(1);
    }
}

/// This thread's recorded read holds: `(lock address, where taken)`.
pub(crate) fn snapshot() -> Vec<(usize, &'static Location<'static>)> {
    with(|r| {
        (0..r.len)
            .map(|i| (r.addr[i], r.at[i].expect("a recorded hold has a location")))
            .collect()
    })
}
