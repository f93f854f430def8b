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
//! barrier.
//!
//! The barrier is paid only by the waiter that raises `waiters` from 0 to 1, not by
//! every waiter that sleeps: while the flag stays up (it is only lowered under the queue
//! lock, when the queue is empty, by a release that woke nobody or a waiter that gave
//! up), a later waiter that finds it up relies on the one that raised it. That one, after its barrier, sees every release that missed the flag
//! (the barrier orders such a release's store of "free" before its own next look at the
//! word), and it never walks away from a free lock without trying it: it takes the lock
//! (and its own release sees the flag), or loses it to a thread whose acquisition the
//! barrier ordered after the flag (whose release sees it). Either way the queue is woken.
//! Under heavy contention the flag stays up, and the barrier is paid about once per
//! burst instead of once per sleep.
//!
//! Fairness: unfair in the short run, like std's and parking_lot's mutexes: an
//! unlocking thread wakes the first waiter in FIFO order, but a thread arriving at that
//! moment may take the lock first ("barging"), which is what keeps throughput high under
//! contention; the woken waiter then re-queues. Barging is bounded, as in parking_lot's
//! "eventual fairness": when a release finds waiters and the lock's fairness timer (about
//! half a millisecond, jittered) has run out, it hands the lock straight to the first
//! waiter, without ever making it free, so no thread waits behind bargers for long.
//!
//! A deadline that has passed is never spun or slept on: a `lock_timeout` of zero (or
//! one that ran out) is a try, as Python's `acquire(timeout=0)` is.

use std::panic::Location;
use std::sync::atomic::AtomicPtr;
use std::time::{Duration, Instant};

