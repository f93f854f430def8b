//! Stress: P producers × C consumers × M items per producer on every flavour, every
//! item received exactly once; FIFO flavours also keep each producer's items in order
//! as seen by any one consumer. Plus crossbeam-style stress with timeouts and with
//! try-forms spinning against blocking forms. No sleeps; sized to run in a few seconds
//! in a debug build on two cores.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use heddle::queue::{GetTimeoutError, PutTimeoutError, Queue, TryGetError, TryPutError};

const PRODUCERS: usize = 4;
const CONSUMERS: usize = 4;
const PER: usize = 5_000;

fn pcm(name: &str, q: Queue<(usize, usize)>, fifo: bool) {
    let all = Mutex::new(Vec::with_capacity(PRODUCERS * PER));
    thread::scope(|s| {
        for p in 0..PRODUCERS {
            let q = &q;
            s.spawn(move || {
                for i in 0..PER {
                    q.put((p, i)).unwrap();
                }
            });
        }
        for _ in 0..CONSUMERS {
            s.spawn(|| {
                let mut last = [None::<usize>; PRODUCERS];
                let mut mine = Vec::new();
                while let Ok((p, i)) = q.get() {
                    if fifo {
                        assert!(
                            last[p].is_none_or(|l| l < i),
                            "{name}: producer {p}'s items out of order"
                        );
                        last[p] = Some(i);
                    }
                    mine.push((p, i));
                }
                all.lock().unwrap().extend(mine);
            });
        }
        // Shut down once everything is through: consumers then stop.
        s.spawn(|| {
            while q.unfinished_tasks() < (PRODUCERS * PER) as u64 {
                thread::yield_now();
            }
            // Every item was put; let consumers drain, then stop them.
            q.shutdown(false);
        });
    });
    let all = all.into_inner().unwrap();
    assert_eq!(all.len(), PRODUCERS * PER, "{name}: count");
    let set: HashSet<_> = all.into_iter().collect();
    assert_eq!(set.len(), PRODUCERS * PER, "{name}: duplicates");
}

#[test]
fn pcm_rendezvous() {
    pcm("bounded(0)", Queue::bounded(0), true);
}

#[test]
fn pcm_bounded_1() {
    pcm("bounded(1)", Queue::bounded(1), true);
}

#[test]
fn pcm_bounded_64() {
    pcm("bounded(64)", Queue::bounded(64), true);
}

#[test]
fn pcm_unbounded() {
    pcm("unbounded", Queue::unbounded(), true);
}

#[test]
fn pcm_lifo() {
    pcm("lifo(8)", Queue::lifo(Some(8)), false);
}

#[test]
fn pcm_priority() {
    pcm("priority(8)", Queue::priority(Some(8)), false);
}

#[test]
fn spsc_order_every_fifo_flavour() {
    for q in [
        Queue::bounded(0),
        Queue::bounded(1),
        Queue::bounded(3),
        Queue::unbounded(),
    ] {
        thread::scope(|s| {
            s.spawn(|| {
                for i in 0..20_000u32 {
                    q.put(i).unwrap();
                }
            });
            for i in 0..20_000u32 {
                assert_eq!(q.get(), Ok(i));
            }
        });
    }
}

#[test]
fn stress_timeouts() {
    // crossbeam's stress_timeout_two_threads, without sleeps: both sides use short
    // timeouts and retry; every item arrives once, in order.
    const N: u32 = 3_000;
    for q in [Queue::bounded(0), Queue::bounded(2), Queue::unbounded()] {
        let timeouts = AtomicUsize::new(0);
        thread::scope(|s| {
            s.spawn(|| {
                for i in 0..N {
                    let mut item = i;
                    loop {
                        match q.put_timeout(item, Duration::from_micros(20)) {
                            Ok(()) => break,
                            Err(PutTimeoutError::Timeout(back)) => {
                                timeouts.fetch_add(1, Ordering::Relaxed);
                                item = back;
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
            for i in 0..N {
                loop {
                    match q.get_timeout(Duration::from_micros(20)) {
                        Ok(x) => {
                            assert_eq!(x, i);
                            break;
                        }
                        Err(GetTimeoutError::Timeout) => {
                            timeouts.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        });
        assert!(q.is_empty());
    }
}

#[test]
fn stress_try_forms_against_blocking_forms() {
    // Spinning try_put / try_get on one side, blocking put / get on the other.
    const N: u32 = 20_000;
    for q in [
        Queue::bounded(1),
        Queue::bounded(16),
        Queue::unbounded(),
        Queue::lifo(Some(4)),
    ] {
        let fifo = !format!("{q:?}").contains("lifo");
        thread::scope(|s| {
            s.spawn(|| {
                for i in 0..N {
                    let mut item = i;
                    loop {
                        match q.try_put(item) {
                            Ok(()) => break,
                            Err(TryPutError::Full(back)) => {
                                item = back;
                                thread::yield_now();
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
            let mut seen = HashSet::new();
            for i in 0..N {
                let x = q.get().unwrap();
                if fifo {
                    assert_eq!(x, i);
                }
                assert!(seen.insert(x));
            }
        });
        thread::scope(|s| {
            s.spawn(|| {
                for i in 0..N {
                    q.put(i).unwrap();
                }
            });
            let mut got = 0;
            while got < N {
                match q.try_get() {
                    Ok(_) => got += 1,
                    Err(TryGetError::Empty) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        });
    }
}

#[test]
fn join_under_load() {
    // Workers mark every item done while producers keep putting; join returns only
    // when all are done.
    let q = Queue::bounded(8);
    let processed = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                while let Ok(()) = q.get() {
                    processed.fetch_add(1, Ordering::SeqCst);
                    q.task_done().unwrap();
                }
            });
        }
        for _ in 0..10 {
            for _ in 0..500 {
                q.put(()).unwrap();
            }
            q.join();
            assert_eq!(q.unfinished_tasks(), 0);
        }
        assert_eq!(processed.load(Ordering::SeqCst), 5_000);
        q.shutdown(false);
    });
}
