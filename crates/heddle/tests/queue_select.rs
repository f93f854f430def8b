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
    // From wherever the fresh select started, in turn.
    let expect: Vec<usize> = (0..30).map(|k| (order[0] + k) % 3).collect();
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
    // Round-robin: after i_roomy comes i_full (the only one of the two ready anyway).
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
    // Alternating, from wherever the fresh select started.
    let first = picks[0];
    let second = if first == i0 { i1 } else { i0 };
    assert_eq!(picks, [first, second, first, second]);
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

// ------------------------------------------------------------------------------------
// Rendezvous pairing: a select meets a select (crossbeam-channel's select tests and its
// Go ports), reserved partners, random starts, `Send`, and nothing lost by a dropped
// `Selected`. Every wait that must succeed is bounded by `LONG`, so a lost pairing
// fails the test instead of hanging it.

use common::LONG;
use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `sel.select_timeout(LONG)`, failing the test instead of hanging.
fn select_or_fail<'a>(sel: &mut Select<'a>) -> heddle::queue::Selected<'a> {
    sel.select_timeout(LONG)
        .expect("a select that must meet its partner timed out (a hang)")
}

#[test]
fn two_selects_meet_on_a_rendezvous() {
    // Go's select and crossbeam's pair a selecting sender with a selecting receiver.
    let q = Queue::bounded(0);
    let other = Queue::<u32>::bounded(0);
    thread::scope(|s| {
        s.spawn(|| {
            let mut sel = Select::new();
            let p = sel.put(&q);
            sel.get(&other);
            let op = select_or_fail(&mut sel);
            assert_eq!(op.index(), p);
            op.put(&q, 7u32).unwrap();
        });
        let mut sel = Select::new();
        sel.get(&other);
        let g = sel.get(&q);
        let op = select_or_fail(&mut sel);
        assert_eq!(op.index(), g);
        assert_eq!(op.get(&q), Ok(7));
    });
    assert_eq!(
        q.unfinished_tasks(),
        1,
        "a transfer through a pairing counts"
    );
}

#[test]
fn fairness_with_both_sides_selecting() {
    // crossbeam's `fairness2`: a sender selects over a put on an unbounded and a
    // bounded(1) queue (each only while it is empty) and a rendezvous, a receiver over
    // gets on the same three, both building a fresh select each time; every queue gets
    // a fair share.
    const COUNT: usize = 3_000;
    let qs = [Queue::unbounded(), Queue::bounded(1), Queue::bounded(0)];
    let mut hits = [0usize; 3];
    thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..COUNT {
                let mut sel = Select::new();
                let mut arms = Vec::new();
                for (k, q) in qs.iter().enumerate() {
                    if k == 2 || q.is_empty() {
                        arms.push((sel.put(q), k));
                    }
                }
                let op = select_or_fail(&mut sel);
                let (_, k) = *arms.iter().find(|(i, _)| *i == op.index()).unwrap();
                op.put(&qs[k], ()).unwrap();
            }
        });
        for _ in 0..COUNT {
            let mut sel = Select::new();
            for q in &qs {
                sel.get(q);
            }
            let op = select_or_fail(&mut sel);
            let i = op.index();
            op.get(&qs[i]).unwrap();
            hits[i] += 1;
        }
    });
    // The unbounded queue may hold what the receiver has not taken yet.
    let leftover: usize = qs.iter().map(Queue::qsize).sum();
    assert_eq!(hits.iter().sum::<usize>(), COUNT);
    assert!(leftover == 0, "every put was got");
    assert!(
        hits.iter().all(|&h| h >= COUNT / 3 / 50),
        "unfair shares: {hits:?}"
    );
}

fn matching(threads: usize) {
    // Go's `TestSelectMatching` via crossbeam's `matching`: every thread selects over a
    // get and a put of its own number on one rendezvous; they pair off, and nobody
    // receives its own number.
    let q = Queue::bounded(0);
    let received = AtomicUsize::new(0);
    thread::scope(|s| {
        for i in 0..threads {
            let (q, received) = (&q, &received);
            s.spawn(move || {
                let mut sel = Select::new();
                let g = sel.get(q);
                let p = sel.put(q);
                let op = select_or_fail(&mut sel);
                if op.index() == g {
                    assert_ne!(op.get(q).unwrap(), i, "a select met itself");
                    received.fetch_add(1, Ordering::SeqCst);
                } else {
                    assert_eq!(op.index(), p);
                    op.put(q, i).unwrap();
                }
            });
        }
        if threads % 2 == 1 {
            // The odd one out is met by a plain get.
            q.get_timeout(LONG).unwrap();
            received.fetch_add(1, Ordering::SeqCst);
        }
    });
    assert_eq!(received.into_inner(), threads.div_ceil(2));
}

