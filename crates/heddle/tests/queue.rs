//! `heddle::queue` basics: the behaviours CPython's `Lib/test/test_queue.py` checks
//! (ordering per flavour, full/empty, non-blocking and timed forms, blocking calls that
//! a second thread releases, `task_done`/`join`), and crossbeam-channel's array/list/
//! zero suites (capacity, len, drops, zero-sized items, queues of queues,
//! linearizability). Shutdown, select, async and stress have their own files.
//!
//! No sleeps as synchronisation: "this call is blocked now" is observed with
//! `common::wait_parked` (the thread sleeps in the seam), and outcomes never depend on
//! timing.

mod common;

use std::cmp::Reverse;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{os_tid, wait_parked, LONG, SHORT};
use heddle::queue::{
    GetError, GetTimeoutError, PutError, PutTimeoutError, Queue, TaskDoneError, TryGetError,
    TryPutError,
};

const QUEUE_SIZE: usize = 5;

/// Every buffered flavour with capacity `QUEUE_SIZE`, and the order it returns
/// 111, 333, 222 in (Python's `simple_queue_test`).
fn flavours() -> Vec<(&'static str, Queue<i32>, [i32; 3])> {
    vec![
        ("fifo", Queue::bounded(QUEUE_SIZE), [111, 333, 222]),
        ("lifo", Queue::lifo(Some(QUEUE_SIZE)), [222, 333, 111]),
        (
            "priority",
            Queue::priority(Some(QUEUE_SIZE)),
            [111, 222, 333],
        ),
    ]
}

/// Run `blocking` in a thread, wait until it sleeps in the seam, check it has not
/// returned, then run `trigger` here and return what `blocking` returned.
fn blocked_until<R: Send>(blocking: impl FnOnce() -> R + Send, trigger: impl FnOnce()) -> R {
    let done = AtomicBool::new(false);
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let done_ref = &done;
    thread::scope(|s| {
        let h = s.spawn(move || {
            tid_tx.send(os_tid()).unwrap();
            let r = blocking();
            done_ref.store(true, Ordering::SeqCst);
            r
        });
        wait_parked(tid_rx.recv().unwrap());
        assert!(!done.load(Ordering::SeqCst), "the call did not block");
        trigger();
        h.join().unwrap()
    })
}

fn simple_queue_test(name: &str, q: &Queue<i32>, order: [i32; 3]) {
    assert!(q.is_empty(), "{name}: starts empty");
    assert_eq!(q.qsize(), 0);
    for x in [111, 333, 222] {
        q.put(x).unwrap();
    }
    let got: Vec<i32> = (0..3).map(|_| q.get().unwrap()).collect();
    assert_eq!(got, order, "{name}: order");
    assert!(q.is_empty());

    for i in 0..QUEUE_SIZE as i32 - 1 {
        q.put(i).unwrap();
        assert!(!q.is_empty());
    }
    assert!(!q.is_full(), "{name}: not full yet");
    q.put(1000).unwrap();
    assert!(q.is_full(), "{name}: full");
    assert_eq!(q.qsize(), QUEUE_SIZE);
    assert_eq!(q.try_put(2000), Err(TryPutError::Full(2000)));
    assert_eq!(
        q.put_timeout(3000, Duration::from_millis(1)),
        Err(PutTimeoutError::Timeout(3000))
    );
    assert_eq!(q.qsize(), QUEUE_SIZE, "{name}: failed puts add nothing");
    // A blocking put, released by a get in another thread.
    blocked_until(
        || q.put(4000).unwrap(),
        || {
            q.get().unwrap();
        },
    );
    assert!(q.is_full());
    // A put with a timeout, released the same way.
    blocked_until(
        || q.put_timeout(5000, LONG).unwrap(),
        || {
            q.get().unwrap();
        },
    );
    for _ in 0..QUEUE_SIZE {
        q.get().unwrap();
    }
    assert!(q.is_empty(), "{name}: drained");
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
    assert_eq!(
        q.get_timeout(Duration::from_millis(1)),
        Err(GetTimeoutError::Timeout)
    );
    // A blocking get, released by a put.
    let got = blocked_until(|| q.get().unwrap(), || q.put(42).unwrap());
    assert_eq!(got, 42);
    let got = blocked_until(|| q.get_timeout(LONG).unwrap(), || q.put(43).unwrap());
    assert_eq!(got, 43);
}

