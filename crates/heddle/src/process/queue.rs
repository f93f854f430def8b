//! [`ProcessQueue<T>`]: Python's `multiprocessing.JoinableQueue` (and `Queue`), many
//! producers and consumers across processes.
//!
//! The items travel through one `SOCK_SEQPACKET` socket pair: every process holding the
//! queue holds both ends; a put is one `sendmsg` (a whole record, atomic among many
//! senders), a get one `recvmsg` (a whole record, taken by exactly one receiver). So a
//! put that returned has its item in the kernel, where it stays when the putting
//! process exits, and there is no feeder thread to lose it. Counts shared by all the
//! processes (free slots of a bounded queue, unfinished tasks, the shutdown flag, who
//! uses the queue) live in a small shared memory region; the waits on them are futex
//! waits, the waits for items `poll`.

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::codec;
use super::error::ChannelError;
use super::region::{Region, Zeroable};
use super::sys;

/// How many processes a queue remembers as users (for telling that all others died).
const MEMBERS: usize = 64;
/// How often a blocked `get` looks whether every other user has died.
const LIVENESS_EVERY: Duration = Duration::from_millis(50);

#[repr(C)]
struct Header {
    /// Free slots of a bounded queue (futex word); unused when unbounded.
    free: AtomicU32,
    /// The bound (0: unbounded), written once at creation.
    capacity: AtomicU32,
    /// Items put and not yet marked done (futex word for `join`).
    unfinished: AtomicU32,
    /// Items in the socket, as far as puts and gets have counted.
    len: AtomicU32,
    /// 0 open, 1 shut down, 2 shut down immediately (futex word).
    shutdown: AtomicU32,
    /// Pids of the processes that have used the queue.
    members: [AtomicU32; MEMBERS],
}

// SAFETY: atomics only; zero is a valid open, empty, unbounded queue.
unsafe impl Zeroable for Header {}

struct Inner {
    /// Puts go in here…
    tx: OwnedFd,
    /// …and gets come out here.
    rx: OwnedFd,
    /// Readable once the queue is shut down: wakes every blocked put and get.
    shut: OwnedFd,
    shared: Region<Header>,
    /// The largest record the socket takes.
    max: usize,
    /// Receive buffer (one record at a time).
    buf: Mutex<Vec<u8>>,
}

/// A queue of `T`s shared by processes: Python's `multiprocessing.JoinableQueue`, with
/// the meaning of heddle's [`Queue`](crate::queue::Queue) and Python's `queue.Queue`
/// (`put`/`get`, `try_`/`_timeout` forms, `task_done`/`join`, `shutdown`).
///
/// Clone it freely in one process; send it to others inside a
/// [`Process`](super::Process)'s argument or through a [`Pipe`](super::Pipe).
///
/// * **Nothing lost**: `put` returns once the item is in the kernel: it is delivered
///   even if the putting process exits (or is killed) right after. Each item is taken
///   by exactly one `get`. Items from one producer arrive in the order put.
/// * **Bounds**: [`bounded(n)`](Self::bounded) holds at most `n` items (`put` waits
///   for room). Unbounded means no count limit, but items wait in the kernel's socket
///   buffer (a few MiB): a `put` waits when it is full until consumers catch up, and
///   one item can be at most [`max_item`](Self::max_item) bytes encoded
///   ([`ChannelError::TooLarge`]; use a [`Pipe`](super::Pipe) for bigger ones).
/// * **Dead peers**: a blocked `get` on an empty queue returns
///   [`ChannelError::Closed`] once every other process that used the queue has exited,
///   instead of waiting forever (Python's waits forever).
/// * **Garbage**: an item that does not decode is [`ChannelError::Malformed`] and is
///   dropped; the queue goes on.
///
/// ```
/// use heddle::process::{Process, ProcessQueue};
///
/// fn produce((q, n): (ProcessQueue<u32>, u32)) {
///     for i in 0..n {
///         q.put(&i).unwrap();
///     }
/// }
/// heddle::process::register!(produce);
///
/// # fn main() {
/// let q = ProcessQueue::unbounded().unwrap();
/// let mut child = Process::new(produce, (q.clone(), 100)).start().unwrap();
/// let total: u32 = (0..100).map(|_| q.get().unwrap()).sum();
/// assert_eq!(total, 4950);
/// child.join().unwrap();
/// # }
/// ```
pub struct ProcessQueue<T> {
    inner: Arc<Inner>,
    _items: PhantomData<fn(T) -> T>,
}

