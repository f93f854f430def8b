//! Bounded spinning before a thread parks.
//!
//! A lock held for a few dozen nanoseconds is cheaper to wait out than to park on: a
//! park/unpark pair costs a futex round trip (microseconds). So every contended slow
//! path spins a little first, with exponential back-off, then yields, then gives up and
//! parks through the seam. On a single-core machine spinning only delays the holder, so
//! the budget is small.

use std::hint::spin_loop;

/// Exponential back-off for the moments before parking.
#[derive(Debug, Default)]
pub(crate) struct SpinWait {
    counter: u32,
}

impl SpinWait {
    /// A fresh back-off.
    #[inline]
    pub(crate) const fn new() -> Self {
        SpinWait { counter: 0 }
    }

    /// Start over (after progress was made).
    #[inline]
    pub(crate) fn reset(&mut self) {
        self.counter = 0;
    }

    /// Spin (or yield) once more; `false` when the budget is spent and the caller should
    /// park instead.
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn spin(&mut self) -> bool {
        // Under the checker only one thread runs: spinning would wait for nobody.
        if self.counter >= 10 || crate::check::active() {
            return false;
        }
        self.counter += 1;
        if self.counter <= 3 {
            for _ in 0..(1u32 << self.counter) {
                spin_loop();
            }
        } else {
            std::thread::yield_now();
        }
        true
    }

    /// Under loom, never spin: spinning is a speed device, not part of the protocol, and
    /// each spin is a load loom would interleave with everything else. Parking at once
    /// also sends every contended model straight down the slow path it exists to check.
    #[cfg(loom)]
    pub(crate) fn spin(&mut self) -> bool {
        let _ = self.counter;
        false
    }
}
