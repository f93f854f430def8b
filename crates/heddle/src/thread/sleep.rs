//! `sleep`: Python's `time.sleep`, through the seam.

use std::panic::Location;
use std::time::Duration;

use crate::wait::{deadline_after, Object, WaitFor, WaitQueue, WaitResult};

/// Where sleepers wait: nobody ever notifies it, so a sleep ends at its deadline.
static NOBODY: WaitQueue = WaitQueue::new();

/// Sleep for `duration`, as Python's `time.sleep`.
///
/// Unlike `std::thread::sleep`, it sleeps in heddle's wait seam: under the checker it
/// advances virtual time instead of blocking (so a checked test that sleeps runs at
/// once and deterministically), and [`heddle::debug::dump`](crate::debug::dump) shows
/// the thread as `SLEEPING`, with the call site. A sleep too long to represent sleeps
/// for ever. Sleeps never end early.
///
/// ```
/// use std::time::{Duration, Instant};
/// let started = Instant::now();
/// heddle::thread::sleep(Duration::from_millis(5));
/// assert!(started.elapsed() >= Duration::from_millis(5));
/// ```
#[track_caller]
pub fn sleep(duration: Duration) {
    let at = Location::caller();
    let what = WaitFor {
        what: "sleep",
        object: Object::new("sleep", &NOBODY as *const WaitQueue, None),
        at,
    };
    let deadline = deadline_after(duration);
    loop {
        match NOBODY.wait_on(Some(&what), 0, || true, || {}, deadline, |_| {}) {
            WaitResult::TimedOut | WaitResult::Invalid => return,
            // Nobody notifies this queue; should a wake-up come anyway, sleep on.
            WaitResult::Notified(_) => {
                if deadline.is_some_and(|d| crate::wait::now() >= d) {
                    return;
                }
            }
        }
    }
}
