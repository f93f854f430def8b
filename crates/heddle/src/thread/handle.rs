//! [`JoinHandle`] and the errors a join can return.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::info::{Meta, ThreadInfo, FINISHED};
use crate::wait::deadline_after;

/// Where a thread leaves its result for the joiner.
pub(super) type Packet<T> = Mutex<Option<Result<T, JoinError>>>;

/// Owned permission to join a heddle thread, returned by
/// [`Thread::start`](super::Thread::start).
///
/// Dropping it detaches the thread: it runs on, and a non-daemon one is still waited
/// for by [`heddle::main`](crate::main).
///
/// ```
/// use heddle::thread::Thread;
///
/// let handle = Thread::new(|| 6 * 7).name("answer").start();
/// assert_eq!(handle.name(), "answer");
/// assert_eq!(handle.join().unwrap(), 42);
/// ```
pub struct JoinHandle<T> {
    pub(super) meta: Arc<Meta>,
    pub(super) packet: Arc<Packet<T>>,
}

impl<T> JoinHandle<T> {
    /// Wait for the thread to finish and return its closure's value, or the panic that
    /// ended it as a [`JoinError`]. Python's `join()`, with the result attached.
    ///
    /// # Panics
    ///
    /// If called on the calling thread's own handle (it would wait forever); Python
    /// raises `RuntimeError` there.
    ///
    /// ```
    /// use heddle::thread::Thread;
    ///
    /// let ok = Thread::new(|| "done").start();
    /// assert_eq!(ok.join().unwrap(), "done");
    ///
    /// let bad = Thread::new(|| panic!("boom")).name("worker-1").start();
    /// let err = bad.join().unwrap_err();
    /// assert_eq!(err.to_string(), "thread 'worker-1' panicked: boom");
    /// ```
    #[track_caller]
    pub fn join(self) -> Result<T, JoinError> {
        self.schedule_point("join");
        self.refuse_self_join();
        self.meta.wait_for(FINISHED, None);
        self.take()
    }

    /// [`join`](Self::join) with a limit. If the thread is still running after
    /// `timeout`, the handle comes back in [`JoinTimeoutError::TimedOut`], so the result
    /// is never lost: join again later.
    ///
    /// # Panics
    ///
    /// As [`join`](Self::join), on the calling thread's own handle.
    ///
    /// ```
    /// use heddle::thread::{JoinTimeoutError, Thread};
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let (release, gate) = mpsc::channel::<()>();
    /// let handle = Thread::new(move || {
    ///     gate.recv().unwrap();
    ///     7
    /// })
    /// .start();
    /// let handle = match handle.join_timeout(Duration::from_millis(10)) {
    ///     Err(JoinTimeoutError::TimedOut(handle)) => handle,
    ///     other => panic!("the thread cannot have finished: {other:?}"),
    /// };
    /// release.send(()).unwrap();
    /// assert_eq!(handle.join_timeout(Duration::from_secs(60)).unwrap(), 7);
    /// ```
    #[track_caller]
    pub fn join_timeout(self, timeout: Duration) -> Result<T, JoinTimeoutError<T>> {
        self.schedule_point("join_timeout");
        self.refuse_self_join();
        if self.meta.wait_for(FINISHED, deadline_after(timeout)) {
            self.take().map_err(JoinTimeoutError::Panicked)
        } else {
            Err(JoinTimeoutError::TimedOut(self))
        }
    }

    /// Whether the thread is still running: `true` from `start` until its closure has
    /// returned or panicked and its result is ready. Python's `is_alive()`.
    ///
    /// ```
    /// use heddle::thread::Thread;
    /// use std::sync::mpsc;
    ///
    /// let (release, gate) = mpsc::channel::<()>();
    /// let handle = Thread::new(move || gate.recv().unwrap()).start();
    /// assert!(handle.is_alive());
    /// release.send(()).unwrap();
    /// handle.join().unwrap();
    /// ```
    pub fn is_alive(&self) -> bool {
        self.meta.is_alive()
    }

    /// The thread's heddle id; see [`ThreadInfo::ident`].
    ///
    /// ```
    /// use heddle::thread::{self, Thread};
    ///
    /// let handle = Thread::new(|| thread::current().ident()).start();
    /// let ident = handle.ident();
    /// assert_eq!(handle.join().unwrap(), ident);
    /// ```
    pub fn ident(&self) -> u64 {
        self.meta.ident()
    }

    /// The thread's OS id (`gettid()` on Linux); see [`ThreadInfo::native_id`].
    ///
    /// ```
    /// use heddle::thread::{self, Thread};
    ///
    /// let handle = Thread::new(|| thread::current().native_id()).start();
    /// let native = handle.native_id();
    /// assert_eq!(handle.join().unwrap(), native);
    /// # #[cfg(target_os = "linux")]
    /// assert_ne!(native, u64::from(std::process::id()));
    /// ```
    pub fn native_id(&self) -> u64 {
        self.meta.native_id()
    }

    /// The thread's name.
    ///
    /// ```
    /// use heddle::thread::Thread;
    ///
    /// let handle = Thread::new(|| ()).start();
    /// assert!(handle.name().starts_with("Thread-"));
    /// handle.join().unwrap();
    /// ```
    pub fn name(&self) -> &str {
        &self.meta.name
    }

    /// Whether the thread is a daemon (not waited for by [`heddle::main`](crate::main)).
    ///
    /// ```
    /// use heddle::thread::Thread;
    ///
    /// let handle = Thread::new(|| ()).daemon(true).start();
    /// assert!(handle.is_daemon());
    /// handle.join().unwrap();
    /// ```
    pub fn is_daemon(&self) -> bool {
        self.meta.daemon
    }