#[test]
fn simple_queue_behaviour_every_flavour() {
    for (name, q, order) in flavours() {
        // Twice on the same queue, as Python does.
        simple_queue_test(name, &q, order);
        simple_queue_test(name, &q, order);
    }
}

#[test]
fn unbounded_flavours_never_fill() {
    for (q, order) in [
        (Queue::unbounded(), [111, 333, 222]),
        (Queue::lifo(None), [222, 333, 111]),
        (Queue::priority(None), [111, 222, 333]),
    ] {
        assert_eq!(q.capacity(), None);
        for x in [111, 333, 222] {
            q.put(x).unwrap();
        }
        let got: Vec<i32> = q.try_iter().collect();
        assert_eq!(got, order);
        for i in 0..10_000 {
            q.try_put(i).unwrap();
        }
        assert!(!q.is_full());
        assert_eq!(q.qsize(), 10_000);
    }
}

#[test]
fn fifo_order_across_many_blocks() {
    // The unbounded core is a list of 30-slot blocks: cross many block boundaries,
    // interleaving puts and gets so the head chases the tail.
    let q = Queue::unbounded();
    let mut next_get = 0;
    for i in 0..5_000 {
        q.put(i).unwrap();
        if i % 3 == 0 {
            assert_eq!(q.get(), Ok(next_get));
            next_get += 1;
        }
    }
    while let Ok(x) = q.try_get() {
        assert_eq!(x, next_get);
        next_get += 1;
    }
    assert_eq!(next_get, 5_000);
}

#[test]
fn bounded_wraps_around_many_laps() {
    for cap in [1, 2, 3, 7, 64] {
        let q = Queue::bounded(cap);
        let mut expect = 0u32;
        for i in 0..1_000u32 {
            q.put(i).unwrap();
            if q.is_full() {
                while let Ok(x) = q.try_get() {
                    assert_eq!(x, expect);
                    expect += 1;
                }
            }
        }
        assert_eq!(q.try_iter().count() as u32 + expect, 1_000);
    }
}

/// A put that finds a large ring full waits a moment for a batch of free slots (see
/// the module's Blocking guarantee), but that wait is bounded: one free slot is enough
/// for a blocked put to complete, even if no other slot ever frees.
#[test]
fn one_free_slot_releases_a_put_into_a_full_ring() {
    for cap in [64, 1024] {
        let q = Queue::bounded(cap);
        for i in 0..cap {
            q.put(i).unwrap();
        }
        let producer = q.clone();
        blocked_until(
            move || producer.put(cap).unwrap(),
            || assert_eq!(q.get(), Ok(0)),
        );
        assert!(q.is_full());
        let rest: Vec<usize> = q.try_iter().collect();
        assert_eq!(rest, (1..=cap).collect::<Vec<_>>(), "capacity {cap}");
    }
}

#[test]
fn shrinking_queue() {
    // Python's test_shrinking_queue: room comes back after a get.
    let q = Queue::bounded(3);
    q.put(1).unwrap();
    q.put(2).unwrap();
    q.put(3).unwrap();
    assert!(q.is_full());
    assert_eq!(q.try_put(4), Err(TryPutError::Full(4)));
    assert_eq!(q.get(), Ok(1));
    q.try_put(4).unwrap();
    assert_eq!(q.try_put(5), Err(TryPutError::Full(5)));
}

