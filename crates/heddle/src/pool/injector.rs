//! The queue of an unbounded pool: an intrusive FIFO of jobs (Vyukov's multi-producer
//! queue, linked through the `next` field every job's header carries), so queueing a
//! task allocates nothing and costs the submitter one compare-and-swap on a cache line
//! that idle workers do not read.
//!
//! # Producers
//!
//! A submit swings `tail` to its job with a compare-and-swap (which also refuses it if
//! `CLOSED` is set), then links the previous tail to it. Between the two steps the job
//! is queued but not yet reachable: a consumer that meets that gap waits for the link
//! (a few instructions away, unless the submitter was preempted: it yields).
//!
//! # Consumers
//!
//! Workers take jobs from `head` under a short lock (parking_lot's, held for a few
//! loads and stores, never across a wait). A permanent `stub` node is queued again
//! behind the last job whenever that one is taken, so the list is never empty and a
//! taken job is never touched by the queue again. The queue is empty exactly when the
//! tail is the stub.
//!
//! # Sleeping workers, and who wakes them
//!
//! An idle worker spins briefly, then sleeps in the wait seam (an ordinary untimed
//! wait, which the deadlock detector and the checker see), after setting `SLEEPERS` in
//! `state` and checking, under the seam's lock, that the queue is still empty. A
//! submit reads `state` after its compare-and-swap; both sides use sequentially
//! consistent operations, so either the worker sees the job or the submitter sees
//! `SLEEPERS`. Only then does anyone wake a worker, and only one wake is in flight at a
//! time (`WAKING`): the submitter wakes one sleeper, and a woken worker that finds
//! more work than it takes wakes the next. So a burst of submits to a sleeping pool
//! costs the submitter one wake-up, not one per task, and submits to a busy pool (no
//! sleepers) touch no lock and make no system call.

use std::fmt;
use std::ops::Deref;
use std::panic::Location;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering::*};

use parking_lot::Mutex;

use super::task::{Header, Job};
use crate::queue::{GetError, PutError, Queue, TryGetError, TryPutError};
use crate::wait::{Backoff, Object, SpinWait, WaitFor, WaitQueue, WaitResult};

/// In `tail`'s address: the queue is shut down (nodes are aligned, so bit 0 is free).
const CLOSED: usize = 1;

/// Whether `tail` carries [`CLOSED`].
#[inline]
fn is_closed(tail: *mut Header) -> bool {
    tail as usize & CLOSED != 0
}

/// `tail` without [`CLOSED`]: the node itself. The tag is added and removed with
/// pointer arithmetic, not through an integer, so the node keeps its provenance.
#[inline]
fn untagged(tail: *mut Header) -> *mut Header {
    tail.wrapping_byte_sub(tail as usize & CLOSED)
}

/// `tail` with [`CLOSED`].
#[inline]
fn closed(tail: *mut Header) -> *mut Header {
    untagged(tail).wrapping_byte_add(CLOSED)
}

/// In `state`: a worker may sleep in `sleepers`.
const SLEEPERS: usize = 1;
/// In `state`: a sleeper has been woken and has not yet looked at the queue.
const WAKING: usize = 2;

/// Keeps a value on its own cache lines (x86-64 prefetches lines in pairs).
#[repr(align(128))]
struct Padded<T>(T);

impl<T> Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The consumers' end: the next node to hand out (maybe the stub).
struct Head(*mut Header);

// SAFETY: a plain pointer into the queue, used only under the consumers' lock.
unsafe impl Send for Head {}

/// What a consumer found.
enum Pop {
    Job(Job),
    Empty,
    /// A submitter is between its two steps: the job will be reachable in a moment.
    Busy,
}

pub(crate) struct Injector {
    /// The last node queued, with `CLOSED` in bit 0.
    tail: Padded<AtomicPtr<Header>>,
    head: Padded<Mutex<Head>>,
    /// `SLEEPERS | WAKING`.
    state: Padded<AtomicUsize>,
    sleepers: WaitQueue,
    /// Never handed out; a leaked `Box` (freed by `drop`), so its address is stable.
    /// Kept as a raw pointer: a `Box` field would assert unique access to the stub
    /// whenever the injector moves, invalidating the pointers to it in the queue.
    stub: NonNull<Header>,
}

// SAFETY: the raw pointers inside are to jobs (which are `Send`) and to the stub; all
// shared access goes through atomics or the consumers' lock (see the module docs).
unsafe impl Send for Injector {}
// SAFETY: as above.
unsafe impl Sync for Injector {}

