//! Who a thread is: its [`ThreadInfo`], and how heddle recognises the main thread and
//! threads it did not start.

use std::cell::OnceCell;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::wait::{local, WaitQueue, WaitResult};

/// Lifecycle of a thread as [`Meta::state`] records it; ordered, so "at least running"
/// is a comparison.
pub(super) const STARTING: u8 = 0;
pub(super) const RUNNING: u8 = 1;
pub(super) const FINISHED: u8 = 2;

/// One counter numbers both `Thread-N` and `Dummy-N`, as CPython's `_counter` does.
static COUNTER: AtomicU64 = AtomicU64::new(1);

pub(super) fn next_number() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// Where a thread came from; decides what `is_alive` and the non-daemon count mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Main,
    Heddle,
    Dummy,
}

/// What every [`ThreadInfo`] and [`JoinHandle`](super::JoinHandle) of one thread share.
pub(super) struct Meta {
    pub(super) name: Box<str>,
    pub(super) daemon: bool,
    pub(super) kind: Kind,
    /// 0 until the thread has run its first instruction (or, for the main thread, until
    /// it has been identified).
    ident: AtomicU64,
    native_id: AtomicU64,
    state: AtomicU8,
    /// Joiners and `ident`/`native_id` callers waiting for the state to advance.
    queue: WaitQueue,
}

impl Meta {
    pub(super) fn starting(name: Box<str>, daemon: bool) -> Self {
        Meta {
            name,
            daemon,
            kind: Kind::Heddle,
            ident: AtomicU64::new(0),
            native_id: AtomicU64::new(0),
            state: AtomicU8::new(STARTING),
            queue: WaitQueue::new(),
        }
    }

    fn running(name: Box<str>, daemon: bool, kind: Kind, ident: u64, native_id: u64) -> Self {
        Meta {
            name,
            daemon,
            kind,
            ident: AtomicU64::new(ident),
            native_id: AtomicU64::new(native_id),
            state: AtomicU8::new(RUNNING),
            queue: WaitQueue::new(),
        }
    }

    /// Called by the new thread itself, first thing.
    pub(super) fn mark_running(&self) {
        self.ident.store(local::thread_id(), Ordering::Relaxed);
        self.native_id.store(native_id(), Ordering::Relaxed);
        self.advance(RUNNING);
    }

    /// Called once the result is stored (or the OS refused to start the thread).
    pub(super) fn mark_finished(&self) {
        self.advance(FINISHED);
    }

    fn advance(&self, state: u8) {
        // The store precedes the queue lock taken by `notify_all`, and waiters check the
        // state under that lock, so a waiter either sees the new state or is woken.
        self.state.store(state, Ordering::Release);
        self.queue.notify_all(|_, _| {});
    }

    pub(super) fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    /// Block through the seam until the state is at least `state`; `false` if
    /// `deadline` passed first.
    #[track_caller]
    pub(super) fn wait_for(&self, state: u8, deadline: Option<Instant>) -> bool {
        let what = crate::wait::WaitFor {
            what: if state == FINISHED {
                "join"
            } else {
                "wait for start"
            },
            object: crate::wait::Object::new("Thread", self, None),
            at: std::panic::Location::caller(),
        };
        loop {
            if self.state() >= state {
                return true;
            }
            let result = self.queue.wait_on(
                Some(&what),
                0,
                || self.state() < state,
                || {},
                deadline,
                |_| {},
            );
            if result == WaitResult::TimedOut {
                return self.state() >= state;
            }
        }
    }

    pub(super) fn ident(&self) -> u64 {
        self.wait_for(RUNNING, None);
        self.ident.load(Ordering::Relaxed)
    }

    pub(super) fn native_id(&self) -> u64 {
        self.wait_for(RUNNING, None);
        self.native_id.load(Ordering::Relaxed)
    }

    /// Whether this is the thread with heddle id `id` (never blocks).
    pub(super) fn is_current_id(&self, id: u64) -> bool {
        self.state() >= RUNNING && self.ident.load(Ordering::Relaxed) == id
    }

    /// Whether the calling thread is this one (never blocks).
    pub(super) fn is_current(&self) -> bool {
        self.state() >= RUNNING && self.ident.load(Ordering::Relaxed) == local::thread_id()
    }

    pub(super) fn is_alive(&self) -> bool {
        self.state() != FINISHED
    }
}

impl fmt::Debug for Meta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never block in Debug: a thread that has not begun shows ident 0.
        f.debug_struct("ThreadInfo")
            .field("name", &self.name)
            .field("ident", &self.ident.load(Ordering::Relaxed))
            .field("native_id", &self.native_id.load(Ordering::Relaxed))
            .field("daemon", &self.daemon)
            .field("alive", &self.is_alive())
            .finish()
    }
}