#[test]
fn capacity_and_sizes() {
    assert_eq!(Queue::<()>::bounded(1).capacity(), Some(1));
    assert_eq!(Queue::<()>::bounded(1000).capacity(), Some(1000));
    assert_eq!(Queue::<()>::bounded(0).capacity(), Some(0));
    assert_eq!(Queue::<()>::lifo(Some(0)).capacity(), Some(0));
    assert_eq!(Queue::<u8>::priority(Some(2)).capacity(), Some(2));
    let z = Queue::<u8>::bounded(0);
    assert!(z.is_empty());
    assert!(z.is_full(), "a rendezvous holds nothing: every put waits");
    assert_eq!(z.qsize(), 0);
}

#[test]
fn zero_timeouts_do_not_block() {
    for q in [
        Queue::<u8>::bounded(1),
        Queue::unbounded(),
        Queue::bounded(0),
    ] {
        assert_eq!(q.get_timeout(Duration::ZERO), Err(GetTimeoutError::Timeout));
    }
    let q = Queue::bounded(1);
    q.put(1).unwrap();
    assert_eq!(
        q.put_timeout(2, Duration::ZERO),
        Err(PutTimeoutError::Timeout(2))
    );
    assert_eq!(
        Queue::bounded(0).put_timeout(3, Duration::ZERO),
        Err(PutTimeoutError::Timeout(3))
    );
}

#[test]
fn huge_timeouts_wait_until_satisfied() {
    let q = Queue::unbounded();
    let got = blocked_until(|| q.get_timeout(Duration::MAX), || q.put(1).unwrap());
    assert_eq!(got, Ok(1));
}

// ------------------------------------------------------------------------------------
// task_done / join (Python's queue_join_test, test_queue_task_done, test_queue_join)

fn queue_join_test(q: &Queue<i64>) {
    let cum = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while let Ok(x) = q.get() {
                    if x < 0 {
                        q.task_done().unwrap();
                        return;
                    }
                    cum.fetch_add(x as usize, Ordering::SeqCst);
                    q.task_done().unwrap();
                }
            });
        }
        for i in 0..100 {
            q.put(i).unwrap();
        }
        q.join();
        assert_eq!(cum.load(Ordering::SeqCst), (0..100).sum::<i64>() as usize);
        assert_eq!(q.unfinished_tasks(), 0);
        for _ in 0..2 {
            q.put(-1).unwrap(); // one sentinel per worker
        }
        q.join();
    });
}

#[test]
fn join_waits_for_every_task_every_flavour() {
    for q in [
        Queue::bounded(QUEUE_SIZE),
        Queue::unbounded(),
        Queue::lifo(Some(QUEUE_SIZE)),
        Queue::priority(None),
        Queue::bounded(0),
    ] {
        queue_join_test(&q);
        queue_join_test(&q); // and again on the same queue
    }
}

#[test]
fn task_done_too_many_times_is_an_error() {
    for q in [
        Queue::bounded(3),
        Queue::unbounded(),
        Queue::lifo(None),
        Queue::priority(Some(3)),
    ] {
        assert_eq!(q.task_done(), Err(TaskDoneError));
        q.put(1).unwrap();
        assert_eq!(q.task_done(), Err(TaskDoneError), "put but not got yet");
        assert_eq!(q.unfinished_tasks(), 1);
        q.get().unwrap();
        q.task_done().unwrap();
        assert_eq!(q.task_done(), Err(TaskDoneError));
        assert_eq!(q.unfinished_tasks(), 0);
    }
}

#[test]
fn join_on_a_fresh_queue_returns_at_once() {
    let q = Queue::<u8>::bounded(2);
    q.join();
    assert!(q.join_timeout(Duration::ZERO));
}

#[test]
fn join_blocks_until_the_last_task_done() {
    let q = Queue::unbounded();
    q.put("job").unwrap();
    assert!(!q.join_timeout(SHORT));
    let job = q.get().unwrap();
    assert_eq!(job, "job");
    assert!(!q.join_timeout(Duration::ZERO), "got but not done");
    blocked_until(|| q.join(), || q.task_done().unwrap());
    assert!(q.join_timeout(Duration::ZERO));
}