#[test]
fn matching_many_selecting_threads() {
    matching(16);
}

#[test]
fn matching_with_a_leftover() {
    matching(15);
}

#[test]
fn a_select_does_not_meet_itself() {
    // crossbeam's `send_recv_same_channel`: a lone select over both ends of a
    // rendezvous has nobody to meet.
    let q = Queue::<i32>::bounded(0);
    let mut sel = Select::new();
    sel.put(&q);
    sel.get(&q);
    assert!(sel.select_timeout(SHORT).is_err());
    assert!(sel.try_select().is_err());
}

#[test]
fn channel_of_channels_through_selects() {
    // crossbeam's `channel_through_channel`: each message carries the queue the next
    // one travels on; both ends select; every capacity, including 0.
    const COUNT: usize = 300;
    type Msg = Box<dyn Any + Send>;
    for cap in 0..3 {
        let first = Queue::<Msg>::bounded(cap);
        thread::scope(|s| {
            let tx = first.clone();
            s.spawn(move || {
                let mut tx = tx;
                for _ in 0..COUNT {
                    let next = Queue::<Msg>::bounded(cap);
                    let mut sel = Select::new();
                    sel.put(&tx);
                    select_or_fail(&mut sel)
                        .put(&tx, Box::new(next.clone()))
                        .unwrap();
                    tx = next;
                }
            });
            let mut rx = first.clone();
            for _ in 0..COUNT {
                let mut sel = Select::new();
                sel.get(&rx);
                let msg = select_or_fail(&mut sel).get(&rx).unwrap();
                rx = *msg.downcast::<Queue<Msg>>().unwrap();
            }
        });
    }
}

#[test]
fn select_put_and_select_get_mix_at_capacity_zero() {
    // The two-thread shuttle of `stress_select_put_and_get`, on rendezvous queues:
    // each thread selects over a put on one and a get on the other.
    const N: u32 = 2_000;
    let (ab, ba) = (Queue::bounded(0), Queue::bounded(0));
    thread::scope(|s| {
        for (out, inp) in [(&ab, &ba), (&ba, &ab)] {
            s.spawn(move || {
                let (mut next, mut received) = (0u32, 0u32);
                while next < N || received < N {
                    let mut sel = Select::new();
                    let i_put = (next < N).then(|| sel.put(out));
                    let i_get = (received < N).then(|| sel.get(inp));
                    let op = select_or_fail(&mut sel);
                    if Some(op.index()) == i_put {
                        op.put(out, next).unwrap();
                        next += 1;
                    } else {
                        assert_eq!(Some(op.index()), i_get);
                        assert_eq!(op.get(inp), Ok(received));
                        received += 1;
                    }
                }
            });
        }
    });
}

#[test]
fn stress_selects_on_both_ends_of_rendezvous() {
    // crossbeam's `stress_send`/`stress_recv`/`stress_mixed` at capacity 0: producers
    // select-put, consumers select-get, and plain puts and gets join in; every item
    // exactly once.
    const PER: usize = 500;
    const SELECTING: usize = 3;
    let (q, spare) = (Queue::bounded(0), Queue::<usize>::unbounded());
    let seen = Mutex::new(HashSet::new());
    let taken = AtomicUsize::new(0);
    let total = (SELECTING + 1) * PER;
    thread::scope(|s| {
        for p in 0..=SELECTING {
            let q = &q;
            let spare = &spare;
            s.spawn(move || {
                for i in 0..PER {
                    let item = p * PER + i;
                    if p == SELECTING {
                        q.put_timeout(item, LONG).unwrap(); // a plain producer
                        continue;
                    }
                    let mut sel = Select::new();
                    let i_put = sel.put(q);
                    sel.get(spare); // never ready: only there to be selected over
                    let op = select_or_fail(&mut sel);
                    assert_eq!(op.index(), i_put);
                    op.put(q, item).unwrap();
                }
            });
        }
        for c in 0..=SELECTING {
            let (q, seen, taken) = (&q, &seen, &taken);
            s.spawn(move || loop {
                if taken.fetch_add(1, Ordering::SeqCst) >= total {
                    return;
                }
                let item = if c == SELECTING {
                    q.get_timeout(LONG).unwrap() // a plain consumer
                } else {
                    let mut sel = Select::new();
                    sel.get(q);
                    select_or_fail(&mut sel).get(q).unwrap()
                };
                assert!(seen.lock().unwrap().insert(item), "{item} twice");
            });
        }
    });
    assert_eq!(seen.into_inner().unwrap().len(), total);
}

