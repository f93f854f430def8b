//! The queue's typed errors. Every error of a `put` gives the item back.

use std::error::Error;
use std::fmt;

/// A blocking [`put`](super::Queue::put) failed because the queue was shut down; the
/// item is returned inside (Python's `queue.ShutDown`).
///
/// ```
/// use heddle::queue::{PutError, Queue};
///
/// let q = Queue::unbounded();
/// q.shutdown(false);
/// let PutError(item) = q.put("late").unwrap_err();
/// assert_eq!(item, "late");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PutError<T>(pub T);

impl<T> PutError<T> {
    /// The item that was not put.
    ///
    /// ```
    /// let q = heddle::queue::Queue::bounded(1);
    /// q.shutdown(false);
    /// assert_eq!(q.put(7).unwrap_err().into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// Why [`try_put`](super::Queue::try_put) did not put; the item is returned inside.
///
/// ```
/// use heddle::queue::{Queue, TryPutError};
///
/// let q = Queue::bounded(1);
/// q.try_put(1).unwrap();
/// assert_eq!(q.try_put(2), Err(TryPutError::Full(2)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TryPutError<T> {
    /// No room right now (Python's `queue.Full`). For a rendezvous queue: no thread is
    /// blocked in `get` to take the item.
    Full(T),
    /// The queue was shut down (Python's `queue.ShutDown`).
    ShutDown(T),
}

impl<T> TryPutError<T> {
    /// The item that was not put.
    ///
    /// ```
    /// let q = heddle::queue::Queue::bounded(0);
    /// assert_eq!(q.try_put('x').unwrap_err().into_inner(), 'x');
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(t) | TryPutError::ShutDown(t) => t,
        }
    }

    /// Whether the queue was full (rather than shut down).
    ///
    /// ```
    /// let q = heddle::queue::Queue::bounded(0);
    /// assert!(q.try_put(1).unwrap_err().is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, TryPutError::Full(_))
    }

    /// Whether the queue was shut down.
    ///
    /// ```
    /// let q = heddle::queue::Queue::unbounded();
    /// q.shutdown(false);
    /// assert!(q.try_put(1).unwrap_err().is_shut_down());
    /// ```
    pub fn is_shut_down(&self) -> bool {
        matches!(self, TryPutError::ShutDown(_))
    }
}

/// Why [`put_timeout`](super::Queue::put_timeout) did not put; the item is returned
/// inside.
///
/// ```
/// use heddle::queue::{PutTimeoutError, Queue};
/// use std::time::Duration;
///
/// let q = Queue::bounded(1);
/// q.put(1).unwrap();
/// let err = q.put_timeout(2, Duration::from_millis(1)).unwrap_err();
/// assert_eq!(err, PutTimeoutError::Timeout(2));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PutTimeoutError<T> {
    /// No room before the timeout (Python's `queue.Full` after `put(timeout=...)`).
    Timeout(T),
    /// The queue was shut down.
    ShutDown(T),
}

impl<T> PutTimeoutError<T> {
    /// The item that was not put.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = heddle::queue::Queue::bounded(0);
    /// let err = q.put_timeout("x", Duration::ZERO).unwrap_err();
    /// assert_eq!(err.into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            PutTimeoutError::Timeout(t) | PutTimeoutError::ShutDown(t) => t,
        }
    }

    /// Whether the timeout elapsed (rather than the queue being shut down).
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = heddle::queue::Queue::bounded(0);
    /// assert!(q.put_timeout(1, Duration::ZERO).unwrap_err().is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, PutTimeoutError::Timeout(_))
    }
}

/// A blocking [`get`](super::Queue::get) failed: the queue is shut down and holds no
/// more items (Python's `queue.ShutDown`).
///
/// ```
/// use heddle::queue::{GetError, Queue};
///
/// let q = Queue::<u8>::unbounded();
/// q.shutdown(false);
/// assert_eq!(q.get(), Err(GetError));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GetError;

/// Why [`try_get`](super::Queue::try_get) returned no item.
///
/// ```
/// use heddle::queue::{Queue, TryGetError};
///
/// let q = Queue::<u8>::unbounded();
/// assert_eq!(q.try_get(), Err(TryGetError::Empty));
/// q.shutdown(false);
/// assert_eq!(q.try_get(), Err(TryGetError::ShutDown));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TryGetError {
    /// No item right now (Python's `queue.Empty`). For a rendezvous queue: no put is
    /// waiting.
    Empty,
    /// The queue is shut down and drained.
    ShutDown,
}

