//! [`Future<T>`]: the result of a task submitted to a [`ThreadPool`](super::ThreadPool),
//! Python's `concurrent.futures.Future`; [`Completer`], the producer's side of a future
//! made by hand ([`Future::pending`]); and [`AsFuture`], what `as_completed` and `wait`
//! accept.
//!
//! A hand-made future is a task cell whose closure never runs: the [`Completer`] holds
//! the reference a queued job would, and completes the future's state (`core.rs`) the
//! way a worker does (`PENDING → RUNNING → FINISHED`), so everything that works on a
//! pool's futures (waiting, `.await`, callbacks, cancel, `as_completed`, `wait`) works
//! on it unchanged.

use std::fmt;
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use super::core::{Callback, Core, Hook, Outcome, CANCELLED, FINISHED, PENDING, RUNNING};
use super::error::{CompleteError, FutureError};
use super::task::{Header, Job, NewTask};
use crate::wait::{deadline_after, AsyncWaiter};

/// The eventual result of a task run by a [`ThreadPool`](super::ThreadPool), or of
/// anything else that completes it through a [`Completer`] ([`Future::pending`]):
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

/// Shows the state and, once finished, whether the task returned a value (of which
/// type: Python's `returned int`) or failed (with the error), as Python's `repr` of a
/// future does.
///
/// ```
/// use heddle::pool::ThreadPool;
///
/// let pool = ThreadPool::new();
/// let ok = pool.submit(|| 1u8).unwrap();
/// let bad = pool.submit(|| -> u8 { panic!("boom") }).unwrap();
/// ok.wait();
/// bad.wait();
/// assert_eq!(format!("{ok:?}"), r#"Future { state: "finished", returned: "u8" }"#);
/// assert_eq!(
///     format!("{bad:?}"),
///     r#"Future { state: "finished", error: Panicked { message: "boom" } }"#
/// );
/// ```
impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let core = self.core();
        let state = match core.state() {
            PENDING => "pending",
            RUNNING => "running",
            FINISHED => "finished",
            _ => "cancelled",
        };
        let mut out = f.debug_struct("Future");
        out.field("state", &state);
        match core.peek() {
            None => {}
            Some(Ok(true)) => {
                out.field("returned", &std::any::type_name::<T>());
            }
            Some(Ok(false)) => {
                out.field("returned", &"(taken)");
            }
            Some(Err(error)) => {
                out.field("error", error);
            }
        }
        out.finish()
    }
}

// ------------------------------------------------------------------------------------
// Futures made by hand

/// Never called: a hand-made future's cell has no work to run.
fn no_task<T>() -> T {
    unreachable!("a hand-made future's task is never run")
}

impl<T: Send + 'static> Future<T> {
    /// A pending future made by hand, and the [`Completer`] that completes it: what
    /// Python code does with `Future()` and `set_result`, to bridge a callback, another
    /// executor or another process into [`as_completed`](super::as_completed),
    /// [`wait`](super::wait()), `.await` and everything else a pool's future supports.
    ///
    /// The future can be cancelled ([`cancel`](Self::cancel)) until the completer
    /// marks it running or completes it. If the completer is dropped without completing
    /// it, the future fails with [`FutureError::Abandoned`], so nobody waits forever.
    ///
    /// ```
    /// use heddle::pool::{as_completed, Future};
    ///
    /// let (future, completer) = Future::pending();
    /// // Somebody else's callback, on somebody else's thread:
    /// std::thread::spawn(move || completer.set_result("done").unwrap());
    /// for done in as_completed([future], None) {
    ///     assert_eq!(done.unwrap().result(), Ok("done"));
    /// }
    /// ```
    #[track_caller]
    pub fn pending() -> (Future<T>, Completer<T>) {
        let task = NewTask::<T, fn() -> T>::new(no_task::<T>, None, Location::caller());
        let (job, unqueued) = task.split();
        let future = unqueued.future();
        let completer = Completer {
            core: future.core,
            _cell: job,
            claimed: AtomicBool::new(false),
        };
        (future, completer)
    }
}

