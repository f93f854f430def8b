//! The live heddle threads: what `enumerate` lists and what `heddle::main` waits for.
//!
//! Touched only when a thread starts or finishes and by the listing calls, never on a
//! fast path, so one plain lock is enough.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::info::{self, Kind, Meta, ThreadInfo};
use crate::wait::{deadline_after, WaitQueue, WaitResult};

struct Registry {
    /// Keyed by start order, so `enumerate` lists threads oldest first, as Python does.
    live: BTreeMap<u64, Arc<Meta>>,
    next_key: u64,
    non_daemon: usize,
}

static REGISTRY: Mutex<Registry> = parking_lot::const_mutex(Registry {
    live: BTreeMap::new(),
    next_key: 0,
    non_daemon: 0,
});

/// Where `wait_non_daemon` sleeps until the non-daemon count drops.
static NON_DAEMON_EXITED: WaitQueue = WaitQueue::new();

/// The name of the live thread whose `Meta` is at `addr` (what a join waits on), for
/// reports; checked threads are looked up among the running execution's.
pub(crate) fn name_of(addr: usize) -> Option<String> {
    let is = |m: &Arc<Meta>| Arc::as_ptr(m) as usize == addr;
    if let Some(name) = info::checked_name_of(addr) {
        return Some(name);
    }
    let registry = REGISTRY.lock();
    registry
        .live
        .values()
        .find(|m| is(m))
        .map(|m| m.name.to_string())
}

/// Enter a thread about to be spawned; the key removes it again.
pub(super) fn register(meta: &Arc<Meta>) -> u64 {
    let mut registry = REGISTRY.lock();
    registry.next_key += 1;
    let key = registry.next_key;
    registry.live.insert(key, Arc::clone(meta));
    if !meta.daemon {
        registry.non_daemon += 1;
    }
    key
}

/// Retire a thread whose result is stored (or that never started): it leaves the list,
/// is marked finished, and only then stops counting as a non-daemon thread. So whoever
/// sees it finished no longer finds it in `enumerate`, and whoever `wait_non_daemon`
/// let go sees it finished.
pub(super) fn retire(key: u64, meta: &Meta) {
    REGISTRY.lock().live.remove(&key);
    meta.mark_finished();
    if meta.daemon {
        return;
    }
    let remaining = {
        let mut registry = REGISTRY.lock();
        registry.non_daemon -= 1;
        registry.non_daemon
    };
    // Waiters want the count at 0, or at 1 when the waiter is itself non-daemon.
    if remaining <= 1 {
        NON_DAEMON_EXITED.notify_all(|_, _| {});
    }
}

/// Before `fork()`: hold the registry, so that the child gets it whole.
pub(super) fn fork_prepare() {
    std::mem::forget(REGISTRY.lock());
}

/// After `fork()`, in the parent: let go of the registry.
pub(super) fn fork_parent() {
    // SAFETY: `fork_prepare` locked it on this thread and forgot the guard.
    unsafe { REGISTRY.force_unlock() };
}

/// After `fork()`, in the child: only the forking thread exists. Keep its entry (if it
/// is a heddle thread, it retires itself when it ends) and drop the others, so that
/// `enumerate` and `active_count` list only what the child has and
/// [`wait_non_daemon`] does not wait for the parent's threads.
pub(super) fn fork_child(me: u64) {
    // SAFETY: `fork_prepare` locked it on this thread (the one the child continues).
    let registry = unsafe { &mut *REGISTRY.data_ptr() };
    registry
        .live
        .retain(|_, meta| me != 0 && meta.is_current_id(me));
    registry.non_daemon = registry.live.values().filter(|m| !m.daemon).count();
    // SAFETY: as above.
    unsafe { REGISTRY.force_unlock() };
}

/// Every live thread: the main thread, then each running heddle thread in start order.
/// Python's `threading.enumerate()`.
///
/// Threads heddle did not start (other than the main thread) are not listed: heddle
/// cannot see them end. A thread is listed from the moment [`Thread::start`] returns
/// until just before its [`JoinHandle::join`] can return.
///
/// [`Thread::start`]: super::Thread::start
/// [`JoinHandle::join`]: super::JoinHandle::join
///
/// ```
/// use heddle::thread::{self, Thread};
/// use std::sync::mpsc;
///
/// let (release, gate) = mpsc::channel::<()>();
/// let handle = Thread::new(move || gate.recv().unwrap()).name("blocked").start();
/// let info = handle.info();
/// assert!(thread::enumerate().contains(&info));
/// assert_eq!(thread::enumerate()[0], thread::main_thread());
/// release.send(()).unwrap();
/// handle.join().unwrap();
/// assert!(!thread::enumerate().contains(&info));
/// ```
pub fn enumerate() -> Vec<ThreadInfo> {
    let main = info::main_thread();
    let registry = REGISTRY.lock();
    let mut all = Vec::with_capacity(registry.live.len() + 1);
    all.push(main);
    all.extend(registry.live.values().map(|meta| ThreadInfo {
        meta: Arc::clone(meta),
    }));
    all
}

