//! Synchronized queues: Python's `queue` module (`Queue`, `LifoQueue`,
//! `PriorityQueue`, `SimpleQueue`) as one cheap, clonable handle, [`Queue<T>`], plus
//! a rendezvous flavour, [`Select`] over several queues, and futures for async code.
//!
//! | Python | heddle |
//! | --- | --- |
//! | `Queue()`, `SimpleQueue()` | [`Queue::unbounded`] |
//! | `Queue(maxsize=n)` | [`Queue::bounded(n)`](Queue::bounded) |
//! | (Go's unbuffered channel) | [`Queue::bounded(0)`](Queue::bounded): a rendezvous |
//! | `LifoQueue(maxsize)` | [`Queue::lifo`] |
//! | `PriorityQueue(maxsize)` | [`Queue::priority`] (`T: Ord`, smallest first) |
//! | `put(item)`, `put(item, timeout=t)`, `put_nowait(item)` | [`put`](Queue::put), [`put_timeout`](Queue::put_timeout), [`try_put`](Queue::try_put) |
//! | `get()`, `get(timeout=t)`, `get_nowait()` | [`get`](Queue::get), [`get_timeout`](Queue::get_timeout), [`try_get`](Queue::try_get) |
//! | `qsize()`, `empty()`, `full()`, `maxsize` | [`qsize`](Queue::qsize), [`is_empty`](Queue::is_empty), [`is_full`](Queue::is_full), [`capacity`](Queue::capacity) |
//! | `task_done()`, `join()` | [`task_done`](Queue::task_done), [`join`](Queue::join), [`join_timeout`](Queue::join_timeout) |
//! | `shutdown(immediate)` (3.13) | [`shutdown`](Queue::shutdown), which also returns what it discarded |
//! | `Full`, `Empty`, `ShutDown` | [`TryPutError::Full`], [`TryGetError::Empty`], [`PutError`] / [`GetError`] |
//! | `asyncio.Queue` | [`put_async`](Queue::put_async), [`get_async`](Queue::get_async), [`join_async`](Queue::join_async) on the same queue |
//!
//! ```
//! use heddle::queue::Queue;
//! use heddle::thread::Thread;
//!
//! let jobs = Queue::bounded(16);
//! let workers: Vec<_> = (0..4)
//!     .map(|_| {
//!         let jobs = jobs.clone();
//!         Thread::new(move || {
//!             let mut sum = 0u64;
//!             while let Ok(n) = jobs.get() {
//!                 sum += n;
//!                 jobs.task_done().unwrap();
//!             }
//!             sum // `get` fails once the queue is shut down and drained
//!         })
//!         .start()
//!     })
//!     .collect();
//! for n in 1..=100u64 {
//!     jobs.put(n).unwrap();
//! }
//! jobs.join(); // every item put has been marked done
//! jobs.shutdown(false);
//! let total: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
//! assert_eq!(total, 5050);
//! ```
//!
//! # Flavours and their cores
//!
//! A file per flavour, as in crossbeam-channel:
//!
//! * `bounded(n)`, `n > 0`: a lock-free ring of `n` sequence-stamped slots (Vyukov's
//!   bounded MPMC queue), allocated up front, as long as the ring takes at most
//!   64 MiB; a larger capacity (`bounded(1 << 40)`) gets a FIFO
//!   under a short mutex that allocates as it fills, so any capacity works and costs
//!   memory only for the items held;
//! * `unbounded()`: a lock-free linked list of 30-slot blocks, allocated as it grows
//!   (the last block drained is kept for the next one needed);
//! * `bounded(0)`: a rendezvous, no buffer: each item passes from a putter to a getter
//!   under the seam's waiter-list lock;
//! * `lifo`, `priority`: a stack or a binary heap under a short mutex.
//!
//! # Guarantees
//!
//! * **Ordering**: FIFO flavours return items in the order their puts took effect
//!   (linearizable: a put that returned before another began comes out first); LIFO
//!   returns the most recent item; priority returns the smallest, ties in put order.
//!   Across several producers there is no order between items of concurrent puts.
//! * **Exactly once**: every item put is returned by exactly one get, or returned by
//!   [`shutdown(true)`](Queue::shutdown), or dropped with the queue's last handle.
//! * **Fast paths**: a put or get that need not wait is a few atomic operations (FIFO) or
//!   one short critical section (LIFO, priority) and touches the seam only if someone
//!   may be waiting (one load says so). `task_done` and `join` cost nothing unless used:
//!   the counts of items put and got are read off the cores' indices.
//! * **Blocking**: every wait spins briefly, then sleeps in heddle's wait seam (so the
//!   deadlock detector and the checker see it); no condition variable, no busy loop.
//!   A blocking `put` (or `put_timeout`) that finds a `bounded(n)` queue full first
//!   waits, once per call and a few microseconds at most, for a batch of slots to free
//!   (n/16, at most 32) rather than refilling each slot the moment it frees: producer
//!   and consumer then work on different cache lines (measured 1.3-2x faster for a
//!   queue kept full). Only that producer waits: the queue still holds nearly `n` items
//!   ahead of its item.
//! * **Fairness**: sleepers are woken in FIFO order, one per item (or per free slot), but
//!   a caller arriving at that moment may take the item first (barging), as in Python.
//!   [`Select`] starts a fresh selection at a random operation and then rotates, so a
//!   ready queue is never starved by another. On a rendezvous a select meets a plain
//!   `put`/`get` or another select, reserving its partner (see [`Select`]).
//! * **Timeouts**: `*_timeout` give up at the deadline; `try_*` never block. A waiter
//!   woken just as its deadline passes still takes its item, and one that times out
//!   without an item hands nothing over: no item and no wake-up is lost. A zero timeout
//!   is a non-blocking attempt.
//! * **Spurious wake-ups**: none visible: `get` returns an item or an error, never "woke
//!   up for nothing".
//! * **Shutdown** (Python 3.13's semantics): after [`shutdown`](Queue::shutdown), every
//!   put fails with [`PutError`] holding the item; gets return what is left, then fail
//!   with [`GetError`]; every blocked caller wakes. `shutdown(true)` also discards what is
//!   left, counts it as done for `join`, and *returns it to the caller*: nothing put
//!   before the shutdown is lost silently. A put racing with `shutdown` either lands
//!   before it (and is got or returned) or fails with its item.
//! * **Panics**: queues do not poison. A panic in a thread holding no queue state (the
//!   usual case) changes nothing; a panic in `T: Ord` during a priority put or get
//!   reaches that caller and leaves every item in the queue (see `Queue::priority`).
//! * **Async and cancellation**: [`put_async`](Queue::put_async),
//!   [`get_async`](Queue::get_async) and [`join_async`](Queue::join_async) are futures
//!   that wait in the same seam as threads, on any executor. Dropping a pending future is
//!   safe: an item is only ever taken by a get that returns it in the same step, and a
//!   dropped future that had been woken passes the wake-up to the next waiter. Dropping a
//!   pending `put_async` drops the item it carried (it was never put), with one
//!   exception inherent to a rendezvous: there a getter completes the hand-off by taking
//!   the item of a *pending* put, so a put future dropped after that moment (say, by a
//!   timeout racing the getter) has delivered its item without reporting it.

