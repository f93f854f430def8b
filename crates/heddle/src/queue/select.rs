//! [`Select`]: wait until one of several queue operations can proceed.
//!
//! The engine, like crossbeam-channel's, in one place: each registered operation can be
//! *tried* without blocking; a round tries them all starting from a rotating index; if
//! none is ready, the selecting thread registers one [`Signal`] with every queue side it
//! watches, tries once more (so an item that arrived during registration is not
//! missed), and sleeps on the signal in the seam until any of those sides is notified
//! or the deadline passes. Then it withdraws and starts another round.
//!
//! * A **get** is completed during the round (the item is taken then), so the
//!   [`Selected`] it returns already holds the item: nothing can steal it between the
//!   selection and [`Selected::get`].
//! * A **put** is selected when the queue has room (or, for a rendezvous, a getter is
//!   asleep, or the queue is shut down); the item is given in [`Selected::put`], which
//!   puts without blocking. If another producer took the room in between, the item
//!   comes back in [`TryPutError::Full`] and the caller can select again; with a single
//!   producer per queue that cannot happen.
//! * **Fairness**: a round starts at the operation after the one chosen last time, so
//!   operations that are ready together are chosen in turn (round-robin): none starves.
//!   The policy is deterministic: the same readiness gives the same choice.
//! * **Shutdown** makes an operation ready: a get on a shut-down, drained queue
//!   completes with [`GetError`], a put with [`TryPutError::ShutDown`].
//! * A select never registers as a getter or putter itself, so a rendezvous needs a
//!   plain (blocking or async) `put` or `get` on the other side: two selects on the two
//!   ends of one rendezvous queue never meet.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::{GetError, SelectTimeoutError, TryGetError, TryPutError, TrySelectError};
use super::side::{Side, Signal};
use super::{Queue, Shared};
use crate::wait::deadline_after;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Get,
    Put,
}

/// A queue as the engine sees it, whatever its item type.
trait Selectable {
    /// Take an item if one is there: `Some(Box<Result<T, GetError>>)`.
    fn try_take(&self) -> Option<Box<dyn Any>>;
    /// Whether a put could proceed now (or fail at once because of shutdown).
    fn can_put(&self) -> bool;
    fn side(&self, kind: Kind) -> &Side;
    fn id(&self) -> *const ();
}

impl<T: 'static> Selectable for Shared<T> {
    fn try_take(&self) -> Option<Box<dyn Any>> {
        match self.try_get() {
            Ok(item) => Some(Box::new(Ok::<T, GetError>(item))),
            Err(TryGetError::ShutDown) => Some(Box::new(Err::<T, GetError>(GetError))),
            Err(TryGetError::Empty) => None,
        }
    }

    fn can_put(&self) -> bool {
        !self.put_blocked()
    }

    fn side(&self, kind: Kind) -> &Side {
        match kind {
            Kind::Get => &self.getters,
            Kind::Put => &self.putters,
        }
    }

    fn id(&self) -> *const () {
        self as *const Self as *const ()
    }
}

struct Operation<'a> {
    kind: Kind,
    queue: &'a dyn Selectable,
}

