//! `Queue::shutdown` with Python 3.13's semantics (CPython's `test_shutdown_*`): puts
//! fail with their item back, gets drain then fail, `immediate` discards (and returns)
//! what is left and counts it done for `join`, and every blocked caller wakes: getters,
//! putters, joiners, on every flavour. Plus the accounting that proves nothing put
//! before a shutdown is lost: under racing producers, consumers and a shutdown, every
//! item is got, returned by a failed put, or returned by `shutdown(true)`, exactly once.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;

use common::{os_tid, wait_all_parked};
use heddle::queue::{
    GetError, GetTimeoutError, PutError, PutTimeoutError, Queue, TryGetError, TryPutError,
};

fn every_flavour() -> Vec<(&'static str, Queue<u32>)> {
    vec![
        ("bounded(4)", Queue::bounded(4)),
        ("bounded(1)", Queue::bounded(1)),
        ("unbounded", Queue::unbounded()),
        ("lifo", Queue::lifo(Some(4))),
        ("priority", Queue::priority(None)),
        ("rendezvous", Queue::bounded(0)),
    ]
}

fn buffered_flavours() -> Vec<(&'static str, Queue<u32>)> {
    every_flavour()
        .into_iter()
        .filter(|(name, _)| *name != "rendezvous")
        .collect()
}

#[test]
fn shutdown_empty() {
    for (name, q) in every_flavour() {
        assert!(!q.is_shutdown());
        assert_eq!(q.shutdown(false), Vec::<u32>::new());
        assert!(q.is_shutdown(), "{name}");
        assert_eq!(q.put(1), Err(PutError(1)), "{name}");
        assert_eq!(q.try_put(2), Err(TryPutError::ShutDown(2)), "{name}");
        assert_eq!(
            q.put_timeout(3, common::SHORT),
            Err(PutTimeoutError::ShutDown(3)),
            "{name}"
        );
        assert_eq!(q.get(), Err(GetError), "{name}");
        assert_eq!(q.try_get(), Err(TryGetError::ShutDown), "{name}");
        assert_eq!(q.get_timeout(common::SHORT), Err(GetTimeoutError::ShutDown));
        q.join();
    }
}

#[test]
fn shutdown_nonempty_drains_then_fails() {
    for (name, q) in buffered_flavours() {
        if q.capacity() == Some(1) {
            continue;
        }
        q.put(10).unwrap();
        q.put(20).unwrap();
        assert!(q.shutdown(false).is_empty());
        assert_eq!(q.put(30), Err(PutError(30)), "{name}: even with room");
        let mut got = vec![q.get().unwrap(), q.try_get().unwrap()];
        got.sort();
        assert_eq!(got, [10, 20], "{name}");
        assert_eq!(q.get(), Err(GetError), "{name}");
        assert_eq!(q.unfinished_tasks(), 2);
        q.task_done().unwrap(); // task_done still works after shutdown
        q.task_done().unwrap();
        q.join();
    }
}

#[test]
fn shutdown_immediate_returns_the_rest_in_get_order() {
    let cases: Vec<(Queue<u32>, Vec<u32>)> = vec![
        (Queue::bounded(4), vec![3, 1, 2]),
        (Queue::unbounded(), vec![3, 1, 2]),
        (Queue::lifo(None), vec![2, 1, 3]),
        (Queue::priority(Some(5)), vec![1, 2, 3]),
    ];
    for (q, expect) in cases {
        for x in [3, 1, 2] {
            q.put(x).unwrap();
        }
        assert_eq!(q.shutdown(true), expect);
        assert!(q.is_empty());
        assert_eq!(q.get(), Err(GetError));
        assert_eq!(q.put(9), Err(PutError(9)));
        // Discarded items count as done: join does not wait for them.
        assert_eq!(q.unfinished_tasks(), 0);
        q.join();
    }
}

#[test]
fn immediate_shutdown_leaves_tasks_already_got_unfinished() {
    // Python: unfinished_tasks drops by the discarded items only.
    let q = Queue::unbounded();
    for x in 0..5 {
        q.put(x).unwrap();
    }
    let first = q.get().unwrap();
    assert_eq!(first, 0);
    assert_eq!(q.shutdown(true), vec![1, 2, 3, 4]);
    assert_eq!(q.unfinished_tasks(), 1);
    assert!(!q.join_timeout(common::SHORT));
    q.task_done().unwrap();
    q.join();
}

#[test]
fn allowed_transitions() {
    // Python's test_shutdown_allowed_transitions: graceful then immediate is fine, and
    // a second immediate shutdown finds nothing left.
    let q = Queue::bounded(3);
    q.put(1).unwrap();
    assert!(q.shutdown(false).is_empty());
    assert!(q.is_shutdown());
    assert_eq!(q.shutdown(true), vec![1]);
    assert!(q.shutdown(true).is_empty());
    assert!(q.shutdown(false).is_empty());
    assert!(q.is_shutdown());
}