mod array;
mod error;
mod future;
mod lifo;
mod list;
mod locked;
mod priority;
mod select;
mod side;
mod util;
mod zero;

#[cfg(all(test, loom))]
mod loom_tests;

use std::fmt;
use std::panic::{self, Location};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use error::{
    GetError, GetTimeoutError, PutError, PutTimeoutError, SelectTimeoutError, TaskDoneError,
    TryGetError, TryPutError, TrySelectError,
};
pub use future::{GetFuture, JoinFuture, PutFuture};
pub use select::{Select, Selected};

use array::Array;
use list::List;
use locked::{Locked, Store};
use side::Side;
use util::CachePadded;
use zero::Zero;

use crate::wait::{deadline_after, Object, SpinWait, WaitFor, WaitResult};

/// The most a `bounded(n)` ring may allocate up front; above it, the queue allocates as
/// it fills (see [`Queue::bounded`]).
const EAGER_RING_BYTES: usize = 64 << 20;

/// Whether `deadline` is still ahead (always, without one).
#[inline]
fn before(deadline: Option<Instant>) -> bool {
    deadline.is_none_or(|d| crate::wait::now() < d)
}

/// The storage behind a queue.
enum Core<T> {
    Array(Array<T>),
    List(List<T>),
    Zero(Zero<T>),
    Locked(Locked<T>),
}

/// What every handle of one queue shares.
struct Shared<T> {
    core: Core<T>,
    /// Waiting for an item.
    getters: CachePadded<Side>,
    /// Waiting for room (bounded flavours) or for a getter (rendezvous).
    putters: CachePadded<Side>,
    /// Waiting in `join`.
    joiners: Side,
    /// `task_done` calls, plus items discarded by `shutdown(true)`.
    done: AtomicU64,
    /// 0 open, 1 shut down, 2 shut down immediately.
    shutdown: AtomicU8,
    /// Where the queue was created (traces and deadlock reports name it so).
    site: &'static Location<'static>,
}

impl<T> Shared<T> {
    fn object(&self) -> Object {
        Object::new("Queue", self, Some(self.site))
    }

    /// A schedule point under the checker (which loom builds do not have).
    #[inline]
    fn op(&self, what: &'static str, at: &'static Location<'static>) {
        #[cfg(not(loom))]
        crate::check::op(what, self.object(), at);
        #[cfg(loom)]
        let _ = (what, at);
    }

    /// What a thread blocked in this queue waits for (deadlock reports).
    fn waiting(&self, what: &'static str, at: &'static Location<'static>) -> WaitFor {
        WaitFor {
            what,
            object: self.object(),
            at,
        }
    }

