//! [`Builder`]: how a [`ThreadPool`] is configured (Python's `ThreadPoolExecutor(
//! max_workers, thread_name_prefix, initializer)`, plus a bound on queued work).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::error::BuildError;
use super::thread_pool::ThreadPool;

/// Numbers the default name prefixes, `ThreadPool-0`, `ThreadPool-1`, ...
static POOLS: AtomicUsize = AtomicUsize::new(0);

pub(crate) type Initializer = Arc<dyn Fn() + Send + Sync>;

/// Configures and starts a [`ThreadPool`]; from [`ThreadPool::builder`].
///
/// ```
/// use heddle::pool::ThreadPool;
///
/// let pool = ThreadPool::builder()
///     .workers(2)
///     .name_prefix("resize")
///     .max_queued(100)
///     .initializer(|| { /* open a connection per worker, warm a cache, ... */ })
///     .build()
///     .unwrap();
/// let name = pool.submit(|| heddle::thread::current().name().to_owned()).unwrap();
/// assert!(name.result().unwrap().starts_with("resize_"));
/// ```
#[must_use = "a Builder does nothing until build() is called"]
#[derive(Clone, Default)]
pub struct Builder {
    workers: Option<usize>,
    prefix: Option<String>,
    max_queued: Option<usize>,
    initializer: Option<Initializer>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with every default: one worker per core, prefix `ThreadPool-N`, no
    /// bound on queued work, no initializer.
    ///
    /// ```
    /// let pool = heddle::pool::Builder::new().build().unwrap();
    /// assert!(pool.workers() >= 1);
    /// ```
    pub fn new() -> Self {
        Builder::default()
    }

    /// How many worker threads (Python's `max_workers`); default: the number of cores
    /// (`std::thread::available_parallelism`). The pool starts them all at once and
    /// keeps exactly that many: a panicking task does not end its worker.
    ///
    /// ```
    /// let pool = heddle::pool::ThreadPool::builder().workers(3).build().unwrap();
    /// assert_eq!(pool.workers(), 3);
    /// ```
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Name the workers `{prefix}_0`, `{prefix}_1`, ... (Python's
    /// `thread_name_prefix`); default prefix `ThreadPool-N` with `N` counting pools.
    ///
    /// ```
    /// let pool = heddle::pool::ThreadPool::builder().name_prefix("io").build().unwrap();
    /// assert_eq!(pool.name_prefix(), "io");
    /// ```
    pub fn name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Bound the number of tasks waiting in the queue (not counting those running):
    /// [`submit`](ThreadPool::submit) then waits while the queue is full, and
    /// [`try_submit`](ThreadPool::try_submit) fails with `Full`. Default: unbounded,
    /// as Python's executor. `max_queued(0)` hands each task straight to an idle
    /// worker: `submit` waits until one takes it.
    ///
    /// ```
    /// let pool = heddle::pool::ThreadPool::builder().max_queued(16).build().unwrap();
    /// assert_eq!(pool.max_queued(), Some(16));
    /// ```
    pub fn max_queued(mut self, bound: usize) -> Self {
        self.max_queued = Some(bound);
        self
    }

    /// Run `init` in each worker when it starts, before any task (Python's
    /// `initializer`). If it panics, the pool is *broken*, as Python's: tasks not yet
    /// started fail with [`FutureError::Broken`](super::FutureError::Broken) and later
    /// submits with [`SubmitError::Broken`](super::SubmitError::Broken).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let s = Arc::clone(&started);
    /// let pool = heddle::pool::ThreadPool::builder()
    ///     .workers(2)
    ///     .initializer(move || { s.fetch_add(1, Ordering::SeqCst); })
    ///     .build()
    ///     .unwrap();
    /// pool.shutdown(true, false);
    /// assert_eq!(started.load(Ordering::SeqCst), 2);
    /// ```
    pub fn initializer(mut self, init: impl Fn() + Send + Sync + 'static) -> Self {
        self.initializer = Some(Arc::new(init));
        self
    }

    /// The workers' stack size in bytes (default: std's).
    ///
    /// ```
    /// let pool = heddle::pool::ThreadPool::builder().stack_size(512 * 1024).build().unwrap();
    /// assert_eq!(pool.submit(|| 1).unwrap().result(), Ok(1));
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Start the workers and return the pool.
    ///
    /// # Errors
    ///
    /// [`BuildError::NoWorkers`] for `workers(0)`; [`BuildError::Spawn`] if the OS
    /// refuses a thread (the workers already started are shut down again).
    ///
    /// ```
    /// let pool = heddle::pool::ThreadPool::builder().workers(1).build().unwrap();
    /// assert_eq!(pool.workers(), 1);
    /// ```
    pub fn build(self) -> Result<ThreadPool, BuildError> {
        let workers = match self.workers {
            Some(0) => return Err(BuildError::NoWorkers),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let prefix = self.prefix.unwrap_or_else(|| {
            // Under the checker numbered per execution (replays show the same names).
            let n = crate::check::next_number("ThreadPool")
                .map(|n| n as usize - 1)
                .unwrap_or_else(|| POOLS.fetch_add(1, Ordering::Relaxed));
            format!("ThreadPool-{n}")
        });
        ThreadPool::start(
            workers,
            prefix,
            self.max_queued,
            self.initializer,
            self.stack_size,
        )
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("workers", &self.workers)
            .field("name_prefix", &self.prefix)
            .field("max_queued", &self.max_queued)
            .field("initializer", &self.initializer.is_some())
            .field("stack_size", &self.stack_size)
            .finish()
    }
}
