//! `heddle::queue::Select`: the behaviours of crossbeam-channel's select suites that
//! apply (ready/not ready, timeouts, a sleeping select woken by another thread, both
//! directions, duplicates, removal, shutdown as readiness, fairness, stress) with
//! heddle's deterministic tie-break: ready operations are chosen round-robin.

mod common;

use std::collections::HashSet;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use common::{os_tid, wait_parked, SHORT};
use heddle::queue::{GetError, Queue, Select, TryPutError};

#[test]
fn nothing_ready() {
    let (a, b) = (Queue::<u8>::unbounded(), Queue::<u8>::bounded(1));
    let mut sel = Select::new();
    sel.get(&a);
    sel.get(&b);
    assert!(sel.try_select().is_err());
    assert!(sel.select_timeout(SHORT).is_err());
    assert!(sel.select_timeout(Duration::ZERO).is_err());
}

#[test]
fn picks_the_ready_one() {
    let (a, b) = (Queue::<&str>::unbounded(), Queue::unbounded());
    b.put("b").unwrap();
    let mut sel = Select::new();
    let ia = sel.get(&a);
    let ib = sel.get(&b);
    let op = sel.select();
    assert_eq!(op.index(), ib);
    assert_ne!(op.index(), ia);
    assert_eq!(op.get(&b), Ok("b"));
    // The item was taken by the select: the queue is empty now.
    assert!(b.is_empty());
}

#[test]
fn round_robin_between_ready_queues() {
    // Deterministic fairness: with every queue ready, selection rotates exactly.
    let qs: Vec<Queue<usize>> = (0..3).map(|_| Queue::unbounded()).collect();
    for (i, q) in qs.iter().enumerate() {
        for _ in 0..10 {
            q.put(i).unwrap();
        }
    }
    let mut sel = Select::new();
    for q in &qs {
        sel.get(q);
    }
    let order: Vec<usize> = (0..30)
        .map(|_| {
            let op = sel.select();
            let i = op.index();
            assert_eq!(op.get(&qs[i]), Ok(i));
            i
        })
        .collect();
    let expect: Vec<usize> = (0..30).map(|k| k % 3).collect();
    assert_eq!(order, expect);
}

#[test]
fn a_busy_queue_cannot_starve_another() {
    // `a` always has items; `b` gets one item at a time. Every item of `b` is chosen
    // within two selections of its arrival.
    let (a, b) = (Queue::unbounded(), Queue::unbounded());
    for _ in 0..1_000 {
        a.put('a').unwrap();
    }
    let mut sel = Select::new();
    let ia = sel.get(&a);
    let ib = sel.get(&b);
    for _ in 0..100 {
        b.put('b').unwrap();
        let mut waited = 0;
        loop {
            let op = sel.select();
            if op.index() == ib {
                assert_eq!(op.get(&b), Ok('b'));
                break;
            }
            assert_eq!(op.index(), ia);
            op.get(&a).unwrap();
            waited += 1;
            assert!(waited <= 1, "b starved");
        }
    }
}

#[test]
fn sleeping_select_is_woken_by_a_put() {
    let (a, b) = (Queue::<i32>::unbounded(), Queue::unbounded());
    let (tx, rx) = std::sync::mpsc::channel();
    thread::scope(|s| {
        let h = s.spawn(|| {
            tx.send(os_tid()).unwrap();
            let mut sel = Select::new();
            sel.get(&a);
            let ib = sel.get(&b);
            let op = sel.select();
            assert_eq!(op.index(), ib);
            op.get(&b).unwrap()
        });
        wait_parked(rx.recv().unwrap());
        b.put(7).unwrap();
        assert_eq!(h.join().unwrap(), 7);
    });
}

#[test]
fn select_with_timeout_succeeds_when_an_item_arrives() {
    let q = Queue::unbounded();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::scope(|s| {
        let h = s.spawn(|| {
            tx.send(os_tid()).unwrap();
            let mut sel = Select::new();
            sel.get(&q);
            sel.select_timeout(common::LONG).map(|op| op.get(&q))
        });
        wait_parked(rx.recv().unwrap());
        q.put(1).unwrap();
        assert_eq!(h.join().unwrap().unwrap(), Ok(1));
    });
}

