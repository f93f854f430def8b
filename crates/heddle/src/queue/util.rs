//! Small helpers for the lock-free cores: cache-line padding and the back-off used
//! while retrying a compare-and-swap or waiting for another thread to finish a write it
//! has already reserved (never for waiting on an empty or full queue: that is the
//! seam's job).

use std::hint::spin_loop;
use std::ops::{Deref, DerefMut};

use crate::wait::sys::yield_now;

/// Keeps a value on its own cache line(s), so that the producers' index and the
/// consumers' index do not false-share. 128 bytes: x86-64 prefetches lines in pairs.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(super) struct CachePadded<T>(pub(super) T);

impl<T> Deref for CachePadded<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for CachePadded<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// Exponential back-off for lock-free retry loops.
///
/// `spin` after a lost compare-and-swap (contention: busy-wait a little, never yield);
/// `snooze` while another thread completes an operation it has already claimed (a slot
/// reserved but not yet written): spin, then yield the CPU so a preempted writer can
/// run. Both are bounded per call; the loops that use them make progress as soon as the
/// other thread does. Under loom both yield to the model's scheduler: a loop that waits
/// for another thread must tell loom so, or loom would spin in it forever.
#[derive(Debug, Default)]
pub(super) struct Backoff {
    step: u32,
}

const SPIN_LIMIT: u32 = 6;

impl Backoff {
    #[inline]
    pub(super) fn new() -> Self {
        Backoff { step: 0 }
    }

    #[inline]
    pub(super) fn spin(&mut self) {
        if cfg!(loom) {
            return yield_now();
        }
        for _ in 0..1u32 << self.step.min(SPIN_LIMIT) {
            spin_loop();
        }
        if self.step <= SPIN_LIMIT {
            self.step += 1;
        }
    }

    #[inline]
    pub(super) fn snooze(&mut self) {
        if cfg!(loom) {
            return yield_now();
        }
        if self.step <= SPIN_LIMIT {
            for _ in 0..1u32 << self.step {
                spin_loop();
            }
            self.step += 1;
        } else {
            yield_now();
        }
    }
}