/// Waits on several queue operations at once and completes the first that is ready.
///
/// * A **get** is completed during the selection (the item is taken then), so the
///   [`Selected`] returned already holds the item: nothing can take it between the
///   selection and [`Selected::get`].
/// * A **put** is selected when the queue has room (for a rendezvous: a thread is
///   blocked in `get`), or is shut down; the item is given to [`Selected::put`], which
///   puts without blocking. If another producer took the room in between, the item
///   comes back in [`TryPutError::Full`] and you can select again; with one producer
///   per queue that cannot happen.
/// * **Fairness**, deterministic: each selection starts at the operation after the one
///   chosen last time, so operations that are ready together are chosen in turn
///   (round-robin) and none starves.
/// * **Timeouts**: [`select_timeout`](Self::select_timeout) and
///   [`select_deadline`](Self::select_deadline) give up at the deadline;
///   [`try_select`](Self::try_select) never blocks. No spurious returns.
/// * **Shutdown** makes an operation ready: a get on a shut-down, drained queue
///   completes with [`GetError`], a put with [`TryPutError::ShutDown`].
/// * A select is not itself a getter or putter that a rendezvous partner can meet: the
///   other side of a rendezvous must be a plain `put`/`get` (blocking or async).
/// * Waiting goes through heddle's seam like every other blocking call.
///
/// Register operations with [`get`](Self::get) and [`put`](Self::put) (each returns its
/// index), then call [`select`](Self::select), [`try_select`](Self::try_select) or
/// [`select_timeout`](Self::select_timeout) as many times as needed: the rotation that
/// makes selection fair lives in the `Select`, so reuse it in a loop.
///
/// ```
/// use heddle::queue::{Queue, Select};
///
/// let jobs = Queue::unbounded();
/// let control = Queue::unbounded();
/// jobs.put(1).unwrap();
/// jobs.put(2).unwrap();
/// control.put("stop").unwrap();
///
/// let mut sel = Select::new();
/// let j = sel.get(&jobs);
/// let c = sel.get(&control);
/// let mut seen = Vec::new();
/// loop {
///     let op = sel.select();
///     if op.index() == j {
///         seen.push(op.get(&jobs).unwrap());
///     } else {
///         assert_eq!(op.index(), c);
///         assert_eq!(op.get(&control), Ok("stop"));
///         break;
///     }
/// }
/// // Round-robin: the job queue went first, then the control queue had its turn.
/// assert_eq!(seen, [1]);
/// ```
pub struct Select<'a> {
    operations: Vec<Option<Operation<'a>>>,
    /// Where the next round starts.
    next: usize,
    signal: Option<Arc<Signal>>,
}

impl Default for Select<'_> {
    fn default() -> Self {
        Select::new()
    }
}

impl<'a> Select<'a> {
    /// A select with no operations.
    ///
    /// ```
    /// let sel = heddle::queue::Select::new();
    /// # drop(sel);
    /// ```
    pub fn new() -> Self {
        Select {
            operations: Vec::new(),
            next: 0,
            signal: None,
        }
    }

