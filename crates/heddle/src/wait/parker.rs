//! How a thread sleeps in the seam: a one-word state per thread plus the OS park.
//!
//! Each thread owns one [`Parker`] (thread-local, allocated once). A thread waits on at
//! most one [`WaitQueue`](super::WaitQueue) at a time, so one state word suffices: the
//! waiter sets it to `EMPTY` while enqueueing (under the queue's lock), and the notifier
//! sets it to `NOTIFIED` after taking the entry off the queue, then unparks the thread.
//! The waiter only returns once it has seen `NOTIFIED` (or removed its own entry after a
//! timeout), so a notification can never land in a later wait: no stale wake-ups, and
//! the OS park's own spurious returns are absorbed by re-checking the word.

use std::sync::Arc;
#[cfg(not(loom))]
use std::sync::Weak;
use std::time::Instant;

use super::object::WaitFor;
use super::sys::{self, AtomicU32, Ordering, Thread};

const EMPTY: u32 = 0;
const NOTIFIED: u32 = 1;

/// One thread's sleeping place.
#[derive(Debug)]
pub(crate) struct Parker {
    state: AtomicU32,
    thread: Thread,
    /// The thread's heddle id and name, for deadlock reports.
    #[cfg(not(loom))]
    id: u64,
    #[cfg(not(loom))]
    name: Box<str>,
    /// What the thread waits for while it is in an untimed wait (all-asleep reports).
    #[cfg(not(loom))]
    waiting: parking_lot::Mutex<Option<WaitFor>>,
    /// Set while the thread sleeps in an untimed wait that re-checks for all-asleep
    /// when asked (see [`poke_a_watcher`](Self::poke_a_watcher)).
    #[cfg(not(loom))]
    watching: std::sync::atomic::AtomicBool,
    /// A request to re-check, from a thread that is exiting.
    #[cfg(not(loom))]
    recheck: std::sync::atomic::AtomicBool,
    /// Set (under the queue lock) when a notifier takes this thread's entry off its
    /// queue: from then on it is not blocked, even before it runs again.
    #[cfg(not(loom))]
    dequeued: std::sync::atomic::AtomicBool,
    /// What the thread waits for in a *timed* wait (`waiting` holds the untimed ones),
    /// for the thread dump (debug hook; written only on the slow path).
    #[cfg(not(loom))]
    timed_waiting: parking_lot::Mutex<Option<WaitFor>>,
}

sys::thread_local! {
    static PARKER: Arc<Parker> = Parker::register();
}

/// Every thread's parker, for the all-asleep report ("who waits on what").
#[cfg(not(loom))]
static PARKERS: parking_lot::Mutex<Vec<Weak<Parker>>> = parking_lot::const_mutex(Vec::new());

impl Parker {
    #[cfg(not(loom))]
    fn register() -> Arc<Parker> {
        let parker = Arc::new(Parker {
            state: AtomicU32::new(NOTIFIED),
            thread: sys::current(),
            id: super::local::thread_id(),
            name: crate::thread::current().name().into(),
            waiting: parking_lot::const_mutex(None),
            watching: std::sync::atomic::AtomicBool::new(false),
            recheck: std::sync::atomic::AtomicBool::new(false),
            dequeued: std::sync::atomic::AtomicBool::new(false),
            timed_waiting: parking_lot::const_mutex(None),
        });
        let mut all = PARKERS.lock();
        all.retain(|p| p.strong_count() > 0);
        all.push(Arc::downgrade(&parker));
        parker
    }

    #[cfg(loom)]
    fn register() -> Arc<Parker> {
        Arc::new(Parker {
            state: AtomicU32::new(NOTIFIED),
            thread: sys::current(),
        })
    }

    /// Record (or clear) what this thread waits for in an untimed wait.
    #[cfg(not(loom))]
    pub(crate) fn set_waiting(&self, what: Option<WaitFor>) {
        *self.waiting.lock() = what;
    }

    #[cfg(loom)]
    pub(crate) fn set_waiting(&self, _what: Option<WaitFor>) {}