impl Injector {
    pub(crate) fn new() -> Self {
        let stub = NonNull::from(Box::leak(Header::stub()));
        Injector {
            tail: Padded(AtomicPtr::new(stub.as_ptr())),
            head: Padded(Mutex::new(Head(stub.as_ptr()))),
            state: Padded(AtomicUsize::new(0)),
            sleepers: WaitQueue::new(),
            stub,
        }
    }

    fn stub(&self) -> *mut Header {
        self.stub.as_ptr()
    }

    /// Queue `job`, or hand it back if the queue is shut down.
    #[inline]
    pub(crate) fn push(&self, job: Job) -> Result<(), Job> {
        let node = job.as_ptr();
        // SAFETY: the job keeps its node alive; until it is linked, nobody else reads
        // its `next`.
        unsafe { (*node).next().store(ptr::null_mut(), Relaxed) };
        let mut tail = self.tail.load(Relaxed);
        loop {
            if is_closed(tail) {
                return Err(job);
            }
            match self.tail.compare_exchange_weak(tail, node, SeqCst, Relaxed) {
                Ok(_) => break,
                Err(actual) => tail = actual,
            }
        }
        // The queue owns the job's reference now.
        std::mem::forget(job);
        // SAFETY: the previous tail is alive: a node is handed out (and may be freed)
        // only once its `next` is set, which is what we do here.
        unsafe { (*tail).next().store(node, Release) };
        if self.state.load(SeqCst) == SLEEPERS {
            self.wake();
        }
        Ok(())
    }

    /// Wake one sleeper, unless a wake is already in flight.
    #[cold]
    fn wake(&self) {
        if self
            .state
            .compare_exchange(SLEEPERS, SLEEPERS | WAKING, SeqCst, Relaxed)
            .is_ok()
        {
            let woken = self.sleepers.notify_one(|_, more| {
                if !more {
                    self.state.fetch_and(!SLEEPERS, SeqCst);
                }
            });
            if woken == 0 {
                // The sleeper left on its own (a deadlock report): nobody to wake.
                self.state.fetch_and(!WAKING, SeqCst);
            }
        }
    }

    /// Take the next job if there is one now.
    pub(crate) fn try_pop(&self) -> Result<Job, bool> {
        let mut backoff = Backoff::new();
        loop {
            match self.pop() {
                Pop::Job(job) => return Ok(job),
                Pop::Empty => return Err(self.is_closed()),
                // A submitter is linking its job: it is as good as there.
                Pop::Busy => backoff.snooze(),
            }
        }
    }

    fn pop(&self) -> Pop {
        let stub = self.stub();
        let mut head = self.head.lock();
        let mut node = head.0;
        // SAFETY (for the whole function): `head` and the nodes reachable from it are
        // queued, so alive (the queue holds their references); only consumers, under
        // this lock, hand them out.
        let mut next = unsafe { (*node).next().load(Acquire) };
        if node == stub {
            if next.is_null() {
                return if untagged(self.tail.load(SeqCst)) == stub {
                    Pop::Empty
                } else {
                    Pop::Busy
                };
            }
            head.0 = next;
            node = next;
            next = unsafe { (*node).next().load(Acquire) };
        }
        if next.is_null() {
            if untagged(self.tail.load(SeqCst)) != node {
                return Pop::Busy;
            }
            // `node` is the last: queue the stub behind it, so it can be handed out.
            self.push_stub();
            next = unsafe { (*node).next().load(Acquire) };
            if next.is_null() {
                return Pop::Busy;
            }
        }
        head.0 = next;
        drop(head);
        // SAFETY: the queue's reference to `node`, handed over.
        Pop::Job(unsafe { Job::from_raw(node) })
    }

    /// Queue the stub (even when closed: it is no job).
    fn push_stub(&self) {
        let stub = self.stub();
        // SAFETY: the stub is not linked anywhere now (the head has moved past it).
        unsafe { (*stub).next().store(ptr::null_mut(), Relaxed) };
        let prev = self.tail.fetch_update(SeqCst, Relaxed, |t| {
            Some(if is_closed(t) { closed(stub) } else { stub })
        });
        let prev = match prev {
            Ok(t) | Err(t) => untagged(t),
        };
        // SAFETY: as in `push`.
        unsafe { (*prev).next().store(stub, Release) };
    }