use crate::wait::fence::{Paired, POLL_FIRST, POLL_LAST};
use crate::wait::sys::{AtomicU32, AtomicU64, Ordering};
use crate::wait::{local, SpinWait, WaitQueue, WaitResult, TOKEN_HANDOFF};
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
    /// When the next contended release hands the lock to the first waiter instead of
    /// letting it be barged (nanoseconds on [`fairness_clock`]; 0: not armed yet).
    /// Only its holder touches it, in the contended release.
    #[cfg(not(loom))]
    fair_at: std::sync::atomic::AtomicU64,
    site: &'static Location<'static>,
    kind: &'static str,
    /// Under loom, whether a contended release hands the lock off (there is no clock
    /// for the fairness timer; a model sets it before sharing the lock).
    #[cfg(loom)]
    handoff: bool,
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
            fair_at: std::sync::atomic::AtomicU64::new(0),
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
            handoff: false,
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

    /// The waiter's side of the fence pair, run by the waiter that raises `waiters`.
    fn heavy(&self) -> Paired {
        #[cfg(not(loom))]
        return crate::wait::fence::heavy();
        #[cfg(loom)]
        {
            self.barrier.fetch_add(0, Ordering::AcqRel);
            Paired::Sound
        }
    }

    /// What a waiter that found `waiters` already raised may rely on: the raiser's
    /// barrier, unless the barrier has been refused since (see `wait::fence`).
    fn relied_on(&self) -> Paired {
        #[cfg(not(loom))]
        if crate::wait::fence::was_refused() {
            return Paired::Unsure;
        }
        Paired::Sound
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

    /// Take the lock back after a condition wait (called at `at`), until `deadline`
    /// (`false` if it passed first: a condition re-taking its lock after a report uses
    /// a far deadline, so that nothing reports that wait again).
    pub(crate) fn relock_after_wait(
        &self,
        tracked: bool,
        at: &'static Location<'static>,
        deadline: Option<Instant>,
    ) -> bool {
        #[cfg(not(loom))]
        crate::check::touch(self as *const Self as usize);
        let tracked = if tracked { TRACKED } else { 0 };
        self.lock_word(
            local::thread_id() << OWNER_SHIFT | LOCKED | tracked,
            at,
            deadline,
        )
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
            // Another thread's checker is running: nothing watches this one, unless the
            // thread dump records holds (debug hook: then `TRACKED` brings the release
            // back to `tracked_release_hooks`).
            let holds = observe::tracking_holds();
            let word = me << OWNER_SHIFT | LOCKED | if holds { TRACKED } else { 0 };
            let taken = if only_try {
                self.try_lock_word(word, at)
            } else {
                self.lock_word(word, at, deadline)
            };
            if taken && holds {
                crate::debug::held(me, object, at);
            }
            return taken;
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
            // Thread dump hook (debug): record the hold while holds are tracked.
            if !checked && observe::tracking_holds() {
                crate::debug::held(me, object, at);
            }
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
        // Set once the process-wide barrier was refused: how long the next sleep may
        // last before looking again (see `wait::fence`).
        let mut slice: Option<Duration> = None;
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
            // Held: past the deadline there is nothing left to wait for (a zero timeout
            // is a try), so neither spin nor sleep.
            if passed(deadline) {
                return false;
            }
            if self.waiters.load(Ordering::Relaxed) == 0 && spin.spin() {
                state = self.state.load(Ordering::Relaxed);
                continue;
            }
            // Announce, then look again at the word behind the heavy fence: a release
            // that stored "free" before it either is seen here, or sees `waiters` and
            // wakes us (see the module docs). Only the thread that raises the flag pays
            // the fence; the others rely on it.
            let paired = if self.waiters.load(Ordering::Relaxed) == 0 {
                self.waiters.store(1, Ordering::Relaxed);
                self.heavy()
            } else {
                self.relied_on()
            };
            if paired == Paired::Unsure {
                slice = Some(slice.map_or(POLL_FIRST, |d| (d * 2).min(POLL_LAST)));
            }
            let until = match slice {
                None => deadline,
                Some(d) => {
                    let end = crate::wait::now() + d;
                    Some(deadline.map_or(end, |dl| dl.min(end)))
                }
            };
            // About to sleep on a lock with an owner: the moment a wait-for cycle can
            // close. The registration lasts while we wait; a cycle is acted on at once.
            #[cfg(not(loom))]
            let _waiting = crate::deadlock::LockWait::register(self, at, deadline.is_some(), true);
            #[cfg(loom)]
            let _ = at;
            let result = self.queue.wait(
                // The tag is the word a hand-off installs for us.
                me,
                // Under the queue lock: if whoever emptied the queue cleared `waiters`
                // since we set it, our announcement is gone: go round again.
                || {
                    self.waiters.load(Ordering::Relaxed) != 0
                        && self.state.load(Ordering::Relaxed) & LOCKED != 0
                },
                || {},
                until,
                |is_empty| {
                    if is_empty {
                        self.waiters.store(0, Ordering::Relaxed);
                    }
                },
            );
            match result {
                // The releaser made us the owner without freeing the lock.
                WaitResult::Notified(TOKEN_HANDOFF) => return true,
                WaitResult::TimedOut if slice.is_none() || passed(deadline) => return false,
                _ => {}
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
        if self.waiters.load(Ordering::Relaxed) != 0 {
            return self.unlock_contended();
        }
        self.state.store(0, Ordering::Release);
        self.light();
        if self.waiters.load(Ordering::Relaxed) != 0 {
            self.wake_one();
        }
    }

    /// Release with waiters announced: hand the lock to the first waiter if its fairness
    /// turn has come (the lock is never free in between, so nobody barges), else free it
    /// and wake the first waiter to compete for it. No fence is needed: we wake whatever
    /// the flag says later, and a waiter that has not enqueued yet finds the lock free
    /// (or the flag cleared) when it validates under the queue lock.
    #[cold]
    #[inline(never)]
    fn unlock_contended(&self) {
        if self.fair_turn() {
            let mut handed = false;
            self.queue.notify_with(
                |tag| {
                    if std::mem::replace(&mut handed, true) {
                        return None;
                    }
                    // We hold the lock, so we are the only writer of the word: install
                    // the waiter as owner (its tag is its word). The waiter reads what
                    // we wrote in the critical section through its wake-up.
                    self.state.store(tag, Ordering::Relaxed);
                    Some(TOKEN_HANDOFF)
                },
                |handed_to, have_more| {
                    // The new owner's release lowers the flag if nobody queued since.
                    if handed_to == 0 && !have_more {
                        self.waiters.store(0, Ordering::Relaxed);
                    }
                },
            );
            if handed {
                return;
            }
            // Nobody was queued after all (they timed out, or have not enqueued yet):
            // an ordinary release.
        }
        self.state.store(0, Ordering::Release);
        self.wake_one();
    }

    /// Whether this contended release should hand the lock off: when the lock's
    /// fairness timer has run out (then it is re-armed, 0.25 to 0.75 ms ahead, so
    /// that locks released together do not turn fair together).
    #[cfg(not(loom))]
    fn fair_turn(&self) -> bool {
        use std::sync::atomic::Ordering as O;
        if crate::check::active() {
            // A checked run must replay exactly, so no wall clock here: every other
            // contended release hands off, and the checker explores both paths.
            return self.fair_at.fetch_xor(1, O::Relaxed) & 1 == 1;
        }
        let now = fairness_clock();
        let due = self.fair_at.load(O::Relaxed);
        if due != 0 && now < due {
            return false;
        }
        self.fair_at
            .store(now + 250_000 + now % 500_000, O::Relaxed);
        due != 0
    }

    #[cfg(loom)]
    fn fair_turn(&self) -> bool {
        self.handoff
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
            // Thread dump hook (debug): forget the hold, if one was recorded.
            crate::debug::released(owner, self as *const Self as usize);
        }
    }

    /// The lock is free and someone may be asleep: wake the first waiter (which then
    /// competes for the lock like any arriving thread).
    #[cold]
    fn wake_one(&self) {
        // Cleared under the queue lock when the queue is empty, so a waiter that set it
        // and has not enqueued yet finds it cleared when it validates, and goes round.
        // Not when this wake-up emptied it: the woken waiter is likely to lose to a
        // barger and queue again, and finding the flag still up it need not pay the
        // heavy fence again (its raiser's barrier still covers it); whoever releases
        // next with the queue empty lowers it.
        self.queue.notify_one(|woken, have_more| {
            if woken == 0 && !have_more {
                self.waiters.store(0, Ordering::Relaxed);
            }
        });
    }
}

