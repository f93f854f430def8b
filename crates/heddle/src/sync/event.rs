//! [`Event`]: Python's `threading.Event`, a flag threads can wait for.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::wait::{deadline_after, AsyncWaiter, Object, WaitFor, WaitQueue, WaitResult};

const SET: u8 = 1;
const WAITERS: u8 = 2;

/// A settable flag with waiting.
///
/// `set` raises the flag and wakes every waiter; `clear` lowers it; `wait` returns at
/// once if it is raised, else sleeps until some thread sets it. `Event` is a cheap
/// `Clone` handle (an `Arc` inside), shared by reference as in Python.
///
/// # Guarantees
///
/// * **Fast path**: `is_set`, and `wait` on a set event, are one atomic load; `set` with
///   nobody waiting is one atomic operation.
/// * **Every waiter wakes**: a thread waiting when `set` is called returns `true`, even
///   if another thread clears the event before it runs again (Python's semantics: the
///   flag is raised and woken waiters are released atomically).
/// * **Timeouts**: `wait_timeout` returns `false` if the timeout elapsed first.
/// * **Spurious wake-ups**: none; `wait` returns only after a `set`.
/// * **Async**: [`Event::wait_async`] waits in the same queue as threads, on any
///   executor; dropping the future withdraws it and loses nothing (a `set` wakes every
///   waiter anyway).
/// * **Panics**: nothing to poison.
///
/// ```
/// use heddle::sync::Event;
/// use heddle::thread::Thread;
///
/// let ready = Event::new();
/// let r = ready.clone();
/// let t = Thread::new(move || r.wait()).start();
/// ready.set();
/// assert!(t.join().unwrap());
/// ```
#[derive(Clone)]
pub struct Event {
    inner: Arc<Inner>,
}

struct Inner {
    state: AtomicU8,
    queue: WaitQueue,
    site: &'static Location<'static>,
}

impl Default for Inner {
    #[track_caller]
    fn default() -> Self {
        Inner {
            state: AtomicU8::new(0),
            queue: WaitQueue::new(),
            site: Location::caller(),
        }
    }
}

impl Event {
    /// A new event, not set.
    ///
    /// ```
    /// assert!(!heddle::sync::Event::new().is_set());
    /// ```
    #[track_caller]
    pub fn new() -> Self {
        Event {
            inner: Arc::new(Inner::default()),
        }
    }

    /// A schedule point under the checker; returns the description of the wait.
    #[inline]
    fn op(&self, what: &'static str, at: &'static Location<'static>) -> WaitFor {
        let object = Object::new("Event", Arc::as_ptr(&self.inner), Some(self.inner.site));
        crate::check::op(what, object, at);
        WaitFor { what, object, at }
    }

    /// Whether the flag is raised.
    ///
    /// ```
    /// let e = heddle::sync::Event::new();
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    #[inline]
    pub fn is_set(&self) -> bool {
        self.inner.state.load(Ordering::Acquire) & SET != 0
    }

    /// Raise the flag and wake every waiter.
    ///
    /// ```
    /// let e = heddle::sync::Event::new();
    /// e.set();
    /// e.set(); // idempotent
    /// assert!(e.wait_timeout(std::time::Duration::ZERO));
    /// ```
    #[track_caller]
    pub fn set(&self) {
        self.op("set", Location::caller());
        let state = &self.inner.state;
        let mut s = state.load(Ordering::Relaxed);
        loop {
            if s & SET != 0 {
                return;
            }
            if s & WAITERS == 0 {
                match state.compare_exchange_weak(s, SET, Ordering::Release, Ordering::Relaxed) {
                    Ok(_) => return,
                    Err(actual) => s = actual,
                }
                continue;
            }
            // Raise the flag under the queue lock, together with taking every waiter
            // off: a waiter that validates after us sees SET and does not enqueue.
            self.inner
                .queue
                .notify_all(|_, _| state.store(SET, Ordering::Release));
            return;
        }
    }

