//! The waiter list every heddle primitive blocks on.
//!
//! A [`WaitQueue`] is a FIFO of waiters guarded by a short internal lock. A waiter is a
//! thread (woken through its [`Parker`]) or an async task (woken through its `Waker`).
//! The protocol is parking_lot's, generalised to tasks:
//!
//! * `validate` runs under the queue lock just before the waiter is enqueued; a
//!   primitive uses it to re-check its state word, so a wake-up sent between "I saw the
//!   lock held" and "I am enqueued" cannot be missed;
//! * notifiers run their callbacks under the same lock, so a primitive can clear its
//!   "someone is parked" bit atomically with the last waiter leaving;
//! * a notification can carry a token (for hand-off: "you now hold the lock");
//! * a waiter that times out or is cancelled removes itself; if it was already
//!   notified, it owns that notification and the caller must act on it (the primitives
//!   pass it on), so no wake-up is ever lost.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use super::object::WaitFor;
use super::observe;
use super::parker::Parker;
use super::sys::{self, AtomicUsize, Mutex, Ordering};

/// Token delivered by plain notifications ("go and retry").
pub(crate) const TOKEN_RETRY: usize = 0;
/// Token for hand-offs ("the resource is already yours").
pub(crate) const TOKEN_HANDOFF: usize = 1;

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitResult {
    /// A notifier woke this waiter and delivered the token.
    Notified(usize),
    /// `validate` returned false: the waiter was never enqueued.
    Invalid,
    /// The deadline passed first; the waiter removed itself.
    TimedOut,
}

/// What sleeps in an entry.
#[derive(Debug)]
enum Target {
    /// An OS thread; `counted` if it is an untimed wait the all-asleep detector counts.
    Thread(Arc<Parker>, Arc<AtomicUsize>, bool),
    Task(Arc<TaskSlot>),
    /// A thread under the checker: woken by making its coroutine runnable.
    #[cfg(not(loom))]
    Checked(u64, Arc<AtomicUsize>),
}

/// An async waiter's side of an entry: the waker to call and the delivered token.
#[derive(Debug)]
struct TaskSlot {
    /// 0 while waiting, `token + 1` once notified.
    delivered: AtomicUsize,
    waker: Mutex<Waker>,
}

#[derive(Debug)]
struct Entry {
    ticket: u64,
    tag: u64,
    target: Target,
}

#[derive(Debug, Default)]
struct Waiters {
    entries: VecDeque<Entry>,
    next_ticket: u64,
}

impl Waiters {
    fn push(&mut self, tag: u64, target: Target) -> u64 {
        self.next_ticket += 1;
        let ticket = self.next_ticket;
        self.entries.push_back(Entry {
            ticket,
            tag,
            target,
        });
        ticket
    }

    fn remove(&mut self, ticket: u64) -> bool {
        match self.entries.iter().position(|e| e.ticket == ticket) {
            Some(i) => {
                self.entries.remove(i);
                true
            }
            None => false,
        }
    }
}

/// A FIFO of blocked threads and tasks. See the module docs for the protocol.
#[derive(Debug, Default)]
pub(crate) struct WaitQueue {
    waiters: Mutex<Waiters>,
}

sys::thread_local! {
    /// Where a thread waiter receives its token; reused across waits (a thread waits on
    /// one queue at a time).
    static TOKEN: Arc<AtomicUsize> = Arc::new(AtomicUsize::new(0));
}

