//! [`Future<T>`]: the result of a task submitted to a [`ThreadPool`](super::ThreadPool),
//! Python's `concurrent.futures.Future`; and [`AsFuture`], what `as_completed` and
//! `wait` accept.

use std::fmt;
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};
use std::time::Duration;

use super::core::{Callback, Core, Hook, CANCELLED, FINISHED, PENDING, RUNNING};
use super::error::FutureError;
use super::task::Header;
use crate::wait::{deadline_after, AsyncWaiter};

/// The eventual result of a task run by a [`ThreadPool`](super::ThreadPool):
/// Python's `concurrent.futures.Future`.
///
/// A future has one owner, who takes the value once: [`result`](Self::result) (blocks,
/// consumes the future), [`result_timeout`](Self::result_timeout) (keeps it on a
/// timeout) or `.await` (`Future` implements [`std::future::Future`], on any executor).
/// Shared references can watch it ([`done`](Self::done), [`running`](Self::running),
/// [`cancelled`](Self::cancelled), [`wait`](Self::wait)), [`cancel`](Self::cancel) it
/// and [`add_done_callback`](Self::add_done_callback)s. Dropping a future does not
/// cancel its task: the task still runs and its value is dropped.
///
/// ```
/// use heddle::pool::ThreadPool;
///
/// let pool = ThreadPool::new();
/// let f = pool.submit(|| 6 * 7).unwrap();
/// assert_eq!(f.result(), Ok(42));
/// ```
///
/// The name is Python's; where `std::future::Future` is also in scope, refer to this one
/// as `pool::Future`.
pub struct Future<T> {
    /// One reference to the cell holding the task (see `task.rs`).
    owner: NonNull<Header>,
    /// The task's state, inside that cell.
    core: NonNull<Core<T>>,
    waiter: AsyncWaiter,
    /// Owns a `T` (once the task is done).
    _value: PhantomData<T>,
}

// SAFETY: a future hands its `T` over to whichever thread owns it (`T: Send`); through
// `&Future` nothing reads the value except done-callbacks, which require `T: Sync`
// where they are added. The cell is shared through atomics (see `core.rs`).
unsafe impl<T: Send> Send for Future<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Future<T> {}

// Nothing in a future is pinned: polling moves nothing out of place.
impl<T> Unpin for Future<T> {}

impl<T> Future<T> {
    /// A future owning one reference to the cell `owner`, for the task state `core`
    /// inside it.
    ///
    /// # Safety
    ///
    /// The caller gives up one reference to the live cell `owner`, and `core` points
    /// into it.
    #[inline]
    pub(crate) unsafe fn from_raw(owner: NonNull<Header>, core: NonNull<Core<T>>) -> Self {
        Future {
            owner,
            core,
            waiter: AsyncWaiter::default(),
            _value: PhantomData,
        }
    }

    #[inline]
    pub(crate) fn core(&self) -> &Core<T> {
        // SAFETY: our reference keeps the cell, and so the core, alive.
        unsafe { self.core.as_ref() }
    }

    /// Wait for the task and return its value, or why there is none: Python's
    /// `result()`. Consumes the future.
    ///
    /// # Errors
    ///
    /// [`FutureError::Panicked`] if the task panicked (with its message),
    /// [`FutureError::Cancelled`] if it was cancelled, [`FutureError::Broken`] if the
    /// pool broke before running it, [`FutureError::Taken`] if an earlier
    /// [`result_timeout`](Self::result_timeout) already returned the value.
    ///
    /// ```
    /// use heddle::pool::{FutureError, ThreadPool};
    ///
    /// let pool = ThreadPool::new();
    /// assert_eq!(pool.submit(|| "ok").unwrap().result(), Ok("ok"));
    /// let bad = pool.submit(|| -> i32 { panic!("no") }).unwrap();
    /// assert_eq!(bad.result(), Err(FutureError::Panicked { message: "no".into() }));
    /// ```
    #[track_caller]
    pub fn result(self) -> Result<T, FutureError> {
        let core = self.core();
        // The fast path (a finished task, no checker): one load, no seam.
        if crate::check::active() || !core.is_ready() {
            let what = core.op("result", Location::caller());
            core.wait_until(None, &what);
        }
        // SAFETY: ready (seen so, or the untimed wait returned), and we own the future.
        unsafe { core.take() }
    }

    /// Like [`result`](Self::result), but wait at most `timeout`: Python's
    /// `result(timeout)`. On [`FutureError::TimedOut`] the future is unchanged: wait
    /// again later. Once it has returned the value, the value is gone from the future:
    /// a later call returns [`FutureError::Taken`] (an error is returned again each
    /// time). A zero timeout never blocks.
    ///
    /// ```
    /// use heddle::pool::{FutureError, ThreadPool};
    /// use heddle::sync::Event;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let gate = Event::new();
    /// let g = gate.clone();
    /// let mut f = pool.submit(move || { g.wait(); 1 }).unwrap();
    /// assert_eq!(f.result_timeout(Duration::from_millis(1)), Err(FutureError::TimedOut));
    /// gate.set();
    /// assert_eq!(f.result_timeout(Duration::from_secs(60)), Ok(1));
    /// assert_eq!(f.result_timeout(Duration::ZERO), Err(FutureError::Taken));
    /// ```
    #[track_caller]
    pub fn result_timeout(&mut self, timeout: Duration) -> Result<T, FutureError> {
        let core = self.core();
        let what = core.op("result_timeout", Location::caller());
        let ready = core.is_ready() || core.wait_until(deadline_after(timeout), &what);
        if !ready {
            return Err(FutureError::TimedOut);
        }
        // SAFETY: ready, and `&mut self` is exclusive access to the only future.
        unsafe { self.core().take() }
    }