/// A description of one thread: Python's `Thread` object as [`current`],
/// [`main_thread`] and [`enumerate`](super::enumerate) return it.
///
/// Cheap to clone (one reference count). Two `ThreadInfo`s compare equal when they
/// describe the same thread.
///
/// ```
/// use heddle::thread::{self, Thread};
///
/// let handle = Thread::new(|| thread::current()).name("worker").start();
/// let info = handle.join().unwrap();
/// assert_eq!(info.name(), "worker");
/// assert!(!info.is_alive());
/// assert_ne!(info, thread::current());
/// ```
#[derive(Clone)]
pub struct ThreadInfo {
    pub(super) meta: Arc<Meta>,
}

impl ThreadInfo {
    /// The thread's name: the one given to [`Thread::name`](super::Thread::name),
    /// `"Thread-N"` for unnamed heddle threads, `"MainThread"`, or `"Dummy-N"` for a
    /// thread heddle did not start.
    ///
    /// ```
    /// assert_eq!(heddle::thread::main_thread().name(), "MainThread");
    /// ```
    pub fn name(&self) -> &str {
        &self.meta.name
    }

    /// The thread's heddle id: unique for the life of the process and never 0; the id
    /// deadlock reports and lock owners use. Waits until a just-started thread has begun
    /// running (its first act), like Python's `start()`. A thread the OS refused to
    /// start reports 0.
    ///
    /// ```
    /// use heddle::thread::{self, Thread};
    ///
    /// let handle = Thread::new(|| thread::current().ident()).start();
    /// let ident = handle.ident();
    /// assert_eq!(handle.join().unwrap(), ident);
    /// assert_ne!(ident, thread::current().ident());
    /// ```
    pub fn ident(&self) -> u64 {
        self.meta.ident()
    }

    /// The operating system's id for the thread (`gettid()` on Linux, where the main
    /// thread's is the process id); 0 on platforms where heddle cannot read it. Waits
    /// like [`ident`](Self::ident).
    ///
    /// ```
    /// let main = heddle::thread::main_thread();
    /// # #[cfg(target_os = "linux")]
    /// assert_eq!(main.native_id(), u64::from(std::process::id()));
    /// ```
    pub fn native_id(&self) -> u64 {
        self.meta.native_id()
    }

    /// Whether the thread is a daemon: one [`heddle::main`](crate::main) and
    /// [`wait_non_daemon`](super::wait_non_daemon) do not wait for. The main thread is
    /// not; threads heddle did not start are (as in Python).
    ///
    /// ```
    /// assert!(!heddle::thread::main_thread().is_daemon());
    /// ```
    pub fn is_daemon(&self) -> bool {
        self.meta.daemon
    }

    /// Whether the thread is still running its closure. Always `true` for the main
    /// thread and for threads heddle did not start (heddle cannot see them end).
    ///
    /// ```
    /// use heddle::thread::Thread;
    ///
    /// let handle = Thread::new(|| ()).start();
    /// let info = handle.info();
    /// handle.join().unwrap();
    /// assert!(!info.is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        self.meta.is_alive()
    }
}

impl fmt::Debug for ThreadInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.meta.fmt(f)
    }
}

impl PartialEq for ThreadInfo {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.meta, &other.meta)
    }
}

impl Eq for ThreadInfo {}

impl Hash for ThreadInfo {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.meta).hash(state);
    }
}

thread_local! {
    /// Set by heddle threads before their closure runs; filled lazily elsewhere.
    static CURRENT: OnceCell<ThreadInfo> = const { OnceCell::new() };
}

/// The calling thread's [`ThreadInfo`]: Python's `threading.current_thread()`.
///
/// A thread heddle did not start is `"MainThread"` if it is the process's main thread,
/// and otherwise gets a `"Dummy-N"` name and is a daemon, as in Python. The info is made
/// once per thread, so repeated calls return equal values.
///
/// ```
/// use heddle::thread::{self, Thread};
///
/// assert_eq!(thread::current(), thread::main_thread());
/// let name = Thread::new(|| thread::current().name().to_owned())
///     .name("parser")
///     .start()
///     .join()
///     .unwrap();
/// assert_eq!(name, "parser");
/// ```
pub fn current() -> ThreadInfo {
    if crate::check::active() {
        return checked_current();
    }
    CURRENT
        .try_with(|c| c.get_or_init(identify).clone())
        // Called from a thread-local destructor after ours ran: answer without caching.
        .unwrap_or_else(|_| identify())
}

/// The calling thread's info if it already has one; never creates a dummy.
pub(super) fn peek_current() -> Option<ThreadInfo> {
    if crate::check::active() {
        return Some(checked_current());
    }
    CURRENT.try_with(|c| c.get().cloned()).ok().flatten()
}

/// Install a heddle thread's own info before its closure runs.
pub(super) fn set_current(info: ThreadInfo) {
    if crate::check::active() {
        CHECKED.with(|m| m.borrow_mut().insert(local::thread_id(), info));
        return;
    }
    let _ = CURRENT.try_with(|c| c.set(info));
}