    fn new(core: Core<T>, site: &'static Location<'static>) -> Self {
        Shared {
            site,
            core,
            getters: CachePadded(Side::new()),
            putters: CachePadded(Side::new()),
            joiners: Side::new(),
            done: AtomicU64::new(0),
            shutdown: AtomicU8::new(0),
        }
    }

    // ---------------------------------------------------------------------------
    // Non-blocking operations.

    #[inline]
    fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        match &self.core {
            Core::Array(c) => c.try_put(item)?,
            Core::List(c) => c.try_put(item)?,
            Core::Zero(c) => return c.try_put(&self.getters, item),
            Core::Locked(c) => {
                if let Err(p) = c.try_put(item)? {
                    // The item is in; wake a getter before reporting the panic.
                    self.getters.notify_one();
                    panic::resume_unwind(p);
                }
            }
        }
        self.getters.notify_one();
        Ok(())
    }

    #[inline]
    fn try_get(&self) -> Result<T, TryGetError> {
        let item = match &self.core {
            Core::Array(c) => c.try_get()?,
            Core::Zero(c) => return c.try_get(&self.putters),
            // Puts on an unbounded list never wait, and a select's put on it is always
            // ready, so nobody can be watching for room: skip the putters' side.
            Core::List(c) => return c.try_get(),
            Core::Locked(c) => c.try_get()?.unwrap_or_else(|p| panic::resume_unwind(p)),
        };
        self.putters.notify_one();
        Ok(item)
    }

    /// Whether a get must wait (SeqCst reads, for the check under the seam's lock).
    fn get_blocked(&self) -> bool {
        match &self.core {
            Core::Array(c) => c.get_blocked(),
            Core::List(c) => c.get_blocked(),
            Core::Zero(c) => !self.putters.has_sleepers() && !c.is_shut(),
            Core::Locked(c) => c.get_blocked(),
        }
    }

    /// Whether a put must wait (not for the rendezvous, which has its own protocol).
    fn put_blocked(&self) -> bool {
        match &self.core {
            Core::Array(c) => c.put_blocked(),
            Core::List(_) => false,
            Core::Zero(c) => !self.getters.has_sleepers() && !c.is_shut(),
            Core::Locked(c) => c.put_blocked(),
        }
    }

    // ---------------------------------------------------------------------------
    // Blocking operations.

    #[track_caller]
    fn put_until(&self, item: T, deadline: Option<Instant>) -> Result<(), PutTimeoutError<T>> {
        let at = Location::caller();
        if let Core::Zero(z) = &self.core {
            return z.put_until(&self.getters, &self.putters, item, deadline);
        }
        let mut item = item;
        let mut spin = SpinWait::new();
        // Once per call, so the bound in `linger_for_room` is the call's bound.
        #[cfg(not(loom))]
        let mut lingered = false;
        loop {
            match self.try_put(item) {
                Ok(()) => return Ok(()),
                Err(TryPutError::ShutDown(x)) => return Err(PutTimeoutError::ShutDown(x)),
                Err(TryPutError::Full(x)) => item = x,
            }
            if !before(deadline) {
                return Err(PutTimeoutError::Timeout(item));
            }
            #[cfg(not(loom))]
            if let Core::Array(c) = &self.core {
                // Under the checker only one thread runs: nobody could free the room.
                if !lingered && !crate::check::active() {
                    lingered = true;
                    c.linger_for_room();
                    continue;
                }
            }
            if spin.spin() {
                continue;
            }
            if self.putters.wait(
                Some(&self.waiting("put", at)),
                0,
                || self.put_blocked(),
                || {},
                deadline,
            ) == WaitResult::TimedOut
            {
                // Room may have appeared just as the deadline passed: one last try.
                return self.try_put(item).map_err(|e| match e {
                    TryPutError::Full(x) => PutTimeoutError::Timeout(x),
                    TryPutError::ShutDown(x) => PutTimeoutError::ShutDown(x),
                });
            }
            spin.reset();
        }
    }

    #[track_caller]
    fn get_until(&self, deadline: Option<Instant>) -> Result<T, GetTimeoutError> {
        let at = Location::caller();
        if let Core::Zero(z) = &self.core {
            return z.get_until(&self.getters, &self.putters, deadline);
        }
        let mut spin = SpinWait::new();
        loop {
            match self.try_get() {
                Ok(item) => return Ok(item),
                Err(TryGetError::ShutDown) => return Err(GetTimeoutError::ShutDown),
                Err(TryGetError::Empty) => {}
            }
            if !before(deadline) {
                return Err(GetTimeoutError::Timeout);
            }
            if spin.spin() {
                continue;
            }
            if self.getters.wait(
                Some(&self.waiting("get", at)),
                0,
                || self.get_blocked(),
                || {},
                deadline,
            ) == WaitResult::TimedOut
            {
                return self.try_get().map_err(|e| match e {
                    TryGetError::Empty => GetTimeoutError::Timeout,
                    TryGetError::ShutDown => GetTimeoutError::ShutDown,
                });
            }
            spin.reset();
        }
    }

    // ---------------------------------------------------------------------------
    // Counts, tasks, shutdown.

    fn len(&self) -> usize {
        match &self.core {
            Core::Array(c) => c.len(),
            Core::List(c) => c.len(),
            Core::Zero(_) => 0,
            Core::Locked(c) => c.len(),
        }
    }

    fn capacity(&self) -> Option<usize> {
        match &self.core {
            Core::Array(c) => Some(c.capacity()),
            Core::List(_) => None,
            Core::Zero(_) => Some(0),
            Core::Locked(c) => c.capacity(),
        }
    }

    fn puts(&self) -> u64 {
        match &self.core {
            Core::Array(c) => c.puts(),
            Core::List(c) => c.puts(),
            Core::Zero(c) => c.transfers(),
            Core::Locked(c) => c.puts(),
        }
    }

    fn gets(&self) -> u64 {
        match &self.core {
            Core::Array(c) => c.gets(),
            Core::List(c) => c.gets(),
            Core::Zero(c) => c.transfers(),
            Core::Locked(c) => c.gets(),
        }
    }

    fn unfinished(&self) -> u64 {
        // `done` first: it never exceeds the gets, nor the gets the puts, so a later
        // read of the puts cannot be smaller.
        let done = self.done.load(SeqCst);
        self.puts().saturating_sub(done)
    }

    fn task_done(&self) -> Result<(), TaskDoneError> {
        let mut done = self.done.load(SeqCst);
        loop {
            if done >= self.gets() {
                return Err(TaskDoneError);
            }
            match self
                .done
                .compare_exchange_weak(done, done + 1, SeqCst, SeqCst)
            {
                Ok(_) => break,
                Err(d) => done = d,
            }
        }
        if self.joiners.has_sleepers() && self.unfinished() == 0 {
            self.joiners.notify_all();
        }
        Ok(())
    }

    #[track_caller]
    fn join_until(&self, deadline: Option<Instant>) -> bool {
        let at = Location::caller();
        loop {
            if self.unfinished() == 0 {
                return true;
            }
            let result = self.joiners.wait(
                Some(&self.waiting("join", at)),
                0,
                || self.unfinished() != 0,
                || {},
                deadline,
            );
            if result == WaitResult::TimedOut {
                return self.unfinished() == 0;
            }
        }
    }

    fn is_shutdown(&self) -> bool {
        self.shutdown.load(SeqCst) != 0
    }

    fn shutdown(&self, immediate: bool) -> Vec<T> {
        self.shutdown
            .fetch_max(if immediate { 2 } else { 1 }, SeqCst);
        let mut discarded = Vec::new();
        match &self.core {
            Core::Array(c) => {
                c.shut();
                if immediate {
                    while let Ok(item) = c.try_get() {
                        discarded.push(item);
                    }
                }
            }
            Core::List(c) => {
                c.shut();
                if immediate {
                    while let Ok(item) = c.try_get() {
                        discarded.push(item);
                    }
                }
            }
            Core::Zero(c) => {
                c.shut();
            }
            Core::Locked(c) => {
                if immediate {
                    discarded = c.shut_and_drain();
                } else {
                    c.shut();
                }
            }
        }
        if !discarded.is_empty() {
            self.done.fetch_add(discarded.len() as u64, SeqCst);
        }
        self.getters.notify_all();
        self.putters.notify_all();
        self.joiners.notify_all();
        discarded
    }

    fn kind(&self) -> &'static str {
        match &self.core {
            Core::Array(_) => "bounded",
            Core::List(_) => "unbounded",
            Core::Zero(_) => "rendezvous",
            Core::Locked(c) if c.is_priority() => "priority",
            Core::Locked(_) => "lifo",
        }
    }
}

