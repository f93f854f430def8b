//! [`RwLock<T>`]: the readers–writers lock, many readers or one writer, with a named
//! scheduling [`RwPolicy`].
//!
//! # Implementation
//!
//! One `AtomicUsize` holds the state: bit 0 `WRITER` (a writer holds the lock), bit 1
//! `READERS_PARKED` and bit 2 `WRITERS_PARKED` (someone waits in that queue), and the
//! reader count above. Readers and writers wait in two separate `WaitQueue`s of the
//! wait seam. Parked bits are set by a waiter before it enqueues (and
//! re-checked under the queue lock), and cleared under the queue lock by whoever empties
//! the queue, so a release never misses a waiter. Hand-offs update the state word under
//! the queue lock and deliver `TOKEN_HANDOFF`.
//!
//! The releases rely on one invariant: `WRITERS_PARKED` set with no writer queued means
//! a writer is between setting it and enqueueing (so the last reader out leaves it set
//! for that writer). If that writer finds the lock free instead (the last reader left
//! meanwhile) and takes it, it clears the bit itself, under the writers' queue lock,
//! unless another writer has queued since. Nobody else would: under `PhaseFair`, its
//! release hands the lock to the parked readers and keeps the bit for the writers it
//! seems to announce, and the stale bit then keeps every reader out of a free lock.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::time::{Duration, Instant};

use super::raw_lock::Owned;
use crate::wait::sys::{AtomicUsize, Ordering};
use crate::wait::{
    deadline_after, local, observe, Object, SpinWait, WaitQueue, WaitResult, TOKEN_HANDOFF,
};

/// What an instrumented acquisition did that its release must undo.
#[derive(Clone, Copy)]
struct Taken {
    /// Lock-order (and checker) hooks ran: the release runs the matching ones.
    tracked: bool,
    /// A read hold went into this thread's table for the deadlock detector.
    recorded: bool,
}

/// Which acquisition an instrumented call makes.
#[derive(Clone, Copy)]
enum Mode {
    Read,
    TryRead,
    Write,
    TryWrite,
}

impl Mode {
    fn what(self) -> &'static str {
        match self {
            Mode::Read => "read",
            Mode::TryRead => "try_read",
            Mode::Write => "write",
            Mode::TryWrite => "try_write",
        }
    }
}

/// A writer holds the lock.
const WRITER: usize = 1;
/// Readers are (or are about to be) parked in the readers' queue.
const READERS_PARKED: usize = 2;
/// Writers are (or are about to be) parked in the writers' queue.
const WRITERS_PARKED: usize = 4;
/// One reader in the count held by the upper bits.
const ONE_READER: usize = 8;
/// The reader-count bits.
const READER_MASK: usize = !(ONE_READER - 1);

/// Who goes first when readers and writers compete for an [`RwLock`].
///
/// | Policy | A reader gets in when | When a writer releases | Who can starve |
/// | --- | --- | --- | --- |
/// | [`ReaderPreferring`](RwPolicy::ReaderPreferring) | no writer *holds* the lock | all waiting readers, then writers | writers |
/// | [`WriterPreferring`](RwPolicy::WriterPreferring) | no writer holds the lock *or waits* for it | the next waiting writer; readers only when no writer waits | readers |
/// | [`PhaseFair`](RwPolicy::PhaseFair) (default) | no writer holds the lock or waits for it | *all* readers waiting at that moment, then the next writer | nobody |
///
/// Under every policy the last reader to leave hands the lock to the first waiting
/// writer, and waiting writers are served in FIFO order among themselves.
///
/// ```
/// use heddle::sync::{RwLock, RwPolicy};
///
/// assert_eq!(RwPolicy::default(), RwPolicy::PhaseFair);
/// let config = RwLock::with_policy(String::from("v1"), RwPolicy::ReaderPreferring);
/// assert_eq!(config.policy(), RwPolicy::ReaderPreferring);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RwPolicy {
    /// Readers first: a reader gets in whenever no writer *holds* the lock, even while
    /// writers wait; a releasing writer admits every waiting reader before the next
    /// writer. Highest read throughput; a steady stream of overlapping readers starves
    /// writers forever.
    ///
    /// ```
    /// use heddle::sync::{RwLock, RwPolicy};
    ///
    /// let lock = RwLock::with_policy(0, RwPolicy::ReaderPreferring);
    /// let a = lock.read();
    /// let b = lock.read(); // would still succeed if a writer were waiting
    /// assert_eq!(*a + *b, 0);
    /// ```
    ReaderPreferring,
    /// Writers first: once a writer waits, new readers wait too; a releasing writer hands
    /// the lock to the next waiting writer, and readers are let in only when no writer
    /// waits. Writers see fresh data soonest; a steady stream of writers starves readers.
    ///
    /// ```
    /// use heddle::sync::{RwLock, RwPolicy};
    ///
    /// let lock = RwLock::with_policy(vec![1], RwPolicy::WriterPreferring);
    /// lock.write().push(2);
    /// assert_eq!(*lock.read(), [1, 2]);
    /// ```
    WriterPreferring,
    /// Phase-fair (Brandenburg & Anderson): readers and writers take turns in phases. A
    /// waiting writer blocks new readers; a releasing writer admits *all* readers waiting
    /// at that moment before the next writer; the last reader out hands the lock to one
    /// waiting writer. Neither side starves: a reader waits for at most one writer
    /// phase, a writer for at most one reader phase per writer served before it. The
    /// default.
    ///
    /// ```
    /// use heddle::sync::{RwLock, RwPolicy};
    ///
    /// let lock = RwLock::new(0);
    /// assert_eq!(lock.policy(), RwPolicy::PhaseFair);
    /// *lock.write() += 1;
    /// assert_eq!(*lock.read(), 1);
    /// ```
    #[default]
    PhaseFair,
}