#[test]
fn a_selected_put_keeps_the_getter_it_reserved() {
    // The select chose its put because a getter was blocked; a plain put arriving
    // before `Selected::put` must not take that getter away.
    let q = Queue::bounded(0);
    let (tx, rx) = std::sync::mpsc::channel();
    thread::scope(|s| {
        let getter = s.spawn(|| {
            tx.send(os_tid()).unwrap();
            q.get_timeout(LONG)
        });
        wait_parked(rx.recv().unwrap());
        let mut sel = Select::new();
        let p = sel.put(&q);
        let op = sel.select_timeout(LONG).unwrap();
        assert_eq!(op.index(), p);
        // Another producer: the only getter is reserved, so it must not be met.
        assert_eq!(q.try_put("intruder"), Err(TryPutError::Full("intruder")));
        op.put(&q, "selected").unwrap();
        assert_eq!(getter.join().unwrap(), Ok("selected"));
    });
}

#[test]
fn fresh_selects_start_at_a_random_operation() {
    // Go and crossbeam pick uniformly among ready cases; a select built afresh each
    // time must not always take the first.
    const ROUNDS: usize = 3_000;
    let qs: Vec<Queue<()>> = (0..3).map(|_| Queue::unbounded()).collect();
    for q in &qs {
        for _ in 0..ROUNDS {
            q.put(()).unwrap();
        }
    }
    let mut hits = [0usize; 3];
    for _ in 0..ROUNDS {
        let mut sel = Select::new();
        for q in &qs {
            sel.get(q);
        }
        let op = sel.select();
        let i = op.index();
        op.get(&qs[i]).unwrap();
        hits[i] += 1;
    }
    assert!(
        hits.iter().all(|&h| h >= ROUNDS / 6),
        "starved arms: {hits:?}"
    );
}

#[test]
fn select_is_send() {
    fn assert_send<S: Send>(_: &S) {}
    let (a, b) = (Queue::unbounded(), Queue::<u8>::bounded(0));
    let mut sel = Select::new();
    let ia = sel.get(&a);
    sel.put(&b);
    assert_send(&sel);
    a.put(1).unwrap();
    // Built here, used in another thread.
    let a = &a;
    thread::scope(|s| {
        s.spawn(move || {
            let op = sel.select_timeout(LONG).unwrap();
            assert_send(&op);
            assert_eq!(op.index(), ia);
            assert_eq!(op.get(a), Ok(1));
        });
    });
}

#[test]
fn a_dropped_selected_get_gives_its_item_back() {
    // issue 11 #7: dropping a selected get that already took its item must not lose
    // it (nor leave `join` waiting for it).
    let q = Queue::bounded(4);
    q.put(1).unwrap();
    q.put(2).unwrap();
    let mut sel = Select::new();
    sel.get(&q);
    drop(sel.select());
    assert_eq!(q.qsize(), 2, "the item is back");
    assert_eq!(q.unfinished_tasks(), 2);
    let mut got = vec![q.get().unwrap(), q.get().unwrap()];
    got.sort();
    assert_eq!(got, [1, 2]);
    q.task_done().unwrap();
    q.task_done().unwrap();
    assert!(q.join_timeout(LONG));

    let u = Queue::unbounded();
    u.put("x").unwrap();
    let mut sel = Select::new();
    sel.get(&u);
    drop(sel.select());
    assert_eq!(u.try_get(), Ok("x"));
}