/// Start `n` threads that each block in `op`, wait until all sleep in the seam, run
/// `trigger`, and return what each `op` returned.
fn blocked_then<R: Send>(n: usize, op: impl Fn() -> R + Sync, trigger: impl FnOnce()) -> Vec<R> {
    let (tx, rx) = std::sync::mpsc::channel();
    thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let tx = tx.clone();
                let op = &op;
                s.spawn(move || {
                    tx.send(os_tid()).unwrap();
                    op()
                })
            })
            .collect();
        let tids: Vec<u32> = (0..n).map(|_| rx.recv().unwrap()).collect();
        wait_all_parked(&tids);
        trigger();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn shutdown_wakes_blocked_getters() {
    for immediate in [false, true] {
        for (name, q) in every_flavour() {
            let results = blocked_then(3, || q.get(), || drop(q.shutdown(immediate)));
            assert!(
                results.iter().all(|r| *r == Err(GetError)),
                "{name}: {results:?}"
            );
            let results = blocked_then(
                2,
                || q.get_timeout(common::LONG),
                || drop(q.shutdown(immediate)),
            );
            assert!(
                results.iter().all(|r| *r == Err(GetTimeoutError::ShutDown)),
                "{name}: {results:?}"
            );
        }
    }
}

#[test]
fn shutdown_wakes_blocked_putters_and_returns_their_items() {
    for immediate in [false, true] {
        for (name, q) in [
            ("bounded(1)", Queue::bounded(1)),
            ("lifo(1)", Queue::lifo(Some(1))),
            ("priority(1)", Queue::priority(Some(1))),
            ("rendezvous", Queue::bounded(0)),
        ] {
            if name != "rendezvous" {
                q.put(0).unwrap(); // full
            }
            let next = AtomicUsize::new(100);
            let results = blocked_then(
                3,
                || {
                    let item = next.fetch_add(1, Ordering::SeqCst) as u32;
                    (item, q.put(item))
                },
                || drop(q.shutdown(immediate)),
            );
            for (item, r) in results {
                assert_eq!(
                    r,
                    Err(PutError(item)),
                    "{name}: blocked putter gets its item back"
                );
            }
        }
    }
}

#[test]
fn shutdown_wakes_joiners_when_discarding() {
    let q = Queue::bounded(8);
    for x in 0..5 {
        q.put(x).unwrap();
    }
    let mut discarded = Vec::new();
    blocked_then(3, || q.join(), || discarded = q.shutdown(true));
    assert_eq!(discarded, [0, 1, 2, 3, 4]);
}

#[test]
fn graceful_shutdown_lets_getters_drain() {
    // Python's _shutdown_all_methods_in_many_threads (graceful): consumers keep
    // getting after the shutdown until the queue is empty, then all stop.
    let q = Queue::bounded(16);
    let got = Mutex::new(Vec::new());
    thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                while let Ok(x) = q.get() {
                    got.lock().unwrap().push(x);
                    q.task_done().unwrap();
                }
            });
        }
        for x in 0..1_000 {
            q.put(x).unwrap();
        }
        q.shutdown(false);
        q.join();
    });
    let mut got = got.into_inner().unwrap();
    got.sort();
    assert_eq!(got, (0..1_000).collect::<Vec<_>>());
}

/// Producers, consumers and a shutdown race; every item is accounted for exactly once.
fn race_shutdown(q: Queue<u32>, immediate: bool) {
    const PRODUCERS: u32 = 3;
    const PER: u32 = 3_000;
    let got = Mutex::new(Vec::new());
    let refused = Mutex::new(Vec::new());
    let mut discarded = Vec::new();
    thread::scope(|s| {
        for p in 0..PRODUCERS {
            let (q, refused) = (&q, &refused);
            s.spawn(move || {
                for i in 0..PER {
                    let item = p * PER + i;
                    if let Err(PutError(back)) = q.put(item) {
                        assert_eq!(back, item);
                        refused.lock().unwrap().push(back);
                    }
                }
            });
        }
        for _ in 0..2 {
            s.spawn(|| {
                let mut mine = Vec::new();
                while let Ok(x) = q.get() {
                    mine.push(x);
                }
                got.lock().unwrap().extend(mine);
            });
        }
        // Shut down somewhere in the middle: after some items went through.
        while q.unfinished_tasks() < 500 {
            thread::yield_now();
        }
        discarded = q.shutdown(immediate);
    });
    let got = got.into_inner().unwrap();
    let refused = refused.into_inner().unwrap();
    let mut seen = HashSet::new();
    for x in got.iter().chain(&refused).chain(&discarded) {
        assert!(seen.insert(*x), "item {x} accounted twice");
    }
    assert_eq!(seen.len() as u32, PRODUCERS * PER, "an item was lost");
    assert!(q.is_empty());
}

#[test]
fn racing_shutdown_loses_nothing() {
    for immediate in [false, true] {
        for (_, q) in every_flavour() {
            race_shutdown(q, immediate);
        }
    }
}