/// A synchronized multi-producer, multi-consumer queue; see the [module docs](self) for
/// the flavours and guarantees.
///
/// `Queue` is a handle: [`clone`](Clone::clone) it to share the same queue between
/// threads and tasks (an `Arc` inside). The queue and any items still in it are dropped
/// with the last handle.
///
/// ```
/// use heddle::queue::Queue;
///
/// let q = Queue::bounded(2);
/// let producer = q.clone();
/// std::thread::spawn(move || {
///     for i in 0..5 {
///         producer.put(i).unwrap(); // waits while 2 items are queued
///     }
///     producer.shutdown(false);
/// });
/// let got: Vec<i32> = q.iter().collect(); // ends at shutdown, once drained
/// assert_eq!(got, [0, 1, 2, 3, 4]);
/// ```
pub struct Queue<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Default for Queue<T> {
    /// An unbounded FIFO queue.
    fn default() -> Self {
        Queue::unbounded()
    }
}

impl<T> Queue<T> {
    #[track_caller]
    fn with_core(core: Core<T>) -> Self {
        Queue {
            shared: Arc::new(Shared::new(core, Location::caller())),
        }
    }

    /// An unbounded FIFO queue (Python's `Queue()` and `SimpleQueue()`): `put` never
    /// waits.
    ///
    /// ```
    /// let q = heddle::queue::Queue::unbounded();
    /// for i in 0..1000 {
    ///     q.put(i).unwrap();
    /// }
    /// assert_eq!(q.qsize(), 1000);
    /// assert_eq!(q.get(), Ok(0));
    /// ```
    #[track_caller]
    pub fn unbounded() -> Self {
        Queue::with_core(Core::List(List::new()))
    }