impl WaitQueue {
    /// An empty queue.
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        WaitQueue {
            waiters: parking_lot::const_mutex(Waiters {
                entries: VecDeque::new(),
                next_ticket: 0,
            }),
        }
    }

    /// An empty queue (not `const` under loom, whose mutex has no `const` constructor).
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        WaitQueue {
            waiters: Mutex::new(Waiters {
                entries: VecDeque::new(),
                next_ticket: 0,
            }),
        }
    }

    /// Whether anyone is enqueued (a racy hint for statistics and tests).
    #[allow(dead_code)]
    pub(crate) fn len(&self) -> usize {
        self.waiters.lock().entries.len()
    }

    /// Block the calling thread.
    ///
    /// * `validate` runs under the queue lock; returning `false` aborts with `Invalid`.
    /// * `before_sleep` runs after the entry is visible and the queue lock is released
    ///   (a condition variable releases its mutex there).
    /// * `timed_out(is_empty)` runs under the queue lock if the deadline passes and the
    ///   waiter removed itself; `is_empty` says whether the queue is now empty.
    pub(crate) fn wait(
        &self,
        tag: u64,
        validate: impl FnOnce() -> bool,
        before_sleep: impl FnOnce(),
        deadline: Option<Instant>,
        timed_out: impl FnOnce(bool),
    ) -> WaitResult {
        self.wait_on(None, tag, validate, before_sleep, deadline, timed_out)
    }

    /// [`wait`](Self::wait), saying what the thread waits for: the checker's traces and
    /// the deadlock detector's reports name it.
    ///
    /// An untimed wait is counted by the all-asleep detector; if this thread is the
    /// last to block, the detector reports it (and, with the default action, this call
    /// panics after taking its entry back, so the primitive must be consistent when a
    /// wait unwinds).
    pub(crate) fn wait_on(
        &self,
        what: Option<&WaitFor>,
        tag: u64,
        validate: impl FnOnce() -> bool,
        before_sleep: impl FnOnce(),
        deadline: Option<Instant>,
        timed_out: impl FnOnce(bool),
    ) -> WaitResult {
        #[cfg(not(loom))]
        if crate::check::active() {
            return self.wait_checked(what, tag, validate, before_sleep, deadline, timed_out);
        }
        let parker = Parker::current();
        let token = TOKEN.with(Arc::clone);
        let counted = deadline.is_none() && cfg!(not(loom));
        if counted {
            observe::releasing(true);
        }
        let ticket = {
            let mut waiters = self.waiters.lock();
            if !validate() {
                if counted {
                    observe::releasing(false);
                }
                return WaitResult::Invalid;
            }
            parker.prepare();
            if counted {
                parker.set_waiting(what.copied());
                observe::blocked(1);
            }
            waiters.push(tag, Target::Thread(parker.clone(), token.clone(), counted))
        };
        // From here until the wait ends, an unwind (from `before_sleep`, from a deadlock
        // action) takes the entry back first: nothing may be left queued that points at
        // this thread or into its stack (a rendezvous writes into the waiter's frame).
        let mut entry = Enqueued {
            queue: self,
            ticket,
            parker: Some(&parker),
            counted,
            releasing: counted,
            timed_out: Some(timed_out),
            defused: false,
        };
        // Thread dump hook (debug): a timed wait says what it waits for until it ends
        // (untimed ones are recorded above, for the all-asleep detector too).
        #[cfg(not(loom))]
        let _timed = match what {
            Some(w) if !counted => Some(parker.timed_wait(*w)),
            _ => None,
        };
        before_sleep();
        if counted {
            entry.releasing = false;
            observe::releasing(false);
        }
        #[cfg(not(loom))]
        if counted {
            return self.sleep_watching(entry, &token);
        }
        if parker.park_until(deadline) {
            entry.defuse();
            return WaitResult::Notified(token.load(Ordering::Relaxed));
        }
        // Deadline passed: take our entry back, unless a notifier already took it, in
        // which case the notification is ours and is about to arrive.
        if entry.withdraw() {
            entry.defuse();
            return WaitResult::TimedOut;
        }
        entry.defuse();
        self.rewait(&parker, &token)
    }

    /// Sleep in an untimed wait until notified, checking for all-asleep while every
    /// thread heddle knows is blocked: first after 1 ms asleep, then every so often
    /// (doubling up to 1 s), since a thread heddle cannot see may exit unseen; and when
    /// a thread exits (it pokes a watcher). Otherwise it sleeps until notified, never
    /// waking on its own.
    ///
    /// Not at once on blocking: the check reads the process's thread count from `/proc`
    /// (microseconds), and a wait that a std thread ends a moment later (a queue fed by
    /// std threads, which heddle does not count) would pay it on every block. A real
    /// deadlock lasts; it is reported about 1 ms after the last thread blocks.
    #[cfg(not(loom))]
    fn sleep_watching<F: FnOnce(bool)>(
        &self,
        mut entry: Enqueued<'_, F>,
        token: &AtomicUsize,
    ) -> WaitResult {
        use std::time::Duration;
        const FIRST: Duration = Duration::from_millis(1);
        const LAST: Duration = Duration::from_secs(1);
        let parker = entry.parker.expect("a thread's wait");
        parker.set_watching(true);
        let mut interval = crate::deadlock::worth_watching().then_some(FIRST);
        let mut spin = true;
        loop {
            let until = interval.map(|d| Instant::now() + d);
            if parker.park_watching(until, std::mem::take(&mut spin)) {
                parker.set_watching(false);
                entry.defuse();
                return WaitResult::Notified(token.load(Ordering::Relaxed));
            }
            let poked = parker.take_recheck();
            if let Some(report) = crate::deadlock::all_asleep() {
                parker.set_watching(false);
                self.give_up(&mut entry, report);
                entry.defuse();
                return self.rewait(parker, token);
            }
            interval = if poked {
                Some(FIRST)
            } else if crate::deadlock::worth_watching() {
                Some(interval.map_or(FIRST, |d| (d * 2).min(LAST)))
            } else {
                None
            };
        }
    }

    /// Wait for a notification that is certainly coming (our entry is gone).
    fn rewait(&self, parker: &Parker, token: &AtomicUsize) -> WaitResult {
        parker.park_until(None);
        WaitResult::Notified(token.load(Ordering::Relaxed))
    }

    /// Every thread is asleep: act on the report, reading the configured action once.
    ///
    /// * `Panic` withdraws first, then panics; if a notification beat the withdrawal,
    ///   it was no deadlock after all, and the wait goes on to take it.
    /// * `Callback` runs with the entry still queued (so a notification sent meanwhile
    ///   is not missed) and, if it returns, the wait goes on. If it panics, the entry is
    ///   withdrawn before the panic continues; if a notification was taken meanwhile, the
    ///   wait has ended and cannot be undone (a rendezvous item already sits in this
    ///   thread's frame): the notification is kept and the panic is dropped, with a note
    ///   on stderr.
    /// * `Log` and `Abort` never unwind.
    ///
    /// Returns only if the wait is to go on (its entry queued, or a notification coming).
    #[cfg(not(loom))]
    #[cold]
    fn give_up<F: FnOnce(bool)>(
        &self,
        entry: &mut Enqueued<'_, F>,
        report: crate::deadlock::DeadlockReport,
    ) {
        use crate::deadlock::Action;
        let action = crate::deadlock::action();
        match &action {
            Action::Panic => {
                if entry.withdraw() {
                    entry.defuse();
                    crate::deadlock::act_as(&action, report);
                }
            }
            Action::Callback(f) => {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&report)));
                if let Err(payload) = outcome {
                    if entry.withdraw() {
                        entry.defuse();
                        std::panic::resume_unwind(payload);
                    }
                    eprintln!(
                        "heddle: a deadlock callback panicked after its wait had been \
                         notified (so it was no deadlock); the wait keeps its \
                         notification and the panic is dropped"
                    );
                }
            }
            _ => crate::deadlock::act_as(&action, report),
        }
    }

    /// The checker's backend: enqueue as usual, then let the scheduler run others until
    /// a notifier makes this thread runnable or virtual time fires its deadline.
    #[cfg(not(loom))]
    fn wait_checked(
        &self,
        what: Option<&WaitFor>,
        tag: u64,
        validate: impl FnOnce() -> bool,
        before_sleep: impl FnOnce(),
        deadline: Option<Instant>,
        timed_out: impl FnOnce(bool),
    ) -> WaitResult {
        let slot = Arc::new(AtomicUsize::new(0));
        let ticket = {
            let mut waiters = self.waiters.lock();
            if !validate() {
                return WaitResult::Invalid;
            }
            let id = super::local::thread_id();
            waiters.push(tag, Target::Checked(id, slot.clone()))
        };
        // As for a thread: an unwind from `before_sleep` takes the entry back.
        let mut entry = Enqueued {
            queue: self,
            ticket,
            parker: None,
            counted: false,
            releasing: false,
            timed_out: Some(timed_out),
            defused: false,
        };
        before_sleep();
        if crate::check::block_on(deadline, what) && entry.withdraw() {
            entry.defuse();
            return WaitResult::TimedOut;
        }
        entry.defuse();
        WaitResult::Notified(slot.load(Ordering::Relaxed))
    }

    /// Wake waiters from the front, in FIFO order.
    ///
    /// `grant(tag)` runs under the queue lock for each candidate: `Some(token)` takes it
    /// off the queue and delivers `token`; `None` stops. Then `done(woken, have_more)`
    /// runs, still under the lock. Returns how many were woken.
    pub(crate) fn notify_with(
        &self,
        mut grant: impl FnMut(u64) -> Option<usize>,
        done: impl FnOnce(usize, bool),
    ) -> usize {
        let mut woken: Vec<(Target, usize)> = Vec::new();
        let mut one: Option<(Target, usize)> = None;
        {
            let mut waiters = self.waiters.lock();
            while let Some(front) = waiters.entries.front() {
                let Some(token) = grant(front.tag) else { break };
                let entry = waiters.entries.pop_front().expect("front exists");
                // Record the token under the lock, so a waiter that races to withdraw
                // (timeout, cancel) finds its notification already there.
                record(&entry.target, token);
                if one.is_none() {
                    one = Some((entry.target, token));
                } else {
                    woken.push((entry.target, token));
                }
            }
            let count = usize::from(one.is_some()) + woken.len();
            done(count, !waiters.entries.is_empty());
        }
        // Deliver outside the lock: the woken run at once and would only contend on it.
        let count = usize::from(one.is_some()) + woken.len();
        for (target, token) in one.into_iter().chain(woken) {
            deliver(target, token);
        }
        count
    }

    /// Wake the first waiter with a retry token; `done` as in [`notify_with`].
    pub(crate) fn notify_one(&self, done: impl FnOnce(usize, bool)) -> usize {
        let mut first = true;
        self.notify_with(
            |_| std::mem::replace(&mut first, false).then_some(TOKEN_RETRY),
            done,
        )
    }

    /// Wake up to `n` waiters with a retry token.
    pub(crate) fn notify_n(&self, n: usize, done: impl FnOnce(usize, bool)) -> usize {
        let mut left = n;
        self.notify_with(
            |_| {
                (left > 0).then(|| {
                    left -= 1;
                    TOKEN_RETRY
                })
            },
            done,
        )
    }

    /// Wake every waiter with a retry token.
    pub(crate) fn notify_all(&self, done: impl FnOnce(usize, bool)) -> usize {
        self.notify_with(|_| Some(TOKEN_RETRY), done)
    }

    /// Register or poll an async waiter. `Ready(Notified(token))` once notified,
    /// `Ready(Invalid)` if `validate` fails on first registration, else `Pending`.
    pub(crate) fn poll_wait(
        &self,
        slot: &mut AsyncWaiter,
        cx: &mut Context<'_>,
        tag: u64,
        validate: impl FnOnce() -> bool,
    ) -> Poll<WaitResult> {
        if let Some((_, task)) = &slot.registered {
            let delivered = task.delivered.load(Ordering::Acquire);
            if delivered != 0 {
                slot.registered = None;
                return Poll::Ready(WaitResult::Notified(delivered - 1));
            }
            let mut waker = task.waker.lock();
            if !waker.will_wake(cx.waker()) {
                waker.clone_from(cx.waker());
            }
            drop(waker);
            // A notifier may have delivered between the check and the waker update: it
            // then woke the old waker, so look again rather than sleep on it.
            let delivered = task.delivered.load(Ordering::Acquire);
            if delivered != 0 {
                slot.registered = None;
                return Poll::Ready(WaitResult::Notified(delivered - 1));
            }
            return Poll::Pending;
        }
        let mut waiters = self.waiters.lock();
        if !validate() {
            return Poll::Ready(WaitResult::Invalid);
        }
        let task = Arc::new(TaskSlot {
            delivered: AtomicUsize::new(0),
            waker: Mutex::new(cx.waker().clone()),
        });
        let ticket = waiters.push(tag, Target::Task(task.clone()));
        slot.registered = Some((ticket, task));
        Poll::Pending
    }

    /// Withdraw an async waiter (its future was dropped). Returns the token of a
    /// notification it had received but not consumed: the caller must pass it on.
    pub(crate) fn cancel(&self, slot: &mut AsyncWaiter) -> Option<usize> {
        let (ticket, task) = slot.registered.take()?;
        let mut waiters = self.waiters.lock();
        if waiters.remove(ticket) {
            return None;
        }
        drop(waiters);
        // Removed by a notifier, which recorded the token under the lock we just held.
        let delivered = task.delivered.load(Ordering::Acquire);
        debug_assert_ne!(delivered, 0, "entry left the queue without a notification");
        Some(delivered.saturating_sub(1))
    }
}