/// The state word and the two queues; not generic, so it is compiled once.
///
/// `repr(C)`, state word last: in an [`RwLock`] the data follows it directly, so a fast
/// path (`read_block`, the state word, then the data) touches one cache line, not the
/// two it would if the queues sat in between (they are only touched by waiters). Data a
/// cache line away from the state word costs an uncontended `write` about 10%.
#[repr(C)]
struct RawRwLock {
    policy: RwPolicy,
    readers: WaitQueue,
    writers: WaitQueue,
    site: &'static Location<'static>,
    /// The writer's heddle id (0 when not write-held) and where it took the lock: what
    /// the deadlock detector follows when a thread waits for this lock.
    writer: std::sync::atomic::AtomicU64,
    writer_at: std::sync::atomic::AtomicPtr<Location<'static>>,
    /// The state bits that keep a new reader out: `WRITER`, plus `WRITERS_PARKED`
    /// unless the policy prefers readers.
    read_block: usize,
    state: AtomicUsize,
}

impl Owned for RawRwLock {
    fn owner(&self) -> u64 {
        // The exclusive holder; read holders are published by blocked threads (see
        // `deadlock::reads`).
        self.writer.load(std::sync::atomic::Ordering::Relaxed)
    }
    fn object(&self) -> Object {
        Object::new("RwLock", self, Some(self.site))
    }
    fn taken_at(&self) -> Option<&'static Location<'static>> {
        let p = self.writer_at.load(std::sync::atomic::Ordering::Relaxed);
        // SAFETY: only ever set from `&'static Location` values.
        (!p.is_null()).then(|| unsafe { &*p })
    }
    fn readers_wait_for_waiting_writers(&self) -> bool {
        self.read_block & WRITERS_PARKED != 0
    }
}

/// A dropped lock leaves the lock-order graph (see `RawLock`'s `Drop`).
impl Drop for RawRwLock {
    fn drop(&mut self) {
        crate::deadlock::on_drop(self as *const Self as usize);
    }
}

/// Lets in the readers a writer held back, when that writer leaves without the lock:
/// out of the queue as the last waiting writer (timed out, or unwound by an all-asleep
/// report), or before it ever enqueued (unwound by a cycle report at registration,
/// with `WRITERS_PARKED` already set: nobody else would clear it).
struct AdmitOnGiveUp<'a> {
    lock: &'a RawRwLock,
    armed: std::cell::Cell<bool>,
    before_wait: std::cell::Cell<bool>,
}

impl Drop for AdmitOnGiveUp<'_> {
    fn drop(&mut self) {
        if self.before_wait.get() {
            // Only reachable by unwinding out of the registration.
            self.lock.clear_writers_parked_if_none_queued();
        } else if !self.armed.get() {
            return;
        }
        let state = self.lock.state.load(Ordering::Relaxed);
        if state & READERS_PARKED != 0 && state & self.lock.read_block == 0 {
            self.lock.admit_readers();
        }
    }
}

/// What a hand-off to a writer from a free lock achieved.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Handoff {
    /// No writer was enqueued (one may be about to enqueue).
    Empty,
    /// Someone else took the lock meanwhile; their release will pass it on.
    Busy,
    /// The first waiting writer now holds the lock.
    Granted,
}

#[cold]
#[inline(never)]
fn reader_overflow() -> ! {
    panic!(
        "heddle::sync::RwLock: too many simultaneous readers (reader count overflow; \
         are read guards being leaked with mem::forget?)"
    )
}

/// `state` with one more reader; panics on overflow.
#[inline]
fn add_reader(state: usize) -> usize {
    if state & READER_MASK == READER_MASK {
        reader_overflow();
    }
    state + ONE_READER
}

impl RawRwLock {
    #[track_caller]
    const fn new(policy: RwPolicy) -> Self {
        RawRwLock {
            state: AtomicUsize::new(0),
            read_block: match policy {
                RwPolicy::ReaderPreferring => WRITER,
                RwPolicy::WriterPreferring | RwPolicy::PhaseFair => WRITER | WRITERS_PARKED,
            },
            policy,
            readers: WaitQueue::new(),
            writers: WaitQueue::new(),
            site: Location::caller(),
            writer: std::sync::atomic::AtomicU64::new(0),
            writer_at: std::sync::atomic::AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    // ----- readers -----------------------------------------------------------------

    #[inline]
    fn try_read(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & self.read_block != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                add_reader(state),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(s) => state = s,
            }
        }
    }