    /// A FIFO queue holding at most `capacity` items (Python's `Queue(maxsize)`): `put`
    /// waits while it is full.
    ///
    /// Any capacity works. The slots of a lock-free ring are allocated up front when
    /// they take at most 64 MiB (four million slots of a word-sized `T`); a larger capacity, such as `bounded(1 << 40)` or `bounded(usize::MAX)`,
    /// gets a FIFO under a short mutex that allocates only as items arrive (like
    /// `unbounded`, with the bound kept exactly). Both behave alike; only their speed
    /// under contention differs.
    ///
    /// `bounded(0)` is a **rendezvous** (a handshake): nothing is stored; `put` waits
    /// until a `get` takes the item, and `get` until a `put` offers one.
    ///
    /// ```
    /// use heddle::queue::Queue;
    ///
    /// let q = Queue::bounded(1);
    /// q.put("a").unwrap();
    /// assert!(q.is_full());
    /// assert!(q.try_put("b").is_err());
    ///
    /// let handshake = Queue::bounded(0);
    /// let h = handshake.clone();
    /// let t = std::thread::spawn(move || h.put("hello")); // returns once taken
    /// assert_eq!(handshake.get(), Ok("hello"));
    /// t.join().unwrap().unwrap();
    /// ```
    #[track_caller]
    pub fn bounded(capacity: usize) -> Self {
        if capacity == 0 {
            Queue::with_core(Core::Zero(Zero::new()))
        } else if Array::<T>::bytes_for(capacity).is_some_and(|b| b <= EAGER_RING_BYTES) {
            Queue::with_core(Core::Array(Array::new(capacity)))
        } else {
            Queue::with_core(Core::Locked(Locked::new(
                Store::Fifo(std::collections::VecDeque::new()),
                Some(capacity),
            )))
        }
    }

    /// A LIFO queue (Python's `LifoQueue`): the most recently put item comes out first.
    /// `capacity` is `None` for unbounded, `Some(n)` to hold at most `n` items;
    /// `Some(0)` is the same rendezvous as [`Queue::bounded(0)`](Queue::bounded) (with
    /// nothing stored there is nothing to order).
    ///
    /// ```
    /// let stack = heddle::queue::Queue::lifo(None);
    /// for i in 1..=3 {
    ///     stack.put(i).unwrap();
    /// }
    /// assert_eq!(stack.get(), Ok(3));
    /// assert_eq!(stack.get(), Ok(2));
    /// ```
    #[track_caller]
    pub fn lifo(capacity: Option<usize>) -> Self {
        match capacity {
            Some(0) => Queue::bounded(0),
            cap => Queue::with_core(Core::Locked(Locked::new(
                Store::Lifo(lifo::Lifo::new()),
                cap,
            ))),
        }
    }

    /// A priority queue (Python's `PriorityQueue`): the smallest item by `Ord` comes out
    /// first, as with `heapq`; items that compare equal come out in the order they were
    /// put. Use `std::cmp::Reverse` for largest first, and a `(priority, item)` tuple to
    /// order by a key. `capacity` as in [`Queue::lifo`].
    ///
    /// If `Ord::cmp` panics, the panic reaches the caller of the `put` or `get` that ran
    /// it; no item is lost (a panicking put has still added its item, a panicking get has
    /// removed none), but the order of later gets is unspecified until the queue has been
    /// emptied.
    ///
    /// ```
    /// let q = heddle::queue::Queue::priority(None);
    /// q.put((2, "write")).unwrap();
    /// q.put((1, "read")).unwrap();
    /// q.put((3, "sleep")).unwrap();
    /// assert_eq!(q.get(), Ok((1, "read")));
    /// assert_eq!(q.get(), Ok((2, "write")));
    /// ```
    #[track_caller]
    pub fn priority(capacity: Option<usize>) -> Self
    where
        T: Ord,
    {
        match capacity {
            Some(0) => Queue::bounded(0),
            cap => Queue::with_core(Core::Locked(Locked::new(
                Store::Priority(priority::Priority::new(T::cmp)),
                cap,
            ))),
        }
    }

