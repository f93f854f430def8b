//! The raw mutual-exclusion word under [`Lock`](super::Lock) and [`RLock`](super::RLock).
//!
//! One `AtomicU64` holds the lock: bit 0 is `LOCKED`, bit 2 `TRACKED` (see below), bits
//! 3.. are the owner's heddle thread id. Recording the owner costs nothing extra on the
//! fast path, since it is part of the same compare-and-swap that takes the lock, and it
//! is always exact (set and cleared with the lock bit), which is what the deadlock
//! detector and `RLock` re-entry rely on.
//!
//! While the lock is held only its holder writes the word, so the release is a plain
//! store, not a second read-modify-write: waiters announce themselves in a separate
//! word (`waiters`), and the release looks at it after its store. That a waiter about to
//! sleep and a release never miss each other is Dekker's pattern with asymmetric fences
//! (see `wait::fence`): the release's fence is free, the waiter's is a process-wide
//! barrier, paid once per sleep (which costs a futex round trip anyway).
//!
//! Fairness: unfair by design, like std's and parking_lot's mutexes: an unlocking thread
//! wakes the first waiter in FIFO order, but a thread arriving at that moment may take
//! the lock first ("barging"), which is what keeps throughput high under contention. The
//! woken waiter then re-queues.

use std::panic::Location;
use std::sync::atomic::AtomicPtr;
use std::time::Instant;

use crate::wait::sys::{AtomicU32, AtomicU64, Ordering};
use crate::wait::{local, SpinWait, WaitQueue, WaitResult};
#[cfg(not(loom))]
use crate::wait::{observe, Object};

const LOCKED: u64 = 1;
/// Set by an instrumented acquisition (checker, lock-order mode): its release must run
/// the matching hooks. Being in the word, it sends that release to the slow path, so
/// the plain unlock never reads a global flag.
const TRACKED: u64 = 4;
const OWNER_SHIFT: u32 = 3;

/// A word-sized lock that records its owner.
#[derive(Debug)]
pub(crate) struct RawLock {
    state: AtomicU64,
    /// Nonzero while some thread may be asleep in `queue` (set by each waiter before it
    /// validates and sleeps; cleared, under the queue lock, by whoever empties the
    /// queue). A release that finds it set wakes one.
    waiters: AtomicU32,
    /// Where the current holder took it (for deadlock reports); a plain store on the
    /// fast path, next to the state word.
    taken_at: AtomicPtr<Location<'static>>,
    queue: WaitQueue,
    site: &'static Location<'static>,
    kind: &'static str,
    /// Under loom, the fence pair is modelled as read-modify-writes of one word (loom
    /// has no process-wide barrier); see `light`/`heavy`.
    #[cfg(loom)]
    barrier: AtomicU32,
}

impl RawLock {
    /// A lock of the given kind ("Lock", "RLock": the name reports use).
    #[cfg(not(loom))]
    #[track_caller]
    pub(crate) const fn new(kind: &'static str) -> Self {
        RawLock {
            state: AtomicU64::new(0),
            waiters: AtomicU32::new(0),
            taken_at: AtomicPtr::new(std::ptr::null_mut()),
            queue: WaitQueue::new(),
            site: Location::caller(),
            kind,
        }
    }

    /// Not `const` under loom: loom's atomics and mutex have no `const` constructors.
    #[cfg(loom)]
    #[track_caller]
    pub(crate) fn new(kind: &'static str) -> Self {
        RawLock {
            state: AtomicU64::new(0),
            waiters: AtomicU32::new(0),
            taken_at: AtomicPtr::new(std::ptr::null_mut()),
            queue: WaitQueue::new(),
            site: Location::caller(),
            kind,
            barrier: AtomicU32::new(0),
        }
    }

    /// The release's side of the fence pair (free outside loom; see `wait::fence`).
    #[inline(always)]
    fn light(&self) {
        #[cfg(not(loom))]
        crate::wait::fence::light();
        #[cfg(loom)]
        self.barrier.fetch_add(0, Ordering::AcqRel);
    }

    /// The waiter's side of the fence pair.
    fn heavy(&self) {
        #[cfg(not(loom))]
        crate::wait::fence::heavy();
        #[cfg(loom)]
        self.barrier.fetch_add(0, Ordering::AcqRel);
    }

