//! What the seam and the raw cores take from the platform, in one place, so the loom
//! model checker can stand in for it.
//!
//! A normal build re-exports std and parking_lot as they are: plain `use`s, so the fast
//! paths compile to exactly the same code as if they named std directly. Under
//! `--cfg loom` the same names come from [loom](https://docs.rs/loom), whose atomics,
//! mutex and park/unpark are schedule points it permutes exhaustively (within a
//! preemption bound) over every interleaving and every weak-memory outcome the C11 model
//! allows. Everything whose ordering the protocol relies on goes through here:
//!
//! * the atomics of the lock words, the parker state, the token slots;
//! * the waiter-list [`Mutex`] (parking_lot's normally; a `lock()`-compatible wrapper
//!   over loom's under loom, which does not poison, like parking_lot);
//! * thread park/unpark/current (under loom, a park token of its own over loom's mutex
//!   and condition variable: see `loom_thread` below);
//! * [`thread_local!`]: loom runs every model thread as a coroutine on one OS thread, so
//!   a std thread-local would be shared by all of them: the heddle thread id, the parker
//!   and the token slot must be loom thread-locals or every model thread would look like
//!   the same thread.
//!
//! Deliberately not here: `Arc` (reference counting is std's business and correct; loom's
//! `Arc` would only add schedule points that multiply interleavings without exercising
//! heddle's protocol) and the id counter in [`local`](super::local), which only has to
//! hand out distinct numbers.

#[cfg(not(loom))]
pub(crate) use parking_lot::Mutex;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize};
#[cfg(not(loom))]
pub(crate) use std::thread::{current, park, park_timeout, Thread};
#[cfg(not(loom))]
pub(crate) use std::thread_local;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize};
#[cfg(loom)]
pub(crate) use loom::thread_local;
#[cfg(loom)]
pub(crate) use loom_mutex::Mutex;
#[cfg(loom)]
pub(crate) use loom_thread::{current, park, Thread};

/// `Ordering` is std's under loom too; re-exported so users import atomics from one place.
pub(crate) use std::sync::atomic::Ordering;

#[cfg(loom)]
mod loom_mutex {
    use std::fmt;
    use std::sync::PoisonError;

    /// loom's mutex behind parking_lot's signature: `lock()` returns the guard directly.
    /// A model thread that panics fails the whole model anyway, so poisoning (which
    /// heddle never exposes) is simply looked through.
    #[derive(Default)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }

    impl<T> fmt::Debug for Mutex<T> {
        // Formatting must not lock: it would add a schedule point (or deadlock when the
        // caller already holds the lock).
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Mutex").finish_non_exhaustive()
        }
    }
}

/// std's park token, rebuilt for loom from loom's mutex and condition variable.
///
/// Why not `loom::thread::park`/`Thread::unpark`: loom 0.7's `unpark` wakes its target
/// whatever it is blocked on, and a thread woken that way out of a loom `Mutex::lock` or
/// `JoinHandle::join` aborts the model ("expected to be able to acquire lock",
/// "assertion failed: state.notified"; tokio-rs/loom#249). The seam does exactly that on
/// purpose: a notifier unparks after publishing `NOTIFIED`, so its unpark may reach a
/// waiter that already saw the notification and has moved on to lock a queue, and std
/// keeps such an unpark as a token that makes a later `park` return at once (which the
/// parker absorbs by re-checking its state). loom's unpark also synchronizes with its
/// target immediately, even if the target never parks, which would hide a missing
/// release/acquire on the parker state; this token only synchronizes when `park`
/// consumes it, as std documents.
#[cfg(loom)]
mod loom_thread {
    use std::sync::Arc;

    use loom::sync::{Condvar, Mutex};

    /// A model thread's handle, as far as the seam needs one: something to unpark.
    #[derive(Clone, Debug)]
    pub(crate) struct Thread(Arc<Token>);

    #[derive(Debug)]
    struct Token {
        available: Mutex<bool>,
        unparked: Condvar,
    }

    loom::thread_local! {
        static CURRENT: Thread = Thread(Arc::new(Token {
            available: Mutex::new(false),
            unparked: Condvar::new(),
        }));
    }

    /// The calling model thread's handle.
    pub(crate) fn current() -> Thread {
        CURRENT.with(Thread::clone)
    }

    /// Block until the calling thread's token is available, then consume it.
    pub(crate) fn park() {
        CURRENT.with(|me| {
            let mut available = me.0.available.lock().unwrap();
            while !*available {
                available = me.0.unparked.wait(available).unwrap();
            }
            *available = false;
        });
    }

    impl Thread {
        /// Make the token available, waking the thread if it is parked.
        pub(crate) fn unpark(&self) {
            *self.0.available.lock().unwrap() = true;
            self.0.unparked.notify_one();
        }
    }
}

// What the queue cores (`queue/array.rs`, `queue/list.rs`, `queue/zero.rs`,
// `queue/side.rs`) take besides the above, so that their loom models
// (`queue/loom_tests.rs`) check them too.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicPtr};
#[cfg(not(loom))]
pub(crate) use std::thread::yield_now;
#[cfg(not(loom))]
pub(crate) use std_cell::UnsafeCell;

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicPtr};
#[cfg(loom)]
pub(crate) use loom::thread::yield_now;

/// std's `UnsafeCell` behind loom's closure API (`with_mut`), which is how loom sees each
/// access to the data (and reports two that race). Normally the closure is inlined
/// away: the same code as `UnsafeCell::get`.
#[cfg(not(loom))]
mod std_cell {
    /// A `#[repr(transparent)]` `std::cell::UnsafeCell`, so all-zero bytes are a valid
    /// value exactly when they are for `T`.
    #[derive(Debug, Default)]
    #[repr(transparent)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        #[inline(always)]
        pub(crate) const fn new(value: T) -> Self {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        /// Access the data through a pointer (loom counts it as a write).
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}