    /// Put `item`, waiting while the queue is full (for a rendezvous: until a getter has
    /// taken it). Fails only if the queue is shut down, giving the item back.
    ///
    /// ```
    /// let q = heddle::queue::Queue::unbounded();
    /// q.put(1).unwrap();
    /// q.shutdown(false);
    /// assert_eq!(q.put(2).unwrap_err().into_inner(), 2);
    /// ```
    #[inline]
    #[track_caller]
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.shared.op("put", Location::caller());
        match self.shared.try_put(item) {
            Ok(()) => Ok(()),
            Err(TryPutError::ShutDown(item)) => Err(PutError(item)),
            Err(TryPutError::Full(item)) => self
                .shared
                .put_until(item, None)
                .map_err(|e| PutError(e.into_inner())),
        }
    }

    /// Put `item` if that needs no waiting (Python's `put_nowait`). For a rendezvous:
    /// only if a thread is blocked in `get` right now.
    ///
    /// ```
    /// use heddle::queue::{Queue, TryPutError};
    /// let q = Queue::bounded(1);
    /// assert_eq!(q.try_put(1), Ok(()));
    /// assert_eq!(q.try_put(2), Err(TryPutError::Full(2)));
    /// ```
    #[inline]
    #[track_caller]
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        self.shared.op("try_put", Location::caller());
        self.shared.try_put(item)
    }

    /// Like [`put`](Self::put), waiting at most `timeout` (Python's
    /// `put(item, timeout=t)`).
    ///
    /// ```
    /// use heddle::queue::{PutTimeoutError, Queue};
    /// use std::time::Duration;
    /// let q = Queue::bounded(1);
    /// q.put('a').unwrap();
    /// assert_eq!(
    ///     q.put_timeout('b', Duration::from_millis(5)),
    ///     Err(PutTimeoutError::Timeout('b'))
    /// );
    /// ```
    #[track_caller]
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutTimeoutError<T>> {
        self.shared.op("put_timeout", Location::caller());
        match self.shared.try_put(item) {
            Ok(()) => Ok(()),
            Err(TryPutError::ShutDown(item)) => Err(PutTimeoutError::ShutDown(item)),
            Err(TryPutError::Full(item)) => self.shared.put_until(item, deadline_after(timeout)),
        }
    }

    /// Take the next item, waiting while the queue is empty. Fails only once the queue
    /// is shut down and holds no more items.
    ///
    /// ```
    /// let q = heddle::queue::Queue::unbounded();
    /// q.put("job").unwrap();
    /// q.shutdown(false);
    /// assert_eq!(q.get(), Ok("job")); // drained after shutdown...
    /// assert!(q.get().is_err()); // ...then fails
    /// ```
    #[inline]
    #[track_caller]
    pub fn get(&self) -> Result<T, GetError> {
        self.shared.op("get", Location::caller());
        match self.shared.try_get() {
            Ok(item) => Ok(item),
            Err(TryGetError::ShutDown) => Err(GetError),
            Err(TryGetError::Empty) => self.shared.get_until(None).map_err(|_| GetError),
        }
    }

    /// Take an item if one is available right now (Python's `get_nowait`). For a
    /// rendezvous: only if a put is waiting.
    ///
    /// ```
    /// use heddle::queue::{Queue, TryGetError};
    /// let q = Queue::bounded(4);
    /// assert_eq!(q.try_get(), Err(TryGetError::Empty));
    /// q.put(9).unwrap();
    /// assert_eq!(q.try_get(), Ok(9));
    /// ```
    #[inline]
    #[track_caller]
    pub fn try_get(&self) -> Result<T, TryGetError> {
        self.shared.op("try_get", Location::caller());
        self.shared.try_get()
    }

    /// Like [`get`](Self::get), waiting at most `timeout` (Python's `get(timeout=t)`).
    ///
    /// ```
    /// use heddle::queue::{GetTimeoutError, Queue};
    /// use std::time::Duration;
    /// let q = Queue::<u8>::unbounded();
    /// assert_eq!(q.get_timeout(Duration::from_millis(5)), Err(GetTimeoutError::Timeout));
    /// ```
    #[track_caller]
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetTimeoutError> {
        self.shared.op("get_timeout", Location::caller());
        match self.shared.try_get() {
            Ok(item) => Ok(item),
            Err(TryGetError::ShutDown) => Err(GetTimeoutError::ShutDown),
            Err(TryGetError::Empty) => self.shared.get_until(deadline_after(timeout)),
        }
    }

    /// How many items are in the queue: a snapshot that other threads may change at
    /// once (as Python says of `qsize`, "not reliable" for deciding to get or put).
    /// Always 0 for a rendezvous.
    ///
    /// ```
    /// let q = heddle::queue::Queue::bounded(8);
    /// q.put(()).unwrap();
    /// q.put(()).unwrap();
    /// assert_eq!(q.qsize(), 2);
    /// ```
    pub fn qsize(&self) -> usize {
        self.shared.len()
    }

    /// Whether [`qsize`](Self::qsize) is 0 (a snapshot).
    ///
    /// ```
    /// let q = heddle::queue::Queue::<i32>::unbounded();
    /// assert!(q.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether the queue holds [`capacity`](Self::capacity) items (a snapshot). Never for
    /// an unbounded queue; always for a rendezvous (it holds nothing: a put must wait
    /// for a get).
    ///
    /// ```
    /// let q = heddle::queue::Queue::bounded(1);
    /// assert!(!q.is_full());
    /// q.put(0).unwrap();
    /// assert!(q.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.capacity().is_some_and(|cap| self.qsize() >= cap)
    }

    /// The most items the queue holds (Python's `maxsize`); `None` if unbounded,
    /// `Some(0)` for a rendezvous.
    ///
    /// ```
    /// use heddle::queue::Queue;
    /// assert_eq!(Queue::<()>::bounded(3).capacity(), Some(3));
    /// assert_eq!(Queue::<()>::unbounded().capacity(), None);
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.shared.capacity()
    }

    /// Mark one item got from the queue as processed (Python's `task_done`). When every
    /// item put has been marked, [`join`](Self::join) returns.
    ///
    /// # Errors
    ///
    /// [`TaskDoneError`] if called more times than items were got (the count is left
    /// unchanged).
    ///
    /// ```
    /// let q = heddle::queue::Queue::unbounded();
    /// q.put(1).unwrap();
    /// assert!(q.task_done().is_err()); // not got yet
    /// q.get().unwrap();
    /// assert!(q.task_done().is_ok());
    /// q.join(); // returns at once: nothing unfinished
    /// ```
    #[track_caller]
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        self.shared.op("task_done", Location::caller());
        self.shared.task_done()
    }

    /// Items put but not yet marked done with [`task_done`](Self::task_done) (Python's
    /// `unfinished_tasks`): a snapshot.
    ///
    /// ```
    /// let q = heddle::queue::Queue::unbounded();
    /// q.put('a').unwrap();
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// ```
    pub fn unfinished_tasks(&self) -> u64 {
        self.shared.unfinished()
    }

    /// Wait until every item put has been got and marked done (Python's `join`). A put
    /// after that moment starts a new count; [`shutdown(true)`](Self::shutdown) marks the
    /// items it discards as done.
    ///
    /// ```
    /// use heddle::queue::Queue;
    /// let q = Queue::unbounded();
    /// let worker = {
    ///     let q = q.clone();
    ///     std::thread::spawn(move || {
    ///         while let Ok(_job) = q.get() {
    ///             q.task_done().unwrap();
    ///         }
    ///     })
    /// };
    /// for job in 0..10 {
    ///     q.put(job).unwrap();
    /// }
    /// q.join();
    /// assert_eq!(q.unfinished_tasks(), 0);
    /// q.shutdown(false);
    /// worker.join().unwrap();
    /// ```
    #[track_caller]
    pub fn join(&self) {
        self.shared.op("join", Location::caller());
        self.shared.join_until(None);
    }

    /// Like [`join`](Self::join), waiting at most `timeout`; `true` if every item was
    /// done.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = heddle::queue::Queue::unbounded();
    /// q.put(1).unwrap();
    /// assert!(!q.join_timeout(Duration::from_millis(1)));
    /// ```
    #[track_caller]
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.shared.op("join_timeout", Location::caller());
        self.shared.join_until(deadline_after(timeout))
    }

    /// Shut the queue down (Python 3.13's `shutdown`): later puts fail with their item
    /// back; gets return what is left and then fail; every blocked caller wakes (blocked
    /// putters get their items back in [`PutError`]).
    ///
    /// With `immediate`, the items left are discarded at once: they are counted as done
    /// for [`join`](Self::join) (so `join` returns once the items already got are done)
    /// and **returned** here, in the order gets would have returned them, so the caller
    /// decides their fate. Without it, the returned vector is empty and getters drain
    /// the queue. Calling it again is allowed (`false` then `true` discards what is left).
    ///
    /// ```
    /// let q = heddle::queue::Queue::unbounded();
    /// q.put(1).unwrap();
    /// q.put(2).unwrap();
    /// assert_eq!(q.shutdown(true), vec![1, 2]);
    /// assert!(q.get().is_err());
    /// assert!(q.is_shutdown());
    /// q.join(); // the discarded items count as done
    /// ```
    #[track_caller]
    pub fn shutdown(&self, immediate: bool) -> Vec<T> {
        self.shared.op("shutdown", Location::caller());
        self.shared.shutdown(immediate)
    }

    /// Whether [`shutdown`](Self::shutdown) has been called (Python's `is_shutdown`).
    ///
    /// ```
    /// let q = heddle::queue::Queue::<()>::unbounded();
    /// assert!(!q.is_shutdown());
    /// q.shutdown(false);
    /// assert!(q.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.shared.is_shutdown()
    }

    /// A future that puts `item`, waiting (asynchronously) while the queue is full; the
    /// same queue serves threads and tasks. Resolves to the outcome of [`put`](Self::put).
    ///
    /// Cancel-safe: dropping a pending future drops its item unput and never loses a
    /// wake-up meant for another waiter. On a rendezvous (`bounded(0)`) alone, a getter
    /// may take the item of a pending put (that is how the hand-off completes), so a put
    /// future dropped after that moment has delivered its item although it never
    /// returned `Ok`.
    ///
    /// ```
    /// # async fn demo() {
    /// let q = heddle::queue::Queue::bounded(1);
    /// q.put_async("hello").await.unwrap();
    /// assert_eq!(q.get_async().await, Ok("hello"));
    /// # }
    /// # let waker = std::task::Waker::noop();
    /// # let mut cx = std::task::Context::from_waker(&waker);
    /// # assert!(std::pin::pin!(demo()).as_mut().poll(&mut cx).is_ready());
    /// # use std::future::Future;
    /// ```
    pub fn put_async(&self, item: T) -> PutFuture<'_, T> {
        PutFuture::new(&self.shared, item)
    }

    /// A future that gets the next item, waiting (asynchronously) while the queue is
    /// empty. Resolves to the outcome of [`get`](Self::get).
    ///
    /// Cancel-safe: an item is taken only in the step that completes the future, so
    /// dropping a pending future never loses an item; if it had been woken for one, the
    /// wake-up passes to the next waiter.
    ///
    /// ```
    /// use std::future::Future;
    /// let q = heddle::queue::Queue::unbounded();
    /// q.put(5).unwrap();
    /// let waker = std::task::Waker::noop();
    /// let mut cx = std::task::Context::from_waker(&waker);
    /// let mut get = std::pin::pin!(q.get_async());
    /// assert_eq!(get.as_mut().poll(&mut cx), std::task::Poll::Ready(Ok(5)));
    /// ```
    pub fn get_async(&self) -> GetFuture<'_, T> {
        GetFuture::new(&self.shared)
    }

    /// A future that completes when every item put has been marked done, like
    /// [`join`](Self::join).
    ///
    /// ```
    /// use std::future::Future;
    /// let q = heddle::queue::Queue::<u8>::unbounded();
    /// let waker = std::task::Waker::noop();
    /// let mut cx = std::task::Context::from_waker(&waker);
    /// assert!(std::pin::pin!(q.join_async()).as_mut().poll(&mut cx).is_ready());
    /// ```
    pub fn join_async(&self) -> JoinFuture<'_, T> {
        JoinFuture::new(&self.shared)
    }

    /// A blocking iterator: yields items as [`get`](Self::get) does and ends when the
    /// queue is shut down and drained.
    ///
    /// ```
    /// let q = heddle::queue::Queue::unbounded();
    /// q.put(1).unwrap();
    /// q.put(2).unwrap();
    /// q.shutdown(false);
    /// assert_eq!(q.iter().sum::<i32>(), 3);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { queue: self }
    }

    /// A non-blocking iterator: yields the items available right now, as
    /// [`try_get`](Self::try_get) does.
    ///
    /// ```
    /// let q = heddle::queue::Queue::unbounded();
    /// q.put('x').unwrap();
    /// assert_eq!(q.try_iter().collect::<String>(), "x");
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { queue: self }
    }

    /// Whether two handles refer to the same queue.
    ///
    /// ```
    /// let a = heddle::queue::Queue::<()>::unbounded();
    /// assert!(a.same_queue(&a.clone()));
    /// assert!(!a.same_queue(&heddle::queue::Queue::unbounded()));
    /// ```
    pub fn same_queue(&self, other: &Queue<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("kind", &self.shared.kind())
            .field("qsize", &self.qsize())
            .field("capacity", &self.capacity())
            .field("unfinished_tasks", &self.unfinished_tasks())
            .field("shut_down", &self.is_shutdown())
            .finish()
    }
}

/// Iterator returned by [`Queue::iter`]: blocking gets until shutdown.
///
/// ```
/// let q = heddle::queue::Queue::unbounded();
/// q.put(3).unwrap();
/// q.shutdown(false);
/// let mut it: heddle::queue::Iter<'_, i32> = q.iter();
/// assert_eq!(it.next(), Some(3));
/// assert_eq!(it.next(), None);
/// ```
#[derive(Debug)]
pub struct Iter<'a, T> {
    queue: &'a Queue<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.queue.get().ok()
    }
}

/// Iterator returned by [`Queue::try_iter`]: the items available now.
///
/// ```
/// let q = heddle::queue::Queue::<u8>::unbounded();
/// let mut it: heddle::queue::TryIter<'_, u8> = q.try_iter();
/// assert_eq!(it.next(), None);
/// ```
#[derive(Debug)]
pub struct TryIter<'a, T> {
    queue: &'a Queue<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.queue.try_get().ok()
    }
}