    /// Add a get on `queue`; returns the operation's index. A queue may appear in
    /// several operations.
    ///
    /// ```
    /// let q = heddle::queue::Queue::<u8>::unbounded();
    /// let mut sel = heddle::queue::Select::new();
    /// assert_eq!(sel.get(&q), 0);
    /// assert_eq!(sel.get(&q), 1);
    /// ```
    pub fn get<T: 'static>(&mut self, queue: &'a Queue<T>) -> usize {
        self.add(Kind::Get, &*queue.shared)
    }

    /// Add a put on `queue` (ready when it has room); returns the operation's index.
    /// Complete it with [`Selected::put`].
    ///
    /// ```
    /// use heddle::queue::{Queue, Select};
    /// let q = Queue::bounded(1);
    /// let mut sel = Select::new();
    /// let p = sel.put(&q);
    /// let op = sel.select();
    /// assert_eq!(op.index(), p);
    /// op.put(&q, "item").unwrap();
    /// assert_eq!(q.get(), Ok("item"));
    /// ```
    pub fn put<T: 'static>(&mut self, queue: &'a Queue<T>) -> usize {
        self.add(Kind::Put, &*queue.shared)
    }

    fn add(&mut self, kind: Kind, queue: &'a dyn Selectable) -> usize {
        self.operations.push(Some(Operation { kind, queue }));
        self.operations.len() - 1
    }

    /// Remove the operation at `index` (for example a queue that was shut down); other
    /// indices stay valid.
    ///
    /// # Panics
    ///
    /// If `index` was never returned or was already removed.
    ///
    /// ```
    /// use heddle::queue::{Queue, Select};
    /// let (a, b) = (Queue::unbounded(), Queue::unbounded());
    /// b.put(2).unwrap();
    /// let mut sel = Select::new();
    /// let ia = sel.get(&a);
    /// let ib = sel.get(&b);
    /// a.put(1).unwrap();
    /// sel.remove(ia);
    /// assert_eq!(sel.select().index(), ib);
    /// ```
    pub fn remove(&mut self, index: usize) {
        let slot = self
            .operations
            .get_mut(index)
            .unwrap_or_else(|| panic!("Select::remove({index}): no such operation"));
        assert!(
            slot.take().is_some(),
            "Select::remove({index}): operation already removed"
        );
    }

    /// Wait until an operation is ready and complete it (a get takes its item).
    ///
    /// # Panics
    ///
    /// If there are no operations (it would wait forever).
    ///
    /// ```
    /// use heddle::queue::{Queue, Select};
    /// let q = Queue::unbounded();
    /// let producer = q.clone();
    /// std::thread::spawn(move || producer.put(42).unwrap());
    /// let mut sel = Select::new();
    /// sel.get(&q);
    /// assert_eq!(sel.select().get(&q), Ok(42));
    /// ```
    pub fn select(&mut self) -> Selected<'a> {
        assert!(
            self.operations.iter().any(Option::is_some),
            "Select::select with no operations would wait forever"
        );
        self.run(true, None)
            .expect("a select without a deadline does not time out")
    }

    /// Complete an operation that is ready now, without waiting.
    ///
    /// ```
    /// use heddle::queue::{Queue, Select};
    /// let q = Queue::unbounded();
    /// let mut sel = Select::new();
    /// sel.get(&q);
    /// assert!(sel.try_select().is_err());
    /// q.put(1).unwrap();
    /// assert_eq!(sel.try_select().unwrap().get(&q), Ok(1));
    /// ```
    pub fn try_select(&mut self) -> Result<Selected<'a>, TrySelectError> {
        self.run(false, None).ok_or(TrySelectError)
    }

    /// Like [`select`](Self::select), waiting at most `timeout`.
    ///
    /// ```
    /// use heddle::queue::{Queue, Select};
    /// use std::time::Duration;
    /// let q = Queue::<u8>::unbounded();
    /// let mut sel = Select::new();
    /// sel.get(&q);
    /// assert!(sel.select_timeout(Duration::from_millis(2)).is_err());
    /// ```
    pub fn select_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Selected<'a>, SelectTimeoutError> {
        self.select_deadline(deadline_after(timeout))
    }

    /// Like [`select`](Self::select), waiting until `deadline` at most (`None`: no
    /// limit).
    ///
    /// ```
    /// use heddle::queue::{Queue, Select};
    /// use std::time::{Duration, Instant};
    /// let q = Queue::<u8>::unbounded();
    /// let mut sel = Select::new();
    /// sel.get(&q);
    /// let deadline = Instant::now() + Duration::from_millis(2);
    /// assert!(sel.select_deadline(Some(deadline)).is_err());
    /// ```
    pub fn select_deadline(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Selected<'a>, SelectTimeoutError> {
        self.run(true, deadline).ok_or(SelectTimeoutError)
    }

    /// One pass over the operations from the rotating start.
    fn try_round(&mut self) -> Option<Selected<'a>> {
        let n = self.operations.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            let Some(op) = &self.operations[i] else {
                continue;
            };
            let got = match op.kind {
                Kind::Get => match op.queue.try_take() {
                    Some(got) => Some(got),
                    None => continue,
                },
                Kind::Put if op.queue.can_put() => None,
                Kind::Put => continue,
            };
            self.next = i + 1;
            return Some(Selected {
                index: i,
                kind: op.kind,
                queue: op.queue.id(),
                got,
                _queue: std::marker::PhantomData,
            });
        }
        None
    }

    fn run(&mut self, block: bool, deadline: Option<Instant>) -> Option<Selected<'a>> {
        if let Some(selected) = self.try_round() {
            return Some(selected);
        }
        if !block {
            return None;
        }
        let signal = Arc::clone(self.signal.get_or_insert_with(|| Arc::new(Signal::new())));
        loop {
            signal.reset();
            for op in self.operations.iter().flatten() {
                op.queue.side(op.kind).watch(&signal);
            }
            // Registered: anything that happens from now on fires the signal. Try again
            // for what happened before.
            let ready = self.try_round();
            let fired = ready.is_some() || signal.wait(deadline);
            for op in self.operations.iter().flatten() {
                op.queue.side(op.kind).unwatch(&signal);
            }
            if ready.is_some() {
                return ready;
            }
            if let Some(selected) = self.try_round() {
                return Some(selected);
            }
            if !fired {
                return None;
            }
        }
    }
}