    /// Take a read lock, waiting until `deadline` (forever if `None`); `false` on timeout.
    #[inline]
    #[track_caller]
    fn read_until(&self, deadline: Option<Instant>) -> bool {
        let state = self.state.load(Ordering::Relaxed);
        if state & self.read_block == 0
            && self
                .state
                .compare_exchange_weak(
                    state,
                    add_reader(state),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return true;
        }
        self.read_slow(deadline)
    }

    #[cold]
    #[track_caller]
    fn read_slow(&self, deadline: Option<Instant>) -> bool {
        // Never reset: once a reader has parked, it parks again at once if it must, so
        // it does not burn CPU while holding its place in line.
        let mut spin = SpinWait::new();
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & self.read_block == 0 {
                match self.state.compare_exchange_weak(
                    state,
                    add_reader(state),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(s) => state = s,
                }
                continue;
            }
            if state & READERS_PARKED == 0 {
                if spin.spin() {
                    state = self.state.load(Ordering::Relaxed);
                    continue;
                }
                if let Err(s) = self.state.compare_exchange_weak(
                    state,
                    state | READERS_PARKED,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    state = s;
                    continue;
                }
            }
            let _waiting = crate::deadlock::LockWait::register(
                self,
                Location::caller(),
                deadline.is_some(),
                false,
            );
            let result = self.readers.wait(
                0,
                || {
                    let s = self.state.load(Ordering::Relaxed);
                    s & self.read_block != 0 && s & READERS_PARKED != 0
                },
                || {},
                deadline,
                |is_empty| {
                    if is_empty {
                        self.state.fetch_and(!READERS_PARKED, Ordering::Relaxed);
                    }
                },
            );
            match result {
                // Admitted by a hand-off (even if the deadline passed meanwhile).
                WaitResult::Notified(TOKEN_HANDOFF) => return true,
                WaitResult::TimedOut => return false,
                WaitResult::Notified(_) | WaitResult::Invalid => {}
            }
            state = self.state.load(Ordering::Relaxed);
        }
    }

    #[inline]
    fn unlock_read(&self) {
        let prev = self.state.fetch_sub(ONE_READER, Ordering::Release);
        debug_assert!(prev & READER_MASK != 0, "read unlock without a reader");
        if prev & (READER_MASK | WRITERS_PARKED) == ONE_READER | WRITERS_PARKED {
            self.unlock_read_slow();
        }
    }

    /// The last reader left while a writer waits: hand the lock to it.
    #[cold]
    fn unlock_read_slow(&self) {
        if self.handoff_writer_from_free() == Handoff::Empty {
            // The writer that set WRITERS_PARKED has not enqueued yet: it will find the
            // lock free when it validates, take it, and clear the bit if no other writer
            // has queued. Leaving the bit set keeps new readers out meanwhile (under the
            // policies where a waiting writer does). Readers are only let in here if the
            // policy allows it anyway.
            let state = self.state.load(Ordering::Relaxed);
            if state & READERS_PARKED != 0 && state & self.read_block == 0 {
                self.admit_readers();
            }
        }
    }

    /// Record the writer that just took the lock (at `at`).
    #[inline]
    fn set_writer(&self, at: &'static Location<'static>) {
        use std::sync::atomic::Ordering::Relaxed;
        self.writer.store(local::thread_id(), Relaxed);
        self.writer_at
            .store(at as *const Location<'static> as *mut _, Relaxed);
    }

    #[inline]
    fn clear_writer(&self) {
        self.writer.store(0, std::sync::atomic::Ordering::Relaxed);
    }

    // ----- writers -----------------------------------------------------------------

    #[inline]
    fn try_write(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & (WRITER | READER_MASK) != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                state | WRITER,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(s) => state = s,
            }
        }
    }

    /// Take the write lock, waiting until `deadline` (forever if `None`); `false` on
    /// timeout.
    #[inline]
    #[track_caller]
    fn write_until(&self, deadline: Option<Instant>) -> bool {
        if self
            .state
            .compare_exchange_weak(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return true;
        }
        self.write_slow(deadline)
    }

    #[cold]
    #[track_caller]
    fn write_slow(&self, deadline: Option<Instant>) -> bool {
        // Never reset, as for readers: a writer that has once set WRITERS_PARKED sets
        // it again immediately after a failed validation, so readers are not let back
        // in while it spins.
        let mut spin = SpinWait::new();
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & (WRITER | READER_MASK) == 0 {
                // Keep the parked bits: others may still be queued.
                match self.state.compare_exchange_weak(
                    state,
                    state | WRITER,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        if state & WRITERS_PARKED != 0 {
                            // Perhaps our own bit, set before the last reader left: if
                            // no writer is queued, nobody else would ever clear it.
                            self.clear_writers_parked_if_none_queued();
                        }
                        return true;
                    }
                    Err(s) => state = s,
                }
                continue;
            }
            if state & WRITERS_PARKED == 0 {
                if spin.spin() {
                    state = self.state.load(Ordering::Relaxed);
                    continue;
                }
                if let Err(s) = self.state.compare_exchange_weak(
                    state,
                    state | WRITERS_PARKED,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    state = s;
                    continue;
                }
            }
            // Set (under the writers' queue lock) if this writer gives up as the last
            // waiting writer: readers held back only by it must be let in. The guard
            // does it on every way out, including a deadlock report unwinding the wait.
            let release_readers = AdmitOnGiveUp {
                lock: self,
                armed: std::cell::Cell::new(false),
                before_wait: std::cell::Cell::new(true),
            };
            let _waiting = crate::deadlock::LockWait::register(
                self,
                Location::caller(),
                deadline.is_some(),
                true,
            );
            release_readers.before_wait.set(false);
            let result = self.writers.wait(
                0,
                || {
                    let s = self.state.load(Ordering::Relaxed);
                    s & (WRITER | READER_MASK) != 0 && s & WRITERS_PARKED != 0
                },
                || {},
                deadline,
                |is_empty| {
                    if is_empty {
                        let prev = self.state.fetch_and(!WRITERS_PARKED, Ordering::Relaxed);
                        release_readers.armed.set(prev & READERS_PARKED != 0);
                    }
                },
            );
            match result {
                // Handed the lock (even if the deadline passed meanwhile).
                WaitResult::Notified(TOKEN_HANDOFF) => return true,
                WaitResult::TimedOut => return false,
                WaitResult::Notified(_) | WaitResult::Invalid => {}
            }
            state = self.state.load(Ordering::Relaxed);
        }
    }

    #[inline]
    fn unlock_write(&self) {
        if self
            .state
            .compare_exchange(WRITER, 0, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        self.unlock_write_slow();
    }

    #[cold]
    fn unlock_write_slow(&self) {
        // We hold WRITER, so nobody acquires meanwhile; only parked bits change.
        loop {
            let state = self.state.load(Ordering::Relaxed);
            let readers_first = match self.policy {
                RwPolicy::WriterPreferring => state & WRITERS_PARKED == 0,
                RwPolicy::ReaderPreferring | RwPolicy::PhaseFair => true,
            };
            if state & READERS_PARKED != 0 && readers_first {
                if self.handoff_readers_from_writer() {
                    return;
                }
                continue;
            }
            if state & WRITERS_PARKED != 0 {
                if self.handoff_writer_from_writer() {
                    return;
                }
                continue;
            }
            if self
                .state
                .compare_exchange_weak(state, state & !WRITER, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    // ----- hand-offs (all state changes run under the relevant queue's lock) ---------

    /// Releasing writer: admit every waiting reader as one phase. `false` if the queue
    /// turned out empty (the bit is cleared; the caller re-reads the state).
    fn handoff_readers_from_writer(&self) -> bool {
        let woken = self.readers.notify_with(
            |_| {
                // WRITER is still set, so nobody else changes the count meanwhile.
                let prev = self.state.fetch_add(ONE_READER, Ordering::Relaxed);
                debug_assert!(prev & READER_MASK != READER_MASK, "reader count overflow");
                Some(TOKEN_HANDOFF)
            },
            |woken, _| {
                let clear = if woken > 0 {
                    WRITER | READERS_PARKED
                } else {
                    READERS_PARKED
                };
                self.state.fetch_and(!clear, Ordering::Release);
            },
        );
        woken > 0
    }

    /// Releasing writer: pass the write lock to the first waiting writer. `false` if
    /// the queue turned out empty (the bit is cleared: we still hold WRITER, so new
    /// readers stay out while a writer that set it re-queues).
    fn handoff_writer_from_writer(&self) -> bool {
        let mut first = true;
        let woken = self.writers.notify_with(
            |_| std::mem::replace(&mut first, false).then_some(TOKEN_HANDOFF),
            |_, have_more| {
                if !have_more {
                    self.state.fetch_and(!WRITERS_PARKED, Ordering::Relaxed);
                }
            },
        );
        woken > 0
    }

    /// The lock was seen free with writers parked: give it to the first one, unless
    /// someone took it meanwhile. Leaves WRITERS_PARKED set if the queue is empty: the
    /// writer that set it is about to enqueue, will fail validation and take the lock
    /// (then clearing the bit, see `clear_writers_parked_if_none_queued`).
    fn handoff_writer_from_free(&self) -> Handoff {
        let mut outcome = Handoff::Empty;
        self.writers.notify_with(
            |_| {
                if outcome != Handoff::Empty {
                    return None;
                }
                let mut state = self.state.load(Ordering::Relaxed);
                loop {
                    if state & (WRITER | READER_MASK) != 0 {
                        outcome = Handoff::Busy;
                        return None;
                    }
                    match self.state.compare_exchange_weak(
                        state,
                        state | WRITER,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => {
                            outcome = Handoff::Granted;
                            return Some(TOKEN_HANDOFF);
                        }
                        Err(s) => state = s,
                    }
                }
            },
            |woken, have_more| {
                if woken > 0 && !have_more {
                    self.state.fetch_and(!WRITERS_PARKED, Ordering::Relaxed);
                }
            },
        );
        outcome
    }

    /// A writer took the lock directly while WRITERS_PARKED was set: clear the bit if
    /// the writers' queue is empty. The bit may be this writer's own, set before the
    /// last reader left; left set, it would survive a release that hands the lock to
    /// readers (as `PhaseFair`'s and `ReaderPreferring`'s do) and then, under
    /// `PhaseFair`, block readers for good. Another writer that set it and has not
    /// enqueued yet fails validation (the bit is gone) and sets it again, seeing the
    /// lock held: nothing is missed.
    #[cold]
    fn clear_writers_parked_if_none_queued(&self) {
        self.writers.notify_with(
            |_| None,
            |_, have_more| {
                if !have_more {
                    self.state.fetch_and(!WRITERS_PARKED, Ordering::Relaxed);
                }
            },
        );
    }

    /// No writer holds the lock: admit waiting readers for as long as the policy lets
    /// readers in (stopping if a writer takes the lock or starts waiting meanwhile).
    fn admit_readers(&self) {
        self.readers.notify_with(
            |_| {
                let mut state = self.state.load(Ordering::Relaxed);
                loop {
                    if state & self.read_block != 0 {
                        return None;
                    }
                    match self.state.compare_exchange_weak(
                        state,
                        add_reader(state),
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => return Some(TOKEN_HANDOFF),
                        Err(s) => state = s,
                    }
                }
            },
            |_, have_more| {
                if !have_more {
                    self.state.fetch_and(!READERS_PARKED, Ordering::Relaxed);
                }
            },
        );
    }
}

/// A readers–writer lock protecting a `T`: any number of readers, or one writer, with
/// a named [`RwPolicy`] deciding who goes first.
///
/// Python's `threading` has no readers–writer lock (courses build one from a `Condition`
/// and meet exactly the starvation problems the policies below name); the API follows
/// std's and parking_lot's `RwLock`: [`read`](RwLock::read) and
/// [`write`](RwLock::write) return RAII guards, each with `try_` and `_timeout` forms.
///
/// # Policies
///
/// Who goes next when readers and writers compete is the whole difference between
/// readers–writers solutions, so heddle makes it a named choice:
///
/// | Policy | A reader gets in when | When a writer releases | Who can starve |
/// | --- | --- | --- | --- |
/// | [`ReaderPreferring`](RwPolicy::ReaderPreferring) | no writer *holds* the lock | all waiting readers, then writers | writers |
/// | [`WriterPreferring`](RwPolicy::WriterPreferring) | no writer holds the lock *or waits* for it | the next waiting writer; readers only when no writer waits | readers |
/// | [`PhaseFair`](RwPolicy::PhaseFair) (default) | no writer holds the lock or waits for it | *all* readers waiting at that moment, then the next writer | nobody |
///
/// Under every policy, the last reader to leave hands the lock to the first waiting
/// writer, and waiting writers are served in FIFO order among themselves.
///
/// # Guarantees
///
/// * **Fast path**: an uncontended `read` or `write` is one compare-and-swap; releasing
///   is one atomic operation. Nothing else is touched unless someone waits.
/// * **Fairness**: as stated by the policy. Where the table says the lock goes to a
///   waiter, it is *handed off*: the waiter is woken already holding it, so no arriving
///   thread can slip in between (no barging at a release). A writer arriving at a moment
///   when the lock is completely free may take it even if others wait (they were about to
///   be served anyway; this keeps the uncontended path a single CAS). Under
///   `PhaseFair`, writer phases and reader phases alternate whenever both kinds wait,
///   and every reader waiting when a writer releases is admitted in the next reader
///   phase: a reader waits for at most one writer phase, and a writer for at most one
///   reader phase per writer served before it.
/// * **Timeouts**: [`read_timeout`](RwLock::read_timeout) and
///   [`write_timeout`](RwLock::write_timeout) return `None` once the deadline passes;
///   `try_read`/`try_write` never block. A waiter whose deadline passes just as the lock
///   is handed to it *keeps* it and returns the guard: a hand-off is never dropped, so a
///   timeout can never wedge the lock. A writer that times out while readers were held
///   back only by it lets those readers in at once.
/// * **Panics**: no poisoning (as in Python and parking_lot). A guard dropped while
///   unwinding releases the lock; the data is whatever the panicking code left. The only
///   panic raised by the lock itself is a reader-count overflow (more than
///   `usize::MAX / 8` simultaneous readers, i.e. leaked guards).
/// * **Spurious wake-ups**: none are visible; `read`/`write` return only holding the
///   lock.
/// * **Re-entry**: not supported. A thread taking `write` while it holds the lock
///   deadlocks. A thread taking `read` twice may deadlock under `WriterPreferring` and
///   `PhaseFair` if a writer started waiting in between (the second `read` waits for the
///   writer, which waits for the first read guard), as with std's and parking_lot's
///   locks.
///
/// ```
/// use heddle::sync::RwLock;
/// use std::sync::Arc;
///
/// let prices = Arc::new(RwLock::new(vec![10, 20]));
/// let readers: Vec<_> = (0..4)
///     .map(|_| {
///         let prices = Arc::clone(&prices);
///         std::thread::spawn(move || prices.read().iter().sum::<i32>())
///     })
///     .collect();
/// prices.write().push(30);
/// for r in readers {
///     let total = r.join().unwrap();
///     assert!(total == 30 || total == 60);
/// }
/// assert_eq!(*prices.read(), [10, 20, 30]);
/// ```
// `repr(C)`: the data right after the raw lock's state word (see `RawRwLock`).
#[repr(C)]
pub struct RwLock<T: ?Sized> {
    raw: RawRwLock,
    data: UnsafeCell<T>,
}

// SAFETY: sending the lock sends the `T` inside it.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: writers get `&mut T` (so `T` must be able to move between threads: `Send`)
// and readers on several threads get `&T` at once (so `T: Sync`), as for std's `RwLock`.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    /// A new unlocked lock holding `value`, with the default [`RwPolicy::PhaseFair`].
    /// The call site is remembered for reports.
    ///
    /// ```
    /// use heddle::sync::RwLock;
    ///
    /// static SETTINGS: RwLock<u32> = RwLock::new(8);
    /// assert_eq!(*SETTINGS.read(), 8);
    /// *SETTINGS.write() = 16;
    /// assert_eq!(*SETTINGS.read(), 16);
    /// ```
    #[track_caller]
    pub const fn new(value: T) -> Self {
        Self::with_policy(value, RwPolicy::PhaseFair)
    }

    /// A new unlocked lock holding `value`, scheduled by `policy`.
    ///
    /// ```
    /// use heddle::sync::{RwLock, RwPolicy};
    ///
    /// let cache = RwLock::with_policy(Vec::<u8>::new(), RwPolicy::WriterPreferring);
    /// cache.write().push(1);
    /// assert_eq!(cache.read().len(), 1);
    /// ```
    #[track_caller]
    pub const fn with_policy(value: T, policy: RwPolicy) -> Self {
        RwLock {
            raw: RawRwLock::new(policy),
            data: UnsafeCell::new(value),
        }
    }

    /// Consume the lock and return the data.
    ///
    /// ```
    /// let lock = heddle::sync::RwLock::new(String::from("done"));
    /// assert_eq!(lock.into_inner(), "done");
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    fn object(&self) -> Object {
        Object::new("RwLock", &self.raw, Some(self.raw.site))
    }

    /// The address the deadlock detector knows this lock by.
    #[inline]
    fn raw_addr(&self) -> usize {
        &self.raw as *const RawRwLock as usize
    }

    /// The checker or lock-order mode is watching: a schedule point, lock-order edges,
    /// then the acquisition. `Some(taken)` if taken, saying what its release must undo.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn instrumented(
        &self,
        mode: Mode,
        at: &'static Location<'static>,
        deadline: Option<Instant>,
    ) -> Option<Taken> {
        let me = local::thread_id();
        let checked = me & crate::check::CHECKED != 0;
        let object = self.object();
        if checked {
            crate::check::point(crate::check::Op {
                what: mode.what(),
                object: Some(object),
                at,
            });
        }
        let order = checked || observe::lock_order();
        let only_try = matches!(mode, Mode::TryRead | Mode::TryWrite);
        let hold = order.then(|| crate::deadlock::before_acquire(me, object, at, only_try));
        // Called here, not through a closure, so a blocked wait is registered with the
        // caller's location (`#[track_caller]` does not pass through closures).
        let taken = match mode {
            Mode::Read => self.raw.read_until(deadline),
            Mode::TryRead => self.raw.try_read(),
            Mode::Write => self.raw.write_until(deadline),
            Mode::TryWrite => self.raw.try_write(),
        };
        if !taken {
            return None;
        }
        if let Some(hold) = hold {
            hold.taken();
        }
        let read = matches!(mode, Mode::Read | Mode::TryRead);
        if checked {
            if read {
                crate::check::acquired_read(object.addr);
            } else {
                crate::check::acquired(object.addr);
            }
        }
        // A checked thread's deadlocks are the checker's to report; checked threads
        // also share one OS thread, whose table of read holds is not theirs.
        let recorded = read && !checked;
        if recorded {
            crate::deadlock::read_taken(object.addr, at);
        }
        Some(Taken {
            tracked: order,
            recorded,
        })
    }

    /// The hooks matching an instrumented acquisition, before its release.
    #[cold]
    fn release_hooks(&self, write: bool) {
        let object = self.object();
        if crate::check::active() {
            crate::check::point(crate::check::Op {
                what: if write { "unlock_write" } else { "unlock_read" },
                object: Some(object),
                at: self.raw.site,
            });
            if write {
                crate::check::released(object.addr);
            } else {
                crate::check::released_read(object.addr);
            }
        }
        crate::deadlock::on_release(local::thread_id(), object.addr);
    }

    /// The scheduling policy chosen at construction.
    ///
    /// ```
    /// use heddle::sync::{RwLock, RwPolicy};
    ///
    /// assert_eq!(RwLock::new(()).policy(), RwPolicy::PhaseFair);
    /// ```
    pub fn policy(&self) -> RwPolicy {
        self.raw.policy
    }

    /// Block until the policy admits this reader, and return a guard giving shared
    /// access; other readers may hold the lock at the same time.
    ///
    /// ```
    /// let lock = heddle::sync::RwLock::new(5);
    /// let a = lock.read();
    /// let b = lock.read(); // readers share
    /// assert_eq!(*a + *b, 10);
    /// ```
    #[inline]
    #[track_caller]
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        if observe::instrumented() {
            let tracked = self.instrumented(Mode::Read, Location::caller(), None);
            return RwLockReadGuard::tracked(self, tracked.expect("an untimed read"));
        }
        self.raw.read_until(None);
        RwLockReadGuard::new(self, Location::caller())
    }

    /// Take a read lock if the policy admits a reader right now; never blocks. Under
    /// `WriterPreferring` and `PhaseFair` this fails while a writer waits, even if only
    /// readers hold the lock.
    ///
    /// ```
    /// let lock = heddle::sync::RwLock::new(1);
    /// let w = lock.write();
    /// assert!(lock.try_read().is_none());
    /// drop(w);
    /// assert_eq!(*lock.try_read().unwrap(), 1);
    /// ```
    #[inline]
    #[track_caller]
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        if observe::instrumented() {
            return self
                .instrumented(Mode::TryRead, Location::caller(), None)
                .map(|t| RwLockReadGuard::tracked(self, t));
        }
        self.raw
            .try_read()
            .then(|| RwLockReadGuard::new(self, Location::caller()))
    }

    /// Like [`read`](Self::read), but give up after `timeout` and return `None`. If the
    /// lock was handed to this reader as the deadline passed, it is kept and returned.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = heddle::sync::RwLock::new(());
    /// let w = lock.write();
    /// assert!(lock.read_timeout(Duration::from_millis(1)).is_none());
    /// drop(w);
    /// assert!(lock.read_timeout(Duration::from_millis(1)).is_some());
    /// ```
    #[inline]
    #[track_caller]
    pub fn read_timeout(&self, timeout: Duration) -> Option<RwLockReadGuard<'_, T>> {
        if observe::instrumented() {
            return self
                .instrumented(Mode::Read, Location::caller(), deadline_after(timeout))
                .map(|t| RwLockReadGuard::tracked(self, t));
        }
        if self.raw.try_read() {
            return Some(RwLockReadGuard::new(self, Location::caller()));
        }
        self.raw
            .read_until(deadline_after(timeout))
            .then(|| RwLockReadGuard::new(self, Location::caller()))
    }

    /// Block until no one else holds the lock, take it exclusively, and return a guard
    /// giving mutable access.
    ///
    /// ```
    /// let lock = heddle::sync::RwLock::new(vec![1]);
    /// lock.write().push(2);
    /// assert_eq!(*lock.read(), [1, 2]);
    /// ```
    #[inline]
    #[track_caller]
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        if observe::instrumented() {
            let tracked = self.instrumented(Mode::Write, Location::caller(), None);
            return RwLockWriteGuard::tracked(self, tracked.expect("an untimed write"));
        }
        self.raw.write_until(None);
        RwLockWriteGuard::new(self)
    }

    /// Take the lock exclusively if nobody holds it right now; never blocks.
    ///
    /// ```
    /// let lock = heddle::sync::RwLock::new(0);
    /// let r = lock.read();
    /// assert!(lock.try_write().is_none());
    /// drop(r);
    /// *lock.try_write().unwrap() += 1;
    /// assert_eq!(*lock.read(), 1);
    /// ```
    #[inline]
    #[track_caller]
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        if observe::instrumented() {
            return self
                .instrumented(Mode::TryWrite, Location::caller(), None)
                .map(|t| RwLockWriteGuard::tracked(self, t));
        }
        self.raw.try_write().then(|| RwLockWriteGuard::new(self))
    }

    /// Like [`write`](Self::write), but give up after `timeout` and return `None`. If
    /// the lock was handed to this writer as the deadline passed, it is kept and
    /// returned.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = heddle::sync::RwLock::new(0);
    /// let r = lock.read();
    /// assert!(lock.write_timeout(Duration::from_millis(1)).is_none());
    /// drop(r);
    /// *lock.write_timeout(Duration::from_millis(1)).unwrap() = 7;
    /// assert_eq!(*lock.read(), 7);
    /// ```
    #[inline]
    #[track_caller]
    pub fn write_timeout(&self, timeout: Duration) -> Option<RwLockWriteGuard<'_, T>> {
        if observe::instrumented() {
            return self
                .instrumented(Mode::Write, Location::caller(), deadline_after(timeout))
                .map(|t| RwLockWriteGuard::tracked(self, t));
        }
        if self.raw.try_write() {
            return Some(RwLockWriteGuard::new(self));
        }
        self.raw
            .write_until(deadline_after(timeout))
            .then(|| RwLockWriteGuard::new(self))
    }

    /// Whether anyone (readers or a writer) holds the lock right now; a snapshot.
    ///
    /// ```
    /// let lock = heddle::sync::RwLock::new(());
    /// assert!(!lock.is_locked());
    /// let _r = lock.read();
    /// assert!(lock.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.raw.state.load(Ordering::Relaxed) & (WRITER | READER_MASK) != 0
    }

    /// Whether a writer holds the lock right now; a snapshot.
    ///
    /// ```
    /// let lock = heddle::sync::RwLock::new(());
    /// let r = lock.read();
    /// assert!(!lock.is_locked_exclusive());
    /// drop(r);
    /// let _w = lock.write();
    /// assert!(lock.is_locked_exclusive());
    /// ```
    pub fn is_locked_exclusive(&self) -> bool {
        self.raw.state.load(Ordering::Relaxed) & WRITER != 0
    }

    /// Mutable access without locking: `&mut self` proves no one else can hold it.
    ///
    /// ```
    /// let mut lock = heddle::sync::RwLock::new(1);
    /// *lock.get_mut() = 2;
    /// assert_eq!(*lock.read(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Whether a writer is waiting (parked or about to park); a racy snapshot for tests
    /// and diagnostics, not part of the stable API.
    ///
    /// ```
    /// let lock = heddle::sync::RwLock::new(());
    /// assert!(!lock.is_writer_waiting());
    /// ```
    #[doc(hidden)]
    pub fn is_writer_waiting(&self) -> bool {
        self.raw.state.load(Ordering::Relaxed) & WRITERS_PARKED != 0
    }

    /// How many writers are enqueued in the wait queue right now; a snapshot for tests
    /// and diagnostics, not part of the stable API.
    ///
    /// ```
    /// let lock = heddle::sync::RwLock::new(());
    /// assert_eq!(lock.queued_writers(), 0);
    /// ```
    #[doc(hidden)]
    pub fn queued_writers(&self) -> usize {
        self.raw.writers.len()
    }

    /// How many readers are enqueued in the wait queue right now; a snapshot for tests
    /// and diagnostics, not part of the stable API.
    ///
    /// ```
    /// let lock = heddle::sync::RwLock::new(());
    /// assert_eq!(lock.queued_readers(), 0);
    /// ```
    #[doc(hidden)]
    pub fn queued_readers(&self) -> usize {
        self.raw.readers.len()
    }
}