#[test]
fn join_with_a_timeout_is_released_by_task_done() {
    let q = Queue::bounded(4);
    q.put(1).unwrap();
    q.get().unwrap();
    let joined = blocked_until(|| q.join_timeout(LONG), || q.task_done().unwrap());
    assert!(joined);
}

#[test]
fn rendezvous_counts_tasks_too() {
    let q = Queue::bounded(0);
    thread::scope(|s| {
        s.spawn(|| q.put(5).unwrap());
        assert_eq!(q.get(), Ok(5));
    });
    assert_eq!(q.unfinished_tasks(), 1);
    q.task_done().unwrap();
    assert_eq!(q.task_done(), Err(TaskDoneError));
    q.join();
}

// ------------------------------------------------------------------------------------
// Rendezvous (crossbeam's zero.rs)

#[test]
fn rendezvous_put_returns_only_after_a_get() {
    let q = Queue::bounded(0);
    let taken = AtomicBool::new(false);
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let (q_ref, taken_ref) = (&q, &taken);
    thread::scope(|s| {
        let putter = s.spawn(move || {
            tid_tx.send(os_tid()).unwrap();
            q_ref.put("hand").unwrap();
            // The handshake: the put cannot return before the get took the item.
            assert!(taken_ref.load(Ordering::SeqCst));
        });
        wait_parked(tid_rx.recv().unwrap());
        taken.store(true, Ordering::SeqCst);
        assert_eq!(q.get(), Ok("hand"));
        putter.join().unwrap();
    });
}

#[test]
fn rendezvous_try_forms_need_a_waiting_partner() {
    let q = Queue::bounded(0);
    assert_eq!(q.try_put(1), Err(TryPutError::Full(1)));
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
    // A parked getter makes try_put succeed.
    let got = blocked_until(
        || q.get(),
        || {
            let mut item = 2;
            // The getter is parked in the seam, so the hand-off succeeds at once.
            while let Err(e) = q.try_put(item) {
                item = e.into_inner();
            }
        },
    );
    assert_eq!(got, Ok(2));
    // A parked putter makes try_get succeed.
    let mut got = None;
    blocked_until(|| q.put(3).unwrap(), || got = q.try_get().ok());
    assert_eq!(got, Some(3));
}

#[test]
fn rendezvous_timeouts_return_the_item() {
    let q = Queue::bounded(0);
    assert_eq!(q.put_timeout(7, SHORT), Err(PutTimeoutError::Timeout(7)));
    assert_eq!(q.get_timeout(SHORT), Err(GetTimeoutError::Timeout));
    let got = blocked_until(|| q.get_timeout(LONG), || q.put(8).unwrap());
    assert_eq!(got, Ok(8));
    blocked_until(
        || q.put_timeout(9, LONG).unwrap(),
        || assert_eq!(q.get(), Ok(9)),
    );
}

#[test]
fn rendezvous_ping_pong() {
    let (ping, pong) = (Queue::bounded(0), Queue::bounded(0));
    thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..1_000 {
                let x: u32 = ping.get().unwrap();
                pong.put(x + 1).unwrap();
            }
        });
        for i in 0..1_000 {
            ping.put(i).unwrap();
            assert_eq!(pong.get(), Ok(i + 1));
        }
    });
}

#[test]
fn lifo_and_priority_with_capacity_zero_are_rendezvous() {
    for q in [Queue::lifo(Some(0)), Queue::priority(Some(0))] {
        assert_eq!(q.try_put(1), Err(TryPutError::Full(1)));
        let got = blocked_until(|| q.get(), || q.put(4).unwrap());
        assert_eq!(got, Ok(4));
    }
}

// ------------------------------------------------------------------------------------
// Priority specifics

#[test]
fn priority_ties_come_out_in_put_order() {
    #[derive(Debug, PartialEq, Eq)]
    struct Job {
        prio: u8,
        name: &'static str,
    }
    impl PartialOrd for Job {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Job {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            self.prio.cmp(&other.prio) // the name is ignored: ties
        }
    }
    let q = Queue::priority(None);
    for (prio, name) in [(2, "a"), (1, "b"), (2, "c"), (1, "d"), (2, "e"), (0, "f")] {
        q.put(Job { prio, name }).unwrap();
    }
    let names: String = q.try_iter().map(|j| j.name).collect();
    assert_eq!(names, "fbdace");
}

