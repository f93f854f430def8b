//! The pool's typed errors: why a future has no value ([`FutureError`]), why a task was
//! not submitted ([`SubmitError`], which gives the task back), and why a pool could not
//! be built ([`BuildError`]).

use std::error::Error;
use std::fmt;
use std::io;

/// Why a [`Future`](super::Future) has no value to give.
///
/// Every variant says what happened and what to do about it; the `Display` text is
/// meant to be shown to a person as it is.
///
/// ```
/// use heddle::pool::{FutureError, ThreadPool};
///
/// let pool = ThreadPool::new();
/// let f = pool.submit(|| -> u32 { panic!("bad input {}", 7) }).unwrap();
/// match f.result() {
///     Err(FutureError::Panicked { message }) => assert_eq!(message, "bad input 7"),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FutureError {
    /// The task was cancelled before it started (by [`Future::cancel`](super::Future::cancel),
    /// or by [`ThreadPool::shutdown`](super::ThreadPool::shutdown) with
    /// `cancel_futures`); it never ran. Python's `CancelledError`.
    Cancelled,
    /// The task panicked; `message` is the panic's message (the payload if it was a
    /// `&str` or a `String`, else `"<non-string panic payload>"`). The worker that ran
    /// it carries on with the next task. Python re-raises the task's exception here.
    Panicked {
        /// The panic message.
        message: String,
    },
    /// The wait's timeout elapsed first; the task goes on and the future can be waited
    /// for again. Python's `TimeoutError`.
    TimedOut,
    /// The value was already moved out by an earlier
    /// [`result_timeout`](super::Future::result_timeout) or `.await` that returned
    /// it. A future hands its value over once.
    Taken,
    /// The task could not be submitted because the pool was shut down (a
    /// [`map`](super::ThreadPool::map) reached items after a shutdown). Python raises
    /// `RuntimeError` from `submit`.
    ShutDown,
    /// The pool broke before the task could run: a worker's initializer panicked with
    /// `message`. Python's `BrokenThreadPool`.
    Broken {
        /// Why the pool broke.
        message: String,
    },
    /// [`as_completed`](super::as_completed)'s timeout expired with `unfinished` of the
    /// `total` futures given still pending (Python's `TimeoutError: 2 (of 4) futures
    /// unfinished`). They go on: [`AsCompleted::into_remaining`](super::AsCompleted::into_remaining)
    /// gives them back to wait for again.
    Unfinished {
        /// Futures not done when the timeout expired.
        unfinished: usize,
        /// Distinct futures given to `as_completed`.
        total: usize,
    },
    /// A hand-made future's [`Completer`](super::Completer) was dropped without
    /// completing it: whatever was to produce the value is gone (it panicked, or
    /// returned without calling `set_result`), so no value will ever come.
    Abandoned,
}

impl FutureError {
    /// Whether the task ended by panicking (what
    /// [`ReturnWhen::FirstException`](super::ReturnWhen::FirstException) looks for; a
    /// broken pool counts too).
    ///
    /// ```
    /// use heddle::pool::FutureError;
    /// assert!(FutureError::Panicked { message: "x".into() }.is_panic());
    /// assert!(!FutureError::Cancelled.is_panic());
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(
            self,
            FutureError::Panicked { .. } | FutureError::Broken { .. } | FutureError::Abandoned
        )
    }

    /// Whether a wait gave up at its timeout ([`TimedOut`](Self::TimedOut), or
    /// [`Unfinished`](Self::Unfinished) from `as_completed`): the work goes on.
    ///
    /// ```
    /// use heddle::pool::FutureError;
    /// assert!(FutureError::TimedOut.is_timeout());
    /// assert!(FutureError::Unfinished { unfinished: 2, total: 4 }.is_timeout());
    /// assert!(!FutureError::Cancelled.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, FutureError::TimedOut | FutureError::Unfinished { .. })
    }
}

impl fmt::Display for FutureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FutureError::Cancelled => f.write_str("the task was cancelled before it started"),
            FutureError::Panicked { message } => write!(f, "the task panicked: {message}"),
            FutureError::TimedOut => f.write_str(
                "timed out waiting for the task; it is still queued or running, wait again",
            ),
            FutureError::Taken => f.write_str(
                "the future's value was already taken by an earlier result_timeout or .await",
            ),
            FutureError::ShutDown => {
                f.write_str("the task was not run: the pool was shut down before it was submitted")
            }
            FutureError::Broken { message } => write!(
                f,
                "the task was not run: the pool is broken ({message}); build a new pool"
            ),
            FutureError::Unfinished { unfinished, total } => write!(
                f,
                "timed out: {unfinished} (of {total}) futures unfinished; they go on, wait \
                 for them again (AsCompleted::into_remaining)"
            ),
            FutureError::Abandoned => f.write_str(
                "the future's completer was dropped without completing it: what was to \
                 produce the value is gone (it panicked or returned without set_result)",
            ),
        }
    }
}

impl Error for FutureError {}

/// Why a hand-made future's [`Completer`](super::Completer) refused to complete it;
/// the value (or error) it was given comes back inside. Python raises
/// `InvalidStateError`.
///
/// ```
/// use heddle::pool::{CompleteError, Future};
///
/// let (future, completer) = Future::pending();
/// completer.set_result(1).unwrap();
/// assert_eq!(completer.set_result(2), Err(CompleteError::AlreadyCompleted(2)));
/// assert_eq!(future.result(), Ok(1));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum CompleteError<V> {
    /// The future was already completed (by an earlier `set_result`/`set_exception`).
    AlreadyCompleted(V),
    /// The future was cancelled (by [`Future::cancel`](super::Future::cancel)) before
    /// it was completed or marked running.
    Cancelled(V),
}

