//! Threads the Python way: Python's `threading.Thread`, `current_thread`, `enumerate`,
//! `active_count`, `main_thread`, and an interpreter that waits for its non-daemon
//! threads before it exits.
//!
//! | Python | heddle |
//! | --- | --- |
//! | `Thread(target=f, name=.., daemon=..).start()` | [`Thread::new(f).name(..).daemon(..).start()`](Thread) |
//! | `t.join()`, `t.join(timeout)` | [`JoinHandle::join`], [`JoinHandle::join_timeout`] |
//! | `t.is_alive()`, `t.ident`, `t.native_id`, `t.name`, `t.daemon` | [`JoinHandle`] / [`ThreadInfo`] methods of those names |
//! | `current_thread()`, `main_thread()` | [`current`], [`main_thread`] |
//! | `enumerate()`, `active_count()` | [`enumerate`], [`active_count`] |
//! | the interpreter waiting at exit | [`heddle::main`](crate::main), [`wait_non_daemon`] |
//!
//! # Guarantees
//!
//! * **Results**: [`JoinHandle::join`] returns the closure's value, or, if the closure
//!   panicked, a [`JoinError`] with the thread's name, the panic message and the
//!   payload. The panic is caught in the thread, so it ends only that thread; the
//!   panic hook still prints it when it happens, as Python prints a thread's traceback.
//! * **Timeouts never lose the result**: [`JoinHandle::join_timeout`] hands the handle
//!   back when the thread is still running ([`JoinTimeoutError::TimedOut`]); join it
//!   again later.
//! * **Finished** means the closure has returned or unwound and its value is stored.
//!   A finished thread is no longer in [`enumerate`], and when [`wait_non_daemon`]
//!   returns every non-daemon thread is finished. Its thread-local destructors may
//!   still be running.
//! * **Daemons**: a daemon thread is one [`heddle::main`](crate::main) and
//!   [`wait_non_daemon`] do not wait for; when the process exits it simply stops, with
//!   no destructors run, as in Python. By default a thread inherits the flag of the
//!   thread that starts it; the main thread is non-daemon, and threads heddle did not
//!   start are daemons (as Python's dummy threads are), so a thread started from a
//!   test-harness or pool thread is a daemon unless told otherwise.
//! * **Detaching**: dropping a [`JoinHandle`] detaches the thread; it runs on, and is
//!   still waited for at exit if it is non-daemon.
//! * **Names**: unnamed threads are `"Thread-N"`; the main thread is `"MainThread"`;
//!   a thread heddle did not start is `"Dummy-N"`. One counter from 1 numbers both, as
//!   in CPython. The OS thread gets the same name, so panic messages and debuggers show
//!   it.
//! * **Ids**: [`ident`](ThreadInfo::ident) is heddle's own thread id (the one lock
//!   owners and deadlock reports use) and [`native_id`](ThreadInfo::native_id) the OS
//!   one. Both are recorded by the new thread as its first act; asking for them before
//!   that waits for it, as Python's `start()` waits for the thread to begin.
//! * **Waiting**: joins and [`wait_non_daemon`] block through heddle's wait seam, like
//!   every other blocking call in heddle; there are no spurious returns.
//!
//! # Forking
//!
//! A child made by `fork()` without `exec` has only the thread that forked. On Linux
//! heddle resets what it would otherwise inherit of the parent's threads: in the child,
//! no thread counts as blocked (so its first untimed wait is not reported as a
//! deadlock naming parent threads), [`enumerate`] and [`active_count`] list only the
//! forking thread (and the main thread's entry), [`wait_non_daemon`] waits only for
//! threads the child starts, and the lock-cycle detector forgets the parent's waiters.
//!
//! What the child may then use, as with any `fork()` of a threaded program: primitives
//! it creates itself, and the parent's primitives that no other parent thread was
//! using at the moment of the fork. A lock another parent thread held at that moment
//! stays held forever in the child (its holder does not exist there), and a waiter the
//! parent had queued is not there to be woken. Threads may be started in the child.
//! Lock-order mode and the checker are not supported in a forked child. `exec` (what
//! `std::process::Command` does) starts afresh and needs none of this.
//!
//! ```
//! use heddle::thread::{self, Thread};
//!
//! let handle = Thread::new(|| {
//!     let me = thread::current();
//!     format!("{} running", me.name())
//! })
//! .name("worker-1")
//! .start();
//! assert_eq!(handle.join().unwrap(), "worker-1 running");
//! ```