impl fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ops: Vec<_> = self
            .operations
            .iter()
            .map(|op| op.as_ref().map(|op| op.kind))
            .collect();
        f.debug_struct("Select")
            .field("operations", &ops)
            .field("next", &self.next)
            .finish()
    }
}

/// The operation a [`Select`] chose. Complete it with [`get`](Self::get) or
/// [`put`](Self::put) on the queue it was registered with.
///
/// A selected get already holds its item: dropping the `Selected` without calling
/// [`get`](Self::get) drops that item.
///
/// ```
/// use heddle::queue::{Queue, Select};
/// let q = Queue::unbounded();
/// q.put("x").unwrap();
/// let mut sel = Select::new();
/// let i = sel.get(&q);
/// let op = sel.select();
/// assert_eq!(op.index(), i);
/// assert_eq!(op.get(&q), Ok("x"));
/// ```
#[must_use = "a selected get holds its item until `get` is called"]
pub struct Selected<'a> {
    index: usize,
    kind: Kind,
    queue: *const (),
    got: Option<Box<dyn Any>>,
    _queue: std::marker::PhantomData<&'a ()>,
}

impl Selected<'_> {
    /// The index of the chosen operation, as returned when it was registered.
    ///
    /// ```
    /// use heddle::queue::{Queue, Select};
    /// let (a, b) = (Queue::<u8>::unbounded(), Queue::unbounded());
    /// b.put(1).unwrap();
    /// let mut sel = Select::new();
    /// sel.get(&a);
    /// let ib = sel.get(&b);
    /// let op = sel.select();
    /// assert_eq!(op.index(), ib);
    /// # op.get(&b).unwrap();
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// Complete a selected get: the item taken, or [`GetError`] if the queue was shut
    /// down and drained.
    ///
    /// # Panics
    ///
    /// If the chosen operation is not a get on `queue`.
    ///
    /// ```
    /// use heddle::queue::{Queue, Select};
    /// let q = Queue::<u8>::unbounded();
    /// q.shutdown(false);
    /// let mut sel = Select::new();
    /// sel.get(&q);
    /// assert!(sel.select().get(&q).is_err()); // shutdown makes a get ready
    /// ```
    pub fn get<T: 'static>(self, queue: &Queue<T>) -> Result<T, GetError> {
        assert!(
            self.kind == Kind::Get && std::ptr::eq(self.queue, queue.shared.id()),
            "Selected::get: operation {} is not a get on this queue",
            self.index
        );
        let got = self.got.expect("a selected get holds its outcome");
        *got.downcast::<Result<T, GetError>>()
            .expect("same queue, same item type")
    }

    /// Complete a selected put without blocking.
    ///
    /// # Errors
    ///
    /// [`TryPutError::ShutDown`] if the queue was shut down; [`TryPutError::Full`] if
    /// another producer took the room since the selection (select again).
    ///
    /// # Panics
    ///
    /// If the chosen operation is not a put on `queue`.
    ///
    /// ```
    /// use heddle::queue::{Queue, Select};
    /// let q = Queue::bounded(1);
    /// let mut sel = Select::new();
    /// sel.put(&q);
    /// sel.select().put(&q, 5).unwrap();
    /// assert_eq!(q.try_get(), Ok(5));
    /// ```
    pub fn put<T: 'static>(self, queue: &Queue<T>, item: T) -> Result<(), TryPutError<T>> {
        assert!(
            self.kind == Kind::Put && std::ptr::eq(self.queue, queue.shared.id()),
            "Selected::put: operation {} is not a put on this queue",
            self.index
        );
        queue.try_put(item)
    }
}

impl fmt::Debug for Selected<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Selected")
            .field("index", &self.index)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}