impl<V> CompleteError<V> {
    /// What was given to complete the future with.
    ///
    /// ```
    /// use heddle::pool::CompleteError;
    /// assert_eq!(CompleteError::Cancelled("v").into_inner(), "v");
    /// ```
    pub fn into_inner(self) -> V {
        match self {
            CompleteError::AlreadyCompleted(v) | CompleteError::Cancelled(v) => v,
        }
    }
}

impl<V> fmt::Debug for CompleteError<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompleteError::AlreadyCompleted(_) => f.write_str("AlreadyCompleted(..)"),
            CompleteError::Cancelled(_) => f.write_str("Cancelled(..)"),
        }
    }
}

impl<V> fmt::Display for CompleteError<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CompleteError::AlreadyCompleted(_) => {
                "the future is already completed: a future is completed once (the value is \
                 returned in the error)"
            }
            CompleteError::Cancelled(_) => {
                "the future was cancelled before it was completed (the value is returned in \
                 the error); check set_running_or_notify_cancel before doing the work"
            }
        })
    }
}

impl<V> Error for CompleteError<V> {}

/// Why [`ThreadPool::submit`](super::ThreadPool::submit) (or `try_submit`,
/// `submit_batch`, [`Scope::spawn`](super::Scope::spawn)) did not accept a task. The
/// task is inside, untouched: nothing is lost.
///
/// ```
/// use heddle::pool::{SubmitError, ThreadPool};
///
/// let pool = ThreadPool::new();
/// pool.shutdown(true, false);
/// let err = pool.submit(|| 2 + 2).unwrap_err();
/// assert!(matches!(err, SubmitError::ShutDown(_)));
/// let task = err.into_inner(); // the closure, still callable
/// assert_eq!(task(), 4);
/// ```
pub enum SubmitError<F> {
    /// The pool was shut down ([`ThreadPool::shutdown`](super::ThreadPool::shutdown),
    /// or it is being dropped). Python raises `RuntimeError`.
    ShutDown(F),
    /// [`try_submit`](super::ThreadPool::try_submit) only: the pool's queue bound
    /// ([`Builder::max_queued`](super::Builder::max_queued)) is reached right now.
    Full(F),
    /// The pool is broken: a worker's initializer panicked (Python's
    /// `BrokenThreadPool`).
    Broken {
        /// The task.
        task: F,
        /// Why the pool broke.
        message: String,
    },
}

impl<F> SubmitError<F> {
    /// The task that was not submitted.
    ///
    /// ```
    /// use heddle::pool::ThreadPool;
    /// let pool = ThreadPool::new();
    /// pool.shutdown(false, false);
    /// let f = pool.submit(|| "hi").unwrap_err().into_inner();
    /// assert_eq!(f(), "hi");
    /// ```
    pub fn into_inner(self) -> F {
        match self {
            SubmitError::ShutDown(f) | SubmitError::Full(f) => f,
            SubmitError::Broken { task, .. } => task,
        }
    }

    /// The [`FutureError`] a task refused this way would have reported.
    pub(crate) fn to_future_error(&self) -> FutureError {
        match self {
            SubmitError::ShutDown(_) | SubmitError::Full(_) => FutureError::ShutDown,
            SubmitError::Broken { message, .. } => FutureError::Broken {
                message: message.clone(),
            },
        }
    }
}

impl<F> fmt::Debug for SubmitError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::ShutDown(_) => f.write_str("ShutDown(..)"),
            SubmitError::Full(_) => f.write_str("Full(..)"),
            SubmitError::Broken { message, .. } => f
                .debug_struct("Broken")
                .field("message", message)
                .finish_non_exhaustive(),
        }
    }
}

impl<F> fmt::Display for SubmitError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::ShutDown(_) => f.write_str(
                "cannot submit: the pool was shut down (the task is returned in the error)",
            ),
            SubmitError::Full(_) => f.write_str(
                "cannot submit without waiting: the pool's queue is full (use submit to wait)",
            ),
            SubmitError::Broken { message, .. } => write!(
                f,
                "cannot submit: the pool is broken ({message}); build a new pool"
            ),
        }
    }
}

impl<F> Error for SubmitError<F> {}

/// Why [`Builder::build`](super::Builder::build) could not make a pool.
///
/// ```
/// use heddle::pool::{BuildError, ThreadPool};
/// let err = ThreadPool::builder().workers(0).build().unwrap_err();
/// assert!(matches!(err, BuildError::NoWorkers));
/// assert_eq!(err.to_string(), "a thread pool needs at least one worker (workers(0) was asked)");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// `workers(0)`: a pool needs at least one worker (Python: "max_workers must be
    /// greater than 0").
    NoWorkers,
    /// The OS refused to start a worker thread; the workers already started were shut
    /// down again.
    Spawn {
        /// The name the worker would have had.
        worker: String,
        /// The OS's error.
        source: io::Error,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::NoWorkers => {
                f.write_str("a thread pool needs at least one worker (workers(0) was asked)")
            }
            BuildError::Spawn { worker, source } => write!(
                f,
                "could not start worker thread '{worker}': {source} (ask for fewer workers or \
                 a smaller stack)"
            ),
        }
    }
}

impl Error for BuildError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            BuildError::NoWorkers => None,
            BuildError::Spawn { source, .. } => Some(source),
        }
    }
}

/// The message of a panic payload, as [`FutureError::Panicked`] carries it.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}