/// How many threads [`enumerate`] would list: Python's `threading.active_count()`.
///
/// ```
/// use heddle::thread::{self, Thread};
///
/// assert_eq!(thread::active_count(), 1); // just the main thread
/// let (release, gate) = std::sync::mpsc::channel::<()>();
/// let handle = Thread::new(move || gate.recv().unwrap()).start();
/// assert_eq!(thread::active_count(), 2);
/// release.send(()).unwrap();
/// handle.join().unwrap();
/// assert_eq!(thread::active_count(), 1);
/// ```
pub fn active_count() -> usize {
    REGISTRY.lock().live.len() + 1
}

/// Block until every non-daemon heddle thread has finished, as Python's interpreter does
/// before it exits. Threads started while this waits are waited for too.
///
/// Called from a non-daemon heddle thread, it waits for all the others (two such threads
/// waiting this way wait for each other forever, as two threads joining each other do).
///
/// ```
/// use heddle::thread::{self, Thread};
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
///
/// let done = Arc::new(AtomicBool::new(false));
/// let flag = Arc::clone(&done);
/// // Dropping the handle detaches the thread; it is still waited for.
/// drop(Thread::new(move || flag.store(true, Ordering::SeqCst)).daemon(false).start());
/// thread::wait_non_daemon();
/// assert!(done.load(Ordering::SeqCst));
/// ```
pub fn wait_non_daemon() {
    wait_non_daemon_until(None);
}

/// [`wait_non_daemon`] with a limit: `true` if every non-daemon heddle thread finished
/// within `timeout`, `false` if some were still running.
///
/// ```
/// use heddle::thread::{self, Thread};
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// let (release, gate) = mpsc::channel::<()>();
/// let handle = Thread::new(move || gate.recv().unwrap()).daemon(false).start();
/// assert!(!thread::wait_non_daemon_timeout(Duration::from_millis(10)));
/// release.send(()).unwrap();
/// assert!(thread::wait_non_daemon_timeout(Duration::from_secs(60)));
/// assert!(!handle.is_alive());
/// ```
pub fn wait_non_daemon_timeout(timeout: Duration) -> bool {
    wait_non_daemon_until(deadline_after(timeout))
}

fn wait_non_daemon_until(deadline: Option<Instant>) -> bool {
    let allowed = match info::peek_current() {
        Some(me) if me.meta.kind == Kind::Heddle && !me.meta.daemon && me.is_alive() => 1,
        _ => 0,
    };
    let pending = || REGISTRY.lock().non_daemon > allowed;
    loop {
        if !pending() {
            return true;
        }
        // `pending` runs under the queue lock and `retire` notifies after changing
        // the count, so a thread finishing between the check and the sleep wakes us.
        let result = NON_DAEMON_EXITED.wait(0, pending, || {}, deadline, |_| {});
        if result == WaitResult::TimedOut {
            return !pending();
        }
    }
}

/// Run `f` as a program's body, then wait for every non-daemon heddle thread to finish
/// before returning what `f` returned: a program ends when its last non-daemon thread
/// does, as in Python.
///
/// If `f` panics, the non-daemon threads are still waited for before the panic goes on
/// (Python also waits after an uncaught exception in the main thread). On platforms
/// where the OS cannot say which thread is the main one, the caller becomes
/// `"MainThread"`.
///
/// ```
/// use heddle::thread::Thread;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
///
/// fn main() {
///     let hits = Arc::new(AtomicU32::new(0));
///     let seen = Arc::clone(&hits);
///     let answer = heddle::main(move || {
///         for _ in 0..4 {
///             let hits = Arc::clone(&hits);
///             // Not joined: heddle::main waits for it.
///             Thread::new(move || hits.fetch_add(1, Ordering::SeqCst)).start();
///         }
///         42
///     });
///     assert_eq!(answer, 42);
///     assert_eq!(seen.load(Ordering::SeqCst), 4);
/// }
/// ```
pub fn main<R>(f: impl FnOnce() -> R) -> R {
    if info::peek_current().is_none() {
        let _ = info::claim_main(true);
    }
    struct WaitOnExit;
    impl Drop for WaitOnExit {
        fn drop(&mut self) {
            wait_non_daemon();
        }
    }
    let _wait = WaitOnExit;
    f()
}