    /// Take the next job, sleeping in the seam while the queue is empty; `None` once it
    /// is shut down and empty. `what` describes the wait.
    pub(crate) fn pop_wait(&self, what: &WaitFor) -> Option<Job> {
        let mut spin = SpinWait::new();
        let mut woken = false;
        loop {
            let found = self.try_pop();
            if woken {
                // Our wake is spent: let the next one through, and pass it on if there
                // is more to do than we take.
                woken = false;
                let state = self.state.fetch_and(!WAKING, SeqCst);
                if found.is_ok() && state & SLEEPERS != 0 && !self.is_empty() {
                    self.wake();
                }
            }
            match found {
                Ok(job) => return Some(job),
                Err(true) => return None,
                Err(false) => {}
            }
            if spin.spin() {
                continue;
            }
            let result = self.sleepers.wait_on(
                Some(what),
                0,
                || {
                    self.state.fetch_or(SLEEPERS, SeqCst);
                    self.tail.load(SeqCst) == self.stub()
                },
                || {},
                None,
                |is_empty| {
                    if is_empty {
                        self.state.fetch_and(!SLEEPERS, SeqCst);
                    }
                },
            );
            woken = matches!(result, WaitResult::Notified(_)) && !self.is_closed();
            spin.reset();
        }
    }

    fn is_empty(&self) -> bool {
        untagged(self.tail.load(SeqCst)) == self.stub()
    }

    fn is_closed(&self) -> bool {
        is_closed(self.tail.load(SeqCst))
    }

    /// Refuse later pushes and wake every sleeper; with `take`, also take every job
    /// queued (they are returned, in order).
    pub(crate) fn close(&self, take: bool) -> Vec<Job> {
        // `AtomicPtr::fetch_or` is newer than the crate's minimum Rust: a CAS loop (once
        // per pool).
        let _ = self.tail.fetch_update(SeqCst, SeqCst, |t| Some(closed(t)));
        let mut jobs = Vec::new();
        if take {
            while let Ok(job) = self.try_pop() {
                jobs.push(job);
            }
        }
        self.sleepers.notify_all(|_, _| {
            self.state.store(0, SeqCst);
        });
        jobs
    }

    /// How many jobs are queued (a snapshot; counts them, under the consumers' lock).
    pub(crate) fn len(&self) -> usize {
        let stub = self.stub();
        let head = self.head.lock();
        let mut count = 0;
        let mut node = head.0;
        while !node.is_null() {
            if node != stub {
                count += 1;
            }
            // SAFETY: as in `pop`: nodes after the head are queued, so alive, and
            // cannot be handed out while we hold the lock.
            node = unsafe { (*node).next().load(Acquire) };
        }
        count
    }
}

impl Drop for Injector {
    fn drop(&mut self) {
        // Release the jobs still queued (only reachable if the pool was never shut
        // down, which a pool's drop always does; kept for completeness).
        while let Ok(job) = self.try_pop() {
            drop(job);
        }
        // SAFETY: from `Box::leak` in `new`; no job is queued, so nothing links to it.
        drop(unsafe { Box::from_raw(self.stub.as_ptr()) });
    }
}

impl fmt::Debug for Injector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Injector")
            .field("queued", &self.len())
            .finish_non_exhaustive()
    }
}

/// Where a pool's jobs wait: the [`Injector`] (an unbounded pool), or a bounded heddle
/// [`Queue`] (with [`max_queued`](super::Builder::max_queued), whose waiting for room
/// and hand-off to a worker the queue implements). The same calls as a `Queue`'s.
// The injector is large (its ends padded to cache lines of their own), but there is one
// per pool, inside the pool's `Arc`: boxing it would cost each submit an indirection.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Jobs {
    Open(Injector, &'static Location<'static>),
    Bounded(Queue<Job>),
}

impl Jobs {
    /// The pool's queue: bounded by `max_queued` if set.
    #[track_caller]
    pub(crate) fn new(max_queued: Option<usize>) -> Self {
        match max_queued {
            Some(bound) => Jobs::Bounded(Queue::bounded(bound)),
            None => Jobs::Open(Injector::new(), Location::caller()),
        }
    }

    /// A schedule point under the checker (the injector's; a `Queue` has its own), at
    /// the caller's caller.
    #[inline]
    #[track_caller]
    fn op(injector: &Injector, site: &'static Location<'static>, what: &'static str) {
        if crate::check::active() {
            crate::check::op(what, Self::object(injector, site), Location::caller());
        }
    }

    fn object(injector: &Injector, site: &'static Location<'static>) -> Object {
        Object::new("Queue", injector, Some(site))
    }

    #[inline]
    #[track_caller]
    pub(crate) fn put(&self, job: Job) -> Result<(), PutError<Job>> {
        match self {
            Jobs::Open(injector, site) => {
                Self::op(injector, site, "put");
                injector.push(job).map_err(PutError)
            }
            Jobs::Bounded(queue) => queue.put(job),
        }
    }