/// The producer's side of a future made by [`Future::pending`]: completes it once,
/// with a value ([`set_result`](Self::set_result)) or an error
/// ([`set_exception`](Self::set_exception)), as Python's `Future.set_result` and
/// `set_exception` do.
///
/// * **Once**: a second completion is refused with
///   [`CompleteError::AlreadyCompleted`], a completion of a cancelled future with
///   [`CompleteError::Cancelled`]; either way the value comes back in the error. The
///   methods take `&self`, so a completer can be shared (in an `Arc`) by several
///   would-be completers racing to finish first: exactly one wins.
/// * **Running**: [`set_running_or_notify_cancel`](Self::set_running_or_notify_cancel)
///   marks the future running (after which [`Future::cancel`] fails), or reports that
///   it was cancelled, so the work can be skipped: Python's method of that name.
/// * **Dropped without completing** (the producer panicked or forgot): the future
///   fails with [`FutureError::Abandoned`], waking its waiters: a hand-made future
///   never leaves anyone waiting forever.
/// * Completing runs the future's done-callbacks in the completing thread, as a pool's
///   worker does, and wakes every waiter.
///
/// ```
/// use heddle::pool::{Future, FutureError};
///
/// let (future, completer) = Future::<u32>::pending();
/// assert!(completer.set_running_or_notify_cancel());
/// assert!(!future.cancel()); // running: too late to cancel
/// completer
///     .set_exception(FutureError::Panicked { message: "no disk".into() })
///     .unwrap();
/// assert_eq!(future.result(), Err(FutureError::Panicked { message: "no disk".into() }));
///
/// let (future, completer) = Future::<u32>::pending();
/// drop(completer);
/// assert_eq!(future.result(), Err(FutureError::Abandoned));
/// ```
pub struct Completer<T> {
    /// The future's state, in the cell `job` keeps alive.
    core: NonNull<Core<T>>,
    /// The cell's second reference (what a queued job holds for a pool's task); never
    /// run, released when the completer is dropped.
    _cell: Job,
    /// Set by the one call that completes (or abandons) the future.
    claimed: AtomicBool,
}

// SAFETY: a completer moves a `T` into the future's state (`T: Send`), once, guarded
// by `claimed`; everything else in the cell is shared through atomics (see `core.rs`),
// and `Job` is `Send`.
unsafe impl<T: Send> Send for Completer<T> {}
// SAFETY: as above: `&Completer` methods claim the single completion atomically.
unsafe impl<T: Send> Sync for Completer<T> {}

impl<T> Completer<T> {
    fn core(&self) -> &Core<T> {
        // SAFETY: our job reference keeps the cell, and so the core, alive.
        unsafe { self.core.as_ref() }
    }

    /// Move the future to RUNNING unless it is already there (by an earlier
    /// `set_running_or_notify_cancel`); `false` if it is cancelled or finished.
    fn start(&self) -> bool {
        let core = self.core();
        core.try_start() || core.state() == RUNNING
    }

    /// Claim the one completion and move the future to RUNNING; on refusal, how to
    /// say why (wrapping the value given).
    fn claim<V>(&self) -> Result<(), fn(V) -> CompleteError<V>> {
        if self.claimed.swap(true, Ordering::AcqRel) {
            return Err(match self.core().state() {
                CANCELLED => CompleteError::Cancelled,
                _ => CompleteError::AlreadyCompleted,
            });
        }
        if !self.start() {
            // Only a completer finishes a hand-made future, and we hold the claim.
            debug_assert_eq!(self.core().state(), CANCELLED);
            return Err(CompleteError::Cancelled);
        }
        Ok(())
    }

    /// Finish a claimed future with `outcome`.
    fn finish(&self, outcome: Outcome<T>) {
        // SAFETY: `claim` moved the state to RUNNING (or found it there, set by
        // `set_running_or_notify_cancel`), and only the claim holder (us) finishes it.
        unsafe { self.core().finish(outcome) };
    }