/// A thread's entry while it is queued: withdrawn by [`withdraw`](Self::withdraw) on a
/// timeout or a report, and, if the wait unwinds before it was defused, by `Drop`.
struct Enqueued<'a, F: FnOnce(bool)> {
    queue: &'a WaitQueue,
    ticket: u64,
    /// The waiting thread's parker; `None` under the checker (no OS wake-up to absorb).
    parker: Option<&'a Parker>,
    /// An untimed wait the all-asleep detector counts.
    counted: bool,
    /// Still inside `before_sleep` (counted in `observe::releasing`).
    releasing: bool,
    /// The primitive's clean-up for a waiter that left on its own.
    timed_out: Option<F>,
    /// Set once the wait has ended normally: nothing left to undo on drop.
    defused: bool,
}

impl<F: FnOnce(bool)> Enqueued<'_, F> {
    /// Take the entry off the queue, unless a notifier already did (then the
    /// notification is this waiter's and is on its way). Returns whether it was removed.
    fn withdraw(&mut self) -> bool {
        let mut waiters = self.queue.waiters.lock();
        if !waiters.remove(self.ticket) {
            return false;
        }
        if self.counted {
            observe::blocked(-1);
            if let Some(parker) = self.parker {
                parker.set_waiting(None);
            }
        }
        if let Some(timed_out) = self.timed_out.take() {
            timed_out(waiters.entries.is_empty());
        }
        true
    }

    /// The wait ended normally: nothing to undo.
    fn defuse(&mut self) {
        self.defused = true;
    }
}