/// Whether `deadline` has passed (never, for no deadline). Under loom, never either:
/// loom has no clock, and the seam already treats every deadline as passed the moment
/// the waiter would sleep, which is the race worth modelling.
#[inline]
fn passed(deadline: Option<Instant>) -> bool {
    #[cfg(not(loom))]
    if let Some(deadline) = deadline {
        return crate::wait::now() >= deadline;
    }
    #[cfg(loom)]
    let _ = deadline;
    false
}

/// Nanoseconds since the first call (never 0 after it): the fairness timers' clock.
#[cfg(not(loom))]
fn fairness_clock() -> u64 {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    epoch.elapsed().as_nanos() as u64 + 1
}

#[cfg(not(loom))]
impl Drop for RawLock {
    fn drop(&mut self) {
        crate::deadlock::on_drop(self as *const Self as usize);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    //! The contended path's structure, checked without timing: whether a call entered
    //! the wait queue is read off the thread's parker, which an enqueue arms (`EMPTY`)
    //! and only a notification re-arms (`NOTIFIED`), so a thread that timed out in the
    //! queue leaves it un-notified, and one that never queued leaves it as it was.

    use std::sync::mpsc;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::sync::{BoundedSemaphore, Lock, Semaphore};
    use crate::wait::parker::Parker;

    /// Run `attempt` on a fresh thread (its parker starts notified) while `hold` keeps
    /// the resource on another; return what the attempt returned and whether the
    /// attempting thread's parker is still notified, i.e. it never entered a queue.
    fn attempt_while_held<R: Send + 'static>(
        hold: impl FnOnce(mpsc::Sender<()>, mpsc::Receiver<()>) + Send + 'static,
        attempt: impl FnOnce() -> R + Send + 'static,
    ) -> (R, bool) {
        let (held_tx, held_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel();
        let holder = std::thread::spawn(move || hold(held_tx, stop_rx));
        held_rx.recv().unwrap();
        let result = std::thread::spawn(move || {
            assert!(
                Parker::current().is_notified(),
                "a fresh thread starts notified"
            );
            let r = attempt();
            (r, Parker::current().is_notified())
        })
        .join()
        .unwrap();
        stop_tx.send(()).unwrap();
        holder.join().unwrap();
        result
    }

    /// `lock_timeout(0)` on a held lock is a try: `None`, without ever entering the
    /// wait queue (today's main announced itself, paid the heavy fence, enqueued and
    /// spun ~20 us in the seam before withdrawing).
    #[test]
    fn zero_timeout_on_a_held_lock_never_queues() {
        let lock = Arc::new(Lock::new(0));
        let l = lock.clone();
        let (got, never_queued) = attempt_while_held(
            move |held, stop| {
                let _g = l.lock();
                held.send(()).unwrap();
                stop.recv().unwrap();
            },
            {
                let lock = lock.clone();
                move || lock.lock_timeout(Duration::ZERO).is_some()
            },
        );
        assert!(!got);
        assert!(never_queued, "lock_timeout(0) entered the wait queue");
        assert!(!lock.is_locked());
    }

    /// The same at the raw level with a deadline that has already passed (a timeout
    /// that ran out before the lock was looked at): neither spin nor sleep, and no
    /// announcement left behind.
    #[test]
    fn elapsed_deadline_on_a_held_lock_never_queues() {
        let lock = Arc::new(RawLock::new("Lock"));
        let l = lock.clone();
        let (got, never_queued) = attempt_while_held(
            move |held, stop| {
                assert!(l.lock_until(None));
                held.send(()).unwrap();
                stop.recv().unwrap();
                l.unlock();
            },
            {
                let lock = lock.clone();
                move || lock.lock_until(Some(Instant::now()))
            },
        );
        assert!(!got);
        assert!(never_queued, "an elapsed deadline entered the wait queue");
        assert_eq!(lock.waiters.load(Ordering::Relaxed), 0);
        assert_eq!(lock.state.load(Ordering::Relaxed), 0);
    }

    /// `Semaphore::acquire_timeout(0)` and `BoundedSemaphore::acquire_timeout(0)` with
    /// no permit left are tries too.
    #[test]
    fn zero_timeout_semaphores_never_queue() {
        let sem = Arc::new(Semaphore::new(1));
        let s = sem.clone();
        let (got, never_queued) = attempt_while_held(
            move |held, stop| {
                let _p = s.acquire();
                held.send(()).unwrap();
                stop.recv().unwrap();
            },
            {
                let sem = sem.clone();
                move || sem.acquire_timeout(Duration::ZERO).is_some()
            },
        );
        assert!(!got);
        assert!(
            never_queued,
            "Semaphore::acquire_timeout(0) entered the wait queue"
        );
        assert_eq!(sem.available_permits(), 1);

        let sem = Arc::new(BoundedSemaphore::new(1));
        let s = sem.clone();
        let (got, never_queued) = attempt_while_held(
            move |held, stop| {
                let _p = s.acquire();
                held.send(()).unwrap();
                stop.recv().unwrap();
            },
            {
                let sem = sem.clone();
                move || sem.acquire_timeout(Duration::ZERO).is_some()
            },
        );
        assert!(!got);
        assert!(
            never_queued,
            "BoundedSemaphore::acquire_timeout(0) entered the wait queue"
        );
    }

    /// The raw semaphore with an elapsed deadline: no sleep, no waiter bit left.
    #[test]
    fn elapsed_deadline_on_an_empty_semaphore_never_queues() {
        let sem = Arc::new(crate::sync::raw_semaphore::RawSemaphore::new(0));
        let (got, never_queued) = attempt_while_held(
            |held, stop| {
                held.send(()).unwrap();
                stop.recv().unwrap();
            },
            {
                let sem = sem.clone();
                move || sem.acquire_until(Some(Instant::now()))
            },
        );
        assert!(!got);
        assert!(
            never_queued,
            "an elapsed deadline entered the semaphore's queue"
        );
        assert_eq!(sem.available(), 0);
        assert!(sem.release_within(1, 1));
        assert!(sem.try_acquire(), "a waiter bit was left behind");
    }

    /// A waiter that has queued gets the lock handed to it when the holder releases
    /// after the lock's fairness timer ran out: the holder's immediate re-lock (the
    /// barging that would otherwise win) must wait for the waiter's turn. Checked
    /// through the order of the critical sections, not timing: the waiter's section
    /// must come between the holder's two.
    #[test]
    fn release_after_the_fairness_timer_hands_off() {
        let lock = Arc::new(RawLock::new("Lock"));
        let log = Arc::new(std::sync::Mutex::new(Vec::<&str>::new()));
        assert!(lock.lock_until(None));
        let waiter = {
            let (lock, log) = (lock.clone(), log.clone());
            std::thread::spawn(move || {
                assert!(lock.lock_until(None));
                assert_eq!(lock.owner(), local::thread_id(), "handed over with its id");
                log.lock().unwrap().push("waiter");
                lock.unlock();
            })
        };
        // Until the waiter is queued (announced and asleep).
        while lock.queue.len() == 0 {
            std::thread::yield_now();
        }
        // Make the timer due.
        lock.fair_at.store(1, std::sync::atomic::Ordering::Relaxed);
        log.lock().unwrap().push("holder");
        lock.unlock();
        assert!(lock.lock_until(None));
        log.lock().unwrap().push("holder again");
        lock.unlock();
        waiter.join().unwrap();
        assert_eq!(*log.lock().unwrap(), ["holder", "waiter", "holder again"]);
        assert_eq!(lock.waiters.load(Ordering::Relaxed), 0);
        assert_eq!(lock.state.load(Ordering::Relaxed), 0);
    }

    /// Many threads, a short section: every increment counted exactly once (a split
    /// load and store, so overlapping sections would lose some), with the hand-offs,
    /// the raised-flag shortcut and the plain releases all in play; nothing left
    /// announced at the end.
    #[test]
    fn contended_exact_count() {
        use std::sync::atomic::{AtomicU64 as Counter, Ordering as O};
        let shared = Arc::new((RawLock::new("Lock"), Counter::new(0)));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let (lock, count) = &*shared;
                    for i in 0..2_000u32 {
                        assert!(lock.lock_until(None));
                        let n = count.load(O::Relaxed);
                        if i % 128 == 0 {
                            std::thread::yield_now();
                        }
                        count.store(n + 1, O::Relaxed);
                        lock.unlock();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let (lock, count) = &*shared;
        assert_eq!(count.load(O::Relaxed), 32_000);
        assert_eq!(lock.waiters.load(Ordering::Relaxed), 0);
        assert_eq!(lock.queue.len(), 0);
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

    /// A contended release that hands the lock off (the fairness timer's turn): the
    /// waiter is installed as owner without the lock ever being free, so it returns
    /// holding it; mutual exclusion, exact owner and a clean end state as above.
    #[test]
    fn loom_raw_lock_handoff() {
        model(|| {
            let mut lock = RawLock::new("Lock");
            lock.handoff = true;
            let s = Arc::new(Shared {
                lock,
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
    }

    /// A holder and two waiters: the second waiter may find `waiters` already raised
    /// and sleep without a fence of its own, relying on the first (see the module
    /// docs); neither is stranded, whatever the interleaving of the releases.
    #[test]
    fn loom_raw_lock_raised_flag_shortcut() {
        model(|| {
            let s = Arc::new(Shared {
                lock: RawLock::new("Lock"),
                count: UnsafeCell::new(0),
            });
            assert!(s.lock.try_lock());
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let s = s.clone();
                    thread::spawn(move || {
                        assert!(s.lock.lock_until(None));
                        critical(&s);
                        s.lock.unlock();
                    })
                })
                .collect();
            critical(&s);
            s.lock.unlock();
            for w in waiters {
                w.join().unwrap();
            }
            assert_eq!(s.lock.state.load(Ordering::Relaxed), 0);
            assert_eq!(s.lock.waiters.load(Ordering::Relaxed), 0);
            assert_eq!(s.lock.queue.len(), 0);
            // SAFETY: every other thread has finished.
            assert_eq!(s.count.with(|c| unsafe { *c }), 3);
        });
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