#[test]
fn priority_largest_first_with_reverse() {
    let q = Queue::priority(None);
    for x in [3, 9, 1, 7] {
        q.put(Reverse(x)).unwrap();
    }
    let got: Vec<i32> = q.try_iter().map(|Reverse(x)| x).collect();
    assert_eq!(got, [9, 7, 3, 1]);
}

#[test]
fn priority_heap_order_under_random_load() {
    // A deterministic pseudo-random sequence; compare with a sorted copy.
    let q = Queue::priority(None);
    let mut x = 12345u64;
    let mut all = Vec::new();
    for _ in 0..2_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = (x % 500) as u32;
        all.push(v);
        q.put(v).unwrap();
    }
    all.sort();
    let got: Vec<u32> = q.try_iter().collect();
    assert_eq!(got, all);
}

/// Compares by value, but panics when asked to compare the poisoned value (Python's
/// FailingQueue: `_put`/`_get` raising must leave the queue consistent).
#[derive(Debug, PartialEq, Eq)]
struct Touchy(i32);
const POISON: i32 = -1;
impl PartialOrd for Touchy {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Touchy {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if self.0 == POISON || other.0 == POISON {
            panic!("you lose");
        }
        self.0.cmp(&other.0)
    }
}

#[test]
fn priority_survives_a_panicking_ord() {
    let q = Queue::priority(Some(10));
    q.put(Touchy(5)).unwrap();
    q.put(Touchy(3)).unwrap();
    // The panic reaches the putter, but the item is in and counted.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.put(Touchy(POISON))));
    assert!(r.is_err());
    assert_eq!(q.qsize(), 3);
    assert_eq!(q.unfinished_tasks(), 3);
    // Gets that do not compare against the poisoned item succeed; one that does panics
    // without removing anything. Keep getting (catching) until every item is out.
    let mut got = Vec::new();
    let mut panics = 0;
    while !q.is_empty() {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.try_get())) {
            Ok(Ok(Touchy(v))) => got.push(v),
            Ok(Err(e)) => panic!("unexpected {e:?}"),
            Err(_) => {
                panics += 1;
                assert!(
                    panics < 100,
                    "a panicking comparison must not wedge the queue"
                );
                if q.qsize() == 1 {
                    break;
                }
            }
        }
    }
    // Whatever remains is reachable: drain it with shutdown(true).
    got.extend(q.shutdown(true).into_iter().map(|Touchy(v)| v));
    got.sort();
    assert_eq!(got, [POISON, 3, 5]);
    // And the queue's bookkeeping is intact: nothing unfinished but the got items.
    assert!(q.unfinished_tasks() <= 3);
}

// ------------------------------------------------------------------------------------
// Items: drops, zero-sized, large, queues of queues (crossbeam's drops / channel_through_channel)

#[derive(Debug)]
struct DropCounter<'a>(&'a AtomicUsize);
impl Drop for DropCounter<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn every_item_is_dropped_exactly_once() {
    for flavour in 0..4 {
        let drops = AtomicUsize::new(0);
        {
            let q: Queue<DropCounter<'_>> = match flavour {
                0 => Queue::bounded(50),
                1 => Queue::bounded(7),
                2 => Queue::unbounded(),
                _ => Queue::lifo(None),
            };
            let mut put = 0;
            for _ in 0..200 {
                if q.try_put(DropCounter(&drops)).is_ok() {
                    put += 1;
                }
                if put % 3 == 0 {
                    drop(q.try_get()); // got items are dropped by the getter
                }
            }
            let clone = q.clone();
            drop(q);
            assert!(
                drops.load(Ordering::SeqCst) < 200,
                "some items are still queued"
            );
            drop(clone); // the last handle drops what is left
        }
        assert_eq!(
            drops.load(Ordering::SeqCst),
            200,
            "items rejected by try_put are dropped too"
        );
    }
}