    /// Lower the flag; later `wait`s block until the next `set`.
    ///
    /// ```
    /// let e = heddle::sync::Event::new();
    /// e.set();
    /// e.clear();
    /// assert!(!e.is_set());
    /// ```
    #[track_caller]
    pub fn clear(&self) {
        self.op("clear", Location::caller());
        self.inner.state.fetch_and(!SET, Ordering::Relaxed);
    }

    /// Block until the flag is raised; returns `true` (as Python's `wait()` does).
    ///
    /// ```
    /// let e = heddle::sync::Event::new();
    /// e.set();
    /// assert!(e.wait());
    /// ```
    #[track_caller]
    pub fn wait(&self) -> bool {
        let what = self.op("wait", Location::caller());
        self.is_set() || self.wait_until(None, &what)
    }

    /// Block until the flag is raised or `timeout` elapses; returns whether it was
    /// raised.
    ///
    /// ```
    /// use std::time::Duration;
    /// let e = heddle::sync::Event::new();
    /// assert!(!e.wait_timeout(Duration::from_millis(1)));
    /// ```
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let what = self.op("wait_timeout", Location::caller());
        // A zero timeout only looks (Python's `wait(0)`).
        self.is_set() || (!timeout.is_zero() && self.wait_until(deadline_after(timeout), &what))
    }

    /// A future that completes when the flag is raised; usable on any executor, beside
    /// threads waiting on the same event.
    ///
    /// ```
    /// let e = heddle::sync::Event::new();
    /// e.set();
    /// // Any executor: here a minimal one, polling once.
    /// let waker = std::task::Waker::noop();
    /// let mut fut = std::pin::pin!(e.wait_async());
    /// let ready = fut.as_mut().poll(&mut std::task::Context::from_waker(&waker));
    /// assert!(ready.is_ready());
    /// # use std::future::Future;
    /// ```
    pub fn wait_async(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            waiter: AsyncWaiter::default(),
        }
    }

    #[cold]
    fn wait_until(&self, deadline: Option<Instant>, what: &WaitFor) -> bool {
        let state = &self.inner.state;
        loop {
            let s = state.load(Ordering::Acquire);
            if s & SET != 0 {
                return true;
            }
            if s & WAITERS == 0
                && state
                    .compare_exchange_weak(s, s | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            match self.inner.queue.wait_on(
                Some(what),
                0,
                || state.load(Ordering::Relaxed) == WAITERS,
                || {},
                deadline,
                |is_empty| {
                    if is_empty {
                        state.fetch_and(!WAITERS, Ordering::Relaxed);
                    }
                },
            ) {
                WaitResult::Notified(_) => return true,
                WaitResult::TimedOut => return false,
                WaitResult::Invalid => continue,
            }
        }
    }
}

/// Future returned by [`Event::wait_async`].
///
/// ```
/// # let e = heddle::sync::Event::new();
/// let wait: heddle::sync::EventWait<'_> = e.wait_async();
/// drop(wait); // cancelling is always safe
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct EventWait<'a> {
    event: &'a Event,
    waiter: AsyncWaiter,
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let inner = &this.event.inner;
        loop {
            let s = inner.state.load(Ordering::Acquire);
            if s & SET != 0 {
                inner.queue.cancel(&mut this.waiter);
                return Poll::Ready(());
            }
            if s & WAITERS == 0
                && inner
                    .state
                    .compare_exchange_weak(s, s | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            match inner.queue.poll_wait(&mut this.waiter, cx, 0, || {
                inner.state.load(Ordering::Relaxed) == WAITERS
            }) {
                Poll::Ready(WaitResult::Notified(_)) => return Poll::Ready(()),
                Poll::Ready(_) => continue,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        // A pending notification needs no forwarding: `set` wakes every waiter.
        self.event.inner.queue.cancel(&mut self.waiter);
    }
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait").finish_non_exhaustive()
    }
}

impl Default for Event {
    #[track_caller]
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}
