//! The lock-free cores under Miri (`.ci/run` runs this file under both Stacked and Tree
//! Borrows): the array, list and rendezvous queues carrying boxed items (so a lost,
//! duplicated or double-freed item is a leak or a use-after-free Miri reports),
//! shutdown racing puts and gets, the pool's task and batch cells (run, cancel, fail,
//! scope, drop with work queued) and cancelled async waits.
//!
//! Sizes are tiny under Miri (it interprets ~1000× slower than native code) and a
//! little larger natively, where `cargo test` runs the same tests as ordinary stress
//! tests with exact counts: every item put is got, discarded or handed back exactly
//! once.
//!
//! What Miri cannot run, and so is not here: the interleaving checker (`heddle::check`
//! switches stacks with corosensei's inline assembly), the deadlock detector's
//! all-asleep scenarios (they fork child processes), and `/proc`-based "this thread is
//! parked" observations. The `membarrier` fast path is replaced by a `SeqCst` fence
//! pair under `cfg(miri)` (see `wait/fence.rs`), so the fence protocol Miri checks is
//! the symmetric one.

use std::cell::Cell;
use std::collections::HashSet;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use heddle::pool::{FutureError, SubmitError, ThreadPool};
use heddle::queue::{GetError, PutError, Queue, TryGetError};
use heddle::sync::{Condition, Lock, RLock, RwLock, Semaphore};

/// `native` natively, `miri` under Miri.
const fn size(native: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else {
        native
    }
}