#[test]
fn put_operations() {
    let full = Queue::bounded(1);
    let roomy = Queue::bounded(2);
    full.put(0).unwrap();
    let mut sel = Select::new();
    let i_full = sel.put(&full);
    let i_roomy = sel.put(&roomy);
    let op = sel.select();
    assert_eq!(op.index(), i_roomy);
    op.put(&roomy, 1).unwrap();
    assert_eq!(sel.select().index(), i_roomy); // still room; `full` still full
    assert!(full.is_full());
    // A get frees `full`: it becomes selectable.
    full.get().unwrap();
    let op = sel.select();
    // Round-robin: after i_roomy comes i_full.
    assert_eq!(op.index(), i_full);
    op.put(&full, 2).unwrap();
    assert_eq!(full.get(), Ok(2));
}

#[test]
fn sleeping_put_select_is_woken_by_a_get() {
    let q = Queue::bounded(1);
    q.put(0).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::scope(|s| {
        let h = s.spawn(|| {
            tx.send(os_tid()).unwrap();
            let mut sel = Select::new();
            sel.put(&q);
            sel.select().put(&q, 1)
        });
        wait_parked(rx.recv().unwrap());
        assert_eq!(q.get(), Ok(0));
        assert_eq!(h.join().unwrap(), Ok(()));
        assert_eq!(q.get(), Ok(1));
    });
}

#[test]
fn mixed_get_and_put() {
    let input = Queue::unbounded();
    let output = Queue::bounded(1);
    let mut sel = Select::new();
    let i_in = sel.get(&input);
    let i_out = sel.put(&output);
    // Only the put is ready.
    let op = sel.select();
    assert_eq!(op.index(), i_out);
    op.put(&output, "x").unwrap();
    // Now nothing is ready.
    assert!(sel.try_select().is_err());
    input.put("y").unwrap();
    let op = sel.select();
    assert_eq!(op.index(), i_in);
    assert_eq!(op.get(&input), Ok("y"));
}

#[test]
fn shutdown_makes_operations_ready() {
    let q = Queue::<u8>::bounded(1);
    let other = Queue::<u8>::unbounded();
    let mut sel = Select::new();
    sel.get(&other);
    let i = sel.get(&q);
    q.shutdown(false);
    let op = sel.select();
    assert_eq!(op.index(), i);
    assert_eq!(op.get(&q), Err(GetError));

    let p = Queue::bounded(1);
    p.put(1).unwrap();
    let mut sel = Select::new();
    let i = sel.put(&p);
    p.shutdown(false);
    let op = sel.select();
    assert_eq!(op.index(), i);
    assert_eq!(op.put(&p, 2), Err(TryPutError::ShutDown(2)));
}

#[test]
fn shutdown_wakes_a_sleeping_select() {
    let q = Queue::<u8>::unbounded();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::scope(|s| {
        let h = s.spawn(|| {
            tx.send(os_tid()).unwrap();
            let mut sel = Select::new();
            sel.get(&q);
            sel.select().get(&q)
        });
        wait_parked(rx.recv().unwrap());
        q.shutdown(false);
        assert_eq!(h.join().unwrap(), Err(GetError));
    });
}

#[test]
fn remove_an_operation() {
    let (a, b) = (Queue::unbounded(), Queue::unbounded());
    a.put(1).unwrap();
    let mut sel = Select::new();
    let ia = sel.get(&a);
    let ib = sel.get(&b);
    sel.remove(ia);
    assert!(sel.try_select().is_err());
    b.put(2).unwrap();
    let op = sel.select();
    assert_eq!(op.index(), ib);
    assert_eq!(op.get(&b), Ok(2));
    assert_eq!(a.get(), Ok(1), "a removed operation takes nothing");
}

#[test]
#[should_panic(expected = "already removed")]
fn removing_twice_panics() {
    let q = Queue::<u8>::unbounded();
    let mut sel = Select::new();
    let i = sel.get(&q);
    sel.remove(i);
    sel.remove(i);
}

#[test]
#[should_panic(expected = "no operations")]
fn empty_select_panics_instead_of_hanging() {
    let _ = Select::new().select();
}

#[test]
fn empty_select_times_out() {
    assert!(Select::new().select_timeout(SHORT).is_err());
    assert!(Select::new().try_select().is_err());
}