    /// A [`ThreadInfo`] for the thread, which outlives the handle.
    ///
    /// ```
    /// use heddle::thread::{self, Thread};
    ///
    /// let handle = Thread::new(thread::current).start();
    /// let info = handle.info();
    /// assert_eq!(handle.join().unwrap(), info);
    /// ```
    pub fn info(&self) -> ThreadInfo {
        ThreadInfo {
            meta: Arc::clone(&self.meta),
        }
    }

    #[track_caller]
    fn schedule_point(&self, what: &'static str) {
        crate::check::op(
            what,
            crate::wait::Object::new("Thread", Arc::as_ptr(&self.meta), None),
            std::panic::Location::caller(),
        );
    }

    fn refuse_self_join(&self) {
        assert!(
            !self.meta.is_current(),
            "thread '{}' tried to join itself, which would wait forever",
            self.meta.name
        );
    }

    fn take(self) -> Result<T, JoinError> {
        self.packet
            .lock()
            .take()
            .expect("a finished thread leaves its result, and only join takes it")
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("thread", &self.meta)
            .finish_non_exhaustive()
    }
}

/// How a joined thread ended when it did not return: it panicked.
///
/// Carries the thread's name, the panic message (the payload if it was a `&str` or a
/// `String`, otherwise `"<non-string panic payload>"`) and the payload itself, for
/// [`std::panic::resume_unwind`].
///
/// ```
/// use heddle::thread::Thread;
///
/// let err = Thread::new(|| panic!("disk {} full", 3))
///     .name("writer")
///     .start()
///     .join()
///     .unwrap_err();
/// assert_eq!(err.thread_name(), "writer");
/// assert_eq!(err.message(), "disk 3 full");
/// assert_eq!(err.to_string(), "thread 'writer' panicked: disk 3 full");
/// ```
pub struct JoinError {
    thread_name: Box<str>,
    message: String,
    /// In a lock only so that `JoinError` is `Sync` (and fits `Box<dyn Error + Send +
    /// Sync>`): the payload itself need not be.
    payload: Mutex<Box<dyn Any + Send + 'static>>,
}

impl JoinError {
    pub(super) fn new(thread_name: &str, payload: Box<dyn Any + Send + 'static>) -> Self {
        let message =
            if let Some(report) = payload.downcast_ref::<crate::deadlock::DeadlockReport>() {
                report.to_string()
            } else if let Some(s) = payload.downcast_ref::<&'static str>() {
                (*s).to_owned()
            } else if let Some(s) = payload.downcast_ref::<String>() {
                s.clone()
            } else {
                "<non-string panic payload>".to_owned()
            };
        JoinError {
            thread_name: thread_name.into(),
            message,
            payload: Mutex::new(payload),
        }
    }

    /// The name of the thread that panicked.
    ///
    /// ```
    /// use heddle::thread::Thread;
    ///
    /// let err = Thread::new(|| panic!()).name("n").start().join().unwrap_err();
    /// assert_eq!(err.thread_name(), "n");
    /// ```
    pub fn thread_name(&self) -> &str {
        &self.thread_name
    }

    /// The panic message, or `"<non-string panic payload>"`.
    ///
    /// ```
    /// use heddle::thread::Thread;
    ///
    /// let err = Thread::new(|| std::panic::panic_any(7)).start().join().unwrap_err();
    /// assert_eq!(err.message(), "<non-string panic payload>");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The panic payload, to inspect it or to continue the panic in the joiner with
    /// [`std::panic::resume_unwind`].
    ///
    /// ```
    /// use heddle::thread::Thread;
    ///
    /// let err = Thread::new(|| std::panic::panic_any(7)).start().join().unwrap_err();
    /// assert_eq!(err.into_panic().downcast_ref::<i32>(), Some(&7));
    /// ```
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.payload.into_inner()
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinError")
            .field("thread_name", &self.thread_name)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "thread '{}' panicked: {}",
            self.thread_name, self.message
        )
    }
}

impl Error for JoinError {}

/// Why [`JoinHandle::join_timeout`] returned without a value.
///
/// ```
/// use heddle::thread::{JoinTimeoutError, Thread};
/// use std::time::Duration;
///
/// let handle = Thread::new(|| panic!("bad input")).start();
/// match handle.join_timeout(Duration::from_secs(60)) {
///     Err(JoinTimeoutError::Panicked(err)) => assert_eq!(err.message(), "bad input"),
///     Err(JoinTimeoutError::TimedOut(_)) => unreachable!("it panics at once"),
///     Ok(()) => unreachable!("it panics"),
/// }
/// ```
pub enum JoinTimeoutError<T> {
    /// The thread was still running at the deadline; here is its handle back.
    TimedOut(JoinHandle<T>),
    /// The thread finished by panicking.
    Panicked(JoinError),
}

impl<T> fmt::Debug for JoinTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinTimeoutError::TimedOut(handle) => f.debug_tuple("TimedOut").field(handle).finish(),
            JoinTimeoutError::Panicked(err) => f.debug_tuple("Panicked").field(err).finish(),
        }
    }
}

impl<T> fmt::Display for JoinTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinTimeoutError::TimedOut(handle) => write!(
                f,
                "thread '{}' was still running when the join timed out",
                handle.name()
            ),
            JoinTimeoutError::Panicked(err) => err.fmt(f),
        }
    }
}

// No `source`: `Panicked` displays its `JoinError` already, and reporting it again as
// the source would print the panic twice in an error chain.
impl<T> Error for JoinTimeoutError<T> {}