#[test]
fn a_dropped_selected_get_on_a_rendezvous_releases_the_putter() {
    // The selection reserved a blocked putter; dropped, the putter keeps its item and
    // a later plain get receives it.
    let q = Queue::bounded(0);
    let (tx, rx) = std::sync::mpsc::channel();
    thread::scope(|s| {
        let putter = s.spawn(|| {
            tx.send(os_tid()).unwrap();
            q.put_timeout(42, LONG)
        });
        wait_parked(rx.recv().unwrap());
        let mut sel = Select::new();
        sel.get(&q);
        drop(sel.select_timeout(LONG).unwrap());
        assert_eq!(q.get_timeout(LONG), Ok(42));
        assert_eq!(putter.join().unwrap(), Ok(()));
    });
    assert_eq!(q.unfinished_tasks(), 1, "one transfer, counted once");
}

#[test]
fn a_dropped_selected_put_on_a_rendezvous_releases_the_getter() {
    let q = Queue::bounded(0);
    let (tx, rx) = std::sync::mpsc::channel();
    thread::scope(|s| {
        let getter = s.spawn(|| {
            tx.send(os_tid()).unwrap();
            q.get_timeout(LONG)
        });
        wait_parked(rx.recv().unwrap());
        let mut sel = Select::new();
        sel.put(&q);
        drop(sel.select_timeout(LONG).unwrap());
        q.put_timeout(5, LONG).unwrap();
        assert_eq!(getter.join().unwrap(), Ok(5));
    });
}

#[test]
fn a_dropped_selection_between_two_selects() {
    // A select's get paired with a select's put whose owner drops it: the get waits
    // for another put, as a plain get does; the put side loses nothing.
    let q = Queue::bounded(0);
    thread::scope(|s| {
        let getter = s.spawn(|| {
            let mut sel = Select::new();
            sel.get(&q);
            select_or_fail(&mut sel).get(&q)
        });
        let mut sel = Select::new();
        sel.put(&q);
        drop(select_or_fail(&mut sel));
        q.put_timeout("later", LONG).unwrap();
        assert_eq!(getter.join().unwrap(), Ok("later"));
    });
}

// ------------------------------------------------------------------------------------
// Under the checker: selects pair on a rendezvous in every schedule explored (a lost
// pairing would stall every thread, which the checker reports as a deadlock).

fn checked_pairing(selecting_getter: bool, selecting_putter: bool) -> impl Fn() + Send + Sync {
    move || {
        let q = Queue::bounded(0);
        let q2 = q.clone();
        let putter = heddle::thread::Thread::new(move || {
            if selecting_putter {
                let mut sel = Select::new();
                sel.put(&q2);
                sel.select().put(&q2, 7).unwrap();
            } else {
                q2.put(7).unwrap();
            }
        })
        .name("putter")
        .start();
        let got = if selecting_getter {
            let mut sel = Select::new();
            sel.get(&q);
            sel.select().get(&q)
        } else {
            q.get()
        };
        assert_eq!(got, Ok(7));
        putter.join().unwrap();
    }
}

#[test]
fn checked_selects_pair_on_a_rendezvous_in_every_schedule() {
    use heddle::check::Checker;
    for (g, p) in [(true, true), (true, false), (false, true)] {
        for checker in [Checker::dfs(), Checker::pct(3).iterations(200)] {
            match checker.explore(checked_pairing(g, p)) {
                Ok(coverage) => assert!(coverage.executions() > 1, "{coverage}"),
                Err(report) => panic!("select get {g}, select put {p}:\n{report}"),
            }
        }
    }
}

#[test]
fn checked_matching_three_selects_and_a_plain_get() {
    use heddle::check::Checker;
    let body = || {
        let q = Queue::bounded(0);
        let threads: Vec<_> = (0..3usize)
            .map(|i| {
                let q = q.clone();
                heddle::thread::Thread::new(move || {
                    let mut sel = Select::new();
                    let g = sel.get(&q);
                    sel.put(&q);
                    let op = sel.select();
                    if op.index() == g {
                        assert_ne!(op.get(&q).unwrap(), i);
                    } else {
                        op.put(&q, i).unwrap();
                    }
                })
                .name(format!("sel-{i}"))
                .start()
            })
            .collect();
        q.get().unwrap();
        for t in threads {
            t.join().unwrap();
        }
    };
    match Checker::random().iterations(300).explore(body) {
        Ok(coverage) => assert!(coverage.executions() > 1, "{coverage}"),
        Err(report) => panic!("{report}"),
    }
}