#[test]
fn unbounded_drop_frees_many_blocks() {
    let drops = AtomicUsize::new(0);
    let q = Queue::unbounded();
    for _ in 0..1_000 {
        q.put(DropCounter(&drops)).unwrap();
    }
    for _ in 0..300 {
        drop(q.get().unwrap());
    }
    drop(q);
    assert_eq!(drops.load(Ordering::SeqCst), 1_000);
}

#[test]
fn zero_sized_items() {
    for q in [Queue::bounded(3), Queue::unbounded(), Queue::lifo(Some(2))] {
        q.put(()).unwrap();
        q.put(()).unwrap();
        assert_eq!(q.qsize(), 2);
        assert_eq!(q.get(), Ok(()));
        assert_eq!(q.get(), Ok(()));
        assert_eq!(q.try_get(), Err(TryGetError::Empty));
    }
}

#[test]
fn large_items() {
    let q = Queue::bounded(2);
    q.put([7u8; 4096]).unwrap();
    assert_eq!(q.get().unwrap()[4095], 7);
    let q = Queue::unbounded();
    for i in 0..100u8 {
        q.put([i; 1024]).unwrap();
    }
    for i in 0..100u8 {
        assert_eq!(q.get().unwrap()[1023], i);
    }
}

#[test]
fn queue_through_queue() {
    // A queue of queues: the reply-channel pattern.
    let requests: Queue<(u32, Queue<u32>)> = Queue::unbounded();
    thread::scope(|s| {
        s.spawn(|| {
            while let Ok((x, reply)) = requests.get() {
                reply.put(x * 2).unwrap();
            }
        });
        for x in 0..100 {
            let reply = Queue::bounded(1);
            requests.put((x, reply.clone())).unwrap();
            assert_eq!(reply.get(), Ok(x * 2));
        }
        requests.shutdown(false);
    });
}

#[test]
fn linearizable() {
    // crossbeam's `linearizable`: a put followed at once by a try_get on the same
    // queue always finds an item, with capacity for one item per thread.
    const THREADS: usize = 4;
    const COUNT: usize = 2_000;
    for q in [Queue::bounded(THREADS), Queue::unbounded()] {
        thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    for _ in 0..COUNT {
                        q.put(0).unwrap();
                        q.try_get().unwrap();
                    }
                });
            }
        });
    }
}

#[test]
fn qsize_never_exceeds_capacity() {
    let q = Queue::bounded(8);
    thread::scope(|s| {
        s.spawn(|| {
            for i in 0..20_000 {
                q.put(i).unwrap();
            }
        });
        s.spawn(|| {
            for _ in 0..20_000 {
                q.get().unwrap();
            }
        });
        for _ in 0..20_000 {
            let n = q.qsize();
            assert!(n <= 8, "qsize {n} > capacity");
        }
    });
    assert!(q.is_empty());
}

#[test]
fn errors_give_items_back_and_read_well() {
    let q = Queue::bounded(1);
    q.put(String::from("a")).unwrap();
    let e = q.try_put(String::from("b")).unwrap_err();
    assert!(e.is_full());
    assert!(e.to_string().contains("full"), "{e}");
    assert_eq!(format!("{e:?}"), "Full(..)");
    assert_eq!(e.into_inner(), "b");
    q.shutdown(false);
    let e = q.put(String::from("c")).unwrap_err();
    assert!(e.to_string().contains("shut-down"), "{e}");
    assert_eq!(e, PutError(String::from("c")));
    assert_eq!(q.get().as_deref(), Ok("a"));
    let e = q.get().unwrap_err();
    assert_eq!(e, GetError);
    assert!(e.to_string().contains("shut down"), "{e}");
    assert!(TaskDoneError.to_string().contains("task_done"));
    let dynamic: Box<dyn std::error::Error> = Box::new(TryGetError::Empty);
    assert!(dynamic.to_string().contains("empty"));
}