mod fork;
mod handle;
mod info;
mod registry;

use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

pub use handle::{JoinError, JoinHandle, JoinTimeoutError};
pub(crate) use info::clear_checked;
pub use info::{current, main_thread, ThreadInfo};
// (lab helper) `thread::sleep`, through the seam: the dump shows SLEEPING.
mod sleep;
pub(crate) use registry::name_of;
pub use registry::{active_count, enumerate, main, wait_non_daemon, wait_non_daemon_timeout};
pub use sleep::sleep;

use handle::Packet;
use info::Meta;

/// A thread to be started: Python's `threading.Thread(target=f)`, as a builder.
///
/// ```
/// use heddle::thread::Thread;
///
/// let handle = Thread::new(|| (1..=10).sum::<u32>())
///     .name("summer")
///     .daemon(false)
///     .stack_size(256 * 1024)
///     .start();
/// assert_eq!(handle.join().unwrap(), 55);
/// ```
#[must_use = "a Thread does nothing until it is started"]
pub struct Thread<F> {
    f: F,
    name: Option<String>,
    daemon: Option<bool>,
    stack_size: Option<usize>,
}

impl<F, T> Thread<F>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    /// A thread that will run `f`.
    ///
    /// ```
    /// let handle = heddle::thread::Thread::new(|| "hi").start();
    /// assert_eq!(handle.join().unwrap(), "hi");
    /// ```
    pub fn new(f: F) -> Self {
        Thread {
            f,
            name: None,
            daemon: None,
            stack_size: None,
        }
    }

    /// Name the thread (default `"Thread-N"`). The OS thread gets the name too, cut at
    /// the first NUL byte, which OS thread names cannot hold.
    ///
    /// ```
    /// use heddle::thread::{self, Thread};
    ///
    /// let handle = Thread::new(|| thread::current().name().to_owned()).name("io").start();
    /// assert_eq!(handle.join().unwrap(), "io");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Make the thread a daemon or not (default: the starting thread's flag). See the
    /// [module docs](self) for what a daemon is.
    ///
    /// ```
    /// use heddle::thread::Thread;
    ///
    /// let handle = Thread::new(|| ()).daemon(true).start();
    /// assert!(handle.is_daemon());
    /// # handle.join().unwrap();
    /// ```
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = Some(daemon);
        self
    }

    /// The stack size in bytes (default: std's, 2 MiB unless `RUST_MIN_STACK` says
    /// otherwise). The OS may round it up.
    ///
    /// ```
    /// let handle = heddle::thread::Thread::new(|| 1).stack_size(64 * 1024).start();
    /// assert_eq!(handle.join().unwrap(), 1);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Start the thread and return its handle.
    ///
    /// # Panics
    ///
    /// If the OS refuses to create the thread, as std's `thread::spawn` does; use
    /// [`try_start`](Self::try_start) to handle that.
    ///
    /// ```
    /// let handle = heddle::thread::Thread::new(|| 2 + 2).start();
    /// assert_eq!(handle.join().unwrap(), 4);
    /// ```
    #[track_caller]
    pub fn start(self) -> JoinHandle<T> {
        match self.try_start() {
            Ok(handle) => handle,
            Err(err) => panic!("failed to start thread: {err}"),
        }
    }

    /// Start the thread, or return the OS's error if it cannot be created (for example
    /// when the stack cannot be allocated). A thread that fails to start never appears
    /// in [`enumerate`] and is not waited for.
    ///
    /// ```
    /// use heddle::thread::Thread;
    ///
    /// let too_big = Thread::new(|| ()).stack_size(1 << 60).try_start();
    /// assert!(too_big.is_err());
    /// let fine = Thread::new(|| ()).try_start().unwrap();
    /// fine.join().unwrap();
    /// ```
    #[track_caller]
    pub fn try_start(self) -> io::Result<JoinHandle<T>> {
        let at = std::panic::Location::caller();
        let Thread {
            f,
            name,
            daemon,
            stack_size,
        } = self;
        let daemon = daemon.unwrap_or_else(creator_is_daemon);
        let name = name
            // Under the checker numbered per execution, so a replay shows the same names.
            .unwrap_or_else(|| {
                let n = crate::check::next_number("Thread").unwrap_or_else(info::next_number);
                format!("Thread-{n}")
            })
            .into_boxed_str();
        let os_name = name.split('\0').next().unwrap_or_default().to_owned();
        let meta = Arc::new(Meta::starting(name, daemon));
        let packet: Arc<Packet<T>> = Arc::new(Packet::new(None));
        if crate::check::active() {
            return Ok(start_checked(meta, packet, f, at));
        }

        // Registered before the spawn so that `enumerate` lists the thread and
        // `heddle::main` counts it as soon as `start` returns, even if it has not run.
        let key = registry::register(&meta);
        let mut builder = std::thread::Builder::new().name(os_name);
        if let Some(bytes) = stack_size {
            builder = builder.stack_size(bytes);
        }
        let (thread_meta, thread_packet) = (Arc::clone(&meta), Arc::clone(&packet));
        match builder.spawn(move || run(key, thread_meta, thread_packet, f)) {
            // The std handle is dropped (detached): joins wait on `meta` through the
            // seam instead, which is what makes `join_timeout` possible.
            Ok(_detached) => Ok(JoinHandle { meta, packet }),
            Err(err) => {
                registry::retire(key, &meta);
                Err(err)
            }
        }
    }
}