    /// Block until the task is done (finished, panicked or cancelled) and its
    /// done-callbacks have run, without taking the value: what `wait([f])` does in
    /// Python. [`result`](Self::result) afterwards does not block.
    ///
    /// ```
    /// use heddle::pool::ThreadPool;
    /// let pool = ThreadPool::new();
    /// let f = pool.submit(|| 3).unwrap();
    /// f.wait();
    /// assert!(f.done());
    /// assert_eq!(f.result(), Ok(3));
    /// ```
    #[track_caller]
    pub fn wait(&self) {
        let core = self.core();
        let what = core.op("wait", Location::caller());
        core.wait_until(None, &what);
    }

    /// [`wait`](Self::wait), for at most `timeout`; whether the task is done.
    ///
    /// ```
    /// use heddle::pool::ThreadPool;
    /// use heddle::sync::Event;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let gate = Event::new();
    /// let g = gate.clone();
    /// let f = pool.submit(move || g.wait()).unwrap();
    /// assert!(!f.wait_timeout(Duration::from_millis(1)));
    /// gate.set();
    /// assert!(f.wait_timeout(Duration::from_secs(60)));
    /// ```
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let core = self.core();
        let what = core.op("wait_timeout", Location::caller());
        core.is_ready() || core.wait_until(deadline_after(timeout), &what)
    }

    /// Whether the task finished (with a value or a panic) or was cancelled: Python's
    /// `done()`. Never blocks.
    ///
    /// ```
    /// use heddle::pool::ThreadPool;
    /// let pool = ThreadPool::new();
    /// let mut f = pool.submit(|| ()).unwrap();
    /// f.result_timeout(std::time::Duration::from_secs(60)).unwrap();
    /// assert!(f.done());
    /// ```
    #[track_caller]
    pub fn done(&self) -> bool {
        self.core().op("done", Location::caller());
        self.core().is_done()
    }

    /// Whether a worker is running the task right now: Python's `running()`.
    ///
    /// ```
    /// use heddle::pool::ThreadPool;
    /// use heddle::sync::Event;
    ///
    /// let pool = ThreadPool::builder().workers(1).build().unwrap();
    /// let (started, gate) = (Event::new(), Event::new());
    /// let (s, g) = (started.clone(), gate.clone());
    /// let f = pool.submit(move || { s.set(); g.wait(); }).unwrap();
    /// started.wait();
    /// assert!(f.running());
    /// gate.set();
    /// f.result().unwrap();
    /// ```
    #[track_caller]
    pub fn running(&self) -> bool {
        self.core().op("running", Location::caller());
        self.core().state() == RUNNING
    }

    /// Whether the task was cancelled: Python's `cancelled()`.
    ///
    /// ```
    /// use heddle::pool::ThreadPool;
    /// use heddle::sync::Event;
    ///
    /// let pool = ThreadPool::builder().workers(1).build().unwrap();
    /// let gate = Event::new();
    /// let g = gate.clone();
    /// let blocker = pool.submit(move || { g.wait(); }).unwrap();
    /// let queued = pool.submit(|| 1).unwrap(); // waits behind the blocker
    /// assert!(queued.cancel());
    /// assert!(queued.cancelled());
    /// gate.set();
    /// blocker.result().unwrap();
    /// ```
    #[track_caller]
    pub fn cancelled(&self) -> bool {
        self.core().op("cancelled", Location::caller());
        self.core().state() == CANCELLED
    }

    /// Cancel the task if it has not started: Python's `cancel()`. Returns `true` if
    /// the task is cancelled (now or before); `false` if it is running or finished,
    /// which cancelling cannot stop. A cancelled task never runs: its closure is
    /// dropped here, its waiters wake with [`FutureError::Cancelled`] and its
    /// done-callbacks run.
    ///
    /// ```
    /// use heddle::pool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let f = pool.submit(|| 1).unwrap();
    /// let g = pool.submit(|| 2).unwrap();
    /// assert_eq!(f.result(), Ok(1));
    /// let _ = g.cancel(); // true if it had not started yet, false if it had
    /// ```
    #[track_caller]
    pub fn cancel(&self) -> bool {
        self.core().op("cancel", Location::caller());
        // SAFETY: our reference keeps the cell alive, and the core is one of its own.
        unsafe { Header::cancel_one(self.owner, self.core.as_ptr().cast_const().cast()) }
    }

    /// Call `callback` when the task completes (finishes, panics or is cancelled):
    /// Python's `add_done_callback`. It receives the value by reference, or the error.
    /// Callbacks run exactly once, in the order they were added, before
    /// [`result`](Self::result) returns: in the thread that completes the task (a
    /// worker, or a canceller), or, if the task is done and its earlier callbacks have
    /// run, at once in this thread. A panicking callback is reported by the panic hook
    /// and ignored (the others still run). Keep them short: the value cannot be taken
    /// while one runs.
    ///
    /// ```
    /// use heddle::pool::ThreadPool;
    /// use heddle::queue::Queue;
    ///
    /// let pool = ThreadPool::new();
    /// let seen = Queue::unbounded();
    /// let s = seen.clone();
    /// let f = pool.submit(|| 7).unwrap();
    /// f.add_done_callback(move |outcome| s.put(*outcome.unwrap()).unwrap());
    /// assert_eq!(f.result(), Ok(7));
    /// assert_eq!(seen.get(), Ok(7)); // the callback ran before result() returned
    /// ```
    pub fn add_done_callback<C>(&self, callback: C)
    where
        C: FnOnce(Result<&T, &FutureError>) + Send + 'static,
        T: Sync,
    {
        let callback: Callback<T> = Box::new(callback);
        self.core().add_hook(Hook::Callback(callback));
    }

    /// Whether `self` and `other` are the same future (Python compares futures by
    /// identity).
    ///
    /// ```
    /// use heddle::pool::ThreadPool;
    /// let pool = ThreadPool::new();
    /// let (a, b) = (pool.submit(|| 1).unwrap(), pool.submit(|| 1).unwrap());
    /// assert!(a.same_future(&a));
    /// assert!(!a.same_future(&b));
    /// ```
    pub fn same_future(&self, other: &Future<T>) -> bool {
        std::ptr::eq(self.core(), other.core())
    }

    /// The identity of this future's state, for de-duplicating.
    pub(crate) fn key(&self) -> *const () {
        (self.core() as *const Core<T>).cast()
    }

    fn forget_waiter(&mut self) {
        // SAFETY: as in `core`; a separate borrow from `self.waiter`.
        let core = unsafe { self.core.as_ref() };
        core.cancel_waiter(&mut self.waiter);
    }
}