#[test]
fn debug_shows_the_state() {
    let q = Queue::bounded(4);
    q.put(1).unwrap();
    let s = format!("{q:?}");
    assert!(s.contains("bounded") && s.contains("qsize: 1"), "{s}");
    assert!(format!("{:?}", Queue::<u8>::bounded(0)).contains("rendezvous"));
    assert!(format!("{:?}", Queue::<u8>::priority(None)).contains("priority"));
    assert!(format!("{:?}", Queue::<u8>::lifo(None)).contains("lifo"));
    assert!(format!("{:?}", Queue::<u8>::unbounded()).contains("unbounded"));
}

#[test]
fn handles_share_one_queue() {
    let a = Queue::unbounded();
    let b = a.clone();
    assert!(a.same_queue(&b));
    b.put(1).unwrap();
    assert_eq!(a.get(), Ok(1));
    let c: Queue<i32> = Queue::default();
    assert!(!a.same_queue(&c));
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<Queue<String>>();
    let _ = Arc::new(a);
}

// ---------------------------------------------------------------------------------
// Any capacity works (issue 11, point 9): a capacity too large to allocate up front as a
// ring gets a queue that allocates as it fills, with the bound kept exactly.

#[test]
fn huge_capacities_work_and_allocate_lazily() {
    for cap in [1usize << 40, usize::MAX / 8, usize::MAX] {
        let q = Queue::bounded(cap);
        assert_eq!(q.capacity(), Some(cap));
        for i in 0..1000u64 {
            q.put(i).unwrap();
        }
        assert_eq!(q.qsize(), 1000);
        assert!(!q.is_full());
        for i in 0..1000u64 {
            assert_eq!(q.get(), Ok(i), "FIFO order");
        }
        assert!(q.is_empty());
    }
}

/// Items large enough that a ring of 8193 would take over 64 MiB: the lazily allocated
/// FIFO, which must keep the bound exactly (full at 8193, a blocked put woken by a get).
#[test]
fn a_lazily_allocated_queue_keeps_its_bound_exactly() {
    type Big = [u8; 8 * 1024];
    const CAP: usize = 8193;
    let big = |i: usize| Box::new([i as u8; 8 * 1024]);
    let q: Queue<Big> = Queue::bounded(CAP);
    for i in 0..CAP {
        assert!(q.try_put(*big(i)).is_ok(), "room for item {i}");
    }
    assert!(q.is_full());
    assert!(matches!(q.try_put(*big(9)), Err(TryPutError::Full(_))));
    std::thread::scope(|s| {
        let producer = s.spawn(|| q.put(*big(200)).is_ok());
        // The producer waits for room; one get makes it.
        assert_eq!(q.get().unwrap()[0], 0);
        assert!(producer.join().unwrap());
    });
    assert_eq!(q.qsize(), CAP);
    for i in 1..CAP {
        assert_eq!(q.get().unwrap()[0], i as u8);
    }
    assert_eq!(q.get().unwrap()[0], 200);
    assert!(q.is_empty());
}

/// Many producers and consumers on a huge-capacity queue: every item exactly once.
#[test]
fn a_lazily_allocated_queue_delivers_every_item_once() {
    const PRODUCERS: u64 = 4;
    const PER: u64 = 5_000;
    let q = Queue::bounded(usize::MAX);
    let sums: Vec<u64> = std::thread::scope(|s| {
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let q = q.clone();
                s.spawn(move || {
                    for i in 0..PER {
                        q.put(p * PER + i + 1).unwrap();
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                s.spawn(move || {
                    let mut sum = 0;
                    while let Ok(v) = q.get() {
                        sum += v;
                        q.task_done().unwrap();
                    }
                    sum
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        q.join(); // every item put has been got and marked done
        q.shutdown(false);
        consumers.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let n = PRODUCERS * PER;
    assert_eq!(sums.iter().sum::<u64>(), n * (n + 1) / 2);
}
