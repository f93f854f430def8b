//! [`ThreadPool`]: Python's `concurrent.futures.ThreadPoolExecutor`.
//!
//! A fixed set of heddle threads (named `{prefix}_{i}`, daemons) take jobs from one
//! FIFO queue and run them: an intrusive list of the tasks themselves (`injector.rs`),
//! or, with `max_queued`, a bounded heddle [`Queue`](crate::queue::Queue). An idle
//! worker spins briefly, then sleeps in the seam with no timeout, like every other
//! heddle wait.

use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::builder::{Builder, Initializer};
use super::error::{panic_message, BuildError, FutureError, SubmitError};
use super::future::Future;
use super::injector::Jobs;
use super::task::{Job, NewBatch, NewTask, Unqueued};
use crate::queue::{PutError, TryPutError};
use crate::sync::Event;
use crate::thread::{JoinHandle, Thread};

const OPEN: u8 = 0;
const SHUT: u8 = 1;
const BROKEN: u8 = 2;

/// What the pool's handle and its workers share.
pub(crate) struct Pool {
    pub(crate) queue: Jobs,
    workers: usize,
    prefix: String,
    max_queued: Option<usize>,
    state: AtomicU8,
    broken: OnceLock<String>,
    initializer: Option<Initializer>,
    handles: Mutex<Vec<JoinHandle<()>>>,
    /// Each worker's heddle thread id (0 until it has started). Not a thread-local:
    /// under the checker every heddle thread shares one OS thread.
    worker_ids: Box<[AtomicU64]>,
    alive: AtomicUsize,
    exited: Event,
}

impl Pool {
    /// A task the queue refused: its closure back, in the refusal.
    #[cold]
    #[inline(never)]
    fn refuse_queued<T, F>(&self, unqueued: Unqueued<T, F>, job: Job) -> SubmitError<F>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        self.refuse(unqueued.reclaim(job))
    }

    /// A task refused because the pool no longer accepts work.
    #[cold]
    #[inline(never)]
    fn refuse<F>(&self, task: F) -> SubmitError<F> {
        match self.broken.get() {
            Some(message) if self.state.load(Ordering::Acquire) == BROKEN => SubmitError::Broken {
                task,
                message: message.clone(),
            },
            _ => SubmitError::ShutDown(task),
        }
    }

    #[inline]
    fn accepting(&self) -> bool {
        self.state.load(Ordering::Acquire) == OPEN
    }

    /// An initializer panicked: refuse new work, fail what is queued (Python's
    /// `BrokenThreadPool`).
    #[cold]
    fn break_with(&self, message: String) {
        let message = self.broken.get_or_init(|| message).clone();
        self.state.store(BROKEN, Ordering::Release);
        let error = FutureError::Broken { message };
        for job in self.queue.shutdown(true) {
            job.fail(&error);
        }
    }
}

/// The body of worker `index`.
fn work(pool: Arc<Pool>, index: usize) {
    pool.worker_ids[index].store(crate::wait::local::thread_id(), Ordering::Release);
    let mut healthy = true;
    if let Some(init) = &pool.initializer {
        if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| init())) {
            let name = crate::thread::current().name().to_owned();
            pool.break_with(format!(
                "the initializer of worker '{name}' panicked: {}",
                panic_message(&*payload)
            ));
            healthy = false;
        }
    }
    if healthy {
        while let Ok(job) = pool.queue.get() {
            // Tasks and callbacks catch their own panics; what can still unwind here is
            // the drop of a value or closure nobody took. It must not end the worker.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run()));
        }
    }
    if pool.alive.fetch_sub(1, Ordering::AcqRel) == 1 {
        pool.exited.set();
    }
}

/// A pool of worker threads that run submitted closures and hand back [`Future`]s:
/// Python's `concurrent.futures.ThreadPoolExecutor`. See the [module docs](super) for
/// the guarantees.
///
/// ```
/// use heddle::pool::ThreadPool;
///
/// let pool = ThreadPool::builder().workers(4).name_prefix("crunch").build().unwrap();
/// let squares: Vec<_> = (0..8u64).map(|i| pool.submit(move || i * i).unwrap()).collect();
/// let total: u64 = squares.into_iter().map(|f| f.result().unwrap()).sum();
/// assert_eq!(total, 140);
/// // Dropping the pool waits for its workers to finish what was queued.
/// ```
pub struct ThreadPool {
    pub(crate) shared: Arc<Pool>,
}

