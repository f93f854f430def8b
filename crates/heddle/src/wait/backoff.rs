//! Back-off for lock-free loops that wait on another thread's step already under way
//! (a lost compare-and-swap, a slot claimed but not yet written, a job being linked):
//! never a wait for an event, which is the seam's job (`queue.rs`).

use std::hint::spin_loop;

use super::sys::yield_now;

/// Exponential back-off for lock-free retry loops.
///
/// `spin` after a lost compare-and-swap (contention: busy-wait a little, never yield);
/// `snooze` while another thread completes an operation it has already claimed (a slot
/// reserved but not yet written): spin, then yield the CPU so a preempted writer can
/// run. Both are bounded per call; the loops that use them make progress as soon as the
/// other thread does. Under loom both yield to the model's scheduler: a loop that waits
/// for another thread must tell loom so, or loom would spin in it forever.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    step: u32,
}

const SPIN_LIMIT: u32 = 6;

impl Backoff {
    #[inline]
    pub(crate) fn new() -> Self {
        Backoff { step: 0 }
    }

    #[inline]
    pub(crate) fn spin(&mut self) {
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
    pub(crate) fn snooze(&mut self) {
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