/// `producers` threads put `per` boxed items each while `consumers` threads get them;
/// every item comes out exactly once.
fn exactly_once(queue: Queue<Box<usize>>, producers: usize, consumers: usize, per: usize) {
    let total = producers * per;
    let taken = AtomicUsize::new(0);
    let got = thread::scope(|s| {
        for p in 0..producers {
            let queue = queue.clone();
            s.spawn(move || {
                for i in 0..per {
                    queue.put(Box::new(p * per + i)).unwrap();
                }
            });
        }
        let handles: Vec<_> = (0..consumers)
            .map(|_| {
                let (queue, taken) = (queue.clone(), &taken);
                s.spawn(move || {
                    let mut mine = Vec::new();
                    while taken.fetch_add(1, SeqCst) < total {
                        mine.push(*queue.get().unwrap());
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(got.len(), total);
    let distinct: HashSet<usize> = got.into_iter().collect();
    assert_eq!(distinct, (0..total).collect());
    assert!(queue.is_empty());
}

#[test]
fn array_queue_boxed_items_exactly_once() {
    // A ring of 3 slots, wrapped around many times.
    exactly_once(Queue::bounded(3), 2, 2, size(2000, 20));
}

#[test]
fn list_queue_boxed_items_exactly_once() {
    // Blocks of 30 slots: more than two blocks, so one is drained, kept and reused.
    exactly_once(Queue::unbounded(), 2, 2, size(2000, 40));
}

#[test]
fn rendezvous_boxed_items_exactly_once() {
    exactly_once(Queue::bounded(0), 2, 2, size(1000, 8));
}

/// Items still queued when the last handle goes are dropped with it (Miri's leak
/// check sees one that is not); the list queue's partly used blocks are freed.
#[test]
fn queued_items_are_dropped_with_the_queue() {
    let drops = Arc::new(AtomicUsize::new(0));
    struct Counted(Arc<AtomicUsize>, #[allow(dead_code)] Box<u8>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    let queues = [Queue::bounded(4), Queue::unbounded(), Queue::unbounded()];
    let puts = [3, 3, 45];
    let mut expected = 0;
    for (queue, n) in queues.into_iter().zip(puts) {
        for _ in 0..n {
            queue
                .try_put(Counted(drops.clone(), Box::new(0)))
                .ok()
                .unwrap();
        }
        // Take one off the front first, so the head is not at the start.
        drop(queue.try_get().unwrap());
        expected += n;
        let other = queue.clone();
        drop(queue);
        assert_eq!(drops.load(SeqCst), expected - n + 1);
        drop(other);
        assert_eq!(drops.load(SeqCst), expected);
    }
}

/// Puts and gets racing `shutdown(immediate)`: each item put lands (and is then got or
/// handed back by the shutdown) or is refused with the item; nothing is lost or
/// duplicated.
fn shutdown_races(queue: Queue<Box<usize>>, immediate: bool, per: usize) {
    const PRODUCERS: usize = 2;
    const CONSUMERS: usize = 2;
    let start = Barrier::new(PRODUCERS + CONSUMERS + 1);
    let (refused, got, discarded) = thread::scope(|s| {
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let (queue, start) = (queue.clone(), &start);
                s.spawn(move || {
                    start.wait();
                    let mut refused = Vec::new();
                    for i in 0..per {
                        if let Err(PutError(item)) = queue.put(Box::new(p * per + i)) {
                            refused.push(*item);
                        }
                    }
                    refused
                })
            })
            .collect();
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let (queue, start) = (queue.clone(), &start);
                s.spawn(move || {
                    start.wait();
                    let mut got = Vec::new();
                    loop {
                        match queue.get() {
                            Ok(item) => got.push(*item),
                            Err(GetError) => return got,
                        }
                    }
                })
            })
            .collect();
        start.wait();
        // Let some items through first.
        for _ in 0..per / 2 {
            thread::yield_now();
        }
        let discarded: Vec<usize> = queue.shutdown(immediate).into_iter().map(|b| *b).collect();
        let refused: Vec<usize> = producers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let got: Vec<usize> = consumers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        (refused, got, discarded)
    });
    if !immediate {
        assert!(discarded.is_empty());
    }
    let all: Vec<usize> = refused.into_iter().chain(got).chain(discarded).collect();
    assert_eq!(all.len(), PRODUCERS * per);
    let distinct: HashSet<usize> = all.into_iter().collect();
    assert_eq!(distinct, (0..PRODUCERS * per).collect());
    assert_eq!(queue.try_get(), Err(TryGetError::ShutDown));
}

#[test]
fn shutdown_racing_puts_and_gets() {
    let per = size(500, 12);
    for immediate in [false, true] {
        shutdown_races(Queue::bounded(2), immediate, per);
        shutdown_races(Queue::unbounded(), immediate, per);
        shutdown_races(Queue::bounded(0), immediate, per);
    }
}

// ------------------------------------------------------------------------------------
// The pool's task and batch cells

#[test]
fn pool_tasks_run_and_cancel() {
    let n = size(400, 12);
    let pool = ThreadPool::builder().workers(2).build().unwrap();
    let futures: Vec<_> = (0..n)
        .map(|i| pool.submit(move || Box::new(i)).unwrap())
        .collect();
    // Cancel every third: each either cancels (its closure dropped at once) or has
    // already started (and then finishes).
    let mut cancelled = 0;
    for f in futures.iter().step_by(3) {
        if f.cancel() {
            cancelled += 1;
        }
    }
    let mut ran = 0;
    for (i, f) in futures.into_iter().enumerate() {
        match f.result() {
            Ok(value) => {
                assert_eq!(*value, i);
                ran += 1;
            }
            Err(FutureError::Cancelled) => assert_eq!(i % 3, 0),
            Err(other) => panic!("task {i}: {other:?}"),
        }
    }
    assert_eq!(ran + cancelled, n);
    // Dropped futures: the worker frees the cell.
    for i in 0..n {
        drop(pool.submit(move || Box::new(i)).unwrap());
    }
    // A panicking task fails only its future.
    let f = pool.submit(|| -> Box<u8> { panic!("boom") }).unwrap();
    assert!(matches!(f.result(), Err(FutureError::Panicked { .. })));
}

#[test]
fn pool_batches_run_and_cancel() {
    let n = size(500, 20);
    let pool = ThreadPool::builder().workers(2).build().unwrap();
    let futures = pool
        .submit_batch((0..n).map(|i| move || Box::new(i)))
        .unwrap();
    let mut cancelled = 0;
    for f in futures.iter().rev().step_by(2) {
        if f.cancel() {
            cancelled += 1;
        }
    }
    let mut ran = 0;
    for (i, f) in futures.into_iter().enumerate() {
        match f.result() {
            Ok(value) => {
                assert_eq!(*value, i);
                ran += 1;
            }
            Err(FutureError::Cancelled) => {}
            Err(other) => panic!("item {i}: {other:?}"),
        }
    }
    assert_eq!(ran + cancelled, n);
    // A batch whose futures are all dropped at once.
    drop(
        pool.submit_batch((0..n).map(|i| move || Box::new(i)))
            .unwrap(),
    );
    // A batch of one item, and one refused after shutdown hands its closures back.
    let one = pool.submit_batch([|| Box::new(7)]).unwrap();
    assert_eq!(*one.into_iter().next().unwrap().result().unwrap(), 7);
    pool.shutdown(true, false);
    match pool.submit_batch((0..3).map(|i| move || Box::new(i))) {
        Err(SubmitError::ShutDown(funcs)) => assert_eq!(funcs.len(), 3),
        other => panic!("{:?}", other.map(|v| v.len())),
    }
}

/// `shutdown(cancel_futures)` with tasks and batches still queued behind a busy worker:
/// each is cancelled by the shutdown or run, exactly once.
#[test]
fn pool_shutdown_cancels_queued_tasks_and_batches() {
    let n = size(100, 6);
    let pool = ThreadPool::builder().workers(1).build().unwrap();
    let gate = Arc::new(Barrier::new(2));
    let g = gate.clone();
    // The worker has started this one (so the shutdown cannot cancel it) and holds it
    // until the shutdown is under way.
    let busy = pool
        .submit(move || {
            g.wait();
            g.wait();
        })
        .unwrap();
    gate.wait();
    let tasks: Vec<_> = (0..n)
        .map(|i| pool.submit(move || Box::new(i)).unwrap())
        .collect();
    let batch = pool
        .submit_batch((0..n).map(|i| move || Box::new(i)))
        .unwrap();
    let cancelled = thread::scope(|s| {
        let shutdown = s.spawn(|| pool.shutdown(true, true));
        gate.wait();
        shutdown.join().unwrap()
    });
    busy.result().unwrap();
    let mut counted = 0;
    for f in tasks.into_iter().chain(batch) {
        match f.result() {
            Ok(_) => {}
            Err(FutureError::Cancelled) => counted += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(counted, cancelled);
}

#[test]
fn pool_scope_tasks_borrow_and_finish() {
    let pool = ThreadPool::builder().workers(2).build().unwrap();
    let n = size(200, 8);
    let mut cells: Vec<Box<usize>> = (1..=n).map(Box::new).collect();
    let total = AtomicUsize::new(0);
    let cancelled = pool.scope(|s| {
        let mut cancelled = 0;
        for (i, cell) in cells.iter_mut().enumerate() {
            let total = &total;
            let f = s
                .spawn(move || {
                    **cell *= 2;
                    total.fetch_add(**cell, SeqCst);
                })
                .unwrap();
            // Every third cancelled (its borrow released at once, if it had not
            // started), the others' futures dropped.
            if i % 3 == 0 && f.cancel() {
                cancelled += 1;
            }
        }
        cancelled
    });
    // Each cell was doubled by its task, or left as it was by a cancelled one.
    let mut doubled = 0;
    let mut sum = 0;
    for (i, cell) in cells.iter().enumerate() {
        if **cell == 2 * (i + 1) {
            doubled += 1;
            sum += **cell;
        } else {
            assert_eq!(**cell, i + 1);
        }
    }
    assert_eq!(doubled + cancelled, n);
    assert_eq!(total.load(SeqCst), sum);
}

// ------------------------------------------------------------------------------------
// The lock words: their acquire and release order the data they guard (Miri's data-race
// detector checks that every access to it happens-before the next).

#[test]
fn locks_order_the_data_they_guard() {
    let per = size(500, 10);
    let lock = Lock::new(Vec::<Box<usize>>::new());
    let rlock = RLock::new(Cell::new(0usize));
    let rw = RwLock::new(Box::new(0usize));
    thread::scope(|s| {
        for t in 0..3 {
            let (lock, rlock, rw) = (&lock, &rlock, &rw);
            s.spawn(move || {
                for i in 0..per {
                    lock.lock().push(Box::new(t * per + i));
                    let outer = rlock.lock();
                    let inner = rlock.lock();
                    inner.set(inner.get() + 1);
                    drop(inner);
                    outer.set(outer.get() + 1);
                    drop(outer);
                    if i % 2 == 0 {
                        **rw.write() += 1;
                    } else {
                        assert!(**rw.read() <= 3 * per);
                    }
                }
            });
        }
    });
    let mut all: Vec<usize> = lock.into_inner().into_iter().map(|b| *b).collect();
    all.sort_unstable();
    assert_eq!(all, (0..3 * per).collect::<Vec<_>>());
    assert_eq!(rlock.into_inner().get(), 6 * per);
    assert_eq!(*rw.into_inner(), 3 * per.div_ceil(2));
}

/// A condition's wait releases and retakes its lock around the sleep: a ping-pong of
/// boxed tokens, each handed over exactly once.
#[test]
fn condition_hands_tokens_back_and_forth() {
    let rounds = size(300, 8);
    let state = Lock::new((None::<Box<usize>>, 0usize));
    let cond = Condition::new();
    thread::scope(|s| {
        s.spawn(|| {
            for i in 0..rounds {
                let mut g = state.lock();
                cond.wait_while(&mut g, |(slot, _)| slot.is_some());
                g.0 = Some(Box::new(i));
                cond.notify_all();
            }
        });
        let mut g = state.lock();
        for i in 0..rounds {
            cond.wait_while(&mut g, |(slot, _)| slot.is_none());
            assert_eq!(*g.0.take().unwrap(), i);
            g.1 += 1;
            cond.notify_all();
        }
    });
    assert_eq!(state.lock().1, rounds);
}

/// Semaphore permits bound the holders; a pending `acquire_async` dropped after being
/// woken passes its permit's wake-up on.
#[test]
fn semaphore_permits_and_dropped_async_acquire() {
    let per = size(300, 8);
    let sem = Semaphore::new(2);
    let inside = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                for _ in 0..per {
                    let permit = sem.acquire();
                    assert!(inside.fetch_add(1, SeqCst) < 2);
                    inside.fetch_sub(1, SeqCst);
                    drop(permit);
                }
            });
        }
    });
    let (_, w) = waker();
    let mut cx = Context::from_waker(&w);
    let held = (sem.acquire(), sem.acquire());
    let mut first = Box::pin(sem.acquire_async());
    let mut second = Box::pin(sem.acquire_async());
    assert!(first.as_mut().poll(&mut cx).is_pending());
    assert!(second.as_mut().poll(&mut cx).is_pending());
    drop(held.0);
    drop(first);
    match second.as_mut().poll(&mut cx) {
        Poll::Ready(permit) => drop(permit),
        Poll::Pending => panic!("the dropped acquire kept the released permit"),
    }
    drop(held.1);
    assert_eq!(sem.available_permits(), 2);
}

// ------------------------------------------------------------------------------------
// Async cancellation

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn waker() -> (Arc<Count>, Waker) {
    let count = Arc::new(Count::default());
    (count.clone(), Waker::from(count))
}

/// Poll `future` until it is ready (yielding to the other threads in between); a
/// future that never gets there fails the test rather than hanging it.
fn ready<F: std::future::Future>(mut future: Pin<&mut F>, cx: &mut Context<'_>) -> F::Output {
    for _ in 0..1_000_000 {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return output;
        }
        thread::yield_now();
    }
    panic!("a future that should complete stayed pending");
}