impl<F: FnOnce(bool)> Drop for Enqueued<'_, F> {
    /// The wait is unwinding with its entry possibly still queued.
    fn drop(&mut self) {
        if self.defused {
            return;
        }
        if self.releasing {
            observe::releasing(false);
        }
        #[cfg(not(loom))]
        if let Some(parker) = self.parker {
            parker.set_watching(false);
        }
        if !self.withdraw() {
            // A notifier took the entry first: wait for its wake-up to land, so that it
            // cannot arrive in this thread's next wait instead.
            if let Some(parker) = self.parker {
                parker.park_until(None);
            }
        }
    }
}

fn record(target: &Target, token: usize) {
    match target {
        Target::Thread(parker, slot, counted) => {
            slot.store(token, Ordering::Relaxed);
            #[cfg(not(loom))]
            parker.mark_dequeued();
            if *counted {
                // No longer asleep from the detector's point of view, even before it
                // runs: it has a wake-up coming.
                parker.set_waiting(None);
                observe::blocked(-1);
            }
        }
        Target::Task(task) => task.delivered.store(token + 1, Ordering::Release),
        #[cfg(not(loom))]
        Target::Checked(_, slot) => slot.store(token, Ordering::Relaxed),
    }
}

fn deliver(target: Target, _token: usize) {
    match target {
        Target::Thread(parker, _, _) => parker.unpark(),
        #[cfg(not(loom))]
        Target::Checked(id, _) => crate::check::unblock(id),
        Target::Task(task) => {
            let waker = task.waker.lock().clone();
            waker.wake();
        }
    }
}

