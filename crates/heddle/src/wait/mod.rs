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

/// The deadline `timeout` from now; `None` (wait forever) if it is too far to represent.
#[inline]
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    now().checked_add(timeout)
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