impl<T: Default> Default for RwLock<T> {
    #[track_caller]
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    #[track_caller]
    fn from(value: T) -> Self {
        RwLock::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.field("policy", &self.raw.policy)
            .field("created", &format_args!("{}", self.raw.site))
            .finish()
    }
}

/// Proof that the current thread holds a shared read lock on an [`RwLock`]; releases it
/// on drop.
///
/// Not `Send`: a lock is released by the thread that took it.
///
/// ```
/// let lock = heddle::sync::RwLock::new(String::from("hi"));
/// let guard = lock.read();
/// assert_eq!(guard.len(), 2);
/// ```
///
/// ```compile_fail
/// let lock = std::sync::Arc::new(heddle::sync::RwLock::new(0));
/// let guard = lock.read();
/// std::thread::spawn(move || drop(guard)); // error: the guard is not Send
/// ```
#[must_use = "the read lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    /// Taken on the instrumented path: the release runs the matching hooks.
    tracked: bool,
    /// In this thread's read holds for the deadlock detector (all but a checked
    /// thread's, whose deadlocks the checker reports).
    recorded: bool,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard only gives `&T`, so sharing it across threads needs `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}

impl<'a, T: ?Sized> RwLockReadGuard<'a, T> {
    /// A read lock just taken at `at` on the fast path.
    #[inline]
    fn new(lock: &'a RwLock<T>, at: &'static Location<'static>) -> Self {
        crate::deadlock::read_taken(lock.raw_addr(), at);
        RwLockReadGuard {
            lock,
            tracked: false,
            recorded: true,
            _not_send: PhantomData,
        }
    }

    /// A read lock taken on the instrumented path (which recorded it, unless checked).
    fn tracked(lock: &'a RwLock<T>, taken: Taken) -> Self {
        RwLockReadGuard {
            lock,
            tracked: taken.tracked,
            recorded: taken.recorded,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds a read lock, so no
        // writer has `&mut T`.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if self.tracked {
            self.lock.release_hooks(false);
        }
        if self.recorded {
            crate::deadlock::read_released(self.lock.raw_addr());
        }
        self.lock.raw.unlock_read();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// Proof that the current thread holds an [`RwLock`] exclusively; releases it on drop.
///
/// Not `Send`: a lock is released by the thread that took it.
///
/// ```
/// let lock = heddle::sync::RwLock::new(5);
/// let mut guard = lock.write();
/// *guard += 1;
/// drop(guard);
/// assert_eq!(*lock.read(), 6);
/// ```
///
/// ```compile_fail
/// let lock = std::sync::Arc::new(heddle::sync::RwLock::new(0));
/// let guard = lock.write();
/// std::thread::spawn(move || drop(guard)); // error: the guard is not Send
/// ```
#[must_use = "the write lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    /// Taken on the instrumented path: the release runs the matching hooks.
    tracked: bool,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared reference to the guard only gives `&T`, so it needs `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    #[track_caller]
    fn new(lock: &'a RwLock<T>) -> Self {
        lock.raw.set_writer(Location::caller());
        RwLockWriteGuard {
            lock,
            tracked: false,
            _not_send: PhantomData,
        }
    }

    #[track_caller]
    fn tracked(lock: &'a RwLock<T>, taken: Taken) -> Self {
        lock.raw.set_writer(Location::caller());
        RwLockWriteGuard {
            lock,
            tracked: taken.tracked,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds the lock exclusively.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard exists only while this thread holds the lock exclusively,
        // and `&mut self` means no other reference through this guard is alive.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if self.tracked {
            self.lock.release_hooks(true);
        }
        self.lock.raw.clear_writer();
        self.lock.raw.unlock_write();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