/// The per-future state of an async wait: `None` until registered.
#[derive(Debug, Default)]
pub(crate) struct AsyncWaiter {
    registered: Option<(u64, Arc<TaskSlot>)>,
}

impl AsyncWaiter {
    /// Whether this waiter is currently enqueued or holds an unconsumed notification.
    #[allow(dead_code)]
    pub(crate) fn is_registered(&self) -> bool {
        self.registered.is_some()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::panic::{self, AssertUnwindSafe};
    use std::time::{Duration, Instant};

    use super::*;

    /// An unwind out of a wait (here from `before_sleep`, timed and untimed) takes the
    /// entry back first and runs the primitive's clean-up: nothing stays queued to be
    /// woken in this thread's place.
    #[test]
    fn an_unwinding_wait_leaves_no_entry_behind() {
        let queue = WaitQueue::new();
        for deadline in [None, Some(Instant::now() + Duration::from_secs(3600))] {
            let mut cleaned = None;
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                queue.wait_on(
                    None,
                    7,
                    || true,
                    || panic!("before_sleep fails"),
                    deadline,
                    |is_empty| cleaned = Some(is_empty),
                )
            }));
            assert!(outcome.is_err());
            assert_eq!(queue.len(), 0, "the entry was withdrawn");
            assert_eq!(
                cleaned,
                Some(true),
                "the clean-up ran, seeing the queue empty"
            );
            // A notification now finds nobody.
            assert_eq!(queue.notify_one(|_, _| {}), 0);
        }
    }
}