    /// Complete the future with `value`: Python's `set_result`. Its waiters wake and
    /// its done-callbacks run (here).
    ///
    /// # Errors
    ///
    /// [`CompleteError::AlreadyCompleted`] if it was completed before,
    /// [`CompleteError::Cancelled`] if it was cancelled; `value` comes back inside.
    ///
    /// ```
    /// use heddle::pool::Future;
    /// let (future, completer) = Future::pending();
    /// completer.set_result(vec![1, 2]).unwrap();
    /// assert_eq!(future.result(), Ok(vec![1, 2]));
    /// ```
    pub fn set_result(&self, value: T) -> Result<(), CompleteError<T>> {
        if let Err(refuse) = self.claim() {
            return Err(refuse(value));
        }
        self.finish(Ok(value));
        Ok(())
    }

    /// Complete the future with an error: Python's `set_exception`. Its
    /// [`result`](Future::result) returns `error`; a [`FutureError::Panicked`] (or
    /// another failure, see [`FutureError::is_panic`]) counts as an exception for
    /// [`ReturnWhen::FirstException`](super::ReturnWhen::FirstException).
    ///
    /// # Errors
    ///
    /// As for [`set_result`](Self::set_result), with `error` back inside.
    ///
    /// ```
    /// use heddle::pool::{Future, FutureError, ReturnWhen, wait};
    /// let (future, completer) = Future::<()>::pending();
    /// completer.set_exception(FutureError::Panicked { message: "bad".into() }).unwrap();
    /// let done = wait([&future], None, ReturnWhen::FirstException);
    /// assert_eq!(done.done.len(), 1);
    /// ```
    pub fn set_exception(&self, error: FutureError) -> Result<(), CompleteError<FutureError>> {
        if let Err(refuse) = self.claim() {
            return Err(refuse(error));
        }
        self.finish(Err(error));
        Ok(())
    }

    /// Mark the future running, so it can no longer be cancelled: Python's
    /// `set_running_or_notify_cancel`. `true` if it is running now (marked by this call
    /// or an earlier one); `false` if it was cancelled (or already completed): skip
    /// the work.
    ///
    /// ```
    /// use heddle::pool::Future;
    /// let (future, completer) = Future::<u8>::pending();
    /// assert!(future.cancel());
    /// assert!(!completer.set_running_or_notify_cancel());
    /// assert!(completer.set_result(1).is_err());
    /// ```
    pub fn set_running_or_notify_cancel(&self) -> bool {
        !self.claimed.load(Ordering::Acquire) && self.start()
    }

    /// Cancel the future from the producer's side, as [`Future::cancel`] would: `true` if
    /// it is cancelled now (it had not been marked running). A process pool's
    /// `shutdown(cancel_futures)` uses it for tasks no worker took.
    pub(crate) fn cancel_unstarted(&self) -> bool {
        // SAFETY: `_cell` is a reference to the cell, which keeps it (and the core in
        // it, one of its own) alive for the call.
        unsafe {
            Header::cancel_one(
                NonNull::new_unchecked(self._cell.as_ptr()),
                self.core.as_ptr().cast_const().cast(),
            )
        }
    }

    /// Whether the future was cancelled.
    ///
    /// ```
    /// use heddle::pool::Future;
    /// let (future, completer) = Future::<u8>::pending();
    /// future.cancel();
    /// assert!(completer.cancelled());
    /// ```
    pub fn cancelled(&self) -> bool {
        self.core().state() == CANCELLED
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        if self.claim::<()>().is_ok() {
            self.finish(Err(FutureError::Abandoned));
        }
        // `_cell` is released after this: the future keeps the cell if it is alive.
    }
}

impl<T> fmt::Debug for Completer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completer")
            .field("completed", &self.claimed.load(Ordering::Relaxed))
            .field("cancelled", &self.cancelled())
            .finish()
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