/// Pending `get_async`s dropped before and after being woken: the wake-up passes on,
/// no item is lost.
#[test]
fn dropped_async_gets_lose_nothing() {
    for queue in [Queue::unbounded(), Queue::bounded(2), Queue::bounded(0)] {
        let (_, w) = waker();
        let mut cx = Context::from_waker(&w);
        let mut first = Box::pin(queue.get_async());
        let mut second = Box::pin(queue.get_async());
        assert!(first.as_mut().poll(&mut cx).is_pending());
        assert!(second.as_mut().poll(&mut cx).is_pending());
        // An item arrives (a thread's put: the rendezvous needs a getter to take it).
        thread::scope(|s| {
            let putter = s.spawn(|| queue.put(Box::new(5usize)));
            // The first getter was woken (or not yet): dropping it must hand the item
            // (or the wake-up) to the second.
            drop(first);
            let got = ready(second.as_mut(), &mut cx);
            assert_eq!(*got.unwrap(), 5);
            putter.join().unwrap().unwrap();
        });
        // A pending put dropped: its item is dropped, never delivered.
        if queue.capacity() == Some(0) {
            let mut put = Box::pin(queue.put_async(Box::new(6usize)));
            assert!(put.as_mut().poll(&mut cx).is_pending());
            drop(put);
            assert_eq!(queue.try_get(), Err(TryGetError::Empty));
        }
    }
}