#[test]
#[should_panic(expected = "not a get on this queue")]
fn completing_with_the_wrong_queue_panics() {
    let (a, b) = (Queue::unbounded(), Queue::<i32>::unbounded());
    a.put(1).unwrap();
    let mut sel = Select::new();
    sel.get(&a);
    let _ = sel.select().get(&b);
}

#[test]
fn duplicate_operations_on_one_queue() {
    let q = Queue::unbounded();
    for i in 0..4 {
        q.put(i).unwrap();
    }
    let mut sel = Select::new();
    let i0 = sel.get(&q);
    let i1 = sel.get(&q);
    let picks: Vec<usize> = (0..4)
        .map(|_| {
            let op = sel.select();
            let i = op.index();
            op.get(&q).unwrap();
            i
        })
        .collect();
    assert_eq!(picks, [i0, i1, i0, i1]);
}

#[test]
fn rendezvous_get_meets_a_blocked_put() {
    let q = Queue::bounded(0);
    let other = Queue::<u32>::unbounded();
    thread::scope(|s| {
        s.spawn(|| q.put(5u32).unwrap());
        let mut sel = Select::new();
        sel.get(&other);
        let i = sel.get(&q);
        let op = sel.select();
        assert_eq!(op.index(), i);
        assert_eq!(op.get(&q), Ok(5));
    });
}

#[test]
fn rendezvous_put_meets_a_blocked_get() {
    let q = Queue::bounded(0);
    let (tx, rx) = std::sync::mpsc::channel();
    thread::scope(|s| {
        let h = s.spawn(|| {
            tx.send(os_tid()).unwrap();
            q.get()
        });
        wait_parked(rx.recv().unwrap());
        let mut sel = Select::new();
        let i = sel.put(&q);
        let op = sel.select();
        assert_eq!(op.index(), i);
        op.put(&q, 9).unwrap();
        assert_eq!(h.join().unwrap(), Ok(9));
    });
}

#[test]
fn stress_select_over_every_flavour() {
    // Producers fill several queues of different flavours; one selecting consumer
    // drains them all until every queue is shut down and empty. Every item exactly once.
    const PER: u32 = 2_000;
    let queues: Vec<Queue<u32>> = vec![
        Queue::bounded(1),
        Queue::bounded(16),
        Queue::unbounded(),
        Queue::bounded(0),
        Queue::priority(Some(8)),
    ];
    let seen = Mutex::new(HashSet::new());
    thread::scope(|s| {
        for (k, q) in queues.iter().enumerate() {
            s.spawn(move || {
                for i in 0..PER {
                    q.put(k as u32 * PER + i).unwrap();
                }
                q.shutdown(false);
            });
        }
        let mut sel = Select::new();
        for q in &queues {
            sel.get(q);
        }
        let mut open = queues.len();
        while open > 0 {
            let op = sel.select();
            let i = op.index();
            match op.get(&queues[i]) {
                Ok(x) => assert!(seen.lock().unwrap().insert(x), "{x} twice"),
                Err(GetError) => {
                    sel.remove(i);
                    open -= 1;
                }
            }
        }
    });
    assert_eq!(seen.into_inner().unwrap().len() as u32, PER * 5);
}

#[test]
fn stress_select_put_and_get() {
    // Two threads both select over a put on one queue and a get on the other; items
    // shuttle through and arrive exactly once.
    const N: u32 = 5_000;
    let (ab, ba) = (Queue::bounded(4), Queue::bounded(4));
    thread::scope(|s| {
        for (out, inp) in [(&ab, &ba), (&ba, &ab)] {
            s.spawn(move || {
                let mut next = 0u32;
                let mut received = 0u32;
                let mut sel = Select::new();
                let i_put = sel.put(out);
                let i_get = sel.get(inp);
                while next < N || received < N {
                    if next == N {
                        // All sent: only receive.
                        assert_eq!(inp.get(), Ok(received));
                        received += 1;
                        continue;
                    }
                    let op = sel.select();
                    if op.index() == i_put {
                        match op.put(out, next) {
                            Ok(()) => next += 1,
                            Err(TryPutError::Full(_)) => {}
                            Err(e) => panic!("{e}"),
                        }
                    } else {
                        assert_eq!(op.index(), i_get);
                        assert_eq!(op.get(inp), Ok(received));
                        received += 1;
                    }
                }
            });
        }
    });
}