    /// Where the lock was created (for reports).
    pub(crate) fn site(&self) -> &'static Location<'static> {
        self.site
    }

    /// What reports call it: kind and creation site.
    #[cfg(not(loom))]
    pub(crate) fn object(&self) -> Object {
        Object::new(self.kind, self, Some(self.site))
    }

    /// Where the current holder took it, if known.
    pub(crate) fn taken_at(&self) -> Option<&'static Location<'static>> {
        let p = self.taken_at.load(std::sync::atomic::Ordering::Relaxed);
        // SAFETY: only ever set from `&'static Location` values.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// Heddle id of the owning thread, or 0.
    #[inline]
    pub(crate) fn owner(&self) -> u64 {
        self.state.load(Ordering::Relaxed) >> OWNER_SHIFT
    }

    /// Whether some thread holds it.
    #[inline]
    pub(crate) fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }

    /// Take the lock for a user-facing call at `at`: the fast path, or the instrumented
    /// one when the checker or lock-order mode is watching.
    #[inline]
    pub(crate) fn acquire(
        &self,
        at: &'static Location<'static>,
        deadline: Option<Instant>,
    ) -> bool {
        self.acquire_as(local::thread_id(), at, deadline)
    }

    /// [`acquire`](Self::acquire) for a caller that already read its thread id.
    #[inline]
    pub(crate) fn acquire_as(
        &self,
        me: u64,
        at: &'static Location<'static>,
        deadline: Option<Instant>,
    ) -> bool {
        #[cfg(not(loom))]
        if observe::instrumented() {
            return self.acquire_instrumented(me, at, deadline, false);
        }
        self.lock_word(me << OWNER_SHIFT | LOCKED, at, deadline)
    }

    /// `try_lock` for a user-facing call at `at`.
    #[inline]
    pub(crate) fn try_acquire(&self, at: &'static Location<'static>) -> bool {
        #[cfg(not(loom))]
        if observe::instrumented() {
            return self.acquire_instrumented(local::thread_id(), at, None, true);
        }
        self.try_lock_at(at)
    }

    /// Release for a user-facing guard (an instrumented acquisition's hooks run in
    /// the slow path, found through the `TRACKED` bit).
    #[inline]
    pub(crate) fn release(&self) {
        self.unlock();
    }

    /// Release around a condition wait: the hold is logically kept, so no hooks run.
    /// Returns what [`relock_after_wait`](Self::relock_after_wait) needs.
    pub(crate) fn unlock_for_wait(&self) -> bool {
        // Under the checker this step touches the lock (for partial-order reduction).
        #[cfg(not(loom))]
        crate::check::touch(self as *const Self as usize);
        let tracked = self.state.load(Ordering::Relaxed) & TRACKED != 0;
        if tracked {
            self.state.fetch_and(!TRACKED, Ordering::Relaxed);
        }
        self.unlock();
        tracked
    }

    /// Take the lock back after a condition wait (called at `at`).
    pub(crate) fn relock_after_wait(&self, tracked: bool, at: &'static Location<'static>) {
        #[cfg(not(loom))]
        crate::check::touch(self as *const Self as usize);
        let tracked = if tracked { TRACKED } else { 0 };
        self.lock_word(
            local::thread_id() << OWNER_SHIFT | LOCKED | tracked,
            at,
            None,
        );
    }

    /// The checker or lock-order mode is watching (thread `me`): a schedule point,
    /// lock-order edges, then the acquisition, marked `TRACKED` so its release runs the
    /// matching hooks.
    #[cfg(not(loom))]
    #[cold]
    #[inline(never)]
    fn acquire_instrumented(
        &self,
        me: u64,
        at: &'static Location<'static>,
        deadline: Option<Instant>,
        only_try: bool,
    ) -> bool {
        let checked = me & crate::check::CHECKED != 0;
        let object = self.object();
        if checked {
            crate::check::point(crate::check::Op {
                what: if only_try { "try_lock" } else { "lock" },
                object: Some(object),
                at,
            });
        } else if !observe::lock_order() {
            // Another thread's checker is running: nothing watches this one.
            let word = me << OWNER_SHIFT | LOCKED;
            return if only_try {
                self.try_lock_word(word, at)
            } else {
                self.lock_word(word, at, deadline)
            };
        }
        // Under the checker every execution feeds the lock-order graph.
        let word = me << OWNER_SHIFT | LOCKED | TRACKED;
        let hold = crate::deadlock::before_acquire(me, object, at, only_try);
        let taken = if only_try {
            self.try_lock_word(word, at)
        } else {
            self.lock_word(word, at, deadline)
        };
        if taken {
            hold.taken();
            if checked {
                crate::check::acquired(object.addr);
            }
        }
        taken
    }