impl ThreadPool {
    /// A pool with one worker per core and every other default (see [`Builder`]).
    ///
    /// # Panics
    ///
    /// If the OS refuses to start the threads; use [`ThreadPool::builder`] to handle
    /// that.
    ///
    /// ```
    /// let pool = heddle::pool::ThreadPool::new();
    /// assert_eq!(pool.submit(|| 1 + 1).unwrap().result(), Ok(2));
    /// ```
    #[track_caller]
    pub fn new() -> Self {
        match Builder::new().build() {
            Ok(pool) => pool,
            Err(err) => panic!("could not build a thread pool: {err}"),
        }
    }

    /// A [`Builder`] to set the worker count, name prefix, queue bound, initializer.
    ///
    /// ```
    /// let pool = heddle::pool::ThreadPool::builder().workers(2).build().unwrap();
    /// assert_eq!(pool.workers(), 2);
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn start(
        workers: usize,
        prefix: String,
        max_queued: Option<usize>,
        initializer: Option<Initializer>,
        stack_size: Option<usize>,
    ) -> Result<ThreadPool, BuildError> {
        let queue = Jobs::new(max_queued);
        let shared = Arc::new(Pool {
            queue,
            workers,
            prefix,
            max_queued,
            state: AtomicU8::new(OPEN),
            broken: OnceLock::new(),
            initializer,
            handles: Mutex::new(Vec::with_capacity(workers)),
            worker_ids: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            alive: AtomicUsize::new(workers),
            exited: Event::new(),
        });
        let pool = ThreadPool { shared };
        for i in 0..workers {
            let name = format!("{}_{i}", pool.shared.prefix);
            let shared = Arc::clone(&pool.shared);
            let mut thread = Thread::new(move || work(shared, i))
                .name(name.clone())
                .daemon(true);
            if let Some(bytes) = stack_size {
                thread = thread.stack_size(bytes);
            }
            match thread.try_start() {
                Ok(handle) => pool.shared.handles.lock().push(handle),
                Err(source) => {
                    // The threads never started count as exited.
                    let missing = workers - i;
                    if pool.shared.alive.fetch_sub(missing, Ordering::AcqRel) == missing {
                        pool.shared.exited.set();
                    }
                    drop(pool); // shuts down and joins the workers already started
                    return Err(BuildError::Spawn {
                        worker: name,
                        source,
                    });
                }
            }
        }
        Ok(pool)
    }