/// Why [`get_timeout`](super::Queue::get_timeout) returned no item.
///
/// ```
/// use heddle::queue::{GetTimeoutError, Queue};
/// use std::time::Duration;
///
/// let q = Queue::<u8>::bounded(4);
/// assert_eq!(q.get_timeout(Duration::from_millis(1)), Err(GetTimeoutError::Timeout));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GetTimeoutError {
    /// No item before the timeout (Python's `queue.Empty` after `get(timeout=...)`).
    Timeout,
    /// The queue is shut down and drained.
    ShutDown,
}

/// [`task_done`](super::Queue::task_done) was called more times than items were got.
///
/// ```
/// let q = heddle::queue::Queue::<u8>::unbounded();
/// assert_eq!(q.task_done(), Err(heddle::queue::TaskDoneError));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskDoneError;

/// [`Select::try_select`](super::Select::try_select) found no operation ready.
///
/// ```
/// use heddle::queue::{Queue, Select, TrySelectError};
///
/// let q = Queue::<u8>::unbounded();
/// let mut sel = Select::new();
/// sel.get(&q);
/// assert_eq!(sel.try_select().err(), Some(TrySelectError));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrySelectError;

/// [`Select::select_timeout`](super::Select::select_timeout) found no operation ready
/// before the timeout.
///
/// ```
/// use heddle::queue::{Queue, Select, SelectTimeoutError};
/// use std::time::Duration;
///
/// let q = Queue::<u8>::unbounded();
/// let mut sel = Select::new();
/// sel.get(&q);
/// assert_eq!(sel.select_timeout(Duration::from_millis(1)).err(), Some(SelectTimeoutError));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SelectTimeoutError;

// ----------------------------------------------------------------------------------
// Debug (never requires `T: Debug`: the item may be anything) and Display.

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PutError(..)")
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("Full(..)"),
            TryPutError::ShutDown(_) => f.write_str("ShutDown(..)"),
        }
    }
}

impl<T> fmt::Debug for PutTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutTimeoutError::Timeout(_) => f.write_str("Timeout(..)"),
            PutTimeoutError::ShutDown(_) => f.write_str("ShutDown(..)"),
        }
    }
}

const SHUT_PUT: &str = "put on a shut-down queue (the item is returned inside the error; \
                        nothing more can be put after Queue::shutdown)";

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SHUT_PUT)
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str(
                "the queue is full (the item is returned inside the error; use put or \
                 put_timeout to wait for room, or a larger capacity)",
            ),
            TryPutError::ShutDown(_) => f.write_str(SHUT_PUT),
        }
    }
}

impl<T> fmt::Display for PutTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutTimeoutError::Timeout(_) => f.write_str(
                "timed out waiting for room in the queue (the item is returned inside \
                 the error; are the consumers running?)",
            ),
            PutTimeoutError::ShutDown(_) => f.write_str(SHUT_PUT),
        }
    }
}

const SHUT_GET: &str = "the queue is shut down and every item has been got (no more items \
                        will come: stop consuming)";

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SHUT_GET)
    }
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryGetError::Empty => {
                f.write_str("the queue is empty (use get or get_timeout to wait for an item)")
            }
            TryGetError::ShutDown => f.write_str(SHUT_GET),
        }
    }
}

impl fmt::Display for GetTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetTimeoutError::Timeout => {
                f.write_str("timed out waiting for an item (are the producers running?)")
            }
            GetTimeoutError::ShutDown => f.write_str(SHUT_GET),
        }
    }
}

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "task_done() called more times than items were got from the queue (call it \
             once per item got, after processing it)",
        )
    }
}

impl fmt::Display for TrySelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no selected operation is ready (use select or select_timeout to wait)")
    }
}

impl fmt::Display for SelectTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timed out waiting for a selected operation to become ready")
    }
}

impl<T> Error for PutError<T> {}
impl<T> Error for TryPutError<T> {}
impl<T> Error for PutTimeoutError<T> {}
impl Error for GetError {}
impl Error for TryGetError {}
impl Error for GetTimeoutError {}
impl Error for TaskDoneError {}
impl Error for TrySelectError {}
impl Error for SelectTimeoutError {}

impl<T> From<PutError<T>> for TryPutError<T> {
    fn from(e: PutError<T>) -> Self {
        TryPutError::ShutDown(e.0)
    }
}

impl<T> From<PutError<T>> for PutTimeoutError<T> {
    fn from(e: PutError<T>) -> Self {
        PutTimeoutError::ShutDown(e.0)
    }
}

impl From<GetError> for TryGetError {
    fn from(_: GetError) -> Self {
        TryGetError::ShutDown
    }
}

impl From<GetError> for GetTimeoutError {
    fn from(_: GetError) -> Self {
        GetTimeoutError::ShutDown
    }
}