    /// The checker's hooks matching a `TRACKED` acquisition, before its release: a
    /// schedule point, and the lock-order hold dropped.
    #[cfg(not(loom))]
    #[cold]
    #[inline(never)]
    fn checked_release_hooks(&self, owner: u64) {
        let addr = self as *const Self as usize;
        crate::check::point(crate::check::Op {
            what: "unlock",
            object: Some(self.object()),
            at: self.taken_at().unwrap_or(self.site),
        });
        crate::check::released(addr);
        crate::deadlock::on_release(owner, addr);
    }

    #[inline]
    #[track_caller]
    #[cfg_attr(not(loom), allow(dead_code))]
    pub(crate) fn try_lock(&self) -> bool {
        self.try_lock_at(Location::caller())
    }

    #[inline]
    fn try_lock_at(&self, at: &'static Location<'static>) -> bool {
        self.try_lock_word(local::thread_id() << OWNER_SHIFT | LOCKED, at)
    }

    /// Try to install `me` (owner, `LOCKED`, maybe `TRACKED`) in one CAS.
    #[inline]
    fn try_lock_word(&self, me: u64, at: &'static Location<'static>) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                state | me,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.set_taken_at(at);
                    return true;
                }
                Err(s) => state = s,
            }
        }
    }

    #[inline]
    fn set_taken_at(&self, at: &'static Location<'static>) {
        self.taken_at.store(
            at as *const Location<'static> as *mut _,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Take the lock, waiting until `deadline` (forever if `None`); `false` on timeout.
    #[inline]
    #[track_caller]
    #[cfg_attr(not(loom), allow(dead_code))]
    pub(crate) fn lock_until(&self, deadline: Option<Instant>) -> bool {
        self.lock_at(Location::caller(), deadline)
    }

    #[inline]
    #[cfg_attr(not(loom), allow(dead_code))]
    fn lock_at(&self, at: &'static Location<'static>, deadline: Option<Instant>) -> bool {
        self.lock_word(local::thread_id() << OWNER_SHIFT | LOCKED, at, deadline)
    }

    /// Take the lock installing `me` (owner, `LOCKED`, maybe `TRACKED`) in the CAS.
    #[inline]
    fn lock_word(
        &self,
        me: u64,
        at: &'static Location<'static>,
        deadline: Option<Instant>,
    ) -> bool {
        if self
            .state
            .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            self.set_taken_at(at);
            return true;
        }
        let taken = self.lock_slow(me, at, deadline);
        if taken {
            self.set_taken_at(at);
        }
        taken
    }

    #[cold]
    fn lock_slow(
        &self,
        me: u64,
        at: &'static Location<'static>,
        deadline: Option<Instant>,
    ) -> bool {
        let mut spin = SpinWait::new();
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED == 0 {
                match self.state.compare_exchange_weak(
                    state,
                    me,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(s) => state = s,
                }
                continue;
            }
            if self.waiters.load(Ordering::Relaxed) == 0 && spin.spin() {
                state = self.state.load(Ordering::Relaxed);
                continue;
            }
            // Announce, then look again at the word behind the heavy fence: a release
            // that stored "free" before it either is seen here, or sees `waiters` and
            // wakes us (see the module docs).
            self.waiters.store(1, Ordering::Relaxed);
            self.heavy();
            // About to sleep on a lock with an owner: the moment a wait-for cycle can
            // close. The registration lasts while we wait; a cycle is acted on at once.
            #[cfg(not(loom))]
            let _waiting = crate::deadlock::LockWait::register(self, at, deadline.is_some(), true);
            #[cfg(loom)]
            let _ = at;
            let result = self.queue.wait(
                0,
                // Under the queue lock: if whoever emptied the queue cleared `waiters`
                // since we set it, our announcement is gone: go round again.
                || {
                    self.waiters.load(Ordering::Relaxed) != 0
                        && self.state.load(Ordering::Relaxed) & LOCKED != 0
                },
                || {},
                deadline,
                |is_empty| {
                    if is_empty {
                        self.waiters.store(0, Ordering::Relaxed);
                    }
                },
            );
            if result == WaitResult::TimedOut {
                return false;
            }
            spin.reset();
            state = self.state.load(Ordering::Relaxed);
        }
    }

    /// Release. The caller must hold the lock (the guard types guarantee it).
    #[inline]
    pub(crate) fn unlock(&self) {
        // Only the holder writes the word while it is held, so what we read is ours.
        let state = self.state.load(Ordering::Relaxed);
        #[cfg(not(loom))]
        if state & TRACKED != 0 {
            self.tracked_release_hooks(state);
        }
        debug_assert_eq!(state & LOCKED, LOCKED, "unlock of a lock not held");
        self.state.store(0, Ordering::Release);
        self.light();
        if self.waiters.load(Ordering::Relaxed) != 0 {
            self.wake_one();
        }
    }

    /// The hooks of a `TRACKED` acquisition, run by [`unlock`](Self::unlock) before it
    /// releases the word.
    #[cfg(not(loom))]
    #[cold]
    #[inline(never)]
    fn tracked_release_hooks(&self, state: u64) {
        let owner = state >> OWNER_SHIFT;
        if owner & crate::check::CHECKED != 0 {
            // A schedule point: other checked threads run, but none can release or take
            // this lock meanwhile (we hold it).
            self.checked_release_hooks(owner);
        } else {
            crate::deadlock::on_release(owner, self as *const Self as usize);
        }
    }

    /// The lock is free and someone may be asleep: wake the first waiter (which then
    /// competes for the lock like any arriving thread).
    #[cold]
    fn wake_one(&self) {
        // Cleared under the queue lock when the queue empties, so a waiter that set it
        // and has not enqueued yet finds it cleared when it validates, and goes round.
        self.queue.notify_one(|_, have_more| {
            if !have_more {
                self.waiters.store(0, Ordering::Relaxed);
            }
        });
    }
}