    /// Submit `f` to run on a worker; returns its [`Future`] at once: Python's
    /// `submit(fn)`. With a queue bound ([`Builder::max_queued`]), waits while the queue
    /// is full.
    ///
    /// This is the cheap path: one allocation holds the task and its future's state,
    /// and queueing it is a lock-free push.
    ///
    /// # Errors
    ///
    /// [`SubmitError::ShutDown`] after [`shutdown`](Self::shutdown) (or during the
    /// pool's drop), [`SubmitError::Broken`] if an initializer panicked; either way the
    /// closure is handed back inside.
    ///
    /// ```
    /// use heddle::pool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let text = String::from("moved into the task");
    /// let f = pool.submit(move || text.len()).unwrap();
    /// assert_eq!(f.result(), Ok(19));
    /// ```
    #[track_caller]
    pub fn submit<F, T>(&self, f: F) -> Result<Future<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit_at(f, Location::caller())
    }

    /// [`submit`](Self::submit), naming the future after `site`.
    #[inline]
    pub(crate) fn submit_at<F, T>(
        &self,
        f: F,
        site: &'static Location<'static>,
    ) -> Result<Future<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if !self.shared.accepting() {
            return Err(self.shared.refuse(f));
        }
        let task = NewTask::new(f, None, site);
        task.core().op("submit", site);
        let (job, unqueued) = task.split();
        match self.shared.queue.put(job) {
            Ok(()) => Ok(unqueued.future()),
            Err(PutError(job)) => Err(self.shared.refuse_queued(unqueued, job)),
        }
    }

    /// Like [`submit`](Self::submit), but never waits: with the queue bound reached,
    /// fails with [`SubmitError::Full`] (the closure inside).
    ///
    /// ```
    /// use heddle::pool::{SubmitError, ThreadPool};
    /// use heddle::sync::Event;
    ///
    /// let pool = ThreadPool::builder().workers(1).max_queued(1).build().unwrap();
    /// let (started, gate) = (Event::new(), Event::new());
    /// let (s, g) = (started.clone(), gate.clone());
    /// let busy = pool.submit(move || { s.set(); g.wait(); }).unwrap();
    /// started.wait(); // the worker is busy: the queue holds one more task at most
    /// let queued = pool.try_submit(|| 1).unwrap();
    /// assert!(matches!(pool.try_submit(|| 2), Err(SubmitError::Full(_))));
    /// gate.set();
    /// busy.result().unwrap();
    /// assert_eq!(queued.result(), Ok(1));
    /// ```
    #[track_caller]
    pub fn try_submit<F, T>(&self, f: F) -> Result<Future<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if !self.shared.accepting() {
            return Err(self.shared.refuse(f));
        }
        let task = NewTask::new(f, None, Location::caller());
        task.core().op("try_submit", Location::caller());
        let (job, unqueued) = task.split();
        match self.shared.queue.try_put(job) {
            Ok(()) => Ok(unqueued.future()),
            Err(TryPutError::Full(job)) => Err(SubmitError::Full(unqueued.reclaim(job))),
            Err(TryPutError::ShutDown(job)) => Err(self.shared.refuse(unqueued.reclaim(job))),
        }
    }

    /// Submit many closures at once; their futures come back in the same order. The
    /// batch path: one allocation holds every closure and future state, and the queue
    /// receives one job per worker (not one per closure), each claiming closures off a
    /// shared cursor, so a batch of thousands of tiny tasks costs a few queue
    /// operations. Each future still behaves as one from [`submit`](Self::submit)
    /// (cancel, callbacks, `as_completed`, ...).
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit), with every closure handed back, in order.
    ///
    /// ```
    /// use heddle::pool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let futures = pool.submit_batch((0..1000u64).map(|i| move || i * 2)).unwrap();
    /// let sum: u64 = futures.into_iter().map(|f| f.result().unwrap()).sum();
    /// assert_eq!(sum, 999_000);
    /// ```
    #[track_caller]
    pub fn submit_batch<I, F, T>(&self, tasks: I) -> Result<Vec<Future<T>>, SubmitError<Vec<F>>>
    where
        I: IntoIterator<Item = F>,
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let funcs: Vec<F> = tasks.into_iter().collect();
        if !self.shared.accepting() {
            return Err(self.shared.refuse(funcs));
        }
        if funcs.is_empty() {
            return Ok(Vec::new());
        }
        let jobs = self.shared.workers.min(funcs.len());
        let mut batch = NewBatch::new(funcs, jobs, Location::caller());
        batch.first_core().op("submit_batch", Location::caller());
        let mut queued = 0;
        while let Some(job) = batch.job() {
            if let Err(PutError(job)) = self.shared.queue.put(job) {
                if queued == 0 {
                    return Err(self.shared.refuse(batch.into_funcs(job)));
                }
                // At least one job is queued: it runs every item (or the shutdown that
                // stopped us cancels them, or the break fails them).
                drop(job);
                break;
            }
            queued += 1;
        }
        // SAFETY: each is one future's reference to the batch's cell, and its core.
        Ok(batch.futures(|owner, core| unsafe { Future::from_raw(owner, core) }))
    }

    /// Stop accepting work: Python's `shutdown(wait, cancel_futures)`. Returns how many
    /// queued tasks it cancelled.
    ///
    /// * Later submits fail with [`SubmitError::ShutDown`], the closure inside.
    /// * With `cancel_futures`, every task still queued is cancelled (its future gives
    ///   [`FutureError::Cancelled`]); without, the workers run everything already
    ///   queued.
    /// * With `wait`, returns once every worker has exited (so every accepted task has
    ///   run or been cancelled). Called from one of the pool's own workers, it cannot
    ///   wait for that worker, and does not wait at all.
    ///
    /// Calling it again is harmless (and can add `cancel_futures` or `wait`).
    ///
    /// ```
    /// use heddle::pool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let f = pool.submit(|| "queued before the shutdown").unwrap();
    /// pool.shutdown(true, false);
    /// assert_eq!(f.result(), Ok("queued before the shutdown"));
    /// assert!(pool.submit(|| ()).is_err());
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) -> usize {
        let _ = self
            .shared
            .state
            .compare_exchange(OPEN, SHUT, Ordering::AcqRel, Ordering::Acquire);
        let cancelled = if cancel_futures {
            self.shared
                .queue
                .shutdown(true)
                .into_iter()
                .map(|job| job.cancel())
                .sum()
        } else {
            self.shared.queue.shutdown(false);
            0
        };
        if wait && !self.is_worker_here() {
            let handles = std::mem::take(&mut *self.shared.handles.lock());
            for handle in handles {
                // A worker never panics (tasks and callbacks are caught).
                let _ = handle.join();
            }
            // Another caller may have taken the handles: wait for the exits themselves.
            self.shared.exited.wait();
        }
        cancelled
    }

    /// Whether [`shutdown`](Self::shutdown) was called (or the pool broke).
    ///
    /// ```
    /// let pool = heddle::pool::ThreadPool::new();
    /// assert!(!pool.is_shutdown());
    /// pool.shutdown(false, false);
    /// assert!(pool.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        !self.shared.accepting()
    }

    /// Whether an initializer panicked, breaking the pool; `Some(why)` then.
    ///
    /// ```
    /// let pool = heddle::pool::ThreadPool::new();
    /// assert_eq!(pool.broken(), None);
    /// ```
    pub fn broken(&self) -> Option<&str> {
        if self.shared.state.load(Ordering::Acquire) == BROKEN {
            self.shared.broken.get().map(String::as_str)
        } else {
            None
        }
    }

    /// How many workers the pool has (always what it was built with).
    ///
    /// ```
    /// let pool = heddle::pool::ThreadPool::builder().workers(2).build().unwrap();
    /// assert_eq!(pool.workers(), 2);
    /// ```
    pub fn workers(&self) -> usize {
        self.shared.workers
    }

    /// The workers' name prefix.
    ///
    /// ```
    /// let pool = heddle::pool::ThreadPool::new();
    /// assert!(pool.name_prefix().starts_with("ThreadPool-"));
    /// ```
    pub fn name_prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// The queue bound, if any ([`Builder::max_queued`]).
    ///
    /// ```
    /// assert_eq!(heddle::pool::ThreadPool::new().max_queued(), None);
    /// ```
    pub fn max_queued(&self) -> Option<usize> {
        self.shared.max_queued
    }

    /// How many jobs wait in the queue right now (a snapshot; a batch counts once per
    /// worker it was queued for). Without a queue bound this walks the queue: meant for
    /// diagnostics, not for a hot loop.
    ///
    /// ```
    /// let pool = heddle::pool::ThreadPool::new();
    /// pool.shutdown(true, false);
    /// assert_eq!(pool.queued(), 0);
    /// ```
    pub fn queued(&self) -> usize {
        self.shared.queue.qsize()
    }

    /// Whether the calling thread is one of this pool's workers.
    ///
    /// ```
    /// let pool = heddle::pool::ThreadPool::new();
    /// assert!(!pool.is_worker_thread());
    /// let inside = std::sync::Arc::new(pool);
    /// let p = std::sync::Arc::clone(&inside);
    /// assert!(inside.submit(move || p.is_worker_thread()).unwrap().result().unwrap());
    /// ```
    pub fn is_worker_thread(&self) -> bool {
        self.is_worker_here()
    }

    pub(crate) fn is_worker_here(&self) -> bool {
        let me = crate::wait::local::thread_id();
        self.shared
            .worker_ids
            .iter()
            .any(|id| id.load(Ordering::Acquire) == me)
    }
}

impl Default for ThreadPool {
    /// [`ThreadPool::new`].
    fn default() -> Self {
        ThreadPool::new()
    }
}

impl Drop for ThreadPool {
    /// `shutdown(true, false)`: the workers run what is queued, and the drop returns
    /// once they have exited (unless it runs on one of the pool's own workers).
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("name_prefix", &self.shared.prefix)
            .field("workers", &self.shared.workers)
            .field("max_queued", &self.shared.max_queued)
            .field("queued", &self.queued())
            .field("shut_down", &self.is_shutdown())
            .field("broken", &self.broken())
            .finish()
    }
}