    /// Record what this thread waits for in a timed wait, until the guard drops
    /// (thread dump hook).
    #[cfg(not(loom))]
    pub(crate) fn timed_wait(&self, what: WaitFor) -> TimedWait<'_> {
        *self.timed_waiting.lock() = Some(what);
        TimedWait(self)
    }

    /// Every live parker, for the thread dump.
    #[cfg(not(loom))]
    pub(crate) fn views() -> Vec<ParkerView> {
        PARKERS
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .map(|p| ParkerView {
                id: p.id,
                name: p.name.to_string(),
                in_wait: !p.is_notified(),
                untimed: *p.waiting.lock(),
                timed: *p.timed_waiting.lock(),
            })
            .collect()
    }

    /// `(id, name, what it waits for)` of every thread in an untimed wait right now.
    #[cfg(not(loom))]
    pub(crate) fn sleepers() -> Vec<(u64, String, Option<WaitFor>)> {
        PARKERS
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|p| !p.is_notified())
            .map(|p| (p.id, p.name.to_string(), *p.waiting.lock()))
            .collect()
    }

    /// Start (or stop) honouring re-check requests in [`park_watching`](Self::park_watching).
    ///
    /// SeqCst, as are the reads of `local::live_threads` that follow
    /// it and the exiting thread's decrement and its read of `watching` in
    /// [`poke_a_watcher`](Self::poke_a_watcher): a store then a load on each side
    /// (store-buffering), where weaker orderings would let both read the old value: the
    /// sleeper would see the exiting thread as alive and the exiting thread would find
    /// no watcher, and nobody would look again.
    #[cfg(not(loom))]
    pub(crate) fn set_watching(&self, on: bool) {
        use std::sync::atomic::Ordering as O;
        self.recheck.store(false, O::Relaxed);
        self.watching.store(on, O::SeqCst);
    }

    /// Whether a re-check was asked for since the last call (and clear the request).
    #[cfg(not(loom))]
    pub(crate) fn take_recheck(&self) -> bool {
        self.recheck
            .swap(false, std::sync::atomic::Ordering::Acquire)
    }

    /// A thread with a heddle id is exiting: the threads left may all be asleep now, and
    /// nothing else would look. Ask one watching sleeper to re-check (it polls briefly,
    /// until the exiting thread has gone from the process's count).
    #[cfg(not(loom))]
    pub(crate) fn poke_a_watcher() {
        use std::sync::atomic::Ordering as O;
        let Some(all) = PARKERS.try_lock() else {
            // Someone is reading the sleepers right now: a check is running anyway.
            return;
        };
        let watcher = all
            .iter()
            .filter_map(Weak::upgrade)
            .find(|p| p.watching.load(O::SeqCst) && !p.is_notified());
        drop(all);
        if let Some(p) = watcher {
            p.recheck.store(true, O::Release);
            p.thread.unpark();
        }
    }

    /// [`park_until`](Self::park_until) for a watched wait: also returns (`false`, not
    /// notified) when a re-check is asked for. Spins first only if `spin`.
    #[cfg(not(loom))]
    pub(crate) fn park_watching(&self, deadline: Option<Instant>, spin: bool) -> bool {
        if spin && self.spin_briefly() {
            return true;
        }
        self.sleep_until(deadline, true)
    }

    // --- fork() support (issue 11, point 6; added by the soundness branch) ---

    /// Before `fork()`: hold the list of parkers, so that the child gets it whole.
    #[cfg(not(loom))]
    pub(crate) fn fork_prepare() {
        std::mem::forget(PARKERS.lock());
    }

    /// After `fork()`, in the parent: let go of the list.
    #[cfg(not(loom))]
    pub(crate) fn fork_parent() {
        // SAFETY: `fork_prepare` locked it on this thread and forgot the guard.
        unsafe { PARKERS.force_unlock() };
    }

    /// After `fork()`, in the child: only the forking thread (heddle id `me`, 0 if it
    /// has none) exists; forget every other thread's parker, so that no report names a
    /// parent thread, then let go of the list.
    #[cfg(not(loom))]
    pub(crate) fn fork_child(me: u64) {
        // SAFETY: `fork_prepare` locked it on this thread (the one the child continues)
        // and forgot the guard; nobody else exists in the child to hold it.
        let all = unsafe { &mut *PARKERS.data_ptr() };
        all.retain(|p| p.upgrade().is_some_and(|p| me != 0 && p.id == me));
        // SAFETY: as above.
        unsafe { PARKERS.force_unlock() };
    }

    /// The calling thread's parker.
    pub(crate) fn current() -> Arc<Parker> {
        PARKER.with(Arc::clone)
    }

    /// Arm for a new wait. Called under the queue lock, before the entry is visible.
    pub(crate) fn prepare(&self) {
        #[cfg(not(loom))]
        self.dequeued
            .store(false, std::sync::atomic::Ordering::Relaxed);
        self.state.store(EMPTY, Ordering::Relaxed);
    }

    /// A notifier took this thread's entry off its queue (called under the queue lock).
    #[cfg(not(loom))]
    pub(crate) fn mark_dequeued(&self) {
        self.dequeued
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// The calling thread is about to wait (and register with the deadlock detector):
    /// forget the previous wait's dequeue. No notifier can dequeue it before it enqueues.
    #[cfg(not(loom))]
    pub(crate) fn clear_dequeued(&self) {
        self.dequeued
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether a notifier has taken the thread off the queue of the wait it registered
    /// for (the deadlock detector's test for "no longer blocked"; the parker's own
    /// state would still say "notified" from the previous wait until it enqueues).
    #[cfg(not(loom))]
    pub(crate) fn dequeued(&self) -> bool {
        self.dequeued.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether the notification has arrived.
    pub(crate) fn is_notified(&self) -> bool {
        self.state.load(Ordering::Acquire) == NOTIFIED
    }

    /// Sleep until notified or until `deadline`; `true` if notified. A deadline that
    /// has already passed is not spun on either: the caller withdraws at once.
    #[cfg(not(loom))]
    pub(crate) fn park_until(&self, deadline: Option<Instant>) -> bool {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return self.is_notified();
        }
        if self.spin_briefly() {
            return true;
        }
        self.sleep_until(deadline, false)
    }

    /// The OS park until notified or `deadline` (or, if `recheck`, until a re-check is
    /// asked for); `true` if notified. Spurious OS wake-ups are absorbed here.
    #[cfg(not(loom))]
    fn sleep_until(&self, deadline: Option<Instant>, recheck: bool) -> bool {
        loop {
            if self.is_notified() {
                return true;
            }
            if recheck && self.recheck.load(std::sync::atomic::Ordering::Acquire) {
                return self.is_notified();
            }
            match deadline {
                None => sys::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return self.is_notified();
                    }
                    sys::park_timeout(deadline - now);
                }
            }
        }
    }

    /// Before the OS park (a futex round trip: tens of microseconds each way on this
    /// kind of machine, measured), watch the word for a moment: a hand-off between two
    /// running threads (an event ping-pong, a barrier round, a rendezvous) usually lands
    /// within that, and then the waiter never sleeps. Bounded twice over: in time (a long
    /// wait costs at most this much CPU) and in spinners (at most as many as CPUs spin
    /// at once, so a crowd of waiters does not starve the threads that would wake them).
    /// After 2 us it yields between looks, so it does not hold a CPU another runnable
    /// thread (perhaps the notifier) needs.
    #[cfg(not(loom))]
    fn spin_briefly(&self) -> bool {
        use std::sync::atomic::{AtomicUsize, Ordering as O};
        const BUDGET: std::time::Duration = std::time::Duration::from_micros(20);
        static SPINNERS: AtomicUsize = AtomicUsize::new(0);
        let allowed = spin_slots();
        if allowed == 0 || SPINNERS.fetch_add(1, O::Relaxed) >= allowed {
            if allowed != 0 {
                SPINNERS.fetch_sub(1, O::Relaxed);
            }
            return false;
        }
        const PURE: std::time::Duration = std::time::Duration::from_micros(2);
        let start = Instant::now();
        let notified = loop {
            if (0..64).any(|_| {
                std::hint::spin_loop();
                self.is_notified()
            }) {
                break true;
            }
            let spent = start.elapsed();
            if spent >= BUDGET {
                break self.is_notified();
            }
            if spent >= PURE {
                // Past the first moments, give the CPU away between looks: when the
                // machine has more runnable threads than CPUs, the thread that would
                // wake us may be waiting for this very CPU (a pure spin then only delays
                // it); on an idle machine the yield returns at once.
                std::thread::yield_now();
            }
        };
        SPINNERS.fetch_sub(1, O::Relaxed);
        notified
    }

    /// The loom model of [`park_until`](Self::park_until). Loom has no clock, so any
    /// deadline counts as already passed: a timed waiter gives up at the first moment it
    /// would sleep. Nothing is lost by not modelling "sleeps a while, then times out":
    /// sleeping changes no shared state, and loom already tries every way the other
    /// threads can advance before that moment, including a notifier taking the entry just
    /// before the waiter withdraws it (the race the timed-out path exists for).
    #[cfg(loom)]
    pub(crate) fn park_until(&self, deadline: Option<Instant>) -> bool {
        loop {
            if self.is_notified() {
                return true;
            }
            if deadline.is_some() {
                return false;
            }
            sys::park();
        }
    }

    /// Deliver the notification. Called after the entry left the queue, outside the lock.
    pub(crate) fn unpark(&self) {
        self.state.store(NOTIFIED, Ordering::Release);
        self.thread.unpark();
    }
}

/// How many threads may spin at once: as many as CPUs (a ping-pong needs both sides
/// spinning), and none on one CPU, where spinning only delays the thread that would
/// wake us. Read once.
#[cfg(not(loom))]
fn spin_slots() -> usize {
    use std::sync::OnceLock;
    static SLOTS: OnceLock<usize> = OnceLock::new();
    *SLOTS.get_or_init(
        || match std::thread::available_parallelism().map_or(1, |n| n.get()) {
            1 => 0,
            n => n,
        },
    )
}

/// A parker as the thread dump sees it.
#[cfg(not(loom))]
#[derive(Debug, Clone)]
pub(crate) struct ParkerView {
    pub(crate) id: u64,
    pub(crate) name: String,
    /// Between enqueueing on a wait queue and being notified (or giving up).
    pub(crate) in_wait: bool,
    pub(crate) untimed: Option<WaitFor>,
    pub(crate) timed: Option<WaitFor>,
}

/// Clears a parker's timed-wait record when the wait ends.
#[cfg(not(loom))]
pub(crate) struct TimedWait<'a>(&'a Parker);

#[cfg(not(loom))]
impl Drop for TimedWait<'_> {
    fn drop(&mut self) {
        *self.0.timed_waiting.lock() = None;
    }
}
