//! The seam: the one place where heddle blocks.
//!
//! Every blocking operation in heddle (lock contention, condition wait, semaphore
//! acquire, event wait, barrier, join, queue get/put) ends up in a [`WaitQueue`]: fast
//! paths are plain atomics in each primitive and never come here; slow paths first
//! [spin](SpinWait) briefly and then wait here. Nothing else in heddle parks a thread or
//! loops on a condition variable.
//!
//! Waiters are threads (parked through a per-thread [`parker`]) or async tasks (woken
//! through their `Waker`): the same primitive serves both. A cancelled async waiter that
//! had already been notified hands its notification back to its primitive, which passes
//! it on: dropping a future never loses a wake-up.
//!
//! The seam is also where heddle observes itself: every lock word records its owner's
//! heddle id ([`local::thread_id`]), which is what the deadlock detector follows, and
//! every blocking call passes through here, which is where the checker's deterministic
//! scheduler takes over waiting.
//!
//! The seam takes its atomics, mutex, park/unpark and thread-locals from [`sys`]: plain
//! re-exports of std and parking_lot normally, loom's under `--cfg loom`, where
//! `loom_tests` (and the models beside `RawLock` and `RawSemaphore`) check the protocol.

mod backoff;
pub(crate) mod fence;
pub(crate) mod local;
pub(crate) mod object;
pub(crate) mod observe;
pub(crate) mod parker;
mod queue;
mod spin;
pub(crate) mod sys;

#[cfg(all(test, loom))]
pub(crate) mod loom_tests;

use std::time::{Duration, Instant};

pub(crate) use backoff::Backoff;
pub(crate) use object::{short, Object, WaitFor};
pub(crate) use queue::{AsyncWaiter, WaitQueue, WaitResult, TOKEN_HANDOFF, TOKEN_RETRY};
pub(crate) use spin::SpinWait;

/// The deadline of a `_timeout` call: `timeout` from now. Always `Some`: a timeout is
/// always a timed wait (see [`deadline_in`]); the `Option` is what the waits take.
#[inline]
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Some(deadline_in(timeout))
}

/// `timeout` from now, saturated at the furthest instant the clock can represent.
///
/// The one rule for every `_timeout` call in heddle: **a timeout always makes a timed
/// wait**. A huge finite timeout and `Duration::MAX` alike wait until that (far)
/// deadline, and being timed they are never reported by the deadlock detectors (a
/// timed wait ends on its own) and, under the checker, end by timing out when nothing
/// else can run. Only the calls without a timeout (`lock`, `wait`, `get`, ...) are
/// untimed. (Rust's std turns an unrepresentable deadline into "no timeout" instead;
/// heddle does not, so that `Duration::MAX` and `Duration::from_secs(u64::MAX / 4)`
/// behave alike.)
pub(crate) fn deadline_in(timeout: Duration) -> Instant {
    let now = now();
    if let Some(deadline) = now.checked_add(timeout) {
        return deadline;
    }
    // Find the largest representable step by halving (at most 64 tries), then take it.
    let mut step = timeout;
    loop {
        step /= 2;
        if let Some(deadline) = now.checked_add(step) {
            // Within a factor of two of the limit: centuries away on every platform.
            return deadline;
        }
    }
}

/// Now: the checker's virtual clock inside a checked run, else the real one.
#[inline]
pub(crate) fn now() -> Instant {
    #[cfg(not(loom))]
    if crate::check::active() {
        return crate::check::now();
    }
    Instant::now()
}