#[cfg(not(loom))]
impl Drop for RawLock {
    fn drop(&mut self) {
        crate::deadlock::on_drop(self as *const Self as usize);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! Models of the lock word and its slow paths; see `wait::loom_tests` for how to run
    //! them. Spinning is off under loom, so a thread that finds the lock held announces
    //! itself in `waiters` and sleeps in the seam at once, and the unlock that sees the
    //! announcement runs `wake_one`. The fence pair is modelled as read-modify-writes of
    //! one word (see `RawLock::light`), which orders the two sides as the real pair does.

    use std::sync::atomic::AtomicBool as StdAtomicBool;
    use std::sync::Arc;

    use loom::cell::UnsafeCell;
    use loom::thread;

    use super::*;
    use crate::wait::loom_tests::{expired, model};

    struct Shared {
        lock: RawLock,
        /// Guarded by `lock`: loom reports any access not ordered by it as a data race.
        count: UnsafeCell<u32>,
    }

    // SAFETY: `count` is only touched while `lock` is held (which is what is checked).
    unsafe impl Sync for Shared {}

    /// Set when some explored execution had a waiter asleep in the seam while the lock
    /// was held, so its unlock had to wake it: proof the model covers the slow path.
    static SAW_PARKED: StdAtomicBool = StdAtomicBool::new(false);

    /// The critical section: the owner word names the caller exactly while it holds the
    /// lock, and the increment is ordered after the previous holder's.
    fn critical(s: &Shared) {
        let me = local::thread_id();
        assert!(s.lock.is_locked());
        assert_eq!(s.lock.owner(), me);
        // SAFETY: we hold the lock.
        s.count.with_mut(|c| unsafe { *c += 1 });
        assert_eq!(s.lock.owner(), me);
        if s.lock.waiters.load(Ordering::Relaxed) != 0 && s.lock.queue.len() > 0 {
            SAW_PARKED.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Two threads lock, increment, unlock: mutual exclusion, exact owner, no lost
    /// wake-up for the one that parks (a release's plain store racing a waiter's
    /// announcement), and the lock ends free with no stale announcement.
    #[test]
    fn loom_raw_lock_two_threads() {
        SAW_PARKED.store(false, std::sync::atomic::Ordering::Relaxed);
        model(|| {
            let s = Arc::new(Shared {
                lock: RawLock::new("Lock"),
                count: UnsafeCell::new(0),
            });
            let other = {
                let s = s.clone();
                thread::spawn(move || {
                    assert!(s.lock.lock_until(None));
                    critical(&s);
                    s.lock.unlock();
                })
            };
            assert!(s.lock.lock_until(None));
            critical(&s);
            s.lock.unlock();
            other.join().unwrap();
            assert_eq!(s.lock.state.load(Ordering::Relaxed), 0);
            assert_eq!(s.lock.waiters.load(Ordering::Relaxed), 0);
            assert_eq!(s.lock.queue.len(), 0);
            // SAFETY: every other thread has finished.
            assert_eq!(s.count.with(|c| unsafe { *c }), 2);
        });
        assert!(
            SAW_PARKED.load(std::sync::atomic::Ordering::Relaxed),
            "no execution had a waiter asleep for an unlock to wake"
        );
    }

    /// A holder, a waiter that times out while the lock is being released, and a waiter
    /// without a deadline: the timed one either gets the lock or gives up cleanly,
    /// leaving neither a stale announcement nor its entry behind, and the other is never
    /// stranded (its wake-up is not swallowed by the one that gave up).
    #[test]
    fn loom_raw_lock_timeout() {
        model(|| {
            let s = Arc::new(Shared {
                lock: RawLock::new("Lock"),
                count: UnsafeCell::new(0),
            });
            assert!(s.lock.try_lock());
            let timed = {
                let s = s.clone();
                thread::spawn(move || {
                    if s.lock.lock_until(expired()) {
                        critical(&s);
                        s.lock.unlock();
                    }
                })
            };
            let blocking = {
                let s = s.clone();
                thread::spawn(move || {
                    assert!(s.lock.lock_until(None));
                    critical(&s);
                    s.lock.unlock();
                })
            };
            critical(&s);
            s.lock.unlock();
            timed.join().unwrap();
            blocking.join().unwrap();
            assert_eq!(s.lock.state.load(Ordering::Relaxed), 0);
            assert_eq!(s.lock.waiters.load(Ordering::Relaxed), 0);
            assert_eq!(s.lock.queue.len(), 0);
        });
    }
}

/// What the deadlock detector needs of a lock with an owner.
#[cfg(not(loom))]
pub(crate) trait Owned {
    /// Heddle id of the thread that holds it exclusively, or 0.
    fn owner(&self) -> u64;
    /// Kind and creation site, for reports.
    fn object(&self) -> Object;
    /// Where the current holder took it, if known.
    fn taken_at(&self) -> Option<&'static Location<'static>>;
    /// Whether a reader waits for writers that are only waiting, not holding (an
    /// `RwLock` whose policy prefers waiting writers to new readers).
    fn readers_wait_for_waiting_writers(&self) -> bool {
        false
    }
}

#[cfg(not(loom))]
impl Owned for RawLock {
    fn owner(&self) -> u64 {
        RawLock::owner(self)
    }
    fn object(&self) -> Object {
        RawLock::object(self)
    }
    fn taken_at(&self) -> Option<&'static Location<'static>> {
        RawLock::taken_at(self)
    }
}

/// A lock a waiter registered with the deadlock detector; valid while registered.
#[cfg(not(loom))]
pub(crate) struct RawLockRef(*const (dyn Owned + 'static));

// SAFETY: only dereferenced under the detector's mutex while the registering thread,
// which borrows the lock for the whole wait, is still registered.
#[cfg(not(loom))]
unsafe impl Send for RawLockRef {}

#[cfg(not(loom))]
impl RawLockRef {
    pub(crate) fn new(lock: &dyn Owned) -> Self {
        let ptr: *const (dyn Owned + '_) = lock;
        // SAFETY: only the lifetime is erased; `get` is only called while the borrow
        // this came from is alive (see `get`).
        RawLockRef(unsafe {
            std::mem::transmute::<*const (dyn Owned + '_), *const (dyn Owned + 'static)>(ptr)
        })
    }

    /// # Safety
    ///
    /// The registration this reference came from must still be in place.
    pub(crate) unsafe fn get(&self) -> &dyn Owned {
        // SAFETY: the caller guarantees the lock is still borrowed by its waiter.
        unsafe { &*self.0 }
    }
}