/// A pool future polled, then dropped before its task ran; and one awaited to the end.
#[test]
fn pool_future_polled_and_dropped() {
    let pool = ThreadPool::builder().workers(1).build().unwrap();
    let gate = Arc::new(Barrier::new(2));
    let g = gate.clone();
    let busy = pool.submit(move || g.wait()).unwrap();
    let (_, dropped_waker) = waker();
    let (count, w) = waker();
    let mut cx = Context::from_waker(&w);
    let mut dropped = pool.submit(|| Box::new(1usize)).unwrap();
    let mut kept = pool.submit(|| Box::new(2usize)).unwrap();
    let poll_dropped = Pin::new(&mut dropped).poll(&mut Context::from_waker(&dropped_waker));
    assert!(poll_dropped.is_pending());
    assert!(Pin::new(&mut kept).poll(&mut cx).is_pending());
    drop(dropped);
    gate.wait();
    // The task finishing wakes the waker (a lost wake-up would leave `kept` pending
    // forever under an executor: fail instead of hanging); one poll then has the value.
    let mut yields = 0;
    while count.0.load(SeqCst) == 0 {
        yields += 1;
        assert!(
            yields < 1_000_000,
            "the finished task never woke its future"
        );
        thread::yield_now();
    }
    match Pin::new(&mut kept).poll(&mut cx) {
        Poll::Ready(value) => assert_eq!(*value.unwrap(), 2),
        Poll::Pending => panic!("woken, but not ready"),
    }
    busy.result().unwrap();
}