    #[track_caller]
    pub(crate) fn try_put(&self, job: Job) -> Result<(), TryPutError<Job>> {
        match self {
            Jobs::Open(injector, site) => {
                Self::op(injector, site, "try_put");
                injector.push(job).map_err(TryPutError::ShutDown)
            }
            Jobs::Bounded(queue) => queue.try_put(job),
        }
    }

    /// Take the next job, waiting while there is none; fails once the queue is shut
    /// down and empty.
    #[track_caller]
    pub(crate) fn get(&self) -> Result<Job, GetError> {
        match self {
            Jobs::Open(injector, site) => {
                Self::op(injector, site, "get");
                let what = WaitFor {
                    what: "get",
                    object: Self::object(injector, site),
                    at: Location::caller(),
                };
                injector.pop_wait(&what).ok_or(GetError)
            }
            Jobs::Bounded(queue) => queue.get(),
        }
    }

    #[track_caller]
    pub(crate) fn try_get(&self) -> Result<Job, TryGetError> {
        match self {
            Jobs::Open(injector, site) => {
                Self::op(injector, site, "try_get");
                injector.try_pop().map_err(|closed| {
                    if closed {
                        TryGetError::ShutDown
                    } else {
                        TryGetError::Empty
                    }
                })
            }
            Jobs::Bounded(queue) => queue.try_get(),
        }
    }

    /// Refuse later puts, wake every idle worker; with `immediate`, take (and return)
    /// every job still queued.
    #[track_caller]
    pub(crate) fn shutdown(&self, immediate: bool) -> Vec<Job> {
        match self {
            Jobs::Open(injector, site) => {
                Self::op(injector, site, "shutdown");
                injector.close(immediate)
            }
            Jobs::Bounded(queue) => queue.shutdown(immediate),
        }
    }

    /// How many jobs are queued (a snapshot).
    pub(crate) fn qsize(&self) -> usize {
        match self {
            Jobs::Open(injector, _) => injector.len(),
            Jobs::Bounded(queue) => queue.qsize(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::panic::Location;

    use super::*;
    use crate::pool::task::NewTask;
    use crate::pool::Future;

    fn job(value: u32) -> (Job, Future<u32>) {
        let (job, unqueued) = NewTask::new(move || value, None, Location::caller()).split();
        (job, unqueued.future())
    }

    #[test]
    fn jobs_come_out_in_order_across_the_stub() {
        let injector = Injector::new();
        assert!(injector.is_empty());
        assert!(matches!(injector.try_pop(), Err(false)));
        // One at a time (the stub goes behind each last job), then several.
        for round in 0..3 {
            let mut futures = Vec::new();
            for i in 0..=round {
                let (job, future) = job(i);
                injector.push(job).ok().unwrap();
                futures.push(future);
            }
            assert_eq!(injector.len(), round as usize + 1);
            for future in futures {
                injector.try_pop().ok().unwrap().run();
                assert!(future.done());
                let _ = future.result();
            }
            assert!(injector.is_empty());
            assert_eq!(injector.len(), 0);
        }
    }

    #[test]
    fn closing_refuses_pushes_and_hands_back_what_is_queued() {
        let injector = Injector::new();
        let (a, fa) = job(1);
        let (b, fb) = job(2);
        injector.push(a).ok().unwrap();
        injector.push(b).ok().unwrap();
        let (c, fc) = job(3);
        let taken = injector.close(true);
        assert_eq!(taken.len(), 2);
        let refused = injector.push(c).expect_err("refused once closed");
        assert!(matches!(injector.try_pop(), Err(true)));
        for job in taken {
            job.run();
        }
        assert_eq!((fa.result(), fb.result()), (Ok(1), Ok(2)));
        // A refused job dropped unrun releases its reference: the future still
        // holds the closure's cell, which it frees.
        drop(refused);
        assert!(!fc.done());
    }

    #[test]
    fn closing_without_taking_leaves_the_jobs_to_the_workers() {
        let injector = Injector::new();
        let (a, fa) = job(7);
        injector.push(a).ok().unwrap();
        assert!(injector.close(false).is_empty());
        injector.try_pop().ok().unwrap().run();
        assert!(matches!(injector.try_pop(), Err(true)));
        assert_eq!(fa.result(), Ok(7));
        // Dropping the injector with jobs still queued releases them.
        let injector = Injector::new();
        let (b, fb) = job(8);
        injector.push(b).ok().unwrap();
        drop(injector);
        assert!(!fb.done());
    }
}