impl<T> Clone for ProcessQueue<T> {
    fn clone(&self) -> Self {
        ProcessQueue {
            inner: Arc::clone(&self.inner),
            _items: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> ProcessQueue<T> {
    /// A queue with no bound on the number of items.
    ///
    /// # Errors
    ///
    /// [`ChannelError::Io`] if the system is out of descriptors or memory.
    ///
    /// ```
    /// let q = heddle::process::ProcessQueue::unbounded().unwrap();
    /// q.put(&"a".to_string()).unwrap();
    /// assert_eq!(q.get().unwrap(), "a");
    /// ```
    pub fn unbounded() -> Result<Self, ChannelError> {
        Self::with_capacity(0)
    }

    /// A queue holding at most `capacity` items (at least 1).
    ///
    /// ```
    /// use heddle::process::{ChannelError, ProcessQueue};
    /// let q = ProcessQueue::bounded(1).unwrap();
    /// q.put(&1).unwrap();
    /// assert_eq!(q.try_put(&2), Err(ChannelError::Full));
    /// ```
    pub fn bounded(capacity: usize) -> Result<Self, ChannelError> {
        Self::with_capacity(capacity.clamp(1, u32::MAX as usize) as u32)
    }

    fn with_capacity(capacity: u32) -> Result<Self, ChannelError> {
        let (tx, rx) = sys::socketpair(libc::SOCK_SEQPACKET).map_err(ChannelError::io)?;
        let shut = sys::eventfd().map_err(ChannelError::io)?;
        let shared = Region::<Header>::new("queue", 0).map_err(ChannelError::io)?;
        shared.header().capacity.store(capacity, Ordering::Relaxed);
        shared.header().free.store(capacity, Ordering::Relaxed);
        Ok(Self::from_parts(tx, rx, shut, shared))
    }

    fn from_parts(tx: OwnedFd, rx: OwnedFd, shut: OwnedFd, shared: Region<Header>) -> Self {
        sys::set_buffers(tx.as_raw_fd(), 4 << 20);
        sys::set_buffers(rx.as_raw_fd(), 4 << 20);
        let max = sndbuf(tx.as_raw_fd()).saturating_sub(64).max(1024);
        join_members(shared.header());
        ProcessQueue {
            inner: Arc::new(Inner {
                tx,
                rx,
                shut,
                shared,
                max,
                buf: Mutex::new(Vec::new()),
            }),
            _items: PhantomData,
        }
    }

    fn header(&self) -> &Header {
        self.inner.shared.header()
    }

    /// The largest encoded item one message carries here.
    ///
    /// ```
    /// let q = heddle::process::ProcessQueue::<u8>::unbounded().unwrap();
    /// assert!(q.max_item() >= 100_000);
    /// ```
    pub fn max_item(&self) -> usize {
        self.inner.max
    }

    /// Put `item`, waiting for room in a bounded queue.
    ///
    /// # Errors
    ///
    /// [`ChannelError::ShutDown`], [`ChannelError::TooLarge`], [`ChannelError::Encode`].
    ///
    /// ```
    /// let q = heddle::process::ProcessQueue::bounded(4).unwrap();
    /// q.put(&(1, "one".to_string())).unwrap();
    /// assert_eq!(q.qsize(), 1);
    /// ```
    pub fn put(&self, item: &T) -> Result<(), ChannelError> {
        self.put_until(item, None)
    }

    /// [`put`](Self::put) without waiting: [`ChannelError::Full`] if there is no room.
    ///
    /// ```
    /// use heddle::process::{ChannelError, ProcessQueue};
    /// let q = ProcessQueue::bounded(1).unwrap();
    /// assert_eq!(q.try_put(&1), Ok(()));
    /// assert_eq!(q.try_put(&2), Err(ChannelError::Full));
    /// ```
    pub fn try_put(&self, item: &T) -> Result<(), ChannelError> {
        match self.put_until(item, Some(Instant::now())) {
            Err(ChannelError::TimedOut) => Err(ChannelError::Full),
            other => other,
        }
    }

    /// [`put`](Self::put), waiting at most `timeout` for room ([`ChannelError::Full`]
    /// after it, as Python's `queue.Full`).
    ///
    /// ```
    /// use heddle::process::{ChannelError, ProcessQueue};
    /// use std::time::Duration;
    /// let q = ProcessQueue::bounded(1).unwrap();
    /// q.put(&1).unwrap();
    /// assert_eq!(q.put_timeout(&2, Duration::from_millis(5)), Err(ChannelError::Full));
    /// ```
    pub fn put_timeout(&self, item: &T, timeout: Duration) -> Result<(), ChannelError> {
        match self.put_until(item, Instant::now().checked_add(timeout)) {
            Err(ChannelError::TimedOut) => Err(ChannelError::Full),
            other => other,
        }
    }

    fn put_until(&self, item: &T, deadline: Option<Instant>) -> Result<(), ChannelError> {
        let h = self.header();
        if h.shutdown.load(Ordering::Acquire) != 0 {
            return Err(ChannelError::ShutDown);
        }
        let encoded = codec::encode(item).map_err(|message| ChannelError::Encode { message })?;
        if encoded.bytes.len() > self.inner.max {
            return Err(ChannelError::TooLarge {
                len: encoded.bytes.len(),
                max: self.inner.max,
            });
        }
        let bounded = h.capacity.load(Ordering::Relaxed) != 0;
        if bounded {
            self.take_slot(deadline)?;
        }
        h.unfinished.fetch_add(1, Ordering::AcqRel);
        let fds = encoded.raw_fds();
        let tx = self.inner.tx.as_raw_fd();
        loop {
            match sys::sendmsg(tx, &[&encoded.bytes], &fds, libc::MSG_DONTWAIT) {
                Ok(_) => {
                    h.len.fetch_add(1, Ordering::AcqRel);
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let shut = h.shutdown.load(Ordering::Acquire) != 0;
                    let late = deadline.is_some_and(|d| Instant::now() >= d);
                    if shut || late {
                        self.undo_put(bounded);
                        return Err(if shut {
                            ChannelError::ShutDown
                        } else {
                            ChannelError::TimedOut
                        });
                    }
                    wait_two(tx, libc::POLLOUT, self.inner.shut.as_raw_fd(), deadline);
                }
                Err(e) => {
                    self.undo_put(bounded);
                    return Err(match e.raw_os_error() {
                        Some(libc::EMSGSIZE) => ChannelError::TooLarge {
                            len: encoded.bytes.len(),
                            max: self.inner.max,
                        },
                        _ => ChannelError::io(e),
                    });
                }
            }
        }
    }

    fn undo_put(&self, bounded: bool) {
        let h = self.header();
        self.task_done_raw(1);
        if bounded {
            h.free.fetch_add(1, Ordering::AcqRel);
            sys::futex_wake(&h.free, 1);
        }
    }

    /// Take one free slot of a bounded queue.
    fn take_slot(&self, deadline: Option<Instant>) -> Result<(), ChannelError> {
        let h = self.header();
        loop {
            let free = h.free.load(Ordering::Acquire);
            if free > 0 {
                if h.free
                    .compare_exchange_weak(free, free - 1, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    return Ok(());
                }
                continue;
            }
            if h.shutdown.load(Ordering::Acquire) != 0 {
                return Err(ChannelError::ShutDown);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(ChannelError::TimedOut);
            }
            // Bounded slices: a shutdown wakes this word too, but re-check anyway.
            let slice = Instant::now() + LIVENESS_EVERY;
            sys::futex_wait(&h.free, 0, Some(deadline.map_or(slice, |d| d.min(slice))));
        }
    }

    /// Take the next item, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`ChannelError::ShutDown`] once shut down and empty (at once if shut down
    /// immediately); [`ChannelError::Closed`] on an empty queue whose other users have
    /// all exited; [`ChannelError::Malformed`] for an item that does not decode.
    ///
    /// ```
    /// let q = heddle::process::ProcessQueue::unbounded().unwrap();
    /// q.put(&7u8).unwrap();
    /// assert_eq!(q.get(), Ok(7));
    /// ```
    pub fn get(&self) -> Result<T, ChannelError> {
        self.get_until(None)
    }

    /// [`get`](Self::get) only if an item is there now ([`ChannelError::Empty`]).
    ///
    /// ```
    /// use heddle::process::{ChannelError, ProcessQueue};
    /// let q = ProcessQueue::<u8>::unbounded().unwrap();
    /// assert_eq!(q.try_get(), Err(ChannelError::Empty));
    /// ```
    pub fn try_get(&self) -> Result<T, ChannelError> {
        match self.get_until(Some(Instant::now())) {
            Err(ChannelError::TimedOut) => Err(ChannelError::Empty),
            other => other,
        }
    }

    /// [`get`](Self::get) for at most `timeout` ([`ChannelError::TimedOut`]).
    ///
    /// ```
    /// use heddle::process::{ChannelError, ProcessQueue};
    /// use std::time::Duration;
    /// let q = ProcessQueue::<u8>::unbounded().unwrap();
    /// assert_eq!(q.get_timeout(Duration::from_millis(2)), Err(ChannelError::TimedOut));
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, ChannelError> {
        self.get_until(Instant::now().checked_add(timeout))
    }

    fn get_until(&self, deadline: Option<Instant>) -> Result<T, ChannelError> {
        let h = self.header();
        let rx = self.inner.rx.as_raw_fd();
        let mut buf = self.inner.buf.lock();
        if buf.len() < self.inner.max + 64 {
            buf.resize(self.inner.max + 64, 0);
        }
        loop {
            if h.shutdown.load(Ordering::Acquire) == 2 {
                return Err(ChannelError::ShutDown);
            }
            let mut fds = Vec::new();
            match sys::recvmsg(rx, &mut buf, &mut fds, libc::MSG_DONTWAIT) {
                Ok(r) => {
                    h.len.fetch_sub(1, Ordering::AcqRel);
                    if h.capacity.load(Ordering::Relaxed) != 0 {
                        h.free.fetch_add(1, Ordering::AcqRel);
                        sys::futex_wake(&h.free, 1);
                    }
                    if r.truncated {
                        self.task_done_raw(1);
                        return Err(ChannelError::Malformed {
                            message: "an item larger than the receive buffer".into(),
                        });
                    }
                    return codec::decode(&buf[..r.len], fds).map_err(|message| {
                        // The item is gone: count it done, or `join` would wait forever.
                        self.task_done_raw(1);
                        ChannelError::Malformed { message }
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(ChannelError::io(e)),
            }
            if h.shutdown.load(Ordering::Acquire) != 0 {
                return Err(ChannelError::ShutDown);
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(ChannelError::TimedOut);
            }
            let slice = now + LIVENESS_EVERY;
            let until = deadline.map_or(slice, |d| d.min(slice));
            if !wait_two(rx, libc::POLLIN, self.inner.shut.as_raw_fd(), Some(until))
                && others_all_dead(h)
                && h.len.load(Ordering::Acquire) == 0
            {
                // One last look: an item may have landed just before its putter died.
                let mut fds = Vec::new();
                if let Ok(r) = sys::recvmsg(
                    rx,
                    &mut [0u8; 0],
                    &mut fds,
                    libc::MSG_DONTWAIT | libc::MSG_PEEK,
                ) {
                    let _ = r;
                    continue;
                }
                return Err(ChannelError::Closed);
            }
        }
    }

    /// Mark one item taken by `get` as processed: Python's `task_done()`.
    ///
    /// # Panics
    ///
    /// If called more times than items were put (Python raises `ValueError`).
    ///
    /// ```
    /// let q = heddle::process::ProcessQueue::unbounded().unwrap();
    /// q.put(&1).unwrap();
    /// q.get().unwrap();
    /// q.task_done();
    /// q.join(); // returns at once: every item is done
    /// ```
    pub fn task_done(&self) {
        let h = self.header();
        let mut n = h.unfinished.load(Ordering::Acquire);
        loop {
            assert!(n > 0, "task_done() called more times than there were items");
            match h
                .unfinished
                .compare_exchange_weak(n, n - 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(actual) => n = actual,
            }
        }
        if n == 1 {
            sys::futex_wake(&h.unfinished, i32::MAX);
        }
    }

    fn task_done_raw(&self, k: u32) {
        let h = self.header();
        let prev = h
            .unfinished
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(k))
            })
            .unwrap_or(0);
        if prev <= k {
            sys::futex_wake(&h.unfinished, i32::MAX);
        }
    }

    /// Wait until every item put has been marked done with
    /// [`task_done`](Self::task_done), in any process: Python's `join()`.
    ///
    /// ```
    /// let q = heddle::process::ProcessQueue::<u8>::unbounded().unwrap();
    /// q.join(); // nothing put: returns at once
    /// ```
    pub fn join(&self) {
        let h = self.header();
        loop {
            let n = h.unfinished.load(Ordering::Acquire);
            if n == 0 {
                return;
            }
            sys::futex_wait(&h.unfinished, n, None);
        }
    }

    /// Shut the queue down: Python 3.13's `shutdown(immediate)`. Later puts fail with
    /// [`ChannelError::ShutDown`]; gets take what is left, then fail with it. With
    /// `immediate`, gets fail at once and the items left are dropped and counted done
    /// (so `join` returns). Wakes every blocked put and get, in every process.
    ///
    /// ```
    /// use heddle::process::{ChannelError, ProcessQueue};
    /// let q = ProcessQueue::unbounded().unwrap();
    /// q.put(&1).unwrap();
    /// q.shutdown(false);
    /// assert_eq!(q.put(&2), Err(ChannelError::ShutDown));
    /// assert_eq!(q.get(), Ok(1));
    /// assert_eq!(q.get(), Err(ChannelError::ShutDown));
    /// ```
    pub fn shutdown(&self, immediate: bool) {
        let h = self.header();
        h.shutdown
            .fetch_max(if immediate { 2 } else { 1 }, Ordering::AcqRel);
        sys::eventfd_signal(self.inner.shut.as_raw_fd());
        sys::futex_wake(&h.free, i32::MAX);
        if immediate {
            let mut buf = self.inner.buf.lock();
            buf.resize(self.inner.max + 64, 0);
            loop {
                let mut fds = Vec::new();
                match sys::recvmsg(
                    self.inner.rx.as_raw_fd(),
                    &mut buf,
                    &mut fds,
                    libc::MSG_DONTWAIT,
                ) {
                    Ok(_) => {
                        h.len.fetch_sub(1, Ordering::AcqRel);
                        self.task_done_raw(1);
                    }
                    Err(_) => break,
                }
            }
        }
    }

    /// Whether the queue was shut down.
    ///
    /// ```
    /// let q = heddle::process::ProcessQueue::<u8>::unbounded().unwrap();
    /// q.shutdown(false);
    /// assert!(q.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.header().shutdown.load(Ordering::Acquire) != 0
    }

    /// About how many items are in the queue (other processes may change it at once):
    /// Python's `qsize()`.
    ///
    /// ```
    /// let q = heddle::process::ProcessQueue::unbounded().unwrap();
    /// q.put(&1u8).unwrap();
    /// assert_eq!(q.qsize(), 1);
    /// ```
    pub fn qsize(&self) -> usize {
        self.header().len.load(Ordering::Acquire) as usize
    }

    /// Whether [`qsize`](Self::qsize) is zero.
    ///
    /// ```
    /// assert!(heddle::process::ProcessQueue::<u8>::unbounded().unwrap().empty());
    /// ```
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }
}

/// The socket's send buffer size.
fn sndbuf(fd: std::os::fd::RawFd) -> usize {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: writes one int into `v`.
    unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    // The kernel reports twice what it charges against; a record may use about half.
    (v.max(0) as usize) / 2
}

/// Wait until `fd` is ready for `events`, the shutdown eventfd fires, or `deadline`;
/// whether something is ready.
fn wait_two(
    fd: std::os::fd::RawFd,
    events: libc::c_short,
    shut: std::os::fd::RawFd,
    deadline: Option<Instant>,
) -> bool {
    let mut pfds = [
        libc::pollfd {
            fd,
            events,
            revents: 0,
        },
        libc::pollfd {
            fd: shut,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let timeout = deadline.map_or(-1, |d| {
        let left = d.saturating_duration_since(Instant::now());
        left.as_millis().min(i32::MAX as u128 - 1) as libc::c_int
            + i32::from(left.subsec_nanos() % 1_000_000 != 0)
    });
    sys::poll_many(&mut pfds, timeout).unwrap_or(0) > 0
}

/// Record this process as a user of the queue.
fn join_members(h: &Header) {
    let me = sys::getpid();
    for slot in &h.members {
        match slot.compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(pid) if pid == me => return,
            Err(_) => {}
        }
    }
    // Table full: this process is simply not tracked (peer death then goes unseen).
}

/// Whether the queue has had other users and all of them have exited.
fn others_all_dead(h: &Header) -> bool {
    let me = sys::getpid();
    let mut others = 0;
    for slot in &h.members {
        let pid = slot.load(Ordering::Acquire);
        if pid == 0 {
            break;
        }
        if pid != me {
            others += 1;
            if !sys::process_dead(pid) {
                return false;
            }
        }
    }
    others > 0
}

impl<T> Serialize for ProcessQueue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(4)?;
        t.serialize_element(&FdRef(self.inner.tx.as_raw_fd()))?;
        t.serialize_element(&FdRef(self.inner.rx.as_raw_fd()))?;
        t.serialize_element(&FdRef(self.inner.shut.as_raw_fd()))?;
        t.serialize_element(&self.inner.shared)?;
        t.end()
    }
}

impl<'de, T: Serialize + DeserializeOwned> Deserialize<'de> for ProcessQueue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (tx, rx, shut, shared): (FdOwned, FdOwned, FdOwned, Region<Header>) =
            Deserialize::deserialize(d)?;
        Ok(ProcessQueue::from_parts(tx.0, rx.0, shut.0, shared))
    }
}

/// A descriptor inside a message (see `codec`).
pub(crate) struct FdRef(pub(crate) std::os::fd::RawFd);

impl Serialize for FdRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        codec::serialize_fd(self.0, s)
    }
}

/// A descriptor taken out of a message.
pub(crate) struct FdOwned(pub(crate) OwnedFd);

impl<'de> Deserialize<'de> for FdOwned {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        codec::deserialize_fd(d).map(FdOwned)
    }
}

impl<T> fmt::Debug for ProcessQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = self.inner.shared.header();
        f.debug_struct("ProcessQueue")
            .field("len", &h.len.load(Ordering::Relaxed))
            .field("capacity", &h.capacity.load(Ordering::Relaxed))
            .field("unfinished", &h.unfinished.load(Ordering::Relaxed))
            .finish()
    }
}