impl<T> std::future::Future for Future<T> {
    type Output = Result<T, FutureError>;

    /// Resolves to what [`Future::result`] returns, on any executor: the task waits in
    /// the same seam as threads, woken by the worker that completes the task. Dropping
    /// the awaiting future is always safe.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // SAFETY: as in `core`; a separate borrow from `this.waiter`.
        let core = unsafe { this.core.as_ref() };
        match core.poll_ready(&mut this.waiter, cx) {
            // SAFETY: ready, and `Pin<&mut Self>` (we are `Unpin`) is exclusive access
            // to the only future.
            Poll::Ready(()) => Poll::Ready(unsafe { core.take() }),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for Future<T> {
    fn drop(&mut self) {
        self.forget_waiter();
        // SAFETY: the future's reference, given up here.
        unsafe { Header::release(self.owner) };
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.core().state() {
            PENDING => "pending",
            RUNNING => "running",
            FINISHED => "finished",
            _ => "cancelled",
        };
        f.debug_struct("Future")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

/// Something that holds a [`Future`]: what [`as_completed`](super::as_completed) and
/// [`wait`](super::wait()) accept and hand back. Implemented for `Future<T>` (owned,
/// handed back owned), `&Future<T>` and `&mut Future<T>` (borrowed), and `(K,
/// Future<T>)` pairs, which carry a key along, as Python code keeps a
/// `{future: url}` dict.
///
/// ```
/// use heddle::pool::{as_completed, ThreadPool};
///
/// let pool = ThreadPool::new();
/// let jobs: Vec<_> = ["a", "bb", "ccc"]
///     .into_iter()
///     .map(|word| (word, pool.submit(move || word.len()).unwrap()))
///     .collect();
/// let mut lengths = Vec::new();
/// for done in as_completed(jobs, None) {
///     let (word, future) = done.unwrap();
///     lengths.push((word, future.result().unwrap()));
/// }
/// lengths.sort();
/// assert_eq!(lengths, [("a", 1), ("bb", 2), ("ccc", 3)]);
/// ```
pub trait AsFuture {
    /// The future's value type.
    type Output;

    /// The future inside.
    fn as_future(&self) -> &Future<Self::Output>;
}

impl<T> AsFuture for Future<T> {
    type Output = T;
    fn as_future(&self) -> &Future<T> {
        self
    }
}

impl<T> AsFuture for &Future<T> {
    type Output = T;
    fn as_future(&self) -> &Future<T> {
        self
    }
}

impl<T> AsFuture for &mut Future<T> {
    type Output = T;
    fn as_future(&self) -> &Future<T> {
        self
    }
}

impl<K, T> AsFuture for (K, Future<T>) {
    type Output = T;
    fn as_future(&self) -> &Future<T> {
        &self.1
    }
}