impl<F> fmt::Debug for Thread<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread")
            .field("name", &self.name)
            .field("daemon", &self.daemon)
            .field("stack_size", &self.stack_size)
            .finish_non_exhaustive()
    }
}

/// The default daemon flag: the starting thread's. Asking must not create a `Dummy-N`
/// just to answer, so a thread without info yet is judged without making one.
fn creator_is_daemon() -> bool {
    match info::peek_current() {
        Some(me) => me.is_daemon(),
        None => info::claim_main(false).is_none(),
    }
}

/// The body of every heddle thread.
/// Under the checker a thread is a coroutine of the checker's scheduler: no OS thread,
/// not in the process-wide registry; its start is a schedule point of its creator.
fn start_checked<F, T>(
    meta: Arc<Meta>,
    packet: Arc<Packet<T>>,
    f: F,
    at: &'static std::panic::Location<'static>,
) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    crate::check::point(crate::check::Op {
        what: "spawn",
        object: None,
        at,
    });
    let (thread_meta, thread_packet) = (Arc::clone(&meta), Arc::clone(&packet));
    let name = meta.name.to_string();
    crate::check::spawn(
        name,
        Arc::as_ptr(&meta) as usize,
        at,
        Box::new(move || {
            thread_meta.mark_running();
            info::set_current(ThreadInfo {
                meta: Arc::clone(&thread_meta),
            });
            let result = panic::catch_unwind(AssertUnwindSafe(f))
                .map_err(|payload| JoinError::new(&thread_meta.name, payload));
            *thread_packet.lock() = Some(result);
            drop(thread_packet);
            thread_meta.mark_finished();
        }),
    );
    JoinHandle { meta, packet }
}

fn run<F, T>(key: u64, meta: Arc<Meta>, packet: Arc<Packet<T>>, f: F)
where
    F: FnOnce() -> T,
{
    meta.mark_running();
    info::set_current(ThreadInfo {
        meta: Arc::clone(&meta),
    });
    // Unwind safety: if `f` panics, nothing it touched is observed again except through
    // the payload, which is what std's spawn assumes too.
    let result = panic::catch_unwind(AssertUnwindSafe(f))
        .map_err(|payload| JoinError::new(&meta.name, payload));
    *packet.lock() = Some(result);
    drop(packet);
    registry::retire(key, &meta);
}