thread_local! {
    /// Checked threads share their OS thread: their infos are keyed by heddle id. The
    /// checker's root thread (the test closure) is its run's "MainThread".
    static CHECKED: std::cell::RefCell<std::collections::HashMap<u64, ThreadInfo>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

fn checked_current() -> ThreadInfo {
    let id = local::thread_id();
    CHECKED.with(|m| {
        m.borrow_mut()
            .entry(id)
            .or_insert_with(|| ThreadInfo {
                meta: Arc::new(Meta::running("MainThread".into(), false, Kind::Main, id, 0)),
            })
            .clone()
    })
}

/// The name of the checked thread whose `Meta` is at `addr`, if this OS thread runs it.
pub(super) fn checked_name_of(addr: usize) -> Option<String> {
    CHECKED
        .try_with(|m| {
            m.borrow()
                .values()
                .find(|i| Arc::as_ptr(&i.meta) as usize == addr)
                .map(|i| i.meta.name.to_string())
        })
        .ok()
        .flatten()
}

/// Forget the infos of a finished checked run.
pub(crate) fn clear_checked() {
    CHECKED.with(|m| m.borrow_mut().clear());
}

/// Make the info of a thread heddle did not start.
fn identify() -> ThreadInfo {
    if let Some(main) = claim_main(false) {
        return main;
    }
    let name = format!("Dummy-{}", next_number()).into_boxed_str();
    ThreadInfo {
        meta: Arc::new(Meta::running(
            name,
            true,
            Kind::Dummy,
            local::thread_id(),
            native_id(),
        )),
    }
}

/// The main thread's info, created on first use; its ident is 0 until the main thread
/// is identified (at load time on Linux, see `RECORD_MAIN`).
static MAIN: OnceLock<Arc<Meta>> = OnceLock::new();

fn main_meta() -> &'static Arc<Meta> {
    MAIN.get_or_init(|| {
        let native = if cfg!(target_os = "linux") {
            u64::from(std::process::id())
        } else {
            0
        };
        Arc::new(Meta::running(
            "MainThread".into(),
            false,
            Kind::Main,
            0,
            native,
        ))
    })
}

/// The process's main thread: Python's `threading.main_thread()`.
///
/// On Linux the main thread is the one whose OS id is the process id, and heddle
/// records it when the program loads, so this is right from any thread at any time.
/// Elsewhere it is the thread that called [`heddle::main`](crate::main); until one has,
/// its `ident` and `native_id` are 0.
///
/// ```
/// use heddle::thread::{self, Thread};
///
/// let main = thread::main_thread();
/// assert_eq!(main.name(), "MainThread");
/// let seen = Thread::new(thread::main_thread).start().join().unwrap();
/// assert_eq!(seen, main);
/// ```
pub fn main_thread() -> ThreadInfo {
    ThreadInfo {
        meta: main_meta().clone(),
    }
}

/// If the calling thread is the main thread, its info. `force` makes the caller the
/// main thread where the OS cannot tell (the caller is `heddle::main`).
pub(super) fn claim_main(force: bool) -> Option<ThreadInfo> {
    let meta = main_meta();
    let me = local::thread_id();
    let claimed = meta.ident.load(Ordering::Acquire);
    if claimed == me {
        return Some(main_thread());
    }
    if claimed != 0 || !is_os_main_thread().unwrap_or(force) {
        return None;
    }
    if !cfg!(target_os = "linux") {
        meta.native_id.store(native_id(), Ordering::Relaxed);
    }
    match meta
        .ident
        .compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire)
    {
        Ok(_) => Some(main_thread()),
        Err(other) if other == me => Some(main_thread()),
        Err(_) => None,
    }
}

/// Whether the OS says the calling thread is the main one; `None` if it cannot say.
fn is_os_main_thread() -> Option<bool> {
    if cfg!(target_os = "linux") {
        Some(native_id() == u64::from(std::process::id()))
    } else {
        None
    }
}

/// The calling thread's OS id.
fn native_id() -> u64 {
    #[cfg(target_os = "linux")]
    {
        // The raw syscall rather than `libc::gettid`: glibc only gained that wrapper in
        // 2.30, older than what Rust supports.
        // SAFETY: gettid takes no arguments, cannot fail and touches no memory.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) };
        u64::try_from(tid).unwrap_or(0)
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

/// Identify the main thread while the program loads, before `main` runs and before any
/// other thread exists, so `main_thread()` knows its ident even if the main thread never
/// calls into heddle (a test harness's main thread, for example).
#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array"]
static RECORD_MAIN: extern "C" fn() = {
    extern "C" fn record_main() {
        // A library loaded later by another thread is not on the main thread; then the
        // main thread is identified when it first asks.
        let _ = claim_main(false);
        // Before any thread can take a lock (see `wait::fence`).
        crate::wait::fence::register();
        // Before any thread can fork.
        super::fork::register();
    }
    record_main
};
